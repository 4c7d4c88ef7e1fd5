"""Where battery-monitor answers end: ``answer_length`` of the JK, Daly and VE.Direct framings.

A transport stops reading when ``answer_length`` says the answer is whole: these tests feed the
bytes a device sends — the simulators' answers and the reference's captured examples — and
check that the length is exactly the frame end, that nothing shorter completes, that noise, an
echo or records sent unasked before the answer are stepped over, and that ``decode`` of what
the transport then hands over reads the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.crc import crc16_modbus, sum8
from mppsolar_lib.errors import CRCError, FrameError, NAKError, UnknownCommandError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.jkble import request as jk_request
from mppsolar_lib.protocols.vedirect import TEXT_ATTEMPTS, hex_frame
from mppsolar_lib.simulator.daly import DalySimulator, frame as daly_frame
from mppsolar_lib.simulator.jk import (
    Jk232Simulator,
    Jk485Simulator,
    JkBleSimulator,
    JkPbSimulator,
    JkSerialSimulator,
    jbd,
)
from mppsolar_lib.simulator.vedirect import VeDirectSimulator, block

VECTORS = Path(__file__).parent / "vectors"
NOISE = b"\x00\x13\x37AT\r\n\xfe"
START = 1_750_000_000.0


def clock() -> float:
    """Return a fixed time, so the simulators answer the same on every run."""
    return START


def sim_answer(protocol: str, command: str) -> bytes:
    """Return what the protocol's simulator answers to ``command``."""
    simulators: dict[str, Any] = {
        "jk232": Jk232Simulator,
        "jk485": Jk485Simulator,
        "jkserial": JkSerialSimulator,
        "jkpb": JkPbSimulator,
        "daly": DalySimulator,
        "daly40": DalySimulator,
    }
    simulator = simulators.get(protocol, JkBleSimulator)(protocol, clock=clock, seed=3)
    answer = simulator.handle(get_protocol(protocol).build_request(command))
    assert answer is not None
    return bytes(answer)


def examples(protocol: str) -> list[tuple[str, bytes]]:
    """Return the reference's example answers of ``protocol`` (tests/vectors)."""
    found = []
    for line in (VECTORS / f"{protocol}.jsonl").read_text().splitlines():
        vector = json.loads(line)
        if vector["kind"] == "test_response":
            found.append((vector["command"], bytes.fromhex(vector["response_hex"])))
    return found


def length(protocol: str, command: str, buffer: bytes) -> int | None:
    """``answer_length`` of ``protocol``."""
    return get_protocol(protocol).answer_length(command, buffer)


def assert_ends_at(
    protocol: str, command: str, stream: bytes, end: int, early: int | None = None
) -> None:
    """Check that the answer in ``stream`` ends at ``end``, no sooner, also behind noise.

    ``early``: a prefix of that length is a whole answer too (a JK record before the "ready"
    frame that newer firmware appends to it: nothing says the frame will come).
    """
    assert length(protocol, command, stream) == end
    cuts = range(end) if end <= 400 else (*range(0, end, 7), end - 1)
    for cut in cuts:
        assert length(protocol, command, stream[:cut]) == (early if cut == early else None), cut
    assert length(protocol, command, NOISE + stream) == len(NOISE) + end
    proto = get_protocol(protocol)
    clean = proto.decode(command, stream[:end])
    noisy = proto.decode(command, NOISE + stream[:end])
    assert noisy.values_by_key == clean.values_by_key


# -- every command of every simulated device ----------------------------------------------------

JK_BLE_QUERIES = [
    (protocol, command)
    for protocol in ("jk02", "jk02_32", "jkv11", "jk04")
    for command in ("getInfo", "getSettings", "getCellData")
]


@pytest.mark.parametrize(("protocol", "command"), JK_BLE_QUERIES)
def test_jk_bluetooth_records(protocol: str, command: str) -> None:
    """A record of the type asked for, 320 bytes with the ready frame firmware 11 appends.

    ``0x96`` makes the BMS send its settings record and then cell data: getSettings ends after
    the first record, getCellData steps over it.
    """
    answer = sim_answer(protocol, command)
    newer = protocol in ("jk02_32", "jkv11")
    record = 320 if newer else 300
    end = 2 * record if command == "getCellData" else record
    assert_ends_at(protocol, command, answer, end, end - 20 if newer else None)
    assert get_protocol(protocol).decode(command, answer[:end])["header"] == "55aaeb90"


