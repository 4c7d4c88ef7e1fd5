"""History for the charts: the bridge's memory, its prom files, and PostgreSQL, merged.

Three sources, each optional but the first:

- **memory** — the last ``size`` polls of every device, fed by the bridge's reading listeners;
- **prom files** — for devices with the ``prom_file`` output, the current file of each command
  and its hard-linked backups (``<file>.<n>``): each file is parsed once and read again only
  when its modification time changes (the file's time is the reading's: it is written as the
  reading arrives);
- **PostgreSQL** — for devices with ``postgres_url``, the rows of the ``mppsolar`` table the
  ``postgres`` output writes.

A point is one command's numeric values at one time (flags as 1/0, a list such as cell
voltages as ``key.0``, ``key.1``…; text is not charted). The sources overlap, so points are
merged by time and de-duplicated: the same command at the same millisecond is one point, and a
prom file's point is dropped when memory or the database holds the same command's same values
from up to :data:`PROM_WINDOW` seconds before the file was written (a file is written after
its reading arrives, later still after an outage).
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
import functools
import json
import logging
import math
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any, Final

from mppsolar_lib.outputs.base import Report
from mppsolar_lib.outputs.prom import PREFIX, series_name
from mppsolar_lib.protocols.fields import Field

if TYPE_CHECKING:
    from mppsolar_lib.bridge.model import DeviceConfig
    from mppsolar_lib.protocols import Protocol

_LOGGER = logging.getLogger(__name__)

#: Polls kept in memory per device.
HISTORY_SIZE: Final = 1000
#: Seconds a prom file may be written after the reading it holds.
PROM_WINDOW: Final = 3600.0
#: Rows one database query returns at most (a day of 10 s polls of 10 commands is 86 400).
ROW_LIMIT: Final = 200_000
#: Seconds a database query may take before the source is skipped.
QUERY_TIMEOUT: Final = 10.0

MEMORY: Final = "memory"
PROM_FILE: Final = "prom_file"
POSTGRES: Final = "postgres"

QUERY: Final = """
SELECT command, extract(epoch FROM updated)::float8 AS time, data::text AS data
FROM mppsolar
WHERE device = $1 AND updated >= to_timestamp($2) AND updated <= to_timestamp($3)
ORDER BY updated
LIMIT $4
"""
#: :data:`QUERY` keeping one row per command in every ``$5`` seconds (the first): the database
#: thins a day of 1 Hz readings out, so the bridge never reads and parses them all.
QUERY_STEP: Final = """
SELECT DISTINCT ON (command, floor(extract(epoch FROM updated) / $5))
    command, extract(epoch FROM updated)::float8 AS time, data::text AS data
FROM mppsolar
WHERE device = $1 AND updated >= to_timestamp($2) AND updated <= to_timestamp($3)
ORDER BY command, floor(extract(epoch FROM updated) / $5), updated
LIMIT $4
"""


@dataclass(frozen=True, slots=True)
class Point:
    """One command's numeric values at one time."""

    time: float
    command: str
    values: Mapping[str, float]


def numbers(items: Iterable[tuple[str, object]]) -> dict[str, float]:
    """Return the chartable values: numbers, flags as 1/0, lists as ``key.<index>``."""
    values: dict[str, float] = {}
    for key, value in items:
        if isinstance(value, bool):
            values[key] = 1 if value else 0
        elif isinstance(value, int | float):
            if math.isfinite(value):
                values[key] = value
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, int | float) and not isinstance(item, bool):
                    if math.isfinite(item):
                        values[f"{key}.{index}"] = item
    return values


#: Appended to a settings answer's key that a status answer also has (as Home Assistant does).
SETTING_SUFFIX: Final = "_setting"


@functools.cache
def _status_keys(protocol: Protocol) -> frozenset[str]:
    return frozenset(
        key for command in protocol.status_commands for key in protocol.commands[command].info
    )


@functools.cache
def _is_status(protocol: Protocol, command: str) -> bool:
    try:
        return protocol.resolve(command)[0].name in protocol.status_commands
    except Exception:  # noqa: BLE001 - a command this protocol cannot resolve: keep its keys
        return True


def shown_key(protocol: Protocol | None, command: str, key: str) -> str:
    """Return the key the pages know a command's field by.

    A rated or set value (PI30's QPIRI ``battery_voltage``) is not the measured one of the same
    key (QPIGS'): it becomes ``battery_voltage_setting``, so a dashboard tile or a chart never
    jumps between the two.
    """
    if protocol is None or _is_status(protocol, command):
        return key
    return key + SETTING_SUFFIX if key in _status_keys(protocol) else key


def renamed(protocol: Protocol | None, reports: Sequence[Report]) -> list[Report]:
    """Return ``reports`` with their keys as :func:`shown_key` gives them."""
    result = []
    for report in reports:
        rows = tuple(
            row
            if (key := shown_key(protocol, report.command, row.key)) == row.key
            else Field(key, f"{row.name} setting", row.value, row.unit, row.hints)
            for row in report.rows
        )
        result.append(Report(report.command, report.description, rows, report.raw, report.time))
    return result


