"""Daly BMSs through the retrying Device: a status poll asks for exactly the cells there are.

A Daly BMS sends cell voltages (temperatures) in numbered frames of 3 (7) values. Asked without a
count, the answer ends after the first frame whose last value is padding; a pack whose last frame
is full, on firmware that sends no padding frame after it, never ends that way and the read waits
for the transport's timeout. ``Device.get_status`` therefore polls the per-cell commands counted
by the ``status`` answer (``cellVoltages13``; ``Protocol.status_request``). The far end is the
Daly simulator, in process and served on a real pseudo-terminal (the serial transport end to
end); ``padding=False`` makes it such a firmware. Every poll runs with a timeout far longer than
its hang guard: a poll that waited for a timeout would trip the guard instead of passing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
import contextlib
from typing import Any, TypeVar

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Result
from mppsolar_lib.simulator.daly import STATUS, DalySimulator
from mppsolar_lib.simulator.serve import serve_pty
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.base import Transport
from mppsolar_lib.transports.simulated import SimulatedTransport

T = TypeVar("T")

DALY = get_protocol("daly")
#: The timeout the polls run with, and the guard that ends a test long before it.
TIMEOUT = 30.0
GUARD = 5.0
#: (cells, temperature sensors, padding frames): a pack the plain commands read fine, and one
#: whose last frames are full on firmware without padding (the plain commands time out).
PACKS = {
    "13 cells, 2 sensors": (13, 2, True),
    "15 cells, 7 sensors, no padding": (15, 7, False),
}


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await with the hang guard: far shorter than TIMEOUT, so no wait for it goes unnoticed."""
    return await asyncio.wait_for(awaitable, GUARD)


@contextlib.asynccontextmanager
async def linked(kind: str, simulator: DalySimulator) -> AsyncIterator[Transport]:
    """Yield a transport to ``simulator``: in process, or over a served pseudo-terminal."""
    if kind == "sim":
        yield SimulatedTransport(simulator)
        return
    server = await serve_pty(simulator)
    transport = open_transport(server.path)
    try:
        yield transport
    finally:
        await transport.close()
        await guarded(server.close())


def assert_pack(batch: dict[str, Result], cells: int, sensors: int) -> None:
    """Every cell and sensor is reported, nothing past them."""
    voltages = batch["cellVoltages"]
    assert voltages["cell_count"] == cells
    assert all(voltages[f"cell_{i:02d}_voltage"] > 3.0 for i in range(1, cells + 1))  # type: ignore[operator]
    assert f"cell_{cells + 1:02d}_voltage" not in voltages
    temperatures = batch["cellTemperatures"]
    assert temperatures["temperature_sensor_count"] == sensors
    assert all(f"cell_{i:02d}_temperature" in temperatures for i in range(1, sensors + 1))
    assert f"cell_{sensors + 1:02d}_temperature" not in temperatures
    balancing = batch["cellBalanceState"]
    assert f"cell_{cells:02d}_balancing" in balancing
    assert f"cell_{cells + 1:02d}_balancing" not in balancing


@pytest.mark.parametrize("kind", ["sim", "pty"])
@pytest.mark.parametrize("pack", list(PACKS))
async def test_get_status_reports_every_cell_without_waiting_for_a_timeout(
    kind: str, pack: str
) -> None:
    """All cells and sensors, no error, and no read left waiting for a frame that never comes."""
    cells, sensors, padding = PACKS[pack]
    simulator = DalySimulator(cells=cells, sensors=sensors, padding=padding, seed=1)
    async with linked(kind, simulator) as transport:
        device = Device(transport, "daly", timeout=TIMEOUT)
        batch = await guarded(device.get_status())
        again = await guarded(device.get_status())
    assert batch.errors == {} and again.errors == {}
    assert list(batch) == list(DALY.status_commands)
    assert batch["status"]["number_of_cells"] == cells
    assert_pack(batch, cells, sensors)
    assert_pack(again, cells, sensors)