@pytest.mark.parametrize("protocol", ["jk02", "jk02_32", "jkv11"])
@pytest.mark.parametrize(
    "command",
    ["setCellOVP3.60", "setChargingOff", "setDischargingOn", "setBalanceStart3.40"],
)
def test_jk_bluetooth_acknowledgements(protocol: str, command: str) -> None:
    """A setter's answer is the 20-byte ``c8`` frame, also behind streamed records and echoes."""
    answer = sim_answer(protocol, command)
    assert_ends_at(protocol, command, answer, 20)
    streamed = sim_answer(protocol, "getCellData")[-320:-20]  # a streamed record, alone
    echo = get_protocol(protocol).build_request(command)
    stream = streamed + echo + answer
    assert length(protocol, command, stream) == len(stream)
    assert get_protocol(protocol).decode(command, stream)["command_execution"] == "Successful"


def test_jk_bluetooth_ready_frame_reads_as_an_acknowledgement() -> None:
    """Newer firmware's "ready" frame after a record is the very frame that acknowledges."""
    record_and_ready = sim_answer("jk02_32", "getInfo")
    assert length("jk02_32", "setChargingOn", record_and_ready) == 320
    result = get_protocol("jk02_32").decode("setChargingOn", record_and_ready)
    assert result["command_execution"] == "Successful"


def test_jk_bluetooth_refusal_is_complete_and_decodes_as_nak() -> None:
    """Status 0 in the acknowledgement: the answer is whole, and it says no."""
    refusal = jk_request(0xC8, 0, 1)
    assert length("jk02", "setCellOVP3.50", refusal) == 20
    with pytest.raises(NAKError):
        get_protocol("jk02").decode("setCellOVP3.50", refusal)


def test_jk_bluetooth_record_lengths() -> None:
    """300 bytes, or 320: a ready frame after the record, or the sum at the very end."""
    record = sim_answer("jk02", "getInfo")
    ready = jk_request(0xC8, 1, 1)
    # A record alone is whole; the first bytes of a ready frame make it wait for the rest.
    assert length("jk02", "getInfo", record) == 300
    assert length("jk02", "getInfo", record + ready[:2]) is None
    assert length("jk02", "getInfo", record + ready) == 320
    assert length("jk02", "getInfo", record + b"\x01") == 300
    # The sum at byte 320 instead of 300.
    long = bytearray(record[:299] + bytes(21))
    long[299] ^= 0x55  # no valid sum at 300 …
    long[319] = sum8(bytes(long[:319]))  # … but one at 320
    assert length("jk02", "getInfo", bytes(long[:300])) is None
    assert length("jk02", "getInfo", bytes(long)) == 320


def test_jk_bluetooth_damaged_frames() -> None:
    """A damaged record of the wanted type ends the answer (decode says so); others are noise."""
    settings_record = sim_answer("jk02", "getSettings")[:300]
    cells = sim_answer("jk02", "getCellData")[300:]
    damaged = bytearray(cells)
    damaged[100] ^= 0xFF
    assert length("jk02", "getCellData", bytes(damaged) + bytes(20)) == 300
    with pytest.raises(CRCError):
        get_protocol("jk02").decode("getCellData", bytes(damaged) + bytes(20))
    bad_settings = bytearray(settings_record)
    bad_settings[50] ^= 0xFF
    stream = bytes(bad_settings) + bytes(20) + cells
    assert length("jk02", "getCellData", stream) == len(stream)
    assert get_protocol("jk02").decode("getCellData", stream)["record_type"] == "02"
    # A header in request framing whose sum fails is no frame: the search goes on.
    fake = bytes.fromhex("aa5590eb") + bytes(16)
    assert length("jk02", "setChargingOn", fake + jk_request(0xC8, 1, 1)) == 40


@pytest.mark.parametrize(
    ("protocol", "command", "size"),
    [
        ("jk232", "getBalancerData", 7 + 23 + 4),
        ("jk232", "getCellVoltages", 7 + 32),
        ("jk232", "getDeviceName", 7 + 15),
        ("jk485", "getBalancerData", 74),
        ("jkpb", "getBalancerData", 308),
        ("jkpb", "getAdditionalInfo", 308),
        ("jkpb", "getCellData", 308),
    ],
)
def test_jk_wired_answers(protocol: str, command: str, size: int) -> None:
    """JBD ``DD … 77`` is 7 + its length byte, the balancer 74, JK-PB record + Modbus reply."""
    answer = sim_answer(protocol, command)
    assert len(answer) == size
    assert_ends_at(protocol, command, answer, size)
    echo = get_protocol(protocol).build_request(command)
    assert length(protocol, command, echo + answer) == len(echo) + size


