"""The MPP Solar integration: Voltronic / MPP-Solar / Axpert inverters."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN

__all__ = ["CONFIG_SCHEMA", "DOMAIN", "async_setup"]

# No YAML options (yet). Once the config flow lands this becomes
# cv.config_entry_only_config_schema(DOMAIN).
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the MPP Solar integration."""
    return True
