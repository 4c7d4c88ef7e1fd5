"""Daly BMS simulator (daly: host address 0x80, daly40: 0x40), over UART, RS485 or Bluetooth.

A request is 13 bytes ``A5 <host> <data id> 08 <8 data bytes> <sum>`` (a line feed after it
is ignored, as the reference sends one). Only requests from the host address of the protocol
are answered — a BMS listens to one of the two — and frames with a bad sum or an unknown data
id get silence. Answers come from address ``01`` with the request's data id. Cell voltages
are 16 numbered frames, temperatures the frames the sensors need and one more, padded with
zeros after the last value, as the captures in the reference show (``padding=False``: only the
frames the values need, as firmware that sends no padding frame does). Setters: ``D9``/``DA`` switch the discharge/charge MOS and echo
the state now in force (a value other than 0/1 leaves it, so the echo refuses); ``21`` sets the
state of charge (and the clock) and answers 1, or 0 for more than 100 %.
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Final

from mppsolar_lib.protocols.daly import (
    BMS_ADDRESS,
    DATA_LENGTH,
    FRAME_SIZE,
    MAX_FRAMES,
    START,
    checksum as daly_sum,
)
from mppsolar_lib.simulator.battery import BatterySimulator

SOC: Final = 0x90
CELL_RANGE: Final = 0x91
TEMPERATURE_RANGE: Final = 0x92
MOS: Final = 0x93
STATUS: Final = 0x94
CELL_VOLTAGES: Final = 0x95
TEMPERATURES: Final = 0x96
BALANCING: Final = 0x97
FAILURES: Final = 0x98
SET_DISCHARGE_MOS: Final = 0xD9
SET_CHARGE_MOS: Final = 0xDA
SET_SOC: Final = 0x21

#: Spread between cells (V) above which the BMS raises "cell voltage difference level 1".
DIFFERENCE_ALARM: Final = 0.1


def frame(data_id: int, data: bytes) -> bytes:
    """Frame a BMS answer: ``A5 01 id 08`` + 8 data bytes + sum."""
    body = bytes((START, BMS_ADDRESS, data_id, DATA_LENGTH)) + data.ljust(DATA_LENGTH, b"\x00")
    return body + bytes((daly_sum(body),))


class DalySimulator(BatterySimulator):
    """A Daly BMS about a :class:`~mppsolar_lib.simulator.battery.Pack`."""

    def __init__(
        self,
        protocol_id: str = "daly",
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        cells: int = 16,
        capacity: float = 280.0,
        soc: float = 62.0,
        sensors: int = 2,
        padding: bool = True,
    ) -> None:
        """Answer the host address of ``protocol_id`` about a pack of ``cells`` cells.

        ``padding=False``: cell voltages and temperatures come in the frames their values
        need, no zero-padded frame after them.
        """
        super().__init__(
            protocol_id,
            clock=clock,
            seed=seed,
            cells=cells,
            capacity=capacity,
            soc=soc,
            sensors=sensors,
        )
        self.host: int = getattr(self.protocol, "address", 0x80)
        self.padding = padding
        self.life = 0
        #: The BMS clock last set with ``setSOC…@…`` (YY MM DD hh mm ss), if any.
        self.clock_set: bytes | None = None

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split a byte stream into 13-byte ``A5`` frames (the line feed after one is dropped)."""
        requests: list[bytes] = []
        while True:
            start = buffer.find(bytes((START,)))
            if start < 0:
                return requests, b""
            buffer = buffer[start:]
            if len(buffer) < FRAME_SIZE:
                return requests, buffer
            requests.append(buffer[:FRAME_SIZE])
            buffer = buffer[FRAME_SIZE:]

    def handle(self, request: bytes) -> bytes | None:
        """Answer one request frame."""
        request = request.rstrip(b"\n")
        if len(request) != FRAME_SIZE or request[0] != START or request[3] != DATA_LENGTH:
            return None
        if daly_sum(request[:12]) != request[12] or request[1] != self.host:
            return None
        self.pack.advance()
        data_id, data = request[2], request[4:12]
        answer = self._answer(data_id, data)
        if answer is None:
            return None
        if isinstance(answer, list):
            return b"".join(frame(data_id, part) for part in answer)
        return frame(data_id, answer)

    def _answer(self, data_id: int, data: bytes) -> bytes | list[bytes] | None:
        pack = self.pack
        volts = pack.voltages
        temps = pack.temperatures
        if data_id == SOC:
            return (
                _u(round(pack.voltage * 10), 2)
                + _u(round(pack.voltage * 10), 2)
                + _u(round(pack.current * 10) + 30000, 2)
                + _u(round(pack.soc * 10), 2)
            )
        if data_id == CELL_RANGE:
            high, low = max(volts), min(volts)
            return (
                _u(round(high * 1000), 2)
                + bytes((volts.index(high) + 1,))
                + _u(round(low * 1000), 2)
                + bytes((volts.index(low) + 1,))
            )
        if data_id == TEMPERATURE_RANGE:
            high, low = max(temps), min(temps)
            return bytes(
                (round(high) + 40, temps.index(high) + 1, round(low) + 40, temps.index(low) + 1)
            )
        if data_id == MOS:
            self.life = (self.life + 1) & 0xFF
            state = 0 if abs(pack.current) < 0.1 else 1 if pack.current > 0 else 2
            return bytes(
                (state, int(pack.charge_enabled), int(pack.discharge_enabled), self.life)
            ) + _u(round(pack.remaining * 1000), 4)
        if data_id == STATUS:
            dio = 0b0000_0001 if pack.charge_enabled else 0
            return (
                bytes((pack.cell_count, len(temps), int(pack.current > 0), 1, dio))
                + _u(pack.cycles, 2)
                + b"\x00"
            )
        if data_id == CELL_VOLTAGES:
            needed = MAX_FRAMES if self.padding else -(-len(volts) // 3)
            return _numbered([_u(round(v * 1000), 2) for v in volts], 3, needed)
        if data_id == TEMPERATURES:
            # Temperatures: the frames the sensors need and one padding frame (reference capture).
            needed = -(-len(temps) // 7) + (1 if self.padding else 0)
            return _numbered([bytes((round(t) + 40,)) for t in temps], 7, needed)
        if data_id == BALANCING:
            bits = sum(1 << i for i, on in enumerate(pack.balancing_cells) if on)
            return bits.to_bytes(8, "little")
        if data_id == FAILURES:
            alarm = 1 if pack.spread > DIFFERENCE_ALARM else 0
            return bytes((0, 0, 0, alarm, 0, 0, 0, 0))
        return self._set(data_id, data)

    def _set(self, data_id: int, data: bytes) -> bytes | None:
        pack = self.pack
        if data_id in (SET_CHARGE_MOS, SET_DISCHARGE_MOS):
            charge = data_id == SET_CHARGE_MOS
            if data[0] in (0, 1):
                if charge:
                    pack.charge_enabled = bool(data[0])
                else:
                    pack.discharge_enabled = bool(data[0])
                pack.refresh_current()
            state = pack.charge_enabled if charge else pack.discharge_enabled
            return bytes((int(state),))
        if data_id == SET_SOC:
            tenths = int.from_bytes(data[6:8], "big")
            if tenths > 1000:
                return b"\x00"
            pack.soc = tenths / 10
            if any(data[:6]):
                self.clock_set = bytes(data[:6])
            return b"\x01"
        return None  # a data id this BMS does not know: silence


def _numbered(values: list[bytes], per_frame: int, count: int = MAX_FRAMES) -> list[bytes]:
    """Spread values over ``count`` numbered frames, zero-padded after the last value."""
    frames = []
    for number in range(1, min(count, MAX_FRAMES) + 1):
        chunk = b"".join(values[(number - 1) * per_frame : number * per_frame])
        frames.append((bytes((number,)) + chunk).ljust(DATA_LENGTH, b"\x00"))
    return frames


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


#: Simulator class by protocol id (registered by :mod:`mppsolar_lib.simulator`).
SIMULATORS: Final = {"daly": DalySimulator, "daly40": DalySimulator}
