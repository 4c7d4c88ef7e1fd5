"""PI17 family (pi17, pi17infini, pi17m058): what a user of each protocol sees."""

from __future__ import annotations

import dataclasses

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
from mppsolar_lib.protocols import SettingKind, get_protocol, pi17, pi17infini, pi17m058
from mppsolar_lib.protocols.command import Kind
from mppsolar_lib.protocols.voltronic_specs import LinkedSetting

from .helpers import xmodem

PI17 = get_protocol("pi17")
INFINI = get_protocol("pi17infini")
M058 = get_protocol("pi17m058")
FAMILY = [PI17, INFINI, M058]


def answer(payload: str | bytes, *, length: int | None = None) -> bytes:
    """``^D`` + length (payload + CRC + CR) + payload + plain XMODEM CRC + CR, built here."""
    body = payload.encode("latin-1") if isinstance(payload, str) else payload
    head = b"^D" + f"{len(body) + 3 if length is None else length:03d}".encode() + body
    return head + xmodem(head).to_bytes(2, "big") + b"\r"


def request(prefix: str, text: str) -> bytes:
    """``^P``/``^S`` + three-digit length (text + CR) + text + CR, built here."""
    return f"^{prefix}{len(text) + 1:03d}{text}\r".encode()


ACK = b"^1" + xmodem(b"^1").to_bytes(2, "big") + b"\r"
NAK = b"^0" + xmodem(b"^0").to_bytes(2, "big") + b"\r"

GS = (
    "0000,0000,0000,0000,0394,000,+00000,2389,2427,2459,5002,0000,0000,0000,"
    "2378,2434,2455,5001,,,,029,029,000,0"
)
BATS = "1750,0560,0540,0000,060,0530,0420,0480,0480,0540,0,,,0,0480,000,0100,0175,010,020,020,080,0"


# -- registry and tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [("PI17", pi17.PI17), ("pi17Infini", pi17infini.PI17INFINI), ("PI17M058", pi17m058.PI17M058)],
)
def test_protocols_are_registered(name: str, cls: type) -> None:
    """Each protocol is found case-insensitively and polls the PI17 status/settings/id queries."""
    proto = get_protocol(name)
    assert type(proto) is cls
    assert proto.id == name.lower()
    assert proto.status_commands == ("GS", "PS", "MOD", "WS")
    assert proto.settings_commands == ("BATS", "HECS", "FLAG", "GPMP")
    assert proto.id_commands == ("PI", "ID", "MD", "DM", "VFW")
    for name_ in (*proto.status_commands, *proto.settings_commands, *proto.id_commands):
        assert proto.commands[name_].kind is Kind.QUERY


def test_variants_share_pi17_commands_instead_of_copying() -> None:
    """Unchanged commands are PI17's very objects; m058's BATS shares its unchanged specs."""
    for variant in (INFINI, M058):
        assert variant.commands["GS"] is PI17.commands["GS"]
        assert variant.commands["MCHGV"] is PI17.commands["MCHGV"]
    assert INFINI.commands["BATS"] is PI17.commands["BATS"]
    assert M058.commands["BATS"] is not PI17.commands["BATS"]
    assert M058.commands["BATS"].fields[0] is PI17.commands["BATS"].fields[0]
    assert INFINI.commands["ACCT"] is not PI17.commands["ACCT"]


def test_every_reference_command_is_defined() -> None:
    """The commands the reference knows (from its metadata) are all in the tables."""
    queries = "GPMP PI ID VFW VFW2 MD DI DM INGS EMINFO PIRI GS PS MOD WS FLAG T ET BATS HECS"
    setters = (
        "GPMP0 LON PA PB PC PD PE PF DAT LST EDA EDB EDC EDD EDE EDF EDG BT MCHGV ACCT ACCB "
        "MCHGC MUCHGC SEP BDCM BATDV BCA"
    )
    for name in (*queries.split(), "EY", "EM", "ED", "EH", "BMS"):
        assert PI17.commands[name].kind is Kind.QUERY
    for name in setters.split():
        assert PI17.commands[name].kind is Kind.SETTER
    assert {"PEA", "PDA"} <= set(INFINI.commands)
    assert not {"PA", "PB"} & set(INFINI.commands)
    assert set(M058.commands) == set(PI17.commands)


