"""Daly BMS over UART / RS485 (and the Daly Bluetooth-to-UART module).

Every frame is 13 bytes: ``A5``, an address, a data id, the data length ``08``, eight data bytes
and the byte sum of the twelve before it. The host sends its own address (``80`` here, ``40`` for
:mod:`~mppsolar_lib.protocols.daly40`) with eight zero data bytes (setters put their value there);
the BMS answers from address ``01`` with the same data id. Requests end with a line feed after
the checksum, as the reference sends them (the BMS ignores bytes outside a frame).

Cell voltages (``0x95``) and temperatures (``0x96``) come as several numbered frames, 3 voltages
or 7 temperatures each, padded with zeros past the last cell. Each frame is checked on its own
(start byte, address, data id, length, checksum, frame number). Without a count the answer is
decoded as the reference does (every position the BMS sent, padding included) plus the number of
cells that report a value and a min/max/delta summary over them; with a count
(``cellVoltages16``, the ``number_of_cells`` of the ``status`` answer) only those cells are
reported. See :func:`counted_commands`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
import re
import struct
from types import MappingProxyType
from typing import ClassVar, Final, TypeVar

from mppsolar_lib.errors import (
    CRCError,
    EchoError,
    FrameError,
    InvalidParameterError,
    NAKError,
    TruncatedFrameError,
)
from mppsolar_lib.protocols.answers import FramedProtocol, Span
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import BinSpec, Bits, Hex, Label, Num, Series
from mppsolar_lib.protocols.command import Choice, Command, Kind, Param, query, setter
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    PROBLEM,
    RESERVED,
    FieldInfo,
    FieldKind,
    Hints,
    Out,
    Result,
    Value,
    slugify,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind, settings_table

START: Final = 0xA5
#: The address every Daly BMS answers from (Daly UART/485 protocol, section 2.2).
BMS_ADDRESS: Final = 0x01
FRAME_SIZE: Final = 13
DATA_LENGTH: Final = 8
#: Cell voltages come in at most 16 frames of 3 (48 cells); temperatures use the same frame cap.
MAX_FRAMES: Final = 16

_S = TypeVar("_S", bound=BinSpec)


def checksum(data: bytes) -> int:
    """Return the Daly check byte: the byte sum modulo 256."""
    return sum(data) & 0xFF


def _keyed(spec: _S, key: str) -> _S:
    """Show ``spec`` under its clearer name but keep the reference's key (dashboards use it)."""
    spec.key = key
    return spec


# -- parameters --------------------------------------------------------------------------------


class Count(Param):
    """An optional count (cells, sensors): nothing, or a whole number 1…``maximum``."""

    def __init__(self, what: str, maximum: int) -> None:
        """Name what is counted and the largest count the frames can carry."""
        self.what = what
        self.maximum = maximum

    def validate(self, text: str) -> None:
        """Allow nothing or 1…maximum without leading zeros."""
        if not text:
            return
        if not (text.isascii() and text.isdigit()) or text[0] == "0" or int(text) > self.maximum:
            raise InvalidParameterError(f"{text!r} is not allowed; use {self.describe()}")

    def describe(self) -> str:
        """Say what may follow the command name."""
        return (
            f"nothing (every position the BMS sends) or the number of {self.what} "
            f"1–{self.maximum} (see the status command)"
        )


_SOC_TEXT = re.compile(r"([0-9]{1,3}(?:\.[0-9])?)(?:@([0-9]{14}))?")


class SocParam(Param):
    """A state of charge in percent, optionally with the time to set the BMS clock to."""

    def validate(self, text: str) -> None:
        """Check the percentage (0–100, one decimal at most) and the optional timestamp."""
        soc_bytes(text)

    def describe(self) -> str:
        """Say what is allowed."""
        return (
            "a state of charge 0–100 % with at most one decimal (e.g. 88.5), optionally "
            "followed by @YYYYMMDDhhmmss (years 2000–2099) to set the BMS clock as well"
        )


