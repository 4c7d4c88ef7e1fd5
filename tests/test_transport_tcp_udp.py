"""TCP and UDP transports against real asyncio servers on 127.0.0.1 (serial-over-IP gateways)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from functools import partial
import socket
from typing import cast

import pytest

from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.transports.base import Transport
from mppsolar_lib.transports.tcp import TcpTransport, parse_address
from mppsolar_lib.transports.udp import UdpTransport
from tests.helpers import pi_frame

PI30 = get_protocol("pi30")
QPIGS = (
    "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
    "00110110 00 00 00856 010"
)
ANSWERS = {
    PI30.build_request("QPI"): pi_frame("PI30"),
    PI30.build_request("QPIGS"): pi_frame(QPIGS),
}
TIMEOUT = 5.0


async def ask(transport: Transport, command: str, timeout: float = TIMEOUT) -> bytes:
    """Run one PI30 exchange, bounded so nothing can hang."""
    async with asyncio.timeout(timeout + 5):
        return await transport.exchange(
            PI30.build_request(command), partial(PI30.answer_length, command), timeout
        )


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """Return a port nothing listens on (bound and released)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TcpGateway:
    """An EW11-like gateway: answers PI30 requests; can drop the connection instead."""

    def __init__(self) -> None:
        """Start with no connections and no scripted drops."""
        self.connections = 0
        self.requests: list[bytes] = []
        self.drop_on: set[bytes] = set()
        self.hang_up_after: set[bytes] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1 and return it."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await reader.readuntil(b"\r")
                self.requests.append(request)
                if request in self.drop_on:
                    self.drop_on.discard(request)
                    break
                answer = ANSWERS[request]
                # Gateways forward serial bytes as they come: answer in two segments.
                writer.write(answer[:10])
                await writer.drain()
                writer.write(answer[10:])
                await writer.drain()
                if request in self.hang_up_after:
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        """Stop listening."""
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[TcpGateway, int]]:
    """Provide a running TCP gateway and its port."""
    server = TcpGateway()
    port = await server.start()
    yield server, port
    await server.stop()


async def test_tcp_exchange(gateway: tuple[TcpGateway, int]) -> None:
    """A request goes out, the answer (split in segments) comes back whole and decodes."""
    server, port = gateway
    async with TcpTransport("127.0.0.1", port) as transport:
        assert transport.name == f"tcp://127.0.0.1:{port}"
        answer = await ask(transport, "QPIGS")
        assert await ask(transport, "QPI") == pi_frame("PI30")
    assert PI30.decode("QPIGS", answer)["battery_voltage"] == 57.5
    assert server.requests == [PI30.build_request("QPIGS"), PI30.build_request("QPI")]
    assert server.connections == 1


async def test_tcp_drop_fails_the_exchange_then_reconnects(
    gateway: tuple[TcpGateway, int],
) -> None:
    """The gateway hanging up mid-exchange: TransportError; the next exchange reconnects."""
    server, port = gateway
    server.drop_on.add(PI30.build_request("QPIGS"))
    transport = TcpTransport("127.0.0.1", port)
    try:
        assert await ask(transport, "QPI") == pi_frame("PI30")
        with pytest.raises(TransportError, match=f"tcp://127.0.0.1:{port}: connection closed"):
            await ask(transport, "QPIGS")
        assert not transport.is_open
        assert await ask(transport, "QPIGS") == pi_frame(QPIGS)
        assert server.connections == 2
    finally:
        await transport.close()


async def test_tcp_idle_drop_reconnects_without_an_error(
    gateway: tuple[TcpGateway, int],
) -> None:
    """A connection the gateway closed while idle is replaced by the next exchange."""
    server, port = gateway
    server.hang_up_after.add(PI30.build_request("QPI"))
    transport = TcpTransport("127.0.0.1", port)
    try:
        assert await ask(transport, "QPI") == pi_frame("PI30")
        async with asyncio.timeout(TIMEOUT):
            while transport.is_open:  # the gateway's FIN arrives while we are idle
                await asyncio.sleep(0)
        assert await ask(transport, "QPIGS") == pi_frame(QPIGS)
        assert server.connections == 2
    finally:
        await transport.close()


async def test_tcp_refused_names_host_and_port() -> None:
    """Nothing listening: a transient TransportError that says where and what to check."""
    port = free_port()
    transport = TcpTransport("127.0.0.1", port)
    with pytest.raises(TransportError, match=f"tcp://127.0.0.1:{port}: connection refused") as err:
        await ask(transport, "QPI")
    assert err.value.transient
    assert not transport.is_open


async def test_tcp_connect_timeout() -> None:
    """A host that never completes the handshake is given up after connect_timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # Fill the accept queue so further handshakes are not answered.
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                fillers.append(filler)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            transport = TcpTransport("127.0.0.1", port, connect_timeout=0.3)
            with pytest.raises(TransportError, match="no answer to connect in 0.3 s"):
                await transport.open()
        finally:
            for filler in fillers:
                filler.close()


async def test_tcp_unresolvable_host() -> None:
    """A host name that does not resolve says so (transient: mDNS names come and go)."""
    transport = TcpTransport("no-such-gateway.invalid", 8899)
    with pytest.raises(TransportError, match="cannot resolve 'no-such-gateway.invalid'"):
        await transport.open()


async def test_tcp_unreachable_network() -> None:
    """Any other connect failure names the gateway and the system's reason."""
    transport = TcpTransport("255.255.255.255", 8899)
    with pytest.raises(TransportError, match=r"tcp://255.255.255.255:8899: cannot connect \("):
        await transport.open()


