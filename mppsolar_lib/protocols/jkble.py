"""JK BMS over Bluetooth: request frames, record checks and the notification assembler.

Requests are 20 bytes: ``aa 55 90 eb``, a command code, a length byte, the value (little-endian,
4 bytes), zero padding and an 8-bit sum of the 19 bytes before it. The BMS answers in records:
``55 aa eb 90``, a record type (1 settings, 2 cell data, 3 device info), a counter, the payload
and, as byte 300, the 8-bit sum of the 299 bytes before it. Firmware 19.05 and later appends a
20-byte "ready" frame in request framing (``aa 55 90 eb c8 01 01 … 44``), which makes 320 bytes;
that same frame acknowledges a setting. Any 320-byte record whose sum sits at the very end is
accepted too (the reference implementation's completeness rule).

Notifications carry 20 to 244 bytes: :class:`JkRecordAssembler` rebuilds checked records from
them, drops noise (such as the Bluetooth module's ``AT`` + CR LF) and tells which layout a
device speaks. The layouts live in :mod:`.jk02`, :mod:`.jk02_32`, :mod:`.jkv11`, :mod:`.jk04`.

Sources: the reference implementation (mpp-solar), syssi/esphome-jk-bms (``jk_bms_ble.cpp`` and
``docs/protocol-design-ble.md``) and patman15/aiobmsble (``jikong_bms.py``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
import re
import struct
from typing import ClassVar, Final, NamedTuple

from mppsolar_lib.crc import sum8
from mppsolar_lib.errors import (
    CRCError,
    EchoError,
    FrameError,
    InvalidParameterError,
    NAKError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols.answers import FramedProtocol, Span
from mppsolar_lib.protocols.binary import BinSpec, Hex, Label, Num, Text
from mppsolar_lib.protocols.command import Command, Kind, Param
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Hints, Out

REQUEST_START: Final = b"\xaa\x55\x90\xeb"
RECORD_START: Final = b"\x55\xaa\xeb\x90"
REQUEST_LENGTH: Final = 20
RECORD_LENGTH: Final = 300
LONG_RECORD_LENGTH: Final = 320

SETTINGS_RECORD: Final = 1
CELL_RECORD: Final = 2
INFO_RECORD: Final = 3
RECORD_NAMES: Final = {
    SETTINGS_RECORD: "settings",
    CELL_RECORD: "cell data",
    INFO_RECORD: "device info",
}

#: Command codes: 0x96 makes the BMS send its settings record and then stream cell data; 0x97
#: asks for the device-info record.
CELL_INFO: Final = 0x96
DEVICE_INFO: Final = 0x97
#: Code of the frame that acknowledges a setting (and signals "ready" on newer firmware).
ACK_CODE: Final = 0xC8

#: The Bluetooth module's own chatter between records; the assembler drops it as noise.
MODULE_MESSAGE: Final = b"AT\r\n"

#: Entities nobody needs on a dashboard: kept for compatibility, hidden by default.
HIDDEN: Final = Hints(entity_category="diagnostic", enabled_default=False)
#: Passcodes the device reports: never shown unless a user asks for them.
SECRET: Final = HIDDEN
ENABLED_LABELS: Final = ("disabled", "enabled")


def request(code: int, value: int = 0, length: int = 0) -> bytes:
    """Return a 20-byte request: header, code, length, value (LE), zero padding, sum."""
    body = (
        REQUEST_START
        + bytes((code, length))
        + value.to_bytes(4, "little", signed=value < 0)
        + bytes(9)
    )
    return body + bytes((sum8(body),))


def record_name(record_type: int) -> str:
    """Name a record type for messages (``"cell data"``, ``"type 9"``)."""
    return RECORD_NAMES.get(record_type, f"type {record_type}")


def check_record(frame: bytes, sent: str, expected: int | None = None) -> bytes:
    """Validate a 300/320-byte record (start, length, sum, type) and return it."""
    if frame.startswith(REQUEST_START):
        raise FrameError(f"{sent}: got a {len(frame)}-byte command frame, not a record")
    if not frame.startswith(RECORD_START):
        raise FrameError(f"{sent}: record does not start with 55 aa eb 90 ({frame[:8].hex()}…)")
    length = len(frame)
    if length < RECORD_LENGTH:
        raise TruncatedFrameError(f"{sent}: record has {length} bytes, a record has 300")
    if length not in (RECORD_LENGTH, LONG_RECORD_LENGTH):
        raise FrameError(f"{sent}: record has {length} bytes; records have 300 or 320")
    # The sum sits at byte 300 even in 320-byte answers; some firmware puts it at the very end.
    if sum8(frame[:299]) != frame[299] and not (
        length == LONG_RECORD_LENGTH and sum8(frame[:-1]) == frame[-1]
    ):
        raise CRCError(f"{sent}: record checksum does not match")
    if expected is not None and frame[4] != expected:
        raise FrameError(
            f"{sent}: expected a {record_name(expected)} record, got {record_name(frame[4])}"
        )
    return frame


def check_ack(frame: bytes, sent: str, request_code: int) -> bytes:
    """Validate the 20-byte acknowledgement of a setting; raise NAKError if it refuses."""
    if frame.startswith(RECORD_START):
        kind = record_name(frame[4]) if len(frame) > 4 else "truncated"
        raise FrameError(f"{sent}: got a {kind} record, not the acknowledgement")
    if not frame.startswith(REQUEST_START):
        raise FrameError(f"{sent}: answer does not start with aa 55 90 eb ({frame[:8].hex()}…)")
    if len(frame) < REQUEST_LENGTH:
        raise TruncatedFrameError(f"{sent}: acknowledgement has {len(frame)} bytes, not 20")
    if len(frame) != REQUEST_LENGTH:
        raise FrameError(f"{sent}: acknowledgement has {len(frame)} bytes, not 20")
    if sum8(frame[:19]) != frame[19]:
        raise CRCError(f"{sent}: acknowledgement checksum does not match")
    if frame[4] == request_code:
        raise EchoError(f"{sent}: the request came back instead of an acknowledgement")
    if frame[4] != ACK_CODE:
        raise FrameError(f"{sent}: code 0x{frame[4]:02x} is not an acknowledgement (0xc8)")
    if frame[6] != 1:
        raise NAKError(f"{sent}: the BMS did not confirm the setting (status {frame[6]})")
    return frame


class Decimals(Param):
    """A decimal value in a range, on a step: ``3.65`` (V) for a cell voltage setter."""

    _TEXT: ClassVar[re.Pattern[str]] = re.compile(r"\d{1,4}(\.\d{0,3})?")

    def __init__(self, minimum: str, maximum: str, step: str, unit: str, example: str) -> None:
        """Range and step as decimal text (exact arithmetic); ``example`` for help texts."""
        self.minimum = Decimal(minimum)
        self.maximum = Decimal(maximum)
        self.step = Decimal(step)
        self.unit = unit
        self.example = example

    def validate(self, text: str) -> None:
        """Check format, range and step."""
        if not self._TEXT.fullmatch(text):
            raise InvalidParameterError(f"{text!r} is not a number; use {self.describe()}")
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise InvalidParameterError(f"{text!r} is not a number") from None
        if not self.minimum <= value <= self.maximum:
            raise InvalidParameterError(f"{text} is out of range; use {self.describe()}")
        if (value - self.minimum) % self.step:
            raise InvalidParameterError(f"{text} is not on the step; use {self.describe()}")

    def describe(self) -> str:
        """Range, step and an example."""
        return (
            f"{self.minimum}–{self.maximum} {self.unit} in steps of {self.step}"
            f" (e.g. {self.example})"
        )


class Uptime(BinSpec):
    """Seconds shown as the reference does, ``16D18H39M52S`` (days, hours, minutes, seconds)."""

    __slots__ = ()

    def __init__(self, name: str, offset: int, size: int = 4, hints: Hints | None = None) -> None:
        """Read a little-endian count of seconds."""
        super().__init__(name, offset, size, "", hints if hints is not None else DIAGNOSTIC)

    def read(self, record: bytes, out: Out) -> None:
        """Split the seconds into days, hours, minutes and seconds."""
        seconds = int.from_bytes(record[self.offset : self.end], "little")
        days, seconds = divmod(seconds, 86400)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        out[self.key] = f"{days}D{hours}H{minutes}M{seconds}S"


def _text(name: str, offset: int, size: int, hints: Hints = DIAGNOSTIC) -> Text:
    # Model, versions, date and serial number come from the factory in ASCII: other bytes mean
    # a broken record. Empty texts are reported as "" as the reference does.
    return Text(name, offset, size, hints, keep_empty=True)


def _user_text(name: str, offset: int, size: int, hints: Hints = DIAGNOSTIC) -> Text:
    # Names, passcodes and user data are typed in the vendor's app (JK lets users name the
    # pack): UTF-8, with undecodable bytes replaced so that a name loses no checksum-verified
    # record.
    return Text(name, offset, size, hints, keep_empty=True, encoding="utf-8", errors="replace")


#: First six bytes of every record.
HEADER: Final[tuple[BinSpec, ...]] = (
    Hex("Header", 0, 4, HIDDEN),
    Hex("Record Type", 4, 1, HIDDEN),
    Num("Record Counter", 5, 1, hints=HIDDEN),
)

#: Device-info record (type 3), the same on every layout (offsets: reference, esphome-jk-bms).
DEVICE_INFO_FIELDS: Final[tuple[BinSpec, ...]] = (
    *HEADER,
    _text("Device Model", 6, 16),
    _text("Hardware Version", 22, 8),
    _text("Software Version", 30, 8),
    Uptime("Up Time", 38),
    Num("Power-on Times", 42, 4, hints=DIAGNOSTIC),
    _user_text("Device Name", 46, 16),
    _user_text("Device Passcode", 62, 16, SECRET),
    _text("Manufacturing Date", 78, 8),
    # The reference splits esphome's 16-byte serial number into 11 bytes + a 5-byte passcode.
    _text("Serial Number", 86, 11),
    _user_text("Passcode", 97, 5, SECRET),
    _user_text("User Data", 102, 16),
    _user_text("Setup Passcode", 118, 16, SECRET),
)
#: Keys of the passcodes above (hidden, but in every result; jkpb does not report them).
PASSCODES: Final = frozenset({"device_passcode", "passcode", "setup_passcode"})

#: Field of a setter's answer: the acknowledgement's status byte (1 = done).
ACK_FIELDS: Final[tuple[BinSpec, ...]] = (Label("Command execution", 6, {1: "Successful"}),)


def _int_option(command: Command, key: str) -> int:
    value = command.options[key]
    if not isinstance(value, int):  # pragma: no cover - a table bug
        raise TypeError(f"{command.name}: option {key} must be an int")
    return value


class JkBleProtocol(FramedProtocol):
    """Framing shared by the JK Bluetooth layouts (jk02, jk02_32, jkv11, jk04).

    Commands carry their code in ``options["code"]``; queries the record type they answer with
    in ``options["record"]``; setters a fixed ``options["value"]`` or a parameter that is
    multiplied by ``options["scale"]`` (volts to millivolts).
    """

    #: Cell positions in the cell-data record.
    cells: ClassVar[int] = 24

    def frame(self, command: Command, text: str) -> bytes:
        """Build the 20-byte request; a setter's value is 4 bytes little-endian."""
        code = _int_option(command, "code")
        if command.kind is not Kind.SETTER:
            return request(code)
        if command.param is None:
            return request(code, _int_option(command, "value"), 4)
        value = Decimal(text[len(command.name) :]) * _int_option(command, "scale")
        return request(code, int(value), 4)

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Setters expect the acknowledgement; queries a record of their type."""
        if command.kind is Kind.SETTER:
            return check_ack(frame, sent, _int_option(command, "code"))
        return check_record(frame, sent, _int_option(command, "record"))

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where the answer lies: the first record of the command's type, or the ACK.

        Records of other types (the settings record a ``0x96`` request sends before the cell
        data, the cell data a BMS streams while a setting is written), request echoes and
        "ready" frames are stepped over; a setter's answer is the first 20-byte frame with code
        ``0xc8``. See :func:`find_frame` for the record lengths.
        """
        if command.kind is Kind.SETTER:
            return find_frame(buffer, ack=True)
        return find_frame(buffer, record_type=_int_option(command, "record"))