def renamed_points(protocol: Protocol | None, points: Iterable[Point]) -> list[Point]:
    """Return ``points`` (from any source) with their keys as :func:`shown_key` gives them."""
    return [
        Point(
            point.time,
            point.command,
            {
                shown_key(protocol, point.command, key.partition(".")[0])
                + key[len(key.partition(".")[0]) :]: value
                for key, value in point.values.items()
            },
        )
        for point in points
    ]


def report_point(report: Report) -> Point | None:
    """Return a report's point (``None``: no time or nothing numeric)."""
    values = numbers((row.key, row.value) for row in report.rows)
    if report.time is None or not values:
        return None
    return Point(report.time, report.command, values)


class Memory:
    """The last polls of every device."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        """Keep ``size`` polls per device."""
        self.size = size
        self.polls: dict[str, deque[tuple[Point, ...]]] = {}
        #: Series name -> field key of every field seen (to read prom files back).
        self.series: dict[str, str] = {}

    def add(self, device: str, reports: Sequence[Report]) -> None:
        """Keep one poll (a reading listener)."""
        points = tuple(point for report in reports if (point := report_point(report)))
        for point in points:
            for key in point.values:
                base = key.partition(".")[0]
                self.series.setdefault(series_name(base, False), base)
        if points:
            self.polls.setdefault(device, deque(maxlen=self.size)).append(points)

    def points(self, device: str, start: float, end: float) -> list[Point]:
        """Return the device's points from ``start`` to ``end``."""
        return [
            point
            for poll in self.polls.get(device, ())
            for point in poll
            if start <= point.time <= end
        ]


# -- prom files ---------------------------------------------------------------------------------

_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda match: "\n" if match.group(1) == "n" else match.group(1), value)


def parse_labels(text: str) -> dict[str, str] | None:
    """Return the labels of a sample (``None``: not valid exposition syntax)."""
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            return None
        labels[match.group("name")] = _unescape(match.group("value"))
        position = match.end()
    return labels


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample of a prom file."""

    series: str
    labels: Mapping[str, str]
    value: float


def parse_exposition(text: str) -> Iterator[Sample]:
    """Yield the samples of Prometheus' text format (comments and bad lines skipped)."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            continue
        labels = parse_labels(match.group("labels") or "")
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        if labels is not None:
            yield Sample(match.group("name"), labels, value)


@dataclass(slots=True)
class _Parsed:
    mtime: int
    command: str | None
    samples: dict[str, float]


@dataclass(slots=True)
class PromFiles:
    """Read prom files and their backups, each parsed once per modification."""

    cache: dict[Path, _Parsed] = field(default_factory=dict)
    #: Files parsed so far (for tests and the benchmark: re-reads show here).
    parsed: int = 0

    @staticmethod
    def stem(device: DeviceConfig) -> str:
        """Return the start of the device's file names (as ``prom_file`` names them)."""
        return f"mpp-solar-{device.name}-".replace("/", "_").replace("\0", "_")

    def _read(self, path: Path, mtime: int, inverter: str) -> _Parsed:
        cached = self.cache.get(path)
        if cached is not None and cached.mtime == mtime:
            return cached
        self.parsed += 1
        command: str | None = None
        samples: dict[str, float] = {}
        for sample in parse_exposition(path.read_text(encoding="utf-8", errors="replace")):
            if not sample.series.startswith(PREFIX) or sample.labels.get("inverter") != inverter:
                continue
            if "value" in sample.labels:  # text: a label, not a number
                continue
            command = sample.labels.get("cmd", command)
            key = sample.series
            if "index" in sample.labels:
                key = f"{key}.{sample.labels['index']}"
            samples[key] = sample.value
        parsed = _Parsed(mtime, command, samples)
        self.cache[path] = parsed
        return parsed

    def points(
        self, device: DeviceConfig, start: float, end: float, series: Mapping[str, str]
    ) -> list[Point]:
        """Return the points of ``device``'s files written from ``start`` to ``end``.

        Blocking (file system): run it in a worker thread.
        """
        directory = Path(device.prom_output_dir)
        stem = self.stem(device)
        points: list[Point] = []
        seen: set[Path] = set()
        try:
            entries = list(directory.iterdir())
        except OSError:
            return points
        for path in entries:
            name = path.name
            if not name.startswith(stem) or ".prom" not in name:
                continue
            try:
                status = path.stat()
                parsed = self._read(path, status.st_mtime_ns, device.name)
            except OSError:
                continue  # rotated away between listing and reading
            seen.add(path)
            if parsed.command is None or not start <= status.st_mtime <= end:
                continue
            points.append(Point(status.st_mtime, parsed.command, _keys(parsed.samples, series)))
        # Forget files rotated away since (the cache would otherwise grow forever).
        for path in [path for path in self.cache if path.parent == directory]:
            if path not in seen and path.name.startswith(stem):
                del self.cache[path]
        return points


