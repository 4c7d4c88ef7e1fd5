"""The Device's fault matrix: recovery within the retry budget, or a clean typed error.

Each fault either costs a retry or ends in a typed error that says what was tried; nothing
hangs, no other exception type escapes.

Faults are injected per request by tests/device_fakes.py's FakeLink (a real BufferedTransport);
the far end is a PI30 inverter answering with real framing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import (
    CRCError,
    DeviceTimeoutError,
    EchoError,
    FrameError,
    MppSolarError,
    PortError,
    StaleReplyError,
    TransportError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.faults import Faults
from mppsolar_lib.simulator.serve import PtyServer
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.base import Completion, Transport
from mppsolar_lib.transports.simulated import SimulatedTransport, simulated_transport

from .device_fakes import FakeLink, PI30Unit
from .helpers import pi_frame

T = TypeVar("T")

#: fault -> (error after the whole budget, what the message lists for each attempt)
PERSISTENT: dict[str, tuple[type[MppSolarError], str]] = {
    "silent": (DeviceTimeoutError, "timeout"),
    "crc": (CRCError, "CRC error"),
    "short": (TruncatedFrameError, "unreadable answer"),
    "cut": (DeviceTimeoutError, "timeout"),
    "garbage": (FrameError, "unreadable answer"),
    "echo_only": (EchoError, "echo only"),
    "disconnect": (TransportError, "link lost"),
    "oserror": (TransportError, "link lost"),
}


async def bounded(awaitable: Awaitable[T], seconds: float = 10) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


def make(attempts: int = 3) -> tuple[Device, FakeLink, PI30Unit]:
    """Build a PI30 device with short timeouts and no backoff; return it, its link and unit."""
    unit = PI30Unit()
    link = FakeLink(unit)
    return Device(link, "pi30", attempts=attempts, timeout=0.2, backoff=0), link, unit


def written(link: FakeLink) -> list[str]:
    """Return the command texts written so far."""
    return [r[:-3].decode("latin-1") for r in link.requests]


@pytest.mark.parametrize("fault", [*PERSISTENT, "late", "stale", "lost"])
async def test_one_fault_is_recovered_within_the_budget(fault: str) -> None:
    """One occurrence of any fault costs a retry, not the answer."""
    device, link, _ = make()
    link.faults = [fault]
    result = await bounded(device.command("QPIGS"))
    assert result["battery_voltage"] == 57.5


@pytest.mark.parametrize("fault", list(PERSISTENT))
async def test_a_persistent_fault_ends_in_a_typed_error_naming_what_was_tried(
    fault: str,
) -> None:
    """A fault on every attempt ends in its own typed error listing each attempt."""
    device, link, _ = make()
    link.faults = [fault] * 3
    error, tried = PERSISTENT[fault]
    with pytest.raises(MppSolarError) as info:
        await bounded(device.command("QPIGS"))
    assert type(info.value) is error
    message = str(info.value)
    assert message.startswith("QPIGS on fake://link: no valid answer after 3 attempts")
    assert f"({tried}, {tried}, {tried})" in message
    assert "Last error:" in message
    assert isinstance(info.value.__cause__, error)


async def test_an_echoing_adapter_costs_nothing() -> None:
    """An echo in front of the answer is skipped without a retry."""
    device, link, _ = make()
    link.faults = ["echo"]
    assert (await bounded(device.command("QPIGS")))["battery_voltage"] == 57.5
    assert written(link) == ["QPIGS"]


async def test_an_answer_identical_to_the_request_is_not_an_echo() -> None:
    """A VE.Direct HEX set is answered with the request's very bytes: that is the answer."""
    device = Device(simulated_transport("ved", seed=1), "ved", attempts=1)
    ack = await bounded(device.command("setBatteryCapacity300"))
    assert ack.raw == get_protocol("ved").build_request("setBatteryCapacity300")
    assert await bounded(device.read_setting("battery_capacity")) == 300


async def test_an_echo_of_an_answer_identical_to_the_request_is_harmless() -> None:
    """Through an echoing adapter the echo and the answer are the same bytes: either will do."""
    simulator = create_simulator("ved", seed=1)
    link = FakeLink(simulator.handle)
    link.faults = ["echo"]
    device = Device(link, "ved", attempts=1)
    assert (await bounded(device.command("setBatteryCapacity300"))).raw == link.requests[0]


