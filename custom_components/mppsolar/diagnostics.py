"""Diagnostics: the entry (redacted), the device's identity, and the last frames per command.

The frames are hex, request and response, so that a user's download can be replayed as a test
fixture (``Protocol.decode(command, bytes.fromhex(response))``).
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ADDRESS, CONF_HOST, CONF_SERIAL
from .coordinator import MppSolarConfigEntry

#: Identify a person's installation: the unit's serial, its Bluetooth address, the gateway host.
TO_REDACT = {CONF_SERIAL, CONF_ADDRESS, CONF_HOST, "serial_number", "unique_id"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MppSolarConfigEntry
) -> dict[str, Any]:
    """Return the entry, identity, polling state and last frames of the entry's device."""
    coordinator = entry.runtime_data
    device = coordinator.device
    data = coordinator.data
    return {
        "entry": async_redact_data(
            {
                "data": dict(entry.data),
                "options": dict(entry.options),
                "unique_id": entry.unique_id,
            },
            TO_REDACT,
        ),
        "device": {
            "protocol": coordinator.protocol.id,
            "transport": type(device.transport).__name__,
            "dropped_commands": sorted(coordinator.dropped),
            "last_update_success": coordinator.last_update_success,
        },
        "frames": {
            command: {
                "request": frame.request.hex(),
                "response": None if frame.response is None else frame.response.hex(),
                "error": frame.error,
            }
            for command, frame in sorted(coordinator.frames.items())
        },
        "values": async_redact_data(
            {
                key: [field.value, field.unit]
                for key, field in {
                    **(data.settings if data else {}),
                    **(data.status if data else {}),
                }.items()
            },
            TO_REDACT,
        ),
    }
