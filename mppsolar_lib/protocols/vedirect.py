r"""Victron VE.Direct: text mode (a stream of checksummed blocks) and HEX mode (registers).

**Text mode.** The device sends, unasked, about once a second, blocks of records
``\r\n<label>\t<value>``; a block ends with ``\r\nChecksum\t<byte>``, the byte chosen so that
all bytes of the block add up to 0 modulo 256. Products that report more than fit one block
(BMV/SmartShunt history ``H1``…) alternate between blocks. :class:`VeDirectTextParser` is a
sans-IO reassembler: feed it whatever the port delivered; it returns the blocks whose checksum
holds. Blocks may span reads; the partial block a capture starts with fails its checksum and is
dropped; so is any block with a bad checksum or a malformed line.

**HEX mode.** Frames are ``:`` + a command nibble + data bytes as hex digits + a check byte +
``\n``; the nibble, the data bytes and the check byte add up to 0x55 modulo 256. Get (``7``) and
set (``8``) address a register by its 16-bit id, little-endian, then a flags byte and, for set
and in answers, the value (little-endian). A device also sends HEX frames on its own
(asynchronous updates, command ``A``) in the middle of the text stream, even in the middle of a
line: the text parser takes them out (their bytes are not part of the text checksum) and hands
them back through :meth:`VeDirectTextParser.take_hex_frames`.

Sources: Victron's public "VE.Direct Protocol" (text labels, units, enumerations) and
"VE.Direct HEX protocol" (framing; BMV/SmartShunt register ids, types and units as in Victron's
``ve_regs.h``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
import re
import struct
from types import MappingProxyType
from typing import ClassVar, Final, NamedTuple

from mppsolar_lib.errors import (
    CRCError,
    FrameError,
    InvalidParameterError,
    NAKError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols.answers import everything, lookup
from mppsolar_lib.protocols.base import Protocol, table
from mppsolar_lib.protocols.command import Command, Kind, Param, query
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    PROBLEM,
    FieldInfo,
    FieldKind,
    Hints,
    Int,
    Keyed,
    Out,
    Result,
    Spec,
    Str,
    is_placeholder,
    slugify,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table

# -- HEX framing -------------------------------------------------------------------------------

#: HEX command nibbles (requests and answers).
GET: Final = 0x7
SET: Final = 0x8
ASYNC: Final = 0xA
#: Answer nibbles that mean the device could not handle the request.
UNKNOWN_COMMAND: Final = 0x3
FRAME_ERROR: Final = 0x4

#: Flags byte of get/set answers: bit -> meaning.
RESPONSE_FLAGS: Final = {0x01: "Unknown ID", 0x02: "Not supported", 0x04: "Parameter Error"}

_HEX_FRAME = re.compile(rb":([0-9A-Fa-f]+)\n")


def hex_check(nibble: int, data: bytes) -> int:
    """Return the check byte of a HEX frame: 0x55 minus the sum of nibble and data, mod 256."""
    return (0x55 - nibble - sum(data)) & 0xFF


def hex_frame(nibble: int, data: bytes = b"") -> bytes:
    r"""Build ``:`` + nibble + data + check byte (upper-case hex) + ``\n``."""
    body = bytes((*data, hex_check(nibble, data))).hex().upper()
    return b":%X%s\n" % (nibble, body.encode("ascii"))


def parse_hex_frame(frame: bytes) -> tuple[int, bytes]:
    r"""Check one HEX frame (``:`` … ``\n``) and return its command nibble and data bytes.

    Raises :class:`FrameError` for a malformed frame and :class:`CRCError` for a bad check byte.
    """
    match = _HEX_FRAME.fullmatch(frame)
    if match is None:
        raise FrameError(f"not a VE.Direct HEX frame: {frame[:40]!r}")
    digits = match.group(1)
    # The nibble stands alone; everything after it must be whole bytes, the check byte last.
    if len(digits) < 3 or len(digits) % 2 == 0:
        raise FrameError(f"HEX frame has a partial byte or no check byte: {frame[:40]!r}")
    raw = bytes.fromhex("0" + digits.decode("ascii"))
    if sum(raw) & 0xFF != 0x55:
        raise CRCError(f"HEX frame check byte does not match: {frame[:40]!r}")
    return raw[0], raw[1:-1]


# -- text mode: the streaming parser -----------------------------------------------------------


class TextBlock(NamedTuple):
    """One checksum-verified text block: its records in the order sent, Checksum excluded."""

    records: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, str]:
        """Return the records as label -> value."""
        return dict(self.records)


_LABEL, _VALUE, _CHECK, _SKIP = range(4)
_LABEL_STOP: Final = re.compile(rb"[\t\n:]")
_VALUE_STOP: Final = re.compile(rb"[\n:]")
_NOT_HEX: Final = re.compile(rb"[^0-9A-Fa-f]")
_LABEL_CHARS: Final = re.compile(rb"[A-Za-z0-9_#]+")
#: Whole record lines (not the Checksum line); bounds as the byte-wise path enforces them.
_RECORDS: Final = re.compile(rb"(?:(?!Checksum\t)[A-Za-z0-9_#]{1,16}\t[^\n:]{0,143}\n)+")
_CHECKSUM_LABEL: Final = b"Checksum"
#: What the Checksum label and its tab add to a block's sum (the CR LF before it ends the last
#: record line and is counted there).
_CHECKSUM_SUM: Final = sum(_CHECKSUM_LABEL + b"\t")
_CRLF_SUM: Final = 0x0D + 0x0A

#: Bounds against garbage, well above what devices send (labels of at most 9 characters, values
#: of at most 33, a couple of dozen records per block, HEX frames well under 100 digits).
MAX_LABEL: Final = 16
MAX_LINE: Final = 160
MAX_RECORDS: Final = 64
MAX_HEX: Final = 256


class VeDirectTextParser:
    """Reassemble VE.Direct text blocks from arbitrary chunks of a serial stream (sans-IO).

    ``feed(chunk)`` returns the blocks completed by ``chunk`` whose checksum holds. Asynchronous
    HEX frames found in the stream are kept (checked, up to ``max_hex_frames``) for
    :meth:`take_hex_frames`. Memory stays bounded whatever the input.

    Resynchronisation: a block starts at its first well-formed record line (label, tab, value);
    anything before it (the tail of a block cut by the start of a capture, noise between blocks)
    is skipped. The CR LF that precedes the first record is counted as sent even when the capture
    cut it off, so a block whose records are all present still verifies. A malformed line after a
    block's first record spoils that block.
    """

    __slots__ = (
        "_corrupt",
        "_hex",
        "_hex_frames",
        "_line",
        "_records",
        "_state",
        "_sum",
        "_tab",
        "bad_blocks",
        "bad_hex_frames",
        "checksum_errors",
        "last_error",
    )

    def __init__(self, max_hex_frames: int = 16) -> None:
        """Start with nothing buffered; ``max_hex_frames`` bounds the HEX frames kept."""
        self._hex_frames: deque[bytes] = deque(maxlen=max_hex_frames)
        self._line = bytearray()
        self._records: list[tuple[str, str]] = []
        self._hex: bytearray | None = None
        self._state = _LABEL
        self._sum = 0
        self._tab = 0
        self._corrupt = False
        #: Blocks dropped (bad checksum, malformed line, no records), and why the last one was.
        self.bad_blocks = 0
        self.checksum_errors = 0
        self.bad_hex_frames = 0
        self.last_error: str | None = None

    def feed(self, data: bytes) -> list[TextBlock]:
        """Consume ``data``; return the blocks it completed that passed their checksum."""
        blocks: list[TextBlock] = []
        pos, end = 0, len(data)
        while pos < end:
            pending_hex = self._hex
            if pending_hex is not None:
                pos = self._hex_step(pending_hex, data, pos, end)
                continue
            state = self._state
            if state == _CHECK:
                self._end_block(data[pos], blocks)
                pos += 1
                continue
            if state == _SKIP:
                # Discard up to the line feed, but a HEX frame may still start in there.
                match = _VALUE_STOP.search(data, pos)
                if match is None:
                    break
                pos = match.end()
                if data[match.start()] == 0x3A:
                    self._hex = bytearray(b":")
                else:
                    self._malformed()
                continue
            line = self._line
            if state == _LABEL and not line:
                # Fast path, the common case: whole record lines, all in this chunk.
                run = _RECORDS.match(data, pos)
                if run is not None:
                    pos = run.end()
                    self._add_run(run.group())
                    continue
            match = (_LABEL_STOP if state == _LABEL else _VALUE_STOP).search(data, pos)
            stop = end if match is None else match.start()
            line += data[pos:stop]
            if len(line) > (MAX_LABEL if state == _LABEL else MAX_LINE):
                self._skip("line too long")
                pos = stop
                continue
            if match is None:
                break
            pos = stop + 1
            char = data[stop]
            if char == 0x3A:  # ":" starts a HEX frame, wherever it falls in the text
                self._hex = bytearray(b":")
            elif char == 0x09:
                self._end_label()
            else:
                self._end_line()
        return blocks

    def take_hex_frames(self) -> list[bytes]:
        """Return (and forget) the checked HEX frames found in the stream so far, oldest first."""
        frames = list(self._hex_frames)
        self._hex_frames.clear()
        return frames

    # -- text states ---------------------------------------------------------------------------

    def _end_label(self) -> None:
        line = self._line
        if line == _CHECKSUM_LABEL:
            self._state = _CHECK
            return
        if not _LABEL_CHARS.fullmatch(line):
            self._skip("malformed label")
            return
        self._tab = len(line)
        line.append(0x09)
        self._state = _VALUE

    def _end_line(self) -> None:
        """Handle a line feed: end a record (after a tab), a separator or a malformed line."""
        line = self._line
        if self._state == _LABEL:
            if line and line != b"\r":
                self._malformed()
            elif self._records:
                self._sum += sum(line) + 0x0A
            line.clear()
            return
        self._state = _LABEL
        tab = self._tab
        self._add(bytes(line[:tab]), bytes(line[tab + 1 :]), sum(line) + 0x0A)
        line.clear()

    def _add_run(self, text: bytes) -> None:
        """Add the records of consecutive whole lines (``text`` ends with a line feed)."""
        records = self._records
        # The first record's block starts at the CR LF before it, counted even if cut off.
        self._sum = (self._sum if records else _CRLF_SUM) + sum(text)
        for line in text[:-1].split(b"\n"):
            label, _, value = line.partition(b"\t")
            if value.endswith(b"\r"):
                value = value[:-1]
            records.append((label.decode("ascii"), value.decode("latin-1")))
        if len(records) > MAX_RECORDS:
            del records[MAX_RECORDS:]
            self._spoil("too many records")

    def _add(self, label: bytes, value: bytes, line_sum: int) -> None:
        """Add a record; ``line_sum`` is the sum of its line, line feed included."""
        records = self._records
        if len(records) >= MAX_RECORDS:
            self._spoil("too many records")
            return
        # The first record's block starts at the CR LF before it, counted even if cut off.
        self._sum = (self._sum if records else _CRLF_SUM) + line_sum
        if value.endswith(b"\r"):
            value = value[:-1]
        records.append((label.decode("ascii"), value.decode("latin-1")))

    def _end_block(self, check: int, blocks: list[TextBlock]) -> None:
        """Take the byte after ``Checksum<tab>``: verify and hand out the block, or drop it."""
        records = self._records
        if not records:
            self._drop("checksum line without records (partial block)")
        elif self._corrupt:
            self._drop("malformed line inside the block")
        elif (self._sum + _CHECKSUM_SUM + check) & 0xFF:
            self.checksum_errors += 1
            self._drop("checksum mismatch")
        else:
            blocks.append(TextBlock(tuple(records)))
        self._records = []
        self._corrupt = False
        self._line.clear()
        self._state = _LABEL

    def _skip(self, reason: str) -> None:
        """Discard the rest of the current line (up to the next line feed)."""
        self._line.clear()
        self._state = _SKIP
        self.last_error = reason

    def _malformed(self) -> None:
        """Handle a line that is not a record: noise before a block, or damage inside one."""
        self._line.clear()
        self._state = _LABEL
        if self._records:
            self._spoil("malformed line")

    def _spoil(self, reason: str) -> None:
        self._corrupt = True
        self.last_error = reason

    def _drop(self, reason: str) -> None:
        self.bad_blocks += 1
        self.last_error = reason

    # -- HEX frames inside the text ------------------------------------------------------------

    def _hex_step(self, frame: bytearray, data: bytes, pos: int, end: int) -> int:
        """Collect HEX digits up to the line feed; return where the text resumes."""
        match = _NOT_HEX.search(data, pos)
        stop = end if match is None else match.start()
        frame += data[pos:stop]
        if len(frame) > MAX_HEX:
            self._bad_hex("HEX frame too long")
            return stop
        if match is None:
            return end
        if data[stop] != 0x0A:
            # Not a HEX frame after all: drop what was taken, read the byte as text again.
            self._bad_hex("HEX frame interrupted")
            return stop
        frame.append(0x0A)
        self._hex = None
        try:
            parse_hex_frame(bytes(frame))
        except FrameError as err:
            self.bad_hex_frames += 1
            self.last_error = str(err)
        else:
            self._hex_frames.append(bytes(frame))
        return stop + 1

    def _bad_hex(self, reason: str) -> None:
        self._hex = None
        self.bad_hex_frames += 1
        self.last_error = reason


# -- text mode: what the labels mean -----------------------------------------------------------


class Bits(Spec):
    """A bit mask (decimal, or ``0x`` hex): the mask as an integer plus one boolean per bit."""

    __slots__ = ("bits",)
    kind = FieldKind.NUMBER

    def __init__(
        self, name: str, bits: Sequence[tuple[int, str]], hints: Hints | None = None
    ) -> None:
        """Name the mask and its bits (``(bit value, field name)``)."""
        super().__init__(name, "", DIAGNOSTIC)
        bit_hints = hints if hints is not None else DIAGNOSTIC
        self.bits = tuple(
            (bit, FieldInfo(slugify(n), n, "", bit_hints, kind=FieldKind.BOOL)) for bit, n in bits
        )

    def decode(self, token: str, out: Out) -> None:
        """Keep the mask; set each named bit's boolean."""
        try:
            mask = int(token, 16) if token[:2] in ("0x", "0X") else int(token)
        except ValueError:
            if is_placeholder(token):
                return
            raise self._bad(token, "a bit mask") from None
        out[self.key] = mask
        for bit, info in self.bits:
            out[info.key] = bool(mask & bit)

    def info(self) -> tuple[FieldInfo, ...]:
        """Describe the mask, then one boolean per bit."""
        return (super().info()[0], *(info for _, info in self.bits))


