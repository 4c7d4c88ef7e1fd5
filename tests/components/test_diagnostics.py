"""Diagnostics: what a user downloads is redacted, and its frames replay as test fixtures.

Each device is a simulator on a real pty, a TCP socket or the simulated Bluetooth link; the
diagnostics are fetched as the frontend fetches them (Home Assistant's diagnostics HTTP API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import json
import time
from typing import Any

from bleak.backends.scanner import AdvertisementData
from homeassistant.components.bluetooth import (
    SOURCE_LOCAL,
    BluetoothServiceInfoBleak,
    async_get_advertisement_callback,
)
from homeassistant.components.diagnostics import REDACTED
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.mppsolar import connection
from custom_components.mppsolar.const import (
    CONF_ADDRESS,
    CONF_BAUD,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_FIRMWARE,
    CONF_HOST,
    CONF_MODEL,
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_SERIAL,
    DOMAIN,
    Connection,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice
from mppsolar_lib.simulator.serve import PtyServer, TcpServer

from .simulated import set_up

#: What the simulators report as their identity.
PI30_SERIAL = "9293333010501"
JK_SERIAL = "31213480085"
#: A VE.Direct unit that sends its serial number in every text block (chargers, inverters).
VED_SERIAL = "HQ2212ABCDE"
#: A PI30's answer to a command it does not know.
NAK = b"(NAK\x73\x73\r"


def leaks(diagnostics: dict[str, Any], secret: str) -> bool:
    """Return whether ``secret`` shows anywhere: as text, or as the hex of its bytes."""
    text = json.dumps(diagnostics).lower()
    return secret.lower() in text or secret.encode().hex() in text


def shape(diagnostics: dict[str, Any]) -> dict[str, Any]:
    """Return the diagnostics without what moves: values, responses, the pty's path."""
    entry = diagnostics["entry"]
    data = {**entry["data"]}
    if CONF_DEVICE in data:
        data[CONF_DEVICE] = "<pty>"
    return {
        "entry": {**entry, "data": data},
        "device": diagnostics["device"],
        "frames": {
            command: {
                **frame,
                "response": frame["response"] and "<hex>",
            }
            for command, frame in diagnostics["frames"].items()
        },
        # Each value's key and unit; the value itself moves with the simulated plant.
        "values": {key: value[1] for key, value in diagnostics["values"].items()},
    }


def serial_entry(server: PtyServer, protocol: str, baud: int, **identity: str) -> MockConfigEntry:
    """Return the entry the config flow makes for the device behind ``server``'s pty."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{protocol.upper()} simulator",
        unique_id=identity.get(CONF_SERIAL) or f"serial:{server.path}",
        data={
            CONF_CONNECTION: Connection.SERIAL,
            CONF_DEVICE: server.path,
            CONF_BAUD: baud,
            CONF_PROTOCOL: protocol,
            **identity,
        },
    )


class RefusingFlags(Simulator):
    """A PI30 whose firmware does not know ``QFLAG`` (it answers NAK)."""

    def __init__(self) -> None:
        """Answer as the PI30 simulator, except to QFLAG."""
        super().__init__("pi30")
        self.inner = create_simulator("pi30")

    def handle(self, request: bytes) -> bytes | None:
        """Refuse QFLAG; answer the rest."""
        return NAK if request.startswith(b"QFLAG") else self.inner.handle(request)


@pytest.fixture
async def inverter() -> AsyncIterator[PtyServer]:
    """Serve a PI30 inverter on a real pty."""
    async with PtyServer(create_simulator("pi30", seed=1)) as server:
        yield server


async def test_pi30_over_pty(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    inverter: PtyServer,
) -> None:
    """The serial number is redacted; the QPIGS frames decode to the values shown."""
    entry = serial_entry(
        inverter,
        "pi30",
        2400,
        **{CONF_SERIAL: PI30_SERIAL, CONF_MODEL: "MKS2-8000", CONF_FIRMWARE: "00072.70"},
    )
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)

    assert diagnostics["entry"]["data"][CONF_SERIAL] == REDACTED
    assert diagnostics["entry"]["unique_id"] == REDACTED
    assert diagnostics["entry"]["data"][CONF_MODEL] == "MKS2-8000"
    assert not leaks(diagnostics, PI30_SERIAL)
    protocol = get_protocol("pi30")
    frame = diagnostics["frames"]["QPIGS"]
    assert frame["request"] == protocol.build_request("QPIGS").hex()
    assert frame["error"] is None
    assert frame["redacted"] is False
    replayed = protocol.decode("QPIGS", bytes.fromhex(frame["response"]))
    values = diagnostics["values"]
    for key in ("battery_voltage", "ac_output_active_power", "pv_input_voltage"):
        assert values[key] == [replayed.fields[key].value, replayed.fields[key].unit]
    assert shape(diagnostics) == snapshot


async def test_refused_command_frame(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """A command the unit refuses: its request, no response, the error, and it is dropped."""
    async with PtyServer(RefusingFlags()) as server:
        entry = serial_entry(server, "pi30", 2400, **{CONF_SERIAL: PI30_SERIAL})
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED

        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert await hass.config_entries.async_unload(entry.entry_id)

    assert diagnostics["device"]["dropped_commands"] == ["QFLAG"]
    frame = diagnostics["frames"]["QFLAG"]
    assert frame["request"] == get_protocol("pi30").build_request("QFLAG").hex()
    assert frame["response"] is None
    assert "NAK" in frame["error"]
    assert diagnostics["frames"]["QPIRI"]["response"]


async def test_serial_number_masked_in_frames(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """A VE.Direct text block carries ``SER#``: the frame keeps its layout, the serial is masked."""
    simulator = create_simulator("ved", serial=VED_SERIAL)
    async with PtyServer(simulator) as server:
        entry = serial_entry(server, "ved", 19200, **{CONF_SERIAL: VED_SERIAL})
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED

        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert await hass.config_entries.async_unload(entry.entry_id)

    assert not leaks(diagnostics, VED_SERIAL)
    text = diagnostics["frames"]["vedtext"]
    assert text["redacted"] is True
    assert b"SER#\t" + b"*" * len(VED_SERIAL) in bytes.fromhex(text["response"])
    assert diagnostics["frames"]["batteryCapacity"]["redacted"] is False
    assert diagnostics["values"]["serial_number"] == REDACTED


