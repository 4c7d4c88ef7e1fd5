"""Serve a simulator where real devices are found: a pseudo-terminal, or a TCP port.

Over a pty (:class:`PtyServer`) the real serial transport opens the slave side (``/dev/pts/7``,
or a stable symlink such as ``/tmp/inverter``) exactly as it opens ``/dev/ttyUSB0``; over TCP
(:class:`TcpServer`) the TCP transport connects as it does to a serial-over-IP gateway. Requests
arrive as a byte stream; the simulator's :meth:`~mppsolar_lib.simulator.base.Simulator.split_requests`
cuts it into requests, answered one after the other, with the :class:`~.faults.Faults` given
(latency, silence, garbage, CRC corruption, truncation, stale answers, dropped connections).
What the device says unasked (:meth:`~mppsolar_lib.simulator.base.Simulator.unsolicited`: a
VE.Direct unit's text blocks, a JK BMS's streamed cell records) goes out every
:attr:`~mppsolar_lib.simulator.base.Simulator.stream_interval` seconds (``stream_interval=``
overrides it), between answers, never inside one.

Everything runs on the event loop: the pty master is read through the loop's reader callback and
written without blocking; nothing sleeps except to play an injected delay or the device's pace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import os
from pathlib import Path
import tty
from typing import Self

from mppsolar_lib.errors import PortError
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.faults import Faults, reply, with_faults

#: Bytes without a complete request after which the buffer is taken as line noise and dropped.
MAX_PENDING = 4096
_READ_SIZE = 4096


def stream_pace(simulator: Simulator, interval: float | None) -> float | None:
    """Return the seconds between unsolicited sends: ``interval``, else the simulator's own."""
    if interval is None:
        return simulator.stream_interval
    if interval <= 0:
        raise ValueError(f"stream_interval must be more than 0 s, got {interval:g}")
    return interval


async def _stream(
    simulator: Simulator, interval: float, send: Callable[[bytes], Awaitable[None]]
) -> None:
    """Send what ``simulator`` says unasked every ``interval`` s until cancelled.

    Ticks are kept on a fixed schedule; one missed while a send waited is not made up (a device
    does not talk faster to catch up).
    """
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due = max(due + interval, loop.time())
        await asyncio.sleep(due - loop.time())
        data = simulator.unsolicited()
        if data:
            await send(data)


