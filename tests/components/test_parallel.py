"""Parallel systems: each unit a device of its own, with its sensors, and the system's totals.

PI30 (``QPGSn``), PI18 (``PRIn`` names unit n, ``PGSn`` its status) and PI41 (``QPGSn`` line 1,
``QP2GSn`` line 2 on the same unit), each against the simulator over a real pty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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
    Scheme,
    line_name,
    line_values,
    system_total,
    totals,
    unit_command,
    unit_fields,
    unit_identifier,
    unit_scheme,
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


def inverter(protocol: str, units: int) -> VoltronicSimulator:
    """Return a simulated ``protocol`` inverter in a system of ``units`` units."""
    simulator = create_simulator(protocol, parallel=units, clock=lambda: NOW, seed=1)
    assert isinstance(simulator, VoltronicSimulator)
    return simulator


@asynccontextmanager
async def parallel_system(
    hass: HomeAssistant,
    units: int,
    protocol: str = "pi30",
    simulator: VoltronicSimulator | None = None,
) -> AsyncIterator[tuple[VoltronicSimulator, MockConfigEntry]]:
    """Serve a ``protocol`` inverter with ``units`` units in parallel over a pty; set it up.

    Yield the simulator and the set-up entry (``simulator``: one made by the test).
    """
    simulator = simulator or inverter(protocol, units)
    server = PtyServer(simulator)
    await server.start()
    entry = serial_entry(server, simulator.protocol.id)
    try:
        await set_up(hass, entry)
        yield simulator, entry
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.close()


def garble(simulator: VoltronicSimulator, command: str) -> Callable[[], None]:
    """Make every answer to ``command`` arrive corrupted (bad CRC); return the undo."""
    handle = simulator.handle
    request = simulator.protocol.build_request(command)

    def answer(received: bytes) -> bytes | None:
        return b"(garbled\r" if received == request else handle(received)

    simulator.handle = answer  # type: ignore[method-assign]

    def undo() -> None:
        simulator.handle = handle  # type: ignore[method-assign]

    return undo


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
        # The units' answers carry the system's total: shown as reported; the sum agrees.
        coordinator: MppSolarCoordinator = entry.runtime_data
        reported = coordinator.data.parallel[serials[0]]["total_output_active_power"].value
        assert total == reported
        assert abs(total - sum(powers)) <= len(serials)  # each unit rounds its share
        discharge = [
            float(state(hass, unit_entity(hass, entry, serial, "battery_discharge_current")))
            for serial in serials
        ]
        assert float(
            state(hass, total_entity(hass, entry, "parallel_battery_discharge_current"))
        ) == sum(discharge)  # not reported by the units: summed
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


# -- PI18: PRIn names unit n, PGSn is its status ------------------------------------------------


async def test_pi18_units_are_named_by_their_ratings(hass: HomeAssistant) -> None:
    """Two PI18 units: named by PRI's serial (cut to its valid length), valued by PGS."""
    async with parallel_system(hass, 2, "pi18") as (simulator, entry):
        main = dr.async_get(hass).async_get_device({(DOMAIN, str(entry.unique_id))})
        assert main is not None
        serials = [simulator.unit_serial(0), simulator.unit_serial(1)]
        assert len(set(serials)) == 2
        powers = []
        for serial in serials:
            device = unit_device(hass, entry, serial)
            assert device.via_device_id == main.id
            assert device.serial_number == serial  # no padding
            assert device.name == f"Parallel unit {serial}"
            assert float(state(hass, unit_entity(hass, entry, serial, "grid_voltage"))) > 0
            assert float(state(hass, unit_entity(hass, entry, serial, "battery_voltage"))) > 0
            # Its ratings, from PRI.
            assert float(state(hass, unit_entity(hass, entry, serial, "max_charging_current"))) > 0
            powers.append(
                float(state(hass, unit_entity(hass, entry, serial, "ac_output_active_power")))
            )
        coordinator: MppSolarCoordinator = entry.runtime_data
        unit = coordinator.data.parallel[serials[0]]
        # The totals the units report (PGS "Total AC output active power" …), not sums.
        for key, field in (
            ("parallel_output_active_power", "total_ac_output_active_power"),
            ("parallel_output_apparent_power", "total_ac_output_apparent_power"),
            ("parallel_battery_charging_current", "total_battery_charging_current"),
        ):
            assert float(state(hass, total_entity(hass, entry, key))) == unit[field].value
        assert abs(
            float(state(hass, total_entity(hass, entry, "parallel_output_active_power")))
            - sum(powers)
        ) <= len(serials)
        assert {"PRI0", "PRI1", "PGS0", "PGS1"} <= coordinator.frames.keys()

        # Between counts only PGS is asked; the unit keeps its name and ratings.
        requests: list[bytes] = []
        handle = simulator.handle

        def recording(request: bytes) -> bytes | None:
            requests.append(request)
            return handle(request)

        simulator.handle = recording  # type: ignore[method-assign]
        await next_poll(hass)
        sent = {simulator.protocol.build_request(c) for c in ("PGS0", "PGS1", "PRI0", "PRI1")}
        assert sent & set(requests) == {
            simulator.protocol.build_request("PGS0"),
            simulator.protocol.build_request("PGS1"),
        }
        assert float(state(hass, unit_entity(hass, entry, serials[1], "max_charging_current"))) > 0


