"""The bridge daemon: devices polled on their own cadences, fanned out to sinks, stopped cleanly.

Devices are the built-in simulators (``sim://``) and a simulated PI30 over a real pty; the
outputs are a recording output registered for the test and the real console outputs.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
import contextlib
import logging
from pathlib import Path
import socket
from typing import ClassVar

import pytest

from mppsolar_lib.bridge.daemon import Bridge, default_spool_dir, open_device
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig
from mppsolar_lib.bridge.systemd import Notifier
from mppsolar_lib.outputs import Output, OutputUnavailableError, Report, register_output
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer

TIMEOUT = 10.0


class Recorder(Output):
    """Keeps every batch per device; can be switched to failing like a down broker."""

    name = "test_recorder"
    spooled: ClassVar[bool] = True
    batches: ClassVar[dict[str, list[list[Report]]]] = defaultdict(list)
    availability_seen: ClassVar[dict[str, list[bool]]] = defaultdict(list)
    down: ClassVar[bool] = False
    arrived: ClassVar[asyncio.Event | None] = None

    async def send(self, reports: Sequence[Report]) -> None:
        """Record, or refuse while down."""
        if Recorder.down:
            raise OutputUnavailableError("recorder down")
        Recorder.batches[self.options.name].append(list(reports))
        if Recorder.arrived is not None:
            Recorder.arrived.set()

    async def availability(self, online: bool) -> None:
        """Record availability changes."""
        Recorder.availability_seen[self.options.name].append(online)


register_output("test_recorder", f"{__name__}:Recorder", "records batches for the tests")


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    Recorder.batches.clear()
    Recorder.availability_seen.clear()
    Recorder.down = False
    Recorder.arrived = asyncio.Event()


async def until(predicate: object, timeout: float = TIMEOUT) -> None:
    """Wait (bounded) until ``predicate()`` holds, waking on each recorded batch."""
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():
            assert Recorder.arrived is not None
            Recorder.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(Recorder.arrived.wait(), 0.05)


def device(name: str, **options: object) -> DeviceConfig:
    """Describe a simulated PI30 polled quickly into the recorder."""
    values: dict[str, object] = {
        "commands": ("QPIGS", "QMOD"),
        "pause": 0.05,
        "port": "sim://pi30",
        "protocol": "pi30",
        "outputs": ("test_recorder",),
    }
    values.update(options)
    return DeviceConfig(name=name, **values)  # type: ignore[arg-type]


async def test_each_device_is_polled_and_its_readings_delivered(tmp_path: Path) -> None:
    """Two devices, each batch with the poll's reports, timestamped, filtered per device."""
    config = BridgeConfig(
        devices=(
            device("inverter"),
            device("bms", port="sim://daly", protocol="daly", commands=("SOC",), filter="soc"),
        )
    )
    bridge = Bridge(config, spool_dir=tmp_path)
    await bridge.start()
    try:
        await until(lambda: len(Recorder.batches["inverter"]) >= 3 and Recorder.batches["bms"])
    finally:
        await bridge.stop()
    first = Recorder.batches["inverter"][0]
    assert [report.command for report in first] == ["QPIGS", "QMOD"]
    assert all(report.time is not None for report in first)
    keys = {row.key for row in first[0].rows}
    assert "battery_voltage" in keys
    assert bridge.runners["inverter"].latest["QMOD"].rows[0].key == "device_mode"
    assert Recorder.availability_seen["inverter"] == [True]
    # Options are the device's own: the BMS's filter did not narrow the inverter's rows.
    assert bridge.runners["bms"].sinks[0].output.options.filter == "soc"
    assert bridge.runners["inverter"].sinks[0].output.options.filter is None


async def test_slow_commands_run_at_their_own_cadence(tmp_path: Path) -> None:
    """Status every poll, settings only every slow_pause (and on a refresh)."""
    config = BridgeConfig(
        devices=(
            device("inverter", commands=("QPIGS",), slow_commands=("QPIRI",), slow_pause=3600),
        )
    )
    bridge = Bridge(config, spool_dir=tmp_path)
    await bridge.start()
    try:
        await until(lambda: len(Recorder.batches["inverter"]) >= 4)
        bridge.runners["inverter"].refresh()
        await until(
            lambda: (
                sum(
                    report.command == "QPIRI"
                    for batch in Recorder.batches["inverter"]
                    for report in batch
                )
                >= 2
            )
        )
    finally:
        await bridge.stop()
    commands = [[report.command for report in batch] for batch in Recorder.batches["inverter"]]
    assert commands[0] == ["QPIGS", "QPIRI"]
    assert commands[1] == ["QPIGS"]
    assert sum(batch == ["QPIGS", "QPIRI"] for batch in commands) == 2


