"""Framings shared by the Voltronic (PI-family) protocols: ``(payload CRC CR`` and ``^D…``.

Requests are ``COMMAND`` + CRC-16/XMODEM + CR; answers start with ``(``, end with CR (a few firmwares
end QBMS with LF) and carry the same CRC over everything before it. ``(NAK`` is a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from mppsolar_lib.crc import pi_crc, pi_crc_matches, sum8_digits
from mppsolar_lib.errors import CRCError, EchoError, FrameError, NAKError, TruncatedFrameError
from mppsolar_lib.protocols.base import Protocol, walk
from mppsolar_lib.protocols.command import Command, Kind
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Out, Spec, Str

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

#: The request's own date, echoed as fields of the energy answers (as the reference does).
PERIOD_SPECS = (
    Str("Year", hints=DIAGNOSTIC),
    Str("Month", hints=DIAGNOSTIC),
    Str("Day", hints=DIAGNOSTIC),
)


def period_values(text: str) -> dict[str, str]:
    """``"20240115"`` -> year ``"2024"``, month ``"January"``, day ``"15"`` (as far as given)."""
    values = {"year": text[:4]}
    if len(text) >= 6:
        values["month"] = MONTH_NAMES[int(text[4:6]) - 1]
    if len(text) >= 8:
        values["day"] = text[6:8]
    return values


class VoltronicProtocol(Protocol):
    """Base of the PI16/17/18/30/41 families' framing (PI30 style by default)."""

    def frame(self, command: Command, text: str) -> bytes:
        """``text`` + CRC + CR."""
        data = text.encode("ascii")
        return data + pi_crc(data) + b"\r"

    def unframe(self, command: Command, frame: bytes, sent: str) -> str:
        """Check start byte, terminator, NAK and CRC; return the text between ``(`` and the CRC."""
        if len(frame) < 4:
            raise TruncatedFrameError(f"{sent}: answer too short ({frame!r})")
        if frame[0] != 0x28:  # "("
            if frame.startswith(sent.encode("ascii", "replace")):
                raise EchoError(f"{sent}: the device echoed the request instead of answering")
            raise FrameError(f"{sent}: answer does not start with '(' ({frame[:16]!r}…)")
        if frame[-1] not in (0x0D, 0x0A):
            raise TruncatedFrameError(f"{sent}: answer has no terminator ({frame[-16:]!r})")
        body = frame[:-3]
        if body[1:4] == b"NAK":
            raise NAKError(f"{sent}: the device refused the command (NAK)")
        if not pi_crc_matches(body, frame[-3:-1]):
            raise CRCError(f"{sent}: CRC mismatch in {frame!r}")
        return body[1:].decode("latin-1")

    def answer_tokens(
        self, command: Command, frame: bytes, sent: str
    ) -> tuple[Sequence[Spec], list[str]] | None:
        """Return the space-separated values between ``(`` and the CRC (for the reply check)."""
        return command.fields, self.unframe(command, frame, sent).split(" ")


