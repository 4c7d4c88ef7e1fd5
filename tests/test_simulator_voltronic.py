"""The Voltronic simulators: every query decodes, settings round-trip, refusals, time, parallel units.

Everything goes through the wire format: requests are built by our protocols (or by hand where a
request must be wrong), answers are decoded by our protocols.
"""

from __future__ import annotations

from collections.abc import Callable
import math
import random
import time

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.crc import chk8
from mppsolar_lib.errors import InvalidParameterError, NAKError, UnknownProtocolError
from mppsolar_lib.protocols import Kind, Setting, SettingKind, get_protocol
from mppsolar_lib.protocols.detect import detect
from mppsolar_lib.protocols.fields import Result, Value
from mppsolar_lib.simulator import REGISTRY, create_simulator, list_simulators, register_simulator
from mppsolar_lib.simulator.encoding import Raw, default_token, encode, number
from mppsolar_lib.simulator.plant import MAX_CATCH_UP, Plant
from mppsolar_lib.simulator.voltronic import SIMULATORS, VoltronicSimulator

from .helpers import pi_crc_bytes

PROTOCOLS = tuple(SIMULATORS)
#: Noon, 14 November 2023 (UTC; the simulators run with utc_offset=0).
NOON = 1_699_963_200.0
#: Parameters tried, in order, for a parameterised query: a unit index or a period.
PARAMS = ("0", "2023", "202311", "20231114", "2023111409")
#: Queries a model refuses although its table has them (auto-detection relies on it).
REFUSED = {("pi18", "FWS")}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOON) -> None:
        """Start at ``now``."""
        self.now = now

    def __call__(self) -> float:
        """Return the time."""
        return self.now


def make(
    protocol: str, clock: Callable[[], float] | None = None, **options: object
) -> VoltronicSimulator:
    """Return a deterministic simulator of ``protocol`` (UTC, seeded, noon unless told)."""
    simulator = create_simulator(protocol, clock=clock or Clock(), seed=7, utc_offset=0, **options)
    assert isinstance(simulator, VoltronicSimulator)
    return simulator


def ask(simulator: VoltronicSimulator, command: str) -> Result:
    """Send ``command`` as our protocol frames it; decode the answer (raises on NAK)."""
    protocol = simulator.protocol
    answer = simulator.handle(protocol.build_request(command))
    assert answer is not None
    return protocol.decode(command, answer)


def raw(simulator: VoltronicSimulator, text: str) -> bytes | None:
    """Send ``text`` framed by the protocol but unchecked (a value our library would refuse)."""
    protocol = simulator.protocol
    definition = protocol.commands.get(text) or next(
        c
        for c in sorted(protocol.commands.values(), key=lambda c: -len(c.name))
        if text.startswith(c.name)
    )
    return simulator.handle(protocol.frame(definition, text))


def queries(protocol_id: str) -> list[str]:
    """Every query of the protocol, with a valid parameter where it takes one."""
    protocol = get_protocol(protocol_id)
    texts = []
    for definition in protocol.commands.values():
        if definition.kind is not Kind.QUERY:
            continue
        text = definition.name
        if definition.param is not None:
            for param in PARAMS:
                try:
                    definition.validate(param)
                except InvalidParameterError:
                    continue
                text += param
                break
        texts.append(text)
    return texts


ALL_QUERIES = [(p, q) for p in PROTOCOLS for q in queries(p)]


@pytest.fixture(scope="module")
def simulators() -> dict[str, VoltronicSimulator]:
    """One simulator per protocol, shared by the read-only tests."""
    return {protocol: make(protocol) for protocol in PROTOCOLS}


