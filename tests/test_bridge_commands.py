"""The MQTT command topic, against a real mosquitto and simulated inverters.

What a user sees: the answer on ``mppsolar/<device>/command/response``, and the device's own
state (a later query, the requests the simulated unit received).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mppsolar_lib.bridge.commands import (
    MAX_PAYLOAD,
    CommandChannel,
    Refused,
    command_topic,
    parse,
    response_topic,
)
from mppsolar_lib.bridge.daemon import Bridge, DeviceRunner
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig, MqttBroker
from mppsolar_lib.device import Device
from mppsolar_lib.outputs import OutputContext, Resources
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.voltronic import VoltronicSimulator
from mppsolar_lib.transports.simulated import SimulatedTransport
from tests.servers.mosquitto import Broker, start_broker

aiomqtt = pytest.importorskip("aiomqtt")

if TYPE_CHECKING:
    from aiomqtt import Client

TIMEOUT = 20.0
ALLOWED = (r"^POP\d\d$", r"^QPI.*", r"^QPGS\d$", r"^MCHGC0\d\d$", r"^QFOO$")


class Recorder(Simulator):
    """A simulated unit that keeps the text of every request it received.

    ``ack_only``: setters it acknowledges without applying (a unit that ignores them);
    ``broken``: requests that make it fail in a way no protocol error describes.
    """

    def __init__(self, inner: VoltronicSimulator) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.protocol = inner.protocol
        self.requests: list[str] = []
        self.ack_only: set[str] = set()
        self.broken: set[str] = set()

    def handle(self, request: bytes) -> bytes | None:
        """Record the request's command text, then answer as ``inner`` does."""
        parsed = self.inner.parse_request(request)
        text = parsed[1] if parsed is not None else repr(request)
        self.requests.append(text)
        if text in self.broken:
            raise RuntimeError(f"the unit's firmware crashed on {text}")
        if text in self.ack_only:
            return self.inner.ack()
        return self.inner.handle(request)

    def sent(self, prefix: str) -> list[str]:
        """Return the requests starting with ``prefix``."""
        return [text for text in self.requests if text.startswith(prefix)]


@dataclass
class Rig:
    """A bridge on a broker with one simulated device, and a client to talk to it."""

    broker: Broker
    bridge: Bridge
    unit: Recorder
    client: Client
    device: str = "inv"

    async def ask(self, payload: str | bytes, *, retain: bool = False) -> dict[str, Any]:
        """Publish ``payload`` on the command topic and return the next answer."""
        await self.client.publish(command_topic(self.device), payload, qos=1, retain=retain)
        return await self.answer()

    async def answer(self) -> dict[str, Any]:
        """Return the next answer on the response topic."""
        async with asyncio.timeout(TIMEOUT):
            async for message in self.client.messages:
                if message.topic.value == response_topic(self.device):
                    assert not message.retain
                    assert isinstance(message.payload, bytes)
                    answer: dict[str, Any] = json.loads(message.payload)
                    return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def query(self, command: str) -> dict[str, Any]:
        """Return the device's answer to ``command``, asked directly (not through MQTT)."""
        result = await self.bridge.runners[self.device].device.command(command)
        return {key: field.value for key, field in result.fields.items()}


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """Start a private mosquitto for one test."""
    server = await start_broker(tmp_path)
    yield server
    await server.stop()


def device_config(
    name: str = "inv", allowed: tuple[str, ...] = ALLOWED, **kwargs: Any
) -> DeviceConfig:
    """Return a device polled once at start (then only on refresh), with ``allowed``."""
    options: dict[str, Any] = {
        "commands": ("QPIGS",),
        "pause": 3600.0,
        "port": "sim://pi30",
        "protocol": "pi30",
        "outputs": ("json_mqtt",),
        "slow_commands": ("QPIRI",),
        "slow_pause": 3600.0,
        "mqtt_allowed_cmds": allowed,
        **kwargs,
    }
    return DeviceConfig(name=name, **options)


