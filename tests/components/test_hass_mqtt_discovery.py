"""``hass_mqtt`` discovery as Home Assistant's own MQTT integration takes it.

A real mosquitto on loopback, Home Assistant's MQTT integration set up with a real config entry
pointing at it (its paho client, not ``mqtt_mock``), and the bridge daemon in the same event loop
polling simulated devices (a PI30 and a PI18 inverter, a JK BMS, a Daly BMS) with ``hass_mqtt``.
What is checked is what a user sees in Home Assistant: the devices in the device registry, the
entities (platform, name, classes, unit, options) in the entity registry, their states against
what the devices answered, availability following the device and the bridge, and discovery
coming back after Home Assistant's MQTT restarts. Any warning or error the MQTT integration (or
the sensor platforms judging the payloads) logs fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import logging
from pathlib import Path
from typing import Any

import aiomqtt
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from mppsolar_lib.bridge.daemon import Bridge
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig, MqttBroker
from mppsolar_lib.device import Device
from mppsolar_lib.errors import TransportError
from mppsolar_lib.outputs import Report
from mppsolar_lib.outputs.hass_mqtt import discovery_topic, node_id, state_topic
from mppsolar_lib.outputs.mqtt_pool import bridge_id, status_topic
from mppsolar_lib.protocols import Protocol, get_protocol
from mppsolar_lib.protocols.fields import FieldKind
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.transports.base import Completion
from mppsolar_lib.transports.simulated import SimulatedTransport
from tests.servers.mosquitto import Broker, start_broker

TIMEOUT = 20.0

DEVICES = (
    DeviceConfig(
        name="Main inverter",
        port="sim://pi30",
        protocol="pi30",
        outputs=("hass_mqtt",),
        commands=("QPIGS", "QMOD", "QPIWS", "QPIRI", "QID", "QVFW"),
    ),
    DeviceConfig(
        name="Garage PI18",
        port="sim://pi18",
        protocol="pi18",
        outputs=("hass_mqtt",),
        commands=("GS", "ET"),
    ),
    DeviceConfig(
        name="JK BMS",
        port="sim://jk02_32",
        protocol="jk02_32",
        outputs=("hass_mqtt",),
        commands=("getCellData", "getInfo"),
    ),
    DeviceConfig(
        name="Daly",
        port="sim://daly",
        protocol="daly",
        outputs=("hass_mqtt",),
        commands=("SOC", "status", "mosStatus", "cellMinMaxVoltages"),
    ),
)
#: Loggers whose warnings say Home Assistant did not take (part of) a payload.
JUDGES = (
    "homeassistant.components.mqtt",
    "homeassistant.components.sensor",
    "homeassistant.components.binary_sensor",
    "homeassistant.helpers.template",
    "homeassistant.helpers.entity",
)


class Link(SimulatedTransport):
    """The simulator's link, which a test can unplug (the device stops answering)."""

    plugged = True

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Answer as the simulator does, or fail as an unplugged cable does."""
        if not self.plugged:
            raise TransportError(f"{self.name}: unplugged")
        return await super().exchange(request, complete, timeout)


class Setup:
    """The broker, Home Assistant's MQTT entry and the bridge of one test."""

    def __init__(self, hass: HomeAssistant, broker: Broker, tmp_path: Path) -> None:
        """Prepare; nothing runs until :meth:`start_mqtt` and :meth:`start_bridge`."""
        self.hass = hass
        self.broker = broker
        self.tmp_path = tmp_path
        self.entry = MockConfigEntry(
            domain=mqtt.DOMAIN,
            title="MQTT",
            data={mqtt.CONF_BROKER: "127.0.0.1", CONF_PORT: broker.port},
            version=1,
            minor_version=2,
        )
        self.simulators: dict[str, Simulator] = {}
        self.links: dict[str, Link] = {}
        self.bridge = Bridge(
            BridgeConfig(devices=DEVICES, mqtt=MqttBroker("127.0.0.1", broker.port)),
            spool_dir=tmp_path / "spool",
            device_factory=self._device,
        )

    def _device(self, config: DeviceConfig) -> Device:
        assert config.protocol is not None
        simulator = create_simulator(config.protocol)
        link = Link(simulator, name=config.port)
        self.simulators[config.name] = simulator
        self.links[config.name] = link
        # One attempt: a test that unplugs a device need not wait for retries.
        return Device(link, config.protocol, attempts=1)

    async def start_mqtt(self) -> None:
        """Set up Home Assistant's MQTT integration and wait until it is connected."""
        if self.entry.state is ConfigEntryState.NOT_LOADED and self.entry.entry_id not in {
            entry.entry_id for entry in self.hass.config_entries.async_entries(mqtt.DOMAIN)
        }:
            self.entry.add_to_hass(self.hass)
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await until(self.hass, lambda: mqtt.is_connected(self.hass))

    async def stop_mqtt(self) -> None:
        """Unload Home Assistant's MQTT integration (it disconnects)."""
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        await self.hass.async_block_till_done()

    async def poll(self, *devices: str) -> dict[str, list[Report]]:
        """Poll ``devices`` (all by default) once and wait until the broker took the readings."""
        polled: dict[str, list[Report]] = {}
        for name, runner in self.bridge.runners.items():
            if devices and name not in devices:
                continue
            reports = await runner.poll(runner.config.commands)
            await runner.publish(reports)
            polled[name] = reports
            for sink in runner.sinks:
                assert await sink.drain(TIMEOUT)
        return polled


