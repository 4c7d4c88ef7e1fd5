"""Parallel systems: the units a Voltronic inverter reports, each a device of its own.

The unit the integration talks to answers for each unit of its parallel system, by index:

- PI30 family and PI41: ``QPGS<n>``, the status of unit ``n``, which carries its serial number.
- PI41 also: ``QP2GS<n>``, line 2 of unit ``n``. Its values join the unit's (matched by the
  serial number the answer carries); a key line 1 has too is prefixed ``line_2_``.
- PI18: ``PGS<n>``, the status of unit ``n``, carries no serial number; ``PRI<n>``, its ratings,
  does (padded, with its valid length). ``PRI`` is asked when the units are counted: its serial
  names unit ``n``, its ratings (charger priority, current limits, output mode) become values of
  the unit; ``PGS`` is polled with the status. A slot whose connection status is "Not existent"
  is no unit.

Each unit becomes a device of its own (``via_device`` the entry's device), identified by its
serial number, with a sensor per value; the entry's device gets the system's totals: the total
the units report where their answer has one, else the sum over the units. A single inverter
(one unit) gets none of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from mppsolar_lib.protocols import Protocol
from mppsolar_lib.protocols.fields import Field, FieldInfo
from mppsolar_lib.protocols.pi18 import PARALLEL_STATES

from .const import DOMAIN


@dataclass(frozen=True, slots=True)
class Scheme:
    """How a protocol's parallel system is read, unit by unit (the index is the parameter)."""

    #: The per-unit status command, polled with the status (``QPGS``, ``PGS``).
    status: str
    #: The command naming the unit when the status does not (``PRI``): asked at each count.
    naming: str | None = None
    #: A second line's per-unit status (``QP2GS``), polled with the status.
    line: str | None = None


#: The schemes, by preference; a protocol uses the first whose commands it has.
SCHEMES: Final = (Scheme("QPGS", line="QP2GS"), Scheme("PGS", naming="PRI"))
#: The field that identifies a unit.
SERIAL_FIELD: Final = "serial_number"
#: PRI: how many characters of the (padded) serial number are the serial number.
SERIAL_LENGTH_FIELD: Final = "serial_number_valid_length"
#: QPGS: whether the slot holds a unit ("valid").
VALID_FIELD: Final = "parallel_instance_number"
#: PGS / PRI: whether the slot holds a unit (not "Not existent").
PRESENT_FIELD: Final = "parallel_id_connection_status"
ABSENT: Final = PARALLEL_STATES[0]
#: Fields of the answers that are not values of the unit: its identity and its validity.
NOT_UNIT_VALUES: Final = frozenset((SERIAL_FIELD, SERIAL_LENGTH_FIELD, VALID_FIELD, PRESENT_FIELD))
#: The system totals every unit repeats (the entry's device shows those once).
TOTAL_PREFIX: Final = "total_"
#: Prefix of a line-2 value whose key line 1 has too (``line_2_work_mode``).
LINE_PREFIX: Final = "line_2_"
#: Indexes asked at most (PI30 takes 0–99; real systems have up to 9 units).
MAX_UNITS: Final = 9


@dataclass(frozen=True, slots=True)
class Total:
    """A value of the whole system: the one the units report, else a sum over them."""

    #: Entity key and translation key.
    key: str
    #: The field of each unit summed (its sensor describes the total).
    field: str
    #: English name (``scripts/gen_translations.py``).
    name: str
    #: Fields in which the units report the total themselves, by preference.
    reported: tuple[str, ...] = ()


#: The system totals the entry's device shows, where the unit answer has the field.
TOTALS: Final = (
    Total(
        "parallel_output_active_power",
        "ac_output_active_power",
        "System output power",
        ("total_output_active_power", "total_ac_output_active_power"),
    ),
    Total(
        "parallel_output_apparent_power",
        "ac_output_apparent_power",
        "System output apparent power",
        ("total_ac_output_apparent_power",),
    ),
    Total(
        "parallel_battery_charging_current",
        "battery_charging_current",
        "System battery charging current",
        ("total_charging_current", "total_battery_charging_current"),
    ),
    Total(
        "parallel_battery_discharge_current",
        "battery_discharge_current",
        "System battery discharge current",
    ),
)


def _names(protocol: Protocol, command: str | None) -> bool:
    """Return whether ``protocol`` has ``command`` and its answer carries a serial number."""
    found = protocol.commands.get(command) if command is not None else None
    return found is not None and SERIAL_FIELD in found.info


def unit_scheme(protocol: Protocol) -> Scheme | None:
    """Return how ``protocol``'s parallel system is read (``None``: it has none to read).

    A unit must be named: by its status answer, or by the scheme's naming command.
    """
    for scheme in SCHEMES:
        if scheme.status in protocol.commands and _names(protocol, scheme.naming or scheme.status):
            return replace(scheme, line=scheme.line if _names(protocol, scheme.line) else None)
    return None


