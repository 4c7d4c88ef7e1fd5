"""The simulator contract: a virtual device answers request bytes as the real one would.

A simulator is sans-IO like the protocols: :meth:`Simulator.handle` takes the bytes a host sent
and returns the bytes the device sends back (``None`` for silence), changing its state as a real
unit would (a setter changes what later queries report). Serving it over a pseudo-terminal, TCP,
Bluetooth or in-process, and injecting faults, are separate layers built on this method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
import random
import time

from mppsolar_lib.protocols import Protocol, get_protocol


class Simulator(ABC):
    """A stateful virtual device speaking one protocol."""

    #: Seconds between two sends of :meth:`unsolicited` when the device is served (a pty, TCP);
    #: ``None``: the device says nothing unasked.
    stream_interval: float | None = None

    def __init__(
        self,
        protocol_id: str,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        """Speak ``protocol_id``; ``clock`` (seconds) drives values that move over time."""
        self.protocol: Protocol = get_protocol(protocol_id)
        self.clock = clock
        self.random = random.Random(seed)

    @abstractmethod
    def handle(self, request: bytes) -> bytes | None:
        """Return the device's answer to ``request`` (``None``: the device stays silent)."""

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Split bytes received so far into complete requests and the incomplete rest.

        Servers feed whatever arrives (a byte stream has no message boundaries) and answer
        each complete request in order. The default suits CR-terminated requests, each kept
        with its CR; binary protocols override it with their own framing.
        """
        requests = []
        start = 0
        while (end := buffer.find(b"\r", start)) >= 0:
            requests.append(buffer[start : end + 1])
            start = end + 1
        return requests, buffer[start:]

    def unsolicited(self) -> bytes:
        """Return bytes the device sends without being asked (VE.Direct text); none by default."""
        return b""

    def __repr__(self) -> str:
        """Class and protocol."""
        return f"<{type(self).__name__} {self.protocol.id}>"
