"""Decoded values (:class:`Field`, :class:`Result`) and the closed set of field decoders.

A command's response layout is a tuple of *specs*. Each spec consumes one whitespace-separated token
of the payload (or, for :class:`Rest`, everything left) and adds zero or more :class:`Field` objects
to the result. Specs are data: the command tables only instantiate them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
import re
from types import MappingProxyType
from typing import Final

from mppsolar_lib.errors import FrameError

#: A decoded value as callers see it.
Value = int | float | str | bool | tuple[int, ...] | None

#: Tokens real devices send for "no value" (e.g. a QPIRI field a model does not implement).
PLACEHOLDERS: Final = frozenset(("", "-", "--", "---", "---.-", "--.-", "-.-", "--.--", "N/A"))


def is_placeholder(token: str) -> bool:
    """Whether ``token`` means "not reported": empty, ``N/A``, or any run of dashes and dots.

    Firmwares pad to the field width (``---.-``, ``-----``), so the width varies by model.
    """
    return token in PLACEHOLDERS or not token.strip("-.")


def slugify(name: str) -> str:
    """Return the snake_case key of a display name: ``"AC Input Voltage"`` -> ``"ac_input_voltage"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class Hints:
    """How a field should appear in Home Assistant, without the caller knowing the protocol.

    Values use Home Assistant's own strings (``"voltage"``, ``"measurement"``, ``"diagnostic"``).
    """

    __slots__ = (
        "device_class",
        "enabled_default",
        "entity",
        "entity_category",
        "icon",
        "state_class",
    )

    def __init__(
        self,
        device_class: str | None = None,
        state_class: str | None = None,
        entity_category: str | None = None,
        icon: str | None = None,
        enabled_default: bool = True,
        *,
        entity: bool = True,
    ) -> None:
        """Store the hints.

        ``entity=False``: a value decoded for completeness (a reserved bit or byte the reference
        names) that front-ends should not show as an entity at all.
        """
        self.device_class = device_class
        self.state_class = state_class
        self.entity_category = entity_category
        self.icon = icon
        self.enabled_default = enabled_default
        self.entity = entity

    def __repr__(self) -> str:
        """Show only the hints that are set."""
        defaults = {"enabled_default": True, "entity": True}
        parts = [
            f"{n}={getattr(self, n)!r}"
            for n in self.__slots__
            if getattr(self, n) not in (None, defaults.get(n))
        ]
        return f"Hints({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        """Compare hint by hint."""
        if not isinstance(other, Hints):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        """Hash the hints' values."""
        return hash(tuple(getattr(self, n) for n in self.__slots__))


NO_HINTS: Final = Hints()
DIAGNOSTIC: Final = Hints(entity_category="diagnostic")
PROBLEM: Final = Hints(device_class="problem", entity_category="diagnostic")
#: A reserved position (bit, byte, value) the reference names: decoded, never an entity.
RESERVED: Final = Hints(entity_category="diagnostic", enabled_default=False, entity=False)


def is_reserved(key: str) -> bool:
    """Whether field ``key`` names a reserved position (``reserved``, ``reserved_2``, ``rsv1``)."""
    return re.fullmatch(r"(is_)?(reserved|rsv)_?\d*", key) is not None


#: Unit -> default hints for numeric fields.
_UNIT_HINTS: Final[Mapping[str, Hints]] = {
    "V": Hints("voltage", "measurement"),
    "mV": Hints("voltage", "measurement"),
    "A": Hints("current", "measurement"),
    "mA": Hints("current", "measurement"),
    "W": Hints("power", "measurement"),
    "kW": Hints("power", "measurement"),
    "VA": Hints("apparent_power", "measurement"),
    "Hz": Hints("frequency", "measurement"),
    "°C": Hints("temperature", "measurement"),
    "Wh": Hints("energy", "total_increasing"),
    "kWh": Hints("energy", "total_increasing"),
    "Ah": Hints(None, "measurement"),
    "%": Hints(None, "measurement"),
    "s": Hints("duration", "measurement"),
    "min": Hints("duration", "measurement"),
}


