"""Repair issues: each raised under its real condition, fixed through its fix flow, or ended.

The devices are simulators behind real ptys (the serial transport's own open, lock and
exchanges run) or on the simulated Bluetooth air; the fix flows are driven through Home
Assistant's repairs HTTP API, as the frontend drives them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from datetime import timedelta
import errno
import fcntl
from http import HTTPStatus
import json
import os
from pathlib import Path
import re
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.mppsolar import connection, repairs
from custom_components.mppsolar.const import (
    CONF_ADDRESS,
    CONF_CONNECTION,
    CONF_PROTOCOL,
    CONF_SERIAL,
    DOMAIN,
    STALE_POLLS,
    ZERO_POLLS,
    Connection,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import Faults, create_simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice
from mppsolar_lib.simulator.faults import FaultySimulator
from mppsolar_lib.simulator.serve import PtyServer

from .simulated import BLE_STEP, DALY_SERVICE, advertise, next_poll, serial_entry, service_info

#: Seconds any one step may take before the test fails instead of hanging.
BOUND = 60

PI30 = get_protocol("pi30")


# -- helpers --------------------------------------------------------------------------------------


def issue(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> ir.IssueEntry | None:
    """Return the entry's issue of ``kind``, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, repairs.issue_id(kind, entry))


def our_issues(hass: HomeAssistant) -> set[str]:
    """Return the ids of the integration's issues."""
    return {i for (domain, i) in ir.async_get(hass).issues if domain == DOMAIN}


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add ``entry`` and try to set it up (bounded)."""
    entry.add_to_hass(hass)
    async with asyncio.timeout(BOUND):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


async def retry_setup(hass: HomeAssistant) -> None:
    """Let Home Assistant's next setup retry happen (it waits at most 80 s and a bit)."""
    # Outside the bound: firing the timers of a future instant would fire the bound's too.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5))
    async with asyncio.timeout(BOUND):
        await hass.async_block_till_done()


class Repairs:
    """Drive fix flows through the repairs HTTP API, as the frontend does."""

    def __init__(self, client: Any) -> None:
        """Use ``client`` (an authenticated client of Home Assistant's HTTP API)."""
        self.client = client

    async def start(self, issue_id: str) -> dict[str, Any]:
        """Start the fix flow of ``issue_id``; return its first step."""
        async with asyncio.timeout(BOUND):
            response = await self.client.post(
                "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
            )
            assert response.status == HTTPStatus.OK, await response.text()
            result: dict[str, Any] = await response.json()
        return result

    async def submit(self, flow_id: str) -> dict[str, Any]:
        """Submit the flow's current (empty) form; return the next step."""
        async with asyncio.timeout(BOUND):
            response = await self.client.post(f"/api/repairs/issues/fix/{flow_id}", json={})
            assert response.status == HTTPStatus.OK, await response.text()
            result: dict[str, Any] = await response.json()
        return result


@pytest.fixture
async def fix(hass: HomeAssistant, hass_client: ClientSessionGenerator) -> Repairs:
    """Set up the repairs integration; return a driver of its fix flows."""
    assert await async_setup_component(hass, "repairs", {})
    return Repairs(await hass_client())


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up on a silent wired device after 0.3 s per attempt (not 3 s)."""
    monkeypatch.setattr(connection, "TIMEOUT", 0.3)


@contextlib.contextmanager
def refused(path: str) -> Iterator[None]:
    """Make the OS refuse to open ``path`` (EACCES), as without the dialout group or udev rule."""
    real_open = os.open

    def guarded_open(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(name) == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(name, flags, *args, **kwargs)

    os.open = guarded_open  # type: ignore[assignment]
    try:
        yield
    finally:
        os.open = real_open


@contextlib.contextmanager
def held(path: str) -> Iterator[None]:
    """Hold ``path`` open under an exclusive lock, as another program holding the port does."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def zero_qpigs() -> bytes:
    """Return a well-formed PI30 QPIGS answer in which every number is zero."""
    answer = create_simulator("pi30").handle(PI30.build_request("QPIGS"))
    assert answer is not None
    payload = re.sub(r"[1-9]", "0", answer[1:-3].decode())
    return PI30.frame(PI30.commands["QPIGS"], "(" + payload)


def pi18_answering_qpigs_with_zeros() -> Any:
    """Return a PI18 inverter whose firmware answers PI30's QPIGS with zeros (and NAKs the rest).

    Read as PI30 it looks alive but reports nothing; detection finds PI18.
    """
    base: Any = type(create_simulator("pi18"))
    zeros = zero_qpigs()
    qpigs = PI30.build_request("QPIGS")

    class Zeroing(base):  # type: ignore[misc]
        def handle(self, request: bytes) -> bytes | None:
            if request == qpigs:
                return zeros
            answer: bytes | None = super().handle(request)
            return answer

    return Zeroing("pi18")


