"""Victron VE.Direct: the text-mode stream parser, label decoding, HEX registers and settings.

Text blocks and HEX frames are built here with checksums computed independently of the library
(the rules of Victron's "VE.Direct Protocol": a text block's bytes add up to 0 modulo 256, a HEX
frame's nibble, bytes and check byte to 0x55).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mppsolar_lib.errors import (
    CRCError,
    FrameError,
    InvalidParameterError,
    NAKError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols import Kind, SettingKind, get_protocol
from mppsolar_lib.protocols.vedirect import (
    LABELS,
    MAX_LINE,
    MAX_RECORDS,
    TextBlock,
    VeDirect,
    VeDirectTextParser,
    hex_frame,
    parse_hex_frame,
)

PROTO = get_protocol("ved")
VECTORS = Path(__file__).parent / "vectors" / "ved.jsonl"


def text_block(*records: tuple[str, str]) -> bytes:
    """Build a text block: CR LF label TAB value per record, then the Checksum line and byte."""
    body = b"".join(b"\r\n" + label.encode() + b"\t" + value.encode() for label, value in records)
    body += b"\r\nChecksum\t"
    return body + bytes(((256 - sum(body) % 256) % 256,))


def hex_request(nibble: int, payload: bytes) -> bytes:
    """Build a HEX frame: ':' + nibble + payload + check as upper-case hex + LF."""
    check = (0x55 - nibble - sum(payload)) % 256
    return (
        b":" + f"{nibble:X}".encode() + (payload + bytes((check,))).hex().upper().encode() + b"\n"
    )


def reference(command: str, index: int) -> dict[str, object]:
    """Return the reference's record for one example of ``command``."""
    for line in VECTORS.read_text().splitlines():
        vector: dict[str, object] = json.loads(line)
        if vector["command"] == command and vector.get("response_index") == index:
            return vector
    raise KeyError(command)


def frame_of(command: str, index: int) -> bytes:
    """Return the example answer ``index`` of ``command`` from the vectors."""
    return bytes.fromhex(str(reference(command, index)["response_hex"]))


# An MPPT main block and a SmartShunt pair, shaped like the examples of Victron's document.
MPPT = (
    ("PID", "0xA053"),
    ("FW", "159"),
    ("SER#", "HQ1328A1B2C"),
    ("V", "13110"),
    ("I", "-380"),
    ("VPV", "18050"),
    ("PPV", "0"),
    ("CS", "3"),
    ("MPPT", "2"),
    ("OR", "0x00000001"),
    ("ERR", "0"),
    ("LOAD", "ON"),
    ("IL", "400"),
    ("H19", "1134"),
    ("H20", "3"),
    ("H21", "42"),
    ("H22", "12"),
    ("H23", "77"),
    ("HSDS", "8"),
)


# -- text mode: decoding -----------------------------------------------------------------------


def test_smartshunt_capture_decodes_with_units() -> None:
    """The reference's first capture: both blocks verify; values scaled to V, A, Ah, %, kWh."""
    result = PROTO.decode("vedtext", frame_of("vedtext", 0))
    assert result["main_or_channel_1_battery_voltage"] == 12.865
    assert result["auxiliary_starter_voltage"] == -0.014
    assert result["state_of_charge"] == 100.0
    assert result["time_to_go"] == -1
    assert result["consumed_amp_hours"] == 0
    assert result["depth_of_the_deepest_discharge"] == -32.914
    assert result["amount_of_charged_energy"] == 0.48
    assert result["minimum_auxiliary_battery_voltage"] == -0.022
    assert result["number_of_charge_cycles"] == 0
    assert result["alarm_condition_active"] == "OFF"
    assert result["product_id"] == "0xA389"
    assert result["product_name"] == "SmartShunt 500A/50mV"
    assert result["model_description"] == "SmartShunt 500A/50mV"
    assert result["firmware_version_16_bit"] == "0405"
    assert result["alarm_reason"] == 0
    assert result["low_voltage_alarm"] is False
    fields = result.fields
    assert (fields["main_or_channel_1_battery_voltage"].unit, fields["state_of_charge"].unit) == (
        "V",
        "%",
    )
    assert fields["state_of_charge"].hints.device_class == "battery"
    assert fields["amount_of_charged_energy"].unit == "kWh"
    assert fields["amount_of_charged_energy"].hints.state_class == "total_increasing"
    assert fields["number_of_seconds_since_last_full_charge"].unit == "s"
    assert fields["low_voltage_alarm"].hints.device_class == "problem"


