"""Daly BMS (daly, daly40): requests, decoding as a user sees it, multi-frame checks, setters.

Frames are built here with an independent byte-sum; expected values come from the reference's
example frames (tests/vectors/daly.jsonl), from Daly's public protocol description, or from the
arithmetic of the documented layout.
"""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import (
    CRCError,
    EchoError,
    FrameError,
    InvalidParameterError,
    NAKError,
    TruncatedFrameError,
    UnknownCommandError,
)
from mppsolar_lib.protocols import Kind, Result, get_protocol, list_protocols
from mppsolar_lib.protocols.daly import counted_commands

DALY = get_protocol("daly")
DALY40 = get_protocol("daly40")

QUERY_IDS = {
    "SOC": 0x90,
    "cellMinMaxVoltages": 0x91,
    "cellMinMaxTemps": 0x92,
    "mosStatus": 0x93,
    "status": 0x94,
    "cellVoltages": 0x95,
    "cellTemperatures": 0x96,
    "cellBalanceState": 0x97,
    "failureCodes": 0x98,
}

# Example answers of the reference implementation (tests/vectors/daly.jsonl).
SOC_FRAME = bytes.fromhex("a501900802100000756f03bcf3")
STATUS_FRAME = bytes.fromhex("a5019408100100000000034096")
VOLTAGES_16 = bytes.fromhex(
    "a5019508010cfd0cfe0cfe40a1a5019508020cfe0cfe0cfe40a3a5019508030cfe0cfe0cfe40a4"
    "a5019508040cfe0cfc0cfe40a3a5019508050cfe0cff0cfe40a7a5019508060cfc000000004091"
    "a501950807000000000000408aa501950808000000000000408ba501950809000000000000408c"
    "a50195080a000000000000408da50195080b000000000000408ea50195080c000000000000408f"
    "a50195080d0000000000004090a50195080e0000000000004091a50195080f0000000000004092"
    "a5019508100000000000004093"
)
#: Eight cells; the capture ends with the first five bytes of frame 11.
VOLTAGES_8_CUT = bytes.fromhex(
    "a5019508010ca30ca70ca6f951a5019508020ca80ca50ca4f953a5019508030ca50ca60000f9a2"
    "a501950804000000000000f940a501950805000000000000f941a501950806000000000000f942"
    "a501950807000000000000f943a501950808000000000000f944a501950809000000000000f945"
    "a50195080a000000000000f946a50195080b"
)
TEMPERATURES = bytes.fromhex("a501960801370000000000007ca5019608020000000000000046")


def frame(data_id: int, data: bytes, *, address: int = 0x01, length: int = 8) -> bytes:
    """Build a Daly frame with its byte-sum check byte, computed here independently."""
    body = bytes((0xA5, address, data_id, length)) + data
    return body + bytes((sum(body) % 256,))


def voltage_frames(voltages_mv: list[int], frames: int) -> bytes:
    """Build ``frames`` numbered 0x95 frames holding ``voltages_mv``, zero-padded, reserved byte 0."""
    padded = voltages_mv + [0] * (3 * frames - len(voltages_mv))
    return b"".join(
        frame(
            0x95,
            bytes((n + 1,))
            + b"".join(v.to_bytes(2, "big") for v in padded[3 * n : 3 * n + 3])
            + b"\0",
        )
        for n in range(frames)
    )


def temperature_frames(raw: list[int], frames: int) -> bytes:
    """Build ``frames`` numbered 0x96 frames of 7 raw temperature bytes each, zero-padded."""
    padded = raw + [0] * (7 * frames - len(raw))
    return b"".join(frame(0x96, bytes((n + 1, *padded[7 * n : 7 * n + 7]))) for n in range(frames))


# -- registry and requests ---------------------------------------------------------------------


def test_both_protocols_are_registered_and_share_one_table() -> None:
    """daly40 is daly with another host address: same commands and settings, not a copy."""
    assert {"daly", "daly40"} <= set(list_protocols())
    assert DALY40.commands is DALY.commands
    assert DALY40.settings is DALY.settings
    assert get_protocol("DALY40") is DALY40


