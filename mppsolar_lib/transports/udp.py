"""UDP datagrams to a serial-over-IP gateway in UDP mode (Elfin EW11, USR…).

Each request goes out as one datagram; answers may come back in several, which are joined until
the protocol says the frame is complete. Only datagrams from the gateway's address are taken.
An ICMP "port unreachable" (nothing listening) fails the exchange at once instead of waiting for
the timeout.
"""

from __future__ import annotations

import asyncio

from mppsolar_lib.errors import PortError, TransportError
from mppsolar_lib.transports.base import BufferedTransport
from mppsolar_lib.transports.factory import PortRequest, register_port_type
from mppsolar_lib.transports.tcp import parse_address


class _Receiver(asyncio.DatagramProtocol):
    """Hands received datagrams to the transport's buffer."""

    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.owner.feed(data)

    def error_received(self, exc: Exception) -> None:
        # asyncio reports ICMP errors and failed sends here (and nothing after an abort).
        if isinstance(exc, ConnectionRefusedError):
            why = "nothing is listening there (ICMP port unreachable)"
        else:
            why = str(exc.strerror if isinstance(exc, OSError) else exc)
        self.owner.lost(TransportError(f"{self.owner.name}: {why}"))


class UdpTransport(BufferedTransport):
    """A connected UDP socket to one gateway."""

    def __init__(self, host: str, port: int) -> None:
        """Describe the gateway; the socket is made on :meth:`open` or the first exchange."""
        super().__init__()
        if not 0 < port < 65536:
            raise PortError(f"UDP port {port} is out of range; use 1-65535")
        self.host = host
        self.port = port
        self.name = f"udp://{host}:{port}" if ":" not in host else f"udp://[{host}]:{port}"
        self._link: asyncio.DatagramTransport | None = None

    async def _connect(self) -> None:
        """Make a socket connected to the gateway (the kernel then drops strangers' datagrams)."""
        self._release()
        loop = asyncio.get_running_loop()
        try:
            link, _ = await loop.create_datagram_endpoint(
                lambda: _Receiver(self), remote_addr=(self.host, self.port)
            )
        except OSError as err:
            raise TransportError(f"{self.name}: cannot reach ({err.strerror or err})") from err
        self._link = link

    def _release(self) -> None:
        """Close the socket, if any."""
        link, self._link = self._link, None
        if link is not None:
            link.abort()

    async def _disconnect(self) -> None:
        """Close the socket."""
        self._release()

    async def _write(self, data: bytes) -> None:
        """Send ``data`` as one datagram."""
        link = self._link
        if link is None:  # pragma: no cover - exchange() opens first and nothing yields between
            raise TransportError(f"{self.name}: socket closed")
        link.sendto(data)


def _build(request: PortRequest) -> UdpTransport:
    """Build the transport of a ``udp://host:port`` port."""
    request.reject_options()
    host, number = parse_address(request.port, "udp")
    return UdpTransport(host, number)


register_port_type("udp", _build)
