"""BufferedTransport, the exchange every byte-stream link shares, over a real socket pair.

:class:`PairLink` is about the smallest concrete ``BufferedTransport``: each connection is a new
``socket.socketpair()``, read through the event loop's reader callback; the test holds the other
end (:class:`Far`) and plays the device. So what is under test is the library's own exchange
loop (stale input, completion, listening, timeouts, a link lost or closed mid-exchange) on real
file descriptors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import socket
from typing import TypeVar

import pytest

from mppsolar_lib.errors import DeviceTimeoutError, TransportError
from mppsolar_lib.transports.base import MAX_ANSWER, BufferedTransport

T = TypeVar("T")
WAIT = 5.0


async def bounded(awaitable: Awaitable[T]) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, WAIT)


class Far:
    """The device's end of one connection."""

    def __init__(self, sock: socket.socket) -> None:
        """Use ``sock`` (non-blocking) through the running loop."""
        sock.setblocking(False)
        self.sock = sock

    async def send(self, data: bytes) -> None:
        """Send all of ``data``."""
        await bounded(asyncio.get_running_loop().sock_sendall(self.sock, data))

    async def receive(self, size: int) -> bytes:
        """Return exactly ``size`` bytes the host wrote."""
        loop = asyncio.get_running_loop()
        data = b""
        while len(data) < size:
            chunk = await bounded(loop.sock_recv(self.sock, size - len(data)))
            assert chunk, "the host closed the link"
            data += chunk
        return data

    def pending(self) -> bytes:
        """Return what the host wrote and was not read yet, without waiting."""
        try:
            return self.sock.recv(65536)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        """Hang up."""
        self.sock.close()


class PairLink(BufferedTransport):
    """A BufferedTransport over a fresh socket pair per connection."""

    name = "pair://device"

    def __init__(self) -> None:
        """Start closed; each connection's far end is queued in :attr:`far`."""
        super().__init__()
        self.far: asyncio.Queue[Far] = asyncio.Queue()
        self.connects = 0
        self.disconnects = 0
        #: Raised by the next _disconnect (a link that fails on the way out).
        self.disconnect_error: OSError | None = None
        self._sock: socket.socket | None = None

    async def _connect(self) -> None:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        self._sock = ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable, ours)
        self.connects += 1
        self.far.put_nowait(Far(theirs))

    def _readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except BlockingIOError:  # pragma: no cover - the loop said there was data
            return
        if not data:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            self.lost()
            return
        self.feed(data)

    async def _disconnect(self) -> None:
        self.disconnects += 1
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        error, self.disconnect_error = self.disconnect_error, None
        if error is not None:
            raise error

    async def _write(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except OSError as err:  # pragma: no cover - the tests hang up only after the write
            raise TransportError(f"{self.name}: write failed: {err}") from err


async def connected() -> tuple[PairLink, Far]:
    """Open a link; return it and the device's end."""
    link = PairLink()
    await bounded(link.open())
    return link, link.far.get_nowait()


def through(terminator: bytes) -> Callable[[bytes], int | None]:
    """Complete at the first ``terminator`` (as a CR-terminated protocol does)."""

    def complete(buffer: bytes) -> int | None:
        end = buffer.find(terminator)
        return None if end < 0 else end + len(terminator)

    return complete


async def test_an_exchange_writes_the_request_and_returns_just_the_answer() -> None:
    """The request reaches the device; the answer ends where the completion says."""
    link, far = await connected()
    exchange = asyncio.create_task(link.exchange(b"QPI\r", through(b"\r"), WAIT))
    assert await far.receive(4) == b"QPI\r"
    await far.send(b"(PI30\rmore")
    assert await bounded(exchange) == b"(PI30\r"
    await link.close()


async def test_an_answer_in_pieces_is_read_until_complete() -> None:
    """A partial answer is not complete: the exchange waits for the rest, then returns it."""
    link, far = await connected()
    seen: list[bytes] = []
    first_look = asyncio.Event()

    def complete(buffer: bytes) -> int | None:
        seen.append(buffer)
        first_look.set()
        return through(b"\r")(buffer)

    exchange = asyncio.create_task(link.exchange(b"Q\r", complete, WAIT))
    await far.receive(2)
    await far.send(b"(PI")
    await bounded(first_look.wait())  # the piece was looked at and found incomplete
    await far.send(b"30\r")
    assert await bounded(exchange) == b"(PI30\r"
    assert seen[0] == b"(PI"
    await link.close()


async def test_an_empty_request_just_listens() -> None:
    """Nothing is written; what the device sends unasked is the answer (VE.Direct text)."""
    link, far = await connected()
    exchange = asyncio.create_task(link.exchange(b"", through(b"\n"), WAIT))
    await far.send(b"V\t52100\r\n")
    assert await bounded(exchange) == b"V\t52100\r\n"
    assert far.pending() == b""  # the host wrote nothing
    await link.close()


async def test_listening_to_a_silent_device_times_out_having_sent_nothing() -> None:
    """An empty request to a device that says nothing ends in a timeout, not a write."""
    link, far = await connected()
    with pytest.raises(DeviceTimeoutError, match=r"pair://device: no complete answer in 0\.05 s"):
        await bounded(link.exchange(b"", through(b"\n"), 0.05))
    assert far.pending() == b""
    await link.close()


async def test_input_left_from_an_earlier_exchange_is_dropped() -> None:
    """Bytes after an answer (a late reply, noise) never count for the next command."""
    link, far = await connected()

    def ten_then_five(buffer: bytes) -> int | None:
        return 5 if len(buffer) >= 10 else None  # the answer is 5 bytes; 5 more stay behind

    first = asyncio.create_task(link.exchange(b"A", ten_then_five, WAIT))
    await far.receive(1)
    await far.send(b"first")
    await far.send(b"stale")
    assert await bounded(first) == b"first"
    second = asyncio.create_task(link.exchange(b"B", through(b"\r"), WAIT))
    assert await far.receive(1) == b"B"
    await far.send(b"new\r")
    assert await bounded(second) == b"new\r"
    await link.close()


async def test_a_runaway_stream_keeps_only_the_last_max_answer_bytes() -> None:
    """More than MAX_ANSWER bytes without an answer end: the oldest are dropped, not hoarded."""
    link, far = await connected()
    stream = bytes(range(256)) * (MAX_ANSWER // 256) + b"x" * 100 + b"END"

    def at_end(buffer: bytes) -> int | None:
        return len(buffer) if buffer.endswith(b"END") else None

    exchange = asyncio.create_task(link.exchange(b"", at_end, WAIT))
    await far.send(stream)
    answer = await bounded(exchange)
    assert len(answer) == MAX_ANSWER
    assert answer == stream[-MAX_ANSWER:]
    await link.close()


async def test_a_timeout_says_what_arrived() -> None:
    """An incomplete answer costs the timeout; the error shows the bytes that came."""
    link, far = await connected()
    exchange = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), 0.2))
    await far.receive(2)
    await far.send(b"(PI3")
    with pytest.raises(DeviceTimeoutError, match=r"got 4 bytes \(b'\(PI3'…\)"):
        await bounded(exchange)
    assert link.is_open  # a timeout is no reason to drop the link
    await link.close()


