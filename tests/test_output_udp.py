"""``json_udp``: what a program listening on the UDP port receives, through a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import json
import logging
from pathlib import Path
import socket

import pytest

from mppsolar_lib.bridge.daemon import Bridge
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig
from mppsolar_lib.outputs import OutputContext, OutputOptions, Report, get_output
from mppsolar_lib.outputs.base import plain
from mppsolar_lib.outputs.udp import JsonUdp
from mppsolar_lib.protocols.fields import Field

TIMEOUT = 10.0


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Return a UDP socket bound to a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock


async def receive(sock: socket.socket) -> dict[str, object]:
    """Return the next datagram, decoded (bounded)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(TIMEOUT):
        data = await loop.sock_recv(sock, 65535)
    decoded: dict[str, object] = json.loads(data)
    return decoded


def context(port: int) -> OutputContext:
    """Return a bridge context sending to ``port``."""
    return OutputContext(DeviceConfig("inv", ("QPIGS",), udp_port=port))


def report() -> Report:
    """Return a small report."""
    return Report(
        "QPIGS",
        "General status",
        (
            Field("ac_input_voltage", "AC Input Voltage", 230.1, "V"),
            Field("is_load_on", "Is Load On", True, ""),
            Field("flags", "Flags", (1, 0), ""),
        ),
        b"(raw",
        1.0,
    )


async def test_bridge_sends_the_reference_shape(listener: socket.socket, tmp_path: Path) -> None:
    """A simulated PI30 → bridge → one datagram per command: key → value, as the reference."""
    port = listener.getsockname()[1]
    device = DeviceConfig(
        "inv",
        ("QPIGS",),
        pause=0.2,
        port="sim://pi30",
        protocol="pi30",
        outputs=("json_udp",),
        udp_port=port,
    )
    bridge = Bridge(BridgeConfig(devices=(device,)), spool_dir=tmp_path)
    async with asyncio.timeout(TIMEOUT):
        await bridge.start()
    polled: list[Report] = []
    bridge.runners["inv"].listeners.append(lambda _name, reports: polled.extend(reports))
    try:
        first = await receive(listener)
        second = await receive(listener)
    finally:
        async with asyncio.timeout(TIMEOUT):
            await bridge.stop()
    # The reference's payload (mpp-solar -o json_udp): values by key, no command, no units.
    sent = [{row.key: plain(row.value) for row in report.rows} for report in polled]
    assert first in sent
    assert second in sent
    assert isinstance(first["ac_output_voltage"], float)
    assert isinstance(first["is_load_on"], int)
    assert "_command" not in first
    assert not bridge.sinks[0].spool  # fire-and-forget: never spooled


async def test_filters_and_values(listener: socket.socket) -> None:
    """Filters and keep_case shape the keys; flags are 1/0 and tuples lists, as JSON carries them."""
    port = listener.getsockname()[1]
    output = get_output("json_udp", OutputOptions(exclude="flags"), context(port))
    await output.send([report()])
    assert await receive(listener) == {"ac_input_voltage": 230.1, "is_load_on": 1}
    cased = get_output("json_udp", OutputOptions(keep_case=True), context(port))
    await cased.send([report(), report()])
    expected = {"AC_Input_Voltage": 230.1, "Is_Load_On": 1, "Flags": [1, 0]}
    assert await receive(listener) == expected
    assert await receive(listener) == expected
    await output.close()
    await cased.close()


async def test_nobody_listening_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """Without a listener datagrams are lost, quietly: UDP has no acknowledgement to wait for."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = get_output("json_udp", OutputOptions(), context(port))
    caplog.set_level(logging.DEBUG, "mppsolar_lib.outputs.udp")
    async with asyncio.timeout(TIMEOUT):
        # Linux reports the ICMP "port unreachable" of one datagram on the socket; the next
        # sends go on regardless.
        while not any("refused" in r.getMessage() for r in caplog.records):
            await output.send([report()])
            await asyncio.sleep(0.01)
    await output.close()


async def test_reopens_after_close(listener: socket.socket) -> None:
    """A closed output opens a new socket on its next send."""
    output = get_output("json_udp", OutputOptions(), context(listener.getsockname()[1]))
    await output.close()  # never opened: nothing to close
    await output.send([report()])
    await output.close()
    await output.send([report()])
    assert (await receive(listener)) == (await receive(listener))
    await output.close()


def test_defaults_without_a_bridge() -> None:
    """Outside the bridge it sends to the reference's default port, 5555, on 127.0.0.1."""
    output = get_output("json_udp")
    assert isinstance(output, JsonUdp)
    assert output.address == ("127.0.0.1", 5555)
    assert not JsonUdp.spooled