@pytest.mark.parametrize("index", [1, 2])
def test_captures_starting_mid_stream_still_verify(index: int) -> None:
    """Captures cut just before a block (junk, or only the LF left) keep that whole block."""
    result = PROTO.decode("vedtext", frame_of("vedtext", index))
    assert result["depth_of_the_deepest_discharge"] == -32.914
    assert result["main_or_channel_1_battery_voltage"] == 12.868


def test_capture_ending_mid_block_reports_only_verified_blocks() -> None:
    """The fourth capture: a partial first block (dropped), a whole block, an unfinished one.

    The unfinished history block has no Checksum line yet, so nothing vouches for it.
    """
    result = PROTO.decode("vedtext", frame_of("vedtext", 3))
    assert result["main_or_channel_1_battery_current"] == 23.866
    assert result["instantaneous_power"] == 1277
    assert result["consumed_amp_hours"] == -131.099
    assert result["state_of_charge"] == 54.8
    assert result["dc_monitor_mode"] == "Battery monitor (BMV)"
    assert "depth_of_the_deepest_discharge" not in result
    assert not any(key.startswith("unknown") for key in result)


def test_mppt_block_enumerations_and_bits() -> None:
    """State, tracker mode, error and off-reason bits become labels and booleans."""
    result = PROTO.decode("vedtext", text_block(*MPPT))
    assert result["product_name"] == "SmartSolar MPPT 75/15"
    assert result["state_of_operation"] == "Bulk"
    assert result["tracker_operation_mode"] == "MPP Tracker active"
    assert result["error_code"] == "No error"
    assert result["off_reason"] == 1
    assert result["off_reason_no_input_power"] is True
    assert result["off_reason_remote_input"] is False
    assert result["main_or_channel_1_battery_current"] == -0.38
    assert result["panel_voltage"] == 18.05
    assert result["load_current"] == 0.4
    assert result["load_output_state_on_off"] == "ON"
    assert result["yield_total_user_resettable_counter"] == 11.34
    assert result["yield_yesterday"] == 0.12
    assert result["maximum_power_yesterday"] == 77
    assert result["day_sequence_number_0_364"] == 8
    assert result["serial_number"] == "HQ1328A1B2C"


@pytest.mark.parametrize(
    ("record", "key", "value"),
    [
        (("CS", "99"), "state_of_operation", "Unknown (99)"),
        (("CS", "245"), "state_of_operation", "Starting-up"),
        (("ERR", "38"), "error_code", "Input shutdown (due to excessive battery voltage)"),
        (("MODE", "2"), "device_mode", "Inverter"),
        (("MON", "-9"), "dc_monitor_mode", "Solar charger"),
        (("PID", "0xFFFF"), "product_name", "Unknown (0xFFFF)"),
        (("PID", "BMV"), "product_name", "Unknown (BMV)"),
        (("PID", "0x203"), "product_name", "BMV-700"),
        (("PID", "0xA07F"), "product_name", "All-In-1 SmartSolar MPPT 75/15 12V"),
        (("DM", "-12"), "mid_point_deviation_of_the_battery_bank", -1.2),
        (("AC_OUT_V", "23002"), "ac_output_voltage", 230.02),
        (("AC_OUT_I", "13"), "ac_output_current", 1.3),
        (("DC_IN_V", "1289"), "dc_input_voltage", 12.89),
        (("T", "21"), "battery_temperature", 21),
        (("XYZ", "7"), "unknown_xyz", "7"),
        (("#", "7"), "unknown_23", "7"),
    ],
)
def test_label_values(record: tuple[str, str], key: str, value: object) -> None:
    """Enumerations, product names, scaling and unknown labels (kept visibly, as sent)."""
    assert PROTO.decode("vedtext", text_block(record))[key] == value


