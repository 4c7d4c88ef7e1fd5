"""JK232 (JBD-style ``DD … 77`` frames): requests, decoding as a user sees it, bad frames."""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import (
    CRCError,
    FrameError,
    NAKError,
    TruncatedFrameError,
    UnknownCommandError,
)
from mppsolar_lib.protocols import get_protocol

from .jk_frames import jbd_frame

JK232 = get_protocol("jk232")

# The JBD protocol document's example answer to register 03 (also the reference's test frame).
BASIC = bytes.fromhex("dd03001b1700000002d003e8000020780000000000001048030f020b760b82fbff77")
# The document's example answers to registers 04 (15 cells) and 05.
CELLS = bytes.fromhex("dd04001e0f660f630f630f640f3e0f630f370f5b0f650f3b0f630f630f3c0f660f3df9f977")
NAME = bytes.fromhex("dd05000a30313233343536373839fde977")


def basic_data(
    *,
    volts: int = 5288,
    amps: int = 0,
    remaining: int = 720,
    nominal: int = 1000,
    date: int = 0x2078,
    balance: tuple[int, int] = (0, 0),
    protection: int = 0,
    cells: int = 15,
    ntcs: tuple[int, ...] = (2934, 2946),
) -> bytes:
    """Register 03 data (big-endian), as the JBD register map lays it out."""
    return (
        volts.to_bytes(2, "big")
        + amps.to_bytes(2, "big", signed=True)
        + remaining.to_bytes(2, "big")
        + nominal.to_bytes(2, "big")
        + (7).to_bytes(2, "big")
        + date.to_bytes(2, "big")
        + balance[0].to_bytes(2, "big")
        + balance[1].to_bytes(2, "big")
        + protection.to_bytes(2, "big")
        + bytes((0x21, 55, 0x01, cells, len(ntcs)))
        + b"".join(n.to_bytes(2, "big") for n in ntcs)
    )


def test_requests_carry_the_documented_checksum() -> None:
    """Read requests are the JBD document's own: ``DD A5 reg 00 chk 77``, chk = 0x10000 - sum."""
    assert JK232.build_request("getBalancerData").hex() == "dda50300fffd77"
    assert JK232.build_request("getCellVoltages").hex() == "dda50400fffc77"
    assert JK232.build_request("getDeviceName").hex() == "dda50500fffb77"


def test_unknown_command_and_parameters_are_refused() -> None:
    """Commands take no parameter; unknown ones suggest close matches."""
    with pytest.raises(UnknownCommandError, match="(?i)did you mean getbalancerdata"):
        JK232.build_request("getBalancerDta")
    with pytest.raises(UnknownCommandError):
        JK232.build_request("getBalancerData1")


def test_basic_information_decodes_to_values_with_units() -> None:
    """The document's example: 58.88 V, idle, 7.2 of 10 Ah, 72 %, 15 cells, two NTCs."""
    result = JK232.decode("getBalancerData", BASIC)
    assert result["total_battery_voltage"] == 58.88
    assert result["total_current"] == 0.0
    assert result["power"] == 0.0
    assert result["remaining_capacity"] == 7.2
    assert result["nominal_capacity"] == 10.0
    assert result["cycles"] == 0
    assert result["remaining_battery"] == 72
    assert result["number_of_battery_strings"] == 15
    assert (result["ntc_1"], result["ntc_2"]) == (20.3, 21.5)  # (2934 - 2731) / 10
    assert "ntc_3" not in result
    # 0x2078: year 16 (bits 15-9), month 3 (bits 8-5), day 24 (bits 4-0).
    assert result["manufacture_date"] == "2016-03-24"
    assert result["software_version"] == "1.0"
    assert result["charge_mos"] is True
    assert result["discharge_mos"] is True
    assert result["short_circuit_protection"] is False
    fields = result.fields
    assert (fields["total_battery_voltage"].unit, fields["ntc_1"].unit) == ("V", "°C")
    assert fields["total_current"].hints.device_class == "current"
    assert fields["remaining_battery"].hints.device_class == "battery"
    assert fields["cycles"].hints.state_class == "total_increasing"
    assert fields["short_circuit_protection"].hints.device_class == "problem"


def test_reference_keys_are_kept_hidden() -> None:
    """The raw hex the reference reports stays under its keys, disabled by default."""
    result = JK232.decode("getBalancerData", BASIC)
    assert result["production_date"] == "2078"
    assert result["equilibrium_state_todo"] == "0000"
    assert result["fet_control_status"] == "03"
    assert result["keep"] == "10"
    assert (result["checksum"], result["end_byte"]) == ("fbff", "77")
    assert result.fields["checksum"].hints.enabled_default is False
    assert result.fields["total_battery_voltage"].hints.enabled_default is True


def test_discharge_is_negative_and_capacities_are_unsigned() -> None:
    """Current is signed (negative = discharge); capacities above 327.67 Ah stay positive."""
    frame = jbd_frame(0x03, basic_data(volts=5200, amps=-1234, remaining=40000, nominal=50000))
    result = JK232.decode("getBalancerData", frame)
    assert result["total_current"] == -12.34
    assert result["power"] == -641.68  # 52.00 V x -12.34 A
    assert result["remaining_capacity"] == 400.0
    assert result["nominal_capacity"] == 500.0