@contextlib.asynccontextmanager
async def rig(
    broker: Broker, tmp_path: Path, *devices: DeviceConfig, protocol: str = "pi30"
) -> AsyncIterator[Rig]:
    """Run a bridge with ``devices`` (one :class:`Recorder` unit each) and a client."""
    devices = devices or (device_config(),)
    units: dict[str, Recorder] = {}

    def factory(config: DeviceConfig) -> Device:
        inner = create_simulator(protocol)
        assert isinstance(inner, VoltronicSimulator)
        units[config.name] = Recorder(inner)
        return Device(SimulatedTransport(units[config.name]), protocol)

    config = BridgeConfig(devices=devices, mqtt=MqttBroker("127.0.0.1", broker.port))
    bridge = Bridge(config, spool_dir=tmp_path / "spool", device_factory=factory)
    client = aiomqtt.Client("127.0.0.1", broker.port)
    async with client:
        await client.subscribe("mppsolar/+/command/response", qos=1)
        await client.subscribe("QPIRI/mpp-solar", qos=1)
        async with asyncio.timeout(TIMEOUT):
            await bridge.start()
        try:
            yield Rig(broker, bridge, units[devices[0].name], client, devices[0].name)
        finally:
            async with asyncio.timeout(TIMEOUT):
                await bridge.stop()


async def test_allowed_query_is_answered_with_decoded_fields(
    broker: Broker, tmp_path: Path
) -> None:
    """An allowed query is answered with its decoded fields and units."""
    async with rig(broker, tmp_path) as r:
        answer = await r.ask("QPIGS")
        assert answer["ok"] is True
        assert answer["refused"] is None and answer["error"] is None
        assert answer["device"] == "inv" and answer["command"] == "QPIGS" and answer["id"] is None
        assert isinstance(answer["result"]["ac_output_voltage"], float)
        assert answer["units"]["ac_output_voltage"] == "V"
        # JSON form with an id; a lowercase command is the same command once canonical.
        answer = await r.ask(json.dumps({"command": "qpiri", "id": 7}))
        assert answer["ok"] is True and answer["id"] == 7 and answer["command"] == "QPIRI"
        assert answer["result"]["output_source_priority"] == "SBU first"


async def test_allowed_setter_changes_the_device_and_refreshes_outputs(
    broker: Broker, tmp_path: Path
) -> None:
    """An allowed setter changes the unit, and the refreshed poll carries the new value."""
    async with rig(broker, tmp_path) as r:
        answer = await r.ask(json.dumps({"command": "POP00", "id": "a"}))
        assert answer == {**answer, "ok": True, "id": "a", "command": "POP00", "refused": None}
        assert answer["result"] == {"pop": "ACK"}
        assert r.unit.sent("POP") == ["POP00"]
        assert (await r.query("QPIRI"))["output_source_priority"] == "Utility first"
        # The refresh after the setter polls again: the new value reaches the outputs.
        async with asyncio.timeout(TIMEOUT):
            async for message in r.client.messages:
                if message.topic.value == "QPIRI/mpp-solar":
                    assert isinstance(message.payload, bytes)
                    data = json.loads(message.payload)
                    if data["output_source_priority"] == "Utility first":
                        break


async def test_setting_through_the_settings_model(broker: Broker, tmp_path: Path) -> None:
    """A setting is written through the settings model: encoded, written, read back."""
    async with rig(broker, tmp_path) as r:
        request = {"setting": "output_source_priority", "value": "Solar first", "id": "s"}
        answer = await r.ask(json.dumps(request))
        assert answer["ok"] is True, answer
        assert answer["command"] == "POP01" and answer["setting"] == "output_source_priority"
        assert answer["result"] == {"output_source_priority": "Solar first"}
        assert answer["previous"] == "SBU first"
        assert r.unit.sent("POP") == ["POP01"]