def soc_bytes(text: str) -> bytes:
    """Return the eight data bytes of a ``0x21`` write: clock (YY MM DD hh mm ss) + SOC × 10.

    Without a time the clock bytes are zeros, as the open-source tools that use this command
    send them. Raises :class:`InvalidParameterError` for anything else.
    """
    match = _SOC_TEXT.fullmatch(text)
    if match is None or Decimal(match[1]) > 100:
        raise InvalidParameterError(f"{text!r} is not allowed; use {SocParam().describe()}")
    clock = bytes(6)
    if match[2] is not None:
        try:
            when = datetime.strptime(match[2], "%Y%m%d%H%M%S")  # noqa: DTZ007 - BMS local time
        except ValueError:
            raise InvalidParameterError(f"{match[2]} is not a valid date and time") from None
        if not 2000 <= when.year <= 2099:
            raise InvalidParameterError(f"{when.year} is outside 2000–2099")
        clock = bytes((when.year - 2000, when.month, when.day, when.hour, when.minute, when.second))
    return clock + int(Decimal(match[1]) * 10).to_bytes(2, "big")


# -- field readers -----------------------------------------------------------------------------


class FrameSeries(Series):
    """Values spread over numbered frames: each frame's data is its number, then the values.

    ``per_frame`` values of ``size`` bytes (big-endian) follow the frame number. The field names
    and the summary are the :class:`Series` ones; ``count_name`` names the field giving how many
    cells (sensors) the decode treated as present.
    """

    __slots__ = ("count_info", "frame_struct", "max_frames", "per_frame")

    def __init__(
        self,
        template: str,
        per_frame: int,
        size: int,
        unit: str,
        *,
        count_name: str,
        summary: str,
        scale: float = 1,
        bias: int = 0,
        max_frames: int = MAX_FRAMES,
    ) -> None:
        """Describe the values of one frame and how many frames there can be."""
        super().__init__(
            template,
            1,
            per_frame * max_frames,
            size,
            unit,
            little=False,
            scale=scale,
            bias=bias,
            summary=summary,
        )
        self.per_frame = per_frame
        self.max_frames = max_frames
        self.frame_struct = struct.Struct(f">{per_frame}{'H' if size == 2 else 'B'}")
        self.count_info = FieldInfo(
            slugify(count_name), count_name, "", DIAGNOSTIC, kind=FieldKind.NUMBER, precision=0
        )

    def read_frames(
        self, frames: Sequence[bytes], positions: int, count: int | None, out: Out
    ) -> None:
        """Report the values of ``frames`` (their 8 data bytes each).

        With ``count`` only the first ``count`` values; without, ``positions`` values (padding
        included, as the reference lists them), the present count being the last non-zero
        value's position. The summary covers the present values only.
        """
        raws: list[int] = []
        for data in frames:
            raws.extend(self.frame_struct.unpack_from(data, 1))
        if count is None:
            present = next((i for i in range(len(raws), 0, -1) if raws[i - 1]), 0)
            shown = positions
            # Positions of a cut-off padding frame: the BMS's padding, known to be zeros.
            raws.extend([0] * (shown - len(raws)))
        else:
            present = shown = count
        scale, bias = self.scale, self.bias
        values = [
            (raw + bias) if scale == 1 else round((raw + bias) * scale, 6) for raw in raws[:shown]
        ]
        for info, value in zip(self.infos, values, strict=False):
            out[info.key] = value
        out[self.count_info.key] = present
        self.summarise(values, out, present, skip_zero=False)

    def info(self) -> tuple[FieldInfo, ...]:
        """Return every position's field, the summary and the count."""
        return (*super().info(), self.count_info)


class CellBits(Bits):
    """One flag per cell, cell 1 in the least significant bit of the first data byte.

    Also yields ``active_name``: whether any reported cell's flag is set.
    """

    __slots__ = ("active",)

    def __init__(self, template: str, cells: int, active_name: str) -> None:
        """Name one flag per cell, in the first ``cells / 8`` bytes of the record."""
        super().__init__(
            template, 0, [template.format(i) for i in range(1, cells + 1)], size=8, little=True
        )
        self.active = FieldInfo(
            slugify(active_name), active_name, "", DIAGNOSTIC, kind=FieldKind.BOOL
        )

    def read(self, record: bytes, out: Out) -> None:
        """Report a flag for every cell position."""
        self.read_first(record, out, len(self.bits))

    def read_first(self, record: bytes, out: Out, count: int) -> None:
        """Report the flags of the first ``count`` cells, and whether any of them is set."""
        word: int = self.struct.unpack_from(record, self.offset)[0]
        for mask, info in self.bits[:count]:
            out[info.key] = bool(word & mask)
        out[self.active.key] = bool(word & ((1 << count) - 1))

    def info(self) -> tuple[FieldInfo, ...]:
        """Return every cell's flag and the summary flag."""
        return (*super().info(), self.active)


