"""Sinks and the spool: ordered delivery, retry with backoff, bounded memory, nothing lost.

The destination here is a small in-test output whose availability the test switches; the
queue, the retries and the SQLite spool are the real ones. (Real brokers and databases are in
the output tests; this file pins the delivery rules every output shares.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import dataclasses
import logging
from pathlib import Path
import sqlite3

import pytest

from mppsolar_lib.bridge.sink import Sink
from mppsolar_lib.bridge.spool import Spool, decode, encode
from mppsolar_lib.outputs import Output, OutputUnavailableError, Report
from mppsolar_lib.protocols.fields import Field

TIMEOUT = 10.0


def batch(number: int) -> list[Report]:
    """One poll's reports, numbered so the test can check order."""
    rows = (
        Field("reading", "Reading", number),
        Field("battery_voltage", "Battery Voltage", 52.5 + number / 100, "V"),
        Field("is_charging_on", "Is Charging On", number % 2 == 0),
        Field("cells", "Cells", (3301, 3302), "mV"),
        Field("mode", "Mode", "Battery"),
        Field("empty", "Empty", None),
    )
    return [Report("QPIGS", "General status", rows, b"(raw\r", 1_700_000_000.0 + number)]


def number_of(reports: Sequence[Report]) -> int:
    """Return the number :func:`batch` gave."""
    value = reports[0].rows[0].value
    assert isinstance(value, int)
    return value


class Destination(Output):
    """A destination the test can take down and bring back; records what it was given."""

    name = "test_destination"

    def __init__(self) -> None:
        """Start up and empty."""
        super().__init__()
        self.up = True
        self.received: list[int] = []
        self.attempts = 0
        self.poison: set[int] = set()
        self.closed = False
        self.arrived = asyncio.Event()

    async def send(self, reports: Sequence[Report]) -> None:
        """Take the batch, or fail the way a down broker does."""
        self.attempts += 1
        if not self.up:
            raise OutputUnavailableError("destination down")
        if number_of(reports) in self.poison:
            raise ValueError("cannot take this one")
        self.received.append(number_of(reports))
        self.arrived.set()

    async def close(self) -> None:
        """Note the close."""
        self.closed = True

    async def attempted(self) -> None:
        """Wait (bounded) until the sink has tried to deliver: its first batch is in flight."""
        async with asyncio.timeout(TIMEOUT):
            while not self.attempts:
                await asyncio.sleep(0.001)

    async def wait_for(self, count: int) -> None:
        """Wait (bounded) until ``count`` batches arrived."""
        async with asyncio.timeout(TIMEOUT):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


def fast(output: Output, spool: Spool | None = None, memory_limit: int = 1000) -> Sink:
    """Make a sink with millisecond backoff, so retries happen within the test."""
    return Sink(
        output,
        "inv/test",
        spool=spool,
        memory_limit=memory_limit,
        backoff_min=0.001,
        backoff_max=0.004,
    )


async def test_a_batch_survives_the_spool_with_its_values(tmp_path: Path) -> None:
    """Every value type, the raw frame and the timestamp come back as they went in."""
    original = batch(4)
    (again,) = decode(encode(original))
    assert again.command == "QPIGS"
    assert again.description == "General status"
    assert again.raw == b"(raw\r"
    assert again.time == 1_700_000_004.0
    assert again.rows == original[0].rows
    assert [type(row.value) for row in again.rows] == [int, float, bool, tuple, str, type(None)]
    (listing,) = decode(encode([Report("help", "Listing", (Field("a", "A", "x"),))]))
    assert listing.raw is None
    assert listing.time is None


async def test_batches_arrive_in_order(tmp_path: Path) -> None:
    """What goes in comes out once each, oldest first."""
    destination = Destination()
    sink = fast(destination)
    await sink.start()
    for number in range(50):
        await sink.put(batch(number))
    await destination.wait_for(50)
    await sink.stop()
    assert destination.received == list(range(50))
    assert sink.stats.delivered == 50
    assert sink.stats.dropped == 0
    assert destination.closed


