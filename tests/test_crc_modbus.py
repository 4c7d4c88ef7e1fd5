"""CRC-16/MODBUS and the byte-sum checks of the JK/JBD battery monitors."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, strategies as st
import pytest

from mppsolar_lib.crc import crc16_modbus, jbd_checksum, sum8, sum16

from .jk_frames import modbus_crc

#: The reference's checksum helpers on edge cases (from shared/vectors/extra/helpers.jsonl).
HELPERS = Path(__file__).parent / "vectors" / "extra" / "helpers.jsonl"


def test_modbus_check_value() -> None:
    """The catalogue check value of CRC-16/MODBUS over '123456789' is 0x4B37."""
    assert crc16_modbus(b"123456789") == 0x4B37


def test_modbus_of_nothing_is_the_initial_value() -> None:
    """No data leaves the register at its initial value 0xFFFF."""
    assert crc16_modbus(b"") == 0xFFFF


@given(st.binary(max_size=300))
def test_modbus_matches_bitwise_implementation(data: bytes) -> None:
    """The table-driven CRC equals a bit-by-bit implementation on any input."""
    assert crc16_modbus(data) == modbus_crc(data)


@given(st.binary(min_size=1, max_size=64))
def test_frame_with_its_crc_leaves_zero_residue(data: bytes) -> None:
    """A Modbus frame followed by its CRC (low byte first) has CRC 0: how receivers check it."""
    assert crc16_modbus(data + crc16_modbus(data).to_bytes(2, "little")) == 0


@pytest.mark.parametrize(
    ("pdu", "crc"),
    [
        # JK-PB trigger requests as the reference sends them (vectors/jkpb.jsonl) ...
        ("0110161c0001020000", "d3cd"),
        ("0110161e0001020000", "d22f"),
        ("011016200001020000", "d6f1"),
        # ... and the Modbus responses after the records in its example answers.
        ("0110161c0001", "c447"),
        ("011016200001", "044b"),
        ("0110161e0001", "6587"),
        # A textbook "read holding registers" request: slave 1, register 0, count 10.
        ("01030000000a", "c5cd"),
    ],
)
def test_known_modbus_frames(pdu: str, crc: str) -> None:
    """CRCs of real frames, sent low byte first."""
    assert crc16_modbus(bytes.fromhex(pdu)).to_bytes(2, "little").hex() == crc


def _helper_vectors(method: str) -> list[tuple[bytes, object]]:
    rows = [json.loads(line) for line in HELPERS.read_text().splitlines() if method in line]
    return [
        (bytes.fromhex(row["args"][0]["__bytes__"]), row["result"])
        for row in rows
        if row.get("method") == method
    ]


def test_sum16_matches_reference_jk232_helper() -> None:
    """The reference's ``crcJK232`` (high, low) is the plain 16-bit byte sum."""
    vectors = _helper_vectors("crcJK232")
    assert vectors
    for data, result in vectors:
        assert [sum16(data) >> 8, sum16(data) & 0xFF] == result


def test_sum8_matches_reference_crc8_helper() -> None:
    """The reference's ``crc8`` is the byte sum modulo 256, ``ff 01`` wrapping to 0."""
    vectors = _helper_vectors("crc8")
    assert vectors
    for data, result in vectors:
        assert sum8(data) == result


def test_sums_wrap() -> None:
    """Sums are taken modulo their width."""
    assert sum8(b"\xff\x02") == 1
    assert sum16(b"\xff" * 258) == (255 * 258) % 0x10000


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        # The JBD document's requests (register, length) and answers (status, length, data).
        ("0300", "fffd"),
        ("0400", "fffc"),
        ("0500", "fffb"),
        ("000a30313233343536373839", "fde9"),
        ("001b1700000002d003e8000020780000000000001048030f020b760b82", "fbff"),
    ],
)
def test_jbd_checksum_of_document_examples(payload: str, check: str) -> None:
    """0x10000 minus the byte sum, as in the JBD protocol document's own frames."""
    assert jbd_checksum(bytes.fromhex(payload)).to_bytes(2, "big").hex() == check


def test_jbd_checksum_of_nothing_is_zero() -> None:
    """0x10000 - 0 wraps to 0: the check stays 16 bits wide."""
    assert jbd_checksum(b"") == 0