def test_alarm_and_warning_bits() -> None:
    """AR and WARN keep the mask and give one problem boolean per documented bit."""
    result = PROTO.decode("vedtext", text_block(("AR", "5"), ("WARN", "8192")))
    assert result["alarm_reason"] == 5
    assert result["low_voltage_alarm"] is True
    assert result["low_soc_alarm"] is True
    assert result["high_voltage_alarm"] is False
    assert result["warning_reason"] == 8192
    assert result["bms_lockout_warning"] is True
    assert result.fields["bms_lockout_warning"].hints.device_class == "problem"


def test_placeholders_and_bad_numbers() -> None:
    """A placeholder gives no field; a number that is not one makes the block unreadable."""
    result = PROTO.decode("vedtext", text_block(("V", "---"), ("AR", "---"), ("I", "5")))
    assert "main_or_channel_1_battery_voltage" not in result
    assert "alarm_reason" not in result
    with pytest.raises(FrameError, match="battery voltage"):
        PROTO.decode("vedtext", text_block(("V", "12.8")))
    with pytest.raises(FrameError, match="Alarm reason"):
        PROTO.decode("vedtext", text_block(("AR", "0xZZ")))


def test_later_blocks_win() -> None:
    """Two readings in one chunk: the newer value is reported."""
    chunk = text_block(("V", "12000")) + text_block(("V", "12500"))
    assert PROTO.decode("vedtext", chunk)["main_or_channel_1_battery_voltage"] == 12.5


def test_bad_checksum_and_no_block() -> None:
    """A damaged block raises CRCError; a chunk without a whole block TruncatedFrameError."""
    damaged = bytearray(text_block(*MPPT))
    damaged[12] ^= 0x01
    with pytest.raises(CRCError, match="checksum"):
        PROTO.decode("vedtext", bytes(damaged))
    with pytest.raises(TruncatedFrameError):
        PROTO.decode("vedtext", text_block(*MPPT)[:-1])
    with pytest.raises(TruncatedFrameError):
        PROTO.decode("vedtext", b"")
    # Only the end of a block (its Checksum line) without any record of it.
    with pytest.raises(FrameError, match="partial block") as caught:
        PROTO.decode("vedtext", b"\r\nChecksum\t\x55\r\n")
    assert not isinstance(caught.value, CRCError | TruncatedFrameError)


def test_every_label_has_a_unique_key() -> None:
    """No two labels (or their bit fields) share a key."""
    keys = [info.key for spec in LABELS.values() for info in spec.info()]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(PROTO.commands["vedtext"].info)


# -- text mode: the streaming parser -----------------------------------------------------------


def test_blocks_spanning_reads_are_reassembled_byte_by_byte() -> None:
    """Fed one byte at a time, the parser returns each block when its checksum byte arrives."""
    stream = text_block(*MPPT) + text_block(("V", "12800"), ("I", "0"))
    parser = VeDirectTextParser()
    got: list[TextBlock] = []
    arrivals = []
    for index in range(len(stream)):
        blocks = parser.feed(stream[index : index + 1])
        if blocks:
            arrivals.append(index)
        got += blocks
    assert got == [TextBlock(MPPT), TextBlock((("V", "12800"), ("I", "0")))]
    assert arrivals == [len(text_block(*MPPT)) - 1, len(stream) - 1]
    assert got[0].as_dict()["PID"] == "0xA053"
    assert parser.bad_blocks == 0


