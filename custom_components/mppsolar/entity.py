"""The base entity: one device per config entry, values from the coordinator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from mppsolar_lib.protocols import Protocol as DeviceProtocol
from mppsolar_lib.protocols.fields import Value
from mppsolar_lib.protocols.voltronic import CaretProtocol, VoltronicProtocol

from .catalogue import Control, controls
from .const import CONF_ADDRESS, CONF_CONNECTION, CONF_INVERTER, DOMAIN, Connection
from .coordinator import MppSolarCoordinator
from .parallel import unit_identifier

#: Who makes the devices a protocol family talks to (by protocol id prefix).
MANUFACTURERS = (
    ("pi", "Voltronic Power"),
    ("jk", "Jikong (JK BMS)"),
    ("daly", "Daly"),
    ("ved", "Victron Energy"),
)


def manufacturer(protocol: str) -> str | None:
    """Return the maker of devices speaking ``protocol``."""
    return next((name for prefix, name in MANUFACTURERS if protocol.startswith(prefix)), None)


def is_inverter(protocol: DeviceProtocol) -> bool:
    """Tell whether ``protocol`` is an inverter's (the Voltronic families).

    The others (JK and Daly BMSs, VE.Direct chargers and shunts) feed an inverter: their entry
    can be linked to the inverter's (option ``inverter``).
    """
    return isinstance(protocol, VoltronicProtocol | CaretProtocol)


def device_identifier(entry: ConfigEntry) -> tuple[str, str]:
    """Return the device registry identifier of ``entry``'s device."""
    return (DOMAIN, entry.unique_id or entry.entry_id)


def linked_inverter(hass: HomeAssistant, linked: str | None) -> tuple[str, str] | None:
    """Return the identifier of the device of inverter entry ``linked``, if there is one.

    ``None`` when no inverter is chosen, or the chosen entry has been removed, or its device
    is not in the device registry (the inverter was never set up): the link is then absent.
    """
    inverter = hass.config_entries.async_get_entry(linked) if linked else None
    if inverter is None or inverter.domain != DOMAIN:
        return None
    identifier = device_identifier(inverter)
    if dr.async_get(hass).async_get_device(identifiers={identifier}) is None:
        return None
    return identifier


@callback
def async_link_inverter(hass: HomeAssistant, entry: ConfigEntry, linked: str | None) -> None:
    """Make ``entry``'s device show inverter entry ``linked``'s device (``None``: no inverter).

    The device info sets the link at setup; taking it away needs the registry (a device info
    without ``via_device`` leaves the one there).
    """
    registry = dr.async_get(hass)
    device = registry.async_get_device(identifiers={device_identifier(entry)})
    if device is None:
        return
    identifier = linked_inverter(hass, linked)
    inverter = registry.async_get_device(identifiers={identifier}) if identifier else None
    registry.async_update_device(device.id, via_device_id=inverter.id if inverter else None)


class MppSolarEntity(CoordinatorEntity[MppSolarCoordinator]):
    """An entity of the entry's one device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: MppSolarCoordinator, key: str) -> None:
        """Attach to the entry's device; ``key`` makes the unique id (``<entry unique id>_<key>``).

        The device's model, serial number and versions are what it reported at this setup
        (else what the entry knew): the device registry follows a firmware update.
        """
        super().__init__(coordinator)
        entry = coordinator.config_entry
        data = entry.data
        protocol = coordinator.protocol
        identity = coordinator.identity
        unique = entry.unique_id or entry.entry_id
        self._attr_unique_id = f"{unique}_{key}"
        connections = set()
        if data.get(CONF_CONNECTION) == Connection.BLUETOOTH:
            connections.add((dr.CONNECTION_BLUETOOTH, str(data[CONF_ADDRESS]).upper()))
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, unique)},
            connections=connections,
            manufacturer=manufacturer(protocol.id),
            model=identity.model or protocol.id.upper(),
            model_id=protocol.id,
            serial_number=identity.serial,
            sw_version=identity.firmware,
            hw_version=identity.hardware,
        )
        linked = entry.options.get(CONF_INVERTER)
        if (inverter := linked_inverter(coordinator.hass, linked)) is not None:
            self._attr_device_info["via_device"] = inverter


class FieldDescription(Protocol):
    """An entity description of one field of the coordinator's data."""

    @property
    def field(self) -> str:
        """Field key."""

    @property
    def settings(self) -> bool:
        """Whether the field is read from the settings answers."""


