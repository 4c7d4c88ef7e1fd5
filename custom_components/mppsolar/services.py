"""The integration's actions: ``send_command`` (a raw command) and ``write_setting``.

``send_command`` sends one command of the device's protocol and returns its decoded answer and
the raw frames. Queries are always allowed; a setter (a command that changes the device) only
when it matches a pattern of the entry's "allowed setters" option: by default none does.
``write_setting`` writes one setting of the library's settings model: the value is checked
against what the setting (and the unit, e.g. QMCHGCR) allows before anything is sent, and read
back after the ACK; the action returns what the device then reports.

Every refusal is a :class:`ServiceValidationError` saying why (nothing was sent); a device that
refuses (NAK) or does not answer is a :class:`HomeAssistantError`.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
from difflib import get_close_matches
from fnmatch import fnmatchcase
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from mppsolar_lib.errors import InvalidParameterError, MppSolarError, NAKError, UnknownCommandError
from mppsolar_lib.protocols import Kind, SettingKind
from mppsolar_lib.protocols.fields import Value

from .const import CONF_ALLOWED_SETTERS, DOMAIN
from .coordinator import MppSolarCoordinator

SERVICE_SEND_COMMAND = "send_command"
SERVICE_WRITE_SETTING = "write_setting"
ATTR_COMMAND = "command"
ATTR_SETTING = "setting"
ATTR_VALUE = "value"
ATTR_CONFIRM = "confirm"

SEND_COMMAND_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_COMMAND): vol.All(cv.string, str.strip, vol.Length(min=1)),
    }
)
WRITE_SETTING_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_SETTING): vol.All(cv.string, str.strip),
        vol.Required(ATTR_VALUE): vol.Any(bool, int, float, cv.string),
        vol.Optional(ATTR_CONFIRM, default=False): cv.boolean,
    }
)


def allowed_setters(patterns: Iterable[str]) -> list[str]:
    """Return the non-empty patterns of the option, stripped."""
    return [pattern.strip() for pattern in patterns if pattern.strip()]


def setter_allowed(command: str, name: str, patterns: Iterable[str]) -> bool:
    """Tell whether setter ``command`` (its text as sent; ``name``: its command) is allowed.

    A pattern that is a command's name allows that command with any value (``POP``: every
    output priority, not ``POPLG``); any other is a glob matched against the whole text sent
    (``POP0[0-2]``, ``PCP*``). Matching ignores case.
    """
    text = command.upper()
    return any(
        pattern.upper() == name.upper() or fnmatchcase(text, pattern.upper())
        for pattern in allowed_setters(patterns)
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in ``async_setup``)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEND_COMMAND,
        _async_send_command,
        schema=SEND_COMMAND_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_WRITE_SETTING,
        _async_write_setting,
        schema=WRITE_SETTING_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _coordinator(call: ServiceCall) -> MppSolarCoordinator:
    """Return the coordinator of the loaded entry the call's device belongs to."""
    device_id: str = call.data[ATTR_DEVICE_ID]
    device = dr.async_get(call.hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": device_id},
        )
    name = device.name_by_user or device.name or device_id
    for entry in call.hass.config_entries.async_entries(DOMAIN):
        if entry.entry_id not in device.config_entries:
            continue
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="device_not_loaded",
                translation_placeholders={"device": name},
            )
        coordinator: MppSolarCoordinator = entry.runtime_data
        return coordinator
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_our_device",
        translation_placeholders={"device": name},
    )


async def _async_send_command(call: ServiceCall) -> ServiceResponse:
    """Send a command: a query always, a setter only when the options allow it."""
    coordinator = _coordinator(call)
    protocol = coordinator.protocol
    device = coordinator.device
    text: str = call.data[ATTR_COMMAND]
    placeholders = {"device": device.name, "protocol": protocol.id, "command": text}
    try:
        definition, _ = protocol.resolve(text)
    except UnknownCommandError as err:
        names = {name.upper(): name for name in protocol.commands if not name.startswith("_")}
        close = get_close_matches(text.upper(), names, n=3)
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_command",
            translation_placeholders={
                **placeholders,
                "matches": ", ".join(names[match] for match in close) or "—",
            },
        ) from err
    except InvalidParameterError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_command_parameter",
            translation_placeholders={**placeholders, "error": str(err)},
        ) from err
    command = protocol.command_text(text)
    placeholders["command"] = command
    setter = definition.kind is Kind.SETTER
    if setter:
        patterns = allowed_setters(coordinator.config_entry.options.get(CONF_ALLOWED_SETTERS, []))
        if not setter_allowed(command, definition.name, patterns):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="setter_not_allowed",
                translation_placeholders={
                    **placeholders,
                    "name": definition.name,
                    "description": definition.description,
                    "patterns": ", ".join(patterns) or "—",
                },
            )
    try:
        result = await device.command(command)
    except NAKError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_refused",
            translation_placeholders={**placeholders, "error": str(err)},
        ) from err
    except MppSolarError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={**placeholders, "error": str(err)},
        ) from err
    finally:
        if setter:
            # Sent (or maybe sent): what the settings entities show may have changed.
            await coordinator.async_refresh_settings()
    return {
        "command": command,
        "kind": str(definition.kind),
        "fields": {
            key: {"name": field.name, "value": _json(field.value), "unit": field.unit}
            for key, field in result.fields.items()
        },
        "request": protocol.build_request(command).hex(),
        "response": result.raw.hex(),
    }


async def _async_write_setting(call: ServiceCall) -> ServiceResponse:
    """Write one setting (checked first, read back after); return what the device reports."""
    coordinator = _coordinator(call)
    protocol = coordinator.protocol
    device = coordinator.device
    key: str = call.data[ATTR_SETTING]
    value: Any = call.data[ATTR_VALUE]
    placeholders = {"device": device.name, "protocol": protocol.id, "setting": key}
    setting = protocol.settings.get(key)
    if setting is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_setting",
            translation_placeholders={
                **placeholders,
                "matches": ", ".join(get_close_matches(key, protocol.settings, n=3)) or "—",
                "settings": ", ".join(sorted(protocol.settings)) or "—",
            },
        )
    if setting.kind is SettingKind.SWITCH:
        # "on", "off", 1, "true" …: anything else is refused with the setting's own message.
        with contextlib.suppress(vol.Invalid):
            value = cv.boolean(value)
    # Checked against the settings model and what the unit allows before anything is sent
    # (an invalid value is refused as such before a safety setting asks for confirm), read
    # back after the ACK; the coordinator's errors are translated already.
    reported = await coordinator.async_write_setting(key, value, confirm=call.data[ATTR_CONFIRM])
    return {"setting": key, "value": _json(reported), "unit": setting.unit}


def _json(value: Value) -> Any:
    """Return ``value`` as action response data holds it (a tuple becomes a list)."""
    return list(value) if isinstance(value, tuple) else value
