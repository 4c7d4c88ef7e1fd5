"""JK232: the RS232/UART protocol of JBD-type ("Jiabaida") boards, as JK's older BMSs speak it.

Request: ``DD A5 cmd len [data] chk_hi chk_lo 77`` (``A5`` reads, ``5A`` writes).
Answer: ``DD cmd status len data chk_hi chk_lo 77``; status ``00`` is OK, ``80`` a refusal.

The check is 0x10000 minus the byte sum (:func:`~mppsolar_lib.crc.jbd_checksum`) of ``cmd len
data`` in requests and of ``status len data`` in answers, high byte first. The JBD protocol
document shows it on its own example (``DD A5 03 00 FF FD 77``, and the answer the reference
uses as its test frame ends ``FB FF 77``); the reference sends the plain sum instead (``00 03``),
which we do not copy (see docs/deviations.md).

Registers read here: ``03`` basic information (pack values, balancing and protection bits, NTCs),
``04`` cell voltages, ``05`` the device (hardware) name. Numbers are big-endian.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from mppsolar_lib.crc import jbd_checksum
from mppsolar_lib.errors import CRCError, FrameError, NAKError, TruncatedFrameError
from mppsolar_lib.protocols.answers import FramedProtocol, Span
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import Bits, Computed, Hex, Num, Series
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, PROBLEM, Hints, Out, default_hints

START: Final = 0xDD
END: Final = 0x77
READ: Final = 0xA5
#: Answer status meaning "refused".
REFUSED: Final = 0x80
#: Bytes around the data: start, command, status, length … check (2), end.
OVERHEAD: Final = 7

#: Raw bytes the reference reports as hex; kept for key compatibility, hidden by default.
RAW: Final = Hints(entity_category="diagnostic", enabled_default=False)
CYCLES: Final = Hints(None, "total_increasing", icon="mdi:battery-sync")
SWITCH: Final = Hints(icon="mdi:electric-switch")
BALANCING: Final = Hints(entity_category="diagnostic", icon="mdi:scale-balance")

#: Basic information (register 03): frame offset = data offset + 4 (start, command, status,
#: length). 23 fixed data bytes, then 2 per NTC.
BASIC_SIZE: Final = 23
CELLS_AT: Final = 25
NTC_COUNT_AT: Final = 26
MAX_NTC: Final = 8
MAX_CELLS: Final = 32

#: Register 03, "current errors" word (JBD register map, bits 0-12).
PROTECTION_BITS: Final = (
    "Cell Overvoltage Protection",
    "Cell Undervoltage Protection",
    "Pack Overvoltage Protection",
    "Pack Undervoltage Protection",
    "Charge Overtemperature Protection",
    "Charge Undertemperature Protection",
    "Discharge Overtemperature Protection",
    "Discharge Undertemperature Protection",
    "Charge Overcurrent Protection",
    "Discharge Overcurrent Protection",
    "Short Circuit Protection",
    "Front-end IC Error",
    "MOS Software Lock",
)


def _cells(record: bytes) -> int:
    return record[CELLS_AT]


def _ntc_count(record: bytes) -> int:
    """NTC count, checked against the data length (a reading is 2 bytes after 23 fixed ones)."""
    count = record[NTC_COUNT_AT]
    if BASIC_SIZE + 2 * count > record[3]:
        raise TruncatedFrameError(f"{count} NTC readings do not fit in {record[3]} data bytes")
    return count


def _trailer(record: bytes, spec: Computed, out: Out) -> None:
    """Checksum or end byte as hex, counted from the end of the frame."""
    out[spec.key] = record[len(record) + spec.offset :][: spec.size].hex()


def _date(record: bytes, spec: Computed, out: Out) -> None:
    """Manufacture date: bits 15-9 year - 2000, 8-5 month, 4-0 day; nonsense gives no field."""
    raw = int.from_bytes(record[spec.offset : spec.end], "big")
    year, month, day = 2000 + (raw >> 9), (raw >> 5) & 0x0F, raw & 0x1F
    if 1 <= month <= 12 and 1 <= day <= 31:
        out[spec.key] = f"{year:04d}-{month:02d}-{day:02d}"


def _version(record: bytes, spec: Computed, out: Out) -> None:
    """Software version byte ``0x10`` reads ``1.0`` (a nibble each)."""
    raw = record[spec.offset]
    out[spec.key] = f"{raw >> 4}.{raw & 0x0F}"


def _power(record: bytes, spec: Computed, out: Out) -> None:
    """Pack power from the pack voltage and signed current (positive while charging)."""
    volts = int.from_bytes(record[4:6], "big") * 0.01
    amps = int.from_bytes(record[6:8], "big", signed=True) * 0.01
    out[spec.key] = round(volts * amps, 2)


def _name(record: bytes, spec: Computed, out: Out) -> None:
    """Device name: the data as ASCII; a leading length byte (some firmwares) is dropped."""
    data = record[4 : 4 + record[3]]
    if data and data[0] == len(data) - 1:
        data = data[1:]
    text = data.split(b"\x00", 1)[0].decode("ascii").strip()
    if text:
        out[spec.key] = text


BASIC_INFO: Final = query(
    "getBalancerData",
    "Basic information: pack voltage, current, capacity, balancing, protection, temperatures",
    Hex("Start Byte", 0, 1, RAW),
    Hex("Command Code", 1, 1, RAW),
    Hex("Status", 2, 1, RAW),
    Num("Data Length", 3, hints=RAW),
    Num("Total Battery Voltage", 4, 2, "V", little=False, scale=0.01),
    # Signed: negative while discharging (JBD register map).
    Num("Total Current", 6, 2, "A", signed=True, little=False, scale=0.01),
    Computed("Power", 4, 4, _power, "W", default_hints("W")),
    Num("Remaining Capacity", 8, 2, "Ah", little=False, scale=0.01),
    Num("Nominal Capacity", 10, 2, "Ah", little=False, scale=0.01),
    Num("Cycles", 12, 2, "", CYCLES, little=False),
    Hex("Production Date", 14, 2, RAW),
    Computed("Manufacture Date", 14, 2, _date, hints=DIAGNOSTIC),
    Hex("Equilibrium State (TODO)", 16, 2, RAW),
    Hex("Equilibrium State 2 (TODO)", 18, 2, RAW),
    # Balancing flags: cells 1-16 in the first word, 17-32 in the second, bit 0 = lowest cell.
    Bits(
        "Balancing Cells 1-16",
        16,
        [f"Balancing Cell{i:02d}" for i in range(1, 17)],
        2,
        BALANCING,
        little=False,
        count_from=_cells,
    ),
    Bits(
        "Balancing Cells 17-32",
        18,
        [f"Balancing Cell{i:02d}" for i in range(17, 33)],
        2,
        BALANCING,
        little=False,
        count_from=lambda record: record[CELLS_AT] - 16,
    ),
    Hex("Protection State (TODO)", 20, 2, RAW),
    Bits("Protection", 20, PROTECTION_BITS, 2, PROBLEM, little=False),
    Hex("Keep", 22, 1, RAW),
    Computed("Software Version", 22, 1, _version, hints=DIAGNOSTIC),
    Num("Remaining Battery", 23, 1, "%", Hints("battery", "measurement")),
    Hex("FET Control Status", 24, 1, RAW),
    Bits("FET", 24, ("Charge MOS", "Discharge MOS"), 1, SWITCH),
    Num("Number of Battery Strings", CELLS_AT, hints=DIAGNOSTIC),
    Num("Number of NTC", NTC_COUNT_AT, hints=DIAGNOSTIC),
    # NTC readings in 0.1 K; as many as the NTC count says.
    Series(
        "NTC {}",
        27,
        MAX_NTC,
        2,
        "°C",
        little=False,
        bias=-2731,
        scale=0.1,
        count_from=_ntc_count,
    ),
    Computed("Checksum", -3, 2, _trailer, hints=RAW),
    Computed("End Byte", -1, 1, _trailer, hints=RAW),
    code=0x03,
    min_data=BASIC_SIZE,
)

CELL_VOLTAGES: Final = query(
    "getCellVoltages",
    "Cell voltages (register 04), with min/max/spread",
    Series(
        "Voltage Cell{:02d}",
        4,
        MAX_CELLS,
        2,
        "V",
        little=False,
        scale=0.001,
        summary="Cell Voltage",
        count_from=lambda record: record[3] // 2,
    ),
    code=0x04,
)

DEVICE_NAME: Final = query(
    "getDeviceName",
    "Device (hardware version) name, register 05",
    Computed("Device Name", 4, 0, _name, hints=DIAGNOSTIC),
    code=0x05,
)

COMMANDS: Final[Mapping[str, Command]] = table(BASIC_INFO, CELL_VOLTAGES, DEVICE_NAME)


class JK232(FramedProtocol):
    """JK BMS over RS232/UART, JBD-style ``DD … 77`` frames."""

    id = "jk232"
    description = "JK/JBD BMS over RS232/UART (DD … 77 frames)"
    commands = COMMANDS
    status_commands = ("getBalancerData", "getCellVoltages")
    id_commands = ("getDeviceName",)

    def frame(self, command: Command, text: str) -> bytes:
        """Build ``DD A5 cmd 00 chk 77`` (reads carry no data)."""
        body = bytes((cast("int", command.options["code"]), 0))
        return bytes((START, READ)) + body + jbd_checksum(body).to_bytes(2, "big") + bytes((END,))

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where ``DD reg status len … chk 77`` lies: 7 + its length byte from its start.

        The answer starts with ``DD`` and the register asked for; the request (``DD A5 …``),
        echoed by some adapters, and noise before it are stepped over (see :mod:`.answers`).
        """
        start = buffer.find(bytes((START, cast("int", command.options["code"]))))
        if start < 0 or len(buffer) < start + 4:
            return None
        end = start + OVERHEAD + buffer[start + 3]
        return (start, end) if len(buffer) >= end else None

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Check start, register echo, status, length, checksum and end; return the frame.

        Offsets in the layouts are frame offsets (0 = start byte, data from 4).
        """
        if len(frame) < OVERHEAD:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, a frame has at least 7")
        if frame[0] != START:
            raise FrameError(f"{sent}: frame starts with {frame[0]:#04x}, not 0xdd")
        expected = cast("int", command.options["code"])
        if frame[1] != expected:
            raise FrameError(f"{sent}: answer to register {frame[1]:#04x}, not {expected:#04x}")
        size = OVERHEAD + frame[3]
        if len(frame) < size:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, the length says {size}")
        if len(frame) > size:
            raise FrameError(f"{sent}: {len(frame) - size} bytes after the frame")
        if frame[-1] != END:
            raise FrameError(f"{sent}: frame ends with {frame[-1]:#04x}, not 0x77")
        if jbd_checksum(frame[2:-3]) != int.from_bytes(frame[-3:-1], "big"):
            raise CRCError(f"{sent}: checksum {frame[-3:-1].hex()} does not match")
        if frame[2] == REFUSED:
            raise NAKError(f"{sent}: the BMS refused register {expected:#04x}")
        if frame[2] != 0:
            raise FrameError(f"{sent}: unknown status {frame[2]:#04x}")
        minimum = cast("int", command.options.get("min_data", 0))
        if frame[3] < minimum:
            raise TruncatedFrameError(f"{sent}: {frame[3]} data bytes, register needs {minimum}")
        return frame