# -- vocabularies ------------------------------------------------------------------------------

#: 0x93 byte 0. The reference's labels; they mean the current's direction (charging/discharging).
CHARGE_STATES = ("stationary", "charged", "discharged")
CONNECTED = ("disconnected", "connected")
#: 0x94 byte 4: digital inputs and outputs, bit 0 first.
DIO = ("DI1", "DI2", "DI3", "DI4", "DO1", "DO2", "DO3", "DO4")

#: 0x98: one list per data byte, bit 0 first (Daly UART/485 protocol, data id 0x98).
FAILURE_BITS: Final = (
    (
        "Cell Voltage High Level 1",
        "Cell Voltage High Level 2",
        "Cell Voltage Low Level 1",
        "Cell Voltage Low Level 2",
        "Total Voltage High Level 1",
        "Total Voltage High Level 2",
        "Total Voltage Low Level 1",
        "Total Voltage Low Level 2",
    ),
    (
        "Charge Temperature High Level 1",
        "Charge Temperature High Level 2",
        "Charge Temperature Low Level 1",
        "Charge Temperature Low Level 2",
        "Discharge Temperature High Level 1",
        "Discharge Temperature High Level 2",
        "Discharge Temperature Low Level 1",
        "Discharge Temperature Low Level 2",
    ),
    (
        "Charge Overcurrent Level 1",
        "Charge Overcurrent Level 2",
        "Discharge Overcurrent Level 1",
        "Discharge Overcurrent Level 2",
        "SOC High Level 1",
        "SOC High Level 2",
        "SOC Low Level 1",
        "SOC Low Level 2",
    ),
    (
        "Cell Voltage Difference Level 1",
        "Cell Voltage Difference Level 2",
        "Temperature Difference Level 1",
        "Temperature Difference Level 2",
    ),
    (
        "Charge MOS Over Temperature",
        "Discharge MOS Over Temperature",
        "Charge MOS Temperature Sensor Failure",
        "Discharge MOS Temperature Sensor Failure",
        "Charge MOS Adhesion Failure",
        "Discharge MOS Adhesion Failure",
        "Charge MOS Breaker Failure",
        "Discharge MOS Breaker Failure",
    ),
    (
        "AFE Acquisition Chip Failure",
        "Cell Voltage Acquisition Dropped",
        "Temperature Sensor Failure",
        "EEPROM Failure",
        "RTC Failure",
        "Precharge Failure",
        "Vehicle Communication Failure",
        "Internal Communication Failure",
    ),
    (
        "Current Module Failure",
        "Total Voltage Detection Failure",
        "Short Circuit Protection Failure",
        "Low Voltage Charging Forbidden",
    ),
)

_COUNT = Hints(entity_category="diagnostic", icon="mdi:counter")
_CYCLES = Hints(state_class="total_increasing", icon="mdi:battery-sync")
_MOS = Hints(entity_category="diagnostic", icon="mdi:electric-switch")
_CELL_VOLTAGES = FrameSeries(
    "Cell {:02d} Voltage",
    3,
    2,
    "V",
    scale=0.001,
    count_name="Cell Count",
    summary="Cell Voltage",
)
_TEMPERATURES = FrameSeries(
    "Cell {:02d} Temperature",
    7,
    1,
    "°C",
    bias=-40,
    count_name="Temperature Sensor Count",
    summary="Temperature",
)
_BALANCE = CellBits("Cell {:02d} Balancing", 48, "Cell Balancing Active")
#: What may follow each per-cell command's name.
_COUNTS: Final = {
    "cellVoltages": Count("cells", _CELL_VOLTAGES.per_frame * MAX_FRAMES),
    "cellTemperatures": Count("temperature sensors", _TEMPERATURES.per_frame * MAX_FRAMES),
    "cellBalanceState": Count("cells", len(_BALANCE.bits)),
}

