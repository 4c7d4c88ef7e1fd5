"""The coordinator: status at a fast cadence, settings at a slow one, one device per entry.

Which of the protocol's status commands are polled, and whether its settings are, is the
entry's choice (options); a command the unit refuses is dropped on its own. A JK BMS on
Bluetooth shows its record layout (24 or 32 cells) while connecting: the coordinator switches
to it, and keeps it in the entry. At each setup it reads the device's identity (model,
firmware, serial number, hardware version) for the device registry, and keeps it in the entry.
The device's energy counters (energy.py) are read at the settings cadence, for today's date.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
import time

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from mppsolar_lib.device import Batch, Device
from mppsolar_lib.errors import (
    ConfirmationRequiredError,
    InvalidParameterError,
    MppSolarError,
    NAKError,
    SettingNotAppliedError,
)
from mppsolar_lib.protocols import Protocol, get_protocol
from mppsolar_lib.protocols.fields import Field, Result, Value
from mppsolar_lib.protocols.settings import Setting, SettingKind
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
from .energy import counter_field, counter_request, counters
from .identity import Identity, carries_identity, read_identity, status_identity
from .parallel import MAX_UNITS, Scheme, line_values, serial_of, unit_scheme, unit_serial
from .repairs import async_answered, async_failed

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
    #: The device's energy counters, by counter key (``pv_energy_today``): see energy.py.
    energy: dict[str, Field] = field(default_factory=dict)
    #: The units of the device's parallel system, by serial number (empty for a single
    #: inverter): each unit's answers (``QPGSn`` and ``QP2GSn``, ``PRIn`` and ``PGSn``) by
    #: field key. See parallel.py.
    parallel: dict[str, dict[str, Field]] = field(default_factory=dict)

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
        self._energy_due = 0.0
        #: Units the parallel system had at the last poll (parallel.py).
        self.parallel_units = 0
        self._parallel_due = 0.0
        # The naming answers (PI18's PRIn) of the units at the last count, by index.
        self._unit_names: list[dict[str, Field]] = []
        #: The answers listing the values the unit allows (QMCHGCR …), by command.
        self.allowed_answers: dict[str, Result] = {}
        # One write at a time, whichever entity or action asks (a write reads back first).
        self._writing = asyncio.Lock()
        #: Called with each status and settings batch polled (bridge mode: bridge.py); a
        #: listener only queues, and never raises.
        self.batch_listeners: list[Callable[[Batch], None]] = []

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
        self._announce(status)
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
                self._announce(batch)
                settings = _fields(batch)
                self._settings_due = now + self.settings_every
                await self._read_allowed()
        energy = await self._read_energy(previous.energy, now)
        parallel = await self._read_parallel(previous.parallel, now)
        return MppSolarData(
            status=_fields(status), settings=settings, energy=energy, parallel=parallel
        )

    async def _read_energy(self, known: dict[str, Field], now: float) -> dict[str, Field]:
        """Read the device's energy counters at the settings cadence (else keep ``known``).

        The period counters are asked for the current year, month and day (Home Assistant's
        date). A counter the unit refuses is dropped; when one goes unanswered, those not read
        keep their last values until the next cycle.
        """
        wanted = [c for c in counters(self.protocol.id) if c.command not in self.dropped]
        if not wanted or now < self._energy_due:
            return known
        energy = dict(known)
        today = dt_util.as_local(dt_util.utcnow()).date()
        for counter in wanted:
            request = counter_request(counter, today)
            try:
                result = await self.device.command(request)
            except MppSolarError as err:
                self.frames[counter.command] = Frame(
                    self.protocol.build_request(request), None, str(err)
                )
                if isinstance(err, NAKError):
                    LOGGER.info(
                        "%s refuses %s; it is no longer polled: %s", self.device.name, request, err
                    )
                    self.dropped.add(counter.command)
                    continue
                # Counters move slowly: keep the last values and try again next cycle.
                LOGGER.debug("%s: energy counters not read: %s", self.device.name, err)
                break
            self.frames[counter.command] = Frame(self.protocol.build_request(request), result.raw)
            if (value := counter_field(result.fields)) is not None:
                energy[counter.key] = value
        self._energy_due = now + self.settings_every
        return energy

    async def _read_status(self) -> Batch:
        """Poll the status commands (``UpdateFailed`` when the device does not answer)."""
        try:
            status = await self.device.get_status(skip=self.skipped)
        except MppSolarError as err:
            # Repair issues: a refused port, a device that refuses everything, silence.
            async_failed(self.hass, self.config_entry, err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"device": self.device.name, "error": str(err)},
            ) from err
        self._note(status)
        async_answered(self.hass, self.config_entry, status)
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

    def _announce(self, batch: Batch) -> None:
        """Hand a batch polled to the batch listeners (bridge mode)."""
        for listener in self.batch_listeners:
            listener(batch)

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

    # -- parallel systems (parallel.py) -------------------------------------------------------

    async def _read_parallel(
        self, known: dict[str, dict[str, Field]], now: float
    ) -> dict[str, dict[str, Field]]:
        """Read each unit of the parallel system (``QPGS0`` … ``QPGS<n-1>``; see parallel.py).

        At the settings cadence the count is found again: indexes are asked from 0 up until
        one is refused or empty (a unit added, a unit gone), and the units are named (PI18's
        ``PRI``); in between, the units found are polled with the status, and one fewer
        answering has them counted again at the next poll. A single inverter is asked only at
        the settings cadence, and has no units. When the device does not answer now, the
        units keep their last values until next time.
        """
        scheme = unit_scheme(self.protocol)
        if scheme is None or {scheme.status, scheme.naming} & self.dropped:
            return known
        discover = now >= self._parallel_due
        if not discover and self.parallel_units < 2:
            return known
        frames: dict[str, Frame] = {}
        try:
            units = await self._read_units(scheme, discover, frames)
        except MppSolarError as err:
            LOGGER.debug("%s: parallel units not read: %s", self.device.name, err)
            return known
        if discover:
            self._parallel_due = now + self.settings_every
        elif len(units) < self.parallel_units:
            self._parallel_due = 0.0  # one went quiet, another may have taken its index
        self.parallel_units = len(units)
        if len(units) < 2:
            return {}
        self.frames.update(frames)
        return units

    async def _read_units(
        self, scheme: Scheme, discover: bool, frames: dict[str, Frame]
    ) -> dict[str, dict[str, Field]]:
        """Ask each unit, by index, until one is refused or absent; return them by serial."""
        units: dict[str, dict[str, Field]] = {}
        names = [] if discover else self._unit_names
        for index in range(MAX_UNITS if discover else self.parallel_units):
            named: dict[str, Field] = {}
            if scheme.naming is not None:
                if discover:
                    answer = await self._ask_unit(scheme.naming, index, frames)
                    if answer is None or unit_serial(answer) is None:
                        break
                    names.append(answer)
                named = names[index]
            status = await self._ask_unit(scheme.status, index, frames)
            if status is None:
                break
            fields = {**named, **status}
            if (serial := unit_serial(fields)) is None:
                break
            if scheme.line is not None and scheme.line not in self.dropped:
                line = await self._ask_unit(scheme.line, index, frames)
                if line is not None and serial_of(line) == serial:
                    fields.update(line_values(self.protocol, scheme, line))
            units[serial] = fields
        if discover:
            self._unit_names = names
        return units

    async def _ask_unit(
        self, command: str, index: int, frames: dict[str, Frame]
    ) -> dict[str, Field] | None:
        """Ask unit ``index``'s answer to ``command`` (``None``: refused, no such unit).

        A unit that refuses it for its first unit is taken not to have it: it is no longer
        asked.
        """
        request = f"{command}{index}"
        try:
            result = await self.device.command(request)
        except NAKError as err:
            if not index:
                LOGGER.info(
                    "%s refuses %s; it is no longer polled: %s", self.device.name, request, err
                )
                self.dropped.add(command)
            return None
        frames[request] = Frame(self.protocol.build_request(request), result.raw)
        return dict(result.fields)

    # -- the actions (services.py) ---------------------------------------------------------------

    async def async_refresh_settings(self) -> None:
        """Read the settings (and the status) now: after something may have changed them."""
        self._settings_due = 0.0
        self._parallel_due = 0.0
        await self.async_refresh()

    # -- control ----------------------------------------------------------------------------

    async def _read_allowed(self) -> None:
        """With the settings: ask what values the unit allows where it lists them (QMCHGCR).

        A unit that refuses the query (older firmware) keeps the declared range; one that does
        not answer now keeps what it said last.
        """
        commands = {
            setting.options_command
            for setting in self.protocol.settings.values()
            if setting.options_command is not None and setting.kind is SettingKind.NUMBER
        }
        for command in sorted(commands - self.dropped):
            request = self.protocol.build_request(command)
            try:
                result = await self.device.command(command)
            except MppSolarError as err:
                self.frames[command] = Frame(request, None, str(err))
                if isinstance(err, NAKError):
                    LOGGER.info(
                        "%s refuses %s; the declared range applies: %s",
                        self.device.name,
                        command,
                        err,
                    )
                    self.dropped.add(command)
                continue
            self.frames[command] = Frame(request, result.raw)
            self.allowed_answers[command] = result

    def allowed_values(self, setting: Setting) -> tuple[float, ...] | None:
        """Return the values the unit last said ``setting`` takes (``None``: its range)."""
        if setting.options_command is None or setting.kind is not SettingKind.NUMBER:
            return None
        return setting.allowed_values(self.allowed_answers.get(setting.options_command))

    async def async_write_setting(self, key: str, value: object, *, confirm: bool = True) -> Value:
        """Write ``value`` to setting ``key``, read it back, show what the device reports.

        The value is checked against the settings model (and what the unit allows) before
        anything is sent: ``ServiceValidationError``. Only a valid value of a safety setting
        then needs ``confirm`` (the user acting on the entity confirms; the action asks for
        ``confirm: true``), so nobody confirms a value that would be refused anyway. A refusal
        (NAK), a value the unit acknowledges but does not take, or a link that fails raise a
        ``HomeAssistantError`` saying so. Its entity (and any value the same read command
        reports) then shows the device's own reading: the one the library read back when the
        unit did not take the value, else the setting's read command asked again.
        """
        setting = self.protocol.settings.get(key)
        if setting is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="setting_unknown",
                translation_placeholders={
                    "device": self.device.name,
                    "setting": key,
                    "settings": ", ".join(sorted(self.protocol.settings)) or "-",
                },
            )
        placeholders = {"device": self.device.name, "setting": setting.name, "value": str(value)}
        async with self._writing:
            try:
                if not setting.needs_current:
                    setting.encode(value, allowed=self.allowed_values(setting))
                change = await self.device.prepare_setting(key, value)
                LOGGER.info("%s: writing %s", self.device.name, change.describe())
                reported = await self.device.apply_setting(change, confirm=confirm)
            except ConfirmationRequiredError as err:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="confirmation_required",
                    translation_placeholders={**placeholders, "name": setting.name},
                ) from err
            except InvalidParameterError as err:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="setting_invalid",
                    translation_placeholders={**placeholders, "error": str(err)},
                ) from err
            except NAKError as err:
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="setting_refused",
                    translation_placeholders=placeholders,
                ) from err
            except SettingNotAppliedError as err:
                # The library read the setting back: show that answer, do not ask again.
                if err.result is not None:  # pragma: no branch - the library always sets it
                    self._show_answer(setting, err.result)
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="setting_not_applied",
                    translation_placeholders={**placeholders, "reported": _show(err.reported)},
                ) from err
            except MppSolarError as err:
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="setting_failed",
                    translation_placeholders={**placeholders, "error": str(err)},
                ) from err
            await self._read_back(setting)
        return reported

    async def _read_back(self, setting: Setting) -> Value:
        """Ask the setting's read command again; put its answer in the data (entities update).

        Return the setting's value as read (``None`` when the device did not answer: the next
        settings poll will tell).
        """
        try:
            result = await self.device.command(setting.read_command)
        except MppSolarError as err:
            LOGGER.debug("%s: %s not read back: %s", self.device.name, setting.name, err)
            self._settings_due = 0.0
            return None
        self._show_answer(setting, result)
        return setting.current(result)

    def _show_answer(self, setting: Setting, result: Result) -> None:
        """Put an answer to ``setting``'s read command in the data (its entities update)."""
        data = self.data
        if setting.read_command in self.protocol.status_commands:
            data = replace(data, status={**data.status, **result.fields})
        else:
            data = replace(data, settings={**data.settings, **result.fields})
        self.async_set_updated_data(data)


def _show(value: Value) -> str:
    """Return a value read back as a message shows it (``unknown`` when none was read)."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fields(batch: Batch) -> dict[str, Field]:
    """Merge a batch's answers by field key (a later command's value wins, as the CLI does)."""
    merged: dict[str, Field] = {}
    for result in batch.values():
        merged.update(result.fields)
    return merged
