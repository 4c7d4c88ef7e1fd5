"""Bridge mode: the library's bridge outputs fed from the entry's own polling.

An entry whose options choose outputs (Prometheus files or Pushgateway, MQTT formats, PostgreSQL,
MongoDB, UDP) gets one :class:`~mppsolar_lib.bridge.sink.Sink` per output, as the bridge daemon
builds them. After each status or settings poll the coordinator hands its batch of answers to
:meth:`EntryBridge.async_publish`, which stamps them as reports and queues them on every sink:
delivery runs in the sinks' own tasks, so a slow or failing destination never delays a poll nor
fails an update.

What every entry shares lives in ``hass.data``: the on-disk spool (``.storage/mppsolar/
spool.sqlite3`` in the configuration directory; readings a destination could not take yet, kept
across restarts) and the shared connections (one MQTT client per broker, one pool per database).
They are closed when the last entry using them stops. On unload, and when Home Assistant stops,
each sink gets :data:`DRAIN_TIMEOUT` seconds to deliver what is pending; the rest is spooled and
delivered first at the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
import os
from pathlib import Path
import re
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import slugify
from homeassistant.util.hass_dict import HassKey

from mppsolar_lib.bridge.model import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_MONGO_DB,
    DEFAULT_PROM_OUTPUT_DIR,
    DEFAULT_PUSH_URL,
    DEFAULT_SPOOL_LIMIT,
    DEFAULT_UDP_PORT,
    DeviceConfig,
    MqttBroker,
)
from mppsolar_lib.bridge.sink import Sink
from mppsolar_lib.bridge.spool import Spool
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.outputs import (
    ConsoleOutput,
    OutputContext,
    OutputOptions,
    Report,
    Resources,
    get_output,
    list_outputs,
    output_class,
)

from .connection import describe
from .const import (
    CONF_BRIDGE,
    CONF_EXCLFILTER,
    CONF_FILTER,
    CONF_MONGO_DB,
    CONF_MONGO_URL,
    CONF_MQTT_HOST,
    CONF_MQTT_PASSWORD,
    CONF_MQTT_PORT,
    CONF_MQTT_TOPIC,
    CONF_MQTT_USERNAME,
    CONF_OUTPUTS,
    CONF_POSTGRES_URL,
    CONF_PROM_OUTPUT_DIR,
    CONF_PUSH_URL,
    CONF_SERIAL,
    CONF_UDP_PORT,
    DOMAIN,
    LOGGER,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from mppsolar_lib.device import Batch
    from mppsolar_lib.protocols import Protocol

    from .coordinator import MppSolarCoordinator

#: Seconds each sink gets on unload to deliver what is pending before the rest is spooled
#: (short: it delays Home Assistant's shutdown).
DRAIN_TIMEOUT: Final = 2.0
#: An output failing this long (seconds) raises a repair issue; it goes when it delivers again.
FAILING_AFTER: Final = 15 * 60.0
#: How often the outputs' health is looked at.
HEALTH_INTERVAL: Final = timedelta(minutes=1)
#: URL schemes each URL option takes.
URL_SCHEMES: Final[Mapping[str, frozenset[str]]] = {
    CONF_PUSH_URL: frozenset({"http", "https"}),
    CONF_POSTGRES_URL: frozenset({"postgres", "postgresql"}),
    CONF_MONGO_URL: frozenset({"mongodb", "mongodb+srv"}),
}
#: The option an output cannot work without (MQTT outputs need the broker's host).
REQUIRED: Final[Mapping[str, str]] = {
    "prom_file": CONF_PROM_OUTPUT_DIR,
    "postgres": CONF_POSTGRES_URL,
    "mongo": CONF_MONGO_URL,
}
#: The bridge options that hold secrets (diagnostics redact them).
SECRETS: Final = frozenset({CONF_MQTT_PASSWORD})
REDACTED: Final = "**REDACTED**"

BRIDGE_DATA: HassKey[BridgeShared] = HassKey(f"{DOMAIN}_bridge")
_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_bridge_lock")


def output_choices() -> dict[str, str]:
    """Return the library's outputs that deliver somewhere (name -> description).

    Console outputs (which print) are left out, and so are outputs whose optional packages are
    not installed. Imports the outputs' modules: run it in the executor.
    """
    choices: dict[str, str] = {}
    for name, description in list_outputs().items():
        try:
            cls = output_class(name)
        except MppSolarError:
            continue
        if not issubclass(cls, ConsoleOutput):
            choices[name] = description
    return choices


def required_option(output: str) -> str | None:
    """Return the option ``output`` cannot work without (``None``: its defaults do)."""
    if "mqtt" in output:
        return CONF_MQTT_HOST
    return REQUIRED.get(output)


def url_valid(option: str, url: str) -> bool:
    """Return whether ``url`` parses, with a scheme ``option`` takes and where to go."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number
    except ValueError:
        return False
    # PostgreSQL may be reached over its Unix socket (postgresql:///db?host=/run/postgresql).
    where = parts.netloc or (option == CONF_POSTGRES_URL and parts.path not in ("", "/"))
    return parts.scheme in URL_SCHEMES[option] and bool(where)


