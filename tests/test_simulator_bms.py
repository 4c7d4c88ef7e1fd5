"""Battery-monitor simulators: JK (Bluetooth and wired), Daly and VE.Direct.

Every command of every protocol id is sent to its simulator as request bytes and the answer is
decoded by the protocol, as a transport and ``Device`` would. The state behind the answers is
checked through those decoded answers: setters change what later queries report, the current
integrates into the state of charge, cells drift and balance, and requests a device would
refuse are refused the way it refuses them.
"""

from __future__ import annotations

import random

import pytest

from mppsolar_lib.crc import crc16_modbus, jbd_checksum, sum16
from mppsolar_lib.errors import FrameError, NAKError
from mppsolar_lib.protocols import Command, get_protocol
from mppsolar_lib.protocols.command import Choice, Kind
from mppsolar_lib.protocols.daly import Count, SocParam
from mppsolar_lib.protocols.jkble import Decimals, JkRecordAssembler, request as jk_request
from mppsolar_lib.protocols.vedirect import RegisterValue, hex_frame, parse_hex_frame
from mppsolar_lib.simulator import create_simulator, list_simulators
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.battery import Pack, ocv
from mppsolar_lib.simulator.daly import DalySimulator
from mppsolar_lib.simulator.jk import JkBleSimulator, split_fixed
from mppsolar_lib.simulator.records import RecordWriter
from mppsolar_lib.simulator.vedirect import VeDirectSimulator

BMS_IDS = (
    "jk02",
    "jk02_32",
    "jkv11",
    "jk04",
    "jk232",
    "jk485",
    "jkserial",
    "jkpb",
    "daly",
    "daly40",
    "ved",
)
NOON = 1_750_075_200.0  # 2025-06-16 12:00 UTC: the daily current is near its peak
MIDNIGHT = NOON + 43_200.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOON) -> None:
        """Start at ``now``."""
        self.now = now

    def __call__(self) -> float:
        """Return the time."""
        return self.now


def sample(command: Command) -> list[str]:
    """Return command texts that exercise ``command`` (with a valid parameter if it takes one)."""
    param = command.param
    if param is None:
        return [command.name]
    if isinstance(param, Decimals):
        return [command.name + param.example]
    if isinstance(param, RegisterValue):
        return [command.name + str(param.minimum), command.name + str(param.maximum)]
    if isinstance(param, Choice):
        return [command.name + code for code in param.options]
    if isinstance(param, Count):
        # Counts the simulated pack has: 16 cells, 2 temperature sensors.
        count = "2" if command.name == "cellTemperatures" else "16"
        return [command.name, command.name + count]
    if isinstance(param, SocParam):
        return [command.name + "55.5", command.name + "0@20250616120000"]
    raise AssertionError(f"no sample for {command.name}")  # pragma: no cover


def ask(simulator: Simulator, command: str) -> dict[str, object]:
    """Send ``command`` as bytes, cut the answer where the protocol says, decode it."""
    protocol = simulator.protocol
    request = protocol.build_request(command)
    answer = simulator.handle(request) if request else simulator.unsolicited()
    assert answer is not None, command
    end = protocol.answer_length(command, answer)
    assert end is not None, (command, answer[:40])
    return dict(protocol.decode(command, answer[:end]).values_by_key)


def test_every_battery_monitor_is_registered() -> None:
    """``create_simulator`` knows every JK, Daly and VE.Direct protocol id."""
    assert set(BMS_IDS) <= set(list_simulators())
    for protocol_id in BMS_IDS:
        simulator = create_simulator(protocol_id, clock=Clock(), seed=1)
        assert simulator.protocol.id == protocol_id
        assert repr(simulator) == f"<{type(simulator).__name__} {protocol_id}>"


CASES = [
    (protocol_id, text)
    for protocol_id in BMS_IDS
    for command in get_protocol(protocol_id).list_commands()
    for text in sample(command)
]


@pytest.mark.parametrize(("protocol_id", "command"), CASES)
def test_every_command_decodes(protocol_id: str, command: str) -> None:
    """The simulator answers every command, and the protocol decodes the answer."""
    simulator = create_simulator(protocol_id, clock=Clock(), seed=7)
    values = ask(simulator, command)
    assert values
    definition, _ = simulator.protocol.resolve(command)
    if definition.kind is Kind.SETTER:
        assert set(values.values()) & {"Successful", "ACK", "OK"}