async def test_tcp_close_is_idempotent(gateway: tuple[TcpGateway, int]) -> None:
    """close() on a closed or never-opened transport is harmless."""
    _, port = gateway
    transport = TcpTransport("127.0.0.1", port)
    await transport.close()
    await transport.open()
    await transport.open()
    await transport.close()
    await transport.close()
    assert not transport.is_open


def test_tcp_names_and_ranges() -> None:
    """IPv6 hosts are bracketed in names; impossible port numbers are refused."""
    assert TcpTransport("::1", 502).name == "tcp://[::1]:502"
    assert UdpTransport("::1", 502).name == "udp://[::1]:502"
    with pytest.raises(PortError, match="TCP port 0 is out of range"):
        TcpTransport("10.0.0.7", 0)
    with pytest.raises(PortError, match="UDP port 70000 is out of range"):
        UdpTransport("10.0.0.7", 70000)


@pytest.mark.parametrize(
    ("port", "scheme", "expected"),
    [
        ("tcp://10.0.0.7:8899", "tcp", ("10.0.0.7", 8899)),
        ("TCP://gw.local:23", "tcp", ("gw.local", 23)),
        ("10.0.0.7:8899", "tcp", ("10.0.0.7", 8899)),
        ("[fe80::1]:502", "tcp", ("fe80::1", 502)),
        ("udp://10.0.0.7:48899", "udp", ("10.0.0.7", 48899)),
    ],
)
def test_parse_address(port: str, scheme: str, expected: tuple[str, int]) -> None:
    """host:port in its usual spellings."""
    assert parse_address(port, scheme) == expected


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("tcp://10.0.0.7", "is not host:port; use the form tcp://192.168.1.50:8899"),
        ("tcp://10.0.0.7:99999", "bad port number"),
        ("tcp://10.0.0.7:80/path", "is not host:port"),
        ("tcp://:80", "is not host:port"),
    ],
)
def test_parse_address_errors(port: str, message: str) -> None:
    """Anything else is a PortError showing the expected form."""
    with pytest.raises(PortError, match=message):
        parse_address(port, "tcp")


class UdpGateway(asyncio.DatagramProtocol):
    """A gateway in UDP mode: answers each request in two datagrams."""

    def __init__(self) -> None:
        """Start unbound."""
        self.transport: asyncio.DatagramTransport | None = None
        self.requests: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket to answer on."""
        # Python 3.11's datagram transport does not subclass DatagramTransport.
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Answer a known request in two datagrams."""
        assert self.transport is not None
        self.requests.append(data)
        answer = ANSWERS.get(data)
        if answer is not None:
            self.transport.sendto(answer[:7], addr)
            self.transport.sendto(answer[7:], addr)


async def test_udp_exchange_joins_datagrams() -> None:
    """One datagram out; the answer in two datagrams is joined into one frame."""
    loop = asyncio.get_running_loop()
    server, gateway = await loop.create_datagram_endpoint(UdpGateway, local_addr=("127.0.0.1", 0))
    port = server.get_extra_info("sockname")[1]
    try:
        async with UdpTransport("127.0.0.1", port) as transport:
            assert transport.name == f"udp://127.0.0.1:{port}"
            assert await ask(transport, "QPIGS") == pi_frame(QPIGS)
            assert await ask(transport, "QPI") == pi_frame("PI30")
            with pytest.raises(DeviceTimeoutError, match="got nothing"):
                await transport.exchange(b"UNKNOWN\r", lambda got: None, 0.2)
        assert gateway.requests[:2] == [PI30.build_request("QPIGS"), PI30.build_request("QPI")]
    finally:
        server.close()


async def test_udp_nothing_listening_fails_fast_then_reopens() -> None:
    """ICMP port unreachable ends the exchange at once; the next exchange uses a new socket."""
    port = free_port(socket.SOCK_DGRAM)
    transport = UdpTransport("127.0.0.1", port)
    try:
        with pytest.raises(TransportError, match="nothing is listening there") as caught:
            await ask(transport, "QPI")
        assert not isinstance(caught.value, DeviceTimeoutError)
        assert not transport.is_open
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(UdpGateway, local_addr=("127.0.0.1", port))
        try:
            assert await ask(transport, "QPI") == pi_frame("PI30")
        finally:
            server.close()
    finally:
        await transport.close()
        await transport.close()


async def test_udp_a_request_too_big_for_a_datagram_fails_clearly() -> None:
    """A failed send is reported by the exchange, not left to time out."""
    transport = UdpTransport("127.0.0.1", free_port(socket.SOCK_DGRAM))
    try:
        with pytest.raises(TransportError, match="Message too long"):
            await transport.exchange(b"x" * 70000, lambda got: None, TIMEOUT)
    finally:
        await transport.close()


async def test_udp_unresolvable_host() -> None:
    """A host that does not resolve fails on open with the gateway's name."""
    transport = UdpTransport("no-such-gateway.invalid", 48899)
    with pytest.raises(TransportError, match="udp://no-such-gateway.invalid:48899: cannot reach"):
        await transport.open()