def test_balancing_flags_follow_the_cell_count() -> None:
    """Cells 1-16 in the first word, 17-32 in the second; no flag beyond the pack's cells."""
    frame = jbd_frame(0x03, basic_data(cells=20, balance=(0b100, 0b1)))
    result = JK232.decode("getBalancerData", frame)
    assert result["balancing_cell03"] is True
    assert result["balancing_cell17"] is True
    assert result["balancing_cell20"] is False
    assert "balancing_cell21" not in result
    small = JK232.decode("getBalancerData", jbd_frame(0x03, basic_data(cells=4)))
    assert [k for k in small if k.startswith("balancing_cell")] == [
        f"balancing_cell0{i}" for i in range(1, 5)
    ]


def test_protection_bits() -> None:
    """Bit 0 is cell overvoltage, bit 10 short circuit, bit 12 the MOS software lock."""
    frame = jbd_frame(0x03, basic_data(protection=(1 << 0) | (1 << 10) | (1 << 12)))
    result = JK232.decode("getBalancerData", frame)
    assert result["cell_overvoltage_protection"] is True
    assert result["short_circuit_protection"] is True
    assert result["mos_software_lock"] is True
    assert result["pack_overvoltage_protection"] is False
    assert result["protection_state_todo"] == "1401"


def test_ntc_count_comes_from_the_frame() -> None:
    """Three NTCs give three readings (0.1 K above 273.1 K); below zero °C stays signed."""
    frame = jbd_frame(0x03, basic_data(ntcs=(2731, 2981, 2631)))
    result = JK232.decode("getBalancerData", frame)
    assert (result["ntc_1"], result["ntc_2"], result["ntc_3"]) == (0.0, 25.0, -10.0)
    none = JK232.decode("getBalancerData", jbd_frame(0x03, basic_data(ntcs=())))
    assert not any(key.startswith("ntc_") for key in none)


def test_ntc_count_beyond_the_data_is_truncated() -> None:
    """An NTC count the data length cannot hold is a truncated frame, not invented readings."""
    data = bytearray(basic_data(ntcs=(2934,)))
    data[22] = 3  # says 3 NTCs, carries 1
    with pytest.raises(TruncatedFrameError, match="NTC"):
        JK232.decode("getBalancerData", jbd_frame(0x03, bytes(data)))


def test_impossible_date_gives_no_date() -> None:
    """A date word with month 0 is not shown as a date (the raw hex stays)."""
    result = JK232.decode("getBalancerData", jbd_frame(0x03, basic_data(date=0x2000)))
    assert "manufacture_date" not in result
    assert result["production_date"] == "2000"


def test_cell_voltages_with_summary() -> None:
    """The document's 15 cells: min 3.895 V (cell 7), max 3.942 V (cell 1), spread 47 mV."""
    result = JK232.decode("getCellVoltages", CELLS)
    assert result["voltage_cell01"] == 3.942
    assert result["voltage_cell15"] == 3.901
    assert "voltage_cell16" not in result
    assert (result["min_cell_voltage"], result["min_cell_voltage_cell"]) == (3.895, 7)
    assert (result["max_cell_voltage"], result["max_cell_voltage_cell"]) == (3.942, 1)
    assert result["delta_cell_voltage"] == 0.047
    assert result.fields["voltage_cell01"].unit == "V"


def test_device_name_with_and_without_length_prefix() -> None:
    """The document's answer is the bare text; some firmwares put its length first."""
    assert JK232.decode("getDeviceName", NAME)["device_name"] == "0123456789"
    prefixed = jbd_frame(0x05, b"\x0bJBD-SP04S03")
    assert JK232.decode("getDeviceName", prefixed)["device_name"] == "JBD-SP04S03"
    assert "device_name" not in JK232.decode("getDeviceName", jbd_frame(0x05, b""))


def test_refusal_raises_nak() -> None:
    """Status 0x80 is the BMS refusing the register."""
    with pytest.raises(NAKError, match="refused"):
        JK232.decode("getBalancerData", jbd_frame(0x03, b"", status=0x80))


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (BASIC[:6], TruncatedFrameError, "at least 7"),
        (b"\xaa" + BASIC[1:], FrameError, "starts with"),
        (CELLS, FrameError, "register 0x04"),
        (BASIC[:-5] + BASIC[-3:], TruncatedFrameError, "length says"),
        (BASIC + b"\x00", FrameError, "after the frame"),
        (BASIC[:-1] + b"\x78", FrameError, "ends with"),
        (BASIC[:-3] + b"\xfb\xfe\x77", CRCError, "checksum"),
        (jbd_frame(0x03, b"", status=0x01), FrameError, "unknown status"),
        (jbd_frame(0x03, basic_data()[:20]), TruncatedFrameError, "needs 23"),
    ],
)
def test_malformed_frames_raise_protocol_errors(
    frame: bytes, error: type[Exception], message: str
) -> None:
    """Each framing fault has its own error and says what is wrong."""
    with pytest.raises(error, match=message):
        JK232.decode("getBalancerData", frame)


def test_polling_lists_and_settings() -> None:
    """Status polls basic info and cells, the name identifies; no setters are known."""
    assert JK232.status_commands == ("getBalancerData", "getCellVoltages")
    assert JK232.id_commands == ("getDeviceName",)
    assert dict(JK232.settings) == {}
