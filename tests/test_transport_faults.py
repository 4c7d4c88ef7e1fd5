"""The fault matrix: every injected fault over every kind of link, through the retrying Device.

Each link is the real transport against a simulator served the way a real device is reached:

* ``serial``: a PI30 inverter on a pseudo-terminal (``PtyServer``), opened by path through
  ``open_transport`` (serialx), behind a symlink that follows the pty across a hang-up;
* ``serial-daly``: a Daly BMS on a pty, the same way;
* ``tcp``: a PI30 inverter behind ``TcpServer``, as a serial-over-IP gateway;
* ``hidraw``: a PI30 inverter behind ``SimulatedHidDevice`` (SOCK_SEQPACKET, 8-byte reports)
  and ``HidrawTransport``;
* ``ble-daly`` and ``ble-jk``: a Daly and a JK BMS behind ``SimulatedBleDevice`` (the bleak
  client boundary) and ``BleTransport``.

For each fault (silence, garbage, CRC, truncation, a stale answer, a dropped link, an answer
later than the timeout): one occurrence costs a retry and the Device still returns what the
simulator reports, and the link works afterwards; the fault on every attempt ends in the typed
error of :mod:`mppsolar_lib.errors` that names each attempt, within the retry budget. Faults are
scripted (``FaultySimulator.inject``), so each test sees exactly the faults it names. Every await
is bounded by ``asyncio.wait_for`` so that nothing can hang; a test that fails with any other
exception type found a leak.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import (
    CRCError,
    DeviceTimeoutError,
    FrameError,
    MppSolarError,
    TransportError,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Result, Value
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice
from mppsolar_lib.simulator.faults import Fault, Faults, FaultySimulator
from mppsolar_lib.simulator.hid import SimulatedHidDevice
from mppsolar_lib.simulator.serve import PtyServer, TcpServer
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.ble import model_for

T = TypeVar("T")

#: Per exchange: generous for answers from the same process, short enough to run in seconds.
TIMEOUT = 0.2
ATTEMPTS = 3
#: A late answer that still comes within the retry budget (3 attempts take about 0.7 s); and one
#: that comes after the whole budget.
LATE_BY = TIMEOUT * 1.5
LATER = 1.5
#: No test may take longer than this (a hang guard, not a timed assertion).
GUARD = 20.0
#: A fixed clock: the values a simulator reports do not move while a test runs.
NOON = 1_699_963_200.0

LINKS = ("serial", "serial-daly", "tcp", "hidraw", "ble-daly", "ble-jk")
FAULTS = ("silence", "garbage", "crc", "truncate", "stale", "disconnect", "late")


async def bounded(awaitable: Awaitable[T], seconds: float = GUARD) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


class Counting(Simulator):
    """A simulator that counts the requests it hears (to check the retry budget)."""

    def __init__(self, inner: Simulator) -> None:
        """Wrap ``inner``."""
        super().__init__(inner.protocol.id, clock=inner.clock)
        self.inner = inner
        self.stream_interval = inner.stream_interval
        self.heard: list[bytes] = []

    def handle(self, request: bytes) -> bytes | None:
        """Count, then let the device answer."""
        self.heard.append(request)
        return self.inner.handle(request)

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split as the device does."""
        return self.inner.split_requests(buffer)

    def asked(self, command: str) -> int:
        """Return how many times ``command`` was heard (as the device cuts requests out)."""
        (request,), _ = self.split_requests(self.protocol.build_request(command))
        return self.heard.count(request)


@dataclass(frozen=True)
class Family:
    """What a link carries: the protocol, a command to poll and what the simulator reports."""

    protocol: str
    #: Asked first, so that a stale answer is another command's.
    warmup: str
    command: str
    #: Values of ``command``'s answer that the simulator reports at NOON.
    expected: Mapping[str, Value]


def simulator(protocol: str) -> Simulator:
    """Return a seeded simulator on the fixed clock."""
    options: dict[str, Any] = {"seed": 3, "clock": lambda: NOON}
    if protocol.startswith("pi"):
        options["utc_offset"] = 0
    return create_simulator(protocol, **options)


def reported(protocol: str, command: str, keys: tuple[str, ...]) -> dict[str, Value]:
    """Return what a twin simulator answers to ``command``, for ``keys``."""
    twin = simulator(protocol)
    codec = get_protocol(protocol)
    answer = twin.handle(codec.build_request(command))
    assert answer is not None
    result = codec.decode(command, answer)
    return {key: result[key] for key in keys}


PI30 = Family(
    "pi30",
    "QPI",
    "QPIGS",
    reported("pi30", "QPIGS", ("battery_voltage", "battery_capacity", "pv_input_power")),
)
DALY = Family("daly", "mosStatus", "SOC", reported("daly", "SOC", ("soc", "battery_bank_voltage")))
JK = Family(
    "jk02",
    "getInfo",
    "getCellData",
    reported("jk02", "getCellData", ("record_type", "voltage_cell01", "voltage_cell16")),
)
FAMILIES = {
    "serial": PI30,
    "serial-daly": DALY,
    "tcp": PI30,
    "hidraw": PI30,
    "ble-daly": DALY,
    "ble-jk": JK,
}


