"""JK02: JK BMS over Bluetooth, 2-byte cell values, 24 cells (firmware before 11).

Framing is in :mod:`.jkble`. The cell-data record carries 24 cell voltages and resistances in
millivolts / milliohms; everything after the two cell blocks moves 32 bytes later in the 32-cell
layout (:mod:`.jk02_32`), so :func:`cell_fields` builds both from one description. Offsets follow
syssi/esphome-jk-bms (``jk_bms_ble.cpp``, ``docs/protocol-design-ble.md``); where the reference
implementation names a field, its name is kept so keys line up with existing dashboards.

Per-cell fields are reported for every position, absent cells as 0.0 V like the reference does;
the summary (min/max cell and their numbers) and "Cell Count" use only the cells the record's
enabled-cells mask lists. ``counted=True`` limits the per-cell fields to the positions up to the
highest enabled cell (jkpb, whose reference reports no per-cell keys to line up with).

These are the only definitions of the JK02 record layouts: :mod:`.jkpb` (JK-PB over RS485) reads
the same 32-cell records with them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import ClassVar, Final

from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import BinSpec, Bits, Computed, Hex, Label, Num, Series
from mppsolar_lib.protocols.command import Command, Kind
from mppsolar_lib.protocols.fields import DIAGNOSTIC, PROBLEM, FieldKind, Hints, Out
from mppsolar_lib.protocols.jkble import (
    ACK_FIELDS,
    CELL_INFO,
    CELL_RECORD,
    DEVICE_INFO,
    DEVICE_INFO_FIELDS,
    ENABLED_LABELS,
    HEADER,
    HIDDEN,
    INFO_RECORD,
    SETTINGS_RECORD,
    Decimals,
    JkBleProtocol,
    Uptime,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table

OHM: Final = "Ω"
RESISTANCE: Final = Hints(None, "measurement", "diagnostic")
SOC: Final = Hints("battery", "measurement")
COUNTER: Final = Hints(None, "total_increasing", "diagnostic")
RUNTIME: Final = Hints("duration", "total_increasing", "diagnostic")
SETTING: Final = DIAGNOSTIC
#: Raw temperature a JK BMS reports for a probe that is not fitted (-200.0 °C).
NO_PROBE: Final = -2000

#: System alarm bits (a big-endian word), per esphome-jk-bms's protocol description.
ALARMS: Final = (
    "Charge Overtemperature",
    "Charge Undertemperature",
    "Coprocessor Communication Error",
    "Cell Undervoltage",
    "Battery Pack Undervoltage",
    "Discharge Overcurrent",
    "Discharge Short Circuit",
    "Discharge Overtemperature",
    "Wire Resistance",
    "MOSFET Overtemperature",
    "Cell Count Mismatch",
    "Current Sensor Anomaly",
    "Cell Overvoltage",
    "Battery Pack Overvoltage",
    "Charge Overcurrent",
    "Charge Short Circuit",
)
BALANCING_ACTIONS: Final = {0: "Off", 1: "Charging balancer", 2: "Discharging balancer"}
#: Control bits of the 32-cell settings record (bytes 282-283), per esphome-jk-bms.
CONTROLS: Final = (
    "Heating Enabled",
    "Temperature Sensors Disabled",
    "GPS Heartbeat",
    "",  # "port switch (1 RS485, 0 CAN)": 0 on a JK-PB answering over RS485 (jkpb example)
    "Display Always On",
    "Special Charger",
    "Smart Sleep",
    "PCL Module Disabled",
    "Timed Stored Data",
    "Charging Float Mode",
)
#: Names of the computed summary; the record carries its own delta (kept as Delta Cell Voltage).
SUMMARY: Final = (
    "Min Cell Voltage",
    "Min Voltage Cell",
    "Max Cell Voltage",
    "Max Voltage Cell",
    "",
)


def enabled_cells(mask_at: int, cells: int) -> Callable[[bytes], int]:
    """Return a reader of the cell count from the enabled-cells mask (all cells if it is 0)."""

    def count(record: bytes) -> int:
        return int.from_bytes(record[mask_at : mask_at + 4], "little").bit_count() or cells

    return count


def wired_cells(mask_at: int, cells: int) -> Callable[[bytes], int]:
    """Return a reader of the highest enabled cell position in the mask (all cells if it is 0)."""

    def count(record: bytes) -> int:
        return int.from_bytes(record[mask_at : mask_at + 4], "little").bit_length() or cells

    return count


def _settings_cells(record: bytes) -> int:
    """Cell count of a settings record (byte 114)."""
    return record[114]


def _cell_count(record: bytes, spec: Computed, out: Out) -> None:
    # An empty mask says nothing about the pack: no field rather than "0 cells".
    count = int.from_bytes(record[spec.offset : spec.end], "little").bit_count()
    if count:
        out[spec.key] = count


def nonzero(record: bytes, spec: Computed, out: Out) -> None:
    """Read a state byte as on/off (balancing action 1 or 2 means balancing)."""
    out[spec.key] = record[spec.offset] != 0


def _temperature(name: str, offset: int) -> Num:
    return Num(name, offset, 2, "°C", signed=True, scale=0.1, missing=NO_PROBE)


def cell_fields(cells: int, *, counted: bool = False) -> tuple[BinSpec, ...]:
    """Return the cell-data record (type 2) layout for 24 or 32 cells.

    Offsets are those of esphome-jk-bms's JK02_24S description; the 32-cell record has 8 more
    voltages (+16 bytes up to the resistances) and 8 more resistances (+32 bytes after them),
    and fields of its own from byte 200 on (JK02_32S table). ``counted=True``: voltages and
    resistances only up to the highest enabled cell.
    """
    block = (cells - 24) * 2  # extra bytes of one 32-cell block
    after = block * 2  # shift of everything after both blocks
    mask_at = 54 + block
    positions = wired_cells(mask_at, cells)
    per_cell = positions if counted else None
    extra: tuple[BinSpec, ...] = ()
    if cells == 24:
        # 24 cells: MOSFET temperature at 134, alarms at 136 (byte 112 is unused).
        mos_at, alarms_at = 134 + after, 136 + after
    else:
        # 32 cells: MOSFET temperature moved to 112 + 32; the alarms word took its place.
        mos_at, alarms_at = 112 + after, 134 + after
        extra = (
            Bits("Precharging", 168 + after, ("Precharging",), hints=DIAGNOSTIC),
            Bits("Heating", 215, ("Heating",), hints=Hints(icon="mdi:radiator")),
            _temperature("Battery T5", 254),
            _temperature("Battery T4", 256),
            _temperature("Battery T3", 258),
            Label("Charge Status", 280, ("Bulk", "Absorption", "Float"), hints=DIAGNOSTIC),
            Bits("Dry Contacts", 281, ("", "DRY1 Active", "DRY2 Active"), hints=DIAGNOSTIC),
        )
    return (
        *HEADER,
        Series(
            "Voltage_Cell{:02d}",
            6,
            cells,
            2,
            "V",
            scale=0.001,
            summary_names=SUMMARY,
            summary_count_from=enabled_cells(mask_at, cells),
            count_from=per_cell,
        ),
        Computed("Cell Count", mask_at, 4, _cell_count, hints=DIAGNOSTIC, kind=FieldKind.NUMBER),
        Num("Average Cell Voltage", 58 + block, 2, "V", scale=0.001),
        Num("Delta Cell Voltage", 60 + block, 2, "V", scale=0.001),
        Series(
            "Resistance_Cell{:02d}",
            64 + block,
            cells,
            2,
            OHM,
            RESISTANCE,
            scale=0.001,
            count_from=per_cell,
        ),
        Hex("Wire Resistance Warning", 114 + after, 4, HIDDEN),
        Bits(
            "Wire Resistance Warnings",
            114 + after,
            [f"Wire Resistance Warning Cell{i:02d}" for i in range(1, cells + 1)],
            4,
            PROBLEM,
            count_from=positions,
        ),
        Num("Battery Voltage", 118 + after, 4, "V", scale=0.001),
        # Unsigned magnitude in mW (the reference shows it unscaled in "W").
        Num("Battery Power", 122 + after, 4, "W", scale=0.001),
        # Signed, negative while discharging (the reference's jk02 calls it Balance_Current).
        Num("Battery Current", 126 + after, 4, "A", signed=True, scale=0.001),
        _temperature("Battery T1", 130 + after),
        _temperature("Battery T2", 132 + after),
        _temperature("MOS Temp", mos_at),
        Bits("Alarms", alarms_at, ALARMS, 2, PROBLEM, little=False),
        Num("Balance Current", 138 + after, 2, "A", signed=True, scale=0.001),
        Label("Balancing Action", 140 + after, BALANCING_ACTIONS, hints=DIAGNOSTIC),
        Computed(
            "Balancing",
            140 + after,
            1,
            nonzero,
            hints=Hints(icon="mdi:scale-balance"),
            kind=FieldKind.BOOL,
        ),
        Num("Percent Remain", 141 + after, 1, "%", SOC),
        Num("Capacity Remain", 142 + after, 4, "Ah", scale=0.001),
        Num("Nominal Capacity", 146 + after, 4, "Ah", DIAGNOSTIC, scale=0.001),
        Num("Cycle Count", 150 + after, 4, hints=COUNTER),
        Num("Cycle Capacity", 154 + after, 4, "Ah", COUNTER, scale=0.001),
        Num("State of Health", 158 + after, 1, "%", Hints(None, "measurement", "diagnostic")),
        Uptime("Time", 162 + after),
        Num("Total Runtime", 162 + after, 4, "s", RUNTIME),
        Bits("Charging", 166 + after, ("Charging",), hints=Hints(icon="mdi:battery-charging")),
        Bits("Discharging", 167 + after, ("Discharging",), hints=Hints(icon="mdi:battery-minus")),
        *extra,
    )


def legacy_fields(cells: int) -> tuple[BinSpec, ...]:
    """Return fields the reference reports from misaligned bytes, kept (hidden) for its keys.

    "Current Balancer" reads the bytes that number the highest and lowest cell (the summary
    reports those cells properly); "Current Charge"/"Current Discharge" straddle two 16-bit
    calibration values. See docs/deviations.md.
    """
    block = (cells - 24) * 2
    return (
        Num("Current Balancer", 62 + block, 2, hints=HIDDEN, signed=True, scale=0.001),
        Num("Current Charge", 189 + 2 * block, 2, hints=HIDDEN, signed=True, scale=0.001),
        Num("Current Discharge", 191 + 2 * block, 2, hints=HIDDEN, signed=True, scale=0.001),
    )


def _volts(name: str, offset: int) -> Num:
    return Num(name, offset, 4, "V", SETTING, scale=0.001)


def _amps(name: str, offset: int) -> Num:
    return Num(name, offset, 4, "A", SETTING, scale=0.001)


def _seconds(name: str, offset: int) -> Num:
    return Num(name, offset, 4, "s", SETTING)


def _celsius(name: str, offset: int) -> Num:
    return Num(name, offset, 4, "°C", SETTING, signed=True, scale=0.1)


def settings_fields(cells: int, *, counted: bool = False) -> tuple[BinSpec, ...]:
    """Return the settings record (type 1) layout, per esphome-jk-bms.

    Bytes 6–141 are the same on both layouts; the 32-cell firmware also fills 6, 30–45 and
    270–286 and moves the connection-wire resistances from 158 to 142 (and has 32 of them).
    ``counted=True``: wire resistances only for the record's cell count (byte 114).
    """
    newer: tuple[BinSpec, ...] = ()
    if cells == 32:
        newer = (
            _volts("Smart Sleep Voltage", 6),
            _volts("SOC 100% Voltage", 30),
            _volts("SOC 0% Voltage", 34),
            _volts("Cell Request Charge Voltage", 38),
            _volts("Cell Request Float Voltage", 42),
            Num("SCP Delay", 134, 4, "μs", SETTING),
            Num("Device Address", 270, 1, hints=SETTING),
            Num("Precharge Time", 274, 1, "s", SETTING),
            Bits("Controls", 282, CONTROLS, 2, SETTING),
            Num("Smart Sleep Time", 286, 1, "h", SETTING),
        )
    return (
        *HEADER,
        _volts("Cell UVP", 10),
        _volts("Cell UVPR", 14),
        _volts("Cell OVP", 18),
        _volts("Cell OVPR", 22),
        _volts("Balance Trigger Voltage", 26),
        _volts("Power Off Voltage", 46),
        _amps("Max Charge Current", 50),
        _seconds("Charge OCP Delay", 54),
        _seconds("Charge OCP Recovery Time", 58),
        _amps("Max Discharge Current", 62),
        _seconds("Discharge OCP Delay", 66),
        _seconds("Discharge OCP Recovery Time", 70),
        _seconds("SCP Recovery Time", 74),
        _amps("Max Balance Current", 78),
        _celsius("Charge OTP", 82),
        _celsius("Charge OTP Recovery", 86),
        _celsius("Discharge OTP", 90),
        _celsius("Discharge OTP Recovery", 94),
        _celsius("Charge UTP", 98),
        _celsius("Charge UTP Recovery", 102),
        _celsius("MOS OTP", 106),
        _celsius("MOS OTP Recovery", 110),
        Num("Cell Count", 114, 1, hints=SETTING),
        Label("Charge Switch", 118, ENABLED_LABELS, hints=SETTING),
        Label("Discharge Switch", 122, ENABLED_LABELS, hints=SETTING),
        Label("Balancer Switch", 126, ENABLED_LABELS, hints=SETTING),
        Num("Nominal Battery Capacity", 130, 4, "Ah", SETTING, scale=0.001),
        _volts("Start Balance Voltage", 138),
        *newer,
        Series(
            "Wire Resistance {:02d}",
            158 if cells == 24 else 142,
            cells,
            4,
            OHM,
            SETTING,
            scale=0.001,
            count_from=_settings_cells if counted else None,
        ),
    )


# -- commands ---------------------------------------------------------------------------------

#: Cell voltages the setters accept (esphome-jk-bms's limits), in millivolt steps.
CELL_VOLTS: Final = Decimals("1.2", "4.35", "0.001", "V", "3.65")
BALANCE_START_VOLTS: Final = Decimals("1.2", "4.25", "0.001", "V", "3.40")
#: Register of "start balance voltage": 0x26 on JK02 firmware, 0x22 on the 32-cell firmware
#: (esphome-jk-bms number/__init__.py).
BALANCE_START_JK02: Final = 0x26
BALANCE_START_JK02_32: Final = 0x22
#: Register of the balancer switch, the same on both firmware families (next to the charge and
#: discharge MOSFET switches, 0x1D and 0x1E; esphome-jk-bms switch/__init__.py). The settings
#: record reports its state at byte 126 ("Balancer Switch").
BALANCER_SWITCH: Final = 0x1F


def record_query(name: str, description: str, code: int, record: int, *fields: BinSpec) -> Command:
    """Define a query answered by a record of type ``record``."""
    return Command(name, description, fields, Kind.QUERY, options={"code": code, "record": record})


def jk_setter(
    name: str,
    description: str,
    code: int,
    *,
    value: int | None = None,
    param: Decimals | None = None,
) -> Command:
    """Define a setter: a fixed ``value`` (switches) or a parameter in volts sent in mV."""
    options: dict[str, object] = {"code": code}
    if value is not None:
        options["value"] = value
    else:
        options["scale"] = 1000
    return Command(name, description, ACK_FIELDS, Kind.SETTER, param, options=options)


def balance_start(code: int) -> Command:
    """Define ``setBalanceStart`` for the register ``code`` of a firmware family."""
    return jk_setter(
        "setBalanceStart",
        "Set the cell voltage above which the balancer may start (e.g. setBalanceStart3.40)",
        code,
        param=BALANCE_START_VOLTS,
    )


GET_INFO: Final = record_query(
    "getInfo", "BLE device information inquiry", DEVICE_INFO, INFO_RECORD, *DEVICE_INFO_FIELDS
)

COMMANDS = MappingProxyType(
    table(
        GET_INFO,
        record_query(
            "getCellData",
            "BLE cell data inquiry",
            CELL_INFO,
            CELL_RECORD,
            *cell_fields(24),
            *legacy_fields(24),
        ),
        record_query(
            "getSettings",
            "BLE settings inquiry (the BMS sends its settings record before streaming cell data)",
            CELL_INFO,
            SETTINGS_RECORD,
            *settings_fields(24),
        ),
        jk_setter(
            "setCellOVP",
            "Set the cell overvoltage protection (e.g. setCellOVP3.65)",
            0x04,
            param=CELL_VOLTS,
        ),
        jk_setter("setChargingOn", "Switch charging on", 0x1D, value=1),
        jk_setter("setChargingOff", "Switch charging off", 0x1D, value=0),
        jk_setter("setDischargingOn", "Switch discharging on", 0x1E, value=1),
        jk_setter("setDischargingOff", "Switch discharging off", 0x1E, value=0),
        jk_setter("setBalancerOn", "Switch the balancer on", BALANCER_SWITCH, value=1),
        jk_setter("setBalancerOff", "Switch the balancer off", BALANCER_SWITCH, value=0),
        balance_start(BALANCE_START_JK02),
    )
)

# -- settings model ---------------------------------------------------------------------------

SETTINGS = MappingProxyType(
    settings_table(
        Setting(
            "charging",
            "Charging",
            SettingKind.SWITCH,
            "getSettings",
            "charge_switch",
            on="setChargingOn",
            off="setChargingOff",
            safety=True,
            description="Off opens the charge MOSFET: no charger can charge the battery.",
        ),
        Setting(
            "discharging",
            "Discharging",
            SettingKind.SWITCH,
            "getSettings",
            "discharge_switch",
            on="setDischargingOn",
            off="setDischargingOff",
            safety=True,
            description="Off opens the discharge MOSFET: the loads lose power.",
        ),
        Setting(
            "balancing",
            "Balancing",
            SettingKind.SWITCH,
            "getSettings",
            "balancer_switch",
            on="setBalancerOn",
            off="setBalancerOff",
            safety=True,
            description=(
                "Off stops the BMS's cell balancer: the cells drift apart over time, and the "
                "highest one may reach its overvoltage protection first, ending charging early."
            ),
        ),
        Setting(
            "cell_ovp",
            "Cell overvoltage protection",
            SettingKind.NUMBER,
            "getSettings",
            "cell_ovp",
            write="setCellOVP{value:.3f}",
            minimum=1.2,
            maximum=4.35,
            step=0.001,
            unit="V",
            safety=True,
        ),
        Setting(
            "start_balance_voltage",
            "Balance start voltage",
            SettingKind.NUMBER,
            "getSettings",
            "start_balance_voltage",
            write="setBalanceStart{value:.3f}",
            minimum=1.2,
            maximum=4.25,
            step=0.001,
            unit="V",
            safety=True,
        ),
    )
)


class JK02(JkBleProtocol):
    """JK BMS Bluetooth protocol, 2-byte cell values, 24 cells."""

    id: ClassVar[str] = "jk02"
    description: ClassVar[str] = "JK BMS over Bluetooth, 24 cells (JK02, firmware before 11)"
    cells: ClassVar[int] = 24
    commands = COMMANDS
    settings = SETTINGS
    status_commands = ("getCellData",)
    settings_commands = ("getSettings",)
    id_commands = ("getInfo",)
