"""VE.Direct through the retrying Device: a whole status every poll, and who the unit is.

A VE.Direct unit streams text blocks unasked: a main block (PID, V, I, SOC …) and, from a battery
monitor, a history block (H1 …) in turn, each closed by its checksum. A status poll
(``get_status``, sent as ``vedstatus``) must hear the stream until a checksum-valid main block
has come, never return a lone history block or a damaged one, and keep a history block that came
just before the main one. Detection names the unit from the main block: model (PID), firmware
(FW) and serial number (SER#). The far end is the VE.Direct simulator served on a real
pseudo-terminal (the serial transport end to end, the stream paced by the server) or in process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
import contextlib
from functools import partial
from typing import Any, TypeVar

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import CRCError, DeviceTimeoutError, TruncatedFrameError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.detect import detect
from mppsolar_lib.protocols.vedirect import STATUS_ATTEMPTS, TEXT_ATTEMPTS
from mppsolar_lib.simulator.serve import serve_pty
from mppsolar_lib.simulator.vedirect import VeDirectSimulator, block
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.base import Transport
from mppsolar_lib.transports.simulated import MAX_UNSOLICITED, SimulatedTransport

T = TypeVar("T")

VED = get_protocol("ved")
WAIT = 10.0
#: The stream's pace in most tests: a block every 10 ms instead of every second.
FAST = 0.01
SERIAL = "HQ2231ABCDE"
#: Keys only the main block gives, and keys only the history block gives.
MAIN = {"product_id", "main_or_channel_1_battery_voltage", "state_of_charge"}
HISTORY = {"depth_of_the_deepest_discharge", "number_of_charge_cycles"}


async def bounded(awaitable: Awaitable[T], seconds: float = WAIT) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


@contextlib.asynccontextmanager
async def served(simulator: VeDirectSimulator, interval: float = FAST) -> AsyncIterator[Transport]:
    """Serve ``simulator`` streaming on a pseudo-terminal; yield a serial transport to it."""
    server = await serve_pty(simulator, stream_interval=interval)
    transport = open_transport(server.path)
    try:
        yield transport
    finally:
        await transport.close()
        await bounded(server.close())


class Scripted(VeDirectSimulator):
    """A unit whose next sends are scripted (``b""``: nothing more during that exchange)."""

    def __init__(self, script: list[bytes], **options: Any) -> None:
        """Send ``script`` first, then the simulator's own blocks."""
        super().__init__(**options)
        self.script = script

    def unsolicited(self) -> bytes:
        """Return the next scripted send, else the next block."""
        return self.script.pop(0) if self.script else super().unsolicited()


# -- the status poll ------------------------------------------------------------------------------


async def test_over_a_pty_every_poll_is_a_whole_main_block() -> None:
    """Detect, then poll repeatedly: each status holds the main block, checked by its checksum."""
    async with served(VeDirectSimulator(seed=3, serial=SERIAL)) as transport:
        device = Device(transport, timeout=WAIT)
        detection = await bounded(device.identify())
        polls = [await bounded(device.get_status()) for _ in range(8)]
    assert detection.protocol == "ved"
    assert (detection.model, detection.firmware, detection.serial) == (
        "SmartShunt 500A/50mV",
        "4.19",
        SERIAL,
    )
    assert detection.confidence == 0.95
    assert detection.evidence == ("QPI with CRC: vedirect",)
    for batch in polls:
        assert list(batch) == ["vedtext"] and batch.errors == {}
        status = batch["vedtext"]
        assert status.command == "vedstatus"
        assert set(status) >= MAIN, sorted(status)
        assert status["serial_number"] == SERIAL


async def test_the_poll_waits_at_the_units_pace_whatever_the_timeout() -> None:
    """A unit streaming slowly still answers a poll with a short timeout: it cannot go faster."""
    async with served(VeDirectSimulator(seed=3), interval=0.2) as transport:
        device = Device(transport, "ved", timeout=0.05, attempts=1)
        batch = await bounded(device.get_status())
    assert set(batch["vedtext"]) >= MAIN


