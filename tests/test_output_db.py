"""The ``postgres`` and ``mongo`` outputs against real servers: rows and documents read back.

PostgreSQL is Debian's (a private cluster, tests/servers/postgres.py); MongoDB is not packaged
by Debian, so the MongoDB side runs against nx-27017, a server speaking MongoDB's wire protocol
(tests/servers/mongo.py). Simulated devices feed a real :class:`Bridge`; what the tests check is
what a user querying the database sees: one row / document per reading, with its values, units
and time, in each device's own database, every reading exactly once, also after both servers
were down and the bridge restarted meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
import itertools
import json
import os
from pathlib import Path
import time
from typing import Any

import pytest

asyncpg = pytest.importorskip("asyncpg")
pymongo = pytest.importorskip("pymongo")

from pymongo.errors import BulkWriteError  # noqa: E402

from mppsolar_lib.bridge.daemon import Bridge  # noqa: E402
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig  # noqa: E402
from mppsolar_lib.bridge.spool import decode, encode  # noqa: E402
from mppsolar_lib.outputs import (  # noqa: E402
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    get_output,
)
from mppsolar_lib.outputs.base import plain, redacted, unit_of  # noqa: E402
from mppsolar_lib.outputs.mongo import Mongo, reading_id  # noqa: E402
import mppsolar_lib.outputs.postgres as postgres_module  # noqa: E402
from mppsolar_lib.protocols.fields import Field  # noqa: E402
from tests.servers.mongo import MongoServer  # noqa: E402
from tests.servers.mosquitto import free_port  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

TIMEOUT = 60.0
#: Seconds both servers stay down in the outage test (the issue's scenario says 60; the
#: default keeps the suite quick, MPPSOLAR_OUTAGE_SECONDS=60 runs it as written).
OUTAGE = float(os.environ.get("MPPSOLAR_OUTAGE_SECONDS", "2"))
_names = itertools.count(1)


def new_database(pg: PostgresServer) -> str:
    """Create a fresh database and return its URL."""
    name = f"mpp{next(_names)}_{os.getpid()}"
    pg.psql("postgres", f"CREATE DATABASE {name}")
    return pg.url(name)


def new_mongo_db() -> str:
    """Return a database name no test used yet."""
    return f"mpp{next(_names)}_{os.getpid()}"


async def rows(url: str) -> list[Any]:
    """Every row of the mppsolar table, in insertion order."""
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch("SELECT * FROM mppsolar ORDER BY id"))
    finally:
        await connection.close()


async def documents(url: str, database: str) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection of ``database``, in natural (insertion) order."""
    client: Any = pymongo.AsyncMongoClient(url, tz_aware=True)
    try:
        db = client[database]
        return {name: await db[name].find().to_list() for name in await db.list_collection_names()}
    finally:
        await client.close()


def when(report: Report) -> datetime:
    """Return the reading's time as both databases should hold it."""
    assert report.time is not None
    return datetime.fromtimestamp(report.time, UTC)


def values(report: Report) -> dict[str, Any]:
    """Return the report's values as JSON carries them."""
    return {row.key: plain(row.value) for row in report.rows}


def units(report: Report) -> dict[str, str]:
    """Return the report's units."""
    return {row.key: unit_of(row) for row in report.rows}


def context(**device: Any) -> OutputContext:
    """Return a bridge context for one device named ``inv``."""
    return OutputContext(DeviceConfig("inv", ("QPIGS",), **device))


