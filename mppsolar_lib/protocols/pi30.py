"""PI30: the most common Voltronic protocol (Axpert / MPP-Solar PIP / EASUN / MKS…).

Frames are ``COMMAND`` + CRC-16/XMODEM + CR; answers ``(`` payload CRC CR. Variants (PI30MAX,
PI30M044, PI30M045, PI30MST, PI30REVO, PI41) start from :data:`COMMANDS` and add or override
entries.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import Choice, Letters, Number, Pattern, query, setter
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
    Rest,
    Str,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table
from mppsolar_lib.protocols.voltronic import VoltronicProtocol

# -- shared vocabularies ----------------------------------------------------------------------

OUTPUT_PRIORITY = {"00": "Utility first", "01": "Solar first", "02": "SBU first"}
CHARGER_PRIORITY_CODES = {
    "00": "Utility first",
    "01": "Solar first",
    "02": "Solar + Utility",
    "03": "Only solar charging permitted",
}
BATTERY_TYPES = (
    "AGM",
    "Flooded",
    "User",
    "Pylontech",
    "Shinheung",
    "WECO",
    "Soltaro",
    "TBD",
    "LIb-protocol compatible",
    "3rd party Lithium",
)
OUTPUT_MODES = (
    "single machine output",
    "parallel output",
    "Phase 1 of 3 Phase output",
    "Phase 2 of 3 Phase output",
    "Phase 3 of 3 Phase output",
    "Phase 1 of 2 phase output",
    "Phase 2 of 2 phase output",
)
PV_OK_CONDITION = (
    "As long as one unit of inverters has connect PV, parallel system will consider PV OK",
    "Only All of inverters have connect PV, parallel system will consider PV OK",
)
PV_POWER_BALANCE = (
    "PV input max current will be the max charged current",
    "PV input max power will be the sum of the max charged power and loads power",
)
ENABLE_DISABLE = ("disabled", "enabled")

#: QFLAG / PE / PD setting letters.
FLAG_LETTERS = {
    "a": "Buzzer",
    "b": "Overload Bypass",
    "j": "Power Saving",
    "k": "LCD Reset to Default",
    "u": "Overload Restart",
    "v": "Over Temperature Restart",
    "x": "LCD Backlight",
    "y": "Primary Source Interrupt Alarm",
    "z": "Record Fault Code",
}

DEVICE_MODES = {
    "P": "Power on",
    "S": "Standby",
    "L": "Line",
    "B": "Battery",
    "F": "Fault",
    "H": "Power saving",
    "Y": "Bypass",
}

FAULT_CODES = {
    "00": "No fault",
    "01": "Fan is locked",
    "02": "Over temperature",
    "03": "Battery voltage is too high",
    "04": "Battery voltage is too low",
    "05": "Output short circuited or Over temperature",
    "06": "Output voltage is too high",
    "07": "Over load time out",
    "08": "Bus voltage is too high",
    "09": "Bus soft start failed",
    "11": "Main relay failed",
    "51": "Over current inverter",
    "52": "Bus soft start failed",
    "53": "Inverter soft start failed",
    "54": "Self-test failed",
    "55": "Over DC voltage on output of inverter",
    "56": "Battery connection is open",
    "57": "Current sensor failed",
    "58": "Output voltage is too low",
    "60": "Inverter negative power",
    "71": "Parallel version different",
    "72": "Output circuit failed",
    "80": "CAN communication failed",
    "81": "Parallel host line lost",
    "82": "Parallel synchronized signal lost",
    "83": "Parallel battery voltage detect different",
    "84": "Parallel Line voltage or frequency detect different",
    "85": "Parallel Line input current unbalanced",
    "86": "Parallel output setting different",
}

#: QPIWS positions (index 0 is reserved).
WARNINGS = (
    "",
    "Inverter fault",
    "Bus over fault",
    "Bus under fault",
    "Bus soft fail fault",
    "Line fail warning",
    "OPV short warning",
    "Inverter voltage too low fault",
    "Inverter voltage too high fault",
    "Over temperature fault",
    "Fan locked fault",
    "Battery voltage too high fault",
    "Battery low alarm warning",
    "Reserved",
    "Battery under shutdown warning",
    "Reserved",
    "Overload fault",
    "EEPROM fault",
    "Inverter over current fault",
    "Inverter soft fail fault",
    "Self test fail fault",
    "OP DC voltage over fault",
    "Battery open fault",
    "Current sensor fail fault",
    "Battery short fault",
    "Power limit warning",
    "PV voltage high warning",
    "MPPT overload fault",
    "MPPT overload warning",
    "Battery too low to charge warning",
)

PROBLEM = Hints(device_class="problem", entity_category="diagnostic")
TEMPERATURE = Hints("temperature", "measurement")
SOLAR_POWER = Hints("power", "measurement", icon="mdi:solar-power")
ID = DIAGNOSTIC

# -- commands ---------------------------------------------------------------------------------

_VOLTS = "written as dd.d volts"

QUERIES = (
    query(
        "Q1",
        "Extra status: charging stage timers, temperatures, fan and SCC state",
        Int("Time until the end of absorb charging", "s"),
        Int("Time until the end of float charging", "s"),
        Option("SCC Flag", ("SCC not communicating?", "SCC is powered and communicating")),
        Str("AllowSccOnFlag", hints=DIAGNOSTIC),
        Str("ChargeAverageCurrent", hints=DIAGNOSTIC),
        Int("SCC PWM temperature", "°C"),
        Int("Inverter temperature", "°C"),
        Int("Battery temperature", "°C"),
        Int("Transformer temperature", "°C"),
        Int("GPIO13", hints=DIAGNOSTIC),
        Option("Fan lock status", ("Not locked", "Locked")),
        Str("Not used", hints=Hints(entity_category="diagnostic", enabled_default=False)),
        Int("Fan PWM speed", "%"),
        Int("SCC charge power", "W", SOLAR_POWER),
        Str("Parallel Warning", hints=DIAGNOSTIC),
        Float("Sync frequency", "Hz"),
        Keyed(
            "Inverter charge status",
            {"10": "nocharging", "11": "bulk stage", "12": "absorb", "13": "float"},
            Hints(icon="mdi:book-open"),
        ),
    ),
    query("QBOOT", "Whether the DSP has a bootstrap", Option("DSP Has Bootstrap", ("No", "Yes"))),
    query(
        "QDI",
        "Factory default settings",
        Float("AC Output Voltage", "V"),
        Float("AC Output Frequency", "Hz"),
        Int("Max AC Charging Current", "A"),
        Float("Battery Under Voltage", "V"),
        Float("Battery Float Charge Voltage", "V"),
        Float("Battery Bulk Charge Voltage", "V"),
        Float("Battery Recharge Voltage", "V"),
        Int("Max Charging Current", "A"),
        Option("Input Voltage Range", ("Appliance", "UPS")),
        Option("Output Source Priority", tuple(OUTPUT_PRIORITY.values())),
        Option("Charger Source Priority", tuple(CHARGER_PRIORITY_CODES.values())),
        Option("Battery Type", ("AGM", "Flooded", "User")),
        Option("Buzzer", ("enabled", "disabled")),
        Option("Power saving", ENABLE_DISABLE),
        Option("Overload restart", ENABLE_DISABLE),
        Option("Over temperature restart", ENABLE_DISABLE),
        Option("LCD Backlight", ENABLE_DISABLE),
        Option("Primary source interrupt alarm", ENABLE_DISABLE),
        Option("Record fault code", ENABLE_DISABLE),
        Option("Overload bypass", ENABLE_DISABLE),
        Option("LCD reset to default", ENABLE_DISABLE),
        Option("Output mode", (*OUTPUT_MODES, "unknown output phase")),
        Float("Battery Redischarge Voltage", "V"),
        Option("PV OK condition", PV_OK_CONDITION),
        Option("PV Power Balance", PV_POWER_BALANCE),
    ),
    query(
        "QFLAG",
        "Enabled/disabled state of the buzzer, bypass, backlight… flags",
        EnableFlags(FLAG_LETTERS),
    ),
    query("QID", "Serial number", Str("Serial Number", hints=ID)),
    query(
        "QMCHGCR",
        "Max charging current values the unit accepts",
        Str("Max Charging Current", "A", DIAGNOSTIC),
    ),
    query("QMOD", "Operating mode", Keyed("Device Mode", DEVICE_MODES)),
    query("QMN", "Model name", Rest("Model Name", hints=ID)),
    query("QGMN", "General model number", Rest("General Model Name", hints=ID)),
    query(
        "QMUCHGCR",
        "Max utility (AC) charging current values the unit accepts",
        Str("Max Utility Charging Current", "A", DIAGNOSTIC),
    ),
    query("QOPM", "Output mode", Option("Output mode", (*OUTPUT_MODES, "unknown output phase"))),
    query(
        "QPGS",
        "Status of one unit of a parallel system (QPGS0, QPGS1, …)",
        Option("Parallel instance number", ("Not valid", "valid")),
        Str("Serial number", hints=ID),
        Keyed(
            "Work mode",
            {
                "P": "Power On Mode",
                "S": "Standby Mode",
                "L": "Line Mode",
                "B": "Battery Mode",
                "F": "Fault Mode",
                "H": "Power Saving Mode",
            },
        ),
        Keyed("Fault code", FAULT_CODES),
        Float("Grid voltage", "V"),
        Float("Grid frequency", "Hz"),
        Float("AC output voltage", "V"),
        Float("AC output frequency", "Hz"),
        Int("AC output apparent power", "VA"),
        Int("AC output active power", "W"),
        Int("Load percentage", "%"),
        Float("Battery voltage", "V"),
        Int("Battery charging current", "A"),
        Int("Battery capacity", "%", Hints("battery", "measurement")),
        Float("PV Input Voltage", "V"),
        Int("Total charging current", "A"),
        Int("Total AC output apparent power", "VA"),
        Int("Total output active power", "W"),
        Int("Total AC output percentage", "%"),
        Flags(
            (
                "Is SCC OK",
                "Is AC Charging",
                "Is SCC Charging",
                "Is Battery Over Voltage",
                "Is Battery Under Voltage",
                "Is Line Lost",
                "Is Load On",
                "Is Configuration Changed",
            )
        ),
        Option(
            "Output mode",
            (
                "single machine",
                "parallel output",
                "Phase 1 of 3 phase output",
                "Phase 2 of 3 phase output",
                "Phase 3 of 3 phase output",
                "Phase 1 of 2 phase output",
                "Phase 2 of 2 phase output",
                "Unknown Output Mode",
            ),
        ),
        Option(
            "Charger source priority",
            ("Utility first", "Solar first", "Solar + Utility", "Solar only"),
        ),
        Int("Max charger current", "A"),
        Int("Max charger range", "A"),
        Int("Max AC charger current", "A"),
        Int("PV input current", "A"),
        Int("Battery discharge current", "A"),
        Float("Unknown float", hints=DIAGNOSTIC),
        Str("Unknown flags?", hints=DIAGNOSTIC),
        param=Pattern(r"\d{1,2}", "the unit's index in the parallel system, 0–99"),
    ),
    query("QPI", "Protocol id", Str("Protocol ID", hints=ID)),
    query(
        "QPIGS",
        "Live status: grid, output, battery, PV",
        Float(
            "AC Input Voltage", "V", Hints("voltage", "measurement", icon="mdi:transmission-tower")
        ),
        Float("AC Input Frequency", "Hz"),
        Float("AC Output Voltage", "V"),
        Float("AC Output Frequency", "Hz"),
        Int("AC Output Apparent Power", "VA"),
        Int("AC Output Active Power", "W"),
        Int("AC Output Load", "%"),
        Int("BUS Voltage", "V"),
        Float("Battery Voltage", "V"),
        Int("Battery Charging Current", "A"),
        Int("Battery Capacity", "%", Hints("battery", "measurement")),
        Int("Inverter Heat Sink Temperature", "°C"),
        Float("PV Input Current for Battery", "A"),
        Float("PV Input Voltage", "V"),
        Float("Battery Voltage from SCC", "V"),
        Int("Battery Discharge Current", "A"),
        Flags(
            (
                "Is SBU Priority Version Added",
                "Is Configuration Changed",
                "Is SCC Firmware Updated",
                "Is Load On",
                "Is Battery Voltage to Steady While Charging",
                "Is Charging On",
                "Is SCC Charging On",
                "Is AC Charging On",
            )
        ),
        Int("RSV1", "A", RESERVED),
        Int("RSV2", "A", RESERVED),
        Int("PV Input Power", "W", SOLAR_POWER),
        Flags(("Is Charging to Float", "Is Switched On", "Is Reserved")),
    ),
    query(
        "QPIRI",
        "Current settings (ratings, voltages, priorities)",
        Float("AC Input Voltage", "V"),
        Float("AC Input Current", "A"),
        Float("AC Output Voltage", "V"),
        Float("AC Output Frequency", "Hz"),
        Float("AC Output Current", "A"),
        Int("AC Output Apparent Power", "VA"),
        Int("AC Output Active Power", "W"),
        Float("Battery Voltage", "V"),
        Float("Battery Recharge Voltage", "V"),
        Float("Battery Under Voltage", "V"),
        Float("Battery Bulk Charge Voltage", "V"),
        Float("Battery Float Charge Voltage", "V"),
        Option("Battery Type", BATTERY_TYPES),
        Int("Max AC Charging Current", "A"),
        Int("Max Charging Current", "A"),
        Option("Input Voltage Range", ("Appliance", "UPS")),
        Option("Output Source Priority", tuple(OUTPUT_PRIORITY.values())),
        Option("Charger Source Priority", tuple(CHARGER_PRIORITY_CODES.values())),
        Int("Max Parallel Units", hints=DIAGNOSTIC),
        Keyed("Machine Type", {"00": "Grid tie", "01": "Off Grid", "10": "Hybrid"}),
        Option("Topology", ("transformerless", "transformer")),
        Option("Output Mode", (*OUTPUT_MODES, "unknown output")),
        Float("Battery Redischarge Voltage", "V"),
        Option("PV OK Condition", PV_OK_CONDITION),
        Option("PV Power Balance", PV_POWER_BALANCE),
        Int("Max charging time for CV stage", "min"),
        Option("Operation Logic", ("Automatic mode", "On-line mode", "ECO mode")),
    ),
    query("QPIWS", "Active warnings and faults", Flags(WARNINGS, PROBLEM)),
    query("QVFW", "Main CPU firmware version", Str("Main CPU firmware version", hints=ID)),
    query(
        "QVFW2", "Secondary CPU firmware version", Str("Secondary CPU firmware version", hints=ID)
    ),
    query(
        "QBMS",
        "Lithium battery information reported by the BMS",
        Keyed("Battery connect status", {"0": "Connected", "1": "Disconnected"}),
        Int("Battery capacity from BMS", "%", Hints("battery", "measurement")),
        Keyed("Battery force charging", {"0": "No", "1": "Yes"}),
        Keyed("Battery stop discharge flag", {"0": "Enable discharge", "1": "Disable discharge"}),
        Keyed("Battery stop charge flag", {"0": "Enable charge", "1": "Disable charge"}),
        Int("Battery bulk charging voltage from BMS", "V", scale=0.1),
        Int("Battery float charging voltage from BMS", "V", scale=0.1),
        Int("Battery cut off voltage from BMS", "V", scale=0.1),
        Float("Battery max charging current", "A"),
        Float("Battery max discharge current", "A"),
    ),
)

SETTERS = (
    setter("F", "Set output frequency", Choice({"50": "50 Hz", "60": "60 Hz"})),
    setter(
        "MCHGC",
        "Set max charging current (unit digit + 2-digit amps: MCHGC040 = unit 0, 40 A)",
        Pattern(r"\d\d\d", "a unit digit and a two-digit current, e.g. 040 for unit 0 at 40 A"),
    ),
    setter(
        "MNCHGC",
        "Set max charging current of 100 A or more (unit digit + 3-digit amps)",
        Pattern(r"\d\d\d\d", "a unit digit and a three-digit current, e.g. 0120"),
    ),
    setter(
        "MUCHGC",
        "Set max utility (AC) charging current (unit digit + 2-digit amps)",
        Pattern(r"\d\d\d", "a unit digit and a two-digit current, e.g. 030 for unit 0 at 30 A"),
    ),
    setter(
        "PBCV",
        "Set battery re-charge voltage (back to grid charging below it)",
        Number("dd.d", 11.0, 64.0, 0.1, unit="V"),
    ),
    setter(
        "PBDV",
        "Set battery re-discharge voltage (00.0 = when fully charged)",
        Number("dd.d", 12.0, 64.0, 0.1, also=("00.0",), unit="V"),
    ),
    setter("PBFT", "Set battery float charging voltage", Number("dd.d", 12.0, 64.0, 0.1, unit="V")),
    setter("PBT", "Set battery type", Choice({"00": "AGM", "01": "Flooded", "02": "User"})),
    setter("PCP", "Set charger source priority", Choice(CHARGER_PRIORITY_CODES)),
    setter(
        "PCVV",
        "Set battery constant-voltage (bulk) charging voltage",
        Number("dd.d", 12.0, 64.0, 0.1, unit="V"),
    ),
    setter("PE", "Enable flag settings (see QFLAG)", Letters(FLAG_LETTERS)),
    setter("PD", "Disable flag settings (see QFLAG)", Letters(FLAG_LETTERS)),
    setter("PF", "Reset control parameters to their defaults"),
    setter("PGR", "Set AC input voltage range", Choice({"00": "Appliance", "01": "UPS"})),
    setter("POP", "Set output source priority", Choice(OUTPUT_PRIORITY)),
    setter(
        "POPLG",
        "Set operation logic",
        Choice({"00": "Automatic mode", "01": "On-line mode", "02": "ECO mode"}),
    ),
    setter(
        "POPM",
        "Set the output mode of one parallel unit (unit digit + mode 0–4)",
        Pattern(r"\d[0-4]", "a unit digit and a mode digit 0–4, e.g. 01 for unit 0 parallel"),
    ),
    setter(
        "PPCP",
        "Set charger priority of one parallel unit (unit digit + 00–03)",
        Pattern(r"\d0[0-3]", "a unit digit and 00–03, e.g. 101 for unit 1 solar first"),
    ),
    setter(
        "PPVOKC",
        "Set the parallel PV OK condition",
        Choice(dict(zip("01", PV_OK_CONDITION, strict=True))),
    ),
    setter("PSDV", "Set battery cut-off voltage", Number("dd.d", 10.0, 64.0, 0.1, unit="V")),
    setter(
        "PSPB", "Set solar power balance", Choice(dict(zip("01", PV_POWER_BALANCE, strict=True)))
    ),
    setter(
        "PBATCD",
        "Battery charge/discharge control (three 0/1 digits; read the manual first)",
        Pattern(r"[01][01][01]", "three digits each 0 or 1"),
    ),
    setter(
        "DAT",
        "Set date and time (YYYYMMDDHHMMSS)",
        Pattern(
            r"20\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d[0-5]\d",
            "14 digits YYYYMMDDHHMMSS, e.g. 20240115123000",
        ),
    ),
    setter(
        "PBATMAXDISC",
        "Set battery max discharge current (000 disables the limit)",
        Pattern(r"000|0[3-9]\d|1[0-4]\d|150", "000 (no limit) or 030–150 A as three digits"),
    ),
    setter(
        "BTA",
        "Calibrate the battery voltage reading in 0.05 V steps",
        Pattern(r"[-+]0\d", "-09…+09 (each step is 0.05 V), e.g. +03"),
    ),
    setter("PSAVE", "Save changes to EEPROM"),
)

COMMANDS = MappingProxyType(table(*QUERIES, *SETTERS))

# -- settings model ---------------------------------------------------------------------------


def _voltage(key: str, name: str, field: str, write: str, lo: float, hi: float) -> Setting:
    return Setting(
        key,
        name,
        SettingKind.NUMBER,
        "QPIRI",
        field,
        write=write + "{value:04.1f}",
        minimum=lo,
        maximum=hi,
        step=0.1,
        unit="V",
        safety=True,
    )


def _flag(letter: str) -> Setting:
    name = FLAG_LETTERS[letter]
    key = name.lower().replace(" ", "_")
    return Setting(
        key,
        name,
        SettingKind.SWITCH,
        "QFLAG",
        key,
        on=f"PE{letter}",
        off=f"PD{letter}",
    )


SETTINGS = MappingProxyType(
    settings_table(
        Setting(
            "output_source_priority",
            "Output source priority",
            SettingKind.SELECT,
            "QPIRI",
            "output_source_priority",
            write="POP{code}",
            options=OUTPUT_PRIORITY,
        ),
        Setting(
            "charger_source_priority",
            "Charger source priority",
            SettingKind.SELECT,
            "QPIRI",
            "charger_source_priority",
            write="PCP{code}",
            options=CHARGER_PRIORITY_CODES,
        ),
        Setting(
            "battery_type",
            "Battery type",
            SettingKind.SELECT,
            "QPIRI",
            "battery_type",
            write="PBT{code}",
            options={"00": "AGM", "01": "Flooded", "02": "User"},
            safety=True,
        ),
        Setting(
            "input_voltage_range",
            "AC input voltage range",
            SettingKind.SELECT,
            "QPIRI",
            "input_voltage_range",
            write="PGR{code}",
            options={"00": "Appliance", "01": "UPS"},
        ),
        Setting(
            "pv_ok_condition",
            "PV OK condition (parallel)",
            SettingKind.SELECT,
            "QPIRI",
            "pv_ok_condition",
            write="PPVOKC{code}",
            options=dict(zip("01", PV_OK_CONDITION, strict=True)),
        ),
        Setting(
            "pv_power_balance",
            "PV power balance",
            SettingKind.SELECT,
            "QPIRI",
            "pv_power_balance",
            write="PSPB{code}",
            options=dict(zip("01", PV_POWER_BALANCE, strict=True)),
        ),
        Setting(
            "operation_logic",
            "Operation logic",
            SettingKind.SELECT,
            "QPIRI",
            "operation_logic",
            write="POPLG{code}",
            options={"00": "Automatic mode", "01": "On-line mode", "02": "ECO mode"},
        ),
        Setting(
            "max_charging_current",
            "Max charging current",
            SettingKind.NUMBER,
            "QPIRI",
            "max_charging_current",
            write="MCHGC0{value:02d}",
            large_from=100,
            write_large="MNCHGC0{value:03d}",
            minimum=1,
            maximum=200,
            step=1,
            unit="A",
            options_command="QMCHGCR",
            safety=True,
        ),
        Setting(
            "max_ac_charging_current",
            "Max utility (AC) charging current",
            SettingKind.NUMBER,
            "QPIRI",
            "max_ac_charging_current",
            write="MUCHGC0{value:02d}",
            minimum=1,
            maximum=99,
            step=1,
            unit="A",
            options_command="QMUCHGCR",
            safety=True,
            description="Values of 100 A or more cannot be expressed by the PI30 MUCHGC command.",
        ),
        _voltage(
            "battery_recharge_voltage",
            "Battery re-charge voltage",
            "battery_recharge_voltage",
            "PBCV",
            11.0,
            64.0,
        ),
        Setting(
            "battery_redischarge_voltage",
            "Battery re-discharge voltage",
            SettingKind.NUMBER,
            "QPIRI",
            "battery_redischarge_voltage",
            write="PBDV{value:04.1f}",
            minimum=0.0,
            maximum=64.0,
            step=0.1,
            unit="V",
            safety=True,
            description="0 means: when the battery is fully charged.",
        ),
        _voltage(
            "battery_under_voltage",
            "Battery cut-off voltage",
            "battery_under_voltage",
            "PSDV",
            10.0,
            64.0,
        ),
        _voltage(
            "battery_bulk_charge_voltage",
            "Battery bulk (C.V.) charging voltage",
            "battery_bulk_charge_voltage",
            "PCVV",
            12.0,
            64.0,
        ),
        _voltage(
            "battery_float_charge_voltage",
            "Battery float charging voltage",
            "battery_float_charge_voltage",
            "PBFT",
            12.0,
            64.0,
        ),
        *(_flag(letter) for letter in FLAG_LETTERS),
    )
)


class PI30(VoltronicProtocol):
    """PI30 protocol (Axpert / MPP-Solar PIP / EASUN and similar)."""

    id: ClassVar[str] = "pi30"
    description: ClassVar[str] = "Voltronic PI30 (Axpert, MPP-Solar PIP, EASUN, MKS…)"
    commands = COMMANDS
    settings = SETTINGS
    # Mode and warnings are status too (the reference's --getstatus reads QPIGS and Q1 only).
    status_commands = ("QPIGS", "QMOD", "QPIWS", "Q1")
    settings_commands = ("QPIRI", "QFLAG")
    id_commands = ("QPI", "QGMN", "QMN")