# -- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("GS", request("P", "GS")),
        ("T", b"^P002T\r"),
        ("EMINFO", b"^P007EMINFO\r"),
        ("gs", request("P", "GS")),
        ("LON1", b"^S005LON1\r"),
        ("GPMP015000", b"^S011GPMP015000\r"),
        ("BATDV0420,0440,0430,0450", request("S", "BATDV0420,0440,0430,0450")),
        ("PDB", b"^S004PDB\r"),
    ],
)
def test_requests_carry_length_and_no_crc(command: str, expected: bytes) -> None:
    """Queries are ^P, setters ^S; the length counts the command text plus the CR."""
    assert PI17.build_request(command) == expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("EY2024", b"^P010EY2024165\r"),
        ("EM202401", b"^P012EM202401252\r"),
        ("ED20240115", b"^P014ED20240115091\r"),
        ("EH2024011512", b"^P016EH2024011512196\r"),
    ],
)
def test_energy_requests_append_the_byte_sum(command: str, expected: bytes) -> None:
    """Energy-by-period requests add the byte sum of ^Pnnn + command, mod 256, as 3 digits.

    The expected frames are the reference's; the sum is recomputed independently below.
    """
    assert PI17.build_request(command) == expected
    head = f"^P{len(command) + 4:03d}{command}".encode()
    assert expected == head + f"{sum(head) % 256:03d}\r".encode()


@pytest.mark.parametrize(
    "command",
    ["EY1999", "EY24", "EM202413", "EM2024", "ED20230229", "ED20240132", "EH2024011524", "EHx"],
)
def test_energy_requests_need_real_dates(command: str) -> None:
    """A period that does not exist is refused before anything is sent."""
    with pytest.raises(InvalidParameterError, match="use"):
        PI17.build_request(command)


def test_energy_request_on_a_leap_day() -> None:
    """29 February exists in leap years."""
    head = b"^P016EH2024022923"
    assert PI17.build_request("EH2024022923") == head + f"{sum(head) % 256:03d}\r".encode()


# -- framing of answers ------------------------------------------------------------------------


def test_answer_is_comma_separated_with_units() -> None:
    """GS decodes tenths and hundredths into V, A, Hz; signs and empty positions as sent."""
    result = PI17.decode("GS", answer(GS))
    assert result["battery_voltage"] == 39.4
    assert result["battery_current"] == 0.0  # "+00000"
    assert result["ac_input_frequency"] == 50.02
    assert result["ac_output_voltage_t"] == 245.5
    assert result["inner_temperature"] == 29
    assert result["setting_change_bit"] == "No setting change"
    # ",,," = positions the unit does not report: no reading rather than 0 A.
    assert "ac_output_current_r" not in result
    fields = result.fields
    assert (fields["battery_voltage"].unit, fields["ac_input_frequency"].unit) == ("V", "Hz")
    assert fields["battery_capacity"].hints.device_class == "battery"


def test_crc_byte_may_be_a_carriage_return() -> None:
    """PI17 CRCs are not escaped: the T example's CRC starts with 0x0D (reference example)."""
    frame = b"^D01720210521234743\x0dR\r"
    assert PI17.decode("T", frame)["datetime"] == "20210521234743"
    # Reading up to the first CR cuts it short; the length field says so.
    with pytest.raises(TruncatedFrameError, match="answer is 20 bytes, its length field says 22"):
        PI17.decode("T", frame[: frame.index(b"\r") + 1])


def test_crc_is_plain_xmodem_and_a_bumped_byte_is_tolerated() -> None:
    """PI17 sends the plain CRC; a byte bumped the PI30 way (0x0D -> 0x0E) is accepted too.

    All Voltronic framings share one CRC rule (docs/protocols.md); any other byte is an error.
    """
    assert PI17.decode("T", b"^D01720210521234743\x0eR\r")["datetime"] == "20210521234743"
    with pytest.raises(CRCError, match="CRC mismatch"):
        PI17.decode("T", b"^D01720210521234743\x0fR\r")


def test_corrupted_payload_fails_the_crc() -> None:
    """One changed digit is caught."""
    frame = bytearray(answer("05"))
    frame[5] = ord("6")
    with pytest.raises(CRCError):
        PI17.decode("MOD", bytes(frame))


