"""Victron VE.Direct simulator: a SmartShunt watching a pack, in text and HEX mode.

Text mode: the device talks unasked. :meth:`VeDirectSimulator.unsolicited` returns the next
block each call — the main block (voltage, current, power, consumed Ah, state of charge, time to
go, alarms) and the history block (``H1``…``H18``) in turn, as BMV and SmartShunt units
alternate them — checksummed so that every byte of a block adds up to 0. The serving layer
paces them (a real device sends one a second). Every third main block carries an asynchronous
HEX frame (``:A`` state of charge) in the middle of a line, as devices do in HEX mode.

HEX mode: :meth:`VeDirectSimulator.handle` answers the HEX frames in a request. Get (``7``) and
set (``8``) of the battery registers (capacity, charged voltage, tail current … discharge
floor), get of state of charge, time to go and consumed Ah; ping (``1``) answers the firmware
version. A set outside the register's range or off its step is refused (flags ``04``, parameter
error); a set of a read-only register gets flags ``02`` (not supported), an unknown register
flags ``01`` (unknown id); a frame with a bad check byte the frame-error answer (``:4AAAA…``),
an unknown command nibble the unknown-command answer (``:3…``). Setting the capacity changes
the pack's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
import re
import time
from typing import Final

from mppsolar_lib.errors import FrameError
from mppsolar_lib.protocols.vedirect import (
    BATTERY_SETTINGS,
    FRAME_ERROR,
    GET,
    SET,
    UNKNOWN_COMMAND,
    hex_frame,
    parse_hex_frame,
)
from mppsolar_lib.simulator.battery import BatterySimulator

PING: Final = 0x1
PING_ANSWER: Final = 0x5
ASYNC: Final = 0xA
FIRMWARE: Final = 0x4190  # 4.19, as a ping answer carries it
SOC_REGISTER: Final = 0x0FFF
TTG_REGISTER: Final = 0x0FFE
CONSUMED_REGISTER: Final = 0x0FFC
UNKNOWN_ID: Final = 0x01
NOT_SUPPORTED: Final = 0x02
PARAMETER_ERROR: Final = 0x04

_FRAME: Final = re.compile(rb":[0-9A-Fa-f]*\n")

#: Battery register id -> (setting, default value in the register's unit).
_DEFAULTS: Final = {
    "batteryCapacity": Decimal(280),
    "chargedVoltage": Decimal("55.2"),
    "tailCurrent": Decimal("4.0"),
    "chargedDetectionTime": Decimal(3),
    "chargeEfficiency": Decimal(99),
    "peukertCoefficient": Decimal("1.05"),
    "currentThreshold": Decimal("0.10"),
    "ttgDeltaT": Decimal(3),
    "dischargeFloor": Decimal("10.0"),
}


class VeDirectSimulator(BatterySimulator):
    """A SmartShunt 500A/50mV on a pack of ``cells`` LiFePO4 cells."""

    #: One text block a second, as Victron devices send them.
    stream_interval = 1.0

    def __init__(
        self,
        protocol_id: str = "ved",
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        cells: int = 16,
        capacity: float = 280.0,
        soc: float = 62.0,
        async_updates: bool = True,
        serial: str | None = None,
    ) -> None:
        """Watch a pack of ``cells`` cells; ``async_updates`` puts ``:A`` frames in the text.

        ``serial`` is sent as ``SER#`` in the main block (SmartShunts send none; chargers and
        inverters do).
        """
        super().__init__(
            protocol_id, clock=clock, seed=seed, cells=cells, capacity=capacity, soc=soc
        )
        self.async_updates = async_updates
        self.serial = serial
        self.registers = {s.register.id: s for s in BATTERY_SETTINGS}
        self.values = {s.register.id: _DEFAULTS[s.command] for s in BATTERY_SETTINGS}
        self.values[BATTERY_SETTINGS[0].register.id] = Decimal(str(round(capacity)))
        self.blocks = 0
        self.lowest = self.highest = 0.0

    # -- text mode ------------------------------------------------------------------------------

    def unsolicited(self) -> bytes:
        """Return the next text block (main and history in turn)."""
        self.pack.advance()
        pack = self.pack
        volts = pack.voltage
        self.lowest = min(self.lowest or volts, volts)
        self.highest = max(self.highest, volts)
        self.blocks += 1
        if self.blocks % 2 == 0:
            return block(self._history())
        records = self._main()
        if self.async_updates and self.blocks % 6 == 1:
            soc = round(self.pack.soc * 100).to_bytes(2, "little")
            update = hex_frame(ASYNC, SOC_REGISTER.to_bytes(2, "little") + b"\x00" + soc)
            return block(records, splice=update)
        return block(records)

    def _main(self) -> list[tuple[str, str]]:
        pack = self.pack
        consumed = pack.capacity - pack.remaining
        floor = float(self.values[0x1008])
        if pack.current >= 0:
            ttg = -1
        else:
            left = max(pack.soc - floor, 0.0) / 100 * pack.capacity
            ttg = round(left / -pack.current * 60)
        records = [
            ("PID", "0xA389"),
            ("V", str(round(pack.voltage * 1000))),
            ("I", str(round(pack.current * 1000))),
            ("P", str(round(pack.power))),
            ("CE", str(-round(consumed * 1000))),
            ("SOC", str(round(pack.soc * 10))),
            ("TTG", str(ttg)),
            ("Alarm", "OFF"),
            ("Relay", "OFF"),
            ("AR", "0"),
            ("BMV", "SmartShunt 500A/50mV"),
            ("FW", "0419"),
            ("MON", "0"),
        ]
        if self.serial is not None:
            records.insert(-1, ("SER#", self.serial))
        return records

    def _history(self) -> list[tuple[str, str]]:
        pack = self.pack
        drawn = round(pack.discharged_ah * 1000)
        return [
            ("H1", str(-round(pack.capacity * 0.62 * 1000))),
            ("H2", str(-round(pack.capacity * 0.31 * 1000))),
            ("H3", str(-round(pack.capacity * 0.4 * 1000))),
            ("H4", str(pack.cycles)),
            ("H5", "0"),
            ("H6", str(-drawn)),
            ("H7", str(round(self.lowest * 1000))),
            ("H8", str(round(self.highest * 1000))),
            ("H9", str(round(pack.uptime % 86400))),
            ("H10", "12"),
            ("H11", "0"),
            ("H12", "0"),
            ("H15", "0"),
            ("H16", "0"),
            ("H17", str(round(pack.discharged_ah * pack.voltage / 10))),
            ("H18", str(round(pack.charged_ah * pack.voltage / 10))),
        ]

    # -- HEX mode -------------------------------------------------------------------------------

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        r"""Split a byte stream into HEX frames (``:`` … ``\n``); other bytes are dropped."""
        requests: list[bytes] = []
        while True:
            start = buffer.find(b":")
            if start < 0:
                return requests, b""
            end = buffer.find(b"\n", start)
            if end < 0:
                return requests, buffer[start:]
            requests.append(buffer[start : end + 1])
            buffer = buffer[end + 1 :]

    def handle(self, request: bytes) -> bytes | None:
        """Answer every HEX frame in ``request``; text and noise get nothing."""
        answers = [self._answer(match.group(0)) for match in _FRAME.finditer(request)]
        return b"".join(answers) or None

    def _answer(self, frame: bytes) -> bytes:
        try:
            nibble, data = parse_hex_frame(frame)
        except FrameError:
            return hex_frame(FRAME_ERROR, b"\xaa\xaa")
        if nibble == PING:
            return hex_frame(PING_ANSWER, FIRMWARE.to_bytes(2, "little"))
        if nibble not in (GET, SET) or len(data) < 3:
            return hex_frame(UNKNOWN_COMMAND, bytes((nibble,)))
        self.pack.advance()
        register = int.from_bytes(data[:2], "little")
        head = data[:2]
        if nibble == GET:
            value = self._register(register)
            if value is None:
                return hex_frame(GET, head + bytes((UNKNOWN_ID,)))
            return hex_frame(GET, head + b"\x00" + value)
        return hex_frame(SET, head + self._write(register, data[3:]))

    def _register(self, register: int) -> bytes | None:
        """Return a register's value bytes, None for a register this device does not have."""
        pack = self.pack
        if register == SOC_REGISTER:
            return round(pack.soc * 100).to_bytes(2, "little")
        if register == TTG_REGISTER:
            if pack.current >= 0:
                return b"\xff\xff"  # not discharging: time to go is not available
            minutes = pack.remaining / -pack.current * 60
            return min(round(minutes), 0xFFFE).to_bytes(2, "little")
        if register == CONSUMED_REGISTER:
            consumed = pack.capacity - pack.remaining
            return round(-consumed * 10).to_bytes(4, "little", signed=True)
        setting = self.registers.get(register)
        if setting is None:
            return None
        return setting.register.encode(self.values[register])

    def _write(self, register: int, value: bytes) -> bytes:
        """Apply a set; return flags and the value now in force."""
        setting = self.registers.get(register)
        if setting is None:
            known = register in (SOC_REGISTER, TTG_REGISTER, CONSUMED_REGISTER)
            return bytes((NOT_SUPPORTED if known else UNKNOWN_ID,))
        spec = setting.register
        if len(value) != spec.struct.size:
            return bytes((PARAMETER_ERROR,))
        number = Decimal(spec.struct.unpack(value)[0]) * Decimal(str(spec.scale))
        low, high, step = Decimal(setting.minimum), Decimal(setting.maximum), Decimal(setting.step)
        if not low <= number <= high or (number - low) % step:
            return b"\x04" + spec.encode(self.values[register])
        self.values[register] = number
        if setting.command == "batteryCapacity":
            self.pack.capacity = float(number)
        return b"\x00" + value


def block(records: list[tuple[str, str]], splice: bytes = b"") -> bytes:
    r"""Return a text block: ``\r\n<label>\t<value>`` lines, then ``Checksum`` and its byte.

    ``splice`` (a HEX frame) goes in the middle of the second line: its bytes are not part of
    the text, so they do not count in the checksum.
    """
    text = b"".join(b"\r\n%s\t%s" % (label.encode(), value.encode()) for label, value in records)
    text += b"\r\nChecksum\t"
    text += bytes(((-sum(text)) & 0xFF,))
    if splice:
        second = text.index(b"\t", text.index(b"\r\n", 2)) + 1
        text = text[:second] + splice + text[second:]
    return text


#: Simulator class by protocol id (registered by :mod:`mppsolar_lib.simulator`).
SIMULATORS: Final = {"ved": VeDirectSimulator}
