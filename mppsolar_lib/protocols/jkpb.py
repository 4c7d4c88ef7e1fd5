"""JKPB: JK-PB "inverter BMS" on RS485, Modbus RTU requests answered by JK records.

Request: a Modbus RTU "write multiple registers" (function ``10``) of one zero word to a trigger
register — ``01 10 16 1C 00 01 02 00 00`` + CRC-16/MODBUS, low byte first. ``161C`` asks for the
device information, ``161E`` for the settings, ``1620`` for the cell data.

Answer: a 300-byte JK record ``55 AA EB 90``, record type (``01`` settings, ``02`` cell data,
``03`` device info), frame counter, data, and at byte 299 the byte sum of bytes 0-298
(:func:`~mppsolar_lib.crc.sum8`); usually followed by the 8-byte Modbus response
(``addr 10 reg_hi reg_lo 00 01`` + CRC). Numbers in records are little-endian.

The layouts are those of the JK02 "32S" records, which the JK-PB shares with JK's Bluetooth
protocol; every offset below is from syssi/esphome-jk-bms, docs/protocol-design-ble.md (cell info,
device info and settings frame tables), cross-checked on the reference's three example answers.

An answer is decoded by the record type it carries, not by the command it answers: the
reference's examples for ``getAdditionalInfo`` and ``getCellData`` are swapped (their Modbus
responses name registers ``1620`` and ``161E``), and a record describes itself. ``record_type``
says what came back. The reference only returns the frame as hex; ``response`` keeps that, and
the decoded fields sit beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from mppsolar_lib.crc import crc16_modbus, sum8
from mppsolar_lib.errors import CRCError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import (
    BinaryProtocol,
    BinSpec,
    Bits,
    Computed,
    Label,
    Num,
    Series,
    Text,
)
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, PROBLEM, Hints, Out, Result, default_hints

HEADER: Final = b"\x55\xaa\xeb\x90"
RECORD: Final = 300
MODBUS_RESPONSE: Final = 8
ADDRESS: Final = 0x01
WRITE_MULTIPLE: Final = 0x10
RECORD_TYPES: Final = {1: "Settings", 2: "Cell data", 3: "Device info"}

#: The whole frame as hex (the reference's only field): far too long for an HA state, hidden.
RAW: Final = Hints(entity_category="diagnostic", enabled_default=False)
CYCLES: Final = Hints(None, "total_increasing", icon="mdi:battery-sync")
SWITCH: Final = Hints(icon="mdi:electric-switch")
SETTING: Final = DIAGNOSTIC
RESISTANCE: Final = Hints(None, "measurement", "diagnostic", "mdi:omega")


def _response(record: bytes, spec: Computed, out: Out) -> None:
    out[spec.key] = record.hex()


def _enabled_cells(record: bytes) -> int:
    """Highest enabled cell in the cell-data bitmask at 70 (bit 0 = cell 1)."""
    return int.from_bytes(record[70:74], "little").bit_length()


def _settings_cells(record: bytes) -> int:
    return record[114]


def _power(record: bytes, spec: Computed, out: Out) -> None:
    """Power at 154 is unsigned: give it the sign of the current at 158 (negative = discharge)."""
    watts = int.from_bytes(record[154:158], "little") * 0.001
    current = int.from_bytes(record[158:162], "little", signed=True)
    out[spec.key] = round(-watts if current < 0 else watts, 3)


def _num(
    name: str,
    offset: int,
    size: int,
    unit: str = "",
    scale: float = 1,
    *,
    signed: bool = False,
    hints: Hints | None = None,
) -> Num:
    """Describe a little-endian number."""
    return Num(name, offset, size, unit, hints, signed=signed, scale=scale)


def _setting(name: str, offset: int, unit: str, scale: float = 1, *, signed: bool = False) -> Num:
    """Describe a 4-byte setting, shown as a diagnostic value."""
    hints = Hints(default_hints(unit).device_class, None, "diagnostic")
    return Num(name, offset, 4, unit, hints, signed=signed, scale=scale)


def _flag(name: str, offset: int, hints: Hints = SWITCH) -> Bits:
    """Describe a byte that is 0 (off) or 1 (on)."""
    return Bits(name, offset, (name,), 1, hints)


COMMON: Final[tuple[BinSpec, ...]] = (
    Computed("Response", 0, 0, _response, hints=RAW),
    Label("Record Type", 4, RECORD_TYPES, hints=DIAGNOSTIC),
)

#: Record type 2 (cell data; syssi "Cell Info Frame Specification (JK02_32S)").
CELL_DATA: Final[tuple[BinSpec, ...]] = (
    Series(
        "Voltage_Cell{:02d}",
        6,
        32,
        2,
        "V",
        scale=0.001,
        summary="Cell Voltage",
        count_from=_enabled_cells,
    ),
    _num("Average_Cell_Voltage", 74, 2, "V", 0.001),
    Series(
        "Resistance_Cell{:02d}", 80, 32, 2, "Ω", RESISTANCE, scale=0.001, count_from=_enabled_cells
    ),
    _num("MOS_Temp", 144, 2, "°C", 0.1, signed=True),
    Bits(
        "Wire Resistance Warnings",
        146,
        [f"Wire Resistance Warning Cell{i:02d}" for i in range(1, 33)],
        4,
        PROBLEM,
        count_from=_enabled_cells,
    ),
    _num("Battery_Voltage", 150, 4, "V", 0.001),
    Computed("Battery_Power", 154, 8, _power, "W", default_hints("W")),
    # Signed: positive while charging.
    _num("Battery_Current", 158, 4, "A", 0.001, signed=True),
    _num("Battery_T1", 162, 2, "°C", 0.1, signed=True),
    _num("Battery_T2", 164, 2, "°C", 0.1, signed=True),
    # Big-endian, unlike the rest of the record (syssi's notes on bytes 166-167).
    Bits(
        "Alarms",
        166,
        (
            "Charge Overtemperature",
            "Charge Undertemperature",
            "Coprocessor Communication Error",
            "Cell Undervoltage",
            "Pack Undervoltage",
            "Discharge Overcurrent",
            "Discharge Short Circuit",
            "Discharge Overtemperature",
            "Wire Resistance",
            "MOS Overtemperature",
            "Cell Count Mismatch",
            "Current Sensor Anomaly",
            "Cell Overvoltage",
            "Pack Overvoltage",
            "Charge Overcurrent",
            "Charge Short Circuit",
        ),
        2,
        PROBLEM,
        little=False,
    ),
    _num("Balance_Current", 170, 2, "A", 0.001, signed=True),
    Label(
        "Balancing Action",
        172,
        ("Off", "Charging balancer", "Discharging balancer"),
        hints=Hints(icon="mdi:scale-balance"),
    ),
    _num("Percent_Remain", 173, 1, "%", hints=Hints("battery", "measurement")),
    _num("Capacity_Remain", 174, 4, "Ah", 0.001),
    _num("Nominal_Capacity", 178, 4, "Ah", 0.001, hints=DIAGNOSTIC),
    _num("Cycle_Count", 182, 4, hints=CYCLES),
    _num("Cycle_Capacity", 186, 4, "Ah", 0.001, hints=Hints(None, "total_increasing")),
    _num("State of Health", 190, 1, "%", hints=Hints(None, "measurement", "diagnostic")),
    _num("Total Runtime", 194, 4, "s", hints=Hints("duration", "total_increasing", "diagnostic")),
    _flag("Charging", 198),
    _flag("Discharging", 199),
    _flag("Precharging", 200),
    _flag("Balancing", 201, Hints(icon="mdi:scale-balance")),
    _flag("Heating", 215),
    _num("Battery_T5", 254, 2, "°C", 0.1, signed=True),
    _num("Battery_T4", 256, 2, "°C", 0.1, signed=True),
    _num("Battery_T3", 258, 2, "°C", 0.1, signed=True),
    Label("Charge Status", 280, ("Bulk", "Absorption", "Float"), hints=DIAGNOSTIC),
    Bits("Dry Contacts", 281, ("", "DRY1 Active", "DRY2 Active"), 1, DIAGNOSTIC),
)

#: Record type 1 (settings; syssi "Settings Frame Specification (JK02_32S)"). Passwords and the
#: fields the table leaves unexplained are not reported.
SETTINGS: Final[tuple[BinSpec, ...]] = (
    _setting("Smart Sleep Voltage", 6, "V", 0.001),
    _setting("Cell UVP", 10, "V", 0.001),
    _setting("Cell UVPR", 14, "V", 0.001),
    _setting("Cell OVP", 18, "V", 0.001),
    _setting("Cell OVPR", 22, "V", 0.001),
    _setting("Balance Trigger Voltage", 26, "V", 0.001),
    _setting("SOC 100% Voltage", 30, "V", 0.001),
    _setting("SOC 0% Voltage", 34, "V", 0.001),
    _setting("Cell Request Charge Voltage", 38, "V", 0.001),
    _setting("Cell Request Float Voltage", 42, "V", 0.001),
    _setting("Power Off Voltage", 46, "V", 0.001),
    _setting("Max Charge Current", 50, "A", 0.001),
    _setting("Charge OCP Delay", 54, "s"),
    _setting("Charge OCP Recovery Time", 58, "s"),
    _setting("Max Discharge Current", 62, "A", 0.001),
    _setting("Discharge OCP Delay", 66, "s"),
    _setting("Discharge OCP Recovery Time", 70, "s"),
    _setting("SCP Recovery Time", 74, "s"),
    _setting("Max Balance Current", 78, "A", 0.001),
    _setting("Charge OTP", 82, "°C", 0.1, signed=True),
    _setting("Charge OTP Recovery", 86, "°C", 0.1, signed=True),
    _setting("Discharge OTP", 90, "°C", 0.1, signed=True),
    _setting("Discharge OTP Recovery", 94, "°C", 0.1, signed=True),
    _setting("Charge UTP", 98, "°C", 0.1, signed=True),
    _setting("Charge UTP Recovery", 102, "°C", 0.1, signed=True),
    _setting("MOS OTP", 106, "°C", 0.1, signed=True),
    _setting("MOS OTP Recovery", 110, "°C", 0.1, signed=True),
    _num("Cell Count", 114, 1, hints=SETTING),
    _flag("Charge Switch", 118),
    _flag("Discharge Switch", 122),
    _flag("Balancer Switch", 126),
    _setting("Nominal Battery Capacity", 130, "Ah", 0.001),
    _setting("SCP Delay", 134, "μs"),
    _setting("Start Balance Voltage", 138, "V", 0.001),
    Series(
        "Wire Resistance Cell{:02d}",
        142,
        32,
        4,
        "Ω",
        RESISTANCE,
        scale=0.001,
        count_from=_settings_cells,
    ),
    _num("Device Address", 270, 1, hints=SETTING),
    _num("Precharge Time", 274, 1, "s", hints=SETTING),
    Bits(
        "Controls",
        282,
        (
            "Heating Enabled",
            "Temperature Sensors Disabled",
            "GPS Heartbeat",
            "",  # "port switch (1 RS485, 0 CAN)": 0 on a unit answering over RS485
            "Display Always On",
            "Special Charger",
            "Smart Sleep",
            "PCL Module Disabled",
            "Timed Stored Data",
            "Charging Float Mode",
        ),
        2,
        SETTING,
    ),
    _num("Smart Sleep Time", 286, 1, "h", hints=SETTING),
)

#: Record type 3 (device info; syssi "Device Info Frame Specification (JK02_32S)"). The two
#: passcodes (62, 118) are not reported.
DEVICE_INFO: Final[tuple[BinSpec, ...]] = (
    Text("Device Model", 6, 16, DIAGNOSTIC),
    Text("Hardware Version", 22, 8, DIAGNOSTIC),
    Text("Software Version", 30, 8, DIAGNOSTIC),
    _num("Uptime", 38, 4, "s", hints=Hints("duration", "total_increasing", "diagnostic")),
    _num("Power-on Times", 42, 4, hints=Hints(None, "total_increasing", "diagnostic")),
    Text("Device Name", 46, 16, DIAGNOSTIC),
    Text("Manufacturing Date", 78, 8, DIAGNOSTIC),
    Text("Serial Number", 86, 16, DIAGNOSTIC),
    Text("User Data", 102, 16, DIAGNOSTIC),
)

COMMANDS: Final[Mapping[str, Command]] = table(
    query(
        "getBalancerData",
        "Device information record: model, versions, serial number",
        *COMMON,
        *DEVICE_INFO,
        register=0x161C,
        record=3,
    ),
    query(
        "getAdditionalInfo",
        "Settings record: protection thresholds, switches",
        *COMMON,
        *SETTINGS,
        register=0x161E,
        record=1,
    ),
    query(
        "getCellData",
        "Cell data record: cells, pack, temperatures, state",
        *COMMON,
        *CELL_DATA,
        register=0x1620,
        record=2,
    ),
)


class JKPB(BinaryProtocol):
    """JK-PB inverter BMS over RS485 (Modbus RTU triggers, JK records back)."""

    id = "jkpb"
    description = "JK-PB inverter BMS over RS485 (Modbus RTU trigger, JK records)"
    commands = COMMANDS
    status_commands = ("getCellData",)
    settings_commands = ("getAdditionalInfo",)
    id_commands = ("getBalancerData",)

    def __init__(self) -> None:
        """Index the commands by the record type their register triggers."""
        super().__init__()
        self._by_record = {cast("int", c.options["record"]): c for c in self.commands.values()}

    def frame(self, command: Command, text: str) -> bytes:
        """Build the Modbus write of one zero word to the command's trigger register."""
        register = cast("int", command.options["register"])
        # One register (00 01), two data bytes (02), value 0000.
        pdu = (
            bytes((ADDRESS, WRITE_MULTIPLE)) + register.to_bytes(2, "big") + bytes((0, 1, 2, 0, 0))
        )
        return pdu + crc16_modbus(pdu).to_bytes(2, "little")

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Check the record (header, sum, type) and the Modbus response after it, if any."""
        if len(frame) < RECORD:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, a record has {RECORD}")
        if frame[:4] != HEADER:
            raise FrameError(f"{sent}: header {frame[:4].hex()}, not 55aaeb90")
        if sum8(frame[: RECORD - 1]) != frame[RECORD - 1]:
            raise CRCError(f"{sent}: record checksum {frame[RECORD - 1]:#04x} does not match")
        if frame[4] not in self._by_record:
            raise FrameError(f"{sent}: unknown record type {frame[4]:#04x}")
        tail = frame[RECORD:]
        if tail:
            if len(tail) != MODBUS_RESPONSE or tail[1] != WRITE_MULTIPLE:
                raise FrameError(f"{sent}: {len(tail)} unexpected bytes after the record")
            if crc16_modbus(tail[:6]) != int.from_bytes(tail[6:], "little"):
                raise CRCError(f"{sent}: Modbus response CRC {tail[6:].hex()} does not match")
        return frame

    def read(self, command: Command, frame: bytes, sent: str) -> Out:
        """Decode with the layout of the record type the frame carries."""
        record = self.check(command, frame, sent)
        out: Out = {}
        for spec in self._by_record[record[4]].fields:
            cast("BinSpec", spec).read(record, out)
        return out

    def decode(self, command: str, frame: bytes) -> Result:
        """Decode ``frame``; field metadata follows the record type that came back."""
        result = super().decode(command, frame)
        layout = self._by_record[frame[4]]
        if layout.name == result.command:
            return result
        return Result(result.command, result.values_by_key, frame, layout.info)
