"""Bluetooth LE transport, tested at the bleak client boundary.

The far end is a fake ``BleakClient`` (what ``establish_connection`` builds from the
``client_class`` it is given) backed by a BMS simulator: ``start_notify`` registers the
callback, ``write_gatt_char`` hands the bytes to the simulator and delivers its answer as
notifications of at most 20 (or 244) bytes on the event loop, ``disconnect`` and
:meth:`FakeLink.drop` end the link. Everything from ``establish_connection`` down to the JK
record assembler, the buffered exchange and the protocols runs for real.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.ble import DALY, JK, BleTransport, model_for, uuid16

ADDRESS = "C8:47:8C:00:11:22"
TIMEOUT = 2.0


class FakeLink:
    """A BMS on the air: its simulator, its characteristics and what happened to it."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        mtu: int = 20,
        noise: bytes = b"",
        notify: str | None = None,
        write: str | None = None,
    ) -> None:
        """Serve ``simulator``; ``noise`` is sent before every answer (the module's chatter)."""
        self.simulator = simulator
        self.mtu = mtu
        self.noise = noise
        model = model_for(simulator.protocol.id)
        self.notify = notify or model.notify
        self.write = write or model.write
        self.clients: list[Any] = []
        self.writes: list[bytes] = []
        self.refuse: str | None = None
        self.fail_writes = False
        self.fail_disconnect = False
        self.silent = False
        self.inbox = b""

    @property
    def connections(self) -> int:
        """How many clients connected so far."""
        return sum(1 for client in self.clients if client.connected_once)

    def drop(self) -> None:
        """Take the BMS out of range: the link ends, bleak calls the disconnected callback."""
        client = self.clients[-1]
        client.is_connected = False
        if client.disconnected_callback is not None:
            client.disconnected_callback(client)

    def client_class(self) -> type:
        """Return a BleakClient-compatible class bound to this link."""
        link = self

        class FakeBleakClient:
            """Just what BleTransport and establish_connection use of BleakClient."""

            def __init__(
                self,
                device: BLEDevice,
                disconnected_callback: Any = None,
                **kwargs: Any,
            ) -> None:
                self.device = device
                self.disconnected_callback = disconnected_callback
                self.kwargs = kwargs
                self.is_connected = False
                self.connected_once = False
                self.callback: Any = None
                link.clients.append(self)

            async def connect(self, **kwargs: Any) -> None:
                if link.refuse:
                    raise BleakError(link.refuse)
                self.is_connected = self.connected_once = True

            async def start_notify(self, characteristic: str, callback: Any, **kwargs: Any) -> None:
                if characteristic != link.notify:
                    raise BleakError(f"Characteristic {characteristic} was not found!")
                self.callback = callback

            async def write_gatt_char(
                self, characteristic: str, data: bytes, response: bool | None = None
            ) -> None:
                if link.fail_writes:
                    raise BleakError("ATT error: 0x0e (Unlikely Error)")
                if characteristic != link.write:
                    raise BleakError(f"Characteristic {characteristic} was not found!")
                link.writes.append(bytes(data))
                requests, link.inbox = link.simulator.split_requests(link.inbox + bytes(data))
                loop = asyncio.get_running_loop()
                for request in requests:
                    answer = None if link.silent else link.simulator.handle(request)
                    if answer is None:
                        continue
                    stream = link.noise + answer
                    for start in range(0, len(stream), link.mtu):
                        chunk = bytearray(stream[start : start + link.mtu])
                        loop.call_soon(self.callback, characteristic, chunk)

            async def disconnect(self) -> None:
                if link.fail_disconnect:
                    raise BleakError("org.bluez.Error.Failed")
                was, self.is_connected = self.is_connected, False
                if was and self.disconnected_callback is not None:
                    self.disconnected_callback(self)

        return FakeBleakClient


def device() -> BLEDevice:
    """Return a BLEDevice as Home Assistant's Bluetooth stack hands it over (no BlueZ path)."""
    return BLEDevice(ADDRESS, "JK-B2A24S15P", {})


