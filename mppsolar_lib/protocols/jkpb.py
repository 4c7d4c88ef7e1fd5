"""JKPB: JK-PB "inverter BMS" on RS485, Modbus RTU requests answered by JK records.

Request: a Modbus RTU "write multiple registers" (function ``10``) of one zero word to a trigger
register — ``01 10 16 1C 00 01 02 00 00`` + CRC-16/MODBUS, low byte first. ``161C`` asks for the
device information, ``161E`` for the settings, ``1620`` for the cell data.

Answer: a 300-byte JK record ``55 AA EB 90``, record type (``01`` settings, ``02`` cell data,
``03`` device info), frame counter, data, and at byte 299 the byte sum of bytes 0-298
(:func:`~mppsolar_lib.crc.sum8`); usually followed by the 8-byte Modbus response
(``addr 10 reg_hi reg_lo 00 01`` + CRC). Numbers in records are little-endian.

The records are JK's Bluetooth JK02_32S records, decoded with the Bluetooth protocols' layouts
(:func:`.jk02.cell_fields`, :func:`.jk02.settings_fields` for 32 cells,
:data:`.jkble.DEVICE_INFO_FIELDS`) and their keys. Differences: per-cell fields only up to the
highest enabled cell (the reference reports no per-cell keys here to line up with), battery
power signed like the current (the Bluetooth tables keep the reference's unsigned value),
``record_type`` as a label, and the device's passcodes not reported.

An answer is decoded by the record type it carries, not by the command it answers: the
reference's examples for ``getAdditionalInfo`` and ``getCellData`` are swapped (their Modbus
responses name registers ``1620`` and ``161E``), and a record describes itself. ``record_type``
says what came back. The reference only returns the frame as hex; ``response`` keeps that, and
the decoded fields sit beside it. As an *answer to a command*, though, only the command's own
record counts (:meth:`JKPB.matches`): the retrying ``Device`` takes a record of another type
(the late answer to an earlier trigger) as a stale reply and asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from mppsolar_lib.crc import crc16_modbus, sum8
from mppsolar_lib.errors import CRCError, FrameError, ProtocolError, TruncatedFrameError
from mppsolar_lib.protocols import jk02
from mppsolar_lib.protocols.answers import FramedProtocol, Span
from mppsolar_lib.protocols.base import derive, table
from mppsolar_lib.protocols.binary import BinSpec, Computed, Label
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Hints, Out, Result, default_hints
from mppsolar_lib.protocols.jkble import DEVICE_INFO_FIELDS, PASSCODES, RECORD_LENGTH, RECORD_START

MODBUS_RESPONSE: Final = 8
ADDRESS: Final = 0x01
WRITE_MULTIPLE: Final = 0x10
RECORD_TYPES: Final = {1: "Settings", 2: "Cell data", 3: "Device info"}

#: The whole frame as hex (the reference's only field): far too long for an HA state, hidden.
RAW: Final = Hints(entity_category="diagnostic", enabled_default=False)


def _response(record: bytes, spec: Computed, out: Out) -> None:
    out[spec.key] = record.hex()


def _power(record: bytes, spec: Computed, out: Out) -> None:
    """Power at 154 is unsigned: give it the sign of the current at 158 (negative = discharge)."""
    watts = int.from_bytes(record[154:158], "little") * 0.001
    current = int.from_bytes(record[158:162], "little", signed=True)
    out[spec.key] = round(-watts if current < 0 else watts, 3)


RESPONSE: Final = Computed("Response", 0, 0, _response, hints=RAW)
#: Replaces the Bluetooth layouts' hex record type.
RECORD_TYPE: Final = Label("Record Type", 4, RECORD_TYPES, hints=DIAGNOSTIC)
SIGNED_POWER: Final = Computed("Battery Power", 154, 8, _power, "W", default_hints("W"))


def record_query(
    name: str,
    description: str,
    layout: tuple[BinSpec, ...],
    *,
    register: int,
    record: int,
    replace: Mapping[str, BinSpec] | None = None,
) -> Command:
    """Define a trigger: ``layout`` (a Bluetooth record layout) with jkpb's own fields."""
    base = query(name, description, RESPONSE, *layout, register=register, record=record)
    return derive(base, {"record_type": RECORD_TYPE, **(replace or {})})