# -- commands ----------------------------------------------------------------------------------

COMMANDS = MappingProxyType(
    table(
        query(
            "SOC",
            "State of charge, pack voltage and current",
            Num("Battery Bank Voltage", 0, 2, "V", scale=0.1, little=False),
            _keyed(
                Num("Acquisition Voltage", 2, 2, "V", DIAGNOSTIC, scale=0.1, little=False),
                "acquistion",
            ),
            Num("Current", 4, 2, "A", bias=-30000, scale=0.1, little=False),
            Num("SOC", 6, 2, "%", Hints("battery", "measurement"), scale=0.1, little=False),
            data_id=0x90,
        ),
        query(
            "cellMinMaxVoltages",
            "Highest and lowest cell voltage with their cell numbers",
            Num("Maximum Cell Voltage", 0, 2, "V", scale=0.001, little=False),
            Num("Maximum Cell Number", 2, 1, hints=DIAGNOSTIC),
            Num("Minimum Cell Voltage", 3, 2, "V", scale=0.001, little=False),
            Num("Minimum Cell Number", 5, 1, hints=DIAGNOSTIC),
            data_id=0x91,
        ),
        query(
            "cellMinMaxTemps",
            "Highest and lowest temperature with their sensor numbers",
            Num("Maximum Cell Temperature", 0, 1, "°C", bias=-40),
            Num("Maximum Cell Number", 1, 1, hints=DIAGNOSTIC),
            Num("Minimum Cell Temperature", 2, 1, "°C", bias=-40),
            Num("Minimum Cell Number", 3, 1, hints=DIAGNOSTIC),
            data_id=0x92,
        ),
        query(
            "mosStatus",
            "Charge/discharge state, MOS switches, heartbeat and remaining capacity",
            Label("Charge Status", 0, CHARGE_STATES),
            Hex("Charging MOS Tube Status", 1, 1, _MOS),
            Hex("Discharging MOS Tube Status", 2, 1, _MOS),
            Bits("Charging MOS", 1, ("Charging MOS",), hints=_MOS),
            Bits("Discharging MOS", 2, ("Discharging MOS",), hints=_MOS),
            Num("BMS Life", 3, 1, hints=DIAGNOSTIC),
            Num("Residual Capacity", 4, 4, "Ah", scale=0.001, little=False),
            data_id=0x93,
        ),
        query(
            "status",
            "Cell and sensor counts, charger and load, digital I/O, cycles",
            Num("Number of Cells", 0, 1, hints=_COUNT),
            Num("Number of Temperature Sensors", 1, 1, hints=_COUNT),
            Label("Charger Status", 2, CONNECTED),
            Label("Load Status", 3, CONNECTED),
            _keyed(Hex("DIO State", 4, 1), "flags_todo"),
            Bits("DIO", 4, DIO),
            Num("Charge/Discharge Cycles", 5, 2, hints=_CYCLES, little=False),
            Hex("Reserved", 7, 1, RESERVED),
            data_id=0x94,
        ),
        Command(
            "cellVoltages",
            "Voltage of every cell (append the cell count to drop the padding: cellVoltages16)",
            (_CELL_VOLTAGES,),
            param=_COUNTS["cellVoltages"],
            options={"data_id": 0x95},
        ),
        Command(
            "cellTemperatures",
            "Every temperature sensor (append the sensor count to drop the padding)",
            (_TEMPERATURES,),
            param=_COUNTS["cellTemperatures"],
            options={"data_id": 0x96},
        ),
        Command(
            "cellBalanceState",
            "Which cells are being balanced (append the cell count to limit the flags)",
            (_BALANCE,),
            param=_COUNTS["cellBalanceState"],
            options={"data_id": 0x97},
        ),
        query(
            "failureCodes",
            "Alarm and failure flags",
            *(
                Bits(f"Failure Byte {index}", index, names, hints=PROBLEM)
                for index, names in enumerate(FAILURE_BITS)
            ),
            Num("Fault Code", 7, 1, hints=DIAGNOSTIC),
            data_id=0x98,
        ),
        setter(
            "setDischargeMos",
            "Switch the discharge MOS on or off",
            Choice({"0": "off", "1": "on"}),
            data_id=0xD9,
            reply="echo",
        ),
        setter(
            "setChargeMos",
            "Switch the charge MOS on or off",
            Choice({"0": "off", "1": "on"}),
            data_id=0xDA,
            reply="echo",
        ),
        setter(
            "setSOC",
            "Set the state of charge (and optionally the BMS clock)",
            SocParam(),
            data_id=0x21,
            reply=1,
        ),
    )
)

