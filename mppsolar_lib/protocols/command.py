"""Command definitions: what a protocol can send and how each answer is laid out.

Commands are data. A parameterised command (``POP02``, ``PBCV44.0``, ``QPGS1``) is one definition
whose :class:`Param` checks the part after the command name before anything is sent. The params
here are general; a protocol subclasses one only for a rule of its own (PI18's bulk ≥ float).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
import re

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols.fields import Ack, FieldInfo, Spec


class Kind(StrEnum):
    """What sending a command does."""

    QUERY = "query"
    SETTER = "setter"


class Param:
    """The parameter part of a command (what follows its name)."""

    def validate(self, text: str) -> None:
        """Raise :class:`InvalidParameterError` unless ``text`` is allowed."""
        raise NotImplementedError

    def describe(self) -> str:
        """Say what is allowed, in words, for error messages and help."""
        raise NotImplementedError


class Choice(Param):
    """One of a fixed set of codes, each with a meaning: ``POP`` + ``00``/``01``/``02``."""

    def __init__(self, options: Mapping[str, str]) -> None:
        """Codes -> meanings."""
        self.options = dict(options)

    def validate(self, text: str) -> None:
        """Allow only the listed codes."""
        if text not in self.options:
            raise InvalidParameterError(f"{text!r} is not allowed; use {self.describe()}")

    def describe(self) -> str:
        """List the codes with their meanings."""
        return ", ".join(f"{code} ({meaning})" for code, meaning in self.options.items())


def codes(labels: Sequence[str]) -> dict[str, str]:
    """Code ``labels`` by position, ``{"0": labels[0], "1": labels[1], …}`` (a :class:`Choice`)."""
    return {str(index): label for index, label in enumerate(labels)}


class Number(Param):
    """A number in a fixed text format (``"dd.d"``, ``"ddd"``) within a range and on a step.

    ``fmt`` uses ``d`` for a digit; the sent text must match it exactly (devices reject ``44`` where
    they expect ``44.0``).
    """

    def __init__(
        self,
        fmt: str,
        minimum: float,
        maximum: float,
        step: float | None = None,
        *,
        also: Sequence[str] = (),
        unit: str = "",
    ) -> None:
        """``also`` lists extra literal values outside the range (e.g. ``00.0`` = "full")."""
        self.fmt = fmt
        self.minimum = minimum
        self.maximum = maximum
        self.step = step
        self.also = tuple(also)
        self.unit = unit
        self._pattern = re.compile(re.escape(fmt).replace("d", r"\d"))

    def validate(self, text: str) -> None:
        """Check format, range and step."""
        if text in self.also:
            return
        if not self._pattern.fullmatch(text):
            raise InvalidParameterError(
                f"{text!r} is not in the format {self.fmt!r}; use {self.describe()}"
            )
        value = Decimal(text)
        if not Decimal(str(self.minimum)) <= value <= Decimal(str(self.maximum)):
            raise InvalidParameterError(f"{text} is out of range; use {self.describe()}")
        if self.step is not None:
            offset = (value - Decimal(str(self.minimum))) / Decimal(str(self.step))
            if offset != offset.to_integral_value():
                raise InvalidParameterError(f"{text} is not on the step; use {self.describe()}")

    def describe(self) -> str:
        """Range, step and format in words."""
        unit = f" {self.unit}" if self.unit else ""
        step = f" in steps of {self.step:g}" if self.step is not None else ""
        also = f" (or {', '.join(self.also)})" if self.also else ""
        return f"{self.minimum:g}–{self.maximum:g}{unit}{step}, written as {self.fmt!r}{also}"


class Letters(Param):
    """One or more setting letters (``PEa``, ``PDbjx``)."""

    def __init__(self, letters: Mapping[str, str]) -> None:
        """Letter -> what it switches."""
        self.letters = dict(letters)

    def validate(self, text: str) -> None:
        """Every character must be a known letter (case-insensitive), at least one."""
        unknown = [c for c in text if c.lower() not in self.letters]
        if not text or unknown:
            raise InvalidParameterError(f"{text!r} is not allowed; use {self.describe()}")

    def describe(self) -> str:
        """List the letters."""
        return "one or more of " + ", ".join(f"{k} ({v})" for k, v in self.letters.items())


class Pattern(Param):
    """Free-form parameter checked by a regular expression, described in words."""

    def __init__(self, regex: str, description: str) -> None:
        """Full-match ``regex``; ``description`` tells the user what to write."""
        self.regex = re.compile(regex)
        self.description = description

    def validate(self, text: str) -> None:
        """Full-match the expression."""
        if not self.regex.fullmatch(text):
            raise InvalidParameterError(f"{text!r} is not allowed; use {self.description}")

    def describe(self) -> str:
        """Return the description given."""
        return self.description


class Date(Pattern):
    """A date or date and time: the shape by regular expression, then the calendar.

    ``fmt`` is the :func:`datetime.strptime` format the text must also satisfy, so that a day
    that does not exist (30 February, 29 February of 2023) is refused although it has the shape.
    """

    def __init__(self, regex: str, fmt: str, description: str) -> None:
        """Full-match ``regex``, then parse with ``fmt``; ``description`` says what to write."""
        super().__init__(regex, description)
        self.fmt = fmt

    def validate(self, text: str) -> None:
        """Check the shape, then that the calendar has this day (and time)."""
        super().validate(text)
        try:
            datetime.strptime(text, self.fmt)
        except ValueError:
            raise InvalidParameterError(
                f"{text!r} is not a real date or time; use {self.description}"
            ) from None


#: How a separator is named in messages.
_SEPARATORS = {",": "commas", " ": "single spaces"}


class Parts(Param):
    """Several values in one parameter, each checked by its own :class:`Param` (``MCHGV552,540``).

    ``sep`` separates the values (``","`` by default, ``" "``); ``sep=""`` takes one character
    per part (``120103``: six one-digit settings). The first ``required`` parts must be present
    (all, unless said otherwise); the others may be left off at the end.
    """

    def __init__(
        self, *parts: tuple[str, Param], sep: str = ",", required: int | None = None
    ) -> None:
        """Name and check each part in order."""
        self.parts = parts
        self.sep = sep
        self.required = len(parts) if required is None else required

    def split(self, text: str) -> list[str]:
        """Split ``text`` into its parts."""
        return text.split(self.sep) if self.sep else list(text)

    def validate(self, text: str) -> None:
        """Check the count, then each part; the message names the part at fault."""
        tokens = self.split(text)
        if not self.required <= len(tokens) <= len(self.parts):
            raise InvalidParameterError(
                f"{text!r}: expected {self._count()}, got {len(tokens) if text else 0}; "
                f"use {self.describe()}"
            )
        for (name, param), token in zip(self.parts, tokens, strict=False):
            try:
                param.validate(token)
            except InvalidParameterError as err:
                raise InvalidParameterError(f"{name}: {err}") from None

    def describe(self) -> str:
        """Each part in words, in order; the optional ones in brackets."""
        return "; then ".join(
            f"{name}: {param.describe()}"
            if index < self.required
            else f"[{name}]: {param.describe()}"
            for index, (name, param) in enumerate(self.parts)
        )

    def _count(self) -> str:
        """Say how many parts there are and what separates them (``2 values separated by commas``)."""
        most = len(self.parts)
        count = str(most) if self.required == most else f"{self.required}–{most}"
        if not self.sep:
            return f"{count} characters"
        return f"{count} values separated by {_SEPARATORS.get(self.sep, repr(self.sep))}"


ACK_FIELDS: tuple[Spec, ...] = (Ack("Command execution"),)


@dataclass(frozen=True, eq=False)
class Command:
    """One command of a protocol."""

    name: str
    description: str
    fields: tuple[Spec, ...] = ACK_FIELDS
    kind: Kind = Kind.QUERY
    param: Param | None = None
    #: Example answers (used by the simulator and tests); from public captures and manuals.
    examples: tuple[bytes, ...] = ()
    #: Protocol-specific options (e.g. a different frame check); read by the protocol's framing.
    options: Mapping[str, object] = field(default_factory=dict)

    @cached_property
    def info(self) -> Mapping[str, FieldInfo]:
        """Key -> name, unit and hints of every field the answer can hold."""
        return {info.key: info for spec in self.fields for info in spec.info()}

    @cached_property
    def rest_index(self) -> int | None:
        """Position of the spec that takes all remaining text, if the layout has one."""
        return next((i for i, spec in enumerate(self.fields) if spec.takes_rest), None)

    def spec(self, key: str) -> Spec:
        """Return the decoder of field ``key``, to share it with a variant's layout."""
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(f"{self.name} has no field {key!r}")

    def validate(self, text: str) -> None:
        """Check the parameter part ``text`` of a command string."""
        if self.param is None:
            if text:
                raise InvalidParameterError(f"{self.name} takes no parameter (got {text!r})")
            return
        self.param.validate(text)


def query(
    name: str, description: str, *fields: Spec, param: Param | None = None, **options: object
) -> Command:
    """Define a query command (shorthand for the tables)."""
    return Command(name, description, tuple(fields), Kind.QUERY, param, options=options)


def setter(name: str, description: str, param: Param | None = None, **options: object) -> Command:
    """Define a setter answered by ACK/NAK (shorthand for the tables).

    The acknowledgement is keyed by the command name (``result["pop"] == "ACK"``), as the
    reference implementation reports it.
    """
    return Command(name, description, (Ack(name),), Kind.SETTER, param, options=options)