def transport(link: FakeLink, protocol: str, **options: Any) -> BleTransport:
    """Return a transport to ``link``."""
    options.setdefault("handshake_timeout", TIMEOUT)
    return BleTransport(device(), protocol, client_class=link.client_class(), **options)


async def ask(ble: BleTransport, command: str) -> dict[str, object]:
    """One exchange through the transport, decoded."""
    protocol = ble.protocol
    answer = await ble.exchange(
        protocol.build_request(command),
        lambda buffer: protocol.answer_length(command, buffer),
        TIMEOUT,
    )
    return dict(protocol.decode(command, answer).values_by_key)


# -- JK -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "layout"), [("jk02", "jk02"), ("jk02_32", "jk02_32")])
@pytest.mark.parametrize("mtu", [20, 244])
async def test_jk_handshake_and_cell_data(protocol: str, layout: str, mtu: int) -> None:
    """Connect, subscribe, getInfo then getCellData; records rebuilt from notifications."""
    link = FakeLink(create_simulator(protocol, seed=1), mtu=mtu, noise=b"AT\r\n")
    async with transport(link, protocol) as ble:
        proto = get_protocol(protocol)
        assert link.writes == [proto.build_request("getInfo"), proto.build_request("getCellData")]
        assert ble.detected_protocol == layout
        assert ble.assembler.noise_bytes >= 8  # the AT chatter never reached the buffer
        values = await ask(ble, "getCellData")
        assert values["record_type"] == "02"
        assert values["cell_count"] == 16
        info = await ask(ble, "getInfo")
        assert info["device_name"] == "JK-Sim"
        assert (await ask(ble, "getSettings"))["cell_count"] == 16
    assert not ble.is_open


async def test_jk_setter_changes_what_the_bms_reports() -> None:
    """A switch written over Bluetooth is acknowledged and read back from the settings."""
    link = FakeLink(create_simulator("jk02", seed=1))
    async with transport(link, "jk02") as ble:
        assert (await ask(ble, "setChargingOff"))["command_execution"] == "Successful"
        assert (await ask(ble, "getSettings"))["charge_switch"] == "disabled"


async def test_jk_through_the_device() -> None:
    """The retrying Device polls a JK BMS over this transport."""
    link = FakeLink(create_simulator("jk02_32", seed=1), mtu=244)
    ble = transport(link, "jk02_32")
    async with Device(ble, "jk02_32", timeout=TIMEOUT) as bms:
        result = await bms.command("getCellData")
        assert result["cell_count"] == 16
        link.drop()
        # The next command reconnects (a new client, the handshake again) and succeeds.
        result = await bms.command("getCellData")
        assert result["cell_count"] == 16
    assert link.connections == 2


async def test_drop_during_an_exchange_fails_it_at_once() -> None:
    """A link that drops while an answer is awaited ends the exchange with TransportError."""
    link = FakeLink(create_simulator("jk02", seed=1))
    async with transport(link, "jk02") as ble:
        link.silent = True
        pending = asyncio.create_task(ask(ble, "getCellData"))
        async with asyncio.timeout(TIMEOUT):
            while not link.writes[2:]:  # the request is out
                await asyncio.sleep(0)
        link.drop()
        with pytest.raises(TransportError, match="disconnected"):
            await asyncio.wait_for(pending, TIMEOUT)
        assert not ble.is_open
        link.silent = False
        assert (await ask(ble, "getCellData"))["cell_count"] == 16
        assert link.connections == 2


async def test_failed_reconnect_leaves_the_link_closed() -> None:
    """After a drop, a reconnect that fails leaves the transport closed; a later one works."""
    link = FakeLink(create_simulator("daly", seed=2))
    ble = transport(link, "daly", connect_attempts=1)
    async with ble:
        link.drop()
        link.refuse = "le-connection-abort-by-local"
        with pytest.raises(TransportError, match="cannot connect"):
            await ask(ble, "SOC")
        assert not ble.is_open
        link.refuse = None
        assert (await ask(ble, "SOC"))["soc"] > 0  # type: ignore[operator]


