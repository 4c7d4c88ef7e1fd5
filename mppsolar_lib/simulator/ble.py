"""A simulated Bluetooth LE BMS at the bleak client boundary.

:class:`SimulatedBleDevice` is a JK or Daly BMS on the air, for
:class:`~mppsolar_lib.transports.ble.BleTransport` and anything else that talks to a BMS through
a ``BleakClient`` (Home Assistant's Bluetooth tests)::

    bms = SimulatedBleDevice(create_simulator("jk02_32"), Faults(crc=0.05), mtu=244)
    transport = BleTransport(bms.device, "jk02_32", client_class=bms.client_class)
    # or: transport = bms.transport()

:attr:`~SimulatedBleDevice.device` is the :class:`~bleak.backends.device.BLEDevice` a scan (or
Home Assistant's Bluetooth stack) would hand over, and :attr:`~SimulatedBleDevice.client_class`
a class used as ``BleakClient`` is (``bleak_retry_connector.establish_connection`` builds it):
``connect``, ``start_notify``, ``write_gatt_char``, ``disconnect``, ``is_connected``,
``services``. Everything above that boundary runs for real.

What the BMS does:

* It has the model's GATT service and characteristics (JK: ``FFE0``/``FFE1``; Daly: ``FFF0``,
  notify ``FFF1``, write ``FFF2``; see :data:`~mppsolar_lib.transports.ble.MODELS`), or those
  given; the notify callback receives the real ``BleakGATTCharacteristic``.
* Written bytes are cut into requests by the simulator's
  :meth:`~mppsolar_lib.simulator.base.Simulator.split_requests`; each is answered as
  :func:`~mppsolar_lib.simulator.faults.reply` says (latency, silence, garbage, CRC, truncation,
  stale and late answers from the :class:`~mppsolar_lib.simulator.faults.Faults` given), in order,
  as notifications of at most ``mtu`` bytes, with ``noise`` (a module's ``AT`` chatter) in front
  of each answer.
* A disconnect fault, or :meth:`SimulatedBleDevice.drop`, ends the link: the client is no
  longer connected and bleak's disconnected callback fires.
* While a client is subscribed, what the device sends unasked (a JK's cell-data stream) goes out
  every ``stream_interval`` seconds (the simulator's own unless given; ``stream=False``: never).
* One connection at a time, like a real BMS. ``refuse_connect``, ``refuse_writes`` and
  ``refuse_disconnect`` make those calls fail with a ``BleakError`` of that text; ``silent``
  makes it ignore requests.

Needs bleak (the ``ble`` extra) 1.0 or later, whose GATT classes are concrete (tested with 3.1).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast
import uuid

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakCharacteristicNotFoundError, BleakError
from bleak.uuids import normalize_uuid_str

from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.faults import Faults, Reply, ReplyQueue, reply, with_faults
from mppsolar_lib.transports.ble import BleTransport, model_for

if TYPE_CHECKING:
    from bleak import BleakClient

#: The address the simulated BMS has unless told otherwise (a JK module's vendor prefix).
DEFAULT_ADDRESS = "C8:47:8C:00:00:01"
#: Notification payload of a BLE 4.0 link; 244 with data length extension.
DEFAULT_MTU = 20
#: Bytes without a complete request after which they are taken as noise and dropped.
MAX_PENDING = 4096
#: Writes kept in :attr:`SimulatedBleDevice.writes` (the oldest are forgotten).
HISTORY = 4096

#: What a notify callback takes: the characteristic and the notification's bytes.
NotifyCallback = Callable[[BleakGATTCharacteristic, bytearray], None]
#: A characteristic as bleak's calls accept it: the object, its handle or its UUID.
CharSpecifier = BleakGATTCharacteristic | int | str | uuid.UUID


class SimulatedBleDevice:
    """A BMS simulator on the air (see the module docstring)."""

    def __init__(
        self,
        simulator: Simulator,
        faults: Faults | None = None,
        *,
        address: str = DEFAULT_ADDRESS,
        name: str | None = None,
        mtu: int = DEFAULT_MTU,
        noise: bytes = b"",
        stream: bool = True,
        stream_interval: float | None = None,
        service: str | None = None,
        notify: str | None = None,
        write: str | None = None,
    ) -> None:
        """Put ``simulator`` (through ``faults`` if given) on the air at ``address``.

        ``service``/``notify``/``write`` default to the Bluetooth model of the simulator's
        protocol (JK or Daly); give all three to serve another. ``mtu`` is the notification
        payload (20, or up to 244 with data length extension).
        """
        if mtu < 1:
            raise ValueError(f"mtu must be 1 byte or more, got {mtu}")
        if stream_interval is not None and stream_interval <= 0:
            raise ValueError(f"stream_interval must be more than 0 s, got {stream_interval:g}")
        self.simulator = with_faults(simulator, faults)
        if service is None or notify is None or write is None:
            model = model_for(simulator.protocol.id)
            service = service or model.service
            notify = notify or model.notify
            write = write or model.write
        self.address = address.upper()
        self.name = name or f"{simulator.protocol.id.upper()}-SIM"
        self.mtu = mtu
        self.noise = noise
        #: Seconds between unsolicited notifications (``None``: the device sends none).
        self.stream_interval = (stream_interval or simulator.stream_interval) if stream else None
        #: What a scan or Home Assistant's Bluetooth stack hands over.
        self.device = BLEDevice(self.address, self.name, {})
        #: The GATT database: one service, its notify and write characteristics.
        self.services = BleakGATTServiceCollection()
        self.notify_characteristic, self.write_characteristic = self._gatt(service, notify, write)
        #: Every client built for this device, in order (connected or not).
        self.clients: list[SimulatedBleakClient] = []
        #: The last writes received, as written.
        self.writes: deque[bytes] = deque(maxlen=HISTORY)
        #: Successful connections so far.
        self.connections = 0
        #: When set, connecting fails with a ``BleakError`` of this text.
        self.refuse_connect: str | None = None
        #: When set, writes fail with a ``BleakError`` of this text.
        self.refuse_writes: str | None = None
        #: When set, a disconnect request fails with this text (the link ends anyway).
        self.refuse_disconnect: str | None = None
        #: When set, requests are received (see :attr:`writes`) but neither handled nor answered.
        self.silent = False
        #: A ``BleakClient``-compatible class bound to this device, for ``client_class=``.
        self.client_class: type[BleakClient] = cast(
            "type[BleakClient]",
            type("SimulatedBleakClient", (SimulatedBleakClient,), {"peripheral": self}),
        )
        self._connected: SimulatedBleakClient | None = None
        self._subscriber: NotifyCallback | None = None
        self._inbox = b""
        self._answers = ReplyQueue(self._carry_out)
        self._ticker: asyncio.TimerHandle | None = None

    def _gatt(
        self, service: str, notify: str, write: str
    ) -> tuple[BleakGATTCharacteristic, BleakGATTCharacteristic]:
        """Build the service and its characteristics (one, when notify and write are one)."""
        service, notify, write = (normalize_uuid_str(key) for key in (service, notify, write))
        gatt = BleakGATTService(None, 1, service)
        self.services.add_service(gatt)
        found: dict[str, BleakGATTCharacteristic] = {}
        roles: dict[str, list[CharacteristicPropertyName]] = {
            notify: ["notify"],
            write: ["write-without-response", "write"],
        }
        if notify == write:
            roles = {notify: ["notify", "write-without-response", "write"]}
        for index, (key, properties) in enumerate(roles.items()):
            # Value handles after the service's: each declaration takes a handle of its own.
            handle = 3 + 3 * index
            characteristic = BleakGATTCharacteristic(
                None, handle, key, properties, lambda: self.mtu, gatt
            )
            self.services.add_characteristic(characteristic)
            found[key] = characteristic
        return found[notify], found[write]

    @property
    def connected(self) -> bool:
        """Whether a client is connected."""
        return self._connected is not None

    @property
    def pending(self) -> int:
        """How many answers are still to be sent (waiting for their delay or the one ahead)."""
        return len(self._answers)

    def transport(self, **options: Any) -> BleTransport:
        """Return a ``BleTransport`` to this device (``options`` go to it)."""
        return BleTransport(
            self.device, self.simulator.protocol.id, client_class=self.client_class, **options
        )

    def drop(self) -> None:
        """Take the BMS out of range: the link ends and bleak's disconnected callback fires."""
        client = self._connected
        if client is not None:
            self._link_down(client)

    def close(self) -> None:
        """Drop the link if any and stop everything scheduled; idempotent."""
        self.drop()

    def __repr__(self) -> str:
        """Address, state and simulator."""
        state = "connected" if self.connected else "advertising"
        return f"<SimulatedBleDevice {self.address} {state} {self.simulator!r}>"

    # -- what the clients ask of the device -----------------------------------------------------

    def _connect(self, client: SimulatedBleakClient) -> None:
        """Accept ``client``'s connection, or refuse it as a BMS would."""
        if self.refuse_connect is not None:
            raise BleakError(self.refuse_connect)
        if client.address.upper() != self.address:
            raise BleakError(f"Device with address {client.address} was not found.")
        if self._connected is not None and self._connected is not client:
            raise BleakError(
                f"{self.address}: already connected to another central "
                "(a BMS takes one connection at a time)"
            )
        if self._connected is None:
            self._connected = client
            self.connections += 1

    def _disconnect(self, client: SimulatedBleakClient) -> None:
        """End ``client``'s link on request (a refusal is raised after the link ends)."""
        if client is self._connected:
            self._link_down(client)
        if self.refuse_disconnect is not None:
            raise BleakError(self.refuse_disconnect)

    def _characteristic(self, specifier: CharSpecifier) -> BleakGATTCharacteristic:
        """Resolve ``specifier`` as bleak does (object, handle or UUID)."""
        if isinstance(specifier, BleakGATTCharacteristic):
            return specifier
        found = self.services.get_characteristic(specifier)
        if found is None:
            raise BleakCharacteristicNotFoundError(specifier)
        return found

    def _subscribe(self, specifier: CharSpecifier, callback: NotifyCallback) -> None:
        """Start notifications to ``callback`` (and the device's stream, if it has one)."""
        characteristic = self._characteristic(specifier)
        if "notify" not in characteristic.properties:
            raise BleakError(f"Characteristic {characteristic.uuid} does not support notify")
        self._subscriber = callback
        if self.stream_interval is not None and self._ticker is None:
            loop = asyncio.get_running_loop()
            self._ticker = loop.call_later(self.stream_interval, self._tick)

    def _unsubscribe(self, specifier: CharSpecifier) -> None:
        """Stop notifications."""
        self._characteristic(specifier)
        self._subscriber = None
        self._stop_stream()

    def _received(self, specifier: CharSpecifier, data: bytes) -> None:
        """Take a write; queue the answers to the requests it completes."""
        characteristic = self._characteristic(specifier)
        if self.refuse_writes is not None:
            raise BleakError(self.refuse_writes)
        if "write-without-response" not in characteristic.properties:
            raise BleakError(f"Characteristic {characteristic.uuid} does not support write")
        self.writes.append(data)
        requests, self._inbox = self.simulator.split_requests(self._inbox + data)
        if len(self._inbox) > MAX_PENDING:
            self._inbox = b""
        if self.silent:
            return
        for request in requests:
            self._answers.put(reply(self.simulator, request))

    # -- what the device sends ------------------------------------------------------------------

    def _carry_out(self, action: Reply) -> None:
        """Send an answer that is due, or drop the link."""
        client = self._connected
        assert client is not None  # the queue is cleared with the link
        if action.disconnect:
            self._link_down(client)
        elif action.data:
            self._send(self.noise + action.data)

    def _send(self, data: bytes) -> None:
        """Notify ``data`` in chunks of at most :attr:`mtu` bytes, each its own loop callback."""
        callback = self._subscriber
        if callback is None:
            return  # nobody subscribed: the BMS's notifications go nowhere
        loop = asyncio.get_running_loop()
        client = self._connected
        for start in range(0, len(data), self.mtu):
            chunk = bytearray(data[start : start + self.mtu])
            loop.call_soon(self._notify, client, callback, chunk)

    def _notify(
        self, client: SimulatedBleakClient | None, callback: NotifyCallback, chunk: bytearray
    ) -> None:
        """Deliver one notification, unless that link has ended since it was sent."""
        if client is self._connected and callback is self._subscriber:
            callback(self.notify_characteristic, chunk)

    def _tick(self) -> None:
        """Send what the device says unasked, and schedule the next time."""
        assert self.stream_interval is not None  # only scheduled with one
        self._ticker = asyncio.get_running_loop().call_later(self.stream_interval, self._tick)
        data = self.simulator.unsolicited()
        if data:
            self._send(data)

    def _stop_stream(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()

    def _link_down(self, client: SimulatedBleakClient) -> None:
        """End the link: nothing more is sent on it, and the client hears of it."""
        self._connected = None
        self._subscriber = None
        self._inbox = b""
        self._answers.clear()
        self._stop_stream()
        client.link_lost()


class SimulatedBleakClient:
    """What ``establish_connection``, ``BleTransport`` and Home Assistant use of ``BleakClient``.

    Not used directly: :attr:`SimulatedBleDevice.client_class` is a subclass bound to its device.
    """

    #: The device this class reaches (set on the bound subclass).
    peripheral: ClassVar[SimulatedBleDevice]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        disconnected_callback: Callable[[Any], None] | None = None,
        services: object = None,
        **kwargs: Any,
    ) -> None:
        """Take what ``BleakClient`` takes; ``services`` and other options are accepted, unused."""
        device = address_or_ble_device
        #: What the client was built for (the BLEDevice handed over, or an address).
        self.device = device
        self.address = device if isinstance(device, str) else device.address
        self.disconnected_callback = disconnected_callback
        self.options = kwargs
        self._connected = False
        self.peripheral.clients.append(self)

    @property
    def is_connected(self) -> bool:
        """Whether this client's link is up."""
        return self._connected

    @property
    def name(self) -> str:
        """The device's name."""
        return self.peripheral.name

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (the notification payload plus 3 bytes of header)."""
        return self.peripheral.mtu + 3

    @property
    def services(self) -> BleakGATTServiceCollection:
        """The device's GATT services (``BleakError`` when not connected, as bleak)."""
        if not self._connected:
            raise BleakError("Service Discovery has not been performed yet")
        return self.peripheral.services

    async def connect(self, **kwargs: Any) -> None:
        """Connect (``BleakError`` when the device refuses or is not there)."""
        self.peripheral._connect(self)  # noqa: SLF001 - the device's side of the call
        self._connected = True

    async def disconnect(self) -> None:
        """Disconnect; the disconnected callback fires if the link was up."""
        self.peripheral._disconnect(self)  # noqa: SLF001

    async def start_notify(
        self, char_specifier: CharSpecifier, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribe ``callback`` to a characteristic's notifications."""
        self._require_link()
        self.peripheral._subscribe(char_specifier, callback)  # noqa: SLF001

    async def stop_notify(self, char_specifier: CharSpecifier) -> None:
        """Unsubscribe."""
        self._require_link()
        self.peripheral._unsubscribe(char_specifier)  # noqa: SLF001

    async def write_gatt_char(
        self, char_specifier: CharSpecifier, data: bytes | bytearray, response: bool | None = None
    ) -> None:
        """Write ``data`` to a characteristic."""
        self._require_link()
        self.peripheral._received(char_specifier, bytes(data))  # noqa: SLF001

    def link_lost(self) -> None:
        """Mark the link down and call the disconnected callback (the device's side calls it)."""
        was, self._connected = self._connected, False
        if was and self.disconnected_callback is not None:
            self.disconnected_callback(self)

    def _require_link(self) -> None:
        if not self._connected:
            raise BleakError("Not connected")

    def __repr__(self) -> str:
        """Address and state."""
        state = "connected" if self._connected else "disconnected"
        return f"<SimulatedBleakClient {self.address} {state}>"
