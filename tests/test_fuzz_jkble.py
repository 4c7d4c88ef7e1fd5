"""Property-based robustness of the JK Bluetooth protocols and their notification assembler.

Decoders: random bytes, mutated examples and random records with a valid sum either decode or
raise ProtocolError. Assembler: valid records cut at random boundaries, with noise between them,
come out identical however they were cut; random bytes never raise and yield only frames whose
sums hold.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.protocols.jkble import JkRecordAssembler

from .fuzzing import decode_or_protocol_error, examples, mutate

FAMILY = ("jk02", "jk02_32", "jkv11", "jk04")
HEADERS = (b"\x55\xaa\xeb\x90", b"\xaa\x55\x90\xeb")


def checksum(data: bytes) -> int:
    """8-bit byte sum, independent of the library."""
    return sum(data) % 256


EXAMPLES = examples(FAMILY)
COMMANDS = [
    (protocol, command)
    for protocol in FAMILY
    for command in ("getInfo", "getCellData", "getSettings", "setChargingOn", "setCellOVP3.65")
    if protocol != "jk04" or not command.startswith("set")
]


def with_sum(body: bytes) -> bytes:
    """Append the 8-bit sum."""
    return body + bytes([checksum(body)])


def test_examples_exist() -> None:
    """The fuzzers have material."""
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=40)
@given(frame=st.binary(max_size=340))
def test_random_bytes(protocol: str, command: str, frame: bytes) -> None:
    """Arbitrary bytes: a Result or a ProtocolError."""
    decode_or_protocol_error(protocol, command, frame)


@pytest.mark.parametrize(("protocol", "command"), COMMANDS)
@settings(max_examples=40)
@given(payload=st.binary(min_size=294, max_size=294), kind=st.integers(1, 3))
def test_random_records_with_a_valid_sum(
    protocol: str, command: str, payload: bytes, kind: int
) -> None:
    """Checksum-valid records of any content reach the layout: still a Result or an error."""
    frame = with_sum(HEADERS[0] + bytes([kind, 0]) + payload[:293])
    result = decode_or_protocol_error(protocol, command, frame)
    expected = {"getInfo": 3, "getCellData": 2, "getSettings": 1}.get(command)
    if result is not None:
        assert expected == kind


@pytest.mark.parametrize("protocol", FAMILY)
@settings(max_examples=60)
@given(data=st.data())
def test_mutated_examples(protocol: str, data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of real examples."""
    own = [(c, f) for p, c, f in EXAMPLES if p == protocol]
    command, original = data.draw(st.sampled_from(own))
    frame = mutate(data, original)
    result = decode_or_protocol_error(protocol, command, frame)
    if len(frame) == len(original) and result is not None:
        # only a bit flip keeps the length, and one flipped bit changes the byte sum: only the
        # few frames without a sum survive
        assert frame == original or checksum(frame[:-1]) == frame[-1]


# -- assembler ----------------------------------------------------------------------------------

record_bodies = st.binary(min_size=294, max_size=294)
acks = st.binary(min_size=14, max_size=14)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Draw a valid 300-byte record, 320-byte record or 20-byte command frame."""
    kind = draw(st.sampled_from(["record", "long", "ack"]))
    if kind == "ack":
        return with_sum(HEADERS[1] + draw(st.binary(min_size=15, max_size=15)))
    body = HEADERS[0] + bytes([draw(st.integers(1, 3)), 0]) + draw(record_bodies)
    if kind == "record":
        return with_sum(body[:299])
    frame = with_sum(body + draw(st.binary(min_size=20, max_size=20))[:19])
    # a long record must not also pass as a 300-byte one
    if checksum(frame[:299]) == frame[299]:
        frame = with_sum(frame[:298] + bytes([(frame[298] + 1) % 256]) + frame[299:319])
    return frame


def noise_without_headers(draw: st.DrawFn) -> bytes:
    """Noise between records: AT chatter or bytes that cannot start a frame."""
    noise = draw(st.one_of(st.just(b"AT\r\n"), st.binary(max_size=12), st.just(b"")))
    return bytes(b for b in noise if b not in (0x55, 0xAA))


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    """Frames with noise before, between and after them."""
    items = draw(st.lists(frames(), max_size=5))
    stream = b"".join(noise_without_headers(draw) + item for item in items)
    return items, stream + noise_without_headers(draw)


def cut(stream: bytes, sizes: list[int]) -> list[bytes]:
    """Cut ``stream`` into notifications of the given sizes (the last takes the rest)."""
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(stream[pos : pos + size])
        pos += size
    pieces.append(stream[pos:])
    return pieces


@settings(max_examples=150)
@given(sample=streams(), sizes=st.lists(st.integers(1, 244), max_size=40))
def test_assembler_output_does_not_depend_on_chunking(
    sample: tuple[list[bytes], bytes], sizes: list[int]
) -> None:
    """Every record comes out once, in order, whatever the notification boundaries."""
    items, stream = sample
    whole = JkRecordAssembler()
    at_once = [r.frame for r in whole.feed(stream)]
    chunked = JkRecordAssembler()
    pieces = [r.frame for piece in cut(stream, sizes) for r in chunked.feed(piece)]
    assert at_once == items
    assert pieces == items
    assert chunked.bad_records == whole.bad_records == 0
    assert chunked.buffered == whole.buffered < 320


@settings(max_examples=150)
@given(chunks=st.lists(st.binary(max_size=300), max_size=8))
def test_assembler_on_random_bytes(chunks: list[bytes]) -> None:
    """Random notifications: never an exception; whatever comes out carries a valid sum."""
    assembler = JkRecordAssembler()
    for chunk in chunks:
        for found in assembler.feed(chunk):
            frame = found.frame
            assert len(frame) in (20, 300, 320)
            assert frame[:4] in HEADERS
            assert checksum(frame[:-1]) == frame[-1] or checksum(frame[:299]) == frame[299]
        assert assembler.buffered < 320
    assert assembler.protocol_id in (None, "jk02", "jk02_32", "jk04")