def test_jkserial_answer() -> None:
    """``NW`` + length field + 2; the request echoed first is stepped over."""
    answer = sim_answer("jkserial", "getBalancerData")
    assert_ends_at("jkserial", "getBalancerData", answer, len(answer))
    echo = get_protocol("jkserial").build_request("getBalancerData")
    assert length("jkserial", "getBalancerData", echo + answer) == len(echo) + len(answer)
    # "NW" with a length too short for any frame is not a frame.
    assert length("jkserial", "getBalancerData", b"NW\x00\x01" + answer) == 4 + len(answer)
    assert length("jkserial", "getBalancerData", b"NW\x00") is None


def test_jk232_refusal_is_complete_and_decodes_as_nak() -> None:
    """Status 80 with no data: 7 bytes, and decode reports the refusal."""
    refusal = jbd(0x03, b"", 0x80)
    assert length("jk232", "getBalancerData", refusal) == 7
    with pytest.raises(NAKError):
        get_protocol("jk232").decode("getBalancerData", refusal)


def test_jk485_header_with_another_function_is_not_the_answer() -> None:
    """``EB 90`` followed by anything but function FF is searched past."""
    answer = sim_answer("jk485", "getBalancerData")
    stream = b"\xeb\x90\x01\x00" + answer
    assert length("jk485", "getBalancerData", stream) == len(stream)


def test_jkpb_waits_for_the_modbus_response() -> None:
    """A bare record waits (the response usually follows); another byte after it ends it."""
    answer = sim_answer("jkpb", "getCellData")
    assert length("jkpb", "getCellData", answer[:300]) is None
    assert length("jkpb", "getCellData", answer[:302]) is None
    assert length("jkpb", "getCellData", answer[:300] + b"\x55") == 300
    assert length("jkpb", "getCellData", answer[:300] + b"\x01\x03") == 300


# -- Daly ---------------------------------------------------------------------------------------

DALY_SINGLE = [
    "SOC",
    "cellMinMaxVoltages",
    "cellMinMaxTemps",
    "mosStatus",
    "status",
    "cellBalanceState",
    "cellBalanceState16",
    "failureCodes",
    "setChargeMos0",
    "setDischargeMos1",
    "setSOC80.5",
]


@pytest.mark.parametrize("protocol", ["daly", "daly40"])
@pytest.mark.parametrize("command", DALY_SINGLE)
def test_daly_single_frames(protocol: str, command: str) -> None:
    """One 13-byte frame; the echoed request (with its LF) before it is skipped."""
    answer = sim_answer(protocol, command)
    assert_ends_at(protocol, command, answer, 13)
    echo = get_protocol(protocol).build_request(command)
    assert length(protocol, command, echo + answer) == len(echo) + 13
    assert get_protocol(protocol).decode(command, echo + answer).values_by_key


@pytest.mark.parametrize(
    ("command", "frames"),
    [
        ("cellVoltages16", 6),
        ("cellVoltages15", 5),
        ("cellVoltages1", 1),
        ("cellVoltages", 6),  # frame 6 holds cell 16 and padding
        ("cellTemperatures2", 1),
        ("cellTemperatures", 1),  # sensor 3's place is padding
    ],
)
def test_daly_multi_frame_answers(command: str, frames: int) -> None:
    """Counted: the frames the count needs. Plain: up to the first frame ending in padding."""
    answer = sim_answer("daly", command)
    assert_ends_at("daly", command, answer, 13 * frames)


def voltage_frames(millivolts: list[int], frames: int, data_id: int = 0x95) -> bytes:
    """Build ``frames`` numbered frames of 3 cell voltages each (zeros after the last)."""
    values = millivolts + [0] * (3 * frames - len(millivolts))
    return b"".join(
        daly_frame(
            data_id,
            bytes((n + 1,)) + b"".join(v.to_bytes(2, "big") for v in values[3 * n : 3 * n + 3]),
        )
        for n in range(frames)
    )


def test_daly_plain_cell_voltages_rules() -> None:
    """Padding ends it; a full last frame with nothing after waits; 16 frames end it."""
    fifteen = voltage_frames([3300] * 15, 16)
    # Frame 5 is full, frame 6 is all padding.
    assert length("daly", "cellVoltages", fifteen) == 6 * 13
    # A BMS that stops after frame 5: the answer never completes (the transport times out).
    assert length("daly", "cellVoltages", fifteen[: 5 * 13]) is None
    full = voltage_frames([3300] * 48, 16)
    assert length("daly", "cellVoltages", full) == 16 * 13
    assert length("daly", "cellVoltages", full[:-1]) is None


