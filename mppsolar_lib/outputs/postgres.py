"""``postgres``: every reading as a row of a PostgreSQL table, each exactly once.

The table (``mppsolar``, the reference's name) is created on first use::

    id       bigint identity primary key   -- insertion order
    device   text        not null          -- the device's section name
    command  text        not null          -- the command as sent (QPIGS, QPGS0)
    updated  timestamptz not null          -- when the answer arrived (Report.time)
    data     jsonb       not null          -- {"ac_input_voltage": 230.1, ...}
    units    jsonb       not null          -- {"ac_input_voltage": "V", ...}
    unique (device, command, updated); index (device, updated)

``command``, ``data`` and ``updated`` keep the reference's column names, so its queries work on
this table; a table the reference's documentation had users create by hand gets the missing
columns and indexes added (nothing is dropped or rewritten). One batch (one poll) is one
``executemany`` in one transaction, and ``ON CONFLICT DO NOTHING`` on the unique key makes a
batch delivered again (after a crash, or a connection lost before the commit was acknowledged)
a no-op: every reading is stored once.

Each database URL has one asyncpg pool, shared by every device and output using it. A refused
connection, a server that goes away, refuses logins or lacks the database raises
:class:`~mppsolar_lib.outputs.base.OutputUnavailableError`: the bridge keeps the readings and
tries again (the pool reconnects by itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
import json
import logging
import time
from typing import Any, ClassVar, Final

import asyncpg  # type: ignore[import-untyped]  # no py.typed; asyncpg-stubs not required

from mppsolar_lib.outputs.base import (
    Output,
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    plain,
    redacted,
    unit_of,
)

_LOGGER = logging.getLogger(__name__)

#: Seconds to connect, and to run one statement, before the server counts as unreachable.
TIMEOUT: Final = 10.0
#: Seconds a closing pool gets before its connections are cut.
CLOSE_TIMEOUT: Final = 5.0
#: Serialises the schema statements of concurrent bridges (an arbitrary, fixed key).
_LOCK_KEY: Final = 0x6D7070736F6C6172  # "mppsolar"

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS mppsolar (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device text NOT NULL,
    command text NOT NULL,
    updated timestamptz NOT NULL,
    data jsonb NOT NULL,
    units jsonb NOT NULL
);
ALTER TABLE mppsolar ADD COLUMN IF NOT EXISTS device text, ADD COLUMN IF NOT EXISTS units jsonb;
CREATE UNIQUE INDEX IF NOT EXISTS mppsolar_reading ON mppsolar (device, command, updated);
CREATE INDEX IF NOT EXISTS mppsolar_device_updated ON mppsolar (device, updated);
"""

INSERT: Final = """
INSERT INTO mppsolar (device, command, updated, data, units) VALUES ($1, $2, $3::timestamptz, $4, $5)
ON CONFLICT (device, command, updated) DO NOTHING
"""

#: What "the database cannot take it now" looks like: kept and retried, never dropped.
_UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection lost or refused
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: disk full, too many connections
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # 28: login refused (fixable)
    asyncpg.exceptions.InvalidCatalogNameError,  # 3D000: no such database (yet)
    asyncpg.InterfaceError,  # the connection closed under the client
    asyncpg.InternalClientError,  # a connection left mid-operation by a server shutdown
)


class Database:
    """One pool per database URL, and whether the table is known to exist there."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        """Hold ``pool``."""
        self.pool = pool
        self.ready = False

    async def close(self) -> None:
        """Close the pool; connections that do not close in time are cut."""
        try:
            # asyncpg bounds nothing here: a server that vanished must not hang the stop.
            await asyncio.wait_for(self.pool.close(), CLOSE_TIMEOUT)
        except Exception:  # noqa: BLE001 - a pool that cannot close cleanly is cut
            self.pool.terminate()


def timestamp(report: Report) -> datetime:
    """Return when ``report``'s answer arrived, as an aware UTC datetime."""
    return datetime.fromtimestamp(report.time if report.time is not None else time.time(), UTC)


class Postgres(Output):
    """Insert every report as a row of the ``mppsolar`` table."""

    name = "postgres"
    spooled: ClassVar[bool] = True

    def __init__(
        self, options: OutputOptions | None = None, context: OutputContext | None = None
    ) -> None:
        """Use the device's ``postgres_url``; without one this output cannot work."""
        super().__init__(options, context)
        if context is None or not context.device.postgres_url:
            raise OutputError("the postgres output needs postgres_url (a postgresql:// URL)")
        self.url: str = context.device.postgres_url
        self.device = context.device.name

    async def _database(self) -> Database:
        assert self.context is not None

        async def create() -> Database:
            # min_size=0: making the pool connects nothing, so it never fails while the
            # server is down; connections are opened (and reopened) as batches need them.
            pool = await asyncpg.create_pool(
                self.url, min_size=0, max_size=4, timeout=TIMEOUT, command_timeout=TIMEOUT
            )
            return Database(pool)

        database: Database = await self.context.resources.get(f"postgres {self.url}", create)
        return database

    def records(self, reports: Sequence[Report]) -> list[tuple[Any, ...]]:
        """Return the rows for ``reports``: device, command, time, values and units as JSON."""
        records = []
        for report in reports:
            rows = list(self.options.rows(report))
            records.append(
                (
                    self.device,
                    report.command,
                    timestamp(report),
                    json.dumps({key: plain(row.value) for key, row in rows}),
                    json.dumps({key: unit_of(row) for key, row in rows}),
                )
            )
        return records

    async def send(self, reports: Sequence[Report]) -> None:
        """Insert ``reports`` in one transaction (rows already stored are skipped)."""
        records = self.records(reports)
        database = await self._database()
        try:
            await self._insert(database, records)
        except _UNAVAILABLE as err:
            # After a server restart the pool's idle connections are dead, and the first use
            # of one fails although the server is back: one more try, on a fresh connection.
            _LOGGER.debug("%s: %s; trying a fresh connection", self.device, err)
            try:
                await self._insert(database, records)
            except _UNAVAILABLE as again:
                reason = str(again) or type(again).__name__
                raise OutputUnavailableError(
                    f"PostgreSQL at {redacted(self.url)}: {reason}"
                ) from again

    @staticmethod
    async def _insert(database: Database, records: list[tuple[Any, ...]]) -> None:
        """Insert ``records`` in one transaction, creating the table first if need be."""
        async with database.pool.acquire(timeout=TIMEOUT) as connection:
            try:
                async with connection.transaction():
                    if not database.ready:
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                        await connection.execute(SCHEMA)
                    await connection.executemany(INSERT, records)
            except BaseException:
                # A connection the server dropped, or a send cancelled, mid-operation can be
                # left in a state asyncpg cannot reuse ("another operation is in progress"):
                # close it, so the pool opens a fresh one.
                connection.terminate()
                raise
        database.ready = True
