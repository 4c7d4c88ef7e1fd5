"""Binary records: protocols whose answers are bytes read at fixed offsets (JK, Daly, Modbus).

A :class:`BinaryProtocol` checks a frame (start bytes, length, checksum) in
:meth:`~BinaryProtocol.check` and returns the record; the command's layout is then a tuple of
:class:`BinSpec` objects, each reading its bytes at its own offset. Specs are data like their text
counterparts in :mod:`~mppsolar_lib.protocols.fields` and produce the same ``Field`` objects (key,
name, unit, hints).

Numbers are read with precompiled :class:`struct.Struct` objects: one C call per field (or per
series of cells), which keeps a 300-byte JK record far below a millisecond.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import isfinite
import struct
from typing import Final

from mppsolar_lib.errors import FrameError, TruncatedFrameError
from mppsolar_lib.protocols.base import Protocol
from mppsolar_lib.protocols.command import Command
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    FieldInfo,
    FieldKind,
    Hints,
    Out,
    Spec,
    decimals,
    default_hints,
    slugify,
)

_FORMATS: Final = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h"}
_FORMATS_WIDE: Final = {(4, False): "I", (4, True): "i", (8, False): "Q", (8, True): "q"}
_FORMATS_REAL: Final = {4: "f", 8: "d"}


def _format(size: int, signed: bool, floating: bool = False) -> str:
    if floating:
        real = _FORMATS_REAL.get(size)
        if real is None:
            raise ValueError(f"no floating-point format of {size} bytes")
        return real
    fmt = _FORMATS.get((size, signed)) or _FORMATS_WIDE.get((size, signed))
    if fmt is None:
        raise ValueError(f"no integer format of {size} bytes")
    return fmt


def _real(value: float, size: int, name: str) -> float:
    """Check an IEEE-754 reading and trim it to the precision its width carries.

    A 4-byte float holds about 7 significant digits: 3.5418152809143066 is shown as 3.541815.
    NaN and infinity are never readings; they mark a corrupt or misread record.
    """
    if not isfinite(value):
        raise FrameError(f"{name}: {value!r} is not a reading")
    return float(f"{value:.7g}") if size == 4 else value


class BinSpec(Spec):
    """Base of the binary field readers: ``read(record, out)`` at a fixed offset."""

    __slots__ = ("offset", "size")

    def __init__(
        self, name: str, offset: int, size: int, unit: str = "", hints: Hints | None = None
    ) -> None:
        """Name the field and say where its bytes are."""
        super().__init__(name, unit, hints)
        self.offset = offset
        self.size = size

    @property
    def end(self) -> int:
        """Offset just past the last byte this spec reads."""
        return self.offset + self.size

    def decode(self, token: str, out: Out) -> None:
        """Refuse text: binary specs read bytes (a table bug if ever reached)."""
        raise TypeError(f"{self.name} is a binary field; it cannot decode text")

    def read(self, record: bytes, out: Out) -> None:
        """Add the field(s) read from ``record`` to ``out``."""
        raise NotImplementedError


class Num(BinSpec):
    """An integer of 1, 2, 4 or 8 bytes: ``value = (raw + bias) * scale``.

    ``Num("Current", 6, 2, "A", little=False, bias=-30000, scale=0.1)`` reads Daly's offset
    current. Scaled values are rounded to 6 decimals so that 3374 * 0.001 shows as 3.374.

    ``floating=True`` reads an IEEE-754 float of 4 or 8 bytes instead (JK04 records), scaled but
    not offset. ``missing`` is a raw value the device sends for "no sensor" (JK: -2000 for an
    absent temperature probe): it gives no field rather than a -200 °C reading.
    """

    __slots__ = ("bias", "floating", "missing", "scale", "struct")
    kind = FieldKind.NUMBER

    def __init__(
        self,
        name: str,
        offset: int,
        size: int = 1,
        unit: str = "",
        hints: Hints | None = None,
        *,
        signed: bool = False,
        little: bool = True,
        scale: float = 1,
        bias: int = 0,
        floating: bool = False,
        missing: int | None = None,
    ) -> None:
        """Describe the number's position, width, byte order and scaling."""
        super().__init__(
            name, offset, size, unit, hints if hints is not None else default_hints(unit)
        )
        self.struct = struct.Struct(("<" if little else ">") + _format(size, signed, floating))
        self.scale = scale
        self.bias = bias
        self.floating = floating
        self.missing = missing

    def precision(self) -> int | None:
        """Return the decimals the scale gives an integer (a float's are the device's)."""
        return None if self.floating else decimals(self.scale)

    def read(self, record: bytes, out: Out) -> None:
        """Unpack, offset and scale."""
        raw = self.struct.unpack_from(record, self.offset)[0]
        if raw == self.missing:
            return
        if self.floating:
            out[self.key] = _real(raw * self.scale, self.size, self.name)
            return
        raw += self.bias
        out[self.key] = raw if self.scale == 1 else round(raw * self.scale, 6)


