"""Bluetooth LE transport, tested at the bleak client boundary.

The far end is :class:`~mppsolar_lib.simulator.ble.SimulatedBleDevice`: a BMS simulator on the
air whose ``client_class`` is what ``establish_connection`` builds. ``start_notify`` registers
the callback, ``write_gatt_char`` hands the bytes to the simulator and its answer comes back as
notifications of at most 20 (or 244) bytes on the event loop; ``disconnect`` and
:meth:`~mppsolar_lib.simulator.ble.SimulatedBleDevice.drop` end the link. Everything from
``establish_connection`` down to the JK record assembler, the buffered exchange and the protocols
runs for real. The simulated device's own behaviour is tested at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bleak import BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice
from mppsolar_lib.simulator.faults import Faults
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.ble import DALY, JK, BleTransport, model_for, uuid16
from tests.helpers import pi_frame

ADDRESS = "C8:47:8C:00:11:22"
TIMEOUT = 2.0


def on_air(simulator: Simulator, **options: Any) -> SimulatedBleDevice:
    """Put ``simulator`` on the air at ADDRESS, not streaming unless told to."""
    options.setdefault("stream", False)
    return SimulatedBleDevice(simulator, address=ADDRESS, name="JK-B2A24S15P", **options)


def device() -> BLEDevice:
    """Return a BLEDevice as Home Assistant's Bluetooth stack hands it over (no BlueZ path)."""
    return BLEDevice(ADDRESS, "JK-B2A24S15P", {})


def transport(link: SimulatedBleDevice, protocol: str, **options: Any) -> BleTransport:
    """Return a transport to ``link``."""
    options.setdefault("handshake_timeout", TIMEOUT)
    return BleTransport(device(), protocol, client_class=link.client_class, **options)


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
    link = on_air(create_simulator(protocol, seed=1), mtu=mtu, noise=b"AT\r\n")
    async with transport(link, protocol) as ble:
        proto = get_protocol(protocol)
        assert list(link.writes) == [
            proto.build_request("getInfo"),
            proto.build_request("getCellData"),
        ]
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
    link = on_air(create_simulator("jk02", seed=1))
    async with transport(link, "jk02") as ble:
        assert (await ask(ble, "setChargingOff"))["command_execution"] == "Successful"
        assert (await ask(ble, "getSettings"))["charge_switch"] == "disabled"


async def test_jk_through_the_device() -> None:
    """The retrying Device polls a JK BMS over this transport."""
    link = on_air(create_simulator("jk02_32", seed=1), mtu=244)
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
    link = on_air(create_simulator("jk02", seed=1))
    async with transport(link, "jk02") as ble:
        link.silent = True
        pending = asyncio.create_task(ask(ble, "getCellData"))
        async with asyncio.timeout(TIMEOUT):
            while len(link.writes) < 3:  # the request is out
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
    link = on_air(create_simulator("daly", seed=2))
    ble = transport(link, "daly", connect_attempts=1)
    async with ble:
        link.drop()
        link.refuse_connect = "le-connection-abort-by-local"
        with pytest.raises(TransportError, match="cannot connect"):
            await ask(ble, "SOC")
        assert not ble.is_open
        link.refuse_connect = None
        assert (await ask(ble, "SOC"))["soc"] > 0  # type: ignore[operator]


async def test_silent_bms_during_the_handshake_still_connects() -> None:
    """A firmware that does not answer the handshake is not refused: exchanges time out."""
    link = on_air(create_simulator("jk02", seed=1))
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
    link = on_air(create_simulator(protocol, seed=2))
    assert (link.notify_characteristic.uuid, link.write_characteristic.uuid) == (
        uuid16(0xFFF1),
        uuid16(0xFFF2),
    )
    async with transport(link, protocol) as ble:
        assert list(link.writes) == []  # no handshake
        assert ble.detected_protocol is None
        cells = await ask(ble, "cellVoltages16")
        assert cells["cell_count"] == 16
        await ask(ble, "setChargeMos0")
        assert (await ask(ble, "mosStatus"))["charging_mos"] is False


# -- connecting ---------------------------------------------------------------------------------


async def test_address_is_scanned_for() -> None:
    """Standalone: an address string is found by a scan, once."""
    link = on_air(create_simulator("daly", seed=2))
    scans: list[tuple[str, float]] = []

    async def find(address: str, timeout: float) -> BLEDevice | None:
        scans.append((address, timeout))
        return device()

    ble = BleTransport(ADDRESS, "daly", client_class=link.client_class, find_device=find)
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
    link = on_air(create_simulator("daly", seed=2))
    async with BleTransport(ADDRESS, "daly", client_class=link.client_class, scan_timeout=3):
        pass
    assert asked == [(ADDRESS, 3)]