class CaretProtocol(Protocol):
    """``^``-framed protocols (PI17, PI18): ``^P``/``^S`` + length requests, ``^D``/``^1``/``^0`` answers.

    Variants differ in three class attributes: whether requests carry a CRC (:attr:`request_crc`,
    overridable per command with ``crc=`` in :attr:`Command.options`), whether the request's
    length counts those CRC bytes (:attr:`length_counts_crc`: PI18 counts them even when none is
    sent, PI17 never does), and a command option ``date_sum=True`` (PI17 energy queries) that
    appends the three-digit byte sum of the frame so far. Energy-by-period queries
    (``period=True``) echo their requested date as fields.

    Answers are always CRC-checked (CRC-16/XMODEM; plain or bumped reserved bytes). The length
    field is what lets a reader find the end of a frame whose CRC contains a CR; a frame shorter
    than it declares is truncated, a longer one is judged by its CRC alone (reference examples
    with a length one or two short and a valid CRC exist).
    """

    #: Whether requests carry a CRC unless a command says otherwise.
    request_crc: ClassVar[bool] = True
    #: Whether the request length counts two CRC bytes (sent or not) besides text and CR.
    length_counts_crc: ClassVar[bool] = True

    def __init__(self) -> None:
        """Prepare lookups, and the positional layout of commands that echo their period."""
        super().__init__()
        self._positional = {
            name: tuple(s for s in c.fields if s not in PERIOD_SPECS)
            for name, c in self.commands.items()
            if c.options.get("period")
        }

    def frame(self, command: Command, text: str) -> bytes:
        """``^P``/``^S`` + length + ``text`` (+ date sum) (+ CRC) + CR."""
        kind = b"^S" if command.kind is Kind.SETTER else b"^P"
        extra = 3 if command.options.get("date_sum") else 0
        length = len(text) + extra + (3 if self.length_counts_crc else 1)
        data = kind + b"%03d" % length + text.encode("ascii")
        if extra:
            data += sum8_digits(data)
        if command.options.get("crc", self.request_crc):
            return data + pi_crc(data) + b"\r"
        return data + b"\r"

    def answer_length(self, command: str, buffer: bytes) -> int | None:
        """Return the answer's size from its header: the length field, not the first CR.

        A CRC byte may be a CR, so ``^D`` answers are measured by their length field; ``^0`` and
        ``^1`` are five bytes; anything else (``(NAK``, garbage) ends at the first CR.
        """
        head = buffer[:2]
        if head == b"^D":
            if len(buffer) < 5:
                return None
            digits = buffer[2:5]
            if digits.isascii() and digits.isdigit():
                size = 5 + int(digits)
                return size if len(buffer) >= size else None
        elif head in (b"^0", b"^1"):
            return 5 if len(buffer) >= 5 else None
        elif len(buffer) < 2 and buffer in (b"", b"^"):
            return None
        return super().answer_length(command, buffer)

    def unframe(self, command: Command, frame: bytes, sent: str) -> str:
        """Check start, length, terminator and CRC; return the payload (``"ACK"`` for ``^1``)."""
        if len(frame) < 5:
            raise TruncatedFrameError(f"{sent}: answer too short ({frame!r})")
        head = frame[:2]
        if head == b"^D":
            return self._data(command, frame, sent)
        if head in (b"^1", b"^0"):
            self._short(frame, 5, sent)
            if head == b"^0":
                raise NAKError(f"{sent}: the device refused the command (^0)")
            if command.kind is not Kind.SETTER:
                raise FrameError(f"{sent}: a query was answered with an acknowledgement")
            return "ACK"
        if frame.startswith(b"(NAK"):
            # Units answer a command they cannot parse in PI30 style.
            self._short(frame, 7, sent)
            raise NAKError(f"{sent}: the device refused the command (NAK)")
        if frame == self.build_request(sent):
            raise EchoError(f"{sent}: the device echoed the request instead of answering")
        raise FrameError(f"{sent}: answer does not start with '^D', '^1' or '^0' ({frame[:16]!r}…)")

    @staticmethod
    def _short(frame: bytes, size: int, sent: str) -> None:
        """Check a fixed-size answer (``^1``, ``^0``, ``(NAK``): its size, CR and CRC."""
        if len(frame) != size or frame[-1] != 0x0D:
            raise FrameError(f"{sent}: malformed short answer {frame!r}")
        if not pi_crc_matches(frame[:-3], frame[-3:-1]):
            raise CRCError(f"{sent}: CRC mismatch in {frame!r}")

    def _data(self, command: Command, frame: bytes, sent: str) -> str:
        """Check a ``^D`` answer against its length field and CRC; return its payload."""
        digits = frame[2:5]
        if not (digits.isascii() and digits.isdigit()):
            raise FrameError(f"{sent}: answer has no three-digit length ({frame[:16]!r}…)")
        expected = 5 + int(digits)
        if len(frame) < max(expected, 8):
            raise TruncatedFrameError(
                f"{sent}: answer is {len(frame)} bytes, its length field says {expected}"
            )
        if frame[-1] != 0x0D:
            raise FrameError(f"{sent}: answer does not end with CR ({frame[-8:]!r})")
        if not pi_crc_matches(frame[:-3], frame[-3:-1]):
            if len(frame) > expected:
                raise FrameError(
                    f"{sent}: answer is {len(frame)} bytes, its length field says {expected}"
                )
            raise CRCError(f"{sent}: CRC mismatch in {frame!r}")
        if command.kind is Kind.SETTER:
            raise FrameError(f"{sent}: a setter was answered with data ({frame!r})")
        return frame[5:-3].decode("latin-1")

    def read(self, command: Command, frame: bytes, sent: str) -> Out:
        """Unframe and parse; energy-by-period answers also carry the requested date."""
        out = self.parse(command, self.unframe(command, frame, sent))
        if command.name in self._positional:
            out.update(period_values(self.resolve(sent)[1]))
        return out

    def answer_tokens(
        self, command: Command, frame: bytes, sent: str
    ) -> tuple[Sequence[Spec], list[str]] | None:
        """Return the comma-separated values of a ``^D`` answer (``["ACK"]`` for ``^1``)."""
        payload = self.unframe(command, frame, sent)
        if command.options.get("split_spaces"):
            payload = payload.replace(" ", ",")
        return self._positional.get(command.name, command.fields), payload.split(",")

    def parse(self, command: Command, payload: str) -> Out:
        """Walk the command's layout over the comma-separated payload tokens.

        ``split_spaces=True`` in a command's options also splits on spaces (PI17 answers that
        mix both separators).
        """
        if not payload:
            raise FrameError(f"{command.name}: the answer carries no values")
        if command.options.get("split_spaces"):
            payload = payload.replace(" ", ",")
        specs = self._positional.get(command.name, command.fields)
        return walk(specs, payload.split(","), command.rest_index, ",")