# -- where an answer ends -----------------------------------------------------------------------


def record_length(buffer: bytes, start: int, *, ready: bool = True) -> int | None:
    """Length of the record at ``start``: 300, 320, 0 if damaged, None if more bytes are needed.

    300 when the sum at byte 300 holds, 320 when the 20-byte "ready" frame follows it (or when
    the sum sits at the very end of 320 bytes). A record whose sums both fail is damaged.
    ``ready=False`` leaves a following ready frame out (it may be a setter's acknowledgement).
    """
    available = len(buffer) - start
    if available < RECORD_LENGTH:
        return None
    end = start + RECORD_LENGTH
    if sum8(buffer[start : end - 1]) == buffer[end - 1]:
        if not ready:
            return RECORD_LENGTH
        tail = buffer[end : end + len(REQUEST_START)]
        if not tail or not REQUEST_START.startswith(tail):
            return RECORD_LENGTH
        # The ready frame that newer firmware appends: wait for it whole.
        return LONG_RECORD_LENGTH if available >= LONG_RECORD_LENGTH else None
    if available < LONG_RECORD_LENGTH:
        return None
    end = start + LONG_RECORD_LENGTH
    return LONG_RECORD_LENGTH if sum8(buffer[start : end - 1]) == buffer[end - 1] else 0