class Product(Spec):
    """``PID``: the product id as sent (``0xA389``) and, where known, the product's name."""

    __slots__ = ("names",)

    def __init__(self, name: str, names: Mapping[int, str]) -> None:
        """Product id field plus a ``product_name`` looked up in ``names``."""
        super().__init__(name, "", DIAGNOSTIC)
        self.names = names

    def decode(self, token: str, out: Out) -> None:
        """Keep the id text; add the name, or ``Unknown (id)`` for a product we do not know."""
        out[self.key] = token
        try:
            name = self.names.get(int(token, 16))
        except ValueError:
            name = None
        out["product_name"] = name or f"Unknown ({token})"

    def info(self) -> tuple[FieldInfo, ...]:
        """Id and name."""
        return (*super().info(), FieldInfo("product_name", "Product name", "", DIAGNOSTIC))


STATES = {
    "0": "Off",
    "1": "Low power",
    "2": "Fault",
    "3": "Bulk",
    "4": "Absorption",
    "5": "Float",
    "6": "Storage",
    "7": "Equalize (manual)",
    "9": "Inverting",
    "11": "Power supply",
    "245": "Starting-up",
    "246": "Repeated absorption",
    "247": "Auto equalize / Recondition",
    "248": "BatterySafe",
    "252": "External control",
}