async def test_not_allowlisted_is_refused_and_never_sent(broker: Broker, tmp_path: Path) -> None:
    """What the allowlist does not match is refused and never reaches the unit."""
    async with rig(broker, tmp_path) as r:
        before = (await r.query("QPIRI"))["charger_source_priority"]
        answer = await r.ask("PCP03")
        assert answer["ok"] is False and answer["refused"] == "not_allowed"
        assert "PCP03 is not in mqtt_allowed_cmds" in answer["error"]
        # Unknown to the protocol and not allowed: not_allowed (nothing is said about it).
        assert (await r.ask("XYZ"))["refused"] == "not_allowed"
        # A setting whose setter command is not allowed.
        answer = await r.ask(json.dumps({"setting": "charger_source_priority", "value": "03"}))
        assert answer["refused"] == "not_allowed" and answer["command"] == "PCP03"
        # Allowed patterns match the whole command, not a prefix.
        assert (await r.ask("POP021"))["refused"] in ("not_allowed", "invalid")
        assert (await r.ask("QMOD"))["refused"] == "not_allowed"
        # A second command smuggled after a CR is not a command at all.
        answer = await r.ask(json.dumps({"command": "QPIGS\rPCP03"}))
        assert answer["refused"] == "malformed"
        assert r.unit.sent("PCP") == [] and r.unit.sent("QMOD") == []
        assert (await r.query("QPIRI"))["charger_source_priority"] == before


async def test_invalid_value_is_refused_before_sending(broker: Broker, tmp_path: Path) -> None:
    """Values the protocol or the settings model reject are refused unsent."""
    async with rig(broker, tmp_path) as r:
        answer = await r.ask("POP09")
        assert answer["ok"] is False and answer["refused"] == "invalid"
        assert "00 (Utility first)" in answer["error"]
        answer = await r.ask(json.dumps({"setting": "output_source_priority", "value": "Moon"}))
        assert answer["refused"] == "invalid" and "Solar first" in answer["error"]
        answer = await r.ask(json.dumps({"setting": "no_such_thing", "value": 1}))
        assert answer["refused"] == "invalid" and "output_source_priority" in answer["error"]
        # 45 A is in the declared range, but the unit lists what it takes (QMCHGCR): refused.
        request = {"setting": "max_charging_current", "value": 45, "confirm": True}
        answer = await r.ask(json.dumps(request))
        assert answer["refused"] == "invalid" and "use one of" in answer["error"]
        assert r.unit.sent("QMCHGCR") and r.unit.sent("POP") == [] and r.unit.sent("MCHGC") == []
        # Allowed, but the protocol has no such command.
        assert (await r.ask("QFOO"))["refused"] == "unknown_command"


async def test_nak_is_an_error_not_a_refusal(broker: Broker, tmp_path: Path) -> None:
    """A command the unit refuses (NAK) is answered ok false with the error."""
    async with rig(broker, tmp_path) as r:
        # One unit, no parallel unit 5: the inverter answers NAK.
        answer = await r.ask("QPGS5")
        assert answer["ok"] is False and answer["refused"] is None
        assert "NAK" in answer["error"] and answer["result"] is None
        # 45 A passes the protocol's table; the unit refuses it.
        answer = await r.ask(json.dumps({"command": "MCHGC045", "confirm": True}))
        assert answer["ok"] is False and answer["refused"] is None and "NAK" in answer["error"]
        assert r.unit.sent("MCHGC") == ["MCHGC045"]
        # The bridge goes on answering.
        assert (await r.ask("QPIGS"))["ok"] is True


async def test_safety_settings_need_confirmation(broker: Broker, tmp_path: Path) -> None:
    """Safety settings, as settings or as raw setters, need confirm: true."""
    async with rig(broker, tmp_path) as r:
        answer = await r.ask(json.dumps({"setting": "max_charging_current", "value": 30}))
        assert answer["refused"] == "confirmation_required"
        assert "60 A -> 30 A" in answer["error"]
        answer = await r.ask("MCHGC030")
        assert answer["refused"] == "confirmation_required" and '"confirm": true' in answer["error"]
        assert r.unit.sent("MCHGC") == []
        request = {"setting": "max_charging_current", "value": 30, "confirm": True, "id": 1}
        answer = await r.ask(json.dumps(request))
        assert answer["ok"] is True and answer["result"] == {"max_charging_current": 30}
        assert answer["previous"] == 60
        answer = await r.ask(json.dumps({"command": "MCHGC020", "confirm": True}))
        assert answer["ok"] is True
        assert r.unit.sent("MCHGC") == ["MCHGC030", "MCHGC020"]
        assert (await r.query("QPIRI"))["max_charging_current"] == 20