async def test_silent_bms_during_the_handshake_still_connects() -> None:
    """A firmware that does not answer the handshake is not refused: exchanges time out."""
    link = FakeLink(create_simulator("jk02", seed=1))
    link.silent = True
    async with transport(link, "jk02", handshake_timeout=0.05) as ble:
        assert ble.is_open
        assert ble.detected_protocol is None
        with pytest.raises(DeviceTimeoutError):
            await ble.exchange(b"", lambda buffer: None, 0.05)


# -- Daly ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["daly", "daly40"])
async def test_daly_frames_pass_through(protocol: str) -> None:
    """FFF2 out, FFF1 in; multi-frame answers arrive across 20-byte notifications."""
    link = FakeLink(create_simulator(protocol, seed=2))
    assert (link.notify, link.write) == (uuid16(0xFFF1), uuid16(0xFFF2))
    async with transport(link, protocol) as ble:
        assert link.writes == []  # no handshake
        assert ble.detected_protocol is None
        cells = await ask(ble, "cellVoltages16")
        assert cells["cell_count"] == 16
        await ask(ble, "setChargeMos0")
        assert (await ask(ble, "mosStatus"))["charging_mos"] is False


# -- connecting ---------------------------------------------------------------------------------


async def test_address_is_scanned_for() -> None:
    """Standalone: an address string is found by a scan, once."""
    link = FakeLink(create_simulator("daly", seed=2))
    scans: list[tuple[str, float]] = []

    async def find(address: str, timeout: float) -> BLEDevice | None:
        scans.append((address, timeout))
        return device()

    ble = BleTransport(ADDRESS, "daly", client_class=link.client_class(), find_device=find)
    async with ble:
        assert (await ask(ble, "SOC"))["soc"] > 0  # type: ignore[operator]
    await ble.open()
    await ble.close()
    assert scans == [(ADDRESS, 10.0)]
    assert ble.name == f"ble://{ADDRESS}"


async def test_default_scan_uses_bleak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a finder, the address is looked up with BleakScanner (the system adapter)."""
    asked: list[tuple[str, float]] = []

    async def find_device_by_address(address: str, timeout: float) -> BLEDevice:
        asked.append((address, timeout))
        return device()

    monkeypatch.setattr(BleakScanner, "find_device_by_address", find_device_by_address)
    link = FakeLink(create_simulator("daly", seed=2))
    async with BleTransport(ADDRESS, "daly", client_class=link.client_class(), scan_timeout=3):
        pass
    assert asked == [(ADDRESS, 3)]


async def test_address_not_found_and_no_adapter() -> None:
    """Nothing answers the scan: a transient error; the scan itself fails: a port error."""
    link = FakeLink(create_simulator("daly", seed=2))

    async def nothing(address: str, timeout: float) -> BLEDevice | None:
        return None

    async def no_adapter(address: str, timeout: float) -> BLEDevice | None:
        raise BleakError("No Bluetooth adapters found.")

    ble = BleTransport(ADDRESS, "daly", client_class=link.client_class(), find_device=nothing)
    with pytest.raises(TransportError, match="not connected to a phone app"):
        await ble.open()
    ble = BleTransport(ADDRESS, "daly", client_class=link.client_class(), find_device=no_adapter)
    with pytest.raises(PortError, match="bluetoothctl show"):
        await ble.open()


async def test_device_callback_gives_the_freshest_device() -> None:
    """Home Assistant's callback is asked on every connect (a proxy may have taken over)."""
    link = FakeLink(create_simulator("jk02", seed=1))
    fresh = BLEDevice(ADDRESS, "via proxy", {"source": "esphome-proxy"})
    calls = 0

    def callback() -> BLEDevice | None:
        nonlocal calls
        calls += 1
        return fresh if calls == 1 else None  # then HA no longer sees it: keep the last one

    ble = transport(link, "jk02", device_callback=callback)
    async with ble:
        assert link.clients[-1].device is fresh
    async with ble:
        assert link.clients[-1].device is fresh
    assert calls == 2