async def test_a_dead_device_never_delays_another(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing port is reported once; the other device keeps its cadence."""
    config = BridgeConfig(
        devices=(
            device("ghost", port=str(tmp_path / "no-such-tty"), commands=("QPIGS",)),
            device("inverter"),
        )
    )
    bridge = Bridge(config, spool_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        await bridge.start()
        try:
            await until(lambda: len(Recorder.batches["inverter"]) >= 5)
            await until(
                lambda: bridge.runners["ghost"].polls == 0 and Recorder.availability_seen["ghost"]
            )
        finally:
            await bridge.stop()
    assert Recorder.batches["ghost"] == []
    assert Recorder.availability_seen["ghost"] == [False]
    warnings = [r.getMessage() for r in caplog.records if r.name.endswith("daemon")]
    assert len([m for m in warnings if m.startswith("ghost: not answering")]) == 1


async def test_readings_taken_during_an_outage_reach_the_next_run(tmp_path: Path) -> None:
    """Stopped while the output is down, the next start delivers what was kept, in order."""
    config = BridgeConfig(devices=(device("inverter", commands=("QPIGS",)),))
    Recorder.down = True
    bridge = Bridge(config, spool_dir=tmp_path)
    await bridge.start()
    async with asyncio.timeout(TIMEOUT):
        while bridge.runners["inverter"].polls < 5:
            await asyncio.sleep(0.02)
    await bridge.stop()
    kept = bridge.runners["inverter"].polls
    assert Recorder.batches["inverter"] == []

    Recorder.down = False
    again = Bridge(config, spool_dir=tmp_path)
    await again.start()
    try:
        await until(lambda: len(Recorder.batches["inverter"]) >= kept + 1)
    finally:
        await again.stop()
    times = [batch[0].time or 0.0 for batch in Recorder.batches["inverter"]]
    assert times == sorted(times)
    assert len(set(times)) == len(times)


async def test_a_pty_device_and_a_console_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real serial path, printed as the CLI prints it."""
    async with PtyServer(create_simulator("pi30")) as server:
        config = BridgeConfig(
            devices=(
                DeviceConfig(
                    name="inverter",
                    commands=("QPIGS",),
                    pause=0.05,
                    port=server.path,
                    protocol="pi30",
                    outputs=("simple", "test_recorder"),
                    filter="^battery_voltage$",
                ),
            )
        )
        bridge = Bridge(config, spool_dir=tmp_path)
        await bridge.start()
        try:
            await until(lambda: len(Recorder.batches["inverter"]) >= 2)
        finally:
            await bridge.stop()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("battery_voltage=") for line in lines)


async def test_systemd_hears_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    """Type=notify: READY=1 once polling, WATCHDOG=1 at half the interval, STOPPING=1."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.setblocking(False)
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
        bridge = Bridge(
            BridgeConfig(devices=(device("inverter"),)), spool_dir=tmp_path, notifier=notifier
        )
        loop = asyncio.get_running_loop()
        await bridge.start()
        messages: list[str] = []
        try:
            async with asyncio.timeout(TIMEOUT):
                while sum("WATCHDOG=1" in m for m in messages) < 3:
                    messages.append((await loop.sock_recv(listener, 4096)).decode())
        finally:
            await bridge.stop()
        async with asyncio.timeout(TIMEOUT):
            while "STOPPING=1" not in messages[-1]:
                messages.append((await loop.sock_recv(listener, 4096)).decode())
    assert messages[0] == "READY=1\nSTATUS=polling 1 devices" or "READY=1" in messages[1]
    assert messages[-1] == "STOPPING=1\nSTATUS=stopping"


def test_notifier_environment() -> None:
    """Abstract sockets, a watchdog meant for another process, no systemd at all."""
    abstract = Notifier({"NOTIFY_SOCKET": "@mppsolar-test", "WATCHDOG_USEC": "30000000"})
    assert abstract.address == "\0mppsolar-test"
    assert abstract.watchdog == 30.0
    other = Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog is None
    assert not Notifier({"NOTIFY_SOCKET": "relative"}).enabled
    none = Notifier({})
    assert not none.enabled
    assert not none.ready("x")
    assert not none.status("x")
    assert not none.ping()
    assert not none.stopping()


def test_notifier_unreachable_socket_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stale NOTIFY_SOCKET does not stop the daemon."""
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING):
        assert not notifier.status("polling")
    assert "cannot notify systemd" in caplog.text