@pytest.fixture
async def pi30() -> AsyncIterator[PtyServer]:
    """Serve a PI30 inverter on a pty, its faults switchable (none to start with)."""
    async with PtyServer(FaultySimulator(create_simulator("pi30", seed=1), Faults())) as server:
        yield server


# -- permission denied ----------------------------------------------------------------------------


async def test_permission_denied_raised_and_fixed(
    hass: HomeAssistant, fix: Repairs, pi30: PtyServer
) -> None:
    """The OS refuses the port: the issue shows how to allow it; once allowed, retry fixes it."""
    entry = serial_entry(pi30, "pi30")
    with refused(pi30.path):
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        raised = issue(hass, repairs.PERMISSION_DENIED, entry)
        assert raised is not None
        assert raised.is_fixable
        assert raised.severity is ir.IssueSeverity.ERROR
        assert raised.translation_key == "permission_denied"
        placeholders = raised.translation_placeholders or {}
        assert placeholders["port"] == pi30.path
        assert "permission denied" in placeholders["error"]
        assert "udev rule" in placeholders["error"]

        # Retrying before the user fixed anything: it still fails, and says so.
        flow = await fix.start(raised.issue_id)
        assert flow["type"] == "form"
        assert flow["step_id"] == "confirm"
        assert "udev rule" in flow["description_placeholders"]["error"]
        step = await fix.submit(flow["flow_id"])
        assert step["type"] == "form"
        assert step["errors"] == {"base": "still_failing"}
        assert entry.state is ConfigEntryState.SETUP_RETRY

    # The user added the rule: retry.
    step = await fix.submit(flow["flow_id"])
    await hass.async_block_till_done()
    assert step["type"] == "create_entry"
    assert entry.state is ConfigEntryState.LOADED
    assert our_issues(hass) == set()
    assert await hass.config_entries.async_unload(entry.entry_id)


# -- port in use ----------------------------------------------------------------------------------


async def test_port_in_use_raised_and_fixed(
    hass: HomeAssistant, fix: Repairs, pi30: PtyServer
) -> None:
    """Another program holds the port under a lock: the issue says so; once freed, retry."""
    entry = serial_entry(pi30, "pi30")
    with held(pi30.path):
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        raised = issue(hass, repairs.PORT_IN_USE, entry)
        assert raised is not None
        assert raised.is_fixable
        assert "in use by another program" in (raised.translation_placeholders or {})["error"]
        assert issue(hass, repairs.PERMISSION_DENIED, entry) is None

    flow = await fix.start(raised.issue_id)
    assert flow["step_id"] == "confirm"
    assert "in use by another program" in flow["description_placeholders"]["error"]
    step = await fix.submit(flow["flow_id"])
    await hass.async_block_till_done()
    assert step["type"] == "create_entry"
    assert entry.state is ConfigEntryState.LOADED
    assert our_issues(hass) == set()
    assert await hass.config_entries.async_unload(entry.entry_id)


# -- protocol mismatch ----------------------------------------------------------------------------