async def until(hass: HomeAssistant, check: Callable[[], object]) -> None:
    """Let Home Assistant run until ``check()`` holds (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while not check():
            await asyncio.sleep(0.02)
            await hass.async_block_till_done()


def entity_id(hass: HomeAssistant, device: str, key: str) -> str | None:
    """Return the entity Home Assistant made for ``key`` of ``device`` (any platform)."""
    registry = er.async_get(hass)
    unique = f"{node_id(device)}_{key}"
    for platform in ("sensor", "binary_sensor"):
        if found := registry.async_get_entity_id(platform, mqtt.DOMAIN, unique):
            return found
    return None


def keyed(protocol: Protocol, command: str, key: str) -> tuple[str, str]:
    """Return the entity key and name suffix docs/bridge.md promises for ``key`` of ``command``.

    The first command having the key, status commands first, keeps it; the first settings
    command after it gets ``<key>_setting``, any other ``<key>_<command>``.
    """
    order = dict.fromkeys(
        (*protocol.status_commands, *protocol.settings_commands, *protocol.commands)
    )
    owners = [name for name in order if key in protocol.commands[name].info]
    if owners[0] == command:
        return key, ""
    if next(n for n in owners[1:] if n in protocol.settings_commands) == command:
        return f"{key}_setting", " setting"
    return f"{key}_{command.lower()}", f" ({command})"


def expected_state(value: Any, kind: FieldKind) -> str:
    """Return the state Home Assistant should show for a reading."""
    if kind is FieldKind.BOOL:
        return STATE_ON if value else STATE_OFF
    return str(value)


def same(state: str, value: Any, kind: FieldKind) -> bool:
    """Whether Home Assistant's ``state`` shows ``value``."""
    if kind is FieldKind.NUMBER and isinstance(value, int | float):
        return float(state) == float(value)
    return state == expected_state(value, kind)


def state_of(hass: HomeAssistant, entity: str) -> str:
    """Return ``entity``'s state ("" while it does not exist)."""
    state = hass.states.get(entity)
    return state.state if state is not None else ""


def available(hass: HomeAssistant, entity: str) -> bool:
    """Whether ``entity`` exists and is available."""
    state = hass.states.get(entity)
    return state is not None and state.state != STATE_UNAVAILABLE


def assert_accepted(caplog: pytest.LogCaptureFixture) -> None:
    """Fail on any sign that Home Assistant refused or misread a payload."""
    refused = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
        or (
            record.levelno >= logging.WARNING
            and (record.name.startswith(JUDGES) or "discovery" in record.getMessage().lower())
        )
    ]
    assert not refused, "\n".join(refused)


@pytest.fixture
async def broker(tmp_path: Path, socket_enabled: None) -> AsyncIterator[Broker]:
    """Start a private mosquitto (no persistence: a restart forgets retained messages)."""
    server = await start_broker(tmp_path)
    yield server
    await server.stop()


@pytest.fixture
async def setup(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, mock_hass_config: None
) -> AsyncIterator[Setup]:
    """Home Assistant's MQTT connected to the broker; the bridge started without its cadences."""
    setup = Setup(hass, broker, tmp_path)
    await setup.start_mqtt()
    await setup.bridge.start(poll=False)
    try:
        yield setup
    finally:
        await setup.bridge.stop()
        if setup.entry.state is ConfigEntryState.LOADED:
            await setup.stop_mqtt()


