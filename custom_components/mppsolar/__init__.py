"""The MPP Solar integration: Voltronic / MPP-Solar / Axpert inverters, JK and Daly BMSs, Victron."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv

from mppsolar_lib.errors import MppSolarError, PortError

from .connection import build_device, describe
from .const import DOMAIN
from .coordinator import MppSolarConfigEntry, MppSolarCoordinator

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: MppSolarConfigEntry) -> bool:
    """Connect to the device, poll it once, and set up its entities."""
    try:
        device = build_device(hass, entry.data)
    except PortError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="bad_port",
            translation_placeholders={"port": describe(entry.data), "error": str(err)},
        ) from err
    except MppSolarError as err:
        # Not reachable yet: a Bluetooth BMS Home Assistant has not heard since it started.
        raise _cannot_open(entry, err) from err
    try:
        await device.open()
    except MppSolarError as err:
        await device.close()
        raise _cannot_open(entry, err) from err
    coordinator = MppSolarCoordinator(hass, entry, device)
    try:
        await coordinator.async_config_entry_first_refresh()
    except ConfigEntryNotReady:
        await device.close()
        raise
    entry.runtime_data = coordinator
    # New options reload the entry: the options flow is an OptionsFlowWithReload (an update
    # listener here would also make the reconfigure flow's async_update_reload_and_abort fail).
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


def _cannot_open(entry: MppSolarConfigEntry, err: MppSolarError) -> ConfigEntryNotReady:
    """Return the retry of a link that cannot be opened now, saying why."""
    return ConfigEntryNotReady(
        translation_domain=DOMAIN,
        translation_key="cannot_open",
        translation_placeholders={"port": describe(entry.data), "error": str(err)},
    )


async def async_unload_entry(hass: HomeAssistant, entry: MppSolarConfigEntry) -> bool:
    """Unload the entities and close the link."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.device.close()
    return unloaded
