#!/usr/bin/env python3
"""Benchmark: the integration inside a real Home Assistant core, against simulated devices.

Usage: .venv/bin/python bench/bench_integration.py [--cycles N] [--setups M]

Each simulated device (``python -m mppsolar_lib simulate``) runs in a process of its own, so
the measured process does only Home Assistant's side: a PI30 inverter and a Daly BMS on
pseudo-terminals (the real serial transport), a JK BMS behind TCP, a VE.Direct SmartShunt on a
pty. Home Assistant is the core the tests use (``async_test_home_assistant`` of
pytest-homeassistant-custom-component: registries in memory, nothing written), with its real
config entries, loader, entity platforms and state machine.

1. Config entry setup: wall time of ``hass.config_entries.async_setup(entry_id)`` — connect,
   first status and settings poll, entities created and written. The first one also loads the
   integration and its dependencies (Bluetooth): shown apart. Then ``--setups`` unload + setup
   rounds per device (median). Target: < 1 s.
2. Coordinator update: ``time.process_time()`` (the whole process: event loop and executor
   threads) around ``coordinator.async_refresh()``, ``--cycles`` times per device — a status
   poll through the port, decoding, and every entity's state written. Median and p95.
   Target: < 5 ms CPU per device per cycle.

Not a test: numbers depend on the machine.
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# This checkout's custom_components/ (before Home Assistant's loader looks for it).
sys.path.insert(0, str(ROOT))

from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant

import custom_components.mppsolar  # noqa: F401
from custom_components.mppsolar.const import (
    CONF_BAUD,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_HOST,
    CONF_PORT,
    CONF_PROTOCOL,
    DOMAIN,
    Connection,
)
from custom_components.mppsolar.coordinator import MppSolarCoordinator


@dataclass(frozen=True, slots=True)
class Spec:
    """A simulated device and how Home Assistant reaches it."""

    protocol: str
    link: str  # "pty" or "tcp"
    baud: int = 2400


DEVICES = (
    Spec("pi30", "pty", 2400),
    Spec("daly", "pty", 9600),
    Spec("jkpb", "tcp"),
    Spec("ved", "pty", 19200),
)


@contextlib.asynccontextmanager
async def simulator(spec: Spec, folder: Path) -> AsyncIterator[dict[str, Any]]:
    """Serve ``spec``'s simulator in a child process; yield the entry data that reaches it."""
    where = (
        ["--pty", "--link", str(folder / spec.protocol)] if spec.link == "pty" else ["--tcp", "0"]
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mppsolar_lib",
        "simulate",
        "--protocol",
        spec.protocol,
        *where,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        # "simulating a pi30 device on /tmp/…/pi30" or "… on 127.0.0.1:40123"
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        address = line.rsplit(" on ", 1)[-1].strip()
        if not line.startswith("simulating") or not address:
            raise RuntimeError(f"the {spec.protocol} simulator said: {line!r}")
        if spec.link == "pty":
            yield {
                CONF_CONNECTION: Connection.SERIAL,
                CONF_DEVICE: address,
                CONF_BAUD: spec.baud,
                CONF_PROTOCOL: spec.protocol,
            }
        else:
            host, _, port = address.rpartition(":")
            yield {
                CONF_CONNECTION: Connection.TCP,
                CONF_HOST: host,
                CONF_PORT: int(port),
                CONF_PROTOCOL: spec.protocol,
            }
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def setup_seconds(hass: HomeAssistant, entry: MockConfigEntry) -> float:
    """Return the wall time of setting ``entry`` up (it must load)."""
    started = time.perf_counter()
    assert await hass.config_entries.async_setup(entry.entry_id)
    elapsed = time.perf_counter() - started
    assert entry.state is ConfigEntryState.LOADED, entry.state
    await hass.async_block_till_done()
    return elapsed


async def refresh_cpu(coordinator: MppSolarCoordinator, cycles: int) -> tuple[list[float], float]:
    """Return the CPU seconds of each of ``cycles`` refreshes, and their total wall time."""
    samples = []
    started = time.perf_counter()
    for _ in range(cycles):
        cpu = time.process_time()
        await coordinator.async_refresh()
        samples.append(time.process_time() - cpu)
        assert coordinator.last_update_success, coordinator.last_exception
    return samples, time.perf_counter() - started


def p95(values: list[float]) -> float:
    """Return the 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def run(cycles: int, setups: int) -> None:
    """Measure every device; print the tables."""
    rows: list[tuple[str, int, float, float, float, float, float]] = []
    first_setup: tuple[str, float] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-integration-") as tmp:
        async with async_test_home_assistant() as hass:
            # Find this checkout's integration (the test core hides custom integrations).
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            for spec in DEVICES:
                async with simulator(spec, Path(tmp)) as data:
                    entry = MockConfigEntry(
                        domain=DOMAIN, title=spec.protocol, unique_id=spec.protocol, data=data
                    )
                    entry.add_to_hass(hass)
                    elapsed = await setup_seconds(hass, entry)
                    if first_setup is None:
                        first_setup = (spec.protocol, elapsed)
                    times = []
                    for _ in range(setups):
                        assert await hass.config_entries.async_unload(entry.entry_id)
                        times.append(await setup_seconds(hass, entry))
                    coordinator: MppSolarCoordinator = entry.runtime_data
                    registry = er.async_get(hass)
                    entities = sum(
                        hass.states.get(item.entity_id) is not None
                        for item in er.async_entries_for_config_entry(registry, entry.entry_id)
                    )
                    await coordinator.async_refresh()  # warm
                    samples, wall = await refresh_cpu(coordinator, cycles)
                    assert await hass.config_entries.async_unload(entry.entry_id)
                    await hass.config_entries.async_remove(entry.entry_id)
                    rows.append(
                        (
                            spec.protocol + ("/tcp" if spec.link == "tcp" else "/pty"),
                            entities,
                            statistics.median(times),
                            statistics.median(samples),
                            p95(samples),
                            max(samples),
                            wall / cycles,
                        )
                    )
            await hass.async_stop(force=True)

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    if first_setup is not None:
        print(
            f"First entry setup ({first_setup[0]}), loading the integration and its "
            f"dependencies: {first_setup[1] * 1000:.0f} ms"
        )
    print()
    print(
        f"{'device':<10} {'states':>6} {'setup ms':>9} {'CPU/cycle ms':>13} {'p95 ms':>7} "
        f"{'max ms':>7} {'wall/cycle ms':>14}"
    )
    for name, entities, setup, median, high, top, wall in rows:
        print(
            f"{name:<10} {entities:>6} {setup * 1000:>9.0f} {median * 1000:>13.2f} "
            f"{high * 1000:>7.2f} {top * 1000:>7.2f} {wall * 1000:>14.1f}"
        )
    print()
    print(
        f"setup: median of {setups} (unload + setup); CPU: time.process_time() around "
        f"coordinator.async_refresh(), {cycles} cycles; states: entities with a state."
    )


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50, help="refreshes per device")
    parser.add_argument("--setups", type=int, default=5, help="setups per device")
    args = parser.parse_args()
    asyncio.run(run(args.cycles, args.setups))


if __name__ == "__main__":
    main()