def report(command: str = "QPIGS", stamp: float | None = None, volts: float = 230.1) -> Report:
    """Return a small report as the bridge makes them."""
    fields = (
        Field("ac_input_voltage", "AC Input Voltage", volts, "V"),
        Field("is_load_on", "Is Load On", True, ""),
        Field("mode", "Mode", "Battery", ""),
    )
    return Report(command, "test", fields, b"(raw", time.time() if stamp is None else stamp)


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def stopped(bridge: Bridge) -> None:
    """Stop ``bridge`` (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        await bridge.stop()


def two_devices(pg: PostgresServer, mongo: MongoServer) -> tuple[DeviceConfig, DeviceConfig]:
    """Return two devices (PI30, PI18), each with its own PostgreSQL and Mongo database."""
    inverter = DeviceConfig(
        "inverter",
        ("QPIGS", "QMOD"),
        pause=0.2,
        port="sim://pi30",
        protocol="pi30",
        outputs=("postgres", "mongo"),
        postgres_url=new_database(pg),
        mongo_url=mongo.url,
        mongo_db=new_mongo_db(),
    )
    second = DeviceConfig(
        "second",
        ("GS",),
        pause=0.2,
        port="sim://pi18",
        protocol="pi18",
        outputs=("postgres", "mongo"),
        postgres_url=new_database(pg),
        mongo_url=mongo.url,
        mongo_db=new_mongo_db(),
    )
    return inverter, second


async def start(
    config: BridgeConfig, spool: Path, produced: dict[str, list[Report]], fast: bool = True
) -> Bridge:
    """Start a bridge, recording every report its devices produce."""
    bridge = Bridge(config, spool_dir=spool)
    async with asyncio.timeout(TIMEOUT):
        await bridge.start()

    def record(name: str, reports: Sequence[Report]) -> None:
        produced[name].extend(reports)

    for runner in bridge.runners.values():
        runner.listeners.append(record)
    if fast:
        # The production backoff starts at 5 s; the test's outages are seconds long.
        for sink in bridge.sinks:
            sink.backoff_min, sink.backoff_max = 0.2, 1.0
    return bridge


async def check_postgres(device: DeviceConfig, produced: list[Report]) -> None:
    """Every report is one row of the device's database, in order, with values and units."""
    assert device.postgres_url is not None
    stored = await rows(device.postgres_url)
    assert len(stored) == len(produced)
    assert [(r["device"], r["command"], r["updated"]) for r in stored] == [
        (device.name, p.command, when(p)) for p in produced
    ]
    for row, original in zip(stored, produced, strict=True):
        assert json.loads(row["data"]) == values(original)
        assert json.loads(row["units"]) == units(original)


async def check_mongo(device: DeviceConfig, produced: list[Report]) -> None:
    """Every report is one document of its command's collection, in order."""
    assert device.mongo_url is not None
    stored = await documents(device.mongo_url, device.mongo_db)
    expected: dict[str, list[Report]] = defaultdict(list)
    for item in produced:
        expected[item.command].append(item)
    assert sorted(stored) == sorted(expected)
    for command, docs in stored.items():
        originals = expected[command]
        assert [d["_id"] for d in docs] == [
            reading_id(device.name, command, when(p)) for p in originals
        ]
        for doc, original in zip(docs, originals, strict=True):
            assert doc["device"] == device.name
            # BSON dates hold milliseconds.
            assert abs(doc["updated"] - when(original)).total_seconds() < 0.001
            assert doc["units"] == units(original)
            assert {k: v for k, v in doc.items() if k in values(original)} == values(original)


async def test_bridge_stores_each_device_in_its_own_databases(
    pg: PostgresServer, mongo: MongoServer, tmp_path: Path
) -> None:
    """Two simulated devices → bridge → rows and documents, each device in its own database."""
    inverter, second = two_devices(pg, mongo)
    produced: dict[str, list[Report]] = defaultdict(list)
    bridge = await start(BridgeConfig(devices=(inverter, second)), tmp_path, produced)
    try:
        await until(lambda: all(r.polls >= 3 for r in bridge.runners.values()), "three polls each")
    finally:
        await stopped(bridge)
    assert all(sink.stats.delivered >= 3 and not sink.pending for sink in bridge.sinks)
    for device in (inverter, second):
        await check_postgres(device, produced[device.name])
        await check_mongo(device, produced[device.name])
    assert set(await documents(mongo.url, inverter.mongo_db)) == {"QPIGS", "QMOD"}
    assert set(await documents(mongo.url, second.mongo_db)) == {"GS"}
    # Typed columns and the indexes a history query needs.
    assert inverter.postgres_url is not None
    connection = await asyncpg.connect(inverter.postgres_url)
    try:
        types = dict(
            await connection.fetch(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'mppsolar'"
            )
        )
        indexes = {
            r["indexdef"]
            for r in await connection.fetch(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'mppsolar'"
            )
        }
    finally:
        await connection.close()
    assert types == {
        "id": "bigint",
        "device": "text",
        "command": "text",
        "updated": "timestamp with time zone",
        "data": "jsonb",
        "units": "jsonb",
    }
    assert any("UNIQUE INDEX" in i and "(device, command, updated)" in i for i in indexes)
    assert any("(device, updated)" in i for i in indexes)


