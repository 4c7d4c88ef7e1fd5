"""Binary sensors: warnings, faults and on/off states, from the library's catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from mppsolar_lib.protocols.fields import Value

from .catalogue import Entry, catalogue
from .coordinator import MppSolarConfigEntry, MppSolarCoordinator
from .entity import MppSolarEntity, add_entities_as_fields_appear

# The coordinator polls; entities only read its data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class MppSolarBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor of one catalogue field."""

    #: Field key in the coordinator's data.
    field: str
    #: Read from the settings answers (else from the status answers).
    settings: bool = False


def describe(entry: Entry) -> MppSolarBinarySensorEntityDescription:
    """Return the description of the binary sensor of catalogue ``entry``."""
    hint = entry.info.hints.device_class
    device_class = (
        BinarySensorDeviceClass(hint)
        if hint is not None and hint in BinarySensorDeviceClass
        else None
    )
    return MppSolarBinarySensorEntityDescription(
        key=entry.key,
        field=entry.field,
        settings=entry.settings,
        translation_key=entry.translation_key,
        translation_placeholders=dict(entry.placeholders) or None,
        device_class=device_class,
        entity_category=entry.entity_category,
        entity_registry_enabled_default=entry.enabled_default,
    )


@cache
def descriptions(
    protocol_id: str,
) -> Mapping[tuple[bool, str], MppSolarBinarySensorEntityDescription]:
    """Return the binary sensors a protocol can have, by (read from settings, field key)."""
    return {
        where: describe(entry)
        for where, entry in catalogue(protocol_id).items()
        if entry.platform is Platform.BINARY_SENSOR
    }


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MppSolarConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a binary sensor for each flag the device reports, now and when new ones appear."""
    coordinator = entry.runtime_data
    add_entities_as_fields_appear(
        coordinator,
        descriptions(coordinator.protocol.id),
        lambda description: MppSolarBinarySensor(coordinator, description),
        async_add_entities,
    )


def is_on(value: Value) -> bool | None:
    """Read a flag (``True``) or an option (``"enabled"``); anything else is unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        folded = value.casefold()
        if folded in ("enabled", "disabled"):
            return folded == "enabled"
    return None


class MppSolarBinarySensor(MppSolarEntity, BinarySensorEntity):
    """One flag of the device."""

    entity_description: MppSolarBinarySensorEntityDescription

    def __init__(
        self, coordinator: MppSolarCoordinator, description: MppSolarBinarySensorEntityDescription
    ) -> None:
        """Show ``description``'s field."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Available while the device answers and its last answer held the flag."""
        return super().available and self._value is not None

    @property
    def is_on(self) -> bool | None:
        """Return whether the flag is set."""
        return is_on(self._value)

    @property
    def _value(self) -> Value:
        description = self.entity_description
        return self.coordinator.data.value(description.field, settings=description.settings)
