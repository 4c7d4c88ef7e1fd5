"""PI16: requests without CRC, the energy queries' byte-sum check, decoding, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mppsolar_lib.errors import (
    CRCError,
    EchoError,
    FrameError,
    InvalidParameterError,
    NAKError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.pi16 import PI16

from .helpers import pi_crc_bytes, pi_frame

PROTO = get_protocol("pi16")
PI30 = get_protocol("pi30")
VECTORS = Path(__file__).parent / "vectors" / "pi16.jsonl"

# Real captures from the reference's examples (their CRCs check out).
QPIGS_ON_GRID = (
    "224.6 000000 49.9 0006.8 232.4 01594 49.9 006.8 029 415.0 415.0 057.9 ---.- 100 00000 "
    "00000 ----- 000.0 000.0 ---.- 035.0 D---110001"
)
QPIGS_SOLAR = (
    "225.8 000024 49.9 0000.0 000.0 00000 00.0 000.0 000 405.4 405.4 048.8 ---.- 048 00163 "
    "00024 ----- 342.6 ---.- ---.- 049.0 A---001010"
)


def byte_sum_check(text: str) -> bytes:
    """Three decimal digits: the byte sum of ``text`` modulo 256 (computed here, independently)."""
    total = 0
    for char in text.encode("ascii"):
        total = (total + char) % 256
    return f"{total:03d}".encode()


def reference(command: str, index: int = 0) -> dict[str, object]:
    """Return the reference's record for one example of ``command``."""
    for line in VECTORS.read_text().splitlines():
        vector: dict[str, object] = json.loads(line)
        if vector["command"] == command and vector.get("response_index", 0) == index:
            return vector
    raise KeyError(command)


# -- registry and tables -----------------------------------------------------------------------


def test_registered_and_shares_identical_pi30_commands() -> None:
    """PI16 is registered; the commands identical to PI30's are the same objects, not copies."""
    assert isinstance(PROTO, PI16)
    assert get_protocol("PI16") is PROTO
    assert PROTO.commands["QID"] is PI30.commands["QID"]
    assert PROTO.commands["QGMN"] is PI30.commands["QGMN"]
    # ... and so is the spec of the two identical QPIRI positions.
    assert PROTO.commands["QPIRI"].spec("machine_type") is PI30.commands["QPIRI"].spec(
        "machine_type"
    )


def test_poll_lists_name_existing_queries_and_no_setters_exist() -> None:
    """Status, settings and id polls use known commands; PI16 has no setter and no settings."""
    for name in (*PROTO.status_commands, *PROTO.settings_commands, *PROTO.id_commands):
        assert name in PROTO.commands
    assert "QPIGS" in PROTO.status_commands
    assert "QPI" in PROTO.id_commands
    assert all(command.kind == "query" for command in PROTO.commands.values())
    assert dict(PROTO.settings) == {}


# -- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["QPI", "QID", "QGMN", "QMOD", "QPIBI", "QPIGS", "QVFW2"])
def test_requests_carry_no_crc(command: str) -> None:
    """Plain queries go out as the command and CR, nothing else (as the reference sends them)."""
    assert PROTO.build_request(command) == command.encode() + b"\r"


def test_daily_energy_request_matches_the_reference_byte_for_byte() -> None:
    """QED + date + byte sum of the whole text: the reference's vector and our own sum agree."""
    sent = PROTO.build_request("QED20150620")
    assert sent.hex() == reference("QED20150620")["request_hex"]
    assert sent == b"QED20150620" + byte_sum_check("QED20150620") + b"\r"
    assert sent == b"QED20150620106\r"  # 618 % 256 = 106


@pytest.mark.parametrize("command", ["QEH2015062010", "QEM201506", "QEY2015", "QEY2099"])
def test_hour_month_and_year_energy_requests_use_their_own_names(command: str) -> None:
    """QEH/QEM/QEY go out under their own names (the reference sends all of them as QED)."""
    assert PROTO.build_request(command) == command.encode() + byte_sum_check(command) + b"\r"