def default_hints(unit: str) -> Hints:
    """Return the hints a numeric field of ``unit`` gets unless its spec says otherwise."""
    return _UNIT_HINTS.get(unit, NO_HINTS)


class Field:
    """One decoded value with its stable key, display name, unit and Home Assistant hints."""

    __slots__ = ("hints", "key", "name", "unit", "value")

    def __init__(
        self, key: str, name: str, value: Value, unit: str = "", hints: Hints = NO_HINTS
    ) -> None:
        """Store the value (decoded, or made by a front-end for a listing)."""
        self.key = key
        self.name = name
        self.value = value
        self.unit = unit
        self.hints = hints

    def __repr__(self) -> str:
        """Key, value and unit: what a reader of a log needs."""
        unit = f" {self.unit}" if self.unit else ""
        return f"<Field {self.key}={self.value!r}{unit}>"

    def __eq__(self, other: object) -> bool:
        """Fields are equal when key, name, value and unit are."""
        if not isinstance(other, Field):
            return NotImplemented
        return (self.key, self.name, self.value, self.unit) == (
            other.key,
            other.name,
            other.value,
            other.unit,
        )

    __hash__ = None  # type: ignore[assignment]


class FieldKind(StrEnum):
    """What a field's values are, so a front-end can choose how to show it without the protocol.

    ``number``: an ``int`` or ``float``; ``bool``: ``True``/``False``; ``enum``: one of
    :attr:`FieldInfo.options` (or ``"Unknown (code)"`` for a code the table does not know);
    ``text``: any other string (serial numbers, versions, dates, hex).
    """

    NUMBER = "number"
    BOOL = "bool"
    ENUM = "enum"
    TEXT = "text"


def _distinct(labels: Iterable[str]) -> tuple[str, ...]:
    """Return the non-empty ``labels`` once each, in order."""
    return tuple(dict.fromkeys(label for label in labels if label))


def decimals(scale: float) -> int | None:
    """Return the decimal places a value scaled by ``scale`` has: 0.1 -> 1, 1 -> 0, 0.5 -> None."""
    if scale == 1:
        return 0
    divisor = decimal_divisor(scale)
    return len(str(divisor)) - 1 if divisor else None


class FieldInfo:
    """What a layout knows about a field before any frame arrives.

    Key, name, unit and hints; :attr:`kind` (a :class:`FieldKind`: what its values are),
    :attr:`options` (the labels an ``enum`` field can take) and :attr:`precision` (the decimal
    places the device reports a number with; ``None`` when the frame decides).
    """

    __slots__ = ("hints", "key", "kind", "name", "options", "precision", "unit")

    def __init__(
        self,
        key: str,
        name: str,
        unit: str,
        hints: Hints,
        *,
        kind: FieldKind | None = None,
        options: Iterable[str] = (),
        precision: int | None = None,
    ) -> None:
        """Describe one field; ``kind`` defaults to a number with a unit, text without one."""
        self.key = key
        self.name = name
        self.unit = unit
        self.hints = hints
        self.kind = kind if kind is not None else FieldKind.NUMBER if unit else FieldKind.TEXT
        self.options = _distinct(options)
        self.precision = precision

    def __repr__(self) -> str:
        """Key and unit."""
        return f"<FieldInfo {self.key} [{self.unit}]>"


def unknown_info(key: str) -> FieldInfo:
    """Info for a value the layout does not describe (kept by position, as the reference does)."""
    index = key.rpartition("_")[2]
    return FieldInfo(key, f"Unknown value in response {index}", "", DIAGNOSTIC)


