#!/usr/bin/env python3
"""Benchmark: the web UI's Server-Sent Events fan-out and a day of history from PostgreSQL.

Usage: .venv/bin/python bench/bench_web.py [--parts sse,history] [--clients 0,1,50]
       [--inverters 10] [--bms jk02_32:3,daly:2] [--warmup S] [--duration S]
       [--history-devices 5] [--history-seconds 86400] [--repeat 5]

Both parts run the daemon as users do: ``python -m mppsolar_lib daemon -C <ini> --web
127.0.0.1:<port>`` as a process of its own, every device on a ``sim://`` port with ``pause = 1``
(the simulators run inside the daemon, so their cost is counted with it).

**sse** — ``--inverters`` PI30 inverters polled ``QPIGS#QMOD`` and the ``--bms`` BMSs (JK
``getCellData``, Daly ``SOC#cellMinMaxVoltages``), each with the ``prom_file`` output, so one
``reading`` event per device per second. After ``--warmup`` seconds, the same daemon is measured
for ``--duration`` seconds with each count of ``--clients`` connected to ``/stream``. The clients
run in a separate process (aiohttp), so their CPU is not the server's. Per event and client:
the delay from the reading's ``time`` (when the device's last answer of the poll arrived) to its
arrival at the client (median / 95th percentile / maximum over every client); the events each
client received per second; events missed (an event some client got in the window that another
never got) and streams the server ended (a client that fell behind is dropped: it reconnects
with ``Last-Event-ID``). Of the daemon: CPU (utime + stime of /proc/<pid>/stat over the window,
every thread, as % of one core) and RSS (median of 1 s samples). The 0-client row is the
daemon's cost without the fan-out.

**history** — a private PostgreSQL cluster (Debian's ``postgresql``, see
``tests/servers/postgres.py``) and ``--history-devices`` PI30 inverters polled ``QPIGS`` with
the ``postgres`` output. Once the real output has created its table and written a few rows, a
day of 1 Hz readings per device (``--history-seconds`` rows, ending before the daemon started)
is bulk-loaded straight into that table with ``COPY`` — the output's own inserts would take a
day — each row the device's real row with its numbers varied along the day. Then
``GET /api/historical/all?from=<day start>&to=<day end>`` (every device, every key) and
``GET /api/historical?device=<one>&keys=battery_voltage`` over the same day, and both again
with ``step=`` (seconds) giving ``--points`` points per device (a chart's worth): the first request
("cold": the web's database pool not yet open) and the median of ``--repeat`` more; response
size; the daemon's CPU time per request and its peak RSS (VmHWM). Not a test: numbers depend
on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import math
import os
from pathlib import Path
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.mosquitto import free_port  # noqa: E402

#: Seconds a child or a request gets before the benchmark gives up on it.
DEADLINE = 120.0
TICK = os.sysconf("SC_CLK_TCK")
COMMANDS = {
    "pi30": ("QPIGS", "QMOD"),
    "jk02_32": ("getCellData",),
    "daly": ("SOC", "cellMinMaxVoltages"),
}
#: Seconds the clients keep reading after the window, so an event sent at its end reaches all.
GRACE = 2.0


# -- the daemon ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """Return the process's user + system CPU time (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mib(pid: int, key: str = "VmRSS") -> float:
    """Return VmRSS (or VmHWM, the peak) of the process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            return int(rest.split()[0]) / 1024
    return math.nan


def quantile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (nearest rank); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def write_config(path: Path, sections: list[dict[str, str]]) -> None:
    """Write a daemon INI: ``[SETUP] pause = 1`` and one section per device."""
    lines = ["[SETUP]", "pause = 1", ""]
    for section in sections:
        lines.append(f"[{section['name']}]")
        lines += [f"{key} = {value}" for key, value in section.items() if key != "name"]
        lines.append("")
    path.write_text("\n".join(lines))


@dataclass
class Daemon:
    """A running daemon with its web UI."""

    process: asyncio.subprocess.Process
    url: str
    log: Path
    started: float  # wall clock, before it was spawned

    @property
    def pid(self) -> int:
        """Return the daemon's process id."""
        return self.process.pid

    def check(self) -> None:
        """Fail if the daemon has exited."""
        if self.process.returncode is not None:
            raise RuntimeError(f"the daemon exited ({self.process.returncode}): see {self.log}")