@pytest.mark.parametrize(("command", "data_id"), QUERY_IDS.items())
def test_query_requests(command: str, data_id: int) -> None:
    """A5, host address, data id, length 8, eight zero bytes, byte sum, then LF (as the reference)."""
    assert DALY.build_request(command) == frame(data_id, bytes(8), address=0x80) + b"\n"
    assert DALY40.build_request(command) == frame(data_id, bytes(8), address=0x40) + b"\n"


def test_counted_commands_send_the_same_request() -> None:
    """The count only shapes the decoding; the BMS gets the plain query."""
    assert DALY.build_request("cellVoltages16") == DALY.build_request("cellVoltages")
    assert DALY.build_request("CELLTEMPERATURES3") == DALY.build_request("cellTemperatures")


def test_unknown_command() -> None:
    """A typo is refused with a suggestion."""
    with pytest.raises(UnknownCommandError, match="did you mean CELLVOLTAGES"):
        DALY.build_request("cellVoltage")


@pytest.mark.parametrize(
    "command",
    ["cellVoltages0", "cellVoltages49", "cellVoltages016", "cellVoltagesx", "cellTemperatures113"],
)
def test_counts_are_validated(command: str) -> None:
    """A count is 1…(frames × values per frame), without leading zeros; the message says so."""
    with pytest.raises(InvalidParameterError, match="status command"):
        DALY.build_request(command)


def test_status_commands_and_settings_refer_to_real_commands_and_fields() -> None:
    """Every polled command resolves; each setting reads a field its read command can produce."""
    for command in (*DALY.status_commands, *DALY.settings_commands, *DALY.id_commands):
        DALY.resolve(command)
    for setting in DALY.settings.values():
        assert setting.read_field in DALY.commands[setting.read_command].info
        assert setting.safety


# -- single-frame answers ----------------------------------------------------------------------


def test_soc_decodes_voltage_current_and_state_of_charge() -> None:
    """0x90: 52.8 V, 6.3 A (30063 - 30000 tenths), 95.6 % (reference example)."""
    result = DALY.decode("SOC", SOC_FRAME)
    assert isinstance(result, Result)
    assert dict(result) == {
        "battery_bank_voltage": 52.8,
        "acquistion": 0.0,
        "current": 6.3,
        "soc": 95.6,
    }
    soc = result.fields["soc"]
    assert (soc.unit, soc.hints.device_class, soc.hints.state_class) == (
        "%",
        "battery",
        "measurement",
    )
    assert result.fields["current"].hints.device_class == "current"
    # The reference's misspelt key stays; the name shown is the corrected one.
    assert result.fields["acquistion"].name == "Acquisition Voltage"


def test_current_below_the_offset_is_negative() -> None:
    """Raw 29950 is 50 tenths below the 30000 offset: -5.0 A."""
    data = (
        (520).to_bytes(2, "big") + bytes(2) + (29950).to_bytes(2, "big") + (500).to_bytes(2, "big")
    )
    assert DALY.decode("SOC", frame(0x90, data))["current"] == -5.0


def test_cell_min_max_voltages() -> None:
    """0x91: 3.328 V in cell 15, 3.326 V in cell 1 (reference example)."""
    result = DALY.decode("cellMinMaxVoltages", bytes.fromhex("a50191080d000f0cfe010378e1"))
    assert dict(result) == {
        "maximum_cell_voltage": 3.328,
        "maximum_cell_number": 15,
        "minimum_cell_voltage": 3.326,
        "minimum_cell_number": 1,
    }


def test_temperatures_are_offset_by_forty() -> None:
    """0x92: raw 55 is 15 °C; raw 30 is -10 °C."""
    result = DALY.decode("cellMinMaxTemps", frame(0x92, bytes((55, 2, 30, 1, 0, 0, 0, 0))))
    assert result["maximum_cell_temperature"] == 15
    assert result["minimum_cell_temperature"] == -10
    assert result["maximum_cell_number"] == 2
    assert result.fields["minimum_cell_temperature"].unit == "°C"


