"""Parallel systems: each unit a device of its own, with its sensors, and the system's totals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.mppsolar.catalogue import unit_catalogue
from custom_components.mppsolar.const import DOMAIN
from custom_components.mppsolar.coordinator import MppSolarCoordinator
from custom_components.mppsolar.parallel import (
    TOTALS,
    system_total,
    totals,
    unit_command,
    unit_identifier,
    unit_serial,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer
from mppsolar_lib.simulator.voltronic import VoltronicSimulator

from .simulated import next_poll, serial_entry, set_up

#: The simulated plant's clock, held still: every unit answers the same moment.
NOW = 1_750_000_000.0


@asynccontextmanager
async def parallel_system(
    hass: HomeAssistant, units: int
) -> AsyncIterator[tuple[VoltronicSimulator, MockConfigEntry]]:
    """Serve a PI30 with ``units`` units in parallel over a pty; yield it and its set-up entry."""
    simulator = create_simulator("pi30", parallel=units, clock=lambda: NOW, seed=1)
    assert isinstance(simulator, VoltronicSimulator)
    server = PtyServer(simulator)
    await server.start()
    entry = serial_entry(server, "pi30")
    try:
        await set_up(hass, entry)
        yield simulator, entry
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.close()


def unit_entity(hass: HomeAssistant, entry: MockConfigEntry, serial: str, key: str) -> str:
    """Return the entity id of sensor ``key`` of unit ``serial``."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_unit_{serial}_{key}"
    )
    assert entity_id is not None
    return entity_id


def total_entity(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    """Return the entity id of the system total ``key``."""
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry.unique_id}_{key}")
    assert entity_id is not None
    return entity_id


def unit_device(hass: HomeAssistant, entry: MockConfigEntry, serial: str) -> dr.DeviceEntry:
    """Return the device of unit ``serial``."""
    assert entry.unique_id is not None
    device = dr.async_get(hass).async_get_device({unit_identifier(entry.unique_id, serial)})
    assert device is not None
    return device


def state(hass: HomeAssistant, entity_id: str) -> str:
    """Return the state of ``entity_id``."""
    found = hass.states.get(entity_id)
    assert found is not None
    return found.state


async def rediscover(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Have the coordinator count the units again now (it does at the settings cadence)."""
    coordinator: MppSolarCoordinator = entry.runtime_data
    await coordinator.async_refresh_settings()
    await hass.async_block_till_done()


async def test_units_are_devices_with_sensors_and_totals(hass: HomeAssistant) -> None:
    """Each unit is a device via the inverter's, by serial number; the totals add them up."""
    async with parallel_system(hass, 2) as (simulator, entry):
        main = dr.async_get(hass).async_get_device({(DOMAIN, str(entry.unique_id))})
        assert main is not None
        serials = [simulator.unit_serial(0), simulator.unit_serial(1)]
        assert len(set(serials)) == 2
        powers = []
        for serial in serials:
            device = unit_device(hass, entry, serial)
            assert device.via_device_id == main.id
            assert device.serial_number == serial
            assert device.name == f"Parallel unit {serial}"
            assert float(state(hass, unit_entity(hass, entry, serial, "battery_voltage"))) > 0
            assert state(hass, unit_entity(hass, entry, serial, "work_mode")) in {
                "line_mode",
                "battery_mode",
            }
            powers.append(
                float(state(hass, unit_entity(hass, entry, serial, "ac_output_active_power")))
            )
        total = float(state(hass, total_entity(hass, entry, "parallel_output_active_power")))
        assert total == sum(powers)
        # The unit's own answer carries the system's total: the sum agrees with it.
        coordinator: MppSolarCoordinator = entry.runtime_data
        reported = coordinator.data.parallel[serials[0]]["total_output_active_power"].value
        assert isinstance(reported, int)
        assert abs(total - reported) <= len(serials)  # each unit rounds its share
        assert "QPGS1" in coordinator.frames
        await next_poll(hass)
        assert float(state(hass, unit_entity(hass, entry, serials[1], "battery_voltage"))) > 0


async def test_a_single_inverter_has_no_units(hass: HomeAssistant) -> None:
    """A unit alone in its system gets neither unit devices nor totals."""
    async with parallel_system(hass, 1) as (_, entry):
        devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        assert len(devices) == 1
        unique = str(entry.unique_id)
        assert not [
            e
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
            if e.unique_id.startswith(f"{unique}_unit_")
            or e.unique_id in {f"{unique}_{total.key}" for total in TOTALS}
        ]
        await next_poll(hass)
        assert not entry.runtime_data.data.parallel


async def test_a_unit_added_later_and_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """A third unit gets its device without a reload; gone, it can be removed, not before."""
    assert await async_setup_component(hass, "config", {})
    async with parallel_system(hass, 2) as (simulator, entry):
        third = simulator.unit_serial(2)
        assert (
            dr.async_get(hass).async_get_device({unit_identifier(str(entry.unique_id), third)})
            is None
        )

        simulator.units = 3
        await rediscover(hass, entry)
        device = unit_device(hass, entry, third)
        battery = unit_entity(hass, entry, third, "battery_voltage")
        assert float(state(hass, battery)) > 0

        client = await hass_ws_client(hass)

        async def remove(device_id: str) -> bool:
            await client.send_json_auto_id(
                {
                    "type": "config/device_registry/remove_config_entry",
                    "config_entry_id": entry.entry_id,
                    "device_id": device_id,
                }
            )
            response = await client.receive_json()
            return bool(response["success"])

        # Still reported: refused, as is the inverter's own device.
        assert not await remove(device.id)
        main = dr.async_get(hass).async_get_device({(DOMAIN, str(entry.unique_id))})
        assert main is not None
        assert not await remove(main.id)

        simulator.units = 2
        await rediscover(hass, entry)
        assert state(hass, battery) == STATE_UNAVAILABLE
        assert await remove(device.id)
        assert (
            dr.async_get(hass).async_get_device({unit_identifier(str(entry.unique_id), third)})
            is None
        )
        assert er.async_get(hass).async_get(battery) is None

        # Back in the system: its device and sensors come back.
        simulator.units = 3
        await rediscover(hass, entry)
        assert float(state(hass, unit_entity(hass, entry, third, "battery_voltage"))) > 0


def test_units_need_an_answer_naming_them() -> None:
    """A protocol whose unit answer has no serial number (PI18's PGS) has no units."""
    pi18 = get_protocol("pi18")
    assert unit_command(pi18) is None
    assert totals(pi18) == ()
    assert unit_catalogue("pi18") == {}
    assert [total.field for total in totals(get_protocol("pi41"))] == [
        "battery_charging_current",
        "battery_discharge_current",
    ]


def test_empty_slots_are_no_units() -> None:
    """An invalid or zero serial number is no unit; a total of nothing is no total."""
    valid = Field("parallel_instance_number", "Parallel instance number", "valid")
    invalid = Field("parallel_instance_number", "Parallel instance number", "Not valid")
    serial = Field("serial_number", "Serial number", "92932004102443")
    zeros = Field("serial_number", "Serial number", "00000000000000")
    assert unit_serial({"parallel_instance_number": valid, "serial_number": serial}) == (
        "92932004102443"
    )
    assert unit_serial({"parallel_instance_number": invalid, "serial_number": serial}) is None
    assert unit_serial({"serial_number": zeros}) is None
    assert unit_serial({}) is None
    assert system_total(TOTALS[0], {"1": {}}) is None
