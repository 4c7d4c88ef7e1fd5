"""JK BMS Bluetooth protocols (jk02, jk02_32, jkv11, jk04): requests, records, setters, assembler.

Expected values come from the reference's example records (tests/vectors), from the byte layout
published by esphome-jk-bms (docs/protocol-design-ble.md) for synthetic records, and from
checksums computed here independently of the library.
"""

from __future__ import annotations

import json
from pathlib import Path
import struct
from typing import Any

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
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.jkble import (
    Decimals,
    JkRecord,
    JkRecordAssembler,
    cell_layout,
    request,
    software_major,
)
from mppsolar_lib.protocols.settings import SettingKind

VECTORS = Path(__file__).parent / "vectors"
JK = ("jk02", "jk02_32", "jkv11", "jk04")


def checksum(data: bytes) -> int:
    """8-bit byte sum, written independently of the library."""
    total = 0
    for byte in data:
        total = (total + byte) % 256
    return total


def command_frame(code: int, length: int = 0, value: bytes = b"") -> bytes:
    """Build a 20-byte frame in request framing (requests and acknowledgements)."""
    body = bytes.fromhex("aa5590eb") + bytes([code, length]) + value.ljust(13, b"\0")
    return body + bytes([checksum(body)])


ACK = command_frame(0xC8, 1, b"\x01")


def record(kind: int, values: dict[int, bytes], *, length: int = 300, counter: int = 7) -> bytes:
    """Build a record: ``values`` at their offsets, the byte sum last."""
    body = bytearray(length - 1)
    body[0:6] = bytes.fromhex("55aaeb90") + bytes([kind, counter])
    for offset, raw in values.items():
        body[offset : offset + len(raw)] = raw
    return bytes(body) + bytes([checksum(bytes(body))])


def u16(value: int) -> bytes:
    """Pack a 16-bit little-endian value."""
    return struct.pack("<h" if value < 0 else "<H", value)


def u32(value: int) -> bytes:
    """Pack a 32-bit little-endian value."""
    return struct.pack("<i" if value < 0 else "<I", value)


def example(protocol: str, command: str, index: int) -> bytes:
    """Return the reference's example answer ``index`` to ``command``."""
    for line in (VECTORS / f"{protocol}.jsonl").read_text().splitlines():
        vector: dict[str, Any] = json.loads(line)
        if (
            vector["kind"] == "test_response"
            and vector["command"] == command
            and vector["response_index"] == index
        ):
            return bytes.fromhex(vector["response_hex"])
    raise LookupError((protocol, command, index))


# -- requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", JK)
def test_queries_are_20_byte_frames_with_a_byte_sum(protocol: str) -> None:
    """Code 0x97 asks for device info; getCellData and getSettings both send 0x96."""
    proto = get_protocol(protocol)
    assert proto.build_request("getInfo") == command_frame(0x97)
    assert proto.build_request("getInfo").hex() == "aa5590eb97000000000000000000000000000011"
    assert proto.build_request("getCellData") == command_frame(0x96)
    assert proto.build_request("getSettings") == command_frame(0x96)


@pytest.mark.parametrize("protocol", ["jk02", "jk02_32", "jkv11"])
@pytest.mark.parametrize(
    ("command", "code", "value"),
    [
        ("setCellOVP3.65", 0x04, 3650),
        ("setCellOVP4.2", 0x04, 4200),
        ("setCellOVP1.2", 0x04, 1200),
        ("setCellOVP4.350", 0x04, 4350),
        ("setChargingOn", 0x1D, 1),
        ("setChargingOff", 0x1D, 0),
        ("setDischargingOn", 0x1E, 1),
        ("setDischargingOff", 0x1E, 0),
    ],
)
def test_setter_requests(protocol: str, command: str, code: int, value: int) -> None:
    """Code, length 4, the value in mV (or 1/0) little-endian, zero padding, sum."""
    frame = get_protocol(protocol).build_request(command)
    assert frame == command_frame(code, 4, value.to_bytes(4, "little"))


