"""Switches: the settings that are on or off (flags, charger paths, a BMS's MOSFETs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
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


@dataclass(frozen=True, kw_only=True)
class MppSolarSwitchEntityDescription(SwitchEntityDescription, ControlDescription):
    """A switch of one setting."""


def describe(control: Control) -> MppSolarSwitchEntityDescription:
    """Return the description of the switch of ``control``."""
    return MppSolarSwitchEntityDescription(
        **control_description_values(control),
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MppSolarConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for each on/off setting the device reports."""
    coordinator = entry.runtime_data
    add_controls_as_fields_appear(
        coordinator, Platform.SWITCH, describe, MppSolarSwitch, async_add_entities
    )


class MppSolarSwitch(MppSolarControlEntity, SwitchEntity):
    """One on/off setting."""

    entity_description: MppSolarSwitchEntityDescription

    @property
    def is_on(self) -> bool:
        """Return whether the device reports the setting on."""
        return self._value == self.control.setting.on_value

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn the setting on; the switch shows what the device reads back."""
        await self._write(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the setting off; the switch shows what the device reads back."""
        await self._write(False)
