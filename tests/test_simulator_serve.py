"""Simulators served over real pseudo-terminals and TCP sockets, with faults, and in-process.

The host side uses plain ``os`` reads and asyncio streams, and the library's own serial, TCP
and simulated transports: the same code paths a real device is reached through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from functools import partial
import os
from pathlib import Path
import tty

import pytest

from mppsolar_lib.errors import (
    CRCError,
    DeviceTimeoutError,
    FrameError,
    PortError,
    TransportError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import Faults, FaultySimulator, Simulator, create_simulator
from mppsolar_lib.simulator.faults import Fault, Reply, ReplyQueue, reply, wire_time, with_faults
from mppsolar_lib.simulator.serve import MAX_PENDING, PtyServer, TcpServer, serve_pty, serve_tcp
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.simulated import SimulatedTransport, simulated_transport
from mppsolar_lib.transports.tcp import TcpTransport

#: Long enough for an answer from the same process, short enough for a test about silence.
WAIT = 2.0
QUIET = 0.2

PI30 = get_protocol("pi30")
QPI = PI30.build_request("QPI")
QID = PI30.build_request("QID")


def simulator(protocol: str = "pi30", **options: object) -> Simulator:
    """Return a seeded simulator at a fixed time."""
    return create_simulator(
        protocol, seed=3, utc_offset=0, clock=lambda: 1_699_963_200.0, **options
    )


Complete = Callable[[bytes], int | None]


def whole(command: str, protocol: str = "pi30") -> Complete:
    """Tell when an answer to ``command`` is complete, as the transports do."""
    return partial(get_protocol(protocol).answer_length, command)


# -- the host's side of a pty and of a TCP connection ------------------------------------------


class PtyHost:
    """The host end of a served pty, opened like a serial port."""

    def __init__(self, path: str) -> None:
        """Open ``path`` raw and non-blocking."""
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    async def send(self, data: bytes) -> None:
        """Write all of ``data``, waiting for room when the pty's buffer is full."""
        loop = asyncio.get_running_loop()
        while data:
            try:
                data = data[os.write(self.fd, data) :]
            except BlockingIOError:
                room = loop.create_future()
                loop.add_writer(self.fd, room.set_result, None)
                try:
                    await asyncio.wait_for(room, WAIT)
                finally:
                    loop.remove_writer(self.fd)

    async def receive(self, complete: Complete, timeout: float = WAIT) -> bytes:
        """Read until ``complete`` or ``timeout``; what arrived (raises OSError on a hang-up)."""
        loop = asyncio.get_running_loop()
        buffer = b""
        ready = asyncio.Event()
        loop.add_reader(self.fd, ready.set)
        try:
            async with asyncio.timeout(timeout):
                while complete(buffer) is None if buffer else True:
                    await ready.wait()
                    ready.clear()
                    try:
                        chunk = os.read(self.fd, 4096)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        raise EOFError("the pty hung up")
                    buffer += chunk
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(self.fd)
        return buffer

    def close(self) -> None:
        """Close the port."""
        os.close(self.fd)


class TcpHost:
    """The host end of a TCP connection to a served simulator."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wrap the streams."""
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        """Write ``data``."""
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self, complete: Complete, timeout: float = WAIT) -> bytes:
        """Read until ``complete`` or ``timeout``; raise EOFError when the server hangs up."""
        buffer = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not buffer or complete(buffer) is None:
                    chunk = await self.reader.read(4096)
                    if not chunk:
                        raise EOFError("the server closed the connection")
                    buffer += chunk
        return buffer

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


Host = PtyHost | TcpHost


@contextlib.asynccontextmanager
async def served(kind: str, device: Simulator, faults: Faults | None = None) -> AsyncIterator[Host]:
    """Serve ``device`` over a pty or TCP and connect a host to it."""
    if kind == "pty":
        pty = await serve_pty(device, faults)
        host: Host = PtyHost(pty.path)
        try:
            yield host
        finally:
            host.close()
            await pty.close()
    else:
        server = await serve_tcp(device, faults)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", server.port), WAIT
        )
        host = TcpHost(reader, writer)
        try:
            yield host
        finally:
            host.close()
            await asyncio.wait_for(server.close(), WAIT)