ERRORS = {
    "0": "No error",
    "2": "Battery voltage too high",
    "17": "Charger temperature too high",
    "18": "Charger over current",
    "19": "Charger current reversed",
    "20": "Bulk time limit exceeded",
    "21": "Current sensor issue (sensor bias/sensor broken)",
    "26": "Terminals overheated",
    "28": "Converter issue (dual converter models only)",
    "33": "Input voltage too high (solar panel)",
    "34": "Input current too high (solar panel)",
    "38": "Input shutdown (due to excessive battery voltage)",
    "39": "Input shutdown (due to current flow during off mode)",
    "65": "Lost communication with one of devices",
    "66": "Synchronised charging device configuration issue",
    "67": "BMS connection lost",
    "68": "Network misconfigured",
    "116": "Factory calibration data lost",
    "117": "Invalid/incompatible firmware",
    "119": "User settings invalid",
}

TRACKER_MODES = {"0": "Off", "1": "Voltage or current limited", "2": "MPP Tracker active"}

DEVICE_MODES = {"1": "Charger", "2": "Inverter", "4": "Off", "5": "Eco", "253": "Hibernate"}

MONITOR_MODES = {
    "-9": "Solar charger",
    "-8": "Wind turbine",
    "-7": "Shaft generator",
    "-6": "Alternator",
    "-5": "Fuel cell",
    "-4": "Water generator",
    "-3": "DC/DC charger",
    "-2": "AC charger",
    "-1": "Generic source",
    "0": "Battery monitor (BMV)",
    "1": "Generic load",
    "2": "Electric drive",
    "3": "Fridge",
    "4": "Water pump",
    "5": "Bilge pump",
    "6": "DC system",
    "7": "Inverter",
    "8": "Water heater",
}

