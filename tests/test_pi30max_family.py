"""PI30 MAX family (pi30max, pi30m044, pi30m045, pi30mst): what a user of each variant sees."""

from __future__ import annotations

import pytest

from mppsolar_lib.crc import pi_crc
from mppsolar_lib.errors import FrameError, InvalidParameterError, UnknownCommandError
from mppsolar_lib.protocols import (
    Protocol,
    SettingKind,
    get_protocol,
    pi30,
    pi30m044,
    pi30m045,
    pi30max,
    pi30mst,
)
from mppsolar_lib.protocols.base import spec_keys

from .helpers import pi_frame

MAX = get_protocol("pi30max")
M044 = get_protocol("pi30m044")
M045 = get_protocol("pi30m045")
MST = get_protocol("pi30mst")
FAMILY = [MAX, M044, M045, MST]


frame = pi_frame


# -- registry and table inheritance --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("PI30MAX", pi30max.PI30MAX),
        ("PI30M044", pi30m044.PI30M044),
        ("pi30m045", pi30m045.PI30M045),
        ("Pi30Mst", pi30mst.PI30MST),
    ],
)
def test_variants_are_registered(name: str, cls: type) -> None:
    """Each variant is found case-insensitively and polls what the reference polls."""
    proto = get_protocol(name)
    assert type(proto) is cls
    assert proto.id == name.lower()
    assert proto.status_commands == ("QPIGS", "QPIGS2", "QMOD", "QPIWS")
    assert proto.settings_commands == ("QPIRI", "QFLAG")
    assert proto.id_commands == ("QPI", "QGMN", "QMN")


def test_tables_extend_their_parent_instead_of_copying() -> None:
    """Unchanged commands are the parent's very objects; only differences are redefined."""
    assert MAX.commands["QID"] is pi30.COMMANDS["QID"]
    assert MAX.commands["PBCV"] is pi30.COMMANDS["PBCV"]
    assert MAX.commands["QPIRI"] is not pi30.COMMANDS["QPIRI"]
    # Even a changed layout shares the specs that did not change.
    assert MAX.commands["QPIRI"].fields[0] is pi30.COMMANDS["QPIRI"].fields[0]
    for variant in (M044, M045, MST):
        assert variant.commands["QID"] is pi30.COMMANDS["QID"]
        assert variant.commands["QLED"] is pi30max.COMMANDS["QLED"]
    assert M045.commands["QPIGS2"] is pi30max.COMMANDS["QPIGS2"]
    assert MST.commands["QPIGS2"] is not pi30max.COMMANDS["QPIGS2"]
    assert M044.commands["QPIGS"] is pi30max.COMMANDS["QPIGS"]
    assert M045.settings["battery_type"] is pi30max.SETTINGS["battery_type"]
    # The parents are untouched by their children.
    assert pi30.COMMANDS["QPIRI"].fields[-1].key == "operation_logic"
    assert "QPIGS2" not in pi30.COMMANDS
    assert len(pi30max.COMMANDS["QPIGS2"].fields) == 3


def test_max_units_have_no_qvfw2() -> None:
    """QVFW2 does not exist on MAX units; QVFW3 and VERFW do."""
    for proto in FAMILY:
        with pytest.raises(UnknownCommandError):
            proto.build_request("QVFW2")
        assert proto.build_request("QVFW3").startswith(b"QVFW3")
    assert get_protocol("pi30").build_request("QVFW2").startswith(b"QVFW2")


# -- decoding --------------------------------------------------------------------------------------

MAX_QPIGS = (
    "229.1 49.9 230.0 50.0 0920 0850 018 392 52.60 012 076 0041 03.4 310.2 52.50 00000 "
    "00010110 05 03 01050 110 1 01 00412"
)


def test_max_qpigs_has_pv1_and_feed_in() -> None:
    """QPIGS names PV input 1 and adds the feed-in fields; the fan offset is in volts."""
    result = MAX.decode("QPIGS", frame(MAX_QPIGS))
    assert result["ac_input_voltage"] == 229.1
    assert result["pv1_input_current"] == 3.4
    assert result["pv1_input_voltage"] == 310.2
    assert result["pv1_charging_power"] == 1050
    assert result.fields["pv1_charging_power"].unit == "W"
    assert result["battery_voltage_offset_for_fans_on"] == pytest.approx(0.05)
    assert result.fields["battery_voltage_offset_for_fans_on"].unit == "V"
    assert result["eeprom_version"] == 3
    assert result["is_charging_to_float"] is True
    assert result["is_dustproof_installed"] is False
    assert result["solar_feed_to_grid"] == "Enabled"
    assert result["country"] == "Germany"
    assert result["solar_feed_to_grid_power"] == 412
    assert "pv_input_power" not in result


