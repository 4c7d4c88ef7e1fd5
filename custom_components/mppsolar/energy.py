"""Energy for the Energy dashboard: the device's own counters, and power integrated over time.

Two sources, both data:

- :data:`COUNTERS`: the energy counters a unit keeps itself (PI30MAX's ``QET``/``QEY``/
  ``QEM``/``QED``/``QLT``…, PI16's ``QEY``/``QEM``/``QED``, PI17's and PI18's ``ET``/``EY``/
  ``EM``/``ED``). The per-period ones take the period as a parameter (``QEY2024``,
  ``QED20240115``): the coordinator asks for the current year, month and day at the settings
  cadence (:func:`counter_request`). A lifetime counter is ``total_increasing``; so is a "today"
  counter where the unit has no lifetime one (its midnight restart is a new meter cycle). The
  other period counters get no state class: Home Assistant keeps statistics of one sensor per
  kind of data.
- :data:`FLOWS`: for every protocol, which power fields of its status make PV production, AC
  output, battery charge and discharge, grid import and export. :class:`Integrator` adds
  power × time (trapezoids between polls) into a ``total_increasing`` energy; it never
  integrates across a gap (the device unavailable, a poll that came much later than due, a
  restart), so an outage adds nothing instead of a guess. Where a unit counts the same quantity
  itself, the integrated sensor is created disabled.

VE.Direct units (``H17``-``H20``) and PI30 REVOs (the day's PV energy) report counters in their
status: those are ordinary sensors of the field catalogue (:data:`COUNTED_IN_STATUS` says what
they count; :data:`NO_STATISTICS` keeps one sensor per kind of data in statistics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Final

from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field

#: Units of an energy counter's value.
ENERGY_UNITS: Final = frozenset(("Wh", "kWh"))
#: Besides twice the status interval, what a poll may take (a slow link, the settings and
#: counters read with it) before the time since the last one counts as a gap.
POLL_ALLOWANCE: Final = timedelta(seconds=30)
_WH_PER_KWH: Final = 1000.0
_SECONDS_PER_HOUR: Final = 3600.0


class Quantity(StrEnum):
    """What an energy sensor measures (and starts its entity key)."""

    PV = "pv"
    OUTPUT = "output"
    BATTERY_CHARGE = "battery_charge"
    BATTERY_DISCHARGE = "battery_discharge"
    GRID_IMPORT = "grid_import"
    GRID_EXPORT = "grid_export"


class Period(StrEnum):
    """What a counter counts: everything, or the current year, month or day."""

    TOTAL = "total"
    YEAR = "year"
    MONTH = "month"
    TODAY = "today"


#: The parameter of a period counter's query, as ``strftime`` writes it.
PERIOD_FORMATS: Final[Mapping[Period, str]] = {
    Period.TOTAL: "",
    Period.YEAR: "%Y",
    Period.MONTH: "%Y%m",
    Period.TODAY: "%Y%m%d",
}


@dataclass(frozen=True, slots=True)
class Counter:
    """An energy counter the unit keeps, read with query ``command``."""

    command: str
    quantity: Quantity
    period: Period

    @property
    def key(self) -> str:
        """Entity and translation key (``pv_energy_today``)."""
        return f"{self.quantity}_energy_{self.period}"


#: Every counter query, by name (one name means the same counter in every PI family).
#: The hourly ones (``QEH``, ``EH``) are left out: an hour's energy is no dashboard sensor.
COUNTERS: Final = (
    Counter("QET", Quantity.PV, Period.TOTAL),
    Counter("QEY", Quantity.PV, Period.YEAR),
    Counter("QEM", Quantity.PV, Period.MONTH),
    Counter("QED", Quantity.PV, Period.TODAY),
    Counter("QLT", Quantity.OUTPUT, Period.TOTAL),
    Counter("QLY", Quantity.OUTPUT, Period.YEAR),
    Counter("QLM", Quantity.OUTPUT, Period.MONTH),
    Counter("QLD", Quantity.OUTPUT, Period.TODAY),
    Counter("ET", Quantity.PV, Period.TOTAL),
    Counter("EY", Quantity.PV, Period.YEAR),
    Counter("EM", Quantity.PV, Period.MONTH),
    Counter("ED", Quantity.PV, Period.TODAY),
)


@cache
def counters(protocol_id: str) -> tuple[Counter, ...]:
    """Return the counters a protocol has (queries it knows whose answer holds energy)."""
    commands = get_protocol(protocol_id).commands
    return tuple(
        counter
        for counter in COUNTERS
        if counter.command in commands
        and any(info.unit in ENERGY_UNITS for info in commands[counter.command].info.values())
    )


#: Counters some units report in their status (ordinary sensors of the field catalogue): a
#: REVO's ``daily_power_generated``, a VE.Direct charger's yield and a battery monitor's
#: charged and discharged energy (H17-H20).
COUNTED_IN_STATUS: Final[Mapping[str, frozenset[Quantity]]] = {
    "pi30revo": frozenset((Quantity.PV,)),
    "ved": frozenset((Quantity.PV, Quantity.BATTERY_CHARGE, Quantity.BATTERY_DISCHARGE)),
}


def counted(protocol_id: str) -> frozenset[Quantity]:
    """Return the quantities the protocol's units count themselves."""
    own = frozenset(counter.quantity for counter in counters(protocol_id))
    return own | COUNTED_IN_STATUS.get(protocol_id, frozenset())


