#!/usr/bin/env python3
"""Benchmark: a command through a port, and the command line, mppsolar_lib beside the reference.

Usage: python bench/bench_device.py [--number N] [--ref-number M] [--runs R] [--ref-python PATH]

A PI30 simulator is served over a real pseudo-terminal by ``mppsolar_lib.simulator.serve`` in
a separate process, so the measured process only does the client side. Then:

1. Per command: N ``QPIGS`` through our ``Device`` + serial transport (build, exchange, decode),
   and M through the reference's own serial I/O class (``SerialIO.process_command``, with its
   fixed sleeps: as its users experience it) on the same pty. Beside them, the simulator's own
   ``handle`` time and a bare blocking write/read round trip on the pty (the floor any client
   pays for the pty and the serving process).
2. Command line cold start on the built-in simulators: ``mppsolar -p sim -c QPIGS`` (this tree,
   installed afresh as a wheel into ~/.cache/mppsolar/lib-venv) and the reference's
   ``mpp-solar -p test -c QPIGS``: wall time and peak RSS of R runs each,
   interleaved, bytecode caches warm; ``python -c pass`` in each venv shows what the interpreter
   start alone costs there.
3. Both command lines polling the simulated pty: ``-p /dev/pts/N -c QPIGS``.

The reference (PyPI ``mppsolar==0.16.56``) runs in a throwaway venv under
~/.cache/mppsolar/ref-venv (created on first use) or the Python given with ``--ref-python``.
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator, Sequence
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty

from bench_protocols import REF_VENV, ref_python

from mppsolar_lib.device import Device
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import serve_pty
from mppsolar_lib.transports import open_transport

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "QPIGS"
#: A field every decoded QPIGS answer has: proves each side really decoded the answer.
FIELD = "battery_voltage"
#: The same field as the reference's I/O classes name it (its CLI prints it lowercased).
REF_FIELD = "Battery Voltage"
WARMUP = 5
#: Longest wait for one answer or one child process before the benchmark gives up.
DEADLINE = 30.0
#: GNU time, which measures a child's peak RSS from a process of its own.
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")

HANDLE = "Simulator.handle alone"
BARE = "bare write + read on the pty (floor)"
OURS = "mppsolar_lib Device + serial transport"
THEIRS = "reference SerialIO.process_command"

REF_SCRIPT = r"""
import json, logging, sys, time
logging.disable(logging.CRITICAL)
from mppsolar.inout.serialio import SerialIO
from mppsolar.protocols.pi30 import pi30
path, command, field, number, warmup = sys.argv[1:6]
port, protocol, times = SerialIO(device_path=path, serial_baud=2400), pi30(), []
for index in range(int(warmup) + int(number)):
    start = time.perf_counter()
    result = port.process_command(command, protocol)
    elapsed = time.perf_counter() - start
    if field not in result:
        sys.exit(f"the reference got no {field}: {result}")
    if index >= int(warmup):
        times.append(elapsed)
print(json.dumps(times))
"""


@dataclass
class Stats:
    """Median, 95th percentile and minimum of a sample, in seconds."""

    median: float
    p95: float
    minimum: float
    count: int

    @classmethod
    def of(cls, sample: Sequence[float]) -> Stats:
        """Summarise ``sample`` (at least two values)."""
        return cls(
            statistics.median(sample),
            statistics.quantiles(sample, n=100, method="inclusive")[94],
            min(sample),
            len(sample),
        )


# -- the simulated device, in its own process ---------------------------------------------------


async def _serve() -> None:
    """Serve a PI30 simulator on a pty, print its path, and stop when stdin closes."""
    async with await serve_pty(create_simulator("pi30", seed=1)) as server:
        print(server.path, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


@contextlib.contextmanager
def served_pty() -> Iterator[str]:
    """Run the simulator's pty server in a child process; yield the pty's path."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-pty"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], DEADLINE)
        path = server.stdout.readline().strip() if ready else ""
        if not path:
            raise RuntimeError("the pty server did not start")
        yield path
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- 1. per command -----------------------------------------------------------------------------


async def _ours(path: str, number: int) -> list[float]:
    """Time ``number`` commands through our Device and serial transport."""
    times = []
    async with Device(open_transport(path), "pi30") as device:
        for index in range(WARMUP + number):
            start = time.perf_counter()
            result = await device.command(COMMAND)
            elapsed = time.perf_counter() - start
            if FIELD not in result:
                raise RuntimeError(f"no {FIELD} in {result}")
            if index >= WARMUP:
                times.append(elapsed)
    return times


def ours_per_command(path: str, number: int) -> list[float]:
    """Seconds per command through our Device over the pty at ``path``."""
    return asyncio.run(_ours(path, number))