async def test_a_late_reply_is_never_decoded_as_the_next_command() -> None:
    """QPIRI's late answer in front of QPIGS's is recognised; QPIGS is asked again."""
    device, link, _ = make(attempts=1)
    link.faults = ["late"]
    with pytest.raises(DeviceTimeoutError):
        await bounded(device.command("QPIRI"))
    device.attempts, device.timeout = 3, 0.5
    result = await bounded(device.command("QPIGS"))
    # The QPIRI answer arrived first; it was recognised, the rest of the line was let go
    # by (listening until it was quiet), and QPIGS asked again.
    assert result["battery_voltage"] == 57.5
    assert written(link) == ["QPIRI", "QPIGS", "QPIGS"]
    assert link.listens == 2


async def test_a_late_reply_is_named_when_it_arrives() -> None:
    """The error names the command whose late answer arrived."""
    device, link, _ = make(attempts=1)
    link.faults = ["late"]
    with pytest.raises(DeviceTimeoutError):
        await bounded(device.command("QPIRI"))
    # QPIRI's answer cannot even be read as QPIGS's; the device says what it was.
    with pytest.raises(StaleReplyError, match="the late answer to QPIRI arrived instead"):
        await bounded(device.command("QPIGS"))


async def test_a_late_reply_that_looks_like_this_answer_is_not_taken() -> None:
    """A late one-value answer is not taken for this command's one value."""
    device, link, _ = make(attempts=1)
    link.faults = ["late"]
    with pytest.raises(DeviceTimeoutError):
        await bounded(device.command("QMOD"))
    # "(B" would pass for QPI's one value; having just timed out on QMOD, it is QMOD's.
    device.attempts = 3
    assert (await bounded(device.command("QPI")))["protocol_id"] == "PI30"
    assert written(link) == ["QMOD", "QPI", "QPI"]


async def test_a_stale_reply_that_keeps_coming_is_a_typed_error() -> None:
    """Another command's answer on every attempt ends in StaleReplyError."""
    device, link, _ = make()
    await bounded(device.command("QMCHGCR"))
    link.faults = ["stale"] * 3  # QMCHGCR's answer, again and again, before each QPIGS
    with pytest.raises(StaleReplyError, match=r"reply to another command.*raise timeout="):
        await bounded(device.command("QPIGS"))


async def test_a_look_alike_answer_is_told_by_this_units_own_shape() -> None:
    """An answer of another shape than the unit gave before costs one retry, not wrong data."""
    device, link, unit = make()
    await bounded(device.command("QPIGS"))  # the unit's QPIGS has 21 values
    normal = unit.fixed["QPIGS"]
    # 19 values in QPIGS's own format would pass the table's window (older firmwares send
    # fewer), but not for this unit: once it is another command's answer, not QPIGS's.
    shorter = " ".join(normal.split(" ")[:19])
    link.responder = lambda request: pi_frame(shorter) if len(link.requests) == 2 else unit(request)
    assert (await bounded(device.command("QPIGS")))["battery_voltage"] == 57.5
    assert written(link) == ["QPIGS"] * 3


async def test_a_unit_that_changes_its_answers_shape_is_followed() -> None:
    """A new shape seen twice in a row is the unit's new normal (a mode change)."""
    device, link, unit = make()
    before = await bounded(device.command("QPIGS"))
    unit.fixed["QPIGS"] = " ".join(unit.fixed["QPIGS"].split(" ")[:19])
    result = await bounded(device.command("QPIGS"))
    assert len(result) < len(before)
    assert written(link) == ["QPIGS"] * 3
    await bounded(device.command("QPIGS"))
    assert len(link.requests) == 4  # learnt: no retry any more


async def test_the_link_is_reopened_after_it_dropped() -> None:
    """After the link drops it is closed and reopened for the next attempt."""
    device, link, _ = make()
    link.faults = ["disconnect"]
    assert (await bounded(device.command("QPIGS")))["battery_voltage"] == 57.5
    assert (link.opens, link.closes) == (2, 1)


async def test_a_link_that_stays_silent_is_reopened() -> None:
    """Two timeouts in a row reopen the link (half-open TCP, reset adapters)."""
    device, link, _ = make()
    link.faults = ["silent", "silent"]
    await bounded(device.command("QPIGS"))
    assert (link.opens, link.closes) == (2, 1)


