"""Bridge mode: an entry's polls also feed the library's outputs (Prometheus files, MQTT …).

A simulated PI30 on a real pty; the readings are read back where a user would look: the
``.prom`` files in the directory chosen, the messages on a real mosquitto broker. A recording
output registered here (as the daemon's tests do) stands in for a destination that goes down,
for an output that fails, and to look at what reached the outputs, in order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
import json
from pathlib import Path
from typing import Any, ClassVar

import aiomqtt
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.mppsolar import bridge as bridge_module
from custom_components.mppsolar.bridge import (
    BRIDGE_DATA,
    REDACTED,
    EntryBridge,
    output_choices,
    spool_path,
)
from custom_components.mppsolar.const import (
    CONF_BRIDGE,
    CONF_CONFIGURE_BRIDGE,
    CONF_EXCLFILTER,
    CONF_FILTER,
    CONF_MONGO_DB,
    CONF_MONGO_URL,
    CONF_MQTT_HOST,
    CONF_MQTT_PASSWORD,
    CONF_MQTT_PORT,
    CONF_MQTT_TOPIC,
    CONF_MQTT_USERNAME,
    CONF_OUTPUTS,
    CONF_POSTGRES_URL,
    CONF_PROM_OUTPUT_DIR,
    CONF_PUSH_URL,
    CONF_SETTINGS_INTERVAL,
    CONF_STATUS_INTERVAL,
    CONF_UDP_PORT,
    DOMAIN,
)
from mppsolar_lib.bridge.spool import Spool
from mppsolar_lib.outputs import Output, OutputUnavailableError, Report, register_output
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer
from tests.servers.mosquitto import start_broker

from .simulated import next_poll, serial_entry

TIMEOUT = 10.0
#: What the simulated PI30 reports as its serial number (the entry's unique id: its name).
SERIAL = "9293333010501"


class Recorder(Output):
    """Keep every batch by device; refuse while ``down`` (a broker that went away)."""

    name = "test_bridge_recorder"
    spooled: ClassVar[bool] = True
    batches: ClassVar[dict[str, list[list[Report]]]] = defaultdict(list)
    availability_seen: ClassVar[list[bool]] = []
    down: ClassVar[bool] = False

    async def send(self, reports: Sequence[Report]) -> None:
        """Record, or refuse while down."""
        if Recorder.down:
            raise OutputUnavailableError("recorder down at postgresql://u:hunter2@db/x")
        Recorder.batches[self.options.name].append(list(reports))

    async def availability(self, online: bool) -> None:
        """Record whether the device answers."""
        Recorder.availability_seen.append(online)


class Broken(Output):
    """An output with a bug: every batch fails (and so does telling it the availability)."""

    name = "test_bridge_broken"

    async def send(self, reports: Sequence[Report]) -> None:
        """Fail."""
        raise RuntimeError("bug")

    async def availability(self, online: bool) -> None:
        """Fail."""
        raise RuntimeError("bug")


class Unmakeable(Output):
    """An output that refuses its configuration."""

    name = "test_bridge_unmakeable"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Refuse."""
        raise ValueError("refused")

    async def send(self, reports: Sequence[Report]) -> None:  # pragma: no cover - never made
        """Never called."""


register_output("test_bridge_recorder", f"{__name__}:Recorder", "records batches (tests)")
register_output("test_bridge_broken", f"{__name__}:Broken", "fails every batch (tests)")
register_output("test_bridge_unmakeable", f"{__name__}:Unmakeable", "cannot be made (tests)")
register_output("test_bridge_missing", "no_such_module_here:Output", "not installed (tests)")


@pytest.fixture(autouse=True)
def _fresh(hass: HomeAssistant, tmp_path: Path) -> None:
    """Keep the spool in this test's own configuration directory; start with no batches."""
    hass.config.config_dir = str(tmp_path / "config")
    Recorder.batches.clear()
    Recorder.availability_seen.clear()
    Recorder.down = False


@pytest.fixture
async def inverter() -> AsyncIterator[PtyServer]:
    """Serve a PI30 inverter on a real pty."""
    async with PtyServer(create_simulator("pi30", seed=1)) as server:
        yield server


async def set_up_bridged(
    hass: HomeAssistant,
    server: PtyServer,
    bridge: dict[str, Any],
    entry: MockConfigEntry | None = None,
) -> MockConfigEntry:
    """Set up an entry for ``server``'s PI30 with the bridge ``options``."""
    if entry is None:
        entry = serial_entry(server, "pi30")
        entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_BRIDGE: bridge})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


