"""JK04: JK BMS over Bluetooth with 4-byte float values (older boards such as JK-B2A16S v3).

Framing is in :mod:`.jkble`; the device-info record is shared with the JK02 layouts. Cell
voltages, resistances and most other numbers are little-endian IEEE-754 floats. Offsets follow
the reference implementation and esphome-jk-bms (``decode_jk04_cell_info_``,
``decode_jk04_settings_``). These boards take no settings over Bluetooth that we know of.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar, Final

from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import BinSpec, Computed, Hex, Label, Num, Series
from mppsolar_lib.protocols.fields import DIAGNOSTIC, FieldKind, Hints, Out
from mppsolar_lib.protocols.jk02 import (
    BALANCING_ACTIONS,
    GET_INFO,
    OHM,
    RESISTANCE,
    RUNTIME,
    SETTING,
    SUMMARY,
    nonzero,
    record_query,
)
from mppsolar_lib.protocols.jkble import (
    CELL_INFO,
    CELL_RECORD,
    ENABLED_LABELS,
    HEADER,
    HIDDEN,
    SETTINGS_RECORD,
    JkBleProtocol,
    Uptime,
)

CELLS: Final = 24


def _cell_number(record: bytes, spec: Computed, out: Out) -> None:
    # The BMS numbers cells from 0.
    out[spec.key] = record[spec.offset] + 1


def _cell_voltage(record: bytes, spec: Computed, out: Out) -> None:
    # The voltage of the cell the BMS names at this offset, as already read by the series.
    value = out.get(f"voltage_cell{record[spec.offset] + 1:02d}")
    if value is not None:
        out[spec.key] = value


def _float(name: str, offset: int, unit: str, hints: Hints | None = None) -> Num:
    return Num(name, offset, 4, unit, hints, floating=True)


CELL_FIELDS: Final[tuple[BinSpec, ...]] = (
    *HEADER,
    Series("Voltage Cell{:02d}", 6, CELLS, 4, "V", floating=True, summary_names=SUMMARY),
    Series("Resistance Cell{:02d}", 102, CELLS + 1, 4, OHM, RESISTANCE, floating=True),
    _float("Average Cell Voltage", 202, "V"),
    _float("Delta Cell Voltage", 206, "V"),
    # The BMS's own highest/lowest cell (it may lag the voltages in the same record).
    Computed("Highest Cell", 218, 1, _cell_number, hints=DIAGNOSTIC, kind=FieldKind.NUMBER),
    Computed("Lowest Cell", 219, 1, _cell_number, hints=DIAGNOSTIC, kind=FieldKind.NUMBER),
    Computed("Highest Cell Voltage", 218, 1, _cell_voltage, "V", Hints("voltage", "measurement")),
    Computed("Lowest Cell Voltage", 219, 1, _cell_voltage, "V", Hints("voltage", "measurement")),
    Hex("Flags", 220, 2, HIDDEN),
    Label("Balancing Action", 220, BALANCING_ACTIONS, hints=DIAGNOSTIC),
    Computed(
        "Balancing",
        220,
        1,
        nonzero,
        hints=Hints(icon="mdi:scale-balance"),
        kind=FieldKind.BOOL,
    ),
    _float("Balance Current", 222, "A"),
    Uptime("uptime", 286),
    Num("Total Runtime", 286, 4, "s", RUNTIME),
    Hex("Checksum", 299, 1, HIDDEN),
)

SETTINGS_FIELDS: Final[tuple[BinSpec, ...]] = (
    *HEADER,
    Num("Cell Count", 34, 1, hints=SETTING),
    _float("Power Off Voltage", 38, "V", SETTING),
    _float("Start Balance Voltage", 98, "V", SETTING),
    _float("Balance Trigger Voltage", 106, "V", SETTING),
    _float("Max Balance Current", 110, "A", SETTING),
    Label("Balancer Switch", 114, ENABLED_LABELS, hints=SETTING),
)

COMMANDS = MappingProxyType(
    table(
        GET_INFO,
        record_query("getCellData", "BLE cell data inquiry", CELL_INFO, CELL_RECORD, *CELL_FIELDS),
        record_query(
            "getSettings",
            "BLE settings inquiry (sent before the BMS streams cell data)",
            CELL_INFO,
            SETTINGS_RECORD,
            *SETTINGS_FIELDS,
        ),
    )
)


class JK04(JkBleProtocol):
    """JK BMS Bluetooth protocol with 4-byte float values, 24 cells."""

    id: ClassVar[str] = "jk04"
    description: ClassVar[str] = "JK BMS over Bluetooth, 4-byte values (JK04, e.g. JK-B2A16S v3)"
    cells: ClassVar[int] = CELLS
    commands = COMMANDS
    status_commands = ("getCellData",)
    settings_commands = ("getSettings",)
    id_commands = ("getInfo",)
