"""The on-disk spool: batches a sink could not deliver yet, kept across restarts, in order.

One SQLite file per bridge holds every sink's batches, keyed by (sink, sequence number). A sink
spills its oldest batches here when its memory bound is reached and everything pending when the
bridge stops; it delivers from here first (lowest sequence number first) and deletes a batch
only once its output has taken it. SQLite runs in one worker thread, so the event loop never
waits on the disk; WAL with ``synchronous=NORMAL`` keeps a committed batch across a crash of the
process (not necessarily of the machine, which is the trade-off every log shipper makes).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import json
import logging
from pathlib import Path
import sqlite3
from typing import TYPE_CHECKING, Any, Final, TypeVar

from mppsolar_lib.outputs.base import Report
from mppsolar_lib.protocols.fields import Field

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mppsolar_lib.protocols.fields import Value

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS batches (
    sink TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (sink, seq)
) WITHOUT ROWID
"""


def _value(value: Any) -> Value:
    """Undo JSON's changes to a value: lists were tuples."""
    if isinstance(value, list):
        return tuple(value)
    return value  # type: ignore[no-any-return]


def encode(reports: Sequence[Report]) -> str:
    """Serialise one batch (hints are not kept: a replayed reading needs values, not metadata)."""
    return json.dumps(
        [
            {
                "command": report.command,
                "description": report.description,
                "time": report.time,
                "raw": report.raw.hex() if report.raw is not None else None,
                "rows": [[row.key, row.name, row.value, row.unit] for row in report.rows],
            }
            for report in reports
        ],
        separators=(",", ":"),
    )


def decode(payload: str) -> list[Report]:
    """Rebuild a batch written by :func:`encode`."""
    return [
        Report(
            item["command"],
            item["description"],
            tuple(Field(key, name, _value(value), unit) for key, name, value, unit in item["rows"]),
            bytes.fromhex(item["raw"]) if item["raw"] is not None else None,
            item["time"],
        )
        for item in json.loads(payload)
    ]


class Spool:
    """Batches waiting for their outputs, on disk, per sink, in sequence order."""

    def __init__(self, path: Path, limit: int) -> None:
        """Keep at most ``limit`` batches per sink in the SQLite file ``path``."""
        self.path = path
        self.limit = limit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mppsolar-spool")
        self._db: sqlite3.Connection | None = None

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(SCHEMA)
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._connect()
        assert self._db is not None
        return self._db

    async def open(self) -> None:
        """Open (and create) the file."""
        await self._call(self._conn)

    async def close(self) -> None:
        """Close the file and the worker thread (a spool never opened just stops its thread)."""

        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._call(close)
        self._executor.shutdown(wait=True)

    def _push(self, sink: str, items: Sequence[tuple[int, str]]) -> int:
        db = self._conn()
        with db:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO batches (sink, seq, payload) VALUES (?, ?, ?)",
                [(sink, seq, payload) for seq, payload in items],
            )
            (count,) = db.execute("SELECT COUNT(*) FROM batches WHERE sink = ?", (sink,)).fetchone()
            excess = int(count) - self.limit
            if excess > 0:
                db.execute(
                    "DELETE FROM batches WHERE sink = ? AND seq IN "
                    "(SELECT seq FROM batches WHERE sink = ? ORDER BY seq LIMIT ?)",
                    (sink, sink, excess),
                )
        return max(excess, 0)

    async def push(self, sink: str, items: Sequence[tuple[int, Sequence[Report]]]) -> int:
        """Store ``(seq, batch)`` items of ``sink``; return how many old batches were dropped."""
        if not items:
            return 0
        encoded = [(seq, encode(reports)) for seq, reports in items]
        return await self._call(self._push, sink, encoded)

    def _head(self, sink: str) -> tuple[int, str] | None:
        row = (
            self._conn()
            .execute(
                "SELECT seq, payload FROM batches WHERE sink = ? ORDER BY seq LIMIT 1", (sink,)
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), str(row[1]))

    async def head(self, sink: str) -> tuple[int, list[Report]] | None:
        """Return the oldest batch of ``sink`` with its sequence number (``None``: empty).

        A batch that cannot be read back (a damaged row) is logged and deleted.
        """
        while (row := await self._call(self._head, sink)) is not None:
            seq, payload = row
            try:
                return seq, decode(payload)
            except (ValueError, KeyError, TypeError) as err:
                _LOGGER.error(
                    "spool %s: batch %s of %s is unreadable, dropped: %s", self.path, seq, sink, err
                )
                await self.remove(sink, seq)
        return None

    def _remove(self, sink: str, seq: int) -> None:
        self._conn().execute("DELETE FROM batches WHERE sink = ? AND seq = ?", (sink, seq))

    async def remove(self, sink: str, seq: int) -> None:
        """Forget a delivered batch."""
        await self._call(self._remove, sink, seq)

    def _stats(self, sink: str) -> tuple[int, int]:
        count, top = (
            self._conn()
            .execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM batches WHERE sink = ?", (sink,))
            .fetchone()
        )
        return int(count), int(top)

    async def stats(self, sink: str) -> tuple[int, int]:
        """Return ``(batches kept, highest sequence number)`` of ``sink``."""
        return await self._call(self._stats, sink)
