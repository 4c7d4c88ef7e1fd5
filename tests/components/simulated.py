"""Simulated devices served over a real pty or TCP socket, and config entries that reach them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from enum import StrEnum
import time
from typing import Any

from bleak.backends.scanner import AdvertisementData
from homeassistant.components.bluetooth import (
    SOURCE_LOCAL,
    BluetoothServiceInfoBleak,
    async_get_advertisement_callback,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.mppsolar.const import (
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_HOST,
    CONF_PORT,
    CONF_PROTOCOL,
    DEFAULT_BLE_STATUS_INTERVAL,
    DEFAULT_STATUS_INTERVAL,
    DOMAIN,
    Connection,
)
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice
from mppsolar_lib.simulator.serve import PtyServer, TcpServer

#: A status interval and a bit: the coordinator's next poll is due.
STEP = DEFAULT_STATUS_INTERVAL + timedelta(seconds=1)
#: The same for a Bluetooth device (polled less often).
BLE_STEP = DEFAULT_BLE_STATUS_INTERVAL + timedelta(seconds=1)

#: A JK BMS advertisement (aiobmsble's matcher: service FFE0, manufacturer id 0x0B65).
JK_SERVICE = "0000ffe0-0000-1000-8000-00805f9b34fb"
JK_MANUFACTURER = 0x0B65
#: A Daly Bluetooth module's service.
DALY_SERVICE = "0000fff0-0000-1000-8000-00805f9b34fb"

#: One device per family, and how it is reached (PI17 through a serial-over-IP gateway).
FAMILIES = [
    ("pi30", "pty"),
    ("pi18", "pty"),
    ("pi17", "tcp"),
    ("jkpb", "pty"),
    ("daly", "pty"),
    ("ved", "pty"),
]


def unique_id(simulator: Simulator, protocol: str) -> str:
    """Return the unique id an entry for ``simulator`` gets: its serial, else a fixed id."""
    serial = getattr(simulator, "serial", None)
    return str(serial) if serial else f"sim-{protocol}"


def serial_entry(server: PtyServer, protocol: str, **data: Any) -> MockConfigEntry:
    """Return a config entry for the device behind ``server``'s pty (or link)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{protocol.upper()} simulator",
        unique_id=unique_id(server.simulator, protocol),
        data={
            CONF_CONNECTION: Connection.SERIAL,
            CONF_DEVICE: str(server.link or server.path),
            CONF_PROTOCOL: protocol,
            **data,
        },
    )


def tcp_entry(server: TcpServer, protocol: str) -> MockConfigEntry:
    """Return a config entry for the device behind ``server``'s TCP port."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{protocol.upper()} gateway",
        unique_id=unique_id(server.simulator, protocol),
        data={
            CONF_CONNECTION: Connection.TCP,
            CONF_HOST: server.host,
            CONF_PORT: server.port,
            CONF_PROTOCOL: protocol,
        },
    )


@asynccontextmanager
async def served_entry(
    hass: HomeAssistant, request: pytest.FixtureRequest, protocol: str, link: str
) -> AsyncIterator[MockConfigEntry]:
    """Serve a simulated ``protocol`` device over ``link`` (pty, tcp); yield its set-up entry."""
    simulator = create_simulator(protocol)
    server: PtyServer | TcpServer
    if link == "tcp":
        request.getfixturevalue("socket_enabled")
        server = TcpServer(simulator)
        await server.start()
        entry = tcp_entry(server, protocol)
    else:
        server = PtyServer(simulator)
        await server.start()
        entry = serial_entry(server, protocol)
    try:
        await set_up(hass, entry)
        yield entry
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.close()


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add ``entry`` and set it up (Home Assistant bounds the setup with its own timeouts)."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def next_poll(hass: HomeAssistant, polls: int = 1, step: timedelta = STEP) -> None:
    """Let ``polls`` status intervals pass, one by one, and wait for the coordinator's updates.

    ``step`` is a bit more than the entry's status interval (:data:`BLE_STEP` for Bluetooth).

    Time moves by firing Home Assistant's timers at a future instant rather than with the
    freezer: the freezer would also stop the event loop's clock, and the real I/O (port
    timeouts, the Device's retry backoff) waits on that clock.
    """
    for _ in range(polls):
        async_fire_time_changed(hass, dt_util.utcnow() + step)
        await hass.async_block_till_done(wait_background_tasks=True)


def described(hass: HomeAssistant, entry: MockConfigEntry, domain: str) -> dict[str, Any]:
    """Return what a user sees of the entry's ``domain`` entities, by entity id (no values).

    Unique id, translated name, translation key, device and state class, unit, display
    precision, enum options, category and whether it is enabled; what is not set is left out.
    """
    table: dict[str, Any] = {}
    for item in entities(hass, entry):
        if item.domain != domain:
            continue
        capabilities = item.capabilities or {}
        sensor_options: Mapping[str, Any] = item.options.get("sensor") or {}
        shown = {
            "unique_id": item.unique_id,
            "name": item.original_name,
            "translation_key": item.translation_key,
            "device_class": item.original_device_class,
            "state_class": capabilities.get("state_class"),
            "unit": item.unit_of_measurement,
            "precision": sensor_options.get("suggested_display_precision"),
            "options": capabilities.get("options"),
            "category": item.entity_category,
            "enabled": item.disabled_by is None,
        }
        table[item.entity_id] = {
            key: str(value) if isinstance(value, StrEnum) else value
            for key, value in shown.items()
            if value is not None
        }
    return table


def entities(hass: HomeAssistant, entry: MockConfigEntry) -> list[er.RegistryEntry]:
    """Return the entry's registered entities, sorted by unique id."""
    registry = er.async_get(hass)
    return sorted(
        er.async_entries_for_config_entry(registry, entry.entry_id), key=lambda e: e.unique_id
    )


def service_info(
    device: SimulatedBleDevice,
    *,
    service_uuids: list[str] | None = None,
    manufacturer_data: dict[int, bytes] | None = None,
) -> BluetoothServiceInfoBleak:
    """Return what Home Assistant's Bluetooth stack reports for the BMS's advertisement.

    A JK BMS's (service FFE0, manufacturer id 0x0B65) unless told otherwise.
    """
    uuids = [JK_SERVICE] if service_uuids is None else service_uuids
    data = {JK_MANUFACTURER: b"\x01\x02"} if manufacturer_data is None else manufacturer_data
    advertisement = AdvertisementData(
        local_name=device.name,
        manufacturer_data=data,
        service_data={},
        service_uuids=uuids,
        tx_power=None,
        rssi=-60,
        platform_data=(),
    )
    return BluetoothServiceInfoBleak(
        name=device.name,
        address=device.address,
        rssi=-60,
        manufacturer_data=data,
        service_data={},
        service_uuids=uuids,
        source=SOURCE_LOCAL,
        device=device.device,
        advertisement=advertisement,
        connectable=True,
        time=time.monotonic(),
        tx_power=None,
    )


def advertise(hass: HomeAssistant, info: BluetoothServiceInfoBleak) -> None:
    """Let Home Assistant's Bluetooth stack see ``info`` (as an adapter would report it).

    The stack then knows the device (``async_ble_device_from_address``) and, when the
    advertisement matches the manifest, starts a discovery flow.
    """
    async_get_advertisement_callback(hass)(info)
