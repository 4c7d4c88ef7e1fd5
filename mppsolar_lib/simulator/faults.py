"""Fault injection around any simulator: what real links and devices do to answers.

:class:`Faults` says how often each fault happens; :class:`FaultySimulator` wraps a
:class:`~mppsolar_lib.simulator.base.Simulator` and decides, request by request, what actually
goes back: the answer, nothing (silence), line noise, the answer with a broken CRC, the first
part of it, the answer to the *previous* request (a late reply), or a dropped connection — and
after how long (latency, plus the wire time at :attr:`Faults.baud`). The serving layers (pty,
TCP, in-process transport) carry out the :class:`Reply`; the decision is sans-IO and seeded, so a
test sees the same faults on every run.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Faults:
    """How often each fault happens (probabilities per request, summing to at most 1).

    ``latency`` delays every answer by that many seconds; ``baud`` adds the time the answer
    takes on a serial line at that rate (8N1). ``seed`` makes the sequence of faults repeatable.
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

    def __post_init__(self) -> None:
        """Refuse impossible settings with a message that says what is allowed."""
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
        return bool(self.latency or self.baud or any(chance for _, chance in self.chances()))


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
        return Reply(data, delay, fault=fault)

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
        """Pick this request's fault by its probability."""
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
        """
        end = len(answer) - 1 if answer.endswith(b"\r") else len(answer)
        start = max(0, end - 2)
        bad = bytes(
            next(b for b in ((byte + k) & 0xFF for k in range(2, 8)) if b not in _FRAMING)
            for byte in answer[start:end]
        )
        return answer[:start] + bad + answer[end:]

    def __repr__(self) -> str:
        """Show the wrapped simulator and the fault profile."""
        return f"<FaultySimulator {self.inner!r} {self.faults}>"


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
