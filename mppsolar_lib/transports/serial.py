"""Serial ports through serialx: USB-serial adapters, on-board UARTs and serialx's URL ports.

``port`` is a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/…``, ``COM3``) or any URL
serialx has a handler for (``socket://host:port``, ``rfc2217://host:port``, ``esphome://…`` when
aioesphomeapi is installed, or a scheme the host application registers with
``serialx.register_uri_handler``, such as an ``esphome-hass://`` handler). Voltronic
inverters talk 2400 baud 8N1, the default here; JK, Daly and VE.Direct ports pass their own baud.

Stale input is dropped before each request twice over: what the event loop has already read
(:class:`~mppsolar_lib.transports.base.BufferedTransport` clears its buffer) and what the kernel
still holds (``tcflush``), so a late answer to an earlier command is never taken for this one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import serialx
from serialx.common import get_uri_handler

from mppsolar_lib.errors import PortError, TransportError
from mppsolar_lib.transports.base import BufferedTransport
from mppsolar_lib.transports.paths import open_error

#: Voltronic inverters' serial speed.
DEFAULT_BAUD = 2400
BYTESIZES = (5, 6, 7, 8)
PARITIES = {"N": "none", "E": "even", "O": "odd", "M": "mark", "S": "space"}
STOPBITS = (1, 1.5, 2)
#: A port that does not finish closing in this long is left to the OS.
CLOSE_TIMEOUT = 2.0
#: serialx options passed through untouched; line settings have their own parameters.
PASSED_THROUGH = frozenset(serialx.AllConnectKwargs.__annotations__) - {
    "baudrate",
    "byte_size",
    "bytesize",
    "do_not_open",
    "exclusive",
    "parity",
    "port",
    "stopbits",
}


class _Receiver(asyncio.Protocol):
    """Hands what serialx reads to the transport's buffer."""

    def __init__(self, owner: SerialTransport) -> None:
        self.owner = owner
        #: Set when the transport has moved on: the old link's late connection_lost is ignored.
        self.detached = False

    def data_received(self, data: bytes) -> None:
        self.owner.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.detached:
            return
        # serialx reports an unplugged adapter or a hung-up pty as EIO here.
        reason = f" ({exc.strerror or exc})" if isinstance(exc, OSError) else ""
        self.owner.lost(TransportError(f"{self.owner.name}: port closed{reason}; unplugged?"))


def _parity(value: str) -> str:
    """Return the one-letter parity for ``value`` ("N", "none", "even"…)."""
    text = value.strip().upper()
    for letter, word in PARITIES.items():
        if text in (letter, word.upper()):
            return letter
    allowed = ", ".join(f"{letter} ({word})" for letter, word in PARITIES.items())
    raise PortError(f"parity {value!r} is not allowed; use one of {allowed}")


def is_url(port: str) -> bool:
    """Tell whether serialx would treat ``port`` as a URL rather than a device path."""
    head, sep, _ = port.partition("://")
    return bool(sep) and head.lower() != "device"


def serialx_knows(port: str) -> bool:
    """Tell whether serialx has a handler for ``port``'s URL scheme (or it is a path)."""
    try:
        get_uri_handler(port)
    except serialx.SerialException:
        return False
    return True


class SerialTransport(BufferedTransport):
    """A serial port (or serialx URL port) as an exchange-at-a-time byte pipe."""

    def __init__(
        self,
        port: str,
        *,
        baud: int = DEFAULT_BAUD,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        exclusive: bool = True,
        **options: Any,
    ) -> None:
        """Describe the port; nothing is opened until :meth:`open` or the first exchange.

        ``exclusive`` locks the port so a second program cannot interleave its frames with
        ours. ``options`` go to serialx untouched (``connect_timeout``, ``esphome`` keys…).
        Raises :class:`PortError` for settings no port accepts.
        """
        super().__init__()
        if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
            raise PortError(f"baud rate {baud!r} is not allowed; use a positive whole number")
        if bytesize not in BYTESIZES:
            raise PortError(f"byte size {bytesize!r} is not allowed; use one of {BYTESIZES}")
        if stopbits not in STOPBITS:
            raise PortError(f"stop bits {stopbits!r} is not allowed; use one of {STOPBITS}")
        unknown = sorted(set(options) - PASSED_THROUGH)
        if unknown:
            raise PortError(
                f"serial ports take no option {', '.join(unknown)}; "
                f"allowed: baud, bytesize, parity, stopbits, exclusive, "
                f"{', '.join(sorted(PASSED_THROUGH))}"
            )
        self.port = port
        self.baud = baud
        self.bytesize = bytesize
        self.parity = _parity(parity)
        self.stopbits = stopbits
        self.exclusive = exclusive
        self.options = options
        self.name = serialx.redact_uri(port)
        self._link: serialx.BaseSerialTransport | None = None
        self._receiver: _Receiver | None = None

    @property
    def settings(self) -> str:
        """Return the line settings in the usual short form: ``2400 8N1``."""
        stop = f"{self.stopbits:g}"
        return f"{self.baud} {self.bytesize}{self.parity}{stop}"

    async def _connect(self) -> None:
        """Open the port through serialx with the configured line settings."""
        await self._release()
        loop = asyncio.get_running_loop()
        receiver = _Receiver(self)
        try:
            link, _ = await serialx.create_serial_connection(
                loop,
                lambda: receiver,
                self.port,
                baudrate=self.baud,
                parity=serialx.Parity(self.parity),
                stopbits=serialx.StopBits(self.stopbits),
                exclusive=self.exclusive,
                byte_size=self.bytesize,
                **self.options,
            )
        except serialx.UnsupportedSetting as err:
            raise PortError(f"{self.name} cannot use {self.settings}: {err}") from err
        except serialx.SerialException as err:
            raise PortError(f"{self.name}: {err}") from err
        except OSError as err:
            if is_url(self.port):
                raise TransportError(f"{self.name}: cannot connect: {err}") from err
            # Explaining the error lists /dev and stats the node: not in the event loop.
            raise await loop.run_in_executor(None, open_error, self.port, err, "serial") from err
        self._link, self._receiver = link, receiver

    async def _release(self) -> None:
        """Close the serialx transport, dropping unsent bytes (a new exchange resends)."""
        link, self._link = self._link, None
        if self._receiver is not None:
            self._receiver.detached = True
        if link is None:
            return
        link.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await link.wait_closed()

    async def _disconnect(self) -> None:
        """Close the port."""
        await self._release()

    async def _write(self, data: bytes) -> None:
        """Drop what the kernel still holds from earlier answers, then send ``data``."""
        link = self._link
        # An unplug seen between exchanges closes the link before connection_lost reaches us.
        if link is None or link.is_closing():  # pragma: no cover - a race, not reproducible
            raise TransportError(f"{self.name}: port closed")
        if not is_url(self.port):
            # URL ports (sockets, ESPHome) have no kernel input queue of their own to flush.
            with contextlib.suppress(OSError):
                link.serial.reset_read_buffer()
        link.write(data)
