#!/usr/bin/env python3
"""Benchmark: the bridge daemon with 200 simulated devices at 1 Hz, beside the reference's daemon.

Usage: .venv/bin/python bench/bench_bridge.py [--devices N] [--warmup S] [--duration S]
       [--runs ours-sim,ours-tcp,ours-pi30,reference] [--ref-python PATH]

A private mosquitto (Debian's, on a free loopback port) and a temporary prom_output_dir; then,
one after the other, each daemon as a process of its own with ``pause = 1`` and the outputs
``json_mqtt,prom_file`` for every device:

- ``ours-sim``: ``python -m mppsolar_lib daemon -C`` with the device mix (default 160 PI30
  inverters polled ``QPIGS#QMOD``, 20 JK BMSs ``getCellData``, 20 Daly BMSs
  ``SOC#cellMinMaxVoltages``) on ``sim://`` ports: the simulators run inside the daemon, so their
  cost is counted with it;
- ``ours-tcp``: the same devices served over TCP (one port per device) by a separate simulator
  process, so the daemon's own cost is isolated (the simulator process is measured apart);
- ``ours-pi30``: the reference's workload exactly (200 × PI30 ``QPIGS#QMOD`` on ``sim://``);
- ``reference``: ``mpp-solar -C <ini> --daemon`` (PyPI ``mppsolar==0.16.56``) with 200 sections
  ``port = test``, ``protocol = PI30``, ``command = QPIGS#QMOD``.

After ``--warmup`` seconds, for ``--duration`` seconds: the daemon's CPU time (utime + stime of
/proc/<pid>/stat, every thread), its RSS once a second (VmRSS; VmHWM is the peak), the messages
a subscriber on the broker receives (their rate: the work is done), and each prom file's
rewrites (a new inode and mtime on every atomic rewrite; scanned every 0.1 s): how many per second,
and the time between two rewrites of one file from their mtimes (median, 95th percentile,
maximum: 1 s when every device keeps its cadence). The JSON messages carry no device name and
share one topic per command (as the reference's do), so the cadence is read from the files.
Targets for ours: < 25 % of one core, < 150 MiB. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.mosquitto import Broker, free_port, mosquitto  # noqa: E402

REF_VENV = Path.home() / ".cache" / "mppsolar" / "ref-venv"
#: Seconds a child gets to start or stop before the benchmark gives up on it.
DEADLINE = 60.0
TICK = os.sysconf("SC_CLK_TCK")
#: The device mix: protocol -> (share of the devices, commands).
COMMANDS = {
    "pi30": ("QPIGS", "QMOD"),
    "jk02_32": ("getCellData",),
    "daly": ("SOC", "cellMinMaxVoltages"),
}
DEFAULT_MIX = "pi30:160,jk02_32:20,daly:20"
RUNS = ("ours-sim", "ours-tcp", "ours-pi30", "reference")


def parse_mix(text: str) -> list[str]:
    """Return one protocol per device from ``pi30:160,daly:20``."""
    devices: list[str] = []
    for part in text.split(","):
        protocol, _, count = part.partition(":")
        if protocol not in COMMANDS:
            raise SystemExit(f"--mix: no commands known for {protocol!r} ({', '.join(COMMANDS)})")
        devices += [protocol] * int(count)
    return devices


# -- configurations -------------------------------------------------------------------------------


def our_config(
    path: Path,
    devices: list[str],
    ports: list[int] | None,
    broker: int,
    prom: Path,
    outputs: str = "json_mqtt,prom_file",
) -> None:
    """Write our daemon's INI: one section per device, ``sim://`` or TCP ports."""
    lines = ["[SETUP]", "pause = 1", "mqtt_broker = 127.0.0.1", f"mqtt_port = {broker}", ""]
    for index, protocol in enumerate(devices):
        port = f"sim://{protocol}" if ports is None else f"tcp://127.0.0.1:{ports[index]}"
        lines += [
            f"[dev{index:03d}]",
            f"protocol = {protocol}",
            f"port = {port}",
            f"command = {'#'.join(COMMANDS[protocol])}",
            f"outputs = {outputs}",
            f"prom_output_dir = {prom}",
            "",
        ]
    path.write_text("\n".join(lines))


