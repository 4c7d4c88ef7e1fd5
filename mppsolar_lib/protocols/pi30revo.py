"""PI30 REVO: the small PI30 dialect of REVO-series hybrid inverters.

Besides a handful of ordinary PI30 queries (CRC framing), REVO units have their own configuration
pair: ``PQSE`` reads the whole configuration and ``PSET`` writes it back in one go (settings
digits, four battery voltages, two currents and the clock). Those use an 8-bit check instead of
the CRC: ``PSET…`` is sent as text + one check byte (:func:`~mppsolar_lib.crc.chk8`) and **no**
CR, and answers to these commands may carry the check byte instead of a CRC. Commands say which
framing they use in :attr:`Command.options`:

``request="chk"``
    the request is text + check byte, without CR;
``check="chk"``
    the answer may carry the check byte (over ``(`` + payload) instead of the CRC;
``sends="PSET"``
    the text put on the wire starts with this name instead of the command's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.crc import chk8, pi_crc
from mppsolar_lib.errors import CRCError, InvalidParameterError, NAKError
from mppsolar_lib.protocols import pi30
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import Choice, Command, Kind, Number, Parts, codes, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Ack, Float, Hints, Int, Keyed, Str, Value
from mppsolar_lib.protocols.settings import parse_number
from mppsolar_lib.protocols.voltronic import VoltronicProtocol
from mppsolar_lib.protocols.voltronic_specs import CharOptions

# -- field decoders ----------------------------------------------------------------------------


# -- parameters --------------------------------------------------------------------------------


class ConfigParam(Parts):
    """PSET's parameter: the whole configuration, checked part by part and as a calendar date."""

    def validate(self, text: str) -> None:
        """Check every part, then that year/month/day/hour/minute is a real moment."""
        super().validate(text)
        year, month, day, hour, minute = (int(t) for t in self.split(text)[7:12])
        try:
            datetime(year, month, day, hour, minute)  # only a calendar check: no time zone
        except ValueError:
            raise InvalidParameterError(
                f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d} is not a valid date"
            ) from None

    def describe(self) -> str:
        """Describe the layout in words, with an example."""
        return (
            "the configuration as 12 or 13 space-separated values: settings digits, bulk V, "
            "float V, low-voltage alarm V, cut-off V (each dd.d), total and AC charging current "
            "A (ddd), year, month, day, hour, minute, [buzzer/grid digits]; e.g. "
            "'120103 56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06 00'"
        )


# -- vocabularies ------------------------------------------------------------------------------

LANGUAGES = ("English", "Chinese")
WORK_MODES = (
    "Utility Priority",
    "Solar Priority",
    "Battery Priority",
    "PV+mains power+no external CT",
    "PV+mains power+external CT",
)
INPUT_RANGES = ("Wide", "Narrow")
OUTPUT_VOLTAGES = ("220V", "230V", "240V")
OUTPUT_FREQUENCIES = ("50Hz", "60Hz")
BATTERY_TYPES = ("Lead Acid", "Lithium", "None", "Custom")
BUZZER = ("Enabled", "Disabled")
GRID = ("Not Connected", "Connected")
DISABLED_ENABLED = ("Disabled", "Enabled")

#: The first PQSE/PSET token, one digit per setting.
SETTINGS_DIGITS = CharOptions(
    (
        ("Language", LANGUAGES),
        ("Work Mode", WORK_MODES),
        ("Input Range", INPUT_RANGES),
        ("Output Voltage", OUTPUT_VOLTAGES),
        ("Output Frequency", OUTPUT_FREQUENCIES),
        ("Battery Type", BATTERY_TYPES),
    )
)
#: The PQSE/PSET token after the clock: buzzer, grid and parallel operation digits.
SWITCH_DIGITS = CharOptions(
    (
        ("Buzzer", BUZZER),
        ("Grid", GRID),
        ("Single Phase Parallel", DISABLED_ENABLED),
        ("Three Phase Parallel", DISABLED_ENABLED),
        ("Three Phase ID", None),
    )
)