#: AR (alarm reason) and WARN (warning reason) share these bits.
ALARM_BITS = (
    (0x0001, "Low voltage"),
    (0x0002, "High voltage"),
    (0x0004, "Low SOC"),
    (0x0008, "Low starter voltage"),
    (0x0010, "High starter voltage"),
    (0x0020, "Low temperature"),
    (0x0040, "High temperature"),
    (0x0080, "Mid voltage"),
    (0x0100, "Overload"),
    (0x0200, "DC-ripple"),
    (0x0400, "Low V AC out"),
    (0x0800, "High V AC out"),
    (0x1000, "Short circuit"),
    (0x2000, "BMS lockout"),
)

OFF_REASON_BITS = (
    (0x001, "No input power"),
    (0x002, "Switched off (power switch)"),
    (0x004, "Switched off (device mode register)"),
    (0x008, "Remote input"),
    (0x010, "Protection active"),
    (0x020, "Paygo"),
    (0x040, "BMS"),
    (0x080, "Engine shutdown detection"),
    (0x100, "Analysing input voltage"),
)


def _products() -> dict[int, str]:
    """Product ids of the BMV, SmartShunt and solar charger ranges (VE.Direct Protocol appendix)."""
    names = {
        0x0203: "BMV-700",
        0x0204: "BMV-702",
        0x0205: "BMV-700H",
        0x0300: "BlueSolar MPPT 70/15",
        0xA381: "BMV-712 Smart",
        0xA382: "BMV-710H Smart",
        0xA383: "BMV-712 Smart Rev2",
        0xA389: "SmartShunt 500A/50mV",
        0xA38A: "SmartShunt 1000A/50mV",
        0xA38B: "SmartShunt 2000A/50mV",
        0xA3F0: "Smart BuckBoost 12V/12V-50A",
    }
    chargers = (
        # 0xA040 onwards, in id order; None marks an unused id.
        "BlueSolar MPPT 75/50",
        "BlueSolar MPPT 150/35",
        "BlueSolar MPPT 75/15",
        "BlueSolar MPPT 100/15",
        "BlueSolar MPPT 100/30",
        "BlueSolar MPPT 100/50",
        "BlueSolar MPPT 150/70",
        "BlueSolar MPPT 150/100",
        None,
        "BlueSolar MPPT 100/50 rev2",
        "BlueSolar MPPT 100/30 rev2",
        "BlueSolar MPPT 150/35 rev2",
        "BlueSolar MPPT 75/10",
        "BlueSolar MPPT 150/45",
        "BlueSolar MPPT 150/60",
        "BlueSolar MPPT 150/85",
        "SmartSolar MPPT 250/100",
        "SmartSolar MPPT 150/100",
        "SmartSolar MPPT 150/85",
        "SmartSolar MPPT 75/15",
        "SmartSolar MPPT 75/10",
        "SmartSolar MPPT 100/15",
        "SmartSolar MPPT 100/30",
        "SmartSolar MPPT 100/50",
        "SmartSolar MPPT 150/35",
        "SmartSolar MPPT 150/100 rev2",
        "SmartSolar MPPT 150/85 rev2",
        "SmartSolar MPPT 250/70",
        "SmartSolar MPPT 250/85",
        "SmartSolar MPPT 250/60",
        "SmartSolar MPPT 250/45",
        "SmartSolar MPPT 100/20",
        "SmartSolar MPPT 100/20 48V",
        "SmartSolar MPPT 150/45",
        "SmartSolar MPPT 150/60",
        "SmartSolar MPPT 150/70",
        "SmartSolar MPPT 250/85 rev2",
        "SmartSolar MPPT 250/100 rev2",
        "BlueSolar MPPT 100/20",
        "BlueSolar MPPT 100/20 48V",
        "SmartSolar MPPT 250/60 rev2",
        "SmartSolar MPPT 250/70 rev2",
        "SmartSolar MPPT 150/45 rev2",
        "SmartSolar MPPT 150/60 rev2",
        "SmartSolar MPPT 150/70 rev2",
        "SmartSolar MPPT 150/85 rev3",
        "SmartSolar MPPT 150/100 rev3",
        "BlueSolar MPPT 150/45 rev2",
        "BlueSolar MPPT 150/60 rev2",
        "BlueSolar MPPT 150/70 rev2",
        "BlueSolar MPPT 150/45 rev3",
        "SmartSolar MPPT 150/45 rev3",
        "SmartSolar MPPT 75/10 rev2",
        "SmartSolar MPPT 75/15 rev2",
        "BlueSolar MPPT 100/30 rev3",
        "BlueSolar MPPT 100/50 rev3",
        "BlueSolar MPPT 150/35 rev3",
        "BlueSolar MPPT 75/10 rev2",
        "BlueSolar MPPT 75/15 rev2",
        "BlueSolar MPPT 100/15 rev2",
        "BlueSolar MPPT 75/10 rev3",
        "BlueSolar MPPT 75/15 rev3",
        "SmartSolar MPPT 100/30 12V",
        "All-In-1 SmartSolar MPPT 75/15 12V",
    )
    names.update({0xA040 + i: n for i, n in enumerate(chargers) if n is not None})
    return names


PRODUCTS: Final = MappingProxyType(_products())

