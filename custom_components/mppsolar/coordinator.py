"""The coordinator: status at a fast cadence, settings at a slow one, one device per entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
import time

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from mppsolar_lib.device import Batch, Device
from mppsolar_lib.errors import MppSolarError, NAKError
from mppsolar_lib.protocols import Protocol
from mppsolar_lib.protocols.fields import Field, Value

from .connection import describe
from .const import (
    CONF_CONNECTION,
    CONF_SETTINGS_INTERVAL,
    CONF_STATUS_INTERVAL,
    DEFAULT_BLE_STATUS_INTERVAL,
    DEFAULT_SETTINGS_INTERVAL,
    DEFAULT_STATUS_INTERVAL,
    DOMAIN,
    LOGGER,
    Connection,
)

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

    def get(self, key: str) -> Field | None:
        """Return field ``key`` from the status, else from the settings."""
        return self.status.get(key) or self.settings.get(key)

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


class MppSolarCoordinator(DataUpdateCoordinator[MppSolarData]):
    """Poll one device: every status interval its status, every settings interval its settings.

    A command the unit refuses (NAK: a firmware without ``QPIGS2``) is dropped from polling
    instead of failing the update; only a device that answers nothing makes the entities
    unavailable.
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
        #: Commands the unit refused: not polled again until the entry is reloaded.
        self.dropped: set[str] = set()
        #: The last exchange of each command (diagnostics).
        self.frames: dict[str, Frame] = {}
        self._settings_due = 0.0

    @property
    def protocol(self) -> Protocol:
        """The device's protocol (known: the config flow detected or was given it)."""
        protocol = self.device.protocol
        assert protocol is not None  # built with the entry's protocol
        return protocol

    def refresh_settings_soon(self) -> None:
        """Read the settings with the next update (after a write)."""
        self._settings_due = 0.0

    async def _async_update_data(self) -> MppSolarData:
        """Poll the status, and the settings when they are due."""
        previous = self.data or MppSolarData()
        try:
            status = await self.device.get_status(skip=self.dropped)
        except MppSolarError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"device": self.device.name, "error": str(err)},
            ) from err
        self._note(status)
        settings = previous.settings
        now = time.monotonic()
        if now >= self._settings_due:
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