@dataclass
class Link:
    """A Device over one kind of link, and the simulator at its far end."""

    device: Device
    family: Family
    faulty: FaultySimulator
    counter: Counting
    #: Tells one connection from the next (the pty's path, the HID opens, the BLE connections;
    #: None over TCP).
    connection: Callable[[], object]
    #: The Bluetooth device, whose every connection starts with the model's handshake.
    ble: SimulatedBleDevice | None = None

    def mark(self) -> tuple[int, int]:
        """Note how often the polled command was heard, and the connections made, so far."""
        return self.counter.asked(self.family.command), self.ble.connections if self.ble else 0

    def sent_since(self, mark: tuple[int, int]) -> tuple[int, int]:
        """Return how often the polled command was heard since ``mark``: by the Device, and in all.

        A handshake of each new connection may have sent it too: "by the Device" is at least.
        """
        heard = self.counter.asked(self.family.command) - mark[0]
        handshakes = 0
        if self.ble is not None:
            handshake = model_for(self.family.protocol).handshake
            handshakes = (self.ble.connections - mark[1]) * handshake.count(self.family.command)
        return heard - handshakes, heard

    def check(self, result: Result) -> None:
        """Assert that ``result`` is what the simulator reports."""
        got = {key: result[key] for key in self.family.expected}
        assert got == self.family.expected


@contextlib.asynccontextmanager
async def link(kind: str, tmp_path: Path) -> AsyncIterator[Link]:
    """Serve a fault-free simulator over ``kind``; yield a Device to it (faults come later)."""
    family = FAMILIES[kind]
    counter = Counting(simulator(family.protocol))
    faulty = FaultySimulator(counter, Faults(seed=1))
    ble: SimulatedBleDevice | None = None
    async with contextlib.AsyncExitStack() as stack:
        connection: Callable[[], object]
        if kind.startswith("serial"):
            path = tmp_path / "device"
            pty = await stack.enter_async_context(PtyServer(faulty, link=path))
            transport = open_transport(str(path), protocol=family.protocol)
            connection = lambda: pty.path  # noqa: E731 - a fresh pty after a hang-up
        elif kind == "tcp":
            tcp = await stack.enter_async_context(TcpServer(faulty))
            transport = open_transport(f"tcp://127.0.0.1:{tcp.port}")
            connection = lambda: None  # noqa: E731 - the server keeps no count of connections
        elif kind == "hidraw":
            hid = SimulatedHidDevice(faulty)
            stack.callback(hid.close)
            transport = hid.transport()
            connection = lambda: hid.opens  # noqa: E731
        else:
            ble = SimulatedBleDevice(faulty, stream=False)  # no unasked records: exact faults
            stack.callback(ble.close)
            transport = ble.transport(handshake_timeout=TIMEOUT, connect_attempts=1)
            connection = lambda: ble.connections  # noqa: E731
        device = Device(transport, family.protocol, attempts=ATTEMPTS, timeout=TIMEOUT, backoff=0)
        stack.push_async_callback(device.close)
        await bounded(device.open())
        yield Link(device, family, faulty, counter, connection, ble)


async def warm_up(link: Link) -> None:
    """Ask the polled command, then the warm-up command (the answer a stale fault repeats)."""
    link.check(await bounded(link.device.command(link.family.command)))
    await bounded(link.device.command(link.family.warmup))


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", LINKS)
async def test_one_fault_is_recovered(kind: str, fault: str, tmp_path: Path) -> None:
    """One occurrence of the fault costs a retry, not the answer; the link works afterwards."""
    async with link(kind, tmp_path) as dut:
        await warm_up(dut)
        dut.faulty.faults = Faults(late_by=LATE_BY, seed=1)
        before, link_before = dut.mark(), dut.connection()
        dut.faulty.inject(fault)
        dut.check(await bounded(dut.device.command(dut.family.command)))
        assert dut.faulty.scripted == ()  # the fault was played
        if fault == "disconnect" and kind != "tcp":
            assert dut.connection() != link_before  # reopened: a new pty, pair or connection
        by_device, heard = dut.sent_since(before)
        assert by_device <= ATTEMPTS
        assert heard >= 2  # the one that suffered the fault, and another
        dut.check(await bounded(dut.device.command(dut.family.command)))
        await bounded(dut.device.command(dut.family.warmup))