def test_balance_start_register_differs_between_firmware_families() -> None:
    """0x26 on JK02 firmware, 0x22 on the 32-cell firmware (esphome-jk-bms's register table)."""
    expected = (2500).to_bytes(4, "little")
    assert get_protocol("jk02").build_request("setBalanceStart2.5") == command_frame(
        0x26, 4, expected
    )
    for protocol in ("jk02_32", "jkv11"):
        frame = get_protocol(protocol).build_request("setBalanceStart2.5")
        assert frame == command_frame(0x22, 4, expected)


def test_request_helper_encodes_negative_values_as_twos_complement() -> None:
    """A -22.0 °C setting (raw -220) goes out as 24 ff ff ff."""
    assert request(0x18, -220, 4)[6:10] == bytes.fromhex("24ffffff")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("setCellOVP5.0", "5.0 is out of range; use 1.2–4.35 V in steps of 0.001 (e.g. 3.65)"),
        ("setCellOVP1.1", "1.1 is out of range"),
        ("setCellOVP3.6505", "'3.6505' is not a number"),
        ("setCellOVPabc", "'abc' is not a number"),
        ("setCellOVP-3.5", "'-3.5' is not a number"),
        ("setCellOVP", "'' is not a number"),
        ("setBalanceStart4.3", "4.3 is out of range; use 1.2–4.25 V"),
    ],
)
def test_setter_values_are_refused_before_anything_is_built(command: str, message: str) -> None:
    """Out-of-range or malformed values raise InvalidParameterError saying what is allowed."""
    with pytest.raises(
        InvalidParameterError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        get_protocol("jk02").build_request(command)


def test_switch_setters_take_no_value() -> None:
    """``setChargingOn1`` is no command: the switches carry their value in their name."""
    with pytest.raises(UnknownCommandError, match="did you mean SETCHARGINGON"):
        get_protocol("jk02").build_request("setChargingOn1")


def test_decimals_step_is_checked() -> None:
    """A value off the step is refused (a 10 mV step here)."""
    param = Decimals("1.20", "4.25", "0.01", "V", "3.40")
    param.validate("3.40")
    with pytest.raises(InvalidParameterError, match="not on the step"):
        param.validate("3.405")


def test_jk04_takes_no_settings() -> None:
    """No JK04 setter is known: asking for one is an unknown command, not a guess."""
    with pytest.raises(UnknownCommandError):
        get_protocol("jk04").build_request("setCellOVP3.65")
    assert not get_protocol("jk04").settings


# -- device info --------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", JK)
def test_device_info(protocol: str) -> None:
    """Texts cut at their first NUL; uptime as days/hours/minutes/seconds; empty texts kept."""
    result = get_protocol(protocol).decode("getInfo", example(protocol, "getInfo", 1))
    assert result["device_model"] == "JK-BD6A20S10P"
    assert result["hardware_version"] == "4.0"
    assert result["software_version"] == "4.1.7"
    # 0x00161d54 = 1449300 s = 16 d 18 h 35 min 0 s
    assert result["up_time"] == "16D18H35M0S"
    assert result["power_on_times"] == 4
    assert result["device_name"] == "Nothing JK1"
    assert result["manufacturing_date"] == "200708"
    assert result["serial_number"] == "2006284075"
    assert result["passcode"] == ""
    assert result["user_data"] == "Input Userdata"
    assert result["setup_passcode"] == "123456"
    assert result.fields["device_passcode"].hints.enabled_default is False


def test_device_info_text_in_utf8_is_read() -> None:
    """Device names typed in the app may be UTF-8; invalid bytes become U+FFFD, not an error."""
    frame = record(3, {46: "Batterie Süd".encode(), 102: b"\xff\xfeok"})
    result = get_protocol("jk02").decode("getInfo", frame)
    assert result["device_name"] == "Batterie Süd"
    assert result["user_data"] == "\ufffd\ufffdok"


@pytest.mark.parametrize(("offset", "raw"), [(6, b"JK-B\xd0\x41"), (22, b"4.\xff"), (86, b"\x80")])
def test_device_info_factory_texts_must_be_ascii(offset: int, raw: bytes) -> None:
    """Model, versions, serial number: a byte outside ASCII means a broken record."""
    with pytest.raises(FrameError, match="cannot decode"):
        get_protocol("jk02_32").decode("getInfo", record(3, {offset: raw}))


# -- cell data ----------------------------------------------------------------------------------


def test_jk02_cell_data() -> None:
    """Reference example 0: 16 cells of a 24-cell record, summary over the enabled cells."""
    result = get_protocol("jk02").decode("getCellData", example("jk02", "getCellData", 0))
    assert result["voltage_cell01"] == 3.374
    assert result["voltage_cell16"] == 3.359
    assert result["voltage_cell17"] == 0.0  # reported like the reference, excluded below
    assert result["cell_count"] == 16
    assert (result["min_cell_voltage"], result["min_voltage_cell"]) == (3.322, 3)
    assert (result["max_cell_voltage"], result["max_voltage_cell"]) == (3.375, 5)
    assert result["average_cell_voltage"] == 3.356
    assert result["delta_cell_voltage"] == 0.053
    assert result["resistance_cell10"] == 0.301
    assert result.fields["resistance_cell10"].unit == "Ω"
    assert result["battery_voltage"] == 53.692
    assert result["battery_current"] == 0.0
    assert (result["battery_t1"], result["battery_t2"], result["mos_temp"]) == (28.6, 27.8, 31.6)
    assert result["percent_remain"] == 99
    assert result.fields["percent_remain"].hints.device_class == "battery"
    assert result["capacity_remain"] == 199.787
    assert result["nominal_capacity"] == 200.0
    assert result["cycle_capacity"] == 85.468
    assert result["state_of_health"] == 100
    assert result["time"] == "16D18H39M52S"
    assert result["total_runtime"] == 1449592
    assert result["charging"] is True
    assert result["discharging"] is True
    assert result["balancing"] is False
    assert result["balancing_action"] == "Off"
    assert result["cell_overvoltage"] is False
    # kept for the reference's keys, hidden by default
    assert result["current_balancer"] == 0.516
    assert result.fields["current_balancer"].hints.enabled_default is False


def test_jk02_three_cell_pack_and_absent_probes() -> None:
    """Mask 0x07: three cells; probes reading -2000 (-200.0 °C) are absent, not cold."""
    result = get_protocol("jk02").decode("getCellData", example("jk02", "getCellData", 2))
    assert result["cell_count"] == 3
    assert (result["min_cell_voltage"], result["min_voltage_cell"]) == (3.666, 2)
    assert (result["max_cell_voltage"], result["max_voltage_cell"]) == (3.757, 1)
    assert "battery_t1" not in result
    assert "battery_t2" not in result
    assert result["mos_temp"] == 33.9
    assert result["balance_current"] == 0.268
    assert result["charging"] is False


def test_jk02_discharging_with_balancer() -> None:
    """Reference example 4: -6.822 A at 52.953 V; battery power is the magnitude in W."""
    result = get_protocol("jk02").decode("getCellData", example("jk02", "getCellData", 4))
    assert result["battery_current"] == -6.822
    assert result["battery_power"] == 361.242
    assert result["balance_current"] == -1.754
    assert result["balancing_action"] == "Discharging balancer"
    assert result["balancing"] is True
    assert result["cell_count"] == 14


def test_jk02_32_cell_data() -> None:
    """Reference example 1 of jk02_32: 8 cells, balancing while charging at 40 A."""
    result = get_protocol("jk02_32").decode("getCellData", example("jk02_32", "getCellData", 1))
    assert result["cell_count"] == 8
    assert result["voltage_cell32"] == 0.0
    assert result["average_cell_voltage"] == 3.322
    assert result["mos_temp"] == 22.9
    assert result["battery_voltage"] == 26.579
    assert result["battery_current"] == 40.188
    assert result["battery_power"] == 1062.731
    assert (result["battery_t1"], result["battery_t2"]) == (18.9, 18.3)
    assert result["balance_current"] == -1.939
    assert result["balancing_action"] == "Discharging balancer"
    assert result["percent_remain"] == 13
    assert result["capacity_remain"] == 35.16
    assert result["nominal_capacity"] == 280.0
    assert result["cycle_count"] == 14
    assert result["precharging"] is False
    assert "current_balancer" not in result


def test_jk02_32_fields_past_byte_200() -> None:
    """JK02_32S only (esphome-jk-bms): heating, probes 3-5, charge status, dry contacts."""
    values = {
        70: u32(0x0F),
        215: b"\x01",
        254: u16(251),
        256: u16(-2000),  # probe 4 not fitted
        258: u16(-52),
        280: b"\x02",
        281: b"\x04",
    }
    result = get_protocol("jk02_32").decode("getCellData", record(2, values))
    assert result["heating"] is True
    assert (result["battery_t5"], result["battery_t3"]) == (25.1, -5.2)
    assert "battery_t4" not in result
    assert result["charge_status"] == "Float"
    assert (result["dry1_active"], result["dry2_active"]) == (False, True)
    assert "heating" not in get_protocol("jk02").decode("getCellData", record(2, {}))


@pytest.mark.parametrize(
    ("protocol", "offset", "mask_at"), [("jk02", 114, 54), ("jk02_32", 146, 70)]
)
def test_wire_resistance_warnings_per_enabled_cell(
    protocol: str, offset: int, mask_at: int
) -> None:
    """One problem flag per cell up to the highest enabled one; the raw word stays (hidden)."""
    values = {mask_at: u32(0b1011), offset: u32(0b1000)}
    result = get_protocol(protocol).decode("getCellData", record(2, values))
    flags = {k: v for k, v in result.items() if k.startswith("wire_resistance_warning_cell")}
    assert flags == {f"wire_resistance_warning_cell0{i}": i == 4 for i in range(1, 5)}
    assert result["wire_resistance_warning"] == "08000000"
    assert result.fields["wire_resistance_warning_cell04"].hints.device_class == "problem"
    assert result["voltage_cell05"] == 0.0  # every position still reported on Bluetooth


def test_jkv11_reads_the_32_cell_layout_and_keeps_the_reference_keys() -> None:
    """MOSFET temperature from byte 144 (24.3 °C), the alarm word is 0."""
    result = get_protocol("jkv11").decode("getCellData", example("jkv11", "getCellData", 0))
    assert result["mos_temp"] == 24.3
    assert result["cell_count"] == 16
    assert result["nominal_capacity"] == 302.0
    assert not any(result[name] for name in ("cell_overvoltage", "charge_short_circuit"))
    assert result["current_balancer"] == 2.565


def test_alarm_word_is_big_endian() -> None:
    """Byte 136 (24 cells) / 166 (32 cells) high byte first: 0x1000 = cell overvoltage."""
    values = {54: u32(0xFFFF), 136: b"\x10\x08"}
    result = get_protocol("jk02").decode("getCellData", record(2, values))
    assert result["cell_overvoltage"] is True
    assert result["cell_undervoltage"] is True  # 0x0008
    assert result["charge_overtemperature"] is False
    values32 = {70: u32(0xFF), 166: b"\x00\x01"}
    result = get_protocol("jk02_32").decode("getCellData", record(2, values32))
    assert result["charge_overtemperature"] is True
    assert result.fields["charge_overtemperature"].hints.device_class == "problem"


def test_empty_mask_summarises_every_reporting_cell() -> None:
    """A record without a mask still gets a summary over the cells that report a voltage."""
    values = {6: u16(3300) + u16(3310), 54: u32(0)}
    result = get_protocol("jk02").decode("getCellData", record(2, values))
    assert "cell_count" not in result
    assert (result["min_voltage_cell"], result["max_voltage_cell"]) == (1, 2)


def test_jk04_cell_data_is_float() -> None:
    """Reference example 1 of jk04: 4-byte floats shown to float precision."""
    result = get_protocol("jk04").decode("getCellData", example("jk04", "getCellData", 1))
    assert result["voltage_cell01"] == pytest.approx(2.297119379043579, rel=1e-6)
    assert result["resistance_cell25"] == 0.0
    assert result["average_cell_voltage"] == pytest.approx(2.327305316925049, rel=1e-6)
    # the BMS's own numbering (from 0 on the wire) and the voltages of those cells
    assert (result["highest_cell"], result["lowest_cell"]) == (8, 12)
    assert result["highest_cell_voltage"] == pytest.approx(2.367180585861206, rel=1e-6)
    assert result["lowest_cell_voltage"] == pytest.approx(2.186809778213501, rel=1e-6)
    assert result["balancing_action"] == "Charging balancer"
    assert result["uptime"] == "0D3H23M12S"
    assert result["total_runtime"] == 12192


def test_jk04_cell_number_out_of_range_gives_no_voltage() -> None:
    """A BMS cell index past the 24 cells names no cell: no voltage field, no guess."""
    frame = record(2, {218: b"\x1e\x00"})
    result = get_protocol("jk04").decode("getCellData", frame)
    assert result["highest_cell"] == 31
    assert "highest_cell_voltage" not in result
    assert result["lowest_cell_voltage"] == 0.0


def test_jk04_nan_is_a_frame_error() -> None:
    """NaN is no reading: a record carrying one is refused."""
    frame = record(2, {202: struct.pack("<f", float("nan"))})
    with pytest.raises(FrameError, match="Average Cell Voltage"):
        get_protocol("jk04").decode("getCellData", frame)


# -- settings record and settings model --------------------------------------------------------

JK02_SETTINGS = {
    10: u32(2900),  # cell UVP 2.9 V
    14: u32(3000),
    18: u32(3650),  # cell OVP 3.65 V
    22: u32(3400),
    26: u32(10),  # balance trigger 0.010 V
    46: u32(2800),
    50: u32(100_000),  # 100 A
    54: u32(30),
    78: u32(2000),
    98: u32(-200),  # charge UTP -20.0 °C
    114: bytes([16]),
    118: b"\x01",
    122: b"\x00",
    126: b"\x01",
    130: u32(280_000),
    138: u32(3400),  # start balance 3.4 V
}


def test_jk02_settings_record() -> None:
    """Offsets of esphome-jk-bms's JK02 settings description."""
    frame = record(1, {**JK02_SETTINGS, 158: u32(12), 250: u32(7)})
    result = get_protocol("jk02").decode("getSettings", frame)
    assert result["cell_uvp"] == 2.9
    assert result["cell_uvpr"] == 3.0
    assert result["cell_ovp"] == 3.65
    assert result["cell_ovpr"] == 3.4
    assert result["balance_trigger_voltage"] == 0.01
    assert result["power_off_voltage"] == 2.8
    assert result["max_charge_current"] == 100.0
    assert result["charge_ocp_delay"] == 30
    assert result["max_balance_current"] == 2.0
    assert result["charge_utp"] == -20.0
    assert result["cell_count"] == 16
    assert result["charge_switch"] == "enabled"
    assert result["discharge_switch"] == "disabled"
    assert result["balancer_switch"] == "enabled"
    assert result["nominal_battery_capacity"] == 280.0
    assert result["start_balance_voltage"] == 3.4
    assert result["wire_resistance_01"] == 0.012
    assert result["wire_resistance_24"] == 0.007
    assert "wire_resistance_25" not in result
    assert "smart_sleep_voltage" not in result


def test_jk02_32_settings_record() -> None:
    """The 32-cell firmware adds smart sleep, SOC voltages and 32 wire resistances from 142."""
    values = {**JK02_SETTINGS, 6: u32(3500), 30: u32(3450), 134: u32(1500), 142: u32(5)}
    result = get_protocol("jk02_32").decode("getSettings", record(1, {**values, 266: u32(9)}))
    assert result["smart_sleep_voltage"] == 3.5
    assert result["soc_100_voltage"] == 3.45
    assert result["scp_delay"] == 1500
    assert result.fields["scp_delay"].unit == "μs"
    assert result["wire_resistance_01"] == 0.005
    assert result["wire_resistance_32"] == 0.009
    assert result["cell_ovp"] == 3.65
    assert "smart_sleep" not in get_protocol("jk02").decode("getSettings", record(1, values))


def test_jk02_32_settings_controls() -> None:
    """Bytes 282-283: control bits (bit 3, the port switch, is not reported); 286: sleep hours."""
    values = {282: u16(0b10_0101_0001), 286: b"\x18"}
    result = get_protocol("jk02_32").decode("getSettings", record(1, values))
    assert result["heating_enabled"] is True
    assert result["display_always_on"] is True
    assert result["smart_sleep"] is True
    assert result["charging_float_mode"] is True
    assert (result["gps_heartbeat"], result["timed_stored_data"]) == (False, False)
    assert result["smart_sleep_time"] == 24


def test_jk04_settings_record() -> None:
    """JK04 settings are floats (esphome-jk-bms decode_jk04_settings_)."""
    values = {
        34: b"\x10",
        38: struct.pack("<f", 3.0),
        98: struct.pack("<f", 4.25),
        106: struct.pack("<f", 0.005),
        110: struct.pack("<f", 2.0),
        114: b"\x01",
    }
    result = get_protocol("jk04").decode("getSettings", record(1, values))
    assert result["cell_count"] == 16
    assert result["power_off_voltage"] == 3.0
    assert result["start_balance_voltage"] == 4.25
    assert result["balance_trigger_voltage"] == 0.005
    assert result["max_balance_current"] == 2.0
    assert result["balancer_switch"] == "enabled"


@pytest.mark.parametrize("protocol", ["jk02", "jk02_32", "jkv11"])
def test_settings_model_reads_and_writes(protocol: str) -> None:
    """Every setter is declared once, marked safety, read from getSettings, written validated."""
    proto = get_protocol(protocol)
    settings = proto.settings
    assert set(settings) == {
        "charging",
        "discharging",
        "balancing",
        "cell_ovp",
        "start_balance_voltage",
    }
    assert all(s.safety for s in settings.values())
    current = proto.decode("getSettings", record(1, JK02_SETTINGS))
    assert settings["charging"].current(current) is True
    assert settings["discharging"].current(current) is False
    assert settings["cell_ovp"].current(current) == 3.65
    assert settings["start_balance_voltage"].current(current) == 3.4
    assert settings["charging"].kind is SettingKind.SWITCH
    for key, value, command in (
        ("charging", False, "setChargingOff"),
        ("discharging", True, "setDischargingOn"),
        ("balancing", False, "setBalancerOff"),
        ("cell_ovp", 3.6, "setCellOVP3.600"),
        ("start_balance_voltage", 3.35, "setBalanceStart3.350"),
    ):
        text = settings[key].encode(value)
        assert text == command
        proto.build_request(text)
    with pytest.raises(InvalidParameterError):
        settings["cell_ovp"].encode(4.5)


# -- acknowledgements and refused frames --------------------------------------------------------


@pytest.mark.parametrize("command", ["setChargingOn", "setDischargingOff", "setCellOVP3.65"])
def test_acknowledgement(command: str) -> None:
    """The frame aa 55 90 eb c8 01 01 … 44 confirms the setting."""
    assert ACK.hex() == "aa5590ebc8010100000000000000000000000044"
    result = get_protocol("jk02").decode(command, ACK)
    assert result["command_execution"] == "Successful"


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (command_frame(0xC8, 1, b"\x00"), NAKError, "did not confirm"),
        (ACK[:-1] + bytes([ACK[-1] ^ 1]), CRCError, "checksum"),
        (ACK[:19], TruncatedFrameError, "19 bytes"),
        (ACK + b"\x00", FrameError, "21 bytes"),
        (command_frame(0x1D, 4, b"\x01"), EchoError, "request came back"),
        (command_frame(0x97), FrameError, "0x97 is not an acknowledgement"),
        (record(2, {}), FrameError, "got a cell data record"),
        (b"\x55\xaa\xeb\x90", FrameError, "truncated record"),
        (b"AT\r\n", FrameError, "does not start with aa 55 90 eb"),
    ],
)
def test_setter_answers_that_are_not_a_confirmation(
    frame: bytes, error: type[Exception], message: str
) -> None:
    """Refusals, damaged frames, echoes and streamed records never read as success."""
    with pytest.raises(error, match=message):
        get_protocol("jk02").decode("setChargingOn", frame)


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (record(2, {})[:299], TruncatedFrameError, "299 bytes"),
        (record(2, {}) + b"\x00", FrameError, "301 bytes"),
        (record(2, {}, counter=3)[:-1] + b"\x00", CRCError, "checksum"),
        (record(1, {}), FrameError, "expected a cell data record, got settings"),
        (record(9, {}), FrameError, "got type 9"),
        (ACK, FrameError, "20-byte command frame"),
        (b"\x00" * 300, FrameError, "does not start with 55 aa eb 90"),
    ],
)
def test_malformed_records(frame: bytes, error: type[Exception], message: str) -> None:
    """Length, start, checksum and record type are all checked."""
    with pytest.raises(error, match=message):
        get_protocol("jk02").decode("getCellData", frame)


