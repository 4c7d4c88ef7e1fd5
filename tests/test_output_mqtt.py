"""MQTT outputs and the shared connection, against a real mosquitto (and the reference)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import json
import os
from pathlib import Path
import signal
import sys

import pytest

from mppsolar_lib.bridge.daemon import Bridge
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig, MqttBroker
from mppsolar_lib.bridge.sink import Sink
from mppsolar_lib.bridge.spool import Spool
from mppsolar_lib.outputs import (
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    Resources,
    get_output,
)
from mppsolar_lib.outputs.mqtt import availability_topic, topic_part
from mppsolar_lib.outputs.mqtt_pool import MqttConnection, resource_key, shared_connection
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field
from tests.servers.mosquitto import Broker, free_port, start_broker

aiomqtt = pytest.importorskip("aiomqtt")

TIMEOUT = 20.0
REFERENCE = Path.home() / ".cache/mppsolar/ref-venv/bin/mpp-solar"
#: The reference's first PI30 QPIGS test answer (its port ``test0`` always sends this one).
FRAME = (
    b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
    b"00110110 00 00 00856 010\x24\x8c\r"
)

Received = list[tuple[str, bytes]]


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """Start a private mosquitto (persistent, $SYS every second) for one test."""
    store = tmp_path / "store"
    store.mkdir()
    server = await start_broker(
        tmp_path,
        extra=(
            "persistence true",
            f"persistence_location {store}/",
            "sys_interval 1",
            # The outage test's reader is away while readings arrive: the broker queues them
            # at QoS 0 (a QoS 1 queue is re-sent on reconnect in an order of mosquitto's own).
            "queue_qos0_messages true",
        ),
    )
    yield server
    await server.stop()


def mqtt_of(broker: Broker) -> MqttBroker:
    """Return the bridge's view of ``broker``."""
    return MqttBroker("127.0.0.1", broker.port)


@contextlib.asynccontextmanager
async def reader(
    broker: Broker, *topics: str, identifier: str | None = None, qos: int = 1
) -> AsyncIterator[aiomqtt.Client]:
    """Connect a subscriber to ``topics`` (a persistent session with ``identifier``)."""
    client = aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier=identifier,
        clean_session=identifier is None,
    )
    async with client:
        for topic in topics:
            await client.subscribe(topic, qos=qos)
        yield client


async def collect(client: aiomqtt.Client, until: object) -> Received:
    """Collect ``(topic, payload)`` until ``until(received)`` says enough (bounded)."""
    received: Received = []
    async with asyncio.timeout(TIMEOUT):
        async for message in client.messages:
            payload = message.payload
            received.append((message.topic.value, payload if isinstance(payload, bytes) else b""))
            if until(received):  # type: ignore[operator]
                return received
    raise AssertionError("unreachable")  # pragma: no cover


def contains(window: Received):  # type: ignore[no-untyped-def]
    """Return a check: do the messages so far hold ``window`` as one contiguous run."""

    def check(received: Received) -> bool:
        return any(
            received[i : i + len(window)] == window for i in range(len(received) - len(window) + 1)
        )

    return check


def qpigs_report() -> Report:
    """Return our decoding of the reference's test frame."""
    protocol = get_protocol("pi30")
    return Report.from_result(protocol.decode("QPIGS", FRAME), "QPIGS", "General Status")


async def ours(broker: Broker, output: str, **device: object) -> Received:
    """Return what our ``output`` publishes for the test frame, as a subscriber sees it."""
    config = DeviceConfig(name="inv", commands=("QPIGS",), **device)  # type: ignore[arg-type]
    resources = Resources()
    context = OutputContext(config, mqtt_of(broker), get_protocol("pi30"), resources)
    sink = get_output(output, OutputOptions(tag=config.tag, name="inv"), context)
    report = qpigs_report()
    expected = len(sink.messages(report))  # type: ignore[attr-defined]
    async with reader(broker, "#") as client:
        await sink.send([report])
        received = await collect(
            client,
            lambda got: len([m for m in got if not m[0].startswith("mppsolar/")]) >= expected,
        )
    await resources.close()
    return [m for m in received if not m[0].startswith(("mppsolar/", "$SYS"))]


