"""The physics behind simulated numbers: sun, household load, battery, grid, heat.

A :class:`Plant` is a small off-grid installation driven by a clock: PV power follows a daily
curve under drifting clouds, the load has morning and evening peaks, the battery's state of
charge integrates the current that flows in or out, and temperatures follow the power through
the unit. Simulators of any family read their live values from it; it does no I/O and takes
its randomness from the simulator's seeded generator, so a fixed clock and seed give the same
numbers every run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import math
import random
from typing import Literal

#: Integration step: state is advanced in steps of at most this many seconds.
STEP = 60.0
#: A clock jump longer than this is not integrated step by step (the unit "was off").
MAX_CATCH_UP = 2 * 86400.0
#: State of charge at which an inverter on battery falls back to the grid, and returns.
LOW_SOC = 15.0
RETURN_SOC = 30.0

Mode = Literal["battery", "line"]


def _bump(hour: float, centre: float, width: float) -> float:
    """Return a bell curve of height 1 around ``centre`` (hours)."""
    return math.exp(-(((hour - centre) / width) ** 2))


def sun(hour: float) -> float:
    """Return the clear-sky PV fraction (0…1) at local ``hour``: zero at night, 1 at noon."""
    return float(max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0)) ** 1.5)


#: The integral of :func:`sun` over a day, in hours: a day's PV shape sums to one with it.
SUN_HOURS = sum(sun(24 * (index + 0.5) / 960) for index in range(960)) * 24 / 960


class Plant:
    """An off-grid installation's state, advanced by :meth:`advance` as the clock moves."""

    def __init__(
        self,
        now: float,
        rng: random.Random,
        *,
        utc_offset: float,
        battery_ah: float = 200.0,
        pv_peak_w: float = 4000.0,
        rated_w: float = 5000.0,
        soc: float = 80.0,
    ) -> None:
        """Start at ``now`` (clock seconds); ``utc_offset`` (seconds) gives the local time."""
        self.rng = rng
        self.utc_offset = utc_offset
        self.battery_ah = battery_ah
        self.pv_peak_w = pv_peak_w
        self.rated_w = rated_w
        self.soc = soc
        self.cloud = 0.9
        self.temperature = 32.0
        self.mode: Mode = "battery"
        #: Inputs the simulator sets from the unit's settings before advancing.
        self.utility_first = False
        self.ac_charge_allowed = True
        self.load_enabled = True
        #: The charger's current limit (A), None for none.
        self.max_charge_a: float | None = None
        self.pv_w = 0.0
        self.load_w = 0.0
        self.ac_charge_w = 0.0
        self.battery_current = 0.0
        self.pv_total_wh = 2_388_000.0
        self.load_total_wh = 3_105_000.0
        self.pv_today_wh = 0.0
        self.load_today_wh = 0.0
        self.pv_hour_wh = 0.0
        self.load_hour_wh = 0.0
        self.last = now
        self._available = 0.0
        self._demand = 0.0
        self._hour_key = self._key(now, 10)
        # Today so far, as a typical day would have gone until now.
        hour = self.hour(now)
        elapsed = sum(sun(hour * (i + 0.5) / 96) for i in range(96)) * hour / 96
        self.pv_today_wh = self.typical_day("pv", self.local(now).date()) * elapsed / SUN_HOURS
        self.load_today_wh = self.typical_day("load", self.local(now).date()) * hour / 24
        self._step(now, 0.0)

    # -- time -------------------------------------------------------------------------------

    def local(self, now: float) -> datetime:
        """Return the local wall-clock time at clock ``now`` (naive)."""
        return datetime.fromtimestamp(now + self.utc_offset, UTC).replace(tzinfo=None)

    def _key(self, now: float, digits: int) -> str:
        """``YYYYMMDDHH`` of ``now``, cut to ``digits``."""
        return self.local(now).strftime("%Y%m%d%H")[:digits]

    def hour(self, now: float) -> float:
        """Local hour of day with fraction."""
        moment = self.local(now)
        return moment.hour + moment.minute / 60 + moment.second / 3600

    def advance(self, now: float) -> None:
        """Integrate from the last call to ``now`` in steps of at most :data:`STEP` seconds."""
        self._update_mode()
        elapsed = now - self.last
        if elapsed <= 0:
            # No time passed (or the clock went back): settle on the inputs just set.
            self.last = now
            self._flows()
            return
        start = max(self.last, now - MAX_CATCH_UP)
        steps = max(1, math.ceil((now - start) / STEP))
        dt = (now - start) / steps
        for index in range(1, steps + 1):
            self._step(start + index * dt, dt)
        self.last = now

    # -- the model --------------------------------------------------------------------------

    @property
    def battery_voltage(self) -> float:
        """Terminal voltage of a 16-cell LiFePO4 bank: state of charge plus I·R."""
        return 46.4 + 0.08 * self.soc + 0.004 * self.battery_current

    def _update_mode(self) -> None:
        """Battery mode until the battery runs low (or the unit is set to utility first)."""
        if self.utility_first or (self.mode == "battery" and self.soc <= LOW_SOC):
            self.mode = "line"
        elif self.mode == "line" and self.soc >= RETURN_SOC:
            self.mode = "battery"

    def _step(self, now: float, dt: float) -> None:
        """Advance ``dt`` seconds ending at ``now``: new sun and load, then the flows."""
        hour = self.hour(now)
        rng = self.rng
        self.cloud = min(1.0, max(0.45, self.cloud + rng.gauss(0, 0.02)))
        self._available = self.pv_peak_w * sun(hour) * self.cloud
        demand = 320 + 650 * _bump(hour, 19.5, 2.0) + 380 * _bump(hour, 7.5, 1.2)
        self._demand = max(60.0, demand + rng.gauss(0, 25))
        self._flows()
        self.soc = min(100.0, max(0.0, self.soc + self.battery_current * dt / 36 / self.battery_ah))
        throughput = self.load_w + self.ac_charge_w + self.pv_w
        target = 25 + 35 * throughput / self.rated_w
        self.temperature += (target - self.temperature) * min(1.0, dt / 900) + rng.gauss(0, 0.05)
        self._count(now, dt, self.pv_w, self.load_w)

    def _flows(self) -> None:
        """Share the sun and the demand between load, battery and grid, as the settings say."""
        self._update_mode()
        available = self._available
        load = self._demand if self.load_enabled else 0.0
        line = self.mode == "line"
        self.ac_charge_w = 1200.0 if line and self.ac_charge_allowed and self.soc < 95 else 0.0
        net = available + self.ac_charge_w - (0.0 if line else load)
        room = 0.0 if self.soc >= 100 else math.inf
        if self.max_charge_a is not None:
            room = min(room, self.max_charge_a * self.battery_voltage)
        if net > room:
            # The charger takes no more than the battery may: AC charging stops, then PV curtails.
            excess = net - room
            cut = min(excess, self.ac_charge_w)
            self.ac_charge_w -= cut
            available = max(0.0, available - (excess - cut))
            net = room
        self.pv_w = available
        self.load_w = load
        self.battery_current = net / self.battery_voltage

    def _count(self, now: float, dt: float, pv: float, load: float) -> None:
        """Add this step's energy to the counters, restarting day and hour at their boundary."""
        key = self._key(now, 10)
        if key[:8] != self._hour_key[:8]:
            self.pv_today_wh = self.load_today_wh = 0.0
        if key != self._hour_key:
            self.pv_hour_wh = self.load_hour_wh = 0.0
            self._hour_key = key
        pv_wh, load_wh = pv * dt / 3600, load * dt / 3600
        self.pv_total_wh += pv_wh
        self.load_total_wh += load_wh
        self.pv_today_wh += pv_wh
        self.load_today_wh += load_wh
        self.pv_hour_wh += pv_wh
        self.load_hour_wh += load_wh

    # -- energy by period -------------------------------------------------------------------

    def typical_day(self, kind: Literal["pv", "load"], day: date) -> float:
        """Return the energy (Wh) of a past ``day``: seasonal, varied, the same on every call."""
        varied = random.Random(f"{kind}{day.isoformat()}").uniform(0.6, 1.0)
        if kind == "load":
            return 9_500.0 * (0.85 + 0.3 * varied)
        season = 0.75 + 0.25 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 172) / 365)
        return self.pv_peak_w * 5.0 * season * varied

    def energy(self, kind: Literal["pv", "load"], period: str, now: float) -> int:
        """Energy (Wh) of ``period`` (``YYYY``, ``YYYYMM``, ``YYYYMMDD`` or ``YYYYMMDDHH``).

        The running period includes what was counted today; a future one is zero.
        """
        current = self._key(now, len(period))
        if period > current:
            return 0
        today = self.local(now).date()
        counted_today = self.pv_today_wh if kind == "pv" else self.load_today_wh
        if len(period) == 10:
            if period == current:
                return round(self.pv_hour_wh if kind == "pv" else self.load_hour_wh)
            hour = int(period[8:])
            day = date(int(period[:4]), int(period[4:6]), int(period[6:8]))
            shape = sun(hour + 0.5) / SUN_HOURS if kind == "pv" else 1 / 24
            return round(self.typical_day(kind, day) * shape)
        start = date(int(period[:4]), int(period[4:6] or 1), int(period[6:8] or 1))
        if len(period) == 8:
            end = start + timedelta(days=1)
        elif len(period) == 6:
            end = (start + timedelta(days=32)).replace(day=1)
        else:
            end = start.replace(year=start.year + 1)
        total = counted_today if start <= today < end else 0.0
        day = start
        while day < min(end, today):
            total += self.typical_day(kind, day)
            day += timedelta(days=1)
        return round(total)
