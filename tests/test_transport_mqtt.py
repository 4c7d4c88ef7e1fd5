"""MQTT relay transport against a real broker (mosquitto) and a simulated bridge.

The broker is Debian's ``mosquitto``, started on a free port on 127.0.0.1 (``MOSQUITTO`` names
another binary); the tests are skipped only when it is not installed. The bridge — what an ESP32
wired to the device would do — is an MQTT client that hands each request to a simulator and
publishes the answer to the response topic, cut into several messages as bytes trickle in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import json
from pathlib import Path
import shutil

import aiomqtt
import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.mqtt import MqttTarget, MqttTransport, parse_port, topics
from tests.servers.mosquitto import Broker, free_port, start_broker

TIMEOUT = 5.0


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """Run a broker for one test."""
    running = await start_broker(tmp_path)
    try:
        yield running
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def bridge(
    port: int,
    simulator: Simulator,
    *,
    prefix: str = "mppsolar",
    device: str = "bms1",
    chunk: int = 7,
    payload: str = "raw",
    before: Callable[[bytes], list[bytes]] | None = None,
) -> AsyncIterator[list[bytes]]:
    """Run an ESP-style bridge: requests to ``simulator``, answers back in ``chunk``-byte messages.

    Yields the list of requests it received (decoded to bytes).
    """
    request_topic, response_topic = topics(prefix, device)
    received: list[bytes] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bridge-{device}") as client:
        await client.subscribe(request_topic, qos=1)

        async def serve() -> None:
            async for message in client.messages:
                raw = message.payload
                assert isinstance(raw, bytes)
                if payload == "hex":
                    raw = bytes.fromhex(raw.decode())
                elif payload == "json":
                    raw = bytes.fromhex(json.loads(raw)["command_hex"])
                received.append(raw)
                answer = simulator.handle(raw)
                if answer is None:
                    continue
                parts = [answer[i : i + chunk] for i in range(0, len(answer), chunk)]
                messages = [] if before is None else before(answer)
                for part in parts:
                    if payload == "hex":
                        messages.append(part.hex().encode())
                    elif payload == "json":
                        messages.append(json.dumps({"result": part.hex()}).encode())
                    else:
                        messages.append(part)
                for message_payload in messages:
                    await client.publish(response_topic, message_payload, qos=1)

        task = asyncio.get_running_loop().create_task(serve())
        try:
            yield received
        finally:
            task.cancel()
            # The bridge loses its broker too when a test stops it.
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def ask(transport: MqttTransport, protocol_id: str, command: str) -> dict[str, object]:
    """One exchange through the relay, decoded."""
    protocol = get_protocol(protocol_id)
    answer = await transport.exchange(
        protocol.build_request(command),
        lambda buffer: protocol.answer_length(command, buffer),
        TIMEOUT,
    )
    return dict(protocol.decode(command, answer).values_by_key)


# -- end to end ---------------------------------------------------------------------------------


async def test_daly_through_a_bridge(broker: Broker) -> None:
    """Requests on <prefix>/<device>/request; answers reassembled from 7-byte messages."""
    simulator = create_simulator("daly", seed=1)
    async with bridge(broker.port, simulator) as received:
        relay = MqttTransport("127.0.0.1", broker.port, device="bms1")
        async with relay:
            assert relay.request_topic == "mppsolar/bms1/request"
            assert relay.response_topic == "mppsolar/bms1/response"
            assert (await ask(relay, "daly", "cellVoltages16"))["cell_count"] == 16
            await ask(relay, "daly", "setChargeMos0")
            assert (await ask(relay, "daly", "mosStatus"))["charging_mos"] is False
        assert received[0] == get_protocol("daly").build_request("cellVoltages16")


@pytest.mark.parametrize("payload", ["hex", "json"])
async def test_text_payloads(broker: Broker, payload: str) -> None:
    """Bridges that pass text: hex, or the reference's JSON (command_hex / result)."""
    simulator = create_simulator("jk02", seed=1)
    async with bridge(broker.port, simulator, payload=payload, chunk=64, prefix="solar/shed"):
        relay = MqttTransport(
            "127.0.0.1", broker.port, device="bms1", prefix="solar/shed", payload=payload
        )
        async with relay:
            assert relay.request_topic == "solar/shed/bms1/request"
            assert (await ask(relay, "jk02", "getCellData"))["cell_count"] == 16