@pytest.mark.parametrize(("protocol", "command"), ALL_QUERIES)
def test_every_query_answers_something_our_protocol_decodes(
    simulators: dict[str, VoltronicSimulator], protocol: str, command: str
) -> None:
    """Each query of each protocol gets a well-framed answer that decodes into fields."""
    simulator = simulators[protocol]
    if (protocol, command) in REFUSED:
        with pytest.raises(NAKError):
            ask(simulator, command)
        return
    result = ask(simulator, command)
    assert len(result) > 0
    assert result.command == simulator.protocol.resolve(command)[0].name


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_answers_decode_without_templates(protocol: str) -> None:
    """With no template at all, each query is still answered in a layout our protocol reads."""
    simulator = make(protocol, templates={})
    for command in queries(protocol):
        if (protocol, command) in REFUSED:
            continue
        assert ask(simulator, command) is not None


# -- settings ----------------------------------------------------------------------------------


def candidates(setting: Setting, current: Value, allowed: tuple[float, ...] | None) -> list[object]:
    """Values to try writing: another option, the other switch state, numbers in range."""
    if setting.kind is SettingKind.SWITCH:
        return [not current]
    if setting.kind is SettingKind.SELECT:
        return [label for label in setting.options.values() if label != current]
    if allowed:
        return [value for value in allowed if value != current]
    assert setting.minimum is not None and setting.maximum is not None
    step = setting.step or 1
    count = round((setting.maximum - setting.minimum) / step)
    values = [round(setting.minimum + step * i, 6) for i in (count // 2, count // 3, 1, count)]
    return [value for value in values if value != current]


SETTINGS = [(p, key) for p in PROTOCOLS for key in get_protocol(p).settings]


@pytest.mark.parametrize(("protocol", "key"), SETTINGS)
def test_every_setting_written_is_read_back(protocol: str, key: str) -> None:
    """Write a new value through the settings model; the read command then reports it."""
    simulator = make(protocol)
    proto = simulator.protocol
    setting = proto.settings[key]
    current_answer = ask(simulator, setting.read_command)
    current = setting.current(current_answer)
    allowed = None
    if setting.options_command:
        allowed = setting.allowed_values(ask(simulator, setting.options_command))
    for value in candidates(setting, current, allowed):
        try:
            command = setting.encode(value, allowed=allowed, current=current_answer)
            proto.resolve(command)
        except InvalidParameterError:
            continue  # e.g. a bulk voltage below the float voltage: try the next value
        assert ask(simulator, command).values_by_key
        back = setting.current(ask(simulator, setting.read_command))
        if isinstance(value, float):
            assert isinstance(back, int | float)
            assert math.isclose(back, value, abs_tol=1e-6)
        else:
            assert back == value
        return
    pytest.fail(f"no value of {key} could be written")


def test_output_priority_moves_the_unit_between_battery_and_line() -> None:
    """POP02 (SBU) keeps the unit on battery; POP00 (utility first) moves it to line mode.

    At night, in line mode, the utility charges the battery (charger priority Solar + Utility).
    """
    simulator = make("pi30", Clock(NOON + 10 * 3600))
    ask(simulator, "POP02")
    assert ask(simulator, "QPIRI")["output_source_priority"] == "SBU first"
    assert ask(simulator, "QMOD")["device_mode"] == "Battery"
    ask(simulator, "POP00")
    assert ask(simulator, "QPIRI")["output_source_priority"] == "Utility first"
    assert ask(simulator, "QMOD")["device_mode"] == "Line"
    assert ask(simulator, "QPIGS")["is_ac_charging_on"] is True


def test_cutting_the_load_supply_drops_the_output_power() -> None:
    """PI18 LON0 disconnects the loads: GS reports it and the output power falls to zero."""
    simulator = make("pi18")
    assert ask(simulator, "GS")["ac_output_active_power"] > 0
    ask(simulator, "LON0")
    status = ask(simulator, "GS")
    assert status["load_connection"] == "disconnect"
    assert status["ac_output_active_power"] == 0


def test_the_charging_current_limit_caps_the_battery_current() -> None:
    """MCHGC010 limits charging at noon's surplus to 10 A."""
    simulator = make("pi30", soc=50.0)
    assert ask(simulator, "QPIGS")["battery_charging_current"] > 10
    ask(simulator, "MCHGC010")
    assert ask(simulator, "QPIGS")["battery_charging_current"] == 10


def test_several_flag_letters_are_switched_at_once() -> None:
    """PEbj enables overload bypass and power saving; PDa disables the buzzer."""
    simulator = make("pi30")
    ask(simulator, "PEbj")
    ask(simulator, "PDa")
    flags = ask(simulator, "QFLAG")
    assert flags["overload_bypass"] == flags["power_saving"] == "enabled"
    assert flags["buzzer"] == "disabled"


def test_pi17_flag_letters_follow_the_flag_answer() -> None:
    """PI17 PEA enables FLAG's first position, PDB disables the second; a letter past the end NAKs."""
    simulator = make("pi17")
    ask(simulator, "PEA")
    ask(simulator, "PDB")
    flags = ask(simulator, "FLAG")
    assert flags["mute_buzzer_beep"] == "Enabled"
    assert flags["mute_buzzer_beep_in_standby_mode"] == "Disabled"
    with pytest.raises(NAKError):
        ask(simulator, "PEZ")


def test_reset_to_defaults_forgets_written_settings() -> None:
    """PF restores the factory settings: what POP wrote is gone."""
    simulator = make("pi30")
    ask(simulator, "POP00")
    ask(simulator, "PF")
    assert ask(simulator, "QPIRI")["output_source_priority"] == "SBU first"


def test_output_frequency_is_set_by_f() -> None:
    """F60 sets the rated and the live output frequency to 60 Hz."""
    simulator = make("pi30")
    ask(simulator, "F60")
    assert ask(simulator, "QPIRI")["ac_output_frequency"] == 60.0
    assert ask(simulator, "QPIGS")["ac_output_frequency"] == 60.0


def test_setters_the_state_does_not_track_are_acknowledged() -> None:
    """PSAVE has no visible effect but is accepted, as by a real unit."""
    assert ask(make("pi30"), "PSAVE")["psave"] == "ACK"


@pytest.mark.parametrize(
    ("protocol", "command", "read", "field", "expected"),
    [
        ("pi30max", "DAT20240115123000", "QT", "device_time", "20240115123000"),
        ("pi30m044", "DAT20240115123000", "QT", "device_time", "2024-01-15 12:30:00"),
        ("pi30m045", "DAT240115123000", "QT", "device_time", "20240115123000"),
        ("pi17", "DAT240115123000", "T", "datetime", "20240115123000"),
        ("pi18", "DAT240115123000", "T", "datetime", "20240115123000"),
    ],
)
def test_the_device_clock_is_set_by_dat(
    protocol: str, command: str, read: str, field: str, expected: str
) -> None:
    """DAT sets the unit's clock; it keeps running from there with the simulator's clock."""
    clock = Clock()
    simulator = make(protocol, clock)
    ask(simulator, command)
    assert ask(simulator, read)[field] == expected
    clock.now += 60
    assert ask(simulator, read)[field] != expected


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        ("pi30", "PBCV70.0"),  # out of range
        ("pi30", "POP05"),  # no such code
        ("pi30", "MCHGC075"),  # a current the unit does not list in QMCHGCR
        ("pi30", "MCHGC0075"),  # wrong format
        ("pi30", "DAT20240231120000"),  # 31 February
        ("pi18", "MCHGV540,552"),  # float above bulk
        ("pi18", "MCHGC0,065"),  # not on the 10 A step
        ("pi17", "MCHGV0700,0566"),  # C.V. voltage out of range
        ("pi30m045", "PCP03"),  # this model has no utility-first charging
    ],
)
def test_invalid_values_are_refused_and_change_nothing(protocol: str, text: str) -> None:
    """A value a real unit would refuse gets NAK (^0), and the settings stay as they were."""
    simulator = make(protocol)
    before = {
        command: dict(ask(simulator, command)) for command in simulator.protocol.settings_commands
    }
    answer = raw(simulator, text)
    assert answer == simulator.nak(b"^" if simulator.caret else b"")
    for command, values in before.items():
        assert dict(ask(simulator, command)) == values


