"""One MQTT connection per broker, shared by every device, output and the command channel.

:class:`MqttConnection` keeps a single client connected in the background: it reconnects with
jittered exponential backoff (5 s → 300 s), announces the bridge on a retained status topic
(``mppsolar/bridge/<bridge id>/status``: ``online`` once connected, ``offline`` published by the
broker as the last will when the bridge vanishes, and by the bridge itself on a clean close),
re-publishes the retained *state* messages it was given (device availability) after every
reconnect, and re-subscribes every subscription.

Publishing goes through a bounded queue to a publisher task; :meth:`MqttConnection.publish`
returns only when the broker acknowledged the message (PUBACK at QoS 1), and raises
:class:`~mppsolar_lib.outputs.base.OutputUnavailableError` when the broker is unreachable or the
acknowledgement does not come, so a sink keeps the readings and retries.

Get the shared connection with :func:`shared_connection` (through the bridge's
:class:`~mppsolar_lib.outputs.base.Resources`, keyed by host, port and user).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
import contextlib
from dataclasses import dataclass, field
import functools
import inspect
import logging
import random
import socket
from typing import TYPE_CHECKING, Any, Final

import aiomqtt

from mppsolar_lib.outputs.base import OutputContext, OutputError, OutputUnavailableError

if TYPE_CHECKING:
    from mppsolar_lib.bridge.model import MqttBroker

_LOGGER = logging.getLogger(__name__)

BACKOFF_MIN: Final = 5.0
BACKOFF_MAX: Final = 300.0
#: Messages waiting for the publisher before :meth:`MqttConnection.publish` waits for room.
QUEUE_SIZE: Final = 10_000
#: Seconds a publish may wait for its PUBACK (or for room in the queue).
PUBLISH_TIMEOUT: Final = 10.0
KEEPALIVE: Final = 30
ONLINE: Final = "online"
OFFLINE: Final = "offline"

#: Called with the topic and payload of each message matching a subscription.
MessageCallback = Callable[[str, bytes], Awaitable[None] | None]
Payload = str | bytes | int | float | None


def bridge_id() -> str:
    """Return this bridge's name in topics: the short host name."""
    return socket.gethostname().split(".")[0] or "mppsolar"


def status_topic(bridge: str) -> str:
    """Return the bridge's retained status (last will) topic."""
    return f"mppsolar/bridge/{bridge}/status"


def resource_key(broker: MqttBroker) -> str:
    """Return the key of ``broker``'s shared connection in :class:`Resources`."""
    return f"mqtt:{broker.host}:{broker.port}:{broker.username or ''}"


@dataclass(slots=True)
class _Message:
    topic: str
    payload: Payload
    retain: bool
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Subscription:
    topic: str
    callbacks: list[MessageCallback] = field(default_factory=list)
    #: Callbacks that never see retained messages (commands: a retained one would re-run on
    #: every reconnect).
    live_only: list[MessageCallback] = field(default_factory=list)


