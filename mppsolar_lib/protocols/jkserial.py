"""JKSERIAL: JK BMS "NW" frames on the TTL/RS485 (GPS) port, per JK's RS485 protocol document.

Frame: ``4E 57`` ("NW"), length (2 bytes: everything after ``NW``, itself and the checksum
included), terminal number (4), command (1: 01 activate, 02 write, 03 read, 05 password, 06 read
all), frame source (1: 00 BMS, 01 Bluetooth, 02 GPS, 03 computer), transport type (1: 00 request,
01 answer, 02 BMS upload), data, record number (4), ``68`` end mark, checksum (4: the byte sum of
everything before it in the low two bytes). Numbers are big-endian.

The data is a run of *identifiers*, each followed by its value: ``79`` takes a length byte then
``cell number, voltage (mV)`` triples; every other identifier has a fixed size (``80``-``82``
temperatures, ``83`` pack voltage, ``84`` current, ``85`` SOC, ``8B`` warnings, ``8C`` status
bits, ``8E``-``B9`` protection settings, ``B4``-``BA`` device identity, ``C0`` protocol version).
Sizes and meanings come from the JK document as published in syssi/esphome-jk-bms
(docs/protocol-design-uart-ttl-gps-port.md) and its decoder (components/jk_bms/jk_bms.cpp).

Since the walk follows the identifiers, cells and everything after them land where they belong
whatever the cell count; the reference reads fixed positions and so is right only for 16-cell
packs (see docs/deviations.md). An identifier the document does not list stops the walk: its
size is unknown, so the rest of the data is kept as hex in ``unparsed_data`` rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from mppsolar_lib.crc import sum16
from mppsolar_lib.errors import CRCError, EchoError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols.answers import FramedProtocol, Span
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import BinSpec, Bits, Computed, Hex, Label, Num, Series, Text
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    PROBLEM,
    FieldInfo,
    FieldKind,
    Hints,
    Out,
    default_hints,
)

START: Final = b"NW"
END: Final = 0x68
#: Bytes before the data (start, length, terminal, command, source, type) and after it
#: (record number, end mark, checksum).
HEAD: Final = 11
TAIL: Final = 9
#: Transport type of a request: our own frame came back.
REQUEST_TYPE: Final = 0x00

CELLS_TAG: Final = 0x79
CURRENT_TAG: Final = 0x84
VOLTAGE_TAG: Final = 0x83
VERSION_TAG: Final = 0xC0
MAX_CELLS: Final = 32

#: Raw bytes the reference reports as hex; kept for key compatibility, hidden by default.
RAW: Final = Hints(entity_category="diagnostic", enabled_default=False)
CYCLES: Final = Hints(None, "total_increasing", icon="mdi:battery-sync")
SWITCH: Final = Hints(icon="mdi:electric-switch")

#: 0x8B warning bits (bit 0 first). The document names bits 12 and 13 both "309_A protection".
WARNING_BITS: Final = (
    "Low Capacity Alarm",
    "MOS Overtemperature Alarm",
    "Charge Overvoltage Alarm",
    "Discharge Undervoltage Alarm",
    "Battery Overtemperature Alarm",
    "Charge Overcurrent Alarm",
    "Discharge Overcurrent Alarm",
    "Cell Voltage Difference Alarm",
    "Battery Box Overtemperature Alarm",
    "Battery Low Temperature Alarm",
    "Cell Overvoltage Alarm",
    "Cell Undervoltage Alarm",
    "309_A Protection",
    "309_B Protection",
)
#: 0x8C status bits (bit 0 first). The document calls bit 2 the balance switch, but captures show
#: it follows balancing itself: 0 with the switch (0x9D) on and the cells 7 mV apart (trigger
#: 50 mV), 1 in syssi's capture with 24 mV over an 8 mV trigger. It calls bit 3 "battery dropped,
#: 1 = normal", yet both captures of working packs have it 0: left unnamed rather than shown wrong.
STATUS_BITS: Final = ("Charging MOS", "Discharging MOS", "Balancing")
BATTERY_TYPES: Final = ("Lithium Iron Phosphate", "Ternary Lithium", "Lithium Titanate")


def _temperature(record: bytes, spec: Computed, out: Out) -> None:
    """0-100 are °C; above 100 is below zero (101 = -1 °C), per the JK document."""
    raw = int.from_bytes(record[:2], "big")
    out[spec.key] = 100 - raw if raw > 100 else raw


def _temp(name: str) -> Computed:
    return Computed(name, 0, 2, _temperature, "°C", default_hints("°C"))


def _setting(
    name: str, size: int, unit: str = "", scale: float = 1, *, signed: bool = False
) -> Num:
    """Describe a protection setting: a number shown as a diagnostic value."""
    hints = Hints(default_hints(unit).device_class, None, "diagnostic")
    return Num(name, 0, size, unit, hints, signed=signed, little=False, scale=scale)


def _flag(name: str, hints: Hints = DIAGNOSTIC) -> Bits:
    return Bits(name, 0, (name,), 1, hints)


#: Identifier -> (value size, specs reading the value from its first byte).
TAGS: Final[Mapping[int, tuple[int, tuple[BinSpec, ...]]]] = {
    0x80: (2, (_temp("MOS_Temp"),)),
    0x81: (2, (_temp("Battery_T1"),)),
    0x82: (2, (_temp("Battery_T2"),)),
    VOLTAGE_TAG: (2, (Num("Battery_Voltage", 0, 2, "V", little=False, scale=0.01),)),
    # Decoded after the walk: its encoding depends on the protocol version (0xC0).
    CURRENT_TAG: (2, ()),
    0x85: (1, (Num("Percent_Remain", 0, 1, "%", Hints("battery", "measurement")),)),
    0x86: (1, (Num("Temperature Sensors", 0, 1, hints=DIAGNOSTIC),)),
    0x87: (2, (Num("Cycle_Count", 0, 2, "", CYCLES, little=False),)),
    0x89: (4, (Num("Total_capacity", 0, 4, "Ah", Hints(None, "total_increasing"), little=False),)),
    0x8A: (2, (Num("Battery Strings", 0, 2, hints=DIAGNOSTIC, little=False),)),
    0x8B: (
        2,
        (
            Hex("Battery Warning Message", 0, 2, RAW),
            Bits("Warnings", 0, WARNING_BITS, 2, PROBLEM, little=False),
        ),
    ),
    0x8C: (
        2,
        (
            Hex("Battery status information", 0, 2, RAW),
            Bits("Status", 0, STATUS_BITS, 2, SWITCH, little=False),
        ),
    ),
    0x8E: (2, (_setting("Total Overvoltage Protection", 2, "V", 0.01),)),
    0x8F: (2, (_setting("Total Undervoltage Protection", 2, "V", 0.01),)),
    0x90: (2, (_setting("Cell Overvoltage Protection", 2, "V", 0.001),)),
    0x91: (2, (_setting("Cell Overvoltage Recovery", 2, "V", 0.001),)),
    0x92: (2, (_setting("Cell Overvoltage Delay", 2, "s"),)),
    0x93: (2, (_setting("Cell Undervoltage Protection", 2, "V", 0.001),)),
    0x94: (2, (_setting("Cell Undervoltage Recovery", 2, "V", 0.001),)),
    0x95: (2, (_setting("Cell Undervoltage Delay", 2, "s"),)),
    0x96: (2, (_setting("Cell Voltage Difference Protection", 2, "V", 0.001),)),
    0x97: (2, (_setting("Discharge Overcurrent Protection", 2, "A"),)),
    0x98: (2, (_setting("Discharge Overcurrent Delay", 2, "s"),)),
    0x99: (2, (_setting("Charge Overcurrent Protection", 2, "A"),)),
    0x9A: (2, (_setting("Charge Overcurrent Delay", 2, "s"),)),
    0x9B: (2, (_setting("Balance Starting Voltage", 2, "V", 0.001),)),
    0x9C: (2, (_setting("Balance Trigger Voltage Difference", 2, "V", 0.001),)),
    0x9D: (1, (_flag("Balancer Active"),)),
    0x9E: (2, (_setting("MOS Overtemperature Protection", 2, "°C"),)),
    0x9F: (2, (_setting("MOS Overtemperature Recovery", 2, "°C"),)),
    0xA0: (2, (_setting("Battery Box Overtemperature Protection", 2, "°C"),)),
    0xA1: (2, (_setting("Battery Box Overtemperature Recovery", 2, "°C"),)),
    # A temperature *difference*: no temperature device class (HA would shift it on °F).
    0xA2: (
        2,
        (Num("Battery Temperature Difference Protection", 0, 2, "°C", DIAGNOSTIC, little=False),),
    ),
    0xA3: (2, (_setting("Charge Overtemperature Protection", 2, "°C"),)),
    0xA4: (2, (_setting("Discharge Overtemperature Protection", 2, "°C"),)),
    0xA5: (2, (_setting("Charge Undertemperature Protection", 2, "°C", signed=True),)),
    0xA6: (2, (_setting("Charge Undertemperature Recovery", 2, "°C", signed=True),)),
    0xA7: (2, (_setting("Discharge Undertemperature Protection", 2, "°C", signed=True),)),
    0xA8: (2, (_setting("Discharge Undertemperature Recovery", 2, "°C", signed=True),)),
    0xA9: (1, (_setting("Cell Count Setting", 1),)),
    0xAA: (4, (_setting("Capacity Setting", 4, "Ah"),)),
    0xAB: (1, (_flag("Charge Enabled", SWITCH),)),
    0xAC: (1, (_flag("Discharge Enabled", SWITCH),)),
    0xAD: (2, (_setting("Current Calibration", 2, "A", 0.001),)),
    0xAE: (1, (_setting("Board Address", 1),)),
    0xAF: (1, (Label("Battery Type", 0, BATTERY_TYPES, hints=DIAGNOSTIC),)),
    0xB0: (2, (_setting("Sleep Wait Time", 2, "s"),)),
    0xB1: (1, (_setting("Low Capacity Alarm Level", 1, "%"),)),
    # The parameter password: walked over, never reported.
    0xB2: (10, ()),
    0xB3: (1, (_flag("Dedicated Charger"),)),
    0xB4: (8, (Text("Device ID", 0, 8, DIAGNOSTIC),)),
    0xB5: (4, (Text("Manufacture Date", 0, 4, DIAGNOSTIC),)),
    0xB6: (
        4,
        (
            Num(
                "System Working Time",
                0,
                4,
                "min",
                Hints("duration", "total_increasing", "diagnostic"),
                little=False,
            ),
        ),
    ),
    0xB7: (15, (Text("Software Version", 0, 15, DIAGNOSTIC),)),
    0xB8: (1, (_flag("Current Calibration Active"),)),
    0xB9: (4, (_setting("Actual Battery Capacity", 4, "Ah"),)),
    0xBA: (24, (Text("Manufacturer ID", 0, 24, DIAGNOSTIC),)),
    # Write-only commands (restart, factory reset, upgrade, GPS voltages): sizes only.
    0xBB: (1, ()),
    0xBC: (1, ()),
    0xBD: (1, ()),
    0xBE: (2, ()),
    0xBF: (2, ()),
    VERSION_TAG: (1, (Num("Protocol Version", 0, 1, hints=DIAGNOSTIC),)),
}

CELLS: Final = Series(
    "Voltage_Cell{:02d}",
    0,
    MAX_CELLS,
    2,
    "V",
    little=False,
    scale=0.001,
    summary="Cell Voltage",
    count_from=lambda values: len(values) // 3,
    pad=1,
)
CELL_COUNT: Final = FieldInfo(
    "cells_connected", "Cells_connected", "", DIAGNOSTIC, kind=FieldKind.NUMBER, precision=0
)
CURRENT: Final = FieldInfo("battery_current", "Battery_Current", "A", default_hints("A"))
POWER: Final = FieldInfo("battery_power", "Battery_Power", "W", default_hints("W"))
UNPARSED: Final = FieldInfo("unparsed_data", "Unparsed Data", "", RAW)


def _current(raw: int, version: int) -> float | None:
    """Signed current (positive = charging) from identifier 0x84.

    Protocol version 1: 10 mA units, the top bit set while charging. Version 0 (the default):
    10000 - raw, in 10 mA. Other versions are not documented: no value rather than a guess.
    """
    if version == 1:
        amps = (raw & 0x7FFF) * 0.01
        return round(amps if raw & 0x8000 else -amps, 2)
    if version == 0:
        return round((10000 - raw) * 0.01, 2)
    return None


def _walk(data: bytes) -> tuple[list[tuple[int, int, int]], int | None]:
    """Locate each identifier's value: ``[(tag, start, size)]`` and where an unknown tag stops it."""
    found: list[tuple[int, int, int]] = []
    pos, end = 0, len(data)
    while pos < end:
        tag = data[pos]
        if tag == CELLS_TAG:
            if pos + 1 >= end:
                raise TruncatedFrameError("cell voltages: no length byte")
            size = 1 + data[pos + 1]
        elif tag in TAGS:
            size = TAGS[tag][0]
        else:
            return found, pos
        if pos + 1 + size > end:
            raise TruncatedFrameError(f"identifier {tag:#04x}: {size} bytes do not fit")
        found.append((tag, pos + 1, size))
        pos += 1 + size
    return found, None


