"""PI18 family (pi18, pi18sv, pi18lvx): what a user of each variant sees.

Frames are built here with an independent CRC (``tests/helpers.py``); device answers quoted come
from public captures (cited) or are reference examples repaired where the repair is proven by the
CRC then matching.
"""

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
)
from mppsolar_lib.protocols import Protocol, SettingKind, get_protocol, pi18, pi18lvx, pi18sv
from mppsolar_lib.protocols.command import Kind
from mppsolar_lib.protocols.voltronic_specs import TenthsSetting

from .helpers import pi_crc_bytes, xmodem

PI18 = get_protocol("pi18")
SV = get_protocol("pi18sv")
LVX = get_protocol("pi18lvx")
FAMILY = [PI18, SV, LVX]

ACK = b"^1\x0b\xc2\r"
NAK = b"^0\x1b\xe3\r"


def answer(payload: str | bytes, *, bump: bool = True) -> bytes:
    """Build a ``^D`` answer: length (payload + CRC + CR), payload, CRC, CR."""
    data = payload.encode("latin-1") if isinstance(payload, str) else payload
    body = b"^D%03d" % (len(data) + 3) + data
    return body + pi_crc_bytes(body, bump=bump) + b"\r"


def request(kind: str, text: str, *, crc: bool = True) -> bytes:
    """Build a request as the PI18 manual describes it, independently of the library."""
    body = f"^{kind}{len(text) + 3:03d}{text}".encode()
    return body + (pi_crc_bytes(body) if crc else b"") + b"\r"


# Real PIRI answer of a 3 kW InfiniSolar-type unit (syssi/esphome-pipsolar issue #165).
PIRI = (
    b"^D0892300,130,2300,500,130,3000,3000,480,500,550,480,560,560,2,040,060,0,1,0,9,1,0,0,1,1,"
    b"01B\x96\r"
)
# The reference's pi18sv GS example with its CRC restored (its file holds the bytes 60 EA as the
# UTF-8 text "`ê"); the CRC matching the restored bytes proves the repair.
SV_GS = (
    b"^D1062336,499,2336,499,0443,0255,007,524,000,000,000,017,042,039,000,000,1326,0000,1907,"
    b"0000,0,2,0,1,1,2,1,1\x60\xea\r"
)


# -- registry and tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [("PI18", pi18.PI18), ("pi18SV", pi18sv.PI18SV), ("Pi18Lvx", pi18lvx.PI18LVX)],
)
def test_variants_are_registered(name: str, cls: type) -> None:
    """Each id is found case-insensitively and polls live status, settings and identity."""
    proto = get_protocol(name)
    assert type(proto) is cls
    assert proto.id == name.lower()
    assert proto.status_commands == ("GS", "MOD", "FWS")
    assert proto.settings_commands == ("PIRI", "FLAG")
    assert proto.id_commands == ("PI", "ID", "VFW")
    for command in (*proto.status_commands, *proto.settings_commands, *proto.id_commands):
        assert proto.commands[command].kind is Kind.QUERY


def test_variants_extend_pi18_instead_of_copying() -> None:
    """SV shares pi18's unchanged commands and specs; LVX is SV's table as is."""
    assert SV.commands["VFW"] is PI18.commands["VFW"]
    assert SV.commands["PRI"] is PI18.commands["PRI"]
    assert SV.commands["POP"] is PI18.commands["POP"]
    assert SV.commands["GS"] is not PI18.commands["GS"]
    # A renamed layout keeps the specs whose names did not change.
    assert SV.commands["GS"].fields[2] is PI18.commands["GS"].fields[2]
    assert SV.commands["PI"].fields == PI18.commands["PI"].fields
    assert LVX.commands is SV.commands
    assert LVX.settings is SV.settings
    assert SV.settings["output_source_priority"] is not PI18.settings["output_source_priority"]
    assert SV.settings["load_supply"] is PI18.settings["load_supply"]
    # The parent is untouched by its children.
    assert "crc" not in PI18.commands["GS"].options
    assert PI18.commands["GS"].fields[0].key == "grid_voltage"