async def test_address_not_found_and_no_adapter() -> None:
    """Nothing answers the scan: a transient error; the scan itself fails: a port error."""
    link = on_air(create_simulator("daly", seed=2))

    async def nothing(address: str, timeout: float) -> BLEDevice | None:
        return None

    async def no_adapter(address: str, timeout: float) -> BLEDevice | None:
        raise BleakError("No Bluetooth adapters found.")

    ble = BleTransport(ADDRESS, "daly", client_class=link.client_class, find_device=nothing)
    with pytest.raises(TransportError, match="not connected to a phone app"):
        await ble.open()
    ble = BleTransport(ADDRESS, "daly", client_class=link.client_class, find_device=no_adapter)
    with pytest.raises(PortError, match="bluetoothctl show"):
        await ble.open()


async def test_device_callback_gives_the_freshest_device() -> None:
    """Home Assistant's callback is asked on every connect (a proxy may have taken over)."""
    link = on_air(create_simulator("jk02", seed=1))
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
    link = on_air(create_simulator("jk02", seed=1))
    link.refuse_connect = "Device with address C8:47:8C:00:11:22 was not found."
    ble = transport(link, "jk02", connect_attempts=1)
    with pytest.raises(TransportError, match=f"ble://{ADDRESS}: cannot connect"):
        await ble.open()
    assert not ble.is_open


async def test_wrong_characteristics() -> None:
    """A device without the model's notify characteristic: a clear error, disconnected."""
    link = on_air(create_simulator("jk02", seed=1), notify=uuid16(0xFFF1))
    ble = transport(link, "jk02")
    with pytest.raises(TransportError, match="is this a JK BMS"):
        await ble.open()
    assert not link.clients[-1].is_connected


async def test_write_failures() -> None:
    """A failed write, or a write after the link went away, is a TransportError."""
    link = on_air(create_simulator("daly", seed=2))
    async with transport(link, "daly") as ble:
        link.refuse_writes = "ATT error: 0x0e (Unlikely Error)"
        with pytest.raises(TransportError, match=r"write failed: ATT error: 0x0e"):
            await ask(ble, "SOC")
        link.refuse_writes = None
        ble._client = None  # noqa: SLF001 - the state a drop leaves before its callback
        with pytest.raises(TransportError, match="not connected"):
            await ble._write(b"\x00")  # noqa: SLF001


async def test_failed_handshake_write_closes_the_link() -> None:
    """If the handshake cannot be written, the connection is given up and the error raised."""
    link = on_air(create_simulator("jk02", seed=1))
    link.refuse_writes = "ATT error: 0x0e (Unlikely Error)"
    ble = transport(link, "jk02")
    with pytest.raises(TransportError, match="write failed"):
        await ble.open()
    assert not ble.is_open
    assert not link.clients[-1].is_connected


async def test_close_is_quiet() -> None:
    """Closing does not count as a drop, a failing disconnect is swallowed, twice is fine."""
    link = on_air(create_simulator("daly", seed=2))
    ble = transport(link, "daly")
    await ble.open()
    link.refuse_disconnect = "org.bluez.Error.Failed"
    await ble.close()
    await ble.close()
    assert not ble.is_open
    link.refuse_disconnect = None
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
    link = on_air(create_simulator("jk02", seed=1))
    ble = open_transport(ADDRESS, protocol="jk02", client_class=link.client_class)
    assert isinstance(ble, BleTransport)
    assert (ble.model, ble.address) == (JK, ADDRESS)
    other = open_transport("ble://c8-47-8c-00-11-22", protocol="daly")
    assert isinstance(other, BleTransport)
    assert (other.model, other.address) == (DALY, ADDRESS)
    with pytest.raises(PortError, match="no option baud_rate"):
        open_transport(ADDRESS, protocol="jk02", baud_rate=9600)
    with pytest.raises(PortError, match="Bluetooth needs the protocol"):
        open_transport(ADDRESS)


# -- the simulated BMS (mppsolar_lib.simulator.ble) ---------------------------------------------


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (bounded: nothing can hang)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0)


