"""Repair issues: what keeps an entry from working that the user can fix, and their fix flows.

Raised from setup and from the coordinator, one issue of each kind per entry (its id is the
kind and the entry id), deleted as soon as the device answers again:

- ``permission_denied``: the OS refuses the port (a missing udev rule or group); the issue
  shows the library's message, which names the fix. Fix flow: retry (reload the entry).
- ``port_in_use``: another program holds the port (``EBUSY``, or its exclusive lock). Fix
  flow: retry.
- ``protocol_mismatch``: the device refuses every status command, or answers nothing but
  zeros for :data:`~.const.ZERO_POLLS` polls: it speaks another protocol. Fix flow: detect
  the protocol again, show what was found, use it.
- ``bluetooth_unreachable``: a Bluetooth device that no adapter or proxy hears, or that cannot
  be connected to, for :data:`~.const.STALE_POLLS` polls (informational).
- ``stale_data``: a wired device that has not answered for :data:`~.const.STALE_POLLS` polls
  (informational).

Setup attempts count as polls: a device that stays out of reach while Home Assistant retries
its setup raises the issue too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import errno
from typing import TYPE_CHECKING, Any

from homeassistant.components import bluetooth
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from mppsolar_lib.errors import MppSolarError, NAKError, PortError

from .connection import build_device, describe
from .const import (
    CONF_ADDRESS,
    CONF_CONNECTION,
    CONF_PROTOCOL,
    CONF_SERIAL,
    DOMAIN,
    LOGGER,
    STALE_POLLS,
    ZERO_POLLS,
    Connection,
)

if TYPE_CHECKING:
    from mppsolar_lib.device import Batch

PERMISSION_DENIED = "permission_denied"
PORT_IN_USE = "port_in_use"
PROTOCOL_MISMATCH = "protocol_mismatch"
BLUETOOTH_UNREACHABLE = "bluetooth_unreachable"
STALE_DATA = "stale_data"
#: Every kind of issue, in the order they are looked for.
KINDS = (PERMISSION_DENIED, PORT_IN_USE, PROTOCOL_MISMATCH, BLUETOOTH_UNREACHABLE, STALE_DATA)
#: The kinds a working poll ends (a protocol mismatch of all-zero answers ends differently).
_ENDED_BY_AN_ANSWER = (PERMISSION_DENIED, PORT_IN_USE, BLUETOOTH_UNREACHABLE, STALE_DATA)

#: Fewer numbers than this in a status answer say too little to suspect a protocol.
MIN_NUMBERS = 3

_HEALTH: HassKey[dict[str, Health]] = HassKey(f"{DOMAIN}_health")


@dataclass(slots=True)
class Health:
    """How an entry's polls went lately (kept across setup retries, reset by an unload)."""

    #: Consecutive polls (or setup attempts) that got no answer.
    failures: int = 0
    #: Consecutive status answers whose every number was zero.
    zeros: int = 0


def issue_id(kind: str, entry: ConfigEntry) -> str:
    """Return the id of the entry's issue of ``kind``."""
    return f"{kind}_{entry.entry_id}"


def _health(hass: HomeAssistant, entry: ConfigEntry) -> Health:
    """Return the entry's poll record."""
    return hass.data.setdefault(_HEALTH, {}).setdefault(entry.entry_id, Health())


def _os_errno(err: BaseException) -> int | None:
    """Return the errno of the ``OSError`` behind ``err`` (its chain of causes), if any."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause.errno
        cause = cause.__cause__
    return None


def _raise(
    hass: HomeAssistant,
    entry: ConfigEntry,
    kind: str,
    *,
    fixable: bool,
    translation_key: str | None = None,
    **placeholders: str,
) -> None:
    """Raise (or update) the entry's issue of ``kind``."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry),
        data={"entry_id": entry.entry_id},
        is_fixable=fixable,
        severity=ir.IssueSeverity.ERROR if fixable else ir.IssueSeverity.WARNING,
        translation_key=translation_key or kind,
        translation_placeholders={"title": entry.title, "port": describe(entry.data)}
        | placeholders,
    )