async def test_a_setting_the_unit_does_not_apply(broker: Broker, tmp_path: Path) -> None:
    """An ACKed write the unit does not apply is an error with the value it reports."""
    async with rig(broker, tmp_path) as r:
        r.unit.ack_only.add("POP00")
        request = {"setting": "output_source_priority", "value": "Utility first"}
        answer = await r.ask(json.dumps(request))
        assert answer["ok"] is False and answer["refused"] is None
        assert "reports SBU first" in answer["error"]
        assert answer["result"] == {"output_source_priority": "SBU first"}


async def test_an_unexpected_failure_is_answered_and_the_bridge_goes_on(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure outside the library's errors is answered and logged; the channel lives on."""
    async with rig(broker, tmp_path) as r:
        r.unit.broken.add("QPIGS")
        with caplog.at_level(logging.ERROR):
            answer = await r.ask("QPIGS")
        assert answer["ok"] is False and answer["error"].startswith("internal error")
        assert "command QPIGS failed" in caplog.text
        r.unit.broken.clear()
        assert (await r.ask("QPIGS"))["ok"] is True


async def test_writes_needing_the_current_reading(broker: Broker, tmp_path: Path) -> None:
    """PI18's MCHGV writes bulk and float together: the allowlist sees the whole command."""
    device = device_config(
        commands=("GS",), slow_commands=(), protocol="pi18", port="sim://pi18",
        outputs=(), allowed=(r"^MCHGV\d{3},\d{3}$",),
    )  # fmt: skip
    async with rig(broker, tmp_path, device, protocol="pi18") as r:
        request = {"setting": "battery_float_voltage", "value": 54.0, "confirm": True}
        answer = await r.ask(json.dumps(request))
        assert answer["ok"] is True, answer
        assert answer["command"] == "MCHGV570,540"
        assert (await r.query("PIRI"))["battery_float_voltage"] == 54.0
        request = {"setting": "battery_recharge_voltage", "value": 49.0, "confirm": True}
        answer = await r.ask(json.dumps(request))
        assert answer["refused"] == "not_allowed" and answer["command"].startswith("BUCD")
        assert r.unit.sent("BUCD") == []


async def test_malformed_and_oversize_messages(broker: Broker, tmp_path: Path) -> None:
    """Broken and oversize messages are refused without touching the unit."""
    async with rig(broker, tmp_path) as r:
        answer = await r.ask("{not json")
        assert answer["refused"] == "malformed" and "invalid JSON" in answer["error"]
        answer = await r.ask(b"QPIGS" + b" " * MAX_PAYLOAD)
        assert answer["refused"] == "too_large" and answer["command"] is None
        answer = await r.ask(b"\xff\xfe")
        assert answer["refused"] == "malformed"
        assert len(r.unit.requests) == len(r.unit.sent("QPI"))  # only the polls


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1, 2]", "expected a JSON object"),
        (b'{"command": "QPIGS", "confrim": true}', "unknown keys ['confrim']"),
        (b'{"command": "QPIGS", "id": [1]}', "id must be"),
        (b'{"command": "QPIGS", "id": true}', "id must be"),
        (b'{"command": "QPIGS", "confirm": "yes"}', "confirm must be"),
        (b'{"id": 1}', "either command or setting"),
        (b'{"command": "QPIGS", "setting": "x", "value": 1}', "either command or setting"),
        (b'{"command": 5}', "command must be text"),
        (b'{"command": "POP02", "value": 1}', "command must be text"),
        (b'{"setting": "x"}', "with a value"),
        (b'{"setting": 5, "value": 1}', "with a value"),
        (b"   ", "empty command"),
        (b"QPI\x00GS", "printable ASCII"),
    ],
)
def test_parse_refuses_malformed(payload: bytes, message: str) -> None:
    """Each malformed JSON shape is refused with a reason."""
    with pytest.raises(Refused, match=None) as caught:
        parse(payload)
    assert caught.value.reason == "malformed"
    assert message in str(caught.value)


def test_parse_reads_both_forms() -> None:
    """Raw text and the JSON object both parse."""
    assert parse(b" QPIGS\n").command == "QPIGS"
    request = parse(b'{"setting": "buzzer", "value": false, "confirm": true, "id": "x"}')
    assert (request.setting, request.value, request.confirm, request.id) == (
        "buzzer", False, True, "x",
    )  # fmt: skip