async def test_pi18_unit_appears_and_goes(hass: HomeAssistant) -> None:
    """A PI18 unit that joins gets its device without a reload; one "Not existent" is gone.

    This simulator answers for an empty slot "Not existent", as a unit may, rather than NAK.
    """
    simulator = inverter("pi18", 2)
    simulator.report_absent = True
    async with parallel_system(hass, 2, simulator=simulator) as (_, entry):
        third = simulator.unit_serial(2)
        assert len(entry.runtime_data.data.parallel) == 2

        simulator.units = 3
        await rediscover(hass, entry)
        device = unit_device(hass, entry, third)
        assert device.serial_number == third
        battery = unit_entity(hass, entry, third, "battery_voltage")
        assert float(state(hass, battery)) > 0

        # Gone between two counts: its PGS says "Not existent" at the next poll, and the
        # units are counted again at the one after.
        simulator.units = 2
        await next_poll(hass)
        assert state(hass, battery) == STATE_UNAVAILABLE
        coordinator: MppSolarCoordinator = entry.runtime_data
        assert coordinator.parallel_units == 2
        await next_poll(hass)
        assert set(coordinator.data.parallel) == {
            simulator.unit_serial(0),
            simulator.unit_serial(1),
        }
        assert state(hass, battery) == STATE_UNAVAILABLE

        # The whole system but this unit gone: a single inverter again.
        simulator.units = 1
        await next_poll(hass)
        assert not coordinator.data.parallel
        await next_poll(hass)
        assert not coordinator.data.parallel


async def test_pi18_single_inverter_refusing_ratings(hass: HomeAssistant) -> None:
    """A PI18 that refuses PRI0 has no parallel system to read: PRI is not asked again."""
    simulator = inverter("pi18", 1)
    simulator.refused = frozenset({"PRI"})  # type: ignore[misc]
    async with parallel_system(hass, 1, simulator=simulator) as (_, entry):
        coordinator: MppSolarCoordinator = entry.runtime_data
        assert "PRI" in coordinator.dropped
        await rediscover(hass, entry)
        assert not coordinator.data.parallel


async def test_pi18_status_refused_after_naming(hass: HomeAssistant) -> None:
    """A PI18 naming its units but refusing PGS0 gets no units; PGS is not asked again."""
    simulator = inverter("pi18", 2)
    simulator.refused = frozenset({"PGS"})  # type: ignore[misc]
    async with parallel_system(hass, 2, simulator=simulator) as (_, entry):
        coordinator: MppSolarCoordinator = entry.runtime_data
        assert "PGS" in coordinator.dropped
        assert not coordinator.data.parallel


# -- PI41: line 2 of each unit ------------------------------------------------------------------