async def test_connection_refused() -> None:
    """establish_connection's error becomes a TransportError naming the address."""
    link = FakeLink(create_simulator("jk02", seed=1))
    link.refuse = "Device with address C8:47:8C:00:11:22 was not found."
    ble = transport(link, "jk02", connect_attempts=1)
    with pytest.raises(TransportError, match=f"ble://{ADDRESS}: cannot connect"):
        await ble.open()
    assert not ble.is_open


async def test_wrong_characteristics() -> None:
    """A device without the model's notify characteristic: a clear error, disconnected."""
    link = FakeLink(create_simulator("jk02", seed=1), notify=uuid16(0xFFF1))
    ble = transport(link, "jk02")
    with pytest.raises(TransportError, match="is this a JK BMS"):
        await ble.open()
    assert not link.clients[-1].is_connected


async def test_write_failures() -> None:
    """A failed write, or a write after the link went away, is a TransportError."""
    link = FakeLink(create_simulator("daly", seed=2))
    async with transport(link, "daly") as ble:
        link.fail_writes = True
        with pytest.raises(TransportError, match="write failed"):
            await ask(ble, "SOC")
        link.fail_writes = False
        ble._client = None  # noqa: SLF001 - the state a drop leaves before its callback
        with pytest.raises(TransportError, match="not connected"):
            await ble._write(b"\x00")  # noqa: SLF001


async def test_failed_handshake_write_closes_the_link() -> None:
    """If the handshake cannot be written, the connection is given up and the error raised."""
    link = FakeLink(create_simulator("jk02", seed=1))
    link.fail_writes = True
    ble = transport(link, "jk02")
    with pytest.raises(TransportError, match="write failed"):
        await ble.open()
    assert not ble.is_open
    assert not link.clients[-1].is_connected


async def test_close_is_quiet() -> None:
    """Closing does not count as a drop, a failing disconnect is swallowed, twice is fine."""
    link = FakeLink(create_simulator("daly", seed=2))
    ble = transport(link, "daly")
    await ble.open()
    link.fail_disconnect = True
    await ble.close()
    await ble.close()
    assert not ble.is_open
    link.fail_disconnect = False
    await ble.open()
    await ble.close()
    assert link.connections == 2


# -- models and the port factory ----------------------------------------------------------------


def test_models() -> None:
    """JK: FFE0/FFE1 both ways, records reassembled; Daly: FFF0, FFF1 in, FFF2 out."""
    assert (JK.service, JK.notify, JK.write) == (uuid16(0xFFE0), uuid16(0xFFE1), uuid16(0xFFE1))
    assert JK.jk_records and JK.handshake == ("getInfo", "getCellData")
    assert (DALY.service, DALY.notify, DALY.write) == (
        "0000fff0-0000-1000-8000-00805f9b34fb",
        "0000fff1-0000-1000-8000-00805f9b34fb",
        "0000fff2-0000-1000-8000-00805f9b34fb",
    )
    for protocol in ("jk02", "jk02_32", "jkv11", "jk04"):
        assert model_for(protocol) is JK
    assert model_for("DALY40") is DALY
    with pytest.raises(PortError, match="no protocol"):
        model_for(None)
    with pytest.raises(PortError, match="protocol 'pi30'.*jk02"):
        model_for("pi30")


def test_port_factory_builds_bluetooth_transports() -> None:
    """A MAC address, or ble://, selects this transport; the protocol picks the model."""
    link = FakeLink(create_simulator("jk02", seed=1))
    ble = open_transport(ADDRESS, protocol="jk02", client_class=link.client_class())
    assert isinstance(ble, BleTransport)
    assert (ble.model, ble.address) == (JK, ADDRESS)
    other = open_transport("ble://c8-47-8c-00-11-22", protocol="daly")
    assert isinstance(other, BleTransport)
    assert (other.model, other.address) == (DALY, ADDRESS)
    with pytest.raises(PortError, match="no option baud_rate"):
        open_transport(ADDRESS, protocol="jk02", baud_rate=9600)
    with pytest.raises(PortError, match="Bluetooth needs the protocol"):
        open_transport(ADDRESS)