KINDS = ("pty", "tcp")


# -- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("protocol", "command"), [("pi30", "QPIGS"), ("pi16", "QPIGS"), ("pi17", "GS"), ("pi18", "GS")]
)
async def test_a_host_reads_status_over_the_link(kind: str, protocol: str, command: str) -> None:
    """The request goes out as bytes, the answer comes back as bytes our protocol decodes."""
    proto = get_protocol(protocol)
    async with served(kind, simulator(protocol)) as host:
        await host.send(proto.build_request(command))
        answer = await host.receive(whole(command, protocol))
    assert proto.decode(command, answer)["battery_capacity"] == 80


@pytest.mark.parametrize("kind", KINDS)
async def test_requests_split_across_writes_or_sent_together_are_answered_in_order(
    kind: str,
) -> None:
    """Half a request waits for its other half; two requests in one write get two answers."""
    async with served(kind, simulator()) as host:
        await host.send(QPI[:2])
        assert await host.receive(whole("QPI"), QUIET) == b""
        await host.send(QPI[2:] + QID)
        first = await host.receive(whole("QPI"))
        size = PI30.answer_length("QPI", first)
        assert size is not None
        rest = first[size:] or await host.receive(whole("QID"))
    assert PI30.decode("QPI", first[:size])["protocol_id"] == "PI30"
    assert PI30.decode("QID", rest)["serial_number"]


@pytest.mark.parametrize("kind", KINDS)
async def test_line_noise_without_a_terminator_is_dropped(kind: str) -> None:
    """After more than MAX_PENDING bytes with no CR, the buffer is dropped and service goes on."""
    async with served(kind, simulator()) as host:
        await host.send(b"x" * (MAX_PENDING * 2 + 10))
        await host.send(b"\r" + QPI)
        qpi = whole("QPI")

        def through_the_qpi_answer(buffer: bytes) -> int | None:
            # The tail of the noise may be answered (a NAK) before QPI is: read past it.
            start = buffer.find(b"(PI30")
            size = None if start < 0 else qpi(buffer[start:])
            return None if size is None else start + size

        answer = await host.receive(through_the_qpi_answer)
    assert PI30.decode("QPI", answer[answer.index(b"(PI30") :])["protocol_id"] == "PI30"


async def test_answers_wait_while_the_host_does_not_read() -> None:
    """The pty's buffer fills when the host stops reading; every answer arrives once it reads."""
    async with served("pty", simulator()) as host:
        request = PI30.build_request("QPIGS")
        await host.send(request * 1000)
        received = b""
        async with asyncio.timeout(WAIT * 5):
            while received.count(b"\r") < 1000:
                received += await host.receive(lambda _: None, 0.05)
    answers = received.split(b"\r")[:-1]
    assert len(answers) == 1000
    assert all(PI30.decode("QPIGS", answer + b"\r") for answer in answers)


async def test_the_serial_transport_talks_to_a_pty(tmp_path: Path) -> None:
    """The library's serial transport opens the stable link and exchanges with the simulator."""
    link = tmp_path / "inverter"
    async with PtyServer(simulator("pi18"), link=link) as server:
        assert link.is_symlink()
        assert str(link.readlink()) == server.path
        transport = open_transport(str(link), protocol="pi18")
        async with transport:
            answer = await transport.exchange(
                get_protocol("pi18").build_request("PI"), whole("PI", "pi18"), WAIT
            )
    assert get_protocol("pi18").decode("PI", answer)["protocol_version"] == "18"
    assert not link.exists()