def test_partial_first_block_is_dropped_until_a_boundary() -> None:
    """A capture starting inside a block drops that block and keeps the next one."""
    stream = text_block(*MPPT)[30:] + text_block(("V", "12800"))
    parser = VeDirectTextParser()
    assert parser.feed(stream) == [TextBlock((("V", "12800"),))]
    assert parser.bad_blocks == 1
    assert parser.checksum_errors == 1


@pytest.mark.parametrize("wanted", [b":", b"\n", b"\r", b"\t", b"\x00"])
def test_checksum_byte_may_be_any_byte(wanted: bytes) -> None:
    """The checksum byte is taken as is, even a colon, a line feed or a tab."""
    # Raising a filler character by d raises the block's sum by d and lowers the check by d.
    have = text_block(("V", "12800"), ("SER#", "AAAAA"))[-1]
    raise_by = (have - wanted[0]) % 256
    codes = []
    for _ in range(5):
        step = min(57, raise_by)  # stay within A..z
        codes.append(0x41 + step)
        raise_by -= step
    filler = bytes(codes).decode()
    block = text_block(("V", "12800"), ("SER#", filler))
    assert block[-1:] == wanted
    parser = VeDirectTextParser()
    assert parser.feed(block + text_block(("I", "1"))) == [
        TextBlock((("V", "12800"), ("SER#", filler))),
        TextBlock((("I", "1"),)),
    ]


def test_hex_frames_inside_text_are_taken_out_and_handed_back() -> None:
    """Asynchronous HEX frames, even mid-label or mid-value, are not part of the text."""
    update = hex_request(0xA, bytes.fromhex("8DED00E204"))
    block = text_block(("V", "12800"), ("I", "-250"))
    cut = block.index(b"800")
    # Before the block, between the label V and its tab, and inside the value 12800.
    stream = update + block[:3] + update + block[3:cut] + update + block[cut:]
    parser = VeDirectTextParser()
    assert parser.feed(stream) == [TextBlock((("V", "12800"), ("I", "-250")))]
    assert parser.take_hex_frames() == [update, update, update]
    assert parser.take_hex_frames() == []


def test_hex_frame_split_across_reads() -> None:
    """A HEX frame cut by a read boundary is completed by the next read."""
    update = hex_request(0xA, bytes.fromhex("8DED00E204"))
    parser = VeDirectTextParser()
    assert parser.feed(b"\r\nV\t1" + update[:5]) == []
    assert parser.take_hex_frames() == []
    tail = update[5:] + b"\r\nChecksum\t"
    check = (256 - sum(b"\r\nV\t1\r\nChecksum\t") % 256) % 256
    assert parser.feed(tail + bytes((check,))) == [TextBlock((("V", "1"),))]
    assert parser.take_hex_frames() == [update]


def test_bad_and_broken_hex_frames_are_counted_not_kept() -> None:
    """A HEX frame with a wrong check byte, or interrupted by a non-hex byte, is dropped."""
    parser = VeDirectTextParser()
    bad = hex_request(0xA, b"\x01\x02\x00\x05")[:-3] + b"00\n"
    assert parser.feed(bad + b":12G\r\n" + text_block(("V", "1"))) == [TextBlock((("V", "1"),))]
    assert parser.take_hex_frames() == []
    assert parser.bad_hex_frames == 2


def test_overlong_hex_frame_is_abandoned() -> None:
    """Hex digits without end are not buffered forever."""
    parser = VeDirectTextParser()
    assert parser.feed(b":" + b"A" * 10_000) == []
    assert parser.bad_hex_frames == 1
    assert parser.feed(text_block(("V", "1"))) == [TextBlock((("V", "1"),))]


def test_noise_between_blocks_is_skipped() -> None:
    """Bytes that are not records, between blocks, do not spoil the next block."""
    stream = (
        b"\x00\xffnoise\r\n\n\rjunk" + text_block(("V", "1")) + b"zz\n" + text_block(("I", "2"))
    )
    assert VeDirectTextParser().feed(stream) == [
        TextBlock((("V", "1"),)),
        TextBlock((("I", "2"),)),
    ]


