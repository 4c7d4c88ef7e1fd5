"""PI30M045: PI30 MAX as spoken by the LV6548 (general model 045) and similar.

These units cannot charge from the utility alone, so the charger priority codes of PCP / PPCP /
QDI / QPGS start at "solar first" (00 = solar first, 01 = solar + utility, 02 = solar only); QPIRI
still reports PI30's numbering (1 = solar first …). MUCHGC takes a three-digit current and DAT a
two-digit year.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi30max
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import Choice, Pattern, setter
from mppsolar_lib.protocols.settings import settings_table

#: PCP codes of this model, with the labels QPIRI shows for them.
CHARGER_PRIORITY = {
    "00": "Solar first",
    "01": "Solar + Utility",
    "02": "Only solar charging permitted",
}

COMMANDS_ADDED = (
    pi30max.qdi(tuple(CHARGER_PRIORITY.values())),
    pi30max.qpgs(("Solar first", "Solar + Utility", "Solar only")),
    setter("PCP", "Set charger source priority", Choice(CHARGER_PRIORITY)),
    setter(
        "PPCP",
        "Set charger priority of one parallel unit (unit digit + 00–02)",
        Pattern(r"\d0[0-2]", "a unit digit and 00–02, e.g. 101 for unit 1 solar + utility"),
    ),
    setter(
        "MUCHGC",
        "Set max utility (AC) charging current (unit digit + 3-digit amps)",
        Pattern(
            r"\d(?:002|0[1-9]0|1\d0)",
            "a unit digit and a three-digit current, 002 or 010–190 in steps of 10, "
            "e.g. 1030 for unit 1 at 30 A",
        ),
    ),
    setter(
        "DAT",
        "Set date and time (YYMMDDHHMMSS)",
        Pattern(
            r"\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d[0-5]\d",
            "12 digits YYMMDDHHMMSS, e.g. 240115123000",
        ),
    ),
)

COMMANDS = MappingProxyType(table(*COMMANDS_ADDED, base=pi30max.COMMANDS))

SETTINGS = MappingProxyType(
    settings_table(
        dataclasses.replace(pi30max.SETTINGS["charger_source_priority"], options=CHARGER_PRIORITY),
        dataclasses.replace(
            pi30max.SETTINGS["max_ac_charging_current"],
            write="MUCHGC0{value:03d}",
            minimum=2,
            maximum=190,
            description="2 A, or 10–190 A in steps of 10 (the unit lists its own in QMUCHGCR).",
        ),
        base=pi30max.SETTINGS,
    )
)


class PI30M045(pi30max.PI30MAX):
    """PI30 MAX dialect of the LV6548 (general model 045): no utility-first charging."""

    id: ClassVar[str] = "pi30m045"
    description: ClassVar[str] = "Voltronic PI30 MAX, model 045 (LV6548 and similar)"
    commands = COMMANDS
    settings = SETTINGS