def has_statistics(counter: Counter, protocol_id: str) -> bool:
    """Whether ``counter`` is the one of its quantity that Home Assistant keeps statistics of.

    The lifetime counter; where there is none, the day's (it restarts at midnight: a new
    meter cycle for ``total_increasing``). Year and month counters restart rarely and only
    repeat what those say.
    """
    if counter.period is Period.TOTAL:
        return True
    if counter.period is not Period.TODAY:
        return False
    return not any(
        other.quantity is counter.quantity and other.period is Period.TOTAL
        for other in counters(protocol_id)
    )


def counter_request(counter: Counter, today: date) -> str:
    """Return the query of ``counter`` for the period ``today`` is in (``QED20240115``)."""
    return counter.command + today.strftime(PERIOD_FORMATS[counter.period])


def counter_field(answer: Mapping[str, Field]) -> Field | None:
    """Return the energy in a counter's answer (the date it echoes is no energy)."""
    return next((field for field in answer.values() if field.unit in ENERGY_UNITS), None)


# -- power flows --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A power in watts: one field, or the product of several (current × voltage), signed."""

    fields: tuple[str, ...]
    sign: float = 1.0

    def power(self, status: Mapping[str, Field]) -> float | None:
        """Return the term's power, ``None`` when a field is missing or not a number."""
        product = self.sign
        for key in self.fields:
            field = status.get(key)
            value = None if field is None else field.value
            if not isinstance(value, int | float) or isinstance(value, bool):
                return None
            product *= value
        return product


@dataclass(frozen=True, slots=True)
class Flow:
    """Where the power of one quantity comes from: a sum of terms, never negative.

    A term's sign picks one direction of a signed value (a BMS's current: charge positive,
    discharge negative). A unit that reports a magnitude and a separate direction names the
    direction field and the label that means this flow (``battery_power_direction`` =
    ``Charging``): the magnitude counts while the direction says so, else nothing flows.
    """

    quantity: Quantity
    terms: tuple[Term, ...]
    direction: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        """Entity and translation key (``battery_charge_energy_integrated``)."""
        return f"{self.quantity}_energy_integrated"

    @property
    def fields(self) -> frozenset[str]:
        """The status fields the flow needs: its sensor appears once they all have."""
        keys = {key for term in self.terms for key in term.fields}
        if self.direction is not None:
            keys.add(self.direction[0])
        return frozenset(keys)

    def power(self, status: Mapping[str, Field]) -> float | None:
        """Return the flow's power (W, ≥ 0) in ``status``; ``None`` when it cannot tell."""
        powers = [term.power(status) for term in self.terms]
        if any(power is None for power in powers):
            return None
        total = sum(power for power in powers if power is not None)
        if self.direction is None:
            return max(0.0, total)
        key, label = self.direction
        field = status.get(key)
        if field is None or not isinstance(field.value, str):
            return None
        return abs(total) if field.value == label else 0.0


def _watts(quantity: Quantity, *keys: str) -> Flow:
    """Return a flow that is the sum of power fields."""
    return Flow(quantity, tuple(Term((key,)) for key in keys))


def _battery(current: str, voltage: str) -> tuple[Flow, Flow]:
    """Return charge and discharge from a signed battery current (positive: charging) × voltage."""
    return (
        Flow(Quantity.BATTERY_CHARGE, (Term((current, voltage)),)),
        Flow(Quantity.BATTERY_DISCHARGE, (Term((current, voltage), -1.0),)),
    )


def _charge_discharge(charge: str, discharge: str, voltage: str) -> tuple[Flow, Flow]:
    """Return charge and discharge from two unsigned currents × the battery voltage."""
    return (
        Flow(Quantity.BATTERY_CHARGE, (Term((charge, voltage)),)),
        Flow(Quantity.BATTERY_DISCHARGE, (Term((discharge, voltage)),)),
    )