@pytest.mark.parametrize(
    "damage",
    [
        b"\r\nno tab here",  # a line without a tab
        b"\r\nb@d\tlabel",  # a label with a character labels never have
        b"\r\n" + b"L" * 40 + b"\tx",  # a label longer than any Victron label
        b"\r\nV\t" + b"9" * (MAX_LINE + 10),  # a value longer than any Victron value
    ],
)
def test_malformed_line_inside_a_block_drops_it(damage: bytes) -> None:
    """Damage after a block's first record spoils that block even if the sum happens to fit."""
    records = b"\r\nV\t12800" + damage
    body = records + b"\r\nChecksum\t"
    block = body + bytes(((256 - sum(body) % 256) % 256,))
    parser = VeDirectTextParser()
    assert parser.feed(block + text_block(("I", "1"))) == [TextBlock((("I", "1"),))]
    assert parser.bad_blocks == 1
    assert parser.checksum_errors == 0
    assert parser.last_error == "malformed line inside the block"


def test_block_with_too_many_records_is_dropped() -> None:
    """More records than any device sends in one block: garbage, dropped, memory bounded."""
    too_many = [("H1", str(n)) for n in range(MAX_RECORDS + 1)]
    parser = VeDirectTextParser()
    assert parser.feed(text_block(*too_many)) == []
    # Same through the byte-wise path.
    stream = text_block(*too_many)
    assert [b for i in range(len(stream)) for b in parser.feed(stream[i : i + 1])] == []
    assert parser.bad_blocks == 2
    assert parser.feed(text_block(("V", "1"))) == [TextBlock((("V", "1"),))]


def test_garbage_without_line_feeds_is_not_buffered() -> None:
    """A megabyte without a line feed is discarded as it comes; parsing then resumes."""
    parser = VeDirectTextParser()
    assert parser.feed(b"x" * 1_000_000) == []
    assert parser.feed(b"V\t" + b"1" * 1_000_000) == []
    assert parser.feed(b"\n" + text_block(("V", "1"))) == [TextBlock((("V", "1"),))]


def test_empty_line_inside_a_block_counts_in_its_sum() -> None:
    """An empty line between records is part of the block (the device counted it too)."""
    body = b"\r\nV\t1\r\n\r\nI\t2\r\nChecksum\t"
    block = body + bytes(((256 - sum(body) % 256) % 256,))
    assert VeDirectTextParser().feed(block) == [TextBlock((("V", "1"), ("I", "2")))]


def test_line_feed_without_carriage_return() -> None:
    """Records ended by LF alone are read; the checksum covers the bytes actually sent."""
    body = b"\nV\t1\nI\t2\nChecksum\t"
    # The CR LF before the first record is counted as a full separator, the others as sent.
    check = (256 - (sum(body) + 0x0D) % 256) % 256
    block = body + bytes((check,))
    expected = [TextBlock((("V", "1"), ("I", "2")))]
    assert VeDirectTextParser().feed(block) == expected
    parser = VeDirectTextParser()
    assert [b for i in range(len(block)) for b in parser.feed(block[i : i + 1])] == expected


# -- HEX mode ----------------------------------------------------------------------------------


def test_battery_capacity_request_is_what_the_reference_puts_on_the_wire() -> None:
    """Get 0x1000 (little-endian 00 10), flags 00, check 0x3E: ':70010003E' + LF."""
    request = PROTO.build_request("batteryCapacity")
    assert request == hex_request(0x7, bytes.fromhex("001000"))
    assert request.hex() == reference("batteryCapacity", 0)["request_hex"]
    assert request == b":70010003E\n"


def test_text_mode_sends_nothing() -> None:
    """The device streams text blocks unasked."""
    assert PROTO.build_request("vedtext") == b""