def test_the_simulated_bms_has_the_models_gatt_database() -> None:
    """One service with the model's characteristics; defaults a scan would show."""
    jk = SimulatedBleDevice(create_simulator("jk02", seed=1))
    assert (jk.address, jk.name, jk.device.address) == ("C8:47:8C:00:00:01", "JK02-SIM", jk.address)
    assert jk.notify_characteristic is jk.write_characteristic
    assert jk.notify_characteristic.properties == ["notify", "write-without-response", "write"]
    service = jk.services.get_service(uuid16(0xFFE0))
    assert service is not None
    assert service.get_characteristic(uuid16(0xFFE1)) is jk.notify_characteristic
    daly = SimulatedBleDevice(create_simulator("daly", seed=2), address="aa:bb:cc:dd:ee:ff")
    assert daly.address == "AA:BB:CC:DD:EE:FF"
    assert daly.notify_characteristic.properties == ["notify"]
    assert daly.write_characteristic.uuid == uuid16(0xFFF2)
    assert repr(daly) == f"<SimulatedBleDevice AA:BB:CC:DD:EE:FF advertising {daly.simulator!r}>"
    with pytest.raises(ValueError, match="mtu must be 1 byte or more"):
        SimulatedBleDevice(create_simulator("daly"), mtu=0)
    with pytest.raises(ValueError, match="stream_interval must be more than 0 s"):
        SimulatedBleDevice(create_simulator("daly"), stream_interval=0)
    with pytest.raises(PortError, match="Bluetooth needs the protocol"):
        SimulatedBleDevice(create_simulator("pi30"))