def _decode(data: bytes, spec: Computed, out: Out) -> None:
    """Walk the identifiers and decode each value."""
    found, unknown_at = _walk(data)
    starts = {tag: start for tag, start, _ in found}
    version = data[starts[VERSION_TAG]] if VERSION_TAG in starts else 0
    for tag, start, size in found:
        value = data[start : start + size]
        if tag == CELLS_TAG:
            cells = value[1:]
            if len(cells) % 3:
                raise FrameError(f"cell voltages: {len(cells)} bytes, not groups of 3")
            out[CELL_COUNT.key] = len(cells) // 3
            CELLS.read(cells, out)
        elif tag == CURRENT_TAG:
            current = _current(int.from_bytes(value, "big"), version)
            if current is not None:
                out[CURRENT.key] = current
                if VOLTAGE_TAG in starts:
                    volts = int.from_bytes(data[starts[VOLTAGE_TAG] :][:2], "big") * 0.01
                    out[POWER.key] = round(volts * current, 2)
        else:
            for reader in TAGS[tag][1]:
                reader.read(value, out)
    if unknown_at is not None:
        out[UNPARSED.key] = data[unknown_at:].hex()


def _infos() -> tuple[FieldInfo, ...]:
    infos: list[FieldInfo] = [CELL_COUNT, *CELLS.info()]
    for tag, (_, specs) in TAGS.items():
        if tag == CURRENT_TAG:
            infos += (CURRENT, POWER)
        infos += [info for reader in specs for info in reader.info()]
    return (*infos, UNPARSED)


