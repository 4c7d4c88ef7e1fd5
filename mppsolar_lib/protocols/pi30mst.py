"""PI30MST: PI30 MAX as spoken by the PIP4048MST and similar units with three PV inputs.

Only ``QPIGS2`` differs: it reports PV inputs 2 and 3, their SCC battery voltages and the AC
charger.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi30max
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Float, Int, Str

COMMANDS_ADDED = (
    query(
        "QPIGS2",
        "Live status of PV inputs 2 and 3 and of the AC charger",
        Float("PV2 Input Current", "A", pi30max.PV_CURRENT),
        Float("PV2 Input Voltage", "V", pi30max.PV_VOLTAGE),
        Float("Battery voltage from SCC 2", "V"),
        Int("PV2 Charging Power", "W", pi30max.PV_POWER),
        Str("Device status", hints=DIAGNOSTIC),
        Float("AC charging current", "A"),
        Int("AC charging power", "W"),
        Float("PV3 Input Current", "A", pi30max.PV_CURRENT),
        Float("PV3 Input Voltage", "V", pi30max.PV_VOLTAGE),
        Float("Battery voltage from SCC 3", "V"),
        Int("PV3 Charging Power", "W", pi30max.PV_POWER),
        Int("PV total charging power", "W", pi30max.PV_POWER),
    ),
)

COMMANDS = MappingProxyType(table(*COMMANDS_ADDED, base=pi30max.COMMANDS))


class PI30MST(pi30max.PI30MAX):
    """PI30 MAX dialect of three-PV-input units (PIP4048MST and similar)."""

    id: ClassVar[str] = "pi30mst"
    description: ClassVar[str] = "Voltronic PI30 MAX with three PV inputs (PIP4048MST…)"
    commands = COMMANDS
