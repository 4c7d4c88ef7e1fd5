"""Frame builders for tests: checksums computed independently of the library."""

from __future__ import annotations


def xmodem(data: bytes) -> int:
    """Bit-by-bit CRC-16/XMODEM, written independently of mppsolar_lib.crc."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def pi_crc_bytes(data: bytes, *, bump: bool = True) -> bytes:
    """Return the two CRC bytes of ``data``, reserved values bumped unless told not to."""
    crc = xmodem(data)
    high, low = crc >> 8, crc & 0xFF
    if bump:
        high, low = (b + 1 if b in (0x00, 0x0A, 0x0D, 0x28) else b for b in (high, low))
    return bytes((high, low))


def pi_request(text: str) -> bytes:
    """Build a Voltronic request: text, CRC (reserved bytes bumped), CR."""
    return text.encode() + pi_crc_bytes(text.encode()) + b"\r"


def pi_frame(payload: str | bytes, *, bump: bool = True) -> bytes:
    """Build a Voltronic answer ``(payload`` + CRC + CR, reserved CRC bytes bumped unless told not to."""
    body = b"(" + (payload.encode("latin-1") if isinstance(payload, str) else payload)
    return body + pi_crc_bytes(body, bump=bump) + b"\r"


def caret_frame(payload: str, *, nak: bool = False) -> bytes:
    """Build a PI17/PI18 answer ``^Dnnn`` + payload + plain CRC + CR (``^0`` + CRC for a refusal).

    The length counts the payload, the two CRC bytes and the CR.
    """
    body = b"^0" if nak else b"^D%03d" % (len(payload) + 3) + payload.encode("latin-1")
    return body + pi_crc_bytes(body, bump=False) + b"\r"