def unit_command(protocol: Protocol) -> str | None:
    """Return the protocol's per-unit status command (``None``: no parallel system to read)."""
    scheme = unit_scheme(protocol)
    return None if scheme is None else scheme.status


def unit_value(key: str) -> bool:
    """Return whether field ``key`` of a unit answer is a value of the unit (has a sensor)."""
    return key not in NOT_UNIT_VALUES and not key.startswith(TOTAL_PREFIX)


def line_name(name: str) -> str:
    """Return the name of a line-2 value whose key line 1 has too (``Line 2 work mode``)."""
    if name[1:2].isupper():
        return f"Line 2 {name}"  # an acronym: "AC …"
    return f"Line 2 {name[:1].lower()}{name[1:]}"


def unit_fields(protocol: Protocol) -> dict[str, FieldInfo]:
    """Return the values of each unit of ``protocol``'s parallel system, by key.

    The status answer's, the naming answer's (PI18's ratings), the second line's (keys line 1
    has too prefixed): all but the unit's identity and the totals every unit repeats.
    """
    scheme = unit_scheme(protocol)
    if scheme is None:
        return {}
    found: dict[str, FieldInfo] = {}
    for command in (scheme.status, scheme.naming):
        if command is None:
            continue
        for info in protocol.commands[command].info.values():
            if unit_value(info.key):
                found.setdefault(info.key, info)
    if scheme.line is not None:
        line_one = protocol.commands[scheme.status].info
        for info in protocol.commands[scheme.line].info.values():
            if not unit_value(info.key):
                continue
            if info.key not in line_one:
                found.setdefault(info.key, info)
                continue
            key = LINE_PREFIX + info.key
            found[key] = FieldInfo(
                key,
                line_name(info.name),
                info.unit,
                info.hints,
                kind=info.kind,
                options=info.options,
                precision=info.precision,
            )
    return found


def line_values(
    protocol: Protocol, scheme: Scheme, fields: Mapping[str, Field]
) -> dict[str, Field]:
    """Return a line-2 answer's values as values of the unit (keys line 1 has too prefixed)."""
    line_one = protocol.commands[scheme.status].info
    values: dict[str, Field] = {}
    for key, field in fields.items():
        if not unit_value(key):
            continue
        if key in line_one:
            key = LINE_PREFIX + key
            field = Field(key, line_name(field.name), field.value, field.unit, field.hints)
        values[key] = field
    return values


def totals(protocol: Protocol) -> tuple[Total, ...]:
    """Return the totals of ``protocol``'s parallel systems (those of its units' values)."""
    fields = unit_fields(protocol)
    return tuple(total for total in TOTALS if total.field in fields)


def present(fields: Mapping[str, Field]) -> bool:
    """Return whether a unit answer is of a unit (not of an empty slot)."""
    valid = fields.get(VALID_FIELD)
    if valid is not None and valid.value != "valid":
        return False
    status = fields.get(PRESENT_FIELD)
    return status is None or status.value != ABSENT


def serial_of(fields: Mapping[str, Field]) -> str | None:
    """Return the serial number an answer carries (cut to its valid length); ``None``: none."""
    serial = fields.get(SERIAL_FIELD)
    text = "" if serial is None or serial.value is None else str(serial.value).strip()
    length = fields.get(SERIAL_LENGTH_FIELD)
    if length is not None and isinstance(length.value, int) and length.value > 0:
        text = text[: length.value]
    return text if text.strip("0") else None


def unit_serial(fields: Mapping[str, Field]) -> str | None:
    """Return the serial number of a unit answer; ``None`` for an empty or invalid slot."""
    return serial_of(fields) if present(fields) else None


def unit_identifier(unique: str, serial: str) -> tuple[str, str]:
    """Return the device registry identifier of unit ``serial`` of entry ``unique``'s system."""
    return (DOMAIN, f"{unique}_unit_{serial}")


def _number(field: Field | None) -> float | None:
    """Return a field's value if it is a number."""
    if field is None or isinstance(field.value, bool):
        return None
    return field.value if isinstance(field.value, int | float) else None


def system_total(total: Total, units: Mapping[str, Mapping[str, Field]]) -> float | None:
    """Return ``total`` over ``units``: as the units report it, else summed.

    ``None`` when no unit reported it nor its field.
    """
    for fields in units.values():
        for key in total.reported:
            if (value := _number(fields.get(key))) is not None:
                return value
    values = [
        value
        for fields in units.values()
        if (value := _number(fields.get(total.field))) is not None
    ]
    return sum(values) if values else None
