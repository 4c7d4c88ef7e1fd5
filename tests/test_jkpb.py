"""JKPB (JK-PB inverter BMS): Modbus trigger requests, JK records decoded, bad frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mppsolar_lib.errors import CRCError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols import get_protocol, jk02, jkble

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
    # 13503301 s, shown as the Bluetooth protocols show it
    assert result["up_time"] == "156D6H55M1S"
    assert "1234" not in result.values()
    assert "4096" not in result.values()
    assert not jkble.PASSCODES & set(result)
    assert result["user_data"] == ""  # empty texts are kept, as on Bluetooth
    assert result["response"] == DEVICE_INFO.hex()
    assert result.fields["response"].hints.enabled_default is False


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Dach Süd 电池".encode(), "Dach Süd 电池"),  # UTF-8, as the JK app writes it
        ("Café Nord".encode("latin-1"), "Caf\ufffd Nord"),  # the odd byte replaced, not fatal
        ("电池组一二三".encode()[:16], "电池组一二\ufffd"),  # cut inside the last character
    ],
)
def test_user_set_names_need_not_be_ascii(raw: bytes, name: str) -> None:
    """JK lets users name the pack: a non-ASCII name or user data loses no record."""
    frame = jk_record(3, {6: b"JK_PB2A16S15P", 30: b"15.10", 46: raw, 102: raw}, register=0x161C)
    result = JKPB.decode("getBalancerData", frame)
    assert (result["device_name"], result["user_data"]) == (name, name)
    assert result["device_model"] == "JK_PB2A16S15P"


@pytest.mark.parametrize(("offset", "field"), [(6, "Device Model"), (30, "Software Version")])
def test_factory_texts_stay_ascii(offset: int, field: str) -> None:
    """Model, versions, date and serial number come from the factory: other bytes are damage."""
    frame = jk_record(3, {offset: "Süd".encode()})
    with pytest.raises(FrameError, match="cannot decode"):
        JKPB.decode("getBalancerData", frame)


def test_layouts_are_the_bluetooth_ones() -> None:
    """One definition per record: the jk02_32 layouts' specs, plus jkpb's response and label."""
    commands = JKPB.commands
    for name, layout in (
        ("getCellData", jk02.cell_fields(32)),
        ("getAdditionalInfo", jk02.settings_fields(32)),
        ("getBalancerData", jkble.DEVICE_INFO_FIELDS),
    ):
        ours = {spec.key for spec in commands[name].fields}
        assert ours - {spec.key for spec in layout} == {"response"}, name
        assert {spec.key for spec in layout} - ours <= jkble.PASSCODES, name
    assert commands["getBalancerData"].fields[4] is jkble.DEVICE_INFO_FIELDS[3]


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
    assert (result["min_voltage_cell"], result["max_voltage_cell"]) == (4, 1)
    assert result["cell_count"] == 8
    assert result["delta_cell_voltage"] == 0.001
    assert result["average_cell_voltage"] == 3.357
    assert result["battery_voltage"] == 26.852
    assert result["battery_current"] == 17.841
    assert result["battery_power"] == 479.072
    assert result["battery_power"] == pytest.approx(26.852 * 17.841, abs=0.01)
    assert (result["mos_temp"], result["battery_t1"], result["battery_t2"]) == (30.0, 29.6, 29.4)
    assert (result["battery_t3"], result["battery_t4"], result["battery_t5"]) == (28.6, 28.6, 30.0)
    assert result["percent_remain"] == 88
    assert result["capacity_remain"] == 193.465
    assert result["nominal_capacity"] == 220.0
    assert result["cycle_count"] == 101
    assert result["state_of_health"] == 100
    assert (result["charging"], result["discharging"]) == (True, True)
    assert result["balancing_action"] == "Off"
    assert (result["balancing"], result["precharging"], result["heating"]) == (False,) * 3
    assert result["charge_status"] == "Bulk"
    assert (result["dry1_active"], result["dry2_active"]) == (False, False)
    assert result["cell_overvoltage"] is False
    assert result["battery_pack_undervoltage"] is False
    assert result["mosfet_overtemperature"] is False
    assert result["wire_resistance_warning_cell08"] is False
    assert "wire_resistance_warning_cell09" not in result
    assert result["time"] == "156D6H55M54S"
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
    assert (result["charge_switch"], result["balancer_switch"]) == ("enabled", "enabled")
    assert "wire_resistance_09" not in result  # only the 8 cells of the pack
    assert result["wire_resistance_08"] == 0.0
    assert (result["display_always_on"], result["heating_enabled"]) == (True, False)
    assert result["smart_sleep_time"] == 24
    assert result.fields["cell_ovp"].hints.entity_category == "diagnostic"


def test_records_decode_by_their_type_whatever_the_command() -> None:
    """The reference files its cell-data example under getAdditionalInfo: it still reads as cells."""
    result = JKPB.decode("getAdditionalInfo", CELL_DATA)
    assert result.command == "getAdditionalInfo"
    assert result["record_type"] == "Cell data"
    assert result.fields["voltage_cell01"].name == "Voltage_Cell01"
    assert result.fields["battery_current"].unit == "A"


def test_empty_cell_mask_reports_every_position() -> None:
    """A mask of 0 says nothing about the pack: all 32 positions, like the Bluetooth layouts."""
    result = JKPB.decode("getCellData", jk_record(2, {6: le(3300, 2)}))
    assert result["voltage_cell32"] == 0.0
    assert "cell_count" not in result
    assert (result["min_cell_voltage"], result["max_cell_voltage"]) == (3.3, 3.3)


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