class Series(BinSpec):
    """``count`` equal numbers in a row, one field each: cell voltages, resistances, temperatures.

    Field names come from ``template`` formatted with the 1-based position (``"Voltage_Cell{:02d}"``
    -> ``Voltage_Cell01`` …). With ``summary`` set, the series also yields its minimum, maximum
    and spread with the position of the extreme cells, over the cells that report a value — a
    zero is an unpopulated position on JK and Daly hardware, not a dead cell.

    ``count_from(record)`` limits the series to the positions a frame says are present (its cell
    count, or how many values its length holds): only those yield fields, and only their bytes
    must be there. ``pad`` skips that many bytes before each value (JK "NW" frames put the cell
    number before each voltage).

    ``floating=True`` reads IEEE-754 floats (as :class:`Num`). ``summary_names`` replaces the five
    summary names (min, min cell, max, max cell, delta); a blank one drops that field, e.g. when
    the record carries its own delta. ``summary_count_from(record)`` limits only the summary to
    the first cells (a JK record reports all 24 or 32 positions, and says how many are wired).
    """

    __slots__ = (
        "bias",
        "count",
        "count_from",
        "floating",
        "infos",
        "scale",
        "struct",
        "structs",
        "summary",
        "summary_count_from",
        "summary_infos",
        "summary_slots",
        "width",
    )

    def __init__(
        self,
        template: str,
        offset: int,
        count: int,
        size: int = 2,
        unit: str = "",
        hints: Hints | None = None,
        *,
        signed: bool = False,
        little: bool = True,
        scale: float = 1,
        bias: int = 0,
        summary: str | None = None,
        count_from: Callable[[bytes], int] | None = None,
        pad: int = 0,
        floating: bool = False,
        summary_names: Sequence[str] = (),
        summary_count_from: Callable[[bytes], int] | None = None,
    ) -> None:
        """Describe the series; ``summary`` names the min/max/delta fields (``"Cell Voltage"``)."""
        hints = hints if hints is not None else default_hints(unit)
        # A counted series may be shorter than ``count``: it checks its own bytes when read.
        span = 0 if count_from is not None else (size + pad) * count
        super().__init__(template, offset, span, unit, hints)
        order = "<" if little else ">"
        item = "x" * pad + _format(size, signed, floating)
        self.floating = floating
        self.width = size
        self.summary_count_from = summary_count_from
        self.struct = struct.Struct(f"{order}{item * count}")
        self.count = count
        self.count_from = count_from
        self.structs = (
            tuple(struct.Struct(f"{order}{item * n}") for n in range(count + 1))
            if count_from is not None
            else ()
        )
        self.scale = scale
        self.bias = bias
        number = FieldKind.NUMBER
        precision = None if floating else decimals(scale)
        self.infos = tuple(
            FieldInfo(slugify(name), name, unit, hints, kind=number, precision=precision)
            for name in (template.format(i) for i in range(1, count + 1))
        )
        self.summary = summary
        if summary and not summary_names:
            summary_names = tuple(
                pattern.format(summary)
                for pattern in ("Min {}", "Min {} Cell", "Max {}", "Max {} Cell", "Delta {}")
            )
        if summary_names and len(summary_names) != 5:
            raise ValueError(f"{template}: summary_names needs 5 names, got {len(summary_names)}")
        # (min, min cell, max, max cell, delta); None where a blank name drops the field.
        self.summary_slots: tuple[FieldInfo | None, ...] = ()
        if summary_names:
            self.summary_slots = tuple(
                None
                if not name
                else FieldInfo(slugify(name), name, "", DIAGNOSTIC, kind=number, precision=0)
                if is_index
                else FieldInfo(slugify(name), name, unit, hints, kind=number, precision=precision)
                for name, is_index in zip(
                    summary_names, (False, True, False, True, False), strict=True
                )
            )
        self.summary_infos: tuple[FieldInfo, ...] = tuple(
            slot for slot in self.summary_slots if slot is not None
        )

    def read(self, record: bytes, out: Out) -> None:
        """One field per position (per present position with ``count_from``), then the summary."""
        if self.count_from is None:
            values = self.struct.unpack_from(record, self.offset)
        else:
            layout = self.structs[min(max(self.count_from(record), 0), self.count)]
            if len(record) < self.offset + layout.size:
                raise TruncatedFrameError(f"{self.name}: record too short for its values")
            values = layout.unpack_from(record, self.offset)
        scale, bias = self.scale, self.bias
        if self.floating:
            scaled = [_real(raw * scale, self.width, self.name) for raw in values]
        else:
            scaled = [
                (raw + bias) if scale == 1 else round((raw + bias) * scale, 6) for raw in values
            ]
        # A counted series yields fewer values than it has names.
        for info, value in zip(self.infos, scaled, strict=False):
            out[info.key] = value
        if self.summary_infos:
            limit = self.summary_count_from
            self.summarise(scaled, out, None if limit is None else max(limit(record), 0))

    def summarise(
        self,
        values: Sequence[float],
        out: Out,
        count: int | None = None,
        *,
        skip_zero: bool = True,
    ) -> None:
        """Add min/max (with 1-based cell numbers) and delta over the populated cells.

        ``count`` limits it to the first cells. ``skip_zero=False`` counts a zero as a reading:
        0 °C is a temperature, and within a known cell count 0 V is a cell (a broken sense wire).
        """
        present = [(v, i) for i, v in enumerate(values[:count], 1) if v or not skip_zero]
        if not present:
            return
        low = min(present)
        high = max(present, key=lambda pair: (pair[0], -pair[1]))
        summary = (low[0], low[1], high[0], high[1], round(high[0] - low[0], 6))
        for slot, value in zip(self.summary_slots, summary, strict=True):
            if slot is not None:
                out[slot.key] = value

    def info(self) -> tuple[FieldInfo, ...]:
        """One field per position, plus the summary fields."""
        return self.infos + self.summary_infos


