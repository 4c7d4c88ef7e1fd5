"""A link and two inverters for the Device tests, written independently of the simulator.

:class:`FakeLink` is a real :class:`~mppsolar_lib.transports.base.BufferedTransport` (the code
path serial, TCP and Bluetooth links share) whose far end is a responder: a function from
request bytes to answer bytes. Answers are delivered in small chunks over several event-loop
turns, as a UART would, so exchanges that were not serialised would interleave. Faults are
injected per request (:attr:`FakeLink.faults`).

:class:`PI30Unit` and :class:`PI18Unit` are small stateful inverters: they check the request's
CRC, answer with frames built by ``tests/helpers.py`` and apply setters to the state later
queries report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import re

from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.transports.base import BufferedTransport, Completion

from .helpers import caret_frame, pi_crc_bytes, pi_frame

#: Faults a request can meet, in the order of :attr:`FakeLink.faults`:
#: ok, silent (answer dropped), lost (request dropped: the unit never sees it), late (the
#: answer arrives after the next request), crc, short (cut, CR kept), cut (no terminator),
#: garbage, echo (request echoed, then the answer), echo_only, stale (the previous request's
#: answer first), disconnect, oserror (the write fails with an OSError).
FAULTS = (
    "ok",
    "silent",
    "lost",
    "late",
    "crc",
    "short",
    "cut",
    "garbage",
    "echo",
    "echo_only",
    "stale",
    "disconnect",
    "oserror",
)

QPIGS = (
    "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
    "00110110 00 00 00856 010"
)
Q1 = "00000 00000 01 01 00 059 045 053 068 00 00 000 0040 0580 0000 50.00 139"
QPIRI = (
    "230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1"
)
QMCHGCR = "010 020 030 040 050 060 070 080 090 100 110 120"
PIRI = "2300,217,2300,500,217,5000,5000,480,500,540,450,552,545,2,10,060,1,1,1,9,1,0,0,0,1"


class FakeLink(BufferedTransport):
    """A buffered link whose far end is ``responder``; see the module docstring."""

    name = "fake://link"

    def __init__(self, responder: Callable[[bytes], bytes | None], *, chunk: int = 5) -> None:
        """Answer with ``responder``, ``chunk`` bytes per event-loop turn."""
        super().__init__()
        self.responder = responder
        self.chunk = chunk
        #: Faults for the next requests, one consumed per request ("ok" when empty).
        self.faults: list[str] = []
        #: Every request written, in order.
        self.requests: list[bytes] = []
        self.opens = 0
        self.closes = 0
        #: Raised by the next opens while set.
        self.refuse: MppSolarError | OSError | None = None
        #: How many exchanges only listened (an empty request: the Device letting a line settle).
        self.listens = 0
        #: How many exchanges ran at once, at most.
        self.most_at_once = 0
        self._at_once = 0
        self._late = b""
        self._previous = b""

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Count overlapping exchanges (the Device must never overlap them)."""
        self._at_once += 1
        self.most_at_once = max(self.most_at_once, self._at_once)
        self.listens += not request
        try:
            return await super().exchange(request, complete, timeout)
        finally:
            self._at_once -= 1

    async def _connect(self) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.opens += 1

    async def _disconnect(self) -> None:
        self.closes += 1

    async def _write(self, data: bytes) -> None:
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "oserror":
            raise OSError(5, "Input/output error")
        self.requests.append(data)
        out, self._late = self._late, b""
        if fault == "lost":
            self._deliver(out)
            return
        answer = self.responder(data) or b""
        out += self._faulty(fault, data, answer)
        if answer and fault != "stale":
            self._previous = answer
        if fault == "disconnect":
            asyncio.get_running_loop().call_soon(self.lost, None)
        self._deliver(out)

    def _faulty(self, fault: str, request: bytes, answer: bytes) -> bytes:
        """Return what reaches the host for ``answer`` under ``fault``."""
        if fault == "late":
            self._late = answer
        if not answer:
            return request if fault in ("echo", "echo_only") else b""
        faulty = {
            "ok": answer,
            "crc": answer[:3] + bytes((answer[3] ^ 0x01,)) + answer[4:],
            "short": answer[:2] + b"\r",
            "cut": answer[: len(answer) // 2],
            "garbage": b"\x8f\x13zz%\x00\xfe\r",
            "echo": request + answer,
            "echo_only": request,
            "stale": self._previous + answer,
        }
        return faulty.get(fault, b"")

    def _deliver(self, data: bytes) -> None:
        """Feed ``data`` a chunk per event-loop turn (dropped if the link closed meanwhile)."""
        if not data:
            return
        head, rest = data[: self.chunk], data[self.chunk :]

        def step() -> None:
            if self._open:
                self.feed(head)
                self._deliver(rest)

        asyncio.get_running_loop().call_soon(step)


def _valid(data: bytes) -> bool:
    """Whether ``data`` ends with a Voltronic CRC (either form of the reserved bytes)."""
    return data[-2:] in (pi_crc_bytes(data[:-2]), pi_crc_bytes(data[:-2], bump=False))


class PI30Unit:
    """A PI30 inverter: fixed identity and status, settings that setters change."""

    def __init__(self) -> None:
        """Start with the settings of :data:`QPIRI` and flags ``EbkuvxzDajy``."""
        self.qpiri = QPIRI.split(" ")
        self.enabled = set("bkuvxz")
        self.disabled = set("ajy")
        #: Commands this unit answers with NAK (a firmware without them).
        self.refuses: set[str] = {"QPIGS2"}
        #: ACK setters without applying them (a unit that ignores them in its current mode).
        self.stubborn = False
        self.fixed = {
            "QPI": "PI30",
            "QID": "92931701100510",
            "QVFW": "VERFW:00072.70",
            "QGMN": "038",
            "QMN": "MKS2-5000",
            "QMOD": "B",
            "QPIWS": "00000000000000000000000000000000",
            "QPIGS": QPIGS,
            "Q1": Q1,
            "QMCHGCR": QMCHGCR,
        }

    def __call__(self, request: bytes) -> bytes | None:
        """Answer one request; a request with a bad CRC is ignored, as units do."""
        data = request.removesuffix(b"\r")
        if not _valid(data):
            return None
        text = data[:-2].decode("latin-1")
        if text in self.refuses:
            return pi_frame("NAK")
        if text in self.fixed:
            return pi_frame(self.fixed[text])
        if text == "QPIRI":
            return pi_frame(" ".join(self.qpiri))
        if text == "QFLAG":
            return pi_frame(
                "E" + "".join(sorted(self.enabled)) + "D" + "".join(sorted(self.disabled))
            )
        return pi_frame("ACK" if self._set(text) else "NAK")

    def _set(self, text: str) -> bool:
        """Apply a setter; return whether it was accepted."""
        patterns: tuple[tuple[str, int, Callable[[str], str]], ...] = (
            (r"POP(0[0-2])", 16, lambda v: str(int(v))),
            (r"PCP(0[0-3])", 17, lambda v: str(int(v))),
            (r"PBT(0[0-2])", 12, lambda v: str(int(v))),
            (r"PBCV(\d\d\.\d)", 8, str),
            (r"MCHGC0(\d\d)", 14, lambda v: f"{int(v):03d}"),
            (r"MNCHGC0(\d\d\d)", 14, lambda v: f"{int(v):03d}"),
        )
        for pattern, position, convert in patterns:
            match = re.fullmatch(pattern, text)
            if match:
                if not self.stubborn:
                    self.qpiri[position] = convert(match[1])
                return True
        match = re.fullmatch(r"P([ED])([a-z])", text)
        if match:
            on, off = (
                (self.enabled, self.disabled) if match[1] == "E" else (self.disabled, self.enabled)
            )
            if not self.stubborn:
                off.discard(match[2])
                on.add(match[2])
            return True
        return False


class PI18Unit:
    """A PI18 inverter (``^P``/``^S`` requests, ``^D``/``^1``/``^0`` answers)."""

    def __init__(self) -> None:
        """Start with the settings of :data:`PIRI`."""
        self.piri = PIRI.split(",")

    def __call__(self, request: bytes) -> bytes | None:
        """Answer one request; PI30-style requests get ``(NAK`` as real units send."""
        data = request.removesuffix(b"\r")
        if not data.startswith((b"^P", b"^S")):
            return pi_frame("NAK")
        text = (data[5:-2] if _valid(data) else data[5:]).decode("latin-1")
        fixed = {"PI": "18", "ID": "1496161808100031000000", "VFW": "05210,00000,00000"}
        if text in fixed:
            return caret_frame(fixed[text])
        if text == "PIRI":
            return caret_frame(",".join(self.piri))
        match = re.fullmatch(r"MCHGV(\d\d\d),(\d\d\d)", text)
        if match:
            self.piri[11], self.piri[12] = match[1], match[2]
            body = b"^1"
            return body + pi_crc_bytes(body, bump=False) + b"\r"
        return caret_frame("", nak=True)
