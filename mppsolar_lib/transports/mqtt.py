"""MQTT request/response relay: the device sits behind a bridge that talks to an MQTT broker.

A bridge (an ESP32 or a Raspberry Pi wired to the device's serial port) subscribes to the
request topic, writes each message's payload to the device, and publishes whatever the device
answers to the response topic — in one message or in several as the bytes arrive. This
transport publishes requests and feeds the response messages, in order, into the buffered
machinery, so the protocol's ``answer_length`` says when an answer is complete exactly as on a
serial port.

Topic layout (``prefix`` defaults to ``mppsolar``, ``device`` names the bridge)::

    <prefix>/<device>/request     requests, published by this transport (not retained)
    <prefix>/<device>/response    answers, published by the bridge; this transport subscribes

QoS 0 both ways by default: the relay stands in for a serial line, which loses bytes but never
repeats them. QoS 1 (``qos=1``) redelivers after a reconnect — a setter twice, an answer's
bytes twice — so use it only with a bridge that drops duplicates.

Payloads (``payload=``): ``raw`` (the bytes as they are, the default), ``hex`` (the bytes as
ASCII hex, for bridges that only pass text) or ``json`` (the reference implementation's
format: requests ``{"command_hex": "…"}``, answers ``{"result": "…"}`` with the bytes in hex).

Port strings: ``mqtt://[user[:password]@]host[:port]/<prefix>/<device>`` (``mqtts://`` for
TLS, port 8883 by default); a single path segment is the device under the default prefix. A
broker that cannot be reached, or refuses the connection, is a
:class:`~mppsolar_lib.errors.TransportError` (try again later), or a
:class:`~mppsolar_lib.errors.PortError` for credentials it rejects.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import ssl
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from mppsolar_lib.errors import PortError, TransportError
from mppsolar_lib.transports.base import BufferedTransport
from mppsolar_lib.transports.factory import PortRequest, register_port_type

_LOGGER = logging.getLogger(__name__)

DEFAULT_PREFIX: Final = "mppsolar"
DEFAULT_PORT: Final = 1883
DEFAULT_TLS_PORT: Final = 8883
CONNECT_TIMEOUT: Final = 10.0
PAYLOADS: Final = ("raw", "hex", "json")
#: CONNACK codes that mean the credentials are wrong (MQTT 3.1.1: 4, 5; MQTT 5: 134, 135).
_AUTH_CODES: Final = frozenset({4, 5, 134, 135})

Payload = Literal["raw", "hex", "json"]


def topics(prefix: str, device: str) -> tuple[str, str]:
    """Return the request and response topics of ``device`` under ``prefix``."""
    base = f"{prefix.strip('/')}/{device.strip('/')}" if prefix else device.strip("/")
    return f"{base}/request", f"{base}/response"


class MqttTransport(BufferedTransport):
    """A device reached through an MQTT bridge (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        device: str,
        prefix: str = DEFAULT_PREFIX,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        payload: Payload = "raw",
        qos: int = 0,
        connect_timeout: float = CONNECT_TIMEOUT,
        client_id: str | None = None,
    ) -> None:
        """Relay through the broker at ``host:port`` to the bridge named ``device``.

        ``connect_timeout`` also bounds a QoS 1 publish waiting for the broker's acknowledgement.
        """
        super().__init__()
        if payload not in PAYLOADS:
            raise PortError(f"unknown MQTT payload format {payload!r}; use one of {PAYLOADS}")
        if not device.strip("/"):
            raise PortError(
                "an MQTT port needs the bridge's device name: mqtt://host/prefix/device"
            )
        self.host = host
        self.port = port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        self.request_topic, self.response_topic = topics(prefix, device)
        self.username = username
        self.password = password
        self.tls = tls
        self.payload: Payload = payload
        self.qos = qos
        self.connect_timeout = connect_timeout
        self.client_id = client_id
        scheme = "mqtts" if tls else "mqtt"
        self.name = f"{scheme}://{host}:{self.port}/{self.request_topic.rpartition('/')[0]}"
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        """Connect to the broker, subscribe to the response topic, start the reader."""
        # A reconnect: forget the connection that was lost, and be closed until this one works.
        self._open = False
        await self._disconnect()
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=self.client_id,
            timeout=self.connect_timeout,
            tls_context=ssl.create_default_context() if self.tls else None,
        )
        try:
            await client.__aenter__()
        except aiomqtt.MqttCodeError as err:
            code = err.rc.value if isinstance(err.rc, ReasonCode) else err.rc
            # Not authorised (bad credentials, a client id the broker rejects) is permanent;
            # anything else (server unavailable, busy) may pass.
            refused = PortError if code in _AUTH_CODES else TransportError
            hint = (
                "check the username, password and client id"
                if refused is PortError
                else "try again later"
            )
            raise refused(
                f"{self.name}: the broker refused the connection ({err}); {hint}"
            ) from err
        except aiomqtt.MqttError as err:
            raise TransportError(
                f"{self.name}: cannot reach the MQTT broker ({err}); is it running and "
                "listening on that host and port?"
            ) from err
        self._client = client
        self._reader = asyncio.get_running_loop().create_task(self._read(client))
        try:
            granted = await client.subscribe(self.response_topic, qos=self.qos)
        except aiomqtt.MqttError as err:  # pragma: no cover - the link dropped right after CONNACK
            await self._disconnect()
            raise TransportError(
                f"{self.name}: cannot subscribe to {self.response_topic}: {err}"
            ) from err
        # A SUBACK code of 0x80 or more: the broker's access rules refuse the topic. (Mosquitto
        # grants such a subscription and delivers nothing; EMQX and HiveMQ refuse it here.)
        codes = [code.value if isinstance(code, ReasonCode) else code for code in granted]
        if any(code >= 0x80 for code in codes):  # pragma: no cover
            await self._disconnect()
            raise PortError(
                f"{self.name}: the broker does not let this client subscribe to "
                f"{self.response_topic}; allow it in the broker's access rules (ACL)"
            )

    async def _read(self, client: aiomqtt.Client) -> None:
        """Feed response messages into the buffer until the connection ends."""
        messages = client.messages
        try:
            while True:  # aiomqtt ends the iteration only by raising MqttError
                data = self._decode((await anext(messages)).payload)
                if data:
                    self.feed(data)
        except aiomqtt.MqttError as err:
            self.lost(TransportError(f"{self.name}: connection to the broker lost: {err}"))

    def _decode(self, payload: object) -> bytes:
        """Turn a response message into bytes; a message in the wrong format is dropped."""
        raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
        if self.payload == "raw":
            return bytes(raw)
        try:
            if self.payload == "hex":
                return bytes.fromhex(raw.decode("ascii"))
            result = json.loads(raw)["result"]
            return bytes.fromhex(result)
        except (ValueError, KeyError, TypeError, UnicodeError):
            _LOGGER.debug(
                "%s: dropping a response that is not %s: %r", self.name, self.payload, raw
            )
            return b""

    def _encode(self, data: bytes) -> bytes:
        """Turn a request into the message payload."""
        if self.payload == "raw":
            return data
        if self.payload == "hex":
            return data.hex().encode("ascii")
        return json.dumps({"command_hex": data.hex()}).encode("ascii")

    async def _write(self, data: bytes) -> None:
        """Publish a request."""
        client = self._client
        if client is None:
            raise TransportError(f"{self.name}: not connected")
        try:
            await client.publish(self.request_topic, self._encode(data), qos=self.qos)
        except aiomqtt.MqttError as err:
            error = TransportError(f"{self.name}: publishing the request failed: {err}")
            # The connection is gone or broken: the next exchange reconnects.
            self.lost(error)
            raise error from err

    async def _disconnect(self) -> None:
        """Stop the reader and leave the broker."""
        client, self._client = self._client, None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)


