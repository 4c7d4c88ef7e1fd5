"""The coordinator: status at a fast cadence, settings at a slow one, one device per entry.

Which of the protocol's status commands are polled, and whether its settings are, is the
entry's choice (options); a command the unit refuses is dropped on its own. A JK BMS on
Bluetooth shows its record layout (24 or 32 cells) while connecting: the coordinator switches
to it, and keeps it in the entry. At each setup it reads the device's identity (model,
firmware, serial number, hardware version) for the device registry, and keeps it in the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
import time

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from mppsolar_lib.device import Batch, Device
from mppsolar_lib.errors import MppSolarError, NAKError
from mppsolar_lib.protocols import Protocol, get_protocol
from mppsolar_lib.protocols.fields import Field, Value
from mppsolar_lib.transports.ble import BleTransport

from .connection import describe
from .const import (
    CONF_CONNECTION,
    CONF_POLL_SETTINGS,
    CONF_PROTOCOL,
    CONF_SETTINGS_INTERVAL,
    CONF_STATUS_COMMANDS,
    CONF_STATUS_INTERVAL,
    DEFAULT_BLE_STATUS_INTERVAL,
    DEFAULT_SETTINGS_INTERVAL,
    DEFAULT_STATUS_INTERVAL,
    DOMAIN,
    LOGGER,
    Connection,
)
from .identity import Identity, carries_identity, read_identity, status_identity

type MppSolarConfigEntry = ConfigEntry[MppSolarCoordinator]


@dataclass(slots=True)
class Frame:
    """The last exchange of one command, for diagnostics (enough to replay as a fixture)."""

    request: bytes
    response: bytes | None
    #: The error it ended in, if any.
    error: str | None = None


@dataclass(slots=True)
class MppSolarData:
    """What the entities read: the latest status and settings values, by field key."""

    status: dict[str, Field] = field(default_factory=dict)
    settings: dict[str, Field] = field(default_factory=dict)

    def value(self, key: str, *, settings: bool = False) -> Value:
        """Return the value of field ``key`` in the status (or the settings) answers, if any."""
        field = (self.settings if settings else self.status).get(key)
        return None if field is None else field.value


def status_interval(entry: ConfigEntry) -> timedelta:
    """Return the entry's status cadence (its options', else its connection's default)."""
    seconds = entry.options.get(CONF_STATUS_INTERVAL)
    if seconds:
        return timedelta(seconds=seconds)
    if entry.data.get(CONF_CONNECTION) == Connection.BLUETOOTH:
        return DEFAULT_BLE_STATUS_INTERVAL
    return DEFAULT_STATUS_INTERVAL


def settings_interval(entry: ConfigEntry) -> timedelta:
    """Return the entry's settings cadence."""
    seconds = entry.options.get(CONF_SETTINGS_INTERVAL)
    return timedelta(seconds=seconds) if seconds else DEFAULT_SETTINGS_INTERVAL


def polled_status_commands(entry: ConfigEntry, protocol: Protocol) -> tuple[str, ...]:
    """Return the status commands of ``protocol`` the entry polls, in the protocol's order.

    All of them unless the options chose some; a choice that names none of this protocol's
    (made for another protocol) polls them all.
    """
    chosen = entry.options.get(CONF_STATUS_COMMANDS)
    if chosen is None:
        return protocol.status_commands
    kept = tuple(command for command in protocol.status_commands if command in chosen)
    return kept or protocol.status_commands


def polls_settings(entry: ConfigEntry) -> bool:
    """Return whether the entry polls the protocol's settings commands."""
    return bool(entry.options.get(CONF_POLL_SETTINGS, True))


