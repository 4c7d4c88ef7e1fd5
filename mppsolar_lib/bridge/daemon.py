"""The bridge daemon: one task per device, each poll fanned out to that device's sinks.

A device task polls its fast commands every ``pause`` seconds and its slow commands every
``slow_pause`` seconds (both from the poll's start, so a slow answer does not drift the
cadence), stamps each report with the time it arrived and hands the batch to each of the
device's sinks, which deliver in the background. A device that stops answering is reported
(once, and again when it is back) and polled on; it never delays another device, and an
output never delays a poll. On stop, device tasks end, then every sink gets a few seconds to
deliver and spools what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import os
from pathlib import Path
import time
from typing import TYPE_CHECKING, Final

from mppsolar_lib.bridge.sink import Sink
from mppsolar_lib.bridge.spool import Spool
from mppsolar_lib.bridge.systemd import Notifier
from mppsolar_lib.device import Device
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.outputs import OutputContext, OutputOptions, Report, Resources, get_output
from mppsolar_lib.transports import open_transport

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mppsolar_lib.bridge.commands import CommandChannel
    from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig
    from mppsolar_lib.protocols import Protocol

_LOGGER = logging.getLogger(__name__)

#: Seconds each sink gets on stop to deliver what is pending before it is spooled.
DRAIN_TIMEOUT: Final = 5.0
#: A reading listener: called with the device's name and the poll's reports.
Listener = Callable[[str, "Sequence[Report]"], None]
#: An availability listener: called with the device's name and whether it now answers.
AvailabilityListener = Callable[[str, bool], None]


def default_spool_dir() -> Path:
    """Return ``$XDG_STATE_HOME/mppsolar`` (``~/.local/state/mppsolar`` without it)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mppsolar"


def open_device(config: DeviceConfig) -> Device:
    """Build the device a section describes (nothing is opened until the first command)."""
    transport = open_transport(
        config.port, porttype=config.porttype, baud=config.baud, protocol=config.protocol
    )
    return Device(transport, config.protocol)


class DeviceRunner:
    """Poll one device on its cadences and feed its sinks."""

    def __init__(
        self, config: DeviceConfig, device: Device, sinks: list[Sink], contexts: list[OutputContext]
    ) -> None:
        """Poll ``device`` as ``config`` says; deliver to ``sinks``."""
        self.config = config
        self.device = device
        self.sinks = sinks
        self.contexts = contexts
        #: ``None`` until the first poll; then whether the last poll got any answer.
        self.online: bool | None = None
        #: The latest report of each command (the web UI's current values).
        self.latest: dict[str, Report] = {}
        self.listeners: list[Listener] = []
        #: Called when :attr:`online` changes (the web UI's live availability); must not block.
        self.availability_listeners: list[AvailabilityListener] = []
        self.polls = 0
        #: The last poll's handover to the sinks (see :meth:`publish`).
        self.handover: asyncio.Future[None] | None = None
        self._refresh = asyncio.Event()

    @property
    def name(self) -> str:
        """The device's name (its section)."""
        return self.config.name

    async def protocol(self) -> Protocol:
        """Return the device's protocol, detecting it first if the section says ``auto``."""
        if self.device.protocol is None:
            detection = await self.device.identify()
            if detection.protocol is None:
                raise MppSolarError(
                    f"{self.name}: no known protocol answered on {self.config.port}"
                )
            _LOGGER.info("%s: detected %s", self.name, detection.protocol)
        assert self.device.protocol is not None
        for context in self.contexts:
            context.protocol = self.device.protocol
        return self.device.protocol

    async def execute(self, command: str) -> Report:
        """Run one command now and return its report (the command channel, the web UI)."""
        protocol = await self.protocol()
        definition, _ = protocol.resolve(command)
        result = await self.device.command(command)
        report = Report.from_result(result, protocol.command_text(command), definition.description)
        report.time = time.time()
        return report

    async def poll(self, commands: Sequence[str]) -> list[Report]:
        """Run ``commands`` in order; a failing command is logged and skipped."""
        reports: list[Report] = []
        failures: list[str] = []
        for command in commands:
            try:
                reports.append(await self.execute(command))
            except MppSolarError as err:
                failures.append(f"{command}: {err}")
        online = bool(reports) or not commands
        if online != self.online:
            if online:
                _LOGGER.info("%s: answering", self.name)
            else:
                _LOGGER.warning("%s: not answering (%s)", self.name, "; ".join(failures))
            self.online = online
            for sink in self.sinks:
                with contextlib.suppress(Exception):
                    await sink.output.availability(online)
            for listener in list(self.availability_listeners):
                try:
                    listener(self.name, online)
                except Exception:
                    _LOGGER.exception("%s: an availability listener failed", self.name)
        elif failures:
            _LOGGER.debug("%s: %s", self.name, "; ".join(failures))
        return reports

    async def publish(self, reports: Sequence[Report]) -> None:
        """Hand one poll's reports to every sink and listener."""
        if not reports:
            return
        self.polls += 1
        for report in reports:
            self.latest[report.command] = report
        # A poll reaches every sink and listener or none: stopping the bridge cancels this
        # task, but not a handover already under way (stop() waits for it).
        self.handover = asyncio.ensure_future(self._hand_over(reports))
        await asyncio.shield(self.handover)

    async def _hand_over(self, reports: Sequence[Report]) -> None:
        for sink in self.sinks:
            await sink.put(reports)
        for listener in list(self.listeners):
            try:
                listener(self.name, reports)
            except Exception:
                _LOGGER.exception("%s: a reading listener failed", self.name)

    def refresh(self) -> None:
        """Poll every command now instead of at the next tick."""
        self._refresh.set()

    async def run(self) -> None:
        """Poll until cancelled."""
        loop = asyncio.get_running_loop()
        next_fast = next_slow = loop.time()
        while True:
            now = loop.time()
            due: list[str] = []
            if now >= next_fast or self._refresh.is_set():
                due.extend(self.config.commands)
                next_fast = max(next_fast + self.config.pause, now)
            if self.config.slow_commands and (now >= next_slow or self._refresh.is_set()):
                due.extend(self.config.slow_commands)
                next_slow = max(next_slow + self.config.slow_pause, now)
            self._refresh.clear()
            # Empty when a timer fired a clock tick early: nothing is due yet, wait again.
            if due:  # pragma: no branch
                await self.publish(await self.poll(due))
            wake = next_fast if not self.config.slow_commands else min(next_fast, next_slow)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh.wait(), max(wake - loop.time(), 0))


