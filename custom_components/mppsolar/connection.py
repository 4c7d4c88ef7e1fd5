"""From a config entry's data to a library ``Device``: the only place that builds transports."""

from __future__ import annotations

from collections.abc import Mapping
import importlib
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak_retry_connector import BleakClientWithServiceCache
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant

from mppsolar_lib.device import Device
from mppsolar_lib.errors import TransportError
from mppsolar_lib.protocols import get_protocol, list_protocols
from mppsolar_lib.transports import Transport, open_transport
from mppsolar_lib.transports.ble import HANDSHAKE_TIMEOUT, BleTransport

from .const import (
    CONF_ADDRESS,
    CONF_BAUD,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_HOST,
    CONF_PORT,
    CONF_PROTOCOL,
    DEFAULT_BAUD,
    Connection,
)

#: The wired port types (their modules register the transports the library builds).
PORT_TYPES = ("serial", "tcp", "udp", "hidraw")


def _import_library() -> None:
    """Import every protocol and wired port type of the library now.

    The library imports them on first use; Home Assistant imports this module in its executor,
    so they are never imported in the event loop (which Home Assistant reports as blocking).
    """
    for protocol in list_protocols():
        get_protocol(protocol)
    for port_type in PORT_TYPES:
        importlib.import_module(f"mppsolar_lib.transports.{port_type}")


_import_library()

#: Per-exchange timeout: a 110-byte answer takes 0.46 s at 2400 baud; allow a slow unit.
TIMEOUT = 3.0
#: Bluetooth: connecting takes seconds, notifications may stall while the radio is busy.
BLE_TIMEOUT = 10.0


#: The bleak client class Bluetooth links use (tests put the simulated BMS here).
BLE_CLIENT_CLASS: type[BleakClient] = BleakClientWithServiceCache
#: Seconds a JK BMS has to answer each request of the connection handshake (tests shorten it).
BLE_HANDSHAKE_TIMEOUT: float = HANDSHAKE_TIMEOUT


async def _not_heard(address: str, timeout: float) -> BLEDevice | None:
    """Fail to connect to a device Home Assistant's Bluetooth stack does not know (yet).

    The transport asks this when the stack had no ``BLEDevice`` for the address, instead of
    scanning: the stack owns the adapters. Transient: after a restart, a BMS is known once
    Home Assistant hears it again.
    """
    raise TransportError(f"{address}: not in range of any Bluetooth adapter or proxy")


def describe(data: Mapping[str, Any]) -> str:
    """Name the link for titles and messages (``/dev/ttyUSB0``, ``10.0.0.5:8899``, address)."""
    connection = Connection(data[CONF_CONNECTION])
    if connection in (Connection.TCP, Connection.UDP):
        return f"{data[CONF_HOST]}:{data[CONF_PORT]}"
    if connection is Connection.BLUETOOTH:
        return str(data[CONF_ADDRESS])
    return str(data[CONF_DEVICE])


def build_transport(
    hass: HomeAssistant, data: Mapping[str, Any], protocol: str | None = None
) -> Transport:
    """Return the (unopened) transport the entry ``data`` describes.

    ``protocol`` overrides the entry's (the config flow probes before one is known). A
    Bluetooth link gets its ``BLEDevice`` from Home Assistant's Bluetooth stack (so it works
    through ESPHome proxies), fresh on every connect; it never scans itself: the stack owns the
    adapters.
    """
    connection = Connection(data[CONF_CONNECTION])
    protocol = protocol or data.get(CONF_PROTOCOL)
    if connection is Connection.BLUETOOTH:
        address = str(data[CONF_ADDRESS]).upper()

        def fresh() -> BLEDevice | None:
            return bluetooth.async_ble_device_from_address(hass, address, connectable=True)

        return BleTransport(
            address,
            protocol or "",
            device_callback=fresh,
            client_class=BLE_CLIENT_CLASS,
            find_device=_not_heard,
            handshake_timeout=BLE_HANDSHAKE_TIMEOUT,
        )
    if connection in (Connection.TCP, Connection.UDP):
        port = f"{connection.value}://{data[CONF_HOST]}:{data[CONF_PORT]}"
        return open_transport(port, protocol=protocol)
    return open_transport(
        str(data[CONF_DEVICE]),
        porttype=connection.value,
        baud=data.get(CONF_BAUD, DEFAULT_BAUD) if connection is Connection.SERIAL else None,
        protocol=protocol,
    )


def build_device(
    hass: HomeAssistant, data: Mapping[str, Any], protocol: str | None = None
) -> Device:
    """Return the library ``Device`` for the entry ``data`` (nothing is opened yet)."""
    transport = build_transport(hass, data, protocol)
    bluetooth_link = Connection(data[CONF_CONNECTION]) is Connection.BLUETOOTH
    return Device(
        transport,
        protocol or data.get(CONF_PROTOCOL),
        timeout=BLE_TIMEOUT if bluetooth_link else TIMEOUT,
    )