async def test_empty_allowlist_subscribes_nothing(broker: Broker, tmp_path: Path) -> None:
    """A device without an allowlist has no command topic at all."""
    quiet = device_config("quiet", allowed=())
    other = device_config("other")
    async with rig(broker, tmp_path, quiet, other) as r:
        assert [channel.name for channel in r.bridge.channels] == ["other"]
        await r.client.publish(command_topic("quiet"), "POP00", qos=1)
        # Messages from one client arrive in order: once "other" answered, "quiet"'s command
        # would have been handled too, had anything subscribed to it.
        r.device = "other"
        assert (await r.ask("QPIGS"))["ok"] is True
        assert r.unit.sent("POP") == []
        assert (await r.query("QPIRI"))["output_source_priority"] == "SBU first"
    # Built directly: nothing to start, nothing to close.
    runner = DeviceRunner(
        quiet, Device(SimulatedTransport(create_simulator("pi30")), "pi30"), [], []
    )
    channel = CommandChannel(runner, OutputContext(quiet, MqttBroker("127.0.0.1", broker.port)))
    await channel.start()
    await channel.aclose()
    assert channel._connection is None  # noqa: SLF001


async def test_retained_commands_are_ignored(broker: Broker, tmp_path: Path) -> None:
    """A retained command waiting on the broker is not run when the bridge subscribes."""
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(command_topic("inv"), "POP00", qos=1, retain=True)
    async with rig(broker, tmp_path) as r:
        answer = await r.ask(json.dumps({"command": "QPIGS", "id": "after"}))
        assert answer["id"] == "after"  # the first answer: none for the retained POP00
        assert r.unit.sent("POP") == []
        # Clear the retained message.
        await r.client.publish(command_topic("inv"), b"", qos=1, retain=True)


async def test_rate_limit_and_queue_bound(broker: Broker, tmp_path: Path) -> None:
    """Commands beyond the queue bound are busy; beyond the token bucket rate_limited."""
    config = device_config()
    runner = DeviceRunner(
        config, Device(SimulatedTransport(create_simulator("pi30")), "pi30"), [], []
    )
    context = OutputContext(config, MqttBroker("127.0.0.1", broker.port), None, Resources())
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(response_topic("inv"), qos=1)
        rig_ = Rig(broker, None, None, client)  # type: ignore[arg-type]
        channel = CommandChannel(runner, context, queue_limit=1, burst=3, rate=0.0)
        await channel.start()
        await channel.start()  # a second start changes nothing
        try:
            # No await in between: the first waits in the queue, the second finds it full.
            channel.submit(b'{"command": "QPIGS", "id": 1}')
            channel.submit(b'{"command": "QPIGS", "id": 2}')
            answers = {(a["id"], a["refused"]) for a in [await rig_.answer(), await rig_.answer()]}
            assert answers == {(1, None), (2, "busy")}
            channel.submit(b'{"command": "QPIGS", "id": 3}')
            assert (await rig_.answer())["id"] == 3
            channel.submit(b'{"command": "QPIGS", "id": 4}')  # the bucket is empty
            answer = await rig_.answer()
            assert answer["refused"] == "rate_limited" and answer["id"] is None
        finally:
            await channel.aclose()
            await context.resources.close()


async def test_answer_lost_when_the_broker_is_gone(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer that cannot be published is logged, not raised."""
    config = device_config()
    runner = DeviceRunner(
        config, Device(SimulatedTransport(create_simulator("pi30")), "pi30"), [], []
    )
    context = OutputContext(config, MqttBroker("127.0.0.1", broker.port), None, Resources())
    channel = CommandChannel(runner, context)
    await channel.start()
    try:
        await broker.stop()
        assert channel._connection is not None  # noqa: SLF001
        with caplog.at_level(logging.WARNING):
            async with asyncio.timeout(TIMEOUT):
                while channel._connection.connected:  # noqa: SLF001
                    await asyncio.sleep(0.05)
                channel.submit(b"{")
                await channel.aclose()
        assert "command answer not published" in caplog.text
    finally:
        await context.resources.close()