#: What each attempt ends in when a fault happens on every one: the error, and how the message
#: lists the attempt. Binary BMS links step over what is not their answer (a damaged JK record,
#: noise) and time out instead; a Daly frame with a bad checksum is a CRC error.
PERSISTENT: dict[str, tuple[type[MppSolarError], str]] = {
    "silence": (DeviceTimeoutError, "timeout"),
    "garbage": (FrameError, "unreadable answer"),
    "crc": (CRCError, "CRC error"),
    "truncate": (DeviceTimeoutError, "timeout"),
    "disconnect": (TransportError, "link lost"),
    "late": (DeviceTimeoutError, "timeout"),
}
BINARY: dict[tuple[str, str], tuple[type[MppSolarError], str]] = {
    ("daly", "garbage"): (DeviceTimeoutError, "timeout"),
    ("jk02", "garbage"): (DeviceTimeoutError, "timeout"),
    ("jk02", "crc"): (DeviceTimeoutError, "timeout"),
}


def always(fault: str) -> Faults:
    """Return a profile with ``fault`` on every request (a late answer: long after the budget)."""
    chances = {name: 1.0 if name == fault else 0.0 for name in PERSISTENT}
    return Faults(
        silence=chances["silence"],
        garbage=chances["garbage"],
        crc=chances["crc"],
        truncate=chances["truncate"],
        disconnect=chances["disconnect"],
        late=chances["late"],
        late_by=LATER,
        seed=1,
    )


@pytest.mark.parametrize("fault", list(PERSISTENT))
@pytest.mark.parametrize("kind", LINKS)
async def test_a_fault_on_every_attempt_is_a_typed_error(
    kind: str, fault: str, tmp_path: Path
) -> None:
    """The fault on every attempt: its typed error, naming each attempt, within the budget."""
    async with link(kind, tmp_path) as dut:
        await warm_up(dut)
        before = dut.mark()
        dut.faulty.faults = always(fault)
        error, tried = BINARY.get((dut.family.protocol, fault), PERSISTENT[fault])
        with pytest.raises(MppSolarError) as caught:
            await bounded(dut.device.command(dut.family.command))
        assert type(caught.value) is error
        assert isinstance(caught.value.__cause__, error)  # the last attempt's own error
        message = str(caught.value)
        command, name = dut.family.command, dut.device.name
        assert message.startswith(f"{command} on {name}: no valid answer after 3 attempts")
        assert f"({tried}, {tried}, {tried})" in message
        by_device, heard = dut.sent_since(before)
        assert by_device <= ATTEMPTS
        assert heard >= 1
        # The device comes back once the fault is gone (a late answer may still be on its way).
        dut.faulty.faults = Faults(seed=1)
        dut.check(await bounded(dut.device.command(command, timeout=2 * LATER)))


@pytest.mark.parametrize("kind", LINKS)
async def test_a_device_always_one_answer_behind_still_answers(kind: str, tmp_path: Path) -> None:
    """Stale on every attempt: the first is another command's answer, then this one's, late."""
    async with link(kind, tmp_path) as dut:
        await warm_up(dut)
        dut.faulty.faults = Faults(stale=1.0)
        dut.check(await bounded(dut.device.command(dut.family.command)))


@pytest.mark.parametrize("kind", LINKS)
async def test_a_stale_answer_without_a_retry_is_a_typed_error(kind: str, tmp_path: Path) -> None:
    """With one attempt, another command's answer is never taken for this one's.

    A PI30 answer of another shape does not decode (a frame error; a StaleReplyError would do
    too); a BMS's frame of another kind is stepped over, and the answer never comes.
    """
    async with link(kind, tmp_path) as dut:
        await warm_up(dut)
        dut.device.attempts = 1
        dut.faulty.inject(Fault.STALE)
        with pytest.raises(MppSolarError) as caught:
            await bounded(dut.device.command(dut.family.command))
        if dut.family is PI30:
            assert isinstance(caught.value, FrameError)
        else:
            assert type(caught.value) is DeviceTimeoutError
        assert f"{dut.family.command} on {dut.device.name}: no valid answer after 1 attempt " in (
            str(caught.value)
        )


#: Every fault, now and then (late answers come while the retry still waits for them).
MIXED = Faults(
    silence=0.07,
    garbage=0.07,
    crc=0.07,
    truncate=0.07,
    stale=0.07,
    disconnect=0.05,
    late=0.05,
    late_by=LATE_BY,
    seed=11,
)


@pytest.mark.parametrize("kind", LINKS)
async def test_mixed_faults_give_answers_or_typed_errors(kind: str, tmp_path: Path) -> None:
    """Many polls through random faults: the right answers, or typed errors; nothing else."""
    async with link(kind, tmp_path) as dut:
        await warm_up(dut)
        dut.faulty.faults = MIXED
        answered = 0
        for _ in range(8):
            for command in (dut.family.warmup, dut.family.command):
                try:
                    result = await bounded(dut.device.command(command))
                except MppSolarError:
                    continue
                answered += 1
                if command == dut.family.command:
                    dut.check(result)
        assert answered >= 8