class Result(Mapping[str, Value]):
    """The decoded answer to one command: a read-only mapping of field key -> value.

    ``result.fields`` gives full :class:`Field` objects (name, unit, hints); they are built on
    first access, so a caller that only needs values pays nothing for them.
    """

    __slots__ = ("_fields", "_info", "command", "raw", "values_by_key")

    def __init__(
        self, command: str, values: dict[str, Value], raw: bytes, info: Mapping[str, FieldInfo]
    ) -> None:
        """Wrap the values decoded from ``raw`` in answer to ``command``."""
        self.command = command
        self.values_by_key = values
        self.raw = raw
        self._info = info
        self._fields: Mapping[str, Field] | None = None

    @property
    def fields(self) -> Mapping[str, Field]:
        """Key -> :class:`Field`, in response order."""
        fields = self._fields
        if fields is None:
            info = self._info
            built = {}
            for key, value in self.values_by_key.items():
                meta = info.get(key) or unknown_info(key)
                built[key] = Field(key, meta.name, value, meta.unit, meta.hints)
            fields = self._fields = MappingProxyType(built)
        return fields

    def __getitem__(self, key: str) -> Value:
        """Return the value of field ``key``."""
        return self.values_by_key[key]

    def __iter__(self) -> Iterator[str]:
        """Iterate over field keys in response order."""
        return iter(self.values_by_key)

    def __len__(self) -> int:
        """Return the number of decoded fields."""
        return len(self.values_by_key)

    def __repr__(self) -> str:
        """Command and values."""
        values = ", ".join(f"{k}={v!r}" for k, v in self.values_by_key.items())
        return f"<Result {self.command}: {values}>"


#: What a spec writes into while decoding: key -> value.
Out = dict[str, Value]


class Spec:
    """Base of the field decoders: turns one token into fields."""

    __slots__ = ("hints", "key", "name", "unit")

    #: Whether the spec takes all remaining text (spaces included) instead of one token.
    takes_rest: bool = False
    #: What its values are (``None``: a number with a unit, text without one); a spec whose
    #: fields differ says so per field in :meth:`info`.
    kind: FieldKind | None = None

    def __init__(self, name: str, unit: str = "", hints: Hints | None = None) -> None:
        """Name the field; ``hints`` default from the unit."""
        self.name = name
        self.key = slugify(name)
        self.unit = unit
        self.hints = hints if hints is not None else NO_HINTS

    def decode(self, token: str, out: Out) -> None:
        """Add the field(s) decoded from ``token`` to ``out``."""
        raise NotImplementedError

    def field_keys(self) -> tuple[str, ...]:
        """Return the keys this spec can produce (for documentation and entity generation)."""
        return tuple(info.key for info in self.info())

    def info(self) -> tuple[FieldInfo, ...]:
        """Key, name, unit, hints and kind of every field this spec can produce."""
        return (
            FieldInfo(
                self.key,
                self.name,
                self.unit,
                self.hints,
                kind=self.kind,
                options=self.options(),
                precision=self.precision(),
            ),
        )

    def options(self) -> tuple[str, ...]:
        """Return the labels an ``enum`` field can take (none for other kinds)."""
        return ()

    def precision(self) -> int | None:
        """Return the decimal places of a number field, when the layout fixes them."""
        return None

    def _bad(self, token: str, what: str) -> FrameError:
        return FrameError(f"{self.name}: cannot read {token!r} as {what}")


def decimal_divisor(scale: float) -> int:
    """Return ``10**k`` when ``scale`` is ``10**-k`` (k = 1…6), else 0.

    Dividing an integer by a power of ten gives the correctly rounded decimal (2232 / 10 is
    exactly the float ``223.2``), the same value as ``round(2232 * 0.1, 6)`` at a third of the
    cost — and tenths are what most device fields are in.
    """
    for power in (10, 100, 1000, 10_000, 100_000, 1_000_000):
        if abs(scale * power - 1) < 1e-12:
            return power
    return 0


