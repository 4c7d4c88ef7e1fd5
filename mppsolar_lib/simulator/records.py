"""Write binary records from the protocols' own layouts: the inverse of the decoders.

A simulator builds its answers with the very specs the protocol decodes them with
(:mod:`mppsolar_lib.protocols.binary`), so a field lands at the offset, width, byte order and
scale the decoder reads — the tables are the single source of truth for both directions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import struct

from mppsolar_lib.protocols.binary import BinSpec, Bits, Hex, Label, Num, Series, Text
from mppsolar_lib.protocols.fields import Spec


class RecordWriter:
    """A zero-filled record of ``size`` bytes and the layout (specs by name) to fill it with."""

    def __init__(self, size: int, layout: Iterable[Spec]) -> None:
        """Index the binary specs of ``layout`` by name (``"Battery Voltage"``)."""
        self.data = bytearray(size)
        self.specs: dict[str, BinSpec] = {}
        for spec in layout:
            if isinstance(spec, BinSpec):
                self.specs.setdefault(spec.name, spec)

    def put(self, name: str, value: float | str | bool | Mapping[str, bool] | None) -> None:
        """Encode ``value`` where the spec named ``name`` reads it.

        Numbers are unscaled (``(raw + bias) * scale = value``); ``None`` writes a number's
        "missing" sentinel; labels take their text; bits a mapping of bit names (or ``True``
        for the first bit, an int for the whole word); texts and hex their text.
        """
        spec = self.specs[name]
        if isinstance(spec, Num):
            self._number(spec, value)
        elif isinstance(spec, Label):
            code = next(c for c, label in spec.labels.items() if label == value)
            spec.struct.pack_into(self.data, spec.offset, code)
        elif isinstance(spec, Bits):
            spec.struct.pack_into(self.data, spec.offset, _word(spec, value))
        elif isinstance(spec, Text):
            raw = str(value).encode(spec.encoding)[: spec.size]
            self.raw(name, raw.ljust(spec.size, b"\x00"))
        elif isinstance(spec, Hex):
            self.raw(name, bytes.fromhex(str(value)))
        else:
            raise TypeError(f"{name}: {type(spec).__name__} is written with raw() or series()")

    def series(self, name: str, values: Sequence[float]) -> None:
        """Encode a series' values from its first position (missing positions stay zero)."""
        spec = self.specs[name]
        if not isinstance(spec, Series):
            raise TypeError(f"{name} is not a series")
        layout = spec.struct.format
        item = struct.Struct(layout[0] + layout[-1])  # byte order + one value
        pad = layout.count("x") // spec.count
        step = pad + item.size
        for index, value in enumerate(values[: spec.count]):
            raw = value / spec.scale if spec.floating else round(value / spec.scale) - spec.bias
            item.pack_into(self.data, spec.offset + index * step + pad, raw)

    def raw(self, name: str, data: bytes) -> None:
        """Write ``data`` at the spec's offset (computed fields, masks, reserved bytes)."""
        offset = self.specs[name].offset
        self.data[offset : offset + len(data)] = data

    def at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (bytes no spec reads)."""
        self.data[offset : offset + len(data)] = data

    def bytes(self) -> bytes:
        """Return the record."""
        return bytes(self.data)

    def _number(self, spec: Num, value: object) -> None:
        if value is None:
            if spec.missing is None:
                raise ValueError(f"{spec.name} has no 'missing' value")
            spec.struct.pack_into(self.data, spec.offset, spec.missing)
            return
        if not isinstance(value, int | float):
            raise TypeError(f"{spec.name}: {value!r} is not a number")
        if spec.floating:
            spec.struct.pack_into(self.data, spec.offset, value / spec.scale)
            return
        spec.struct.pack_into(self.data, spec.offset, round(value / spec.scale) - spec.bias)


def _word(spec: Bits, value: object) -> int:
    """Return the integer whose named bits are ``value``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{spec.name}: {value!r} is not a bit mapping")
    names = {info.name: mask for mask, info in spec.bits}
    word = 0
    for bit, on in value.items():
        if on:
            word |= names[bit]
    return word