def test_mos_status() -> None:
    """0x93: state label, MOS bytes as the reference shows them and as booleans, capacity in Ah."""
    result = DALY.decode("mosStatus", bytes.fromhex("a5019308020101780003cb40cb"))
    assert result["charge_status"] == "discharged"
    assert result["charging_mos_tube_status"] == "01"
    assert result["charging_mos"] is True
    assert result["discharging_mos"] is True
    assert result["bms_life"] == 120
    assert result["residual_capacity"] == 248.64
    assert result.fields["residual_capacity"].unit == "Ah"
    off = DALY.decode("mosStatus", frame(0x93, bytes((3, 0, 1, 0, 0, 0, 0, 0))))
    assert off["charge_status"] == "Unknown (3)"
    assert (off["charging_mos"], off["discharging_mos"]) == (False, True)


def test_status_counts_and_digital_io() -> None:
    """0x94: counts, charger/load, the DIO byte (raw as the reference, and one flag per bit)."""
    result = DALY.decode("status", STATUS_FRAME)
    assert result["number_of_cells"] == 16
    assert result["number_of_temperature_sensors"] == 1
    assert result["charger_status"] == "disconnected"
    assert result["charge_discharge_cycles"] == 3
    assert result["flags_todo"] == "00"
    assert result["reserved"] == "40"
    # 0b10100101: DI1, DI3 and DO2, DO4 (bit 0 = DI1 … bit 7 = DO4).
    io = DALY.decode("status", frame(0x94, bytes((4, 2, 1, 1, 0xA5, 0x01, 0x2C, 0))))
    assert [io[k] for k in ("di1", "di2", "di3", "di4", "do1", "do2", "do3", "do4")] == [
        True,
        False,
        True,
        False,
        False,
        True,
        False,
        True,
    ]
    assert io["charger_status"] == "connected"
    assert io["charge_discharge_cycles"] == 300
    assert io.fields["flags_todo"].name == "DIO State"


def test_failure_codes() -> None:
    """0x98: byte 0 = 0x80 is the level-2 low total voltage alarm (Daly's own worked example)."""
    result = DALY.decode("failureCodes", frame(0x98, bytes((0x80, 0, 0, 0, 0, 0, 0x08, 7))))
    assert result["total_voltage_low_level_2"] is True
    assert result["low_voltage_charging_forbidden"] is True
    assert result["fault_code"] == 7
    set_flags = {k for k, v in result.items() if v is True}
    assert set_flags == {"total_voltage_low_level_2", "low_voltage_charging_forbidden"}
    assert result.fields["cell_voltage_high_level_1"].hints.device_class == "problem"
    assert len([k for k, v in result.items() if isinstance(v, bool)]) == 8 * 5 + 4 + 4


def test_balance_state_one_bit_per_cell() -> None:
    """0x97: cell 1 is bit 0 of the first byte; cell 16 bit 7 of the second."""
    data = bytes((0x05, 0x80, 0, 0, 0, 0x80, 0, 0))
    every = DALY.decode("cellBalanceState", frame(0x97, data))
    assert len([k for k in every if k.endswith("_balancing")]) == 48
    assert {k for k, v in every.items() if v is True} == {
        "cell_01_balancing",
        "cell_03_balancing",
        "cell_16_balancing",
        "cell_48_balancing",
        "cell_balancing_active",
    }
    sixteen = DALY.decode("cellBalanceState16", frame(0x97, data))
    assert "cell_17_balancing" not in sixteen
    assert sixteen["cell_16_balancing"] is True
    assert sixteen["cell_balancing_active"] is True
    # Only cell 48's flag is set: a 16-cell pack is not balancing.
    idle = DALY.decode("cellBalanceState16", frame(0x97, bytes((0, 0, 0, 0, 0, 0x80, 0, 0))))
    assert idle["cell_balancing_active"] is False


# -- single-frame errors -----------------------------------------------------------------------