def find_frame(buffer: bytes, *, record_type: int | None = None, ack: bool = False) -> Span | None:
    """Return where the first record of ``record_type`` (or, ``ack``, acknowledgement) lies.

    Everything before it counts (see :mod:`.answers`); whole frames that are not the answer are
    stepped over, a damaged record of the wanted type ends the answer (``decode`` reports its
    checksum), a damaged one of another type is searched through byte by byte.
    """
    pos = 0
    while True:
        found = [i for i in (buffer.find(s, pos) for s in _STARTS) if i >= 0]
        if not found:
            return None
        start = min(found)
        if buffer.startswith(REQUEST_START, start):
            end = start + REQUEST_LENGTH
            if len(buffer) < end:
                return None
            if sum8(buffer[start : end - 1]) != buffer[end - 1]:
                pos = start + 1
                continue
            if ack and buffer[start + 4] == ACK_CODE:
                return start, end
            pos = end  # an echo of the request, or a "ready" frame between records
            continue
        length = record_length(buffer, start, ready=not ack)
        if length is None:
            return None
        wanted = not ack and buffer[start + 4] == record_type
        if length == 0:
            if wanted:
                return start, start + RECORD_LENGTH
            pos = start + 1
            continue
        if wanted:
            return start, start + length
        pos = start + length


