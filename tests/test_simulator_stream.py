"""What a served device sends unasked: VE.Direct text and JK cell records, on the device's pace.

A VE.Direct unit talks without being asked (a text block a second); a JK BMS on Bluetooth goes on
streaming cell data once asked for it. Served over a real pseudo-terminal or TCP socket, the
simulator's :meth:`~mppsolar_lib.simulator.base.Simulator.unsolicited` bytes go out every
``stream_interval`` seconds — short here, so that nothing waits long; every wait is on data
arriving, with a deadline. The host side is the library's own serial and TCP transports and the
retrying Device, which must detect a VE.Direct unit from its stream alone, also through the
in-process transport (``-p sim``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import os
import resource
import socket
import struct
import tty
from typing import TypeVar

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError, PortError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.jkble import CELL_RECORD, RECORD_START, find_frame
from mppsolar_lib.protocols.vedirect import VeDirectTextParser
from mppsolar_lib.simulator import Faults, FaultySimulator, Simulator, create_simulator
from mppsolar_lib.simulator.serve import PtyServer, TcpServer, serve_pty, serve_tcp
from mppsolar_lib.simulator.vedirect import VeDirectSimulator
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.base import Transport
from mppsolar_lib.transports.simulated import SimulatedTransport, simulated_transport

T = TypeVar("T")
WAIT = 5.0
#: The pace of the stream in these tests: a block every 10 ms instead of every second.
FAST = 0.01
KINDS = ("pty", "tcp")
VED = get_protocol("ved")


async def bounded(awaitable: Awaitable[T], seconds: float = WAIT) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


@contextlib.asynccontextmanager
async def served(
    kind: str, device: Simulator, faults: Faults | None = None, interval: float | None = FAST
) -> AsyncIterator[tuple[PtyServer | TcpServer, Transport]]:
    """Serve ``device`` over a pty or TCP; yield the server and a closed transport to it."""
    server: PtyServer | TcpServer
    if kind == "pty":
        pytest.importorskip("serialx")  # the serial transport that opens the pty
        server = await serve_pty(device, faults, stream_interval=interval)
        port = server.path
    else:
        server = await serve_tcp(device, faults, stream_interval=interval)
        port = f"127.0.0.1:{server.port}"
    transport = open_transport(port)
    try:
        yield server, transport
    finally:
        await transport.close()
        await bounded(server.close())


def blocks(count: int) -> Callable[[bytes], int | None]:
    """Complete once ``count`` text blocks that pass their checksum have arrived."""

    def complete(buffer: bytes) -> int | None:
        return len(buffer) if len(VeDirectTextParser().feed(buffer)) >= count else None

    return complete


class Counting(VeDirectSimulator):
    """A VE.Direct unit that counts how often it was asked for its stream."""

    def __init__(self, *, talk: bool = True, repeat: int = 1) -> None:
        """Stream text blocks (each ``repeat`` times over) if ``talk``, else nothing."""
        super().__init__(seed=3)
        self.talk = talk
        self.repeat = repeat
        self.asked = 0
        self._targets: list[tuple[int, asyncio.Event]] = []

    def reach(self, count: int) -> asyncio.Event:
        """Return an event set once the stream has been asked for ``count`` more times."""
        event = asyncio.Event()
        self._targets.append((self.asked + count, event))
        return event

    def unsolicited(self) -> bytes:
        """Count the call; return the next block, or nothing."""
        self.asked += 1
        for target, event in self._targets:
            if self.asked >= target:
                event.set()
        return super().unsolicited() * self.repeat if self.talk else b""


# -- streaming over a real link ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_served_vedirect_unit_streams_text_unasked(kind: str) -> None:
    """The host sends nothing and hears checksummed blocks: main and history in turn."""
    async with served(kind, create_simulator("ved", seed=3)) as (_, transport):
        text = await bounded(transport.exchange(b"", blocks(4), WAIT))
    found = VeDirectTextParser().feed(text)
    labels = [{label for label, _ in block.records} for block in found]
    assert any("V" in block and "SOC" in block for block in labels)
    assert any("H1" in block for block in labels)
    assert VED.decode("vedtext", text)["state_of_charge"] == 62.0


@pytest.mark.parametrize("kind", KINDS)
async def test_the_device_detects_a_served_vedirect_unit_from_its_stream(kind: str) -> None:
    """Auto-detection over a pty or TCP: the stream answers the first probe; status follows."""
    async with served(kind, create_simulator("ved", seed=3)) as (_, transport):
        device = Device(transport, timeout=WAIT)
        detection = await bounded(device.identify())
        status = await bounded(device.get_status())
    assert (detection.protocol, detection.evidence) == ("ved", ("QPI with CRC: vedirect",))
    # The first verified block: the main one or the history one, whichever came first.
    assert {"state_of_charge", "depth_of_the_deepest_discharge"} & set(status["vedtext"])


@pytest.mark.parametrize("kind", KINDS)
async def test_hex_answers_arrive_whole_between_streamed_blocks(kind: str) -> None:
    """Settings written and read back while text streams as fast as it can: never interleaved."""
    async with served(kind, create_simulator("ved", seed=3), interval=0.001) as (_, transport):
        # attempts=3: under this write rate serialx has been seen to report a pty as closed
        # (an empty read) on a loaded machine; the Device reopens, which is what users get.
        device = Device(transport, "ved", attempts=3, timeout=WAIT)
        for capacity in (300, 310, 320, 330, 340):
            written = await bounded(
                device.write_setting("battery_capacity", capacity, confirm=True)
            )
            assert written == capacity
        assert await bounded(device.read_setting("charged_voltage")) == 55.2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_device_that_talks_only_when_asked_sends_nothing_unasked(kind: str) -> None:
    """Asked for its stream three times, a quiet device has sent nothing; answers still come."""
    quiet = Counting(talk=False)
    asked = quiet.reach(3)
    async with served(kind, quiet) as (_, transport):
        await bounded(transport.open())
        await bounded(asked.wait())
        request = VED.build_request("batteryCapacity")
        answer = await bounded(
            transport.exchange(request, lambda b: VED.answer_length("batteryCapacity", b), WAIT)
        )
    assert answer.startswith(b":7")  # the answer alone: nothing streamed before it
    assert VED.decode("batteryCapacity", answer)["battery_capacity"] == 280


@pytest.mark.parametrize("kind", KINDS)
async def test_a_jk_bms_streams_cell_records_once_asked_for_cell_data(kind: str) -> None:
    """Nothing unasked before 0x96; afterwards cell-data records keep coming."""
    jk02 = get_protocol("jk02")
    async with served(kind, create_simulator("jk02", seed=3)) as (_, transport):
        info = await bounded(
            transport.exchange(
                jk02.build_request("getInfo"), lambda b: jk02.answer_length("getInfo", b), WAIT
            )
        )
        assert info.startswith(RECORD_START)
        assert jk02.decode("getInfo", info)["device_model"]
        request = jk02.build_request("getCellData")
        await bounded(
            transport.exchange(request, lambda b: jk02.answer_length("getCellData", b), WAIT)
        )

        def two_cell_records(buffer: bytes) -> int | None:
            first = find_frame(buffer, record_type=CELL_RECORD)
            if first is None:
                return None
            second = find_frame(buffer[first[1] :], record_type=CELL_RECORD)
            return None if second is None else first[1] + second[1]

        streamed = await bounded(transport.exchange(b"", two_cell_records, WAIT))
    first = find_frame(streamed, record_type=CELL_RECORD)
    assert first is not None
    for record in (streamed[first[0] : first[1]], streamed[first[1] :]):
        assert jk02.decode("getCellData", record)["battery_voltage"] > 40


async def test_a_served_stream_reaches_every_connected_host() -> None:
    """One device, one stream: two TCP hosts both hear it."""
    async with served("tcp", create_simulator("ved", seed=3)) as (server, first):
        second = open_transport(f"127.0.0.1:{server.port}")
        try:
            texts = await bounded(
                asyncio.gather(
                    first.exchange(b"", blocks(2), WAIT), second.exchange(b"", blocks(2), WAIT)
                )
            )
        finally:
            await second.close()
    assert all(VED.decode("vedtext", text) for text in texts)


async def test_a_host_that_stops_reading_misses_blocks_rather_than_piling_them_up() -> None:
    """The server holds back no more than its high-water mark for a host that does not read."""
    chatty = Counting(repeat=300)  # some 60 kB a tick: the socket buffers fill in no time
    async with served("tcp", chatty, interval=0.001) as (server, transport):
        _, writer = await bounded(asyncio.open_connection("127.0.0.1", server.port))
        try:
            writer.transport.pause_reading()  # this host reads nothing from now on
            await bounded(chatty.reach(300).wait(), 30)  # some 18 MB streamed meanwhile
            writers = list(server._writers)  # noqa: SLF001 - what the server holds back
            backlog = max(w.transport.get_write_buffer_size() for w in writers)
            high = max(w.transport.get_write_buffer_limits()[1] for w in writers)
            # A host that reads still hears the stream.
            text = await bounded(transport.exchange(b"", blocks(1), WAIT))
        finally:
            writer.close()
    assert backlog <= high + 300 * 250  # one tick at most above the mark, not megabytes
    assert VED.decode("vedtext", text)


async def test_faults_change_answers_not_the_stream() -> None:
    """A device wrapped in faults streams at its own pace, and its text is not corrupted."""
    faults = Faults(crc=1.0)
    assert FaultySimulator(create_simulator("ved"), faults).stream_interval == 1.0
    assert PtyServer(create_simulator("pi30"), faults).stream_interval is None
    async with served("tcp", create_simulator("ved", seed=3), faults) as (_, transport):
        text = await bounded(transport.exchange(b"", blocks(2), WAIT))
    assert len(VeDirectTextParser().feed(text)) >= 2


@pytest.mark.parametrize("interval", [0, -1.0])
def test_a_stream_interval_must_be_positive(interval: float) -> None:
    """Zero or negative would mean a device talking without pause: refused, saying why."""
    with pytest.raises(ValueError, match="stream_interval must be more than 0 s"):
        TcpServer(create_simulator("ved"), stream_interval=interval)


# -- a pty hung up while the stream waits for room -----------------------------------------------


class Flood(VeDirectSimulator):
    """A VE.Direct unit whose first stream is far more than a pty holds, then normal blocks."""

    stream_interval = FAST

    def __init__(self) -> None:
        """Seeded SmartShunt; the flood comes once."""
        super().__init__(seed=3)
        self.flooded = False

    def unsolicited(self) -> bytes:
        """Return a megabyte of noise the first time, then text blocks."""
        if not self.flooded:
            self.flooded = True
            return b"\x00" * 1_000_000
        return super().unsolicited()


async def test_a_hang_up_while_the_stream_waits_for_room_lets_it_go_on() -> None:
    """A disconnect fault while the host is not reading: the new pty streams whole blocks."""
    pytest.importorskip("serialx")
    async with PtyServer(Flood(), Faults(disconnect=1.0)) as server:
        old = os.open(server.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(old)
            await bounded(_readable(old))  # the flood has begun and fills the pty
            hung_up = server.path
            os.write(old, VED.build_request("batteryCapacity"))  # answered by a hang-up
            await bounded(_until_hung_up(old))
        finally:
            os.close(old)
        assert server.path != hung_up
        async with open_transport(server.path) as transport:
            text = await bounded(transport.exchange(b"", blocks(2), WAIT))
    assert VED.decode("vedtext", text)


async def _readable(fd: int) -> None:
    """Wait until ``fd`` has something to read (or is hung up)."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        await ready.wait()
    finally:
        loop.remove_reader(fd)


