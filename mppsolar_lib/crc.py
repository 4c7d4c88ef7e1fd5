"""Checksums used by the device families.

Voltronic (PI-family) frames carry CRC-16/XMODEM, high byte first. Devices never put the frame's
control characters in the CRC, so when *sending* each CRC byte equal to ``(``, CR or LF is bumped by
one (and 0x00, which some firmwares also avoid). When *receiving* we accept both the plain and the
bumped byte: captures from real units show some bumping and others sending raw bytes (including
0x00, which the reference implementation wrongly rejects). See docs/deviations.md.

JK and JBD battery monitors use plain byte sums (:func:`sum8`, :func:`sum16`, :func:`jbd_checksum`);
the JK-PB speaks Modbus RTU, framed with :func:`crc16_modbus`.
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


def _modbus_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_MODBUS_TABLE = _modbus_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (reflected polynomial 0xA001, init 0xFFFF) of ``data``.

    Modbus RTU sends it low byte first: ``crc16_modbus(d).to_bytes(2, "little")``.
    """
    crc = 0xFFFF
    table = _MODBUS_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def sum8(data: bytes) -> int:
    """Return the byte sum modulo 256 (JK 0x55AAEB90 records, JK balancer frames)."""
    return sum(data) & 0xFF


def sum8_digits(data: bytes) -> bytes:
    """Return :func:`sum8` as three ASCII digits (PI16/PI17 energy queries: ``QED…`` + ``106``)."""
    return b"%03d" % (sum(data) & 0xFF)


def sum16(data: bytes) -> int:
    """Return the byte sum modulo 65536 (JK "NW" frames, sent high byte first)."""
    return sum(data) & 0xFFFF


def jbd_checksum(data: bytes) -> int:
    """Return 0x10000 minus the byte sum, modulo 65536 (``DD … 77`` frames of JBD-type BMSs)."""
    return -sum(data) & 0xFFFF