SETTINGS = MappingProxyType(
    settings_table(
        Setting(
            "charging_mos",
            "Charging MOS",
            SettingKind.SWITCH,
            "mosStatus",
            "charging_mos_tube_status",
            on="setChargeMos1",
            off="setChargeMos0",
            on_value="01",
            safety=True,
            description="Off stops all charging; read mosStatus back to confirm the switch.",
        ),
        Setting(
            "discharging_mos",
            "Discharging MOS",
            SettingKind.SWITCH,
            "mosStatus",
            "discharging_mos_tube_status",
            on="setDischargeMos1",
            off="setDischargeMos0",
            on_value="01",
            safety=True,
            description="Off cuts power to every load; read mosStatus back to confirm.",
        ),
        Setting(
            "soc",
            "State of charge",
            SettingKind.NUMBER,
            "SOC",
            "soc",
            write="setSOC{value:.1f}",
            minimum=0,
            maximum=100,
            step=0.1,
            unit="%",
            safety=True,
            description="A wrong value moves the BMS's low/high SOC protections.",
        ),
    )
)


#: The field of the ``status`` answer that counts what each per-cell command reports.
_COUNTED_BY: Final = {
    "cellVoltages": "number_of_cells",
    "cellTemperatures": "number_of_temperature_sensors",
    "cellBalanceState": "number_of_cells",
}


def counted_command(command: str, status: Mapping[str, Value]) -> str:
    """Return the per-cell ``command`` limited to the count a ``status`` answer reports.

    ``"cellVoltages13"`` for a 13-cell pack; a count that is missing or out of range, or a
    command that counts nothing, leaves ``command`` as it is.
    """
    key = _COUNTED_BY.get(command)
    if key is None:
        return command
    count = status.get(key)
    text = str(count) if isinstance(count, int) and not isinstance(count, bool) else ""
    try:
        _COUNTS[command].validate(text)
    except InvalidParameterError:
        text = ""
    return command + text


def counted_commands(status: Mapping[str, Value]) -> tuple[str, ...]:
    """Return the per-cell commands limited to the counts a ``status`` answer reports.

    ``("cellVoltages16", "cellTemperatures2", "cellBalanceState16")`` for a 16-cell pack with two
    sensors; a count that is missing or out of range leaves that command without one.
    """
    return tuple(counted_command(command, status) for command in _COUNTED_BY)


# -- protocol ----------------------------------------------------------------------------------


def _data_id(command: Command) -> int:
    data_id = command.options["data_id"]
    if not isinstance(data_id, int):  # pragma: no cover - table bug
        raise TypeError(f"{command.name}: data_id must be an int")
    return data_id


