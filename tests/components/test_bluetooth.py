"""Bluetooth end to end: a BMS advertises, is discovered, added, polled, lost and found again.

The BMS is the library's simulated Bluetooth device at the bleak boundary
(:class:`~mppsolar_lib.simulator.ble.SimulatedBleDevice`, put where the integration's links get
their client class: ``connection.BLE_CLIENT_CLASS``). Everything above it runs for real: Home
Assistant's Bluetooth stack (its advertisement matching starts the discovery flow, and
``async_ble_device_from_address`` hands over the ``BLEDevice``), bleak-retry-connector, the
library's Bluetooth transport and ``Device``, the coordinator and the entities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
import logging
from typing import Any

from homeassistant.components import bluetooth
from homeassistant.config_entries import SOURCE_BLUETOOTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mppsolar import connection
from custom_components.mppsolar.const import (
    CONF_ADDRESS,
    CONF_CONNECTION,
    CONF_PROTOCOL,
    DOMAIN,
    Connection,
)
from custom_components.mppsolar.coordinator import MppSolarConfigEntry
from custom_components.mppsolar.identity import Identity
from mppsolar_lib.simulator import Faults, create_simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice

from .simulated import BLE_STEP, DALY_SERVICE, advertise, entities, next_poll, service_info

#: Every wait on the Bluetooth stack, a flow or a device is bounded by this (seconds).
BOUND = 60
#: Where the integration logs (the coordinator logs through it too).
LOGGER = "custom_components.mppsolar"


@dataclass(frozen=True)
class Bms:
    """A BMS model as the tests put it on the air, and what a user sees of it."""

    simulator: str
    name: str
    address: str
    #: Entity ids: a cell voltage, the state of charge, the pack voltage.
    cell: str
    soc: str
    voltage: str
    #: What it reports of itself (its device shows it; its entry keeps it).
    identity: Identity = field(default_factory=Identity)
    #: Advertisement (service UUIDs, manufacturer data) when not a JK BMS's.
    advertisement: dict[str, Any] = field(default_factory=dict)

    @property
    def watched(self) -> tuple[str, str, str]:
        """The entities the tests read."""
        return self.cell, self.soc, self.voltage


JK = Bms(
    "jk02_32",
    "JK-B2A24S15P",
    "C8:47:8C:00:00:01",
    cell="sensor.jk_b2a24s15p_cell_1_voltage",
    soc="sensor.jk_b2a24s15p_state_of_charge",
    voltage="sensor.jk_b2a24s15p_battery_voltage",
    # From its device information record, read at setup (the discovery knew only the address).
    identity=Identity(
        model="JK_B2A24S15P", firmware="11.26", serial="31213480085", hardware="11.XW"
    ),
)
DALY = Bms(
    "daly",
    "DL-40D63C2F1234",
    "AA:BB:CC:DD:EE:01",
    cell="sensor.dl_40d63c2f1234_cell_1_voltage",
    soc="sensor.dl_40d63c2f1234_soc",
    voltage="sensor.dl_40d63c2f1234_battery_bank_voltage",
    # Daly's protocol has no identity query: the device shows the protocol as its model.
    advertisement={"service_uuids": [DALY_SERVICE], "manufacturer_data": {}},
)


def on_the_air(
    monkeypatch: pytest.MonkeyPatch, simulator: str, name: str, address: str, **options: Any
) -> SimulatedBleDevice:
    """Put a simulated BMS on the air, where the integration's Bluetooth links connect."""
    device = SimulatedBleDevice(
        create_simulator(simulator, seed=1), name=name, address=address, **options
    )
    monkeypatch.setattr(connection, "BLE_CLIENT_CLASS", device.client_class)
    return device


@pytest.fixture
def bms_on_air() -> Iterator[list[SimulatedBleDevice]]:
    """Collect the simulated BMSs a test puts on the air; take them off afterwards."""
    devices: list[SimulatedBleDevice] = []
    yield devices
    for device in devices:
        device.close()


async def settle(hass: HomeAssistant) -> None:
    """Let everything started finish (discovery flows run as background tasks), bounded."""
    async with asyncio.timeout(BOUND):
        await hass.async_block_till_done(wait_background_tasks=True)


async def discover_and_add(
    hass: HomeAssistant, device: SimulatedBleDevice, **advertisement: Any
) -> MppSolarConfigEntry:
    """Advertise ``device``; confirm the discovery flow it starts; return the set-up entry."""
    advertise(hass, service_info(device, **advertisement))
    await settle(hass)

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_BLUETOOTH
    assert flows[0]["step_id"] == "bluetooth_confirm"
    async with asyncio.timeout(BOUND):  # creating the entry sets it up: real I/O
        result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    entry: MppSolarConfigEntry = result["result"]
    return entry


def value(hass: HomeAssistant, entity_id: str) -> float:
    """Return an entity's state as a number (fails when it has none)."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


def unavailable(hass: HomeAssistant, entity_id: str) -> bool:
    """Tell whether an entity shows as unavailable."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state == STATE_UNAVAILABLE