class MqttConnection:
    """A broker connection that stays up, publishes at QoS 1 and dispatches subscriptions."""

    def __init__(
        self,
        broker: MqttBroker,
        *,
        bridge: str | None = None,
        backoff_min: float = BACKOFF_MIN,
        backoff_max: float = BACKOFF_MAX,
        queue_size: int = QUEUE_SIZE,
        publish_timeout: float = PUBLISH_TIMEOUT,
        keepalive: int = KEEPALIVE,
    ) -> None:
        """Prepare a connection to ``broker`` (nothing connects until :meth:`start`)."""
        self.broker = broker
        self.bridge = bridge or bridge_id()
        self.status_topic = status_topic(self.bridge)
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.publish_timeout = publish_timeout
        self.keepalive = keepalive
        #: Connections made so far; outputs compare it to re-announce after a reconnect.
        self.generation = 0
        self.last_error: str | None = None
        self._queue: asyncio.Queue[_Message] = asyncio.Queue(queue_size)
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._states: dict[str, Payload] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._task: asyncio.Task[None] | None = None
        self._callbacks: set[asyncio.Future[None]] = set()
        self._inflight: set[asyncio.Future[None]] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._connect_listeners: list[Callable[[], None]] = []

    @property
    def name(self) -> str:
        """``host:port`` for messages."""
        return f"{self.broker.host}:{self.broker.port}"

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the connection and it has not dropped since."""
        return self._connected.is_set()

    async def start(self, wait: float = 0.0) -> None:
        """Start connecting in the background; wait up to ``wait`` seconds for the first try."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mqtt {self.name}")
        if wait > 0:
            await self.wait_connected(wait)

    def reconnect_now(self) -> None:
        """Cut the current backoff wait short (the broker is known to be back)."""
        self._wake.set()

    async def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the connection; return whether it is up."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        return self.connected

    # -- publishing ------------------------------------------------------------------------

    def add_connect_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after each (re)connection; return what removes it again."""
        self._connect_listeners.append(listener)
        return lambda: self._connect_listeners.remove(listener)

    async def publish(self, topic: str, payload: Payload, *, retain: bool = False) -> None:
        """Publish at QoS 1 and return once the broker acknowledged it.

        Raises :class:`OutputUnavailableError` when the broker is not connected, or the
        acknowledgement does not come within the publish timeout.
        """
        await self.publish_many([(topic, payload, retain)])

    async def publish_many(self, messages: Iterable[tuple[str, Payload, bool]]) -> None:
        """Publish ``(topic, payload, retain)`` messages in order; return when all were acked.

        On failure raises :class:`OutputUnavailableError` whose ``acked`` attribute counts the
        leading messages the broker did acknowledge (a retry can skip them).
        """
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[None]] = []
        try:
            async with asyncio.timeout(self.publish_timeout):
                for topic, payload, retain in messages:
                    self._check()
                    done: asyncio.Future[None] = loop.create_future()
                    await self._queue.put(_Message(topic, payload, retain, done))
                    pending.append(done)
                await asyncio.gather(*pending, return_exceptions=True)
        except TimeoutError:
            pass
        except OutputUnavailableError:
            pass
        acked = 0
        for done in pending:
            if not done.done() or done.cancelled() or done.exception() is not None:
                break
            acked += 1
        for done in pending[acked:]:
            done.cancel()
        if acked < len(pending) or not pending and not self.connected:
            error = OutputUnavailableError(
                f"MQTT broker {self.name} is unavailable ({self.last_error or 'no PUBACK'})"
            )
            error.acked = acked  # type: ignore[attr-defined]
            raise error

    def _check(self) -> None:
        if not self.connected:
            raise OutputUnavailableError(
                f"MQTT broker {self.name} is not connected ({self.last_error or 'connecting'})"
            )

    async def set_state(self, topic: str, payload: Payload) -> None:
        """Publish a retained state now if connected, and again after every reconnect."""
        self._states[topic] = payload
        if self.connected:
            with contextlib.suppress(OutputUnavailableError):
                await self.publish(topic, payload, retain=True)

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(
        self, topic: str, callback: MessageCallback, *, retained: bool = True
    ) -> None:
        """Call ``callback(topic, payload)`` for every message matching ``topic`` (wildcards ok).

        The subscription survives reconnects. A coroutine callback runs as its own task, so a
        slow handler never stalls the connection. With ``retained=False`` the callback is not
        called for messages the broker delivers from its retained store.
        """
        subscription = self._subscriptions.get(topic)
        if subscription is None:
            subscription = self._subscriptions[topic] = _Subscription(topic)
        subscription.callbacks.append(callback)
        if not retained:
            subscription.live_only.append(callback)
        client = self._client
        if client is not None and self.connected and len(subscription.callbacks) == 1:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.subscribe(topic, qos=1)

    async def unsubscribe(self, topic: str, callback: MessageCallback) -> None:
        """Stop calling ``callback`` for ``topic``; the last one unsubscribes at the broker."""
        subscription = self._subscriptions.get(topic)
        if subscription is None or callback not in subscription.callbacks:
            return
        subscription.callbacks.remove(callback)
        if callback in subscription.live_only:
            subscription.live_only.remove(callback)
        if subscription.callbacks:
            return
        del self._subscriptions[topic]
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.unsubscribe(topic)

    def _dispatch(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        data = payload if isinstance(payload, bytes) else str(payload or "").encode()
        topic = message.topic.value
        for subscription in list(self._subscriptions.values()):
            if not message.topic.matches(subscription.topic):
                continue
            for callback in list(subscription.callbacks):
                if message.retain and callback in subscription.live_only:
                    continue
                try:
                    result = callback(topic, data)
                except Exception:
                    _LOGGER.exception("MQTT %s: a handler of %s failed", self.name, topic)
                    continue
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(self._guard(topic, result))
                    self._callbacks.add(task)
                    task.add_done_callback(self._callbacks.discard)

    async def _guard(self, topic: str, result: Awaitable[None]) -> None:
        try:
            await result
        except Exception:
            _LOGGER.exception("MQTT %s: a handler of %s failed", self.name, topic)

    # -- the connection --------------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=f"mppsolar-{self.bridge}-{random.getrandbits(32):08x}",
            keepalive=self.keepalive,
            timeout=self.publish_timeout,
            will=aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True),
        )
        # Many publishes awaiting their PUBACK are normal here (a poll is one burst).
        client.pending_calls_threshold = self._queue.maxsize
        return client

    async def _run(self) -> None:
        delay = self.backoff_min
        while not self._closing:
            client = self._new_client()
            generation = self.generation
            try:
                async with client:
                    delay = self.backoff_min
                    await self._session(client)
            except aiomqtt.MqttError as err:
                # _session() clears "connected" on its way out: a new generation tells a lost
                # connection (a warning) from a failed attempt (debug).
                self._lost(err, was=self.generation != generation)
                if _refused(err):
                    _LOGGER.error(
                        "MQTT %s refuses the connection (%s): check user and password",
                        self.name,
                        err,
                    )
            if self._stop.is_set():
                break
            # Jitter spreads the reconnects of many bridges after a broker restart.
            if not self._stop.is_set():
                self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay * random.uniform(0.8, 1.2)):  # noqa: S311
                    await self._wake.wait()  # reconnect_now() or aclose()
            delay = min(delay * 2, self.backoff_max)

    def _lost(self, err: Exception, *, was: bool) -> None:
        self._connected.clear()
        self._client = None
        self.last_error = str(err)
        if was:
            _LOGGER.warning("MQTT %s: connection lost (%s); reconnecting", self.name, err)
        else:
            _LOGGER.debug("MQTT %s: cannot connect (%s)", self.name, err)
        self._fail_queued()

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            message = self._queue.get_nowait()
            if not message.done.done():
                message.done.set_exception(OutputUnavailableError("connection lost"))

    async def _session(self, client: aiomqtt.Client) -> None:
        """Announce, subscribe, then publish and dispatch until the connection drops."""
        await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        for topic in list(self._subscriptions):
            await client.subscribe(topic, qos=1)
        for topic, payload in list(self._states.items()):
            await client.publish(topic, payload, qos=1, retain=True)
        self._client = client
        self.generation += 1
        self.last_error = None
        self._connected.set()
        _LOGGER.info("MQTT %s: connected", self.name)
        for listener in list(self._connect_listeners):
            listener()
        publisher = asyncio.create_task(self._publisher(client))
        reader = asyncio.create_task(self._reader(client))
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait((reader, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks: list[asyncio.Future[Any]] = [publisher, reader, stop, *self._inflight]
            for task in tasks:
                task.cancel()
            await asyncio.gather(publisher, reader, stop, return_exceptions=True)
            self._connected.clear()
            self._client = None
        if not self._stop.is_set():
            reader.result()  # the connection dropped: raise its MqttError

    async def _reader(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._dispatch(message)

    async def _publisher(self, client: aiomqtt.Client) -> None:
        """Hand queued messages to the client in order; resolve each on its PUBACK."""
        while True:
            message = await self._queue.get()
            if message.done.done():  # its publisher gave up waiting
                continue
            # The client sends in call order; the acknowledgement is awaited in its own task
            # so up to paho's in-flight window is on the wire at once.
            task = asyncio.ensure_future(
                client.publish(message.topic, message.payload, qos=1, retain=message.retain)
            )
            task.add_done_callback(functools.partial(_settle, message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            await asyncio.sleep(0)

    async def aclose(self) -> None:
        """Say ``offline`` on the status topic, leave the broker cleanly, stop reconnecting."""
        if self._closing:
            return
        self._closing = True
        client = self._client
        if client is not None and self.connected:
            # Pending publishes get their PUBACKs before the session ends.
            if self._inflight:
                await asyncio.wait(set(self._inflight), timeout=self.publish_timeout)
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
        self._stop.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task
        for pending in list(self._callbacks):
            pending.cancel()
        self._fail_queued()


def _refused(err: aiomqtt.MqttError) -> bool:
    """Whether the broker refused us for who we are (credentials), not for being busy."""
    code = getattr(getattr(err, "rc", None), "value", getattr(err, "rc", None))
    return code in (4, 5, 0x86, 0x87)


def _settle(message: _Message, task: asyncio.Future[None]) -> None:
    if message.done.done():
        return
    if task.cancelled():
        message.done.set_exception(OutputUnavailableError("publish cancelled"))
    elif (error := task.exception()) is not None:
        message.done.set_exception(OutputUnavailableError(f"publish failed: {error}"))
    else:
        message.done.set_result(None)


async def shared_connection(context: OutputContext | None) -> MqttConnection:
    """Return the bridge's connection to its broker, made (and started) on first use.

    Raises :class:`OutputError` when the bridge has no broker configured.
    """
    if context is None or context.mqtt is None:
        raise OutputError("MQTT outputs need a broker: set mqtt_broker in [SETUP]")
    broker = context.mqtt

    async def make() -> MqttConnection:
        connection = MqttConnection(broker)
        # The first reading should not wait a backoff period for a broker that is up.
        await connection.start(wait=2.0)
        return connection

    connection: MqttConnection = await context.resources.get(resource_key(broker), make)
    return connection