def test_every_reference_command_is_known() -> None:
    """All commands of the reference's tables exist, PI18SV's also on pi18 itself."""
    reference_pi18 = "PI ET EY EM ED ID VFW PIRI GS MOD FLAG MCHGCR MUCHGCR POP PSP PEI PDI PCP"
    reference_pi18 += " MCHGC MUCHGC PBT MCHGV PSDV BUCD"
    reference_sv = "PI T ET EY EM ED ID VFW MCHGCR MUCHGCR PRI PGS FWS DI PIRI GS MOD FLAG ACCT"
    reference_sv += " ACLT LON PF MCHGC MUCHGC MCHGV DAT POP BUCD PEI PDI"
    reference_sv += "".join(f" PE{x} PD{x}" for x in "ABCDEFGH")
    for proto in FAMILY:
        assert set(reference_pi18.split()) <= set(proto.commands)
        assert set(reference_sv.split()) <= set(proto.commands)


# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        *(("PI", "P"), ("GS", "P"), ("MUCHGCR", "P"), ("EY2022", "P"), ("ED20240115", "P")),
        *(("PRI3", "P"), ("POP1", "S"), ("PEA", "S"), ("MCHGV552,540", "S")),
        ("DAT240115123000", "S"),
    ],
)
def test_pi18_request_framing(command: str, kind: str) -> None:
    """^P for queries, ^S for setters; the length counts command, CRC and CR; CRC over all."""
    built = PI18.build_request(command)
    assert built == request(kind, command)
    assert int(built[2:5]) == len(command) + 3
    assert len(built) == 5 + int(built[2:5])


def test_length_field_is_computed_not_copied() -> None:
    """FWS, ACCT and ACLT carry their true length (the reference's table says 005 for all)."""
    assert PI18.build_request("FWS") == request("P", "FWS")
    assert PI18.build_request("FWS")[:5] == b"^P006"
    assert PI18.build_request("ACCT")[:5] == b"^P007"
    assert LVX.build_request("ACLT") == b"^P007ACLT\r"


@pytest.mark.parametrize("command", ["PI", "T", "ET", "EY2023", "EM202312", "ID", "DI", "GS"])
def test_sv_sends_some_queries_without_crc(command: str) -> None:
    """SV units want these without CRC (GS with one returns a partial answer)."""
    assert SV.build_request(command) == request("P", command, crc=False)
    assert PI18.build_request(command) == request("P", command)


@pytest.mark.parametrize(
    ("command", "kind"),
    [("VFW", "P"), ("ED20231217", "P"), ("PIRI", "P"), ("PGS0", "P"), ("MCHGV564,540", "S")],
)
def test_sv_keeps_the_crc_on_the_others(command: str, kind: str) -> None:
    """The rest keeps its CRC on SV; LVX sends no CRC on anything."""
    assert SV.build_request(command) == request(kind, command)
    assert LVX.build_request(command) == request(kind, command, crc=False)


def test_sv_setters_without_crc() -> None:
    """MCHGC and MUCHGC go out without CRC on SV, with one on pi18."""
    assert SV.build_request("MCHGC0,050") == b"^S013MCHGC0,050\r"
    assert SV.build_request("MUCHGC0,030") == b"^S014MUCHGC0,030\r"
    assert PI18.build_request("MUCHGC0,030") == request("S", "MUCHGC0,030")


def test_reserved_crc_bytes_are_bumped_in_requests() -> None:
    """A CRC byte equal to CR, LF or '(' is sent plus one, as the reference's POP1 example shows."""
    built = PI18.build_request("POP1")
    assert xmodem(b"^S007POP1") == 0x0D10
    assert built == b"^S007POP1\x0e\x10\r"