async def test_malformed_text_responses_are_dropped(broker: Broker) -> None:
    """A response that is not hex is dropped; the answer after it still completes."""
    simulator = create_simulator("daly", seed=1)

    def junk(answer: bytes) -> list[bytes]:
        return [b"not hex", b"\xff\xfe"]

    async with bridge(broker.port, simulator, payload="hex", before=junk):
        relay = MqttTransport("127.0.0.1", broker.port, device="bms1", payload="hex")
        async with relay:
            assert (await ask(relay, "daly", "SOC"))["soc"] > 0  # type: ignore[operator]


async def test_through_the_device_with_a_pi30_bridge(broker: Broker) -> None:
    """The retrying Device polls an inverter behind the relay (CR-terminated answers)."""
    simulator = create_simulator("pi30", seed=1)
    async with bridge(broker.port, simulator, device="inverter", chunk=16):
        relay = open_transport(f"mqtt://127.0.0.1:{broker.port}/mppsolar/inverter")
        async with Device(relay, "pi30", timeout=TIMEOUT) as inverter:
            result = await inverter.command("QPI")
            assert result["protocol_id"] == "PI30"


async def test_silent_bridge_times_out(broker: Broker) -> None:
    """Nobody answers: the exchange ends with DeviceTimeoutError at its deadline."""
    relay = MqttTransport("127.0.0.1", broker.port, device="nobody")
    async with relay:
        with pytest.raises(DeviceTimeoutError):
            await relay.exchange(b"QPI\r", lambda buffer: None, 0.2)


async def test_broker_restart_reconnects(tmp_path: Path, broker: Broker) -> None:
    """A broker that goes away fails the exchange; the next one reconnects."""
    simulator = create_simulator("daly", seed=1)
    relay = MqttTransport("127.0.0.1", broker.port, device="bms1")
    async with bridge(broker.port, simulator):
        await relay.open()
        assert (await ask(relay, "daly", "SOC"))["soc"] > 0  # type: ignore[operator]
        await broker.stop()
    # Whether the reader notices first (the reconnect fails) or the exchange does (the
    # connection is lost while it waits), the exchange fails.
    with pytest.raises(TransportError):
        await ask(relay, "daly", "SOC")
    assert not relay.is_open
    await broker.start()
    async with bridge(broker.port, simulator):
        assert (await ask(relay, "daly", "SOC"))["soc"] > 0  # type: ignore[operator]
    await relay.close()
    await relay.close()


async def test_unreachable_broker() -> None:
    """Nothing listens: a TransportError that says so."""
    relay = MqttTransport("127.0.0.1", free_port(), device="bms1", connect_timeout=2)
    with pytest.raises(TransportError, match="cannot reach the MQTT broker"):
        await relay.open()
    assert not relay.is_open