@pytest.mark.parametrize(
    ("protocol", "request_"),
    [
        ("pi30", b"QXYZ" + pi_crc_bytes(b"QXYZ") + b"\r"),  # unknown command
        ("pi30", b"QPIGS\x00\x00\r"),  # wrong CRC
        ("pi30", b"QPIGS\r"),  # no CRC
        ("pi30", b"qpigs" + pi_crc_bytes(b"qpigs") + b"\r"),  # units are case-sensitive
        ("pi30", b"\xff\xfe" + pi_crc_bytes(b"\xff\xfe") + b"\r"),  # not text
        ("pi16", b"QPIGS" + pi_crc_bytes(b"QPIGS") + b"\r"),  # PI16 takes no CRC
        ("pi16", b"QED20150620107\r"),  # wrong byte sum
        ("pi18", b"^P003GS" + pi_crc_bytes(b"^P003GS") + b"\r"),  # wrong length field
        ("pi18", b"^P005GS\r"),  # no CRC
        ("pi18", b"^Q005GS\r"),  # not ^P / ^S
        ("pi18", b"^S008POP0" + pi_crc_bytes(b"^S008POP0")[:1] + b"\r"),  # cut CRC
        ("pi18", b"^P008POP0" + pi_crc_bytes(b"^P008POP0") + b"\r"),  # a setter sent as a query
        ("pi18lvx", b"^P005GS" + pi_crc_bytes(b"^P005GS") + b"\r"),  # LVX takes no CRC
        ("pi17", b"^P005GS\r"),  # PI17 counts only text and CR
    ],
)
def test_requests_a_unit_cannot_read_are_refused(protocol: str, request_: bytes) -> None:
    """A bad CRC, length, sum, case or framing gets the family's refusal."""
    simulator = make(protocol)
    assert simulator.handle(request_) == simulator.nak(request_)
    with pytest.raises(NAKError):
        simulator.protocol.decode("GS" if simulator.caret else "QPIGS", simulator.nak(request_))