def test_qpigs2_two_and_three_pv_inputs() -> None:
    """PI30MAX reports PV input 2; PI30MST also PV input 3 and the AC charger."""
    result = MAX.decode("QPIGS2", frame("02.6 301.5 00784"))
    assert dict(result) == {
        "pv2_input_current": 2.6,
        "pv2_input_voltage": 301.5,
        "pv2_charging_power": 784,
    }
    mst = MST.decode(
        "QPIGS2",
        frame("02.6 301.5 52.40 00784 00000000 10.5 0550 01.1 280.4 52.30 00300 01084"),
    )
    assert mst["pv2_input_voltage"] == 301.5
    assert mst["battery_voltage_from_scc_2"] == 52.4
    assert mst["ac_charging_current"] == 10.5
    assert mst["ac_charging_power"] == 550
    assert mst["pv3_input_current"] == 1.1
    assert mst["pv3_input_voltage"] == 280.4
    assert mst["pv3_charging_power"] == 300
    assert mst["pv_total_charging_power"] == 1084
    assert mst.fields["pv_total_charging_power"].unit == "W"


MAX_QPIRI = (
    "230.0 27.2 230.0 50.0 27.2 6200 6200 48.0 51.0 47.0 55.2 54.0 3 030 080 0 2 1 6 01 0 7 "
    "52.0 0 1 120 0 100"
)


def test_max_qpiri_labels_and_discharge_limit() -> None:
    """QPIRI: lithium battery types, the MAX priority names, 180° split phase, discharge limit."""
    result = MAX.decode("QPIRI", frame(MAX_QPIRI))
    assert result["battery_type"] == "Pylontech"
    assert result["output_source_priority"] == "Solar Battery Utility"
    assert result["charger_source_priority"] == "Solar first"
    assert result["output_mode"] == "Phase 2 of 2 phase output (180°)"
    assert result["max_discharging_current"] == 100
    assert result.fields["max_discharging_current"].unit == "A"
    assert result["ac_input_voltage"] == 230.0


def test_m044_qpiri_names_ratings_and_has_no_utility_first() -> None:
    """PI30M044 calls the first values ratings; charger priority 0 is undefined."""
    result = M044.decode("QPIRI", frame(MAX_QPIRI))
    assert result["grid_rating_voltage"] == 230.0
    assert result["ac_output_rating_active_power"] == 6200
    assert result["battery_rating_voltage"] == 48.0
    assert "ac_input_voltage" not in result
    assert result["charger_source_priority"] == "Solar first"
    zero = MAX_QPIRI.replace(" 0 2 1 6 ", " 0 2 0 6 ")
    assert M044.decode("QPIRI", frame(zero))["charger_source_priority"] == "Undefined"
    assert MAX.decode("QPIRI", frame(zero))["charger_source_priority"] == "Utility first"


def test_qsid_reads_the_declared_length() -> None:
    """QSID starts with the serial number's length; the padding after it is dropped."""
    result = MAX.decode("QSID", frame("1696123456789012345600000"))
    assert result["serial_number"] == "9612345678901234"
    with pytest.raises(FrameError, match="then 20 characters"):
        MAX.decode("QSID", frame("20123"))
    with pytest.raises(FrameError, match="a two-digit length"):
        MAX.decode("QSID", frame("x6123456"))