def ref_config(
    path: Path, count: int, broker: int, prom: Path, log: Path, outputs: str = "json_mqtt,prom_file"
) -> None:
    """Write the reference's INI: ``count`` PI30 sections on its ``test`` port."""
    lines = [
        "[SETUP]",
        "pause = 1",
        "mqtt_broker = 127.0.0.1",
        f"mqtt_port = {broker}",
        f"log_file = {log}",
        "",
    ]
    for index in range(count):
        lines += [
            f"[dev{index:03d}]",
            "protocol = PI30",
            "port = test",
            "command = QPIGS#QMOD",
            f"outputs = {outputs}",
            f"prom_output_dir = {prom}",
            "",
        ]
    path.write_text("\n".join(lines))


# -- the separate simulator process (ours-tcp) -------------------------------------------------


async def _serve_tcp(mix: str) -> None:
    """Serve one simulator per device on its own TCP port; print the ports; stop on stdin EOF."""
    from mppsolar_lib.simulator import create_simulator  # noqa: PLC0415
    from mppsolar_lib.simulator.serve import serve_tcp  # noqa: PLC0415

    servers = [
        await serve_tcp(create_simulator(protocol, seed=index))
        for index, protocol in enumerate(parse_mix(mix))
    ]
    print(json.dumps([server.port for server in servers]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    for server in servers:
        await server.close()


@contextlib.asynccontextmanager
async def simulator_process(mix: str) -> AsyncIterator[tuple[int, list[int]]]:
    """Run :func:`_serve_tcp` in a child process; yield its pid and the ports."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-tcp",
        mix,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE)
        if not line:
            raise RuntimeError("the simulator process did not start")
        yield process.pid, json.loads(line)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), DEADLINE)
        except TimeoutError:
            process.kill()
            await process.wait()


# -- measuring ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> tuple[float, float]:
    """Return the process's user and system CPU time (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def memory_kib(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM of the process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


@dataclass
class Traffic:
    """What a subscriber to ``#`` saw while counting."""

    counting: bool = False
    messages: int = 0

    def seen(self, topic: str) -> None:
        """Count one reading message (not the retained availability ones)."""
        if self.counting and not topic.startswith("mppsolar/"):
            self.messages += 1


async def subscribe(port: int, traffic: Traffic, ready: asyncio.Event) -> None:
    """Count every message on the broker into ``traffic`` until cancelled."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-subscriber") as client:
        await client.subscribe("#")
        ready.set()
        async for message in client.messages:
            traffic.seen(str(message.topic))


@dataclass
class PromWatch:
    """Each prom file's rewrites (every atomic rewrite brings a new inode and mtime)."""

    counting: bool = False
    versions: dict[str, tuple[int, int]] = field(default_factory=dict)
    rewrites: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Seconds between two rewrites of one file (from the files' mtimes).
    gaps: list[float] = field(default_factory=list)
    mtimes: dict[str, float] = field(default_factory=dict)

    def scan(self, directory: Path) -> None:
        """Look at every ``*.prom`` file once."""
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.endswith(".prom"):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    stat = entry.stat()
                    # Inode numbers are reused once a replaced file is gone: inode and
                    # mtime together tell one version from the next.
                    version = (stat.st_ino, stat.st_mtime_ns)
                    if self.versions.get(entry.name) == version:
                        continue
                    self.versions[entry.name] = version
                    previous = self.mtimes.get(entry.name)
                    self.mtimes[entry.name] = stat.st_mtime
                    if self.counting and previous is not None:
                        self.rewrites[entry.name] += 1
                        self.gaps.append(stat.st_mtime - previous)


async def watch_prom(directory: Path, watch: PromWatch, stop: asyncio.Event) -> None:
    """Scan ``directory`` every 0.1 s until ``stop``."""
    while not stop.is_set():
        watch.scan(directory)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def quantile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (nearest rank); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Result:
    """One daemon's numbers."""

    name: str
    devices: int
    commands: int
    cpu: float = float("nan")  # fraction of one core
    system: float = float("nan")  # the part of it spent in the kernel
    rss_median: float = float("nan")  # MiB
    rss_peak: float = float("nan")  # MiB (VmHWM)
    rate: float = float("nan")  # messages / s
    gap_median: float = float("nan")
    gap_p95: float = float("nan")
    gap_max: float = float("nan")
    prom_files: int = 0
    prom_rate: float = float("nan")  # rewrites per file per second (median over files)
    sim_cpu: float | None = None  # the separate simulator process, fraction of one core
    note: str = ""


async def measure(
    name: str,
    argv: list[str],
    *,
    devices: int,
    commands: int,
    broker: Broker,
    prom: Path,
    warmup: float,
    duration: float,
    logs: Path,
    sim_pid: int | None = None,
    cwd: Path | None = None,
) -> Result:
    """Run ``argv`` (a daemon), warm up, measure for ``duration`` seconds, stop it."""
    result = Result(name, devices, commands)
    for entry in prom.iterdir():
        entry.unlink()
    traffic = Traffic()
    ready = asyncio.Event()
    subscriber = asyncio.create_task(subscribe(broker.port, traffic, ready))
    await asyncio.wait_for(ready.wait(), DEADLINE)
    log = logs / f"{name}.log"
    with log.open("wb") as stream:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=stream, stderr=stream, stdin=asyncio.subprocess.DEVNULL, cwd=cwd
        )
    stop = asyncio.Event()
    watch = PromWatch()
    watcher = asyncio.create_task(watch_prom(prom, watch, stop))
    try:
        await asyncio.sleep(warmup)
        if process.returncode is not None:
            raise RuntimeError(f"{name} exited ({process.returncode}): see {log}")
        pid = process.pid
        traffic.counting = watch.counting = True
        started, (user, system) = time.monotonic(), cpu_seconds(pid)
        sim_cpu = sum(cpu_seconds(sim_pid)) if sim_pid else 0.0
        rss: list[int] = []
        while time.monotonic() - started < duration:
            rss.append(memory_kib(pid)["VmRSS"])
            await asyncio.sleep(1.0)
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}): see {log}")
        elapsed = time.monotonic() - started
        user_end, system_end = cpu_seconds(pid)
        result.cpu = (user_end - user + system_end - system) / elapsed
        result.system = (system_end - system) / elapsed
        if sim_pid:
            result.sim_cpu = (sum(cpu_seconds(sim_pid)) - sim_cpu) / elapsed
        traffic.counting = watch.counting = False
        result.rate = traffic.messages / elapsed
        result.rss_median = statistics.median(rss) / 1024
        result.rss_peak = memory_kib(pid)["VmHWM"] / 1024
        result.gap_median = quantile(watch.gaps, 0.5)
        result.gap_p95 = quantile(watch.gaps, 0.95)
        result.gap_max = max(watch.gaps, default=float("nan"))
        result.prom_files = len(watch.versions)
        if watch.rewrites:
            result.prom_rate = statistics.median(watch.rewrites.values()) / elapsed
    finally:
        stop.set()
        await watcher
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), DEADLINE)
            except TimeoutError:
                process.kill()
                await process.wait()
                result.note = "did not stop on SIGTERM in 60 s (killed)"
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
    return result