def test_two_answers_run_together_are_rejected() -> None:
    """The reference's PS example is two frames back to back: the length field gives it away."""
    first = answer("00263,00381,,-00855")
    with pytest.raises(FrameError, match="54 bytes, its length field says 27"):
        PI17.decode("PS", first + first)


def test_longer_than_declared_is_judged_by_the_crc() -> None:
    """Examples with a length field one or two short but a valid CRC still decode."""
    frame = answer("00,0,0,0,0,0,0,0,0", length=19)  # the reference's HECS example
    assert frame[2:5] == b"019"
    assert len(frame) - 5 == 21
    assert PI17.decode("HECS", frame)["solar_charge_battery"] == "disabled"


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (b"", TruncatedFrameError, "too short"),
        (b"^D00", TruncatedFrameError, "too short"),
        (b"^D005\r", TruncatedFrameError, "6 bytes, its length field says 10"),
        (answer("05")[:-1], TruncatedFrameError, "9 bytes, its length field says 10"),
        (answer("05")[:-3] + b"\r", TruncatedFrameError, "8 bytes, its length field says 10"),
        (b"(05\xd9\x9f\r", FrameError, "does not start with '\\^D'"),
        (b"^X005abcd\r", FrameError, "does not start with '\\^D'"),
        (b"^DXY5050\r", FrameError, "no three-digit length"),
        (b"^P003GS\r", FrameError, "does not start with '\\^D'"),
    ],
)
def test_malformed_frames(frame: bytes, error: type[Exception], message: str) -> None:
    """Every framing fault raises its own ProtocolError with a readable message."""
    with pytest.raises(error, match=message):
        PI17.decode("MOD", frame)


def test_echo_of_the_request_is_recognised() -> None:
    """A serial adapter sending our request back is an EchoError, not a decode."""
    with pytest.raises(EchoError, match="echoed"):
        PI17.decode("MOD", PI17.build_request("MOD"))
    with pytest.raises(EchoError):
        PI17.decode("LON1", b"^S005LON1\r")


def test_unparsable_number_names_the_field() -> None:
    """A number that is not a number makes the frame malformed: no silent zero."""
    with pytest.raises(FrameError, match="Battery voltage: cannot read '03x4'"):
        PI17.decode("GS", answer(GS.replace("0394", "03x4")))


# -- ACK / NAK ---------------------------------------------------------------------------------


def test_setter_acknowledged() -> None:
    """``^1`` is an acknowledgement keyed by the setter's name, as the reference keys it."""
    assert dict(PI17.decode("LON1", ACK)) == {"lon": "ACK"}
    assert dict(PI17.decode("GPMP015000", ACK)) == {"gpmp0": "ACK"}
    assert dict(PI17.decode("PDA", ACK)) == {"pd": "ACK"}
    assert dict(INFINI.decode("PDA", ACK)) == {"pda": "ACK"}
    assert ACK == b"^1\x0b\xc2\r"  # the reference's frame


def test_setter_refused() -> None:
    """``^0`` raises NAKError naming the command."""
    assert NAK == b"^0\x1b\xe3\r"
    with pytest.raises(NAKError, match=r"MCHGC1200: the device refused the command \(\^0\)"):
        PI17.decode("MCHGC1200", NAK)


def test_acknowledgement_with_a_wrong_crc() -> None:
    """An ACK/NAK whose check bytes are wrong is not trusted either way."""
    with pytest.raises(CRCError, match="CRC mismatch"):
        PI17.decode("LON1", b"^1\x0b\xc3\r")


def test_answer_of_the_wrong_kind() -> None:
    """A query answered ^1 or a setter answered ^D is a framing error, not data."""
    with pytest.raises(FrameError, match="query was answered with an acknowledgement"):
        PI17.decode("GS", ACK)
    with pytest.raises(FrameError, match="setter was answered with data"):
        PI17.decode("LON1", answer("1"))


# -- queries -----------------------------------------------------------------------------------


def test_model_inquiry() -> None:
    """MD: machine label, VA rating, power factor as a fraction, nominal voltages."""
    result = PI17.decode("MD", answer("000,010000,99,3,3,2300,2300,04,120"))
    assert result["machine_number"] == "Infini-Solar 10KW/3P"
    assert result["output_rated_va"] == 10000
    assert result.fields["output_rated_va"].unit == "VA"
    assert result["output_power_factor"] == 0.99
    assert result["norminal_ac_output_voltage"] == 230.0
    assert result["battery_standard_voltage_per_unit"] == 12.0
    unknown = PI17.decode("MD", answer("009,010000,99,3,3,2300,2300,04,120"))
    assert unknown["machine_number"] == "Unknown (009)"


