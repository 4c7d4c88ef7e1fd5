"""Command definitions: what a protocol can send and how each answer is laid out.

Commands are data. A parameterised command (``POP02``, ``PBCV44.0``, ``QPGS1``) is one definition
whose :class:`Param` checks the part after the command name before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