# -- the runs -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def broker_on(tmp: Path) -> AsyncIterator[Broker]:
    """Start a private mosquitto on a free loopback port."""
    binary = mosquitto()
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    config = tmp / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\npersistence false\nlog_dest stderr\n"
        f"allow_anonymous true\nmax_queued_messages 100000\n"
    )
    broker = Broker(binary, config, port)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def run(args: argparse.Namespace) -> list[Result]:
    """Run each requested daemon in turn; return their numbers."""
    devices = parse_mix(args.mix)
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder,
        tempfile.TemporaryDirectory(prefix="bench-bridge-prom-", dir=args.prom_parent) as prom_dir,
    ):
        tmp = Path(folder)
        prom = Path(prom_dir)
        async with broker_on(tmp) as broker:
            common = {
                "broker": broker,
                "prom": prom,
                "warmup": args.warmup,
                "duration": args.duration,
                "logs": tmp,
            }
            ours = [sys.executable, "-m", "mppsolar_lib", "daemon", "--spool-dir", str(tmp)]
            for name in args.runs:
                print(f"running {name} …", file=sys.stderr, flush=True)
                config = tmp / f"{name}.conf"
                if name == "ours-sim":
                    our_config(config, devices, None, broker.port, prom, args.outputs)
                    commands = sum(len(COMMANDS[p]) for p in devices)
                    results.append(
                        await measure(
                            name,
                            [*ours, "-C", str(config)],
                            devices=len(devices),
                            commands=commands,
                            **common,
                        )
                    )
                elif name == "ours-tcp":
                    async with simulator_process(args.mix) as (sim_pid, ports):
                        our_config(config, devices, ports, broker.port, prom, args.outputs)
                        commands = sum(len(COMMANDS[p]) for p in devices)
                        results.append(
                            await measure(
                                name,
                                [*ours, "-C", str(config)],
                                devices=len(devices),
                                commands=commands,
                                sim_pid=sim_pid,
                                **common,
                            )
                        )
                elif name == "ours-pi30":
                    pi30 = ["pi30"] * len(devices)
                    our_config(config, pi30, None, broker.port, prom, args.outputs)
                    results.append(
                        await measure(
                            name,
                            [*ours, "-C", str(config)],
                            devices=len(pi30),
                            commands=2 * len(pi30),
                            **common,
                        )
                    )
                elif name == "reference":
                    binary = Path(args.ref_python).parent / "mpp-solar"
                    if not binary.exists():
                        print(f"skipping the reference: no {binary}", file=sys.stderr)
                        continue
                    ref_config(
                        config,
                        len(devices),
                        broker.port,
                        prom,
                        tmp / "reference-own.log",
                        args.outputs,
                    )
                    argv = [
                        str(binary),
                        "-C",
                        str(config),
                        "--daemon",
                        "--pidfile",
                        str(tmp / "reference.pid"),
                    ]
                    results.append(
                        await measure(
                            name,
                            argv,
                            devices=len(devices),
                            commands=2 * len(devices),
                            cwd=tmp,
                            **common,
                        )
                    )
    return results