_COUNT = Hints(None, "total_increasing", "diagnostic")
_HISTORY = Hints(entity_category="diagnostic")
_SOLAR = Hints("power", "measurement", icon="mdi:solar-power")


def _volts(name: str, hints: Hints | None = None) -> Int:
    return Int(name, "V", hints, scale=0.001)


def _amps(name: str) -> Int:
    return Int(name, "A", scale=0.001)


def _amp_hours(name: str, hints: Hints | None = None) -> Int:
    return Int(name, "Ah", hints, scale=0.001)


def _history_volts(name: str) -> Int:
    return _volts(name, Hints("voltage", "measurement", "diagnostic"))


def _kwh(name: str, state_class: str = "total_increasing") -> Int:
    return Int(name, "kWh", Hints("energy", state_class), scale=0.01)


#: Text label -> decoder. Names (and so keys) are the reference's, units Home Assistant's.
LABELS: Final[dict[str, Spec]] = {
    "V": _volts("Main or channel 1 battery voltage"),
    "V2": _volts("Channel 2 battery voltage"),
    "V3": _volts("Channel 3 battery voltage"),
    "VS": _volts("Auxiliary starter voltage"),
    "VM": _volts("Mid-point voltage of the battery bank"),
    "DM": Int("Mid-point deviation of the battery bank", "%", scale=0.1),  # sent in ‰
    "VPV": _volts("Panel voltage"),
    "PPV": Int("Panel power", "W", _SOLAR),
    "I": _amps("Main or channel 1 battery current"),
    "I2": _amps("Channel 2 battery current"),
    "I3": _amps("Channel 3 battery current"),
    "IL": _amps("Load current"),
    "LOAD": Str("Load output state ON/OFF"),
    "T": Int("Battery temperature", "°C"),
    "P": Int("Instantaneous power", "W"),
    "CE": _amp_hours("Consumed Amp Hours"),
    "SOC": Int("State-of-charge", "%", Hints("battery", "measurement"), scale=0.1),  # sent in ‰
    # -1 while the battery is not discharging (time to go is infinite), as the device sends it.
    "TTG": Int("Time-to-go", "min"),
    "Alarm": Str("Alarm condition active"),
    "Relay": Str("Relay state"),
    "AR": Bits("Alarm reason", [(b, f"{n} alarm") for b, n in ALARM_BITS], PROBLEM),
    "OR": Bits("Off reason", [(b, f"Off reason: {n}") for b, n in OFF_REASON_BITS]),
    "H1": _amp_hours("Depth of the deepest discharge", _HISTORY),
    "H2": _amp_hours("Depth of the last discharge", _HISTORY),
    "H3": _amp_hours("Depth of the average discharge", _HISTORY),
    "H4": Int("Number of charge cycles", hints=_COUNT),
    "H5": Int("Number of full discharges", hints=_COUNT),
    "H6": _amp_hours("Cumulative Amp Hours drawn", _HISTORY),
    "H7": _history_volts("Minimum main battery voltage"),
    "H8": _history_volts("Maximum main battery voltage"),
    "H9": Int("Number of seconds since last full charge", "s", _HISTORY),
    "H10": Int("Number of automatic synchronizations", hints=_COUNT),
    "H11": Int("Number of low main voltage alarms", hints=_COUNT),
    "H12": Int("Number of high main voltage alarms", hints=_COUNT),
    "H13": Int("Number of low auxiliary voltage alarms", hints=_COUNT),
    "H14": Int("Number of high auxiliary voltage alarms", hints=_COUNT),
    "H15": _history_volts("Minimum auxiliary battery voltage"),
    "H16": _history_volts("Maximum auxiliary battery voltage"),
    "H17": _kwh("Amount of discharged energy"),
    "H18": _kwh("Amount of charged energy"),
    "H19": _kwh("Yield total - user resettable counter"),
    "H20": _kwh("Yield today"),
    "H21": Int("Maximum power today", "W"),
    "H22": _kwh("Yield yesterday", "total"),
    "H23": Int("Maximum power yesterday", "W"),
    "ERR": Keyed("Error code", ERRORS, PROBLEM),
    "CS": Keyed("State of operation", STATES),
    "BMV": Str("Model description", hints=DIAGNOSTIC),
    "FW": Str("Firmware version 16 bit", hints=DIAGNOSTIC),
    "FWE": Str("Firmware version 24 bit", hints=DIAGNOSTIC),
    "PID": Product("Product ID", PRODUCTS),
    "SER#": Str("Serial number", hints=DIAGNOSTIC),
    "HSDS": Int("Day sequence number 0..364", hints=DIAGNOSTIC),
    "MODE": Keyed("Device mode", DEVICE_MODES),
    "AC_OUT_V": Int("AC output voltage", "V", scale=0.01),
    "AC_OUT_I": Int("AC output current", "A", scale=0.1),
    "AC_OUT_S": Int("AC output apparent power", "VA"),
    "WARN": Bits("Warning reason", [(b, f"{n} warning") for b, n in ALARM_BITS], PROBLEM),
    "MPPT": Keyed("Tracker operation mode", TRACKER_MODES),
    "MON": Keyed("DC Monitor Mode", MONITOR_MODES),
    "DC_IN_V": Int("DC input voltage", "V", scale=0.01),
    "DC_IN_I": Int("DC input current", "A", scale=0.1),
    "DC_IN_P": Int("DC input power", "W"),
}


def unknown_label_key(label: str) -> str:
    """Key of a label no table knows: ``unknown_`` + its snake_case (kept, never guessed)."""
    return "unknown_" + (slugify(label) or label.encode("ascii").hex())


# -- HEX mode: registers -----------------------------------------------------------------------