async def test_a_port_that_cannot_be_used_is_not_retried() -> None:
    """PortError is permanent: raised at once with its advice."""
    device, link, _ = make()
    link.refuse = PortError("/dev/ttyUSB9 does not exist; plug the adapter in")
    with pytest.raises(PortError, match="plug the adapter in"):
        await bounded(device.command("QPIGS"))
    assert link.requests == []


async def test_a_link_that_cannot_be_opened_is_retried_then_reported() -> None:
    """A refused connection is retried, then reported; the device recovers later."""
    device, link, _ = make()
    link.refuse = OSError(111, "Connection refused")
    with pytest.raises(TransportError, match=r"cannot open: .*Connection refused") as info:
        await bounded(device.command("QPIGS"))
    assert "3 attempts" in str(info.value)
    link.refuse = None
    assert (await bounded(device.command("QPIGS")))["battery_voltage"] == 57.5


class Stuck(Transport):
    """A broken transport: opening or exchanging never returns (its own timeouts are lost)."""

    name = "stuck://"

    def __init__(self, *, stuck_open: bool) -> None:
        """Hang on open() or on exchange()."""
        self.stuck_open = stuck_open
        self.opened = False

    @property
    def is_open(self) -> bool:
        """Whether open() returned."""
        return self.opened

    async def open(self) -> None:
        """Hang if told to."""
        if self.stuck_open:
            await asyncio.Event().wait()
        self.opened = True

    async def close(self) -> None:
        """Forget the link."""
        self.opened = False

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Never answer, never time out."""
        await asyncio.Event().wait()
        raise AssertionError  # pragma: no cover - never reached


async def test_a_transport_that_ignores_its_timeout_cannot_hang_the_device() -> None:
    """The Device's own deadline catches a transport that never returns."""
    device = Device(Stuck(stuck_open=False), "pi30", attempts=1, timeout=0.01)
    with pytest.raises(DeviceTimeoutError, match="did not return within"):
        await bounded(device.command("QPIGS"))


async def test_an_open_that_never_returns_cannot_hang_the_device() -> None:
    """An open that never returns ends after open_timeout."""
    device = Device(Stuck(stuck_open=True), "pi30", attempts=1, open_timeout=0.01)
    with pytest.raises(TransportError, match="could not open the link within 0.01 s"):
        await bounded(device.command("QPIGS"))


async def test_backoff_with_jitter_between_attempts() -> None:
    """Retries wait a jittered backoff and still recover."""
    unit = PI30Unit()
    link = FakeLink(unit)
    device = Device(link, "pi30", timeout=0.2, backoff=0.001, max_backoff=0.002)
    link.faults = ["crc", "crc"]
    assert (await bounded(device.command("QPIGS")))["battery_voltage"] == 57.5
    assert len(link.requests) == 3


# -- setters after an ambiguous failure ----------------------------------------------------------


async def test_a_raw_setter_is_not_sent_twice_blindly() -> None:
    """A setter whose ACK is lost is not re-sent (it may have been applied)."""
    device, link, unit = make()
    link.faults = ["silent"]
    with pytest.raises(DeviceTimeoutError, match="may or may not have been applied"):
        await bounded(device.command("POP02"))
    assert written(link) == ["POP02"]
    assert unit.qpiri[16] == "2"  # it was applied: sending it again would have done it twice


class Flaky(FakeLink):
    """A link whose first open fails (a gateway still booting)."""

    async def _connect(self) -> None:
        if self.opens == 0 and self.refuse is None:
            self.refuse = OSError(111, "Connection refused")
            raise self.refuse
        self.refuse = None
        await super()._connect()


async def test_a_raw_setter_is_retried_when_the_link_would_not_open() -> None:
    """A setter is retried when the link failed to open: nothing had been sent."""
    link = Flaky(PI30Unit())
    device = Device(link, "pi30", timeout=0.2, backoff=0)
    assert (await bounded(device.command("POP02")))["pop"] == "ACK"
    assert written(link) == ["POP02"]
    assert link.opens == 1


async def test_a_setting_whose_ack_was_lost_is_checked_not_resent() -> None:
    """write_setting reads back after a lost ACK and finds it applied."""
    device, link, unit = make()
    link.faults = ["ok", "silent"]  # QPIRI answers; POP02 is applied but its ACK is lost
    assert await bounded(device.write_setting("output_source_priority", "SBU first")) == (
        "SBU first"
    )
    assert written(link) == ["QPIRI", "POP02", "QPIRI"]