async def test_the_plain_commands_would_wait_for_the_timeout() -> None:
    """What the counted poll avoids: without a count, a full last frame leaves the read open."""
    simulator = DalySimulator(cells=15, sensors=7, padding=False, seed=1)
    device = Device(SimulatedTransport(simulator), "daly", timeout=0.05, attempts=1)
    for command in ("cellVoltages", "cellTemperatures"):
        with pytest.raises(DeviceTimeoutError, match="no valid answer after 1 attempt"):
            await guarded(device.command(command))
    assert (await guarded(device.command("cellVoltages15")))["cell_count"] == 15
    assert (await guarded(device.command("cellTemperatures7")))["temperature_sensor_count"] == 7


@pytest.mark.parametrize("protocol_id", ["daly", "daly40"])
async def test_both_host_addresses_poll_counted(protocol_id: str) -> None:
    """daly40 (host address 0x40) inherits the counted poll."""
    simulator = DalySimulator(protocol_id, cells=12, sensors=7, padding=False, seed=2)
    device = Device(SimulatedTransport(simulator), protocol_id, timeout=TIMEOUT)
    batch = await guarded(device.get_status())
    assert batch.errors == {}
    assert_pack(batch, 12, 7)


class LosesStatus(DalySimulator):
    """A BMS whose answers to the ``status`` request get lost once :attr:`mute` is set."""

    def __init__(self, **options: Any) -> None:
        """Answer everything until muted."""
        super().__init__(**options)
        self.mute = False

    def handle(self, request: bytes) -> bytes | None:
        """Stay silent to ``status`` while muted."""
        if self.mute and request[2:3] == bytes((STATUS,)):
            return None
        return super().handle(request)


async def test_the_last_polls_counts_serve_when_status_is_lost() -> None:
    """A poll whose ``status`` answer is lost still counts the cells, from the last poll."""
    simulator = LosesStatus(cells=15, sensors=7, padding=False, seed=1)
    # A short timeout: the lost status costs one; any other wait would be an error too.
    device = Device(SimulatedTransport(simulator), "daly", timeout=0.2, attempts=1)
    first = await guarded(device.get_status())
    assert first.errors == {}
    simulator.mute = True
    second = await guarded(device.get_status())
    assert list(second.errors) == ["status"]
    assert isinstance(second.errors["status"], DeviceTimeoutError)
    assert_pack(second, 15, 7)


async def test_a_first_poll_without_status_sends_the_commands_as_listed() -> None:
    """No ``status`` answer ever: the per-cell commands go uncounted (padding ends them)."""
    simulator = LosesStatus(cells=13, sensors=2, seed=1)
    simulator.mute = True
    device = Device(SimulatedTransport(simulator), "daly", timeout=0.2, attempts=1)
    batch = await guarded(device.get_status())
    assert list(batch.errors) == ["status"]
    # Uncounted: read up to the first frame ending in padding (5 of 3), its padding listed.
    voltages = batch["cellVoltages"]
    assert (voltages["cell_14_voltage"], voltages["cell_15_voltage"]) == (0.0, 0.0)
    assert voltages["cell_count"] == 13


def test_status_request_hook() -> None:
    """The default sends the status command itself; Daly counts the per-cell ones."""
    pi30 = get_protocol("pi30")
    assert pi30.status_request("QPIGS", {}) == "QPIGS"
    assert pi30.answer_time("QPIGS") == 0.0
    simulator = DalySimulator(cells=13, sensors=2, seed=1)
    answer = simulator.handle(DALY.build_request("status"))
    assert answer is not None
    status = DALY.decode("status", answer)
    answers = {"status": status}
    assert DALY.status_request("cellVoltages", answers) == "cellVoltages13"
    assert DALY.status_request("cellTemperatures", answers) == "cellTemperatures2"
    assert DALY.status_request("cellBalanceState", answers) == "cellBalanceState13"
    assert DALY.status_request("SOC", answers) == "SOC"
    assert DALY.status_request("cellVoltages", {}) == "cellVoltages"
    assert DALY.answer_time("cellVoltages13") == 0.0