async def test_pi41_line_two_is_on_the_same_unit(hass: HomeAssistant) -> None:
    """QP2GSn's values join unit n's device (matched by serial); shared keys say "line 2"."""
    async with parallel_system(hass, 2, "pi41") as (simulator, entry):
        coordinator: MppSolarCoordinator = entry.runtime_data
        for index in range(2):
            serial = simulator.unit_serial(index)
            unit_device(hass, entry, serial)
            assert float(state(hass, unit_entity(hass, entry, serial, "l1_ac_output_voltage"))) > 0
            assert float(state(hass, unit_entity(hass, entry, serial, "l2_ac_output_voltage"))) > 0
            assert float(state(hass, unit_entity(hass, entry, serial, "pv2_input_voltage"))) > 0
            line_two = unit_entity(hass, entry, serial, "line_2_work_mode")
            assert state(hass, line_two) == state(
                hass, unit_entity(hass, entry, serial, "work_mode")
            )
            assert hass.states.get(line_two).name.endswith("Line 2 work mode")  # type: ignore[union-attr]
        assert {"QPGS1", "QP2GS1"} <= coordinator.frames.keys()
        unit = coordinator.data.parallel[simulator.unit_serial(0)]
        assert unit["parallel_instance_number"].value == "valid"  # line 1's, kept
        assert (
            float(state(hass, total_entity(hass, entry, "parallel_battery_charging_current")))
            == unit["total_charging_current"].value
        )
        # Two units, not four: line 2 makes no devices of its own.
        devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        assert len(devices) == 3


async def test_pi41_without_line_two(hass: HomeAssistant) -> None:
    """A PI41 refusing QP2GS keeps its units, with line 1 only; QP2GS is not asked again."""
    simulator = inverter("pi41", 2)
    simulator.refused = frozenset({"QP2GS"})  # type: ignore[misc]
    async with parallel_system(hass, 2, simulator=simulator) as (_, entry):
        coordinator: MppSolarCoordinator = entry.runtime_data
        assert "QP2GS" in coordinator.dropped
        serial = simulator.unit_serial(1)
        assert float(state(hass, unit_entity(hass, entry, serial, "l1_ac_output_voltage"))) > 0
        await next_poll(hass)
        assert "l2_ac_output_voltage" not in coordinator.data.parallel[serial]
        assert "QP2GS1" not in coordinator.frames


class OtherLineTwo(VoltronicSimulator):
    """A PI41 whose unit 1 answers QP2GS1 with another unit's serial number."""

    def _parallel(self, name: str, param: str) -> dict[str, object]:
        values = super()._parallel(name, param)
        if name == "QP2GS" and param == "1":
            values["serial_number"] = self.unit_serial(5)
        return values


async def test_pi41_line_two_of_another_unit_is_not_taken(hass: HomeAssistant) -> None:
    """Line-2 values whose serial is not the unit's are left out (never on the wrong unit)."""
    simulator = OtherLineTwo("pi41", parallel=2, clock=lambda: NOW, seed=1)
    async with parallel_system(hass, 2, simulator=simulator) as (_, entry):
        units = entry.runtime_data.data.parallel
        assert "l2_ac_output_voltage" in units[simulator.unit_serial(0)]
        assert "l2_ac_output_voltage" not in units[simulator.unit_serial(1)]


async def test_units_keep_their_values_when_the_device_stops_answering(
    hass: HomeAssistant,
) -> None:
    """A unit query that fails (after retries) keeps the units' last values until next time."""
    async with parallel_system(hass, 2) as (simulator, entry):
        coordinator: MppSolarCoordinator = entry.runtime_data
        serial = simulator.unit_serial(1)
        before = coordinator.data.parallel[serial]
        undo = garble(simulator, "QPGS1")
        await next_poll(hass)
        assert coordinator.data.parallel[serial] is before
        assert float(state(hass, unit_entity(hass, entry, serial, "battery_voltage"))) > 0
        undo()
        await next_poll(hass)
        assert coordinator.data.parallel[serial] is not before


# -- the schemes, without a device ----------------------------------------------------------------