class MppSolarCoordinator(DataUpdateCoordinator[MppSolarData]):
    """Poll one device: every status interval its status, every settings interval its settings.

    A command the unit refuses (NAK: a firmware without ``QPIGS2``) is dropped from polling
    instead of failing the update; only a device that answers nothing makes the entities
    unavailable. Status commands the options leave out are never sent, nor are the settings
    when the options turn them off.
    """

    config_entry: MppSolarConfigEntry

    def __init__(self, hass: HomeAssistant, entry: MppSolarConfigEntry, device: Device) -> None:
        """Poll ``device`` for ``entry``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {describe(entry.data)}",
            update_interval=status_interval(entry),
        )
        self.device = device
        self.settings_every = settings_interval(entry).total_seconds()
        self.poll_settings = polls_settings(entry)
        #: Commands the unit refused: not polled again until the entry is reloaded.
        self.dropped: set[str] = set()
        #: The last exchange of each command (diagnostics).
        self.frames: dict[str, Frame] = {}
        #: Who the device says it is: as the entry knows it, read again at setup.
        self.identity = Identity.from_data(entry.data)
        # The identity comes with the first status answers (VE.Direct text), not asked for.
        self._identity_in_status = False
        self._settings_due = 0.0

    @property
    def protocol(self) -> Protocol:
        """The device's protocol (known: the config flow detected or was given it)."""
        protocol = self.device.protocol
        assert protocol is not None  # built with the entry's protocol
        return protocol

    @property
    def skipped(self) -> set[str]:
        """Status commands not polled: refused by the unit, or left out by the options."""
        polled = polled_status_commands(self.config_entry, self.protocol)
        return self.dropped | (set(self.protocol.status_commands) - set(polled))

    async def _async_setup(self) -> None:
        """Before the first poll: take the record layout the link saw, ask who the device is.

        A device whose status carries its identity (VE.Direct text) is not asked: its first
        poll tells.
        """
        self._adopt_layout()
        self._identity_in_status = carries_identity(self.protocol)
        if not self._identity_in_status:
            self._keep_identity(await read_identity(self.device))

    def _keep_identity(self, reported: Identity) -> None:
        """Take the reported identity; keep what changed (a firmware update) in the entry.

        What the device did not report now (it did not answer, it has no such query) stays as
        the entry knew it. The entities are created after the first poll: their device shows
        it.
        """
        self.identity = reported.or_else(self.identity)
        entry = self.config_entry
        known = self.identity.as_data()
        if any(entry.data.get(key) != value for key, value in known.items()):
            LOGGER.debug("%s: identity %s", self.device.name, self.identity)
            self.hass.config_entries.async_update_entry(entry, data={**entry.data, **known})

    async def _async_update_data(self) -> MppSolarData:
        """Poll the status, and the settings when they are due."""
        previous = self.data or MppSolarData()
        status = await self._read_status()
        if self._adopt_layout():
            # Decoded with the wrong layout (the records came only now: a handshake that went
            # unanswered, a firmware update): read them again with the right one.
            status = await self._read_status()
            if self.config_entry.state is ConfigEntryState.LOADED:
                # The entities were made for the other layout (its cells, its fields): set the
                # entry up again once this update is done.
                self.hass.loop.call_soon(
                    self.hass.config_entries.async_schedule_reload, self.config_entry.entry_id
                )
                return MppSolarData(status=_fields(status), settings=previous.settings)
        if self._identity_in_status:
            # Before the entities are made: their device shows it.
            self._identity_in_status = False
            self._keep_identity(status_identity(status.values()))
        settings = previous.settings
        now = time.monotonic()
        if self.poll_settings and now >= self._settings_due:
            try:
                batch = await self.device.get_settings(skip=self.dropped)
            except MppSolarError as err:
                # Settings change rarely: keep the last ones and try again next cycle.
                LOGGER.debug("%s: settings not read: %s", self.device.name, err)
            else:
                self._note(batch)
                settings = _fields(batch)
                self._settings_due = now + self.settings_every
        return MppSolarData(status=_fields(status), settings=settings)

    async def _read_status(self) -> Batch:
        """Poll the status commands (``UpdateFailed`` when the device does not answer)."""
        try:
            status = await self.device.get_status(skip=self.skipped)
        except MppSolarError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"device": self.device.name, "error": str(err)},
            ) from err
        self._note(status)
        return status

    def _adopt_layout(self) -> bool:
        """Switch to the JK record layout the Bluetooth link has seen, if it differs.

        A discovered JK BMS is added as ``jk02_32`` (firmware 11 and later); its records tell
        the truth. The new protocol is kept in the entry. Return whether it switched.
        """
        transport = self.device.transport
        if not isinstance(transport, BleTransport):
            return False
        detected = transport.detected_protocol
        if detected is None or detected == self.protocol.id:
            return False
        LOGGER.info(
            "%s: its records use the %s layout, not %s: switching to %s",
            self.device.name,
            detected,
            self.protocol.id,
            detected,
        )
        self.device.protocol = get_protocol(detected)
        entry = self.config_entry
        self.hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_PROTOCOL: detected}
        )
        return True

    def _note(self, batch: Batch) -> None:
        """Keep each command's frames; drop the commands this unit refuses."""
        for command, result in batch.items():
            # What was sent may be a variant of the listed command (Daly's cellVoltages13).
            request = self.protocol.build_request(result.command or command)
            self.frames[command] = Frame(request, result.raw)
        for command, error in batch.errors.items():
            self.frames[command] = Frame(self.protocol.build_request(command), None, str(error))
            if isinstance(error, NAKError) and command not in self.dropped:
                LOGGER.info(
                    "%s refuses %s; it is no longer polled: %s", self.device.name, command, error
                )
                self.dropped.add(command)


def _fields(batch: Batch) -> dict[str, Field]:
    """Merge a batch's answers by field key (a later command's value wins, as the CLI does)."""
    merged: dict[str, Field] = {}
    for result in batch.values():
        merged.update(result.fields)
    return merged