def test_single_frame_errors() -> None:
    """Each malformed answer raises its own error class, naming what is wrong."""
    with pytest.raises(TruncatedFrameError, match="12 of 13"):
        DALY.decode("SOC", SOC_FRAME[:-1])
    with pytest.raises(TruncatedFrameError):
        DALY.decode("SOC", b"")
    with pytest.raises(FrameError, match="1 unexpected"):
        DALY.decode("SOC", SOC_FRAME + b"\0")
    with pytest.raises(FrameError, match="starts with 0xa4"):
        DALY.decode("SOC", b"\xa4" + SOC_FRAME[1:])
    with pytest.raises(CRCError, match="checksum 0xf4, expected 0xf3"):
        DALY.decode("SOC", SOC_FRAME[:-1] + b"\xf4")
    with pytest.raises(FrameError, match="address 0x02"):
        DALY.decode("SOC", frame(0x90, SOC_FRAME[4:12], address=0x02))
    with pytest.raises(FrameError, match="data id 0x94, not 0x90"):
        DALY.decode("SOC", STATUS_FRAME)
    with pytest.raises(FrameError, match="declares 7 data bytes"):
        DALY.decode("SOC", frame(0x90, SOC_FRAME[4:12], length=7))


def test_echo_is_recognised() -> None:
    """Our own request coming back alone (RS485 adapters echo) is an EchoError, not a bad frame.

    Followed by the answer, the echo is skipped like any bytes before the answer.
    """
    with pytest.raises(EchoError):
        DALY.decode("SOC", DALY.build_request("SOC"))
    with pytest.raises(EchoError):
        DALY40.decode("cellVoltages", DALY40.build_request("cellVoltages"))
    echoed = DALY40.decode("cellVoltages", DALY40.build_request("cellVoltages") + VOLTAGES_16)
    assert echoed == DALY40.decode("cellVoltages", VOLTAGES_16)


# -- multi-frame answers -----------------------------------------------------------------------


def test_cell_voltages_as_the_reference_lists_them() -> None:
    """No count: all 48 positions of the 16 frames, the present count and a summary over it."""
    result = DALY.decode("cellVoltages", VOLTAGES_16)
    assert result["cell_01_voltage"] == 3.325
    assert result["cell_16_voltage"] == 3.324
    assert result["cell_48_voltage"] == 0.0
    assert result["cell_count"] == 16
    # Cells 11 and 16 both read 3.324 V: the first is named.
    assert (result["min_cell_voltage"], result["min_cell_voltage_cell"]) == (3.324, 11)
    assert (result["max_cell_voltage"], result["max_cell_voltage_cell"]) == (3.327, 14)
    assert result["delta_cell_voltage"] == 0.003
    assert result.fields["cell_01_voltage"].unit == "V"


def test_cell_voltages_with_a_count_drop_the_padding() -> None:
    """With the status answer's count only real cells are reported."""
    result = DALY.decode("cellVoltages16", VOLTAGES_16)
    assert [k for k in result if k.endswith("_voltage") and k.startswith("cell_")] == [
        f"cell_{n:02d}_voltage" for n in range(1, 17)
    ]
    assert result["cell_count"] == 16


def test_a_cut_padding_frame_at_the_end_is_accepted() -> None:
    """The capture stops 5 bytes into frame 11; frames 4–10 were already padding."""
    result = DALY.decode("cellVoltages", VOLTAGES_8_CUT)
    assert result["cell_count"] == 8
    assert result["cell_04_voltage"] == 3.24
    assert "cell_33_voltage" in result  # frame 11's positions, as the reference lists them
    assert "cell_34_voltage" not in result
    counted = DALY.decode("cellVoltages8", VOLTAGES_8_CUT)
    assert "cell_09_voltage" not in counted
    assert counted["max_cell_voltage"] == 3.24


def test_a_cut_frame_of_fewer_than_five_bytes_adds_no_position() -> None:
    """Without its frame number the cut frame announces nothing."""
    result = DALY.decode("cellVoltages", voltage_frames([3300, 3301], 2) + b"\xa5\x01\x95")
    assert result["cell_count"] == 2
    assert "cell_06_voltage" in result
    assert "cell_07_voltage" not in result


def test_a_zero_volt_cell_within_the_count_is_a_reading() -> None:
    """A broken sense wire shows as 0 V and is the pack's minimum, not skipped."""
    result = DALY.decode("cellVoltages4", voltage_frames([3300, 0, 3310, 3305], 2))
    assert (result["min_cell_voltage"], result["min_cell_voltage_cell"]) == (0.0, 2)


