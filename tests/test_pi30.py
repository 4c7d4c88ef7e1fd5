"""PI30 protocol: requests, decoding as a user sees it, errors, parameter validation."""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import (
    CRCError,
    EchoError,
    FrameError,
    InvalidParameterError,
    NAKError,
    ProtocolError,
    TruncatedFrameError,
    UnknownCommandError,
    UnknownProtocolError,
)
from mppsolar_lib.protocols import Kind, get_protocol, list_protocols

from .helpers import pi_frame, xmodem

PI30 = get_protocol("pi30")

QPIGS = (
    "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
    "00110110 00 00 00856 010"
)
QPIRI_25 = (
    "230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1"
)


def test_lookup_is_case_insensitive_and_shared() -> None:
    """Ids are case-insensitive; unknown ids say which exist."""
    assert get_protocol("PI30") is get_protocol("pi30")
    assert "pi30" in list_protocols()
    with pytest.raises(UnknownProtocolError, match="pi30"):
        get_protocol("pi99")


def test_build_request_appends_crc_and_cr() -> None:
    """The request is the command, its CRC-16/XMODEM and CR."""
    frame = PI30.build_request("QPIGS")
    assert frame[:-3] == b"QPIGS"
    assert frame[-1:] == b"\r"
    assert int.from_bytes(frame[-3:-1], "big") == xmodem(b"QPIGS")


def test_qpigs_decodes_to_values_units_and_hints() -> None:
    """Live status: numbers with units, flags as booleans, HA hints on each field."""
    result = PI30.decode("QPIGS", pi_frame(QPIGS))
    assert result.command == "QPIGS"
    assert result["ac_output_voltage"] == 230.0
    assert result["battery_voltage"] == 57.5
    assert result["pv_input_power"] == 856
    assert result["inverter_heat_sink_temperature"] == 69
    assert result["is_load_on"] is True
    assert result["is_ac_charging_on"] is False
    voltage = result.fields["battery_voltage"]
    assert (voltage.name, voltage.unit) == ("Battery Voltage", "V")
    assert voltage.hints.device_class == "voltage"
    assert voltage.hints.state_class == "measurement"
    assert result.fields["inverter_heat_sink_temperature"].hints.device_class == "temperature"
    assert result.fields["battery_capacity"].hints.device_class == "battery"
    assert result.fields["is_load_on"].hints.entity_category == "diagnostic"


def test_options_and_keyed_values_become_labels() -> None:
    """Codes are translated: battery type, priorities, device mode."""
    result = PI30.decode("QPIRI", pi_frame(QPIRI_25))
    assert result["battery_type"] == "AGM"
    assert result["output_source_priority"] == "Utility first"
    assert result["machine_type"] == "Off Grid"
    assert PI30.decode("QMOD", pi_frame("B"))["device_mode"] == "Battery"


def test_unknown_option_is_shown_not_guessed() -> None:
    """A code the table does not know is reported as such rather than mapped to a wrong label."""
    result = PI30.decode("QPIRI", pi_frame(QPIRI_25.replace(" 0 10 010 ", " 12 10 010 ", 1)))
    assert result["battery_type"] == "Unknown (12)"
    assert PI30.decode("QMOD", pi_frame("Z"))["device_mode"] == "Unknown (Z)"


@pytest.mark.parametrize("extra", ["", " 480 0", " 480 0 070"])
def test_qpiri_with_25_to_28_fields(extra: str) -> None:
    """QPIRI grows with firmware: 25–27 described fields, anything more kept by position."""
    result = PI30.decode("QPIRI", pi_frame(QPIRI_25 + extra))
    assert result["battery_redischarge_voltage"] == 54.0
    if extra:
        assert result["max_charging_time_for_cv_stage"] == 480
        assert result["operation_logic"] == "Automatic mode"
    else:
        assert "max_charging_time_for_cv_stage" not in result
    if extra.endswith("070"):
        assert result["unknown_value_in_response_27"] == "070"