@dataclasses.dataclass(frozen=True, slots=True)
class MqttTarget:
    """Where the relay goes: broker, credentials, topics and payload format."""

    host: str
    device: str
    port: int | None = None
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password: str | None = None
    tls: bool = False
    payload: Payload = "raw"
    qos: int = 0
    connect_timeout: float = CONNECT_TIMEOUT
    client_id: str | None = None

    def transport(self) -> MqttTransport:
        """Return the transport for this target."""
        return MqttTransport(
            self.host,
            self.port,
            device=self.device,
            prefix=self.prefix,
            username=self.username,
            password=self.password,
            tls=self.tls,
            payload=self.payload,
            qos=self.qos,
            connect_timeout=self.connect_timeout,
            client_id=self.client_id,
        )


def parse_port(port: str) -> MqttTarget:
    """Read ``mqtt[s]://[user[:password]@]host[:port]/<prefix>/<device>``."""
    parts = urlsplit(port)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise PortError(
            f"{port!r} is not an MQTT port; use mqtt://[user[:password]@]host[:port]/prefix/device"
        )
    try:
        number = parts.port
    except ValueError as err:
        raise PortError(f"{port!r}: {err}") from err
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path:
        raise PortError(f"{port!r} names no device: use mqtt://host/prefix/device")
    return MqttTarget(
        host=parts.hostname,
        device=path[-1],
        port=number,
        prefix="/".join(path[:-1]) if len(path) > 1 else DEFAULT_PREFIX,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=parts.scheme == "mqtts",
    )


def _build(request: PortRequest) -> MqttTransport:
    """Build the relay from ``mqtt://…``, or ``mqtt`` with ``host=`` and ``device=`` options."""
    allowed = [field.name for field in dataclasses.fields(MqttTarget)]
    request.reject_options(allowed)
    if "://" in request.port:
        target = dataclasses.replace(parse_port(request.port), **request.options)
    else:
        try:
            target = MqttTarget(**request.options)
        except TypeError as err:
            raise PortError(
                "an MQTT port needs a broker and a device: mqtt://host[:port]/prefix/device, "
                "or the host= and device= options"
            ) from err
    return target.transport()


register_port_type("mqtt", _build)
