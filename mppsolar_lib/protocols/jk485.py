"""JK485: the RS485 protocol of JK's active balancers (JK-B… balancer boards).

Request: ``55 AA addr func 00 00 sum`` — ``func`` ``FF`` reads the status; ``sum`` is the byte sum
modulo 256 (:func:`~mppsolar_lib.crc.sum8`) of the six bytes before it.
Answer: 74 bytes ``EB 90 addr func`` + status + 24 cell voltages + temperature + ``sum`` (byte sum
of the 73 bytes before it). Numbers are big-endian.

Offsets and meanings follow the reference implementation and syssi's esphome-jk-bms
``jk_balancer`` component (which documents a capture from a 20-cell pack):

* bytes 9 and 10 (highest / lowest cell) count from 0 — the capture reports 0 and 19 for cells 1
  and 20 — so the summary fields computed from the cell voltages give 1-based numbers instead;
* byte 11 is the balancing state (0 idle, 1 charging, 2 discharging), byte 12 alarm bits;
* byte 22 is the configured cell count: only that many of the 24 voltage slots are reported;
* bytes 71-72 are a signed temperature in 0.1 °C (the capture's ``00 A3`` is 16.3 °C).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mppsolar_lib.crc import sum8
from mppsolar_lib.errors import CRCError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols.answers import FramedProtocol, Span
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import Bits, Hex, Label, Num, Series
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, PROBLEM, Hints

REQUEST_HEADER: Final = b"\x55\xaa"
ANSWER_HEADER: Final = b"\xeb\x90"
ADDRESS: Final = 0x01
READ_ALL: Final = 0xFF
SIZE: Final = 74
CONFIGURED_CELLS_AT: Final = 22

#: Raw bytes the reference reports as hex; kept for key compatibility, hidden by default.
RAW: Final = Hints(entity_category="diagnostic", enabled_default=False)
BALANCING: Final = Hints(icon="mdi:scale-balance")

STATUS: Final = query(
    "getBalancerData",
    "Balancer status: pack and cell voltages, balancing state, alarms, temperature",
    Hex("Header", 0, 2, RAW),
    Hex("Slave Address", 2, 1, RAW),
    Hex("Command Code", 3, 1, RAW),
    Num("Total Battery Voltage", 4, 2, "V", little=False, scale=0.01),
    Num("Average Cell Voltage", 6, 2, "V", little=False, scale=0.001),
    Num("Number of Cells", 8, hints=DIAGNOSTIC),
    # 0-based cell numbers as sent (see the module docstring).
    Num("Highest Cell", 9, hints=DIAGNOSTIC),
    Num("Lowest Cell", 10, hints=DIAGNOSTIC),
    Hex("Charging / Discharging", 11, 1, RAW),
    Label("Balancing State", 11, ("Idle", "Charging", "Discharging"), hints=BALANCING),
    Hex("Alarm - todo", 12, 1, RAW),
    Bits("Alarms", 12, ("Wrong Cell Count", "Resistance Too High", "Overvoltage"), 1, PROBLEM),
    Num("Voltage Difference", 13, 2, "V", little=False, scale=0.001),
    Num("Balance Current", 15, 2, "A", signed=True, little=False, scale=0.001),
    Num("Balance Trigger Voltage", 17, 2, "V", DIAGNOSTIC, little=False, scale=0.001),
    Num("Max Balance Current", 19, 2, "A", DIAGNOSTIC, little=False, scale=0.001),
    Hex("Balance On / Off", 21, 1, RAW),
    Bits("Balancer Switch", 21, ("Balancer Enabled",), 1, BALANCING),
    Num("Set Number of Cells", CONFIGURED_CELLS_AT, hints=DIAGNOSTIC),
    Series(
        "Voltage Cell{:02d}",
        23,
        24,
        2,
        "V",
        little=False,
        scale=0.001,
        summary="Cell Voltage",
        count_from=lambda record: record[CONFIGURED_CELLS_AT],
    ),
    Num("Temperature", 71, 2, "°C", signed=True, little=False, scale=0.1),
    Hex("Checksum", 73, 1, RAW),
    function=READ_ALL,
)

COMMANDS: Final[Mapping[str, Command]] = table(STATUS)


class JK485(FramedProtocol):
    """JK active balancer over RS485 (``55 AA`` requests, ``EB 90`` answers)."""

    id = "jk485"
    description = "JK active balancer over RS485 (55 AA / EB 90 frames)"
    commands = COMMANDS
    status_commands = ("getBalancerData",)

    def frame(self, command: Command, text: str) -> bytes:
        """Build ``55 AA 01 func 00 00 sum``."""
        body = REQUEST_HEADER + bytes((ADDRESS, READ_ALL, 0, 0))
        return body + bytes((sum8(body),))

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where the 74-byte ``EB 90 addr FF …`` answer lies (noise before it is skipped)."""
        start = buffer.find(ANSWER_HEADER)
        while start >= 0 and len(buffer) > start + 3 and buffer[start + 3] != READ_ALL:
            start = buffer.find(ANSWER_HEADER, start + 1)
        if start < 0 or len(buffer) < start + SIZE:
            return None
        return start, start + SIZE

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Check header, function, size and checksum; return the frame (offsets are frame offsets)."""
        if len(frame) < SIZE:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, the answer has {SIZE}")
        if len(frame) > SIZE:
            raise FrameError(f"{sent}: {len(frame)} bytes, the answer has {SIZE}")
        if frame[:2] != ANSWER_HEADER:
            raise FrameError(f"{sent}: header {frame[:2].hex()}, not eb90")
        if frame[3] != READ_ALL:
            raise FrameError(f"{sent}: answer to function {frame[3]:#04x}, not 0xff")
        if sum8(frame[:-1]) != frame[-1]:
            raise CRCError(f"{sent}: checksum {frame[-1]:#04x} does not match")
        return frame