class Bridge:
    """Every configured device, its sinks, and the shared connections."""

    def __init__(
        self,
        config: BridgeConfig,
        *,
        spool_dir: Path | None = None,
        device_factory: Callable[[DeviceConfig], Device] = open_device,
        notifier: Notifier | None = None,
    ) -> None:
        """Prepare (nothing runs until :meth:`start`)."""
        self.config = config
        self.spool_dir = spool_dir or (
            Path(config.spool_dir) if config.spool_dir else default_spool_dir()
        )
        self.device_factory = device_factory
        self.notifier = notifier or Notifier()
        self.resources = Resources()
        self.spool: Spool | None = None
        self.runners: dict[str, DeviceRunner] = {}
        #: The MQTT command topics of devices with an ``mqtt_allowed_cmds`` allowlist.
        self.channels: list[CommandChannel] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sinks(self) -> list[Sink]:
        """Every sink of every device."""
        return [sink for runner in self.runners.values() for sink in runner.sinks]

    def _sinks(self, device: DeviceConfig) -> tuple[list[Sink], list[OutputContext]]:
        options = OutputOptions(
            filter=device.filter,
            exclude=device.exclfilter,
            keep_case=device.keep_case,
            tag=device.tag,
            name=device.name,
        )
        sinks: list[Sink] = []
        contexts: list[OutputContext] = []
        for name in device.outputs:
            context = OutputContext(device, self.config.mqtt, None, self.resources)
            output = get_output(name, options, context)
            contexts.append(context)
            spooled = getattr(output, "spooled", False)
            sinks.append(
                Sink(
                    output,
                    f"{device.name}/{name}",
                    spool=self.spool if spooled else None,
                    memory_limit=self.config.memory_limit,
                )
            )
        return sinks, contexts

    async def start(self, *, poll: bool = True) -> None:
        """Open the spool, build every device's sinks, start delivering and polling.

        With ``poll=False`` the devices are not polled on their cadences: the caller drives
        the runners (``daemon --once``).
        """
        self.spool = Spool(self.spool_dir / "spool.sqlite3", self.config.spool_limit)
        await self.spool.open()
        for device in self.config.devices:
            sinks, contexts = self._sinks(device)
            runner = DeviceRunner(device, self.device_factory(device), sinks, contexts)
            self.runners[device.name] = runner
            for sink in sinks:
                await sink.start()
        for runner in self.runners.values() if poll else ():
            self._tasks.append(asyncio.create_task(self._supervise(runner), name=runner.name))
            if runner.config.mqtt_allowed_cmds and self.config.mqtt is not None:
                await self._command_channel(runner)
        if self.notifier.watchdog:
            self._tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        self.notifier.ready(f"polling {len(self.runners)} devices")

    async def _command_channel(self, runner: DeviceRunner) -> None:
        """Open ``runner``'s MQTT command topic (imported here: aiomqtt is optional)."""
        from mppsolar_lib.bridge.commands import CommandChannel  # noqa: PLC0415

        context = OutputContext(runner.config, self.config.mqtt, None, self.resources)
        channel = CommandChannel(runner, context)
        await channel.start()
        self.channels.append(channel)

    async def _supervise(self, runner: DeviceRunner) -> None:
        """Run a device's poll loop; restart it (after a pause) if it fails unexpectedly."""
        delay = 1.0
        while True:
            try:
                await runner.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("%s: poll loop failed; restarting in %.0f s", runner.name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _watchdog(self) -> None:
        """Feed systemd's watchdog while the event loop runs."""
        assert self.notifier.watchdog is not None
        while True:
            self.notifier.ping()
            await asyncio.sleep(self.notifier.watchdog / 2)

    async def stop(self) -> None:
        """Stop polling, let sinks deliver (briefly), spool the rest, close everything."""
        self.notifier.stopping()
        for channel in self.channels:
            await channel.aclose()
        self.channels.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for runner in self.runners.values():
            if runner.handover is not None:
                await runner.handover
        await asyncio.gather(*(sink.stop(DRAIN_TIMEOUT) for sink in self.sinks))
        for runner in self.runners.values():
            try:
                await runner.device.close()
            except Exception:
                _LOGGER.exception("%s: closing the device failed", runner.name)
        await self.resources.close()
        if self.spool is not None:
            await self.spool.close()
            self.spool = None

    async def run(self, stop: asyncio.Event) -> None:
        """Start, run until ``stop`` is set, stop."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