class Text(BinSpec):
    """ASCII text padded with NULs (model, firmware, serial number); empty text gives no field.

    ``keep_empty=True`` reports an empty text as ``""`` (a blank serial number the reference
    shows). Text a user typed in the vendor's app (device names) may need ``encoding="utf-8"``,
    with ``errors="replace"`` so one odd byte does not lose a checksum-valid record.
    """

    __slots__ = ("encoding", "errors", "keep_empty")

    def __init__(
        self,
        name: str,
        offset: int,
        size: int,
        hints: Hints | None = None,
        *,
        keep_empty: bool = False,
        encoding: str = "ascii",
        errors: str = "strict",
    ) -> None:
        """Text of at most ``size`` bytes."""
        super().__init__(name, offset, size, "", hints)
        self.keep_empty = keep_empty
        self.encoding = encoding
        self.errors = errors

    def read(self, record: bytes, out: Out) -> None:
        """Cut at the first NUL and decode; undecodable bytes are an error unless ``errors`` says."""
        raw = record[self.offset : self.end]
        if len(raw) < self.size:
            raise TruncatedFrameError(f"{self.name}: record too short")
        text = raw.split(b"\x00", 1)[0].decode(self.encoding, self.errors).strip()
        if text or self.keep_empty:
            out[self.key] = text


class Hex(BinSpec):
    """Bytes shown as lower-case hex (headers, reserved bytes, status words the docs leave open)."""

    __slots__ = ()

    def __init__(self, name: str, offset: int, size: int, hints: Hints | None = None) -> None:
        """``size`` bytes as hex."""
        super().__init__(name, offset, size, "", hints if hints is not None else DIAGNOSTIC)

    def read(self, record: bytes, out: Out) -> None:
        """Hex of the bytes."""
        raw = record[self.offset : self.end]
        if len(raw) < self.size:
            raise TruncatedFrameError(f"{self.name}: record too short")
        out[self.key] = raw.hex()


class Label(BinSpec):
    """An integer code mapped to a label; an unknown code is kept visibly (``"Unknown (7)"``)."""

    __slots__ = ("labels", "struct")
    kind = FieldKind.ENUM

    def __init__(
        self,
        name: str,
        offset: int,
        labels: Mapping[int, str] | Sequence[str],
        size: int = 1,
        hints: Hints | None = None,
        *,
        little: bool = True,
    ) -> None:
        """``labels`` is a list (code = index) or a mapping code -> label."""
        super().__init__(name, offset, size, "", hints)
        self.labels: Mapping[int, str] = (
            dict(labels) if isinstance(labels, Mapping) else dict(enumerate(labels))
        )
        self.struct = struct.Struct(("<" if little else ">") + _format(size, False))

    def options(self) -> tuple[str, ...]:
        """Return the labels."""
        return tuple(self.labels.values())

    def read(self, record: bytes, out: Out) -> None:
        """Map the code."""
        code: int = self.struct.unpack_from(record, self.offset)[0]
        label = self.labels.get(code)
        out[self.key] = label if label is not None else f"Unknown ({code})"