WARNING_CODES = {
    "00": "No warning",
    "01": "Low battery",
    "02": "Mains low voltage",
    "03": "Mains high voltage",
    "04": "Overload",
    "05": "Over temperature",
    "06": "Fan lock",
    "07": "Battery overvoltage",
    "08": "Discharge overcurrent",
    "21": "PV undervoltage",
    "22": "PV overvoltage",
    "23": "PV overcurrent",
    "24": "PV over temperature",
    "25": "PV overload",
    "26": "PV boost failed",
    "39": "BMS Communication lost",
}
FAULT_CODES = {
    "00": "No fault",
    "01": "BUS overvoltage",
    "02": "Inverter overvoltage",
    "03": "Inverter low voltage",
    "04": "BUS soft start failure",
    "05": "Overload fault",
    "06": "Output short circuit",
    "07": "Low battery voltage failure",
    "08": "Inverter soft start failure",
    "09": "BUS low voltage",
    "10": "Parallel failure",
    "11": "Over temperature fault",
    "12": "Battery over-voltage fault",
    "13": "Phase A lost",
    "14": "Phase B lost",
    "15": "Phase C lost",
    "16": "AC output voltage and frequency setting is different",
    "17": "AC input voltage and frequency detected different",
    "18": "Power feedback protection",
    "19": "Firmware Version inconsistent",
    "20": "Current sharing fault",
    "23": "PV overcurrent",
    "24": "PV over temperature",
}
#: QLITH0 fault and warning codes (the labels keep the reference's spelling).
BMS_CODES = {
    "0": "No warning",
    "1": "Battery overvoltage",
    "2": "Low battery",
    "3": "Battery over temperature",
    "4": "Battery low temperature",
    "5": "Battery overcurrent",
    "6": "Battery output short circut",
}

# -- commands ----------------------------------------------------------------------------------

_VOLTS = Number("dd.d", 10.0, 64.0, 0.1, unit="V")
_AMPS = Number("ddd", 0, 250, 1, unit="A")

#: What PSET takes after its name (also what PQSE reports, minus the last value).
CONFIG = ConfigParam(
    (
        "settings digits",
        Parts(
            *((info.name, Choice(codes(labels or ()))) for info, labels in SETTINGS_DIGITS.parts),
            sep="",
        ),
    ),
    ("bulk charging voltage", _VOLTS),
    ("float charging voltage", _VOLTS),
    ("low-voltage alarm point", _VOLTS),
    ("low-voltage cut-off point", _VOLTS),
    ("total charging current", _AMPS),
    ("AC charging current", _AMPS),
    ("year", Number("dddd", 2000, 2099, 1)),
    ("month", Number("dd", 1, 12, 1)),
    ("day", Number("dd", 1, 31, 1)),
    ("hour", Number("dd", 0, 23, 1)),
    ("minute", Number("dd", 0, 59, 1)),
    (
        "buzzer/grid digits",
        Parts(("buzzer", Choice(codes(BUZZER))), ("grid", Choice(codes(GRID))), sep=""),
    ),
    sep=" ",
    required=12,
)

_PSET_DESCRIPTION = "Write the whole configuration (see PQSE) and set the clock"
#: Both PSET spellings acknowledge as "PSET", as the reference reports it.
_PSET_ACK = (Ack("PSET"),)

_QPIGS = pi30.COMMANDS["QPIGS"].fields