async def test_the_tcp_transport_talks_to_a_served_simulator() -> None:
    """The library's TCP transport connects to the served port (0 picks a free one)."""
    async with TcpServer(simulator("pi17"), port=0) as server:
        assert server.port > 0
        assert await server.start() == server.port
        async with TcpTransport("127.0.0.1", server.port) as transport:
            request = get_protocol("pi17").build_request("PI")
            answer = await transport.exchange(request, whole("PI", "pi17"), WAIT)
    assert get_protocol("pi17").decode("PI", answer)["protocol_version"] == "17"


async def test_the_link_never_replaces_a_file(tmp_path: Path) -> None:
    """A link path that is a regular file is refused, and the file is kept."""
    path = tmp_path / "important"
    path.write_text("keep me")
    server = PtyServer(simulator(), link=path)
    with pytest.raises(PortError, match="not a symlink"):
        await server.start()
    assert path.read_text() == "keep me"
    await server.close()


async def test_the_link_needs_a_writable_directory(tmp_path: Path) -> None:
    """A link in a directory that does not exist: a PortError that says so."""
    server = PtyServer(simulator(), link=tmp_path / "missing" / "inverter")
    with pytest.raises(PortError, match="directory writable"):
        await server.start()
    await server.close()


async def test_an_old_link_is_repointed(tmp_path: Path) -> None:
    """A symlink left by an earlier run is replaced by one to the new pty."""
    link = tmp_path / "inverter"
    link.symlink_to("/dev/pts/does-not-exist")
    async with PtyServer(simulator(), link=link) as server:
        assert str(link.readlink()) == server.path
        assert await server.start() == str(link)


async def test_closing_twice_is_harmless_and_hangs_up_hosts() -> None:
    """close() is idempotent; a connected TCP host sees the connection end."""
    server = await serve_tcp(simulator())
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), WAIT)
    writer.write(QPI)
    assert await asyncio.wait_for(reader.readuntil(b"\r"), WAIT)
    await asyncio.wait_for(server.close(), WAIT)
    await server.close()
    assert await asyncio.wait_for(reader.read(), WAIT) == b""
    writer.close()
    pty = await serve_pty(simulator())
    await pty.close()
    await pty.close()
    assert repr(pty).startswith("<PtyServer")
    assert repr(server).startswith("<TcpServer 127.0.0.1:")


async def test_a_port_in_use_is_a_port_error() -> None:
    """Listening where another server listens says what to do instead."""
    async with TcpServer(simulator()) as first:
        second = TcpServer(simulator(), port=first.port)
        with pytest.raises(PortError, match="another port"):
            await second.start()


async def test_a_tcp_host_that_leaves_mid_answer_does_no_harm() -> None:
    """The server keeps serving others after a host drops its connection."""
    async with TcpServer(simulator(), Faults(latency=0.05)) as server:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", server.port), WAIT
        )
        writer.write(QPI)
        writer.transport.abort()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", server.port), WAIT
        )
        writer.write(QPI)
        assert await asyncio.wait_for(reader.readuntil(b"\r"), WAIT)
        writer.close()


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_silence_sends_nothing(kind: str) -> None:
    """A silent device: nothing arrives within the deadline."""
    async with served(kind, simulator(), Faults(silence=1.0)) as host:
        await host.send(QPI)
        assert await host.receive(whole("QPI"), QUIET) == b""


@pytest.mark.parametrize("kind", KINDS)
async def test_a_corrupted_crc_fails_our_check(kind: str) -> None:
    """The answer arrives whole, but its CRC does not match."""
    async with served(kind, simulator(), Faults(crc=1.0, seed=1)) as host:
        await host.send(QPI)
        answer = await host.receive(whole("QPI"))
    with pytest.raises(CRCError):
        PI30.decode("QPI", answer)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_truncated_answer_is_reported_as_truncated(kind: str) -> None:
    """Only the start of the answer arrives."""
    async with served(kind, simulator(), Faults(truncate=1.0, seed=2)) as host:
        await host.send(QID)
        answer = await host.receive(whole("QID"), QUIET)
    assert answer
    with pytest.raises(TruncatedFrameError):
        PI30.decode("QID", answer)