def test_each_family_reads_its_units_its_way() -> None:
    """PI30: QPGS; PI41: QPGS and QP2GS; PI18: PGS named by PRI; a BMS: none."""
    assert unit_scheme(get_protocol("pi30")) == Scheme("QPGS")
    assert unit_scheme(get_protocol("pi41")) == Scheme("QPGS", line="QP2GS")
    for protocol in ("pi18", "pi18sv", "pi18lvx"):
        assert unit_scheme(get_protocol(protocol)) == Scheme("PGS", naming="PRI")
        assert unit_command(get_protocol(protocol)) == "PGS"
    assert unit_scheme(get_protocol("jkpb")) is None
    assert unit_command(get_protocol("daly")) is None
    assert unit_fields(get_protocol("daly")) == {}
    assert unit_catalogue("daly") == {}
    assert totals(get_protocol("daly")) == ()
    pi18 = unit_fields(get_protocol("pi18"))
    assert "max_charging_current" in pi18  # PRI's ratings
    assert "serial_number" not in pi18
    assert "total_ac_output_active_power" not in pi18
    assert [total.field for total in totals(get_protocol("pi18"))] == [t.field for t in TOTALS]
    assert [total.field for total in totals(get_protocol("pi41"))] == [
        "battery_charging_current",
        "battery_discharge_current",
    ]
    pi41 = unit_fields(get_protocol("pi41"))
    assert pi41["line_2_work_mode"].name == "Line 2 work mode"
    assert pi41["l2_battery_voltage"].name == "L2 Battery voltage"
    assert "line_2_serial_number" not in pi41


def test_line_two_names() -> None:
    """A line-2 name starts lower case, but an acronym."""
    assert line_name("Work mode") == "Line 2 work mode"
    assert line_name("AC output voltage") == "Line 2 AC output voltage"


def test_line_two_values() -> None:
    """A line-2 answer's identity is left out; keys line 1 has are prefixed."""
    pi41 = get_protocol("pi41")
    scheme = unit_scheme(pi41)
    assert scheme is not None
    values = line_values(
        pi41,
        scheme,
        {
            "serial_number": Field("serial_number", "Serial number", "9293333010502"),
            "work_mode": Field("work_mode", "Work mode", "Line Mode"),
            "l2_ac_output_voltage": Field("l2_ac_output_voltage", "L2 AC output voltage", 120.0),
        },
    )
    assert {key: field.value for key, field in values.items()} == {
        "line_2_work_mode": "Line Mode",
        "l2_ac_output_voltage": 120.0,
    }
    assert values["line_2_work_mode"].name == "Line 2 work mode"


def test_empty_slots_are_no_units() -> None:
    """An invalid, absent or zero serial number is no unit; a total of nothing is no total."""
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
    absent = Field("parallel_id_connection_status", "Parallel ID connection status", "Not existent")
    present = Field("parallel_id_connection_status", "Parallel ID connection status", "Existent")
    padded = Field("serial_number", "Serial Number", "96161704100242000000")
    length = Field("serial_number_valid_length", "Serial Number valid length", 14)
    assert (
        unit_serial(
            {"parallel_id_connection_status": present, "serial_number": padded, "x": length}
        )
        == "96161704100242000000"
    )
    assert (
        unit_serial(
            {
                "parallel_id_connection_status": present,
                "serial_number": padded,
                "serial_number_valid_length": length,
            }
        )
        == "96161704100242"
    )
    assert unit_serial({"parallel_id_connection_status": absent, "serial_number": padded}) is None
    assert system_total(TOTALS[0], {"1": {}}) is None


def test_totals_prefer_what_the_units_report() -> None:
    """The reported total wins; text or on/off values are no numbers to add."""
    power = TOTALS[0]
    discharge = TOTALS[3]

    def unit(**values: object) -> dict[str, Field]:
        return {key: Field(key, key, value) for key, value in values.items()}  # type: ignore[arg-type]

    units = {
        "1": unit(ac_output_active_power=100, total_output_active_power=250),
        "2": unit(ac_output_active_power=140, total_output_active_power=250),
    }
    assert system_total(power, units) == 250
    assert (
        system_total(power, {"1": unit(ac_output_active_power=100, total_output_active_power="x")})
        == 100
    )
    assert (
        system_total(
            discharge,
            {"1": unit(battery_discharge_current=True), "2": unit(battery_discharge_current=3)},
        )
        == 3
    )
