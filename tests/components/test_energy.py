"""Energy: the device's counters and energy integrated from power, as a user sees them.

The simulated inverters run on a clock the test holds (their plant then gives the same power
at every poll, and moves only when the test moves it); Home Assistant's wall clock, which the
integrated sensors read, is moved by the test too: the timers that fire the polls still run on
the event loop's real clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar
from unittest.mock import PropertyMock, patch

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache,
)

from custom_components.mppsolar import energy
from custom_components.mppsolar.energy import (
    FLOWS,
    Flow,
    Integrator,
    Period,
    Quantity,
    Term,
    counter_request,
    counters,
    flows,
    max_gap,
)
from custom_components.mppsolar.sensor import counter_descriptions, descriptions, flow_descriptions
from mppsolar_lib.protocols import get_protocol, list_protocols
from mppsolar_lib.protocols.fields import Field
from mppsolar_lib.simulator.faults import Faults, FaultySimulator
from mppsolar_lib.simulator.serve import PtyServer
from mppsolar_lib.simulator.voltronic import SIMULATORS, VoltronicSimulator

from .simulated import STEP, described, serial_entry, set_up
from .test_translations import INTEGRATION, _load, gen

#: Local hours of the simulated day: the sun at its height (the battery charging), and an
#: evening (no sun, the battery discharging into the load).
NOON = 12
EVENING = 21


@dataclass
class Clock:
    """A clock the test moves by hand: seconds for a simulator, a datetime for Home Assistant."""

    now: datetime

    def __call__(self) -> datetime:
        """Return the time now (Home Assistant's ``dt_util.utcnow``)."""
        return self.now

    def seconds(self) -> float:
        """Return the time now as a timestamp (a simulator's clock)."""
        return self.now.timestamp()

    def advance(self, delta: timedelta) -> None:
        """Move the clock on."""
        self.now += delta


@pytest.fixture
def wall_clock() -> Iterator[Clock]:
    """Hold Home Assistant's wall clock.

    It gives the date the counters are asked for, and the time the integrated sensors take
    their samples at.
    """
    clock = Clock(dt_util.utcnow())
    with patch("homeassistant.util.dt.utcnow", clock):
        yield clock


def start_at(wall: Clock, hour: int) -> Clock:
    """Set the wall clock to today at ``hour`` o'clock (local); return a simulator clock there.

    The simulator's clock stays where it is unless a test moves it: its plant holds still.
    """
    start = dt_util.now().replace(hour=hour, minute=0, second=0, microsecond=0)
    wall.now = start
    return Clock(start)


async def poll(hass: HomeAssistant, wall: Clock, polls: int = 1, gap: timedelta = STEP) -> None:
    """Let ``polls`` status intervals pass: ``gap`` on the wall clock, one poll each."""
    for _ in range(polls):
        wall.advance(gap)
        # The poll's timer runs on the event loop's clock: fire it at the real time ahead.
        async_fire_time_changed(hass, datetime.now(UTC) + STEP)
        await hass.async_block_till_done(wait_background_tasks=True)


@asynccontextmanager
async def served(
    hass: HomeAssistant,
    simulator: VoltronicSimulator | FaultySimulator,
    protocol: str,
) -> AsyncIterator[MockConfigEntry]:
    """Serve ``simulator`` over a pty; yield its set-up entry (unloaded at the end)."""
    async with PtyServer(simulator) as server:
        entry = serial_entry(server, protocol)
        await set_up(hass, entry)
        yield entry
        await hass.config_entries.async_unload(entry.entry_id)


def inverter(
    protocol: str, clock: Clock, cls: type[VoltronicSimulator] | None = None
) -> VoltronicSimulator:
    """Return a simulated ``protocol`` inverter on ``clock``, in Home Assistant's time zone."""
    offset = clock.now.utcoffset()
    assert offset is not None
    factory = cls or SIMULATORS[protocol]
    return factory(protocol, clock=clock.seconds, seed=1, utc_offset=offset.total_seconds())


def value(hass: HomeAssistant, entity_id: str) -> float:
    """Return a sensor's state as a number."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


# -- device counters ---------------------------------------------------------------------------


async def test_pi30max_counters(hass: HomeAssistant, wall_clock: Clock) -> None:
    """PI30MAX: PV and AC output counters in kWh; the lifetime ones have statistics.

    Their values are what the unit counted, for today's date; they move with the plant.
    """
    clock = start_at(wall_clock, NOON)
    simulator = inverter("pi30max", clock)
    plant = simulator.plant
    async with served(hass, simulator, "pi30max") as entry:
        table = {
            entity_id.removeprefix("sensor.pi30max_simulator_"): item
            for entity_id, item in described(hass, entry, "sensor").items()
            if item.get("device_class") == SensorDeviceClass.ENERGY
        }
        counters_seen = {key: item for key, item in table.items() if "integrated" not in key}
        assert set(counters_seen) == {
            "total_pv_energy",
            "pv_energy_this_year",
            "pv_energy_this_month",
            "pv_energy_today",
            "total_ac_output_energy",
            "ac_output_energy_this_year",
            "ac_output_energy_this_month",
            "ac_output_energy_today",
        }
        for key, item in counters_seen.items():
            assert item["unit"] == UnitOfEnergy.KILO_WATT_HOUR
            assert item["enabled"]
            expected = SensorStateClass.TOTAL_INCREASING if key.startswith("total") else None
            assert item.get("state_class") == expected, key
        entity = "sensor.pi30max_simulator_"
        assert value(hass, f"{entity}total_pv_energy") == round(plant.pv_total_wh) / 1000
        assert value(hass, f"{entity}total_ac_output_energy") == round(plant.load_total_wh) / 1000
        assert value(hass, f"{entity}pv_energy_today") == round(plant.pv_today_wh) / 1000
        today = clock.now.date()
        assert value(hass, f"{entity}pv_energy_this_year") == (
            plant.energy("pv", f"{today:%Y}", clock.seconds()) / 1000
        )
        # The integrated PV and output sensors are disabled: the unit counts those itself.
        assert table["pv_energy_integrated"]["enabled"] is False
        assert table["ac_output_energy_integrated"]["enabled"] is False
        assert table["battery_charge_energy_integrated"]["enabled"] is True

        # An hour of sun later, the counters are read again (at the next setup).
        before = {key: value(hass, f"{entity}{key}") for key in counters_seen}
        clock.advance(timedelta(hours=1))
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        after = {key: value(hass, f"{entity}{key}") for key in counters_seen}
        for key in ("total_pv_energy", "pv_energy_today", "total_ac_output_energy"):
            assert after[key] > before[key], key
        assert after["total_pv_energy"] == round(plant.pv_total_wh) / 1000


async def test_pi18_counters(hass: HomeAssistant, wall_clock: Clock) -> None:
    """PI18: ET, EY, EM and ED as PV energy sensors; ET, the lifetime one, has statistics."""
    clock = start_at(wall_clock, NOON)
    simulator = inverter("pi18", clock)
    async with served(hass, simulator, "pi18") as entry:
        table = described(hass, entry, "sensor")
        total = table["sensor.pi18_simulator_total_pv_energy"]
        assert total["state_class"] == SensorStateClass.TOTAL_INCREASING
        assert total["unit"] == UnitOfEnergy.KILO_WATT_HOUR
        assert total["device_class"] == SensorDeviceClass.ENERGY
        assert "state_class" not in table["sensor.pi18_simulator_pv_energy_today"]
        assert "sensor.pi18_simulator_total_ac_output_energy" not in table
        assert value(hass, "sensor.pi18_simulator_total_pv_energy") == (
            round(simulator.plant.pv_total_wh) / 1000
        )
        before = value(hass, "sensor.pi18_simulator_pv_energy_today")

        clock.advance(timedelta(minutes=30))
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert value(hass, "sensor.pi18_simulator_pv_energy_today") > before


def test_a_day_counter_has_statistics_without_a_lifetime_one() -> None:
    """PI16 counts by year, month and day only: its day counter is the one with statistics."""
    pi16 = counter_descriptions("pi16")
    assert set(pi16) == {"pv_energy_year", "pv_energy_month", "pv_energy_today"}
    assert pi16["pv_energy_today"].state_class == SensorStateClass.TOTAL_INCREASING
    assert pi16["pv_energy_month"].state_class is None
    # PI17 counts its total in kWh, its periods in Wh: both are shown in kWh.
    pi17 = counter_descriptions("pi17")
    assert pi17["pv_energy_total"].native_unit_of_measurement == UnitOfEnergy.KILO_WATT_HOUR
    assert pi17["pv_energy_today"].native_unit_of_measurement == UnitOfEnergy.WATT_HOUR
    assert pi17["pv_energy_today"].suggested_unit_of_measurement == UnitOfEnergy.KILO_WATT_HOUR
    # A REVO counts the day's PV in its status: its integrated PV energy is disabled.
    assert not flow_descriptions("pi30revo")["pv_energy_integrated"].entity_registry_enabled_default
    assert flow_descriptions("pi30")["pv_energy_integrated"].entity_registry_enabled_default
    # A unit without counters has none.
    assert counters("pi30") == ()
    assert counters("jkpb") == ()


def test_counter_requests() -> None:
    """The period counters are asked for the period today is in, as each query spells it."""
    day = date(2024, 1, 5)
    by_command = {counter.command: counter for counter in counters("pi30max")}
    assert counter_request(by_command["QET"], day) == "QET"
    assert counter_request(by_command["QEY"], day) == "QEY2024"
    assert counter_request(by_command["QLM"], day) == "QLM202401"
    assert counter_request(by_command["QED"], day) == "QED20240105"
    for protocol in list_protocols():
        for counter in counters(protocol):
            # Every request is one the protocol accepts.
            get_protocol(protocol).build_request(counter_request(counter, day))


class _RefusesLoadTotal(VoltronicSimulator):
    """A PI30MAX whose firmware has no QLT, and reports no month in QLM (dashes)."""

    refused: ClassVar[frozenset[str]] = frozenset(("QLT",))

    def handle(self, request: bytes) -> bytes | None:
        """Answer, but QLM with dashes."""
        if request.startswith(b"QLM"):
            return self.frame_payload("--------")
        return super().handle(request)


class _GarblesLoadYear(VoltronicSimulator):
    """A PI30MAX whose QLY answer is always garbled on the way."""

    def handle(self, request: bytes) -> bytes | None:
        """Answer, but never QLY readably."""
        answer = super().handle(request)
        if request.startswith(b"QLY") and answer is not None:
            return b"(" + bytes(len(answer) - 2) + b"\r"
        return answer


async def test_counter_refused(hass: HomeAssistant, wall_clock: Clock) -> None:
    """A counter the unit refuses is dropped; one it has no value for gets no sensor.

    The others' sensors appear all the same; diagnostics keep each counter's last exchange.
    """
    clock = start_at(wall_clock, NOON)
    async with served(hass, inverter("pi30max", clock, _RefusesLoadTotal), "pi30max") as entry:
        assert hass.states.get("sensor.pi30max_simulator_total_ac_output_energy") is None
        assert hass.states.get("sensor.pi30max_simulator_ac_output_energy_this_month") is None
        assert value(hass, "sensor.pi30max_simulator_ac_output_energy_today") > 0
        coordinator = entry.runtime_data
        assert "QLT" in coordinator.dropped
        assert coordinator.frames["QLT"].error is not None
        assert coordinator.frames["QED"].response is not None


async def test_counter_unanswered(hass: HomeAssistant, wall_clock: Clock) -> None:
    """A counter the unit does not answer keeps the rest of the cycle back, not the others."""
    clock = start_at(wall_clock, NOON)
    async with served(hass, inverter("pi30max", clock, _GarblesLoadYear), "pi30max") as entry:
        # QET … QLT were read; QLY was not, nor what comes after it this cycle.
        assert value(hass, "sensor.pi30max_simulator_total_ac_output_energy") > 0
        for key in ("this_year", "this_month", "today"):
            assert hass.states.get(f"sensor.pi30max_simulator_ac_output_energy_{key}") is None
        coordinator = entry.runtime_data
        assert "QLY" not in coordinator.dropped
        assert coordinator.frames["QLY"].error is not None


# -- integrated energy -------------------------------------------------------------------------


async def test_integrates_battery_charge(hass: HomeAssistant, wall_clock: Clock) -> None:
    """At noon the PI30MAX charges its battery: charge energy is current × voltage × time.

    The plant holds still, so every poll reports the same power; discharge stays at zero.
    """
    clock = start_at(wall_clock, NOON)
    async with served(hass, inverter("pi30max", clock), "pi30max"):
        entity = "sensor.pi30max_simulator_"
        charge = f"{entity}battery_charge_energy_integrated"
        discharge = f"{entity}battery_discharge_energy_integrated"
        assert value(hass, charge) == 0
        amps = value(hass, f"{entity}battery_charging_current")
        volts = value(hass, f"{entity}battery_voltage")
        assert amps > 0

        await poll(hass, wall_clock, 6)
        expected = amps * volts * 6 * STEP.total_seconds() / 3600 / 1000
        assert value(hass, charge) == pytest.approx(expected)
        assert value(hass, discharge) == 0
        state = hass.states.get(charge)
        assert state is not None
        assert state.attributes["state_class"] == SensorStateClass.TOTAL_INCREASING
        assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == UnitOfEnergy.KILO_WATT_HOUR


async def test_integrates_battery_discharge(hass: HomeAssistant, wall_clock: Clock) -> None:
    """In the evening the PI18 discharges its battery into the load; nothing is charged."""
    clock = start_at(wall_clock, EVENING)
    async with served(hass, inverter("pi18", clock), "pi18"):
        entity = "sensor.pi18_simulator_"
        amps = value(hass, f"{entity}battery_discharge_current")
        volts = value(hass, f"{entity}battery_voltage")
        assert amps > 0

        await poll(hass, wall_clock, 3)
        expected = amps * volts * 3 * STEP.total_seconds() / 3600 / 1000
        assert value(hass, f"{entity}battery_discharge_energy_integrated") == pytest.approx(
            expected
        )
        assert value(hass, f"{entity}battery_charge_energy_integrated") == 0
        assert value(hass, f"{entity}ac_output_energy_integrated") > 0


async def test_gaps_add_nothing(hass: HomeAssistant, wall_clock: Clock) -> None:
    """An hour without answers adds nothing; nor does a poll far later than due.

    Only the intervals between two polls that both answered, close enough, count.
    """
    clock = start_at(wall_clock, NOON)
    simulator = FaultySimulator(inverter("pi30max", clock), Faults())
    async with served(hass, simulator, "pi30max"):
        charge = "sensor.pi30max_simulator_battery_charge_energy_integrated"
        amps = value(hass, "sensor.pi30max_simulator_battery_charging_current")
        volts = value(hass, "sensor.pi30max_simulator_battery_voltage")
        one_poll = amps * volts * STEP.total_seconds() / 3600 / 1000
        await poll(hass, wall_clock)
        assert value(hass, charge) == pytest.approx(one_poll)

        # QPIGS, QPIGS2, QMOD and QPIWS garbled on each of their 3 attempts: the device is
        # unavailable for an hour.
        simulator.inject(*("crc",) * 4 * 3)
        await poll(hass, wall_clock, gap=timedelta(hours=1))
        state = hass.states.get(charge)
        assert state is not None
        assert state.state == STATE_UNAVAILABLE
        await poll(hass, wall_clock)  # answers again: a new run starts
        assert value(hass, charge) == pytest.approx(one_poll)
        await poll(hass, wall_clock)
        assert value(hass, charge) == pytest.approx(2 * one_poll)

        # Answered, but an hour after the last poll (Home Assistant was busy, the host slept).
        await poll(hass, wall_clock, gap=timedelta(hours=1))
        assert value(hass, charge) == pytest.approx(2 * one_poll)
        await poll(hass, wall_clock)
        assert value(hass, charge) == pytest.approx(3 * one_poll)


async def test_restored_across_a_restart(hass: HomeAssistant, wall_clock: Clock) -> None:
    """The integrated energy goes on from where it was, through a restart of Home Assistant.

    From what the last run stored (in any energy unit); a sensor that had no number starts at 0.
    """
    entity = "sensor.pi30max_simulator_"
    charge = f"{entity}battery_charge_energy_integrated"
    discharge = f"{entity}battery_discharge_energy_integrated"
    mock_restore_cache(
        hass,
        [
            State(charge, "12500", {ATTR_UNIT_OF_MEASUREMENT: UnitOfEnergy.WATT_HOUR}),
            State(
                discharge, STATE_UNKNOWN, {ATTR_UNIT_OF_MEASUREMENT: UnitOfEnergy.KILO_WATT_HOUR}
            ),
        ],
    )
    clock = start_at(wall_clock, NOON)
    async with PtyServer(inverter("pi30max", clock)) as server:
        entry = serial_entry(server, "pi30max")
        await set_up(hass, entry)
        assert value(hass, charge) == 12.5
        assert value(hass, discharge) == 0
        amps = value(hass, f"{entity}battery_charging_current")
        volts = value(hass, f"{entity}battery_voltage")
        one_poll = amps * volts * STEP.total_seconds() / 3600 / 1000
        await poll(hass, wall_clock, 2)
        assert value(hass, charge) == pytest.approx(12.5 + 2 * one_poll)
        before = value(hass, charge)

        # Home Assistant stops (storing what it restores), and starts again.
        await async_mock_restore_state_shutdown_restart(hass)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        wall_clock.advance(timedelta(minutes=5))
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert value(hass, charge) == pytest.approx(before)
        await poll(hass, wall_clock)
        assert value(hass, charge) == pytest.approx(before + one_poll)
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_restore_ignores_what_is_no_energy(hass: HomeAssistant, wall_clock: Clock) -> None:
    """A stored state in another unit, or no number, is not taken: the sensor starts at 0."""
    entity = "sensor.pi30max_simulator_"
    charge = f"{entity}battery_charge_energy_integrated"
    discharge = f"{entity}battery_discharge_energy_integrated"
    mock_restore_cache(
        hass,
        [
            State(charge, "12.5", {ATTR_UNIT_OF_MEASUREMENT: "W"}),
            State(discharge, "lots", {ATTR_UNIT_OF_MEASUREMENT: UnitOfEnergy.KILO_WATT_HOUR}),
        ],
    )
    clock = start_at(wall_clock, NOON)
    async with served(hass, inverter("pi30max", clock), "pi30max"):
        assert value(hass, charge) == 0
        assert value(hass, discharge) == 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_disabled_integrated_sensors_work_when_enabled(
    hass: HomeAssistant, wall_clock: Clock
) -> None:
    """The integrated PV and output energy of a unit with counters integrate once enabled."""
    clock = start_at(wall_clock, NOON)
    async with served(hass, inverter("pi30max", clock), "pi30max") as entry:
        registry = er.async_get(hass)
        pv = registry.async_get("sensor.pi30max_simulator_pv_energy_integrated")
        assert pv is not None
        assert pv.disabled_by is None
        assert pv.config_entry_id == entry.entry_id
        assert value(hass, "sensor.pi30max_simulator_pv_energy_integrated") == 0


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Enable the entities that are disabled by default (as Home Assistant core's tests do)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


# -- the tables --------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", sorted(FLOWS))
def test_flows_read_status_fields(protocol: str) -> None:
    """Each flow reads fields the protocol's status commands report (no typo goes unseen)."""
    status: set[str] = set()
    proto = get_protocol(protocol)
    for command in proto.status_commands:
        status.update(proto.resolve(command)[0].info)
    for flow in flows(protocol):
        missing = flow.fields - status
        assert not missing, (protocol, flow.quantity, missing)
    assert len({flow.quantity for flow in flows(protocol)}) == len(flows(protocol))


def test_flows_and_counters_are_known_protocols() -> None:
    """The flow table names protocols the library has; unknown ones have no flows."""
    assert set(FLOWS) <= set(list_protocols())
    assert flows("no such protocol") == ()


@pytest.mark.parametrize("protocol", list_protocols())
def test_energy_sensors_have_translations(protocol: str) -> None:
    """Every energy sensor has its name (strings.json, generated) and its icon."""
    names = _load(INTEGRATION / "strings.json")["entity"]["sensor"]
    icons = _load(INTEGRATION / "icons.json")["entity"]["sensor"]
    for description in (
        *counter_descriptions(protocol).values(),
        *flow_descriptions(protocol).values(),
    ):
        assert description.translation_key in names, (protocol, description.key)
        assert icons[description.translation_key]["default"].startswith("mdi:")


def test_energy_names_must_not_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator refuses an energy sensor named like a field of the same protocol."""
    quantities = dict(gen.ENERGY_QUANTITIES)
    quantities[Quantity.PV] = ("Battery voltage", "mdi:flash")
    monkeypatch.setattr(gen, "ENERGY_QUANTITIES", quantities)
    monkeypatch.setattr(gen, "INTEGRATED", "{}")
    with pytest.raises(ValueError, match="pv_energy_integrated .'Battery voltage'. clashes"):
        gen.energy_sensors()


def test_ve_direct_keeps_one_yield_in_statistics() -> None:
    """VE.Direct's lifetime yield has statistics; today's and yesterday's yields do not."""
    ved = descriptions("ved")
    assert ved[False, "yield_total_user_resettable_counter"].state_class == "total_increasing"
    assert ved[False, "yield_today"].state_class is None
    assert ved[False, "yield_yesterday"].state_class is None
    assert ved[False, "amount_of_charged_energy"].state_class == "total_increasing"


def _status(**values: object) -> dict[str, Field]:
    return {key: Field(key, key, value) for key, value in values.items()}  # type: ignore[arg-type]


def test_flow_power() -> None:
    """Sums, signs and directions; a missing field or a value that is no number tells nothing."""
    pv = Flow(Quantity.PV, (Term(("pv1",)), Term(("pv2",))))
    assert pv.power(_status(pv1=100, pv2=50.5)) == 150.5
    assert pv.power(_status(pv1=100)) is None
    assert pv.power(_status(pv1=100, pv2=True)) is None
    assert pv.power(_status(pv1=100, pv2="n/a")) is None
    discharge = Flow(Quantity.BATTERY_DISCHARGE, (Term(("amps", "volts"), -1.0),))
    assert discharge.power(_status(amps=-10, volts=50.0)) == 500.0
    assert discharge.power(_status(amps=10, volts=50.0)) == 0.0
    charge = Flow(Quantity.BATTERY_CHARGE, (Term(("watts",)),), ("direction", "Charging"))
    assert charge.fields == {"watts", "direction"}
    assert charge.power(_status(watts=-300, direction="Charging")) == 300
    assert charge.power(_status(watts=300, direction="Discharging")) == 0.0
    assert charge.power(_status(watts=300)) is None
    assert charge.power(_status(watts=300, direction=1)) is None
    assert charge.key == "battery_charge_energy_integrated"


def test_integrator() -> None:
    """Trapezoids between samples; nothing across a gap, a missing sample or a clock gone back."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    integrator = Integrator(max_gap(timedelta(seconds=10)), total=1.0)
    assert integrator.max_gap == timedelta(seconds=50)
    integrator.add(start, 1000.0)
    assert integrator.total == 1.0
    integrator.add(start + timedelta(seconds=36), 3000.0)
    assert integrator.total == pytest.approx(1.02)  # 2 kW for 36 s
    integrator.add(start + timedelta(seconds=30), 3000.0)  # the clock went back
    assert integrator.total == pytest.approx(1.02)
    integrator.add(start + timedelta(seconds=66), 3000.0)
    assert integrator.total == pytest.approx(1.05)
    integrator.add(start + timedelta(seconds=200), 3000.0)  # 134 s later: a gap
    assert integrator.total == pytest.approx(1.05)
    integrator.add(start + timedelta(seconds=210), None)
    integrator.add(start + timedelta(seconds=220), 3000.0)
    assert integrator.total == pytest.approx(1.05)


def test_periods_and_quantities() -> None:
    """Keys read as what they count."""
    by_command = {counter.command: counter for counter in energy.COUNTERS}
    assert by_command["QET"].key == "pv_energy_total"
    assert by_command["QLD"].key == "output_energy_today"
    assert {counter.period for counter in energy.COUNTERS} == set(Period)