async def test_an_outage_is_retried_until_the_destination_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A down destination keeps the batch; it arrives once when the destination returns."""
    destination = Destination()
    destination.up = False
    sink = fast(destination)
    await sink.start()
    with caplog.at_level(logging.WARNING):
        await sink.put(batch(1))
        await sink.put(batch(2))
        async with asyncio.timeout(TIMEOUT):
            while destination.attempts < 5:
                await asyncio.sleep(0.001)
    assert destination.received == []
    assert sink.pending == 2
    assert sink.stats.last_error == "destination down"
    # One warning for the outage, not one per retry.
    assert [r.getMessage() for r in caplog.records] == [
        "inv/test: destination down; keeping readings and retrying"
    ]
    destination.up = True
    await destination.wait_for(2)
    assert destination.received == [1, 2]
    assert sink.stats.retries >= 4
    after = dataclasses.asdict(sink.stats)
    assert (after["delivered"], after["last_error"]) == (2, None)
    await sink.stop()


async def test_a_batch_the_output_cannot_take_is_dropped_not_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An output bug on one batch loses that batch only (logged with its traceback)."""
    destination = Destination()
    destination.poison = {2}
    sink = fast(destination)
    await sink.start()
    with caplog.at_level(logging.ERROR):
        for number in (1, 2, 3):
            await sink.put(batch(number))
        await destination.wait_for(2)
    assert destination.received == [1, 3]
    assert sink.stats.dropped == 1
    assert "output failed on a batch; dropped it" in caplog.text
    assert "ValueError: cannot take this one" in caplog.text
    await sink.stop()


async def test_memory_bound_without_a_spool_drops_the_oldest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Console outputs have no spool: past the bound the oldest go, counted and logged."""
    destination = Destination()
    destination.up = False
    sink = fast(destination, memory_limit=3)
    await sink.start()
    await sink.put(batch(1))
    await destination.attempted()
    with caplog.at_level(logging.WARNING):
        for number in range(2, 8):
            await sink.put(batch(number))
    assert "no spool: dropped the oldest" in caplog.text
    destination.up = True
    await destination.wait_for(4)
    await sink.stop()
    # Batch 1 was in flight when the outage began; 2-4 fell off the memory bound.
    assert destination.received == [1, 5, 6, 7]
    assert sink.stats.dropped == 3


async def test_an_outage_longer_than_memory_spills_to_disk_in_order(tmp_path: Path) -> None:
    """Past the memory bound batches go to the spool; delivery stays oldest first."""
    spool = Spool(tmp_path / "spool.sqlite3", limit=1000)
    await spool.open()
    destination = Destination()
    destination.up = False
    sink = fast(destination, spool=spool, memory_limit=5)
    await sink.start()
    await sink.put(batch(1))
    await destination.attempted()
    for number in range(2, 41):
        await sink.put(batch(number))
    # 1 in flight, 36-40 in memory, the rest on disk.
    assert sink.stats.spooled == 34
    assert (await spool.stats("inv/test"))[0] == 34
    destination.up = True
    await destination.wait_for(40)
    assert destination.received == list(range(1, 41))
    assert (await spool.stats("inv/test"))[0] == 0
    await sink.stop()
    await spool.close()


async def test_pending_batches_survive_a_restart(tmp_path: Path) -> None:
    """Stopped during an outage, the next run delivers the kept batches first, then new ones."""
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path, limit=1000)
    await spool.open()
    destination = Destination()
    destination.up = False
    sink = fast(destination, spool=spool)
    await sink.start()
    for number in range(1, 11):
        await sink.put(batch(number))
    await sink.stop(timeout=0.05)
    await spool.close()
    assert destination.received == []

    spool = Spool(path, limit=1000)
    await spool.open()
    again = Destination()
    sink = fast(again, spool=spool)
    await sink.start()
    assert sink.pending == 10
    await sink.put(batch(11))
    await again.wait_for(11)
    await sink.stop()
    await spool.close()
    assert again.received == list(range(1, 12))


async def test_the_spool_bound_drops_the_oldest_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full spool keeps the newest batches and says how many it dropped."""
    spool = Spool(tmp_path / "spool.sqlite3", limit=10)
    await spool.open()
    destination = Destination()
    destination.up = False
    sink = fast(destination, spool=spool, memory_limit=2)
    await sink.start()
    await sink.put(batch(1))
    await destination.attempted()
    with caplog.at_level(logging.WARNING):
        for number in range(2, 31):
            await sink.put(batch(number))
    assert "spool full (10 batches)" in caplog.text
    destination.up = True
    await destination.wait_for(13)
    await sink.stop()
    await spool.close()
    # 1 was in flight; 29 and 30 stayed in memory; 2-28 went to disk, which kept the newest
    # ten (19-28) and dropped 2-18.
    assert destination.received == [1, *range(19, 31)]
    assert sink.stats.dropped == 17