async def test_a_setting_that_never_arrived_is_sent_again() -> None:
    """write_setting re-sends when the read-back shows the request never arrived."""
    device, link, unit = make()
    link.faults = ["ok", "lost"]  # the request is lost on the wire: the unit never saw it
    assert await bounded(device.write_setting("output_source_priority", "SBU first")) == (
        "SBU first"
    )
    assert written(link) == ["QPIRI", "POP02", "QPIRI", "POP02", "QPIRI"]
    assert unit.qpiri[16] == "2"


async def test_a_setting_that_never_arrives_ends_in_a_typed_error() -> None:
    """A write lost every time ends in a typed error after the budget."""
    device, link, unit = make()
    link.faults = ["ok"] + ["lost", "ok"] * 3
    with pytest.raises(DeviceTimeoutError, match="did not take effect after 3 attempts"):
        await bounded(device.write_setting("output_source_priority", "SBU first"))
    assert written(link).count("POP02") == 3
    assert unit.qpiri[16] == "0"


async def test_a_setting_whose_read_back_fails_says_the_outcome_is_unknown() -> None:
    """When the read-back fails too, the error says the outcome is unknown."""
    device, link, unit = make(attempts=1)
    link.faults = ["ok", "silent", "silent"]
    with pytest.raises(DeviceTimeoutError, match="whether it was applied is unknown"):
        await bounded(device.write_setting("output_source_priority", "SBU first"))


async def test_a_permanent_failure_of_a_setter_is_raised_at_once() -> None:
    """A PortError while writing is raised at once."""
    device, link, unit = make()
    change = await bounded(device.prepare_setting("output_source_priority", "SBU first"))
    link.refuse = PortError("permission denied: add yourself to the dialout group")
    await link.close()
    with pytest.raises(PortError, match="dialout"):
        await bounded(device.apply_setting(change))
    assert written(link) == ["QPIRI"]


# -- the simulator's own faults, end to end -------------------------------------------------------

FAULTS = Faults(stale=0.25, crc=0.05, garbage=0.05, truncate=0.05, silence=0.05, seed=5)


async def _poll(device: Device, commands: list[str], rounds: int) -> tuple[int, list[str]]:
    """Poll ``commands`` ``rounds`` times; return the answers and any decoded as another's."""
    assert device.protocol is not None
    clean = Device(simulated_transport(device.protocol.id, seed=1), device.protocol)
    keys = {c: set(await bounded(clean.command(c))) for c in commands}
    answered, wrong = 0, []
    for _ in range(rounds):
        for command in commands:
            try:
                result = await bounded(device.command(command))
            except MppSolarError:
                continue  # typed, said what was tried: fine; anything else fails the test
            answered += 1
            if set(result) != keys[command]:
                wrong.append(f"{command}: {sorted(set(result) ^ keys[command])[:3]}")
    return answered, wrong


@pytest.mark.parametrize("protocol_id", ["pi30", "pi16", "pi41", "pi18sv", "daly"])
async def test_a_simulated_faulty_device_never_yields_another_commands_answer(
    protocol_id: str,
) -> None:
    """With a quarter of the answers replaced by the previous one, nothing is mislabelled."""
    protocol = get_protocol(protocol_id)
    device = Device(
        SimulatedTransport(create_simulator(protocol_id, seed=1), FAULTS),
        protocol,
        timeout=0.05,
        backoff=0,
        settle=0.001,
    )
    commands = [*protocol.status_commands, *protocol.settings_commands]
    answered, wrong = await _poll(device, commands, 15)
    assert wrong == []
    assert answered > len(commands) * 15 * 0.8


async def test_a_faulty_device_on_a_pseudo_terminal() -> None:
    """The simulator's faults over a real pty and the serial transport: typed errors only."""
    pytest.importorskip("serialx")
    async with PtyServer(create_simulator("pi30", seed=1), FAULTS) as server:
        device = Device(open_transport(server.path), "pi30", timeout=0.3, backoff=0.01)
        async with device:
            answered, wrong = await _poll(device, ["QPIGS", "QPIRI", "QMOD"], 8)
    assert wrong == []
    assert answered >= 20
