"""USB-HID transport against a SOCK_SEQPACKET socket pair, which keeps report boundaries.

The test's end of the pair plays the inverter's HID bridge: it sees each report the transport
writes as one packet, and answers in 8-byte reports padded with zeros, as recorded from the
reference's hidraw exchanges (``extra/io.jsonl`` in the shared vectors). The simulated HID
device (:mod:`mppsolar_lib.simulator.hid`, a whole inverter behind such a pair) is tested at the
end; the fault matrix (tests/test_transport_faults.py) drives it through the Device.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import partial
import logging
import os
from pathlib import Path
import select
import socket

import pytest

from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.faults import Faults
from mppsolar_lib.simulator.hid import MAX_PENDING, SimulatedHidDevice
from mppsolar_lib.transports.hidraw import HidrawTransport, reports
from tests.helpers import pi_frame
from tests.privileges import locked_port, open_unprivileged

PI30 = get_protocol("pi30")
TIMEOUT = 5.0

# Recorded from a Voltronic inverter through the reference's hidraw port.
PBCV_WRITTEN = ["5042435634342e30", "e6eb0d0000000000"]
PBCV_REPORTS = ["2841434b39200d00"]
QPIGS_REPORTS = [
    "283030302e302030", "302e30203233302e", "302034392e392030", "3136312030313139",
    "2030303320343630", "2035372e35302030", "3132203130302030", "3036392030303134",
    "203130332e382035", "372e343520303030", "3030203030313130", "3131302030302030",
    "3020303038353620", "303130248c0d0000",
]  # fmt: skip


class HidBridge:
    """The inverter's side of the pair: one packet per report, answers in padded reports."""

    def __init__(self, *, listening: bool = True) -> None:
        """Make the pair; start listening unless told not to."""
        self.host, self.device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.device.setblocking(False)
        self.host.setblocking(False)
        self.received: list[bytes] = []
        self.replies: dict[bytes, list[bytes] | Callable[[], None]] = {}
        self._pending = b""
        self._listening = False
        if listening:
            self.listen()

    def opener(self) -> int:
        """Hand the transport its own descriptor for the host end (it closes it)."""
        return os.dup(self.host.fileno())

    def listen(self) -> None:
        """Start reading what the host writes."""
        if not self._listening:
            self._listening = True
            asyncio.get_running_loop().add_reader(self.device.fileno(), self._readable)

    def reply(self, request: bytes, answer: list[bytes] | Callable[[], None]) -> None:
        """Answer ``request`` with these reports (or run an action instead)."""
        self.replies[request] = answer

    def send(self, *chunks: bytes) -> None:
        """Send reports to the host."""
        for chunk in chunks:
            self.device.send(chunk)

    def _readable(self) -> None:
        try:
            report = self.device.recv(4096)
        except OSError:
            return
        self.received.append(report)
        self._pending = (self._pending + report).lstrip(b"\0")
        while b"\r" in self._pending:
            request, _, rest = self._pending.partition(b"\r")
            self._pending = rest.lstrip(b"\0")
            answer = self.replies.get(request + b"\r", [])
            if callable(answer):
                answer()
            else:
                self.send(*answer)

    def close(self) -> None:
        """Unplug: close the device end."""
        if self._listening:
            self._listening = False
            asyncio.get_running_loop().remove_reader(self.device.fileno())
        self.device.close()

    def close_all(self) -> None:
        """Release both ends."""
        self.close()
        self.host.close()


@pytest.fixture
async def bridge() -> AsyncIterator[HidBridge]:
    """Provide a listening HID bridge."""
    device = HidBridge()
    yield device
    device.close_all()


def hexes(items: list[str]) -> list[bytes]:
    """Decode a list of hex strings."""
    return [bytes.fromhex(item) for item in items]


async def ask(transport: HidrawTransport, command: str, timeout: float = TIMEOUT) -> bytes:
    """Run one PI30 exchange, bounded so nothing can hang."""
    async with asyncio.timeout(timeout + 5):
        return await transport.exchange(
            PI30.build_request(command), partial(PI30.answer_length, command), timeout
        )