async def test_outage_and_restart_lose_nothing_and_duplicate_nothing(
    pg: PostgresServer, mongo: MongoServer, tmp_path: Path
) -> None:
    """Both servers down mid-run, the bridge restarted meanwhile: every reading once, in order.

    The memory bound is two batches, so the outage spills batches to the on-disk spool; the
    first bridge spools the rest when it stops; the second picks them up and, once the servers
    are back, delivers the old batches first and then its own.
    """
    inverter, second = two_devices(pg, mongo)
    config = BridgeConfig(devices=(inverter, second), memory_limit=2)
    produced: dict[str, list[Report]] = defaultdict(list)
    first = await start(config, tmp_path, produced)
    try:
        await until(
            lambda: all(s.stats.delivered >= 2 for s in first.sinks), "deliveries before outage"
        )
        await asyncio.to_thread(pg.stop)
        await asyncio.to_thread(mongo.stop)
        down = time.monotonic()
        polls = {name: r.polls for name, r in first.runners.items()}
        await until(
            lambda: (
                all(r.polls >= polls[n] + 5 for n, r in first.runners.items())
                and all(s.stats.spooled > 0 for s in first.sinks)
            ),
            "batches spilled to the spool",
        )
    finally:
        await stopped(first)
    second_bridge = await start(config, tmp_path, produced)
    try:
        # Everything the first bridge could not deliver is waiting in the spool.
        assert all(s.pending > 0 for s in second_bridge.sinks)
        polls = {name: r.polls for name, r in second_bridge.runners.items()}
        await until(
            lambda: (
                all(r.polls >= polls[n] + 3 for n, r in second_bridge.runners.items())
                and time.monotonic() - down >= OUTAGE
            ),
            "polls of the second bridge during the outage",
            timeout=OUTAGE + TIMEOUT,
        )
        await asyncio.to_thread(pg.start)
        await asyncio.to_thread(mongo.start)
        await until(lambda: all(not s.pending for s in second_bridge.sinks), "everything delivered")
    finally:
        await stopped(second_bridge)
    assert not any(s.stats.dropped for s in (*first.sinks, *second_bridge.sinks))
    for device in (inverter, second):
        assert len(produced[device.name]) >= 10
        await check_postgres(device, produced[device.name])
        await check_mongo(device, produced[device.name])


async def test_redelivered_batch_is_a_no_op(pg: PostgresServer, mongo: MongoServer) -> None:
    """A batch sent again — as is, or after a trip through the spool — adds no row or document."""
    url, database = new_database(pg), new_mongo_db()
    ctx = context(postgres_url=url, mongo_url=mongo.url, mongo_db=database)
    outputs = [get_output(name, OutputOptions(name="inv"), ctx) for name in ("postgres", "mongo")]
    batch = [report("QPIGS"), report("QMOD", volts=1.5)]
    try:
        for output in outputs:
            await output.send(batch)
            await output.send(batch)
            await output.send(decode(encode(batch)))
            await output.send([*batch, report("QPIGS", volts=231.0)])
    finally:
        await ctx.resources.close()
    stored = await rows(url)
    assert [(r["command"], json.loads(r["data"])["ac_input_voltage"]) for r in stored] == [
        ("QPIGS", 230.1),
        ("QMOD", 1.5),
        ("QPIGS", 231.0),
    ]
    docs = await documents(mongo.url, database)
    assert {name: len(items) for name, items in docs.items()} == {"QPIGS": 2, "QMOD": 1}


