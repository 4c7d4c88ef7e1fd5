"""Fault injection around any simulator: what real links and devices do to answers.

:class:`Faults` says how often each fault happens; :class:`FaultySimulator` wraps a
:class:`~mppsolar_lib.simulator.base.Simulator` and decides, request by request, what actually
goes back: the answer, nothing (silence), line noise, the answer with a broken CRC, the first
part of it, the answer to the *previous* request (a stale reply), the answer after the host has
given up on it (late), or a dropped connection — and after how long (latency, plus the wire time
at :attr:`Faults.baud`). The serving layers (pty, TCP, Bluetooth, USB-HID, in-process transport)
carry out the :class:`Reply`; the decision is sans-IO and seeded, so a test sees the same faults
on every run.

A *script* makes faults exact rather than likely: ``Faults(script=("crc",))`` corrupts the first
answer and no other, and :meth:`FaultySimulator.inject` scripts the next requests of a device
already in use. Scripted faults come first; then the probabilities apply.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from enum import StrEnum

from mppsolar_lib.simulator.base import Simulator

#: Bits on the wire per byte at 8N1 (start + 8 data + stop).
BITS_PER_BYTE = 10
#: Bytes a CRC may not become when corrupted: they would change the framing, not the CRC.
_FRAMING = frozenset(b"\r\n(")


class Fault(StrEnum):
    """What happened to one answer."""

    NONE = "none"
    SILENCE = "silence"
    GARBAGE = "garbage"
    CRC = "crc"
    TRUNCATE = "truncate"
    STALE = "stale"
    DISCONNECT = "disconnect"
    #: The answer, but :attr:`Faults.late_by` seconds after it was due (past the host's timeout).
    LATE = "late"


def as_faults(names: Iterable[Fault | str]) -> tuple[Fault, ...]:
    """Return ``names`` as :class:`Fault` members (ValueError naming the allowed ones)."""
    result = []
    for name in names:
        try:
            result.append(Fault(name))
        except ValueError:
            allowed = ", ".join(fault.value for fault in Fault)
            raise ValueError(f"unknown fault {name!r}; use one of {allowed}") from None
    return tuple(result)


@dataclass(frozen=True)
class Faults:
    """How often each fault happens (probabilities per request, summing to at most 1).

    ``latency`` delays every answer by that many seconds; ``baud`` adds the time the answer
    takes on a serial line at that rate (8N1). ``seed`` makes the sequence of faults repeatable.
    A ``late`` answer comes ``late_by`` seconds after it was due. ``script`` lists the faults of
    the first requests, one each (``"none"`` for a clean answer); the probabilities apply after.
    """

    latency: float = 0.0
    silence: float = 0.0
    garbage: float = 0.0
    crc: float = 0.0
    truncate: float = 0.0
    stale: float = 0.0
    disconnect: float = 0.0
    seed: int | None = None
    baud: int | None = None
    late: float = 0.0
    #: Past the Device's default 2 s timeout.
    late_by: float = 3.0
    script: tuple[Fault | str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse impossible settings with a message that says what is allowed."""
        # Names are accepted for convenience ("crc"); kept as members (frozen: set directly).
        object.__setattr__(self, "script", as_faults(self.script))
        chances = self.chances()
        for fault, chance in chances:
            if not 0.0 <= chance <= 1.0:
                raise ValueError(f"{fault} must be a probability 0–1, got {chance}")
        if sum(chance for _, chance in chances) > 1.0 + 1e-9:
            raise ValueError("the fault probabilities add up to more than 1")
        if self.latency < 0:
            raise ValueError(f"latency must be 0 s or more, got {self.latency}")
        if self.baud is not None and self.baud <= 0:
            raise ValueError(f"baud must be a positive rate, got {self.baud}")
        if self.late_by <= 0:
            raise ValueError(f"late_by must be more than 0 s, got {self.late_by}")

    def chances(self) -> tuple[tuple[Fault, float], ...]:
        """Each fault with its probability, in the order they are drawn."""
        return tuple(
            (Fault(f.name), float(getattr(self, f.name)))
            for f in fields(self)
            if f.name in Fault._value2member_map_
        )

    @property
    def active(self) -> bool:
        """Whether anything at all is injected."""
        return bool(
            self.latency or self.baud or self.script or any(chance for _, chance in self.chances())
        )


@dataclass(frozen=True)
class Reply:
    """What the serving layer does with one request."""

    #: Bytes to send back (``None``: nothing).
    data: bytes | None
    #: Seconds to wait before sending (latency plus wire time).
    delay: float = 0.0
    #: Drop the connection instead of answering.
    disconnect: bool = False
    fault: Fault = Fault.NONE


def wire_time(size: int, baud: int | None) -> float:
    """Return the seconds ``size`` bytes take on a serial line at ``baud`` (0 without one)."""
    return size * BITS_PER_BYTE / baud if baud else 0.0


