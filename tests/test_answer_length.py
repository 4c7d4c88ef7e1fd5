"""Where an answer ends, from the bytes received so far (what transports stop reading at)."""

from __future__ import annotations

import pytest

from mppsolar_lib.protocols import get_protocol

from .helpers import caret_frame, pi_frame

PI30 = get_protocol("pi30")
PI17 = get_protocol("pi17")
PI18 = get_protocol("pi18")


@pytest.mark.parametrize("cut", range(12))
def test_paren_answer_ends_at_its_carriage_return(cut: int) -> None:
    """A ``(`` answer is complete at its CR; anything after belongs to the next read."""
    frame = pi_frame("230.0 50.0")
    assert PI30.answer_length("QPIGS", frame[:cut]) is None
    assert PI30.answer_length("QPIGS", frame + b"(NEXT") == len(frame)


def test_line_feed_also_ends_an_answer() -> None:
    """A few firmwares end QBMS with LF instead of CR."""
    assert PI30.answer_length("QBMS", b"(0 100\x12\x34\n") == 9


def test_caret_answer_is_measured_by_its_length_field_not_the_first_cr() -> None:
    """PI17's T example has a CR as its first CRC byte: the length field says where it ends."""
    frame = b"^D01720210521234743\x0dR\r"
    first_cr = frame.index(b"\r") + 1
    assert PI17.answer_length("T", frame[:first_cr]) is None
    assert PI17.answer_length("T", frame) == len(frame)
    assert PI17.answer_length("T", frame + b"^D005") == len(frame)


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [
        (b"", None),
        (b"^", None),
        (b"^D", None),
        (b"^D00", None),
        (b"^D005", None),
        (caret_frame("18"), 10),
        (caret_frame("", nak=True), 5),
        (caret_frame("", nak=True)[:4], None),
        (b"^1\x0b\xc2\r", 5),
        (b"(NAKss\r", 7),
        (b"(NAK", None),
        (b"^DXY5abc\r", 9),
    ],
)
def test_caret_answers_of_every_kind(buffer: bytes, expected: int | None) -> None:
    """Data by length field, ACK/NAK by size, anything else (a PI30-style NAK) by its CR."""
    assert PI18.answer_length("GS", buffer) == expected
