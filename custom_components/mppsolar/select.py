"""Selects: the settings with a list of options (output and charger priority, battery type …)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import Control, option_key
from .coordinator import MppSolarConfigEntry
from .entity import (
    ControlDescription,
    MppSolarControlEntity,
    add_controls_as_fields_appear,
    control_description_values,
)

# One write at a time: each reads the setting back before the next one is sent.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class MppSolarSelectEntityDescription(SelectEntityDescription, ControlDescription):
    """A select of one setting."""


def describe(control: Control) -> MppSolarSelectEntityDescription:
    """Return the description of the select of ``control``."""
    return MppSolarSelectEntityDescription(
        **control_description_values(control),
        options=list(control.options),
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MppSolarConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a select for each setting with options the device reports."""
    coordinator = entry.runtime_data
    add_controls_as_fields_appear(
        coordinator, Platform.SELECT, describe, MppSolarSelect, async_add_entities
    )


class MppSolarSelect(MppSolarControlEntity, SelectEntity):
    """One setting with options."""

    entity_description: MppSolarSelectEntityDescription

    @property
    def current_option(self) -> str | None:
        """Return the option the device reports (``None``: one the select does not list)."""
        key = option_key(str(self._value))
        return key if key in self.control.options else None

    async def async_select_option(self, option: str) -> None:
        """Write the option's label; the select shows what the device reads back."""
        await self._write(self.control.options[option])