class Register(Spec):
    """A register value of a HEX answer: little-endian integer, scaled, with a "n/a" value."""

    __slots__ = ("id", "na", "scale", "struct")
    kind = FieldKind.NUMBER

    def __init__(
        self,
        name: str,
        register: int,
        fmt: str,
        unit: str = "",
        hints: Hints | None = None,
        *,
        scale: float = 1,
        na: int | None = None,
    ) -> None:
        """Register ``register`` read with :mod:`struct` format ``fmt`` (``"<H"``, ``"<i"``)."""
        super().__init__(name, unit, hints if hints is not None else DIAGNOSTIC)
        self.id = register
        self.struct = struct.Struct(fmt)
        self.scale = scale
        self.na = na

    def read(self, value: bytes, out: Out) -> None:
        """Decode the value bytes; the register's "not available" value gives no field."""
        if len(value) != self.struct.size:
            raise FrameError(
                f"{self.name}: expected {self.struct.size} value bytes, got {len(value)}"
            )
        (raw,) = self.struct.unpack(value)
        if raw == self.na:
            return
        out[self.key] = raw if self.scale == 1 else round(raw * self.scale, 6)

    def encode(self, number: Decimal) -> bytes:
        """Return the value bytes for ``number`` (in the field's unit)."""
        return self.struct.pack(int(number / Decimal(str(self.scale))))

    def decode(self, token: str, out: Out) -> None:
        """Refuse text: a register is read from bytes (a table bug if ever reached)."""
        raise TypeError(f"{self.name} is a HEX register; it cannot decode text")


_DECIMAL: Final = re.compile(r"\d+(\.\d+)?")