COMMANDS_OWN = (
    Command(
        "PSET",
        _PSET_DESCRIPTION,
        _PSET_ACK,
        Kind.SETTER,
        CONFIG,
        options={"request": "chk", "check": "chk"},
    ),
    # The same write framed like any PI30 command (CRC + CR), for firmwares that want that.
    Command(
        "_PSET",
        _PSET_DESCRIPTION + " (sent with CRC + CR)",
        _PSET_ACK,
        Kind.SETTER,
        CONFIG,
        options={"sends": "PSET", "check": "chk"},
    ),
    query(
        "PQSE",
        "The whole configuration: settings digits, battery voltages, currents, clock, switches",
        SETTINGS_DIGITS,
        Float("Battery Bulk Charge Voltage", "V"),
        Float("Battery Float Charge Voltage", "V"),
        Float("Battery Low Voltage Alarm Point", "V"),
        Float("Battery Low Voltage Cutoff Point", "V"),
        Int("Total Charging Current", "A"),
        Int("AC Charging Current", "A"),
        Str("Year", hints=DIAGNOSTIC),
        Str("Month", hints=DIAGNOSTIC),
        Str("Day", hints=DIAGNOSTIC),
        Str("Hour", hints=DIAGNOSTIC),
        Str("Minute", hints=DIAGNOSTIC),
        SWITCH_DIGITS,
        Float("Battery Full Recovery Point", "V"),
        check="chk",
    ),
    query(
        "QALL",
        "Live status in one answer: grid, output, battery, PV, energy, mode, warning and fault",
        Int(
            "AC Input Voltage", "V", Hints("voltage", "measurement", icon="mdi:transmission-tower")
        ),
        Float("AC Input Frequency", "Hz"),
        Int("AC Output Voltage", "V"),
        Float("AC Output Frequency", "Hz"),
        Int("AC Output Active Power", "W"),
        Int("AC Output Load", "%"),
        Float("Battery Voltage", "V"),
        Int("Battery Capacity", "%", Hints("battery", "measurement")),
        Int("Battery Charging Current", "A"),
        Int("Battery Discharging Current", "A"),
        Int("PV Input Voltage", "V"),
        Float("PV Input Current", "A"),
        Int("PV Power", "W", pi30.SOLAR_POWER),
        Int("Daily PV Power Generated", "Wh"),
        Int("Total PV Power Generated", "kWh"),
        pi30.COMMANDS["QMOD"].fields[0],
        Keyed("Warning Code", WARNING_CODES, pi30.PROBLEM),
        Keyed("Fault Code", FAULT_CODES, pi30.PROBLEM),
        check="chk",
    ),
    query(
        "QPIGS",
        "Live status: grid, output, battery, PV power and today's yield",
        *_QPIGS[:12],
        Float("PV Power", "W", pi30.SOLAR_POWER),
        *_QPIGS[13:15],
        Int("Daily Power Generated", "Wh"),
        *_QPIGS[16:],
    ),
    query(
        "QLITH0",
        "Lithium battery data reported by the BMS",
        Float("Battery voltage from BMS", "V"),
        Float("Battery charging current from BMS", "A"),
        Float("Battery discharge current from BMS", "A"),
        Int("Battery temperature", "°C", scale=0.1),
        Int("Battery capacity from BMS", "%", Hints("battery", "measurement")),
        Int("Battery wearout", "%"),
        Float("Battery max charging current", "A"),
        Float("Battery max discharge current", "A"),
        Float("Battery max charge voltage", "V"),
        Float("Battery min discharge voltage", "V"),
        Keyed("Fault Code from BMS", BMS_CODES, pi30.PROBLEM),
        # Key kept as the reference spells it ("fom") so stored entities keep their ids.
        Keyed("Warning Code fom BMS", BMS_CODES, pi30.PROBLEM),
    ),
)

#: Only these commands: REVO units answer few of PI30's. QMOD, QPI, QPIRI are PI30's own, and
#: so are the identity queries QID (serial number) and QVFW (main CPU firmware), which the
#: reference's table leaves out: a unit that refuses them answers NAK, and reports no identity.
COMMANDS = MappingProxyType(
    table(
        *COMMANDS_OWN,
        pi30.COMMANDS["QID"],
        pi30.COMMANDS["QMOD"],
        pi30.COMMANDS["QPI"],
        pi30.COMMANDS["QPIRI"],
        pi30.COMMANDS["QVFW"],
    )
)


# -- configuration writes ----------------------------------------------------------------------

#: PQSE field keys of the numbers PSET writes, with their text format, in PSET order.
_NUMBERS = (
    ("battery_bulk_charge_voltage", "{:04.1f}"),
    ("battery_float_charge_voltage", "{:04.1f}"),
    ("battery_low_voltage_alarm_point", "{:04.1f}"),
    ("battery_low_voltage_cutoff_point", "{:04.1f}"),
    ("total_charging_current", "{:03d}"),
    ("ac_charging_current", "{:03d}"),
)


