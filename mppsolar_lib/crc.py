"""Checksums used by the device families.

Voltronic (PI-family) frames carry CRC-16/XMODEM, high byte first. Devices never put the frame's
control characters in the CRC, so when *sending* each CRC byte equal to ``(``, CR or LF is bumped by
one (and 0x00, which some firmwares also avoid). When *receiving* we accept both the plain and the
bumped byte: captures from real units show some bumping and others sending raw bytes (including
0x00, which the reference implementation wrongly rejects). See docs/deviations.md.
"""

from __future__ import annotations

from binascii import crc_hqx

#: Bytes a Voltronic CRC must not contain when sent: NUL, LF, CR and '('.
_RESERVED = frozenset((0x00, 0x0A, 0x0D, 0x28))


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0) of ``data``."""
    # binascii.crc_hqx is exactly CRC-16/XMODEM when started from 0, and runs in C.
    return crc_hqx(data, 0)


def _bump(byte: int) -> int:
    return byte + 1 if byte in _RESERVED else byte


def pi_crc(data: bytes) -> bytes:
    """Return the two CRC bytes a Voltronic device expects after ``data`` (reserved bytes bumped)."""
    crc = crc_hqx(data, 0)
    return bytes((_bump(crc >> 8), _bump(crc & 0xFF)))


def pi_crc_matches(data: bytes, received: bytes) -> bool:
    """Whether ``received`` (two bytes) is an acceptable Voltronic CRC of ``data``.

    Each byte may be the plain CRC byte, or the bumped one when the plain byte is reserved.
    """
    if len(received) != 2:
        return False
    crc = crc_hqx(data, 0)
    high, low = crc >> 8, crc & 0xFF
    got_high, got_low = received[0], received[1]
    return (got_high == high or got_high == _bump(high)) and (
        got_low == low or got_low == _bump(low)
    )


def chk8(data: bytes) -> int:
    """Return the 8-bit check PI30 REVO ``PSET`` frames use: the byte sum modulo 256, plus one."""
    return (sum(data) & 0xFF) + 1
