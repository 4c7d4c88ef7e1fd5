"""JK BMS simulators: Bluetooth (jk02, jk02_32, jkv11, jk04) and wired (jk232, jk485, jkserial, jkpb).

Every answer is written with the protocol's own record layouts (:mod:`.records`) from the
:class:`~mppsolar_lib.simulator.battery.Pack` state, with the framing and checksum the device
uses. Requests whose framing or checksum is wrong get silence, as from the device.

Bluetooth: ``0x97`` answers the device-info record, ``0x96`` the settings record then cell data
(and the device keeps streaming cell data: :meth:`JkBleSimulator.unsolicited`); firmware 11 and
later (jk02_32, jkv11) append the 20-byte "ready" frame to its records. Setters change the
settings and the pack (charge/discharge switches cut the current) and are acknowledged with the
``c8`` frame, status 1 — or status 0 for a value the BMS refuses (out of range, a cell OVP at or
below its recovery voltage). JK04 boards take no settings: setter codes get silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import time
from typing import Final, cast

from mppsolar_lib.crc import crc16_modbus, jbd_checksum, sum8, sum16
from mppsolar_lib.protocols import jk02, jk232, jk485, jkpb, jkserial
from mppsolar_lib.protocols.binary import BinSpec
from mppsolar_lib.protocols.jkble import (
    ACK_CODE,
    CELL_INFO,
    CELL_RECORD,
    DEVICE_INFO,
    DEVICE_INFO_FIELDS,
    INFO_RECORD,
    RECORD_LENGTH,
    RECORD_START,
    REQUEST_LENGTH,
    REQUEST_START,
    SETTINGS_RECORD,
    request,
)
from mppsolar_lib.simulator.battery import BatterySimulator
from mppsolar_lib.simulator.records import RecordWriter

#: Setter codes of the Bluetooth protocol (jkble.py's command table).
CELL_OVP: Final = 0x04
CHARGE_SWITCH: Final = 0x1D
DISCHARGE_SWITCH: Final = 0x1E
BALANCER_SWITCH: Final = 0x1F

#: Cell voltages a setter may write (mV), per the JK firmware's limits.
CELL_MV_RANGE: Final = (1200, 4350)
BALANCE_START_MV_RANGE: Final = (1200, 4250)


@dataclass
class JkSettings:
    """Protection settings a JK BMS stores (volts, amps, seconds, °C)."""

    cell_uvp: float = 2.60
    cell_uvpr: float = 2.80
    cell_ovp: float = 3.65
    cell_ovpr: float = 3.55
    power_off: float = 2.50
    max_charge_current: float = 100.0
    max_discharge_current: float = 150.0
    start_balance: float = 3.30
    charge_otp: float = 70.0
    discharge_otp: float = 70.0
    charge_utp: float = 0.0
    mos_otp: float = 100.0


def record_frame(writer: RecordWriter, record_type: int, counter: int) -> bytes:
    """Finish a 300-byte JK record: header, type, counter and the byte sum at 299."""
    writer.at(0, RECORD_START + bytes((record_type, counter & 0xFF)))
    writer.data[RECORD_LENGTH - 1] = sum8(bytes(writer.data[: RECORD_LENGTH - 1]))
    return writer.bytes()


def info_writer(model: str, hardware: str, software: str, uptime: int) -> RecordWriter:
    """Return a device-info record (type 3) with its texts filled in (counter and sum unset)."""
    writer = RecordWriter(RECORD_LENGTH, DEVICE_INFO_FIELDS)
    for name, value in (
        ("Device Model", model),
        ("Hardware Version", hardware),
        ("Software Version", software),
        ("Device Name", "JK-Sim"),
        ("Device Passcode", "1234"),
        ("Manufacturing Date", "240510"),
        ("Serial Number", "31213480085"),
        ("Passcode", "0000"),
        ("User Data", "simulated"),
        ("Setup Passcode", "1234"),
    ):
        writer.put(name, value)
    writer.put("Power-on Times", 12)
    writer.raw("Up Time", uptime.to_bytes(4, "little"))
    return writer


class JkBleSimulator(BatterySimulator):
    """A JK BMS over Bluetooth (jk02, jk02_32, jkv11 or jk04)."""

    #: Cell-data records while streaming (after a ``0x96`` request): one a second here.
    stream_interval: float | None = 1.0

    def __init__(
        self,
        protocol_id: str = "jk02",
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        cells: int = 16,
        capacity: float = 280.0,
        soc: float = 62.0,
    ) -> None:
        """Speak ``protocol_id`` about a pack of ``cells`` cells."""
        super().__init__(
            protocol_id, clock=clock, seed=seed, cells=cells, capacity=capacity, soc=soc
        )
        self.settings = JkSettings()
        self.positions: int = getattr(self.protocol, "cells", 24)
        self.floats = self.protocol.id == "jk04"
        #: Firmware 11 and later: 32-cell records followed by the "ready" frame.
        self.newer = self.positions == 32
        self.streaming = False
        self.counter = 0
        #: Layouts the records are written with: the protocol's own tables.
        self.cell_layout = self._fields("getCellData")
        self.settings_layout = self._fields("getSettings")
        balance = self.protocol.commands.get("setBalanceStart")
        self.balance_start_code = (
            cast("int", balance.options["code"]) if balance is not None else None
        )

    # -- requests -------------------------------------------------------------------------------

    def handle(self, request: bytes) -> bytes | None:
        """Answer a 20-byte request; anything else is ignored."""
        if (
            len(request) != REQUEST_LENGTH
            or not request.startswith(REQUEST_START)
            or sum8(request[:19]) != request[19]
        ):
            return None
        self.pack.advance()
        code = request[4]
        value = int.from_bytes(request[6:10], "little", signed=True)
        if code == DEVICE_INFO:
            return self._with_ready(self.info_record())
        if code == CELL_INFO:
            self.streaming = True
            return self._with_ready(self.settings_record()) + self._with_ready(self.cell_record())
        if self.floats:
            return None  # JK04 boards take no settings over Bluetooth
        return self._set(code, value)

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split a byte stream into 20-byte ``aa 55 90 eb`` requests (bytes between are noise)."""
        return split_fixed(buffer, REQUEST_START, REQUEST_LENGTH)

    def unsolicited(self) -> bytes:
        """Return the next cell-data record while streaming (after a ``0x96`` request)."""
        if not self.streaming:
            return b""
        self.pack.advance()
        return self._with_ready(self.cell_record())

    def _with_ready(self, record: bytes) -> bytes:
        return record + self.ready_frame() if self.newer else record

    @staticmethod
    def ready_frame(status: int = 1) -> bytes:
        """Return the 20-byte ``c8`` frame: "ready" after a record, a setter's ACK (status 1)."""
        return request(ACK_CODE, status, 1)

    def _set(self, code: int, value: int) -> bytes | None:
        """Apply a setter; acknowledge with status 1, refuse with status 0."""
        settings, pack = self.settings, self.pack
        if code in (CHARGE_SWITCH, DISCHARGE_SWITCH, BALANCER_SWITCH):
            if value not in (0, 1):
                return self.ready_frame(0)
            if code == BALANCER_SWITCH:
                pack.balancer_enabled = bool(value)  # the balancer stops pulling cells together
                return self.ready_frame()
            if code == CHARGE_SWITCH:
                pack.charge_enabled = bool(value)
            else:
                pack.discharge_enabled = bool(value)
            pack.refresh_current()
            return self.ready_frame()
        if code == CELL_OVP:
            low, high = CELL_MV_RANGE
            if not low <= value <= high or value / 1000 <= settings.cell_ovpr:
                return self.ready_frame(0)
            settings.cell_ovp = value / 1000
            return self.ready_frame()
        if code == self.balance_start_code:
            low, high = BALANCE_START_MV_RANGE
            if not low <= value <= high:
                return self.ready_frame(0)
            settings.start_balance = value / 1000
            pack.balance_start = value / 1000
            return self.ready_frame()
        return None  # a register this firmware does not have

    # -- records --------------------------------------------------------------------------------

    def _next_counter(self) -> int:
        self.counter = (self.counter + 1) & 0xFF
        return self.counter

    def _fields(self, command: str) -> tuple[BinSpec, ...]:
        found = self.protocol.commands.get(command)
        return () if found is None else cast("tuple[BinSpec, ...]", found.fields)

    def info_record(self) -> bytes:
        """Return the device-info record (type 3)."""
        if self.floats:
            model, hardware, software = "JK-B2A16S", "3.0", "3.3.0"
        elif self.newer:
            model, hardware, software = "JK_B2A24S15P", "11.XW", "11.26"
        else:
            model, hardware, software = "JK_B2A24S15P", "10.XW", "10.09"
        writer = info_writer(model, hardware, software, self.pack.uptime)
        return record_frame(writer, INFO_RECORD, self._next_counter())

    def settings_record(self) -> bytes:
        """Return the settings record (type 1)."""
        writer = RecordWriter(RECORD_LENGTH, self.settings_layout)
        pack, settings = self.pack, self.settings
        if self.floats:
            writer.put("Cell Count", pack.cell_count)
            writer.put("Power Off Voltage", settings.power_off)
            writer.put("Start Balance Voltage", settings.start_balance)
            writer.put("Balance Trigger Voltage", pack.balance_trigger)
            writer.put("Max Balance Current", pack.max_balance_current)
            writer.put("Balancer Switch", _enabled(pack.balancer_enabled))
            return record_frame(writer, SETTINGS_RECORD, self._next_counter())
        for name, value in (
            ("Cell UVP", settings.cell_uvp),
            ("Cell UVPR", settings.cell_uvpr),
            ("Cell OVP", settings.cell_ovp),
            ("Cell OVPR", settings.cell_ovpr),
            ("Balance Trigger Voltage", pack.balance_trigger),
            ("Power Off Voltage", settings.power_off),
            ("Max Charge Current", settings.max_charge_current),
            ("Charge OCP Delay", 30),
            ("Charge OCP Recovery Time", 60),
            ("Max Discharge Current", settings.max_discharge_current),
            ("Discharge OCP Delay", 300),
            ("Discharge OCP Recovery Time", 60),
            ("SCP Recovery Time", 5),
            ("Max Balance Current", pack.max_balance_current),
            ("Charge OTP", settings.charge_otp),
            ("Charge OTP Recovery", settings.charge_otp - 5),
            ("Discharge OTP", settings.discharge_otp),
            ("Discharge OTP Recovery", settings.discharge_otp - 5),
            ("Charge UTP", settings.charge_utp),
            ("Charge UTP Recovery", settings.charge_utp + 5),
            ("MOS OTP", settings.mos_otp),
            ("MOS OTP Recovery", settings.mos_otp - 20),
            ("Cell Count", pack.cell_count),
            ("Charge Switch", _enabled(pack.charge_enabled)),
            ("Discharge Switch", _enabled(pack.discharge_enabled)),
            ("Balancer Switch", _enabled(pack.balancer_enabled)),
            ("Nominal Battery Capacity", pack.capacity),
            ("Start Balance Voltage", settings.start_balance),
        ):
            writer.put(name, value)
        writer.series("Wire Resistance {:02d}", [0.002] * pack.cell_count)
        if self.newer:
            for name, value in (
                ("Smart Sleep Voltage", 3.0),
                ("SOC 100% Voltage", 3.45),
                ("SOC 0% Voltage", 2.9),
                ("Cell Request Charge Voltage", 3.50),
                ("Cell Request Float Voltage", 3.37),
                ("SCP Delay", 1500),
                ("Device Address", 1),
                ("Precharge Time", 5),
                ("Smart Sleep Time", 24),
            ):
                writer.put(name, value)
            writer.put("Controls", {"Display Always On": True, "Smart Sleep": True})
        return record_frame(writer, SETTINGS_RECORD, self._next_counter())

    def cell_record(self) -> bytes:
        """Return a cell-data record (type 2) for the pack as it is now."""
        if self.floats:
            return self._jk04_cells()
        pack = self.pack
        writer = RecordWriter(RECORD_LENGTH, self.cell_layout)
        volts = pack.voltages
        block = (self.positions - 24) * 2
        writer.series("Voltage_Cell{:02d}", volts)
        writer.raw("Cell Count", ((1 << len(volts)) - 1).to_bytes(4, "little"))
        writer.put("Average Cell Voltage", round(sum(volts) / len(volts), 3))
        writer.put("Delta Cell Voltage", pack.spread)
        # The BMS's own highest and lowest cell numbers (0-based), before the resistances.
        writer.at(62 + block, bytes((volts.index(max(volts)), volts.index(min(volts)))))
        writer.series("Resistance_Cell{:02d}", pack.resistances)
        current = pack.current
        temps = pack.temperatures
        action = 0 if not pack.balancing else 1 if current >= 0 else 2
        for name, value in (
            ("Battery Voltage", pack.voltage),
            ("Battery Power", abs(pack.power)),
            ("Battery Current", current),
            ("Battery T1", temps[0]),
            ("Battery T2", temps[1] if len(temps) > 1 else None),
            ("MOS Temp", pack.mos_temperature),
            ("Balance Current", pack.balance_current),
            ("Balancing Action", jk02.BALANCING_ACTIONS[action]),
            ("Percent Remain", round(pack.soc)),
            ("Capacity Remain", pack.remaining),
            ("Nominal Capacity", pack.capacity),
            ("Cycle Count", pack.cycles),
            ("Cycle Capacity", round(pack.discharged_ah, 3)),
            ("State of Health", 100),
            ("Total Runtime", pack.uptime),
            ("Charging", pack.charge_enabled),
            ("Discharging", pack.discharge_enabled),
        ):
            writer.put(name, value)
        if self.newer:
            for name in ("Battery T3", "Battery T4", "Battery T5"):
                writer.put(name, None)
            writer.put("Charge Status", "Float" if pack.soc > 99 else "Bulk")
        return record_frame(writer, CELL_RECORD, self._next_counter())

    def _jk04_cells(self) -> bytes:
        pack = self.pack
        writer = RecordWriter(RECORD_LENGTH, self.cell_layout)
        volts = pack.voltages
        writer.series("Voltage Cell{:02d}", volts)
        writer.series("Resistance Cell{:02d}", pack.resistances)
        writer.put("Average Cell Voltage", round(sum(volts) / len(volts), 3))
        writer.put("Delta Cell Voltage", pack.spread)
        writer.raw("Highest Cell", bytes((volts.index(max(volts)),)))
        writer.raw("Lowest Cell", bytes((volts.index(min(volts)),)))
        action = 0 if not pack.balancing else 1 if pack.current >= 0 else 2
        writer.put("Balancing Action", jk02.BALANCING_ACTIONS[action])
        writer.put("Balance Current", pack.balance_current)
        writer.put("Total Runtime", pack.uptime)
        return record_frame(writer, CELL_RECORD, self._next_counter())