COMMANDS: Final[Mapping[str, Command]] = table(
    record_query(
        "getBalancerData",
        "Device information record: model, versions, serial number",
        tuple(spec for spec in DEVICE_INFO_FIELDS if spec.key not in PASSCODES),
        register=0x161C,
        record=3,
    ),
    record_query(
        "getAdditionalInfo",
        "Settings record: protection thresholds, switches",
        jk02.settings_fields(32, counted=True),
        register=0x161E,
        record=1,
    ),
    record_query(
        "getCellData",
        "Cell data record: cells, pack, temperatures, state",
        jk02.cell_fields(32, counted=True),
        register=0x1620,
        record=2,
        replace={"battery_power": SIGNED_POWER},
    ),
)


class JKPB(FramedProtocol):
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

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where the record and the 8-byte Modbus response after it lie.

        The record is 300 bytes from ``55 AA EB 90``; the BMS then sends ``01 10 reg 00 01``
        + CRC. A bare record is complete only once a byte arrives that cannot start that
        response: a unit that never sends it is answered by the transport's timeout, which the
        Modbus response saves on every other unit (it would otherwise arrive as the stale start
        of the next answer). The echo of the request and noise before the record are skipped.
        """
        start = buffer.find(RECORD_START)
        if start < 0 or len(buffer) < start + RECORD_LENGTH:
            return None
        end = start + RECORD_LENGTH
        tail = buffer[end : end + MODBUS_RESPONSE]
        if not tail:
            return None
        if tail[:2] != bytes((ADDRESS, WRITE_MULTIPLE))[: len(tail)]:
            return start, end
        return (start, end + MODBUS_RESPONSE) if len(tail) == MODBUS_RESPONSE else None

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Check the record (header, sum, type) and the Modbus response after it, if any."""
        if len(frame) < RECORD_LENGTH:
            raise TruncatedFrameError(f"{sent}: {len(frame)} bytes, a record has {RECORD_LENGTH}")
        if frame[:4] != RECORD_START:
            raise FrameError(f"{sent}: header {frame[:4].hex()}, not 55aaeb90")
        if sum8(frame[: RECORD_LENGTH - 1]) != frame[RECORD_LENGTH - 1]:
            raise CRCError(
                f"{sent}: record checksum {frame[RECORD_LENGTH - 1]:#04x} does not match"
            )
        if frame[4] not in self._by_record:
            raise FrameError(f"{sent}: unknown record type {frame[4]:#04x}")
        tail = frame[RECORD_LENGTH:]
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
        layout = self._by_record[result.raw[4]]
        if layout.name == result.command:
            return result
        return Result(result.command, result.values_by_key, result.raw, layout.info)

    def matches(self, command: str, answer: bytes | Result) -> bool:
        """Whether ``answer`` carries the record ``command`` triggers (and names its register).

        :meth:`decode` reads whichever record arrives, so a record of another type (a late
        answer to an earlier trigger) decodes too; as an answer to ``command`` it does not
        count. The Modbus response after the record, when the unit sends one, must name the
        command's trigger register as well.
        """
        if not isinstance(answer, Result):
            try:
                answer = self.decode(command, answer)
            except ProtocolError:
                return False
        raw = answer.raw
        definition, _ = self.resolve(command)
        if raw[4] != definition.options["record"]:
            return False
        tail = raw[RECORD_LENGTH:]
        register = cast("int", definition.options["register"])
        return not tail or tail[2:4] == register.to_bytes(2, "big")
