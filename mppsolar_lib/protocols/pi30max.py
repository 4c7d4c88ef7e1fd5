"""PI30 MAX: PI30 as spoken by the "MAX" generation (LV6048MAX, MKS2/MKS3, Axpert MAX…).

These units have two PV inputs (``QPIGS2``), energy counters (``QET``/``QEY``/``QEM``/``QED`` for
PV generation, ``QLT``/``QLY``/``QLM``/``QLD`` for the load), hourly priority schedules, battery
equalisation status and an RGB LED ring. ``QPIGS``, ``QPIRI``, ``QDI``, ``QPGS``, ``QPIWS`` and
``QMOD`` have longer or relabelled layouts; everything else is PI30's command, shared rather than
copied. ``QVFW2`` does not exist on these units (``QVFW3`` / ``VERFW`` replace it).

PI30M044, PI30M045 and PI30MST start from :data:`COMMANDS` and :data:`SETTINGS` of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi30
from mppsolar_lib.protocols.base import derive, table
from mppsolar_lib.protocols.command import (
    Choice,
    Command,
    Date,
    Letters,
    Number,
    Pattern,
    query,
    setter,
)
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    RESERVED,
    EnableFlags,
    Flags,
    Float,
    Hints,
    Int,
    Keyed,
    Option,
    Result,
    Spec,
    Str,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table
from mppsolar_lib.protocols.voltronic import PERIOD_SPECS, period_values
from mppsolar_lib.protocols.voltronic_specs import LengthPrefixed

# -- helpers -----------------------------------------------------------------------------------


# -- vocabularies ------------------------------------------------------------------------------

#: QPIRI / QDI battery types, and the codes PBT sends (the index is the code).
BATTERY_TYPES = pi30.BATTERY_TYPES
BATTERY_TYPE_CODES = {
    "00": "AGM",
    "01": "Flooded",
    "02": "User-defined",
    "03": "Pylontech",
    "04": "Shinheung",
    "05": "WECO",
    "06": "Soltaro",
    "07": "BAK",
    "08": "Lithium, LIb protocol",
    "09": "Lithium, third-party protocol",
}

#: QPIRI output source priority labels of the MAX generation, by POP code.
OUTPUT_PRIORITY = {
    "00": "Utility Solar Battery",
    "01": "Solar Utility Battery",
    "02": "Solar Battery Utility",
}

#: Output modes as QPIRI labels them (MAX units add the two split-phase angles).
QPIRI_OUTPUT_MODES = (
    *pi30.OUTPUT_MODES[:6],
    "Phase 2 of 2 phase output (120°)",
    "Phase 2 of 2 phase output (180°)",
    "unknown output",
)
#: Output modes as QDI and QPGS label them.
OUTPUT_MODES = (
    "single machine",
    "parallel output",
    "Phase 1 of 3 phase output",
    "Phase 2 of 3 phase output",
    "Phase 3 of 3 phase output",
    "Phase 1 of 2 phase output",
    "Phase 2 of 2 phase output (120°)",
    "Phase 2 of 2 phase output (180°)",
    "Unknown Output Mode",
)

#: QFLAG / PE / PD letters: PI30's plus ``d``. MAX units report ``d`` instead of ``j``; both are
#: decoded so that a firmware reporting either is readable.
FLAG_LETTERS = dict(sorted({**pi30.FLAG_LETTERS, "d": "Solar Feed to Grid"}.items()))

WORK_MODES = {
    "P": "Power On Mode",
    "S": "Standby Mode",
    "L": "Line Mode",
    "B": "Battery Mode",
    "F": "Fault Mode",
    "H": "Power Saving Mode",
    "D": "Shutdown Mode",
    "Y": "Bypass",
}
DEVICE_MODES = {**pi30.DEVICE_MODES, "H": "Power Saving", "D": "Shutdown"}

FAULT_CODES = {
    **pi30.FAULT_CODES,
    "10": "PV over current",
    "11": "PV over voltage",
    "12": "DC over current",
    "13": "Battery discharge over current",
    "52": "Bus voltage too low",
    "60": "Power feedback protection",
    "71": "Firmware version different",
    "72": "Current sharing fault",
    "84": "AC input voltage or frequency detected different",
    "85": "AC output current unbalanced",
    "86": "AC output mode setting different",
}
FAULT_CODES = dict(sorted(FAULT_CODES.items()))

#: QPIWS positions of the MAX generation (32 or 36 characters).
WARNINGS = (
    "PV loss warning",
    *pi30.WARNINGS[1:15],
    "Battery derating warning",
    *pi30.WARNINGS[16:30],
    "",
    "Battery weak",
    "Battery weak",
    "Battery weak",
    "",
    "Battery equalisation warning",
)

CHARGER_PRIORITY_LABELS = tuple(pi30.CHARGER_PRIORITY_CODES.values())
QPGS_CHARGER_PRIORITY = (
    "Utility first",
    "Solar first",
    "Solar + Utility",
    "Solar only",
)
SCHEDULE_CHARGER_PRIORITY = (
    "undefined",
    "Solar first",
    "Solar + Utility",
    "Only Solar",
)

PV_CURRENT = Hints("current", "measurement", icon="mdi:solar-power")
PV_VOLTAGE = Hints("voltage", "measurement", icon="mdi:solar-power")
PV_POWER = pi30.SOLAR_POWER
DURATION = Hints("duration", "measurement")
#: Energy of one year / month / day: the counter restarts with each period.
PERIOD_ENERGY = Hints("energy", "total")
TOTAL_ENERGY = Hints("energy", "total_increasing")
HIDDEN = Hints(entity_category="diagnostic", enabled_default=False)

# -- layouts shared with the other MAX variants ------------------------------------------------


def qdi(charger_priority: Sequence[str]) -> Command:
    """QDI of the MAX generation, with ``charger_priority`` labels (they differ per model)."""
    base = pi30.COMMANDS["QDI"]
    return derive(
        base,
        {
            "charger_source_priority": Option("Charger Source Priority", charger_priority),
            "battery_type": Option("Battery Type", BATTERY_TYPES),
            "output_mode": Option("Output mode", OUTPUT_MODES),
        },
        (
            Int("Max Charging Time at CV", "min", DURATION),
            Int("Max Discharging current", "A"),
        ),
    )


def qpgs(charger_priority: Sequence[str]) -> Command:
    """QPGS of the MAX generation (second PV input, more fault codes) with its charger labels."""
    base = pi30.COMMANDS["QPGS"]
    return derive(
        base,
        {
            "work_mode": Keyed("Work mode", WORK_MODES),
            "fault_code": Keyed("Fault code", FAULT_CODES),
            "grid_voltage": Float("Grid Voltage", "V"),
            "grid_frequency": Float("Grid Frequency", "Hz"),
            "ac_output_voltage": Float("AC Output Voltage", "V"),
            "ac_output_frequency": Float("AC Output Frequency", "Hz"),
            "ac_output_apparent_power": Int("AC Output Apparent Power", "VA"),
            "ac_output_active_power": Int("AC Output Active Power", "W"),
            "load_percentage": Int("Load Percentage", "%"),
            "battery_voltage": Float("Battery Voltage", "V"),
            "battery_charging_current": Int("Battery Charging Current", "A"),
            "battery_capacity": Int("Battery Capacity", "%", Hints("battery", "measurement")),
            "pv_input_voltage": Float("PV1 Input Voltage", "V", PV_VOLTAGE),
            "total_charging_current": Int("Total Charging Current", "A"),
            "total_ac_output_apparent_power": Int("Total AC Output Apparent Power", "VA"),
            "total_output_active_power": Int("Total Output Active Power", "W"),
            "total_ac_output_percentage": Int("Total AC Output Percentage", "%"),
            "output_mode": Option("Output mode", OUTPUT_MODES),
            "charger_source_priority": Option("Charger source priority", charger_priority),
            "max_charger_current": Int("Max Charger Current", "A"),
            "max_charger_range": Int("Max Charger Range", "A"),
            "max_ac_charger_current": Int("Max AC Charger Current", "A"),
            "pv_input_current": Int("PV1 Input Current", "A", PV_CURRENT),
            "battery_discharge_current": Int("Battery Discharge Current", "A"),
            "unknown_float": Float("PV2 Input Voltage", "V", PV_VOLTAGE),
            "unknown_flags": Int("PV2 Input Current", "A", PV_CURRENT),
        },
        description="Status of one unit of a parallel system, both PV inputs (QPGS0, QPGS1, …)",
    )


def hourly(name: str, labels: Sequence[str]) -> tuple[Spec, ...]:
    """Lay out QOPPT / QCHPT: one priority per hour, the current one, the order (28 fields)."""
    return (
        *(Option(f"{name} {hour:02d} hours", labels) for hour in range(24)),
        Option(f"Device {name}", labels),
        *(Option(f"Selection of {name} Order {n}", labels) for n in (1, 2, 3)),
    )


#: QOPPT decoded hour by hour (what PI30M044 does). See the module docstring of pi30m044.
QOPPT_BY_HOUR = query(
    "QOPPT",
    "Output source priority of each hour of the day",
    *hourly(
        "Output Source Priority",
        (
            "Utility Solar Battery (USB)",
            "Solar Utility Battery (SUB)",
            "Solar Battery Utility (SBU)",
        ),
    ),
)

#: QOPPT as the reference decodes it for PI30MAX: first value under the key ``0``, the rest by
#: position. Kept for compatibility with its output; PI30M044 uses :data:`QOPPT_BY_HOUR`.
QOPPT_RAW = query(
    "QOPPT",
    "Output source priority of each hour of the day (raw values by position)",
    Str("0", hints=DIAGNOSTIC),
)


def energy(name: str, description: str, label: str, period: Pattern | None) -> Command:
    """Define an energy counter query; with ``period``, its date parameter is echoed."""
    if period is None:
        return query(name, description, Int(label, "Wh", TOTAL_ENERGY))
    return query(name, description, Int(label, "Wh", PERIOD_ENERGY), param=period, period=True)


#: The periods energy queries take, here and in PI16/PI17/PI18 (HOUR: PI16's QEH, PI17's EH).
YEAR = Pattern(r"20\d\d", "a year as four digits YYYY, 2000–2099, e.g. 2024")
MONTH = Pattern(r"20\d\d(0[1-9]|1[0-2])", "a year and month as YYYYMM, e.g. 202401")
DATE = Date(
    r"20\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])",
    "%Y%m%d",
    "a real date as YYYYMMDD, e.g. 20240115",
)
HOUR = Date(
    r"20\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])",
    "%Y%m%d%H",
    "a real date and hour as YYYYMMDDHH, e.g. 2024011513",
)

# -- commands ----------------------------------------------------------------------------------

QUERIES = (
    query(
        "QSID",
        "Serial number of more than 14 characters (sent with its length first)",
        LengthPrefixed("Serial Number", hints=pi30.ID),
    ),
    query(
        "QVFW3",
        "Remote panel CPU firmware version",
        Str("Remote CPU firmware version", hints=pi30.ID),
    ),
    query(
        "VERFW",
        "Bluetooth module firmware version",
        Str("Bluetooth version", hints=pi30.ID),
    ),
    derive(
        pi30.COMMANDS["QPIRI"],
        {
            "output_source_priority": Option(
                "Output Source Priority", tuple(OUTPUT_PRIORITY.values())
            ),
            "output_mode": Option("Output Mode", QPIRI_OUTPUT_MODES),
        },
        (Int("Max discharging current", "A"),),
    ),
    query(
        "QFLAG",
        "Enabled/disabled state of the buzzer, bypass, feed-in, backlight… flags",
        EnableFlags(FLAG_LETTERS),
    ),
    query(
        "QPIGS",
        "Live status: grid, output, battery, PV 1, feed-in",
        *pi30.COMMANDS["QPIGS"].fields[:12],
        Float("PV1 Input Current", "A", PV_CURRENT),
        Float("PV1 Input Voltage", "V", PV_VOLTAGE),
        *pi30.COMMANDS["QPIGS"].fields[14:17],
        Int("Battery Voltage Offset for Fans On", "V", HIDDEN, scale=0.01),
        Int("EEPROM Version", hints=DIAGNOSTIC),
        Int("PV1 Charging Power", "W", PV_POWER),
        Flags(("Is Charging to Float", "Is Switched On", "Is Dustproof Installed")),
        Option("Solar Feed to Grid", ("Disabled", "Enabled")),
        Keyed("Country", {"00": "India", "01": "Germany", "02": "South America"}),
        Int("Solar Feed to Grid Power", "W", PV_POWER),
    ),
    query(
        "QPIGS2",
        "Live status of PV input 2",
        Float("PV2 Input Current", "A", PV_CURRENT),
        Float("PV2 Input Voltage", "V", PV_VOLTAGE),
        Int("PV2 Charging Power", "W", PV_POWER),
    ),
    qpgs(QPGS_CHARGER_PRIORITY),
    query("QMOD", "Operating mode", Keyed("Device Mode", DEVICE_MODES)),
    query("QPIWS", "Active warnings and faults", Flags(WARNINGS, pi30.PROBLEM)),
    qdi(CHARGER_PRIORITY_LABELS),
    QOPPT_RAW,
    query(
        "QCHPT",
        "Charger source priority of each hour of the day",
        *hourly("Charger Source Priority", SCHEDULE_CHARGER_PRIORITY),
    ),
    query("QT", "Device clock (YYYYMMDDHHMMSS)", Str("Device Time", hints=DIAGNOSTIC)),
    query(
        "QBEQI",
        "Battery equalisation settings and state",
        Option("Equalization Enabled", ("Disabled", "Enabled")),
        Int("Equalization Time", "min", DURATION),
        Int("Equalization Period", "d", DURATION),
        Int("Equalization Max Current", "A"),
        Str("Reserved1", hints=RESERVED),
        Float("Equalization Voltage", "V"),
        Str("Reserved2", hints=RESERVED),
        Int("Equalization Over Time", "min", DURATION),
        Option("Equalization Active", ("Inactive", "Active")),
        Int("Equalization Elasped Time", "h", DURATION),
    ),
    energy(
        "QET",
        "PV energy generated since installation",
        "Total PV Generated Energy",
        None,
    ),
    energy(
        "QEY",
        "PV energy generated in a year (QEY2024)",
        "PV Generated Energy for Year",
        YEAR,
    ),
    energy(
        "QEM",
        "PV energy generated in a month (QEM202401)",
        "PV Generated Energy for Month",
        MONTH,
    ),
    energy(
        "QED",
        "PV energy generated on a day (QED20240115)",
        "PV Generated Energy for Day",
        DATE,
    ),
    energy(
        "QLT",
        "Energy delivered to the load since installation",
        "Total Output Load Energy",
        None,
    ),
    energy("QLY", "Load energy of a year (QLY2024)", "Output Load Energy for Year", YEAR),
    energy(
        "QLM",
        "Load energy of a month (QLM202401)",
        "Output Load Energy for Month",
        MONTH,
    ),
    energy("QLD", "Load energy of a day (QLD20240115)", "Output Load Energy for Day", DATE),
    query(
        "QLED",
        "LED ring settings",
        Option("LED Enabled", ("Disabled", "Enabled")),
        Option("LED Speed", ("Low", "Medium", "Fast")),
        Option("LED Effect", ("Breathing", "Unknown", "Solid", "Right Scrolling")),
        Int("LED Brightness", hints=DIAGNOSTIC),
        Int("LED Number of Colors", hints=DIAGNOSTIC),
        Str("RGB", hints=DIAGNOSTIC),
    ),
)

_RGB = r"(?:[01]\d\d|2[0-4]\d|25[0-5])"

SETTERS = (
    setter("PBT", "Set battery type", Choice(BATTERY_TYPE_CODES)),
    setter("PE", "Enable flag settings (see QFLAG)", Letters(FLAG_LETTERS)),
    setter("PD", "Disable flag settings (see QFLAG)", Letters(FLAG_LETTERS)),
    setter("PLEDE", "Switch the LED ring on or off", Choice({"0": "off", "1": "on"})),
    setter(
        "PLEDS",
        "Set the LED animation speed",
        Choice({"0": "low", "1": "medium", "2": "fast"}),
    ),
    setter(
        "PLEDM",
        "Set the LED effect",
        Choice({"0": "breathing", "2": "solid", "3": "right scrolling"}),
    ),
    setter("PLEDB", "Set the LED brightness (1 dim … 9 brightest)", Number("d", 1, 9, 1)),
    setter("PLEDT", "Set how many LED colours are used", Number("d", 1, 3, 1)),
    setter(
        "PLEDC",
        "Set the LED colour of one mode (mode digit + red, green, blue as 000–255)",
        Pattern(
            rf"[1-3]{_RGB}{_RGB}{_RGB}",
            "a mode digit (1 line, 2 AVR, 3 battery) then red, green and blue as three digits "
            "000–255 each, e.g. 1255000255",
        ),
    ),
)

_commands = table(*QUERIES, *SETTERS, base=pi30.COMMANDS)
del _commands["QVFW2"]  # MAX units have no second CPU version query (QVFW3 / VERFW instead)
COMMANDS = MappingProxyType(_commands)

# -- settings model ----------------------------------------------------------------------------


def switch(letter: str) -> Setting:
    """Define the on/off setting of QFLAG letter ``letter`` (PE / PD)."""
    name = FLAG_LETTERS[letter]
    key = name.lower().replace(" ", "_")
    return Setting(key, name, SettingKind.SWITCH, "QFLAG", key, on=f"PE{letter}", off=f"PD{letter}")


_settings = settings_table(
    dataclasses.replace(pi30.SETTINGS["output_source_priority"], options=OUTPUT_PRIORITY),
    dataclasses.replace(
        pi30.SETTINGS["battery_type"],
        # 07 (BAK) reads back as "TBD" in QPIRI, so it is left out of the select.
        options={code: BATTERY_TYPES[int(code)] for code in BATTERY_TYPE_CODES if code != "07"},
    ),
    Setting(
        "max_discharging_current",
        "Max battery discharging current",
        SettingKind.NUMBER,
        "QPIRI",
        "max_discharging_current",
        write="PBATMAXDISC{value:03d}",
        minimum=0,
        maximum=150,
        step=1,
        unit="A",
        safety=True,
        description="0 removes the limit; otherwise 30–150 A.",
    ),
    switch("d"),
    base=pi30.SETTINGS,
)
del _settings["power_saving"]  # MAX units report "d" (feed to grid) where PI30 has "j"
SETTINGS = MappingProxyType(_settings)

STATUS_COMMANDS = ("QPIGS", "QPIGS2", "QMOD", "QPIWS")


class PI30MAX(pi30.PI30):
    """PI30 MAX protocol (LV6048MAX, MKS2, Axpert MAX and similar): PI30 plus PV2, energy, LED."""

    id: ClassVar[str] = "pi30max"
    description: ClassVar[str] = "Voltronic PI30 MAX (LV6048MAX, MKS2/MKS3, Axpert MAX…)"
    commands = COMMANDS
    settings = SETTINGS
    status_commands = STATUS_COMMANDS
    settings_commands = ("QPIRI", "QFLAG")
    id_commands = ("QPI", "QGMN", "QMN")

    def decode(self, command: str, frame: bytes) -> Result:
        """Decode as PI30 does; energy-by-period answers also echo the requested date."""
        result = super().decode(command, frame)
        definition, text = self.resolve(command)
        if definition.options.get("period") is not True or not text:
            return result
        values = dict(result)
        values.update(period_values(text))
        info = {**definition.info, **{s.key: i for s in PERIOD_SPECS for i in s.info()}}
        return Result(result.command, values, result.raw, info)