def bare_round_trip(path: str, number: int) -> list[float]:
    """Seconds per blocking write + read-to-CR on the pty: no framework, no decoding."""
    request = create_simulator("pi30").protocol.build_request(COMMAND)
    times = []
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        for index in range(WARMUP + number):
            start = time.perf_counter()
            os.write(fd, request)
            answer = b""
            while not answer.endswith(b"\r"):
                if not select.select([fd], [], [], DEADLINE)[0]:
                    raise RuntimeError(f"no answer on {path}")
                answer += os.read(fd, 4096)
            elapsed = time.perf_counter() - start
            if index >= WARMUP:
                times.append(elapsed)
    finally:
        os.close(fd)
    return times


def handle_time(number: int) -> list[float]:
    """Seconds per ``Simulator.handle`` of the request, in this process."""
    simulator = create_simulator("pi30", seed=1)
    request = simulator.protocol.build_request(COMMAND)
    times = []
    for index in range(WARMUP + number):
        start = time.perf_counter()
        simulator.handle(request)
        elapsed = time.perf_counter() - start
        if index >= WARMUP:
            times.append(elapsed)
    return times


def ref_per_command(python: str, path: str, number: int) -> list[float]:
    """Seconds per command through the reference's SerialIO over the pty at ``path``."""
    proc = subprocess.run(
        [python, "-c", REF_SCRIPT, path, COMMAND, REF_FIELD, str(number), str(WARMUP)],
        check=False,
        capture_output=True,
        text=True,
        timeout=DEADLINE + number,
    )
    if proc.returncode:
        raise RuntimeError(f"the reference's SerialIO failed:\n{proc.stderr[-2000:]}")
    times: list[float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return times


# -- 2. and 3. command lines --------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """Return this environment with bytecode writing allowed, so caches stay warm."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


#: Our package installed as a user gets it (a wheel, not the editable development install).
LIB_VENV = REF_VENV.with_name("lib-venv")


def installed_cli() -> list[str]:
    """Return our ``mppsolar`` console script from a fresh non-editable install of this tree.

    The reference runs from a plain venv; ours does too, on the same interpreter as this
    script, so neither pays for an editable install's import hooks or a big development venv.
    The working tree is reinstalled on every run (with serialx, for polling the pty).
    """
    python = LIB_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LIB_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"{ROOT}[serial]"], check=True, cwd=ROOT)
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(ROOT)], check=True, cwd=ROOT)
    return [str(LIB_VENV / "bin" / "mppsolar")]


def ref_cli(python: str) -> list[str]:
    """Return the argv that starts the reference's ``mpp-solar`` console script."""
    script = Path(python).parent / "mpp-solar"
    if script.exists():
        return [str(script)]
    return [python, "-c", "import sys; from mppsolar import main; sys.exit(main())"]


