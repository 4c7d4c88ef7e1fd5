"""Property-based robustness of every PI17-family command and setter parameter.

Random and mutated frames (bit flips, truncation, insertion, deletion, garbage and token soup with
a valid length and CRC) either decode or raise ProtocolError — never IndexError, ValueError,
UnicodeError or anything else. Setter parameters of any text build a request or raise
InvalidParameterError / UnknownCommandError.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.errors import InvalidParameterError, UnknownCommandError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.command import Kind

from .fuzzing import decode_or_protocol_error, example_commands, example_frames, examples, mutate
from .helpers import xmodem

FAMILY = ("pi17", "pi17infini", "pi17m058")


def answer(payload: bytes) -> bytes:
    """Frame ``payload`` as a PI17 answer: ^D, length, payload, plain XMODEM CRC, CR."""
    head = b"^D" + f"{len(payload) + 3:03d}".encode() + payload
    return head + xmodem(head).to_bytes(2, "big") + b"\r"


EXAMPLES = examples(FAMILY)
COMMANDS = example_commands(EXAMPLES)
#: A valid period for each energy query.
PERIODS = {"EY": "2024", "EM": "202401", "ED": "20240115", "EH": "2024011512"}
QUERIES = [
    (protocol, command.name + PERIODS.get(command.name, ""))
    for protocol in FAMILY
    for command in get_protocol(protocol).list_commands()
    if command.kind is Kind.QUERY
]


def test_the_family_has_examples() -> None:
    """The fuzzers below have material to work on, for queries and setters."""
    assert len(EXAMPLES) > 200
    assert len(QUERIES) > 60
    for protocol, command in QUERIES:
        get_protocol(protocol).build_request(command)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=20)
@given(data=st.data())
def test_mutated_examples(protocol: str, command: str, data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of real examples."""
    frame = data.draw(st.sampled_from(example_frames(EXAMPLES, protocol, command)))
    decode_or_protocol_error(protocol, command, mutate(data, frame))


@pytest.mark.parametrize(("protocol", "command"), QUERIES)
@settings(max_examples=20)
@given(payload=st.binary(max_size=160))
def test_garbage_with_valid_framing(protocol: str, command: str, payload: bytes) -> None:
    """Arbitrary payloads wrapped in a correct length and CRC."""
    decode_or_protocol_error(protocol, command, answer(payload))


_TOKEN = st.one_of(
    st.from_regex(r"[+-]?[0-9]{1,5}", fullmatch=True),
    st.sampled_from(["", "-", "0", "1", "2", "05", "10", "000", "009", "ACK"]),
    st.text(max_size=6),
)


@pytest.mark.parametrize(("protocol", "command"), QUERIES)
@settings(max_examples=20)
@given(tokens=st.lists(_TOKEN, max_size=30))
def test_plausible_token_soup(protocol: str, command: str, tokens: list[str]) -> None:
    """Comma-separated plausible values of any count, in a valid frame."""
    decode_or_protocol_error(protocol, command, answer(",".join(tokens).encode("utf-8")))


@pytest.mark.parametrize("protocol", FAMILY)
@settings(max_examples=30)
@given(values=st.lists(st.integers(0, 9999), min_size=25, max_size=25))
def test_numeric_status_always_decodes(protocol: str, values: list[int]) -> None:
    """GS made of in-range numbers always decodes to numbers (options to their labels)."""
    result = decode_or_protocol_error(
        protocol, "GS", answer(",".join(f"{v:04d}" for v in values[:24]).encode() + b",1")
    )
    assert result is not None
    assert result["battery_voltage"] == pytest.approx(values[4] / 10)
    assert result["setting_change_bit"] == "Settings changed - please refresh"


@given(st.binary(max_size=200))
def test_random_bytes(frame: bytes) -> None:
    """Random bytes for a query and a setter of each protocol."""
    for protocol in FAMILY:
        decode_or_protocol_error(protocol, "GS", frame)
        decode_or_protocol_error(protocol, "LON1", frame)


SETTERS = sorted(
    {
        command.name
        for protocol in FAMILY
        for command in get_protocol(protocol).list_commands()
        if command.kind is Kind.SETTER
    }
)


@pytest.mark.parametrize("protocol", FAMILY)
@settings(max_examples=200)
@given(name=st.sampled_from(SETTERS), text=st.text(alphabet="0123456789,-ABCDa ", max_size=25))
def test_setter_parameters(protocol: str, name: str, text: str) -> None:
    """Any parameter text builds a well-formed ^S request or is refused with a ProtocolError."""
    proto = get_protocol(protocol)
    try:
        frame = proto.build_request(name + text)
    except (InvalidParameterError, UnknownCommandError):
        return
    assert frame.startswith(b"^S")
    assert frame.endswith(b"\r")
    assert int(frame[2:5]) == len(frame) - 5
