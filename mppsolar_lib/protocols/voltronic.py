"""Framing shared by the Voltronic (PI-family) protocols: ``(payload CRC CR``.

Requests are ``COMMAND`` + CRC-16/XMODEM + CR; answers start with ``(``, end with CR (a few firmwares
end QBMS with LF) and carry the same CRC over everything before it. ``(NAK`` is a refusal.
"""

from __future__ import annotations

from mppsolar_lib.crc import pi_crc, pi_crc_matches
from mppsolar_lib.errors import CRCError, EchoError, FrameError, NAKError, TruncatedFrameError
from mppsolar_lib.protocols.base import Protocol
from mppsolar_lib.protocols.command import Command


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