@pytest.mark.parametrize("kind", KINDS)
async def test_garbage_is_not_an_answer(kind: str) -> None:
    """Line noise ending in CR: a frame error, never a value."""
    async with served(kind, simulator(), Faults(garbage=1.0, seed=3)) as host:
        await host.send(QPI)
        answer = await host.receive(whole("QPI"))
    with pytest.raises(FrameError):
        PI30.decode("QPI", answer)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stale_answer_is_the_previous_one(kind: str) -> None:
    """Each answer comes one request late: QID is answered with QPI's answer."""
    async with served(kind, simulator(), Faults(stale=1.0)) as host:
        await host.send(QPI)
        assert await host.receive(whole("QPI"), QUIET) == b""
        await host.send(QID)
        answer = await host.receive(whole("QID"))
    assert PI30.decode("QPI", answer)["protocol_id"] == "PI30"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_disconnect_closes_the_connection(kind: str) -> None:
    """The device drops the link: the host's read fails instead of waiting."""
    async with served(kind, simulator(), Faults(disconnect=1.0)) as host:
        await host.send(QPI + QPI)  # the second request is lost with the connection
        with pytest.raises((EOFError, OSError)):
            await host.receive(whole("QPI"))


async def test_a_pty_comes_back_after_a_disconnect(tmp_path: Path) -> None:
    """After hanging up, the server serves a fresh pty behind the same link."""
    link = tmp_path / "inverter"
    flaky = FaultySimulator(simulator(), Faults(disconnect=0.5, seed=3))
    async with PtyServer(flaky, link=link) as server:
        answered = dropped = 0
        for _ in range(6):
            host = PtyHost(str(link))
            await host.send(QPI)
            try:
                answer = await host.receive(whole("QPI"))
            except (EOFError, OSError):
                dropped += 1
            else:
                assert PI30.decode("QPI", answer)["protocol_id"] == "PI30"
                answered += 1
            host.close()
        assert str(link.readlink()) == server.path
    assert answered and dropped


@pytest.mark.parametrize("kind", KINDS)
async def test_latency_and_wire_time_delay_but_do_not_change_the_answer(kind: str) -> None:
    """A slow device at 9600 baud still answers correctly."""
    async with served(kind, simulator(), Faults(latency=0.01, baud=9600)) as host:
        await host.send(QPI)
        answer = await host.receive(whole("QPI"))
    assert PI30.decode("QPI", answer)["protocol_id"] == "PI30"


def test_the_delay_is_latency_plus_wire_time() -> None:
    """8N1: ten bits a byte."""
    faulty = FaultySimulator(simulator(), Faults(latency=0.5, baud=2400))
    action = faulty.reply(QPI)
    assert action.data is not None
    assert action.delay == pytest.approx(0.5 + len(action.data) * 10 / 2400)
    assert wire_time(240, None) == 0.0


def test_faults_are_drawn_by_their_probability_and_seed() -> None:
    """Half the answers corrupted on average; the same seed gives the same sequence."""
    faults = Faults(crc=0.5, seed=9)
    one, two = FaultySimulator(simulator(), faults), FaultySimulator(simulator(), faults)
    sequence = [one.reply(QPI).fault for _ in range(200)]
    assert sequence == [two.reply(QPI).fault for _ in range(200)]
    assert 60 < sequence.count(Fault.CRC) < 140
    assert set(sequence) == {Fault.CRC, Fault.NONE}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"crc": 1.5}, "probability"),
        ({"silence": 0.6, "garbage": 0.6}, "more than 1"),
        ({"latency": -1.0}, "latency"),
        ({"baud": 0}, "baud"),
    ],
)
def test_impossible_fault_profiles_are_refused(options: dict[str, float], message: str) -> None:
    """Each refusal says what is allowed."""
    with pytest.raises(ValueError, match=message):
        Faults(**options)