def test_caret_units_answer_paren_style_to_what_is_not_a_caret_request() -> None:
    """A PI18 unit sent PI30's QPI answers (NAK, as the framing docs describe."""
    simulator = make("pi18")
    answer = simulator.handle(get_protocol("pi30").build_request("QPI"))
    assert answer is not None
    assert answer.startswith(b"(NAK")
    with pytest.raises(NAKError):
        get_protocol("pi30").decode("QPI", answer)


def test_pi18sv_takes_requests_with_or_without_crc() -> None:
    """EASUN SV firmware answers GS both ways; plain PI18 only with the CRC."""
    simulator = make("pi18sv")
    with_crc = get_protocol("pi18").build_request("GS")
    without = get_protocol("pi18lvx").build_request("GS")
    for request in (with_crc, without):
        assert get_protocol("pi18sv").decode("GS", simulator.handle(request) or b"")[
            "battery_capacity"
        ]


def test_an_empty_line_gets_no_answer() -> None:
    """A bare CR (or LF) is not a request."""
    simulator = make("pi30")
    assert simulator.handle(b"\r") is None
    assert simulator.handle(b"\n\r") is None


def test_a_leading_line_feed_is_ignored() -> None:
    """A host that ends lines with CR LF puts the LF before the next request."""
    simulator = make("pi30")
    answer = simulator.handle(b"\n" + simulator.protocol.build_request("QPI"))
    assert answer is not None
    assert simulator.protocol.decode("QPI", answer)["protocol_id"] == "PI30"


@settings(max_examples=150)
@given(protocol=st.sampled_from(PROTOCOLS), data=st.binary(max_size=40))
def test_random_bytes_never_crash_a_simulator(protocol: str, data: bytes) -> None:
    """Whatever arrives, a simulator answers with its refusal or stays silent."""
    simulator = make(protocol)
    requests, rest = simulator.split_requests(data + b"\r")
    assert rest == b""
    for request in requests:
        answer = simulator.handle(request)
        assert answer in (None, simulator.nak(request))


# -- time --------------------------------------------------------------------------------------


