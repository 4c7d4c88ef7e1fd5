"""Numbers: the settings with a range (charging currents, battery voltages, a BMS's thresholds).

Where the unit lists the values it takes (QMCHGCR, QMUCHGCR for the charging currents), the
range and step are those of its list; a value between two listed ones is refused before
anything is sent, with the list in the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
import math

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import Control
from .coordinator import MppSolarConfigEntry
from .entity import (
    ControlDescription,
    MppSolarControlEntity,
    add_controls_as_fields_appear,
    control_description_values,
)

# One write at a time: each reads the setting back before the next one is sent.
PARALLEL_UPDATES = 1

#: Device classes by the settings model's unit.
DEVICE_CLASSES: dict[str, NumberDeviceClass] = {
    "V": NumberDeviceClass.VOLTAGE,
    "A": NumberDeviceClass.CURRENT,
    "W": NumberDeviceClass.POWER,
    "min": NumberDeviceClass.DURATION,
}


@dataclass(frozen=True, kw_only=True)
class MppSolarNumberEntityDescription(NumberEntityDescription, ControlDescription):
    """A number of one setting."""


def describe(control: Control) -> MppSolarNumberEntityDescription:
    """Return the description of the number of ``control`` (its declared range)."""
    setting = control.setting
    return MppSolarNumberEntityDescription(
        **control_description_values(control),
        device_class=DEVICE_CLASSES.get(setting.unit),
        native_unit_of_measurement=setting.unit or None,
        native_min_value=setting.minimum if setting.minimum is not None else 0.0,
        native_max_value=setting.maximum if setting.maximum is not None else 100.0,
        native_step=setting.step,
        mode=NumberMode.BOX,
    )


def step_of(values: Sequence[float]) -> float | None:
    """Return the largest step that reaches every value from the first (``None``: no such).

    ``2 10 20 … 120`` -> 2; values that are not whole numbers have no common step here.
    """
    if len(values) < 2 or any(value != int(value) for value in values):
        return None
    first = int(values[0])
    return float(reduce(math.gcd, (int(value) - first for value in values[1:])))


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MppSolarConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a number for each ranged setting the device reports."""
    coordinator = entry.runtime_data
    add_controls_as_fields_appear(
        coordinator, Platform.NUMBER, describe, MppSolarNumber, async_add_entities
    )


class MppSolarNumber(MppSolarControlEntity, NumberEntity):
    """One setting with a range."""

    entity_description: MppSolarNumberEntityDescription

    @property
    def _allowed(self) -> tuple[float, ...]:
        """The values the unit says it takes, in order (empty: the declared range applies)."""
        return tuple(sorted(self.coordinator.allowed_values(self.control.setting) or ()))

    @property
    def native_value(self) -> float | None:
        """Return the value the device reports."""
        value = self._value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        return None

    @property
    def native_min_value(self) -> float:
        """Return the lowest value the unit takes."""
        allowed = self._allowed
        return allowed[0] if allowed else super().native_min_value

    @property
    def native_max_value(self) -> float:
        """Return the highest value the unit takes."""
        allowed = self._allowed
        return allowed[-1] if allowed else super().native_max_value

    @property
    def native_step(self) -> float | None:
        """Return the step between the values the unit takes."""
        step = step_of(self._allowed)
        return step if step is not None else super().native_step

    async def async_set_native_value(self, value: float) -> None:
        """Write ``value``; the number shows what the device reads back."""
        await self._write(value)