def test_commands_are_case_insensitive() -> None:
    """Command names match whatever the case; what is sent is the table's spelling."""
    assert PI18.build_request("piri") == PI18.build_request("PIRI")
    assert PI18.command_text("mchgv552,540") == "MCHGV552,540"


# -- decoding ------------------------------------------------------------------------------------


def test_piri_real_capture() -> None:
    """PIRI: tenths scaled to V, A and Hz; codes become labels; a 26th value is kept."""
    result = PI18.decode("PIRI", PIRI)
    assert result["ac_input_rated_voltage"] == 230.0
    assert result["ac_input_rated_current"] == 13.0
    assert result["ac_output_rated_frequency"] == 50.0
    assert result["ac_output_rating_active_power"] == 3000
    assert result["battery_re_discharge_voltage"] == 55.0
    assert result["battery_bulk_voltage"] == 56.0
    assert result["battery_type"] == "User"
    assert result["max_ac_charging_current"] == 40
    assert result["input_voltage_rang"] == "Appliance"
    assert result["output_source_priority"] == "Solar-Battery-Utility"
    assert result["charger_source_priority"] == "Solar first"
    assert result["machine_type"] == "Grid-Tie"
    assert result["solar_power_priority"] == "Load-Battery-Utility"
    assert result["unknown_value_in_response_25"] == "01"
    field = result.fields["battery_float_voltage"]
    assert (field.unit, field.hints.device_class, field.hints.state_class) == (
        "V",
        "voltage",
        "measurement",
    )
    assert result.fields["ac_output_rated_frequency"].unit == "Hz"


def test_sv_names_the_same_piri_differently() -> None:
    """PI18SV keys follow the reference's SV table."""
    result = SV.decode("PIRI", PIRI)
    assert result["battery_redischarge_voltage"] == 55.0
    assert result["input_voltage_range"] == "Appliance"
    assert result["ac_output_rated_active_power"] == 3000
    assert result["mppt_string"] == 1
    assert "input_voltage_rang" not in result


def test_sv_gs() -> None:
    """GS of an SV unit: grid, battery, PV and power flow, in HA units."""
    result = SV.decode("GS", SV_GS)
    assert result["ac_input_voltage"] == 233.6
    assert result["ac_input_frequency"] == 49.9
    assert result["battery_voltage"] == 52.4
    assert result["battery_charge_current"] == 17
    assert result["battery_capacity"] == 42
    assert result.fields["battery_capacity"].hints.device_class == "battery"
    assert result["inverter_temperature"] == 39
    assert result.fields["inverter_temperature"].unit == "°C"
    assert result["pv1_input_power"] == 1326
    assert result.fields["pv1_input_power"].hints.icon == "mdi:solar-power"
    assert result["pv1_input_voltage"] == 190.7
    assert result["mppt1_charger_status"] == "charging"
    assert result["battery_power_direction"] == "charge"
    assert result["dc_ac_power_direction"] == "DC-AC"
    assert result["local_parallel_id"] == 1
    # pi18 reads the same answer under the reference's pi18 names.
    assert PI18.decode("GS", SV_GS)["grid_voltage"] == 233.6


def test_mangled_reference_examples_are_rejected() -> None:
    """The reference decodes these defective examples; we refuse them (docs/deviations.md)."""
    with pytest.raises(FrameError, match="length field"):
        SV.decode("GS", SV_GS[:-3] + b"\x60\xc3\xaa\r")  # the CRC as the reference holds it
    with pytest.raises(CRCError):
        PI18.decode("ED20240115", b"^D009000091\xba\x10\r")
    with pytest.raises(TruncatedFrameError):
        PI18.decode("ID", b"^D02514012345678901234567\r")
    with pytest.raises(FrameError, match="does not start"):
        PI18.decode("VFW", b"^^D02005220,00000,00000\r")
    with pytest.raises(FrameError, match="does not start"):
        PI18.decode("GS", SV_GS[1:])
    with pytest.raises(TruncatedFrameError):
        SV.decode("MCHGCR", b"^D030010,020,030,040,050,060,070\n")