async def _until_hung_up(fd: int) -> None:
    """Read ``fd`` until the other side has hung up."""
    while True:
        await _readable(fd)
        try:
            if not os.read(fd, 65536):
                return
        except BlockingIOError:
            continue
        except OSError:  # EIO: the pty's master was closed
            return


# -- the in-process transport --------------------------------------------------------------------


async def test_sim_port_auto_detects_a_vedirect_unit() -> None:
    """``-p sim`` with a VE.Direct simulator and ``-P auto``: its text answers the first probe."""
    device = Device(simulated_transport("ved", seed=1))
    detection = await bounded(device.identify())
    assert detection.protocol == "ved"
    assert device.protocol is not None
    assert device.protocol.id == "ved"
    # Main and history blocks in turn, as the unit sends them.
    polled = [await bounded(device.get_status()) for _ in range(2)]
    fields = set(polled[0]["vedtext"]) | set(polled[1]["vedtext"])
    assert {"state_of_charge", "depth_of_the_deepest_discharge"} <= fields
    assert await bounded(device.read_setting("battery_capacity")) == 280


async def test_an_answered_request_leaves_the_stream_where_it_was() -> None:
    """Text follows only when the answer alone is incomplete: a HEX get costs no block."""
    device = Counting()
    transport = SimulatedTransport(device)
    request = VED.build_request("batteryCapacity")
    answer = await bounded(
        transport.exchange(request, lambda b: VED.answer_length("batteryCapacity", b), WAIT)
    )
    assert answer.startswith(b":7")
    assert device.asked == 0
    # A request the unit does not answer (a detection probe): the host hears its text instead.
    probe = get_protocol("pi30").build_request("QPI")
    text = await bounded(transport.exchange(probe, blocks(1), WAIT))
    assert device.asked == 1
    assert VED.decode("vedtext", text)["state_of_charge"] == 62.0