async def test_filters_and_keep_case_apply(pg: PostgresServer, mongo: MongoServer) -> None:
    """The device's filter and keep_case shape the stored keys, as in every other output."""
    url, database = new_database(pg), new_mongo_db()
    ctx = context(postgres_url=url, mongo_url=mongo.url, mongo_db=database)
    options = OutputOptions(exclude="^Mode$", keep_case=True, name="inv")
    try:
        for name in ("postgres", "mongo"):
            await get_output(name, options, ctx).send([report()])
    finally:
        await ctx.resources.close()
    (row,) = await rows(url)
    assert json.loads(row["data"]) == {"AC_Input_Voltage": 230.1, "Is_Load_On": 1}
    assert json.loads(row["units"]) == {"AC_Input_Voltage": "V", "Is_Load_On": "bool"}
    (doc,) = (await documents(mongo.url, database))["QPIGS"]
    assert doc["AC_Input_Voltage"] == 230.1
    assert "Mode" not in doc
    assert "mode" not in doc


async def test_reference_table_is_extended_not_replaced(pg: PostgresServer) -> None:
    """A table made as the reference's documentation says keeps its rows and gains our columns."""
    url = new_database(pg)
    database = url.rpartition("/")[2]
    pg.psql(
        database,
        "CREATE TABLE mppsolar (id serial CONSTRAINT mppsolar_pk PRIMARY KEY, command varchar,"
        " data json, updated timestamp);"
        " CREATE INDEX mppsolar_command_updated_index ON mppsolar (command, updated);"
        """ INSERT INTO mppsolar (command, data, updated) VALUES ('QPIGS', '{"old": 1}', now())""",
    )
    ctx = context(postgres_url=url)
    output = get_output("postgres", OutputOptions(name="inv"), ctx)
    reading = report()
    try:
        await output.send([reading])
        await output.send([reading])
    finally:
        await ctx.resources.close()
    old, new = await rows(url)
    assert json.loads(old["data"]) == {"old": 1}
    assert old["device"] is None
    assert (new["device"], new["command"]) == ("inv", "QPIGS")
    assert json.loads(new["data"]) == values(reading)
    # The reference's column has no time zone: the server's zone (UTC here) is used.
    assert new["updated"] == when(reading).replace(tzinfo=None)


async def test_database_down_is_unavailable_then_recovers(pg: PostgresServer) -> None:
    """No server → OutputUnavailableError (the bridge retries); restarted → the same output works."""
    url = new_database(pg)
    ctx = context(postgres_url=url)
    output = get_output("postgres", OutputOptions(name="inv"), ctx)
    try:
        await output.send([report(stamp=1.0)])
        await asyncio.to_thread(pg.stop)
        with pytest.raises(OutputUnavailableError, match="PostgreSQL at postgresql://"):
            await output.send([report(stamp=2.0)])
        await asyncio.to_thread(pg.start)
        await output.send([report(stamp=2.0)])
    finally:
        await ctx.resources.close()
    assert [r["updated"].timestamp() for r in await rows(url)] == [1.0, 2.0]


async def test_missing_database_is_unavailable(pg: PostgresServer) -> None:
    """A database that does not exist (yet) keeps the readings instead of dropping them."""
    ctx = context(postgres_url=pg.url("nonexistent"))
    try:
        with pytest.raises(OutputUnavailableError, match="nonexistent"):
            await get_output("postgres", OutputOptions(), ctx).send([report()])
    finally:
        await ctx.resources.close()


async def test_poison_batch_is_an_error_not_an_outage(pg: PostgresServer) -> None:
    """A value PostgreSQL's jsonb refuses fails that batch (the sink drops it), not the output."""
    url = new_database(pg)
    ctx = context(postgres_url=url)
    output = get_output("postgres", OutputOptions(), ctx)
    bad = Report("QPIGS", "test", (Field("text", "Text", "nul\x00", ""),), None, 1.0)
    try:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await output.send([bad])
        assert not isinstance(caught.value, OutputUnavailableError)
        await output.send([report(stamp=2.0)])
    finally:
        await ctx.resources.close()
    assert len(await rows(url)) == 1