def test_power_status() -> None:
    """PS (first frame of the reference's example): signed powers, directions as labels."""
    payload = (
        "00263,00381,,-00855,-03141,-03156,-07152,0000,0000,0000,00000,"
        "0193,0147,0195,00535,003,1,1,1,2,2,1"
    )
    result = PI17.decode("PS", answer(payload))
    assert result["solar_input_power_1"] == 263
    assert "battery_power" not in result
    assert result["ac_input_total_active_power"] == -7152
    assert result["ac_output_total_apparent_power"] == 535
    assert result["battery_power_direction"] == "Discharging"
    assert result["dc_ac_power_direction"] == "DC to AC"
    assert result["line_power_direction"] == "Input"
    assert result.fields["ac_output_apparent_power_r"].unit == "VA"


def test_warning_status_and_trailing_comma() -> None:
    """WS: enabled = active warning; the trailing empty position adds nothing."""
    payload = "1,1,0,0,1,1,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    result = PI17.decode("WS", answer(payload))
    assert result["solar_input_1_loss"] == "enabled"
    assert result["battery_disconnected"] == "disabled"
    assert len(result) == 22
    assert result.fields["over_load"].hints.device_class == "problem"


def test_values_beyond_the_layout_are_kept_by_position() -> None:
    """A firmware's extra value is kept visibly, not dropped or guessed."""
    result = PI17.decode("MOD", answer("05,77"))
    assert result["working_mode"] == "Hybrid mode (Line mode, Grid mode)"
    assert result["unknown_value_in_response_1"] == "77"


def test_rated_information_with_real_time_control() -> None:
    """PIRI: ratings in tenths; the twelfth value (real-time control) is named."""
    result = PI17.decode("PIRI", answer("2400,500,0416,2400,0416,0187,0480,2,10,0,1,1"))
    assert result["ac_input_rated_frequency"] == 50.0
    assert result["mppt_rated_current_per_string"] == 18.7
    assert result["machine_type"] == "Hybrid type"
    assert result["real_time_control"] == "enabled"


def test_battery_settings_pi17_and_m058() -> None:
    """BATS: PI17 keeps the SOC limits as sent; model 058 reads them as numbers."""
    ours = PI17.decode("BATS", answer(BATS))
    assert ours["battery_maximum_charge_current"] == 175.0
    assert ours["battery_constant_charge_voltage_c_v"] == 56.0
    assert ours["keep_charged_time_of_battery_catch_stopped_charging_current_level"] == 60
    assert ours["battery_type"] == "Ordinary"
    assert ours["battery_under_soc"] == "010"
    assert "reserved_1" not in ours
    m058 = M058.decode("BATS", answer(BATS))
    assert m058["battery_constant_charge_voltage"] == 56.0
    assert m058["battery_under_voltage_release"] == 48.0
    assert m058["battery_under_soc"] == 10
    assert m058["battery_weak_back_soc_in_hybrid_mode"] == 80
    assert m058.fields["battery_under_soc"].unit == "%"
    assert "battery_constant_charge_voltage_c_v" not in m058


def test_flags_and_energy_control() -> None:
    """FLAG and HECS labels; HECS's reserved position is hidden, not dropped."""
    flags = PI17.decode("FLAG", answer("0,0,1,0,1,1"))
    assert flags["mute_buzzer_beep_only_on_battery_discharged_status"] == "Enabled"
    assert flags["n_g_relay_function"] == "Enabled"
    hecs = PI17.decode("HECS", answer("02,1,0,1,0,0,0,0,1"))
    assert hecs["solar_energy_distribution_priority"] == "Load-Grid-Battery"
    assert hecs["solar_charge_battery"] == "enabled"
    assert hecs["reserved"] == "1"
    assert hecs.fields["reserved"].hints.enabled_default is False