def bridge_of(hass: HomeAssistant, entry: MockConfigEntry) -> EntryBridge:
    """Return the entry's running bridge."""
    return hass.data[BRIDGE_DATA].entries[entry.entry_id]


async def delivered(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Wait (bounded) until every sink of the entry has delivered what it was given."""
    await hass.async_block_till_done(wait_background_tasks=True)
    for sink in bridge_of(hass, entry).sinks.values():
        assert await sink.drain(TIMEOUT)


def _series(text: str, key: str) -> str:
    """Return the exposition line of ``key``'s series (not its HELP/TYPE comments)."""
    return next(
        line for line in text.splitlines() if not line.startswith("#") and f"{key}{{" in line
    )


# -- readings arrive --------------------------------------------------------------------------


async def test_prom_files_follow_the_polls(
    hass: HomeAssistant, inverter: PtyServer, tmp_path: Path
) -> None:
    """``prom_file``: a file per command in the directory chosen, with the device's series."""
    directory = tmp_path / "textfile"
    directory.mkdir()
    entry = await set_up_bridged(
        hass, inverter, {CONF_OUTPUTS: ["prom_file"], CONF_PROM_OUTPUT_DIR: str(directory)}
    )
    assert entry.state is ConfigEntryState.LOADED
    await delivered(hass, entry)

    qpigs = directory / f"mpp-solar-{SERIAL}-qpigs.prom"
    text = qpigs.read_text()
    voltage = hass.states.get("sensor.pi30_simulator_ac_input_voltage")
    assert voltage is not None
    assert float(_series(text, "ac_input_voltage").rsplit(" ", 1)[1]) == float(voltage.state)
    # Settings too (read at the first poll): the ratings.
    assert (directory / f"mpp-solar-{SERIAL}-qpiri.prom").exists()

    # The next poll rewrites the file with its own reading (the simulated plant moves on).
    await next_poll(hass)
    await delivered(hass, entry)
    voltage = hass.states.get("sensor.pi30_simulator_ac_input_voltage")
    assert voltage is not None
    assert f"}} {float(voltage.state):g}" in _series(qpigs.read_text(), "ac_input_voltage")

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert BRIDGE_DATA not in hass.data  # the last entry closed the spool and connections


async def test_mqtt_messages_reach_a_real_broker(
    hass: HomeAssistant, inverter: PtyServer, tmp_path: Path, socket_enabled: None
) -> None:
    """``json_mqtt`` and ``mqtt``: the readings are published on the broker chosen."""
    broker = await start_broker(tmp_path)
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe("#")
            entry = await set_up_bridged(
                hass,
                inverter,
                {
                    CONF_OUTPUTS: ["json_mqtt", "mqtt"],
                    CONF_MQTT_HOST: "127.0.0.1",
                    CONF_MQTT_PORT: broker.port,
                    CONF_MQTT_TOPIC: "solar",
                    CONF_FILTER: "voltage",
                    CONF_EXCLFILTER: "^battery",
                },
            )
            await delivered(hass, entry)
            state = hass.states.get("sensor.pi30_simulator_ac_input_voltage")
            seen: dict[str, bytes] = {}
            async with asyncio.timeout(TIMEOUT):
                async for message in client.messages:
                    seen[str(message.topic)] = bytes(message.payload)
                    if {"QPIGS/solar", "QPIGS/status/ac_input_voltage/value"} <= seen.keys():
                        break
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await broker.stop()

    assert state is not None
    reading = json.loads(seen["QPIGS/solar"])
    assert float(reading["ac_input_voltage"]) == float(state.state)
    # The filters apply: only voltages, and no battery ones.
    assert all("voltage" in key and not key.startswith("battery") for key in reading)
    assert float(seen["QPIGS/status/ac_input_voltage/value"]) == float(state.state)


async def test_options_turn_the_bridge_on(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, inverter: PtyServer
) -> None:
    """Through the options flow: the entry reloads and its polls reach the output chosen."""
    entry = serial_entry(inverter, "pi30")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert BRIDGE_DATA not in hass.data

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_STATUS_INTERVAL: 10, CONF_SETTINGS_INTERVAL: 300, CONF_CONFIGURE_BRIDGE: True},
    )
    assert result["step_id"] == "bridge"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OUTPUTS: ["test_bridge_recorder"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    await delivered(hass, entry)

    batches = Recorder.batches[SERIAL]
    assert [report.command for report in batches[0]] == ["QPIGS", "QMOD", "QPIWS", "Q1"]
    assert all(report.time is not None for report in batches[0])
    assert Recorder.availability_seen == [True]
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["bridge"]["test_bridge_recorder"] == {
        "delivered": len(batches),
        "dropped": 0,
        "retries": 0,
        "spooled": 0,
        "last_error": None,
        "pending": 0,
        "spooled_on_disk": True,
    }
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_entries_share_the_spool_and_connections(
    hass: HomeAssistant, inverter: PtyServer
) -> None:
    """Two bridged entries: one spool, one set of connections, closed with the last entry."""
    simulator = create_simulator("pi30", seed=2)
    simulator.serial = "9293333010502"  # type: ignore[attr-defined]
    async with PtyServer(simulator) as second:
        first_entry = await set_up_bridged(hass, inverter, {CONF_OUTPUTS: ["test_bridge_recorder"]})
        second_entry = await set_up_bridged(hass, second, {CONF_OUTPUTS: ["test_bridge_recorder"]})
        shared = hass.data[BRIDGE_DATA]
        assert set(shared.entries) == {first_entry.entry_id, second_entry.entry_id}
        await delivered(hass, first_entry)
        await delivered(hass, second_entry)
        assert set(Recorder.batches) == {SERIAL, "9293333010502"}

        assert await hass.config_entries.async_unload(first_entry.entry_id)
        assert hass.data[BRIDGE_DATA] is shared
        assert set(shared.entries) == {second_entry.entry_id}
        assert await hass.config_entries.async_unload(second_entry.entry_id)
        assert BRIDGE_DATA not in hass.data


# -- nothing lost, nothing blocked ------------------------------------------------------------------


async def test_unload_spools_what_is_pending_and_the_next_start_delivers_it(
    hass: HomeAssistant, inverter: PtyServer
) -> None:
    """A destination down: the polls go on; unload spools the batches; they come back in order."""
    Recorder.down = True
    entry = await set_up_bridged(hass, inverter, {CONF_OUTPUTS: ["test_bridge_recorder"]})
    await next_poll(hass, 2)
    # The entities update while the output fails.
    assert hass.states.get("sensor.pi30_simulator_ac_input_voltage").state != "unavailable"  # type: ignore[union-attr]
    sink = bridge_of(hass, entry).sinks["test_bridge_recorder"]
    pending = sink.pending
    assert pending >= 3  # first poll (status, settings), two more status polls
    assert sink.stats.retries >= 1
    assert sink.stats.last_error is not None

    assert await hass.config_entries.async_unload(entry.entry_id)
    spool = Spool(spool_path(hass), 1000)
    await spool.open()
    try:
        on_disk, _ = await spool.stats(f"{entry.entry_id}/test_bridge_recorder")
    finally:
        await spool.close()
    assert on_disk == pending
    assert not Recorder.batches

    Recorder.down = False
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await delivered(hass, entry)
    batches = Recorder.batches[SERIAL]
    assert len(batches) == pending + 2  # then this setup's first poll: status and settings
    times = [batch[0].time or 0.0 for batch in batches]
    assert times == sorted(times)  # oldest first
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_output_failures_never_reach_the_device(
    hass: HomeAssistant, inverter: PtyServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing output, one that cannot be made, one not installed: the entry works on."""
    entry = await set_up_bridged(
        hass,
        inverter,
        {
            CONF_OUTPUTS: [
                "test_bridge_broken",
                "test_bridge_unmakeable",
                "test_bridge_missing",
                "test_bridge_recorder",
            ]
        },
    )
    assert entry.state is ConfigEntryState.LOADED
    bridge = bridge_of(hass, entry)
    assert set(bridge.sinks) == {"test_bridge_broken", "test_bridge_recorder"}
    assert "bridge output test_bridge_unmakeable not started" in caplog.text
    assert "test_bridge_missing cannot be used" in caplog.text
    await next_poll(hass)
    await delivered(hass, entry)
    assert bridge.sinks["test_bridge_broken"].stats.dropped >= 2
    assert len(Recorder.batches[SERIAL]) >= 3

    # A batch that cannot be presented (a command this protocol does not know) is left out.
    protocol = entry.runtime_data.protocol
    bridge.async_publish({"NOSUCH": object()}, protocol)  # type: ignore[arg-type]
    assert "bridge reports not built" in caplog.text
    assert await hass.config_entries.async_unload(entry.entry_id)
    # Stopped: nothing more is queued, and stopping again does nothing.
    bridge.async_publish({"QPIGS": object()}, protocol)  # type: ignore[arg-type]
    bridge.async_availability(False)
    await bridge.async_stop()


async def test_availability_follows_the_device(hass: HomeAssistant, inverter: PtyServer) -> None:
    """The outputs are told when the device stops answering, and when it is back."""
    entry = await set_up_bridged(
        hass, inverter, {CONF_OUTPUTS: ["test_bridge_recorder", "test_bridge_broken"]}
    )
    assert Recorder.availability_seen == [True]
    simulator = inverter.simulator
    handle = simulator.handle
    simulator.handle = lambda request: None  # type: ignore[method-assign]
    await next_poll(hass)
    assert Recorder.availability_seen == [True, False]
    simulator.handle = handle  # type: ignore[method-assign]
    await next_poll(hass)
    assert Recorder.availability_seen == [True, False, True]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_failing_output_raises_a_repair_issue(
    hass: HomeAssistant, inverter: PtyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An output failing for a while: an issue says which and why; it goes when it delivers."""
    Recorder.down = True
    entry = await set_up_bridged(
        hass,
        inverter,
        {CONF_OUTPUTS: ["test_bridge_recorder"], CONF_POSTGRES_URL: "postgresql://u:hunter2@db/x"},
    )
    bridge = bridge_of(hass, entry)
    issues = ir.async_get(hass)
    issue_id = f"bridge_failing_{entry.entry_id}_test_bridge_recorder"

    bridge.async_check_health()  # failing, but not for long yet
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    monkeypatch.setattr(bridge_module, "FAILING_AFTER", 0.0)
    bridge.async_check_health()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "bridge_output_failing"
    assert issue.translation_placeholders is not None
    assert "hunter2" not in issue.translation_placeholders["error"]
    assert issue.translation_placeholders["output"] == "test_bridge_recorder"

    Recorder.down = False
    sink = bridge.sinks["test_bridge_recorder"]
    sink.backoff_min = 0.0  # retry now rather than in 5 s
    await sink.put(list(Recorder.batches.get(SERIAL, [[]])[0]) or [Report("X", "", ())])
    # The sink is waiting out its backoff; the next retry delivers.
    async with asyncio.timeout(TIMEOUT):
        while sink.stats.last_error is not None:
            await asyncio.sleep(0.05)
    bridge.async_check_health()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_home_assistant_stop_spools_what_is_pending(
    hass: HomeAssistant, inverter: PtyServer
) -> None:
    """Home Assistant stopping (entries are not unloaded then) spools what is pending."""
    Recorder.down = True
    entry = await set_up_bridged(hass, inverter, {CONF_OUTPUTS: ["test_bridge_recorder"]})
    bridge = bridge_of(hass, entry)
    await hass.async_stop(force=True)
    assert bridge.sinks["test_bridge_recorder"].stats.spooled == 2
    assert BRIDGE_DATA not in hass.data


# -- diagnostics ------------------------------------------------------------------------------


async def test_diagnostics_show_the_outputs_without_secrets(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, inverter: PtyServer
) -> None:
    """Counters and pending batches per output; passwords and URL credentials hidden."""
    Recorder.down = True
    entry = await set_up_bridged(
        hass,
        inverter,
        {
            CONF_OUTPUTS: ["test_bridge_recorder"],
            CONF_MQTT_HOST: "broker.local",
            CONF_MQTT_USERNAME: "solar",
            CONF_MQTT_PASSWORD: "s3cret",
            CONF_POSTGRES_URL: "postgresql://u:hunter2@db/x",
            CONF_MONGO_URL: "mongodb://mongo.local:27017",
            CONF_PUSH_URL: "http://[::1",  # stored before it was checked: shown as hidden
        },
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)

    text = json.dumps(diagnostics)
    assert "s3cret" not in text
    assert "hunter2" not in text
    shown = diagnostics["entry"]["options"][CONF_BRIDGE]
    assert shown[CONF_MQTT_PASSWORD] == REDACTED
    assert shown[CONF_POSTGRES_URL] == f"postgresql://{REDACTED}@db/x"
    assert shown[CONF_MONGO_URL] == "mongodb://mongo.local:27017"
    assert shown[CONF_PUSH_URL] == REDACTED
    assert shown[CONF_MQTT_USERNAME] == "solar"
    recorder = diagnostics["bridge"]["test_bridge_recorder"]
    assert recorder["pending"] == 2
    assert recorder["delivered"] == 0
    assert recorder["spooled_on_disk"] is True
    assert recorder["last_error"] == f"recorder down at postgresql://u:{REDACTED}@db/x"


async def test_diagnostics_without_the_bridge(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, inverter: PtyServer
) -> None:
    """No outputs chosen: no bridge runs, diagnostics say so."""
    entry = await set_up_bridged(hass, inverter, {CONF_OUTPUTS: []})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["bridge"] is None
    assert await hass.config_entries.async_unload(entry.entry_id)


# -- the options flow -------------------------------------------------------------------------


def options_entry() -> MockConfigEntry:
    """Return an entry nothing is behind (the flow does not need the device)."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id="x",
        data={"connection": "serial", "device": "/dev/ttyUSB0", "protocol": "pi30"},
    )


async def bridge_step(hass: HomeAssistant, entry: MockConfigEntry) -> ConfigFlowResult:
    """Open the options and go on to the bridge step."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_STATUS_INTERVAL: 20, CONF_SETTINGS_INTERVAL: 300, CONF_CONFIGURE_BRIDGE: True},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "bridge"
    return result


def suggested(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the values the form shows filled in (defaults and suggested values)."""
    schema = result["data_schema"]
    assert schema is not None
    shown: dict[str, Any] = {}
    for key in schema.schema:
        if (value := (key.description or {}).get("suggested_value")) is not None:
            shown[str(key)] = value
        elif not callable(key.default) or key.default() is not None:
            default = key.default() if callable(key.default) else None
            if default is not None:
                shown[str(key)] = default
    return shown


async def test_options_offer_the_outputs_that_deliver(
    hass: HomeAssistant, mock_setup_entry: Any
) -> None:
    """The choice: the library's outputs that deliver somewhere; no console, none missing."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await bridge_step(hass, entry)
    schema = result["data_schema"]
    assert schema is not None
    selector = next(value for key, value in schema.schema.items() if key == CONF_OUTPUTS)
    offered = [option["value"] for option in selector.config["options"]]
    assert "prom_file" in offered
    assert "json_mqtt" in offered
    assert "test_bridge_recorder" in offered
    for console in ("screen", "json", "simple", "raw", "test_bridge_missing"):
        assert console not in offered
    assert offered == list(output_choices())
    assert result["description_placeholders"] == {"spool": str(spool_path(hass))}


async def test_options_save_the_outputs_and_keep_them(
    hass: HomeAssistant, mock_setup_entry: Any, tmp_path: Path
) -> None:
    """Saved with the polling options (text trimmed, empty left out); kept by a later save."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await bridge_step(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_OUTPUTS: ["prom_file", "json_mqtt", "postgres", "mongo", "prom_push"],
            CONF_PROM_OUTPUT_DIR: f" {tmp_path} ",
            CONF_MQTT_HOST: "broker.local",
            CONF_MQTT_PORT: 1884,
            CONF_MQTT_USERNAME: "solar",
            CONF_MQTT_PASSWORD: "s3cret",
            CONF_MQTT_TOPIC: "",
            CONF_PUSH_URL: "https://push.local/metrics/job/x",
            CONF_POSTGRES_URL: "postgresql:///solar?host=/run/postgresql",
            CONF_MONGO_URL: "mongodb+srv://cluster.local",
            CONF_MONGO_DB: "energy",
            CONF_UDP_PORT: 5556,
            CONF_FILTER: "voltage|power",
            CONF_EXCLFILTER: "^battery",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    bridge = {
        CONF_OUTPUTS: ["prom_file", "json_mqtt", "postgres", "mongo", "prom_push"],
        CONF_PROM_OUTPUT_DIR: str(tmp_path),
        CONF_MQTT_HOST: "broker.local",
        CONF_MQTT_PORT: 1884,
        CONF_MQTT_USERNAME: "solar",
        CONF_MQTT_PASSWORD: "s3cret",
        CONF_PUSH_URL: "https://push.local/metrics/job/x",
        CONF_POSTGRES_URL: "postgresql:///solar?host=/run/postgresql",
        CONF_MONGO_URL: "mongodb+srv://cluster.local",
        CONF_MONGO_DB: "energy",
        CONF_UDP_PORT: 5556,
        CONF_FILTER: "voltage|power",
        CONF_EXCLFILTER: "^battery",
    }
    assert entry.options[CONF_BRIDGE] == bridge
    assert entry.options[CONF_STATUS_INTERVAL] == 20

    # Shown again as saved.
    result = await bridge_step(hass, entry)
    assert suggested(result) == bridge
    await hass.config_entries.options.async_configure(result["flow_id"], bridge)

    # A save of the polling alone keeps the outputs.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STATUS_INTERVAL: 30, CONF_SETTINGS_INTERVAL: 300}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_BRIDGE] == bridge
    assert entry.options[CONF_STATUS_INTERVAL] == 30
    assert CONF_CONFIGURE_BRIDGE not in entry.options

    # No outputs: off (what was typed is kept for next time).
    result = await bridge_step(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**bridge, CONF_OUTPUTS: []}
    )
    assert entry.options[CONF_BRIDGE][CONF_OUTPUTS] == []


async def test_options_without_the_bridge_store_none(
    hass: HomeAssistant, mock_setup_entry: Any
) -> None:
    """An entry that never had outputs: saving the polling adds no bridge options."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STATUS_INTERVAL: 30, CONF_SETTINGS_INTERVAL: 300}
    )
    assert CONF_BRIDGE not in entry.options


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        ({CONF_FILTER: "volt(age"}, {CONF_FILTER: "invalid_regex"}),
        ({CONF_EXCLFILTER: "*x"}, {CONF_EXCLFILTER: "invalid_regex"}),
        ({CONF_PUSH_URL: "ftp://push.local/"}, {CONF_PUSH_URL: "invalid_url"}),
        ({CONF_PUSH_URL: "http://push.local:port/"}, {CONF_PUSH_URL: "invalid_url"}),
        ({CONF_PUSH_URL: "http:///path"}, {CONF_PUSH_URL: "invalid_url"}),
        ({CONF_POSTGRES_URL: "postgresql://"}, {CONF_POSTGRES_URL: "invalid_url"}),
        ({CONF_POSTGRES_URL: "mysql://db/x"}, {CONF_POSTGRES_URL: "invalid_url"}),
        ({CONF_MONGO_URL: "localhost:27017"}, {CONF_MONGO_URL: "invalid_url"}),
        ({CONF_OUTPUTS: ["prom_file"]}, {CONF_PROM_OUTPUT_DIR: "required"}),
        ({CONF_OUTPUTS: ["json_mqtt", "hass_mqtt"]}, {CONF_MQTT_HOST: "required"}),
        ({CONF_OUTPUTS: ["postgres"]}, {CONF_POSTGRES_URL: "required"}),
        ({CONF_OUTPUTS: ["mongo"]}, {CONF_MONGO_URL: "required"}),
        ({CONF_PROM_OUTPUT_DIR: "relative/dir"}, {CONF_PROM_OUTPUT_DIR: "directory_missing"}),
        ({CONF_PROM_OUTPUT_DIR: "/no/such/dir"}, {CONF_PROM_OUTPUT_DIR: "directory_missing"}),
        # A directory nobody may create files in, root included.
        ({CONF_PROM_OUTPUT_DIR: "/proc/1"}, {CONF_PROM_OUTPUT_DIR: "directory_not_writable"}),
    ],
)
async def test_options_check_what_is_given(
    hass: HomeAssistant, mock_setup_entry: Any, given: dict[str, Any], errors: dict[str, str]
) -> None:
    """Each check: the form comes back with the translated error on the field, input kept."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await bridge_step(hass, entry)
    result = await hass.config_entries.options.async_configure(result["flow_id"], given)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "bridge"
    assert result["errors"] == errors
    strings = json.loads(
        (Path(bridge_module.__file__).parent / "translations" / "en.json").read_text()
    )
    for error in errors.values():
        assert strings["options"]["error"][error]
    assert suggested(result) == {CONF_OUTPUTS: [], **given}
    assert CONF_BRIDGE not in entry.options


async def test_options_port_bounds(hass: HomeAssistant, mock_setup_entry: Any) -> None:
    """Ports outside 1-65535 are refused by the form."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await bridge_step(hass, entry)
    schema = result["data_schema"]
    assert schema is not None
    import voluptuous as vol  # noqa: PLC0415

    with pytest.raises(vol.Invalid):
        schema({CONF_MQTT_PORT: 0})
    with pytest.raises(vol.Invalid):
        schema({CONF_UDP_PORT: 70000})