async def reference(broker: Broker, tmp_path: Path, section: str, window: Received) -> Received:
    """Run the reference's daemon on its ``test0`` port until it published ``window``."""
    if not REFERENCE.exists():
        pytest.skip("the reference implementation is not installed")
    config = tmp_path / "reference.conf"
    config.write_text(
        f"[SETUP]\npause=1\nmqtt_broker=127.0.0.1\nmqtt_port={broker.port}\n"
        f"log_file={tmp_path}/reference.log\n\n[inv]\nport=test0\nprotocol=PI30\n"
        f"command=QPIGS\n{section}\n"
    )
    async with reader(broker, "#") as client:
        process = await asyncio.create_subprocess_exec(
            str(REFERENCE),
            "-C",
            str(config),
            "--daemon",
            "--pidfile",
            str(tmp_path / "reference.pid"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            received = await collect(client, contains(window))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    return received


@pytest.mark.parametrize(
    ("output", "section", "device"),
    [
        ("mqtt", "outputs=mqtt", {}),
        ("json_mqtt", "outputs=json_mqtt\ntag=solar", {"tag": "solar"}),
        ("tag_mqtt", "outputs=tag_mqtt\ntag=solar", {"tag": "solar"}),
        (
            "influx2_mqtt",
            "outputs=influx2_mqtt\ntag=solar\nmqtt_topic=custom",
            {"tag": "solar", "mqtt_topic": "custom"},
        ),
        ("influx2_mqtt", "outputs=influx2_mqtt", {}),
    ],
)
async def test_topics_and_payloads_match_the_reference(
    broker: Broker, tmp_path: Path, output: str, section: str, device: dict[str, object]
) -> None:
    """Each format publishes what the reference publishes for the same answer."""
    mine = await ours(broker, output, **device)
    assert mine
    theirs = await reference(broker, tmp_path, section, mine)
    assert contains(mine)(theirs)


async def test_formats_as_a_user_sees_them(broker: Broker) -> None:
    """Spot checks of each layout (and that json_mqtt honours the device's mqtt_topic)."""
    received = dict(await ours(broker, "mqtt"))
    assert received["QPIGS/status/battery_voltage/value"] == b"57.5"
    assert received["QPIGS/status/battery_voltage/unit"] == b"V"
    assert received["QPIGS/status/is_load_on/unit"] == b"bool"
    received = dict(await ours(broker, "json_mqtt", mqtt_topic="custom"))
    assert json.loads(received["QPIGS/custom"])["is_load_on"] == 1
    received = dict(await ours(broker, "tag_mqtt"))
    assert received["QPIGS/pv_input_power"] == b"856"


async def test_influx_quotes_text(broker: Broker) -> None:
    """Text values are quoted and escaped as line protocol wants; listings have no protocol."""
    resources = Resources()
    context = OutputContext(DeviceConfig(name="d", commands=()), mqtt_of(broker), None, resources)
    sink = get_output("influx2_mqtt", OutputOptions(name="d"), context)
    report = Report("QMOD", "Mode", (Field("mode", "Mode", 'say "hi" \\'),))
    async with reader(broker, "mpp-solar") as client:
        await sink.send([report])
        received = await collect(client, lambda got: len(got) >= 1)
    assert received == [("mpp-solar", b'mpp-solar,command=QMOD mode="say \\"hi\\" \\\\"')]
    await resources.close()


def test_topic_part_removes_levels_and_wildcards() -> None:
    """Device names become one topic level."""
    assert topic_part("a/b+c#") == "a_b_c_"
    assert topic_part("") == "_"
    assert availability_topic("inv 1") == "mppsolar/inv 1/availability"


async def test_no_broker_is_a_configuration_error() -> None:
    """Without mqtt_broker the output says what to set."""
    with pytest.raises(OutputError, match="mqtt_broker"):
        await shared_connection(None)
    context = OutputContext(DeviceConfig(name="d", commands=()))
    with pytest.raises(OutputError, match="mqtt_broker"):
        await get_output("mqtt", None, context).send([qpigs_report()])


async def test_one_connection_for_three_devices_and_two_outputs(
    broker: Broker, tmp_path: Path
) -> None:
    """3 devices x 2 MQTT outputs share one connection: the broker counts 2 clients (+ us)."""
    devices = tuple(
        DeviceConfig(
            name=f"inv{i}",
            commands=("QPIGS",),
            pause=0.5,
            port="sim://pi30",
            protocol="pi30",
            tag=f"inv{i}",
            outputs=("json_mqtt", "hass_mqtt"),
        )
        for i in range(3)
    )
    config = BridgeConfig(devices=devices, mqtt=mqtt_of(broker))
    bridge = Bridge(config, spool_dir=tmp_path)
    stop = asyncio.Event()
    connected = "$SYS/broker/clients/connected"
    async with reader(broker, "+/mpp-solar", "$SYS/broker/uptime", connected) as client:
        run = asyncio.create_task(bridge.run(stop))
        seen: set[str] = set()
        ticks: list[bytes] = []
        counts: list[bytes] = []

        def enough(got: Received) -> bool:
            topic, payload = got[-1]
            if topic.endswith("/mpp-solar"):
                seen.add(topic)
            elif topic == connected:
                counts.append(payload)  # mosquitto publishes the count when it changes
            elif len(seen) == 3:
                ticks.append(payload)
            # Two ticks of the broker's $SYS clock after every device published: the retained
            # client count is up to date.
            return len(ticks) >= 2

        await collect(client, enough)
        stop.set()
        async with asyncio.timeout(TIMEOUT):
            await run
    assert seen == {"inv0/mpp-solar", "inv1/mpp-solar", "inv2/mpp-solar"}
    # This reader and the bridge's one connection.
    assert counts[-1] == b"2"


async def test_outage_spools_then_delivers_every_reading_once_in_order(
    broker: Broker, tmp_path: Path
) -> None:
    """Broker down mid-run: readings go to the spool; back up: all arrive at once, once, in order."""
    resources = Resources()
    # A long reconnect backoff: the test lets the connection back in (reconnect_now) once its
    # reader listens again, so every message is seen live.
    connection = MqttConnection(mqtt_of(broker), backoff_min=600, backoff_max=600)
    await resources.get(resource_key(mqtt_of(broker)), lambda: _started(connection))
    device = DeviceConfig(name="inv", commands=("QPIGS",))
    context = OutputContext(device, mqtt_of(broker), None, resources)
    output = get_output("json_mqtt", OutputOptions(name="inv"), context)
    spool = Spool(tmp_path / "spool.sqlite3", 1000)
    await spool.open()
    # The sink's own retry pause is as long: only the connection's "I am back" (Output.wake)
    # can make it deliver within the test's timeout.
    sink = Sink(
        output, "inv/json_mqtt", spool=spool, memory_limit=2, backoff_min=600, backoff_max=600
    )
    await sink.start()

    def reading(n: int) -> list[Report]:
        return [Report("QPIGS", "status", (Field("n", "N", n),), time=float(n))]

    def numbers(received: Received) -> list[int]:
        return [json.loads(payload)["n"] for _, payload in received]

    total = 30
    async with reader(broker, "QPIGS/mpp-solar") as client:
        for n in range(1, 6):
            await sink.put(reading(n))
        before = await collect(client, lambda got: numbers(got)[-1] == 5)
        await broker.stop()
    for n in range(6, 21):
        await sink.put(reading(n))
    async with asyncio.timeout(TIMEOUT):
        while sink.stats.spooled == 0 or sink.stats.retries == 0:
            await asyncio.sleep(0.05)
    await broker.start()
    async with reader(broker, "QPIGS/mpp-solar") as client:
        connection.reconnect_now()
        for n in range(21, total + 1):
            await sink.put(reading(n))
        await sink.put(reading(total + 1))  # the sentinel: anything duplicated comes before it
        after = await collect(client, lambda got: numbers(got)[-1] == total + 1)
    assert numbers(before) + numbers(after) == list(range(1, total + 2))
    assert sink.stats.spooled > 0
    assert sink.stats.dropped == 0
    await sink.stop()
    await resources.close()
    await spool.close()


async def _started(connection: MqttConnection) -> MqttConnection:
    await connection.start(wait=TIMEOUT)
    return connection


async def test_last_will_marks_the_bridge_offline_when_killed(broker: Broker) -> None:
    """A bridge killed with SIGKILL: the broker publishes its retained ``offline``."""
    script = (
        "import asyncio, sys\n"
        "from mppsolar_lib.bridge.model import MqttBroker\n"
        "from mppsolar_lib.outputs.mqtt_pool import MqttConnection\n"
        "async def main():\n"
        f"    c = MqttConnection(MqttBroker('127.0.0.1', {broker.port}), bridge='victim')\n"
        "    await c.start(wait=10)\n"
        "    print('up' if c.connected else 'down', flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    topic = "mppsolar/bridge/victim/status"
    async with reader(broker, topic) as client:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            assert await process.stdout.readline() == b"up\n"
        await collect(client, lambda got: got[-1] == (topic, b"online"))
        process.kill()
        await process.wait()
        await collect(client, lambda got: got[-1] == (topic, b"offline"))
    # Retained: whoever subscribes later learns the bridge is gone.
    async with reader(broker, topic) as client:
        assert await collect(client, lambda got: True) == [(topic, b"offline")]


async def test_connection_lifecycle(broker: Broker, tmp_path: Path) -> None:
    """States survive reconnects, subscriptions dispatch, a clean close says offline."""
    connection = MqttConnection(mqtt_of(broker), bridge="life", backoff_min=0.05)
    with pytest.raises(OutputUnavailableError):
        await connection.publish("x", "1")  # not started: not connected
    with pytest.raises(OutputUnavailableError):
        await connection.publish_many([])
    await connection.start(wait=TIMEOUT)
    await connection.start()  # already running: nothing new
    await connection.publish_many([])
    got: list[tuple[str, bytes]] = []

    def sync_handler(topic: str, payload: bytes) -> None:
        got.append((topic, payload))

    async def async_handler(topic: str, payload: bytes) -> None:
        got.append(("async", payload))

    def broken(topic: str, payload: bytes) -> None:
        raise RuntimeError("handler bug")

    async def broken_async(topic: str, payload: bytes) -> None:
        raise RuntimeError("handler bug")

    for handler in (sync_handler, async_handler, broken, broken_async):
        await connection.subscribe("cmd/#", handler)
    await connection.set_state(availability_topic("inv"), "online")
    await connection.publish("cmd/a", "hello")
    async with asyncio.timeout(TIMEOUT):
        while len(got) < 2:
            await asyncio.sleep(0.01)
    assert sorted(got) == [("async", b"hello"), ("cmd/a", b"hello")]
    for handler in (async_handler, broken, broken_async):
        await connection.unsubscribe("cmd/#", handler)
    await connection.unsubscribe("cmd/#", broken)  # gone already: nothing happens
    await connection.unsubscribe("nothing", broken)

    # The broker restarts without its retained messages: the state comes back by itself.
    generation = connection.generation
    await broker.stop()
    for path in (tmp_path / "store").iterdir():
        path.unlink()
    with pytest.raises(OutputUnavailableError):
        await connection.publish("x", "1")
    await connection.set_state(availability_topic("inv"), "offline")  # kept for later
    await broker.start()
    assert await connection.wait_connected(TIMEOUT)
    assert connection.generation == generation + 1
    async with reader(broker, availability_topic("inv"), "cmd/#") as client:
        assert await collect(client, lambda got: True) == [(availability_topic("inv"), b"offline")]
        await connection.publish("cmd/b", "again")  # resubscribed after the reconnect
        await collect(client, lambda got: got[-1] == ("cmd/b", b"again"))
    async with asyncio.timeout(TIMEOUT):
        while ("cmd/b", b"again") not in got:
            await asyncio.sleep(0.01)
    await connection.unsubscribe("cmd/#", sync_handler)

    async with reader(broker, connection.status_topic) as client:
        await collect(client, lambda got: got[-1][1] == b"online")
        await connection.aclose()
        await connection.aclose()  # twice: nothing more
        await collect(client, lambda got: got[-1][1] == b"offline")
    assert not connection.connected


async def test_unreachable_and_refused_brokers(tmp_path: Path) -> None:
    """No broker: publishing says unavailable; wrong password: the refusal is reported."""
    connection = MqttConnection(MqttBroker("127.0.0.1", free_port()), backoff_min=0.01)
    await connection.start(wait=0.2)
    with pytest.raises(OutputUnavailableError, match="Connection refused"):
        await connection.publish("x", "1")
    await connection.aclose()

    password_file = tmp_path / "passwd"
    password_file.write_text("")
    server = await start_broker(tmp_path, password_file=password_file)
    try:
        refused = MqttConnection(
            MqttBroker("127.0.0.1", server.port, "nobody", "wrong"), backoff_min=0.01
        )
        await refused.start()
        async with asyncio.timeout(TIMEOUT):
            while refused.last_error is None:
                await asyncio.sleep(0.01)
        assert not refused.connected
        await refused.aclose()
    finally:
        await server.stop()


async def test_availability_is_retained(broker: Broker) -> None:
    """An output's availability lands retained on the device's topic."""
    resources = Resources()
    context = OutputContext(DeviceConfig(name="inv", commands=()), mqtt_of(broker), None, resources)
    output = get_output("tag_mqtt", OutputOptions(name="inv"), context)
    await output.availability(False)
    async with reader(broker, availability_topic("inv")) as client:
        assert await collect(client, lambda got: True) == [(availability_topic("inv"), b"offline")]
    await resources.close()