@pytest.mark.parametrize(
    ("command", "frame", "expected"),
    [
        ("MOD", b"^D00505\xd9\x9f\r", {"working_mode": "Hybrid mode (Line mode, Grid mode)"}),
        (
            "ACCT",
            b"^D0120000,0000\xc2\x1c\r",
            {
                "start_time_for_enable_ac_charger_working": "00:00",
                "ending_time_for_enable_ac_charger_working": "00:00",
            },
        ),
        ("T", b"^D01720210521234743\x0eR\r", {"datetime": "20210521234743"}),
    ],
)
def test_repaired_sv_examples(command: str, frame: bytes, expected: dict[str, object]) -> None:
    """Reference examples whose CRC lost bytes to UTF-8 decode once repaired (CRC proves it)."""
    assert dict(SV.decode(command, frame)) == expected


def test_flag_and_fault_status() -> None:
    """FLAG gives Enabled/Disabled; FWS a fault label and one boolean per warning."""
    flags = SV.decode("FLAG", b"^D0201,0,1,0,0,1,1,0,0\xc5\xa0\r")
    assert flags["mute_buzzer_beep"] == "Enabled"
    assert flags["overload_bypass_function"] == "Disabled"
    assert flags["alarm_on_when_primary_source_interrupted"] == "Enabled"
    assert PI18.decode("FLAG", answer("0,1,0,0,0,0,0,1,0"))["buzzer_beep"] == "Disabled"
    fws = PI18.decode("FWS", answer("07,1,0,0,0,0,1,0,1,0,0,0,0,0,0,0,1"))
    assert fws["fault_code"] == "Over load time out"
    assert fws["line_fail"] is True
    assert fws["battery_low"] is True
    assert fws["over_load"] is True
    assert fws["fan_lock"] is False
    assert fws["battery_too_low_to_charge_for_scc2"] is True
    assert fws.fields["line_fail"].hints.device_class == "problem"
    assert PI18.decode("FWS", answer("99," + ",".join("0" * 16)))["fault_code"] == "Unknown (99)"
    with pytest.raises(FrameError, match="Fan lock"):
        PI18.decode("FWS", answer("00,0,0,0,2,0"))


def test_serial_number_drops_its_length_and_padding() -> None:
    """ID is a two-digit valid length, then the serial padded with zeros to 20 characters."""
    result = SV.decode("ID", b"^D0251496161704100242000000le\r")
    assert result["serial_number"] == "96161704100242"
    with pytest.raises(FrameError):
        PI18.decode("ID", answer("2512345"))
    with pytest.raises(FrameError):
        PI18.decode("ID", answer("x412345678901234"))


def test_parallel_queries() -> None:
    """PRI and PGS of one unit of a parallel system."""
    pri = SV.decode("PRI0", b"^D0401,14,96132206100410000000,2,060,050,1Jl\r")
    assert pri["parallel_id_connection_status"] == "Existent"
    assert pri["serial_number_valid_length"] == 14
    assert pri["charging_source_priority"] == "Only solar"
    assert pri["max_ac_charging_current"] == 50
    assert pri["output_mode_setting"] == "Parallel output"
    pgs = SV.decode(
        "PGS0",
        b"^D1131,5,00,2387,499,2387,499,0716,0165,01232,00505,012,004,518,000,015,031,036,1137,"
        b"0000,2088,0000,2,0,1,1,2,1,037\x8a$\r",
    )
    assert pgs["grid_voltage"] == 238.7
    assert pgs["total_ac_output_active_power"] == 505
    assert pgs["battery_voltage"] == 51.8
    assert pgs["max_temperature"] == 37
    assert (pgs["work_mode"], pgs["fault_code"]) == (5, 0)