class PtyServer:
    """A simulator behind a pseudo-terminal: open :attr:`path` like any serial port."""

    def __init__(
        self,
        simulator: Simulator,
        faults: Faults | None = None,
        *,
        link: str | os.PathLike[str] | None = None,
        stream_interval: float | None = None,
    ) -> None:
        """Serve ``simulator``; ``link`` is a symlink kept pointing at the pty (a stable path).

        ``stream_interval`` (seconds) paces what the device sends unasked; default: the
        simulator's own :attr:`~mppsolar_lib.simulator.base.Simulator.stream_interval`.
        """
        self.simulator = with_faults(simulator, faults)
        self.link = Path(link) if link is not None else None
        #: Seconds between unsolicited sends (``None``: the device sends nothing unasked).
        self.stream_interval = stream_pace(self.simulator, stream_interval)
        #: The slave side's path (``/dev/pts/N``), once started.
        self.path = ""
        self._master = -1
        self._slave = -1
        # Counts the ptys opened: a write meant for a pty that was hung up is dropped.
        self._generation = 0
        self._buffer = b""
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._streaming: asyncio.Task[None] | None = None
        # One write at a time: an answer and a streamed block never interleave.
        self._writing = asyncio.Lock()
        self._room: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> str:
        """Create the pty and start answering; return the path to open (the link if given)."""
        if self._task is not None:
            return str(self.link or self.path)
        self._loop = asyncio.get_running_loop()
        self._open()
        self._task = asyncio.create_task(self._answer(), name=f"pty {self.path}")
        if self.stream_interval is not None:
            self._streaming = asyncio.create_task(
                _stream(self.simulator, self.stream_interval, self._write),
                name=f"pty {self.path} stream",
            )
        return str(self.link or self.path)

    def _open(self) -> None:
        """Open a pty pair, raw, its master read by the loop; point the link at it."""
        assert self._loop is not None
        try:
            master, slave = os.openpty()
        except OSError as err:
            raise PortError(
                f"cannot create a pseudo-terminal ({err.strerror}); is /dev/pts mounted?"
            ) from err
        # Raw: no echo, no CR -> LF translation; bytes pass as a serial line carries them.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._buffer = b""
        self._loop.add_reader(master, self._readable)
        if self.link is not None:
            self._point_link()

    def _point_link(self) -> None:
        """Make :attr:`link` a symlink to the pty, replacing only an earlier symlink."""
        assert self.link is not None
        link = self.link
        if link.exists() and not link.is_symlink():
            self._close_fds()
            raise PortError(f"{link} exists and is not a symlink; choose another link path")
        temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        try:
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(self.path)
            temporary.replace(link)
        except OSError as err:
            self._close_fds()
            raise PortError(
                f"cannot create the link {link} ({err.strerror}); is its directory writable?"
            ) from err

    def _readable(self) -> None:
        """Take what the host wrote; queue each complete request."""
        try:
            data = os.read(self._master, _READ_SIZE)
        except OSError:
            return  # nothing there after all, or no one on the other side yet
        requests, self._buffer = self.simulator.split_requests(self._buffer + data)
        if len(self._buffer) > MAX_PENDING:
            self._buffer = b""
        for request in requests:
            self._queue.put_nowait(request)

    async def _answer(self) -> None:
        """Answer queued requests in order, playing the faults' delays and disconnects."""
        while True:
            request = await self._queue.get()
            action = reply(self.simulator, request)
            if action.delay:
                await asyncio.sleep(action.delay)
            if action.disconnect:
                self._reopen()
            elif action.data:
                await self._write(action.data)

    def _reopen(self) -> None:
        """Hang up (the host sees the port fail) and come back on a fresh pty."""
        self._close_fds()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._open()

    async def _write(self, data: bytes) -> None:
        """Write all of ``data`` to the master without blocking the loop.

        While the host does not read, the pty's buffer fills and this waits for room. What was
        meant for a pty that has been hung up since (a disconnect fault) is dropped.
        """
        async with self._writing:
            master, generation = self._master, self._generation
            view = memoryview(data)
            while view and generation == self._generation:
                try:
                    written = os.write(master, view)
                except BlockingIOError:
                    await self._wait_for_room(master)
                    continue
                except OSError:  # pragma: no cover - we hold the slave open: the pty stays up
                    return
                view = view[written:]

    async def _wait_for_room(self, master: int) -> None:
        """Wait until ``master`` takes more bytes, or the pty is hung up."""
        assert self._loop is not None
        room = self._room = self._loop.create_future()
        self._loop.add_writer(master, room.set_result, None)
        try:
            await room
        finally:
            # Harmless if the pty was hung up meanwhile and a new one has the same number: only
            # this method watches for room, and it runs under the write lock.
            self._room = None
            self._loop.remove_writer(master)

    def _close_fds(self) -> None:
        """Stop reading and writing, close both sides of the pty."""
        if self._master >= 0 and self._loop is not None:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        # A write waiting for room on this pty gives up (see _write).
        self._generation += 1
        room, self._room = self._room, None
        if room is not None:
            with contextlib.suppress(asyncio.InvalidStateError):  # room came first: awake already
                room.set_result(None)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    async def close(self) -> None:
        """Stop answering, close the pty and remove the link; idempotent."""
        tasks = [task for task in (self._task, self._streaming) if task is not None]
        self._task = self._streaming = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._close_fds()
        link = self.link
        if link is not None and link.is_symlink() and str(link.readlink()) == self.path:
            link.unlink(missing_ok=True)

    async def __aenter__(self) -> Self:
        """Start on entering ``async with``."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on leaving ``async with``."""
        await self.close()

    def __repr__(self) -> str:
        """Path and simulator."""
        return f"<PtyServer {self.link or self.path or 'closed'} {self.simulator!r}>"


