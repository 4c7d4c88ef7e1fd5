"""Parallel systems: the units a Voltronic inverter reports (``QPGS0``, ``QPGS1``, …).

The unit the integration talks to answers for each unit of its parallel system, by index; each
answer carries the unit's serial number. Each unit becomes a device of its own (``via_device``
the entry's device), identified by its serial number, with a sensor per value of the answer;
the entry's device gets the system's totals (sums over the units). A single inverter (one
unit) gets none of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from mppsolar_lib.protocols import Protocol
from mppsolar_lib.protocols.fields import Field

from .const import DOMAIN

#: The per-unit status commands, by preference; a unit is identified by its serial number,
#: which the answer must carry (PI18's ``PGS`` does not: see docs/home-assistant.md).
UNIT_COMMANDS: Final = ("QPGS",)
#: The field that identifies a unit.
SERIAL_FIELD: Final = "serial_number"
#: Fields of the answer that are not values of the unit: its identity, its validity, and the
#: system totals every unit repeats (the entry's device shows those once).
NOT_UNIT_VALUES: Final = frozenset((SERIAL_FIELD, "parallel_instance_number"))
TOTAL_PREFIX: Final = "total_"
#: Indexes asked at most (PI30 takes 0–99; real systems have up to 9 units).
MAX_UNITS: Final = 9


@dataclass(frozen=True, slots=True)
class Total:
    """A value of the whole system: the sum of one field over its units."""

    #: Entity key and translation key.
    key: str
    #: The summed field.
    field: str
    #: English name (``scripts/gen_translations.py``).
    name: str


#: The system totals the entry's device shows, where the unit answer has the field.
TOTALS: Final = (
    Total("parallel_output_active_power", "ac_output_active_power", "System output power"),
    Total(
        "parallel_output_apparent_power",
        "ac_output_apparent_power",
        "System output apparent power",
    ),
    Total(
        "parallel_battery_charging_current",
        "battery_charging_current",
        "System battery charging current",
    ),
    Total(
        "parallel_battery_discharge_current",
        "battery_discharge_current",
        "System battery discharge current",
    ),
)


def unit_command(protocol: Protocol) -> str | None:
    """Return the protocol's per-unit status command that names the unit (``None``: none)."""
    for name in UNIT_COMMANDS:
        command = protocol.commands.get(name)
        if command is not None and SERIAL_FIELD in command.info:
            return name
    return None


def totals(protocol: Protocol) -> tuple[Total, ...]:
    """Return the totals of ``protocol``'s parallel systems (those its unit answer can sum)."""
    name = unit_command(protocol)
    if name is None:
        return ()
    info = protocol.commands[name].info
    return tuple(total for total in TOTALS if total.field in info)


def unit_serial(fields: Mapping[str, Field]) -> str | None:
    """Return the serial number of a unit answer; ``None`` for an empty or invalid slot."""
    valid = fields.get("parallel_instance_number")
    if valid is not None and valid.value != "valid":
        return None
    serial = fields.get(SERIAL_FIELD)
    text = "" if serial is None or serial.value is None else str(serial.value).strip()
    return text if text.strip("0") else None


def unit_identifier(unique: str, serial: str) -> tuple[str, str]:
    """Return the device registry identifier of unit ``serial`` of entry ``unique``'s system."""
    return (DOMAIN, f"{unique}_unit_{serial}")


def system_total(total: Total, units: Mapping[str, Mapping[str, Field]]) -> float | None:
    """Return ``total`` over ``units`` (``None`` when no unit reported its field)."""
    values = [
        value
        for fields in units.values()
        if (field := fields.get(total.field)) is not None
        and isinstance(value := field.value, int | float)
        and not isinstance(value, bool)
    ]
    return sum(values) if values else None