def test_values_move_with_the_clock() -> None:
    """From dawn to mid-morning PV power rises and charges the battery; the night drains it."""
    clock = Clock(NOON - 6 * 3600)
    simulator = make("pi30", clock, soc=20.0, battery_ah=400.0)
    dawn = ask(simulator, "QPIGS")
    clock.now = NOON - 2 * 3600
    morning = ask(simulator, "QPIGS")
    assert dawn["pv_input_power"] == 0
    assert morning["pv_input_power"] > 1000
    assert morning["battery_capacity"] > dawn["battery_capacity"]
    clock.now = NOON + 11 * 3600  # 23:00: the night load drains the battery
    night = ask(simulator, "QPIGS")
    assert night["pv_input_power"] == 0
    assert night["battery_discharge_current"] > 0
    clock.now += 3 * 3600
    assert ask(simulator, "QPIGS")["battery_capacity"] < night["battery_capacity"]


def test_grid_voltage_jitters_and_temperature_follows_the_power() -> None:
    """Two readings a second apart differ a little; charging at full power heats the unit."""
    clock = Clock(NOON - 9 * 3600)  # 03:00, little load, no sun
    simulator = make("pi30", clock, soc=20.0, battery_ah=400.0)
    first = ask(simulator, "QPIGS")
    clock.now += 1
    second = ask(simulator, "QPIGS")
    assert first["ac_input_voltage"] != second["ac_input_voltage"]
    assert abs(first["ac_input_voltage"] - 230) < 10
    clock.now += 2 * 3600
    cool = ask(simulator, "QPIGS")["inverter_heat_sink_temperature"]
    clock.now = NOON - 3600  # 11:00: the sun charges at the current limit
    assert ask(simulator, "QPIGS")["inverter_heat_sink_temperature"] > cool + 5


def test_energy_counters_count_and_periods_add_up() -> None:
    """QET grows through a sunny hour; a year holds its month, a month its day; the future is 0."""
    clock = Clock()
    simulator = make("pi30max", clock)
    total = ask(simulator, "QET")["total_pv_generated_energy"]
    clock.now += 3600
    assert ask(simulator, "QET")["total_pv_generated_energy"] > total
    day = ask(simulator, "QED20231114")["pv_generated_energy_for_day"]
    month = ask(simulator, "QEM202311")["pv_generated_energy_for_month"]
    year = ask(simulator, "QEY2023")["pv_generated_energy_for_year"]
    assert 0 < day < month < year
    assert ask(simulator, "QED20231113")["pv_generated_energy_for_day"] > 0
    assert ask(simulator, "QED20231115")["pv_generated_energy_for_day"] == 0
    assert ask(simulator, "QLD20231114")["output_load_energy_for_day"] > 0
    assert ask(simulator, "QLY2022")["output_load_energy_for_year"] > 1_000_000


def test_hourly_energy_follows_the_sun() -> None:
    """PI16's QEH: a past noon hour produced energy, a past midnight hour none."""
    simulator = make("pi16")
    assert ask(simulator, "QEH2023111312")["energy_produced"] > 0
    assert ask(simulator, "QEH2023111300")["energy_produced"] == 0
    assert ask(simulator, "QEH2023111412")["energy_produced"] >= 0


def test_pi17_total_energy_is_in_kwh() -> None:
    """PI18SV's ET counts kWh where PI18's counts Wh."""
    assert ask(make("pi18sv"), "ET")["generated_energy"] * 1000 == pytest.approx(
        ask(make("pi18"), "ET")["total_pv_generated_energy"], abs=1000
    )


def test_a_low_battery_raises_the_warning_and_moves_to_line() -> None:
    """Below 15 % the unit leaves battery mode; below 20 % the low-battery warning is on."""
    simulator = make("pi30", Clock(NOON + 10 * 3600), soc=12.0)
    assert ask(simulator, "QMOD")["device_mode"] == "Line"
    assert ask(simulator, "QPIWS")["battery_low_alarm_warning"] is True
    assert ask(make("pi17", soc=12.0), "WS")["battery_low_voltage"] == "enabled"