def test_daly_stale_and_broken_runs() -> None:
    """Frames before frame 1 (an earlier answer's tail) are skipped; a broken run ends it."""
    frames = voltage_frames([3300] * 16, 16)
    stale = frames[7 * 13 :]
    assert length("daly", "cellVoltages16", stale + frames) == len(stale) + 6 * 13
    result = get_protocol("daly").decode("cellVoltages16", stale + frames[: 6 * 13])
    assert result["cell_16_voltage"] == 3.3
    soc = daly_frame(0x90, bytes(8))
    broken = frames[:26] + soc
    assert length("daly", "cellVoltages16", broken) == 26
    with pytest.raises(FrameError):
        get_protocol("daly").decode("cellVoltages16", broken[:26])
    # A frame for another data id before a single-frame answer is skipped.
    assert length("daly", "SOC", frames[:13] + soc) == 26
    assert get_protocol("daly").decode("SOC", frames[:13] + soc)["soc"] == 0.0


# -- VE.Direct ----------------------------------------------------------------------------------


def ved() -> VeDirectSimulator:
    """Return a SmartShunt on the fixed clock, without asynchronous HEX frames."""
    return VeDirectSimulator(clock=clock, seed=3, async_updates=False)


def test_vedtext_ends_after_the_first_verified_block() -> None:
    """One whole block ending with its Checksum line and byte."""
    text = ved().unsolicited()
    assert_ends_at("ved", "vedtext", text, len(text))


def test_vedtext_skips_the_block_a_capture_cuts() -> None:
    """A capture that starts mid-block ends after the next whole block."""
    simulator = ved()
    first, second = simulator.unsolicited(), simulator.unsolicited()
    stream = first[40:] + second
    assert length("ved", "vedtext", stream) == len(stream)
    result = get_protocol("ved").decode("vedtext", stream)
    assert "depth_of_the_deepest_discharge" in result  # the history block, read whole
    assert "product_id" not in result  # the cut main block is dropped


def test_vedtext_with_hex_frames_inside() -> None:
    """An asynchronous HEX frame in the middle of a line is not part of the block's checksum."""
    text = VeDirectSimulator(clock=clock, seed=3).unsolicited()
    assert b":A" in text
    assert length("ved", "vedtext", text) == len(text)
    assert get_protocol("ved").decode("vedtext", text)["state_of_charge"] == 62.0


def test_vedtext_gives_up_on_blocks_that_never_verify() -> None:
    """After a few block ends none of which verified, decode reports the checksum error."""
    broken = block([("V", "12000"), ("I", "0")])[:-1] + b"\x00"
    stream = broken * TEXT_ATTEMPTS
    assert length("ved", "vedtext", stream[:-1]) is None
    assert length("ved", "vedtext", b"\r\nV\t1\r\nChecksum\t") is None  # no check byte yet
    assert length("ved", "vedtext", stream) == len(stream)
    with pytest.raises(CRCError):
        get_protocol("ved").decode("vedtext", stream)


@pytest.mark.parametrize(
    "command",
    ["batteryCapacity", "stateOfCharge", "timeToGo", "consumedAh", "setDischargeFloor20.0"],
)
def test_ved_hex_answer_inside_the_text_stream(command: str) -> None:
    """A HEX answer interleaved with text blocks ends at its line feed; decode finds it."""
    simulator = ved()
    answer = simulator.handle(get_protocol("ved").build_request(command))
    assert answer is not None
    text = simulator.unsolicited()
    unrelated = hex_frame(0xA, (0x0FFF).to_bytes(2, "little") + b"\x00\x10\x27")
    stream = text[:30] + unrelated + text[30:60] + answer + text[60:]
    end = 60 + len(unrelated) + len(answer)
    assert length("ved", command, stream) == end
    assert all(length("ved", command, stream[:cut]) is None for cut in range(end))
    assert get_protocol("ved").decode(command, stream[:end])["command_response_flag"] == "OK"


def test_ved_hex_refusals_end_the_answer() -> None:
    """Unknown command (``:3``) and frame error (``:4``) answers are whole answers too."""
    for nibble, error in ((3, NAKError), (4, FrameError)):
        frame = hex_frame(nibble, b"\xaa\xaa" if nibble == 4 else b"")
        assert length("ved", "batteryCapacity", frame) == len(frame)
        with pytest.raises(error):
            get_protocol("ved").decode("batteryCapacity", frame)
    damaged = b":7001000C8002F\n"  # check byte wrong
    good = ved().handle(get_protocol("ved").build_request("batteryCapacity"))
    assert good is not None
    assert length("ved", "batteryCapacity", damaged + good) == len(damaged) + len(good)