def test_energy_counters() -> None:
    """pi18 echoes the requested period; SV names every counter 'Generated energy'."""
    year = PI18.decode("EY2022", b"^D01105580051\x0b\x9f\r")
    assert dict(year) == {"pv_generated_energy_for_year": 5580051, "year": "2022"}
    assert year.fields["pv_generated_energy_for_year"].unit == "Wh"
    assert year.fields["pv_generated_energy_for_year"].hints.state_class == "total"
    day = PI18.decode("ED20240115", answer("00000091"))
    assert dict(day) == {
        "pv_generated_energy_for_day": 91,
        "year": "2024",
        "month": "January",
        "day": "15",
    }
    total = PI18.decode("ET", answer("00012345"))
    assert total.fields["total_pv_generated_energy"].hints.state_class == "total_increasing"
    sv_total = SV.decode("ET", b"^D01100006591\xba\x10\r")
    assert dict(sv_total) == {"generated_energy": 6591}
    assert sv_total.fields["generated_energy"].unit == "kWh"
    assert dict(SV.decode("ED20231217", b"^D01100003537\x89X\r")) == {"generated_energy": 3537}


def test_selectable_currents_any_count() -> None:
    """MCHGCR lists as many values as the unit has; each is a numbered field in A."""
    values = ",".join(f"{a:03d}" for a in range(10, 130, 10))
    result = SV.decode("MCHGCR", answer(values))
    assert len(result) == 12
    assert result["max_charging_current_selectable_value_12"] == 120
    assert result.fields["max_charging_current_selectable_value_1"].unit == "A"
    pi = PI18.decode("MUCHGCR", answer("002,010,020"))
    assert dict(pi) == {
        "max_ac_charging_current_value_1": 2,
        "max_ac_charging_current_value_2": 10,
        "max_ac_charging_current_value_3": 20,
    }
    many = PI18.decode("MCHGCR", answer(",".join(["010"] * 22)))
    assert many["max_charging_current_value_20"] == 10
    assert many["unknown_value_in_response_21"] == "010"
    with pytest.raises(FrameError, match="Max. charging current value"):
        PI18.decode("MCHGCR", answer("010,0x0"))
    gaps = PI18.decode("MCHGCR", answer("010,,030" + "," * 20))
    assert dict(gaps) == {"max_charging_current_value_1": 10, "max_charging_current_value_3": 30}


def test_placeholders_and_unknown_codes() -> None:
    """An empty position gives no field; an unknown code is shown, not guessed."""
    result = PI18.decode("MOD", answer("09"))
    assert result["working_mode"] == "Unknown (09)"
    gs = PI18.decode("GS", answer("2232,,2232" + "," * 30))
    assert "grid_frequency" not in gs
    assert len(gs) == 2
    assert gs["ac_output_voltage"] == 223.2
    with pytest.raises(FrameError, match="Grid voltage"):
        PI18.decode("GS", answer("22x2,499"))
    with pytest.raises(FrameError, match="time as HHMM"):
        PI18.decode("ACLT", answer("2400,01"))


# -- framing errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_setter_ack_and_nak(proto: Protocol) -> None:
    """^1 is an acknowledgement keyed by the command; ^0 raises NAKError."""
    assert dict(proto.decode("POP0", ACK)) == {"pop": "ACK"}
    assert dict(proto.decode("MCHGV552,540", ACK)) == {"mchgv": "ACK"}
    with pytest.raises(NAKError, match="refused"):
        proto.decode("POP0", NAK)


def test_query_refused() -> None:
    """A query answered ^0 (unsupported) or PI30-style (NAK is a refusal."""
    with pytest.raises(NAKError):
        PI18.decode("GS", NAK)
    with pytest.raises(NAKError):
        PI18.decode("PSDV450", b"(NAKss\r")