# -- notification assembler ---------------------------------------------------------------------


class JkRecord(NamedTuple):
    """One checked frame out of the notification stream."""

    frame: bytes

    @property
    def record_type(self) -> int:
        """Record type (1 settings, 2 cell data, 3 device info) or a command frame's code."""
        return self.frame[4]

    @property
    def is_acknowledgement(self) -> bool:
        """Whether this is a 20-byte frame in request framing (0xc8: acknowledgement/ready)."""
        return self.frame.startswith(REQUEST_START)


_STARTS: Final = (RECORD_START, REQUEST_START)
_AVERAGE_TOLERANCE: Final = 0.05  # V: the BMS's own average against the cells' mean
_CELLS_U16: Final = struct.Struct("<32H")
_CELLS_F32: Final = struct.Struct("<24f")
_FLOAT_AVERAGE: Final = struct.Struct("<f")


def _partial_start(data: bytes) -> int:
    """Length of the longest tail of ``data`` that could begin a header (0–3)."""
    for size in (3, 2, 1):
        tail = data[-size:]
        if len(data) >= size and any(start.startswith(tail) for start in _STARTS):
            return size
    return 0


def software_major(version: str | None) -> int | None:
    """Leading number of a version text (``"11.XW"`` -> 11), None if there is none."""
    match = re.match(r"\s*[vV]?(\d+)", version or "")
    return int(match.group(1)) if match else None


def cell_layout(frame: bytes) -> str | None:
    """Guess the cell-data layout from the record itself: ``jk04``, ``jk02``, ``jk02_32``.

    The record reports its own average cell voltage; only the right layout puts a value there
    that matches the mean of the cells it reads (4-byte floats for jk04, 2-byte millivolts at
    offset 58 for 24 cells or 74 for 32).
    """
    if len(frame) < RECORD_LENGTH or frame[4] != CELL_RECORD:
        return None
    candidates: list[tuple[str, float, list[float]]] = []
    floats = [v for v in _CELLS_F32.unpack_from(frame, 6) if 0.5 < v < 5.5]
    if floats:
        candidates.append(("jk04", _FLOAT_AVERAGE.unpack_from(frame, 202)[0], floats))
    # 32 cells first: in a 24-cell record offset 74 holds a resistance, never a cell voltage,
    # while a record with more than 26 cells has a voltage at offset 58.
    for protocol, cells, average_at in (("jk02_32", 32, 74), ("jk02", 24, 58)):
        values = [v / 1000 for v in _CELLS_U16.unpack_from(frame, 6)[:cells] if v]
        average = int.from_bytes(frame[average_at : average_at + 2], "little") / 1000
        candidates.append((protocol, average, values))
    for protocol, average, values in candidates:
        if values and abs(sum(values) / len(values) - average) < _AVERAGE_TOLERANCE:
            return protocol
    return None