def add_entities_as_fields_appear[D: FieldDescription](
    coordinator: MppSolarCoordinator,
    descriptions: Mapping[tuple[bool, str], D],
    create: Callable[[D], Entity],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add an entity for each described field the device reports, now and whenever one appears.

    A field a model never reports (a placeholder, a cell the pack does not have, a command it
    refuses) gets no entity; one that shows up later (a history block, settings read after a
    failure) gets its entity then.
    """
    waiting = dict(descriptions)

    @callback
    def add_new() -> None:
        data = coordinator.data
        new = [
            waiting.pop(where)
            for settings, fields in ((False, data.status), (True, data.settings))
            for key in fields
            if (where := (settings, key)) in waiting
        ]
        if new:
            async_add_entities(create(description) for description in new)

    add_new()
    coordinator.config_entry.async_on_unload(coordinator.async_add_listener(add_new))


def add_controls_as_fields_appear[D: FieldDescription](
    coordinator: MppSolarCoordinator,
    platform: Platform,
    describe: Callable[[Control], D],
    create: Callable[[MppSolarCoordinator, Control, D], Entity],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a ``platform`` entity (select, number, switch) for each setting whose value appears."""
    found = {
        where: control
        for where, control in controls(coordinator.protocol.id).items()
        if control.platform is platform
    }
    add_entities_as_fields_appear(
        coordinator,
        {where: describe(control) for where, control in found.items()},
        lambda description: create(
            coordinator, found[description.settings, description.field], description
        ),
        async_add_entities,
    )


@dataclass(frozen=True, kw_only=True)
class ControlDescription(EntityDescription):
    """What the select, number and switch descriptions add: where the setting's value is."""

    #: Field key of the current value in the coordinator's data.
    field: str
    #: Read from the settings answers (else from the status answers).
    settings: bool


def control_description_values(control: Control) -> dict[str, Any]:
    """Return the description values every control entity of ``control`` has."""
    return {
        "key": control.key,
        "field": control.field,
        "settings": control.settings,
        "translation_key": control.key,
        "entity_category": EntityCategory.CONFIG,
        "entity_registry_enabled_default": control.enabled_default,
    }


class MppSolarControlEntity(MppSolarEntity):
    """A select, number or switch that writes one setting and shows what the device reports.

    Its value is the setting's read field in the coordinator's data; a write goes through the
    coordinator (checked, sent, read back).
    """

    def __init__(
        self,
        coordinator: MppSolarCoordinator,
        control: Control,
        description: ControlDescription,
    ) -> None:
        """Control ``control``'s setting as ``description`` says."""
        super().__init__(coordinator, control.key)
        self.control = control
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Available while the device answers and its last answer held the setting."""
        return super().available and self._value is not None

    @property
    def _value(self) -> Value:
        control = self.control
        return self.coordinator.data.value(control.field, settings=control.settings)

    async def _write(self, value: object) -> None:
        """Write ``value``; the entity then shows what the device reads back."""
        await self.coordinator.async_write_setting(self.control.key, value)


def unit_device_info(coordinator: MppSolarCoordinator, serial: str) -> DeviceInfo:
    """Return the device of unit ``serial`` of the parallel system (via the entry's device)."""
    entry = coordinator.config_entry
    unique = entry.unique_id or entry.entry_id
    protocol = coordinator.protocol
    return DeviceInfo(
        identifiers={unit_identifier(unique, serial)},
        via_device=(DOMAIN, unique),
        manufacturer=manufacturer(protocol.id),
        model_id=protocol.id,
        serial_number=serial,
        translation_key="parallel_unit",
        translation_placeholders={"serial": serial},
    )