def test_energy_counters_in_wh_with_their_period() -> None:
    """Energy answers are Wh; per-period counters say which period and reset (state class total)."""
    total = MAX.decode("QET", frame("01234567"))
    assert total["total_pv_generated_energy"] == 1234567
    field = total.fields["total_pv_generated_energy"]
    assert (field.unit, field.hints.device_class, field.hints.state_class) == (
        "Wh",
        "energy",
        "total_increasing",
    )
    year = MAX.decode("QEY2023", frame("00876000"))
    assert year.command == "QEY"
    assert dict(year) == {"pv_generated_energy_for_year": 876000, "year": "2023"}
    hints = year.fields["pv_generated_energy_for_year"].hints
    assert (hints.device_class, hints.state_class) == ("energy", "total")
    month = MAX.decode("QLM202402", frame("00045000"))
    assert month["output_load_energy_for_month"] == 45000
    assert (month["year"], month["month"]) == ("2024", "February")
    assert month.fields["month"].name == "Month"
    day = M045.decode("QED20240229", frame("00012345"))
    assert (day["pv_generated_energy_for_day"], day["day"]) == (12345, "29")
    assert day.fields["pv_generated_energy_for_day"].unit == "Wh"


def test_energy_requests_carry_the_date() -> None:
    """The date is part of the request, CRC included."""
    assert MAX.build_request("QED20240115") == b"QED20240115" + pi_crc(b"QED20240115") + b"\r"


@pytest.mark.parametrize(
    "command",
    [
        "QEY24",
        "QEY1999",
        "QEYabcd",
        "QEM202413",
        "QEM2024",
        "QED20230229",
        "QED20240230",
        "QED2024011",
        "QLY20245",
        "QLM202400",
        "QLD20241301",
    ],
)
def test_energy_queries_refuse_bad_dates(command: str) -> None:
    """A year, month or date that cannot exist is refused before anything is sent."""
    with pytest.raises(InvalidParameterError):
        MAX.build_request(command)


def test_energy_date_errors_say_the_format() -> None:
    """The error tells the user how to write the date; lifetime totals take no date."""
    with pytest.raises(UnknownCommandError):
        MAX.build_request("QET2024")
    with pytest.raises(InvalidParameterError, match="YYYYMMDD"):
        MAX.build_request("QED20230229")
    with pytest.raises(InvalidParameterError, match="YYYYMM"):
        MAX.build_request("QLM202413")


def test_qled_qbeqi_and_schedules() -> None:
    """LED ring, equalisation and the hourly charger schedule decode to labels and units."""
    led = MAX.decode("QLED", frame("1 2 3 7 2 255000000000255000"))
    assert dict(led) == {
        "led_enabled": "Enabled",
        "led_speed": "Fast",
        "led_effect": "Right Scrolling",
        "led_brightness": 7,
        "led_number_of_colors": 2,
        "rgb": "255000000000255000",
    }
    eq = MAX.decode("QBEQI", frame("1 060 030 040 000 56.40 000 120 1 0012"))
    assert eq["equalization_enabled"] == "Enabled"
    assert eq["equalization_voltage"] == 56.4
    assert eq["equalization_active"] == "Active"
    assert (eq["equalization_time"], eq.fields["equalization_time"].unit) == (60, "min")
    assert eq["equalization_elasped_time"] == 12
    schedule = " ".join(["1"] * 6 + ["2"] * 18) + " 2 1 2 3"
    chpt = MAX.decode("QCHPT", frame(schedule))
    assert chpt["charger_source_priority_05_hours"] == "Solar first"
    assert chpt["charger_source_priority_06_hours"] == "Solar + Utility"
    assert chpt["device_charger_source_priority"] == "Solar + Utility"
    assert chpt["selection_of_charger_source_priority_order_3"] == "Only Solar"


def test_m044_qoppt_hour_by_hour() -> None:
    """PI30M044 decodes the output priority schedule per hour."""
    schedule = " ".join(["0"] * 7 + ["2"] * 17) + " 2 0 2 1"
    result = M044.decode("QOPPT", frame(schedule))
    assert result["output_source_priority_00_hours"] == "Utility Solar Battery (USB)"
    assert result["output_source_priority_07_hours"] == "Solar Battery Utility (SBU)"
    assert result["selection_of_output_source_priority_order_3"] == "Solar Utility Battery (SUB)"
    assert len(result) == 28


