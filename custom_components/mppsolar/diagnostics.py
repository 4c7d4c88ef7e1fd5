"""Diagnostics: the entry (redacted), the device's identity, and the last frames per command.

The frames are hex, request and response, so that a user's download can be replayed as a test
fixture (``Protocol.decode(command, bytes.fromhex(response))``). A frame that carries the unit's
serial number (a VE.Direct text block's ``SER#``) has it masked with ``*``: such a frame is
marked ``redacted`` and no longer passes its checksum.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .bridge import bridge_diagnostics, redact
from .const import CONF_ADDRESS, CONF_BRIDGE, CONF_HOST, CONF_SERIAL
from .coordinator import Frame, MppSolarConfigEntry

#: Identify a person's installation: the unit's serial, its Bluetooth address, the gateway host.
TO_REDACT = {CONF_SERIAL, CONF_ADDRESS, CONF_HOST, "unique_id"}
#: Shorter texts are not looked for in frames (they would mask unrelated bytes).
MIN_SECRET = 4


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MppSolarConfigEntry
) -> dict[str, Any]:
    """Return the entry, identity, polling state and last frames of the entry's device."""
    coordinator = entry.runtime_data
    device = coordinator.device
    data = coordinator.data
    fields = {**data.settings, **data.status} if data else {}
    secrets = {str(entry.data.get(CONF_SERIAL) or ""), str(entry.unique_id or "")}
    secrets.update(
        str(fields[key].value) for key in TO_REDACT & fields.keys() if fields[key].value is not None
    )
    masked = sorted(
        (secret.encode() for secret in secrets if len(secret) >= MIN_SECRET), key=len, reverse=True
    )
    options = dict(entry.options)
    if CONF_BRIDGE in options:
        options[CONF_BRIDGE] = redact(options[CONF_BRIDGE])
    return {
        "entry": async_redact_data(
            {
                "data": dict(entry.data),
                "options": options,
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
            command: _frame(frame, masked) for command, frame in sorted(coordinator.frames.items())
        },
        "values": async_redact_data(
            {key: [field.value, field.unit] for key, field in fields.items()}, TO_REDACT
        ),
        # Bridge mode: each output's counters and pending batches (None: off).
        "bridge": bridge_diagnostics(hass, entry),
    }


def _frame(frame: Frame, secrets: list[bytes]) -> dict[str, Any]:
    """Return ``frame`` in hex with each of ``secrets`` masked (and whether one was)."""
    request, in_request = _mask(frame.request, secrets)
    response, in_response = _mask(frame.response or b"", secrets)
    error, in_error = _mask((frame.error or "").encode(), secrets)
    return {
        "request": request.hex(),
        "response": None if frame.response is None else response.hex(),
        "error": None if frame.error is None else error.decode(),
        "redacted": in_request or in_response or in_error,
    }


def _mask(data: bytes, secrets: list[bytes]) -> tuple[bytes, bool]:
    """Return ``data`` with each of ``secrets`` replaced by as many ``*``, and whether one was."""
    masked = data
    for secret in secrets:
        masked = masked.replace(secret, b"*" * len(secret))
    return masked, masked != data
