"""Field encoders: the inverse of the protocol's field decoders, for simulated answers.

A simulator answers from a *template* token (how a real unit writes the field: width, decimals,
sign) and a *value* in the decoded form (``230.4`` volts, ``"SBU first"``, ``True``). The
encoder writes the value the way the template is written, so that the protocol's own decoder
reads the value back. Anything it cannot encode keeps the template token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols.fields import (
    Custom,
    EnableFlags,
    Flags,
    Float,
    Int,
    Keyed,
    Option,
    Spec,
)
from mppsolar_lib.protocols.voltronic_specs import CharOptions, Clock, Flag, LengthPrefixed


@dataclass(frozen=True, slots=True)
class Raw:
    """A token sent exactly as given (a mode letter, a code), whatever the field's decoder."""

    text: str


#: What the encoders take: field key -> decoded value, or a :class:`Raw` token.
Values = Mapping[str, object]


def number(value: float, template: str) -> str:
    """Write ``value`` as ``template`` writes numbers: same decimals, zero-padded, sign if any.

    ``number(51.23, "00.00")`` -> ``"51.23"``; ``number(7, "+00000")`` -> ``"+00007"``.
    """
    signed = template[:1] in ("+", "-")
    body = template[1:] if signed else template
    whole, dot, fraction = body.partition(".")
    decimals = len(fraction) if dot else 0
    text = f"{abs(value):.{decimals}f}"
    negative = value < 0 and text.strip("0.") != ""
    integer, _, digits = text.partition(".")
    width = len(whole) - (1 if negative and not signed else 0)
    integer = integer.zfill(width)
    text = f"{integer}.{digits}" if decimals else integer
    if negative:
        return "-" + text
    return ("+" + text) if signed else text


def encode(spec: Spec, values: Values, template: str) -> str:
    """Return the token for ``spec`` carrying ``values`` (the template where none applies)."""
    if isinstance(spec, Flags):
        return _flags(spec, values, template)
    if isinstance(spec, EnableFlags):
        return _enable_flags(spec, values, template)
    if isinstance(spec, CharOptions):
        return _char_options(spec, values, template)
    if spec.key not in values:
        return template
    value = values[spec.key]
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool) and isinstance(spec, Flag):
        return "1" if value else "0"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(spec, Int):
            return number(round(value / spec.scale), template.partition(".")[0])
        if isinstance(spec, Float):
            return number(value / spec.scale, template)
    if isinstance(spec, Option):
        return _option(spec, value, template)
    if isinstance(spec, Keyed):
        return _keyed(spec, value, template)
    if isinstance(spec, LengthPrefixed):
        text = str(value)
        return f"{len(text):02d}{text}".ljust(len(template), "0")
    if isinstance(spec, Clock):
        return str(value).replace(":", "")
    if isinstance(spec, Custom):
        # One-off decoders cannot be inverted in general: only a Raw value replaces the token.
        return template
    return str(value)


def _option(spec: Option, value: object, template: str) -> str:
    """Write the index of label ``value`` with the template's width."""
    if isinstance(value, int) and not isinstance(value, bool):
        index = value
    elif value in spec.labels:
        index = spec.labels.index(str(value))
    else:
        return template
    width = len(template) if template.isdigit() else 1
    return f"{index:0{width}d}"


def _keyed(spec: Keyed, value: object, template: str) -> str:
    """Write the code of label ``value`` (or ``value`` itself when it is a code)."""
    text = str(value)
    if text in spec.mapping:
        return text
    for code, label in spec.mapping.items():
        if label == text:
            return code
    return template


def _flags(spec: Flags, values: Values, template: str) -> str:
    """Set the named positions present in ``values``; the others keep the template's bits."""
    chars = list(template) if template and not template.strip("01") else []
    for position, key, _ in spec.bits:
        if key not in values:
            continue
        while len(chars) <= position:
            chars.append("0")
        chars[position] = "1" if values[key] else "0"
    return "".join(chars) or template


def _enable_flags(spec: EnableFlags, values: Values, template: str) -> str:
    """``E<on letters>D<off letters>``, letters in the template's order, then any new ones."""
    state: dict[str, bool] = {}
    current: bool | None = None
    for char in template:
        if char in "ED":
            current = char == "E"
        else:
            state[char] = current is True
    for letter, (key, _) in spec.letters.items():
        if key in values:
            value = values[key]
            state[letter] = value is True or value == "enabled"
    enabled = "".join(letter for letter, on in state.items() if on)
    disabled = "".join(letter for letter, on in state.items() if not on)
    return f"E{enabled}D{disabled}"


def _char_options(spec: CharOptions, values: Values, template: str) -> str:
    """One digit per setting: the values given replace the template's digits."""
    chars = list(template)
    for index, (info, _) in enumerate(spec.parts):
        if info.key in values and index < len(chars):
            try:
                chars[index] = spec.code(info.key, values[info.key])  # type: ignore[arg-type]
            except InvalidParameterError:
                continue
    return "".join(chars)


def default_token(spec: Spec) -> str:
    """Return a token ``spec`` decodes, for a command no template describes."""
    if isinstance(spec, Flags):
        return "0" * (max((position for position, _, _ in spec.bits), default=0) + 1)
    if isinstance(spec, EnableFlags):
        return "ED" + "".join(spec.letters)
    if isinstance(spec, CharOptions):
        return "0" * len(spec.parts)
    if isinstance(spec, Keyed):
        return next(iter(spec.mapping), "0")
    if isinstance(spec, Float):
        return "000.0"
    if isinstance(spec, Int):
        return "0000"
    if isinstance(spec, Clock):
        return "0000"
    if isinstance(spec, LengthPrefixed):
        return "00"
    return "0"