# -- parallel units ----------------------------------------------------------------------------


def test_each_unit_of_a_parallel_system_answers_qpgs() -> None:
    """Three units: QPGS0–2 answer with their own serial and a share of the load; QPGS3 NAKs."""
    simulator = make("pi30", parallel=3)
    units = [ask(simulator, f"QPGS{n}") for n in range(3)]
    assert len({unit["serial_number"] for unit in units}) == 3
    assert units[0]["serial_number"] == ask(simulator, "QID")["serial_number"]
    assert all(unit["parallel_instance_number"] == "valid" for unit in units)
    total = units[0]["total_output_active_power"]
    assert sum(unit["ac_output_active_power"] for unit in units) == pytest.approx(total, abs=3)
    with pytest.raises(NAKError):
        ask(simulator, "QPGS3")


@pytest.mark.parametrize(
    ("protocol", "command"), [("pi30", "QPGS"), ("pi41", "QP2GS"), ("pi18", "PGS"), ("pi18", "PRI")]
)
def test_a_single_unit_answers_only_for_itself(protocol: str, command: str) -> None:
    """Unit 0 is the unit itself; asking for unit 1 of a single unit is refused."""
    simulator = make(protocol)
    assert ask(simulator, f"{command}0")
    with pytest.raises(NAKError):
        ask(simulator, f"{command}1")


def test_pi18_parallel_ratings_carry_each_units_serial() -> None:
    """PRI reports each unit's serial number and its valid length."""
    simulator = make("pi18", parallel=2)
    first, second = ask(simulator, "PRI0"), ask(simulator, "PRI1")
    assert first["serial_number_valid_length"] == 14
    assert first["serial_number"] != second["serial_number"]


def test_pi18_can_report_absent_units() -> None:
    """With ``report_absent``, PI18 answers for an empty slot "Not existent" instead of NAK."""
    simulator = make("pi18", parallel=1)
    simulator.report_absent = True
    ratings, status = ask(simulator, "PRI1"), ask(simulator, "PGS1")
    assert ratings["parallel_id_connection_status"] == "Not existent"
    assert ratings["serial_number_valid_length"] == 0
    assert status["parallel_id_connection_status"] == "Not existent"
    assert ask(simulator, "PGS0")["parallel_id_connection_status"] == "Existent"
    split_phase = make("pi41")
    split_phase.report_absent = True
    with pytest.raises(NAKError):
        ask(split_phase, "QP2GS1")  # other per-unit queries are still refused
    simulator.units = 2  # a unit joins
    assert ask(simulator, "PRI1")["parallel_id_connection_status"] == "Existent"


def test_parallel_count_is_checked() -> None:
    """A parallel system has 1–9 units."""
    with pytest.raises(ValueError, match="1–9"):
        make("pi30", parallel=10)


# -- REVO's PSET -------------------------------------------------------------------------------

PSET = "PSET120103 56.3 54.6 43.8 42.6 040 020 2020 02 18 17 06 00"


def test_revo_pset_writes_the_whole_configuration_and_the_clock() -> None:
    """PSET (text + check byte, no CR) is acknowledged; PQSE then reports what it wrote."""
    simulator = make("pi30revo")
    proto = simulator.protocol
    request = proto.build_request(PSET)
    assert not request.endswith(b"\r")
    assert proto.decode(PSET, simulator.handle(request) or b"")["pset"] == "ACK"
    config = ask(simulator, "PQSE")
    assert config["work_mode"] == "Battery Priority"
    assert config["battery_float_charge_voltage"] == 54.6
    assert (config["year"], config["month"], config["minute"]) == ("2020", "02", "06")


def test_revo_pset_is_also_taken_with_a_crc() -> None:
    """The _PSET spelling (CRC + CR) writes the same configuration."""
    simulator = make("pi30revo")
    ask(simulator, "_" + PSET)
    assert ask(simulator, "PQSE")["total_charging_current"] == 40