def _keys(samples: Mapping[str, float], series: Mapping[str, str]) -> dict[str, float]:
    """Turn series names back into field keys (those seen live; else the name unprefixed)."""
    values: dict[str, float] = {}
    for name, value in samples.items():
        base, dot, index = name.partition(".")
        key = series.get(base) or base.removeprefix(PREFIX)
        values[f"{key}{dot}{index}"] = value
    return values


# -- PostgreSQL ---------------------------------------------------------------------------------


class Postgres:
    """Read the ``postgres`` output's table; one small pool per database URL."""

    def __init__(self) -> None:
        """Connect nothing yet."""
        self.pools: dict[str, Any] = {}

    async def _pool(self, url: str) -> Any:
        pool = self.pools.get(url)
        if pool is None:
            import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415 - optional extra

            pool = await asyncpg.create_pool(url, min_size=0, max_size=2, timeout=QUERY_TIMEOUT)
            self.pools[url] = pool
        return pool

    async def points(
        self,
        url: str,
        device: str,
        start: float,
        end: float,
        step: float | None = None,
        limit: int = ROW_LIMIT,
    ) -> list[Point]:
        """Return the device's rows from ``start`` to ``end`` (none: no table yet), ``limit`` at most.

        With ``step``, only the first row of each command in every ``step`` seconds (as
        :func:`downsample` keeps them).
        """
        import asyncpg  # noqa: PLC0415 - see _pool

        query, extra = (QUERY, ()) if step is None else (QUERY_STEP, (step,))
        async with asyncio.timeout(QUERY_TIMEOUT):
            pool = await self._pool(url)
            try:
                rows = await pool.fetch(query, device, start, end, limit, *extra)
            except asyncpg.UndefinedTableError:
                return []
        points = []
        for row in rows:
            data = json.loads(row["data"])
            values = numbers(data.items()) if isinstance(data, dict) else {}
            if values:
                points.append(Point(row["time"], row["command"], values))
        return points

    async def close(self) -> None:
        """Close every pool."""
        pools, self.pools = self.pools, {}
        for pool in pools.values():
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except Exception:  # noqa: BLE001 - a pool that cannot close cleanly is cut
                pool.terminate()


# -- merging ------------------------------------------------------------------------------------


def merge(exact: Iterable[Point], prom: Iterable[Point]) -> list[Point]:
    """Merge points of all sources by time, each reading once (see the module's notes)."""
    kept: dict[tuple[str, int], Point] = {}
    for point in exact:
        kept.setdefault((point.command, round(point.time * 1000)), point)
    by_command: dict[str, list[Point]] = {}
    for point in sorted(kept.values(), key=lambda point: point.time):
        by_command.setdefault(point.command, []).append(point)
    times = {command: [point.time for point in points] for command, points in by_command.items()}
    merged = list(kept.values())
    for point in prom:
        candidates = by_command.get(point.command, [])
        moments = times.get(point.command, [])
        low = bisect.bisect_left(moments, point.time - PROM_WINDOW)
        high = bisect.bisect_right(moments, point.time + 1.0)
        if not any(_same(point, other) for other in candidates[low:high]):
            merged.append(point)
    merged.sort(key=lambda point: point.time)
    return merged


def downsample(points: Iterable[Point], step: float | None) -> list[Point]:
    """Return the first point of each command in every ``step`` seconds (all: no ``step``).

    ``points`` are in time order. The buckets start at multiples of ``step`` since the epoch,
    as :data:`QUERY_STEP`'s do, so the database's rows and the other sources' points agree.
    """
    if step is None:
        return list(points)
    seen: set[tuple[str, int]] = set()
    kept = []
    for point in points:
        bucket = (point.command, math.floor(point.time / step))
        if bucket not in seen:
            seen.add(bucket)
            kept.append(point)
    return kept


def _same(point: Point, other: Point) -> bool:
    shared = point.values.keys() & other.values.keys()
    return bool(shared) and all(
        math.isclose(point.values[key], other.values[key], rel_tol=1e-9, abs_tol=1e-9)
        for key in shared
    )


def as_json(points: Iterable[Point], keys: frozenset[str] | None) -> list[dict[str, Any]]:
    """Return ``[{"time", "values"}]``, narrowed to ``keys`` (points left empty are dropped).

    A list's key (``cell_voltage``) selects all its items (``cell_voltage.0``…).
    """
    result = []
    for point in points:
        values = (
            dict(point.values)
            if keys is None
            else {
                key: value
                for key, value in point.values.items()
                if key in keys or key.partition(".")[0] in keys
            }
        )
        if values:
            result.append({"time": point.time, "values": values})
    return result