def test_missing_and_placeholder_fields_are_absent_not_zero() -> None:
    """A short answer or a '---.-' / '-' / empty position gives no field, never a made-up 0."""
    short = PI30.decode("QPIGS", pi_frame("230.0 50.0 230.0"))
    assert set(short) == {"ac_input_voltage", "ac_input_frequency", "ac_output_voltage"}
    placeholders = PI30.decode("QPIGS", pi_frame("---.- 50.0  49.9 -"))
    assert "ac_input_voltage" not in placeholders
    assert "ac_output_voltage" not in placeholders
    assert "ac_output_apparent_power" not in placeholders
    assert placeholders["ac_output_frequency"] == 49.9


@pytest.mark.parametrize("length", [32, 36, 38])
def test_qpiws_with_32_36_38_flags(length: int) -> None:
    """Warning strings of every length seen in the field decode; bits beyond the table are kept."""
    bits = ["0"] * length
    bits[5] = "1"  # line fail
    bits[16] = "1"  # overload
    result = PI30.decode("QPIWS", pi_frame("".join(bits)))
    assert result["line_fail_warning"] is True
    assert result["overload_fault"] is True
    assert result["inverter_fault"] is False
    assert result.fields["overload_fault"].hints.device_class == "problem"
    assert sum(1 for value in result.values() if value is True) == 2


def test_qflag_enabled_and_disabled() -> None:
    """QFLAG: letters after E are enabled, after D disabled."""
    result = PI30.decode("QFLAG", pi_frame("EakxyDbjuvz"))
    assert result["buzzer"] == "enabled"
    assert result["overload_bypass"] == "disabled"
    assert len(result) == 9


def test_model_name_keeps_spaces() -> None:
    """A model name with a space is one value."""
    assert PI30.decode("QMN", pi_frame("MKS2 8000"))["model_name"] == "MKS2 8000"


def test_qbms_tenths_of_volts_are_scaled() -> None:
    """QBMS voltages come in 0.1 V units and are reported in volts."""
    result = PI30.decode("QBMS", pi_frame("0 100 0 0 1 532 532 450 0000 0030"))
    assert result["battery_bulk_charging_voltage_from_bms"] == pytest.approx(53.2)
    assert result.fields["battery_cut_off_voltage_from_bms"].unit == "V"
    assert result["battery_stop_charge_flag"] == "Disable charge"


def test_setter_ack() -> None:
    """A setter's ACK is reported under the command's key."""
    result = PI30.decode("POP02", pi_frame("ACK"))
    assert result["pop"] == "ACK"
    assert PI30.resolve("POP02")[0].kind is Kind.SETTER


def test_nak_raises() -> None:
    """A refusal is an error, not data."""
    with pytest.raises(NAKError):
        PI30.decode("POP02", pi_frame("NAK"))
    with pytest.raises(NAKError):
        PI30.decode("QPIGS", b"(NAKss\r")


def test_bad_crc_raises() -> None:
    """A corrupted frame is refused."""
    frame = bytearray(pi_frame(QPIGS))
    frame[5] ^= 0x01
    with pytest.raises(CRCError):
        PI30.decode("QPIGS", bytes(frame))


def test_crc_byte_sent_raw_or_bumped_is_accepted() -> None:
    """Both real-device behaviours for a reserved CRC byte decode."""
    # '(PI30' has a CRC byte of 0x28 in neither; find payloads that do.
    for payload in ("ACK", "PI30", "9293333010501"):
        for bump in (True, False):
            PI30.decode("QPI", pi_frame(payload, bump=bump))
    hits = 0
    for i in range(3000):
        payload = f"{i:05d}"
        crc = xmodem(b"(" + payload.encode())
        if {crc >> 8, crc & 0xFF} & {0x00, 0x0A, 0x0D, 0x28}:
            assert PI30.decode("QID", pi_frame(payload, bump=False))["serial_number"] == payload
            assert PI30.decode("QID", pi_frame(payload, bump=True))["serial_number"] == payload
            hits += 1
    assert hits > 10


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"", TruncatedFrameError),
        (b"(\r", TruncatedFrameError),
        (b"QPIGS\xb7\xa9\r", EchoError),
        (b"PI30\x9a\x0b\r", FrameError),
        (b"(PI30\x9a\x0b", TruncatedFrameError),
    ],
)
def test_malformed_frames(frame: bytes, error: type[Exception]) -> None:
    """Each kind of bad frame raises its specific ProtocolError."""
    with pytest.raises(error):
        PI30.decode("QPIGS", frame)