async def test_a_history_block_before_the_main_one_is_assembled_with_it() -> None:
    """In process: the stream is at its history block; the poll returns history and main."""
    simulator = VeDirectSimulator(seed=3, async_updates=False)
    simulator.blocks = 1  # the next block is the history block
    device = Device(SimulatedTransport(simulator), "ved", timeout=WAIT)
    status = (await bounded(device.get_status()))["vedtext"]
    assert set(status) >= MAIN | HISTORY
    assert simulator.blocks == 2 + 1  # history, main: nothing more was heard
    # The next poll starts at the history block again: the unit alternates.
    assert set((await bounded(device.get_status()))["vedtext"]) >= MAIN | HISTORY


async def test_a_damaged_main_block_is_not_the_status() -> None:
    """A main block failing its checksum is skipped; the next whole one is the answer."""
    good = VeDirectSimulator(seed=3, async_updates=False)
    main, history, main_again = good.unsolicited(), good.unsolicited(), good.unsolicited()
    damaged = main.replace(b"\r\nSOC\t620", b"\r\nSOC\t999")
    assert damaged != main
    simulator = Scripted([damaged, history, main_again], seed=3)
    device = Device(SimulatedTransport(simulator), "ved", timeout=WAIT)
    status = (await bounded(device.get_status()))["vedtext"]
    assert status["state_of_charge"] == 62.0
    assert status.raw == damaged + history + main_again
    assert set(status) >= MAIN | HISTORY


async def test_the_in_process_simulator_answers_whole_status_polls() -> None:
    """``-p sim -P ved``: every poll has the main block, however the stream stands."""
    device = Device(SimulatedTransport(VeDirectSimulator(seed=1)), "ved")
    for _ in range(4):
        assert set((await bounded(device.get_status()))["vedtext"]) >= MAIN


async def test_a_unit_that_never_completes_a_block_times_out() -> None:
    """Text that never closes a block: the read ends with the timeout, not an endless one."""
    simulator = Scripted([b"\r\nV\t12800"] * 20, seed=3)
    transport = SimulatedTransport(simulator)
    with pytest.raises(DeviceTimeoutError, match="no complete answer in 0.05 s"):
        await bounded(transport.exchange(b"", partial(VED.answer_length, "vedstatus"), 0.05))
    # The in-process unit went on talking for a while, then the host gave up listening.
    assert len(simulator.script) == 20 - MAX_UNSOLICITED


# -- detection ------------------------------------------------------------------------------------


async def test_detection_listens_again_when_the_first_probe_heard_no_main_block() -> None:
    """The first probe's timeout cut the text: the plan listens once more, at the unit's pace."""
    main = VeDirectSimulator(seed=3, serial=SERIAL).unsolicited()
    simulator = Scripted([main[:40], b""], seed=3, serial=SERIAL)
    device = Device(SimulatedTransport(simulator), probe_timeout=0.05)
    detection = await bounded(device.identify())
    assert detection.evidence == ("QPI with CRC: vedirect", "VE.Direct status: vedirect")
    assert (detection.model, detection.serial, detection.confidence) == (
        "SmartShunt 500A/50mV",
        SERIAL,
        0.95,
    )
    assert device.protocol is VED


def identify(*answers: bytes) -> tuple[Any, ...]:
    """Run detection over scripted answers (the last one repeats); return the identity."""
    queue = list(answers)
    found = detect(lambda _: queue.pop(0) if len(queue) > 1 else queue[0])
    return (found.protocol, found.model, found.firmware, found.serial, found.confidence)


