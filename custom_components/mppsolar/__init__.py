"""The MPP Solar integration: Voltronic / MPP-Solar / Axpert inverters, JK and Daly BMSs, Victron."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.typing import ConfigType

from mppsolar_lib.errors import MppSolarError

from . import repairs
from .bridge import async_setup_bridge
from .catalogue import superseded
from .connection import build_device, describe
from .const import DOMAIN
from .coordinator import MppSolarConfigEntry, MppSolarCoordinator
from .parallel import unit_identifier
from .services import async_setup_services
from .web import async_setup_web

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (each checks the device it is given: see services.py)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: MppSolarConfigEntry) -> bool:
    """Connect to the device, poll it once, and set up its entities."""
    try:
        device = build_device(hass, entry.data)
    except MppSolarError as err:
        # For good: settings no port takes (a negative baud rate), a protocol this version of
        # the library does not know. Nothing is opened yet: a device out of reach fails below.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="bad_port",
            translation_placeholders={"port": describe(entry.data), "error": str(err)},
        ) from err
    # Closed when the entry unloads, and when this setup fails.
    entry.async_on_unload(device.close)
    try:
        await device.open()
    except MppSolarError as err:
        repairs.async_failed(hass, entry, err)
        raise _cannot_open(entry, err) from err
    coordinator = MppSolarCoordinator(hass, entry, device)
    # Bridge mode: its outputs get every poll from the first one on (stopped on unload).
    await async_setup_bridge(hass, entry, coordinator)
    # Bridge mode's web UI in the sidebar (behind Home Assistant's auth), if chosen.
    await async_setup_web(hass, entry, coordinator)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    _async_remove_superseded(hass, entry, coordinator)
    # New options reload the entry: the options flow is an OptionsFlowWithReload (an update
    # listener here would also make the reconfigure flow's async_update_reload_and_abort fail).
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


def _async_remove_superseded(
    hass: HomeAssistant, entry: MppSolarConfigEntry, coordinator: MppSolarCoordinator
) -> None:
    """Remove sensors an earlier version made for values no sensor shows any more.

    A reserved bit, or a setting whose select/number/switch now shows it: left in the
    registry they would stay "unavailable" for good.
    """
    gone = superseded(coordinator.protocol.id)
    prefix = f"{entry.unique_id or entry.entry_id}_"
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if (
            entity.domain in (Platform.SENSOR, Platform.BINARY_SENSOR)
            and entity.unique_id.startswith(prefix)
            and entity.unique_id.removeprefix(prefix) in gone
        ):
            registry.async_remove(entity.entity_id)


def _cannot_open(entry: MppSolarConfigEntry, err: MppSolarError) -> ConfigEntryNotReady:
    """Return the retry of a link that cannot be opened now, saying why."""
    return ConfigEntryNotReady(
        translation_domain=DOMAIN,
        translation_key="cannot_open",
        translation_placeholders={"port": describe(entry.data), "error": str(err)},
    )


async def async_unload_entry(hass: HomeAssistant, entry: MppSolarConfigEntry) -> bool:
    """Unload the entities (the link closes once they are: see ``async_setup_entry``)."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        # Its repair issues end with it; setting it up again raises those still true.
        repairs.async_forget(hass, entry)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: MppSolarConfigEntry) -> None:
    """Delete the removed entry's repair issues."""
    repairs.async_forget(hass, entry)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: MppSolarConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """Let the user remove a unit of a parallel system that the device no longer reports.

    The entry's own device, and a unit still reported, stay (they would come back at once).
    """
    unique = entry.unique_id or entry.entry_id
    reported = {unit_identifier(unique, serial) for serial in entry.runtime_data.data.parallel}
    return not device_entry.identifiers & {(DOMAIN, unique), *reported}