def test_byte_sum_keeps_three_digits_with_leading_zeros() -> None:
    """A sum below 100 is still sent as three digits (QEM201506: 529 % 256 = 17 -> '017')."""
    assert PROTO.build_request("QEM201506") == b"QEM201506017\r"


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("QED2015062010", "QEH"),
        ("QED201506", "QEM"),
        ("QED2015", "QEY"),
        ("QED20230229", "not a real date"),
        ("QED12345678", "YYYYMMDD"),
        ("QEH2015062024", "YYYYMMDDHH"),
        ("QEH2015023010", "not a real date or time; use a real date and hour"),
        ("QEM201513", "YYYYMM"),
        ("QEY1999", "YYYY"),
        ("QED2015062", "YYYYMMDD"),
    ],
)
def test_invalid_energy_dates_are_refused_with_a_hint(command: str, hint: str) -> None:
    """Nothing is sent for an impossible date; the message says what to write instead."""
    with pytest.raises(InvalidParameterError, match=hint):
        PROTO.build_request(command)


def test_reference_style_hourly_query_points_to_qeh() -> None:
    """The reference's QED + 10 digits is not what a unit expects; we say which command is."""
    with pytest.raises(InvalidParameterError, match=r"QEH \(YYYYMMDDHH\)"):
        PROTO.build_request("QED2015062010")


# -- decoding ----------------------------------------------------------------------------------


def test_qpigs_as_a_user_sees_it() -> None:
    """Grid, output, buses, battery and PV values with units; dash placeholders give no field."""
    result = PROTO.decode("QPIGS", pi_frame(QPIGS_ON_GRID))
    assert result["grid_voltage"] == 224.6
    assert result["ac_output_power_r"] == 1594
    assert result["output_current"] == 6.8
    assert result["positive_battery_voltage"] == 57.9
    assert result["battery_capacity"] == 100
    assert result["max_temperature"] == 35.0
    assert result["status_todo"] == "D---110001"
    # '---.-' and '-----' mean "not fitted" (no negative battery, no third PV input): not 0.
    for absent in ("negative_battery_voltage", "pv3_input_power", "pv3_input_voltage"):
        assert absent not in result
    fields = result.fields
    assert (fields["grid_voltage"].unit, fields["grid_voltage"].hints.device_class) == (
        "V",
        "voltage",
    )
    assert fields["battery_capacity"].hints.device_class == "battery"
    assert fields["max_temperature"].unit == "°C"
    assert fields["pv1_input_power"].hints.icon == "mdi:solar-power"
    assert fields["status_todo"].name == "Status (undocumented)"


def test_qpigs_second_capture_with_solar() -> None:
    """The PV inputs that produce are decoded; the dashed ones are absent."""
    result = PROTO.decode("QPIGS", pi_frame(QPIGS_SOLAR))
    assert (result["pv1_input_power"], result["pv2_input_power"]) == (163, 24)
    assert result["pv1_input_voltage"] == 342.6
    assert "pv2_input_voltage" not in result
    assert result["battery_capacity"] == 48


def test_reference_captures_decode_to_the_reference_values() -> None:
    """The real captures in the vectors (valid CRCs) give the values the reference shows."""
    for command, key, expected in [
        ("QPI", "protocol_version", "PI16"),
        ("QID", "serial_number", "96131801100057"),
        ("QGMN", "general_model_name", "000"),
        ("QVFW", "main_cpu_firmware_version", "00000.27"),
        ("QVFW2", "secondary_cpu_firmware_version", "00000.30"),
        ("QPIRI", "machine_type", "Hybrid"),
        ("QPIRI", "topology", "transformerless"),
        ("QPIRI", "maximum_input_current_per_pv", 18.0),
    ]:
        frame = bytes.fromhex(str(reference(command)["response_hex"]))
        assert PROTO.decode(command, frame)[key] == expected, command
    assert PROTO.decode("QMOD", bytes.fromhex(str(reference("QMOD", 1)["response_hex"])))[
        "device_mode"
    ] == ("Grid Mode")