def test_reports_are_zero_padded_chunks() -> None:
    """Requests split into 8-byte reports; only the last is padded."""
    assert reports(b"QPI\xbe\xac\r") == [b"QPI\xbe\xac\r\0\0"]
    assert reports(bytes(range(16))) == [bytes(range(8)), bytes(range(8, 16))]
    assert reports(b"abc", 4) == [b"abc\0"]
    assert reports(b"") == []


async def test_writes_are_padded_reports_and_the_answer_is_trimmed(bridge: HidBridge) -> None:
    """PBCV44.0 (11 bytes) goes out as two reports; '(ACK9 ' comes back without its padding."""
    request = PI30.build_request("PBCV44.0")
    bridge.reply(request, hexes(PBCV_REPORTS))
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        answer = await ask(transport, "PBCV44.0")
    assert bridge.received == hexes(PBCV_WRITTEN)
    assert answer == b"(ACK9 \r"
    assert PI30.decode("PBCV44.0", answer).raw == answer


async def test_a_long_answer_is_joined_from_reports(bridge: HidBridge) -> None:
    """Fourteen reports make one QPIGS frame; the zeros after its CR are dropped."""
    request = PI30.build_request("QPIGS")
    bridge.reply(request, hexes(QPIGS_REPORTS))
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        answer = await ask(transport, "QPIGS")
        assert bridge.received == [request.ljust(8, b"\0")]
        assert answer == b"".join(hexes(QPIGS_REPORTS)).rstrip(b"\0")
        assert PI30.decode("QPIGS", answer)["battery_voltage"] == 57.5
        # The padding left behind does not disturb the next exchange.
        bridge.reply(PI30.build_request("QPI"), reports(pi_frame("PI30")))
        assert await ask(transport, "QPI") == pi_frame("PI30")


async def test_answers_longer_than_one_wakeup_arrive_whole(bridge: HidBridge) -> None:
    """A burst of more reports than one reader wakeup takes (80 here) is still joined whole."""
    frame = pi_frame("7" * 630)
    bridge.reply(PI30.build_request("QPI"), reports(frame))
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        assert await ask(transport, "QPI") == frame
    assert len(reports(frame)) == 80


async def test_zeros_inside_a_frame_are_kept(bridge: HidBridge) -> None:
    """Only the protocol knows where a frame ends: zero bytes before that end are data."""
    frame = b"^D009\0\0ab\0\r"
    bridge.reply(b"PING\r", reports(frame))
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        answer = await transport.exchange(
            b"PING\r", lambda got: len(frame) if len(got) >= len(frame) else None, TIMEOUT
        )
    assert answer == frame


async def test_stale_reports_are_flushed_before_the_request(
    bridge: HidBridge, caplog: pytest.LogCaptureFixture
) -> None:
    """Reports queued before the request (a late answer) are read and dropped, not returned."""
    bridge.reply(PI30.build_request("QPI"), reports(pi_frame("PI30")))
    caplog.set_level(logging.DEBUG, logger="mppsolar_lib.transports.hidraw")
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        bridge.send(*reports(pi_frame("LATE ANSWER")))
        assert await ask(transport, "QPI") == pi_frame("PI30")
    assert "/dev/hidraw0: dropped 2 stale reports" in caplog.text


async def test_silence_and_partial_answers_time_out(bridge: HidBridge) -> None:
    """The deadline ends a silent exchange; a cut-off answer shows what arrived."""
    bridge.reply(PI30.build_request("QPIGS"), hexes(QPIGS_REPORTS[:3]))
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        with pytest.raises(DeviceTimeoutError, match="/dev/hidraw0: .*got nothing"):
            await ask(transport, "QPI", timeout=0.2)
        with pytest.raises(DeviceTimeoutError, match=r"got 24 bytes \(b'\(000\.0"):
            await ask(transport, "QPIGS", timeout=0.2)


