"""Serial transport over real pseudo-terminals: the same serialx code path as a USB adapter.

The device end is a tiny PI30 responder on the pty's master side, answering the frames that
``mppsolar_lib.protocols`` builds with canned answers built independently (tests.helpers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
from functools import partial
import os
from pathlib import Path
import socket

import pytest
import serialx
from serialx.platforms.serial_socket import SocketSerial, SocketSerialTransport

from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.transports import open_transport, port_type_of
from mppsolar_lib.transports.serial import SerialTransport, is_url, serialx_knows
from tests.helpers import pi_frame
from tests.privileges import locked_port, open_unprivileged

PI30 = get_protocol("pi30")
QPIGS = (
    "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
    "00110110 00 00 00856 010"
)
ANSWERS = {"QPI": pi_frame("PI30"), "QPIGS": pi_frame(QPIGS), "QMOD": pi_frame("B")}
TIMEOUT = 5.0

#: What the device does with a request: bytes to answer, or an action on the master fd.
Reply = bytes | Callable[[int], None]


class Inverter:
    """The device end of a pty: reads requests and answers them as a PI30 inverter would."""

    def __init__(self) -> None:
        """Open a pty and answer on its master side."""
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        # Keep the slave open until serialx has set raw mode, so nothing is echoed meanwhile.
        self._slave: int | None = slave
        self.requests: list[bytes] = []
        self.replies: dict[bytes, Reply] = {
            PI30.build_request(name): frame for name, frame in ANSWERS.items()
        }
        self._pending = b""
        self.closed = False
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def reply(self, command: str, reply: Reply) -> None:
        """Answer ``command`` with ``reply`` from now on."""
        self.replies[PI30.build_request(command)] = reply

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        self._pending += data
        while b"\r" in self._pending:
            request, _, self._pending = self._pending.partition(b"\r")
            request += b"\r"
            self.requests.append(request)
            reply = self.replies.get(request, pi_frame("NAKss"))
            if isinstance(reply, bytes):
                os.write(self.master, reply)
            else:
                reply(self.master)

    def hang_up(self) -> None:
        """Close the master side: the serial side sees the line drop (like an unplug)."""
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)

    def close(self) -> None:
        """Release both ends."""
        self.hang_up()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None


@pytest.fixture
async def inverter() -> AsyncIterator[Inverter]:
    """Provide a PI30 responder on a fresh pty."""
    device = Inverter()
    yield device
    device.close()


@contextlib.contextmanager
def closing_inverter() -> Iterator[Inverter]:
    """Provide a second responder inside a test."""
    device = Inverter()
    try:
        yield device
    finally:
        device.close()


async def ask(transport: SerialTransport, command: str, timeout: float = TIMEOUT) -> bytes:
    """Run one PI30 exchange, bounded so nothing can hang."""
    async with asyncio.timeout(timeout + 5):
        return await transport.exchange(
            PI30.build_request(command), partial(PI30.answer_length, command), timeout
        )


async def test_exchange_returns_the_decodable_answer(inverter: Inverter) -> None:
    """A QPIGS request goes out as built, the answer comes back whole and decodes."""
    async with SerialTransport(inverter.path) as transport:
        opened = transport.is_open
        answer = await ask(transport, "QPIGS")
    assert opened
    assert not transport.is_open
    assert inverter.requests == [PI30.build_request("QPIGS")]
    result = PI30.decode("QPIGS", answer)
    assert result["battery_voltage"] == 57.5
    assert result["ac_output_voltage"] == 230.0
    assert transport.settings == "2400 8N1"
    assert repr(transport) == f"<SerialTransport {inverter.path}>"


async def test_answer_ends_at_the_frame_end_and_leftovers_are_dropped(
    inverter: Inverter,
) -> None:
    """Completion stops at the CR; a late extra frame is not taken for the next answer."""
    inverter.reply("QMOD", pi_frame("B") + pi_frame("LATE"))
    async with SerialTransport(inverter.path) as transport:
        assert await ask(transport, "QMOD") == pi_frame("B")
        assert await ask(transport, "QPI") == pi_frame("PI30")


async def test_input_waiting_in_the_kernel_is_flushed_before_the_request(
    inverter: Inverter,
) -> None:
    """Bytes the line delivered before the request (noise, a late answer) never answer it."""
    async with SerialTransport(inverter.path) as transport:
        await transport.open()
        os.write(inverter.master, pi_frame("STALE"))
        assert await ask(transport, "QPI") == pi_frame("PI30")


async def test_timeout_names_the_partial_answer(inverter: Inverter) -> None:
    """Half a frame and then silence: a transient timeout that shows what arrived."""
    inverter.reply("QPIGS", pi_frame(QPIGS)[:20])
    async with SerialTransport(inverter.path) as transport:
        with pytest.raises(DeviceTimeoutError) as caught:
            await ask(transport, "QPIGS", timeout=0.3)
        assert caught.value.transient
        message = str(caught.value)
        assert inverter.path in message
        assert "got 20 bytes" in message
        assert "(000.0 00.0" in message
        # The link survives a timeout: the next command works.
        assert await ask(transport, "QPI") == pi_frame("PI30")


async def test_silence_times_out_with_nothing(inverter: Inverter) -> None:
    """No answer at all says so."""
    inverter.reply("QPI", lambda master: None)
    async with SerialTransport(inverter.path) as transport:
        with pytest.raises(DeviceTimeoutError, match="got nothing"):
            await ask(transport, "QPI", timeout=0.2)


async def test_line_drop_fails_the_exchange_then_a_replug_reopens(
    inverter: Inverter, tmp_path: Path
) -> None:
    """Hang-up mid-exchange: TransportError; the next exchange opens the port again."""
    link = tmp_path / "ttyUSB-inverter"
    link.symlink_to(inverter.path)
    inverter.reply("QPIGS", lambda master: inverter.hang_up())
    transport = SerialTransport(str(link))
    try:
        assert await ask(transport, "QPI") == pi_frame("PI30")
        with pytest.raises(TransportError, match="port closed") as caught:
            await ask(transport, "QPIGS")
        assert not isinstance(caught.value, DeviceTimeoutError)
        assert not transport.is_open
        # The adapter comes back (a by-id symlink now pointing at a new tty).
        with closing_inverter() as replugged:
            link.unlink()
            link.symlink_to(replugged.path)
            assert await ask(transport, "QPI") == pi_frame("PI30")
            assert replugged.requests == [PI30.build_request("QPI")]
    finally:
        await transport.close()


async def test_close_is_idempotent_and_the_next_exchange_reopens(inverter: Inverter) -> None:
    """close() twice is harmless; an exchange after close opens the port lazily."""
    transport = SerialTransport(inverter.path)
    await transport.close()
    assert await ask(transport, "QPI") == pi_frame("PI30")
    await transport.close()
    await transport.close()
    assert not transport.is_open
    assert await ask(transport, "QMOD") == pi_frame("B")
    await transport.close()


async def test_line_settings_reach_the_port(inverter: Inverter) -> None:
    """Other bauds and framings (JK/Daly/VE.Direct ports) are applied; words work as parity."""
    transport = SerialTransport(inverter.path, baud=9600, bytesize=7, parity="even", stopbits=2)
    assert transport.settings == "9600 7E2"
    async with transport:
        assert await ask(transport, "QPI") == pi_frame("PI30")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"baud": 0}, "baud rate 0 is not allowed"),
        ({"baud": True}, "baud rate True is not allowed"),
        ({"bytesize": 9}, r"byte size 9 is not allowed; use one of \(5, 6, 7, 8\)"),
        ({"parity": "X"}, r"parity 'X' is not allowed; use one of N \(none\), E \(even\)"),
        ({"stopbits": 3}, "stop bits 3 is not allowed"),
        ({"speed": 9600}, "serial ports take no option speed; allowed: baud"),
    ],
)
def test_impossible_settings_are_refused_up_front(options: dict[str, object], message: str) -> None:
    """Settings no port accepts fail before anything is opened, saying what is allowed."""
    with pytest.raises(PortError, match=message):
        SerialTransport("/dev/ttyUSB0", **options)  # type: ignore[arg-type]


async def test_a_setting_the_platform_lacks_is_a_port_error(inverter: Inverter) -> None:
    """1.5 stop bits exist on paper but not on POSIX ports: a clear permanent error."""
    transport = SerialTransport(inverter.path, stopbits=1.5)
    with pytest.raises(PortError, match=r"cannot use 2400 8N1\.5"):
        await transport.open()
    assert not transport.is_open


async def test_missing_port_lists_what_exists(tmp_path: Path) -> None:
    """A wrong path says so and names the serial ports that do exist."""
    transport = SerialTransport(str(tmp_path / "ttyUSB7"))
    with pytest.raises(PortError, match="no such serial port") as caught:
        await transport.open()
    assert "ttyUSB7" in str(caught.value)
    assert "/dev/ttyUSB*" in str(caught.value) or "ports present" in str(caught.value)


async def test_a_directory_or_a_plain_file_is_not_a_serial_port(tmp_path: Path) -> None:
    """The two mistakes root makes too (no permission problem): both named."""
    with pytest.raises(PortError, match="is a directory"):
        await SerialTransport(str(tmp_path)).open()
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")
    with pytest.raises(PortError, match="is not a serial port"):
        await SerialTransport(str(plain)).open()


def test_permission_denied_names_the_group(tmp_path: Path) -> None:
    """A port without access: the message names the group to join (or why that cannot help).

    Opened by a user file modes apply to (root loses its override: see tests/privileges.py).
    """
    port = locked_port(tmp_path / "ttyUSB0")
    imports = "from mppsolar_lib.transports.serial import SerialTransport"
    outcome = open_unprivileged(imports, "SerialTransport(path)", port.path)
    assert outcome.startswith(f"PortError: {port.path}: permission denied")
    assert port.fix in outcome


async def test_a_port_held_by_another_program_is_busy(inverter: Inverter) -> None:
    """The exclusive lock keeps a second user out, with a message saying who might hold it."""
    async with SerialTransport(inverter.path) as first:
        second = SerialTransport(inverter.path)
        with pytest.raises(TransportError, match="in use by another program"):
            await second.open()
        assert await ask(first, "QPI") == pi_frame("PI30")
    # Without the lock a second program may open it too (and then the two race for answers).
    shared = SerialTransport(inverter.path, exclusive=False)
    async with shared, SerialTransport(inverter.path, exclusive=False) as other:
        assert shared.is_open
        assert other.is_open


async def test_serialx_socket_urls_work_and_report_refusals() -> None:
    """socket:// goes through serialx to a TCP gateway; a refused one is a TransportError."""

    async def gateway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r")
        assert request == PI30.build_request("QPI")
        writer.write(pi_frame("PI30"))
        await writer.drain()

    server = await asyncio.start_server(gateway, "127.0.0.1", 0)
    number = server.sockets[0].getsockname()[1]
    async with server, SerialTransport(f"socket://127.0.0.1:{number}") as transport:
        assert transport.name == f"socket://127.0.0.1:{number}"
        assert await ask(transport, "QPI") == pi_frame("PI30")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with pytest.raises(TransportError, match=f"socket://127.0.0.1:{free}: cannot connect"):
        await SerialTransport(f"socket://127.0.0.1:{free}", connect_timeout=2).open()


