"""Property-based robustness of the JK wired protocols (jk232, jk485, jkserial, jkpb).

Random and mutated frames — bit flips, truncation, insertion, deletion, and random payloads in
valid framing (right start, length and checksum) — either decode or raise ProtocolError: never
IndexError, struct.error, UnicodeError or anything else.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.protocols import get_protocol

from .fuzzing import decode_or_protocol_error, examples, mutate
from .jk_frames import jbd_frame, jk_record, nw_frame

FAMILY = ("jk232", "jk485", "jkserial", "jkpb")
EXAMPLES = examples(FAMILY)
COMMANDS = [(p, c) for p in FAMILY for c in get_protocol(p).commands]


def test_examples_cover_every_protocol() -> None:
    """The mutation tests below start from real frames of each protocol."""
    assert {p for p, _, _ in EXAMPLES} == set(FAMILY)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@given(data=st.binary(max_size=400))
@settings(max_examples=60)
def test_random_bytes(protocol: str, command: str, data: bytes) -> None:
    """Noise is rejected cleanly."""
    decode_or_protocol_error(protocol, command, data)


@pytest.mark.parametrize(("protocol", "command", "frame"), EXAMPLES)
@given(data=st.data())
@settings(max_examples=80)
def test_mutations(protocol: str, command: str, frame: bytes, data: st.DataObject) -> None:
    """Bit flips, truncation, insertion and deletion of a real frame."""
    for _ in range(data.draw(st.integers(1, 4))):
        frame = mutate(data, frame, max_insert=4)
    decode_or_protocol_error(protocol, command, frame)


@given(
    register=st.sampled_from([3, 4, 5]),
    status=st.sampled_from([0, 0x80, 1]),
    data=st.binary(max_size=80),
)
def test_jk232_random_data_in_valid_frames(register: int, status: int, data: bytes) -> None:
    """Any data length and content behind a valid JBD header and checksum."""
    command = {3: "getBalancerData", 4: "getCellVoltages", 5: "getDeviceName"}[register]
    decode_or_protocol_error("jk232", command, jbd_frame(register, data, status))


@given(body=st.binary(min_size=73, max_size=73))
def test_jk485_random_data_in_valid_frames(body: bytes) -> None:
    """Any status block behind the header, with a right checksum."""
    frame = b"\xeb\x90\x01\xff" + body[4:]
    frame += bytes((sum(frame) % 256,))
    result = decode_or_protocol_error("jk485", "getBalancerData", frame)
    assert result is not None
    cells = [k for k in result if k.startswith("voltage_cell")]
    assert len(cells) == min(frame[22], 24)


tags = st.sampled_from(
    [0x79, 0x80, 0x83, 0x84, 0x85, 0x8B, 0x8C, 0xAF, 0xB2, 0xB4, 0xB7, 0xC0, 0xC7]
)


@given(items=st.lists(st.tuples(tags, st.binary(max_size=30)), max_size=12))
def test_jkserial_random_identifiers_in_valid_frames(items: list[tuple[int, bytes]]) -> None:
    """Identifiers with values of any size in a valid NW frame."""
    data = b"".join(bytes((tag,)) + value for tag, value in items)
    decode_or_protocol_error("jkserial", "getBalancerData", nw_frame(data))


@given(
    record_type=st.integers(0, 4),
    body=st.binary(min_size=294, max_size=294),
    tail=st.booleans(),
)
def test_jkpb_random_records(record_type: int, body: bytes, tail: bool) -> None:
    """Random record contents with a right sum (and Modbus response) decode or fail cleanly."""
    frame = jk_record(record_type, {6: body[:293]}, register=0x1620 if tail else None)
    decode_or_protocol_error("jkpb", "getCellData", frame)