class TcpServer:
    """A simulator behind a TCP port, as a serial-over-IP gateway (EW11, ser2net) serves one."""

    def __init__(
        self,
        simulator: Simulator,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stream_interval: float | None = None,
    ) -> None:
        """Serve ``simulator`` on ``host``:``port`` (0: any free port, see :attr:`port`).

        ``stream_interval`` (seconds) paces what the device sends unasked; default: the
        simulator's own :attr:`~mppsolar_lib.simulator.base.Simulator.stream_interval`.
        """
        self.simulator = with_faults(simulator, faults)
        self.host = host
        self.port = port
        #: Seconds between unsolicited sends (``None``: the device sends nothing unasked).
        self.stream_interval = stream_pace(self.simulator, stream_interval)
        self._server: asyncio.Server | None = None
        self._streaming: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Listen; return the bound port."""
        if self._server is None:
            try:
                self._server = await asyncio.start_server(self._client, self.host, self.port)
            except OSError as err:
                raise PortError(
                    f"cannot listen on {self.host}:{self.port} ({err.strerror}); "
                    "choose another port, or 0 for any free one"
                ) from err
            self.port = self._server.sockets[0].getsockname()[1]
            if self.stream_interval is not None:
                self._streaming = asyncio.create_task(
                    _stream(self.simulator, self.stream_interval, self._broadcast),
                    name=f"tcp {self.port} stream",
                )
        return self.port

    async def _broadcast(self, data: bytes) -> None:
        """Send a streamed block to every connection that keeps up with the stream.

        One device, one stream: every connected host hears the same blocks. A host that stops
        reading misses blocks (as it would behind a gateway) rather than making the server
        buffer them without end; answers to its requests are never dropped.
        """
        for writer in list(self._writers):
            transport = writer.transport
            full = transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]
            if full or transport.is_closing():
                continue  # it cannot take more now: not reading, or gone
            writer.write(data)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection's requests in order until it closes or a fault drops it."""
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        self._writers.add(writer)
        buffer = b""
        try:
            while data := await reader.read(_READ_SIZE):
                requests, buffer = self.simulator.split_requests(buffer + data)
                if len(buffer) > MAX_PENDING:
                    buffer = b""
                for request in requests:
                    action = reply(self.simulator, request)
                    if action.delay:
                        await asyncio.sleep(action.delay)
                    if action.disconnect:
                        writer.transport.abort()
                        return
                    if action.data:
                        writer.write(action.data)
                        await writer.drain()
        except ConnectionError:
            return  # the host went away mid-answer
        finally:
            self._clients.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        """Stop listening and drop every connection; idempotent."""
        server, self._server = self._server, None
        streaming, self._streaming = self._streaming, None
        if streaming is not None:
            streaming.cancel()
            await asyncio.gather(streaming, return_exceptions=True)
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        clients = list(self._clients)
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        """Start on entering ``async with``."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on leaving ``async with``."""
        await self.close()

    def __repr__(self) -> str:
        """Address and simulator."""
        return f"<TcpServer {self.host}:{self.port} {self.simulator!r}>"


async def serve_pty(
    simulator: Simulator,
    faults: Faults | None = None,
    *,
    link: str | os.PathLike[str] | None = None,
    stream_interval: float | None = None,
) -> PtyServer:
    """Start serving ``simulator`` on a new pty; the server's :attr:`~PtyServer.path` is its port."""
    server = PtyServer(simulator, faults, link=link, stream_interval=stream_interval)
    await server.start()
    return server


async def serve_tcp(
    simulator: Simulator,
    faults: Faults | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    stream_interval: float | None = None,
) -> TcpServer:
    """Start serving ``simulator`` on TCP; the server's :attr:`~TcpServer.port` is bound."""
    server = TcpServer(simulator, faults, host=host, port=port, stream_interval=stream_interval)
    await server.start()
    return server