class Int(Spec):
    """An integer, optionally scaled (``Int("Battery voltage", "V", scale=0.1)``)."""

    __slots__ = ("divisor", "scale")
    kind = FieldKind.NUMBER

    def __init__(
        self, name: str, unit: str = "", hints: Hints | None = None, *, scale: float = 1
    ) -> None:
        """Integer field; ``scale`` multiplies the raw value (gives a float when not 1)."""
        super().__init__(name, unit, hints if hints is not None else default_hints(unit))
        self.scale = scale
        self.divisor = decimal_divisor(scale)

    def precision(self) -> int | None:
        """Return the decimals the scale gives (1 for tenths, 0 unscaled)."""
        return decimals(self.scale)

    def decode(self, token: str, out: Out) -> None:
        """Parse an integer; placeholders give no field."""
        try:
            value: float = int(token)
        except ValueError:
            if is_placeholder(token):
                return
            raise self._bad(token, "an integer") from None
        if self.divisor:
            value /= self.divisor
        elif self.scale != 1:
            value = round(value * self.scale, 6)
        out[self.key] = value


class Float(Spec):
    """A decimal number (``057.50``), optionally scaled."""

    __slots__ = ("scale",)
    kind = FieldKind.NUMBER

    def __init__(
        self, name: str, unit: str = "", hints: Hints | None = None, *, scale: float = 1
    ) -> None:
        """Float field; ``scale`` multiplies the raw value."""
        super().__init__(name, unit, hints if hints is not None else default_hints(unit))
        self.scale = scale

    def decode(self, token: str, out: Out) -> None:
        """Parse a decimal; placeholders give no field."""
        try:
            value = float(token)
        except ValueError:
            if is_placeholder(token):
                return
            raise self._bad(token, "a number") from None
        if value - value:  # nan or ±inf (cheaper than math.isfinite on the hot path)
            raise self._bad(token, "a finite number")
        if self.scale != 1:
            value = round(value * self.scale, 6)
        out[self.key] = value


class Str(Spec):
    """Text as sent (serial numbers, model names, firmware versions)."""

    __slots__ = ()

    def decode(self, token: str, out: Out) -> None:
        """Keep the token; an empty one gives no field."""
        if token:
            out[self.key] = token


class Rest(Str):
    """Everything left in the payload, spaces included (model names, free text)."""

    __slots__ = ()
    takes_rest = True


class Option(Spec):
    """A number that indexes a list of labels (``0`` -> ``"Utility first"``)."""

    __slots__ = ("by_token", "labels")
    kind = FieldKind.ENUM

    def __init__(self, name: str, labels: Sequence[str], hints: Hints | None = None) -> None:
        """Option field over ``labels``."""
        super().__init__(name, "", hints)
        self.labels = tuple(labels)
        # The spellings devices use ("1", "01", "001"), looked up before parsing a number.
        self.by_token = {
            f"{index:0{width}d}": label
            for index, label in enumerate(self.labels)
            for width in (1, 2, 3)
        }

    def options(self) -> tuple[str, ...]:
        """Return the labels."""
        return _distinct(self.labels)

    def decode(self, token: str, out: Out) -> None:
        """Map the index to its label; an index out of range is kept visibly, not guessed."""
        label = self.by_token.get(token)
        if label is not None:
            out[self.key] = label
            return
        try:
            index = int(token)
        except ValueError:
            if is_placeholder(token):
                return
            raise self._bad(token, "an option number") from None
        value = self.labels[index] if 0 <= index < len(self.labels) else f"Unknown ({token})"
        out[self.key] = value


class Keyed(Spec):
    """A code that a mapping turns into a label (``"B"`` -> ``"Battery"``)."""

    __slots__ = ("mapping",)
    kind = FieldKind.ENUM

    def __init__(self, name: str, mapping: Mapping[str, str], hints: Hints | None = None) -> None:
        """Keyed field over ``mapping``."""
        super().__init__(name, "", hints)
        self.mapping = dict(mapping)

    def options(self) -> tuple[str, ...]:
        """Return the labels the codes map to."""
        return _distinct(self.mapping.values())

    def decode(self, token: str, out: Out) -> None:
        """Map the code to its label; an unknown code is kept visibly."""
        value = self.mapping.get(token)
        if value is None:
            if is_placeholder(token):
                return
            value = f"Unknown ({token})"
        out[self.key] = value