def test_multi_frame_errors() -> None:
    """Every frame is checked: checksum, numbering, data id, count, cut frames, frame limit."""
    good = voltage_frames([3300] * 16, 6)
    corrupt = bytearray(good)
    corrupt[2 * 13 + 6] ^= 0x01
    with pytest.raises(CRCError, match="frame 3"):
        DALY.decode("cellVoltages", bytes(corrupt))
    swapped = good[13:26] + good[:13] + good[26:]
    # Frame 2 before frame 1 reads as the stale tail of an earlier answer: skipped, and then
    # frame 3 follows frame 1.
    with pytest.raises(FrameError, match="frame 2 is numbered 3"):
        DALY.decode("cellVoltages", swapped)
    with pytest.raises(FrameError, match="data id 0x96, not 0x95"):
        DALY.decode("cellVoltages", good[:13] + temperature_frames([60], 1))
    with pytest.raises(TruncatedFrameError, match="16 values need 6 frames, got 5"):
        DALY.decode("cellVoltages16", good[:65])
    with pytest.raises(TruncatedFrameError, match="frame 6 is cut short"):
        DALY.decode("cellVoltages", voltage_frames([3300] * 15, 5) + good[65:70])
    with pytest.raises(FrameError, match="are no frame"):
        DALY.decode("cellVoltages", good + b"\xa5\x01\x95\x08\x09")
    with pytest.raises(FrameError, match="are no frame"):
        DALY.decode("cellVoltages16", good + b"\x00")
    with pytest.raises(TruncatedFrameError, match="5 of 13"):
        DALY.decode("cellVoltages", good[:5])
    with pytest.raises(FrameError, match="17 frames"):
        DALY.decode("cellVoltages", voltage_frames([3300] * 16, 17))
    with pytest.raises(FrameError, match="bytes after frame 16"):
        DALY.decode("cellVoltages", voltage_frames([3300] * 16, 16) + b"\xa5\x01")


def test_a_counted_answer_ignores_a_cut_frame_past_its_cells() -> None:
    """Six frames hold 16 cells; a cut seventh frame does not matter."""
    result = DALY.decode("cellVoltages16", voltage_frames([3300] * 16, 6) + b"\xa5\x01\x95\x08\x07")
    assert result["cell_count"] == 16


def test_cell_temperatures() -> None:
    """0x96: 7 sensors per frame; padding is raw 0 (-40 °C) as the reference shows it."""
    result = DALY.decode("cellTemperatures", TEMPERATURES)
    assert result["cell_01_temperature"] == 15
    assert result["cell_14_temperature"] == -40
    assert result["temperature_sensor_count"] == 1
    assert (result["max_temperature"], result["max_temperature_cell"]) == (15, 1)
    counted = DALY.decode("cellTemperatures1", TEMPERATURES)
    assert [k for k in counted if k.endswith("_temperature") and k.startswith("cell_")] == [
        "cell_01_temperature"
    ]


def test_a_zero_degree_sensor_counts_in_the_summary() -> None:
    """0 °C (raw 40) is a temperature, not an empty position."""
    result = DALY.decode("cellTemperatures", temperature_frames([40, 50, 45], 1))
    assert result["temperature_sensor_count"] == 3
    assert (result["min_temperature"], result["min_temperature_cell"]) == (0, 1)
    assert (result["max_temperature"], result["max_temperature_cell"]) == (10, 2)
    assert result["delta_temperature"] == 10


def test_no_present_value_gives_no_summary() -> None:
    """All positions padding: count 0 and no min/max."""
    result = DALY.decode("cellVoltages", voltage_frames([], 1))
    assert result["cell_count"] == 0
    assert "min_cell_voltage" not in result


def test_counted_commands_follow_the_status_answer() -> None:
    """The status answer's counts turn into the counted per-cell commands."""
    status = DALY.decode("status", STATUS_FRAME)
    assert counted_commands(status) == ("cellVoltages16", "cellTemperatures1", "cellBalanceState16")
    assert counted_commands({"number_of_cells": 0, "number_of_temperature_sensors": True}) == (
        "cellVoltages",
        "cellTemperatures",
        "cellBalanceState",
    )
    assert counted_commands({}) == ("cellVoltages", "cellTemperatures", "cellBalanceState")