def test_without_faults_the_simulator_is_not_wrapped() -> None:
    """No profile, or one that injects nothing, leaves the device as it is."""
    device = simulator()
    assert with_faults(device, None) is device
    assert with_faults(device, Faults(seed=1)) is device
    assert reply(device, QPI) == Reply(device.handle(QPI))
    wrapped = create_simulator("pi30", faults=Faults(silence=1.0), seed=1, utc_offset=0)
    assert isinstance(wrapped, FaultySimulator)
    assert wrapped.handle(QPI) is None
    assert wrapped.split_requests(QPI + b"QP") == ([QPI], b"QP")
    assert wrapped.unsolicited() == b""
    assert "FaultySimulator" in repr(wrapped)


def test_corruption_of_binary_answers_changes_their_last_bytes() -> None:
    """Frames without a CR (BMS records) get their trailing checksum bytes changed."""
    faulty = FaultySimulator(simulator(), Faults(crc=1.0))
    assert faulty._corrupt(b"\x01\x02\x03\x04") == b"\x01\x02\x05\x07"  # noqa: SLF001
    assert faulty._corrupt(b"\x0b\x0b\r") == b"\x0e\x0f\r"  # noqa: SLF001 - never CR or LF


@pytest.mark.parametrize(("protocol", "command"), [("daly", "SOC"), ("jk02", "getInfo")])
def test_a_corrupted_sum_checksum_never_matches(protocol: str, command: str) -> None:
    """A one-byte sum after a data byte: both changed alike would still add up."""
    faulty = FaultySimulator(create_simulator(protocol, seed=3), Faults(crc=1.0))
    codec = get_protocol(protocol)
    answer = faulty.handle(codec.build_request(command))
    assert answer is not None
    with pytest.raises(CRCError):
        codec.decode(command, answer)


# -- scripted faults ---------------------------------------------------------------------------


def test_a_script_names_the_fault_of_each_request_then_chance_takes_over() -> None:
    """The first requests suffer the scripted faults, one each; then the probabilities apply."""
    chance = Faults(crc=0.5, seed=9)
    scripted = Faults(crc=0.5, seed=9, script=("none", "silence", Fault.CRC))
    assert scripted.script == (Fault.NONE, Fault.SILENCE, Fault.CRC)  # names become members
    faulty = FaultySimulator(simulator(), scripted)
    assert list(faulty.scripted) == [Fault.NONE, Fault.SILENCE, Fault.CRC]
    first = [faulty.reply(QPI) for _ in range(3)]
    assert [action.fault for action in first] == [Fault.NONE, Fault.SILENCE, Fault.CRC]
    assert first[0].data == simulator().handle(QPI)
    assert first[1].data is None
    assert faulty.scripted == ()
    # After the script, the same sequence as without one: the script draws no random numbers.
    plain = FaultySimulator(simulator(), chance)
    assert [faulty.reply(QPI).fault for _ in range(50)] == [
        plain.reply(QPI).fault for _ in range(50)
    ]


def test_faults_can_be_injected_into_a_device_in_use() -> None:
    """inject() scripts the next requests of a running device, after what is scripted already."""
    faulty = FaultySimulator(simulator(), Faults(script=("stale",)))
    faulty.inject("disconnect", Fault.TRUNCATE)
    assert faulty.scripted == (Fault.STALE, Fault.DISCONNECT, Fault.TRUNCATE)
    assert [faulty.reply(QPI).fault for _ in range(4)] == [
        Fault.STALE,
        Fault.DISCONNECT,
        Fault.TRUNCATE,
        Fault.NONE,
    ]
    with pytest.raises(ValueError, match="unknown fault 'crc32'; use one of none, silence"):
        faulty.inject("crc32")
    with pytest.raises(ValueError, match="unknown fault 'lag'"):
        Faults(script=("lag",))


def test_a_script_alone_wraps_the_simulator() -> None:
    """A profile with only a script is active: the device is wrapped."""
    assert Faults(script=("crc",)).active
    assert not Faults(seed=1, late_by=1.0).active
    wrapped = create_simulator("pi30", faults=Faults(script=("silence",)), seed=1, utc_offset=0)
    assert isinstance(wrapped, FaultySimulator)
    assert wrapped.handle(QPI) is None
    assert wrapped.handle(QPI) is not None


