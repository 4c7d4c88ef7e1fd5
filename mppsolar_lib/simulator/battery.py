"""A battery pack that lives on a clock: the state every battery-monitor simulator reports.

The pack current follows a day (charging by day, discharging at night) with a slower load
wiggle on top, and integrates into the state of charge; cell voltages follow a LiFePO4 open
circuit curve plus each cell's own offset, which drifts and — while the balancer works — shrinks
toward the others; temperatures follow the day and warm with the current. The charge and
discharge switches cut the current as a BMS's MOSFETs do. Everything is a pure function of the
clock and the seed, so a test with a fake clock sees exactly what it set up.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
import math
import random
import time
from typing import Final

from mppsolar_lib.simulator.base import Simulator

#: LiFePO4 open-circuit voltage per cell against state of charge (%), piecewise linear.
OCV_SOC: Final = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 100.0)
OCV_VOLTS: Final = (2.80, 3.05, 3.18, 3.24, 3.27, 3.29, 3.30, 3.31, 3.32, 3.33, 3.35, 3.38, 3.45)

DAY: Final = 86400.0
#: Period of the load wiggle on top of the daily current (s).
LOAD_PERIOD: Final = 613.0
#: How far a cell's offset may drift from the pack (V) and how fast (V per sqrt(s)).
MAX_OFFSET: Final = 0.040
DRIFT: Final = 0.00004
#: Time constant of the balancer pulling offsets together (s).
BALANCE_TAU: Final = 1800.0
#: Longest step integrated at once: a clock that jumps a year does not loop a year.
MAX_STEP: Final = DAY


def ocv(soc: float) -> float:
    """Return the open-circuit cell voltage (V) at ``soc`` percent."""
    soc = min(max(soc, 0.0), 100.0)
    index = min(bisect_right(OCV_SOC, soc), len(OCV_SOC) - 1)
    low_soc, high_soc = OCV_SOC[index - 1], OCV_SOC[index]
    low_v, high_v = OCV_VOLTS[index - 1], OCV_VOLTS[index]
    return low_v + (high_v - low_v) * (soc - low_soc) / (high_soc - low_soc)


class Pack:
    """A series pack of cells with a BMS: the state simulators read and setters change."""

    def __init__(
        self,
        clock: Callable[[], float],
        rng: random.Random,
        *,
        cells: int = 16,
        capacity: float = 280.0,
        soc: float = 62.0,
        amplitude: float = 30.0,
        sensors: int = 2,
    ) -> None:
        """Start at ``soc`` percent; ``amplitude`` is the peak of the daily current (A)."""
        self.clock = clock
        self.random = rng
        self.capacity = capacity
        self.soc = soc
        self.amplitude = amplitude
        self.offsets = [rng.uniform(-0.012, 0.012) for _ in range(cells)]
        self.resistances = [round(rng.uniform(0.045, 0.075), 3) for _ in range(cells)]
        self.sensor_bias = [rng.uniform(-0.8, 0.8) for _ in range(sensors)]
        self.charge_enabled = True
        self.discharge_enabled = True
        self.balancer_enabled = True
        #: Cell spread (V) above which the balancer works.
        self.balance_trigger = 0.005
        #: Cell voltage (V) above which the balancer may start.
        self.balance_start = 3.0
        self.max_balance_current = 1.0
        self.cycles = 17
        self.charged_ah = 4862.0
        self.discharged_ah = 4790.0
        self.started = clock()
        self._last = self.started
        self.current = self._current_at(self.started)

    # -- the clock ------------------------------------------------------------------------------

    def advance(self) -> None:
        """Bring the state up to the clock's time."""
        now = self.clock()
        step = min(max(now - self._last, 0.0), MAX_STEP)
        self._last = now
        current = self._current_at(now)
        self.current = current
        if step <= 0:
            return
        delta_ah = current * step / 3600
        self.soc = min(max(self.soc + delta_ah / self.capacity * 100, 0.0), 100.0)
        if delta_ah > 0:
            self.charged_ah += delta_ah
        else:
            self.discharged_ah -= delta_ah
        self.cycles = max(self.cycles, int(self.discharged_ah // self.capacity))
        sigma = DRIFT * math.sqrt(step)
        pull = math.exp(-step / BALANCE_TAU) if self.balancing else 1.0
        mean = sum(self.offsets) / len(self.offsets)
        self.offsets = [
            min(
                max(mean + (o - mean) * pull + self.random.gauss(0, sigma), -MAX_OFFSET), MAX_OFFSET
            )
            for o in self.offsets
        ]

    def _current_at(self, now: float) -> float:
        """Charging by day, discharging at night, a load wiggle; clipped by the switches."""
        current = self.amplitude * math.sin(2 * math.pi * now / DAY) + 0.2 * self.amplitude * (
            math.sin(2 * math.pi * now / LOAD_PERIOD)
        )
        if not self.charge_enabled or self.soc >= 100.0:
            current = min(current, 0.0)
        if not self.discharge_enabled or self.soc <= 0.0:
            current = max(current, 0.0)
        return round(current, 3)

    def refresh_current(self) -> None:
        """Apply a switch change to the current now (the MOSFETs act at once)."""
        self.current = self._current_at(self._last)

    # -- what a BMS measures --------------------------------------------------------------------

    @property
    def cell_count(self) -> int:
        """Number of cells in series."""
        return len(self.offsets)

    @property
    def voltages(self) -> list[float]:
        """Cell voltages (V), rounded to millivolts: OCV + offset + current through the cell."""
        base = ocv(self.soc)
        return [
            round(base + offset + self.current * resistance * 0.01, 3)
            for offset, resistance in zip(self.offsets, self.resistances, strict=True)
        ]

    @property
    def voltage(self) -> float:
        """Pack voltage (V)."""
        return round(sum(self.voltages), 3)

    @property
    def power(self) -> float:
        """Pack power (W), positive while charging."""
        return round(self.voltage * self.current, 3)

    @property
    def remaining(self) -> float:
        """Remaining capacity (Ah)."""
        return round(self.capacity * self.soc / 100, 3)

    @property
    def uptime(self) -> int:
        """Seconds since the BMS started (plus a few days it ran before)."""
        return int(self._last - self.started) + 1_234_567

    @property
    def spread(self) -> float:
        """Highest minus lowest cell voltage (V)."""
        volts = self.voltages
        return round(max(volts) - min(volts), 3)

    @property
    def balancing(self) -> bool:
        """Whether the balancer is moving charge now."""
        return (
            self.balancer_enabled
            and self.spread > self.balance_trigger
            and max(self.voltages) >= self.balance_start
        )

    @property
    def balancing_cells(self) -> list[bool]:
        """Per cell: being discharged by the balancer (the cells above the mean)."""
        if not self.balancing:
            return [False] * self.cell_count
        volts = self.voltages
        mean = sum(volts) / len(volts)
        return [v > mean + self.balance_trigger / 2 for v in volts]

    @property
    def balance_current(self) -> float:
        """Balancer current (A): positive while charging, negative while discharging."""
        if not self.balancing:
            return 0.0
        amps = min(self.max_balance_current, self.spread * 20)
        return round(amps if self.current >= 0 else -amps, 3)

    @property
    def temperatures(self) -> list[float]:
        """Battery probe temperatures (°C, one decimal): the day plus the current's heat."""
        day = math.sin(2 * math.pi * (self._last / DAY - 0.25))
        heat = 0.03 * abs(self.current)
        return [round(22.0 + 3.0 * day + heat + bias, 1) for bias in self.sensor_bias]

    @property
    def mos_temperature(self) -> float:
        """MOSFET temperature (°C): warmer than the cells with current."""
        return round(max(self.temperatures) + 1.5 + 0.08 * abs(self.current), 1)


class BatterySimulator(Simulator):
    """A simulator whose device watches a :class:`Pack` (JK, Daly, VE.Direct battery monitors)."""

    def __init__(
        self,
        protocol_id: str,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        cells: int = 16,
        capacity: float = 280.0,
        soc: float = 62.0,
        sensors: int = 2,
    ) -> None:
        """Speak ``protocol_id`` about a pack of ``cells`` cells and ``capacity`` Ah."""
        super().__init__(protocol_id, clock=clock, seed=seed)
        self.pack = Pack(
            clock, self.random, cells=cells, capacity=capacity, soc=soc, sensors=sensors
        )