@contextlib.asynccontextmanager
async def daemon(config: Path, tmp: Path, devices: int) -> AsyncIterator[Daemon]:
    """Run the daemon with ``--web`` on a free port; yield once every device answered."""
    port = free_port()
    log = tmp / f"{config.stem}.log"
    started = time.time()
    with log.open("wb") as stream:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mppsolar_lib",
            "daemon",
            "-C",
            str(config),
            "--spool-dir",
            str(tmp),
            "--web",
            f"127.0.0.1:{port}",
            stdout=stream,
            stderr=stream,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
    running = Daemon(process, f"http://127.0.0.1:{port}", log, started)
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + DEADLINE
            while True:
                running.check()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon's devices did not all answer: see {log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{running.url}/api/data") as response:
                        data = await response.json()
                        online = [d for d in data["devices"].values() if d["online"]]
                        if len(online) == devices:
                            break
                await asyncio.sleep(0.5)
        yield running
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), DEADLINE)
            except TimeoutError:
                process.kill()
                await process.wait()


# -- the SSE clients (a process of their own) ---------------------------------------------------


@dataclass
class Stream:
    """What one client received: event id -> arrival time, delays, ends."""

    arrivals: dict[int, float] = field(default_factory=dict)
    delays: list[tuple[float, float]] = field(default_factory=list)  # (arrival, delay)
    ended: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)


async def read_stream(session: aiohttp.ClientSession, url: str, stream: Stream) -> None:
    """Read ``/stream`` until cancelled; reconnect with ``Last-Event-ID`` when it ends."""
    last: int | None = None
    while True:
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        async with session.get(
            f"{url}/stream", headers=headers, timeout=aiohttp.ClientTimeout(total=None)
        ) as response:
            ident: int | None = None
            kind = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith(": connected"):
                    stream.connected.set()
                elif line.startswith("id: "):
                    ident = int(line[4:])
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and ident is not None:
                    now = time.time()
                    stream.arrivals[ident] = now
                    last = ident
                    if kind == "reading":
                        stream.delays.append((now, now - json.loads(line[6:])["time"]))
        stream.ended += 1


async def clients_main(url: str, count: int, duration: float) -> None:
    """Connect ``count`` clients; print ``measuring``, then ``done``, then the numbers as JSON."""
    streams = [Stream() for _ in range(count)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(read_stream(session, url, s)) for s in streams]
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in streams)), DEADLINE)
        await asyncio.sleep(2.0)  # every stream past its first events
        cpu = time.process_time()
        print("measuring", flush=True)
        start = time.time()
        await asyncio.sleep(duration)
        end = time.time()
        print("done", flush=True)
        cpu = time.process_time() - cpu
        await asyncio.sleep(GRACE)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    window = {i for s in streams for i, at in s.arrivals.items() if start <= at <= end}
    delays = [d * 1000 for s in streams for at, d in s.delays if start <= at <= end]
    counts = [sum(1 for at in s.arrivals.values() if start <= at <= end) for s in streams]
    missed = [len(window - s.arrivals.keys()) for s in streams]
    print(
        json.dumps(
            {
                "elapsed": end - start,
                "events": len(window),
                "delay": [quantile(delays, 0.5), quantile(delays, 0.95), max(delays, default=0)],
                "delays": len(delays),
                "counts": counts,
                "missed": missed,
                "ended": [s.ended for s in streams],
                "cpu": cpu,
            }
        ),
        flush=True,
    )


@dataclass
class SseResult:
    """One client count's numbers."""

    clients: int
    cpu: float = math.nan  # % of one core
    rss: float = math.nan  # MiB
    events: float = math.nan  # events / s published (seen by any client)
    per_client: float = math.nan  # events / s, median over clients
    per_client_min: float = math.nan
    median: float = math.nan  # delay, ms
    p95: float = math.nan
    worst: float = math.nan
    deliveries: int = 0  # reading events delivered to some client in the window
    missed: int = 0
    ended: int = 0
    client_cpu: float = math.nan  # the client process, % of one core