def test_energy_counters() -> None:
    """ET is a lifetime counter in kWh; per-period counters are in Wh and restart."""
    total = PI17.decode("ET", answer("00006591"))
    assert total["generated_energy_total"] == 6591
    assert total.fields["generated_energy_total"].hints.state_class == "total_increasing"
    day = PI17.decode("ED20240115", answer("000091"))
    assert day["generated_energy_day"] == 91
    assert (day.fields["generated_energy_day"].unit, day.command) == ("Wh", "ED")
    assert day.fields["generated_energy_day"].hints.state_class == "total"


def test_bms_answer_with_spaces() -> None:
    """BMS values arrive partly space-separated; both separators split."""
    payload = "BMS0522,100,-0000,0,0568,0568,00000,0 1 0455 0500"
    result = PI17.decode("BMS", answer(payload))
    assert result["soc"] == 100
    assert result["max_charging_voltage"] == 56.8
    assert result["cut_off_voltage"] == 45.5
    assert result["empty7"] == "0500"


def test_defaults_query() -> None:
    """DI (no reference example): LCD sleep time in 30 s units, times as HHMM text."""
    values = [
        "2640",
        "1840",
        "5150",
        "4750",
        "8500",
        "2500",
        "9000",
        "2000",
        "8000",
        "02",
        "0250",
        "0564",
        "0540",
        "060",
        "0000",
        "2359",
        "0000",
        "0000",
        "0440",
        "0480",
        "0460",
        "0500",
        "0020",
        "060",
        "0520",
    ]
    result = PI17.decode("DI", answer(",".join(values)))
    assert result["ac_input_highest_frequency_for_feed_power"] == 51.5
    assert result["lcd_sleep_wait_time"] == 60
    assert result["ending_time_for_support_loads"] == "2359"
    assert result["keep_charged_time_of_battery_catch_stop_charger_current_level"] == 60


# -- setter validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("GPMP015001", "out of range"),
        ("GPMP01500", "format 'ddddd'"),
        ("LON2", "'2' is not allowed; use 0 \\(disable\\), 1 \\(enable\\)"),
        ("LST04", "not allowed"),
        ("DAT240230120000", "not a real date or time"),
        ("DAT2401151230", "12 digits YYMMDDHHMMSS"),
        ("MCHGV0600,0566", "C.V. voltage: 0600 is out of range; use 400–599 tenths of a volt"),
        ("MCHGV0576", "expected 2 values separated by commas, got 1"),
        ("MCHGV", "got 0"),
        ("ACCT2200-2460", "HHMM-HHMM"),
        ("ACCB2,0450", "enable \\(0/1\\)"),
        ("ACCB1,0700", "voltage: 0700 is out of range"),
        ("MCHGC3000", "out of range"),
        ("MUCHGC120", "format 'dddd'"),
        ("SEP03", "00 \\(Battery-Load-Grid\\)"),
        ("BDCM0300", "out of range"),
        ("BATDV0420,0440,0430,0350", "weak back voltage in hybrid mode"),
        ("BCA0000,100,0530", "keep charged time"),
        ("BT2", "Li-Fe"),
        ("PDa", "flag letter"),
        ("PE12", "flag letter"),
        ("EDA", "not allowed"),
    ],
)
def test_setter_parameters_are_checked(command: str, message: str) -> None:
    """Invalid values are refused before sending, saying what is allowed."""
    with pytest.raises(InvalidParameterError, match=message):
        PI17.build_request(command)


@pytest.mark.parametrize(
    "command",
    ["GPMP000000", "LST00", "LST20", "DAT240229235959", "ACCT0000-2359", "BCA0999,099,0999"],
)
def test_setter_parameters_at_their_limits(command: str) -> None:
    """Limits are allowed (LST00 = always on, documented by the manufacturer's help)."""
    assert PI17.build_request(command) == request("S", command)


def test_variant_setter_differences() -> None:
    """pi17infini: PEA/PDA instead of PA/PB, two ACCT ranges; PI17 keeps its own forms."""
    assert INFINI.build_request("ACCT2200,2259,2300,2359") == request(
        "S", "ACCT2200,2259,2300,2359"
    )
    with pytest.raises(InvalidParameterError, match="four times HHMM"):
        INFINI.build_request("ACCT2200-0259")
    with pytest.raises(InvalidParameterError, match="HHMM-HHMM"):
        PI17.build_request("ACCT2200,2259,2300,2359")
    with pytest.raises(UnknownCommandError, match="PA1"):
        INFINI.build_request("PA1")
    assert INFINI.build_request("PEA") == b"^S004PEA\r"
    assert INFINI.build_request("PEB") == b"^S004PEB\r"