@pytest.mark.parametrize("index", [0, 1])
def test_battery_capacity_answer(index: int) -> None:
    """Reference examples (one with junk before the ':'): flag OK, 120 Ah."""
    result = PROTO.decode("batteryCapacity", frame_of("batteryCapacity", index))
    assert dict(result) == {"command_response_flag": "OK", "battery_capacity": 120}
    assert result.fields["battery_capacity"].unit == "Ah"


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        ("setBatteryCapacity200", "0010" + "00" + "C800"),
        ("setChargedVoltage14.4", "0110" + "00" + "9000"),
        ("setTailCurrent4.0", "0210" + "00" + "2800"),
        ("setPeukertCoefficient1.25", "0510" + "00" + "7D00"),
        ("setCurrentThreshold0.10", "0610" + "00" + "0A00"),
        ("setDischargeFloor50.0", "0810" + "00" + "F401"),
        ("SETBATTERYCAPACITY9999", "0010" + "00" + "0F27"),
    ],
)
def test_set_requests(command: str, payload: str) -> None:
    """Set = nibble 8, register id and value little-endian in the register's own unit."""
    assert PROTO.build_request(command) == hex_request(0x8, bytes.fromhex(payload))


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("setBatteryCapacity0", "out of range"),
        ("setBatteryCapacity10000", "out of range"),
        ("setChargedVoltage14.45", "not on the step"),
        ("setChargedVoltage-1", "not a number"),
        ("setChargedVoltage", "not a number"),
        ("setPeukertCoefficient1e0", "not a number"),
        ("setTailCurrent0.4", r"0\.5–10 % in steps of 0\.1"),
    ],
)
def test_invalid_set_values_are_refused_before_sending(command: str, hint: str) -> None:
    """Out of range, off the step or not a number: nothing is built; the message says why."""
    with pytest.raises(InvalidParameterError, match=hint):
        PROTO.build_request(command)


def test_answers_decode_in_the_register_units() -> None:
    """Scaled and signed registers; 'not available' gives no field."""
    cases = [
        ("chargedVoltage", "0110" + "00" + "9000", "charged_voltage", 14.4),
        ("peukertCoefficient", "0510" + "00" + "7D00", "peukert_coefficient", 1.25),
        ("stateOfCharge", "FF0F" + "00" + "FA26", "state_of_charge", 99.78),
        ("consumedAh", "FC0F" + "00" + "85FFFFFF", "consumed_ah", -12.3),
        ("timeToGo", "FE0F" + "00" + "F000", "time_to_go", 240),
    ]
    for command, payload, key, value in cases:
        result = PROTO.decode(command, hex_request(0x7, bytes.fromhex(payload)))
        assert result[key] == value, command
    result = PROTO.decode("timeToGo", hex_request(0x7, bytes.fromhex("FE0F00FFFF")))
    assert dict(result) == {"command_response_flag": "OK"}


def test_set_answer_echoes_the_new_value() -> None:
    """The device answers a set with the register's (new) value."""
    answer = hex_request(0x8, bytes.fromhex("001000C800"))
    assert PROTO.decode("setBatteryCapacity200", answer)["battery_capacity"] == 200