# -- the reference's examples -------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol", ["jk02", "jk02_32", "jk04", "jk232", "jk485", "jkpb", "daly", "daly40"]
)
def test_reference_examples_end_where_they_decode(protocol: str) -> None:
    """Every captured example that decodes is complete at its end (or at an earlier frame end)."""
    proto = get_protocol(protocol)
    checked = 0
    for command, answer in examples(protocol):
        try:
            expected = proto.decode(command, answer)
        except (FrameError, UnknownCommandError):
            continue  # examples the reference kept although they are broken
        end = proto.answer_length(command, answer)
        assert end is not None, (command, answer.hex())
        values = proto.decode(command, answer[:end]).values_by_key
        if end == len(answer):
            assert values == expected.values_by_key
        else:  # Daly captures with padding frames after the answer's end
            assert end < len(answer)
            shared = values.keys() & expected.values_by_key.keys()
            assert {k: values[k] for k in shared} == {k: expected[k] for k in shared}
        checked += 1
    assert checked


def test_reference_daly_captures() -> None:
    """The reference's captures complete at the frame holding padding.

    16 cells in 16 frames: frame 6 (cell 16, then padding); 8 cells, a capture the reference
    cut in frame 11: frame 3 (cells 7 and 8, then padding).
    """
    sixteen, eight = [answer for command, answer in examples("daly") if command == "cellVoltages"]
    assert len(sixteen) == 16 * 13
    assert length("daly", "cellVoltages", sixteen) == 6 * 13
    assert length("daly", "cellVoltages", eight) == 3 * 13
    assert get_protocol("daly").decode("cellVoltages", eight[:39])["cell_count"] == 8


# -- robustness ---------------------------------------------------------------------------------

ALL_COMMANDS = [
    ("jk02", "getCellData"),
    ("jk02", "setChargingOn"),
    ("jk04", "getSettings"),
    ("jk232", "getBalancerData"),
    ("jk485", "getBalancerData"),
    ("jkserial", "getBalancerData"),
    ("jkpb", "getCellData"),
    ("daly", "SOC"),
    ("daly", "cellVoltages"),
    ("daly", "cellVoltages16"),
    ("ved", "vedtext"),
    ("ved", "batteryCapacity"),
]


@pytest.mark.parametrize(("protocol", "command"), ALL_COMMANDS)
@settings(max_examples=150)
@given(data=st.binary(max_size=700))
def test_never_raises_and_stays_within_the_buffer(protocol: str, command: str, data: bytes) -> None:
    """Any bytes: a length within the buffer, or None; never an exception."""
    end = length(protocol, command, data)
    assert end is None or 0 < end <= len(data)


@pytest.mark.parametrize(("protocol", "command"), ALL_COMMANDS)
@settings(max_examples=60)
@given(data=st.data())
def test_never_raises_around_real_answers(protocol: str, command: str, data: Any) -> None:
    """Real answers cut, flipped or surrounded by random bytes: no exception either."""
    if protocol == "ved":
        answer = ved().handle(get_protocol("ved").build_request(command)) or ved().unsolicited()
    else:
        answer = sim_answer(protocol, command)
    before = data.draw(st.binary(max_size=30))
    cut = data.draw(st.integers(0, len(answer)))
    flip = data.draw(st.integers(0, len(answer) - 1))
    damaged = bytearray(answer[:cut] + answer[cut:])
    damaged[flip] ^= data.draw(st.integers(1, 255))
    for stream in (before + answer[:cut], before + bytes(damaged)):
        end = length(protocol, command, stream)
        assert end is None or 0 < end <= len(stream)


def test_unknown_commands_hand_over_everything() -> None:
    """A command the protocol does not know: the whole buffer, for decode's clear error."""
    for protocol in ("jk02", "jk232", "daly", "ved"):
        assert length(protocol, "QPIGS", b"abc") == 3
        assert length(protocol, "QPIGS", b"") is None
        with pytest.raises(UnknownCommandError):
            get_protocol(protocol).decode("QPIGS", b"abc")


def test_modbus_exception_is_not_a_jkpb_answer() -> None:
    """The JK-PB's Modbus exception carries no record: nothing completes on it alone."""
    exception = b"\x01\x90\x02"
    exception += crc16_modbus(exception).to_bytes(2, "little")
    assert length("jkpb", "getCellData", exception) is None
