"""Serve a simulator where real devices are found: a pseudo-terminal, or a TCP port.

Over a pty (:class:`PtyServer`) the real serial transport opens the slave side (``/dev/pts/7``,
or a stable symlink such as ``/tmp/inverter``) exactly as it opens ``/dev/ttyUSB0``; over TCP
(:class:`TcpServer`) the TCP transport connects as it does to a serial-over-IP gateway. Requests
arrive as a byte stream; the simulator's :meth:`~mppsolar_lib.simulator.base.Simulator.split_requests`
cuts it into requests, answered one after the other, with the :class:`~.faults.Faults` given
(latency, silence, garbage, CRC corruption, truncation, stale answers, dropped connections).

Everything runs on the event loop: the pty master is read through the loop's reader callback and
written without blocking; nothing sleeps except to play an injected delay.
"""

from __future__ import annotations

import asyncio
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


class PtyServer:
    """A simulator behind a pseudo-terminal: open :attr:`path` like any serial port."""

    def __init__(
        self,
        simulator: Simulator,
        faults: Faults | None = None,
        *,
        link: str | os.PathLike[str] | None = None,
    ) -> None:
        """Serve ``simulator``; ``link`` is a symlink kept pointing at the pty (a stable path)."""
        self.simulator = with_faults(simulator, faults)
        self.link = Path(link) if link is not None else None
        #: The slave side's path (``/dev/pts/N``), once started.
        self.path = ""
        self._master = -1
        self._slave = -1
        self._buffer = b""
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> str:
        """Create the pty and start answering; return the path to open (the link if given)."""
        if self._task is not None:
            return str(self.link or self.path)
        self._loop = asyncio.get_running_loop()
        self._open()
        self._task = asyncio.create_task(self._answer(), name=f"pty {self.path}")
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
        """Write all of ``data`` to the master without blocking the loop."""
        assert self._loop is not None
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                ready = self._loop.create_future()
                self._loop.add_writer(self._master, ready.set_result, None)
                try:
                    await ready
                finally:
                    self._loop.remove_writer(self._master)
                continue
            except OSError:
                return  # the pty went away (closed, or hung up by a fault): the answer is lost
            view = view[written:]

    def _close_fds(self) -> None:
        """Stop reading and close both sides of the pty."""
        if self._master >= 0 and self._loop is not None:
            self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    async def close(self) -> None:
        """Stop answering, close the pty and remove the link; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
    ) -> None:
        """Serve ``simulator`` on ``host``:``port`` (0: any free port, see :attr:`port`)."""
        self.simulator = with_faults(simulator, faults)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
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
        return self.port

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
) -> PtyServer:
    """Start serving ``simulator`` on a new pty; the server's :attr:`~PtyServer.path` is its port."""
    server = PtyServer(simulator, faults, link=link)
    await server.start()
    return server


async def serve_tcp(
    simulator: Simulator,
    faults: Faults | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> TcpServer:
    """Start serving ``simulator`` on TCP; the server's :attr:`~TcpServer.port` is bound."""
    server = TcpServer(simulator, faults, host=host, port=port)
    await server.start()
    return server