@pytest.mark.usefixtures("socket_enabled")
async def test_gateway_host_redacted(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """A JK BMS behind a TCP gateway: the host and the serial number are redacted."""
    async with TcpServer(create_simulator("jkpb")) as server:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="JK BMS",
            unique_id=JK_SERIAL,
            data={
                CONF_CONNECTION: Connection.TCP,
                CONF_HOST: server.host,
                CONF_PORT: server.port,
                CONF_PROTOCOL: "jkpb",
                CONF_SERIAL: JK_SERIAL,
            },
        )
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED

        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert await hass.config_entries.async_unload(entry.entry_id)

    data = diagnostics["entry"]["data"]
    assert data[CONF_HOST] == REDACTED
    assert data[CONF_PORT] == server.port
    assert data[CONF_SERIAL] == REDACTED
    assert not leaks(diagnostics, JK_SERIAL)
    assert diagnostics["device"]["transport"] == "TcpTransport"
    frame = diagnostics["frames"]["getCellData"]
    replayed = get_protocol("jkpb").decode("getCellData", bytes.fromhex(frame["response"]))
    assert replayed.fields


@pytest.fixture
def bms(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedBleDevice]:
    """Put a JK BMS on the air, where the integration's Bluetooth links go."""
    device = SimulatedBleDevice(create_simulator("jk02_32", seed=1), name="JK-B2A24S15P")
    monkeypatch.setattr(connection, "BLE_CLIENT_CLASS", device.client_class)
    yield device
    device.close()


def advertise(hass: HomeAssistant, device: SimulatedBleDevice) -> None:
    """Let Home Assistant's Bluetooth stack see the BMS (as an adapter reports it)."""
    advertisement = AdvertisementData(
        local_name=device.name,
        manufacturer_data={},
        service_data={},
        service_uuids=[],
        tx_power=None,
        rssi=-60,
        platform_data=(),
    )
    async_get_advertisement_callback(hass)(
        BluetoothServiceInfoBleak(
            name=device.name,
            address=device.address,
            rssi=-60,
            manufacturer_data={},
            service_data={},
            service_uuids=[],
            source=SOURCE_LOCAL,
            device=device.device,
            advertisement=advertisement,
            connectable=True,
            time=time.monotonic(),
            tx_power=None,
        )
    )


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_address_redacted(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, bms: SimulatedBleDevice
) -> None:
    """A Bluetooth BMS: its address (the entry's unique id too) is nowhere in the download."""
    advertise(hass, bms)
    await hass.async_block_till_done()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="JK BMS",
        unique_id=bms.address,
        data={
            CONF_CONNECTION: Connection.BLUETOOTH,
            CONF_ADDRESS: bms.address,
            CONF_PROTOCOL: "jk02_32",
        },
    )
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)

    assert diagnostics["entry"]["data"][CONF_ADDRESS] == REDACTED
    assert diagnostics["entry"]["unique_id"] == REDACTED
    assert not leaks(diagnostics, bms.address)
    assert diagnostics["device"]["transport"] == "BleTransport"
    assert diagnostics["frames"]