async def test_a_device_that_hangs_up_mid_exchange_is_a_transport_error() -> None:
    """The far end closing is reported at once (no waiting for the timeout), naming the link."""
    link, far = await connected()
    exchange = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), WAIT))
    await far.receive(2)
    far.close()
    with pytest.raises(TransportError, match=r"^pair://device: connection lost$"):
        await bounded(exchange)
    assert not link.is_open


async def test_a_lost_link_is_reopened_by_the_next_exchange() -> None:
    """After a loss the old link is released and a new one connected."""
    link, far = await connected()
    lost = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), WAIT))
    await far.receive(2)
    far.close()
    with pytest.raises(TransportError):
        await bounded(lost)
    exchange = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), WAIT))
    again = await bounded(link.far.get())
    assert await again.receive(2) == b"Q\r"
    await again.send(b"(ok\r")
    assert await bounded(exchange) == b"(ok\r"
    assert (link.connects, link.disconnects) == (2, 1)
    await link.close()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(104, "Connection reset by peer"), r"^pair://device: \[Errno 104\] Connection"),
        (TransportError("pair://device: the adapter was unplugged"), r"^pair://device: the ad"),
    ],
)
async def test_the_reason_a_link_was_lost_is_told_once(error: Exception, message: str) -> None:
    """A reader's error becomes a TransportError naming the link once, caused by the error."""
    link, far = await connected()
    exchange = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), WAIT))
    await far.receive(2)
    link.lost(error)
    with pytest.raises(TransportError, match=message) as info:
        await bounded(exchange)
    assert str(info.value).count("pair://device") == 1
    assert info.value.__cause__ is error
    await link.close()


async def test_closing_during_the_exchange_ends_it() -> None:
    """close() while an exchange waits ends that exchange at once with a TransportError."""
    link, far = await connected()
    exchange = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), WAIT))
    await far.receive(2)
    await link.close()
    with pytest.raises(TransportError, match=r"^pair://device: closed during the exchange$"):
        await bounded(exchange)
    assert not link.is_open


async def test_close_never_raises_and_is_idempotent() -> None:
    """A link failing on the way out still closes; a second close does nothing."""
    link, _ = await connected()
    link.disconnect_error = OSError(9, "Bad file descriptor")
    await link.close()
    await link.close()
    assert not link.is_open
    assert link.disconnects == 1


async def test_an_exchange_opens_the_link_and_open_is_idempotent() -> None:
    """The first exchange connects; opening an open link connects nothing new."""
    link = PairLink()
    exchange = asyncio.create_task(link.exchange(b"Q\r", through(b"\r"), WAIT))
    far = await bounded(link.far.get())
    assert await far.receive(2) == b"Q\r"
    await far.send(b"(ok\r")
    assert await bounded(exchange) == b"(ok\r"
    await link.open()
    assert link.connects == 1
    assert repr(link) == "<PairLink pair://device>"
    await link.close()


async def test_async_with_opens_and_closes() -> None:
    """``async with`` connects on entry and disconnects on exit."""
    async with PairLink() as link:
        assert link.is_open
    assert not link.is_open
    assert (link.connects, link.disconnects) == (1, 1)