class JkRecordAssembler:
    """Rebuild JK records from Bluetooth notifications (sans-IO).

    ``feed(chunk)`` returns the records completed by ``chunk``: 300/320-byte records starting
    ``55 aa eb 90`` and 20-byte frames starting ``aa 55 90 eb`` (acknowledgements), each with a
    valid sum. Bytes before a header are noise (counted in :attr:`noise_bytes`); a frame whose
    sum fails is counted in :attr:`bad_records` and the search resumes one byte after its start,
    so a record that began inside a damaged one is still found. The result depends only on the
    bytes, never on how they were chunked. At most 319 bytes are held between calls.

    :attr:`protocol_id` tells which layout to decode cell data with, from the cell-data record
    itself, the device-info record's software version (11 and later: 32 cells) or 320-byte
    records.
    """

    __slots__ = (
        "_layout",
        "_pending",
        "bad_records",
        "hardware_version",
        "long_records",
        "noise_bytes",
        "records",
        "software_version",
    )

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._pending = b""
        self._layout: str | None = None
        self.records = 0
        self.bad_records = 0
        self.noise_bytes = 0
        self.long_records = 0
        self.software_version: str | None = None
        self.hardware_version: str | None = None

    def reset(self) -> None:
        """Forget buffered bytes (after a reconnect); counters and layout are kept."""
        self._pending = b""

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._pending)

    @property
    def protocol_id(self) -> str | None:
        """The protocol id to decode this device's cell data with, once known."""
        if self._layout is not None:
            return self._layout
        major = software_major(self.software_version)
        if major is not None:
            return "jk02_32" if major >= 11 else "jk02"
        return "jk02_32" if self.long_records else None

    def feed(self, chunk: bytes) -> list[JkRecord]:
        """Add one notification; return the records it completes."""
        data = self._pending + bytes(chunk)
        size = len(data)
        pos = 0
        found: list[JkRecord] = []
        while True:
            starts = [i for i in (data.find(s, pos) for s in _STARTS) if i >= 0]
            if not starts:
                keep = _partial_start(data[pos:])
                self.noise_bytes += size - pos - keep
                pos = size - keep
                break
            start = min(starts)
            self.noise_bytes += start - pos
            pos = start
            length = self._frame_length(data, pos)
            if length is None:  # wait for more bytes
                break
            if length == 0:
                self.bad_records += 1
                pos += 1
                continue
            frame = data[pos : pos + length]
            pos += length
            self._note(frame)
            found.append(JkRecord(frame))
        self._pending = data[pos:]
        return found

    @staticmethod
    def _frame_length(data: bytes, pos: int) -> int | None:
        """Length of the valid frame at ``pos``; 0 if it is damaged; None if incomplete."""
        available = len(data) - pos
        if data.startswith(REQUEST_START, pos):
            if available < REQUEST_LENGTH:
                return None
            return REQUEST_LENGTH if sum8(data[pos : pos + 19]) == data[pos + 19] else 0
        if available < RECORD_LENGTH:
            return None
        if sum8(data[pos : pos + 299]) == data[pos + 299]:
            return RECORD_LENGTH
        if available < LONG_RECORD_LENGTH:
            return None
        end = pos + LONG_RECORD_LENGTH - 1
        return LONG_RECORD_LENGTH if sum8(data[pos:end]) == data[end] else 0

    def _note(self, frame: bytes) -> None:
        self.records += 1
        if frame.startswith(REQUEST_START):
            return
        if len(frame) == LONG_RECORD_LENGTH:
            self.long_records += 1
        if frame[4] == INFO_RECORD:
            out: Out = {}
            try:
                for spec in DEVICE_INFO_FIELDS[4:6]:
                    spec.read(frame, out)
            except UnicodeDecodeError:  # versions that are no ASCII text tell nothing
                return
            self.hardware_version = str(out["hardware_version"]) or None
            self.software_version = str(out["software_version"]) or None
        elif frame[4] == CELL_RECORD:
            self._layout = cell_layout(frame) or self._layout