def test_a_late_answer_comes_late_by_on_top_of_the_latency() -> None:
    """The answer is whole; only its delay grows (scripted, or by its probability)."""
    faulty = FaultySimulator(simulator(), Faults(latency=0.5, late_by=1.5, script=("late",)))
    action = faulty.reply(QPI)
    assert (action.fault, action.data, action.delay) == (
        Fault.LATE,
        simulator().handle(QPI),
        2.0,
    )
    assert faulty.reply(QPI).delay == 0.5
    always = FaultySimulator(simulator(), Faults(late=1.0))
    assert always.reply(QPI).delay == 3.0  # the default: past the Device's 2 s timeout
    with pytest.raises(ValueError, match="late_by must be more than 0 s"):
        Faults(late_by=0)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_scripted_fault_hits_exactly_the_request_it_names(kind: str) -> None:
    """Served over a link: the second answer only is corrupted, the third comes late."""
    faults = Faults(script=("none", "crc", "late"), late_by=QUIET * 3)
    async with served(kind, simulator(), faults) as host:
        await host.send(QPI)
        assert PI30.decode("QPI", await host.receive(whole("QPI")))["protocol_id"] == "PI30"
        await host.send(QPI)
        with pytest.raises(CRCError):
            PI30.decode("QPI", await host.receive(whole("QPI")))
        await host.send(QID)
        assert await host.receive(whole("QID"), QUIET) == b""
        assert PI30.decode("QID", await host.receive(whole("QID")))


async def test_a_reply_queue_keeps_the_order_and_each_delay() -> None:
    """Replies are carried out in order; one delayed holds up those behind it; clear() forgets."""
    done: list[bytes | None] = []
    finished = asyncio.Event()

    def carry_out(action: Reply) -> None:
        done.append(action.data)
        if action.data == b"last":
            finished.set()

    queue = ReplyQueue(carry_out)
    queue.put(Reply(b"slow", delay=0.05))
    queue.put(Reply(b"quick"))
    queue.put(Reply(None, delay=0.01))
    assert len(queue) == 3
    queue.put(Reply(b"last"))
    await asyncio.wait_for(finished.wait(), WAIT)
    assert done == [b"slow", b"quick", None, b"last"]
    assert len(queue) == 0
    queue.clear()  # nothing waiting: harmless
    # What is cleared is never carried out, and does not hold up what comes after.
    queue.put(Reply(b"never", delay=60))
    queue.clear()
    finished.clear()
    queue.put(Reply(b"last"))
    await asyncio.wait_for(finished.wait(), WAIT)
    assert done[4:] == [b"last"]


# -- the in-process transport ------------------------------------------------------------------


async def test_the_simulated_transport_exchanges_in_process() -> None:
    """No sockets: the request reaches the simulator, the answer comes back complete."""
    transport = SimulatedTransport(simulator())
    assert not transport.is_open
    answer = await transport.exchange(QPI, whole("QPI"), WAIT)
    assert transport.is_open
    assert PI30.decode("QPI", answer)["protocol_id"] == "PI30"
    await transport.close()
    assert not transport.is_open
    assert repr(transport) == "<SimulatedTransport sim://pi30>"


@pytest.mark.parametrize("port", ["sim", "test", "sim://"])
async def test_sim_ports_open_the_simulator_of_the_protocol(port: str) -> None:
    """``-p sim`` with a protocol simulates that protocol; without one, PI30."""
    transport = open_transport(port, protocol="pi18")
    async with transport:
        request = get_protocol("pi18").build_request("PI")
        answer = await transport.exchange(request, whole("PI", "pi18"), WAIT)
    assert get_protocol("pi18").decode("PI", answer)["protocol_version"] == "18"
    default = open_transport("sim", protocol="auto")
    assert PI30.decode("QPI", await default.exchange(QPI, whole("QPI"), WAIT))