# -- settings model ----------------------------------------------------------------------------

NOT_IN_SETTINGS = {"DAT", "LST", "ACCT", "PD", "PE"}


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_every_setter_is_modelled_or_deliberately_left_out(proto: pi17.PI17) -> None:
    """Each setter is written by some setting, except clock/time-range/letter ones."""
    written = set()
    for setting in proto.settings.values():
        for template in (setting.write, setting.on, setting.off):
            if template:
                written.add(
                    next(
                        name
                        for name in sorted(proto.commands, key=len, reverse=True)
                        if template.startswith(name)
                    )
                )
    setters = {c.name for c in proto.commands.values() if c.kind is Kind.SETTER}
    assert setters - written <= NOT_IN_SETTINGS
    assert written <= setters


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_settings_read_fields_exist(proto: pi17.PI17) -> None:
    """Every setting reads a field its read command really produces."""
    for setting in proto.settings.values():
        assert setting.read_field in proto.commands[setting.read_command].info, setting.key


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_every_setting_writes_a_valid_request(proto: pi17.PI17) -> None:
    """A value in range (the current one, read from example answers) builds a valid request."""
    answers = {
        "BATS": proto.decode("BATS", answer(BATS)),
        "HECS": proto.decode("HECS", answer("01,1,1,0,1,1,0,0,0")),
        "FLAG": proto.decode("FLAG", answer("0,0,1,0,1,1")),
        "GPMP": proto.decode("GPMP", answer("10000")),
        "PS": proto.decode("PS", answer("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0")),
    }
    for setting in proto.settings.values():
        result = answers[setting.read_command]
        current = setting.current(result)
        if setting.kind is SettingKind.SELECT:
            code = next(c for c, label in setting.options.items() if label == current)
            text = setting.encode(current)
            assert text == setting.write.format(code=code)
        elif isinstance(setting, LinkedSetting):
            text = setting.encode(current, current=result)
        else:
            text = setting.encode(current)
        assert proto.build_request(text).startswith(b"^S"), setting.key


def test_linked_setting_writes_its_siblings() -> None:
    """MCHGV sets C.V. and float voltage together: the float value is the current one."""
    bats = PI17.decode("BATS", answer(BATS))
    cv = PI17.settings["battery_constant_charge_voltage_c_v"]
    assert cv.safety
    assert cv.encode(57.6, current=bats) == "MCHGV0576,0540"
    assert PI17.settings["battery_floating_charge_voltage"].encode("53.5", current=bats) == (
        "MCHGV0560,0535"
    )
    assert PI17.settings["battery_weak_voltage_in_hybrid_mode"].encode(47, current=bats) == (
        "BATDV0420,0480,0470,0540"
    )
    assert PI17.settings[
        "keep_charged_time_of_battery_catch_stopped_charging_current_level"
    ].encode(30, current=bats) == ("BCA0000,030,0530")
    keep = PI17.settings["ac_charger_keep_battery_voltage_function"]
    assert keep.kind is SettingKind.SWITCH
    assert keep.current(bats) is False
    assert keep.encode(True, current=bats) == "ACCB1,0480"
    assert PI17.settings["ac_charger_keep_battery_voltage"].encode(45, current=bats) == (
        "ACCB0,0450"
    )
    # One-part writes need no current values: tenths of an ampere.
    assert PI17.settings["battery_maximum_charge_current"].encode(120) == "MCHGC1200"
    assert PI17.settings["max_ac_charging_current"].encode(60.5) == "MUCHGC0605"


