"""The transport contract: an async byte pipe to one device.

A transport knows nothing of fields or commands. It opens a link, writes a request and reads
until the *protocol* says the answer is complete (``complete(buffer) -> length | None``, usually
``functools.partial(protocol.answer_length, command)``), or a deadline passes. No fixed sleeps:
an exchange takes the device's time plus the event loop's.

:class:`BufferedTransport` is the shared implementation for links that deliver bytes on their
own schedule (serial, TCP, UDP, pseudo-terminals, Bluetooth notifications): a reader feeds
:meth:`BufferedTransport.feed`, and :meth:`BufferedTransport.exchange` drops stale input, writes,
and waits for ``complete`` to be satisfied.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Callable
import contextlib
import time
from typing import Self

from mppsolar_lib.errors import DeviceTimeoutError, TransportError

#: Tells from the bytes received so far whether the answer is complete: its length, or None.
Completion = Callable[[bytes], int | None]

#: Answers longer than this are not answers (a runaway stream or a wrong baud rate).
MAX_ANSWER = 64 * 1024


class Transport(ABC):
    """One link to one device. Not safe for concurrent exchanges: :class:`Device` serialises."""

    #: Human-readable address for logs and errors (``/dev/ttyUSB0``, ``tcp://10.0.0.7:8899``).
    name: str = "transport"

    @property
    @abstractmethod
    def is_open(self) -> bool:
        """Whether the link is up."""

    @abstractmethod
    async def open(self) -> None:
        """Open the link; raise :class:`~mppsolar_lib.errors.PortError` or ``TransportError``."""

    @abstractmethod
    async def close(self) -> None:
        """Close the link; never raises, idempotent."""

    @abstractmethod
    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Send ``request`` (may be empty: just listen) and return the complete answer.

        Raises :class:`~mppsolar_lib.errors.DeviceTimeoutError` when ``complete`` is not
        satisfied within ``timeout`` seconds (the partial bytes are in its message), and
        :class:`~mppsolar_lib.errors.TransportError` when the link drops.
        """

    async def __aenter__(self) -> Self:
        """Open on entering ``async with``."""
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on leaving ``async with``."""
        await self.close()

    def __repr__(self) -> str:
        """Class and address."""
        return f"<{type(self).__name__} {self.name}>"


class BufferedTransport(Transport):
    """Bytes arrive whenever the link delivers them; an exchange waits for a complete answer.

    Subclasses implement :meth:`_connect`, :meth:`_disconnect` and :meth:`_write`, and call
    :meth:`feed` with received bytes and :meth:`lost` when the link drops.
    """

    def __init__(self) -> None:
        """Start closed with an empty buffer."""
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._lost: BaseException | None = None
        self._open = False

    @property
    def is_open(self) -> bool:
        """Whether the link is up (and has not been lost since)."""
        return self._open and self._lost is None

    async def open(self) -> None:
        """Connect (no-op when already open)."""
        if self.is_open:
            return
        if self._open:
            # The link was lost: release what is left of it before connecting again.
            await self.close()
        self._buffer.clear()
        self._lost = None
        await self._connect()
        self._open = True

    async def close(self) -> None:
        """Disconnect; never raises."""
        was_open, self._open = self._open, False
        if was_open:
            # Best effort on the way out: the link may already be gone.
            with contextlib.suppress(OSError, TransportError):
                await self._disconnect()
        self._arrived.set()

    def feed(self, data: bytes) -> None:
        """Hand received bytes to the waiting exchange (called by the subclass's reader)."""
        self._buffer += data
        if len(self._buffer) > MAX_ANSWER:
            del self._buffer[: len(self._buffer) - MAX_ANSWER]
        self._arrived.set()

    def lost(self, error: BaseException | None = None) -> None:
        """Mark the link as dropped (called by the subclass's reader)."""
        self._lost = error or TransportError(f"{self.name}: connection lost")
        self._arrived.set()

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Drop stale input, write, then wait until ``complete`` says the answer is whole."""
        if not self.is_open:
            await self.open()
        # Anything already here answers an earlier command (a late reply) or is line noise.
        self._buffer.clear()
        self._arrived.clear()
        if request:
            await self._write(request)
        deadline = time.monotonic() + timeout
        while True:
            if self._buffer:
                size = complete(bytes(self._buffer))
                if size is not None:
                    answer = bytes(self._buffer[:size])
                    del self._buffer[:size]
                    return answer
            if self._lost is not None:
                error = self._lost
                text = str(error)
                # Errors handed to lost() may already name the link; say it once.
                message = text if text.startswith(self.name) else f"{self.name}: {text}"
                raise TransportError(message) from error
            if not self._open:
                raise TransportError(f"{self.name}: closed during the exchange")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                got = bytes(self._buffer)
                what = f"{len(got)} bytes ({got[:32]!r}…)" if got else "nothing"
                raise DeviceTimeoutError(
                    f"{self.name}: no complete answer in {timeout:g} s, got {what}"
                )
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue

    @abstractmethod
    async def _connect(self) -> None:
        """Open the underlying link and start delivering bytes to :meth:`feed`."""

    @abstractmethod
    async def _disconnect(self) -> None:
        """Close the underlying link."""

    @abstractmethod
    async def _write(self, data: bytes) -> None:
        """Write ``data`` to the link (raise ``TransportError`` if it is gone)."""
