"""PI30M044: PI30 MAX as spoken by the Axpert MAX 7.2 kW (general model 044, MKS2-7200).

Differences from PI30 MAX: QPIRI names its ratings as ratings and has no "utility first" charger
priority, Q1 reports SCC state and the AC charging current, QMCHGCR / QMUCHGCR list the allowed
currents as separate numbers, QOPPT is decoded hour by hour, QT gives a formatted time, QPIWS
names its battery-weak code bits, and the flags are PI30's (power saving, no feed to grid).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.errors import FrameError
from mppsolar_lib.protocols import pi30, pi30max
from mppsolar_lib.protocols.base import derive, table
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    Custom,
    Flags,
    Float,
    Int,
    Keyed,
    Option,
    Out,
    Spec,
)
from mppsolar_lib.protocols.settings import settings_table


def _timestamp(token: str, spec: Spec, out: Out) -> None:
    """``YYYYMMDDHHMMSS`` -> ``YYYY-MM-DD HH:MM:SS`` (a real moment, or a frame error)."""
    bad = FrameError(f"{spec.name}: {token!r} is not a YYYYMMDDHHMMSS time")
    if len(token) != 14 or not (token.isascii() and token.isdigit()):
        raise bad
    try:
        moment = datetime.strptime(token, "%Y%m%d%H%M%S")
    except ValueError:
        raise bad from None
    out[spec.key] = moment.strftime("%Y-%m-%d %H:%M:%S")


def _allowed_currents(name: str, description: str, label: str) -> Command:
    """List the currents a unit accepts, one numbered field each (up to 13)."""
    return query(
        name,
        description,
        *(Int(f"{label} {n}", "A", DIAGNOSTIC) for n in range(1, 14)),
    )


CHARGER_PRIORITY = (
    "Undefined",
    "Solar first",
    "Solar + Utility",
    "Only solar charging permitted",
)

#: QPIWS positions as this model names them (bits 32–33 carry the battery-weak code).
WARNINGS = (
    *pi30max.WARNINGS[:11],
    "Battery voltage to high fault",
    *pi30max.WARNINGS[12:22],
    "Bat open fault",
    *pi30max.WARNINGS[23:32],
    "Battery weak code1",
    "Battery weak code2",
    *pi30max.WARNINGS[34:],
)

COMMANDS_ADDED = (
    derive(
        pi30.COMMANDS["Q1"],
        {
            "time_until_the_end_of_absorb_charging": Int("Absorb time", "s"),
            "time_until_the_end_of_float_charging": Int("Float time", "s"),
            "scc_flag": Keyed("SCC ok", {"00": "Not OK", "01": "OK"}),
            "allowscconflag": Keyed("Allow Scc On", {"00": "Off", "01": "On"}),
            "chargeaveragecurrent": Int("AC Charge Average Current", "A"),
        },
    ),
    derive(
        pi30max.COMMANDS["QPIRI"],
        {
            "ac_input_voltage": Float("Grid Rating Voltage", "V"),
            "ac_input_current": Float("Grid Rating Current", "A"),
            "ac_output_voltage": Float("AC Output Rating Voltage", "V"),
            "ac_output_frequency": Float("AC Output Rating Frequency", "Hz"),
            "ac_output_current": Float("AC Output Rating Current", "A"),
            "ac_output_apparent_power": Int("AC Output Rating Apparent Power", "VA"),
            "ac_output_active_power": Int("AC Output Rating Active Power", "W"),
            "battery_voltage": Float("Battery Rating Voltage", "V"),
            "charger_source_priority": Option("Charger Source Priority", CHARGER_PRIORITY),
        },
    ),
    _allowed_currents(
        "QMCHGCR",
        "Max charging current values the unit accepts",
        "Max Charging Current",
    ),
    _allowed_currents(
        "QMUCHGCR",
        "Max utility (AC) charging current values the unit accepts",
        "Max Utility Charging Current",
    ),
    pi30max.QOPPT_BY_HOUR,
    query(
        "QT",
        "Device clock",
        Custom("Device Time", _timestamp, hints=DIAGNOSTIC),
    ),
    query("QPIWS", "Active warnings and faults", Flags(WARNINGS, pi30.PROBLEM)),
    query(
        "QMOD",
        "Operating mode",
        Keyed("Device Mode", {**pi30max.DEVICE_MODES, "C": "Bypass"}),
    ),
)

COMMANDS = MappingProxyType(table(*COMMANDS_ADDED, base=pi30max.COMMANDS))

_settings = settings_table(
    dataclasses.replace(
        pi30max.SETTINGS["charger_source_priority"],
        options=dict(zip(("01", "02", "03"), CHARGER_PRIORITY[1:], strict=True)),
    ),
    pi30.SETTINGS["power_saving"],
    base=pi30max.SETTINGS,
)
del _settings["solar_feed_to_grid"]  # this model reports PI30's flags ("j", no "d")
SETTINGS = MappingProxyType(_settings)


class PI30M044(pi30max.PI30MAX):
    """PI30 MAX dialect of the Axpert MAX 7.2 kW (general model 044, MKS2-7200)."""

    id: ClassVar[str] = "pi30m044"
    description: ClassVar[str] = "Voltronic PI30 MAX, model 044 (Axpert MAX 7.2 kW, MKS2-7200)"
    commands = COMMANDS
    settings = SETTINGS