async def test_credentials_refused(tmp_path: Path) -> None:
    """A broker that requires a password: wrong credentials are a PortError, right ones work."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (it comes with mosquitto)")
    passwords = tmp_path / "passwords"
    process = await asyncio.create_subprocess_exec(
        tool, "-c", "-b", str(passwords), "solar", "s3cret"
    )
    async with asyncio.timeout(TIMEOUT):
        assert await process.wait() == 0
    secured = await start_broker(tmp_path, password_file=passwords)
    try:
        wrong = open_transport(f"mqtt://solar:nope@127.0.0.1:{secured.port}/mppsolar/bms1")
        with pytest.raises(PortError, match="refused the connection.*password"):
            await wrong.open()
        anonymous = MqttTransport("127.0.0.1", secured.port, device="bms1")
        with pytest.raises(PortError, match="refused the connection.*password"):
            await anonymous.open()
        right = open_transport(f"mqtt://solar:s3cret@127.0.0.1:{secured.port}/mppsolar/bms1")
        async with right:
            assert right.is_open
    finally:
        await secured.stop()


async def test_broker_refusals(tmp_path: Path) -> None:
    """A client id the broker rejects; a request larger than it takes ends the connection."""
    strict = await start_broker(tmp_path, extra=("clientid_prefixes relay-", "max_packet_size 200"))
    try:
        wrong_id = MqttTransport("127.0.0.1", strict.port, device="bms1", client_id="other")
        with pytest.raises(PortError, match="refused the connection.*client id"):
            await wrong_id.open()
        allowed = MqttTransport("127.0.0.1", strict.port, device="other", client_id="relay-2")
        async with allowed:
            with pytest.raises(TransportError, match="connection to the broker lost"):
                await allowed.exchange(bytes(300), lambda buffer: None, TIMEOUT)
            assert not allowed.is_open
        # QoS 1: the publish itself fails (no acknowledgement within the connect timeout).
        acknowledged = MqttTransport(
            "127.0.0.1", strict.port, device="x", client_id="relay-3", qos=1, connect_timeout=0.5
        )
        async with acknowledged:
            with pytest.raises(TransportError, match="publishing the request failed"):
                await acknowledged.exchange(bytes(300), lambda buffer: None, TIMEOUT)
            assert not acknowledged.is_open
    finally:
        await strict.stop()


async def test_write_without_a_connection() -> None:
    """A write before the connection exists is a TransportError, not an AttributeError."""
    relay = MqttTransport("127.0.0.1", 1, device="bms1")
    with pytest.raises(TransportError, match="not connected"):
        await relay._write(b"QPI\r")  # noqa: SLF001 - the state between open() steps


# -- port strings -------------------------------------------------------------------------------


def test_port_strings() -> None:
    """``mqtt[s]://[user[:password]@]host[:port]/<prefix>/<device>``."""
    assert parse_port("mqtt://broker/inverter") == MqttTarget("broker", "inverter")
    assert parse_port("mqtts://me:p%40ss@broker:8884/a/b/c") == MqttTarget(
        "broker", "c", 8884, "a/b", "me", "p@ss", tls=True
    )
    relay = open_transport("mqtts://broker/x/dev")
    assert isinstance(relay, MqttTransport)
    assert (relay.port, relay.tls, relay.name) == (8883, True, "mqtts://broker:8883/x/dev")
    relay = open_transport("mqtt", host="broker", device="bms", payload="json", qos=1)
    assert isinstance(relay, MqttTransport)
    assert (relay.port, relay.payload, relay.qos) == (1883, "json", 1)
    assert relay.request_topic == "mppsolar/bms/request"
    assert topics("", "bms") == ("bms/request", "bms/response")


@pytest.mark.parametrize(
    ("port", "options", "message"),
    [
        ("mqtt://broker", {}, "names no device"),
        ("mqtt://broker:99999/dev", {}, "out of range"),
        ("mqtt", {}, "needs a broker and a device"),
        ("mqtt", {"host": "broker"}, "needs a broker and a device"),
        ("mqtt://broker/dev", {"parity": "N"}, "no option parity"),
        ("mqtt://broker/dev", {"payload": "xml"}, "unknown MQTT payload format"),
        ("mqtt", {"host": "broker", "device": "/"}, "needs the bridge's device name"),
    ],
)
def test_bad_port_strings(port: str, options: dict[str, object], message: str) -> None:
    """Every mistake is a PortError that says what to write instead."""
    with pytest.raises(PortError, match=message):
        open_transport(port, **options)


def test_not_an_mqtt_url() -> None:
    """parse_port is only for mqtt:// and mqtts://."""
    with pytest.raises(PortError, match="not an MQTT port"):
        parse_port("tcp://broker:1883/dev")
