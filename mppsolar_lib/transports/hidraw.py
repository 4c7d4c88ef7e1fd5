"""USB-HID (``/dev/hidraw*``): the USB port of Voltronic inverters.

The inverter's USB side is a HID bridge that moves 8-byte reports. A request is written as
8-byte reports, the last one padded with zeros (``PBCV44.0`` + CRC + CR is 11 bytes: two
reports). The answer comes back as 8-byte reports too; the last one is padded with zeros after
the terminator (``(ACK9 <CR> <NUL>``). Reports are joined as they come and the protocol's
``complete`` callback finds the frame end; the padding after it is dropped. Zeros inside a
frame are kept (PI17/PI18 CRC bytes may be zero).

No fixed sleeps (the reference sleeps 50 ms before each report, 250 ms after the request and
150 ms per read, 2-4 s a command): the descriptor is non-blocking, the event loop's reader
delivers reports as they arrive, and the exchange ends the moment the frame is complete.
Writing a report is a synchronous USB transfer in the kernel (milliseconds, up to seconds on a
hung device), so writes run in the default executor, never in the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import os
import select
import time

from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.transports.base import BufferedTransport, Completion
from mppsolar_lib.transports.factory import PortRequest, register_port_type
from mppsolar_lib.transports.paths import open_error

_LOGGER = logging.getLogger(__name__)

#: Voltronic's HID bridge moves 8-byte reports.
REPORT_SIZE = 8
#: Larger than any HID report, so one read returns one whole report.
READ_SIZE = 4096
#: Reports read per reader callback before the event loop gets a turn.
READS_PER_WAKEUP = 64


def reports(data: bytes, size: int = REPORT_SIZE) -> list[bytes]:
    """Split ``data`` into ``size``-byte reports, the last one padded with zeros."""
    return [data[i : i + size].ljust(size, b"\0") for i in range(0, len(data), size)]


def _write_reports(fd: int, chunks: list[bytes], deadline: float) -> None:
    """Write each report whole, waiting (in this worker thread) while the device is busy.

    Takes ownership of ``fd`` (a duplicate, so closing the transport meanwhile cannot make
    this thread write to whatever file reuses the number) and closes it.
    """
    try:
        for chunk in chunks:
            while True:
                try:
                    os.write(fd, chunk)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise DeviceTimeoutError(
                            f"the device did not accept the request ({len(chunks)} reports)"
                        ) from None
                    select.select([], [fd], [], remaining)
    finally:
        os.close(fd)


class HidrawTransport(BufferedTransport):
    """A ``/dev/hidraw*`` node as an exchange-at-a-time byte pipe."""

    def __init__(
        self,
        path: str,
        *,
        report_size: int = REPORT_SIZE,
        opener: Callable[[], int] | None = None,
    ) -> None:
        """Describe the device; nothing is opened until :meth:`open` or the first exchange.

        ``opener`` returns an already-open file descriptor instead of opening ``path`` (a
        descriptor from elsewhere, or one end of a ``SOCK_SEQPACKET`` socket pair in tests); it
        is called on every (re)open and the transport owns and closes what it returns.
        """
        super().__init__()
        self.path = path
        self.name = path
        self.report_size = report_size
        self._opener = opener
        self._fd: int | None = None
        self._deadline = 0.0

    def _open_fd(self) -> int:
        """Open the device node non-blocking (or take the opener's descriptor)."""
        if self._opener is not None:
            return self._opener()
        return os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    async def _connect(self) -> None:
        """Open the node and start delivering reports to the buffer."""
        self._release()
        loop = asyncio.get_running_loop()
        try:
            fd = self._open_fd()
        except OSError as err:
            # Explaining the error lists /dev and reads sysfs: not in the event loop.
            raise await loop.run_in_executor(None, open_error, self.path, err, "hidraw") from err
        try:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._readable, fd)
        except OSError as err:
            os.close(fd)
            # epoll refuses regular files: a path that is not a device node.
            raise PortError(
                f"{self.path} is not a USB-HID device (cannot wait for its reports: "
                f"{err.strerror or err}); use a /dev/hidraw* node"
            ) from err
        self._fd = fd

    def _release(self) -> None:
        """Stop reading and close the descriptor, if any."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)

    def _fail(self, why: str) -> None:
        """Give the descriptor up and tell the waiting exchange the link is gone."""
        self._release()
        self.lost(TransportError(f"{self.name}: {why}"))

    def _readable(self, fd: int) -> None:
        """Move the reports the kernel holds into the buffer."""
        for _ in range(READS_PER_WAKEUP):
            try:
                report = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as err:
                self._fail(f"the device went away ({err.strerror}); unplugged?")
                return
            if not report:
                self._fail("the device closed")
                return
            self.feed(report)

    def _discard_pending(self, fd: int) -> int:
        """Read and drop the reports already queued (late answers, noise); return how many."""
        dropped = 0
        while True:
            try:
                if not os.read(fd, READ_SIZE):
                    return dropped
            except OSError:
                # Nothing left (EAGAIN) or the device is gone: the write will tell.
                return dropped
            dropped += 1

    async def _disconnect(self) -> None:
        """Close the device node."""
        self._release()

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Exchange as :class:`BufferedTransport` does, with ``timeout`` bounding the write too."""
        self._deadline = time.monotonic() + timeout
        return await super().exchange(request, complete, timeout)

    async def _write(self, data: bytes) -> None:
        """Flush stale reports, then write ``data`` as zero-padded reports."""
        fd = self._fd
        if fd is None:  # pragma: no cover - exchange() opens first and nothing yields between
            raise TransportError(f"{self.name}: device closed")
        dropped = self._discard_pending(fd)
        if dropped:
            _LOGGER.debug("%s: dropped %d stale reports before %r", self.name, dropped, data)
        chunks = reports(data, self.report_size)
        loop = asyncio.get_running_loop()
        try:
            writer = os.dup(fd)
            await loop.run_in_executor(None, _write_reports, writer, chunks, self._deadline)
        except DeviceTimeoutError as err:
            raise DeviceTimeoutError(f"{self.name}: {err}") from None
        except OSError as err:
            self._fail(f"cannot write ({err.strerror or err}); unplugged?")
            raise TransportError(f"{self.name}: cannot write: {err.strerror or err}") from err


def _build(request: PortRequest) -> HidrawTransport:
    """Build the transport of a ``/dev/hidraw*`` port (``report_size`` is the only option)."""
    request.reject_options(("report_size",))
    return HidrawTransport(request.address, **request.options)


register_port_type("hidraw", _build)
