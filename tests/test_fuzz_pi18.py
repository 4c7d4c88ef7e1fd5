"""Property-based robustness of every PI18-family command (pi18, pi18sv, pi18lvx).

Random and mutated answers (bit flips, truncation, insertion, deletion, garbage in a frame with
a valid length and CRC, plausible comma-separated tokens) either decode to a Result or raise
ProtocolError — never IndexError, ValueError, UnicodeError or anything else. Requests of every
valid parameter keep their length field and CRC.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.command import Kind

from .fuzzing import decode_or_protocol_error, example_frames, examples, mutate
from .helpers import pi_crc_bytes, xmodem

FAMILY = ("pi18", "pi18sv", "pi18lvx")
ANSWERS = (b"^1\x0b\xc2\r", b"^0\x1b\xe3\r")


def caret_answer(payload: bytes) -> bytes:
    """``^D`` + length + payload + CRC (independent helper) + CR."""
    body = b"^D%03d" % (len(payload) + 3) + payload
    return body + pi_crc_bytes(body) + b"\r"


EXAMPLES = examples(FAMILY)
#: One command string per command of each protocol (parameterised ones with a valid example).
SAMPLE_PARAMS = {
    "EY": "2024",
    "EM": "202401",
    "ED": "20240115",
    "PRI": "0",
    "PGS": "1",
    "POP": "1",
    "PSP": "0",
    "PCP": "0,1",
    "MCHGC": "0,060",
    "MUCHGC": "0,002",
    "PBT": "2",
    "MCHGV": "552,540",
    "PSDV": "450",
    "BUCD": "440,000",
    "PGR": "1",
    "LON": "1",
    "DAT": "240115123000",
}
COMMANDS = [
    (protocol, name + SAMPLE_PARAMS.get(name, ""))
    for protocol in FAMILY
    for name in get_protocol(protocol).commands
]


def test_the_family_has_examples_and_every_command_a_sample() -> None:
    """The fuzzers below have material; every command has a buildable sample."""
    assert len(EXAMPLES) > 100
    for protocol, command in COMMANDS:
        get_protocol(protocol).build_request(command)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=20)
@given(data=st.data())
def test_mutated_answers(protocol: str, command: str, data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of example and ACK/NAK answers."""
    own = example_frames(EXAMPLES, protocol, command)
    frame = data.draw(st.sampled_from([*own, *ANSWERS]))
    decode_or_protocol_error(protocol, command, mutate(data, frame))


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=20)
@given(payload=st.binary(max_size=150))
def test_garbage_in_a_valid_frame(protocol: str, command: str, payload: bytes) -> None:
    """Arbitrary bytes with a correct length field and CRC."""
    decode_or_protocol_error(protocol, command, caret_answer(payload))


_TOKEN = st.one_of(
    st.from_regex(r"-?[0-9]{1,8}", fullmatch=True),
    st.sampled_from(["", "0", "1", "2", "9", "00", "99", "--", "ACK", "1496161704100242000000"]),
    st.text(max_size=6),
)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=20)
@given(tokens=st.lists(_TOKEN, max_size=40))
def test_plausible_token_soup(protocol: str, command: str, tokens: list[str]) -> None:
    """Comma-separated plausible tokens of any count, in a valid frame."""
    decode_or_protocol_error(protocol, command, caret_answer(",".join(tokens).encode("utf-8")))


@given(frame=st.binary(max_size=200), protocol=st.sampled_from(FAMILY))
def test_random_bytes(frame: bytes, protocol: str) -> None:
    """Random bytes for a query and a setter."""
    decode_or_protocol_error(protocol, "GS", frame)
    decode_or_protocol_error(protocol, "POP1", frame)


@pytest.mark.parametrize("protocol", FAMILY)
@given(name=st.sampled_from(sorted(SAMPLE_PARAMS)), text=st.text(max_size=16))
def test_any_parameter_builds_a_consistent_request_or_is_refused(
    protocol: str, name: str, text: str
) -> None:
    """A parameter is refused with InvalidParameterError, or the request is self-consistent."""
    proto = get_protocol(protocol)
    try:
        built = proto.build_request(name + text)
    except InvalidParameterError:
        return
    definition = proto.resolve(name + text)[0]
    assert built[:2] == (b"^S" if definition.kind is Kind.SETTER else b"^P")
    length = int(built[2:5])
    assert length == len(name + text) + 3
    if len(built) == 5 + length:  # with CRC: check it independently
        crc = xmodem(built[:-3])
        for got, plain in zip(built[-3:-1], (crc >> 8, crc & 0xFF), strict=True):
            assert got in (plain, plain + 1)
    else:
        assert len(built) == 5 + length - 2
    assert built.endswith(b"\r")
