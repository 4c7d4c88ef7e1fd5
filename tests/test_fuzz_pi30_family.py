"""Property-based robustness of every PI30-family command.

Random and mutated frames (bit flips, truncation, insertion, garbage with a valid CRC) either
decode or raise ProtocolError — never IndexError, ValueError, UnicodeError or anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.errors import ProtocolError
from mppsolar_lib.protocols import Result, get_protocol, list_protocols

from .helpers import pi_frame

FAMILY = [
    p
    for p in ("pi30", "pi30max", "pi30m044", "pi30m045", "pi30mst", "pi30revo", "pi41")
    if p in list_protocols()
]
VECTORS = Path(__file__).parent / "vectors"


def _examples() -> list[tuple[str, str, bytes]]:
    """(protocol, command, example frame) for every decodable example of the family."""
    out = []
    for protocol in FAMILY:
        path = VECTORS / f"{protocol}.jsonl"
        for line in path.read_text().splitlines():
            vector = json.loads(line)
            if vector["kind"] == "test_response" and vector.get("response_hex"):
                out.append((protocol, vector["command"], bytes.fromhex(vector["response_hex"])))
    return out


EXAMPLES = _examples()
COMMANDS = [
    (protocol, text)
    for protocol in FAMILY
    for text in sorted({c for p, c, _ in EXAMPLES if p == protocol})
]


def decode_or_protocol_error(protocol: str, command: str, frame: bytes) -> Result | None:
    """Decode, accepting only a Result or a ProtocolError."""
    try:
        result = get_protocol(protocol).decode(command, frame)
    except ProtocolError:
        return None
    assert isinstance(result, Result)
    for key, field in result.fields.items():
        assert key == field.key
        assert field.value is not None
    return result


def test_the_family_has_examples() -> None:
    """The fuzzers below have material to work on."""
    assert len(EXAMPLES) > 50
    assert {"pi30"} <= set(FAMILY)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=25)
@given(data=st.data())
def test_mutated_examples(protocol: str, command: str, data: st.DataObject) -> None:
    """Bit flips, truncations and insertions of real examples."""
    frames = [f for p, c, f in EXAMPLES if p == protocol and c == command]
    frame = bytearray(data.draw(st.sampled_from(frames)))
    mutation = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    if mutation == "flip" and frame:
        index = data.draw(st.integers(0, len(frame) - 1))
        frame[index] ^= 1 << data.draw(st.integers(0, 7))
    elif mutation == "truncate":
        frame = frame[: data.draw(st.integers(0, len(frame)))]
    elif mutation == "insert":
        index = data.draw(st.integers(0, len(frame)))
        frame[index:index] = data.draw(st.binary(min_size=1, max_size=8))
    elif frame:
        index = data.draw(st.integers(0, len(frame) - 1))
        del frame[index]
    decode_or_protocol_error(protocol, command, bytes(frame))


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
