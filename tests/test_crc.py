"""Checksums: CRC-16/XMODEM with the Voltronic reserved-byte rule, and the REVO 8-bit check."""

from __future__ import annotations

from hypothesis import given, strategies as st

from mppsolar_lib.crc import chk8, crc16_xmodem, pi_crc, pi_crc_matches, sum8_digits

from .helpers import xmodem


def test_xmodem_check_value() -> None:
    """The catalogue check value of CRC-16/XMODEM over '123456789' is 0x31C3."""
    assert crc16_xmodem(b"123456789") == 0x31C3


@given(st.binary(max_size=300))
def test_xmodem_matches_independent_implementation(data: bytes) -> None:
    """The C-backed CRC equals a bit-by-bit implementation on any input."""
    assert crc16_xmodem(data) == xmodem(data)


def test_known_request_crcs() -> None:
    """Requests as real inverters expect them (QPIGS, QPI)."""
    assert b"QPIGS" + pi_crc(b"QPIGS") == bytes.fromhex("5150494753b7a9")
    assert pi_crc(b"QPI") == bytes.fromhex("beac")


@given(st.binary(max_size=64))
def test_sent_crc_never_contains_reserved_bytes(data: bytes) -> None:
    """A sent CRC never contains NUL, LF, CR or '(' (they would break the frame)."""
    assert not set(pi_crc(data)) & {0x00, 0x0A, 0x0D, 0x28}


@given(st.binary(max_size=64))
def test_received_crc_plain_or_bumped_is_accepted(data: bytes) -> None:
    """Devices that bump reserved bytes and devices that send them raw are both accepted."""
    crc = xmodem(data)
    raw = bytes((crc >> 8, crc & 0xFF))
    assert pi_crc_matches(data, raw)
    assert pi_crc_matches(data, pi_crc(data))


def test_wrong_crc_is_refused() -> None:
    """Any other pair of bytes is a mismatch, and so is a CRC of the wrong length."""
    good = pi_crc(b"(PI30")
    assert not pi_crc_matches(b"(PI30", bytes((good[0] ^ 0x01, good[1])))
    assert not pi_crc_matches(b"(PI30", bytes((good[0], good[1] ^ 0x80)))
    assert not pi_crc_matches(b"(PI30", good[:1])


def test_raw_zero_crc_byte_is_accepted() -> None:
    """A device sending a raw 0x00 CRC byte (the reference wrongly rejects it) is accepted."""
    # Find a payload whose CRC has a zero low byte, as captured from a user's unit.
    payload = next(p for i in range(100000) if (xmodem(p := f"(ACK{i}".encode()) & 0xFF) == 0)
    crc = xmodem(payload)
    assert pi_crc_matches(payload, bytes((crc >> 8, 0x00)))
    assert pi_crc_matches(payload, bytes((crc >> 8, 0x01)))


def test_chk8() -> None:
    """REVO's check: the byte sum modulo 256, plus one."""
    assert chk8(b"") == 1
    assert chk8(b"\xff\x01") == 1
    assert chk8(b"PSET") == (sum(b"PSET") & 0xFF) + 1


def test_sum8_digits_is_the_three_digit_byte_sum() -> None:
    """PI16's own example: QED20150620 ends in 106 (618 mod 256)."""
    assert sum8_digits(b"QED20150620") == b"106"
    assert sum8_digits(b"") == b"000"
