"""PI41 and PI30 REVO: what they add to PI30, their framing and parameter checks."""

from __future__ import annotations

from datetime import datetime

import pytest

from mppsolar_lib.errors import (
    CRCError,
    FrameError,
    InvalidParameterError,
    NAKError,
    UnknownCommandError,
)
from mppsolar_lib.protocols import Kind, get_protocol, list_protocols
from mppsolar_lib.protocols.pi30 import PI30
from mppsolar_lib.protocols.pi30revo import PI30REVO, SETTINGS_DIGITS, SWITCH_DIGITS, pset_command
from mppsolar_lib.protocols.pi41 import PI41

from .helpers import pi_frame, pi_request

PI30_PROTO = get_protocol("pi30")
PI41_PROTO = get_protocol("pi41")
REVO = get_protocol("pi30revo")

PSET_TEXT = "120103 56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06 00"


def chk(data: bytes) -> int:
    """Compute REVO's 8-bit check here, independently of the library."""
    return (sum(data) & 0xFF) + 1


def chk_frame(payload: str, end: bytes = b"\r") -> bytes:
    """Build a REVO answer carrying the 8-bit check (over ``(`` + payload) instead of a CRC."""
    body = b"(" + payload.encode("ascii")
    check = chk(body)
    assert check < 0x100, "pick a payload whose check fits one byte"
    return body + bytes((check,)) + end


crc_request = pi_request


# -- registry and tables ---------------------------------------------------------------------


def test_both_are_registered() -> None:
    """The registry serves both protocols under their reference ids."""
    assert {"pi41", "pi30revo"} <= set(list_protocols())
    assert isinstance(PI41_PROTO, PI41)
    assert isinstance(REVO, PI30REVO)
    assert get_protocol("PI30REVO") is REVO


def test_pi41_shares_pi30_commands_it_does_not_change() -> None:
    """PI41 adds two commands, overrides three and shares every other PI30 Command object."""
    added = set(PI41_PROTO.commands) - set(PI30_PROTO.commands)
    assert added == {"QPIGS2", "QP2GS"}
    changed = {
        name
        for name, command in PI30_PROTO.commands.items()
        if PI41_PROTO.commands[name] is not command
    }
    assert changed == {"QPIGS", "QPGS", "QPIRI"}
    assert isinstance(PI41_PROTO, PI30)
    assert PI41_PROTO.status_commands == ("QPIGS", "QMOD", "QPIWS", "Q1")
    assert PI41_PROTO.settings_commands == ("QPIRI", "QFLAG")
    assert PI41_PROTO.id_commands == ("QPI", "QGMN", "QMN")


def test_revo_has_only_its_eleven_commands() -> None:
    """REVO answers eleven commands; the plain PI30 ones (identity too) are PI30's own objects."""
    assert set(REVO.commands) == {
        "PSET",
        "_PSET",
        "PQSE",
        "QALL",
        "QID",
        "QMOD",
        "QPI",
        "QPIGS",
        "QPIRI",
        "QLITH0",
        "QVFW",
    }
    for name in ("QID", "QMOD", "QPI", "QPIRI", "QVFW"):
        assert REVO.commands[name] is PI30_PROTO.commands[name]
    assert REVO.commands["PSET"].kind is Kind.SETTER
    assert REVO.status_commands == ("QPIGS", "QMOD")
    assert REVO.settings_commands == ("QPIRI",)
    assert REVO.id_commands == ("QPI",)
    assert not REVO.settings
    with pytest.raises(UnknownCommandError):
        REVO.build_request("QFLAG")


# -- PI41 decoding ---------------------------------------------------------------------------


def test_pi41_qpigs_names_line_1() -> None:
    """QPIGS values belong to line 1; flags have PI41's meanings."""
    result = PI41_PROTO.decode(
        "QPIGS",
        pi_frame(
            "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
            "00110110 00 00 00856 010"
        ),
    )
    assert result["l1_ac_output_voltage"] == 230.0
    assert result.fields["l1_ac_output_voltage"].unit == "V"
    assert result["l1_ac_output_active_power"] == 119
    assert result["battery_voltage"] == 57.5
    assert result["pv_input_power"] == 856
    assert result.fields["pv_input_power"].unit == "W"
    assert result["is_l1_scc_charging_on"] is True
    assert result["is_l1_line_not_ok"] is True
    assert result["is_l1_scc_ok"] is False
    assert result["is_switched_on"] is True