def logged(caplog: pytest.LogCaptureFixture, level: int, text: str) -> int:
    """Count the integration's log messages at ``level`` that contain ``text``."""
    return sum(
        r.name.startswith(LOGGER) and r.levelno == level and text in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.usefixtures("enable_bluetooth")
@pytest.mark.parametrize("model", [JK, DALY], ids=["jk", "daly"])
async def test_discovered_bms_is_polled_lost_and_found(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    bms_on_air: list[SimulatedBleDevice],
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
    model: Bms,
) -> None:
    """Advertised, discovered, confirmed, set up: live cell voltages and state of charge.

    The BMS then goes out of range: its entities are unavailable after the next poll (logged
    once); it comes back: available again with live values (logged once).
    """
    bms = on_the_air(monkeypatch, model.simulator, model.name, model.address)
    bms_on_air.append(bms)

    entry = await discover_and_add(hass, bms, **model.advertisement)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.title == model.name
    assert entry.data[CONF_CONNECTION] == Connection.BLUETOOTH
    # The link connected with the BLEDevice Home Assistant's Bluetooth stack knows.
    known = bluetooth.async_ble_device_from_address(hass, model.address, connectable=True)
    assert known is not None
    assert bms.clients[0].device is known
    assert bms.connected
    assert bms.connections == 1
    device = device_registry.async_get_device(
        connections={(dr.CONNECTION_BLUETOOTH, model.address)}
    )
    assert device is not None
    assert device.model_id == model.simulator
    assert device.manufacturer is not None
    expected = model.identity
    assert device.model == (expected.model or model.simulator.upper())
    assert (device.serial_number, device.sw_version, device.hw_version) == (
        expected.serial,
        expected.firmware,
        expected.hardware,
    )
    assert Identity.from_data(entry.data) == expected
    assert len(entities(hass, entry)) > 50
    assert 2.5 < value(hass, model.cell) < 3.65
    assert 0 <= value(hass, model.soc) <= 100
    assert 40 < value(hass, model.voltage) < 60

    # Out of range: the link drops and connecting fails.
    bms.refuse_connect = "Device not found"
    bms.drop()
    await next_poll(hass, step=BLE_STEP)
    for entity_id in model.watched:
        assert unavailable(hass, entity_id), entity_id
    assert logged(caplog, logging.ERROR, "Error fetching") == 1
    await next_poll(hass, step=BLE_STEP)
    assert unavailable(hass, model.cell)
    assert logged(caplog, logging.ERROR, "Error fetching") == 1

    # Back in range.
    bms.refuse_connect = None
    await next_poll(hass, step=BLE_STEP)
    for entity_id in model.watched:
        assert not unavailable(hass, entity_id), entity_id
    assert 2.5 < value(hass, model.cell) < 3.65
    assert logged(caplog, logging.INFO, "recovered") == 1
    assert bms.connections == 2

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not bms.connected


@pytest.mark.usefixtures("enable_bluetooth")
async def test_discovered_jk_gets_its_records_layout(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    bms_on_air: list[SimulatedBleDevice],
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A JK BMS before firmware 11 (24-cell records), added from its advertisement as jk02_32.

    Connecting shows its layout: the entry is set up as jk02, keeps it, and its values are
    read with it (decoded as jk02_32, cell 25 would read 65.535 V).
    """
    bms = on_the_air(monkeypatch, "jk02", "JK-B2A8S20P", "C8:47:8C:00:00:02")
    bms_on_air.append(bms)

    entry = await discover_and_add(hass, bms)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_PROTOCOL] == "jk02"
    assert entry.runtime_data.protocol.id == "jk02"
    assert logged(caplog, logging.INFO, "records use the jk02 layout, not jk02_32") == 1
    device = device_registry.async_get_device(identifiers={(DOMAIN, bms.address)})
    assert device is not None
    assert device.model_id == "jk02"
    assert 2.5 < value(hass, "sensor.jk_b2a8s20p_cell_1_voltage") < 3.65
    assert 40 < value(hass, "sensor.jk_b2a8s20p_battery_voltage") < 60
    unique_ids = {item.unique_id for item in entities(hass, entry)}
    assert f"{bms.address}_voltage_cell24" in unique_ids
    assert f"{bms.address}_voltage_cell25" not in unique_ids
    # Set up once: the layout was known before the first poll.
    assert bms.connections == 1

    async with asyncio.timeout(BOUND):
        assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    assert entry.runtime_data.protocol.id == "jk02"
    assert logged(caplog, logging.INFO, "records use") == 1
    assert await hass.config_entries.async_unload(entry.entry_id)


def bluetooth_entry(address: str, protocol: str) -> MockConfigEntry:
    """Return an entry for the BMS at ``address``, as its discovery makes it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="JK BMS",
        unique_id=address,
        data={
            CONF_CONNECTION: Connection.BLUETOOTH,
            CONF_ADDRESS: address,
            CONF_PROTOCOL: protocol,
        },
    )


@pytest.mark.usefixtures("enable_bluetooth")
async def test_jk_layout_from_the_first_poll(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    bms_on_air: list[SimulatedBleDevice],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The BMS leaves the connection handshake unanswered: its first answer shows the layout.

    That answer is read again with the right layout before anything is shown; the entry keeps
    it and is not set up twice.
    """
    monkeypatch.setattr(connection, "BLE_HANDSHAKE_TIMEOUT", 0.2)
    bms = on_the_air(
        monkeypatch,
        "jk02",
        "JK-B2A8S20P",
        "C8:47:8C:00:00:03",
        faults=Faults(script=("silence", "silence")),
        stream=False,
    )
    bms_on_air.append(bms)
    advertise(hass, service_info(bms))
    entry = bluetooth_entry(bms.address, "jk02_32")
    entry.add_to_hass(hass)

    async with asyncio.timeout(BOUND):
        assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_PROTOCOL] == "jk02"
    assert entry.runtime_data.protocol.id == "jk02"
    assert logged(caplog, logging.INFO, "records use the jk02 layout, not jk02_32") == 1
    assert 2.5 < value(hass, "sensor.jk_bms_cell_1_voltage") < 3.65
    unique_ids = {item.unique_id for item in entities(hass, entry)}
    assert f"{bms.address}_voltage_cell25" not in unique_ids
    assert bms.connections == 1
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("enable_bluetooth")
async def test_jk_firmware_update_changes_the_layout(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    bms_on_air: list[SimulatedBleDevice],
    device_registry: dr.DeviceRegistry,
) -> None:
    """A JK BMS updated to firmware 11 sends 32-cell records after reconnecting.

    The entry switches to jk02_32 and is set up again, with the entities of that layout.
    """
    bms = on_the_air(monkeypatch, "jk02", "JK-B2A8S20P", "C8:47:8C:00:00:04")
    bms_on_air.append(bms)
    advertise(hass, service_info(bms))
    entry = bluetooth_entry(bms.address, "jk02")
    entry.add_to_hass(hass)
    async with asyncio.timeout(BOUND):
        assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    before = entry.runtime_data
    assert before.protocol.id == "jk02"
    unique_ids = {item.unique_id for item in entities(hass, entry)}
    assert f"{bms.address}_voltage_cell25" not in unique_ids

    # The update restarts the BMS: the link drops, and it answers with the new firmware.
    bms.simulator = create_simulator("jk02_32", seed=1)
    bms.drop()
    await next_poll(hass, step=BLE_STEP)
    await settle(hass)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_PROTOCOL] == "jk02_32"
    assert entry.runtime_data is not before
    assert entry.runtime_data.protocol.id == "jk02_32"
    device = device_registry.async_get_device(identifiers={(DOMAIN, bms.address)})
    assert device is not None
    assert device.model_id == "jk02_32"
    unique_ids = {item.unique_id for item in entities(hass, entry)}
    assert f"{bms.address}_voltage_cell25" in unique_ids
    assert not unavailable(hass, "sensor.jk_bms_cell_1_voltage")
    assert 2.5 < value(hass, "sensor.jk_bms_cell_1_voltage") < 3.65
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bms_not_heard_yet_is_retried(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, bms_on_air: list[SimulatedBleDevice]
) -> None:
    """After a restart, a BMS Home Assistant has not heard yet: setup is retried.

    Its first advertisement (a discovery of a configured device) sets the entry up at once.
    """
    bms = on_the_air(monkeypatch, "jk02_32", "JK-B2A24S15P", "C8:47:8C:00:00:05")
    bms_on_air.append(bms)
    entry = bluetooth_entry(bms.address, "jk02_32")
    entry.add_to_hass(hass)

    async with asyncio.timeout(BOUND):
        await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "not in range of any Bluetooth adapter or proxy" in entry.reason
    assert bms.connections == 0

    advertise(hass, service_info(bms))
    await settle(hass)

    assert entry.state is ConfigEntryState.LOADED, entry.reason
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert 2.5 < value(hass, "sensor.jk_bms_cell_1_voltage") < 3.65
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("enable_bluetooth")
async def test_failed_setup_lets_the_bms_go(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, bms_on_air: list[SimulatedBleDevice]
) -> None:
    """A BMS that connects but answers nothing: setup is retried, and the link is closed.

    A BMS takes one connection at a time: between retries, its phone app can connect.
    """
    monkeypatch.setattr(connection, "BLE_TIMEOUT", 0.2)
    bms = on_the_air(monkeypatch, "daly", DALY.name, "AA:BB:CC:DD:EE:02", faults=Faults(silence=1))
    bms_on_air.append(bms)
    advertise(hass, service_info(bms, **DALY.advertisement))
    entry = bluetooth_entry(bms.address, "daly")
    entry.add_to_hass(hass)

    async with asyncio.timeout(BOUND):
        await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert bms.connections >= 1  # reconnected once after the silence, as on a real link
    assert not bms.connected
