"""JK485 (JK active balancer over RS485): request, decoding as a user sees it, bad frames."""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import CRCError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols import get_protocol

from .jk_frames import jk485_frame

JK485 = get_protocol("jk485")

# A capture from a 20-cell pack, documented in syssi/esphome-jk-bms components/jk_balancer.
CAPTURE = bytes.fromhex(
    "eb9001ff19f70cfc14001300010003000000"
    "0b07d00114"
    "0cfc0cfc0cfc0cfb0cfb0cfc0cfb0cfb0cfc0cfc0cfc0cfc0cfc0cfc0cfb0cfc0cfb0cfc0cfc0cf9"
    "0000000000000000"
    "00a3ef"
)


def test_request_is_read_all_with_byte_sum() -> None:
    """``55 AA 01 FF 00 00`` and the byte sum 0x1FF & 0xFF = FF."""
    assert JK485.build_request("getBalancerData").hex() == "55aa01ff0000ff"


def test_capture_decodes_to_values_with_units() -> None:
    """The documented capture: 66.47 V, 20 cells, an alarm, 16.3 °C."""
    assert len(CAPTURE) == 74
    result = JK485.decode("getBalancerData", CAPTURE)
    assert result["total_battery_voltage"] == 66.47
    assert result["average_cell_voltage"] == 3.324
    assert result["number_of_cells"] == 20
    assert result["balancing_state"] == "Idle"
    assert result["wrong_cell_count"] is True  # alarm byte 0x01
    assert result["resistance_too_high"] is False
    assert result["voltage_difference"] == 0.003
    assert result["balance_trigger_voltage"] == 0.011
    assert result["max_balance_current"] == 2.0
    assert result["balancer_enabled"] is True
    assert result["temperature"] == 16.3
    fields = result.fields
    assert (fields["temperature"].unit, fields["voltage_cell01"].unit) == ("°C", "V")
    assert fields["wrong_cell_count"].hints.device_class == "problem"
    assert fields["header"].hints.enabled_default is False


def test_cells_and_summary_are_one_based() -> None:
    """Cells 1…20 only; the device's highest/lowest bytes count from 0 (0 and 19 here)."""
    result = JK485.decode("getBalancerData", CAPTURE)
    assert result["voltage_cell20"] == 3.321
    assert "voltage_cell21" not in result
    assert (result["highest_cell"], result["lowest_cell"]) == (0, 19)
    assert (result["max_cell_voltage_cell"], result["min_cell_voltage_cell"]) == (1, 20)
    assert (result["min_cell_voltage"], result["max_cell_voltage"]) == (3.321, 3.324)
    assert result["delta_cell_voltage"] == 0.003


def test_configured_count_limits_the_cells() -> None:
    """An 8-cell configuration reports 8 voltages, even if more slots hold numbers."""
    frame = jk485_frame([3300 + i for i in range(10)], configured=8, detected=10)
    result = JK485.decode("getBalancerData", frame)
    assert [k for k in result if k.startswith("voltage_cell")] == [
        f"voltage_cell0{i}" for i in range(1, 9)
    ]
    assert result["number_of_cells"] == 10


@pytest.mark.parametrize(
    ("code", "label"), [(1, "Charging"), (2, "Discharging"), (7, "Unknown (7)")]
)
def test_balancing_state_labels(code: int, label: str) -> None:
    """0 idle, 1 charging, 2 discharging; anything else is shown, not guessed."""
    frame = jk485_frame([3300] * 4, configured=4, status=code)
    result = JK485.decode("getBalancerData", frame)
    assert result["balancing_state"] == label


def test_signed_values() -> None:
    """Balance current and temperature are signed."""
    frame = jk485_frame([3300] * 4, configured=4, balance_current=-1500, temperature=-55)
    result = JK485.decode("getBalancerData", frame)
    assert result["balance_current"] == -1.5
    assert result["temperature"] == -5.5


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (CAPTURE[:73], TruncatedFrameError, "has 74"),
        (CAPTURE + b"\x00", FrameError, "has 74"),
        (b"\xeb\x91" + CAPTURE[2:], FrameError, "header"),
        (
            CAPTURE[:3] + b"\xf0" + CAPTURE[4:73] + bytes(((CAPTURE[73] - 0x0F) % 256,)),
            FrameError,
            "function",
        ),
        (CAPTURE[:73] + b"\x00", CRCError, "checksum"),
    ],
)
def test_malformed_frames_raise_protocol_errors(
    frame: bytes, error: type[Exception], message: str
) -> None:
    """Each framing fault has its own error."""
    with pytest.raises(error, match=message):
        JK485.decode("getBalancerData", frame)


def test_polling_lists() -> None:
    """The status command is polled; the balancer has no settings model here."""
    assert JK485.status_commands == ("getBalancerData",)
    assert dict(JK485.settings) == {}
