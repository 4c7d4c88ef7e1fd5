"""JK BMSs through the retrying Device: a record of another type is never returned as the answer.

JK records describe themselves (byte 4: 1 settings, 2 cell data, 3 device info), and jkpb's
``decode`` reads whichever record arrives — the reference's examples for two commands are
swapped, so decoding by the record is right. As the *answer to a command*, though, only that
command's record counts: ``JKPB.matches`` is what tells the Device. The Bluetooth protocols
check the record type in ``decode`` itself. The far end is the simulator, whose stale fault
answers a request with the previous request's answer (a late reply).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
import json
from pathlib import Path
from typing import TypeVar

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError, StaleReplyError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.faults import Faults
from mppsolar_lib.transports.simulated import SimulatedTransport

from .jk_frames import jk_record

T = TypeVar("T")

JKPB = get_protocol("jkpb")
#: The record type each command triggers (jkpb: register 161C/161E/1620).
RECORDS = {"getBalancerData": 3, "getAdditionalInfo": 1, "getCellData": 2}
LABELS = {1: "Settings", 2: "Cell data", 3: "Device info"}
VECTORS = [
    json.loads(line)
    for line in (Path(__file__).parent / "vectors" / "jkpb.jsonl").read_text().splitlines()
]
#: The reference's example answers, keyed by the command the reference filed them under.
EXAMPLES = {
    v["command"]: bytes.fromhex(v["response_hex"]) for v in VECTORS if v["kind"] == "test_response"
}


async def bounded(awaitable: Awaitable[T], seconds: float = 10) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


def faulty_device(protocol_id: str, faults: Faults, *, attempts: int = 3) -> Device:
    """Build a Device on an in-process simulator with ``faults``; short timeouts, no backoff."""
    return Device(
        SimulatedTransport(create_simulator(protocol_id, seed=1), faults),
        protocol_id,
        attempts=attempts,
        timeout=0.05,
        backoff=0,
        settle=0.001,
    )


# -- JKPB.matches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("filed_under", sorted(EXAMPLES))
def test_an_example_matches_only_the_command_that_triggers_its_record(filed_under: str) -> None:
    """The reference files two examples under each other's command: their records decide."""
    frame = EXAMPLES[filed_under]
    owner = next(command for command, record in RECORDS.items() if record == frame[4])
    assert [command for command in RECORDS if JKPB.matches(command, frame)] == [owner]
    # decode still reads the record whatever it was filed under, and says what came back
    assert JKPB.decode(filed_under, frame)["record_type"] == LABELS[frame[4]]


def test_the_swapped_examples_are_not_answers_to_the_commands_they_were_filed_under() -> None:
    """The example filed as getAdditionalInfo is cell data, the getCellData one settings."""
    assert not JKPB.matches("getAdditionalInfo", EXAMPLES["getAdditionalInfo"])
    assert not JKPB.matches("getCellData", EXAMPLES["getCellData"])
    assert JKPB.matches("getCellData", EXAMPLES["getAdditionalInfo"])
    assert JKPB.matches("getAdditionalInfo", EXAMPLES["getCellData"])


def test_a_decoded_result_is_checked_without_decoding_again() -> None:
    """matches() takes the Result the Device already decoded."""
    result = JKPB.decode("getCellData", EXAMPLES["getAdditionalInfo"])
    assert JKPB.matches("getCellData", result)
    assert not JKPB.matches("getBalancerData", result)


def test_the_modbus_response_must_name_the_commands_register() -> None:
    """A cell-data record followed by the response to the settings trigger is not ours."""
    assert JKPB.matches("getCellData", jk_record(2, {}, register=0x1620))
    assert not JKPB.matches("getCellData", jk_record(2, {}, register=0x161E))


def test_a_bare_record_of_the_right_type_matches() -> None:
    """A unit that sends no Modbus response after the record: the record type decides."""
    assert JKPB.matches("getAdditionalInfo", jk_record(1, {}))
    assert not JKPB.matches("getBalancerData", jk_record(1, {}))


def test_what_does_not_decode_matches_nothing() -> None:
    """A damaged record (sum wrong) is no answer to anything."""
    frame = bytearray(jk_record(2, {}, register=0x1620))
    frame[299] ^= 0xFF
    assert not any(JKPB.matches(command, bytes(frame)) for command in RECORDS)


# -- through the Device ---------------------------------------------------------------------------


async def _poll(device: Device, commands: list[str], rounds: int) -> tuple[int, int, list[str]]:
    """Poll ``commands`` in turn; return answers, stale replies caught, and mislabelled ones."""
    answered = caught = 0
    wrong: list[str] = []
    protocol = device.protocol
    assert protocol is not None
    for _ in range(rounds):
        for command in commands:
            try:
                result = await bounded(device.command(command))
            except StaleReplyError:
                caught += 1
                continue
            except DeviceTimeoutError:
                continue  # the Bluetooth framing waits for its own record: a stale one is skipped
            answered += 1
            expected = protocol.commands[command].options["record"]
            if result.raw[4] != expected:
                wrong.append(f"{command}: a type {result.raw[4]} record")
    return answered, caught, wrong


async def test_jkpb_never_returns_a_stale_record_under_another_command() -> None:
    """With every other answer replaced by the previous one, each is recognised and refused."""
    device = faulty_device("jkpb", Faults(stale=0.5, seed=7), attempts=1)
    answered, caught, wrong = await _poll(device, list(RECORDS), 12)
    assert wrong == []
    assert caught > 5  # the fault did strike: those were refused, not returned
    assert answered > 5


async def test_jkpb_recovers_from_stale_records_within_the_retry_budget() -> None:
    """Retried, nearly every poll returns the command's own record, labelled as such."""
    device = faulty_device("jkpb", Faults(stale=0.25, seed=3))
    answered, _, wrong = await _poll(device, list(RECORDS), 12)
    assert wrong == []
    assert answered >= 12 * 3 * 0.8
    result = await bounded(device.command("getCellData"))
    assert result["record_type"] == "Cell data"


@pytest.mark.parametrize("protocol_id", ["jk02", "jk02_32", "jk04"])
async def test_jk_bluetooth_never_returns_a_stale_record_under_another_command(
    protocol_id: str,
) -> None:
    """The Bluetooth framing already looks for the command's own record type: nothing to add."""
    device = faulty_device(protocol_id, Faults(stale=0.5, seed=7), attempts=1)
    answered, _, wrong = await _poll(device, ["getInfo", "getCellData", "getSettings"], 8)
    assert wrong == []
    assert answered > 8