def _delete(hass: HomeAssistant, entry: ConfigEntry, *kinds: str) -> None:
    """Delete the entry's issues of ``kinds`` (those that exist)."""
    for kind in kinds:
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry))


@callback
def async_failed(hass: HomeAssistant, entry: ConfigEntry, err: MppSolarError) -> None:
    """Note a setup attempt or a poll that failed with ``err``; raise the issue it calls for.

    The OS refusing the port, another program holding it, and a device refusing everything
    are raised at once (trying again cannot change them); silence only after
    :data:`STALE_POLLS` polls in a row.
    """
    health = _health(hass, entry)
    health.failures += 1
    code = _os_errno(err)
    if isinstance(err, PortError) and code in (errno.EACCES, errno.EPERM):
        _raise(hass, entry, PERMISSION_DENIED, fixable=True, error=str(err))
    elif code == errno.EBUSY:
        _raise(hass, entry, PORT_IN_USE, fixable=True, error=str(err))
    elif isinstance(err, NAKError):
        _raise(
            hass,
            entry,
            PROTOCOL_MISMATCH,
            fixable=True,
            translation_key="protocol_refused",
            protocol=str(entry.data.get(CONF_PROTOCOL)),
            error=str(err),
        )
    elif health.failures >= STALE_POLLS:
        polls = str(health.failures)
        if entry.data.get(CONF_CONNECTION) == Connection.BLUETOOTH:
            address = str(entry.data[CONF_ADDRESS]).upper()
            heard = bluetooth.async_address_present(hass, address, connectable=False)
            _raise(
                hass,
                entry,
                BLUETOOTH_UNREACHABLE,
                fixable=False,
                translation_key="bluetooth_not_connectable" if heard else "bluetooth_out_of_range",
                polls=polls,
                error=str(err),
            )
        else:
            _raise(hass, entry, STALE_DATA, fixable=False, polls=polls, error=str(err))


@callback
def async_answered(hass: HomeAssistant, entry: ConfigEntry, status: Batch) -> None:
    """Note a status poll that was answered; end the issues an answer ends.

    A status whose every number is zero (:data:`MIN_NUMBERS` of them at least), poll after
    poll, is a device decoded with another protocol's layout: after :data:`ZERO_POLLS` such
    polls a protocol mismatch is raised; the first answer with a number that is not zero ends
    it.
    """
    health = _health(hass, entry)
    health.failures = 0
    _delete(hass, entry, *_ENDED_BY_AN_ANSWER)
    numbers = [
        field.value
        for result in status.values()
        for field in result.fields.values()
        if isinstance(field.value, int | float) and not isinstance(field.value, bool)
    ]
    if len(numbers) < MIN_NUMBERS or any(numbers):
        health.zeros = 0
    else:
        health.zeros += 1
    if health.zeros < ZERO_POLLS:
        # Zeros now and then are a unit at night: only a run of them says more.
        _delete(hass, entry, PROTOCOL_MISMATCH)
        return
    _raise(
        hass,
        entry,
        PROTOCOL_MISMATCH,
        fixable=True,
        translation_key="protocol_zeros",
        protocol=str(entry.data.get(CONF_PROTOCOL)),
        polls=str(health.zeros),
    )