def test_identity_from_the_text_records() -> None:
    """Model from the product id, else the unit's own description; firmware as a version."""
    known = block([("PID", "0xA053"), ("FW", "161"), ("SER#", "HQ1328A1B2C"), ("V", "12800")])
    assert identify(known) == ("ved", "SmartSolar MPPT 75/15", "1.61", "HQ1328A1B2C", 0.95)
    described = block([("PID", "0xBEEF"), ("BMV", "Lynx Shunt"), ("FWE", "0419FF")])
    assert identify(described) == ("ved", "Lynx Shunt", "4.19", None, 0.95)
    unknown = block([("PID", "0xBEEF"), ("FW", "C208"), ("V", "12800")])
    assert identify(unknown) == ("ved", "Unknown (0xBEEF)", "C208", None, 0.95)
    nothing = block([("V", "12800"), ("I", "0")])
    assert identify(nothing) == ("ved", None, None, None, 0.9)
    # A main block without identity was heard whole: no need to listen again.
    assert detect(lambda _: nothing).evidence == ("QPI with CRC: vedirect",)


def test_identity_missing_when_no_main_block_is_ever_heard() -> None:
    """Fragments or history only: VE.Direct all the same, no identity, after listening again."""
    for heard in (b"\r\nPID\t0xA389\r\nV\t53509\r\nI\t23866", HISTORY_BLOCK):
        found = detect(lambda _, heard=heard: heard)
        assert (found.protocol, found.model, found.confidence) == ("ved", None, 0.9)
        assert found.evidence == ("QPI with CRC: vedirect", "VE.Direct status: vedirect")


# -- where a status ends (sans-IO) ----------------------------------------------------------------

HISTORY_BLOCK = block([("H1", "-1000"), ("H2", "0")])
MAIN_BLOCK = block([("PID", "0xA389"), ("V", "53000"), ("SOC", "620")])


def test_vedstatus_ends_at_the_first_whole_main_block() -> None:
    """History alone is not a status; the main block after it ends the answer."""
    stream = MAIN_BLOCK[30:] + HISTORY_BLOCK + MAIN_BLOCK + HISTORY_BLOCK
    end = len(stream) - len(HISTORY_BLOCK)
    assert VED.answer_length("vedstatus", stream[: end - 1]) is None
    assert VED.answer_length("vedstatus", stream) == end
    status = VED.decode("vedstatus", stream[:end])
    assert status["state_of_charge"] == 62.0 and status["depth_of_the_deepest_discharge"] == -1.0
    # The plain text command ends at the first verified block, whatever it is.
    assert VED.answer_length("vedtext", stream) == len(MAIN_BLOCK) - 30 + len(HISTORY_BLOCK)


def test_vedstatus_gives_up_without_a_main_block() -> None:
    """Only history blocks, or only damaged ones: the answer ends and decode says why."""
    histories = HISTORY_BLOCK * STATUS_ATTEMPTS
    assert VED.answer_length("vedstatus", histories[:-1]) is None
    assert VED.answer_length("vedstatus", histories) == len(histories)
    with pytest.raises(TruncatedFrameError, match="5 history blocks but no main block"):
        VED.decode("vedstatus", histories)
    with pytest.raises(TruncatedFrameError, match="1 history block but no main block"):
        VED.decode("vedstatus", HISTORY_BLOCK)
    broken = (MAIN_BLOCK[:-1] + b"\x00") * TEXT_ATTEMPTS
    assert VED.answer_length("vedstatus", broken) == len(broken)
    with pytest.raises(CRCError):
        VED.decode("vedstatus", broken)


def test_vedirect_poll_hooks() -> None:
    """A status poll sends vedstatus; text takes the unit's pace, HEX answers do not."""
    assert VED.status_request("vedtext", {}) == "vedstatus"
    assert VED.status_request("batteryCapacity", {}) == "batteryCapacity"
    assert VED.answer_time("vedtext") == 1.5
    assert VED.answer_time("vedstatus") == 2.5
    assert VED.answer_time("batteryCapacity") == 0.0
    assert VED.answer_time("noSuchCommand") == 0.0
