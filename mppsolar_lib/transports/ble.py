"""Bluetooth LE to JK and Daly BMSs, through bleak and bleak-retry-connector.

The transport takes a :class:`~bleak.backends.device.BLEDevice` — what Home Assistant's
Bluetooth stack hands over (``async_ble_device_from_address``), with an optional callback that
returns a fresher one on reconnect — or, standalone, an address (``AA:BB:CC:DD:EE:FF``) that it
scans for. It connects with :func:`bleak_retry_connector.establish_connection` (retries,
backoff, BlueZ cache handling, connection-slot errors worded for users), subscribes to the
model's notify characteristic and writes requests to its write characteristic.

Per model (:data:`MODELS`, chosen from the protocol id):

* **JK** (jk02, jk02_32, jkv11, jk04): service ``FFE0``, one characteristic ``FFE1`` for both
  directions. Notifications (20 to 244 bytes) go through
  :class:`~mppsolar_lib.protocols.jkble.JkRecordAssembler`, so only checked records and
  20-byte frames reach the buffer (the module's ``AT`` chatter and damaged records never do).
  On connecting, the transport does what the BMS expects of its app: it asks for the device
  information (``0x97``) and waits for that record, then asks for cell data (``0x96``), which
  starts the stream. :attr:`BleTransport.detected_protocol` then tells the layout (jk02 or
  jk02_32) from the records themselves.
* **Daly** (daly, daly40): service ``FFF0``, notify ``FFF1``, write ``FFF2`` (as Daly's
  Bluetooth modules and aiobmsble's Daly driver use them); the 13-byte frames of the UART
  protocol pass through unchanged.

The answer is complete when the protocol's ``answer_length`` says so (records the BMS streams
meanwhile are stepped over by the JK framing). A dropped link (``disconnected_callback``) fails
the exchange in flight with a :class:`~mppsolar_lib.errors.TransportError`; the next exchange
reconnects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import dataclasses
import logging
from typing import Final

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.jkble import JkRecordAssembler
from mppsolar_lib.transports.base import BufferedTransport
from mppsolar_lib.transports.factory import PortRequest, register_port_type

_LOGGER = logging.getLogger(__name__)

#: Seconds to scan for an address, and to wait for the JK handshake's records.
SCAN_TIMEOUT: Final = 10.0
HANDSHAKE_TIMEOUT: Final = 5.0
#: Connection attempts handed to establish_connection (each with its own backoff).
CONNECT_ATTEMPTS: Final = 3
#: Bytes per write: the BLE 4.0 payload every adapter takes (requests here are 13-20 bytes).
WRITE_CHUNK: Final = 20


def uuid16(short: int) -> str:
    """Return the 128-bit form of a 16-bit Bluetooth UUID (``0xffe1`` -> ``0000ffe1-…``)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


@dataclasses.dataclass(frozen=True, slots=True)
class BleModel:
    """What one family of BMS needs: characteristics, reassembly, and what to send on connect."""

    name: str
    service: str
    notify: str
    write: str
    #: Reassemble JK records from the notifications (else pass the bytes through).
    jk_records: bool = False
    #: Commands sent after connecting, each waiting for its answer (JK: getInfo, getCellData).
    handshake: tuple[str, ...] = ()


JK: Final = BleModel(
    "JK BMS",
    uuid16(0xFFE0),
    uuid16(0xFFE1),
    uuid16(0xFFE1),
    jk_records=True,
    handshake=("getInfo", "getCellData"),
)
DALY: Final = BleModel("Daly BMS", uuid16(0xFFF0), uuid16(0xFFF1), uuid16(0xFFF2))

#: Protocol id -> model.
MODELS: Final = {
    "jk02": JK,
    "jk02_32": JK,
    "jkv11": JK,
    "jk04": JK,
    "daly": DALY,
    "daly40": DALY,
}

#: Finds a device by address: ``(address, timeout) -> BLEDevice | None``.
DeviceFinder = Callable[[str, float], Awaitable[BLEDevice | None]]


async def scan_for(address: str, timeout: float) -> BLEDevice | None:
    """Scan for ``address`` with the system's adapter (standalone use, no Home Assistant)."""
    return await BleakScanner.find_device_by_address(address, timeout=timeout)


def model_for(protocol: str | None) -> BleModel:
    """Return the Bluetooth model of ``protocol`` (PortError naming those there are)."""
    model = MODELS.get((protocol or "").strip().lower())
    if model is None:
        known = ", ".join(sorted(MODELS))
        given = f"protocol {protocol!r}" if protocol else "no protocol"
        raise PortError(
            f"Bluetooth needs the protocol to pick its characteristics ({given}); "
            f"use one of {known}"
        )
    return model


