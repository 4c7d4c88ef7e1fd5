"""PI17: the Voltronic protocol of the Infini-Solar 3-phase / WP / TWIN hybrid inverters.

Requests carry no CRC: ``^P`` (query) or ``^S`` (setter), a three-digit length counting the
command text plus the CR, the command, CR (``^P003GS`` + CR). The energy-by-period queries
(``EY``/``EM``/``ED``/``EH`` + date) also append the byte sum of everything before it, modulo 256,
as three decimal digits (``^P010EY2024`` + ``165`` + CR); the length counts those digits too.

Answers are ``^D`` + three-digit length (payload + CRC + CR) + comma-separated payload + a plain
CRC-16/XMODEM (reserved bytes are *not* bumped: a CRC byte can be a CR) + CR. Setters are answered
``^1`` (accepted) or ``^0`` (refused), each with its CRC. PI17INFINI and PI17M058 start from
:data:`COMMANDS` and :data:`SETTINGS` of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import (
    Choice,
    Command,
    Date,
    Number,
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
    Hints,
    Int,
    Keyed,
    Option,
    Spec,
    Str,
)
from mppsolar_lib.protocols.pi30max import DATE, HOUR, MONTH, YEAR
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table
from mppsolar_lib.protocols.voltronic import CaretProtocol
from mppsolar_lib.protocols.voltronic_specs import LinkedSetting

# -- parameters --------------------------------------------------------------------------------

HHMM = r"(?:[01]\d|2[0-3])[0-5]\d"
ON_OFF = Choice({"0": "disable", "1": "enable"})

_TENTH_V = "tenths of a volt"
_TENTH_A = "tenths of an ampere"
#: Tenths of a volt as four digits (``0576`` = 57.6 V) within the range the setters accept.
VOLTS_40_59 = Number("dddd", 400, 599, unit=_TENTH_V)
VOLTS_40_69 = Number("dddd", 400, 699, unit=_TENTH_V)

# -- vocabularies ------------------------------------------------------------------------------

MACHINE_NUMBERS = {
    "000": "Infini-Solar 10KW/3P",
    "001": "Infini-Solar 15KW/3P",
    "002": "Infini-Solar 15KW/3P-custom",
    "003": "Infini-Solar WP (Infini WP 12K/15K)",
    "004": "Infini-Solar WP 30KW/3P",
    "005": "Infini-Solar WP LV 6KW/2P",
    "006": "Infini-Solar WP TWIN",
}
WORKING_MODES = {
    "00": "Power on mode",
    "01": "Standby mode",
    "02": "Bypass mode",
    "03": "Battery mode",
    "04": "Fault mode",
    "05": "Hybrid mode (Line mode, Grid mode)",
    "06": "Charge mode",
}
#: SEP codes and the HECS labels they read back as.
ENERGY_PRIORITY = {"00": "Battery-Load-Grid", "01": "Load-Battery-Grid", "02": "Load-Grid-Battery"}
BATTERY_TYPES = ("Ordinary", "Li-Fe")
CAP_ENABLED = ("Disabled", "Enabled")
LOW_ENABLED = ("disabled", "enabled")

#: FLAG positions: each a buzzer or input behaviour, set by PA…PF.
FLAG_NAMES = (
    "Mute buzzer beep",
    "Mute buzzer beep in standby mode",
    "Mute buzzer beep only on battery discharged status",
    "Generator as AC input",
    "Wide AC input range",
    "N/G relay function",
)
#: HECS positions after the priority: each switched by EDA…EDG.
HECS_NAMES = (
    "Solar charge battery",
    "AC charge battery",
    "Feed power to utility",
    "Battery discharge to loads when solar input normal",
    "Battery discharge to loads when solar input loss",
    "Battery discharge to feed grid when solar input normal",
    "Battery discharge to feed grid when solar input loss",
)
#: WS positions: ``enabled`` means the warning is active.
WARNINGS = (
    "Solar input 1 loss",
    "Solar input 2 loss",
    "Solar input 1 voltage too high",
    "Solar input 2 voltage too high",
    "Battery under voltage",
    "Battery low voltage",
    "Battery disconnected",
    "Battery over voltage",
    "Battery low in hybrid mode",
    "Grid voltage high loss",
    "Grid voltage low loss",
    "Grid frequency high loss",
    "Grid frequency low loss",
    "AC input long-time average voltage over",
    "AC input voltage loss",
    "AC input frequency loss",
    "AC input island",
    "AC input phase dislocation",
    "Over temperature",
    "Over load",
    "Emergency Power Off active",
    "AC input wave loss",
)

ID = DIAGNOSTIC
HIDDEN = Hints(entity_category="diagnostic", enabled_default=False)
SOLAR_POWER = Hints("power", "measurement", icon="mdi:solar-power")
APPARENT = Hints("apparent_power", "measurement")
#: Lifetime counter, and counters that restart with each year/month/day/hour.
TOTAL_ENERGY = Hints("energy", "total_increasing", icon="mdi:counter")
PERIOD_ENERGY = Hints("energy", "total")
BATTERY = Hints("battery", "measurement")


def tenths(name: str, unit: str, hints: Hints | None = None) -> Int:
    """Define an integer field sent in tenths of ``unit`` (``2300`` -> 230.0 V)."""
    return Int(name, unit, hints, scale=0.1)


def hundredths(name: str, unit: str) -> Int:
    """Define an integer field sent in hundredths of ``unit`` (``5002`` -> 50.02 Hz)."""
    return Int(name, unit, scale=0.01)


def energy(name: str, description: str, label: str, param: Pattern) -> Command:
    """Define an energy-by-period query (its request carries the byte-sum digits)."""
    return query(name, description, Int(label, "Wh", PERIOD_ENERGY), param=param, date_sum=True)


# -- commands ----------------------------------------------------------------------------------

#: BATS as the reference's current table lays it out (positions 19–23: state-of-charge limits).
BATS = query(
    "BATS",
    "Battery settings: charge currents and voltages, cut-off and recovery points, type",
    tenths("Battery maximum charge current", "A"),
    tenths("Battery constant charge voltage(C.V.)", "V"),
    tenths("Battery floating charge voltage", "V"),
    tenths("Battery stop charger current level in floating charging", "A"),
    Int("Keep charged time of battery catch stopped charging current level", "min"),
    tenths(
        "Battery voltage of recover to charge when battery stop charger in floating charging",
        "V",
    ),
    tenths("Battery under voltage", "V"),
    tenths("Battery under back voltage", "V"),
    tenths("Battery weak voltage in hybrid mode", "V"),
    tenths("Battery weak back voltage in hybrid mode", "V"),
    Option("Battery Type", BATTERY_TYPES),
    Str("Reserved 1", hints=RESERVED),
    Str("Reserved 2", hints=RESERVED),
    Option("AC charger keep battery voltage function", CAP_ENABLED),
    tenths("AC charger keep battery voltage", "V"),
    tenths("Battery temperature sensor compensation", "mV"),
    tenths("Max. AC charging current", "A"),
    Int("Battery discharge max current in hybrid mode", "A"),
    # Kept as the digits sent ("010"), as the reference reports them; PI17M058 reads numbers.
    Str("Battery under Soc", "%"),
    Str("Battery under back Soc", "%"),
    Str("Battery weak Soc", "%"),
    Str("Battery weak back Soc", "%"),
    Str("Battery under Soc to 2nd", "%"),
)

QUERIES = (
    query(
        "GPMP",
        "Maximum power fed to the grid",
        Int("Maximum Feeding Grid power", "W", Hints("power")),
    ),
    query("PI", "Protocol version", Str("Protocol Version", hints=ID)),
    query("ID", "Serial number", Str("Serial Number", hints=ID)),
    query("VFW", "Main CPU firmware version", Str("CPU Version", hints=ID)),
    query("VFW2", "Secondary CPU firmware version", Str("CPU 2 Version", hints=ID)),
    query(
        "MD",
        "Model: machine number, ratings, phases, battery layout",
        Keyed("Machine number", MACHINE_NUMBERS, ID),
        Int("Output rated VA", "VA", ID),
        Int("Output power factor", hints=Hints("power_factor", None, "diagnostic"), scale=0.01),
        Int("AC input phase number", hints=ID),
        Int("AC output phase number", hints=ID),
        tenths("Norminal AC output voltage", "V", ID),
        tenths("Norminal AC input voltage", "V", ID),
        Int("Battery piece number", hints=ID),
        tenths("Battery standard voltage per unit", "V", ID),
    ),
    query(
        "DI",
        "Default values of the changeable parameters",
        tenths("AC input highest voltage for feed power", "V", DIAGNOSTIC),
        tenths("AC input lowest voltage for feed power", "V", DIAGNOSTIC),
        Int("AC input highest frequency for feed power", "Hz", DIAGNOSTIC, scale=0.01),
        Int("AC input lowest frequency for feed power", "Hz", DIAGNOSTIC, scale=0.01),
        tenths("Solar input highest MPPT voltage", "V", DIAGNOSTIC),
        tenths("Solar input lowest MPPT voltage", "V", DIAGNOSTIC),
        tenths("Solar input highest voltage", "V", DIAGNOSTIC),
        tenths("Solar input lowest voltage", "V", DIAGNOSTIC),
        tenths("Solar input highest average voltage", "V", DIAGNOSTIC),
        # Sent in units of 30 s (LST's codes): 02 -> 60 s.
        Int("LCD sleep wait time", "s", DIAGNOSTIC, scale=30),
        tenths("Battery maximum charge current", "A", DIAGNOSTIC),
        tenths("Battery constant charge voltage CV", "V", DIAGNOSTIC),
        tenths("Battery float charge voltage", "V", DIAGNOSTIC),
        Int("The wait time for feed power", "s", DIAGNOSTIC),
        Str("Start time for support loads", hints=DIAGNOSTIC),
        Str("Ending time for support loads", hints=DIAGNOSTIC),
        Str("Start time for AC charger", hints=DIAGNOSTIC),
        Str("Ending time for AC charger", hints=DIAGNOSTIC),
        tenths("Battery under voltage", "V", DIAGNOSTIC),
        tenths("Battery under back voltage", "V", DIAGNOSTIC),
        tenths("Battery weak voltage in hybrid mode", "V", DIAGNOSTIC),
        tenths("Battery weak back voltage in hybrid mode", "V", DIAGNOSTIC),
        tenths("Battery stop charge current level in floating charging", "A", DIAGNOSTIC),
        # The reference labels this a current in tenths; BATS reports the same value in minutes.
        Int("Keep charged time of battery catch stop charger current level", "min", DIAGNOSTIC),
        tenths(
            "Battery voltage of recover to charge when battery stop charger in floating charging",
            "V",
            DIAGNOSTIC,
        ),
    ),
    query("DM", "Machine model code", Str("model_code", hints=ID)),
    query(
        "INGS",
        "Input and output currents per phase, DC bus voltages",
        tenths("Input current R", "A"),
        tenths("Input current S", "A"),
        tenths("Input current T", "A"),
        tenths("Output current R", "A"),
        tenths("Output current S", "A"),
        tenths("Output current T", "A"),
        tenths("PBusVolt", "V"),
        tenths("NBusVolt", "V"),
        tenths("PBusAvgV", "V"),
        tenths("NBusAvgV", "V"),
        tenths("NLintCur", "A"),
    ),
    query(
        "EMINFO",
        "Energy management: default and actual feed-in, PV and reserved hybrid power",
        Int("EMFirst", hints=HIDDEN),
        Int("DefFeed-InPow", "W"),
        Int("ActPvPow", "W", SOLAR_POWER),
        Int("ActFeedPow", "W"),
        Int("ReservPow", "W"),
        Int("EMLast", hints=HIDDEN),
    ),
    query(
        "PIRI",
        "Rated information",
        tenths("AC input rated voltage", "V", ID),
        tenths("AC input rated frequency", "Hz", ID),
        tenths("AC input rated current", "A", ID),
        tenths("AC output rated voltage", "V", ID),
        tenths("AC output rated current", "A", ID),
        tenths("MPPT rated current per string", "A", ID),
        tenths("Battery rated voltage", "V", ID),
        Int("MPPT track number", hints=ID),
        Keyed("Machine type", {"00": "Grid type", "01": "Off-grid type", "10": "Hybrid type"}, ID),
        Option("Topology", ("transformerless", "transformer"), ID),
        Option("Parallel for output", LOW_ENABLED, ID),
        Option("Real-time control", LOW_ENABLED, ID),
    ),
    query(
        "GS",
        "Live status: PV, battery, grid and output per phase, temperatures",
        tenths(
            "Solar input voltage 1", "V", Hints("voltage", "measurement", icon="mdi:solar-power")
        ),
        tenths(
            "Solar input voltage 2", "V", Hints("voltage", "measurement", icon="mdi:solar-power")
        ),
        hundredths("Solar input current 1", "A"),
        hundredths("Solar input current 2", "A"),
        tenths("Battery voltage", "V"),
        Int("Battery capacity", "%", BATTERY),
        tenths("Battery current", "A"),
        tenths("AC input voltage R", "V"),
        tenths("AC input voltage S", "V"),
        tenths("AC input voltage T", "V"),
        hundredths("AC input frequency", "Hz"),
        tenths("AC input current R", "A"),
        tenths("AC input current S", "A"),
        tenths("AC input current T", "A"),
        tenths("AC output voltage R", "V"),
        tenths("AC output voltage S", "V"),
        tenths("AC output voltage T", "V"),
        hundredths("AC output frequency", "Hz"),
        tenths("AC output current R", "A"),
        tenths("AC output current S", "A"),
        tenths("AC output current T", "A"),
        Int("Inner temperature", "°C"),
        Int("Component max temperature", "°C"),
        Int("External Battery temperature", "°C"),
        Option(
            "Setting change bit",
            ("No setting change", "Settings changed - please refresh"),
            DIAGNOSTIC,
        ),
    ),
    query(
        "PS",
        "Power status: PV, battery, grid and output power per phase, power flow directions",
        Int("Solar input power 1", "W", SOLAR_POWER),
        Int("Solar input power 2", "W", SOLAR_POWER),
        Int("Battery power", "W"),
        Int("AC input active power R", "W"),
        Int("AC input active power S", "W"),
        Int("AC input active power T", "W"),
        Int("AC input total active power", "W"),
        Int("AC output active power R", "W"),
        Int("AC output active power S", "W"),
        Int("AC output active power T", "W"),
        Int("AC output total active power", "W"),
        Int("AC output apparent power R", "VA", APPARENT),
        Int("AC output apparent power S", "VA", APPARENT),
        Int("AC output apparent power T", "VA", APPARENT),
        Int("AC output total apparent power", "VA", APPARENT),
        Int("AC output power percentage", "%"),
        Option("AC output connect status", ("Disconnected", "Connected")),
        Option("Solar input 1 work status", ("Idle", "Working")),
        Option("Solar input 2 work status", ("Idle", "Working")),
        Option("Battery power direction", ("Idle", "Charging", "Discharging")),
        Option("DC/AC power direction", ("Idle", "AC to DC", "DC to AC")),
        Option("Line power direction", ("Idle", "Input", "Output")),
    ),
    query("MOD", "Working mode", Keyed("Working mode", WORKING_MODES)),
    query(
        "WS",
        "Active warnings (enabled = the warning is active)",
        *(Option(name, LOW_ENABLED, PROBLEM) for name in WARNINGS),
    ),
    query(
        "FLAG",
        "Buzzer and input flags (PA…PF)",
        *(Option(name, CAP_ENABLED) for name in FLAG_NAMES),
    ),
    query("T", "Device clock (YYYYMMDDHHMMSS)", Str("DateTime", hints=DIAGNOSTIC)),
    query(
        "ET",
        "Energy generated since installation",
        Int("Generated Energy Total", "kWh", TOTAL_ENERGY),
    ),
    BATS,
    query(
        "HECS",
        "Energy control: solar distribution priority and what may charge, discharge, feed in",
        Keyed("Solar Energy Distribution Priority", ENERGY_PRIORITY),
        *(Option(name, LOW_ENABLED) for name in HECS_NAMES),
        Str("Reserved", hints=RESERVED),
    ),
    energy("EY", "Energy generated in a year (EY2024)", "Generated Energy Year", YEAR),
    energy("EM", "Energy generated in a month (EM202401)", "Generated Energy Month", MONTH),
    energy("ED", "Energy generated on a day (ED20240115)", "Generated Energy Day", DATE),
    energy("EH", "Energy generated in an hour (EH2024011512)", "Generated Energy Hour", HOUR),
    query(
        "BMS",
        "Battery data the inverter has from the BMS (the meaning of most positions is unknown)",
        Str("empty1", hints=HIDDEN),
        Int("soc", "%", BATTERY),
        Str("empty2", hints=HIDDEN),
        Str("empty3", hints=HIDDEN),
        tenths("max charging voltage", "V"),
        tenths("Second charging voltage", "V", HIDDEN),
        Str("empty4", hints=HIDDEN),
        Str("empty5", hints=HIDDEN),
        Str("empty6", hints=HIDDEN),
        tenths("cut off voltage", "V"),
        Str("empty7", hints=HIDDEN),
        # Firmwares send some of these values space-separated.
        split_spaces=True,
    ),
)

_FLAG_PATTERN = (
    r"[A-Z]|[01]",
    (
        "a flag letter A–Z (A = mute buzzer beep; the letters follow the order of the FLAG "
        "answer), or 1/0 on older firmware"
    ),
)

SETTERS = (
    setter(
        "GPMP0",
        "Set the maximum power fed to the grid (GPMP0 + five digits in W, e.g. GPMP015000)",
        Number("ddddd", 0, 15000, 1, unit="W"),
    ),
    setter("LON", "Enable (1) or disable (0) supplying power to the loads", ON_OFF),
    setter("PA", "Mute buzzer beep (1 enable, 0 disable)", ON_OFF),
    setter("PB", "Mute buzzer beep in standby mode (1 enable, 0 disable)", ON_OFF),
    setter(
        "PC", "Mute buzzer beep only on battery discharged status (1 enable, 0 disable)", ON_OFF
    ),
    setter(
        "PD",
        "Disable the flag of a letter (PDA); on older firmware PD1/PD0 switch generator as AC "
        "input",
        Pattern(*_FLAG_PATTERN),
    ),
    setter(
        "PE",
        "Enable the flag of a letter (PEA); on older firmware PE1/PE0 switch wide AC input range",
        Pattern(*_FLAG_PATTERN),
    ),
    setter("PF", "N/G relay function (1 enable, 0 disable)", ON_OFF),
    setter(
        "DAT",
        "Set date and time (YYMMDDHHMMSS)",
        Date(
            rf"\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01]){HHMM}[0-5]\d",
            "%y%m%d%H%M%S",
            "12 digits YYMMDDHHMMSS of a real date and time, e.g. 240115123000",
        ),
    ),
    setter(
        "LST",
        "Set the LCD sleep wait time in units of 30 s (00 = always on)",
        Choice(
            {
                "00": "always on",
                "01": "30 s",
                "02": "60 s",
                "03": "90 s",
                "10": "5 min",
                "20": "10 min",
            }
        ),
    ),
    *(
        setter(f"ED{letter}", f"{name} (1 enable, 0 disable)", ON_OFF)
        for letter, name in zip("ABCDEFG", HECS_NAMES, strict=True)
    ),
    setter("BT", "Set battery type", Choice(codes(BATTERY_TYPES))),
    setter(
        "MCHGV",
        "Set the battery C.V. and float charging voltages in tenths of a volt (MCHGV0576,0566)",
        Parts(("C.V. voltage", VOLTS_40_59), ("float voltage", VOLTS_40_59)),
    ),
    setter(
        "ACCT",
        "Set the AC charging time range, end minute included (ACCT2200-0259)",
        Pattern(f"{HHMM}-{HHMM}", "HHMM-HHMM, e.g. 2200-0259 for 22:00 to 02:59"),
    ),
    setter(
        "ACCB",
        "AC charger keeps the battery at a voltage: enable digit, tenths of a volt (ACCB1,0450)",
        Parts(("enable (0/1)", Number("d", 0, 1, 1)), ("voltage", VOLTS_40_69)),
    ),
    setter(
        "MCHGC",
        "Set the battery maximum charge current in tenths of an ampere (MCHGC1200 = 120.0 A)",
        Number("dddd", 0, 2999, unit=_TENTH_A),
    ),
    setter(
        "MUCHGC",
        "Set the maximum AC charging current in tenths of an ampere (MUCHGC0600 = 60.0 A)",
        Number("dddd", 0, 2999, unit=_TENTH_A),
    ),
    setter("SEP", "Set the solar energy distribution priority", Choice(ENERGY_PRIORITY)),
    setter(
        "BDCM",
        "Set the battery max discharge current in hybrid mode (A, four digits)",
        Number("dddd", 0, 299, 1, unit="A"),
    ),
    setter(
        "BATDV",
        "Set the battery under / under-back / weak / weak-back voltages in tenths of a volt",
        Parts(
            ("under voltage", VOLTS_40_59),
            ("under back voltage", VOLTS_40_59),
            ("weak voltage in hybrid mode", VOLTS_40_59),
            ("weak back voltage in hybrid mode", VOLTS_40_59),
        ),
    ),
    setter(
        "BCA",
        "Floating charge: stop current (0.1 A), wait (min), recharge voltage (0.1 V)",
        Parts(
            ("stop charging current", Number("dddd", 0, 999, unit=_TENTH_A)),
            ("keep charged time", Number("ddd", 0, 99, 1, unit="min")),
            ("recover to charge voltage", Number("dddd", 0, 999, unit=_TENTH_V)),
        ),
    ),
)

COMMANDS = MappingProxyType(table(*QUERIES, *SETTERS))

# -- settings model ----------------------------------------------------------------------------


def switch(
    read: str,
    position: int,
    on: str,
    off: str,
    *,
    safety: bool = False,
    description: str = "",
) -> Setting:
    """Define the on/off setting of field ``position`` (0-based) of ``read`` (FLAG or HECS)."""
    spec = COMMANDS[read].fields[position]
    return Setting(
        spec.key,
        spec.name,
        SettingKind.SWITCH,
        read,
        spec.key,
        on=on,
        off=off,
        on_value="Enabled" if read == "FLAG" else "enabled",
        safety=safety,
        description=description,
    )


def battery_settings(bats: Command) -> tuple[Setting, ...]:
    """Define the settings read from ``bats`` (a BATS layout; variants name its fields apart).

    Positions, not keys, tie each write to its fields, so a variant's relabelled BATS gives the
    same settings under its own keys.
    """
    f: Sequence[Spec] = bats.fields
    cv, flt, stop, keep, recover = (f[i].key for i in (1, 2, 3, 4, 5))
    under, under_back, weak, weak_back = (f[i].key for i in (6, 7, 8, 9))
    keep_on, keep_v = f[13].key, f[14].key

    def linked(
        index: int,
        write: str,
        parts: tuple[tuple[str, float, int], ...],
        lo: float,
        hi: float,
        step: float,
        unit: str,
    ) -> LinkedSetting:
        spec = f[index]
        return LinkedSetting(
            spec.key,
            spec.name,
            SettingKind.NUMBER,
            "BATS",
            spec.key,
            write=write,
            minimum=lo,
            maximum=hi,
            step=step,
            unit=unit,
            safety=True,
            parts=parts,
        )

    charge = ((cv, 0.1, 4), (flt, 0.1, 4))
    limits = ((under, 0.1, 4), (under_back, 0.1, 4), (weak, 0.1, 4), (weak_back, 0.1, 4))
    floating = ((stop, 0.1, 4), (keep, 1, 3), (recover, 0.1, 4))
    keep_parts = ((keep_on, 1, 0), (keep_v, 0.1, 4))
    return (
        linked(0, "MCHGC", ((f[0].key, 0.1, 4),), 0, 299.9, 0.1, "A"),
        linked(16, "MUCHGC", ((f[16].key, 0.1, 4),), 0, 299.9, 0.1, "A"),
        linked(1, "MCHGV", charge, 40.0, 59.9, 0.1, "V"),
        linked(2, "MCHGV", charge, 40.0, 59.9, 0.1, "V"),
        *(linked(i, "BATDV", limits, 40.0, 59.9, 0.1, "V") for i in (6, 7, 8, 9)),
        linked(3, "BCA", floating, 0, 99.9, 0.1, "A"),
        linked(4, "BCA", floating, 0, 99, 1, "min"),
        linked(5, "BCA", floating, 0, 99.9, 0.1, "V"),
        linked(14, "ACCB", keep_parts, 40.0, 69.9, 0.1, "V"),
        LinkedSetting(
            keep_on,
            f[13].name,
            SettingKind.SWITCH,
            "BATS",
            keep_on,
            write="ACCB",
            on_value="Enabled",
            safety=True,
            parts=keep_parts,
        ),
        Setting(
            f[10].key,
            f[10].name,
            SettingKind.SELECT,
            "BATS",
            f[10].key,
            write="BT{code}",
            options=codes(BATTERY_TYPES),
            safety=True,
        ),
        Setting(
            f[17].key,
            f[17].name,
            SettingKind.NUMBER,
            "BATS",
            f[17].key,
            write="BDCM{value:04d}",
            minimum=0,
            maximum=299,
            step=1,
            unit="A",
            safety=True,
        ),
    )


#: HECS switches that let the battery charge or discharge (or stop it) are safety-relevant.
_HECS_SAFETY = frozenset("ABDEFG")
_OLD_FIRMWARE = "Sent as 1/0 after the letter, as firmware of the 10/15 kW generation expects."

SETTINGS = MappingProxyType(
    settings_table(
        *battery_settings(BATS),
        Setting(
            "maximum_feeding_grid_power",
            "Maximum Feeding Grid power",
            SettingKind.NUMBER,
            "GPMP",
            "maximum_feeding_grid_power",
            write="GPMP0{value:05d}",
            minimum=0,
            maximum=15000,
            step=1,
            unit="W",
        ),
        Setting(
            "solar_energy_distribution_priority",
            "Solar Energy Distribution Priority",
            SettingKind.SELECT,
            "HECS",
            "solar_energy_distribution_priority",
            write="SEP{code}",
            options=ENERGY_PRIORITY,
        ),
        *(
            switch("HECS", i, f"ED{letter}1", f"ED{letter}0", safety=letter in _HECS_SAFETY)
            for i, letter in enumerate("ABCDEFG", start=1)
        ),
        switch("FLAG", 0, "PA1", "PA0"),
        switch("FLAG", 1, "PB1", "PB0"),
        switch("FLAG", 2, "PC1", "PC0"),
        switch("FLAG", 3, "PD1", "PD0", description=_OLD_FIRMWARE),
        switch("FLAG", 4, "PE1", "PE0", description=_OLD_FIRMWARE),
        # Neutral-ground bonding: wrong on an installation, it removes an earth path.
        switch("FLAG", 5, "PF1", "PF0", safety=True),
        Setting(
            "supply_power_to_the_loads",
            "Supply power to the loads",
            SettingKind.SWITCH,
            "PS",
            "ac_output_connect_status",
            on="LON1",
            off="LON0",
            on_value="Connected",
            safety=True,
            description="Read back from PS 'AC output connect status'; LON0 cuts the output.",
        ),
    )
)

# -- protocol ----------------------------------------------------------------------------------


class PI17(CaretProtocol):
    """PI17 protocol (Infini-Solar 10/15 kW 3-phase, WP, LV 6 kW, TWIN).

    Requests carry no CRC and their length counts only the text and CR; answers use the
    shared ``^`` framing.
    """

    request_crc: ClassVar[bool] = False
    length_counts_crc: ClassVar[bool] = False

    id: ClassVar[str] = "pi17"
    description: ClassVar[str] = "Voltronic PI17 (Infini-Solar 3-phase, WP, LV6K, TWIN)"
    commands = COMMANDS
    settings = SETTINGS
    status_commands: ClassVar[tuple[str, ...]] = ("GS", "PS", "MOD", "WS")
    settings_commands: ClassVar[tuple[str, ...]] = ("BATS", "HECS", "FLAG", "GPMP")
    id_commands: ClassVar[tuple[str, ...]] = ("PI", "ID", "MD", "DM", "VFW")
