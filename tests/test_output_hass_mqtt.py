"""``hass_mqtt``: what Home Assistant is told, as a subscriber of a real mosquitto sees it.

Acceptance by Home Assistant's own MQTT integration is in
``tests/components/test_hass_mqtt_discovery.py``; here the payloads' details: classes, options,
identity, keys of fields several commands share, the fallback without a protocol, when discovery
is (and is not) published again, and Home Assistant's birth message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mppsolar_lib.bridge.model import DeviceConfig, MqttBroker
from mppsolar_lib.outputs import OutputContext, OutputOptions, Report, Resources, get_output
from mppsolar_lib.outputs.hass_mqtt import (
    BIRTH_TOPIC,
    HassMqtt,
    discovery_topic,
    manufacturer,
    node_id,
    state_topic,
)
from mppsolar_lib.outputs.mqtt import availability_topic
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field, Hints
from mppsolar_lib.simulator import create_simulator
from tests.servers.mosquitto import Broker, start_broker

aiomqtt = pytest.importorskip("aiomqtt")

TIMEOUT = 20.0


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """Start a private mosquitto for one test."""
    server = await start_broker(tmp_path)
    yield server
    await server.stop()


def output(
    broker: Broker | None, name: str = "Inverter", protocol: str | None = "pi30"
) -> HassMqtt:
    """Return a ``hass_mqtt`` output for device ``name`` speaking ``protocol``."""
    context = OutputContext(
        DeviceConfig(name=name, commands=("QPIGS",)),
        MqttBroker("127.0.0.1", broker.port) if broker is not None else None,
        get_protocol(protocol) if protocol else None,
        Resources(),
    )
    made = get_output("hass_mqtt", OutputOptions(name=name), context)
    assert isinstance(made, HassMqtt)
    return made


def polled(protocol: str, *commands: str) -> list[Report]:
    """Return the simulator's answers to ``commands``, as the bridge reports them."""
    simulator = create_simulator(protocol)
    reports = []
    for command in commands:
        result = simulator.query(command)  # type: ignore[attr-defined]
        reports.append(Report.from_result(result, command, command))
    return reports


async def retained(broker: Broker, *topics: str) -> dict[str, Any]:
    """Return the retained JSON message of each of ``topics`` (bounded)."""
    found: dict[str, Any] = {}
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)
        async with asyncio.timeout(TIMEOUT):
            async for message in client.messages:
                found[message.topic.value] = json.loads(message.payload)
                if set(topics) <= found.keys():
                    return found
    raise AssertionError("unreachable")  # pragma: no cover


async def test_discovery_and_state(broker: Broker) -> None:
    """One retained device config with a component per field; one retained JSON state."""
    out = output(broker)
    reports = polled("pi30", "QPIGS", "QMOD", "QPIWS", "QPIRI", "QID", "QVFW")
    try:
        await out.send(reports)
        got = await retained(broker, discovery_topic("Inverter"), state_topic("Inverter"))
    finally:
        await out.close()
        await out.context.resources.close()  # type: ignore[union-attr]
    config, state = got[discovery_topic("Inverter")], got[state_topic("Inverter")]
    assert discovery_topic("Inverter") == "homeassistant/device/mppsolar_inverter/config"
    assert state_topic("Inverter") == "mppsolar/Inverter/state"
    device = config["dev"]
    assert device["ids"] == ["mppsolar_inverter"]
    assert (device["name"], device["mf"], device["mdl"]) == ("Inverter", "Voltronic Power", "PI30")
    serial = next(r.value for r in reports[4].rows if r.key == "serial_number")
    assert device["sn"] == serial
    assert device["sw"] and not device["sw"].startswith("VERFW")
    assert config["o"]["name"] == "mppsolar"
    assert config["avty_mode"] == "all"
    assert config["avty"][0] == {"t": availability_topic("Inverter")}
    assert config["avty"][1]["t"].startswith("mppsolar/bridge/")
    assert (config["stat_t"], config["qos"]) == (state_topic("Inverter"), 1)
    cmps = config["cmps"]
    voltage = cmps["battery_voltage"]
    assert voltage == {
        "p": "sensor",
        "name": "Battery Voltage",
        "uniq_id": "mppsolar_inverter_battery_voltage",
        "val_tpl": "{{ value_json.battery_voltage }}",
        "unit_of_meas": "V",
        "dev_cla": "voltage",
        "stat_cla": "measurement",
    } | ({"sug_dsp_prc": voltage["sug_dsp_prc"]} if "sug_dsp_prc" in voltage else {})
    # QPIRI's battery_voltage (rated) is its own entity, not QPIGS's overwritten.
    rated = cmps["battery_voltage_setting"]
    assert rated["name"] == "Battery Voltage setting"
    assert state["battery_voltage"] == next(
        r.value for r in reports[0].rows if r.key == "battery_voltage"
    )
    assert state["battery_voltage_setting"] == next(
        r.value for r in reports[3].rows if r.key == "battery_voltage"
    )
    # Flags: binary sensors with 1/0 (and in the state as 1/0).
    load = cmps["is_load_on"]
    assert (load["p"], load["pl_on"], load["pl_off"]) == ("binary_sensor", "1", "0")
    assert state["is_load_on"] in (0, 1)
    assert cmps["fan_locked_fault"]["dev_cla"] == "problem"
    # Enumerations carry their options; text has no unit or state class.
    mode = cmps["device_mode"]
    assert mode["dev_cla"] == "enum"
    assert "Battery" in mode["ops"]
    serial_cmp = cmps["serial_number"]
    assert "unit_of_meas" not in serial_cmp
    assert "stat_cla" not in serial_cmp
    # Reserved positions are in the state but get no entity.
    assert "rsv1" in state
    assert not {"rsv1", "rsv2", "is_reserved", "reserved"} & cmps.keys()