async def test_any_device_behind_given_characteristics_at_the_client_boundary() -> None:
    """A PI30 behind a BLE-UART module: the client API alone, as a host application uses it."""
    module = SimulatedBleDevice(
        create_simulator("pi30", seed=1, utc_offset=0),
        service="ffe0",  # short forms, as bleak takes them
        notify="FFE1",
        write=uuid16(0xFFE2),
    )
    assert module.notify_characteristic.uuid == uuid16(0xFFE1)
    client = module.client_class(module.device)
    with pytest.raises(BleakError, match="Service Discovery has not been performed yet"):
        _ = client.services
    with pytest.raises(BleakError, match="Not connected"):
        await client.write_gatt_char(uuid16(0xFFE2), b"QPI\r", response=False)
    await client.connect()
    assert client.services is module.services
    assert (client.is_connected, module.connected, client.name, client.mtu_size) == (
        True,
        True,
        "PI30-SIM",
        23,
    )
    assert "connected" in repr(client) and "connected" in repr(module)
    received = bytearray()
    arrived = asyncio.Event()

    def notified(characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        assert characteristic is module.notify_characteristic
        received.extend(data)
        if received.endswith(b"\r"):
            arrived.set()

    # By handle, by UUID, by the characteristic itself: as bleak resolves them.
    await client.start_notify(module.notify_characteristic.handle, notified)
    await client.write_gatt_char(uuid16(0xFFE2), b"x" * 4097, response=False)  # noise, dropped
    request = get_protocol("pi30").build_request("QPI")
    await client.write_gatt_char(module.write_characteristic, request, response=False)
    await asyncio.wait_for(arrived.wait(), TIMEOUT)
    assert bytes(received) == pi_frame("PI30")
    with pytest.raises(BleakError, match="not found"):
        await client.start_notify(uuid16(0x2A00), notified)
    with pytest.raises(BleakError, match="does not support write"):
        await client.write_gatt_char(uuid16(0xFFE1), request, response=False)
    await client.stop_notify(uuid16(0xFFE1))
    await client.connect()  # connecting again while connected changes nothing
    assert module.connections == 1
    await client.disconnect()
    assert not client.is_connected and "disconnected" in repr(client)
    with pytest.raises(BleakError, match="Not connected"):
        await client.stop_notify(uuid16(0xFFE1))


async def test_one_connection_at_a_time_and_only_at_its_address() -> None:
    """A second central is refused while one is connected; another address is not found."""
    link = on_air(create_simulator("daly", seed=2))
    async with transport(link, "daly") as first:
        second = transport(link, "daly", connect_attempts=1)
        with pytest.raises(TransportError, match="already connected to another central"):
            await second.open()
        assert (await ask(first, "SOC"))["soc"] > 0  # type: ignore[operator]
    elsewhere = BleTransport(
        BLEDevice("11:22:33:44:55:66", "other", {}),
        "daly",
        client_class=link.client_class,
        connect_attempts=1,
    )
    with pytest.raises(TransportError, match="cannot connect.*was not found"):
        await elsewhere.open()


async def test_an_old_client_disconnecting_does_not_end_the_new_link() -> None:
    """After a drop and a reconnect, the stale client's disconnect touches nothing."""
    link = on_air(create_simulator("daly", seed=2))
    async with transport(link, "daly") as ble:
        old = link.clients[-1]
        link.drop()
        link.drop()  # nothing connected any more: nothing happens
        assert (await ask(ble, "SOC"))["soc"] > 0  # type: ignore[operator]
        await old.disconnect()
        assert link.connected and link.clients[-1].is_connected
        assert (await ask(ble, "SOC"))["soc"] > 0  # type: ignore[operator]


async def test_a_link_dropped_mid_answer_delivers_nothing_more() -> None:
    """Notifications already on their way when the link drops are lost with it."""
    link = on_air(create_simulator("daly", seed=2))
    client = link.client_class(link.device)
    await client.connect()
    chunks: list[bytearray] = []

    def notified(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        chunks.append(data)
        link.drop()  # out of range after the first notification

    await client.start_notify(uuid16(0xFFF1), notified)
    request = get_protocol("daly").build_request("cellVoltages16")  # 16 frames: 11 notifications
    await client.write_gatt_char(uuid16(0xFFF2), request, response=False)
    await until(lambda: not link.connected)
    await client.connect()  # the next loop turns would deliver the rest, if anything did
    await until(lambda: len(link.writes) == 1)
    assert len(chunks) == 1 and len(chunks[0]) == 20
    link.close()


async def test_answers_without_a_subscriber_go_nowhere() -> None:
    """A request written before subscribing is answered into the void, as by a real BMS."""
    link = on_air(create_simulator("daly", seed=2))
    client = link.client_class(link.device)
    await client.connect()
    await client.write_gatt_char(uuid16(0xFFF2), get_protocol("daly").build_request("SOC"))
    assert link.pending == 1
    await until(lambda: link.pending == 0)
    got: list[bytearray] = []
    await client.start_notify(uuid16(0xFFF1), lambda _c, data: got.append(data))
    request = get_protocol("daly").build_request("mosStatus")
    await client.write_gatt_char(uuid16(0xFFF2), request, response=False)
    await until(lambda: bool(got))
    assert get_protocol("daly").decode("mosStatus", bytes(got[0]))["charging_mos"] is True
    link.close()
    assert not client.is_connected


async def test_a_streaming_bms_sends_cell_data_unasked() -> None:
    """After getCellData a JK BMS streams records; listening gets one; none after the link ends."""
    link = on_air(create_simulator("jk02", seed=1), stream=True, stream_interval=0.01)
    async with transport(link, "jk02") as ble:
        assert link.stream_interval == 0.01
        record = await ble.exchange(
            b"", lambda buffer: get_protocol("jk02").answer_length("getCellData", buffer), TIMEOUT
        )
        assert get_protocol("jk02").decode("getCellData", record)["record_type"] == "02"
        before = ble.assembler.records
        await ble.close()
        link.close()
    assert ble.assembler.records == before
    assert SimulatedBleDevice(create_simulator("jk02")).stream_interval == 1.0
    assert SimulatedBleDevice(create_simulator("daly")).stream_interval is None
    assert SimulatedBleDevice(create_simulator("jk02"), stream=False).stream_interval is None


async def test_stopping_notifications_stops_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream starts with getCellData, not before; stop_notify ends it."""
    simulator = create_simulator("jk02", seed=1)
    asked = simulator.unsolicited
    ticks = 0

    def unsolicited() -> bytes:
        nonlocal ticks
        ticks += 1
        return asked()

    monkeypatch.setattr(simulator, "unsolicited", unsolicited)
    link = on_air(simulator, stream=True, stream_interval=0.01)
    client = link.client_class(link.device)
    await client.connect()
    records: list[bytearray] = []
    await client.start_notify(uuid16(0xFFE1), lambda _c, data: records.append(data))
    await client.start_notify(uuid16(0xFFE1), lambda _c, data: records.append(data))  # again
    await until(lambda: ticks >= 2)
    assert records == []  # not streaming before getCellData
    await client.write_gatt_char(
        uuid16(0xFFE1), get_protocol("jk02").build_request("getCellData"), response=False
    )
    await until(lambda: len(records) > 2 * 300 // 20)  # the answer and a streamed record
    await client.stop_notify(uuid16(0xFFE1))
    count = len(records)
    await client.write_gatt_char(
        uuid16(0xFFE1), get_protocol("jk02").build_request("getInfo"), response=False
    )
    await until(lambda: len(link.writes) == 2)
    assert len(records) == count
    await client.disconnect()


async def test_the_transport_helper_and_faults() -> None:
    """bms.transport() is a BleTransport to it; a scripted fault plays on the air."""
    link = SimulatedBleDevice(create_simulator("daly", seed=2), Faults(script=("disconnect",)))
    ble = link.transport(connect_attempts=1)
    assert isinstance(ble, BleTransport) and ble.address == link.address
    with pytest.raises(TransportError, match="the Daly BMS disconnected"):
        await ask(ble, "SOC")
    assert (await ask(ble, "SOC"))["soc"] > 0  # type: ignore[operator]
    assert link.connections == 2
    await ble.close()