async def test_unplug_fails_the_exchange_and_the_next_one_reopens() -> None:
    """The device end closing is a TransportError; the next exchange opens a new descriptor."""
    bridges = [HidBridge(), HidBridge()]
    opened = iter(bridges)

    def opener() -> int:
        return next(opened).opener()

    first, second = bridges
    request = PI30.build_request("QPI")
    first.reply(request, first.close)
    second.reply(request, reports(pi_frame("PI30")))
    transport = HidrawTransport("/dev/hidraw0", opener=opener)
    try:
        with pytest.raises(TransportError, match="/dev/hidraw0: the device closed") as caught:
            await ask(transport, "QPI")
        assert not isinstance(caught.value, DeviceTimeoutError)
        assert not transport.is_open
        assert await ask(transport, "QPI") == pi_frame("PI30")
    finally:
        await transport.close()
        for item in bridges:
            item.close_all()


async def test_a_read_error_is_a_transport_error() -> None:
    """A read failing (ECONNRESET here; ENODEV/EIO on a real unplug) ends the exchange."""
    bridge = HidBridge(listening=False)
    arrived = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
            loop.add_reader(bridge.device.fileno(), arrived.set)
            exchange = asyncio.create_task(ask(transport, "QPI"))
            async with asyncio.timeout(TIMEOUT):
                await arrived.wait()
            loop.remove_reader(bridge.device.fileno())
            # Closing with the request unread makes the host's next read fail (ECONNRESET).
            bridge.close()
            with pytest.raises(TransportError, match="/dev/hidraw0: the device went away"):
                await exchange
            assert not transport.is_open
    finally:
        bridge.close_all()


async def test_a_write_to_a_vanished_device_is_a_transport_error(bridge: HidBridge) -> None:
    """Writing after the device went away fails at once with a TransportError."""
    async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
        await transport.open()
        bridge.close()
        with pytest.raises(TransportError, match="/dev/hidraw0: cannot write") as caught:
            await ask(transport, "QPI")
        assert not isinstance(caught.value, DeviceTimeoutError)
        assert not transport.is_open


def fill(sock: socket.socket) -> int:
    """Queue empty reports until the peer's queue is full; return how many."""
    count = 0
    while True:
        try:
            sock.send(b"\0" * 8)
        except BlockingIOError:
            return count
        count += 1


async def test_a_busy_device_delays_the_write_not_the_event_loop() -> None:
    """While the device accepts no report the write waits (off the loop) and then goes out."""
    bridge = HidBridge(listening=False)
    try:
        bridge.reply(PI30.build_request("QPI"), reports(pi_frame("PI30")))
        async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
            await transport.open()
            assert fill(bridge.host) > 0
            exchange = asyncio.create_task(ask(transport, "QPI"))
            await asyncio.sleep(0)  # the write is now blocked in its worker thread
            bridge.listen()
            assert await exchange == pi_frame("PI30")
    finally:
        bridge.close_all()


async def test_a_device_that_never_accepts_the_request_times_out() -> None:
    """The exchange's deadline bounds the write too."""
    bridge = HidBridge(listening=False)
    try:
        async with HidrawTransport("/dev/hidraw0", opener=bridge.opener) as transport:
            await transport.open()
            fill(bridge.host)
            with pytest.raises(
                DeviceTimeoutError, match="/dev/hidraw0: the device did not accept the request"
            ):
                await ask(transport, "QPI", timeout=0.2)
    finally:
        bridge.close_all()