def directory_error(path: str) -> str | None:
    """Return why ``path`` cannot take prom files (``None``: it can). Blocking: executor."""
    directory = Path(path)
    if not directory.is_absolute() or not directory.is_dir():
        return "directory_missing"
    if not os.access(directory, os.W_OK | os.X_OK):
        return "directory_not_writable"
    return None


async def async_validate(hass: HomeAssistant, options: Mapping[str, Any]) -> dict[str, str]:
    """Check the bridge options; return the errors by option (empty: all is well)."""
    errors: dict[str, str] = {}
    for option in (CONF_FILTER, CONF_EXCLFILTER):
        if pattern := options.get(option):
            try:
                re.compile(pattern)
            except re.error:
                errors[option] = "invalid_regex"
    for option in URL_SCHEMES:
        if (url := options.get(option)) and not url_valid(option, url):
            errors[option] = "invalid_url"
    for output in options.get(CONF_OUTPUTS, []):
        if (needed := required_option(output)) and not options.get(needed):
            errors.setdefault(needed, "required")
    if (directory := options.get(CONF_PROM_OUTPUT_DIR)) and (
        problem := await hass.async_add_executor_job(directory_error, directory)
    ):
        errors[CONF_PROM_OUTPUT_DIR] = problem
    return errors


def redact_url(url: str) -> str:
    """Return ``url`` with its password (and user name) hidden, if it carries any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if parts.password is None and parts.username is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


def _password(url: str) -> str:
    """Return the password ``url`` carries ('' when none, or when it does not parse)."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def redact(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the bridge options without secrets (passwords, credentials in URLs)."""
    shown = dict(options)
    for option in SECRETS & shown.keys():
        shown[option] = REDACTED
    for option in URL_SCHEMES.keys() & shown.keys():
        shown[option] = redact_url(str(shown[option]))
    return shown


def device_name(entry: ConfigEntry) -> str:
    """Return the name the entry's device goes by in topics, series and rows: its serial.

    Before the device was first asked (a new entry), the entry's unique id is the serial the
    config flow found; a device without one goes by the entry's title.
    """
    return str(
        entry.data.get(CONF_SERIAL) or entry.unique_id or slugify(entry.title) or entry.entry_id
    )


def device_config(
    entry: ConfigEntry, coordinator: MppSolarCoordinator, options: Mapping[str, Any]
) -> DeviceConfig:
    """Describe the entry's device as the bridge's outputs expect it."""
    protocol = coordinator.protocol
    return DeviceConfig(
        name=device_name(entry),
        commands=protocol.status_commands,
        pause=coordinator.update_interval.total_seconds() if coordinator.update_interval else 0,
        slow_commands=protocol.settings_commands,
        slow_pause=coordinator.settings_every,
        protocol=protocol.id,
        port=describe(entry.data),
        outputs=tuple(options.get(CONF_OUTPUTS, ())),
        filter=options.get(CONF_FILTER) or None,
        exclfilter=options.get(CONF_EXCLFILTER) or None,
        mqtt_topic=options.get(CONF_MQTT_TOPIC) or None,
        prom_output_dir=options.get(CONF_PROM_OUTPUT_DIR) or DEFAULT_PROM_OUTPUT_DIR,
        push_url=options.get(CONF_PUSH_URL) or DEFAULT_PUSH_URL,
        postgres_url=options.get(CONF_POSTGRES_URL) or None,
        mongo_url=options.get(CONF_MONGO_URL) or None,
        mongo_db=options.get(CONF_MONGO_DB) or DEFAULT_MONGO_DB,
        udp_port=int(options.get(CONF_UDP_PORT) or DEFAULT_UDP_PORT),
    )