_PI30_BATTERY = _charge_discharge(
    "battery_charging_current", "battery_discharge_current", "battery_voltage"
)
_PI30: Final = (
    _watts(Quantity.PV, "pv_input_power"),
    _watts(Quantity.OUTPUT, "ac_output_active_power"),
    *_PI30_BATTERY,
)
_PI30MAX: Final = (
    _watts(Quantity.PV, "pv1_charging_power", "pv2_charging_power"),
    _watts(Quantity.OUTPUT, "ac_output_active_power"),
    *_PI30_BATTERY,
    _watts(Quantity.GRID_EXPORT, "solar_feed_to_grid_power"),
)
_PI17: Final = (
    _watts(Quantity.PV, "solar_input_power_1", "solar_input_power_2"),
    _watts(Quantity.OUTPUT, "ac_output_total_active_power"),
    Flow(
        Quantity.BATTERY_CHARGE,
        (Term(("battery_power",)),),
        ("battery_power_direction", "Charging"),
    ),
    Flow(
        Quantity.BATTERY_DISCHARGE,
        (Term(("battery_power",)),),
        ("battery_power_direction", "Discharging"),
    ),
    Flow(
        Quantity.GRID_IMPORT,
        (Term(("ac_input_total_active_power",)),),
        ("line_power_direction", "Input"),
    ),
    Flow(
        Quantity.GRID_EXPORT,
        (Term(("ac_input_total_active_power",)),),
        ("line_power_direction", "Output"),
    ),
)
_PI18_PV_OUTPUT: Final = (
    _watts(Quantity.PV, "pv1_input_power", "pv2_input_power"),
    _watts(Quantity.OUTPUT, "ac_output_active_power"),
)
_JK: Final = _battery("battery_current", "battery_voltage")
_DALY: Final = _battery("current", "battery_bank_voltage")

#: The power flows of each protocol, from its status fields. A protocol missing here, or a
#: quantity missing from its flows, has no field that tells it (PI30 units report no grid
#: power; a JK balancer no current).
FLOWS: Final[Mapping[str, tuple[Flow, ...]]] = {
    "pi16": (
        _watts(Quantity.PV, "pv1_input_power", "pv2_input_power", "pv3_input_power"),
        _watts(Quantity.OUTPUT, "output_power"),
    ),
    "pi17": _PI17,
    "pi17infini": _PI17,
    "pi17m058": _PI17,
    "pi18": (
        *_PI18_PV_OUTPUT,
        *_charge_discharge(
            "battery_charging_current", "battery_discharge_current", "battery_voltage"
        ),
    ),
    "pi18lvx": (
        *_PI18_PV_OUTPUT,
        *_charge_discharge(
            "battery_charge_current", "battery_discharge_current", "battery_voltage"
        ),
    ),
    "pi18sv": (
        *_PI18_PV_OUTPUT,
        *_charge_discharge(
            "battery_charge_current", "battery_discharge_current", "battery_voltage"
        ),
    ),
    "pi30": _PI30,
    "pi30m044": _PI30MAX,
    "pi30m045": _PI30MAX,
    "pi30max": _PI30MAX,
    "pi30mst": (
        _watts(Quantity.PV, "pv_total_charging_power"),
        *_PI30MAX[1:],
    ),
    # No discharge current in a REVO's QPIGS.
    "pi30revo": _PI30[:3],
    "pi41": (
        _watts(Quantity.PV, "pv_input_power"),
        _watts(Quantity.OUTPUT, "l1_ac_output_active_power"),
        *_PI30_BATTERY,
    ),
    "jk02": _JK,
    "jk02_32": _JK,
    "jkpb": _JK,
    "jkserial": _JK,
    "jkv11": _JK,
    "jk232": _battery("total_current", "total_battery_voltage"),
    "daly": _DALY,
    "daly40": _DALY,
}


def flows(protocol_id: str) -> tuple[Flow, ...]:
    """Return the power flows of a protocol (none for one that reports no power)."""
    return FLOWS.get(protocol_id, ())


#: Status fields that are energy but should not have statistics: a day's yield besides the
#: lifetime yield (one sensor per kind of data), yesterday's yield (a historic value).
NO_STATISTICS: Final[Mapping[str, frozenset[str]]] = {
    "ved": frozenset(("yield_today", "yield_yesterday")),
}


# -- integration ---------------------------------------------------------------------------------


class Integrator:
    """Energy (kWh) from power samples: trapezoids between neighbours, none across a gap.

    A sample of ``None`` (the device unavailable, a value missing) ends the run; so does a
    sample that comes more than ``max_gap`` after the previous one, or before it (the clock
    went back). The first sample after a gap only starts a new run: an outage adds nothing.
    """

    def __init__(self, max_gap: timedelta, total: float = 0.0) -> None:
        """Start at ``total`` kWh (restored), with no sample yet."""
        self.max_gap = max_gap
        self.total = total
        self._last: tuple[datetime, float] | None = None

    def add(self, when: datetime, power: float | None) -> None:
        """Take the power (W) at ``when``; add the energy since the previous sample."""
        last = self._last
        if power is None:
            self._last = None
            return
        self._last = (when, power)
        if last is None:
            return
        since, before = last
        elapsed = (when - since).total_seconds()
        if elapsed <= 0 or elapsed > self.max_gap.total_seconds():
            return
        self.total += (before + power) / 2 * elapsed / _SECONDS_PER_HOUR / _WH_PER_KWH


def max_gap(status_interval: timedelta) -> timedelta:
    """Return the longest time between two polls that still counts as no gap."""
    return 2 * status_interval + POLL_ALLOWANCE