def test_m044_specific_answers() -> None:
    """Q1, QT, QMCHGCR and QPIWS as the model 044 reports them."""
    q1 = M044.decode(
        "Q1", frame("00120 00000 01 00 12 045 040 032 050 00 00 000 0060 1200 0000 50.00 11")
    )
    assert q1["absorb_time"] == 120
    assert q1["scc_ok"] == "OK"
    assert q1["allow_scc_on"] == "Off"
    assert (q1["ac_charge_average_current"], q1.fields["ac_charge_average_current"].unit) == (
        12,
        "A",
    )
    assert q1["inverter_charge_status"] == "bulk stage"
    assert M044.decode("QT", frame("20240115093005"))["device_time"] == "2024-01-15 09:30:05"
    assert MAX.decode("QT", frame("20240115093005"))["device_time"] == "20240115093005"
    with pytest.raises(FrameError):
        M044.decode("QT", frame("20241315093005"))
    currents = M044.decode("QMCHGCR", frame("010 020 030 060 100 150"))
    assert [currents[f"max_charging_current_{n}"] for n in range(1, 7)] == [
        10,
        20,
        30,
        60,
        100,
        150,
    ]
    warnings = M044.decode("QPIWS", frame("0" * 32 + "0101"))
    assert warnings["battery_weak_code2"] is True
    assert warnings["battery_equalisation_warning"] is True
    assert warnings["battery_weak_code1"] is False


def test_max_warnings_modes_and_flags() -> None:
    """QPIWS has 36 positions, QMOD knows shutdown, QFLAG knows feed-in (and power saving)."""
    warnings = MAX.decode("QPIWS", frame("1" + "0" * 14 + "1" + "0" * 19 + "1"))
    assert warnings["pv_loss_warning"] is True
    assert warnings["battery_derating_warning"] is True
    assert warnings["battery_equalisation_warning"] is True
    assert warnings["battery_weak"] is False
    assert MAX.decode("QMOD", frame("D"))["device_mode"] == "Shutdown"
    assert MAX.decode("QMOD", frame("H"))["device_mode"] == "Power Saving"
    flags = MAX.decode("QFLAG", frame("EadDbjkuvxyz"))
    assert flags["solar_feed_to_grid"] == "enabled"
    assert flags["buzzer"] == "enabled"
    assert flags["power_saving"] == "disabled"


def test_qpgs_second_pv_and_charger_labels_per_model() -> None:
    """QPGS adds PV2; PI30M045 numbers the charger priorities from solar first."""
    payload = (
        "1 92932105105315 L 10 230.1 50.00 230.0 50.00 0989 0907 012 53.2 009 090 349.8 009 "
        "00989 00907 011 10100110 0 1 100 120 030 02 000 275.3 03"
    )
    result = MAX.decode("QPGS0", frame(payload))
    assert result["work_mode"] == "Line Mode"
    assert result["fault_code"] == "PV over current"
    assert result["pv1_input_voltage"] == 349.8
    assert result["pv2_input_voltage"] == 275.3
    assert result["pv2_input_current"] == 3
    assert result["charger_source_priority"] == "Solar first"
    assert M045.decode("QPGS0", frame(payload))["charger_source_priority"] == "Solar + Utility"


def test_m045_qdi_charger_labels() -> None:
    """QDI of PI30M045 starts its charger priorities at solar first; MAX QDI adds two values."""
    qdi = "230.0 50.0 0030 44.0 54.0 56.4 46.0 60 0 0 0 3 0 0 0 0 1 1 1 0 1 6 54.0 0 1 120 150"
    m045 = M045.decode("QDI", frame(qdi))
    assert m045["charger_source_priority"] == "Solar first"
    assert m045["battery_type"] == "Pylontech"
    assert m045["output_mode"] == "Phase 2 of 2 phase output (120°)"
    assert m045["max_charging_time_at_cv"] == 120
    assert m045["max_discharging_current"] == 150
    assert MAX.decode("QDI", frame(qdi))["charger_source_priority"] == "Utility first"