@pytest.mark.parametrize("protocol_id", BMS_IDS)
def test_requests_arrive_split_from_a_byte_stream(protocol_id: str) -> None:
    """Requests written back to back, with noise between, are split as the device reads them."""
    simulator = create_simulator(protocol_id, seed=1)
    protocol = simulator.protocol
    requests = [
        protocol.build_request(text)
        for command in protocol.list_commands()
        for text in sample(command)[:1]
        if protocol.build_request(text)
    ]
    stream = b"\x00\x00".join(requests)
    for cut in (len(stream) // 3, len(stream) - 3):
        first, rest = simulator.split_requests(stream[:cut])
        second, left = simulator.split_requests(rest + stream[cut:])
        got = [r.rstrip(b"\n") for r in first + second]
        assert got == [r.rstrip(b"\n") for r in requests]
        assert left in (b"", b"\n")


@pytest.mark.parametrize("protocol_id", BMS_IDS)
def test_garbage_gets_silence(protocol_id: str) -> None:
    """Bytes that are no valid request get no answer, as from the device."""
    simulator = create_simulator(protocol_id, seed=1)
    for garbage in (b"", b"\x00" * 20, b"hello\r", bytes(range(40))):
        assert simulator.handle(garbage) is None


# -- the pack -----------------------------------------------------------------------------------


def test_current_integrates_into_the_state_of_charge() -> None:
    """Remaining capacity moves by current × time, up while charging by day."""
    clock = Clock()
    simulator = JkBleSimulator("jk02", clock=clock, seed=2)
    before = ask(simulator, "getCellData")
    assert isinstance(before["battery_current"], float)
    assert before["battery_current"] > 0
    clock.now += 600
    after = ask(simulator, "getCellData")
    moved = after["capacity_remain"] - before["capacity_remain"]  # type: ignore[operator]
    assert moved == pytest.approx(after["battery_current"] * 600 / 3600, rel=0.01)
    clock.now = MIDNIGHT
    night = ask(simulator, "getCellData")
    assert night["battery_current"] < 0  # type: ignore[operator]
    assert night["capacity_remain"] < after["capacity_remain"] + 600  # type: ignore[operator]


def test_cells_balance_toward_each_other() -> None:
    """With the balancer on, the spread shrinks over hours; with it off, it does not."""
    results = {}
    for balancing in (True, False):
        clock = Clock()
        simulator = JkBleSimulator("jk02", clock=clock, seed=5)
        simulator.pack.offsets = [0.03 if i == 3 else 0.0 for i in range(16)]
        simulator.pack.balancer_enabled = balancing
        start = ask(simulator, "getCellData")
        assert start["balancing"] is balancing
        for _ in range(12):
            clock.now += 900
            ask(simulator, "getCellData")
        results[balancing] = (start["delta_cell_voltage"], ask(simulator, "getCellData"))
    before, balanced = results[True]
    assert balanced["delta_cell_voltage"] < before / 2  # type: ignore[operator]
    before, drifted = results[False]
    assert drifted["delta_cell_voltage"] > before * 0.7  # type: ignore[operator]
    assert drifted["balance_current"] == 0.0


def test_temperatures_follow_the_day() -> None:
    """Probe temperatures are plausible and differ between noon and midnight."""
    clock = Clock()
    simulator = DalySimulator("daly", clock=clock, seed=4)
    noon = ask(simulator, "cellMinMaxTemps")
    clock.now = MIDNIGHT
    night = ask(simulator, "cellMinMaxTemps")
    for values in (noon, night):
        assert 10 <= values["minimum_cell_temperature"] <= values["maximum_cell_temperature"] <= 40  # type: ignore[operator]
    assert noon != night


def test_pack_model_edges() -> None:
    """OCV curve bounds, a full pack refuses charge, an empty one discharge, clock jumps."""
    assert ocv(-5) == ocv(0) == 2.80
    assert ocv(150) == ocv(100) == 3.45
    assert ocv(0) < ocv(50) < ocv(100)
    clock = Clock()
    pack = Pack(clock, random.Random(1), soc=100.0)
    pack.refresh_current()
    assert pack.current <= 0
    pack.soc = 0.0
    clock.now = MIDNIGHT
    pack.advance()
    assert pack.current >= 0
    clock.now -= 10  # a clock that goes back changes nothing
    soc = pack.soc
    pack.advance()
    assert pack.soc == soc
    clock.now += 10 * 365 * 86400  # a jump of years is one bounded step
    pack.advance()
    assert 0.0 <= pack.soc <= 100.0


# -- JK Bluetooth -------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol_id", ["jk02", "jk02_32", "jkv11"])
def test_jk_switches_change_the_settings_and_the_current(protocol_id: str) -> None:
    """Switching charging off opens the charge MOSFET: the settings say so, no current flows in."""
    simulator = create_simulator(protocol_id, clock=Clock(), seed=3)
    assert ask(simulator, "getSettings")["charge_switch"] == "enabled"
    assert ask(simulator, "getCellData")["battery_current"] > 0  # type: ignore[operator]
    ask(simulator, "setChargingOff")
    assert ask(simulator, "getSettings")["charge_switch"] == "disabled"
    cells = ask(simulator, "getCellData")
    assert cells["battery_current"] <= 0  # type: ignore[operator]
    assert cells["charging"] is False
    ask(simulator, "setDischargingOff")
    assert ask(simulator, "getSettings")["discharge_switch"] == "disabled"
    assert ask(simulator, "getCellData")["battery_current"] == 0.0
    ask(simulator, "setChargingOn")
    ask(simulator, "setDischargingOn")
    settings = ask(simulator, "getSettings")
    assert (settings["charge_switch"], settings["discharge_switch"]) == ("enabled", "enabled")


@pytest.mark.parametrize("protocol_id", ["jk02", "jk02_32"])
def test_jk_voltage_setters(protocol_id: str) -> None:
    """Cell OVP and balance start are stored; an OVP at or below its recovery is refused."""
    simulator = create_simulator(protocol_id, clock=Clock(), seed=3)
    ask(simulator, "setCellOVP3.600")
    ask(simulator, "setBalanceStart3.350")
    settings = ask(simulator, "getSettings")
    assert (settings["cell_ovp"], settings["start_balance_voltage"]) == (3.6, 3.35)
    with pytest.raises(NAKError):
        ask(simulator, "setCellOVP3.50")
    assert ask(simulator, "getSettings")["cell_ovp"] == 3.6


def test_jk_refusals_and_silence() -> None:
    """Out-of-range values are refused with status 0; unknown registers and JK04 stay silent."""
    simulator = JkBleSimulator("jk02", clock=Clock(), seed=3)
    protocol = simulator.protocol
    for code, value in ((0x1D, 2), (0x04, 5000), (0x26, 900)):
        answer = simulator.handle(jk_request(code, value, 4))
        assert answer is not None
        with pytest.raises(NAKError):
            protocol.decode("setChargingOn", answer)
    assert simulator.handle(jk_request(0x55, 1, 4)) is None
    jk04 = JkBleSimulator("jk04", clock=Clock(), seed=3)
    assert jk04.handle(jk_request(0x1D, 1, 4)) is None
    broken = bytearray(jk_request(0x97))
    broken[19] ^= 1
    assert simulator.handle(bytes(broken)) is None


@pytest.mark.parametrize(("protocol_id", "layout"), [("jk02", "jk02"), ("jk02_32", "jk02_32")])
def test_jk_stream_after_cell_info(protocol_id: str, layout: str) -> None:
    """After 0x96 the BMS streams cell records, the layout of which the assembler recognises."""
    simulator = JkBleSimulator(protocol_id, clock=Clock(), seed=3)
    assert simulator.unsolicited() == b""
    ask(simulator, "getCellData")
    streamed = simulator.unsolicited()
    values = simulator.protocol.decode("getCellData", streamed)
    assert values["record_counter"] == 3  # after the settings and cell records of 0x96
    assembler = JkRecordAssembler()
    assembler.feed(streamed)
    assert assembler.protocol_id == layout


def test_jk04_records_are_floats() -> None:
    """JK04 cell data: float voltages whose own average matches the cells."""
    values = ask(JkBleSimulator("jk04", clock=Clock(), seed=3), "getCellData")
    cells = [values[f"voltage_cell{i:02d}"] for i in range(1, 17)]
    assert values["average_cell_voltage"] == pytest.approx(sum(cells) / 16, abs=0.001)  # type: ignore[arg-type]
    assert values["highest_cell_voltage"] == max(cells)  # type: ignore[type-var]


# -- JK wired -----------------------------------------------------------------------------------


def test_jk232_refuses_writes_and_unknown_registers() -> None:
    """Status 80 for a write or a register it does not have; silence for a bad check."""
    simulator = create_simulator("jk232", seed=1)
    protocol = simulator.protocol

    def frame(mode: int, register: int) -> bytes:
        body = bytes((register, 0))
        return bytes((0xDD, mode)) + body + jbd_checksum(body).to_bytes(2, "big") + b"\x77"

    for request in (frame(0x5A, 0x03), frame(0xA5, 0x07)):
        answer = simulator.handle(request)
        assert answer is not None
        assert answer[2] == 0x80
    with pytest.raises(NAKError):
        protocol.decode("getBalancerData", simulator.handle(frame(0x5A, 0x03)) or b"")
    assert simulator.handle(frame(0xA5, 0x03)[:-3] + b"\x00\x00\x77") is None
    assert simulator.handle(frame(0xA5, 0x03) + b"\x00") is None


def test_jk485_answers_only_its_address() -> None:
    """Another address or function on the bus gets silence."""
    simulator = create_simulator("jk485", seed=1)
    for address, function in ((0x02, 0xFF), (0x01, 0x01)):
        body = bytes((0x55, 0xAA, address, function, 0, 0))
        assert simulator.handle(body + bytes((sum(body) & 0xFF,))) is None


def test_jkserial_reads_only() -> None:
    """Other commands, a bad checksum or a wrong length get silence."""
    simulator = create_simulator("jkserial", seed=1)
    request = simulator.protocol.build_request("getBalancerData")
    assert simulator.handle(request) is not None
    write = bytearray(request)
    write[8] = 0x02
    write[-2:] = sum16(bytes(write[:-4])).to_bytes(2, "big")
    assert simulator.handle(bytes(write)) is None
    assert simulator.handle(request[:-1] + b"\x00") is None
    assert simulator.handle(request + b"\x00") is None


def test_jkpb_modbus_exceptions() -> None:
    """An unknown register or function is a Modbus exception; another address is silent."""
    simulator = create_simulator("jkpb", seed=1)

    def modbus(pdu: bytes) -> bytes:
        return pdu + crc16_modbus(pdu).to_bytes(2, "little")

    assert simulator.handle(modbus(bytes.fromhex("011016300001020000"))) == modbus(
        bytes.fromhex("019002")
    )
    assert simulator.handle(modbus(bytes.fromhex("010616200001020000"))) == modbus(
        bytes.fromhex("018601")
    )
    assert simulator.handle(modbus(bytes.fromhex("021016200001020000"))) is None
    assert simulator.handle(modbus(bytes.fromhex("011016200001020000"))[:-1] + b"\x00") is None
    values = ask(simulator, "getCellData")
    assert values["record_type"] == "Cell data"
    assert values["battery_power"] * values["battery_current"] >= 0  # type: ignore[operator]


# -- Daly ---------------------------------------------------------------------------------------


def daly_request(simulator: DalySimulator, data_id: int, data: bytes) -> bytes:
    """Build a request with any data (also values the protocol would refuse to send)."""
    body = bytes((0xA5, simulator.host, data_id, 8)) + data.ljust(8, b"\x00")
    return body + bytes((sum(body) & 0xFF,))


@pytest.mark.parametrize("protocol_id", ["daly", "daly40"])
def test_daly_mos_switches_and_soc(protocol_id: str) -> None:
    """Setters change what mosStatus and SOC report."""
    simulator = create_simulator(protocol_id, clock=Clock(), seed=2)
    assert ask(simulator, "mosStatus")["charging_mos"] is True
    ask(simulator, "setChargeMos0")
    mos = ask(simulator, "mosStatus")
    assert (mos["charging_mos"], mos["discharging_mos"]) == (False, True)
    assert ask(simulator, "SOC")["current"] <= 0  # type: ignore[operator]
    ask(simulator, "setDischargeMos0")
    assert ask(simulator, "mosStatus")["discharging_mos"] is False
    ask(simulator, "setSOC88.5")
    assert ask(simulator, "SOC")["soc"] == 88.5
    ask(simulator, "setSOC20.0@20250616080000")
    assert isinstance(simulator, DalySimulator)
    assert simulator.clock_set == bytes((25, 6, 16, 8, 0, 0))


def test_daly_refusals() -> None:
    """More than 100 % or a switch value other than 0/1 is refused; unknown ids are silent."""
    simulator = DalySimulator("daly", clock=Clock(), seed=2)
    protocol = simulator.protocol
    too_full = bytes(6) + (1001).to_bytes(2, "big")
    with pytest.raises(NAKError):
        protocol.decode(
            "setSOC50", simulator.handle(daly_request(simulator, 0x21, too_full)) or b""
        )
    # A switch value other than 0/1 leaves the MOS as it was: the echo says "on".
    echo = simulator.handle(daly_request(simulator, 0xDA, b"\x02")) or b""
    assert protocol.decode("setChargeMos1", echo)["setchargemos"] == "ACK"
    with pytest.raises(NAKError):
        protocol.decode("setChargeMos0", echo)
    assert ask(simulator, "mosStatus")["charging_mos"] is True
    assert simulator.handle(daly_request(simulator, 0x55, b"")) is None
    other = DalySimulator("daly40", clock=Clock(), seed=2)
    assert other.handle(daly_request(simulator, 0x90, b"")) is None  # addressed to 0x80


def test_daly_balancing_and_failure_flags() -> None:
    """Balancing cells show in cellBalanceState; a wide spread raises the difference alarm."""
    simulator = DalySimulator("daly", clock=Clock(), seed=2)
    simulator.pack.offsets = [0.0] * 15 + [0.038]
    balance = ask(simulator, "cellBalanceState16")
    assert balance["cell_16_balancing"] is True
    assert balance["cell_balancing_active"] is True
    simulator.pack.offsets = [-0.04] * 8 + [0.04] * 8
    simulator.pack.balancer_enabled = False
    failures = ask(simulator, "failureCodes")
    assert failures["cell_voltage_difference_level_1"] is False  # 80 mV: below the alarm
    simulator.pack.resistances = [0.0] * 8 + [4.0] * 8
    assert ask(simulator, "failureCodes")["cell_voltage_difference_level_1"] is True
    assert ask(simulator, "cellBalanceState16")["cell_balancing_active"] is False


def test_daly_cells_and_temperatures() -> None:
    """Plain and counted cell voltages agree; the counts come from ``status``."""
    simulator = DalySimulator("daly", clock=Clock(), seed=2, cells=8, sensors=3)
    status = ask(simulator, "status")
    assert (status["number_of_cells"], status["number_of_temperature_sensors"]) == (8, 3)
    plain = ask(simulator, "cellVoltages")
    counted = ask(simulator, "cellVoltages8")
    assert plain["cell_count"] == counted["cell_count"] == 8
    assert plain["cell_08_voltage"] == counted["cell_08_voltage"]
    assert ask(simulator, "cellTemperatures3")["temperature_sensor_count"] == 3


# -- VE.Direct ----------------------------------------------------------------------------------


def test_ved_text_blocks_alternate_and_carry_async_frames() -> None:
    """Main and history blocks in turn; every sixth block an asynchronous HEX frame inside."""
    clock = Clock(MIDNIGHT)
    simulator = VeDirectSimulator(clock=clock, seed=1)
    protocol = simulator.protocol
    blocks = [simulator.unsolicited() for _ in range(8)]
    main = protocol.decode("vedtext", blocks[0])
    assert main["product_name"] == "SmartShunt 500A/50mV"
    assert main["time_to_go"] > 0  # type: ignore[operator]
    assert "number_of_charge_cycles" in protocol.decode("vedtext", blocks[1])
    assert [b":A" in chunk for chunk in blocks] == [True] + [False] * 5 + [True, False]
    clock.now = NOON
    assert protocol.decode("vedtext", simulator.unsolicited())["time_to_go"] == -1


def test_ved_hex_settings_change_state() -> None:
    """A set is stored, answered with the value; the capacity moves the pack's."""
    simulator = VeDirectSimulator(clock=Clock(), seed=1)
    ask(simulator, "setBatteryCapacity200")
    assert ask(simulator, "batteryCapacity")["battery_capacity"] == 200
    assert simulator.pack.capacity == 200.0
    ask(simulator, "setPeukertCoefficient1.25")
    assert ask(simulator, "peukertCoefficient")["peukert_coefficient"] == 1.25


def hex_answer(simulator: Simulator, nibble: int, data: bytes) -> tuple[int, bytes]:
    """Send one HEX frame, return the answer's nibble and data."""
    answer = simulator.handle(hex_frame(nibble, data))
    assert answer is not None
    return parse_hex_frame(answer)


def test_ved_hex_refusals() -> None:
    """Parameter error, not supported, unknown id, frame error, unknown command, ping."""
    simulator = VeDirectSimulator(clock=Clock(), seed=1)
    protocol = simulator.protocol
    capacity = (0x1000).to_bytes(2, "little")
    nibble, data = hex_answer(simulator, 0x8, capacity + b"\x00" + (20000).to_bytes(2, "little"))
    assert (nibble, data[2]) == (0x8, 0x04)
    nibble, data = hex_answer(simulator, 0x8, capacity + b"\x00\x01")
    assert data[2] == 0x04  # a value of the wrong size
    assert (
        hex_answer(simulator, 0x8, (0x0FFF).to_bytes(2, "little") + b"\x00\x00\x00")[1][2] == 0x02
    )
    assert (
        hex_answer(simulator, 0x8, (0x2222).to_bytes(2, "little") + b"\x00\x00\x00")[1][2] == 0x01
    )
    assert hex_answer(simulator, 0x7, (0x2222).to_bytes(2, "little") + b"\x00")[1][2] == 0x01
    assert hex_answer(simulator, 0x1, b"")[0] == 0x5
    assert hex_answer(simulator, 0x6, b"")[0] == 0x3
    assert simulator.handle(b":7001000C8002F\n") == hex_frame(0x4, b"\xaa\xaa")
    with pytest.raises(NAKError, match="Parameter Error"):
        protocol.decode(
            "setBatteryCapacity200",
            simulator.handle(hex_frame(0x8, capacity + b"\x00" + (0).to_bytes(2, "little"))) or b"",
        )
    with pytest.raises(FrameError):
        protocol.decode("batteryCapacity", simulator.handle(b":7001000C8002F\n") or b"")


def test_ved_time_to_go_register() -> None:
    """Not available while charging (0xFFFF gives no field), minutes while discharging."""
    clock = Clock()
    simulator = VeDirectSimulator(clock=clock, seed=1)
    assert "time_to_go" not in ask(simulator, "timeToGo")
    clock.now = MIDNIGHT
    assert ask(simulator, "timeToGo")["time_to_go"] > 60  # type: ignore[operator]


# -- the record writer --------------------------------------------------------------------------


def test_record_writer_refuses_what_it_cannot_write() -> None:
    """Computed fields take raw bytes; series need a series; numbers need numbers."""
    layout = get_protocol("jk02").commands["getCellData"].fields
    writer = RecordWriter(300, layout)
    with pytest.raises(TypeError):
        writer.put("Cell Count", 16)
    with pytest.raises(TypeError):
        writer.series("Battery Voltage", [1.0])
    with pytest.raises(TypeError):
        writer.put("Battery Voltage", "high")
    with pytest.raises(ValueError, match="no 'missing' value"):
        writer.put("Battery Voltage", None)
    with pytest.raises(TypeError):
        writer.put("Alarms", "none")
    writer.put("Alarms", {"Cell Overvoltage": True, "Charge Overcurrent": False})
    assert writer.bytes()[136:138] == b"\x10\x00"  # big-endian word, bit 12
    text_only = RecordWriter(10, get_protocol("ved").commands["batteryCapacity"].fields)
    assert set(text_only.specs) == set()  # a text spec has no offset to write at


def test_wired_requests_with_a_wrong_length() -> None:
    """A JBD frame whose length byte disagrees, an "NW" length too short: no request."""
    jk232 = create_simulator("jk232", seed=1)
    request = jk232.protocol.build_request("getBalancerData")
    assert jk232.handle(request[:3] + b"\x01" + request[4:]) is None
    jkserial = create_simulator("jkserial", seed=1)
    assert jkserial.split_requests(b"xxN") == ([], b"N")
    assert jkserial.split_requests(b"xNW\x00") == ([], b"NW\x00")
    valid = jkserial.protocol.build_request("getBalancerData")
    assert jkserial.split_requests(b"NW\x00\x01" + valid) == ([valid], b"")


def test_split_fixed_keeps_a_partial_start() -> None:
    """A tail that may begin a frame is kept for the next read; anything else is dropped."""
    assert split_fixed(b"\x00\x00\xaa\x55", b"\xaa\x55\x90\xeb", 20) == ([], b"\xaa\x55")
    assert split_fixed(b"\x00\x01", b"\xaa\x55\x90\xeb", 20) == ([], b"")