async def test_protocol_refused_raised_and_redetected(hass: HomeAssistant, fix: Repairs) -> None:
    """A PI18 inverter on an entry that says PI30 refuses everything: re-detection fixes it."""
    async with PtyServer(create_simulator("pi18")) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        raised = issue(hass, repairs.PROTOCOL_MISMATCH, entry)
        assert raised is not None
        assert raised.is_fixable
        assert raised.translation_key == "protocol_refused"
        placeholders = raised.translation_placeholders or {}
        assert placeholders["protocol"] == "pi30"
        assert "refused" in placeholders["error"]

        flow = await fix.start(raised.issue_id)
        assert flow["step_id"] == "confirm"
        found = await fix.submit(flow["flow_id"])
        assert found["type"] == "form"
        assert found["step_id"] == "use"
        assert found["description_placeholders"]["found"] == "pi18"
        assert found["description_placeholders"]["protocol"] == "pi30"
        assert found["description_placeholders"]["serial"] != "-"
        # Until the user confirms, the entry keeps its protocol (and is set up again).
        assert entry.data[CONF_PROTOCOL] == "pi30"

        done = await fix.submit(found["flow_id"])
        await hass.async_block_till_done()
        assert done["type"] == "create_entry"
        assert entry.data[CONF_PROTOCOL] == "pi18"
        assert entry.state is ConfigEntryState.LOADED
        assert our_issues(hass) == set()
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_protocol_zeros_raised_and_redetected(hass: HomeAssistant, fix: Repairs) -> None:
    """Answers that are all zeros, poll after poll: a mismatch after ZERO_POLLS; re-detect."""
    async with PtyServer(pi18_answering_qpigs_with_zeros()) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        assert hass.states.get("sensor.pi30_simulator_battery_voltage") is not None

        await next_poll(hass, ZERO_POLLS - 2)  # the setup's poll was the first
        assert issue(hass, repairs.PROTOCOL_MISMATCH, entry) is None
        await next_poll(hass)
        raised = issue(hass, repairs.PROTOCOL_MISMATCH, entry)
        assert raised is not None
        assert raised.translation_key == "protocol_zeros"
        assert (raised.translation_placeholders or {})["polls"] == str(ZERO_POLLS)

        flow = await fix.start(raised.issue_id)
        found = await fix.submit(flow["flow_id"])
        assert found["step_id"] == "use"
        assert found["description_placeholders"]["found"] == "pi18"
        done = await fix.submit(found["flow_id"])
        await hass.async_block_till_done()
        assert done["type"] == "create_entry"
        assert entry.data[CONF_PROTOCOL] == "pi18"
        assert entry.state is ConfigEntryState.LOADED
        assert our_issues(hass) == set()
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_working_device_raises_nothing(hass: HomeAssistant, pi30: PtyServer) -> None:
    """A PI30 answering as a PI30, poll after poll: no issue; unloading leaves none."""
    entry = serial_entry(pi30, "pi30")
    await set_up(hass, entry)
    await next_poll(hass, max(ZERO_POLLS, STALE_POLLS))
    assert entry.state is ConfigEntryState.LOADED
    assert our_issues(hass) == set()
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (None, "not_detected"),  # nothing answers the probes
        ("pi30", "same_protocol"),  # a real PI30 after all
    ],
)
async def test_redetection_that_finds_no_other_protocol(
    hass: HomeAssistant, fix: Repairs, short_timeout: None, answer: str | None, reason: str
) -> None:
    """Detection finds nothing, or the entry's own protocol: the flow says so, nothing changes."""
    simulator = create_simulator("pi18")
    async with PtyServer(simulator) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        raised = issue(hass, repairs.PROTOCOL_MISMATCH, entry)
        assert raised is not None
        flow = await fix.start(raised.issue_id)
        # What answers on the port when the user asks for detection.
        server.simulator = (
            FaultySimulator(simulator, Faults(silence=1.0))
            if answer is None
            else create_simulator(answer)
        )
        result = await fix.submit(flow["flow_id"])
        await hass.async_block_till_done()
        assert result["type"] == "abort"
        assert result["reason"] == reason
        assert entry.data[CONF_PROTOCOL] == "pi30"
        # The entry was set up again with its own protocol.
        expected = ConfigEntryState.LOADED if answer else ConfigEntryState.SETUP_RETRY
        assert entry.state is expected
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_redetection_finds_another_unit(hass: HomeAssistant, fix: Repairs) -> None:
    """The port now reaches another unit (another serial number): not this entry's fix."""
    async with PtyServer(create_simulator("pi18")) as server:
        entry = serial_entry(server, "pi30", **{CONF_SERIAL: "92932004102453"})
        await set_up(hass, entry)
        raised = issue(hass, repairs.PROTOCOL_MISMATCH, entry)
        assert raised is not None
        flow = await fix.start(raised.issue_id)
        result = await fix.submit(flow["flow_id"])
        assert result["type"] == "abort"
        assert result["reason"] == "another_device"
        assert entry.data[CONF_PROTOCOL] == "pi30"
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_redetection_that_cannot_open_the_port(
    hass: HomeAssistant, fix: Repairs, pi30: PtyServer
) -> None:
    """The port cannot be opened for detection: the flow ends saying why."""
    async with PtyServer(create_simulator("pi18")) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        raised = issue(hass, repairs.PROTOCOL_MISMATCH, entry)
        assert raised is not None
        flow = await fix.start(raised.issue_id)
        with refused(server.path):
            result = await fix.submit(flow["flow_id"])
        assert result["type"] == "abort"
        assert result["reason"] == "detection_failed"
        assert "permission denied" in result["description_placeholders"]["error"]
        await hass.async_block_till_done()
        assert await hass.config_entries.async_unload(entry.entry_id)


