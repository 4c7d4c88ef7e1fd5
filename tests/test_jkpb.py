"""JKPB (JK-PB inverter BMS): Modbus trigger requests, JK records decoded, bad frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mppsolar_lib.errors import CRCError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols import get_protocol

from .jk_frames import jk_record, le, modbus_crc

JKPB = get_protocol("jkpb")
VECTORS = [
    json.loads(line)
    for line in (Path(__file__).parent / "vectors" / "jkpb.jsonl").read_text().splitlines()
]
FRAMES = {
    v["command"]: bytes.fromhex(v["response_hex"]) for v in VECTORS if v["kind"] == "test_response"
}
# The reference's example answers, by the record type they carry (byte 4).
DEVICE_INFO = FRAMES["getBalancerData"]
CELL_DATA = FRAMES["getAdditionalInfo"]
SETTINGS = FRAMES["getCellData"]


@pytest.mark.parametrize(
    ("command", "register"),
    [("getBalancerData", 0x161C), ("getAdditionalInfo", 0x161E), ("getCellData", 0x1620)],
)
def test_requests_are_modbus_writes_with_crc(command: str, register: int) -> None:
    """Write one zero word (function 10) to the trigger register; CRC-16/MODBUS low byte first."""
    pdu = b"\x01\x10" + register.to_bytes(2, "big") + b"\x00\x01\x02\x00\x00"
    assert JKPB.build_request(command) == pdu + modbus_crc(pdu).to_bytes(2, "little")


def test_example_answers_carry_the_records_their_modbus_responses_name() -> None:
    """The reference's examples: 161C -> device info, 1620 -> cell data, 161E -> settings."""
    assert (DEVICE_INFO[4], DEVICE_INFO[302:304].hex()) == (3, "161c")
    assert (CELL_DATA[4], CELL_DATA[302:304].hex()) == (2, "1620")
    assert (SETTINGS[4], SETTINGS[302:304].hex()) == (1, "161e")


def test_device_info() -> None:
    """Model, versions, serial number; the passcodes are not reported."""
    result = JKPB.decode("getBalancerData", DEVICE_INFO)
    assert result["record_type"] == "Device info"
    assert result["device_model"] == "JK_PB2A16S15P"
    assert result["hardware_version"] == "15.XA"
    assert result["software_version"] == "15.10"
    assert result["serial_number"] == "31213480085"
    assert result["manufacturing_date"] == "240510"
    assert result["device_name"] == "ATR BMS"
    assert result["power_on_times"] == 452
    assert result["uptime"] == 13503301
    assert "1234" not in result.values()
    assert "4096" not in result.values()
    assert "user_data" not in result  # empty text gives no field
    assert result["response"] == DEVICE_INFO.hex()
    assert result.fields["response"].hints.enabled_default is False


def test_cell_data() -> None:
    """Eight cells (enable mask 0xFF), pack values with units, power signed like the current."""
    result = JKPB.decode("getCellData", CELL_DATA)
    assert result["record_type"] == "Cell data"
    assert [k for k in result if k.startswith("voltage_cell")] == [
        f"voltage_cell0{i}" for i in range(1, 9)
    ]
    assert result["voltage_cell01"] == 3.357
    assert result["resistance_cell08"] == 0.102
    assert "resistance_cell09" not in result
    assert (result["min_cell_voltage"], result["max_cell_voltage"]) == (3.356, 3.357)
    assert result["delta_cell_voltage"] == 0.001
    assert result["battery_voltage"] == 26.852
    assert result["battery_current"] == 17.841
    assert result["battery_power"] == 479.072
    assert result["battery_power"] == pytest.approx(26.852 * 17.841, abs=0.01)
    assert (result["mos_temp"], result["battery_t1"], result["battery_t2"]) == (30.0, 29.6, 29.4)
    assert result["percent_remain"] == 88
    assert result["capacity_remain"] == 193.465
    assert result["nominal_capacity"] == 220.0
    assert result["cycle_count"] == 101
    assert result["state_of_health"] == 100
    assert (result["charging"], result["discharging"]) == (True, True)
    assert result["balancing_action"] == "Off"
    assert result["cell_overvoltage"] is False
    fields = result.fields
    assert (fields["battery_current"].unit, fields["resistance_cell01"].unit) == ("A", "Ω")
    assert fields["percent_remain"].hints.device_class == "battery"
    assert fields["cell_overvoltage"].hints.device_class == "problem"