def test_firmware_label_is_stripped_only_when_present() -> None:
    """``VERFW:`` is the unit's label, not part of the version; a bare version stays as sent."""
    assert PROTO.decode("QVFW", pi_frame("VERFW:00001.02"))["main_cpu_firmware_version"] == (
        "00001.02"
    )
    assert PROTO.decode("QVFW", pi_frame("00001.02"))["main_cpu_firmware_version"] == "00001.02"
    assert "main_cpu_firmware_version" not in PROTO.decode("QVFW", pi_frame("VERFW:"))


def test_energy_answers_in_wh_with_a_period_state_class() -> None:
    """Energy for a period: an integer in Wh, marked 'total' (it is not a lifetime counter)."""
    for command in ("QED20150620", "QEH2015062010", "QEM201506", "QEY2015"):
        result = PROTO.decode(command, pi_frame("012345"))
        assert result["energy_produced"] == 12345
        field = result.fields["energy_produced"]
        assert (field.unit, field.hints.device_class, field.hints.state_class) == (
            "Wh",
            "energy",
            "total",
        )


def test_modes_and_battery_information() -> None:
    """Mode letters become labels, unknown ones are shown as such; QPIBI's counts and units."""
    assert PROTO.decode("QMOD", pi_frame("B"))["device_mode"] == "Inverter (Battery) Mode"
    assert PROTO.decode("QMOD", pi_frame("C"))["device_mode"] == "PV charging Mode"
    assert PROTO.decode("QMOD", pi_frame("X"))["device_mode"] == "Unknown (X)"
    result = PROTO.decode("QPIBI", pi_frame("0 6 1234 12 43"))
    assert dict(result) == {
        "unknown": 0,
        "number_of_batteries": 6,
        "battery_total_capacity": 1234,
        "unknown_2": 12,
        "battery_remaining_time": 43,
    }
    assert result.fields["battery_total_capacity"].unit == "Ah"
    assert result.fields["battery_remaining_time"].unit == "min"


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "index"), [("QED12345678", 0), ("QMOD", 0), ("QPIBI", 0)])
def test_reference_examples_with_borrowed_crcs_are_rejected(command: str, index: int) -> None:
    """Three reference examples carry another frame's CRC bytes: a real unit never sends that."""
    frame = bytes.fromhex(str(reference(command, index)["response_hex"]))
    expected = InvalidParameterError if command == "QED12345678" else CRCError
    with pytest.raises(expected):
        PROTO.decode(command, frame)
    # The CRC bytes are those of another answer: '(PI16' for QED/QMOD, '(G' for QPIBI.
    assert frame[-3:-1] in (pi_crc_bytes(b"(PI16"), pi_crc_bytes(b"(G"))


def test_nak_echo_and_truncation() -> None:
    """Refusal, an echoed request and cut-off frames raise the matching errors."""
    with pytest.raises(NAKError):
        PROTO.decode("QPIGS", pi_frame("NAK"))
    with pytest.raises(EchoError):
        PROTO.decode("QPIGS", b"QPIGS\r")
    with pytest.raises(TruncatedFrameError):
        PROTO.decode("QPIGS", b"(1")
    with pytest.raises(TruncatedFrameError):
        PROTO.decode("QPIGS", pi_frame(QPIGS_ON_GRID)[:-1])


def test_unparsable_number_is_an_error_not_zero() -> None:
    """A value that is neither a number nor a placeholder makes the frame unreadable."""
    with pytest.raises(FrameError, match="Grid voltage"):
        PROTO.decode("QPIGS", pi_frame("22x.6 " + QPIGS_ON_GRID.partition(" ")[2]))