async def test_energy_counters_and_other_hints(broker: Broker) -> None:
    """Energy is total_increasing; category, icon, precision and hidden-by-default pass through."""
    out = output(broker, "PI18", "pi18")
    reports = polled("pi18", "ET", "GS")
    try:
        await out.send(reports)
        config = (await retained(broker, discovery_topic("PI18")))[discovery_topic("PI18")]
    finally:
        await out.context.resources.close()  # type: ignore[union-attr]
    energy = config["cmps"]["total_pv_generated_energy"]
    assert (energy["dev_cla"], energy["stat_cla"], energy["unit_of_meas"]) == (
        "energy",
        "total_increasing",
        "Wh",
    )
    assert any("ent_cat" in c for c in config["cmps"].values())
    assert any("ic" in c for c in config["cmps"].values())
    assert any("sug_dsp_prc" in c for c in config["cmps"].values())


def test_components_without_a_protocol() -> None:
    """Without a protocol the kind is guessed from the value; the device has no maker or model."""
    out = output(None, "Mystery", None)
    report = Report(
        "STATUS",
        "status",
        (
            Field("on", "On", True, hints=Hints(device_class="voltage")),
            Field("volts", "Volts", 12.5, "V", Hints("voltage", "measurement", "diagnostic")),
            Field("count", "Count", 3),
            Field("label", "Label", "hello", hints=Hints(icon="mdi:tag", enabled_default=False)),
            Field("made", "Made", 1.5, "kWh", Hints("energy", "measurement")),
            Field("today", "Today", 0.4, "kWh", Hints("energy", "total")),
            Field("on_date", "On date", 2.5, "kWh"),
            Field("spare", "Spare", 0, hints=Hints(entity=False)),
            Field("serial_no", "Serial", " "),
        ),
    )
    messages = out.batch_messages([report])
    assert [topic for topic, _, _ in messages] == [
        discovery_topic("Mystery"),
        state_topic("Mystery"),
    ]
    config = json.loads(messages[0][1])  # type: ignore[arg-type]
    assert config["dev"] == {"ids": ["mppsolar_mystery"], "name": "Mystery"}
    # No connection yet: only the device's own availability.
    assert config["avty"] == [{"t": availability_topic("Mystery")}]
    cmps = config["cmps"]
    # A flag whose hint is a sensor's class gets none (Home Assistant would refuse it).
    assert cmps["on"]["p"] == "binary_sensor"
    assert "dev_cla" not in cmps["on"]
    assert cmps["volts"]["unit_of_meas"] == "V"
    assert cmps["volts"]["ent_cat"] == "diagnostic"
    assert "sug_dsp_prc" not in cmps["volts"]
    # A number without a unit is shown as text: nothing says what it measures.
    assert set(cmps["count"]) == {"p", "name", "uniq_id", "val_tpl"}
    assert cmps["label"]["ic"] == "mdi:tag"
    assert cmps["label"]["en"] is False
    assert (cmps["made"]["dev_cla"], cmps["made"]["stat_cla"]) == ("energy", "total_increasing")
    # A period counter that resets stays "total"; a date's figure gets no state class.
    assert (cmps["today"]["dev_cla"], cmps["today"]["stat_cla"]) == ("energy", "total")
    assert cmps["on_date"]["dev_cla"] == "energy"
    assert "stat_cla" not in cmps["on_date"]
    assert "spare" not in cmps
    assert "sn" not in config["dev"]  # a blank serial is not an identity
    assert json.loads(messages[1][1]) == {  # type: ignore[arg-type]
        "on": 1,
        "volts": 12.5,
        "count": 3,
        "label": "hello",
        "made": 1.5,
        "today": 0.4,
        "on_date": 2.5,
        "spare": 0,
        "serial_no": " ",
    }
    assert manufacturer("xyz") is None
    assert node_id("My Inverter!") == "mppsolar_my_inverter"
    assert node_id("!!!") == "mppsolar_device"