def test_revo_requests_are_split_by_check_byte_or_cr() -> None:
    """A PSET without CR, then a QPI, in one stream: two requests; noise and partial data wait."""
    simulator = make("pi30revo")
    proto = simulator.protocol
    pset, qpi = proto.build_request(PSET), proto.build_request("QPI")
    requests, rest = simulator.split_requests(pset + qpi + b"PSET1")
    assert requests == [pset, qpi]
    assert rest == b"PSET1"
    noise = b"PSET" + b"x" * 100
    assert simulator.split_requests(noise) == ([noise], b"")
    bad = b"PSET" + PSET[4:].encode() + bytes((chk8(PSET.encode()) + 1 & 0xFF,))
    assert simulator.handle(bad) == simulator.nak()
    # A check byte that fits a text PSET does not take: still waiting, then refused.
    wrong = b"PSET9" + bytes((chk8(b"PSET9") & 0xFF,))
    assert simulator.split_requests(wrong) == ([], wrong)
    assert simulator.handle(wrong) == simulator.nak()


# -- identity and detection --------------------------------------------------------------------

DETECTED = {
    "pi30": "pi30",
    "pi30max": "pi30max",
    "pi30m044": "pi30m044",
    "pi30m045": "pi30m045",
    "pi30mst": "pi30mst",
    "pi30revo": "pi30revo",  # says PI30, has no model number or name, and answers QALL
    "pi41": "pi41",
    "pi16": "pi16",
    "pi17": "pi17",
    "pi17infini": "pi17",  # same answers as PI17: listed as the alternative
    "pi17m058": "pi17m058",
    "pi18": "pi18",
    "pi18sv": "pi18sv",
    "pi18lvx": "pi18lvx",
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_auto_detection_names_each_simulated_model(protocol: str) -> None:
    """The detector, probing the simulator, finds the protocol it simulates (or its twin)."""
    found = detect(make(protocol).handle)
    assert found.protocol == DETECTED[protocol]
    if found.protocol != protocol:
        assert protocol in found.alternatives
    assert found.serial
    assert found.firmware


def test_simulators_exist_for_every_voltronic_protocol() -> None:
    """The registry lists every PI-family protocol; an unknown id names the known ones."""
    assert set(PROTOCOLS) <= set(list_simulators())
    with pytest.raises(UnknownProtocolError, match="pi30"):
        create_simulator("pi99")


def test_the_registry_takes_new_families() -> None:
    """Another family registers a factory and create_simulator builds it."""
    register_simulator("PI30-test", lambda protocol_id, **options: make("pi30"))
    try:
        assert create_simulator("pi30-test").protocol.id == "pi30"
    finally:
        REGISTRY.pop("pi30-test")


def test_a_non_voltronic_protocol_is_refused() -> None:
    """The Voltronic simulator does not pretend to be a BMS."""
    with pytest.raises(UnknownProtocolError, match="not a Voltronic"):
        VoltronicSimulator("daly")


def test_repr_says_what_is_simulated() -> None:
    """Protocol, units and state of charge."""
    assert repr(make("pi30", parallel=2)) == "<VoltronicSimulator pi30 units=2 soc=80%>"


def test_the_machines_time_zone_is_the_default() -> None:
    """Without utc_offset the sun follows this machine's local time."""
    simulator = create_simulator("pi30", seed=1, clock=Clock())
    assert isinstance(simulator, VoltronicSimulator)
    assert simulator.plant.utc_offset == time.localtime(NOON).tm_gmtoff


# -- encoders and plant ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "template", "expected"),
    [
        (51.234, "00.00", "51.23"),
        (7, "+00000", "+00007"),
        (-7, "+00000", "-00007"),
        (-3.5, "000.0", "-03.5"),
        (0.04, "00", "00"),
        (1234.5, "00.0", "1234.5"),
    ],
)
def test_numbers_are_written_as_the_template_writes_them(
    value: float, template: str, expected: str
) -> None:
    """Width, decimals and sign come from the template."""
    assert number(value, template) == expected


