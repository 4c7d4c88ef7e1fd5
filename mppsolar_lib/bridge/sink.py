"""A sink: one output of one device behind a bounded queue, with retry, backoff and a spool.

The poll loop hands each poll's reports to :meth:`Sink.put` and goes on; a worker task delivers
them to the :class:`~mppsolar_lib.outputs.base.Output` in order. When the output's destination
is down (:class:`~mppsolar_lib.outputs.base.OutputUnavailableError`) the worker retries the
same batch with exponential backoff (5 s → 300 s, with jitter) while new batches queue up: in
memory up to ``memory_limit`` batches, then the oldest move to the on-disk
:class:`~mppsolar_lib.bridge.spool.Spool`. On stop, whatever is still pending goes to the spool
too, and the next start delivers it first. Every batch carries a sequence number, so the spool
and memory together always deliver oldest first, each batch once.

Any other exception from an output is a bug or a batch it can never take: it is logged with its
traceback and that batch is dropped (counted), so it cannot block the batches behind it.
"""

from __future__ import annotations

import asyncio
from collections import deque
import contextlib
from dataclasses import dataclass
import logging
import random
from typing import TYPE_CHECKING, Final

from mppsolar_lib.outputs.base import OutputUnavailableError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mppsolar_lib.bridge.spool import Spool
    from mppsolar_lib.outputs.base import Output, Report

_LOGGER = logging.getLogger(__name__)

BACKOFF_MIN: Final = 5.0
BACKOFF_MAX: Final = 300.0


@dataclass(slots=True)
class SinkStats:
    """What a sink has done, for logs, metrics and tests."""

    #: Batches the output took.
    delivered: int = 0
    #: Batches lost: the memory bound without a spool, the spool bound, or an output bug.
    dropped: int = 0
    #: Failed delivery attempts that will be retried.
    retries: int = 0
    #: Batches moved to the spool.
    spooled: int = 0
    #: The last error seen (``None`` after a successful delivery).
    last_error: str | None = None


class Sink:
    """Deliver batches of reports to ``output`` in order, without ever blocking the caller long."""

    def __init__(
        self,
        output: Output,
        key: str,
        *,
        spool: Spool | None = None,
        memory_limit: int = 1000,
        backoff_min: float = BACKOFF_MIN,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        """Wrap ``output``; ``key`` names this sink in the spool and in logs (``device/output``)."""
        self.output = output
        self.key = key
        self.spool = spool
        self.memory_limit = memory_limit
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.stats = SinkStats()
        self._memory: deque[tuple[int, Sequence[Report]]] = deque()
        self._inflight: tuple[int, Sequence[Report]] | None = None
        self._next_seq = 1
        self._on_disk = 0
        # Spills under way: the worker must wait for them, or it could pass their batches.
        self._spilling = 0
        self._wakeup = asyncio.Event()
        # Set when the output says its destination is back: the retry pause ends early.
        self._retry = asyncio.Event()
        output.wake = self._retry.set
        self._idle = asyncio.Event()
        self._idle.set()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        """Batches not delivered yet (memory, in flight and spool)."""
        return len(self._memory) + (self._inflight is not None) + self._on_disk

    async def start(self) -> None:
        """Pick up what a previous run spooled, then start delivering."""
        if self.spool is not None:
            self._on_disk, top = await self.spool.stats(self.key)
            self._next_seq = top + 1
            if self._on_disk:
                _LOGGER.info(
                    "%s: %d batches kept from before, delivered first", self.key, self._on_disk
                )
        self._task = asyncio.create_task(self._run(), name=f"sink {self.key}")
        if self._on_disk:
            self._idle.clear()
            self._wakeup.set()

    async def put(self, reports: Sequence[Report]) -> None:
        """Queue one poll's reports; spills (or drops) the oldest batch past the memory bound."""
        if not reports:
            return
        self._memory.append((self._next_seq, reports))
        self._next_seq += 1
        self._idle.clear()
        self._wakeup.set()
        if len(self._memory) > self.memory_limit:
            await self._spill([self._memory.popleft()])

    async def _spill(self, items: list[tuple[int, Sequence[Report]]]) -> None:
        if self.spool is None:
            self.stats.dropped += len(items)
            _LOGGER.warning(
                "%s: more than %d batches waiting and no spool: dropped the oldest (%d dropped so far)",
                self.key,
                self.memory_limit,
                self.stats.dropped,
            )
            return
        self._spilling += 1
        try:
            async with self._lock:
                dropped = await self.spool.push(self.key, items)
                self._on_disk += len(items) - dropped
        finally:
            self._spilling -= 1
        self.stats.spooled += len(items)
        if dropped:
            self.stats.dropped += dropped
            _LOGGER.warning(
                "%s: spool full (%d batches): dropped the %d oldest (%d dropped so far)",
                self.key,
                self.spool.limit,
                dropped,
                self.stats.dropped,
            )

    async def _next(self) -> tuple[int, Sequence[Report], bool] | None:
        """Return the oldest pending batch and whether it is on disk (``None``: nothing)."""
        head = None
        while (self._on_disk or self._spilling) and self.spool is not None:
            async with self._lock:
                head = await self.spool.head(self.key)
                if head is None and not self._spilling:
                    self._on_disk = 0
            # A spill that began while the head was read holds batches older than memory's
            # first: wait for it (it queues on the lock) and read the head again.
            if not self._spilling:
                break
        if self._memory and (head is None or self._memory[0][0] < head[0]):
            self._inflight = self._memory.popleft()
            return (*self._inflight, False)
        if head is not None:
            return (head[0], head[1], True)
        return None

    async def _run(self) -> None:
        while True:
            item = await self._next()
            if item is None:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            seq, reports, on_disk = item
            await self._deliver(reports)
            if on_disk and self.spool is not None:
                async with self._lock:
                    await self.spool.remove(self.key, seq)
                    self._on_disk = max(self._on_disk - 1, 0)
            self._inflight = None

    async def _deliver(self, reports: Sequence[Report]) -> None:
        """Send one batch until the output takes it (or cannot ever take it)."""
        delay = self.backoff_min
        failing = False
        while True:
            try:
                await self.output.send(reports)
            except OutputUnavailableError as err:
                self.stats.retries += 1
                self.stats.last_error = str(err)
                if not failing:
                    _LOGGER.warning("%s: %s; keeping readings and retrying", self.key, err)
                    failing = True
                pause = delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), pause)
                self._retry.clear()
                delay = min(delay * 2, self.backoff_max)
                continue
            except Exception:
                self.stats.dropped += 1
                _LOGGER.exception("%s: output failed on a batch; dropped it", self.key)
                return
            if failing:
                _LOGGER.info("%s: delivering again", self.key)
            self.stats.delivered += 1
            self.stats.last_error = None
            return

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for everything pending to be delivered."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout``, spool the rest, close the output."""
        if self._task is None:
            return
        await self.drain(timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        rest = list(self._memory)
        if self._inflight is not None:
            rest.insert(0, self._inflight)
        self._memory.clear()
        self._inflight = None
        if rest:
            await self._spill(rest)
            if self.spool is not None:
                _LOGGER.info("%s: %d batches kept for the next start", self.key, len(rest))
        try:
            await self.output.close()
        except Exception:
            _LOGGER.exception("%s: closing the output failed", self.key)