class DALY(FramedProtocol):
    """Daly BMS, host address 0x80 (Daly protocol V1.0's PC address; V1.2's Bluetooth one)."""

    id: ClassVar[str] = "daly"
    description: ClassVar[str] = "Daly BMS over UART/RS485, host address 0x80"
    commands = COMMANDS
    settings = SETTINGS
    status_commands: ClassVar[tuple[str, ...]] = (
        "SOC",
        "cellMinMaxVoltages",
        "cellMinMaxTemps",
        "mosStatus",
        "status",
        "cellVoltages",
        "cellTemperatures",
        "cellBalanceState",
        "failureCodes",
    )
    settings_commands: ClassVar[tuple[str, ...]] = ("mosStatus", "SOC")
    id_commands: ClassVar[tuple[str, ...]] = ("status",)
    #: The host's address put in every request.
    address: ClassVar[int] = 0x80

    def status_request(self, command: str, answers: Mapping[str, Result]) -> str:
        """Poll the per-cell commands counted by the ``status`` answer (``cellVoltages13``).

        The BMS then answers exactly its cells and sensors, and the answer ends after the
        frames they need: a pack whose last frame is full never leaves the read waiting for a
        padding frame that its firmware does not send. Without a ``status`` answer (this poll's
        or the last one's) the command goes as listed.
        """
        status = answers.get("status")
        return command if status is None else counted_command(command, status)

    # -- requests ---------------------------------------------------------------------------

    def frame(self, command: Command, text: str) -> bytes:
        """Build ``A5`` address id ``08`` data checksum, then LF as the reference sends it."""
        param = text[len(command.name) :]
        if isinstance(command.param, SocParam):
            data = soc_bytes(param)
        elif command.kind is Kind.SETTER:
            data = bytes((int(param),)) + bytes(7)
        else:
            data = bytes(DATA_LENGTH)
        body = bytes((START, self.address, _data_id(command), DATA_LENGTH)) + data
        return body + bytes((checksum(body),)) + b"\n"

    # -- answers ----------------------------------------------------------------------------

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where the answer lies: one 13-byte frame, or the frames of a multi-frame answer.

        An answer frame starts ``A5 01 <data id> 08``; what comes before the first one (the
        request echoed by an adapter, frames for other data ids, noise) is skipped (see
        :mod:`.answers`). Cell voltages and temperatures come as frames numbered from 1; frames
        numbered otherwise before frame 1 are the stale tail of an earlier answer. The answer is
        complete:

        * with a count (``cellVoltages16``), after the frames that count needs: ceil(16 / 3) = 6;
        * without one, after the first frame whose last value is padding (zero: the BMS pads
          only after the last cell, so no value can follow) or after the 16th frame, whichever
          comes first. A pack whose last frame is full and whose BMS then stops (cell count a
          multiple of 3 on firmware that sends no padding frame) never completes: the exchange
          ends with the transport's timeout. Use the counted command for such packs;
          :func:`counted_commands` makes them from the ``status`` answer, and
          ``Device.get_status`` polls them (:meth:`status_request`).

        A frame that breaks the numbered run ends the answer there, for ``decode`` to judge.
        """
        header = bytes((START, BMS_ADDRESS, _data_id(command), DATA_LENGTH))
        spec = command.fields[0]
        start = buffer.find(header)
        if not isinstance(spec, FrameSeries):
            if start < 0 or len(buffer) < start + FRAME_SIZE:
                return None
            return start, start + FRAME_SIZE
        # The first frame of the run: numbered 1.
        while start >= 0 and len(buffer) > start + 4 and buffer[start + 4] != 1:
            start = buffer.find(header, start + 1)
        if start < 0:
            return None
        param = sent[len(command.name) :]
        needed = -(-int(param) // spec.per_frame) if param.isdigit() else None
        frames = 0
        while True:
            at = start + frames * FRAME_SIZE
            head = buffer[at : at + 5]
            if head != (header + bytes((frames + 1,)))[: len(head)]:
                return start, at  # the run broke: hand over what came, decode judges it
            if len(buffer) < at + FRAME_SIZE:
                return None
            frames += 1
            last = spec.frame_struct.unpack_from(buffer, at + 5)[-1]
            if frames == needed or (needed is None and (frames >= spec.max_frames or not last)):
                return start, at + FRAME_SIZE

    def _data(self, command: Command, chunk: bytes, sent: str, number: int) -> bytes:
        """Check one 13-byte frame; return its 8 data bytes."""
        where = f"{sent}: frame {number}" if number else sent
        if chunk[0] != START:
            raise FrameError(f"{where} starts with {chunk[0]:#04x}, not 0xa5")
        if checksum(chunk[:12]) != chunk[12]:
            raise CRCError(
                f"{where}: checksum {chunk[12]:#04x}, expected {checksum(chunk[:12]):#04x}"
            )
        if chunk[1] != BMS_ADDRESS:
            raise FrameError(f"{where} comes from address {chunk[1]:#04x}, not the BMS (0x01)")
        data_id = _data_id(command)
        if chunk[2] != data_id:
            raise FrameError(f"{where} carries data id {chunk[2]:#04x}, not {data_id:#04x}")
        if chunk[3] != DATA_LENGTH:
            raise FrameError(f"{where} declares {chunk[3]} data bytes, not 8")
        return chunk[4:12]

    def _not_echo(self, frame: bytes, sent: str) -> None:
        if frame[:FRAME_SIZE] == self.build_request(sent)[:FRAME_SIZE]:
            raise EchoError(f"{sent}: the request came back instead of an answer")

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Validate a one-frame answer and return its 8 data bytes."""
        self._not_echo(frame, sent)
        if len(frame) < FRAME_SIZE:
            raise TruncatedFrameError(f"{sent}: answer has {len(frame)} of 13 bytes")
        if len(frame) > FRAME_SIZE:
            raise FrameError(f"{sent}: {len(frame) - FRAME_SIZE} unexpected bytes after the frame")
        return self._data(command, frame, sent, 0)

    def read(self, command: Command, frame: bytes, sent: str) -> Out:
        """Decode one frame through the layout, or the frames of a multi-frame answer."""
        spec = command.fields[0]
        param = self.resolve(sent)[1]
        if isinstance(spec, FrameSeries):
            return self._read_frames(command, spec, frame, sent, int(param) if param else None)
        if command.kind is Kind.SETTER:
            return self._acknowledge(command, self.check(command, frame, sent), sent, param)
        if isinstance(spec, CellBits) and param:
            out: Out = {}
            spec.read_first(self.check(command, frame, sent), out, int(param))
            return out
        return super().read(command, frame, sent)

    def _acknowledge(self, command: Command, data: bytes, sent: str, param: str) -> Out:
        """Check a setter's answer: the BMS echoes the switch state, or 1 for a written SOC."""
        reply = command.options["reply"]
        expected = reply if isinstance(reply, int) else int(param)
        if data[0] != expected:
            raise NAKError(f"{sent}: the BMS answered {data[0]:#04x}, not {expected:#04x}")
        return {command.fields[0].key: "ACK"}

    def _read_frames(
        self, command: Command, spec: FrameSeries, frame: bytes, sent: str, count: int | None
    ) -> Out:
        """Check every frame of a multi-frame answer, then report its values."""
        self._not_echo(frame, sent)
        complete, cut = divmod(len(frame), FRAME_SIZE)
        if not complete:
            raise TruncatedFrameError(f"{sent}: answer has {len(frame)} of 13 bytes")
        if complete > spec.max_frames:
            raise FrameError(f"{sent}: {complete} frames; the BMS sends at most {spec.max_frames}")
        frames = [
            self._data(command, frame[i * FRAME_SIZE : (i + 1) * FRAME_SIZE], sent, i + 1)
            for i in range(complete)
        ]
        for number, data in enumerate(frames, 1):
            if data[0] != number:
                raise FrameError(f"{sent}: frame {number} is numbered {data[0]}")
        positions = spec.per_frame * complete
        if count is not None and positions < count:
            needed = -(-count // spec.per_frame)
            raise TruncatedFrameError(
                f"{sent}: {count} values need {needed} frames, got {complete}"
            )
        if cut:
            positions += self._cut_frame(command, spec, frame, sent, frames, count)
        out: Out = {}
        spec.read_frames(frames, positions, count, out)
        return out

    def _cut_frame(
        self,
        command: Command,
        spec: FrameSeries,
        frame: bytes,
        sent: str,
        frames: list[bytes],
        count: int | None,
    ) -> int:
        """Accept a last frame cut short only where it can hold no value; return its positions.

        Its bytes must be the start of the next frame. With a count, the frames before it
        already hold every value. Without one, the last complete frame must end in padding (the
        BMS pads only after the last cell), so the cut frame is padding too: its positions are
        listed as the reference lists them, once its frame number has arrived.
        """
        number = len(frames) + 1
        tail = frame[len(frames) * FRAME_SIZE :]
        if number > spec.max_frames:
            raise FrameError(f"{sent}: bytes after frame {spec.max_frames}, the last there can be")
        expected = bytes((START, BMS_ADDRESS, _data_id(command), DATA_LENGTH, number))
        if tail[:5] != expected[: len(tail)]:
            raise FrameError(f"{sent}: the {len(tail)} bytes after frame {number - 1} are no frame")
        if count is not None:
            return 0
        if spec.frame_struct.unpack_from(frames[-1], 1)[-1]:
            raise TruncatedFrameError(f"{sent}: frame {number} is cut short and may hold values")
        return spec.per_frame if len(tail) >= 5 else 0