async def measure_sse(running: Daemon, clients: int, duration: float) -> SseResult:
    """Measure the daemon for ``duration`` seconds with ``clients`` streams open."""
    result = SseResult(clients)
    rss: list[float] = []
    process = None
    if clients:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-clients",
            running.url,
            str(clients),
            str(duration),
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE)
        if line.strip() != b"measuring":
            raise RuntimeError(f"the client process did not start: {line!r}")
    started, cpu = time.monotonic(), cpu_seconds(running.pid)
    if process is None:
        while time.monotonic() - started < duration:
            rss.append(memory_mib(running.pid))
            await asyncio.sleep(1.0)
    else:
        assert process.stdout is not None
        reader = asyncio.create_task(process.stdout.readline())
        while not reader.done():
            rss.append(memory_mib(running.pid))
            await asyncio.wait([reader], timeout=1.0)
    elapsed = time.monotonic() - started
    result.cpu = (cpu_seconds(running.pid) - cpu) / elapsed * 100
    result.rss = statistics.median(rss)
    running.check()
    if process is not None:
        assert process.stdout is not None
        data = json.loads(await asyncio.wait_for(process.stdout.readline(), DEADLINE))
        await asyncio.wait_for(process.wait(), DEADLINE)
        seconds = data["elapsed"]
        result.events = data["events"] / seconds
        result.per_client = statistics.median(data["counts"]) / seconds
        result.per_client_min = min(data["counts"]) / seconds
        result.median, result.p95, result.worst = data["delay"]
        result.deliveries = data["delays"]
        result.missed = sum(data["missed"])
        result.ended = sum(data["ended"])
        result.client_cpu = data["cpu"] / seconds * 100
    return result


async def run_sse(args: argparse.Namespace, tmp: Path) -> list[SseResult]:
    """Run the SSE part: one daemon, measured with each client count in turn."""
    sections = []
    prom = tmp / "prom"
    prom.mkdir()
    kinds = ["pi30"] * args.inverters
    for part in filter(None, args.bms.split(",")):
        protocol, _, count = part.partition(":")
        kinds += [protocol] * int(count)
    for index, protocol in enumerate(kinds):
        sections.append(
            {
                "name": f"{protocol}_{index:02d}",
                "protocol": protocol,
                "port": f"sim://{protocol}",
                "command": "#".join(COMMANDS[protocol]),
                "outputs": "prom_file",
                "prom_output_dir": str(prom),
            }
        )
    config = tmp / "sse.conf"
    write_config(config, sections)
    results = []
    async with daemon(config, tmp, len(sections)) as running:
        print(f"sse: {len(sections)} devices; warming up {args.warmup:g} s", file=sys.stderr)
        await asyncio.sleep(args.warmup)
        for count in args.clients:
            print(f"sse: {count} clients for {args.duration:g} s", file=sys.stderr, flush=True)
            results.append(await measure_sse(running, count, args.duration))
    return results


# -- history from PostgreSQL --------------------------------------------------------------------


@dataclass
class Timing:
    """One request's numbers."""

    name: str
    points: int = 0
    cold: float = math.nan  # s
    warm: float = math.nan  # s, median
    warm_max: float = math.nan
    size: float = math.nan  # MB
    cpu: float = math.nan  # daemon CPU seconds per warm request
    stall: float = math.nan  # s, the longest /api/data answer meanwhile
    errors: str = ""


@dataclass
class HistoryResult:
    """The history part's numbers."""

    devices: int
    rows: int
    fill: float  # s to bulk-load
    timings: list[Timing] = field(default_factory=list)
    rss_before: float = math.nan
    rss_peak: float = math.nan


def varied(template: dict[str, Any], moment: float, rng: random.Random) -> dict[str, Any]:
    """Return ``template`` with its numbers moved along a day (a sun curve and noise)."""
    sun = max(0.0, math.sin((moment % 86_400) / 86_400 * 2 * math.pi - math.pi / 2))
    values: dict[str, Any] = {}
    for key, value in template.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            values[key] = value
        elif isinstance(value, int):
            values[key] = max(0, round(value * (0.5 + sun) + rng.randint(-2, 2)))
        else:
            values[key] = round(value * (0.9 + 0.2 * sun) + rng.uniform(-0.05, 0.05), 2)
    return values


async def fill(url: str, names: list[str], start: int, seconds: int) -> int:
    """Copy ``seconds`` rows per device from ``start`` into the output's table; return rows."""
    import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415 - only this part needs it

    connection = await asyncpg.connect(url)
    try:
        rng = random.Random(8)
        total = 0
        for name in names:
            row = await connection.fetchrow(
                "SELECT command, data::text AS data, units::text AS units FROM mppsolar "
                "WHERE device = $1 ORDER BY updated DESC LIMIT 1",
                name,
            )
            template = json.loads(row["data"])
            records = [
                (
                    name,
                    row["command"],
                    datetime.fromtimestamp(start + second, UTC),
                    json.dumps(varied(template, start + second, rng)),
                    row["units"],
                )
                for second in range(seconds)
            ]
            await connection.copy_records_to_table(
                "mppsolar",
                records=records,
                columns=["device", "command", "updated", "data", "units"],
            )
            total += len(records)
        await connection.execute("ANALYZE mppsolar")
        return total
    finally:
        await connection.close()


