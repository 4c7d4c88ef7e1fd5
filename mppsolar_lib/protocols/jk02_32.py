"""JK02_32: JK BMS over Bluetooth, 2-byte cell values, 32 cells (firmware 11 and later).

The JK02 table with the 32-cell records (esphome-jk-bms's JK02_32S): eight more cell voltages and
resistances, everything after them 32 bytes later, the MOSFET temperature at 144 and the alarms
word at 166. "Start balance voltage" is register 0x22 on this firmware instead of 0x26.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import jk02
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.jkble import CELL_INFO, CELL_RECORD, SETTINGS_RECORD

COMMANDS = MappingProxyType(
    table(
        jk02.record_query(
            "getCellData",
            "BLE cell data inquiry (32-cell record)",
            CELL_INFO,
            CELL_RECORD,
            *jk02.cell_fields(32),
        ),
        jk02.record_query(
            "getSettings",
            "BLE settings inquiry (32-cell record)",
            CELL_INFO,
            SETTINGS_RECORD,
            *jk02.settings_fields(32),
        ),
        jk02.balance_start(jk02.BALANCE_START_JK02_32),
        base=jk02.COMMANDS,
    )
)


class JK02_32(jk02.JK02):  # noqa: N801 - named after the protocol id
    """JK BMS Bluetooth protocol, 2-byte cell values, 32 cells."""

    id: ClassVar[str] = "jk02_32"
    description: ClassVar[str] = "JK BMS over Bluetooth, 32 cells (JK02_32S, firmware 11+)"
    cells: ClassVar[int] = 32
    commands = COMMANDS