async def test_an_unreadable_spooled_batch_is_dropped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged row does not block the ones behind it."""
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path, limit=100)
    await spool.open()
    await spool.push("inv/test", [(1, batch(1)), (2, batch(2))])
    await spool.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE batches SET payload = 'not json' WHERE seq = 1")
    spool = Spool(path, limit=100)
    await spool.open()
    destination = Destination()
    sink = fast(destination, spool=spool)
    with caplog.at_level(logging.ERROR):
        await sink.start()
        await destination.wait_for(1)
    await sink.stop()
    await spool.close()
    assert destination.received == [2]
    assert "batch 1 of inv/test is unreadable, dropped" in caplog.text


async def test_stop_without_start_and_empty_puts_do_nothing(tmp_path: Path) -> None:
    """Edge cases: nothing to stop, nothing to queue."""
    destination = Destination()
    sink = fast(destination)
    await sink.stop()
    await sink.put([])
    assert sink.pending == 0
    assert not destination.closed
    assert await sink.drain(0.01)


async def test_an_idle_sink_wakes_for_a_new_batch(caplog: pytest.LogCaptureFixture) -> None:
    """After the queue ran dry, the next batch is delivered; a failing close is only logged."""
    destination = Destination()
    sink = fast(destination)
    await sink.start()
    await sink.put(batch(1))
    await destination.wait_for(1)
    assert await sink.drain(TIMEOUT)
    await sink.put(batch(2))
    await destination.wait_for(2)

    async def broken_close() -> None:
        raise OSError("socket already gone")

    destination.close = broken_close  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        await sink.stop()
    assert destination.received == [1, 2]
    assert "inv/test: closing the output failed" in caplog.text


async def test_spool_edge_cases(tmp_path: Path) -> None:
    """Nothing to push, an empty sink's head, closing twice."""
    never_opened = Spool(tmp_path / "unused.sqlite3", limit=5)
    await never_opened.close()
    assert not (tmp_path / "unused.sqlite3").exists()
    spool = Spool(tmp_path / "deeper" / "spool.sqlite3", limit=5)
    assert await spool.push("inv/test", []) == 0
    assert await spool.head("inv/test") is None
    assert await spool.stats("inv/test") == (0, 0)
    await spool.close()
    assert (tmp_path / "deeper" / "spool.sqlite3").exists()


async def test_stopping_during_an_outage_without_a_spool_loses_the_pending_counted() -> None:
    """Console outputs keep nothing across a restart: what was pending is counted as dropped."""
    destination = Destination()
    destination.up = False
    sink = fast(destination)
    await sink.start()
    await sink.put(batch(1))
    await destination.attempted()
    await sink.put(batch(2))
    await sink.stop(timeout=0.01)
    assert sink.stats.dropped == 2
    assert sink.pending == 0


async def test_an_output_back_online_cuts_the_retry_pause_short() -> None:
    """When the output says its destination is back (wake), the sink retries at once."""
    destination = Destination()
    destination.up = False
    sink = Sink(destination, "inv/test", backoff_min=600, backoff_max=600)
    await sink.start()
    await sink.put(batch(1))
    await destination.attempted()
    destination.up = True
    destination.wake()
    await destination.wait_for(1)
    assert destination.received == [1]
    await sink.stop()
