"""PI18: the Voltronic protocol of InfiniSolar V, Axpert "V II" and EASUN SV hybrid inverters.

Requests are ``^P`` (query) or ``^S`` (setter), a three-digit length, the command and — unless
the variant or the command says otherwise — CRC-16/XMODEM over everything before it, then CR.
The length counts the command, two CRC bytes and the CR, even when no CRC is sent (PI18LVX):
``^P005GS`` + CRC + CR. Answers are ``^D`` + length + comma-separated fields + CRC + CR, the
length again counting fields, CRC and CR; setters are answered ``^1`` (accepted) or ``^0``
(refused), each with its CRC. A refusal raises :class:`~mppsolar_lib.errors.NAKError`.

The ``^`` framing itself is :class:`~mppsolar_lib.protocols.voltronic.CaretProtocol`, shared with PI17.
PI18SV and PI18LVX start from :data:`COMMANDS` and :data:`SETTINGS` of this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols import pi30, pi30max
from mppsolar_lib.protocols.base import table, unknown
from mppsolar_lib.protocols.command import (
    Choice,
    Command,
    Date,
    Number,
    Param,
    Parts,
    Pattern,
    codes,
    query,
    setter,
)
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    PROBLEM,
    RESERVED,
    FieldInfo,
    Hints,
    Int,
    Keyed,
    Option,
    Out,
    Spec,
    Str,
    slugify,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table
from mppsolar_lib.protocols.voltronic import PERIOD_SPECS, CaretProtocol
from mppsolar_lib.protocols.voltronic_specs import Clock, Flag, LengthPrefixed, TenthsSetting

# -- field decoders ----------------------------------------------------------------------------


class Series(Spec):
    """All remaining tokens as numbered values: ``Max. charging current value 1``, ``… 2``.

    Devices list as many selectable values as they support (7 to 13 are seen); each becomes one
    integer field. Names are precomputed for up to :attr:`limit` values; further ones are kept
    as unknown values by position, never dropped.
    """

    __slots__ = ("infos", "start")

    takes_rest = True
    limit = 20

    def __init__(self, name: str, unit: str = "", hints: Hints | None = None, start: int = 0):
        """``name`` is the label before the number; ``start`` the token index of the first one."""
        super().__init__(name, unit, hints if hints is not None else DIAGNOSTIC)
        self.start = start
        self.infos = tuple(
            FieldInfo(slugify(f"{name} {n}"), f"{name} {n}", unit, self.hints)
            for n in range(1, self.limit + 1)
        )

    def decode(self, token: str, out: Out) -> None:
        """One integer per comma-separated value."""
        for index, part in enumerate(token.split(",")):
            if not part:
                continue
            if index >= self.limit:
                unknown(self.start + index, part, out)
                continue
            try:
                out[self.infos[index].key] = int(part)
            except ValueError:
                raise self._bad(part, "an integer") from None

    def info(self) -> tuple[FieldInfo, ...]:
        """One field per possible value."""
        return self.infos


# -- parameters --------------------------------------------------------------------------------


class Ordered(Parts):
    """Two values where the second must not exceed the first (bulk ≥ float voltage)."""

    def validate(self, text: str) -> None:
        """Check both parts, then their order."""
        super().validate(text)
        first, second = (int(part) for part in self.split(text))
        if second > first:
            raise InvalidParameterError(
                f"{text!r}: the {self.parts[1][0]} must not exceed the {self.parts[0][0]}"
            )


# -- vocabularies ------------------------------------------------------------------------------

ENABLED = ("Disabled", "Enabled")
#: PIRI battery types (the index is the code; PBT sets only the first three).
BATTERY_TYPES = (
    "AGM",
    "Flooded",
    "User",
    "Pylontech",
    "TBD",
    "WECO",
    "Soltaro",
    "3rd party Lithium",
    "LIB",
    "LIC",
)
SETTABLE_BATTERY_TYPES = BATTERY_TYPES[:3]
INPUT_VOLTAGE_RANGES = ("Appliance", "UPS")
OUTPUT_PRIORITIES = ("Solar-Utility-Battery", "Solar-Battery-Utility")
CHARGER_PRIORITIES = ("Solar first", "Solar and Utility", "Only solar")
SOLAR_PRIORITIES = ("Battery-Load-Utility", "Load-Battery-Utility")
MACHINE_TYPES = ("Off-Grid", "Grid-Tie")
TOPOLOGIES = ("transformerless", "transformer")
OUTPUT_MODELS = (
    "Single module",
    "Parallel output",
    "Phase 1 of 3 phase output",
    "Phase 2 of 3 phase output",
    "Phase 3 of 3 phase output",
)
WORKING_MODES = (
    "Power on mode",
    "Standby mode",
    "Bypass mode",
    "Battery mode",
    "Fault mode",
    "Hybrid mode (Line mode, Grid mode)",
)
MPPT_STATES = ("abnormal", "normal but not charged", "charging")
LOAD_STATES = ("disconnect", "connect")
BATTERY_DIRECTIONS = ("donothing", "charge", "discharge")
DC_AC_DIRECTIONS = ("donothing", "AC-DC", "DC-AC")
LINE_DIRECTIONS = ("donothing", "input", "output")
CONFIGURATION_STATES = ("Nothing changed", "Something changed")
PARALLEL_STATES = ("Not existent", "Existent")

#: The PE/PD flag letters and what each switches (I, the machine type, is PEI/PDI).
FLAG_LETTERS = {
    "A": "Silence buzzer or open buzzer",
    "B": "Overload bypass function",
    "C": "LCD display escape to default page after 1 min timeout",
    "D": "Overload restart",
    "E": "Over temperature restart",
    "F": "Backlight on",
    "G": "Alarm on when primary source interrupted",
    "H": "Fault code record",
}

ID = DIAGNOSTIC
HIDDEN = Hints(entity_category="diagnostic", enabled_default=False)
SOLAR_POWER = pi30.SOLAR_POWER
PV_VOLTAGE = pi30max.PV_VOLTAGE
BATTERY_LEVEL = Hints("battery", "measurement")
TEMPERATURE = pi30.TEMPERATURE
ENERGY = Hints("energy", "total_increasing", icon="mdi:counter")
PERIOD_ENERGY = Hints("energy", "total", icon="mdi:counter")


def volts(name: str, hints: Hints | None = None) -> Int:
    """Define a voltage the device sends in tenths (``2300`` -> 230.0 V)."""
    return Int(name, "V", hints, scale=0.1)


def hertz(name: str) -> Int:
    """Define a frequency the device sends in tenths (``499`` -> 49.9 Hz)."""
    return Int(name, "Hz", scale=0.1)


# -- commands ----------------------------------------------------------------------------------


def energy(name: str, description: str, label: str, unit: str, period: Param | None) -> Command:
    """Define an energy counter; with ``period``, the requested date is echoed too."""
    if period is None:
        return query(name, description, Int(label, unit, ENERGY))
    return query(
        name,
        description,
        Int(label, unit, PERIOD_ENERGY),
        *PERIOD_SPECS,
        param=period,
        period=True,
    )


_UNIT = ("parallel unit", Number("d", 0, 9, 1))
_AMPS = Number("ddd", 10, 200, 10, unit="A")
_AC_AMPS = Number("ddd", 10, 200, 10, also=("002",), unit="A")
_PARALLEL_ID = Pattern(r"\d", "the unit's index in the parallel system, 0–9")

# GS as the reference's pi18 table names its fields.
GS = query(
    "GS",
    "Live status: grid, output, battery, PV inputs, power flow",
    volts("Grid voltage"),
    hertz("Grid frequency"),
    volts("AC output voltage"),
    hertz("AC output frequency"),
    Int("AC output apparent power", "VA"),
    Int("AC output active power", "W"),
    Int("Output load percent", "%"),
    volts("Battery voltage"),
    volts("Battery voltage from SCC"),
    volts("Battery voltage from SCC2"),
    Int("Battery discharge current", "A"),
    Int("Battery charging current", "A"),
    Int("Battery capacity", "%", BATTERY_LEVEL),
    Int("Inverter heat sink temperature", "°C"),
    Int("MPPT1 charger temperature", "°C"),
    Int("MPPT2 charger temperature", "°C"),
    Int("PV1 Input power", "W", SOLAR_POWER),
    Int("PV2 Input power", "W", SOLAR_POWER),
    volts("PV1 Input voltage", PV_VOLTAGE),
    volts("PV2 Input voltage", PV_VOLTAGE),
    Option("Setting value configuration state", CONFIGURATION_STATES, DIAGNOSTIC),
    Option("MPPT1 charger status", MPPT_STATES),
    Option("MPPT2 charger status", MPPT_STATES),
    Option("Load connection", LOAD_STATES),
    Option("Battery power direction", BATTERY_DIRECTIONS),
    Option("DC/AC power direction", DC_AC_DIRECTIONS),
    Option("Line power direction", LINE_DIRECTIONS),
    Int("Local parallel ID", hints=DIAGNOSTIC),
)

PIRI = query(
    "PIRI",
    "Ratings and current settings (voltages, currents, priorities, battery)",
    volts("AC input rated voltage"),
    Int("AC input rated current", "A", scale=0.1),
    volts("AC output rated voltage"),
    hertz("AC output rated frequency"),
    Int("AC output rated current", "A", scale=0.1),
    Int("AC output rating apparent power", "VA"),
    Int("AC output rating active power", "W"),
    volts("Battery rated voltage"),
    volts("Battery re-charge voltage"),
    volts("Battery re-discharge voltage"),
    volts("Battery under voltage"),
    volts("Battery bulk voltage"),
    volts("Battery float voltage"),
    Option("Battery Type", BATTERY_TYPES),
    Int("Max AC charging current", "A"),
    Int("Max charging current", "A"),
    # Key kept as the reference spells it ("rang") so stored entities keep their ids.
    Option("Input voltage rang", INPUT_VOLTAGE_RANGES),
    Option("Output source priority", OUTPUT_PRIORITIES),
    Option("Charger source priority", CHARGER_PRIORITIES),
    Int("Parallel max num", hints=DIAGNOSTIC),
    Option("Machine type", MACHINE_TYPES),
    Option("Topology", TOPOLOGIES, DIAGNOSTIC),
    Option("Output model setting", OUTPUT_MODELS),
    Option("Solar power priority", SOLAR_PRIORITIES),
    Int("MPPT strings", hints=DIAGNOSTIC),
)

FLAG = query(
    "FLAG",
    "Enabled/disabled state of the buzzer, bypass, restart, backlight… flags",
    Option("Buzzer beep", ENABLED),
    Option("Overload bypass function", ENABLED),
    Option("display back to default page", ENABLED),
    Option("Overload restart", ENABLED),
    Option("Over temperature restart", ENABLED),
    Option("Backlight on", ENABLED),
    Option("Alarm primary source interrupt", ENABLED),
    Option("Fault code record", ENABLED),
    Int("Reserved", hints=RESERVED),
)

QUERIES = (
    query("PI", "Protocol version", Str("Protocol Version", hints=ID)),
    query("T", "Device clock (YYYYMMDDHHMMSS)", Str("DateTime", hints=DIAGNOSTIC)),
    energy("ET", "PV energy generated since installation", "Total PV Generated Energy", "Wh", None),
    energy(
        "EY",
        "PV energy generated in a year (EY2024)",
        "PV Generated Energy for Year",
        "Wh",
        pi30max.YEAR,
    ),
    energy(
        "EM",
        "PV energy generated in a month (EM202401)",
        "PV Generated Energy for Month",
        "Wh",
        pi30max.MONTH,
    ),
    energy(
        "ED",
        "PV energy generated on a day (ED20240115)",
        "PV Generated Energy for Day",
        "Wh",
        pi30max.DATE,
    ),
    query("ID", "Serial number", LengthPrefixed("Serial Number", hints=ID)),
    query(
        "VFW",
        "CPU firmware versions",
        Int("Main CPU Version", hints=ID),
        Int("Slave 1 CPU Version", hints=ID),
        Int("Slave 2 CPU Version", hints=ID),
    ),
    PIRI,
    GS,
    query("MOD", "Working mode", Option("Working mode", WORKING_MODES)),
    query(
        "FWS",
        "Fault code and active warnings",
        Keyed("Fault code", pi30.FAULT_CODES, PROBLEM),
        Flag("Line fail"),
        Flag("Output circuit short"),
        Flag("Inverter over temperature"),
        Flag("Fan lock"),
        Flag("Battery voltage high"),
        Flag("Battery low"),
        Flag("Battery under"),
        Flag("Over load"),
        Flag("EEProm fail"),
        Flag("Power limit"),
        Flag("PV1 voltage high"),
        Flag("PV2 voltage high"),
        Flag("MPPT1 overload warning"),
        Flag("MPPT2 overload warning"),
        Flag("Battery too low to charge for SCC1"),
        Flag("Battery too low to charge for SCC2"),
    ),
    FLAG,
    query(
        "DI",
        "Factory default settings",
        volts("AC output voltage"),
        hertz("AC output frequency"),
        Option("AC input voltage range", INPUT_VOLTAGE_RANGES),
        volts("Battery Under voltage"),
        volts("Charging float voltage"),
        volts("Charging bulk voltage"),
        volts("Battery default re-charge voltage"),
        volts("Battery re-discharge voltage"),
        Int("Max charging current", "A"),
        Int("Max AC charging current", "A"),
        Option("Battery type", BATTERY_TYPES),
        Option("Output source priority", OUTPUT_PRIORITIES),
        Option("Charger source priority", CHARGER_PRIORITIES),
        Option("Solar power priority", SOLAR_PRIORITIES),
        Option("Machine type", MACHINE_TYPES),
        Option("Output mode setting", OUTPUT_MODELS),
        Option("Silence buzzer or open buzzer", ("disable", "enable")),
        Option("Overload restart", ("disable", "enable")),
        Option("Over temperature restart", ("disable", "enable")),
        Option("LCD backlight on", ("disable", "enable")),
        Option("Alarm when primary source interrupted", ("disable", "enable")),
        Option("Fault code record", ("disable", "enable")),
        Option("Overload bypass", ("disable", "enable")),
        Option("LCD display escape to default page after timeout", ("disable", "enable")),
    ),
    query(
        "MCHGCR",
        "Max charging current values the unit accepts",
        Series("Max. charging current value", "A"),
    ),
    query(
        "MUCHGCR",
        "Max AC charging current values the unit accepts",
        Series("Max. AC charging current value", "A"),
    ),
    query(
        "PRI",
        "Ratings of one unit of a parallel system (PRI0, PRI1, …)",
        Option("Parallel ID connection status", PARALLEL_STATES),
        Int("Serial Number valid length", hints=HIDDEN),
        # Kept with its padding, as the reference reports it; the valid length is given above.
        Str("Serial Number", hints=ID),
        Option("Charging source priority", CHARGER_PRIORITIES),
        Int("Max. charging current", "A"),
        Int("Max. AC charging current", "A"),
        Option("Output mode setting", OUTPUT_MODELS),
        param=_PARALLEL_ID,
    ),
    query(
        "PGS",
        "Status of one unit of a parallel system (PGS0, PGS1, …)",
        Option("Parallel ID connection status", PARALLEL_STATES),
        # Work mode (MOD's codes) and fault code (FWS's) stay numbers here, as the reference
        # reports them: labelling them would move reference fields (see docs/deviations.md).
        Int("Work mode", hints=DIAGNOSTIC),
        Int("Fault code", hints=PROBLEM),
        volts("Grid voltage"),
        hertz("Grid frequency"),
        volts("AC output voltage"),
        hertz("AC output frequency"),
        Int("AC output apparent power", "VA"),
        Int("AC output active power", "W"),
        Int("Total AC output apparent power", "VA"),
        Int("Total AC output active power", "W"),
        Int("Output load percent", "%"),
        Int("Total output load percent", "%"),
        volts("Battery voltage"),
        Int("Battery discharge current", "A"),
        Int("Battery charging current", "A"),
        Int("Total battery charging current", "A"),
        Int("Battery capacity", "%", BATTERY_LEVEL),
        Int("PV1 Input power", "W", SOLAR_POWER),
        Int("PV2 Input power", "W", SOLAR_POWER),
        volts("PV1 Input voltage", PV_VOLTAGE),
        volts("PV2 Input voltage", PV_VOLTAGE),
        Option("MPPT1 charger status", MPPT_STATES),
        Option("MPPT2 charger status", MPPT_STATES),
        Option("Load connection", LOAD_STATES),
        Option("Battery power direction", BATTERY_DIRECTIONS),
        Option("DC/AC power direction", DC_AC_DIRECTIONS),
        Option("Line power direction", LINE_DIRECTIONS),
        Int("Max Temperature", "°C"),
        param=_PARALLEL_ID,
    ),
    query(
        "ACCT",
        "Time window in which AC charging is allowed",
        Clock("Start time for enable AC charger working", hints=DIAGNOSTIC),
        Clock("Ending time for enable AC charger working", hints=DIAGNOSTIC),
    ),
    query(
        "ACLT",
        "Time window in which AC may supply the load",
        Clock("Start time for enable AC supply the load", hints=DIAGNOSTIC),
        Clock("Ending time for enable AC supply the load", hints=DIAGNOSTIC),
    ),
)

_TENTHS = "in tenths of a volt"

SETTERS = (
    setter("POP", "Set output source priority", Choice(codes(OUTPUT_PRIORITIES))),
    setter("PSP", "Set solar power priority", Choice(codes(SOLAR_PRIORITIES))),
    setter("PEI", "Set the machine type to Grid-Tie"),
    setter("PDI", "Set the machine type to Off-Grid"),
    *(
        setter(f"P{state}{letter}", f"{verb} {meaning.lower()}")
        for letter, meaning in FLAG_LETTERS.items()
        for state, verb in (("E", "Enable"), ("D", "Disable"))
    ),
    setter(
        "PCP",
        "Set the charger source priority of one unit (PCP0,1)",
        Parts(_UNIT, ("priority", Choice(codes(CHARGER_PRIORITIES)))),
    ),
    setter(
        "MCHGC",
        "Set the max charging current (solar + AC) of one unit (MCHGC0,060)",
        Parts(_UNIT, ("current", _AMPS)),
    ),
    setter(
        "MUCHGC",
        "Set the max AC charging current of one unit (MUCHGC0,030)",
        Parts(_UNIT, ("current", _AC_AMPS)),
    ),
    setter("PBT", "Set the battery type", Choice(codes(SETTABLE_BATTERY_TYPES))),
    setter(
        "MCHGV",
        "Set the battery bulk (C.V.) and float charging voltages in tenths of a volt (MCHGV552,540)",
        Ordered(
            ("bulk voltage", Number("ddd", 480, 584, 1, unit=_TENTHS)),
            ("float voltage", Number("ddd", 480, 584, 1, unit=_TENTHS)),
        ),
    ),
    setter(
        "PSDV",
        "Set the battery cut-off voltage in tenths of a volt (PSDV450)",
        Number("ddd", 400, 480, 1, unit=_TENTHS),
    ),
    setter(
        "BUCD",
        "Set the battery re-charge and re-discharge voltages used while utility is available "
        "(BUCD440,480; 000 re-discharges only when full)",
        Parts(
            ("re-charge voltage", Number("ddd", 440, 510, 10, unit=_TENTHS)),
            ("re-discharge voltage", Number("ddd", 480, 580, 10, also=("000",), unit=_TENTHS)),
        ),
    ),
    setter("PGR", "Set the AC input voltage range", Choice(codes(INPUT_VOLTAGE_RANGES))),
    setter(
        "LON",
        "Let the unit supply the loads, or cut them off",
        Choice({"0": "Disable (cut the output)", "1": "Enable"}),
    ),
    setter("PF", "Restore the changeable settings to their defaults"),
    setter(
        "DAT",
        "Set the device clock (DAT240115123000 = 2024-01-15 12:30:00)",
        Date(r"\d{12}", "%y%m%d%H%M%S", "12 digits YYMMDDHHMMSS, e.g. 240115123000"),
    ),
)

COMMANDS = MappingProxyType(table(*QUERIES, *SETTERS))


# -- settings model ----------------------------------------------------------------------------


def select(key: str, name: str, field: str, write: str, labels: Sequence[str]) -> Setting:
    """Define a PIRI select whose codes are the label indexes."""
    return Setting(key, name, SettingKind.SELECT, "PIRI", field, write=write, options=codes(labels))


def voltage(
    key: str,
    name: str,
    field: str,
    bounds: tuple[float, float, float],
    *,
    write: str = "",
    also: tuple[float, ...] = (),
    description: str = "",
) -> TenthsSetting:
    """Define a battery voltage read from PIRI, written in tenths; always a safety setting."""
    lo, hi, step = bounds
    return TenthsSetting(
        key,
        name,
        SettingKind.NUMBER,
        "PIRI",
        field,
        write=write,
        minimum=lo,
        maximum=hi,
        step=step,
        unit="V",
        safety=True,
        description=description,
        also=also,
    )


def paired(
    command: str, first: TenthsSetting, second: TenthsSetting
) -> tuple[TenthsSetting, TenthsSetting]:
    """Tie two voltages that ``command`` writes at once (``MCHGV552,540``): each writes the other."""
    return (
        replace(first, write=command + "{value:03d},{partner:03d}", partner=second.read_field),
        replace(second, write=command + "{partner:03d},{value:03d}", partner=first.read_field),
    )


def flag_switches(fields: Mapping[str, str]) -> tuple[Setting, ...]:
    """One switch per FLAG letter; ``fields`` maps each letter to its FLAG field key."""
    return tuple(
        Setting(
            slugify(FLAG_LETTERS[letter]),
            FLAG_LETTERS[letter],
            SettingKind.SWITCH,
            "FLAG",
            field,
            on=f"PE{letter}",
            off=f"PD{letter}",
            on_value="Enabled",
        )
        for letter, field in fields.items()
    )


def piri_settings(keys: Mapping[str, str]) -> tuple[Setting, ...]:
    """Return the settings read from PIRI; ``keys`` maps pi18's field keys to a variant's."""

    def k(key: str) -> str:
        return keys.get(key, key)

    return (
        select(
            "output_source_priority",
            "Output source priority",
            k("output_source_priority"),
            "POP{code}",
            OUTPUT_PRIORITIES,
        ),
        select(
            "solar_power_priority",
            "Solar power priority",
            k("solar_power_priority"),
            "PSP{code}",
            SOLAR_PRIORITIES,
        ),
        select(
            "charger_source_priority",
            "Charger source priority",
            k("charger_source_priority"),
            "PCP0,{code}",
            CHARGER_PRIORITIES,
        ),
        select(
            "input_voltage_range",
            "AC input voltage range",
            k("input_voltage_rang"),
            "PGR{code}",
            INPUT_VOLTAGE_RANGES,
        ),
        Setting(
            "battery_type",
            "Battery type",
            SettingKind.SELECT,
            "PIRI",
            k("battery_type"),
            write="PBT{code}",
            options=codes(SETTABLE_BATTERY_TYPES),
            safety=True,
        ),
        Setting(
            "grid_tie",
            "Grid-tie operation",
            SettingKind.SWITCH,
            "PIRI",
            k("machine_type"),
            on="PEI",
            off="PDI",
            on_value="Grid-Tie",
            safety=True,
            description="On: Grid-Tie machine type (feeds the grid); off: Off-Grid.",
        ),
        Setting(
            "max_charging_current",
            "Max charging current",
            SettingKind.NUMBER,
            "PIRI",
            k("max_charging_current"),
            write="MCHGC0,{value:03d}",
            minimum=10,
            maximum=200,
            step=10,
            unit="A",
            options_command="MCHGCR",
            safety=True,
        ),
        Setting(
            "max_ac_charging_current",
            "Max AC charging current",
            SettingKind.NUMBER,
            "PIRI",
            k("max_ac_charging_current"),
            write="MUCHGC0,{value:03d}",
            minimum=2,
            maximum=200,
            unit="A",
            options_command="MUCHGCR",
            safety=True,
            description="2 A, or 10–200 A in steps of 10; the unit lists its own in MUCHGCR.",
        ),
        *paired(
            "MCHGV",
            voltage(
                "battery_bulk_voltage",
                "Battery bulk (C.V.) charging voltage",
                k("battery_bulk_voltage"),
                (48.0, 58.4, 0.1),
            ),
            voltage(
                "battery_float_voltage",
                "Battery float charging voltage",
                k("battery_float_voltage"),
                (48.0, 58.4, 0.1),
            ),
        ),
        voltage(
            "battery_cut_off_voltage",
            "Battery cut-off voltage",
            k("battery_under_voltage"),
            (40.0, 48.0, 0.1),
            write="PSDV{value:03d}",
        ),
        *paired(
            "BUCD",
            voltage(
                "battery_recharge_voltage",
                "Battery re-charge voltage (utility available)",
                k("battery_re_charge_voltage"),
                (44.0, 51.0, 1.0),
            ),
            voltage(
                "battery_redischarge_voltage",
                "Battery re-discharge voltage (utility available)",
                k("battery_re_discharge_voltage"),
                (48.0, 58.0, 1.0),
                also=(0.0,),
                description="0 means: only when the battery is fully charged.",
            ),
        ),
    )


#: LON: whether the unit supplies its loads at all, read back from GS's load connection.
LOAD_SUPPLY = Setting(
    "load_supply",
    "Supply the loads",
    SettingKind.SWITCH,
    "GS",
    "load_connection",
    on="LON1",
    off="LON0",
    on_value="connect",
    safety=True,
    description="Off cuts the output: everything connected loses power.",
)

SETTINGS = MappingProxyType(
    settings_table(
        *piri_settings({}),
        LOAD_SUPPLY,
        *flag_switches(
            dict(zip(FLAG_LETTERS, (spec.key for spec in FLAG.fields[:8]), strict=True))
        ),
    )
)


class PI18(CaretProtocol):
    """PI18 protocol (InfiniSolar V, Axpert V II and other ``^P``/``^D`` framed units)."""

    id: ClassVar[str] = "pi18"
    description: ClassVar[str] = "Voltronic PI18 (InfiniSolar V, Axpert V II, EASUN SV…)"
    commands = COMMANDS
    settings = SETTINGS
    status_commands: ClassVar[tuple[str, ...]] = ("GS", "MOD", "FWS")
    settings_commands: ClassVar[tuple[str, ...]] = ("PIRI", "FLAG")
    id_commands: ClassVar[tuple[str, ...]] = ("PI", "ID", "VFW")
