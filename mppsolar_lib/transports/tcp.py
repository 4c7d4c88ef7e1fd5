"""TCP client for serial-over-IP gateways (Elfin EW11, USR-TCP232, ser2net, ESP-Link…).

The gateway passes bytes to and from the device's serial port unchanged, so an exchange is the
same as on a local port. A dropped connection fails the exchange in progress with a
:class:`~mppsolar_lib.errors.TransportError`; the next exchange connects again by itself.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.parse

from mppsolar_lib.errors import PortError, TransportError
from mppsolar_lib.transports.base import BufferedTransport
from mppsolar_lib.transports.factory import PortRequest, register_port_type

#: Gateways answer a connect in milliseconds; this only bounds a host that never does.
CONNECT_TIMEOUT = 5.0


def parse_address(port: str, scheme: str) -> tuple[str, int]:
    """Split ``scheme://host:port`` (or bare ``host:port``, ``[v6]:port``) into host and port.

    Raises :class:`PortError` naming the expected form.
    """
    text = port.strip()
    prefix = f"{scheme}://"
    if text.lower().startswith(prefix):
        text = text[len(prefix) :]
    example = f"{scheme}://192.168.1.50:8899"
    try:
        parts = urllib.parse.urlsplit(f"//{text}")
        number = parts.port
    except ValueError as err:
        raise PortError(f"{port!r}: bad port number ({err}); use the form {example}") from err
    host = parts.hostname
    if not host or number is None or parts.path or parts.query:
        raise PortError(f"{port!r} is not host:port; use the form {example}")
    return host, number


class _Receiver(asyncio.Protocol):
    """Hands received bytes to the transport's buffer."""

    def __init__(self, owner: TcpTransport) -> None:
        self.owner = owner
        #: Set when the transport has moved on: the old link's late connection_lost is ignored.
        self.detached = False

    def data_received(self, data: bytes) -> None:
        self.owner.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.detached:
            detail = f" ({exc})" if exc else " by the gateway"
            self.owner.lost(TransportError(f"{self.owner.name}: connection closed{detail}"))


class TcpTransport(BufferedTransport):
    """One TCP connection to a serial-over-IP gateway, reopened after a drop."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        """Describe the gateway; nothing connects until :meth:`open` or the first exchange."""
        super().__init__()
        if not 0 < port < 65536:
            raise PortError(f"TCP port {port} is out of range; use 1-65535")
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.name = f"tcp://{host}:{port}" if ":" not in host else f"tcp://[{host}]:{port}"
        self._link: asyncio.Transport | None = None
        self._receiver: _Receiver | None = None

    async def _connect(self) -> None:
        """Connect, saying which host:port refused or did not answer."""
        self._release()
        loop = asyncio.get_running_loop()
        receiver = _Receiver(self)
        try:
            async with asyncio.timeout(self.connect_timeout):
                link, _ = await loop.create_connection(lambda: receiver, self.host, self.port)
        except socket.gaierror as err:
            # Transient too: a .local name does not resolve while the gateway is off.
            raise TransportError(
                f"{self.name}: cannot resolve {self.host!r} ({err.strerror}); check the host name"
            ) from err
        except ConnectionRefusedError as err:
            raise TransportError(
                f"{self.name}: connection refused; is the gateway's TCP server enabled on "
                f"port {self.port}?"
            ) from err
        except TimeoutError as err:
            raise TransportError(
                f"{self.name}: no answer to connect in {self.connect_timeout:g} s"
            ) from err
        except OSError as err:
            raise TransportError(f"{self.name}: cannot connect ({err.strerror or err})") from err
        self._link, self._receiver = link, receiver

    def _release(self) -> None:
        """Drop the connection, if any; its late callbacks are ignored."""
        link, self._link = self._link, None
        if self._receiver is not None:
            self._receiver.detached = True
        if link is not None:
            link.abort()

    async def _disconnect(self) -> None:
        """Close the connection."""
        self._release()

    async def _write(self, data: bytes) -> None:
        """Send ``data``."""
        link = self._link
        # A FIN seen between exchanges closes the link before connection_lost reaches us.
        if link is None or link.is_closing():  # pragma: no cover - a race, not reproducible
            raise TransportError(f"{self.name}: connection closed")
        link.write(data)


def _build(request: PortRequest) -> TcpTransport:
    """Build the transport of a ``tcp://host:port`` or ``host:port`` port."""
    request.reject_options(("connect_timeout",))
    host, number = parse_address(request.port, "tcp")
    return TcpTransport(host, number, **request.options)


register_port_type("tcp", _build)