def test_encoders_keep_the_template_for_what_they_cannot_write() -> None:
    """Unknown labels, unknown codes and one-off decoders keep the template's token."""
    qpiri = get_protocol("pi30").commands["QPIRI"]
    option = qpiri.spec("output_source_priority")
    keyed = qpiri.spec("machine_type")
    assert encode(option, {"output_source_priority": "Nonsense"}, "1") == "1"
    assert encode(option, {"output_source_priority": 2}, "1") == "2"
    assert encode(keyed, {"machine_type": "Nonsense"}, "01") == "01"
    assert encode(keyed, {"machine_type": "10"}, "01") == "10"
    assert encode(keyed, {"machine_type": Raw("00")}, "01") == "00"
    custom = get_protocol("pi30m044").commands["QT"].fields[0]
    assert (
        encode(custom, {"device_time": "2024-01-01 00:00:00"}, "20210101000000") == "20210101000000"
    )
    clock = get_protocol("pi18").commands["ACCT"].fields[0]
    assert encode(clock, {clock.key: "22:30"}, "0000") == "2230"
    revo = get_protocol("pi30revo").commands["PQSE"].fields[0]
    assert (
        encode(revo, {"language": "Klingon", "work_mode": "Solar Priority"}, "000100") == "010100"
    )
    flags = get_protocol("pi30").commands["QPIWS"].fields[0]
    assert encode(flags, {"inverter_fault": True}, "") == "01"


@pytest.mark.parametrize("protocol", ["pi30", "pi30revo", "pi17", "pi18"])
def test_default_tokens_decode(protocol: str) -> None:
    """Every field has a default token its decoder reads."""
    proto = get_protocol(protocol)
    for definition in proto.commands.values():
        if definition.kind is Kind.SETTER:
            continue  # answered ACK / NAK, never from a template
        for spec in definition.fields:
            if spec.key == "device_time":
                continue  # a YYYYMMDDHHMMSS stamp: the simulator always fills it in
            spec.decode(default_token(spec), {})


def test_the_plant_survives_a_clock_that_jumps() -> None:
    """Backwards: carries on from there. Far forward: integrates at most two days."""
    clock = Clock()
    simulator = make("pi30", clock)
    clock.now -= 3600
    assert ask(simulator, "QPIGS")
    assert simulator.plant.last == clock.now
    clock.now += 30 * 86400
    assert ask(simulator, "QPIGS")
    assert simulator.plant.last == clock.now
    assert MAX_CATCH_UP == 2 * 86400


def test_a_full_battery_takes_no_more_charge() -> None:
    """At 100 % the charger curtails PV to what the load uses."""
    plant = Plant(NOON, random.Random(1), utc_offset=0, soc=100.0)
    plant.advance(NOON + 60)
    assert plant.soc == 100.0
    assert plant.battery_current == 0.0
    assert plant.pv_w == pytest.approx(plant.load_w)


def test_the_charging_stage_follows_the_state_of_charge() -> None:
    """Q1: bulk below 90 %, absorb to 99 %, then float; nothing while discharging."""
    stages = {
        soc: ask(make("pi30", soc=soc), "Q1")["inverter_charge_status"] for soc in (50, 95, 99.5)
    }
    assert stages == {50: "bulk stage", 95: "absorb", 99.5: "float"}
    night = make("pi30", Clock(NOON + 10 * 3600))
    assert ask(night, "Q1")["inverter_charge_status"] == "nocharging"


def test_a_template_that_does_not_decode_is_not_used() -> None:
    """An own template the layout cannot read gives way to one token per field."""
    simulator = make("pi30", templates={"QPIGS": "not an answer"})
    assert ask(simulator, "QPIGS")["battery_capacity"] == 80


def test_protocol_errors_in_setters_are_refusals() -> None:
    """A setter the model cannot carry out is refused, not raised."""
    simulator = make("pi30max")
    assert raw(simulator, "PBT07") == simulator.ack()  # BAK: shown as the QPIRI label "TBD"
    assert ask(simulator, "QPIRI")["battery_type"] == "TBD"