def test_reference_example_with_a_lost_byte_is_refused() -> None:
    """The reference's 299-byte example (a byte lost, its sum wrong) is not decoded."""
    with pytest.raises(TruncatedFrameError):
        get_protocol("jk02").decode("getCellData", example("jk02", "getCellData", 3))


def test_320_byte_answers() -> None:
    """A 300-byte record + the 20-byte ready frame, or a record with its sum at byte 320."""
    proto = get_protocol("jk02_32")
    base = record(2, {6: u16(3300), 70: u32(1)})
    assert proto.decode("getCellData", base + ACK)["voltage_cell01"] == 3.3
    long = record(2, {6: u16(3301), 70: u32(1), 310: b"\x42"}, length=320)
    assert proto.decode("getCellData", long)["voltage_cell01"] == 3.301
    with pytest.raises(CRCError):
        proto.decode("getCellData", long[:-1] + bytes([long[-1] ^ 0xFF]))


# -- assembler ----------------------------------------------------------------------------------


def chunks(data: bytes, size: int) -> list[bytes]:
    """Split like BLE notifications of ``size`` bytes."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_assembler_rebuilds_records_from_notifications() -> None:
    """20-byte notifications, AT noise between records, a ready frame after the info record."""
    info = example("jk02_32", "getInfo", 0)
    cells = example("jk02_32", "getCellData", 0)
    stream = b"AT\r\n" + info + ACK + b"AT\r\n" + cells
    assembler = JkRecordAssembler()
    found: list[JkRecord] = []
    for chunk in chunks(stream, 20):
        found.extend(assembler.feed(chunk))
    assert [r.frame for r in found] == [info, ACK, cells]
    assert [r.record_type for r in found] == [3, 0xC8, 2]
    assert [r.is_acknowledgement for r in found] == [False, True, False]
    assert assembler.noise_bytes == 8
    assert assembler.records == 3
    assert assembler.bad_records == 0
    assert assembler.buffered == 0
    assert assembler.software_version == "3.2.3"
    assert assembler.hardware_version == "3.0"
    # the cell record itself says 32 cells (its average sits at offset 74)
    assert assembler.protocol_id == "jk02_32"


def test_assembler_skips_a_damaged_record_and_finds_the_next() -> None:
    """A record cut short (a lost notification) is counted bad; the one inside it is kept."""
    first = example("jk02", "getCellData", 0)
    second = example("jk02", "getCellData", 1)
    assembler = JkRecordAssembler()
    found = assembler.feed(first[:150] + second)
    assert [r.frame for r in found] == [second]
    assert assembler.bad_records >= 1


def test_assembler_accepts_320_byte_records_with_the_sum_at_the_end() -> None:
    """Such a record marks the newer (32-cell) firmware."""
    long = record(1, {300: b"\x01"}, length=320)
    assembler = JkRecordAssembler()
    assert assembler.feed(long[:300]) == []
    assert assembler.feed(long[300:]) == [JkRecord(long)]
    assert assembler.long_records == 1
    assert assembler.protocol_id == "jk02_32"


def test_assembler_waits_at_most_one_record() -> None:
    """Partial headers are kept, noise is not; reset forgets a partial record."""
    assembler = JkRecordAssembler()
    assert assembler.feed(b"\x01\x02\x03\x55\xaa") == []
    assert assembler.buffered == 2
    assert assembler.noise_bytes == 3
    assert assembler.feed(b"\xeb\x90" + bytes(100)) == []
    assert assembler.buffered == 104
    assembler.reset()
    assert assembler.buffered == 0
    assert assembler.protocol_id is None


@pytest.mark.parametrize(
    ("version", "protocol"), [("11.XW", "jk02_32"), ("10.07", "jk02"), ("V15.38", "jk02_32")]
)
def test_layout_from_software_version(version: str, protocol: str) -> None:
    """Firmware 11 and later sends 32-cell records (aiobmsble, esphome-jk-bms)."""
    assembler = JkRecordAssembler()
    assembler.feed(record(3, {30: version.encode()}))
    assert assembler.protocol_id == protocol


@pytest.mark.parametrize(
    ("protocol", "index"),
    [("jk02", 0), ("jk02", 2), ("jk02_32", 0), ("jk02_32", 1), ("jk04", 0), ("jk04", 2)],
)
def test_layout_from_the_cell_record(protocol: str, index: int) -> None:
    """The record's own average cell voltage tells 2-byte 24/32-cell and float layouts apart."""
    frame = example(protocol, "getCellData", index)
    assert cell_layout(frame) == protocol
    assembler = JkRecordAssembler()
    assembler.feed(record(3, {30: b"10.07"}) + frame)
    assert assembler.protocol_id == protocol