async def probe(session: aiohttp.ClientSession, url: str, stalls: list[float]) -> None:
    """GET ``/api/data`` every 0.2 s until cancelled; note each answer's seconds.

    The history is read on the daemon's event loop: while it works, everything else the loop
    does (polling, the streams, other requests) waits as long as these answers do.
    """
    while True:
        started = time.monotonic()
        async with session.get(f"{url}/api/data") as response:
            await response.read()
        stalls.append(time.monotonic() - started)
        await asyncio.sleep(0.2)


async def timed(
    session: aiohttp.ClientSession, base: str, path: str, pid: int, stalls: list[float]
) -> tuple[float, float, int, dict[str, Any]]:
    """GET ``path``; return seconds to the whole body, daemon CPU seconds, bytes and the JSON."""
    prober = asyncio.create_task(probe(session, base, stalls))
    try:
        cpu = cpu_seconds(pid)
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=DEADLINE)
        async with session.get(base + path, timeout=timeout) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        elapsed = time.monotonic() - started
        used = cpu_seconds(pid) - cpu
    finally:
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
    return elapsed, used, len(body), json.loads(body)


def count_points(name: str, data: dict[str, Any]) -> int:
    """Return the points of an answer of ``/api/historical`` or ``/all``."""
    if "devices" in data:
        return sum(len(points) for points in data["devices"].values())
    return len(data["points"])


async def run_history(args: argparse.Namespace, tmp: Path) -> HistoryResult:
    """Run the history part."""
    from tests.servers.postgres import postgres_server  # noqa: PLC0415 - imports pytest

    with postgres_server() as server:
        url = server.url()
        names = [f"inverter_{index}" for index in range(args.history_devices)]
        config = tmp / "history.conf"
        write_config(
            config,
            [
                {
                    "name": name,
                    "protocol": "pi30",
                    "port": "sim://pi30",
                    "command": "QPIGS",
                    "outputs": "postgres",
                    "postgres_url": url,
                }
                for name in names
            ],
        )
        async with daemon(config, tmp, len(names)) as running:
            await asyncio.sleep(3.0)  # the output's first rows are in
            end = math.floor(running.started) - 1
            start = end - args.history_seconds + 1
            print(
                f"history: loading {args.history_seconds} s × {len(names)} devices",
                file=sys.stderr,
                flush=True,
            )
            began = time.monotonic()
            rows = await fill(url, names, start, args.history_seconds)
            result = HistoryResult(len(names), rows, time.monotonic() - began)
            result.rss_before = memory_mib(running.pid)
            span = f"from={start}&to={end + 0.5}"
            requests = [
                (f"/api/historical/all ({len(names)} devices)", f"/api/historical/all?{span}"),
                (
                    "/api/historical (1 device, battery_voltage)",
                    f"/api/historical?device={names[0]}&keys=battery_voltage&{span}",
                ),
                (
                    "/api/historical (1 device, every key)",
                    f"/api/historical?device={names[0]}&{span}",
                ),
            ]
            step = args.history_seconds / args.points
            requests += [
                (
                    f"/api/historical/all step={step:g} s",
                    f"/api/historical/all?{span}&step={step:g}",
                ),
                (
                    f"/api/historical (1 device, every key) step={step:g} s",
                    f"/api/historical?device={names[0]}&{span}&step={step:g}",
                ),
            ]
            async with aiohttp.ClientSession() as session:
                for name, path in requests:
                    print(f"history: {name}", file=sys.stderr, flush=True)
                    timing = Timing(name)
                    stalls: list[float] = []
                    seconds, _, size, data = await timed(
                        session, running.url, path, running.pid, stalls
                    )
                    timing.cold, timing.size = seconds, size / 1e6
                    timing.points = count_points(name, data)
                    timing.errors = json.dumps(data.get("errors", "")) if "errors" in data else ""
                    warm, cpu = [], []
                    for _ in range(args.repeat):
                        seconds, used, _, _ = await timed(
                            session, running.url, path, running.pid, stalls
                        )
                        warm.append(seconds)
                        cpu.append(used)
                    timing.warm = statistics.median(warm)
                    timing.warm_max = max(warm)
                    timing.cpu = statistics.median(cpu)
                    timing.stall = max(stalls)
                    result.timings.append(timing)
                    running.check()
            result.rss_peak = memory_mib(running.pid, "VmHWM")
    return result


# -- report -------------------------------------------------------------------------------------