@callback
def async_forget(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Forget the entry's poll record and delete its issues (it was unloaded or removed)."""
    hass.data.get(_HEALTH, {}).pop(entry.entry_id, None)
    _delete(hass, entry, *KINDS)


# -- fix flows ------------------------------------------------------------------------------------


class _EntryFlow(RepairsFlow):
    """A fix flow for an issue of one config entry."""

    def __init__(self, entry: ConfigEntry) -> None:
        """Fix ``entry``'s issue."""
        self.entry = entry

    @property
    def _placeholders(self) -> dict[str, str]:
        """Return the issue's placeholders (the latest error it saw)."""
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        placeholders = dict(issue.translation_placeholders or {}) if issue else {}
        return {"title": self.entry.title, "port": describe(self.entry.data), "error": ""} | (
            placeholders
        )


class RetryFlow(_EntryFlow):
    """Permission denied, port in use: the user fixes it outside, then the entry is retried."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> FlowResult:
        """Start at the confirmation (the input here is the issue's, not the user's)."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Show what is wrong and how to fix it; on submit, set the entry up again."""
        errors: dict[str, str] = {}
        if user_input is not None:
            await self.hass.config_entries.async_reload(self.entry.entry_id)
            if self.entry.state is ConfigEntryState.LOADED:
                return self.async_create_entry(data={})
            errors["base"] = "still_failing"
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders=self._placeholders,
        )


class RedetectFlow(_EntryFlow):
    """The device speaks another protocol: detect it again, show it, use it."""

    found: str

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> FlowResult:
        """Start at the confirmation (the input here is the issue's, not the user's)."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Say what detection does; on submit, run it."""
        if user_input is not None:
            return await self.async_step_detect()
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders=self._placeholders,
        )

    async def async_step_detect(self, user_input: None = None) -> FlowResult:
        """Detect the protocol with the entry unloaded (the port is free), then set it up again.

        The entry is set up again at once with its protocol unchanged: a flow left at the
        confirmation does not leave it unloaded.
        """
        hass, entry = self.hass, self.entry
        await hass.config_entries.async_unload(entry.entry_id)
        try:
            device = build_device(hass, entry.data, protocol=None)
            try:
                detection = await device.identify()
            finally:
                await device.close()
        except MppSolarError as err:
            LOGGER.debug("%s: detection failed: %s", describe(entry.data), err)
            await hass.config_entries.async_setup(entry.entry_id)
            return self.async_abort(
                reason="detection_failed", description_placeholders={"error": str(err)}
            )
        await hass.config_entries.async_setup(entry.entry_id)
        placeholders = {
            "port": describe(entry.data),
            "protocol": str(entry.data.get(CONF_PROTOCOL)),
            "evidence": "; ".join(detection.evidence),
        }
        if detection.protocol is None:
            return self.async_abort(reason="not_detected", description_placeholders=placeholders)
        if detection.protocol == entry.data.get(CONF_PROTOCOL):
            return self.async_abort(reason="same_protocol", description_placeholders=placeholders)
        known = entry.data.get(CONF_SERIAL)
        if known and detection.serial and detection.serial != known:
            # The port now reaches another unit: that is a new entry, not this one's fix.
            return self.async_abort(
                reason="another_device",
                description_placeholders=placeholders | {"serial": detection.serial},
            )
        self.found = detection.protocol
        self._shown = placeholders | {
            "found": detection.protocol,
            "model": detection.model or "-",
            "firmware": detection.firmware or "-",
            "serial": detection.serial or "-",
        }
        return await self.async_step_use()

    async def async_step_use(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Show what was found; on submit, keep it in the entry and set the entry up again."""
        if user_input is not None:
            entry = self.entry
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_PROTOCOL: self.found}
            )
            await self.hass.config_entries.async_reload(entry.entry_id)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="use", data_schema=vol.Schema({}), description_placeholders=self._shown
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: Mapping[str, Any] | None
) -> RepairsFlow:
    """Return the fix flow of the issue ``issue_id`` (its data names the entry)."""
    assert data is not None  # every fixable issue is raised with its entry id
    entry = hass.config_entries.async_get_entry(str(data["entry_id"]))
    assert entry is not None  # an entry's issues are deleted when it is removed
    if issue_id.startswith(PROTOCOL_MISMATCH):
        return RedetectFlow(entry)
    return RetryFlow(entry)