def file_system(path: str) -> str:
    """Return the type and mount options of the file system ``path`` is on."""
    best = ("", "?", "")
    with Path("/proc/mounts").open() as mounts:
        for line in mounts:
            _, point, kind, options, *_ = line.split()
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best[0]):
                best = (point, kind, options)
    return f"{best[1]} ({best[2]})"


def environment(prom_parent: str) -> str:
    """Describe the machine and its load."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    broker = mosquitto() or "?"
    version = subprocess.run(
        [broker, "-h"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"mppsolar_lib at {revision or '?'}\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}, load average before: {load}\n"
        f"Broker: {version[0] if version else broker}; prom files in {prom_parent}, "
        f"{file_system(str(Path(prom_parent).resolve()))}"
    )


def table(results: list[Result], duration: float) -> None:
    """Print the results."""
    print()
    print(
        f"{'daemon':<10} {'dev':>4} {'cmd/s':>6} {'CPU %':>6} {'sys %':>6} {'RSS MiB':>8} {'peak':>6} "
        f"{'msg/s':>7} {'files':>5} {'rewrites/s':>10} {'gap med':>8} {'p95':>6} {'max':>6}"
    )
    for r in results:
        print(
            f"{r.name:<10} {r.devices:>4} {r.commands:>6} {r.cpu * 100:>6.1f} {r.system * 100:>6.1f} "
            f"{r.rss_median:>8.1f} {r.rss_peak:>6.1f} {r.rate:>7.1f} {r.prom_files:>5} "
            f"{r.prom_rate:>10.2f} {r.gap_median:>7.2f}s {r.gap_p95:>5.2f}s {r.gap_max:>5.2f}s"
        )
    for r in results:
        if r.sim_cpu is not None:
            print(
                f"{r.name}: the separate simulator process used {r.sim_cpu * 100:.1f} % of a core"
            )
        if r.note:
            print(f"{r.name}: {r.note}")
    print()
    print(
        f"Over {duration:g} s after the warm-up. cmd/s: commands configured per second (pause 1); "
        "CPU: of one core (utime + stime, all threads), sys: the stime part; RSS: median of 1 s samples, peak = "
        "VmHWM; msg/s: messages a subscriber to '#' received; rewrites/s: median per prom file; "
        "gap: seconds between two rewrites of one prom file (1 s = the cadence kept)."
    )


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices-mix", "--mix", dest="mix", default=DEFAULT_MIX)
    parser.add_argument(
        "--outputs", default="json_mqtt,prom_file", help="every device's outputs (for profiling)"
    )
    parser.add_argument(
        "--prom-parent",
        default=tempfile.gettempdir(),
        help="where the prom_output_dir is made (its file system matters: try /dev/shm)",
    )
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument(
        "--runs",
        default=",".join(RUNS),
        type=lambda text: [item for item in text.split(",") if item],
        help=f"which daemons, in order (of {', '.join(RUNS)})",
    )
    parser.add_argument(
        "--ref-python", default=str(REF_VENV / "bin" / "python"), help="the reference's venv"
    )
    parser.add_argument("--serve-tcp", metavar="MIX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_tcp:
        asyncio.run(_serve_tcp(args.serve_tcp))
        return
    if unknown := set(args.runs) - set(RUNS):
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    print(environment(args.prom_parent))
    results = asyncio.run(run(args))
    table(results, args.duration)


if __name__ == "__main__":
    main()