async def test_open_errors_say_what_to_do(tmp_path: Path) -> None:
    """Missing node, a directory, a plain file: each named, with what exists."""
    with pytest.raises(PortError, match="no such USB-HID device") as caught:
        await HidrawTransport(str(tmp_path / "hidraw9")).open()
    assert "/dev/hidraw*" in str(caught.value) or "ports present" in str(caught.value)
    with pytest.raises(PortError, match="is a directory, not a USB-HID device"):
        await HidrawTransport(str(tmp_path)).open()
    plain = tmp_path / "hidraw-notes"
    plain.write_text("x")
    transport = HidrawTransport(str(plain))
    with pytest.raises(PortError, match="is not a USB-HID device .*use a /dev/hidraw"):
        await transport.open()
    assert not transport.is_open


async def test_an_opener_error_is_explained_like_an_open_error() -> None:
    """An opener failing with an OSError gets the same translation as os.open."""

    def opener() -> int:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(PortError, match="/dev/hidraw5: no such USB-HID device"):
        await HidrawTransport("/dev/hidraw5", opener=opener).open()


def test_permission_denied_gives_the_udev_rule(tmp_path: Path) -> None:
    """A node without access: the message is the udev rule that fixes it.

    Opened by a user file modes apply to (root loses its override: see tests/privileges.py).
    """
    node = locked_port(tmp_path / "hidraw0").path
    imports = "from mppsolar_lib.transports.hidraw import HidrawTransport"
    outcome = open_unprivileged(imports, "HidrawTransport(path)", node)
    assert outcome.startswith(f"PortError: {node}: permission denied. Allow access with a udev")
    assert 'SUBSYSTEM=="hidraw", ATTRS{idVendor}=="0665", ATTRS{idProduct}=="5161"' in outcome
    assert "sudo udevadm control --reload && sudo udevadm trigger" in outcome


# -- the simulated HID device (mppsolar_lib.simulator.hid) --------------------------------------


def simulated(faults: Faults | None = None) -> SimulatedHidDevice:
    """Return a PI30 inverter behind a simulated HID bridge."""
    return SimulatedHidDevice(create_simulator("pi30", seed=1, utc_offset=0), faults)


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (bounded: nothing can hang)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0)


async def test_the_simulated_device_answers_in_padded_reports() -> None:
    """Requests arrive as padded reports and are answered in 8-byte reports, zeros trimmed."""
    device = simulated()
    transport = device.transport()
    assert (transport.path, device.plugged, device.opens) == ("/dev/hidraw0", False, 0)
    try:
        answer = await ask(transport, "QPIGS")
        assert PI30.decode("QPIGS", answer)["battery_capacity"] == 80
        assert await ask(transport, "PBCV44.0") == pi_frame("ACK")
        assert list(device.received) == [
            *reports(PI30.build_request("QPIGS")),
            *reports(PI30.build_request("PBCV44.0")),
        ]
        assert "plugged" in repr(device)
    finally:
        await transport.close()
        device.close()
    assert "unplugged" in repr(device)


async def test_a_host_that_closes_unplugs_and_the_next_open_plugs_a_fresh_pair() -> None:
    """The host closing its end is seen at once; opening again plugs a new socket pair."""
    device = simulated()
    transport = device.transport()
    try:
        await ask(transport, "QPI")
        await transport.close()
        await until(lambda: not device.plugged)
        assert await ask(transport, "QPI") == pi_frame("PI30")
        assert device.opens == 2
    finally:
        await transport.close()
        device.close()


async def test_a_disconnect_fault_fails_the_exchange_and_the_device_comes_back() -> None:
    """A disconnect is an unplug: the transport fails, the next open gets a fresh pair."""
    device = simulated(Faults(script=("disconnect",)))
    transport = device.transport()
    try:
        with pytest.raises(TransportError, match="/dev/hidraw0: the device closed"):
            await ask(transport, "QPI")
        assert not device.plugged
        assert await ask(transport, "QPI") == pi_frame("PI30")
        assert device.opens == 2
    finally:
        await transport.close()
        device.close()


async def test_an_open_while_plugged_replaces_the_old_pair() -> None:
    """The opener unplugs what it handed out before (the host reopened without closing)."""
    device = simulated()
    first = socket.socket(fileno=device.opener())
    second = socket.socket(fileno=device.opener())
    try:
        assert first.recv(8) == b""  # the old device end is gone
        assert device.plugged and device.opens == 2
    finally:
        first.close()
        second.close()
        device.close()