STATUS: Final = query(
    "getBalancerData",
    "Every identifier: cells, pack, alarms, protection settings, identity",
    Computed("Data", 0, 0, _decode, infos=_infos()),
    code=0x00,
)

COMMANDS: Final[Mapping[str, Command]] = table(STATUS)


class JKSerial(FramedProtocol):
    """JK BMS "NW" frames over TTL serial / RS485."""

    id = "jkserial"
    description = 'JK BMS "NW" frames over TTL/RS485 (GPS port)'
    commands = COMMANDS
    status_commands = ("getBalancerData",)

    def frame(self, command: Command, text: str) -> bytes:
        """Build a read request (command 03, source 03 = computer) for identifier ``code``."""
        head = START + (19).to_bytes(2, "big") + bytes((0, 0, 0, 0, 0x03, 0x03, 0x00))
        body = head + bytes((cast("int", command.options["code"]), 0, 0, 0, 0, END))
        return body + sum16(body).to_bytes(4, "big")

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where the answer lies: ``NW``, then its length field + 2 bytes in all.

        A frame whose length cannot hold an empty frame is no frame (the search goes on after
        its ``NW``); a complete request frame (transport type 00, an adapter's echo) is stepped
        over (see :mod:`.answers`).
        """
        start = buffer.find(START)
        while start >= 0:
            if len(buffer) < start + 4:
                return None
            size = int.from_bytes(buffer[start + 2 : start + 4], "big") + 2
            if size < HEAD + TAIL:
                start = buffer.find(START, start + 1)
                continue
            end = start + size
            if len(buffer) < end:
                return None
            if buffer[start + 10] != REQUEST_TYPE:
                return start, end
            start = buffer.find(START, end)
        return None

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Check start, length, end mark and checksum; return the identifier data."""
        if len(frame) < 4:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, no length yet")
        if frame[:2] != START:
            raise FrameError(f"{sent}: frame starts with {frame[:2].hex()}, not 4e57 (NW)")
        size = int.from_bytes(frame[2:4], "big") + 2
        if size < HEAD + TAIL:
            raise FrameError(f"{sent}: length {size - 2} is shorter than an empty frame")
        if len(frame) < size:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, the length says {size}")
        if len(frame) > size:
            raise FrameError(f"{sent}: {len(frame) - size} bytes after the frame")
        if frame[-5] != END:
            raise FrameError(f"{sent}: end mark {frame[-5]:#04x}, not 0x68")
        if sum16(frame[:-4]) != int.from_bytes(frame[-2:], "big"):
            raise CRCError(f"{sent}: checksum {frame[-4:].hex()} does not match")
        if frame[10] == REQUEST_TYPE:
            raise EchoError(f"{sent}: a request came back, not an answer")
        return frame[HEAD:-TAIL]