def _bit_specs(names: Sequence[str]) -> tuple[tuple[int, str, str], ...]:
    """(position, key, name) for each named bit; blank names are reserved positions."""
    seen: set[str] = set()
    result = []
    for position, name in enumerate(names):
        key = slugify(name)
        if not key or key in seen:
            continue
        seen.add(key)
        result.append((position, key, name))
    return tuple(result)


class Flags(Spec):
    """A string of ``0``/``1`` characters, one boolean field per named position.

    Blank names mark reserved positions; a repeated name keeps its first position. A position
    named reserved (as the reference names some) is decoded but hinted :data:`RESERVED`.
    """

    __slots__ = ("bits",)

    def __init__(self, names: Sequence[str], hints: Hints | None = None) -> None:
        """Flag string whose positions are ``names``."""
        super().__init__("flags", "", hints if hints is not None else DIAGNOSTIC)
        self.bits = _bit_specs(names)

    def decode(self, token: str, out: Out) -> None:
        """One boolean per named position present in ``token``."""
        if token.strip("01"):
            if is_placeholder(token):
                return
            raise self._bad(token, "a string of 0/1 flags")
        length = len(token)
        # A plain loop measured faster than itemgetter/map/zip variants on CPython 3.11–3.13.
        for position, key, _ in self.bits:
            if position < length:
                out[key] = token[position] == "1"

    def info(self) -> tuple[FieldInfo, ...]:
        """One boolean field per named bit (a bit named reserved is hinted :data:`RESERVED`)."""
        return tuple(
            FieldInfo(
                key, name, "", RESERVED if is_reserved(key) else self.hints, kind=FieldKind.BOOL
            )
            for _, key, name in self.bits
        )


#: The two values of an :class:`EnableFlags` field.
ENABLED_DISABLED: Final = ("disabled", "enabled")


class EnableFlags(Spec):
    """``E<letters>D<letters>``: settings listed after E are enabled, after D disabled."""

    __slots__ = ("letters",)

    def __init__(self, letters: Mapping[str, str], hints: Hints | None = None) -> None:
        """Map each setting letter to its display name."""
        super().__init__("flags", "", hints if hints is not None else DIAGNOSTIC)
        self.letters = {letter: (slugify(name), name) for letter, name in letters.items()}

    def decode(self, token: str, out: Out) -> None:
        """One ``"enabled"``/``"disabled"`` field per letter present."""
        state: str | None = None
        for char in token:
            if char in "ED":
                state = "enabled" if char == "E" else "disabled"
                continue
            entry = self.letters.get(char.lower())
            if state is None or entry is None:
                raise self._bad(token, "E…D… flags")
            out[entry[0]] = state

    def info(self) -> tuple[FieldInfo, ...]:
        """One ``enabled``/``disabled`` field per known letter."""
        return tuple(
            FieldInfo(key, name, "", self.hints, kind=FieldKind.ENUM, options=ENABLED_DISABLED)
            for key, name in self.letters.values()
        )


class Ack(Spec):
    """The answer to a setter: ``ACK`` (accepted). A NAK never reaches here: it is an error."""

    __slots__ = ()

    def decode(self, token: str, out: Out) -> None:
        """Record the acknowledgement."""
        if token != "ACK":
            raise self._bad(token, "ACK")
        out[self.key] = "ACK"


class Custom(Spec):
    """An escape hatch for one-off layouts: ``func(token, spec, out)`` does the decoding."""

    __slots__ = ("func", "kind")

    def __init__(
        self,
        name: str,
        func: Callable[[str, Custom, Out], None],
        unit: str = "",
        hints: Hints | None = None,
        *,
        kind: FieldKind | None = None,
    ) -> None:
        """Decode with ``func``; ``kind`` as :attr:`Spec.kind`."""
        super().__init__(name, unit, hints)
        self.func = func
        self.kind = kind

    def decode(self, token: str, out: Out) -> None:
        """Delegate to the function."""
        self.func(token, self, out)
