"""Field formats and setting kinds that several Voltronic families share.

They live apart from the command tables that use them so that a simulator or a tool can know
them without loading every family's tables (importing ``pi18`` for its ``Flag`` would build all
of PI18's commands).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import math

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols.fields import (
    PROBLEM,
    FieldInfo,
    FieldKind,
    Hints,
    Out,
    Spec,
    Value,
    slugify,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, parse_number

# -- field decoders ----------------------------------------------------------------------------


class Flag(Spec):
    """A single ``0``/``1`` token read as a boolean (a warning that is on or off)."""

    __slots__ = ()
    kind = FieldKind.BOOL

    def __init__(self, name: str, hints: Hints | None = None) -> None:
        """Name the flag."""
        super().__init__(name, "", hints if hints is not None else PROBLEM)

    def decode(self, token: str, out: Out) -> None:
        """``1`` is True, ``0`` False; anything else is a bad frame."""
        if token == "1":
            out[self.key] = True
        elif token == "0":
            out[self.key] = False
        else:
            raise self._bad(token, "0 or 1")


class Clock(Spec):
    """``HHMM`` shown as ``HH:MM`` (the AC charge and AC supply time windows)."""

    __slots__ = ()

    def decode(self, token: str, out: Out) -> None:
        """Insert the colon; four digits are required."""
        if len(token) != 4 or not (token.isascii() and token.isdigit()):
            raise self._bad(token, "a time as HHMM")
        out[self.key] = f"{token[:2]}:{token[2:]}"


class LengthPrefixed(Spec):
    """``NN`` + text padded after it: keep the first ``NN`` characters (QSID; PI18's ID)."""

    __slots__ = ()

    def decode(self, token: str, out: Out) -> None:
        """Keep the declared length; no two-digit length, or a shorter text, is a bad frame."""
        head = token[:2]
        if len(head) < 2 or not (head.isascii() and head.isdigit()):
            raise self._bad(token, "a two-digit length, then the text")
        length = int(head)
        if len(token) - 2 < length:
            raise self._bad(token, f"a two-digit length, then {length} characters")
        out[self.key] = token[2 : 2 + length]


class CharOptions(Spec):
    """A token whose characters are separate settings: ``"000100"`` -> six option fields.

    Each part is ``(name, labels)``; a digit indexes ``labels``. ``labels=None`` keeps the
    character itself (an id). Characters beyond the named parts are ignored.
    """

    __slots__ = ("parts",)

    def __init__(
        self, parts: Sequence[tuple[str, Sequence[str] | None]], hints: Hints | None = None
    ) -> None:
        """Name the character positions."""
        super().__init__("settings digits", "", hints)
        self.parts = tuple(
            (
                FieldInfo(
                    slugify(name),
                    name,
                    "",
                    self.hints,
                    kind=FieldKind.TEXT if labels is None else FieldKind.ENUM,
                    options=labels or (),
                ),
                None if labels is None else tuple(labels),
            )
            for name, labels in parts
        )

    def decode(self, token: str, out: Out) -> None:
        """One field per character present."""
        if not token.isdigit() or not token.isascii():
            raise self._bad(token, "a string of setting digits")
        for (info, labels), char in zip(self.parts, token, strict=False):
            if labels is None:
                out[info.key] = char
                continue
            index = int(char)
            out[info.key] = labels[index] if index < len(labels) else f"Unknown ({char})"

    def info(self) -> tuple[FieldInfo, ...]:
        """One field per named position."""
        return tuple(info for info, _ in self.parts)

    def code(self, key: str, value: Value) -> str:
        """Return the digit for ``value`` (a label, case-insensitive, or a digit) of field ``key``."""
        for info, labels in self.parts:
            if info.key != key:
                continue
            text = str(value)
            if labels is None or (len(text) == 1 and text.isdigit() and int(text) < len(labels)):
                return text
            for index, label in enumerate(labels):
                if label.casefold() == text.casefold():
                    return str(index)
            raise InvalidParameterError(
                f"{info.name}: {value!r} is not one of: {', '.join(labels)}"
            )
        raise KeyError(key)


# -- setting kinds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedSetting(Setting):
    """A setting written in device units, possibly together with the current values of others.

    ``parts`` lays out what follows the command name, comma-separated: per part the read field's
    key, the device unit in the field's unit (0.1 for tenths of a volt) and the digit count (0: a
    0/1 flag). The part whose key is :attr:`read_field` takes the new value; the others are
    copied from ``current`` (the answer to :attr:`read_command`), because the command
    writes them all at once (``MCHGV`` sets C.V. and float voltage together).
    """

    parts: tuple[tuple[str, float, int], ...] = ()

    @property
    def needs_current(self) -> bool:
        """Whether the command also writes values other than this setting's own."""
        return any(key != self.read_field for key, _, _ in self.parts)

    def encode(
        self,
        value: object,
        *,
        allowed: Sequence[float] | None = None,
        current: Mapping[str, Value] | None = None,
    ) -> str:
        """Return the command string setting ``value``; raises :class:`InvalidParameterError`.

        Pass the answer to :attr:`read_command` as ``current`` when the write carries
        other values too.
        """
        if self.kind is SettingKind.SWITCH:
            if not isinstance(value, bool):
                raise InvalidParameterError(f"{self.name}: expected on/off, got {value!r}")
            own: Value = value
        else:
            own = parse_number(self.name, value)
            self._check_range(own, f" {self.unit}" if self.unit else "")
        tokens = []
        for key, unit, digits in self.parts:
            if key == self.read_field:
                tokens.append(_device_text(self.name, own, unit, digits))
                continue
            if current is None or current.get(key) is None:
                raise InvalidParameterError(
                    f"{self.name}: the command also writes {key}; pass the current "
                    f"{self.read_command} answer as current"
                )
            tokens.append(_device_text(key, current[key], unit, digits))
        return self.write + ",".join(tokens)


def _device_text(name: str, value: Value, unit: float, digits: int) -> str:
    """``value`` as the device writes it: ``digits`` digits of ``unit``, or a 0/1 flag."""
    if digits == 0:
        if isinstance(value, str):
            value = value.casefold() == "enabled"
        return "1" if value else "0"
    raw = parse_number(name, value) / unit
    count = round(raw)
    if not math.isclose(raw, count, abs_tol=1e-6) or count < 0 or len(str(count)) > digits:
        raise InvalidParameterError(f"{name}: {value!r} cannot be sent as {digits} digits")
    return f"{count:0{digits}d}"


@dataclass(frozen=True)
class TenthsSetting(Setting):
    """A voltage the device takes in tenths (45.0 V is sent as ``450``).

    ``write`` uses ``{value}`` (this setting, in tenths) and, for commands that set two voltages
    at once (MCHGV, BUCD), ``{partner}``: the other voltage, read from :attr:`partner` of the
    current answer to :attr:`read_command`, which :meth:`encode` then needs as ``current``.
    """

    #: Field key of the voltage written alongside (empty: none).
    partner: str = ""
    #: Values allowed outside the range (BUCD's 0 = "only when fully charged").
    also: tuple[float, ...] = ()

    @property
    def needs_current(self) -> bool:
        """Whether the command writes a partner voltage too."""
        return bool(self.partner)

    def encode(
        self,
        value: object,
        *,
        allowed: Sequence[float] | None = None,
        current: Mapping[str, Value] | None = None,
    ) -> str:
        """Return the command that sets ``value`` volts; raise InvalidParameterError if refused."""
        number = parse_number(self.name, value)
        if not any(math.isclose(number, a, abs_tol=1e-9) for a in self.also):
            self._check(number)
        partner = 0
        if self.partner:
            other = None if current is None else current.get(self.partner)
            if not isinstance(other, int | float) or isinstance(other, bool):
                raise InvalidParameterError(
                    f"{self.name}: {self.read_command} sets it together with {self.partner}; "
                    f"pass the current {self.read_command} answer as current="
                )
            partner = round(other * 10)
        return self.write.format(value=round(number * 10), partner=partner)

    def _check(self, number: float) -> None:
        """Check range and step as any number setting, naming the values allowed outside."""
        if self.minimum is None or self.maximum is None or self.step is None:
            raise InvalidParameterError(f"{self.name}: no range is known")
        try:
            self._check_range(number, f" {self.unit}")
        except InvalidParameterError as err:
            if not self.also:
                raise
            raise InvalidParameterError(
                f"{err} (or {', '.join(f'{a:g}' for a in self.also)})"
            ) from None