def _enabled(on: bool) -> str:
    return "enabled" if on else "disabled"


class JkPbSimulator(JkBleSimulator):
    """A JK-PB inverter BMS on RS485: Modbus triggers answered by 32-cell records.

    A trigger (function 10, one register) at ``161C``/``161E``/``1620`` is answered by the
    device-info, settings or cell-data record, then the Modbus response; another register gets
    the Modbus exception "illegal data address", another function "illegal function". Frames
    for another address or with a bad CRC get silence.
    """

    #: A Modbus slave: it speaks only when asked.
    stream_interval = None

    def __init__(
        self,
        protocol_id: str = "jkpb",
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        cells: int = 16,
        capacity: float = 280.0,
        soc: float = 62.0,
        address: int = jkpb.ADDRESS,
    ) -> None:
        """Answer Modbus address ``address`` about a pack of ``cells`` cells."""
        super().__init__(
            protocol_id, clock=clock, seed=seed, cells=cells, capacity=capacity, soc=soc
        )
        self.address = address
        self.positions = 32
        self.newer = True
        # The JK-PB sends the Bluetooth 32-cell records (jkpb decodes them with these tables).
        self.cell_layout = jk02.cell_fields(32)
        self.settings_layout = jk02.settings_fields(32)

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split a byte stream into 11-byte Modbus frames, found by their CRC."""
        requests: list[bytes] = []
        pos = 0
        while len(buffer) - pos >= TRIGGER_LENGTH:
            candidate = buffer[pos : pos + TRIGGER_LENGTH]
            if crc16_modbus(candidate[:-2]) == int.from_bytes(candidate[-2:], "little"):
                requests.append(candidate)
                pos += TRIGGER_LENGTH
            else:
                pos += 1  # noise, or a frame for which this one is not the start
        return requests, buffer[pos:]

    def handle(self, request: bytes) -> bytes | None:
        """Answer a Modbus trigger with a record and the Modbus response."""
        if len(request) != TRIGGER_LENGTH or crc16_modbus(request[:-2]) != int.from_bytes(
            request[-2:], "little"
        ):
            return None
        if request[0] != self.address:
            return None  # another unit on the bus
        if request[1] != jkpb.WRITE_MULTIPLE:
            return modbus(bytes((self.address, request[1] | 0x80, ILLEGAL_FUNCTION)))
        self.pack.advance()
        register = int.from_bytes(request[2:4], "big")
        if register == 0x161C:
            record = self.info_record()
        elif register == 0x161E:
            record = self.settings_record()
        elif register == 0x1620:
            record = self.cell_record()
        else:
            return modbus(bytes((self.address, request[1] | 0x80, ILLEGAL_ADDRESS)))
        return record + modbus(request[:6])


#: A Modbus "write multiple registers" of one register: 11 bytes.
TRIGGER_LENGTH: Final = 11
#: Modbus exception codes.
ILLEGAL_FUNCTION: Final = 0x01
ILLEGAL_ADDRESS: Final = 0x02


def modbus(pdu: bytes) -> bytes:
    """Append the CRC-16/MODBUS, low byte first."""
    return pdu + crc16_modbus(pdu).to_bytes(2, "little")


class Jk232Simulator(BatterySimulator):
    """A JK/JBD BMS on RS232/UART: ``DD A5 reg 00 chk 77`` reads of registers 03, 04 and 05.

    Another register, and any write (``DD 5A …``: this protocol has no setters), is refused
    with status ``80`` as JBD firmware does; a frame with a bad check gets silence.
    """

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split a byte stream into ``DD … 77`` frames (7 bytes + their length byte)."""
        requests: list[bytes] = []
        while True:
            start = buffer.find(bytes((jk232.START,)))
            if start < 0:
                return requests, b""
            buffer = buffer[start:]
            if len(buffer) < 4 or len(buffer) < jk232.OVERHEAD + buffer[3]:
                return requests, buffer
            size = jk232.OVERHEAD + buffer[3]
            requests.append(buffer[:size])
            buffer = buffer[size:]

    def handle(self, request: bytes) -> bytes | None:
        """Answer one read request."""
        if len(request) < jk232.OVERHEAD or request[0] != jk232.START or request[-1] != jk232.END:
            return None
        if len(request) != jk232.OVERHEAD + request[3]:
            return None
        if jbd_checksum(request[2:-3]) != int.from_bytes(request[-3:-1], "big"):
            return None
        register = request[2]
        if request[1] != jk232.READ:
            return jbd(register, b"", jk232.REFUSED)
        self.pack.advance()
        if register == 0x03:
            return jbd(register, self.basic_info())
        if register == 0x04:
            return jbd(
                register, b"".join(round(v * 1000).to_bytes(2, "big") for v in self.pack.voltages)
            )
        if register == 0x05:
            return jbd(register, b"JK-B2A8S20P-sim")
        return jbd(register, b"", jk232.REFUSED)

    def basic_info(self) -> bytes:
        """Return the data of register 03 (pack values, balancing, FETs, NTCs)."""
        pack = self.pack
        temps = pack.temperatures
        size = jk232.BASIC_SIZE + 2 * len(temps)
        writer = RecordWriter(4 + size, jk232.BASIC_INFO.fields)
        balancing = sum(1 << i for i, on in enumerate(pack.balancing_cells) if on)
        for name, value in (
            ("Total Battery Voltage", round(pack.voltage, 2)),
            ("Total Current", round(pack.current, 2)),
            ("Remaining Capacity", round(pack.remaining, 2)),
            ("Nominal Capacity", pack.capacity),
            ("Cycles", pack.cycles),
            ("Balancing Cells 1-16", balancing & 0xFFFF),
            ("Balancing Cells 17-32", balancing >> 16),
            ("Protection", 0),
            ("Remaining Battery", round(pack.soc)),
            ("FET", {"Charge MOS": pack.charge_enabled, "Discharge MOS": pack.discharge_enabled}),
            ("Number of Battery Strings", pack.cell_count),
            ("Number of NTC", len(temps)),
        ):
            writer.put(name, value)
        # Made 2024-05-10 (year - 2000 in bits 15-9, month 8-5, day 4-0); software 1.0.
        writer.raw("Production Date", ((24 << 9) | (5 << 5) | 10).to_bytes(2, "big"))
        writer.raw("Keep", b"\x10")
        writer.series("NTC {}", temps)
        return writer.bytes()[4:]