async def test_mongo_down_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listening → OutputUnavailableError after the (bounded) server selection."""
    monkeypatch.setattr("mppsolar_lib.outputs.mongo.SELECT_TIMEOUT_MS", 300)
    ctx = context(mongo_url=f"mongodb://user:secret@127.0.0.1:{free_port()}")
    try:
        with pytest.raises(OutputUnavailableError, match=r"MongoDB at mongodb://user:\*\*\*@"):
            await get_output("mongo", OutputOptions(), ctx).send([report()])
    finally:
        await ctx.resources.close()


class RefusingCollection:
    """A MongoDB collection refusing documents for another reason than a duplicate key.

    nx-27017 accepts every document these outputs can write, and a real MongoDB cannot run
    here, so this stands in for the server's answer.
    """

    def __init__(self, details: dict[str, Any]) -> None:
        """Answer every insert with ``details``."""
        self.details = details

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool) -> None:
        """Refuse."""
        raise BulkWriteError(self.details)


class RefusingClient:
    """A client whose every collection refuses (see :class:`RefusingCollection`)."""

    def __init__(self, details: dict[str, Any]) -> None:
        """Answer every insert with ``details``."""
        self.details = details

    def __getitem__(self, name: str) -> Any:
        """Return a database (this object) or a collection of it (a refusing one)."""
        return self if name == "mppsolar" else RefusingCollection(self.details)


@pytest.mark.parametrize(
    "details",
    [
        {"writeErrors": [{"code": 11000}, {"code": 2}], "writeConcernErrors": []},
        {"writeErrors": [], "writeConcernErrors": [{"code": 64}]},
    ],
)
async def test_mongo_refusal_other_than_duplicate_is_raised(details: dict[str, Any]) -> None:
    """A write error that is not "already stored" fails the batch (the sink logs and drops it)."""
    ctx = context(mongo_url="mongodb://127.0.0.1:1")
    await ctx.resources.get("mongo mongodb://127.0.0.1:1", _async(RefusingClient(details)))
    with pytest.raises(BulkWriteError):
        await get_output("mongo", OutputOptions(), ctx).send([report()])


def _async(value: Any) -> Callable[[], Any]:
    async def factory() -> Any:
        return value

    return factory


@pytest.mark.parametrize("name", ["postgres", "mongo"])
def test_url_is_required(name: str) -> None:
    """Without a URL (or outside a bridge) the output says what it needs."""
    with pytest.raises(OutputError, match=f"{name}_url"):
        get_output(name, OutputOptions(), context())
    with pytest.raises(OutputError, match=f"{name}_url"):
        get_output(name)


async def test_pool_that_cannot_close_is_cut(
    pg: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping never hangs on a connection still in use: the pool is terminated."""
    monkeypatch.setattr(postgres_module, "CLOSE_TIMEOUT", 0.1)
    url = new_database(pg)
    ctx = context(postgres_url=url)
    output = get_output("postgres", OutputOptions(), ctx)
    await output.send([report()])
    database = await ctx.resources.get(f"postgres {url}", _async(None))
    await database.pool.acquire()  # never released
    async with asyncio.timeout(TIMEOUT):
        await ctx.resources.close()
    name = url.rpartition("/")[2]
    sessions = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"  # noqa: S608
    await until(lambda: pg.psql("postgres", sessions).strip() == "0", "the session to end")


def test_report_without_time_is_stamped_now() -> None:
    """A report the bridge did not stamp gets the time it is written."""
    before = datetime.now(UTC)
    stamped = postgres_module.timestamp(Report("QPIGS", "", ()))
    mongo = get_output("mongo", OutputOptions(), context(mongo_url="mongodb://127.0.0.1:1"))
    assert isinstance(mongo, Mongo)
    (document,) = mongo.documents([Report("QPIGS", "", ())])["QPIGS"]
    assert before <= stamped <= document["updated"] <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("mongodb://host", "mongodb://host"),
    ],
)
def test_password_never_shown(url: str, shown: str) -> None:
    """Messages name the server without its password."""
    assert redacted(url) == shown