# -- stale data -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("short_timeout")
async def test_stale_data_raised_and_ended(hass: HomeAssistant, pi30: PtyServer) -> None:
    """A device silent for STALE_POLLS polls raises a warning; its next answer ends it."""
    entry = serial_entry(pi30, "pi30")
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    faulty = pi30.simulator
    assert isinstance(faulty, FaultySimulator)

    faulty.faults = Faults(silence=1.0)
    await next_poll(hass, STALE_POLLS - 1)
    assert issue(hass, repairs.STALE_DATA, entry) is None
    await next_poll(hass)
    raised = issue(hass, repairs.STALE_DATA, entry)
    assert raised is not None
    assert not raised.is_fixable
    assert raised.severity is ir.IssueSeverity.WARNING
    placeholders = raised.translation_placeholders or {}
    assert placeholders["polls"] == str(STALE_POLLS)
    assert placeholders["title"] == entry.title
    assert placeholders["error"]

    faulty.faults = Faults()
    await next_poll(hass)
    assert issue(hass, repairs.STALE_DATA, entry) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_entry_deletes_its_issues(hass: HomeAssistant, pi30: PtyServer) -> None:
    """An entry removed while its issue stands takes the issue with it."""
    entry = serial_entry(pi30, "pi30")
    with refused(pi30.path):
        await set_up(hass, entry)
    assert issue(hass, repairs.PERMISSION_DENIED, entry) is not None
    async with asyncio.timeout(BOUND):
        await hass.config_entries.async_remove(entry.entry_id)
    assert our_issues(hass) == set()


# -- Bluetooth ------------------------------------------------------------------------------------

DALY_ADDRESS = "AA:BB:CC:DD:EE:07"


def daly_entry(address: str) -> MockConfigEntry:
    """Return an entry for the Daly BMS at ``address``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Daly BMS",
        unique_id=address,
        data={CONF_CONNECTION: Connection.BLUETOOTH, CONF_ADDRESS: address, CONF_PROTOCOL: "daly"},
    )


@pytest.fixture
def daly(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedBleDevice]:
    """Make a Daly BMS the Bluetooth links reach (not yet advertised); close it afterwards."""
    monkeypatch.setattr(connection, "BLE_TIMEOUT", 0.3)
    device = SimulatedBleDevice(
        create_simulator("daly", seed=1), name="DL-40D63C0A1B2C", address=DALY_ADDRESS
    )
    monkeypatch.setattr(connection, "BLE_CLIENT_CLASS", device.client_class)
    yield device
    device.close()


def daly_heard(hass: HomeAssistant, device: SimulatedBleDevice) -> None:
    """Let Home Assistant's Bluetooth stack hear the Daly BMS."""
    advertise(hass, service_info(device, service_uuids=[DALY_SERVICE], manufacturer_data={}))


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_out_of_range_raised_and_ended(
    hass: HomeAssistant, daly: SimulatedBleDevice
) -> None:
    """A BMS no adapter hears, setup after setup: out of range; heard and answering: ended."""
    entry = daly_entry(DALY_ADDRESS)
    await set_up(hass, entry)
    for _ in range(STALE_POLLS - 1):
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert issue(hass, repairs.BLUETOOTH_UNREACHABLE, entry) is None
        await retry_setup(hass)
    raised = issue(hass, repairs.BLUETOOTH_UNREACHABLE, entry)
    assert raised is not None
    assert raised.translation_key == "bluetooth_out_of_range"
    assert not raised.is_fixable
    assert (raised.translation_placeholders or {})["port"] == DALY_ADDRESS

    daly_heard(hass, daly)
    await retry_setup(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert issue(hass, repairs.BLUETOOTH_UNREACHABLE, entry) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_not_connectable(hass: HomeAssistant, daly: SimulatedBleDevice) -> None:
    """A BMS still heard but that takes no connection (gone off, or its app holds it)."""
    daly_heard(hass, daly)
    entry = daly_entry(DALY_ADDRESS)
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    # Its phone app took the only connection: the BMS refuses Home Assistant's.
    daly.refuse_connect = "connection refused: already connected to another central"
    daly.drop()
    await next_poll(hass, STALE_POLLS, step=BLE_STEP)
    raised = issue(hass, repairs.BLUETOOTH_UNREACHABLE, entry)
    assert raised is not None
    assert raised.translation_key == "bluetooth_not_connectable"
    assert issue(hass, repairs.STALE_DATA, entry) is None
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert our_issues(hass) == set()


# -- translations ---------------------------------------------------------------------------------


def test_every_issue_is_translated() -> None:
    """Each issue's text is in strings.json; a fix flow exactly where the issue is fixable."""
    strings = json.loads(
        (Path(repairs.__file__).parent / "strings.json").read_text(encoding="utf-8")
    )["issues"]
    fixable = {"permission_denied", "port_in_use", "protocol_refused", "protocol_zeros"}
    informational = {"bluetooth_out_of_range", "bluetooth_not_connectable", "stale_data"}
    informational.add("bridge_output_failing")  # bridge.py (test_bridge_mode.py)
    assert set(strings) == fixable | informational
    for key in fixable:
        assert "fix_flow" in strings[key]
    for key in informational:
        assert "description" in strings[key]
        assert "fix_flow" not in strings[key]