async def test_an_unanswered_request_to_a_quiet_device_still_times_out() -> None:
    """A device with nothing to say unasked: silence, as before."""
    transport = SimulatedTransport(Counting(talk=False))
    with pytest.raises(DeviceTimeoutError, match="got nothing"):
        await bounded(
            transport.exchange(get_protocol("pi30").build_request("QPI"), blocks(1), 0.01)
        )


# -- serving, whatever the host or the system does ------------------------------------------------


async def test_a_host_that_resets_its_connection_does_no_harm() -> None:
    """A TCP reset (not a clean close) ends that session only; the stream and service go on."""
    async with served("tcp", Counting()) as (server, transport):
        sock = socket.create_connection(("127.0.0.1", server.port), WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # linger 0: the kernel sends RST
        text = await bounded(transport.exchange(b"", blocks(1), WAIT))
        request = VED.build_request("batteryCapacity")
        answer = await bounded(
            transport.exchange(request, lambda b: VED.answer_length("batteryCapacity", b), WAIT)
        )
    assert VED.decode("vedtext", text)
    assert VED.decode("batteryCapacity", answer)["battery_capacity"] == 280


async def test_a_wake_up_with_nothing_to_read_is_harmless() -> None:
    """The pty server's reader tolerates being called when nothing is there (EAGAIN)."""
    pytest.importorskip("serialx")
    async with PtyServer(create_simulator("pi30", seed=3)) as server:
        server._readable()  # noqa: SLF001 - as the loop would on a spurious wake-up
        async with open_transport(server.path) as transport:
            request = get_protocol("pi30").build_request("QPI")
            answer = await bounded(
                transport.exchange(
                    request, lambda b: get_protocol("pi30").answer_length("QPI", b), WAIT
                )
            )
    assert get_protocol("pi30").decode("QPI", answer)["protocol_id"] == "PI30"


async def test_no_pty_to_be_had_is_a_port_error_saying_where_to_look() -> None:
    """Out of file descriptors (or no /dev/pts): a PortError, not a bare OSError."""
    server = PtyServer(create_simulator("pi30", seed=3))
    lowest = os.open(os.devnull, os.O_RDONLY)  # the lowest free descriptor number
    os.close(lowest)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # No new descriptor from here on; start() fails before it awaits anything.
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest, hard))
    try:
        with pytest.raises(PortError, match=r"cannot create a pseudo-terminal .*/dev/pts mounted"):
            await server.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    await server.close()
