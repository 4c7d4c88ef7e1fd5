"""PI41: PI30 as spoken by split-phase units (LV5048 / LV2424 and similar).

The second output line (L2) and the second PV input get their own status commands (``QPIGS2``,
``QP2GS<n>``); ``QPIGS``, ``QPGS<n>`` and ``QPIRI`` name their values per line and know the
split-phase output modes. Everything else is PI30's command, shared rather than copied.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi30
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import Pattern, query
from mppsolar_lib.protocols.fields import Flags, Float, Hints, Int, Option, Spec

#: Output modes of split-phase units (QPIRI / QPGS), labelled as the reference labels them.
OUTPUT_MODES = (
    "Standalone?",
    "Parallel output 0 degrees",
    "Phase 1 of 3 Phase output",
    "Phase 2 of 3 Phase output",
    "Phase 3 of 3 Phase output",
    "Parallel output 120 degrees",
    "Parallel output 180 degrees",
)

_BATTERY = Hints("battery", "measurement")
_UNIT = Pattern(r"\d", "the unit's index in the parallel system, a single digit 0–9")


def _pi30_spec(command: str, key: str) -> Spec:
    """Return the spec PI30 uses for field ``key`` of ``command`` (shared, not copied)."""
    return pi30.COMMANDS[command].spec(key)


def _qpgs(key: str) -> Spec:
    return _pi30_spec("QPGS", key)


def _qpiri(key: str) -> Spec:
    return _pi30_spec("QPIRI", key)


COMMANDS_ADDED = (
    query(
        "QPIGS",
        "Live status of line 1, battery and PV 1",
        Float(
            "L1 AC Input Voltage",
            "V",
            Hints("voltage", "measurement", icon="mdi:transmission-tower"),
        ),
        Float("L1 AC Input Frequency", "Hz"),
        Float("L1 AC Output Voltage", "V"),
        Float("L1 AC Output Frequency", "Hz"),
        Int("L1 AC Output Apparent Power", "VA"),
        Int("L1 AC Output Active Power", "W"),
        Int("L1 AC Output Load", "%"),
        # BUS voltage … battery discharge current: as PI30 (positions 7–15).
        *pi30.COMMANDS["QPIGS"].fields[7:16],
        Flags(
            (
                "Is L1 SCC OK",
                "Is L1 AC Charging On",
                "Is L1 SCC Charging On",
                "Is Battery Over",
                "Is Battery Under",
                "Is L1 Line Not OK",
                "Is Load On",
                "Is Configuration Changed",
            )
        ),
        # RSV1, RSV2, PV input power, second flag string: as PI30.
        *pi30.COMMANDS["QPIGS"].fields[17:],
    ),
    query(
        "QPIGS2",
        "Live status of line 2 and PV 2",
        Float(
            "L2 AC Input Voltage",
            "V",
            Hints("voltage", "measurement", icon="mdi:transmission-tower"),
        ),
        Float("L2 AC Input Frequency", "Hz"),
        Float("L2 AC Output Voltage", "V"),
        Float("L2 AC Output Frequency", "Hz"),
        Int("L2 AC Output Apparent Power", "VA"),
        Int("L2 AC Output Active Power", "W"),
        Int("L2 AC Output Load", "%"),
        Int("PV2 Battery Charging Current", "A"),
        Float("PV2 Input Voltage", "V"),
        Float("L2 Battery Voltage", "V"),
        # Positions 3 and 6 are reserved. Bit 5 is named for L2 so that it does not collide
        # with QPIGS's "Is Load On" (the reference names both ``is_load_on``).
        Flags(
            (
                "Is L2 SCC OK",
                "Is L2 AC Charging On",
                "Is L2 SCC Charging On",
                "",
                "Is L2 Line Not OK",
                "Is L2 Load On",
                "",
            )
        ),
    ),
    query(
        "QPGS",
        "Line 1 status of one unit of a parallel system (QPGS0, QPGS1, …)",
        _qpgs("parallel_instance_number"),
        _qpgs("serial_number"),
        _qpgs("work_mode"),
        _qpgs("fault_code"),
        Float("L1 AC input voltage", "V"),
        Float("L1 AC input frequency", "Hz"),
        Float("L1 AC output voltage", "V"),
        Float("L1 AC output frequency", "Hz"),
        Int("L1 AC output apparent power", "VA"),
        Int("L1 AC output active power", "W"),
        Int("L1 Load percentage", "%"),
        _qpgs("battery_voltage"),
        _qpgs("battery_charging_current"),
        _qpgs("battery_capacity"),
        Float("PV1 Input Voltage", "V"),
        _qpgs("total_charging_current"),
        _qpgs("total_ac_output_apparent_power"),
        _qpgs("total_output_active_power"),
        _qpgs("total_ac_output_percentage"),
        Flags(
            (
                "Is L1 SCC OK",
                "Is L1 AC Charging On",
                "Is L1 SCC Charging On",
                "Is Battery Over Voltage",
                "Is Battery Under Voltage",
                "Is L1 Line Off",
                "Is L1 Load On",
                "Is Configuration Changed",
            )
        ),
        Option("Output mode", OUTPUT_MODES),
        _qpgs("charger_source_priority"),
        _qpgs("max_charger_current"),
        _qpgs("max_charger_range"),
        _qpgs("max_ac_charger_current"),
        Int("PV1 charging current", "A"),
        _qpgs("battery_discharge_current"),
        param=_UNIT,
    ),
    query(
        "QP2GS",
        "Line 2 status of one unit of a parallel system (QP2GS0, QP2GS1, …)",
        # A number such as 11 whose meaning is not documented (not QPGS's valid flag).
        Int("Parallel instance number", hints=pi30.ID),
        _qpgs("serial_number"),
        _qpgs("work_mode"),
        _qpgs("fault_code"),
        Float("L2 AC input voltage", "V"),
        Float("L2 AC input frequency", "Hz"),
        Float("L2 AC output voltage", "V"),
        Float("L2 AC output frequency", "Hz"),
        Int("L2 AC output apparent power", "VA"),
        Int("L2 AC output active power", "W"),
        Int("L2 Load percentage", "%"),
        Float("L2 Battery voltage", "V"),
        Int("L2 Battery charging current", "A"),
        Int("L2 Battery capacity", "%", _BATTERY),
        Float("PV2 Input Voltage", "V"),
        Int("PV2 charging current", "A"),
        Flags(
            (
                "Is L2 SCC OK",
                "Is L2 AC Charging",
                "Is L2 SCC Charging",
                "Is Battery Over Voltage",
                "Is Battery Under Voltage",
                "Is L2 Line Lost",
                "Is L2 Load On",
                "Is Configuration Changed",
            )
        ),
        param=_UNIT,
    ),
    query(
        "QPIRI",
        "Current settings (ratings, voltages, priorities, split-phase output mode)",
        *pi30.COMMANDS["QPIRI"].fields[:21],
        Option("Output Mode", OUTPUT_MODES),
        _qpiri("battery_redischarge_voltage"),
        _qpiri("pv_ok_condition"),
        _qpiri("pv_power_balance"),
        Int("Max Charging Time at CV Stage", "min"),
    ),
)

COMMANDS = MappingProxyType(table(*COMMANDS_ADDED, base=pi30.COMMANDS))

#: PI30's settings but operation logic: PI41's QPIRI does not report it, so it cannot be read back.
SETTINGS = MappingProxyType(
    {key: setting for key, setting in pi30.SETTINGS.items() if key != "operation_logic"}
)


class PI41(pi30.PI30):
    """PI41 protocol: PI30 with per-line status for split-phase inverters (LV5048 and similar)."""

    id: ClassVar[str] = "pi41"
    description: ClassVar[str] = "Voltronic PI41 (split-phase LV5048, LV2424 and similar)"
    commands = COMMANDS
    settings = SETTINGS
