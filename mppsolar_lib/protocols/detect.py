"""Protocol auto-detection, sans-IO: a safe probe plan and a classifier of the answers.

"Which protocol is my inverter?" is the question users of these devices ask most, and a wrong
guess is expensive: a NAK at best, plausible-looking zeros at worst. The :class:`Detector` asks
in a fixed order, only ever *queries* (never a setter), and classifies each answer by its framing
first (``(PI30``, ``^D005…``, ``(NAK``, ``^0``, silence), then refines the variant from the model
number, model name, firmware and the shape of the status answers.

It does no I/O. The caller sends :attr:`Detector.probe`'s request, hands the answer (or ``None``
for silence) to :meth:`Detector.feed`, and repeats until :attr:`Detector.result` is set::

    detector = Detector()
    while (probe := detector.probe) is not None:
        detector.feed(await transport.exchange(probe.request))   # None on timeout
    print(detector.result)

:func:`detect` runs the same loop over a synchronous ``exchange`` function (tests, simulators).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
import re

from mppsolar_lib.errors import ProtocolError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.base import Protocol
from mppsolar_lib.protocols.command import Kind
from mppsolar_lib.protocols.fields import Result


class Framing(StrEnum):
    """What an answer looks like before anything is decoded."""

    SILENCE = "silence"
    #: ``(`` … CR: the PI16/PI30/PI41 family.
    PAREN = "paren"
    #: ``(NAK``: a PI-family device that does not know the command.
    PAREN_NAK = "paren_nak"
    #: ``^D`` + length: the PI17/PI18 family.
    CARET = "caret"
    #: ``^0``: a PI17/PI18 refusal.
    CARET_NAK = "caret_nak"
    #: The request came back unchanged (a loop-back cable or an echoing adapter).
    ECHO = "echo"
    #: ``<label>\\t<value>`` lines: a Victron VE.Direct device streaming text.
    VEDIRECT = "vedirect"
    GARBAGE = "garbage"


_VED_LINE = re.compile(rb"\r\n(PID|V|I|CS|SOC|FW|SER#|H\d+|Checksum)\t")


def classify(answer: bytes | None, request: bytes = b"") -> Framing:
    """Tell by its framing alone what kind of device produced ``answer``."""
    if not answer:
        return Framing.SILENCE
    if request and answer.startswith(request.rstrip(b"\r")):
        return Framing.ECHO
    if answer.startswith(b"(NAK"):
        return Framing.PAREN_NAK
    if answer[0] == 0x28 and answer[-1:] in (b"\r", b"\n"):
        return Framing.PAREN
    if answer.startswith(b"^0"):
        return Framing.CARET_NAK
    if answer.startswith(b"^D") and answer[2:5].isdigit():
        return Framing.CARET
    if _VED_LINE.search(answer):
        return Framing.VEDIRECT
    return Framing.GARBAGE


@dataclass(frozen=True)
class Probe:
    """One query of the plan: the bytes to send and how to read the answer."""

    #: What the probe asks, for logs (``"QPI with CRC"``).
    label: str
    #: Protocol whose table builds the request and decodes the answer.
    protocol: str
    command: str
    request: bytes
    #: Read the answer with the protocol's own framing (its ``answer_length``) for at least
    #: its ``answer_time``, rather than with the reader that tells framings apart.
    framed: bool = False


@dataclass(frozen=True)
class Detection:
    """The outcome: a protocol id (or ``None``), how sure, and who the device says it is."""

    protocol: str | None
    #: 0 … 1: 0.9 and above is a positive identification; below 0.6 a best guess worth confirming.
    confidence: float
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    #: Protocols that answer identically and cannot be told apart by probing.
    alternatives: tuple[str, ...] = ()
    #: What was asked and seen, in order, for diagnostics.
    evidence: tuple[str, ...] = field(default=())


#: First stage, in this order: cheapest and most common first; each is a harmless query.
_FRAMING_PROBES: tuple[tuple[str, str, str, Callable[[Protocol, str], bytes] | None], ...] = (
    ("QPI with CRC", "pi30", "QPI", None),
    ("^P005PI with CRC", "pi18", "PI", None),
    ("^P003PI", "pi17", "PI", None),
    ("^P005PI without CRC", "pi18lvx", "PI", None),
    ("QPI without CRC", "pi30", "QPI", lambda proto, text: text.encode("ascii") + b"\r"),
    ("Q1", "pi30", "Q1", None),
)

#: ``(PIxx`` / ``^D005xx`` protocol numbers -> our family.
_PI_NUMBERS: Mapping[str, str] = {
    "30": "pi30",
    "41": "pi41",
    "16": "pi16",
    "17": "pi17",
    "18": "pi18",
}

#: QGMN general model numbers that select a PI30 variant.
_GENERAL_MODELS: Mapping[str, str] = {"044": "pi30m044", "045": "pi30m045"}

#: PI17 machine numbers (MD) that select a variant.
_PI17_MACHINES: Mapping[str, str] = {"058": "pi17m058"}


def _probe(label: str, protocol_id: str, command: str, *, framed: bool = False) -> Probe:
    proto = get_protocol(protocol_id)
    definition, _ = proto.resolve(command)
    if definition.kind is not Kind.QUERY:  # pragma: no cover - a table bug, never on the wire
        raise AssertionError(f"detection must never send {command}: it is a {definition.kind}")
    return Probe(label, protocol_id, command, proto.build_request(command), framed)


def framing_probes() -> tuple[Probe, ...]:
    """Return the first-stage probes in the order they are sent."""
    probes = []
    for label, protocol_id, command, build in _FRAMING_PROBES:
        probe = _probe(label, protocol_id, command)
        if build is not None:
            probe = Probe(label, protocol_id, command, build(get_protocol(protocol_id), command))
        probes.append(probe)
    return tuple(probes)


def _first(result: Result | None, *words: str) -> str | None:
    """Return the first field whose key contains one of ``words``, as text."""
    if result is None:
        return None
    for key, value in result.items():
        if any(word in key for word in words):
            return str(value).strip() or None
    return None


def _firmware(result: Result | None) -> str | None:
    text = _first(result, "firmware", "cpu_version")
    return text.removeprefix("VERFW:") if text else None


_VED_FIRMWARE = re.compile(r"([0-9]{1,2})([0-9]{2})(?:FF)?")


def _ved_firmware(text: object) -> str | None:
    """``"0419"`` (FW) or ``"0419FF"`` (FWE, a release) -> ``"4.19"``; other text as sent."""
    if text is None:
        return None
    raw = str(text).strip()
    match = _VED_FIRMWARE.fullmatch(raw)
    return f"{int(match[1])}.{match[2]}" if match else raw or None


def _ved_identity(result: Result | None) -> Identity | None:
    """Return model, firmware and serial from VE.Direct text, ``None`` if it has none of them.

    The model is the product id's name (``PID``) where the table knows it, else the model
    description the unit sends (``BMV``), else ``Unknown (<PID>)``.
    """
    if result is None:
        return None
    name = result.get("product_name")
    known = name if isinstance(name, str) and not name.startswith("Unknown") else None
    described = result.get("model_description")
    model = known or (str(described) if described else None) or (str(name) if name else None)
    firmware = _ved_firmware(
        result.get("firmware_version_16_bit", result.get("firmware_version_24_bit"))
    )
    serial = result.get("serial_number")
    identity = (model, firmware, str(serial) if serial else None)
    return identity if any(identity) else None


def _serial(result: Result | None) -> str | None:
    """Return the serial number; PI17/PI18 send it as a 2-digit length, the digits and padding."""
    text = _first(result, "serial")
    if text and len(text) > 2 and text[:2].isdigit() and 0 < int(text[:2]) <= len(text) - 2:
        return text[2 : 2 + int(text[:2])]
    return text


_Answer = Generator[Probe, bytes | None, Detection]
#: (model, firmware, serial)
Identity = tuple[str | None, str | None, str | None]


class _Session:
    """The state one detection run accumulates: evidence and decoded answers."""

    def __init__(self) -> None:
        self.evidence: list[str] = []

    def ask(self, probe: Probe) -> Generator[Probe, bytes | None, tuple[Framing, Result | None]]:
        """Send ``probe``; classify and, where the framing fits, decode the answer."""
        answer = yield probe
        framing = classify(answer, probe.request)
        result: Result | None = None
        note = framing.value
        if answer and framing in (Framing.PAREN, Framing.CARET):
            try:
                result = get_protocol(probe.protocol).decode(probe.command, answer)
            except ProtocolError as err:
                framing = Framing.GARBAGE
                note = f"unreadable ({type(err).__name__})"
            else:
                note = " ".join(f"{k}={v}" for k, v in result.items())[:80] or "empty"
        elif answer and framing is Framing.VEDIRECT:
            # The main block, if one came whole (a capture may cut it: no result then).
            with contextlib.suppress(ProtocolError):
                result = get_protocol("ved").decode("vedstatus", answer)
        self.evidence.append(f"{probe.label}: {note}")
        return framing, result

    def query(
        self, protocol_id: str, command: str
    ) -> Generator[Probe, bytes | None, Result | None]:
        """Ask one refinement query; return its decoded answer or ``None``."""
        _, result = yield from self.ask(_probe(command, protocol_id, command))
        return result

    def done(
        self,
        protocol: str | None,
        confidence: float,
        identity: Identity | None = None,
        alternatives: tuple[str, ...] = (),
    ) -> Detection:
        """Build the detection with the evidence gathered so far."""
        model, firmware, serial = identity or (None, None, None)
        return Detection(
            protocol, confidence, model, firmware, serial, alternatives, tuple(self.evidence)
        )


def _plan() -> _Answer:
    session = _Session()
    answered: dict[str, tuple[Framing, Result | None]] = {}
    for probe in framing_probes():
        framing, result = yield from session.ask(probe)
        answered[probe.label] = (framing, result)
        if framing is Framing.VEDIRECT:
            return (yield from _refine_vedirect(session, result))
        if framing not in (Framing.PAREN, Framing.CARET):
            continue
        number = _first(result, "protocol")
        if probe.command == "Q1":
            # Only an old PI30 unit answers Q1 but not QPI; the layout decoded, so say so.
            return session.done("pi30", 0.5)
        family = _PI_NUMBERS.get((number or "").removeprefix("PI"))
        if family is None:
            session.evidence.append(f"unknown protocol number {number!r}")
            continue
        if family in ("pi30", "pi41", "pi16"):
            return (yield from _refine_paren(session, family))
        if family == "pi17":
            return (yield from _refine_pi17(session))
        with_crc = answered.get("^P005PI with CRC", (Framing.SILENCE, None))[0]
        return (yield from _refine_pi18(session, crc=with_crc is Framing.CARET))
    return session.done(None, 0.0)


def _refine_paren(session: _Session, family: str) -> _Answer:
    """PI16/PI30/PI41: identity, then the PI30 variant from model number and name."""
    base = "pi30" if family == "pi30" else family
    serial = _first((yield from session.query(base, "QID")), "serial")
    firmware = _firmware((yield from session.query(base, "QVFW")))
    if family != "pi30":
        model = _first((yield from session.query(base, "QGMN")), "model")
        return session.done(family, 0.95, (model, firmware, serial))
    general = _first((yield from session.query("pi30", "QGMN")), "model")
    name = _first((yield from session.query("pi30", "QMN")), "model")
    model = name or general
    identity = (model, firmware, serial)
    variant = _GENERAL_MODELS.get(general or "")
    if variant is not None:
        return session.done(variant, 0.9, identity)
    if name and "MST" in name.upper():
        return session.done("pi30mst", 0.8, identity)
    pv2 = yield from session.query("pi30max", "QPIGS2")
    if pv2 is not None or (name and "MAX" in name.upper()):
        return session.done("pi30max", 0.85, identity, ("pi30mst",))
    # REVO units say PI30 too, and report neither model number nor name; only they answer
    # QALL (with their 8-bit check).
    if (yield from session.query("pi30revo", "QALL")) is not None:
        return session.done("pi30revo", 0.85, identity, ("pi30",))
    status = yield from session.query("pi30", "QPIGS")
    confidence = 0.9 if status is not None else 0.6
    return session.done("pi30", confidence, identity, ("pi30revo",))


def _refine_vedirect(session: _Session, heard: Result | None) -> _Answer:
    """VE.Direct: the identity from the main text block, listened for if the probe missed it.

    The unit talks unasked, so the first probe's answer is its text; when that held no whole
    main block (the probe's timeout came first), the plan listens once more, at the unit's
    pace. A main block without PID, FW or SER# gives no identity.
    """
    if heard is None:
        listen = _probe("VE.Direct status", "ved", "vedstatus", framed=True)
        _, heard = yield from session.ask(listen)
    identity = _ved_identity(heard)
    return session.done("ved", 0.95 if identity else 0.9, identity)


def _refine_pi17(session: _Session) -> _Answer:
    """PI17: identity, then the variant from the machine number."""
    serial = _serial((yield from session.query("pi17", "ID")))
    firmware = _firmware((yield from session.query("pi17", "VFW")))
    machine = yield from session.query("pi17", "MD")
    number = None if machine is None else (machine.raw[5:8].decode("ascii", "replace"))
    model = _first(machine, "machine")
    identity = (model, firmware, serial)
    variant = _PI17_MACHINES.get(number or "")
    if variant is not None:
        return session.done(variant, 0.7, identity)
    return session.done("pi17", 0.9, identity, ("pi17infini",))


def _refine_pi18(session: _Session, *, crc: bool) -> _Answer:
    """PI18: the variant from CRC handling and the fault-status query only SV/LVX firmware know.

    Plain PI18 firmware wants a CRC on every request; EASUN SV units answer the identity queries
    without one and take a CRC elsewhere; LVX units never use one.
    """
    base = "pi18" if crc else "pi18lvx"
    serial = _serial((yield from session.query(base, "ID")))
    firmware = _firmware((yield from session.query(base, "VFW")))
    identity = (None, firmware, serial)
    if (yield from session.query("pi18sv", "FWS")) is not None:
        return session.done("pi18sv", 0.8, identity, ("pi18lvx",))
    if not crc and (yield from session.query("pi18lvx", "FWS")) is not None:
        return session.done("pi18lvx", 0.8, identity)
    if not crc:
        return session.done("pi18lvx", 0.5, identity, ("pi18sv",))
    return session.done("pi18", 0.85, identity)


class Detector:
    """Drive the probe plan one answer at a time (see the module docstring)."""

    def __init__(self) -> None:
        """Start the plan; :attr:`probe` is the first query to send."""
        self._plan = _plan()
        self._result: Detection | None = None
        self._probe: Probe | None = next(self._plan)

    @property
    def probe(self) -> Probe | None:
        """Return the query to send next, or ``None`` when detection is finished."""
        return self._probe

    @property
    def result(self) -> Detection | None:
        """Return the detection once finished."""
        return self._result

    def feed(self, answer: bytes | None) -> None:
        """Hand over the answer to :attr:`probe` (``None`` for silence / timeout)."""
        if self._probe is None:
            raise RuntimeError("detection is finished; nothing was asked")
        try:
            self._probe = self._plan.send(answer)
        except StopIteration as stop:
            self._probe = None
            self._result = stop.value


def detect(exchange: Callable[[bytes], bytes | None]) -> Detection:
    """Run the whole plan over a synchronous ``exchange(request) -> answer | None``."""
    detector = Detector()
    while (probe := detector.probe) is not None:
        detector.feed(exchange(probe.request))
    assert detector.result is not None
    return detector.result