@pytest.mark.parametrize("host", [None, "auto", "pi30"])
async def test_a_sim_url_names_the_simulated_device_whatever_the_host_speaks(
    host: str | None,
) -> None:
    """``-p sim://pi18`` simulates a PI18 even with ``-P auto``, so detection has one to find."""
    transport = open_transport("sim://PI18", protocol=host)
    assert repr(transport) == "<SimulatedTransport sim://pi18>"
    async with transport:
        request = get_protocol("pi18").build_request("PI")
        answer = await transport.exchange(request, whole("PI", "pi18"), WAIT)
    assert get_protocol("pi18").decode("PI", answer)["protocol_version"] == "18"


async def test_sim_ports_refuse_unknown_protocols_and_options() -> None:
    """Both errors say what is wrong, as a PortError."""
    with pytest.raises(PortError, match="no simulator for protocol"):
        open_transport("sim", protocol="pi99")
    with pytest.raises(PortError, match="no simulator for protocol 'pi99'"):
        open_transport("sim://pi99")
    with pytest.raises(PortError, match="option"):
        simulated_transport("pi30", colour="blue")


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (Faults(silence=1.0), DeviceTimeoutError),
        (Faults(truncate=1.0), DeviceTimeoutError),
        (Faults(latency=5.0), DeviceTimeoutError),
        (Faults(disconnect=1.0), TransportError),
    ],
)
async def test_simulated_faults_raise_what_a_real_link_raises(
    faults: Faults, error: type[Exception]
) -> None:
    """Silence and cut-off answers time out; a dropped connection is a transport error."""
    transport = simulated_transport("pi30", faults=faults, seed=1, utc_offset=0)
    with pytest.raises(error):
        await transport.exchange(QPI, whole("QPI"), 0.05)


async def test_a_slow_simulated_device_still_answers_in_time() -> None:
    """Latency within the timeout delays the answer but does not lose it."""
    transport = simulated_transport("pi30", faults=Faults(latency=0.01), seed=1, utc_offset=0)
    assert PI30.decode("QPI", await transport.exchange(QPI, whole("QPI"), WAIT))


async def test_the_simulated_transport_reopens_after_a_disconnect() -> None:
    """After the device dropped the link, the next exchange opens it again."""
    faulty = FaultySimulator(simulator(), Faults(disconnect=0.5, seed=3))
    transport = SimulatedTransport(faulty)
    outcomes = []
    for _ in range(8):
        try:
            await transport.exchange(QPI, whole("QPI"), 0.05)
        except TransportError:
            outcomes.append("dropped")
            assert not transport.is_open
        else:
            outcomes.append("answered")
    assert set(outcomes) == {"dropped", "answered"}


async def test_listening_to_a_simulator_that_says_nothing_times_out() -> None:
    """An empty request just listens; Voltronic units send nothing unasked."""
    transport = SimulatedTransport(simulator())
    with pytest.raises(DeviceTimeoutError, match="got nothing"):
        await transport.exchange(b"", whole("QPI"), 0.01)


async def test_a_partial_request_waits_for_its_end() -> None:
    """A request without its CR is kept until the rest arrives, as on a real line."""
    transport = SimulatedTransport(simulator())
    with pytest.raises(DeviceTimeoutError):
        await transport.exchange(QPI[:-1], whole("QPI"), 0.01)
    answer = await transport.exchange(b"\r", whole("QPI"), WAIT)
    assert PI30.decode("QPI", answer)["protocol_id"] == "PI30"


async def test_the_in_process_transport_serves_every_family() -> None:
    """A PI30 MAX unit's second PV input, through the in-process transport."""
    transport = SimulatedTransport(simulator("pi30max"))
    request = get_protocol("pi30max").build_request("QPIGS2")
    answer = await transport.exchange(request, whole("QPIGS2", "pi30max"), WAIT)
    assert get_protocol("pi30max").decode("QPIGS2", answer)["pv2_charging_power"] > 0