class BleTransport(BufferedTransport):
    """One Bluetooth LE link to a BMS (see the module docstring)."""

    def __init__(
        self,
        device: BLEDevice | str,
        protocol: str,
        *,
        device_callback: Callable[[], BLEDevice | None] | None = None,
        client_class: type[BleakClient] = BleakClientWithServiceCache,
        find_device: DeviceFinder = scan_for,
        scan_timeout: float = SCAN_TIMEOUT,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        connect_attempts: int = CONNECT_ATTEMPTS,
        write_chunk: int = WRITE_CHUNK,
    ) -> None:
        """Talk ``protocol`` to ``device`` (a BLEDevice, or an address to scan for).

        ``device_callback`` returns the freshest BLEDevice on reconnect (Home Assistant's
        ``async_ble_device_from_address``); ``client_class`` is the bleak client class handed to
        ``establish_connection``; ``find_device`` scans for an address.
        """
        super().__init__()
        self.model = model_for(protocol)
        self.protocol = get_protocol(protocol)
        self.address = device if isinstance(device, str) else device.address
        self.name = f"ble://{self.address}"
        self._device = None if isinstance(device, str) else device
        self._device_callback = device_callback
        self._client_class = client_class
        self._find_device = find_device
        self.scan_timeout = scan_timeout
        self.handshake_timeout = handshake_timeout
        self.connect_attempts = connect_attempts
        self.write_chunk = write_chunk
        self._client: BleakClient | None = None
        self._closing = False
        self.assembler = JkRecordAssembler()

    @property
    def detected_protocol(self) -> str | None:
        """The JK layout the records show (``jk02``, ``jk02_32``, ``jk04``), once known."""
        return self.assembler.protocol_id if self.model.jk_records else None

    # -- the link -------------------------------------------------------------------------------

    async def _connect(self) -> None:
        """Find the device, connect, subscribe, and run the model's handshake."""
        # A reconnect: closed until this connection works (a failure leaves the link closed).
        self._open = False
        self._client = None
        device = await self._ble_device()
        self._closing = False
        self.assembler.reset()
        try:
            client = await establish_connection(
                self._client_class,
                device,
                device.name or self.address,
                disconnected_callback=self._disconnected,
                max_attempts=self.connect_attempts,
            )
        except BleakError as err:
            raise TransportError(f"{self.name}: cannot connect: {err}") from err
        self._client = client
        try:
            await client.start_notify(self.model.notify, self._notified)
        except BleakError as err:
            await self._drop_client()
            raise TransportError(
                f"{self.name}: cannot subscribe to {self.model.name} notifications "
                f"({self.model.notify}): {err}; is this a {self.model.name}?"
            ) from err
        # Mark open before the handshake: it exchanges through the buffered machinery.
        self._open = True
        try:
            for command in self.model.handshake:
                await self._handshake(command)
        except TransportError:
            self._open = False
            await self._drop_client()
            raise

    async def _handshake(self, command: str) -> None:
        """Send ``command`` and wait for its answer; a BMS that stays silent is not fatal."""
        protocol = self.protocol
        try:
            await self.exchange(
                protocol.build_request(command),
                lambda buffer: protocol.answer_length(command, buffer),
                self.handshake_timeout,
            )
        except DeviceTimeoutError:
            # Some firmwares answer the first request late or not at all; the real
            # exchanges that follow have their own timeouts and retries.
            _LOGGER.debug("%s: no answer to %s during the handshake", self.name, command)

    async def _ble_device(self) -> BLEDevice:
        """Return the device to connect to: fresh from the callback, given, or scanned for.

        The callback is asked on every connect: after a drop, Home Assistant may reach the BMS
        through another adapter or proxy.
        """
        if self._device_callback is not None:
            fresh = self._device_callback()
            if fresh is not None:
                self._device = fresh
        if self._device is not None:
            return self._device
        try:
            found = await self._find_device(self.address, self.scan_timeout)
        except BleakError as err:
            raise PortError(
                f"{self.name}: cannot scan for Bluetooth devices: {err}. Check that the adapter "
                "is present and powered (bluetoothctl show) and that this user may use it "
                "(the bluetooth group, or BlueZ's D-Bus policy)"
            ) from err
        if found is None:
            raise TransportError(
                f"{self.name}: no Bluetooth device with this address answered a "
                f"{self.scan_timeout:g} s scan. Is the BMS powered, in range, and not connected "
                "to a phone app (a BMS takes one connection at a time)?"
            )
        self._device = found
        return found

    async def _disconnect(self) -> None:
        """Disconnect on purpose (the callback that follows is not a drop)."""
        self._closing = True
        await self._drop_client()

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except BleakError as err:
                _LOGGER.debug("%s: disconnect failed: %s", self.name, err)

    async def _write(self, data: bytes) -> None:
        """Write ``data`` to the model's write characteristic, in chunks the link carries."""
        client = self._client
        if client is None or not client.is_connected:
            raise TransportError(f"{self.name}: not connected")
        try:
            for start in range(0, len(data), self.write_chunk):
                chunk = data[start : start + self.write_chunk]
                await client.write_gatt_char(self.model.write, chunk, response=False)
        except BleakError as err:
            raise TransportError(f"{self.name}: write failed: {err}") from err

    # -- callbacks from bleak ---------------------------------------------------------------------

    def _notified(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        """Hand a notification to the buffer (JK: the records it completes)."""
        if self.model.jk_records:
            for record in self.assembler.feed(bytes(data)):
                self.feed(record.frame)
        else:
            self.feed(bytes(data))

    def _disconnected(self, _client: BleakClient) -> None:
        """Mark the link lost unless we closed it; the next exchange reconnects."""
        if self._closing:
            return
        self._client = None
        self.lost(TransportError(f"{self.name}: the {self.model.name} disconnected"))


def _build(request: PortRequest) -> BleTransport:
    """Build a Bluetooth transport from a port string (``AA:BB:…`` or ``ble://AA:BB:…``)."""
    request.reject_options(
        (
            "device_callback",
            "client_class",
            "find_device",
            "scan_timeout",
            "handshake_timeout",
            "connect_attempts",
            "write_chunk",
        )
    )
    address = request.address.replace("-", ":").upper()
    return BleTransport(address, request.protocol or "", **request.options)


register_port_type("ble", _build)