def test_info_record_with_a_broken_version_tells_no_layout() -> None:
    """A version that is no ASCII text is ignored; the record is still passed on."""
    assembler = JkRecordAssembler()
    broken = record(3, {22: b"3.0", 30: b"\xff11.XW"})
    assert assembler.feed(broken) == [JkRecord(broken)]
    assert (assembler.software_version, assembler.hardware_version) == (None, None)
    assert assembler.protocol_id is None


def test_layout_unknown() -> None:
    """No cells, a settings record or a short frame tell nothing."""
    assert cell_layout(record(2, {})) is None
    assert cell_layout(record(1, {})) is None
    assert cell_layout(b"\x55\xaa\xeb\x90\x02") is None
    assert software_major("abc") is None
    assert software_major(None) is None


@pytest.mark.parametrize("protocol", ["jk02", "jk02_32", "jkv11"])
def test_every_setting_reads_a_field_and_writes_an_accepted_command(protocol: str) -> None:
    """Read fields exist in the read command's layout; the range ends encode to valid commands."""
    proto = get_protocol(protocol)
    for setting in proto.settings.values():
        keys = {
            key for spec in proto.commands[setting.read_command].fields for key in spec.field_keys()
        }
        assert setting.read_field in keys, setting.key
        if setting.kind is SettingKind.SWITCH:
            samples: list[object] = [True, False]
        else:
            assert setting.minimum is not None and setting.maximum is not None
            samples = [setting.minimum, setting.maximum]
        for value in samples:
            assert len(proto.build_request(setting.encode(value))) == 20