def mqtt_broker(options: Mapping[str, Any]) -> MqttBroker | None:
    """Return the broker the options name (``None``: none)."""
    if not (host := options.get(CONF_MQTT_HOST)):
        return None
    return MqttBroker(
        host=host,
        port=int(options.get(CONF_MQTT_PORT) or 1883),
        username=options.get(CONF_MQTT_USERNAME) or None,
        password=options.get(CONF_MQTT_PASSWORD) or None,
    )


@dataclass(slots=True)
class BridgeShared:
    """What every entry's bridge shares: the spool, the connections, and who uses them."""

    spool: Spool
    resources: Resources
    entries: dict[str, EntryBridge] = field(default_factory=dict)


class EntryBridge:
    """The sinks of one entry, fed from its coordinator's polls."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        protocol_name: str,
        sinks: dict[str, Sink],
        shared: BridgeShared,
        secrets: list[str],
    ) -> None:
        """Feed ``sinks`` (by output name) for ``entry``."""
        self.hass = hass
        self.entry = entry
        self.protocol_name = protocol_name
        self.sinks = sinks
        self.shared = shared
        self._secrets = [secret for secret in secrets if secret]
        # Since when each output has been failing (loop time), for the repair issue.
        self._failing_since: dict[str, float] = {}
        self._stopped = False
        # Whether the device answered at the last poll (None: not polled yet).
        self._online: bool | None = None

    @callback
    def async_publish(self, batch: Batch, protocol: Protocol) -> None:
        """Queue one poll's answers on every sink (never raises, never waits for delivery)."""
        if self._stopped or not batch:
            return
        try:
            now = time.time()
            reports = []
            for command, result in batch.items():
                sent = result.command or command
                definition, _ = protocol.resolve(sent)
                report = Report.from_result(
                    result, protocol.command_text(sent), definition.description
                )
                report.time = now
                reports.append(report)
        except Exception:  # noqa: BLE001 - an output problem must never reach the coordinator
            LOGGER.exception("%s: bridge reports not built", self.entry.title)
            return
        for name, sink in self.sinks.items():
            # Eager: the batch is queued now, in poll order; put() waits only to spill to disk.
            self.hass.async_create_background_task(
                sink.put(reports), f"{DOMAIN} bridge {self.entry.entry_id} {name}"
            )

    @callback
    def async_availability(self, online: bool) -> None:
        """Tell the outputs whether the device answers (hass_mqtt's availability topic)."""
        if self._stopped or online is self._online:
            return
        self._online = online
        for name, sink in self.sinks.items():
            self.hass.async_create_background_task(
                self._tell(sink, online), f"{DOMAIN} bridge availability {name}"
            )

    async def _tell(self, sink: Sink, online: bool) -> None:
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT * 5):
                await sink.output.availability(online)
        except Exception as err:  # noqa: BLE001 - a destination down: the next change tells
            LOGGER.debug("%s: availability not delivered: %s", sink.key, self.mask(str(err)))

    def mask(self, text: str | None) -> str | None:
        """Return ``text`` with the entry's secrets hidden (an error may quote a URL)."""
        if text is None:
            return None
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def diagnostics(self) -> dict[str, Any]:
        """Return each output's counters and pending batches (secrets hidden)."""
        return {
            name: {
                **asdict(sink.stats),
                "last_error": self.mask(sink.stats.last_error),
                "pending": sink.pending,
                "spooled_on_disk": sink.spool is not None,
            }
            for name, sink in self.sinks.items()
        }

    @callback
    def async_check_health(self, now: datetime | None = None) -> None:
        """Raise a repair issue for an output failing for :data:`FAILING_AFTER` seconds."""
        loop_time = self.hass.loop.time()
        for name, sink in self.sinks.items():
            issue_id = f"bridge_failing_{self.entry.entry_id}_{name}"
            if sink.stats.last_error is None:
                self._failing_since.pop(name, None)
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
                continue
            since = self._failing_since.setdefault(name, loop_time)
            if loop_time - since >= FAILING_AFTER:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key="bridge_output_failing",
                    translation_placeholders={
                        "title": self.entry.title,
                        "output": name,
                        "minutes": str(int(FAILING_AFTER // 60)),
                        "error": self.mask(sink.stats.last_error) or "",
                        "pending": str(sink.pending),
                    },
                )

    async def async_stop(self) -> None:
        """Let the sinks deliver briefly, spool the rest; close the shared parts if last."""
        if self._stopped:
            return
        self._stopped = True
        await asyncio.gather(*(sink.stop(DRAIN_TIMEOUT) for sink in self.sinks.values()))
        for name in self.sinks:
            ir.async_delete_issue(self.hass, DOMAIN, f"bridge_failing_{self.entry.entry_id}_{name}")
        async with self.hass.data.setdefault(_LOCK, asyncio.Lock()):
            self.shared.entries.pop(self.entry.entry_id, None)
            if not self.shared.entries:
                self.hass.data.pop(BRIDGE_DATA, None)
                await self.shared.resources.close()
                await self.shared.spool.close()


def spool_path(hass: HomeAssistant) -> Path:
    """Return the spool every entry shares (in the configuration directory's ``.storage``)."""
    return Path(hass.config.path(".storage", DOMAIN, "spool.sqlite3"))


async def _async_shared(hass: HomeAssistant) -> BridgeShared:
    """Return the shared spool and connections, opening them for the first entry."""
    if (shared := hass.data.get(BRIDGE_DATA)) is None:
        spool = Spool(spool_path(hass), DEFAULT_SPOOL_LIMIT)
        await spool.open()
        shared = hass.data[BRIDGE_DATA] = BridgeShared(spool, Resources())
    return shared


async def async_setup_bridge(
    hass: HomeAssistant, entry: ConfigEntry, coordinator: MppSolarCoordinator
) -> EntryBridge | None:
    """Start the entry's bridge outputs and feed them its polls (``None``: it has none).

    An output that cannot be made (its optional packages gone, a setting it refuses) is logged
    and left out: the entry itself still sets up.
    """
    options: Mapping[str, Any] = entry.options.get(CONF_BRIDGE) or {}
    outputs = list(options.get(CONF_OUTPUTS) or ())
    if not outputs:
        return None
    config = device_config(entry, coordinator, options)
    broker = mqtt_broker(options)
    # Importing an output's module reads files: not in the event loop.
    classes = await hass.async_add_executor_job(_classes, outputs)
    async with hass.data.setdefault(_LOCK, asyncio.Lock()):
        shared = await _async_shared(hass)
        sinks: dict[str, Sink] = {}
        for name in outputs:
            if name not in classes:
                continue
            try:
                output = get_output(
                    name,
                    OutputOptions(
                        filter=config.filter, exclude=config.exclfilter, name=config.name
                    ),
                    OutputContext(config, broker, coordinator.protocol, shared.resources),
                )
            except Exception:  # noqa: BLE001 - one output's problem spares the others
                LOGGER.exception("%s: bridge output %s not started", entry.title, name)
                continue
            sinks[name] = Sink(
                output,
                f"{entry.entry_id}/{name}",
                spool=shared.spool if getattr(output, "spooled", False) else None,
                memory_limit=DEFAULT_MEMORY_LIMIT,
            )
        secrets = [
            str(options.get(CONF_MQTT_PASSWORD) or ""),
            *(_password(str(options.get(option) or "")) for option in URL_SCHEMES),
        ]
        bridge = EntryBridge(hass, entry, config.name, sinks, shared, secrets)
        shared.entries[entry.entry_id] = bridge
        for sink in sinks.values():
            await sink.start()
    entry.async_on_unload(bridge.async_stop)

    async def _on_stop(event: Event) -> None:
        await bridge.async_stop()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _on_stop))
    entry.async_on_unload(
        async_track_time_interval(
            hass,
            bridge.async_check_health,
            HEALTH_INTERVAL,
            name=f"{DOMAIN} bridge health {entry.entry_id}",
        )
    )

    @callback
    def _publish(batch: Batch) -> None:
        bridge.async_publish(batch, coordinator.protocol)

    coordinator.batch_listeners.append(_publish)
    entry.async_on_unload(lambda: coordinator.batch_listeners.remove(_publish))
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: bridge.async_availability(coordinator.last_update_success)
        )
    )
    LOGGER.debug("%s: bridge outputs %s", entry.title, ", ".join(sinks))
    return bridge


def _classes(outputs: list[str]) -> set[str]:
    """Import the outputs' modules; return the names that can be made."""
    found = set()
    for name in outputs:
        try:
            output_class(name)
        except MppSolarError as err:
            LOGGER.error("Bridge output %s cannot be used: %s", name, err)
            continue
        found.add(name)
    return found


def bridge_diagnostics(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any] | None:
    """Return the entry's bridge outputs' state (``None``: bridge mode is off)."""
    shared = hass.data.get(BRIDGE_DATA)
    bridge = shared.entries.get(entry.entry_id) if shared else None
    return None if bridge is None else bridge.diagnostics()