def run_once(argv: Sequence[str]) -> tuple[float, int | None]:
    """Run ``argv`` to completion; return wall seconds and peak RSS in KiB (if measurable).

    The peak RSS comes from GNU time: a child forked from this (larger) process would report
    this process's RSS as its own peak (Linux carries it over the exec), so ``wait4`` cannot.
    """
    with tempfile.NamedTemporaryFile("r") as report:
        wrapper = [GNU_TIME, "-f", "%M", "-o", report.name] if GNU_TIME else []
        start = time.perf_counter()
        child = subprocess.Popen(
            [*wrapper, *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=child_env(),
            cwd=ROOT,
            start_new_session=True,
        )
        # A blocking wait: Popen.wait(timeout) polls with sleeps of up to 50 ms, which would
        # round every time up. The watchdog ends a child that hangs (with GNU time's child).
        watchdog = threading.Timer(DEADLINE, os.killpg, (child.pid, signal.SIGKILL))
        watchdog.start()
        try:
            returncode = child.wait()
        finally:
            watchdog.cancel()
        elapsed = time.perf_counter() - start
        if returncode:
            raise RuntimeError(f"{' '.join(argv)} exited with {returncode}")
        peak = int(report.read().split()[-1]) if GNU_TIME else None
    return elapsed, peak


def check_output(argv: Sequence[str]) -> None:
    """Run ``argv`` once (this also writes its bytecode caches); check it decoded the command."""
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=DEADLINE,
        check=False,
    )
    if proc.returncode or (COMMAND in argv and FIELD not in proc.stdout):
        raise RuntimeError(
            f"{' '.join(argv)} printed no {FIELD} (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )


def time_commands(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[Stats, int | None]]:
    """Time each command line ``runs`` times, interleaved; return wall stats and peak RSS."""
    for argv in commands.values():
        check_output(argv)
        check_output(argv)
    times: dict[str, list[float]] = {label: [] for label in commands}
    rss: dict[str, int | None] = dict.fromkeys(commands)
    for _ in range(runs):
        for label, argv in commands.items():
            elapsed, peak = run_once(argv)
            times[label].append(elapsed)
            if peak is not None:
                rss[label] = max(rss[label] or 0, peak)
    return {label: (Stats.of(times[label]), rss[label]) for label in commands}


# -- report -------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    """Format seconds as milliseconds."""
    return f"{seconds * 1e3:9.3f}" if seconds < 0.1 else f"{seconds * 1e3:9.1f}"


def describe(python: str) -> str:
    """Say which interpreter ``python`` is."""
    proc = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"Python {proc.stdout.strip()}"


def machine() -> str:
    """Name this machine's processor, core count and kernel."""
    model = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def print_per_command(rows: dict[str, Stats]) -> None:
    """Print the per-command table and our overhead."""
    print(f"\n1. One {COMMAND} over a pty, instant simulator in another process (ms per command)")
    print(f"{'':42} {'median':>9} {'p95':>9} {'n':>5}")
    for label, stats in rows.items():
        print(f"{label:42} {ms(stats.median)} {ms(stats.p95)} {stats.count:5}")
    handle, bare = rows[HANDLE].median, rows[BARE].median
    mine, theirs = rows[OURS].median, rows[THEIRS].median
    print(
        f"our overhead: {ms(mine - handle).strip()} ms median over Simulator.handle (target ≤ 1 ms),"
        f" {ms(mine - bare).strip()} ms over the bare round trip;"
        f" the reference takes {theirs / mine:.0f}× as long"
    )


def print_command_lines(
    title: str, table: dict[str, tuple[Stats, int | None]], baselines: dict[str, str]
) -> None:
    """Print a command-line table; ``baselines`` maps a row to the interpreter row it runs on."""
    print(f"\n{title} ({next(iter(table.values()))[0].count} runs each)")
    extra = "beyond python" if baselines else ""
    print(f"{'':28} {'median ms':>10} {'p95 ms':>9} {'min ms':>9} {'peak RSS MiB':>13} {extra:>14}")
    for label, (stats, peak) in table.items():
        memory = "n/a" if peak is None else f"{peak / 1024:.1f}"
        beyond = ""
        if label in baselines:
            beyond = ms(stats.median - table[baselines[label]][0].median)
        print(
            f"{label:28} {ms(stats.median):>10} {ms(stats.p95)} {ms(stats.minimum)}"
            f" {memory:>13} {beyond:>14}"
        )


def main() -> int:
    """Run the three benchmarks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=500, help="our commands per measurement")
    parser.add_argument("--ref-number", type=int, default=30, help="the reference's commands")
    parser.add_argument("--runs", type=int, default=15, help="runs of each command line")
    parser.add_argument("--ref-python", help="a Python that has mppsolar installed")
    parser.add_argument("--serve-pty", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_pty:
        asyncio.run(_serve())
        return 0
    if min(args.number, args.ref_number, args.runs) < 2:
        parser.error("--number, --ref-number and --runs must be at least 2")

    python = ref_python(args.ref_python)
    ours_cli = installed_cli()
    theirs_cli = ref_cli(python)
    print(
        f"{time.strftime('%Y-%m-%d')}; {machine()}; ours on Python {platform.python_version()},"
        f" reference mppsolar 0.16.56 on {describe(python)}"
        f"{'' if GNU_TIME else '; peak RSS needs /usr/bin/time'}"
    )

    with served_pty() as path:
        per_command = {
            HANDLE: Stats.of(handle_time(args.number)),
            BARE: Stats.of(bare_round_trip(path, args.number)),
            OURS: Stats.of(ours_per_command(path, args.number)),
            THEIRS: Stats.of(ref_per_command(python, path, args.ref_number)),
        }
        polled = time_commands(
            {
                "mppsolar_lib": [*ours_cli, "-p", path, "-c", COMMAND],
                # The reference takes /dev/pts/N for no port type of its own: say "serial".
                "reference": [
                    *theirs_cli,
                    *("-p", path, "--porttype", "serial", "-P", "pi30", "-c", COMMAND),
                ],
            },
            args.runs,
        )
    cold = time_commands(
        {
            "python -c pass (ours)": [str(LIB_VENV / "bin" / "python"), "-c", "pass"],
            "python -c pass (reference)": [python, "-c", "pass"],
            "mppsolar_lib": [*ours_cli, "-p", "sim", "-c", COMMAND],
            "reference": [*theirs_cli, "-p", "test", "-c", COMMAND],
        },
        args.runs,
    )

    print_per_command(per_command)
    print_command_lines(
        f"2. Command line cold start on the built-in simulator, -c {COMMAND}",
        cold,
        {"mppsolar_lib": "python -c pass (ours)", "reference": "python -c pass (reference)"},
    )
    print_command_lines(f"3. Command line polling the pty, -c {COMMAND}", polled, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
