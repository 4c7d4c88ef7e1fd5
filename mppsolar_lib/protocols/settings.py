"""The settings model: each user-settable parameter declared once.

A :class:`Setting` says where the current value is read (command + field key), how a new value is
written (a command template), and what values are allowed (options, or a numeric range and step,
possibly narrowed by what the device itself reports). Home Assistant's select/number/switch
entities, the CLI and the bridge's command channel are all built on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
import math

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols.fields import Result, Value


class SettingKind(StrEnum):
    """How the setting is presented."""

    SELECT = "select"
    NUMBER = "number"
    SWITCH = "switch"


@dataclass(frozen=True)
class Setting:
    """One user-settable parameter."""

    key: str
    name: str
    kind: SettingKind
    #: Where the current value is read: a query command and a field key of its answer.
    read_command: str
    read_field: str
    #: Write template, ``str.format`` style: ``{code}`` for selects, ``{value}`` for numbers.
    #: Switches use ``on`` / ``off`` templates instead.
    write: str = ""
    #: Selects: code sent -> label the read field shows.
    options: Mapping[str, str] = field(default_factory=dict)
    #: Numbers: range and step, unit.
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str = ""
    #: Numbers: a query whose answer lists the values the device allows (e.g. QMCHGCR).
    options_command: str | None = None
    #: Numbers: from this value on, use ``write_large`` (devices use a wider command for ≥ 100 A).
    large_from: float | None = None
    write_large: str = ""
    #: Switches: templates to enable / disable, and the read field's value meaning "on".
    on: str = ""
    off: str = ""
    on_value: str = "enabled"
    #: Changing it can damage a battery or cut power: front-ends should confirm and log.
    safety: bool = False
    description: str = ""

    # -- reading ------------------------------------------------------------------------------

    def current(self, result: Result) -> Value:
        """Read the current value from an answer to :attr:`read_command` (``None`` if absent).

        Switches give a bool; selects the label; numbers the number.
        """
        field_ = result.fields.get(self.read_field)
        if field_ is None:
            return None
        if self.kind is SettingKind.SWITCH:
            return field_.value == self.on_value
        return field_.value

    def allowed_values(self, options_result: Result | None = None) -> tuple[float, ...] | None:
        """Numbers: the values the device reports it accepts (from :attr:`options_command`)."""
        if options_result is None:
            return None
        values: list[float] = []
        for value in options_result.values():
            if isinstance(value, str):
                for token in value.split():
                    try:
                        values.append(int(token))
                    except ValueError:
                        continue
            elif isinstance(value, int | float) and not isinstance(value, bool):
                values.append(value)
        return tuple(values) or None

    # -- writing ------------------------------------------------------------------------------

    @property
    def needs_current(self) -> bool:
        """Whether :meth:`encode` needs the current answer to :attr:`read_command`.

        True for commands that write several values at once (PI17/PI18 ``MCHGV`` sets two
        voltages): the values not being changed are copied from the current reading.
        """
        return False

    def encode(
        self,
        value: object,
        *,
        allowed: Sequence[float] | None = None,
        current: Mapping[str, Value] | None = None,
    ) -> str:
        """Return the command string that sets ``value``; raises :class:`InvalidParameterError`.

        Selects take a label or a code; numbers a number (``allowed`` narrows the range to what
        the device reported); switches a bool. ``current`` (the answer to :attr:`read_command`)
        is required when :attr:`needs_current` is true and ignored otherwise.
        """
        if self.kind is SettingKind.SELECT:
            return self._encode_select(value)
        if self.kind is SettingKind.SWITCH:
            if not isinstance(value, bool):
                raise InvalidParameterError(f"{self.name}: expected on/off, got {value!r}")
            return self.on if value else self.off
        return self._encode_number(value, allowed)

    def _encode_select(self, value: object) -> str:
        text = str(value)
        if text in self.options:
            return self.write.format(code=text)
        for code, label in self.options.items():
            if label.casefold() == text.casefold():
                return self.write.format(code=code)
        allowed = ", ".join(self.options.values())
        raise InvalidParameterError(f"{self.name}: {value!r} is not one of: {allowed}")

    def _encode_number(self, value: object, allowed: Sequence[float] | None) -> str:
        number = parse_number(self.name, value)
        unit = f" {self.unit}" if self.unit else ""
        if allowed:
            if not any(math.isclose(number, a, abs_tol=1e-9) for a in allowed):
                listed = ", ".join(f"{a:g}" for a in allowed)
                raise InvalidParameterError(
                    f"{self.name}: {number:g}{unit} is not allowed by this device; use one of {listed}"
                )
        else:
            self._check_range(number, unit)
        template = self.write
        if self.large_from is not None and number >= self.large_from:
            template = self.write_large
        if "d}" in template:
            if number != round(number):
                raise InvalidParameterError(f"{self.name}: {number:g}{unit} must be a whole number")
            return template.format(value=round(number))
        return template.format(value=number)

    def _check_range(self, number: float, unit: str) -> None:
        lo, hi = self.minimum, self.maximum
        if (lo is not None and number < lo - 1e-9) or (hi is not None and number > hi + 1e-9):
            raise InvalidParameterError(
                f"{self.name}: {number:g}{unit} is out of range {lo:g}–{hi:g}{unit}"
            )
        if self.step and lo is not None:
            steps = (number - lo) / self.step
            if not math.isclose(steps, round(steps), abs_tol=1e-6):
                raise InvalidParameterError(
                    f"{self.name}: {number:g}{unit} is not a multiple of {self.step:g}{unit} from {lo:g}"
                )


def parse_number(name: str, value: object) -> float:
    """Read a user-given number (int, float or numeric text); refuse bools, nan and inf."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidParameterError(f"{name}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidParameterError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidParameterError(f"{name}: {value!r} is not a finite number")
    return number


def settings_table(
    *settings: Setting, base: Mapping[str, Setting] | None = None
) -> dict[str, Setting]:
    """Build a settings model: ``base`` extended or overridden by ``settings``."""
    result = dict(base or {})
    for setting in settings:
        result[setting.key] = setting
    return result