def test_spool_directory_follows_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """$XDG_STATE_HOME/mppsolar, else ~/.local/state/mppsolar."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_spool_dir() == tmp_path / "mppsolar"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_spool_dir() == Path.home() / ".local" / "state" / "mppsolar"
    config = BridgeConfig(devices=(), spool_dir=str(tmp_path / "x"))
    assert Bridge(config).spool_dir == tmp_path / "x"


async def test_a_crashing_poll_loop_is_restarted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error in a poll loop is logged and the loop starts again."""
    calls = 0

    def flaky(config: DeviceConfig):  # type: ignore[no-untyped-def]
        return open_device(config)

    bridge = Bridge(
        BridgeConfig(devices=(device("inverter"),)), spool_dir=tmp_path, device_factory=flaky
    )
    await bridge.start()
    runner = bridge.runners["inverter"]
    original = runner.poll

    async def poll_once_broken(commands: Sequence[str]) -> list[Report]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in a poll")
        return await original(commands)

    runner.poll = poll_once_broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        try:
            await until(lambda: len(Recorder.batches["inverter"]) >= 2, timeout=TIMEOUT)
        finally:
            await bridge.stop()
    assert "inverter: poll loop failed; restarting in 1 s" in caplog.text


async def test_auto_detection_and_a_device_nothing_recognises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``protocol = auto`` detects a PI30 (outputs learn it); a BMS on a probe plan's port does not."""
    config = BridgeConfig(
        devices=(
            device("inverter", protocol=None),
            device("mystery", port="sim://daly", protocol=None, commands=("SOC",)),
        )
    )
    bridge = Bridge(config, spool_dir=tmp_path)
    with caplog.at_level(logging.INFO):
        await bridge.start()
        try:
            await until(
                lambda: Recorder.batches["inverter"] and Recorder.availability_seen["mystery"]
            )
        finally:
            await bridge.stop()
    assert "inverter: detected pi30" in caplog.text
    context = bridge.runners["inverter"].contexts[0]
    assert context.protocol is not None
    assert context.protocol.id == "pi30"
    assert Recorder.availability_seen["mystery"] == [False]
    assert "mystery: no known protocol answered on sim://daly" in caplog.text


async def test_listeners_see_readings_and_a_broken_one_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Listeners (the web UI) get every poll; one that raises does not stop the others."""
    seen: list[tuple[str, list[str]]] = []

    def broken(name: str, reports: Sequence[Report]) -> None:
        raise RuntimeError("listener bug")

    def listener(name: str, reports: Sequence[Report]) -> None:
        seen.append((name, [report.command for report in reports]))

    bridge = Bridge(BridgeConfig(devices=(device("inverter"),)), spool_dir=tmp_path)
    await bridge.start()
    bridge.runners["inverter"].listeners.extend([broken, listener])
    with caplog.at_level(logging.ERROR):
        try:
            await until(lambda: len(seen) >= 2)
        finally:
            await bridge.stop()
    assert seen[0] == ("inverter", ["QPIGS", "QMOD"])
    assert "inverter: a reading listener failed" in caplog.text


async def test_slow_commands_more_often_than_fast_ones(tmp_path: Path) -> None:
    """A slow cadence shorter than the fast one still runs on its own timer."""
    config = BridgeConfig(
        devices=(
            device(
                "inverter",
                commands=("QPIGS",),
                pause=3600,
                slow_commands=("QMOD",),
                slow_pause=0.05,
            ),
        )
    )
    bridge = Bridge(config, spool_dir=tmp_path)
    await bridge.start()
    try:
        await until(lambda: len(Recorder.batches["inverter"]) >= 3)
    finally:
        await bridge.stop()
    commands = [[report.command for report in batch] for batch in Recorder.batches["inverter"]]
    assert commands[:3] == [["QPIGS", "QMOD"], ["QMOD"], ["QMOD"]]


async def test_run_until_stopped_and_a_failing_device_close(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """run() stops when told; a device whose close fails is logged and the rest still close."""

    def factory(config: DeviceConfig):  # type: ignore[no-untyped-def]
        made = open_device(config)

        async def broken_close() -> None:
            raise OSError("port vanished")

        made.close = broken_close  # type: ignore[method-assign]
        return made

    stop = asyncio.Event()
    bridge = Bridge(
        BridgeConfig(devices=(device("inverter"),)), spool_dir=tmp_path, device_factory=factory
    )
    task = asyncio.create_task(bridge.run(stop))
    await until(lambda: Recorder.batches["inverter"])
    stop.set()
    with caplog.at_level(logging.ERROR):
        async with asyncio.timeout(TIMEOUT):
            await task
    assert "inverter: closing the device failed" in caplog.text
    assert bridge.spool is None
    await bridge.stop()  # a second stop has nothing left to do
    assert bridge.spool is None
