"""The base entity: one device per config entry, values from the coordinator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from homeassistant.const import Platform
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from mppsolar_lib.protocols.fields import Value

from .catalogue import Control, controls
from .const import CONF_ADDRESS, CONF_CONNECTION, DOMAIN, Connection
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


class MppSolarControlEntity(MppSolarEntity):
    """A select, number or switch that writes one setting and shows what the device reports.

    Its value is the setting's read field in the coordinator's data; a write goes through the
    coordinator (checked, sent, read back).
    """

    def __init__(self, coordinator: MppSolarCoordinator, control: Control) -> None:
        """Control ``control``'s setting."""
        super().__init__(coordinator, control.key)
        self.control = control

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