def test_pi41_qpigs2_reports_line_2_and_skips_reserved_bits() -> None:
    """QPIGS2: line 2 and PV 2; reserved flag positions give no field."""
    result = PI41_PROTO.decode(
        "QPIGS2", pi_frame("120.1 60.0 120.2 60.0 0100 0090 002 010 150.2 53.1 1010101")
    )
    assert result["l2_ac_output_voltage"] == 120.2
    assert result["l2_ac_output_apparent_power"] == 100
    assert result.fields["l2_ac_output_apparent_power"].unit == "VA"
    assert result["pv2_input_voltage"] == 150.2
    assert result["is_l2_scc_ok"] is True
    assert result["is_l2_line_not_ok"] is True
    assert result["is_l2_load_on"] is False
    assert "reserved" not in result
    assert "is_load_on" not in result


def test_pi41_parallel_status_per_line() -> None:
    """QPGS<n> (line 1) and QP2GS<n> (line 2) of a parallel system."""
    qpgs = PI41_PROTO.decode(
        "QPGS1",
        pi_frame(
            "1 92911906100045 L 00 122.9 59.98 122.9 59.98 0331 0272 013 56.1 004 100 000.0 004 "
            "01577 01400 009 01000010 6 0 060 220 40 00 000"
        ),
    )
    assert qpgs.command == "QPGS"
    assert qpgs["serial_number"] == "92911906100045"
    assert qpgs["work_mode"] == "Line Mode"
    assert qpgs["l1_ac_input_frequency"] == 59.98
    assert qpgs["output_mode"] == "Parallel output 180 degrees"
    assert qpgs["max_charger_range"] == 220
    assert qpgs["is_l1_ac_charging_on"] is True
    qp2gs = PI41_PROTO.decode(
        "QP2GS1",
        pi_frame(
            "11 92911906100045 B 00 124.2 59.98 124.2 59.98 0149 0130 005 56.1 000 100 000.0 00 "
            "01000010"
        ),
    )
    assert qp2gs.command == "QP2GS"
    assert qp2gs["work_mode"] == "Battery Mode"
    assert qp2gs["l2_ac_output_active_power"] == 130
    assert qp2gs["l2_battery_capacity"] == 100
    assert qp2gs["is_l2_load_on"] is True


def test_pi41_qpiri_uses_split_phase_output_modes() -> None:
    """QPIRI: LV5048 output modes, CV-stage time; no operation logic (so no such setting)."""
    result = PI41_PROTO.decode(
        "QPIRI",
        pi_frame(
            "120.0 20.8 120.0 60.0 20.8 2500 2500 48.0 47.0 43.0 56.1 56.1 2 40 060 0 0 0 9 01 0 "
            "6 55.0 0 1 000"
        ),
    )
    assert result["output_mode"] == "Parallel output 180 degrees"
    assert result["battery_type"] == "User"
    assert result["max_charging_current"] == 60
    assert result["max_charging_time_at_cv_stage"] == 0
    assert result.fields["max_charging_time_at_cv_stage"].unit == "min"
    assert "operation_logic" not in result
    assert "operation_logic" not in PI41_PROTO.settings
    assert PI41_PROTO.settings["output_source_priority"].current(result) == "Utility first"


def test_pi41_parallel_index_is_one_digit() -> None:
    """QPGS / QP2GS take a single unit digit and are sent with the PI30 CRC framing."""
    assert PI41_PROTO.build_request("QP2GS0") == crc_request("QP2GS0")
    for bad in ("QP2GS", "QP2GS10", "QPGSx"):
        with pytest.raises(InvalidParameterError, match="0–9"):
            PI41_PROTO.build_request(bad)


def test_pi41_rejects_bad_crc_and_nak() -> None:
    """Answers with a wrong CRC or a NAK raise typed errors."""
    frame = bytearray(pi_frame("120.1 60.0 120.2 60.0 0100 0090 002 010 150.2 53.1 1010101"))
    frame[3] ^= 0x01
    with pytest.raises(CRCError):
        PI41_PROTO.decode("QPIGS2", bytes(frame))
    with pytest.raises(NAKError):
        PI41_PROTO.decode("QPIRI", pi_frame("NAK"))


# -- REVO framing ----------------------------------------------------------------------------


def test_pset_is_sent_with_check_byte_and_no_cr() -> None:
    """PSET: the text, its 8-bit check, nothing else."""
    data = ("PSET" + PSET_TEXT).encode()
    assert REVO.build_request("PSET" + PSET_TEXT) == data + bytes((chk(data),))


def test_underscore_pset_is_pset_with_crc_framing() -> None:
    """_PSET sends the same PSET text, framed like any PI30 command."""
    assert REVO.build_request("_PSET" + PSET_TEXT) == crc_request("PSET" + PSET_TEXT)


@pytest.mark.parametrize("command", ["PQSE", "QALL", "QPIGS", "QPIRI", "QLITH0", "QMOD", "QPI"])
def test_queries_are_sent_with_crc_and_cr(command: str) -> None:
    """Every REVO query goes out as PI30 does (the reference sends PQSE/QALL this way too)."""
    assert REVO.build_request(command) == crc_request(command)