@pytest.mark.parametrize(
    ("command", "frame", "error", "message"),
    [
        ("GS", ACK, FrameError, "acknowledgement"),
        ("POP0", answer("1"), FrameError, "setter was answered with data"),
        ("POP0", b"(ACK9 \r", FrameError, "does not start"),
        ("POP0", b"^1\x0b\xc3\r", CRCError, "CRC"),
        ("POP0", b"^1\x0b\xc2\r\r", FrameError, "malformed"),
        ("POP0", b"^0\x1b\xe3\n", FrameError, "malformed"),
        ("POP0", b"(NAKst\r", CRCError, "CRC"),
        ("GS", b"^P005GSX\x14\r", EchoError, "echoed"),
        ("POP0", b"^S007POP0\x1d1\r", EchoError, "echoed"),
        ("GS", b"", TruncatedFrameError, "too short"),
        ("GS", b"^D0", TruncatedFrameError, "too short"),
        ("GS", b"^Dx05ab\r", FrameError, "three-digit length"),
        ("GS", b"^D00518;\x03", TruncatedFrameError, "length field"),
        ("GS", b"^D00518;\x03\r\r", FrameError, "length field"),
        ("GS", b"^D00218;\r", FrameError, "length field"),
        ("GS", b"^D00518;\x03\n", FrameError, "CR"),
        ("GS", b"^D00519;\x03\r", CRCError, "CRC"),
        ("GS", answer(""), FrameError, "no values"),
    ],
)
def test_malformed_frames(command: str, frame: bytes, error: type, message: str) -> None:
    """Every malformed answer raises its own error class with a useful message."""
    with pytest.raises(error, match=message):
        PI18.decode(command, frame)


def test_truncated_answers_are_never_decoded() -> None:
    """Every strict prefix of a good answer is refused with a ProtocolError."""
    for end in range(len(PIRI)):
        with pytest.raises(ProtocolError):
            PI18.decode("PIRI", PIRI[:end])


def test_crc_bytes_sent_raw_or_bumped_are_accepted() -> None:
    """A reserved CRC byte may arrive plain or bumped by one, as on other Voltronic units."""
    payload = next(
        f"{n:08d}" for n in range(10**6) if xmodem(b"^D011" + f"{n:08d}".encode()) >> 8 == 0x0D
    )
    bumped = answer(payload)
    assert bumped[-3] == 0x0E
    assert PI18.decode("ET", bumped)["total_pv_generated_energy"] == int(payload)
    plain = answer(payload, bump=False)
    assert PI18.decode("ET", plain)["total_pv_generated_energy"] == int(payload)


# -- setter validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("POP2", "0 (Solar-Utility-Battery), 1 (Solar-Battery-Utility)"),
        ("PSP01", "0 (Battery-Load-Utility)"),
        ("PBT3", "0 (AGM), 1 (Flooded), 2 (User)"),
        ("PCP0,3", "priority"),
        ("PCP10,1", "parallel unit"),
        ("PCP0", "2 values separated by commas"),
        ("MCHGC0,035", "not on the step"),
        ("MCHGC0,300", "out of range"),
        ("MCHGC0,30", "format 'ddd'"),
        ("MUCHGC0,005", "or 002"),
        ("MCHGV540,552", "float voltage must not exceed the bulk voltage"),
        ("MCHGV590,540", "bulk voltage"),
        ("MCHGV56.4,54.0", "format 'ddd'"),
        ("PSDV399", "400–480 in tenths of a volt"),
        ("BUCD445,480", "re-charge voltage"),
        ("BUCD440,470", "or 000"),
        ("LON2", "Disable (cut the output)"),
        ("DAT240230120000", "not a real date"),
        ("DAT2401151230", "12 digits"),
        ("EY1999", "2000–2099"),
        ("EM202413", "YYYYMM"),
        ("ED20230229", "real date"),
        ("PRI10", "0–9"),
    ],
)
def test_invalid_setter_values_are_refused_before_sending(command: str, hint: str) -> None:
    """An invalid value raises InvalidParameterError that says what is allowed."""
    for proto in FAMILY:
        with pytest.raises(InvalidParameterError) as err:
            proto.build_request(command)
        assert hint in str(err.value)