def jbd(register: int, data: bytes, status: int = 0) -> bytes:
    """Frame a JBD answer: ``DD reg status len data chk 77``."""
    body = bytes((status, len(data))) + data
    return bytes((jk232.START, register)) + body + jbd_checksum(body).to_bytes(2, "big") + b"\x77"


class Jk485Simulator(BatterySimulator):
    """A JK active balancer on RS485: ``55 AA 01 FF 00 00 sum`` answered by 74 bytes."""

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split a byte stream into 7-byte ``55 AA`` requests."""
        return split_fixed(buffer, jk485.REQUEST_HEADER, 7)

    def handle(self, request: bytes) -> bytes | None:
        """Answer the status read; anything else (or another address) gets silence."""
        if len(request) != 7 or request[:2] != jk485.REQUEST_HEADER:
            return None
        if sum8(request[:6]) != request[6] or request[2] != jk485.ADDRESS:
            return None
        if request[3] != jk485.READ_ALL:
            return None
        self.pack.advance()
        pack = self.pack
        volts = pack.voltages
        writer = RecordWriter(jk485.SIZE, jk485.STATUS.fields)
        state = "Idle" if not pack.balancing else "Charging" if pack.current >= 0 else "Discharging"
        for name, value in (
            ("Header", "eb90"),
            ("Slave Address", "01"),
            ("Command Code", "ff"),
            ("Total Battery Voltage", round(pack.voltage, 2)),
            ("Average Cell Voltage", round(sum(volts) / len(volts), 3)),
            ("Number of Cells", len(volts)),
            ("Highest Cell", volts.index(max(volts))),
            ("Lowest Cell", volts.index(min(volts))),
            ("Balancing State", state),
            ("Alarms", 0),
            ("Voltage Difference", pack.spread),
            ("Balance Current", pack.balance_current),
            ("Balance Trigger Voltage", pack.balance_trigger),
            ("Max Balance Current", pack.max_balance_current),
            ("Balancer Switch", pack.balancer_enabled),
            ("Set Number of Cells", len(volts)),
            ("Temperature", pack.temperatures[0]),
        ):
            writer.put(name, value)
        writer.series("Voltage Cell{:02d}", volts)
        writer.data[-1] = sum8(bytes(writer.data[:-1]))
        return writer.bytes()


class JkSerialSimulator(BatterySimulator):
    """A JK BMS on its TTL/RS485 (GPS) port: "NW" read requests answered with every identifier.

    Reads (command 03, or 06 "read all") are answered; other commands, frames with a bad
    length or checksum get silence. The answer uses protocol version 1 (current with a
    charging bit).
    """

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split a byte stream into "NW" frames (``NW`` + the length field + 2 bytes)."""
        requests: list[bytes] = []
        while True:
            start = buffer.find(jkserial.START)
            if start < 0:
                # Keep a trailing "N": it may be the start of the next frame.
                return requests, buffer[-1:] if buffer.endswith(b"N") else b""
            buffer = buffer[start:]
            if len(buffer) < 4:
                return requests, buffer
            size = int.from_bytes(buffer[2:4], "big") + 2
            if size < jkserial.HEAD + jkserial.TAIL:
                buffer = buffer[2:]
                continue
            if len(buffer) < size:
                return requests, buffer
            requests.append(buffer[:size])
            buffer = buffer[size:]

    def handle(self, request: bytes) -> bytes | None:
        """Answer a read request with all identifiers."""
        if len(request) < jkserial.HEAD + jkserial.TAIL or request[:2] != jkserial.START:
            return None
        if int.from_bytes(request[2:4], "big") + 2 != len(request):
            return None
        if sum16(request[:-4]) != int.from_bytes(request[-2:], "big"):
            return None
        if request[8] not in (0x03, 0x06) or request[10] != jkserial.REQUEST_TYPE:
            return None
        self.pack.advance()
        return nw_frame(request[8], self.identifiers())

    def identifiers(self) -> bytes:
        """Return the data: every identifier the protocol documents, with its value."""
        pack = self.pack
        volts = pack.voltages
        cells = b"".join(
            bytes((i,)) + round(v * 1000).to_bytes(2, "big") for i, v in enumerate(volts, 1)
        )
        temps = pack.temperatures
        current = round(abs(pack.current) * 100) & 0x7FFF
        status = (
            (1 if pack.charge_enabled else 0)
            | (2 if pack.discharge_enabled else 0)
            | (4 if pack.balancing else 0)
        )
        items: list[tuple[int, bytes]] = [
            (jkserial.CELLS_TAG, bytes((len(cells),)) + cells),
            (0x80, _jk_temperature(pack.mos_temperature)),
            (0x81, _jk_temperature(temps[0])),
            (0x82, _jk_temperature(temps[-1])),
            (jkserial.VOLTAGE_TAG, _u(round(pack.voltage * 100), 2)),
            (jkserial.CURRENT_TAG, _u(current | (0x8000 if pack.current >= 0 else 0), 2)),
            (0x85, _u(round(pack.soc), 1)),
            (0x86, _u(len(temps), 1)),
            (0x87, _u(pack.cycles, 2)),
            (0x89, _u(round(pack.discharged_ah), 4)),
            (0x8A, _u(len(volts), 2)),
            (0x8B, _u(0, 2)),
            (0x8C, _u(status, 2)),
            (0x8E, _u(round(3.65 * len(volts) * 100), 2)),
            (0x8F, _u(round(2.6 * len(volts) * 100), 2)),
            (0x90, _u(3650, 2)),
            (0x91, _u(3550, 2)),
            (0x92, _u(5, 2)),
            (0x93, _u(2600, 2)),
            (0x94, _u(2800, 2)),
            (0x95, _u(5, 2)),
            (0x96, _u(300, 2)),
            (0x97, _u(150, 2)),
            (0x98, _u(300, 2)),
            (0x99, _u(100, 2)),
            (0x9A, _u(30, 2)),
            (0x9B, _u(round(pack.balance_start * 1000), 2)),
            (0x9C, _u(round(pack.balance_trigger * 1000), 2)),
            (0x9D, _u(int(pack.balancer_enabled), 1)),
            (0x9E, _u(100, 2)),
            (0x9F, _u(80, 2)),
            (0xA0, _u(70, 2)),
            (0xA1, _u(65, 2)),
            (0xA2, _u(20, 2)),
            (0xA3, _u(70, 2)),
            (0xA4, _u(70, 2)),
            (0xA5, _u(0, 2)),
            (0xA6, _u(5, 2)),
            (0xA7, (-20).to_bytes(2, "big", signed=True)),
            (0xA8, (-10).to_bytes(2, "big", signed=True)),
            (0xA9, _u(len(volts), 1)),
            (0xAA, _u(round(pack.capacity), 4)),
            (0xAB, _u(int(pack.charge_enabled), 1)),
            (0xAC, _u(int(pack.discharge_enabled), 1)),
            (0xAD, _u(1000, 2)),
            (0xAE, _u(1, 1)),
            (0xAF, _u(0, 1)),
            (0xB0, _u(10, 2)),
            (0xB1, _u(20, 1)),
            (0xB2, b"123456\x00\x00\x00\x00"),
            (0xB3, _u(0, 1)),
            (0xB4, b"JKSIM001"),
            (0xB5, b"2405"),
            (0xB6, _u(pack.uptime // 60, 4)),
            (0xB7, b"11.XW_S11.26___"),
            (0xB8, _u(0, 1)),
            (0xB9, _u(round(pack.capacity), 4)),
            (0xBA, b"JK_B2A24S15P-simulated\x00\x00"),
            (jkserial.VERSION_TAG, _u(1, 1)),
        ]
        return b"".join(bytes((tag,)) + value for tag, value in items)


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def split_fixed(buffer: bytes, start: bytes, size: int) -> tuple[list[bytes], bytes]:
    """Split a byte stream into ``size``-byte frames that begin with ``start``.

    Bytes before a start are dropped as noise; a tail that may begin a frame is kept.
    """
    requests: list[bytes] = []
    while True:
        at = buffer.find(start)
        if at < 0:
            keep = next((n for n in range(len(start) - 1, 0, -1) if buffer.endswith(start[:n])), 0)
            return requests, buffer[len(buffer) - keep :]
        buffer = buffer[at:]
        if len(buffer) < size:
            return requests, buffer
        requests.append(buffer[:size])
        buffer = buffer[size:]


def _jk_temperature(celsius: float) -> bytes:
    """JK's temperature code: 0-100 are °C, 101 and up are below zero (101 = -1 °C)."""
    value = round(celsius)
    return _u(value if value >= 0 else 100 - value, 2)


def nw_frame(command: int, data: bytes, record: int = 0) -> bytes:
    """Frame an NW answer (source BMS, transport type 01) around ``data``, checksum included."""
    size = 2 + 4 + 3 + len(data) + 4 + 1 + 4
    body = (
        jkserial.START
        + size.to_bytes(2, "big")
        + bytes(4)
        + bytes((command, 0x00, 0x01))
        + data
        + record.to_bytes(4, "big")
        + bytes((jkserial.END,))
    )
    return body + sum16(body).to_bytes(4, "big")


#: Simulator class by protocol id (registered by :mod:`mppsolar_lib.simulator`).
SIMULATORS: Final[dict[str, type[BatterySimulator]]] = {
    "jk02": JkBleSimulator,
    "jk02_32": JkBleSimulator,
    "jkv11": JkBleSimulator,
    "jk04": JkBleSimulator,
    "jkpb": JkPbSimulator,
    "jk232": Jk232Simulator,
    "jk485": Jk485Simulator,
    "jkserial": JkSerialSimulator,
}
