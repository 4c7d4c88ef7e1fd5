"""JKV11: the reference's name for JK BMS firmware 11 over Bluetooth.

Firmware 11 speaks the 32-cell layout (:mod:`.jk02_32`). The reference's own jkv11 table reads a
few fields from other offsets; their keys (``current_balancer``, ``current_charge``,
``current_discharge``) are kept, hidden, so existing dashboards find them. Where the reference
reads a wrong offset for a real quantity (MOSFET temperature, balance current) we read the right
one; see docs/deviations.md.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import jk02, jk02_32
from mppsolar_lib.protocols.base import derive, table

COMMANDS = MappingProxyType(
    table(
        derive(jk02_32.COMMANDS["getCellData"], append=jk02.legacy_fields(32)),
        base=jk02_32.COMMANDS,
    )
)


class JKV11(jk02_32.JK02_32):
    """JK BMS firmware 11 over Bluetooth (the 32-cell layout with the reference's extra keys)."""

    id: ClassVar[str] = "jkv11"
    description: ClassVar[str] = "JK BMS over Bluetooth, firmware 11 (32-cell layout)"
    commands = COMMANDS