@pytest.mark.parametrize(
    "command",
    [
        "POP1",
        "PCP9,2",
        "MCHGC0,010",
        "MCHGC1,200",
        "MUCHGC0,002",
        "MCHGV584,480",
        "MCHGV552,552",
        "PSDV400",
        "BUCD510,000",
        "BUCD440,580",
        "DAT240229235959",
        "ED20240229",
        "PGR1",
        "LON0",
        "PF",
    ],
)
def test_valid_setter_values_build(command: str) -> None:
    """Allowed values build a frame on every variant."""
    for proto in FAMILY:
        assert proto.build_request(command).endswith(b"\r")


def test_unknown_command_suggests_close_matches() -> None:
    """A typo names the command and suggests what was meant."""
    with pytest.raises(UnknownCommandError, match="PIRI"):
        PI18.build_request("PIRRI")
    with pytest.raises(UnknownCommandError, match="did you mean PEA"):
        PI18.build_request("PEA1")


# -- settings model ------------------------------------------------------------------------------


ACTIONS = {"PF", "DAT"}
# PIRI with bulk 58.4 V and float 48.0 V, so every bulk/float bound is a valid pair.
WIDE_PIRI = answer(
    "2300,130,2300,500,130,3000,3000,480,500,550,480,584,480,2,040,060,0,1,0,9,1,0,0,1,1"
)


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_settings_read_existing_fields_and_write_valid_commands(proto: Protocol) -> None:
    """Read fields exist; every option and bound builds a request; all setters are covered."""
    piri = proto.decode("PIRI", WIDE_PIRI)
    written = set()
    for setting in proto.settings.values():
        assert setting.read_field in proto.commands[setting.read_command].info, setting.key
        if setting.kind is SettingKind.SELECT:
            commands = [setting.encode(label) for label in setting.options.values()]
        elif setting.kind is SettingKind.SWITCH:
            commands = [setting.encode(True), setting.encode(False)]
        elif isinstance(setting, TenthsSetting):
            assert setting.minimum is not None
            assert setting.maximum is not None
            commands = [
                setting.encode(value, current=piri)
                for value in (setting.minimum, setting.maximum, *setting.also)
            ]
        else:
            assert setting.minimum is not None
            assert setting.maximum is not None
            commands = [setting.encode(setting.minimum), setting.encode(setting.maximum)]
        for command in commands:
            proto.build_request(command)
            written.add(proto.resolve(command)[0].name)
    setters = {c.name for c in proto.commands.values() if c.kind is Kind.SETTER}
    # Each setter but the actions (restore defaults, set the clock) is some setting's write.
    assert setters - written == ACTIONS


def test_safety_flags() -> None:
    """Battery, charging, grid-tie and output-cutting settings need confirmation; flags do not."""
    safe = {key for key, setting in PI18.settings.items() if setting.safety}
    assert safe == {
        "battery_type",
        "grid_tie",
        "max_charging_current",
        "max_ac_charging_current",
        "battery_bulk_voltage",
        "battery_float_voltage",
        "battery_cut_off_voltage",
        "battery_recharge_voltage",
        "battery_redischarge_voltage",
        "load_supply",
    }