def environment() -> str:
    """Describe the machine and its load."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    ci = subprocess.run(["pgrep", "-f", "ci-clone"], capture_output=True, check=False)
    return (
        f"mppsolar_lib at {revision or '?'}\n"
        f"Machine: {platform.machine()} {model}, {os.cpu_count()} CPUs, Linux "
        f"{platform.release()}, Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
        f"\nLoad average before: {load}; CI run active: {'yes' if ci.stdout.strip() else 'no'}"
    )


def print_sse(results: list[SseResult], args: argparse.Namespace) -> None:
    """Print the SSE table."""
    print()
    print(f"SSE fan-out, {args.duration:g} s per row")
    print(
        f"{'clients':>7} {'CPU %':>6} {'RSS MiB':>8} {'events/s':>8} {'per client':>10} "
        f"{'min':>6} {'delay med':>9} {'p95':>7} {'max':>7} {'missed':>6} {'ended':>5} "
        f"{'client CPU %':>12} {'deliveries':>10}"
    )
    for r in results:
        print(
            f"{r.clients:>7} {r.cpu:>6.1f} {r.rss:>8.1f} {r.events:>8.2f} {r.per_client:>10.2f} "
            f"{r.per_client_min:>6.2f} {r.median:>7.1f}ms {r.p95:>5.1f}ms {r.worst:>5.1f}ms "
            f"{r.missed:>6} {r.ended:>5} {r.client_cpu:>12.1f} {r.deliveries:>10}"
        )
    print(
        "CPU: the daemon's (simulators included), % of one core; events/s: distinct events in "
        "the window; per client: median (min) over clients; delay: reading time -> arrival at a "
        "client, over every client's events; missed: events some client got and another never "
        "did; ended: streams the server closed (client too slow); deliveries: reading events "
        "received by all clients in the window (the delays' sample)."
    )


def print_history(result: HistoryResult) -> None:
    """Print the history table."""
    print()
    print(
        f"History from PostgreSQL: {result.devices} devices × {result.rows // result.devices} "
        f"QPIGS rows ({result.rows} rows, bulk-loaded in {result.fill:.1f} s)"
    )
    print(
        f"{'request':<52} {'points':>7} {'cold s':>7} {'warm s':>7} {'max':>6} {'MB':>7} "
        f"{'CPU s/req':>9} {'stall s':>7}"
    )
    for t in result.timings:
        print(
            f"{t.name:<52} {t.points:>7} {t.cold:>7.2f} {t.warm:>7.2f} {t.warm_max:>6.2f} "
            f"{t.size:>7.1f} {t.cpu:>9.2f} {t.stall:>7.2f}"
        )
        if t.errors:
            print(f"  errors: {t.errors}")
    print(
        f"Daemon RSS before the requests {result.rss_before:.0f} MiB, peak (VmHWM) "
        f"{result.rss_peak:.0f} MiB. cold: first request (the web's database pool not open yet); "
        "warm: median (max) of the repeats; CPU: the daemon's per warm request (median); stall: "
        "the longest a /api/data request (sent every 0.2 s meanwhile) waited: the daemon's "
        "event loop (polling, streams) is held that long."
    )


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="sse,history")
    parser.add_argument(
        "--clients",
        default=[0, 1, 50],
        type=lambda text: [int(item) for item in text.split(",") if item],
        help="client counts measured in turn (default 0,1,50)",
    )
    parser.add_argument("--inverters", type=int, default=10, help="PI30 QPIGS#QMOD devices")
    parser.add_argument("--bms", default="jk02_32:3,daly:2", help="BMSs as protocol:count,…")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per client count")
    parser.add_argument("--history-devices", type=int, default=5)
    parser.add_argument("--history-seconds", type=int, default=86_400, help="rows per device")
    parser.add_argument("--repeat", type=int, default=5, help="warm requests of each kind")
    parser.add_argument(
        "--points", type=int, default=1000, help="points per device of the step= requests"
    )
    parser.add_argument(
        "--serve-clients", nargs=3, metavar=("URL", "N", "S"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_clients:
        url, count, duration = args.serve_clients
        asyncio.run(clients_main(url, int(count), float(duration)))
        return
    parts = set(filter(None, args.parts.split(",")))
    if unknown := parts - {"sse", "history"}:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    print(environment(), flush=True)

    async def both() -> tuple[list[SseResult], HistoryResult | None]:
        with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
            tmp = Path(folder)
            sse_results = await run_sse(args, tmp) if "sse" in parts else []
            history = await run_history(args, tmp) if "history" in parts else None
            return sse_results, history

    sse_results, history = asyncio.run(both())
    if sse_results:
        print_sse(sse_results, args)
    if history is not None:
        print_history(history)
    print(f"\nLoad average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