def test_answer_among_async_frames_and_text() -> None:
    """Asynchronous updates and answers for other registers are skipped; text around is fine."""
    chunk = (
        text_block(("V", "1"))
        + hex_request(0xA, bytes.fromhex("001000C800"))
        + hex_request(0x7, bytes.fromhex("011000900"[:-1] + "00"))
        + b"\r\n"
        + hex_request(0x7, bytes.fromhex("0010007800"))
    )
    assert PROTO.decode("batteryCapacity", chunk)["battery_capacity"] == 120


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (hex_request(0x7, bytes.fromhex("0010017800")), NAKError, "Unknown ID"),
        (hex_request(0x7, bytes.fromhex("0010060000")), NAKError, "Not supported, Parameter Error"),
        (hex_request(0x7, bytes.fromhex("0010800000")), NAKError, "flags 0x80"),
        (hex_request(0x4, bytes.fromhex("AAAA")), FrameError, "frame error"),
        (hex_request(0x3, bytes.fromhex("0700")), NAKError, "does not know"),
        (hex_request(0x7, bytes.fromhex("0010")), TruncatedFrameError, "without flags"),
        (hex_request(0x7, bytes.fromhex("00100078")), FrameError, "expected 2 value bytes"),
        (hex_request(0x7, bytes.fromhex("0110007800")), TruncatedFrameError, "no answer"),
        (b":70010007800C7\n", CRCError, "check byte"),
        (b":7001000780\n", FrameError, "partial byte"),
        (b"", TruncatedFrameError, "no answer"),
    ],
)
def test_hex_errors(answer: bytes, error: type[Exception], message: str) -> None:
    """Refusals, device frame errors, short or foreign answers and bad checks all raise."""
    with pytest.raises(error, match=message):
        PROTO.decode("batteryCapacity", answer)


def test_hex_frame_helpers_round_trip() -> None:
    """hex_frame builds what parse_hex_frame reads back; malformed frames are refused."""
    frame = hex_frame(0x8, bytes.fromhex("0010007800"))
    assert frame == hex_request(0x8, bytes.fromhex("0010007800"))
    assert parse_hex_frame(frame) == (0x8, bytes.fromhex("0010007800"))
    assert parse_hex_frame(b":154\n") == (0x1, b"")  # ping, as in Victron's document
    for bad in (b"70010003E\n", b":7001\n", b":7G\n", b":1\n"):
        with pytest.raises(FrameError):
            parse_hex_frame(bad)


# -- settings and command lists ----------------------------------------------------------------


def test_settings_model() -> None:
    """Each battery setting reads from its getter and writes through its setter, validated."""
    settings = PROTO.settings
    capacity = settings["battery_capacity"]
    assert (capacity.kind, capacity.read_command, capacity.read_field) == (
        SettingKind.NUMBER,
        "batteryCapacity",
        "battery_capacity",
    )
    assert (capacity.minimum, capacity.maximum, capacity.step, capacity.unit) == (1, 9999, 1, "Ah")
    assert capacity.safety is True
    assert capacity.encode(200) == "setBatteryCapacity200"
    assert settings["charged_voltage"].encode(14.4) == "setChargedVoltage14.4"
    assert settings["peukert_coefficient"].encode("1.25") == "setPeukertCoefficient1.25"
    assert settings["current_threshold"].safety is False
    with pytest.raises(InvalidParameterError):
        capacity.encode(0)
    for setting in settings.values():
        assert setting.read_command in PROTO.commands
        assert setting.read_field in PROTO.commands[setting.read_command].info
        # Every value the model allows at its bounds builds a request (model and command agree).
        for value in (setting.minimum, setting.maximum):
            assert PROTO.build_request(setting.encode(value)).startswith(b":8")
        command, _ = PROTO.resolve(setting.encode(setting.minimum))
        assert command.kind is Kind.SETTER
    answer = PROTO.decode("batteryCapacity", hex_request(0x7, bytes.fromhex("0010007800")))
    assert capacity.current(answer) == 120


def test_registered_with_poll_lists() -> None:
    """Registered under 'ved'; the poll lists name existing commands."""
    assert isinstance(PROTO, VeDirect)
    assert PROTO.status_commands == ("vedtext",)
    for name in (*PROTO.status_commands, *PROTO.settings_commands, *PROTO.id_commands):
        assert name in PROTO.commands
    assert set(PROTO.settings_commands) == {s.read_command for s in PROTO.settings.values()}


def test_text_spec_cannot_be_used_for_registers() -> None:
    """Register specs read bytes; handing them text is a table bug and says so."""
    register = PROTO.commands["batteryCapacity"].spec("battery_capacity")
    with pytest.raises(TypeError):
        register.decode("120", {})
