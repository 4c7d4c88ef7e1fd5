"""Property-based robustness of every PI30-family command.

Random and mutated frames (bit flips, truncation, insertion, deletion, garbage with a valid CRC)
either decode or raise ProtocolError — never IndexError, ValueError, UnicodeError or anything else.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.protocols import list_protocols

from .fuzzing import decode_or_protocol_error, example_commands, example_frames, examples, mutate
from .helpers import pi_frame

FAMILY = [
    p
    for p in ("pi30", "pi30max", "pi30m044", "pi30m045", "pi30mst", "pi30revo", "pi41")
    if p in list_protocols()
]
EXAMPLES = examples(FAMILY)
COMMANDS = example_commands(EXAMPLES)


def test_the_family_has_examples() -> None:
    """The fuzzers below have material to work on."""
    assert len(EXAMPLES) > 50
    assert {"pi30"} <= set(FAMILY)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=25)
@given(data=st.data())
def test_mutated_examples(protocol: str, command: str, data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of real examples."""
    frame = data.draw(st.sampled_from(example_frames(EXAMPLES, protocol, command)))
    decode_or_protocol_error(protocol, command, mutate(data, frame))


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=25)
@given(payload=st.binary(max_size=120))
def test_garbage_with_valid_crc(protocol: str, command: str, payload: bytes) -> None:
    """Arbitrary payloads wrapped in a correct frame and CRC."""
    decode_or_protocol_error(protocol, command, pi_frame(payload))


_TOKEN = st.one_of(
    st.from_regex(r"[0-9]{1,5}(\.[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"[01]{1,40}", fullmatch=True),
    st.sampled_from(["", "-", "---.-", "ACK", "NAK", "E", "D", "B"]),
    st.text(max_size=6),
)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=25)
@given(tokens=st.lists(_TOKEN, max_size=40))
def test_plausible_token_soup(protocol: str, command: str, tokens: list[str]) -> None:
    """Space-separated plausible tokens of any count, in a valid frame."""
    decode_or_protocol_error(protocol, command, pi_frame(" ".join(tokens).encode("utf-8")))


@given(st.binary(max_size=200))
def test_random_bytes(frame: bytes) -> None:
    """Random bytes for a random command of the family."""
    for protocol in FAMILY:
        decode_or_protocol_error(protocol, "QPIGS", frame)