async def test_a_scheme_registered_with_serialx_is_a_serial_port() -> None:
    """A host application's serialx handler (Home Assistant's esphome-hass:// style) just works."""
    remove = serialx.register_uri_handler(
        scheme="esphome-hass://",
        unique_scheme="esphome-hass://",
        sync_cls=SocketSerial,
        async_transport_cls=SocketSerialTransport,
    )

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r")
        writer.write(pi_frame("PI30"))
        await writer.drain()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    number = server.sockets[0].getsockname()[1]
    try:
        port = f"esphome-hass://127.0.0.1:{number}"
        assert port_type_of(port) == "serial"
        transport = open_transport(port)
        assert isinstance(transport, SerialTransport)
        async with server, transport:
            assert await ask(transport, "QPI") == pi_frame("PI30")
    finally:
        remove()
    with pytest.raises(PortError, match="unknown port scheme 'esphome-hass://'"):
        port_type_of(port)


async def test_unknown_url_scheme_and_secret_redaction() -> None:
    """A scheme serialx has no handler for is permanent; secrets never reach names or logs."""
    with pytest.raises(PortError, match="No handler registered"):
        await SerialTransport("nosuch://x").open()
    secret = SerialTransport("esphome://10.0.0.9:6053/?port_name=inverter&key=abc123")
    assert "abc123" not in secret.name
    assert "key=REDACTED" in secret.name


def test_url_helpers() -> None:
    """Paths and device:// are paths; other schemes are URLs; serialx knows its own."""
    assert not is_url("/dev/ttyUSB0")
    assert not is_url("device:///dev/ttyUSB0")
    assert is_url("socket://10.0.0.7:8899")
    assert serialx_knows("socket://10.0.0.7:8899")
    assert serialx_knows("/dev/ttyUSB0")
    assert not serialx_knows("nosuch://x")