def test_pset_answers() -> None:
    """ACK with a CRC or with a check byte is success; NAK is a refusal; a bad check an error."""
    command = "PSET" + PSET_TEXT
    assert REVO.decode(command, pi_frame("ACK"))["pset"] == "ACK"
    assert REVO.decode(command, chk_frame("ACK"))["pset"] == "ACK"
    assert REVO.decode("_PSET" + PSET_TEXT, pi_frame("ACK"))["pset"] == "ACK"
    with pytest.raises(NAKError):
        REVO.decode(command, chk_frame("NAK"))
    bad = bytearray(chk_frame("ACK"))
    bad[-2] ^= 0x40
    with pytest.raises(CRCError):
        REVO.decode(command, bytes(bad))


def test_pqse_decodes_configuration_with_check_byte() -> None:
    """PQSE: settings digits become labels, then voltages, currents, clock, switches."""
    result = REVO.decode(
        "PQSE", chk_frame("000100 56.0 54.0 44.0 42.0 030 010 2018 06 01 20 00 00 00", b"\n")
    )
    assert result["language"] == "English"
    assert result["work_mode"] == "Utility Priority"
    assert result["output_voltage"] == "230V"
    assert result["battery_type"] == "Lead Acid"
    assert result["battery_bulk_charge_voltage"] == 56.0
    assert result.fields["battery_bulk_charge_voltage"].unit == "V"
    assert result["total_charging_current"] == 30
    assert result.fields["total_charging_current"].unit == "A"
    assert (result["year"], result["month"], result["day"]) == ("2018", "06", "01")
    assert result["buzzer"] == "Enabled"
    assert result["grid"] == "Not Connected"
    assert result.fields["work_mode"].name == "Work Mode"
    # The same answer with a CRC is accepted too.
    crc = REVO.decode("PQSE", pi_frame("000100 56.0 54.0 44.0 42.0 030 010 2018 06 01 20 00 00 00"))
    assert crc["work_mode"] == "Utility Priority"


def test_pqse_switch_digits_keep_the_three_phase_id() -> None:
    """The switch digits after the clock: labelled switches, then the three-phase ID as sent."""
    result = REVO.decode(
        "PQSE", chk_frame("000100 56.0 54.0 44.0 42.0 030 010 2018 06 01 20 00 11013 00")
    )
    assert (result["buzzer"], result["grid"]) == ("Disabled", "Connected")
    assert result["single_phase_parallel"] == "Disabled"
    assert result["three_phase_parallel"] == "Enabled"
    assert result["three_phase_id"] == "3"


def test_setting_digits_take_labels_or_codes() -> None:
    """A settings digit is given as its label or as the digit itself; an unknown key is a bug."""
    assert SETTINGS_DIGITS.code("work_mode", "Battery Priority") == "2"
    assert SETTINGS_DIGITS.code("work_mode", 2) == "2"
    assert SWITCH_DIGITS.code("three_phase_id", 5) == "5"
    with pytest.raises(KeyError):
        SWITCH_DIGITS.code("work_mode", 0)


def test_qall_decodes_and_refuses_a_wrong_check() -> None:
    """QALL live data; a check byte off by one (sum without the +1) is refused."""
    payload = "230 50.0 230 50.0 1200 024 52.1 087 010 000 180 06.5 1170 003400 001234 B 01 00"
    result = REVO.decode("QALL", chk_frame(payload, b"\n"))
    assert result["ac_output_active_power"] == 1200
    assert result["pv_input_current"] == 6.5
    assert result["daily_pv_power_generated"] == 3400
    assert result.fields["daily_pv_power_generated"].unit == "Wh"
    assert result.fields["total_pv_power_generated"].unit == "kWh"
    assert result["device_mode"] == "Battery"
    assert result["warning_code"] == "Low battery"
    assert result["fault_code"] == "No fault"
    body = b"(" + payload.encode()
    with pytest.raises(CRCError):
        REVO.decode("QALL", body + bytes(((sum(body) & 0xFF),)) + b"\n")


def test_revo_qpigs_has_pv_power_and_daily_yield() -> None:
    """REVO's QPIGS puts PV power and today's yield where PI30 has PV current and discharge."""
    payload = (
        "221.0 49.9 221.0 49.9 0000 0707 012 401 00.10 012 000 0026 0850 120.0 00.10 01234 "
        "00010000 00 00 00850 010"
    )
    result = REVO.decode("QPIGS", pi_frame(payload))
    assert result["pv_power"] == 850.0
    assert result["daily_power_generated"] == 1234
    assert result.fields["daily_power_generated"].unit == "Wh"
    assert result["ac_output_active_power"] == 707
    assert "battery_discharge_current" not in result
    assert PI30_PROTO.decode("QPIGS", pi_frame(payload))["battery_discharge_current"] == 1234