async def test_devices_and_entities_as_home_assistant_sees_them(
    hass: HomeAssistant, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """Every field of every device becomes the right entity, showing what the device said."""
    polled = await setup.poll()
    inverter = setup.simulators["Main inverter"]
    # One entity of each device available: its discovery, state and availability are in.
    sentinels = (
        "sensor.main_inverter_battery_voltage",
        "sensor.garage_pi18_total_pv_generated_energy",
        "sensor.jk_bms_serial_number",
        "sensor.daly_minimum_cell_voltage",
    )
    await until(hass, lambda: all(available(hass, sentinel) for sentinel in sentinels))

    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    found = {
        name: devices.async_get_device(identifiers={(mqtt.DOMAIN, node_id(name))})
        for name in polled
    }
    assert all(found.values()), found
    model = {name: (device.manufacturer, device.model) for name, device in found.items() if device}
    assert model == {
        "Main inverter": ("Voltronic Power", "PI30"),
        "Garage PI18": ("Voltronic Power", "PI18"),
        "JK BMS": ("Jikong (JK BMS)", "JK02_32"),
        "Daly": ("Daly", "DALY"),
    }
    pi30 = found["Main inverter"]
    assert pi30 is not None
    assert pi30.name == "Main inverter"
    assert pi30.serial_number == getattr(inverter, "serial", None)
    assert pi30.sw_version  # QVFW's firmware version
    jk_device = found["JK BMS"]
    assert jk_device is not None
    jk_info = next(report for report in polled["JK BMS"] if report.command == "getInfo")
    assert jk_device.serial_number == next(
        row.value for row in jk_info.rows if row.key == "serial_number"
    )

    # Every field of every report: an entity of the right kind with the value polled, unless
    # the catalogue says it is no entity (reserved positions).
    checked = 0
    for name, reports in polled.items():
        device = found[name]
        assert device is not None
        protocol = get_protocol(next(d.protocol for d in DEVICES if d.name == name) or "")
        for report in reports:
            command = protocol.resolve(report.command)[0].name
            info = protocol.commands[command].info
            for row in report.rows:
                field = info[row.key]
                key, suffix = keyed(protocol, command, row.key)
                found_id = entity_id(hass, name, key)
                if not field.hints.entity:
                    assert found_id is None, f"{name}: reserved {row.key} became {found_id}"
                    continue
                assert found_id is not None, f"{name}: no entity for {row.key}"
                entry = entities.async_get(found_id)
                assert entry is not None
                assert entry.device_id == device.id
                assert entry.has_entity_name
                assert entry.original_name == row.name + suffix
                assert entry.domain == (
                    "binary_sensor" if field.kind is FieldKind.BOOL else "sensor"
                ), row.key
                capabilities = entry.capabilities or {}
                if field.kind is FieldKind.TEXT:
                    # Text is never declared numeric.
                    assert entry.unit_of_measurement is None, row.key
                    assert "state_class" not in capabilities, row.key
                if field.kind is FieldKind.ENUM:
                    assert entry.original_device_class == "enum"
                    assert set(field.options) <= set(capabilities["options"])
                if entry.disabled_by is not None:
                    assert not field.hints.enabled_default
                    continue
                state = hass.states.get(found_id)
                assert state is not None, found_id
                assert same(state.state, row.value, field.kind), (found_id, state.state, row)
                checked += 1
    assert checked > 200

    def entity(device: str, key: str) -> er.RegistryEntry:
        found_id = entity_id(hass, device, key)
        assert found_id is not None, key
        entry = entities.async_get(found_id)
        assert entry is not None
        return entry

    voltage = entity("Main inverter", "battery_voltage")
    assert voltage.entity_id == "sensor.main_inverter_battery_voltage"  # named "<device> <field>"
    assert (voltage.original_name, voltage.original_device_class) == ("Battery Voltage", "voltage")
    assert voltage.unit_of_measurement == "V"
    assert voltage.capabilities == {"state_class": "measurement"}
    # QPIRI's battery_voltage (the rated one) does not overwrite QPIGS's live one.
    rated = entity("Main inverter", "battery_voltage_setting")
    assert rated.original_name == "Battery Voltage setting"
    qpiri = next(report for report in polled["Main inverter"] if report.command == "QPIRI")
    rated_state = hass.states.get(rated.entity_id)
    assert rated_state is not None
    assert float(rated_state.state) == next(
        row.value for row in qpiri.rows if row.key == "battery_voltage"
    )
    qpigs = polled["Main inverter"][0]
    live = hass.states.get(voltage.entity_id)
    assert live is not None
    assert float(live.state) == next(
        row.value for row in qpigs.rows if row.key == "battery_voltage"
    )
    energy = entity("Garage PI18", "total_pv_generated_energy")
    assert (energy.original_device_class, energy.unit_of_measurement) == ("energy", "Wh")
    assert energy.capabilities == {"state_class": "total_increasing"}
    mode = entity("Main inverter", "device_mode")
    assert mode.original_device_class == "enum"
    assert mode.capabilities is not None
    assert "Battery" in mode.capabilities["options"]
    assert mode.unit_of_measurement is None
    load = entity("Main inverter", "is_load_on")
    assert load.entity_id == "binary_sensor.main_inverter_is_load_on"
    fault = entity("Main inverter", "fan_locked_fault")
    assert (fault.domain, fault.original_device_class) == ("binary_sensor", "problem")
    serial = entity("JK BMS", "serial_number")
    assert serial.capabilities is None
    assert serial.unit_of_measurement is None
    soc = entity("Daly", "soc")
    assert (soc.original_device_class, soc.unit_of_measurement) == ("battery", "%")

    # A second poll moves the states along with the simulator.
    again = await setup.poll("Main inverter")
    row = next(r for r in again["Main inverter"][0].rows if r.key == "battery_voltage")
    await until(
        hass,
        lambda: state_of(hass, "sensor.main_inverter_battery_voltage") == str(row.value),
    )
    assert_accepted(caplog)


async def test_availability_follows_the_device_and_the_bridge(
    hass: HomeAssistant, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """A device that stops answering goes unavailable, and back; a stopped bridge, all of it."""
    await setup.poll()
    voltage, soc = "sensor.main_inverter_battery_voltage", "sensor.daly_soc"
    await until(hass, lambda: available(hass, voltage) and available(hass, soc))

    setup.links["Main inverter"].plugged = False
    await setup.poll()
    await until(hass, lambda: state_of(hass, voltage) == STATE_UNAVAILABLE)
    assert available(hass, soc)
    assert state_of(hass, "binary_sensor.main_inverter_is_load_on") == STATE_UNAVAILABLE

    setup.links["Main inverter"].plugged = True
    polled = await setup.poll("Main inverter")
    value = next(r.value for r in polled["Main inverter"][0].rows if r.key == "battery_voltage")
    await until(hass, lambda: available(hass, voltage))
    assert state_of(hass, voltage) == str(value)

    # The bridge going away (its status topic, the last will's) takes every device with it.
    await setup.bridge.stop()
    await until(
        hass,
        lambda: state_of(hass, voltage) == state_of(hass, soc) == STATE_UNAVAILABLE,
    )
    assert_accepted(caplog)


async def test_bridge_last_will_makes_everything_unavailable(
    hass: HomeAssistant, setup: Setup, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's ``offline`` on the bridge's status topic (its last will) is obeyed."""
    await setup.poll()
    soc = "sensor.daly_soc"
    await until(hass, lambda: available(hass, soc))
    # What the broker publishes for a bridge that vanished without saying goodbye.
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(status_topic(bridge_id()), "offline", qos=1, retain=True)
        await until(hass, lambda: state_of(hass, soc) == STATE_UNAVAILABLE)
        await client.publish(status_topic(bridge_id()), "online", qos=1, retain=True)
        await until(hass, lambda: available(hass, soc))
    assert_accepted(caplog)


async def test_home_assistant_restart_gets_discovery_again(
    hass: HomeAssistant, setup: Setup, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant's birth message brings the devices back even when the broker forgot them."""
    await setup.poll()
    voltage = "sensor.main_inverter_battery_voltage"
    await until(hass, lambda: available(hass, voltage))
    await setup.stop_mqtt()
    assert not available(hass, voltage)

    # While Home Assistant is away the retained discovery and states are lost (a broker without
    # persistence restarted, say): only the birth message can bring them back.
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        for device in DEVICES:
            await client.publish(discovery_topic(device.name), b"", qos=1, retain=True)
            await client.publish(state_topic(device.name), b"", qos=1, retain=True)

    await setup.start_mqtt()
    await until(
        hass,
        lambda: state_of(hass, voltage) not in ("", STATE_UNAVAILABLE, STATE_UNKNOWN),
    )
    for device in DEVICES:
        assert dr.async_get(hass).async_get_device(
            identifiers={(mqtt.DOMAIN, node_id(device.name))}
        )
    assert_accepted(caplog)