async def test_answers_wait_while_the_host_does_not_read() -> None:
    """A host that does not read holds the answers back; none is lost, none reordered."""
    device = simulated()
    host = socket.socket(fileno=device.opener())
    host.setblocking(False)
    loop = asyncio.get_running_loop()
    request = PI30.build_request("QID")
    answer = create_simulator("pi30", seed=1, utc_offset=0).handle(request)
    assert answer is not None and len(request) <= 8
    count = 400  # 1200 reports: several times what the socket's queue holds
    try:
        for _ in range(count):
            await loop.sock_sendall(host, reports(request)[0])
        expected = reports(answer) * count
        got: list[bytes] = []
        async with asyncio.timeout(TIMEOUT):
            while len(got) < len(expected):
                got.append(await loop.sock_recv(host, 64))
        assert got == expected
    finally:
        host.close()
        device.close()


async def test_unplugging_drops_the_answers_still_waiting() -> None:
    """Answers held back for a host that does not read are lost on unplug, as on a real one.

    What the host already has it can still read, then the end.
    """
    device = simulated()
    host = socket.socket(fileno=device.opener())
    host.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        for _ in range(400):
            await loop.sock_sendall(host, reports(PI30.build_request("QID"))[0])
        await until(lambda: len(device.received) == 400)
        device.unplug()
        assert not device.plugged
        got = []
        async with asyncio.timeout(TIMEOUT):
            while report := await loop.sock_recv(host, 64):
                got.append(report)
        assert 0 < len(got) < 400 * 3
    finally:
        host.close()
        device.close()


async def test_a_host_gone_with_answers_unread_unplugs_the_device() -> None:
    """The host closing with an answer unread (a reset on the device's side): unplugged."""
    device = simulated()
    host = socket.socket(fileno=device.opener())
    try:
        host.send(reports(PI30.build_request("QID"))[0])
        await until(lambda: bool(select.select([host], [], [], 0)[0]))  # the answer is there
    finally:
        host.close()
    await until(lambda: not device.plugged)
    device.close()


async def test_a_host_that_stopped_reading_unplugs_the_device() -> None:
    """An answer the host can no longer take (a broken pipe): unplugged, nothing raised."""
    device = simulated()
    host = socket.socket(fileno=device.opener())
    try:
        host.shutdown(socket.SHUT_RD)
        host.send(reports(PI30.build_request("QID"))[0])
        await until(lambda: not device.plugged)
        assert list(device.received) == reports(PI30.build_request("QID"))
    finally:
        host.close()
        device.close()


async def test_noise_without_a_request_end_is_dropped() -> None:
    """More than 4 KiB without a CR is noise; the request after it is answered."""
    device = simulated()
    host = socket.socket(fileno=device.opener())
    host.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        for _ in range(MAX_PENDING // 8 + 1):  # one report more than the limit
            await loop.sock_sendall(host, b"\x81" * 8)
        await loop.sock_sendall(host, reports(PI30.build_request("QPI"))[0])
        got = b""
        async with asyncio.timeout(TIMEOUT):
            while b"\r" not in got:
                got += await loop.sock_recv(host, 64)
        assert got.rstrip(b"\0") == pi_frame("PI30")
    finally:
        host.close()
        device.close()


async def test_a_spurious_wakeup_is_harmless() -> None:
    """Nothing to read after all: the device stays plugged; bad report sizes are refused."""
    device = simulated()
    host = socket.socket(fileno=device.opener())
    try:
        device._readable()  # noqa: SLF001 - the event loop's callback, with nothing queued
        assert device.plugged
    finally:
        host.close()
        device.close()
    with pytest.raises(ValueError, match="report_size must be 1 byte or more"):
        SimulatedHidDevice(create_simulator("pi30"), report_size=0)