def test_crc_commands_do_not_accept_a_check_byte() -> None:
    """Only the commands declared with the 8-bit check accept it."""
    with pytest.raises(CRCError):
        REVO.decode("QMOD", chk_frame("B"))
    assert REVO.decode("QMOD", pi_frame("B"))["device_mode"] == "Battery"


def test_any_nak_is_a_refusal() -> None:
    """A NAK carrying the check byte is a NAK even for a CRC command."""
    with pytest.raises(NAKError):
        REVO.decode("QPIGS", chk_frame("NAK"))


def test_qlith0_scales_temperature() -> None:
    """QLITH0: BMS values; the temperature arrives in tenths of a degree."""
    result = REVO.decode(
        "QLITH0", pi_frame("048.8 000.0 000.9 250 024 000 052.5 010.0 053.5 004.4 0 2")
    )
    assert result["battery_voltage_from_bms"] == 48.8
    assert result["battery_temperature"] == 25.0
    assert result.fields["battery_temperature"].unit == "°C"
    assert result["battery_capacity_from_bms"] == 24
    assert result["fault_code_from_bms"] == "No warning"
    assert result["warning_code_fom_bms"] == "Low battery"


def test_truncated_or_garbled_answers_are_frame_errors() -> None:
    """Too short, no terminator, bad digits: typed errors, never a crash."""
    with pytest.raises(FrameError):
        REVO.decode("PQSE", b"(0\r")
    with pytest.raises(FrameError):
        REVO.decode("PQSE", chk_frame("000100 56.0")[:-1])
    with pytest.raises(FrameError):
        REVO.decode("PQSE", chk_frame("0x0100 56.0 54.0"))


# -- PSET parameter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected 12–13 values"),
        ("120103 56.3 54.6 43.8 42.6 040 020 2020 02 18 17", "expected 12–13 values"),
        ("170103 56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06 00", r"Work Mode.*0 \(Utility"),
        ("12010 56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06 00", "settings digits"),
        ("120103 56 54.6 43.8 42.6 040 020 2020 02 18 17 06 00", "bulk charging voltage.*dd.d"),
        ("120103 56.3 74.6 43.8 42.6 040 020 2020 02 18 17 06 00", "float.*out of range"),
        ("120103 56.3 54.6 43.8 42.6 40 020 2020 02 18 17 06 00", "total charging current"),
        ("120103 56.3 54.6 43.8 42.6 040 020 2020 13 18 17 06 00", "month"),
        ("120103 56.3 54.6 43.8 42.6 040 020 2021 02 29 17 06 00", "not a valid date"),
        ("120103 56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06 20", "grid"),
        ("120103  56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06", "bulk charging voltage"),
    ],
)
def test_invalid_pset_is_refused_with_the_reason(text: str, message: str) -> None:
    """Each part of PSET's parameter is checked; the error names the part and what is allowed."""
    with pytest.raises(InvalidParameterError, match=message):
        REVO.build_request("PSET" + text)
    with pytest.raises(InvalidParameterError):
        REVO.build_request("_PSET" + text)


def test_pset_without_switch_digits_is_allowed() -> None:
    """The trailing buzzer/grid digits are optional, as in the reference's pattern."""
    text = "PSET" + PSET_TEXT.rsplit(" ", 1)[0]
    assert REVO.build_request(text) == text.encode() + bytes((chk(text.encode()),))


def test_pset_command_is_a_read_modify_write_of_pqse() -> None:
    """pset_command keeps what PQSE reported, applies the changes and sets the clock."""
    current = REVO.decode(
        "PQSE", chk_frame("000100 56.0 54.0 44.0 42.0 030 010 2018 06 01 20 00 00 00")
    )
    command = pset_command(
        current,
        datetime(2024, 2, 20, 7, 22),  # the inverter clock has no zone
        work_mode="Solar Priority",
        battery_float_charge_voltage=54.5,
        buzzer="Disabled",
    )
    assert command == "PSET010100 56.0 54.5 44.0 42.0 030 010 2024 02 20 07 22 10"
    data = command.encode()
    assert REVO.build_request(command) == data + bytes((chk(data),))
    with pytest.raises(InvalidParameterError, match="cannot write"):
        pset_command(current, datetime(2024, 1, 1), year="2025")
    with pytest.raises(InvalidParameterError, match="Solar Priority"):
        pset_command(current, datetime(2024, 1, 1), work_mode="Moon first")
    with pytest.raises(InvalidParameterError, match="out of range"):
        pset_command(current, datetime(2024, 1, 1), total_charging_current=900)
    with pytest.raises(InvalidParameterError, match="needs"):
        pset_command({}, datetime(2024, 1, 1))