# -- setters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "command", "allowed"),
    [
        (MAX, "PLEDB0", "1–9"),
        (MAX, "PLEDB10", "1–9"),
        (MAX, "PLEDT4", "1–3"),
        (MAX, "PLEDE2", "1 (on)"),
        (MAX, "PLEDS3", "2 (fast)"),
        (MAX, "PLEDM1", "3 (right scrolling)"),
        (MAX, "PLEDC1256000000", "000–255"),
        (MAX, "PLEDC4255000000", "mode digit"),
        (MAX, "PBT10", "03 (Pylontech)"),
        (MAX, "PEq", "d (Solar Feed to Grid)"),
        (M045, "PCP03", "02 (Only solar charging permitted)"),
        (M045, "PPCP103", "00–02"),
        (M045, "MUCHGC1035", "three-digit current"),
        (M045, "MUCHGC030", "three-digit current"),
        (M045, "DAT20240115123000", "YYMMDDHHMMSS"),
    ],
)
def test_invalid_setter_parameters_say_what_is_allowed(
    proto: Protocol, command: str, allowed: str
) -> None:
    """Nothing is sent for an invalid value, and the error lists what would be accepted."""
    with pytest.raises(
        InvalidParameterError, match=allowed.replace("(", r"\(").replace(")", r"\)")
    ):
        proto.build_request(command)


@pytest.mark.parametrize(
    ("proto", "command"),
    [
        (MAX, "PLEDB5"),
        (MAX, "PLEDC3000128255"),
        (MAX, "PBT09"),
        (MAX, "PEd"),
        (MAX, "DAT20240115123000"),
        (M044, "PBT07"),
        (M045, "MUCHGC1002"),
        (M045, "MUCHGC0120"),
        (M045, "DAT240115123000"),
        (M045, "PCP02"),
    ],
)
def test_valid_setters_are_sent(proto: Protocol, command: str) -> None:
    """Valid values are framed with their CRC."""
    request = proto.build_request(command)
    assert request == command.encode() + pi_crc(command.encode()) + b"\r"


# -- settings model --------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_settings_read_fields_the_variant_produces(proto: Protocol) -> None:
    """Every setting reads a key its read command can actually produce on that variant."""
    for setting in proto.settings.values():
        layout = proto.commands[setting.read_command].fields
        assert setting.read_field in spec_keys(layout), (proto, setting.key)


@pytest.mark.parametrize("proto", FAMILY, ids=lambda p: p.id)
def test_every_setting_value_encodes_to_a_command_the_variant_accepts(proto: Protocol) -> None:
    """Select options, switch states and number range ends all give valid requests."""
    for setting in proto.settings.values():
        if setting.kind is SettingKind.SELECT:
            commands = [setting.encode(label) for label in setting.options.values()]
        elif setting.kind is SettingKind.SWITCH:
            commands = [setting.encode(True), setting.encode(False)]
        else:
            commands = [setting.encode(setting.minimum), setting.encode(setting.maximum)]
        for command in commands:
            proto.build_request(command)


def test_select_settings_match_the_labels_qpiri_shows() -> None:
    """Reading QPIRI gives a label the select offers, and writing it sends the right code."""
    for proto, charger_code in ((MAX, "PCP01"), (M044, "PCP01"), (M045, "PCP00")):
        settings = proto.settings
        qpiri = proto.decode("QPIRI", frame(MAX_QPIRI))
        for key in ("output_source_priority", "charger_source_priority", "battery_type"):
            current = settings[key].current(qpiri)
            assert current in settings[key].options.values(), (proto.id, key, current)
        assert settings["output_source_priority"].encode(qpiri["output_source_priority"]) == "POP02"
        assert settings["battery_type"].encode("Pylontech") == "PBT03"
        assert settings["charger_source_priority"].encode("Solar first") == charger_code
        assert settings["max_discharging_current"].current(qpiri) == 100


def test_variant_specific_settings() -> None:
    """Feed-in switch on MAX, power saving on 044, three-digit AC current on 045."""
    assert MAX.settings["solar_feed_to_grid"].encode(True) == "PEd"
    assert "power_saving" not in MAX.settings
    assert M044.settings["power_saving"].encode(False) == "PDj"
    assert "solar_feed_to_grid" not in M044.settings
    assert M045.settings["max_ac_charging_current"].encode(30) == "MUCHGC0030"
    assert MAX.settings["max_ac_charging_current"].encode(30) == "MUCHGC030"
    assert MAX.settings["max_discharging_current"].encode(120) == "PBATMAXDISC120"
    with pytest.raises(InvalidParameterError, match="Utility first"):
        M045.settings["charger_source_priority"].encode("Utility first")
    with pytest.raises(InvalidParameterError):
        MAX.settings["max_discharging_current"].encode(151)