# -- setters and settings ----------------------------------------------------------------------


def test_mos_switch_requests() -> None:
    """0xDA charge / 0xD9 discharge MOS: data byte 0 is 1 for on, 0 for off."""
    assert (
        DALY.build_request("setChargeMos1") == frame(0xDA, b"\x01" + bytes(7), address=0x80) + b"\n"
    )
    assert DALY.build_request("setDischargeMos0") == frame(0xD9, bytes(8), address=0x80) + b"\n"
    assert DALY.commands["setChargeMos"].kind is Kind.SETTER


def test_soc_write_request_matches_a_published_capture() -> None:
    """0x21 frame posted on diysolarforum (2022-12-13 21:29:39, 30 %): a5 40 21 08 … 01 2c c3."""
    assert DALY40.build_request("setSOC30@20221213212939") == bytes.fromhex(
        "a5402108160c0d151d27012cc30a"
    )
    assert DALY.build_request("setSOC88.8")[4:12] == bytes(6) + (888).to_bytes(2, "big")
    assert DALY.build_request("setSOC100")[10:12] == (1000).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("setChargeMos2", "0 \\(off\\), 1 \\(on\\)"),
        ("setChargeMos", "0 \\(off\\), 1 \\(on\\)"),
        ("setSOC100.1", "0–100 %"),
        ("setSOC50.55", "0–100 %"),
        ("setSOC-1", "0–100 %"),
        ("setSOC", "0–100 %"),
        ("setSOC50@20221313000000", "not a valid date"),
        ("setSOC50@19991231235959", "outside 2000–2099"),
    ],
)
def test_setter_values_are_validated_before_sending(command: str, message: str) -> None:
    """Nothing is built for a value the BMS should not get; the message says what is allowed."""
    with pytest.raises(InvalidParameterError, match=message):
        DALY.build_request(command)


def test_setter_answers() -> None:
    """The BMS echoes the MOS state it took, and answers 1 to a SOC write; anything else is a NAK."""
    on = DALY.decode("setChargeMos1", frame(0xDA, bytes.fromhex("0101000002006cbe")))
    assert on["setchargemos"] == "ACK"
    with pytest.raises(NAKError, match="answered 0x00, not 0x01"):
        DALY.decode("setChargeMos1", frame(0xDA, bytes.fromhex("0001000002006c44")))
    assert DALY.decode("setDischargeMos0", frame(0xD9, bytes(8)))["setdischargemos"] == "ACK"
    assert DALY.decode("setSOC50", frame(0x21, b"\x01" + bytes(7)))["setsoc"] == "ACK"
    with pytest.raises(NAKError):
        DALY.decode("setSOC50", frame(0x21, bytes(8)))
    with pytest.raises(FrameError, match="data id 0x90, not 0x21"):
        DALY.decode("setSOC50", SOC_FRAME)


def test_settings_model() -> None:
    """MOS switches and SOC: safety-marked, encoded to validated commands, read back."""
    charging = DALY.settings["charging_mos"]
    assert charging.encode(True) == "setChargeMos1"
    assert charging.encode(False) == "setChargeMos0"
    mos = DALY.decode("mosStatus", frame(0x93, bytes((0, 0, 1, 0, 0, 0, 0, 0))))
    assert charging.current(mos) is False
    assert DALY.settings["discharging_mos"].current(mos) is True
    soc = DALY.settings["soc"]
    assert soc.encode(55.5) == "setSOC55.5"
    assert DALY.build_request(soc.encode(100))[10:12] == (1000).to_bytes(2, "big")
    assert soc.current(DALY.decode("SOC", SOC_FRAME)) == 95.6
    with pytest.raises(InvalidParameterError):
        soc.encode(100.5)
    for setting in DALY.settings.values():
        for text in (setting.on, setting.off) if setting.on else (soc.encode(0),):
            DALY.build_request(text)