def _number(key: str, value: Value, fmt: str) -> str:
    """``value`` in PSET's text format ``fmt``."""
    number = parse_number(key, value)
    return fmt.format(round(number) if fmt.endswith("d}") else number)


def pset_command(current: Mapping[str, Value], when: datetime, **changes: Value) -> str:
    """Build the PSET command writing the configuration ``current`` (a PQSE answer) + ``changes``.

    PSET always writes every value at once, so a single change is a read-modify-write: read
    PQSE, pass its result here with the values to change (PQSE keys, labels or codes:
    ``work_mode="Solar Priority"``, ``battery_float_charge_voltage=54.0``) and the time to set
    the clock to. The command is validated; :class:`InvalidParameterError` says what is wrong.
    """
    values = {**current, **changes}
    unknown = (
        set(changes)
        - {info.key for info in SETTINGS_DIGITS.info()}
        - {key for key, _ in _NUMBERS}
        - {"buzzer", "grid"}
    )
    if unknown:
        raise InvalidParameterError(f"PSET cannot write {', '.join(sorted(unknown))}")
    try:
        digits = "".join(
            SETTINGS_DIGITS.code(info.key, values[info.key]) for info in SETTINGS_DIGITS.info()
        )
        switches = "".join(SWITCH_DIGITS.code(key, values[key]) for key in ("buzzer", "grid"))
        numbers = [_number(key, values[key], fmt) for key, fmt in _NUMBERS]
    except KeyError as err:
        raise InvalidParameterError(f"PSET needs {err.args[0]} (pass a PQSE answer)") from None
    text = " ".join((digits, *numbers, f"{when:%Y %m %d %H %M}", switches))
    CONFIG.validate(text)
    return "PSET" + text


# -- protocol ----------------------------------------------------------------------------------


class PI30REVO(VoltronicProtocol):
    """PI30 REVO protocol: a few PI30 queries plus PQSE/PSET/QALL with an 8-bit check.

    Not a :class:`~.pi30.PI30` subclass: REVO units answer only a handful of PI30's commands and
    none of its setters, so PI30's table and settings model do not apply. The PI30 commands it
    does answer are PI30's own :class:`Command` objects.
    """

    id: ClassVar[str] = "pi30revo"
    description: ClassVar[str] = "Voltronic PI30 REVO (REVO-series hybrid inverters)"
    commands = COMMANDS
    # No settings model: PSET writes the whole configuration at once; see pset_command().
    status_commands: ClassVar[tuple[str, ...]] = ("QPIGS", "QMOD")
    settings_commands: ClassVar[tuple[str, ...]] = ("QPIRI",)
    id_commands: ClassVar[tuple[str, ...]] = ("QPI",)

    def frame(self, command: Command, text: str) -> bytes:
        """CRC + CR, or text + check byte without CR for ``request="chk"`` commands."""
        sends = command.options.get("sends")
        if isinstance(sends, str):
            text = sends + text[len(command.name) :]
        data = text.encode("ascii")
        if command.options.get("request") == "chk":
            # chk8 is 1..256; the byte on the wire is its low 8 bits.
            return data + bytes((chk8(data) & 0xFF,))
        return data + pi_crc(data) + b"\r"

    def unframe(self, command: Command, frame: bytes, sent: str) -> str:
        """PI30 framing; for ``check="chk"`` commands the check byte is accepted instead of a CRC.

        REVO units send ``(NAK`` with a check byte rather than a CRC, so a ``(NAK`` answer is a
        refusal whatever command it answers and whichever check it carries.
        """
        if frame.startswith(b"(NAK") and frame[-1:] in (b"\r", b"\n"):
            raise NAKError(f"{sent}: the device refused the command (NAK)")
        try:
            return super().unframe(command, frame, sent)
        except CRCError:
            if command.options.get("check") != "chk" or frame[-2] != chk8(frame[:-2]) & 0xFF:
                raise
        return frame[1:-2].decode("latin-1")