class Bits(BinSpec):
    """An integer whose bits are named booleans (alarms, MOS states, balancing per cell).

    ``names[i]`` is bit ``i`` (least significant first); blank names are reserved bits. With
    ``count_from(record)``, only that many named bits yield fields (per-cell flags of a pack with
    fewer cells than the word has bits).
    """

    __slots__ = ("bits", "count_from", "struct")

    def __init__(
        self,
        name: str,
        offset: int,
        names: Sequence[str],
        size: int = 1,
        hints: Hints | None = None,
        *,
        little: bool = True,
        count_from: Callable[[bytes], int] | None = None,
    ) -> None:
        """Name the bits of a ``size``-byte integer."""
        super().__init__(name, offset, size, "", hints if hints is not None else DIAGNOSTIC)
        if len(names) > size * 8:
            raise ValueError(f"{name}: {len(names)} bit names for {size} bytes")
        self.struct = struct.Struct(("<" if little else ">") + _format(size, False))
        self.count_from = count_from
        self.bits = tuple(
            (1 << position, FieldInfo(slugify(bit), bit, "", self.hints, kind=FieldKind.BOOL))
            for position, bit in enumerate(names)
            if slugify(bit)
        )

    def read(self, record: bytes, out: Out) -> None:
        """One boolean per named bit."""
        word: int = self.struct.unpack_from(record, self.offset)[0]
        bits = self.bits
        if self.count_from is not None:
            bits = bits[: max(self.count_from(record), 0)]
        for mask, info in bits:
            out[info.key] = bool(word & mask)

    def info(self) -> tuple[FieldInfo, ...]:
        """One field per named bit."""
        return tuple(info for _, info in self.bits)


class Computed(BinSpec):
    """An escape hatch for one-off layouts: ``func(record, spec, out)`` does the reading.

    ``infos`` lists the fields it can produce (for entity generation); by default one field
    named like the spec.
    """

    __slots__ = ("func", "infos", "kind")

    def __init__(
        self,
        name: str,
        offset: int,
        size: int,
        func: Callable[[bytes, Computed, Out], None],
        unit: str = "",
        hints: Hints | None = None,
        infos: Sequence[FieldInfo] = (),
        *,
        kind: FieldKind | None = None,
    ) -> None:
        """Read with ``func``; ``kind`` as :attr:`~mppsolar_lib.protocols.fields.Spec.kind`."""
        super().__init__(name, offset, size, unit, hints)
        self.func = func
        self.infos = tuple(infos)
        self.kind = kind

    def read(self, record: bytes, out: Out) -> None:
        """Delegate to the function."""
        self.func(record, self, out)

    def info(self) -> tuple[FieldInfo, ...]:
        """Return the declared fields, or this spec's own."""
        return self.infos or super().info()


class BinaryProtocol(Protocol):
    """A protocol answering in binary records read at fixed offsets.

    Subclasses implement :meth:`frame` (the request) and :meth:`check` (validate the frame,
    return the record the layout's offsets refer to).
    """

    def __init__(self) -> None:
        """Precompute how many bytes each command's layout needs."""
        super().__init__()
        self._needed = {
            name: max((s.end for s in c.fields if isinstance(s, BinSpec)), default=0)
            for name, c in self.commands.items()
        }

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Validate ``frame`` and return the record (raise a ProtocolError otherwise)."""
        raise NotImplementedError

    def read(self, command: Command, frame: bytes, sent: str) -> Out:
        """Check the frame, then let each spec read its bytes."""
        record = self.check(command, frame, sent)
        needed = self._needed.get(command.name, 0)
        if len(record) < needed:
            raise TruncatedFrameError(
                f"{sent}: record has {len(record)} bytes, the layout needs {needed}"
            )
        out: Out = {}
        try:
            for spec in command.fields:
                if isinstance(spec, BinSpec):
                    spec.read(record, out)
        except struct.error as err:  # pragma: no cover - lengths are checked above
            raise FrameError(f"{sent}: {err}") from err
        return out