def test_settings() -> None:
    """Protection thresholds in V, A, °C (negative below zero), switches as booleans."""
    result = JKPB.decode("getAdditionalInfo", SETTINGS)
    assert result["record_type"] == "Settings"
    assert (result["cell_ovp"], result["cell_uvp"]) == (3.65, 2.65)
    assert result["max_charge_current"] == 150.0
    assert result["charge_utp"] == -10.0
    assert result["mos_otp"] == 100.0
    assert result["cell_count"] == 8
    assert (result["soc_100_voltage"], result["soc_0_voltage"]) == (3.499, 2.7)
    assert result["nominal_battery_capacity"] == 220.0
    assert (result["charge_switch"], result["balancer_switch"]) == (True, True)
    assert "wire_resistance_cell09" not in result
    assert result["wire_resistance_cell08"] == 0.0
    assert result["display_always_on"] is True
    assert result.fields["cell_ovp"].hints.entity_category == "diagnostic"


def test_records_decode_by_their_type_whatever_the_command() -> None:
    """The reference files its cell-data example under getAdditionalInfo: it still reads as cells."""
    result = JKPB.decode("getAdditionalInfo", CELL_DATA)
    assert result.command == "getAdditionalInfo"
    assert result["record_type"] == "Cell data"
    assert result.fields["voltage_cell01"].name == "Voltage_Cell01"
    assert result.fields["battery_current"].unit == "A"


def test_record_without_modbus_response() -> None:
    """A bare 300-byte record is complete."""
    result = JKPB.decode("getCellData", CELL_DATA[:300])
    assert result["battery_voltage"] == 26.852


def test_discharge_makes_power_negative() -> None:
    """Power (unsigned on the wire) takes the sign of the current."""
    frame = jk_record(
        2,
        {70: le(0xF, 4), 150: le(52000, 4), 154: le(520000, 4), 158: le(-10000, 4, signed=True)},
        register=0x1620,
    )
    result = JKPB.decode("getCellData", frame)
    assert result["battery_current"] == -10.0
    assert result["battery_power"] == -520.0
    assert [k for k in result if k.startswith("voltage_cell")] == [
        f"voltage_cell0{i}" for i in range(1, 5)
    ]


def test_alarm_word_is_big_endian() -> None:
    """Bytes 166-167: bit 0 (charge overtemperature) is the low bit of byte 167."""
    frame = jk_record(2, {70: le(1, 4), 166: b"\x10\x01"})
    result = JKPB.decode("getCellData", frame)
    assert result["charge_overtemperature"] is True
    assert result["cell_overvoltage"] is True  # bit 12
    assert result["charge_undertemperature"] is False


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (CELL_DATA[:299], TruncatedFrameError, "a record has 300"),
        (b"\x55\xaa\xeb\x91" + CELL_DATA[4:], FrameError, "header"),
        (CELL_DATA[:299] + b"\x00" + CELL_DATA[300:], CRCError, "record checksum"),
        (jk_record(4, {}), FrameError, "unknown record type"),
        (CELL_DATA + b"\x00", FrameError, "unexpected bytes"),
        (CELL_DATA[:301] + b"\x03" + CELL_DATA[302:], FrameError, "unexpected bytes"),
        (CELL_DATA[:-1] + b"\x00", CRCError, "Modbus response CRC"),
        (jk_record(3, {6: b"\xff" * 16}), FrameError, "cannot decode"),
    ],
)
def test_malformed_frames_raise_protocol_errors(
    frame: bytes, error: type[Exception], message: str
) -> None:
    """Each fault has its own error."""
    with pytest.raises(error, match=message):
        JKPB.decode("getCellData", frame)


def test_polling_lists() -> None:
    """Cells are status, settings are settings, device info identifies."""
    assert JKPB.status_commands == ("getCellData",)
    assert JKPB.settings_commands == ("getAdditionalInfo",)
    assert JKPB.id_commands == ("getBalancerData",)
    assert dict(JKPB.settings) == {}