class FaultySimulator(Simulator):
    """A simulator whose answers suffer the faults of a :class:`Faults` profile."""

    def __init__(self, simulator: Simulator, faults: Faults) -> None:
        """Wrap ``simulator``; its own state and clock stay its own."""
        super().__init__(simulator.protocol.id, clock=simulator.clock, seed=faults.seed)
        self.inner = simulator
        self.faults = faults
        self.stream_interval = simulator.stream_interval
        self._previous: bytes | None = None
        self._script: deque[Fault] = deque(as_faults(faults.script))

    def reply(self, request: bytes) -> Reply:
        """Let the device answer ``request``, then decide what reaches the host, and when."""
        answer = self.inner.handle(request)
        previous, self._previous = self._previous, answer if answer is not None else self._previous
        fault = self._draw()
        data = answer
        if fault is Fault.DISCONNECT:
            return Reply(None, self.faults.latency, disconnect=True, fault=fault)
        if fault is Fault.SILENCE:
            data = None
        elif fault is Fault.GARBAGE:
            data = self._garbage()
        elif fault is Fault.STALE:
            data = previous
        elif data is not None and fault is Fault.CRC:
            data = self._corrupt(data)
        elif data is not None and fault is Fault.TRUNCATE:
            data = data[: self.random.randrange(1, max(2, len(data)))]
        delay = self.faults.latency + wire_time(len(data or b""), self.faults.baud)
        if fault is Fault.LATE:
            delay += self.faults.late_by
        return Reply(data, delay, fault=fault)

    def inject(self, *faults: Fault | str) -> None:
        """Make the next requests suffer ``faults``, one each, after those already scripted."""
        self._script.extend(as_faults(faults))

    @property
    def scripted(self) -> tuple[Fault, ...]:
        """The scripted faults still to come, in order."""
        return tuple(self._script)

    def handle(self, request: bytes) -> bytes | None:
        """Return what reaches the host (no delay applied; a disconnect is silence here)."""
        return self.reply(request).data

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split requests as the wrapped device does."""
        return self.inner.split_requests(buffer)

    def unsolicited(self) -> bytes:
        """Return what the wrapped device sends unasked."""
        return self.inner.unsolicited()

    def _draw(self) -> Fault:
        """Take this request's fault from the script, else pick it by its probability."""
        if self._script:
            return self._script.popleft()
        point = self.random.random()
        for fault, chance in self.faults.chances():
            if point < chance:
                return fault
            point -= chance
        return Fault.NONE

    def _garbage(self) -> bytes:
        """Line noise ending in CR (so a reader takes it as an answer and has to reject it)."""
        size = self.random.randint(1, 24)
        noise = bytes(self.random.choice(range(0x80, 0x100)) for _ in range(size))
        return noise + b"\r"

    def _corrupt(self, answer: bytes) -> bytes:
        """Change the check bytes so that they cannot match.

        Those are the two bytes before a final CR (Voltronic), else the last two (binary
        frames end with their checksum). Each changes by 2 or more, so that neither the plain
        nor the bumped value of a Voltronic CRC byte is left, and never into a framing byte.
        The two change by different amounts: where only the last byte is a checksum (a sum, as
        Daly's and JK's), the byte before it is data, and the same change to both would leave
        the sum matching (a valid frame with a wrong value instead of a CRC error).
        """
        end = len(answer) - 1 if answer.endswith(b"\r") else len(answer)
        start = max(0, end - 2)
        bad = bytearray()
        used = 0
        for byte in answer[start:end]:
            used = next(k for k in range(2, 9) if k != used and (byte + k) & 0xFF not in _FRAMING)
            bad.append((byte + used) & 0xFF)
        return answer[:start] + bytes(bad) + answer[end:]

    def __repr__(self) -> str:
        """Show the wrapped simulator and the fault profile."""
        return f"<FaultySimulator {self.inner!r} {self.faults}>"


class ReplyQueue:
    """Carry out replies on the event loop in order, each after its delay.

    A device answers one request after another, as the pty and TCP servers play it: an answer's
    delay starts when the one ahead of it has gone out (a late answer holds up those behind it).
    For serving layers driven by loop callbacks (Bluetooth notifications, HID reports): timers,
    no task and no sleep.
    """

    def __init__(self, carry_out: Callable[[Reply], None]) -> None:
        """Hand each reply to ``carry_out`` when it is due."""
        self._carry_out = carry_out
        self._queue: deque[tuple[float, Reply]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0

    def put(self, action: Reply) -> None:
        """Queue ``action``; it is carried out after its delay, and after those queued before."""
        loop = asyncio.get_running_loop()
        due = self._last = max(loop.time(), self._last) + action.delay
        self._queue.append((due, action))
        if self._timer is None:
            self._timer = loop.call_at(due, self._fire)

    def clear(self) -> None:
        """Forget the replies not carried out yet (the link went down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()
        self._last = 0.0

    def __len__(self) -> int:
        """Return how many replies are waiting."""
        return len(self._queue)

    def _fire(self) -> None:
        """Carry out the reply that is due, then wait for the next one."""
        self._timer = None
        _, action = self._queue.popleft()
        if self._queue:
            due = self._queue[0][0]
            self._timer = asyncio.get_running_loop().call_at(due, self._fire)
        # Last: carrying out may clear the queue (a disconnect) or queue more.
        self._carry_out(action)


def with_faults(simulator: Simulator, faults: Faults | None) -> Simulator:
    """Return ``simulator`` wrapped in ``faults`` (unwrapped when there are none)."""
    if faults is None or not faults.active:
        return simulator
    return FaultySimulator(simulator, faults)


def reply(simulator: Simulator, request: bytes) -> Reply:
    """Return what ``simulator`` (faulty or not) does with ``request``."""
    if isinstance(simulator, FaultySimulator):
        return simulator.reply(request)
    return Reply(simulator.handle(request))