class RegisterValue(Param):
    """The value a set command writes: a decimal number in range, on the register's step."""

    def __init__(self, minimum: str, maximum: str, step: str, unit: str) -> None:
        """Range and step as decimal text (``"0.1"``), so that no float rounding creeps in."""
        self.minimum = Decimal(minimum)
        self.maximum = Decimal(maximum)
        self.step = Decimal(step)
        self.unit = unit

    def validate(self, text: str) -> None:
        """Check that ``text`` is a plain decimal number within range and on the step."""
        if not _DECIMAL.fullmatch(text):
            raise InvalidParameterError(f"{text!r} is not a number; use {self.describe()}")
        number = Decimal(text)
        if not self.minimum <= number <= self.maximum:
            raise InvalidParameterError(f"{text} is out of range; use {self.describe()}")
        if (number - self.minimum) % self.step:
            raise InvalidParameterError(f"{text} is not on the step; use {self.describe()}")

    def describe(self) -> str:
        """Range, step and unit in words."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.minimum}–{self.maximum}{unit} in steps of {self.step}"


RESPONSE_FLAG = Str("Command response flag", hints=DIAGNOSTIC)


def _getter(command: str, description: str, register: Register) -> Command:
    return query(command, description, RESPONSE_FLAG, register, hex=GET, register=register)


class _Setting(NamedTuple):
    """A settable BMV/SmartShunt register: commands, register, range and how it is shown."""

    command: str
    description: str
    register: Register
    minimum: str
    maximum: str
    step: str
    safety: bool


def _battery_register(name: str, register: int, unit: str, scale: float = 1) -> Register:
    return Register(name, register, "<H", unit, DIAGNOSTIC, scale=scale)


#: Battery monitor settings (BMV-70x/71x, SmartShunt): register ids, types and units per
#: Victron's register list; ranges per the BMV/SmartShunt manuals. Those that change how the
#: state of charge is computed are marked safety: systems stop discharging on that number.
BATTERY_SETTINGS = (
    _Setting(
        "batteryCapacity",
        "Battery capacity",
        _battery_register("Battery Capacity", 0x1000, "Ah"),
        "1",
        "9999",
        "1",
        True,
    ),
    _Setting(
        "chargedVoltage",
        "Charged voltage (the battery counts as full above it)",
        _battery_register("Charged voltage", 0x1001, "V", 0.1),
        "0",
        "95",
        "0.1",
        True,
    ),
    _Setting(
        "tailCurrent",
        "Tail current (charged when the current falls below this share of capacity)",
        _battery_register("Tail current", 0x1002, "%", 0.1),
        "0.5",
        "10",
        "0.1",
        True,
    ),
    _Setting(
        "chargedDetectionTime",
        "Charged detection time",
        _battery_register("Charged detection time", 0x1003, "min"),
        "1",
        "50",
        "1",
        True,
    ),
    _Setting(
        "chargeEfficiency",
        "Charge efficiency factor",
        _battery_register("Charge efficiency", 0x1004, "%"),
        "50",
        "100",
        "1",
        True,
    ),
    _Setting(
        "peukertCoefficient",
        "Peukert exponent",
        _battery_register("Peukert coefficient", 0x1005, "", 0.01),
        "1",
        "1.5",
        "0.01",
        True,
    ),
    _Setting(
        "currentThreshold",
        "Current threshold (smaller currents read as zero)",
        _battery_register("Current threshold", 0x1006, "A", 0.01),
        "0",
        "2",
        "0.01",
        False,
    ),
    _Setting(
        "ttgDeltaT",
        "Time-to-go averaging period",
        _battery_register("Time-to-go averaging period", 0x1007, "min"),
        "0",
        "12",
        "1",
        False,
    ),
    _Setting(
        "dischargeFloor",
        "Discharge floor (state of charge the time-to-go counts down to)",
        _battery_register("Discharge floor", 0x1008, "%", 0.1),
        "0",
        "99",
        "0.1",
        True,
    ),
)


def _setter(setting: _Setting) -> Command:
    name = "set" + setting.command[0].upper() + setting.command[1:]
    param = RegisterValue(setting.minimum, setting.maximum, setting.step, setting.register.unit)
    return Command(
        name,
        f"Set: {setting.description}",
        (RESPONSE_FLAG, setting.register),
        Kind.SETTER,
        param,
        options={"hex": SET, "register": setting.register},
    )


def _setting(setting: _Setting) -> Setting:
    register = setting.register
    decimals = len(setting.step.partition(".")[2])
    return Setting(
        register.key,
        setting.description.partition(" (")[0],
        SettingKind.NUMBER,
        setting.command,
        register.key,
        write=_setter(setting).name + (f"{{value:.{decimals}f}}" if decimals else "{value:d}"),
        minimum=float(setting.minimum),
        maximum=float(setting.maximum),
        step=float(setting.step),
        unit=register.unit,
        safety=setting.safety,
        description=setting.description,
    )


VEDTEXT = query(
    "vedtext",
    "Text-mode blocks the device streams unasked (nothing is sent)",
    *LABELS.values(),
    text=True,
)
VEDSTATUS = query(
    "vedstatus",
    "The device's status: text heard until a whole main block has come, with the history "
    "block if it came just before (nothing is sent)",
    *LABELS.values(),
    text=True,
    cycle=True,
)

COMMANDS = MappingProxyType(
    table(
        VEDTEXT,
        VEDSTATUS,
        *(_getter(s.command, s.description, s.register) for s in BATTERY_SETTINGS),
        *(_setter(s) for s in BATTERY_SETTINGS),
        _getter(
            "stateOfCharge",
            "State of charge (HEX register)",
            Register(
                "State of charge",
                0x0FFF,
                "<H",
                "%",
                Hints("battery", "measurement"),
                scale=0.01,
                na=0xFFFF,
            ),
        ),
        _getter(
            "timeToGo",
            "Time to go (HEX register)",
            Register(
                "Time to go", 0x0FFE, "<H", "min", Hints("duration", "measurement"), na=0xFFFF
            ),
        ),
        _getter(
            "consumedAh",
            "Consumed amp hours (HEX register)",
            Register("Consumed Ah", 0x0FFC, "<i", "Ah", Hints(None, "measurement"), scale=0.1),
        ),
    )
)

SETTINGS = MappingProxyType(settings_table(*(_setting(s) for s in BATTERY_SETTINGS)))


class VeDirect(Protocol):
    """Victron VE.Direct (BMV, SmartShunt, SmartSolar/BlueSolar MPPT, Phoenix inverters)."""

    id: ClassVar[str] = "ved"
    description: ClassVar[str] = "Victron VE.Direct (text mode and HEX registers)"
    commands = COMMANDS
    settings = SETTINGS
    status_commands = ("vedtext",)
    settings_commands = tuple(s.command for s in BATTERY_SETTINGS)
    # PID, SER#, FW and the model arrive in the text blocks.
    id_commands = ("vedtext",)

    def status_request(self, command: str, answers: Mapping[str, Result]) -> str:
        """Poll ``vedtext`` as ``vedstatus``: the whole status, never a lone history block."""
        return VEDSTATUS.name if command == VEDTEXT.name else command

    def answer_time(self, command: str) -> float:
        """Return how long the text takes at the device's pace (a block a second).

        ``vedtext``: one block period, plus the time to send it; ``vedstatus``: two, as a
        capture may start just after the main block began and a battery monitor sends its
        history block next. HEX answers come at once.
        """
        definition = lookup(self, command)
        if definition is None or isinstance(definition.options.get("register"), Register):
            return 0.0
        periods = 2 if definition.options.get("cycle") else 1
        return periods * TEXT_PERIOD + TEXT_MARGIN

    def frame(self, command: Command, text: str) -> bytes:
        """HEX get/set frame; nothing for text mode (the device talks unasked)."""
        register = command.options.get("register")
        if not isinstance(register, Register):
            return b""
        data = register.id.to_bytes(2, "little") + b"\x00"
        nibble = GET
        if command.options["hex"] == SET:
            nibble = SET
            data += register.encode(Decimal(text[len(command.name) :]))
        return hex_frame(nibble, data)

    def answer_length(self, command: str, buffer: bytes) -> int | None:
        r"""Return where the answer ends in the stream of text blocks and HEX frames.

        ``vedtext``: at the end of the first block that passes its checksum (its ``Checksum``
        line and check byte). A capture begins anywhere in the stream, so the block it cuts is
        stepped over; after :data:`TEXT_ATTEMPTS` block ends none of which verified, the answer
        ends anyway and ``decode`` reports the checksum or framing error rather than the
        transport timing out. HEX commands: at the ``\n`` of the first HEX frame answering the
        command's register (or saying the device could not handle it); text and asynchronous
        HEX frames before it count, and ``decode`` picks the answer out of them.
        """
        definition = lookup(self, command)
        if definition is None:
            return everything(buffer)
        register = definition.options.get("register")
        if isinstance(register, Register):
            return _hex_answer_end(buffer, definition.options["hex"], register.id)
        if definition.options.get("cycle"):
            return status_end(buffer)
        return _text_block_end(buffer)

    def read(self, command: Command, frame: bytes, sent: str) -> Out:
        """Decode text blocks (``vedtext``) or find and decode the answer to a HEX command."""
        register = command.options.get("register")
        if isinstance(register, Register):
            return self._read_hex(command, register, frame, sent)
        if command.options.get("cycle"):
            return read_status(frame, sent)
        return read_text(frame, sent)

    def _read_hex(self, command: Command, register: Register, frame: bytes, sent: str) -> Out:
        """Pick the answer to ``sent`` among the HEX frames in ``frame`` (text may surround it)."""
        wanted = command.options["hex"]
        bad: FrameError | None = None
        for match in _HEX_FRAME.finditer(frame):
            try:
                nibble, data = parse_hex_frame(match.group(0))
            except FrameError as err:
                bad = err
                continue
            if nibble == FRAME_ERROR:
                raise FrameError(f"{sent}: the device could not read the request (frame error)")
            if nibble == UNKNOWN_COMMAND:
                raise NAKError(f"{sent}: the device does not know the command")
            if nibble != wanted or int.from_bytes(data[:2], "little") != register.id:
                continue  # an asynchronous update or the answer to something else
            if len(data) < 3:
                raise TruncatedFrameError(f"{sent}: answer without flags: {match.group(0)!r}")
            flags = data[2]
            if flags:
                reasons = ", ".join(m for bit, m in RESPONSE_FLAGS.items() if flags & bit)
                raise NAKError(f"{sent}: the device refused: {reasons or f'flags {flags:#04x}'}")
            out: Out = {RESPONSE_FLAG.key: "OK"}
            register.read(data[3:], out)
            return out
        if bad is not None:
            raise type(bad)(f"{sent}: {bad}") from bad
        raise TruncatedFrameError(f"{sent}: no answer for register {register.id:#06x} in {frame!r}")


#: Block ends looked at before a ``vedtext`` answer is handed over without a verified block.
TEXT_ATTEMPTS: Final = 3
#: Block ends after which a ``vedstatus`` answer is handed over without a main block.
STATUS_ATTEMPTS: Final = 5
#: Seconds between two text blocks (Victron: one a second), and the time to send one at
#: 19200 baud (a long block, 300 bytes, takes 0.16 s) with room to spare.
TEXT_PERIOD: Final = 1.0
TEXT_MARGIN: Final = 0.5
_CHECKSUM_LINE: Final = b"Checksum\t"
_HISTORY_LABEL: Final = re.compile(r"H[0-9]+")


def _text_block_end(buffer: bytes) -> int | None:
    """End of the first verified text block (or of the :data:`TEXT_ATTEMPTS`-th block end)."""
    parser = VeDirectTextParser()
    pos = attempts = 0
    while True:
        label = buffer.find(_CHECKSUM_LINE, pos)
        if label < 0:
            return None
        end = label + len(_CHECKSUM_LINE) + 1  # the check byte, whatever its value
        if end > len(buffer):
            return None
        attempts += 1
        if parser.feed(buffer[pos:end]) or attempts >= TEXT_ATTEMPTS:
            return end
        pos = end


def is_history(block: TextBlock) -> bool:
    """Whether ``block`` is a history block (``H1``…): only the main block has the status."""
    return all(_HISTORY_LABEL.fullmatch(label) for label, _ in block.records)


def status_end(buffer: bytes) -> int | None:
    """End of the first whole status in the text stream ``buffer`` (``vedstatus``).

    Complete at the end of the first verified main block (a block that is not all history
    ``H1``…); verified blocks before it in the capture belong to the answer too, so a history
    block sent just before the main one is assembled with it. The block a capture cuts is
    stepped over. After :data:`TEXT_ATTEMPTS` block ends none of which verified, or
    :data:`STATUS_ATTEMPTS` without a main block, the answer ends anyway and ``decode`` says
    what was wrong.
    """
    parser = VeDirectTextParser()
    pos = ends = 0
    verified = False
    while True:
        label = buffer.find(_CHECKSUM_LINE, pos)
        if label < 0:
            return None
        end = label + len(_CHECKSUM_LINE) + 1  # the check byte, whatever its value
        if end > len(buffer):
            return None
        ends += 1
        for block in parser.feed(buffer[pos:end]):
            if not is_history(block):
                return end
            verified = True
        if ends >= (STATUS_ATTEMPTS if verified else TEXT_ATTEMPTS):
            return end
        pos = end


def _hex_answer_end(buffer: bytes, wanted: object, register: int) -> int | None:
    """End of the first HEX frame that answers ``register`` (or refuses the request)."""
    for match in _HEX_FRAME.finditer(buffer):
        try:
            nibble, data = parse_hex_frame(match.group(0))
        except FrameError:
            continue
        if nibble in (UNKNOWN_COMMAND, FRAME_ERROR):
            return match.end()
        if nibble == wanted and int.from_bytes(data[:2], "little") == register:
            return match.end()
    return None


def read_text(frame: bytes, sent: str = "vedtext") -> Out:
    """Decode every checksum-verified text block in a captured chunk; later blocks win.

    Raises :class:`CRCError` when a block failed its checksum and none verified,
    :class:`FrameError` when the blocks found were malformed or partial, and
    :class:`TruncatedFrameError` when the chunk holds no block end at all.
    """
    return _decode_blocks(_verified_blocks(frame, sent))


def read_status(frame: bytes, sent: str = "vedstatus") -> Out:
    """Decode a whole status: the verified blocks of ``frame``, a main block among them.

    Raises what :func:`read_text` raises, and :class:`TruncatedFrameError` when only history
    blocks verified (the main block was cut or damaged: the next cycle brings it).
    """
    blocks = _verified_blocks(frame, sent)
    if all(is_history(block) for block in blocks):
        raise TruncatedFrameError(
            f"{sent}: {len(blocks)} history block{'s' * (len(blocks) > 1)} but no main block"
        )
    return _decode_blocks(blocks)


def _verified_blocks(frame: bytes, sent: str) -> list[TextBlock]:
    """Return the blocks of ``frame`` that pass their checksum; raise if there are none."""
    parser = VeDirectTextParser()
    blocks = parser.feed(frame)
    if not blocks:
        if parser.checksum_errors:
            raise CRCError(f"{sent}: no text block passed its checksum")
        if parser.bad_blocks:
            raise FrameError(f"{sent}: no valid text block ({parser.last_error})")
        raise TruncatedFrameError(f"{sent}: no complete text block in {len(frame)} bytes")
    return blocks


def _decode_blocks(blocks: list[TextBlock]) -> Out:
    """Decode the records of ``blocks`` in order: a label sent twice keeps its later value."""
    out: Out = {}
    for block in blocks:
        for label, value in block.records:
            spec = LABELS.get(label)
            if spec is None:
                out[unknown_label_key(label)] = value
            else:
                spec.decode(value, out)
    return out