def test_keys_several_commands_share() -> None:
    """The first command keeps a key; a later settings command gets ``_setting``, others theirs."""
    out = output(None)
    protocol = get_protocol("pi30")
    assert out._key("QPIGS", "battery_voltage") == ("battery_voltage", "")  # noqa: SLF001
    assert out._key("QPIRI", "battery_voltage") == ("battery_voltage_setting", " setting")  # noqa: SLF001
    other = next(
        name
        for name, command in protocol.commands.items()
        if "battery_voltage" in command.info and name not in ("QPIGS", "QPIRI")
    )
    assert out._key(other, "battery_voltage") == (  # noqa: SLF001
        f"battery_voltage_{other.lower()}",
        f" ({other})",
    )
    # A key no command of the protocol has, and a listing (no command): kept as it is.
    assert out._key("QPIGS", "made_up") == ("made_up", "")  # noqa: SLF001
    assert out._key(None, "anything") == ("anything", "")  # noqa: SLF001
    listing = Report("command help", "listing", (Field("qpigs", "QPIGS", "status"),))
    messages = out.batch_messages([listing])
    assert json.loads(messages[1][1]) == {"qpigs": "status"}  # type: ignore[arg-type]
    # Daly answers the cell numbers of both extremes in two status commands.
    daly = output(None, "Daly", "daly")
    assert daly._key("cellMinMaxTemps", "maximum_cell_number") == (  # noqa: SLF001
        "maximum_cell_number_cellminmaxtemps",
        " (cellMinMaxTemps)",
    )


def test_enumeration_labels_seen_are_kept() -> None:
    """A label the table lacks (an unknown code) is added to the options, and stays."""
    out = output(None)
    info = get_protocol("pi30").commands["QMOD"].info["device_mode"]

    def mode(label: str) -> dict[str, Any]:
        row = Field("device_mode", "Device Mode", label)
        messages = out.batch_messages([Report("QMOD", "mode", (row,))])
        config = json.loads(messages[0][1])  # type: ignore[arg-type]
        return config["cmps"]["device_mode"]  # type: ignore[no-any-return]

    assert mode("Battery")["ops"] == list(info.options)
    assert mode("Unknown (X)")["ops"] == [*info.options, "Unknown (X)"]
    assert mode("Line")["ops"] == [*info.options, "Unknown (X)"]


async def test_discovery_again_only_when_something_changed(broker: Broker) -> None:
    """Same fields: state only; a new field: discovery again; Home Assistant's birth: both."""
    out = output(broker)
    qpigs, qmod = polled("pi30", "QPIGS", "QMOD")
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe("homeassistant/device/#", qos=1)
        await client.subscribe("mppsolar/Inverter/state", qos=1)
        seen: list[str] = []

        async def next_topics(count: int) -> list[str]:
            got: list[str] = []
            async with asyncio.timeout(TIMEOUT):
                async for message in client.messages:
                    got.append(message.topic.value)
                    if len(got) == count:
                        return got
            raise AssertionError("unreachable")  # pragma: no cover

        try:
            await out.send([qpigs])
            seen += await next_topics(2)
            await out.send([qpigs])  # nothing new: the state only
            seen += await next_topics(1)
            await out.send([qmod])  # a new field: discovery first
            seen += await next_topics(2)
            # Home Assistant's birth: announced again, state with it; anything else ignored.
            await client.publish(BIRTH_TOPIC, "offline", qos=1)
            await client.publish(BIRTH_TOPIC, "online", qos=1)
            seen += await next_topics(2)
        finally:
            await out.close()
            await out.close()  # twice is harmless
            await out.context.resources.close()  # type: ignore[union-attr]
    device, state = discovery_topic("Inverter"), state_topic("Inverter")
    assert seen == [device, state, state, device, state, device, state]


async def test_birth_before_any_reading_and_while_the_broker_is_away(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing to announce before the first reading; a broker gone away is logged, not raised."""
    out = output(broker)
    try:
        await out._birth(BIRTH_TOPIC, b"online")  # noqa: SLF001
        assert out._announced is None  # noqa: SLF001
        await out.send(polled("pi30", "QMOD"))
        announced = out._announced  # noqa: SLF001
        await broker.stop()
        with caplog.at_level(logging.DEBUG, logger="mppsolar_lib.outputs.hass_mqtt"):
            await out._birth(BIRTH_TOPIC, b"online")  # noqa: SLF001
        assert out._announced == announced  # noqa: SLF001
        assert "re-announcing to Home Assistant failed" in caplog.text
    finally:
        await out.close()
        await out.context.resources.close()  # type: ignore[union-attr]