def test_settings_read_back_current_values() -> None:
    """Selects read labels, switches booleans, numbers volts, each from its own variant's key."""
    for proto in FAMILY:
        piri = proto.decode("PIRI", PIRI)
        settings = proto.settings
        assert settings["output_source_priority"].current(piri) == "Solar-Battery-Utility"
        assert settings["output_source_priority"].encode("Solar-Battery-Utility") == "POP1"
        assert settings["input_voltage_range"].current(piri) == "Appliance"
        assert settings["grid_tie"].current(piri) is True
        assert settings["battery_redischarge_voltage"].current(piri) == 55.0
        assert settings["charger_source_priority"].encode("only solar") == "PCP0,2"
        gs = proto.decode("GS", SV_GS)
        assert settings["load_supply"].current(gs) is True
    flags = SV.decode("FLAG", b"^D0201,0,1,0,0,1,1,0,0\xc5\xa0\r")
    assert SV.settings["silence_buzzer_or_open_buzzer"].current(flags) is True
    assert SV.settings["overload_bypass_function"].current(flags) is False
    assert SV.settings["overload_bypass_function"].encode(True) == "PEB"
    pi_flags = PI18.decode("FLAG", answer("0,1,0,0,0,0,0,1,0"))
    assert PI18.settings["overload_bypass_function"].current(pi_flags) is True


def tenths(proto: Protocol, key: str) -> TenthsSetting:
    """Return a voltage setting of ``proto``, checked to be a TenthsSetting."""
    setting = proto.settings[key]
    assert isinstance(setting, TenthsSetting)
    return setting


def test_paired_voltages_keep_the_other_value() -> None:
    """MCHGV and BUCD set two voltages: the one not changed is taken from the current PIRI."""
    piri = PI18.decode("PIRI", PIRI)  # bulk 56.0, float 56.0, re-charge 50.0, re-discharge 55.0
    bulk, float_, recharge, redischarge, cut_off = (
        tenths(PI18, key)
        for key in (
            "battery_bulk_voltage",
            "battery_float_voltage",
            "battery_recharge_voltage",
            "battery_redischarge_voltage",
            "battery_cut_off_voltage",
        )
    )
    assert bulk.encode(57.6, current=piri) == "MCHGV576,560"
    assert float_.encode(54, current=piri) == "MCHGV560,540"
    assert recharge.encode(48, current=piri) == "BUCD480,550"
    assert redischarge.encode(0, current=piri) == "BUCD500,000"
    assert cut_off.encode("44.5") == "PSDV445"
    with pytest.raises(InvalidParameterError, match="pass the current PIRI answer"):
        float_.encode(54)
    with pytest.raises(InvalidParameterError, match="out of range 48–58.4 V"):
        bulk.encode(60, current=piri)
    with pytest.raises(InvalidParameterError, match="not a multiple of 1 V"):
        redischarge.encode(50.5, current=piri)
    with pytest.raises(InvalidParameterError, match=r"\(or 0\)"):
        redischarge.encode(20, current=piri)
    with pytest.raises(InvalidParameterError, match="expected a number"):
        cut_off.encode(True)
    # A float above the bulk voltage is refused when the request is built.
    with pytest.raises(InvalidParameterError, match="must not exceed"):
        PI18.build_request(float_.encode(58, current=piri))


def test_tenths_setting_without_range_refuses() -> None:
    """A voltage setting declared without bounds cannot write anything."""
    setting = TenthsSetting("x", "X", SettingKind.NUMBER, "PIRI", "x", write="X{value:03d}")
    with pytest.raises(InvalidParameterError, match="no range"):
        setting.encode(1)


def test_charging_currents_follow_what_the_unit_lists() -> None:
    """Charging currents are narrowed to the values MCHGCR / MUCHGCR report."""
    setting = PI18.settings["max_charging_current"]
    listed = PI18.decode("MCHGCR", answer("010,020,030,040,050,060,070,080"))
    allowed = setting.allowed_values(listed)
    assert allowed == (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0)
    assert setting.encode(60, allowed=allowed) == "MCHGC0,060"
    with pytest.raises(InvalidParameterError, match="not allowed by this device"):
        setting.encode(120, allowed=allowed)
    assert setting.encode(120) == "MCHGC0,120"
    ac = PI18.settings["max_ac_charging_current"]
    assert ac.encode(2) == "MUCHGC0,002"
    assert ac.options_command == "MUCHGCR"