def test_linked_setting_refusals() -> None:
    """Missing siblings, out-of-range values, wrong types and unsendable values are refused."""
    cv = PI17.settings["battery_constant_charge_voltage_c_v"]
    with pytest.raises(InvalidParameterError, match="also writes battery_floating_charge_voltage"):
        cv.encode(57.0)
    with pytest.raises(InvalidParameterError, match=r"out of range 40–59.9 V"):
        cv.encode(60, current={"battery_floating_charge_voltage": 54.0})
    with pytest.raises(InvalidParameterError, match="not a multiple of 0.1 V"):
        cv.encode(57.05, current={"battery_floating_charge_voltage": 54.0})
    with pytest.raises(InvalidParameterError, match="expected a number"):
        cv.encode(True, current={"battery_floating_charge_voltage": 54.0})
    with pytest.raises(InvalidParameterError, match="cannot be sent as 4 digits"):
        cv.encode(57.0, current={"battery_floating_charge_voltage": 54.05})
    bca = PI17.settings["battery_stop_charger_current_level_in_floating_charging"]
    too_long = {
        "keep_charged_time_of_battery_catch_stopped_charging_current_level": 1000,
        "battery_voltage_of_recover_to_charge_when_battery_stop_charger_in_floating_charging": 53,
    }
    with pytest.raises(InvalidParameterError, match="cannot be sent as 3 digits"):
        bca.encode(1, current=too_long)
    keep = PI17.settings["ac_charger_keep_battery_voltage_function"]
    with pytest.raises(InvalidParameterError, match="expected on/off"):
        keep.encode("on", current={"ac_charger_keep_battery_voltage": 48.0})
    with pytest.raises(InvalidParameterError, match="pass the current BATS answer"):
        keep.encode(True, current={"ac_charger_keep_battery_voltage": None})
    negative = {"battery_floating_charge_voltage": -54.0}
    with pytest.raises(InvalidParameterError, match="cannot be sent"):
        cv.encode(57.0, current=negative)


def test_simple_settings() -> None:
    """Selects by label or code, numbers in range, switches by bool."""
    settings = PI17.settings
    assert settings["battery_type"].encode("Li-Fe") == "BT1"
    assert settings["battery_type"].safety
    assert settings["solar_energy_distribution_priority"].encode("01") == "SEP01"
    assert settings["maximum_feeding_grid_power"].encode(15000) == "GPMP015000"
    with pytest.raises(InvalidParameterError, match="out of range"):
        settings["maximum_feeding_grid_power"].encode(15001)
    assert settings["battery_discharge_max_current_in_hybrid_mode"].encode(100) == "BDCM0100"
    assert settings["solar_charge_battery"].encode(False) == "EDA0"
    assert settings["solar_charge_battery"].safety
    assert not settings["feed_power_to_utility"].safety
    assert settings["mute_buzzer_beep"].encode(True) == "PA1"
    assert settings["n_g_relay_function"].safety
    loads = settings["supply_power_to_the_loads"]
    assert (loads.encode(False), loads.safety) == ("LON0", True)
    status = PI17.decode("PS", answer("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0"))
    assert loads.current(status) is True


def test_variant_settings() -> None:
    """pi17infini mutes with PEA/PDA and has no standby-mute; m058 reads its own BATS keys."""
    mute = INFINI.settings["mute_buzzer_beep"]
    assert (mute.encode(True), mute.encode(False)) == ("PEA", "PDA")
    assert "mute_buzzer_beep_in_standby_mode" not in INFINI.settings
    assert "battery_constant_charge_voltage_c_v" not in M058.settings
    cv = M058.settings["battery_constant_charge_voltage"]
    bats = M058.decode("BATS", answer(BATS))
    assert cv.encode(57.6, current=bats) == "MCHGV0576,0540"
    release = M058.settings["battery_under_voltage_release"]
    assert release.encode(49, current=bats) == "BATDV0420,0490,0480,0540"
    assert set(M058.settings) - set(PI17.settings) == {
        "battery_constant_charge_voltage",
        "battery_under_voltage_release",
        "battery_weak_voltage_release_in_hybrid_mode",
        "ac_charger_keep_battery_voltage_function_enable_diable",
    }


def test_safety_marks_battery_settings() -> None:
    """Every setting read from BATS changes how the battery is charged or discharged."""
    for proto in FAMILY:
        for setting in proto.settings.values():
            if setting.read_command == "BATS":
                assert setting.safety, setting.key


def test_linked_setting_is_a_setting() -> None:
    """LinkedSetting stays a frozen Setting (replace works, fields are immutable)."""
    cv = PI17.settings["battery_maximum_charge_current"]
    assert isinstance(cv, LinkedSetting)
    wider = dataclasses.replace(cv, maximum=300.0)
    assert wider.encode(300) == "MCHGC3000"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cv.unit = "mA"  # type: ignore[misc]