@pytest.mark.parametrize("protocol", JK)
def test_polling_lists_name_commands_of_the_protocol(protocol: str) -> None:
    """Status, settings and identity commands exist and answer with the right record type."""
    proto = get_protocol(protocol)
    assert proto.status_commands == ("getCellData",)
    assert proto.settings_commands == ("getSettings",)
    assert proto.id_commands == ("getInfo",)
    assert [
        proto.commands[name].options["record"] for name in ("getSettings", "getCellData", "getInfo")
    ] == [1, 2, 3]


@pytest.mark.parametrize(
    ("name", "stream", "expected"),
    [
        ("cell_data_300", lambda rec: rec, lambda rec: [rec]),
        ("garbage_then_record", lambda rec: b"\x01\x02" + rec, lambda rec: [rec]),
        ("xsor_ack_20", lambda rec: ACK, lambda rec: [ACK]),
    ],
)
def test_record_completeness_as_the_reference_io_sees_it(
    name: str, stream: Any, expected: Any
) -> None:
    """extra/io.jsonl: a 300-byte record, 2 bytes of garbage + a record, a 20-byte ack."""
    cells = example("jk02", "getCellData", 0)
    assembler = JkRecordAssembler()
    assert [r.frame for r in assembler.feed(stream(cells))] == expected(cells), name