def test_unparsable_number_is_an_error_not_zero() -> None:
    """A number field holding garbage makes the frame malformed."""
    with pytest.raises(FrameError, match="Battery Voltage"):
        PI30.decode("QPIGS", pi_frame(QPIGS.replace("57.50", "5x.50")))
    with pytest.raises(FrameError):
        PI30.decode("QPIGS", pi_frame(QPIGS.replace("00110110", "0011011x")))
    with pytest.raises(FrameError):
        PI30.decode("QFLAG", pi_frame("akx"))


def test_unknown_command() -> None:
    """Unknown commands are refused before anything is built, with a suggestion."""
    with pytest.raises(UnknownCommandError, match="no command 'QXYZ'"):
        PI30.build_request("QXYZ")
    with pytest.raises(UnknownCommandError, match="did you mean QPIGS"):
        PI30.build_request("QPIGX")
    with pytest.raises(UnknownCommandError):
        PI30.build_request("PSAVE1")


def test_commands_are_case_insensitive_parameters_are_not() -> None:
    """'qpigs' is QPIGS; flag letters keep their case as sent."""
    assert PI30.build_request("qpigs") == PI30.build_request("QPIGS")
    assert PI30.build_request("PDA")[:3] == b"PDA"
    assert PI30.command_text("pop02") == "POP02"


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("POP03", "SBU first"),
        ("POP2", "SBU first"),
        ("PBCV44", "dd.d"),
        ("PBCV99.0", "out of range"),
        ("PBCV44.05", "dd.d"),
        ("PCP04", "Only solar charging permitted"),
        ("PEq", "Buzzer"),
        ("PE", "one or more"),
        ("MCHGC40", "two-digit current"),
        ("QPGSx", "parallel system"),
        ("F55", "50 Hz"),
        ("DAT20241315123000", "YYYYMMDDHHMMSS"),
        ("PBATMAXDISC020", "030–150"),
    ],
)
def test_invalid_parameters_are_refused_with_what_is_allowed(command: str, hint: str) -> None:
    """A wrong setter value never reaches the wire; the error says what is allowed."""
    with pytest.raises(InvalidParameterError, match=hint):
        PI30.build_request(command)


@pytest.mark.parametrize(
    "command",
    [
        "POP00",
        "PBCV44.0",
        "PBDV00.0",
        "MCHGC040",
        "MNCHGC0120",
        "QPGS0",
        "QPGS12",
        "PEaxy",
        "DAT20240115123000",
        "BTA-01",
        "PBATMAXDISC000",
        "PBATMAXDISC150",
    ],
)
def test_valid_parameters_build(command: str) -> None:
    """Valid parameterised commands produce the command text plus CRC."""
    frame = PI30.build_request(command)
    assert frame[:-3].decode() == command


def test_decode_rejects_a_parameter_it_would_not_send() -> None:
    """Decoding an answer for an invalid command string is refused too."""
    with pytest.raises(ProtocolError):
        PI30.decode("POP09", pi_frame("ACK"))


def test_decode_never_lets_builtin_errors_escape() -> None:
    """Non-ASCII garbage with a valid CRC decodes or raises a ProtocolError."""
    with pytest.raises(ProtocolError):
        PI30.decode("QPIGS", pi_frame(b"\xff\xfe 1 2"))


def test_status_settings_and_id_commands_exist() -> None:
    """The polling groups name real commands."""
    for name in (*PI30.status_commands, *PI30.settings_commands, *PI30.id_commands):
        assert name in PI30.commands


def test_result_is_a_mapping_with_readable_repr() -> None:
    """Results behave like a dict of values and print readably."""
    result = PI30.decode("QPI", pi_frame("PI30"))
    assert dict(result) == {"protocol_id": "PI30"}
    assert "protocol_id='PI30'" in repr(result)
    assert repr(result.fields["protocol_id"]) == "<Field protocol_id='PI30'>"
