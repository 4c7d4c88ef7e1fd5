"""A simulated USB-HID device: the inverter's HID bridge behind a ``/dev/hidraw*`` node.

A Voltronic inverter's USB port moves 8-byte reports. :class:`SimulatedHidDevice` plays that
bridge for :class:`~mppsolar_lib.transports.hidraw.HidrawTransport`, which takes its descriptor
from an ``opener``::

    device = SimulatedHidDevice(create_simulator("pi30"), Faults(crc=0.1))
    transport = HidrawTransport("/dev/hidraw0", opener=device.opener)   # or device.transport()

Each call of :meth:`SimulatedHidDevice.opener` plugs the device in: a ``SOCK_SEQPACKET`` socket
pair (which keeps report boundaries as hidraw does), one end for the host, the other served on
the running event loop. The host's reports are joined and the zero padding after each request
dropped; the simulator's :meth:`~mppsolar_lib.simulator.base.Simulator.split_requests` cuts out
the requests, and each is answered as :func:`~mppsolar_lib.simulator.faults.reply` says (the
:class:`~mppsolar_lib.simulator.faults.Faults` given), in order, after its delay, as 8-byte
reports padded with zeros. A disconnect fault (or :meth:`SimulatedHidDevice.unplug`) closes the
device end: the host's read ends as on an unplugged cable, and the next open plugs a fresh pair.

Linux (and other systems with ``AF_UNIX`` ``SOCK_SEQPACKET``) only, as hidraw itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
import socket

from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.faults import Faults, Reply, ReplyQueue, reply, with_faults
from mppsolar_lib.transports.hidraw import READ_SIZE, REPORT_SIZE, HidrawTransport, reports

#: Bytes without a complete request after which they are taken as noise and dropped.
MAX_PENDING = 4096
#: Reports kept in :attr:`SimulatedHidDevice.received` (the oldest are forgotten).
HISTORY = 4096


class SimulatedHidDevice:
    """A simulator behind a USB-HID bridge: hand :meth:`opener` to ``HidrawTransport``."""

    def __init__(
        self,
        simulator: Simulator,
        faults: Faults | None = None,
        *,
        path: str = "/dev/hidraw0",
        report_size: int = REPORT_SIZE,
    ) -> None:
        """Serve ``simulator`` (through ``faults`` if given) as the node ``path`` would."""
        if report_size < 1:
            raise ValueError(f"report_size must be 1 byte or more, got {report_size}")
        self.simulator = with_faults(simulator, faults)
        self.path = path
        self.report_size = report_size
        #: The last reports the host wrote, as it wrote them (padding included).
        self.received: deque[bytes] = deque(maxlen=HISTORY)
        #: How many times the host opened the device (each open plugs a fresh pair).
        self.opens = 0
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox = b""
        self._answers = ReplyQueue(self._carry_out)
        # Reports the host has no room for yet, sent when the socket takes more.
        self._unsent: deque[bytes] = deque()
        self._waiting = False

    @property
    def plugged(self) -> bool:
        """Whether a host end is connected (opened and not unplugged since)."""
        return self._socket is not None

    def opener(self) -> int:
        """Plug in: return the host end of a fresh pair (the caller owns and closes it).

        Call it from the event loop (``HidrawTransport`` does, on every open); a pair still
        plugged is unplugged first.
        """
        self.unplug()
        loop = asyncio.get_running_loop()
        host, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        device.setblocking(False)
        loop.add_reader(device.fileno(), self._readable)
        self._socket, self._loop = device, loop
        self.opens += 1
        return host.detach()

    def transport(self) -> HidrawTransport:
        """Return a transport to this device (``HidrawTransport`` with :meth:`opener`)."""
        return HidrawTransport(self.path, report_size=self.report_size, opener=self.opener)

    def unplug(self) -> None:
        """Pull the cable: close the device end; answers not sent yet are lost. Idempotent."""
        device, self._socket = self._socket, None
        self._answers.clear()
        self._unsent.clear()
        self._inbox = b""
        if device is None:
            return
        assert self._loop is not None  # set with the socket
        self._loop.remove_reader(device.fileno())
        if self._waiting:
            self._loop.remove_writer(device.fileno())
            self._waiting = False
        device.close()

    def close(self) -> None:
        """Release the device end (as :meth:`unplug`); the host can still open it again."""
        self.unplug()

    def __repr__(self) -> str:
        """Path, state and simulator."""
        state = "plugged" if self.plugged else "unplugged"
        return f"<SimulatedHidDevice {self.path} {state} {self.simulator!r}>"

    # -- the device end ---------------------------------------------------------------------------

    def _readable(self) -> None:
        """Take one report from the host; answer the requests it completes."""
        assert self._socket is not None  # the reader is removed with the socket
        try:
            report = self._socket.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self.unplug()  # the host end is gone (ECONNRESET)
            return
        if not report:
            self.unplug()  # the host closed its end
            return
        self.received.append(report)
        requests, rest = self.simulator.split_requests(self._inbox + report)
        # The last report of a request is padded with zeros; no request starts with one.
        self._inbox = rest.lstrip(b"\0")
        if len(self._inbox) > MAX_PENDING:
            self._inbox = b""
        for request in requests:
            self._answers.put(reply(self.simulator, request))

    def _carry_out(self, action: Reply) -> None:
        """Send an answer that is due, or drop the link."""
        if action.disconnect:
            self.unplug()
        elif action.data:
            self._unsent.extend(reports(action.data, self.report_size))
            self._flush()

    def _flush(self) -> None:
        """Send the reports waiting, each whole; wait for room when the host is not reading."""
        device = self._socket
        assert device is not None and self._loop is not None  # cleared with the socket
        while self._unsent:
            try:
                device.send(self._unsent[0])
            except BlockingIOError:
                if not self._waiting:
                    self._waiting = True
                    self._loop.add_writer(device.fileno(), self._flush)
                return
            except OSError:
                self.unplug()  # the host closed its end (EPIPE)
                return
            self._unsent.popleft()
        if self._waiting:
            self._waiting = False
            self._loop.remove_writer(device.fileno())
