"""Property-based tests of VE.Direct: the text stream parser and both decoders.

A generated stream of valid blocks, with noise between blocks and HEX frames anywhere a device may
put them, must give back exactly those blocks and frames however it is cut into reads. Random
bytes give blocks or nothing; decoding anything gives a Result or a ProtocolError.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from mppsolar_lib.protocols.vedirect import TextBlock, VeDirectTextParser

from .fuzzing import decode_or_protocol_error, examples, mutate


def text_block(records: list[tuple[str, str]]) -> bytes:
    """Build a text block with its checksum byte (all bytes add up to 0 modulo 256)."""
    body = b"".join(b"\r\n" + label.encode() + b"\t" + value.encode() for label, value in records)
    body += b"\r\nChecksum\t"
    return body + bytes(((256 - sum(body) % 256) % 256,))


def hex_frame(nibble: int, payload: bytes) -> bytes:
    """Build a HEX frame whose nibble, bytes and check byte add up to 0x55."""
    check = (0x55 - nibble - sum(payload)) % 256
    return (
        b":" + f"{nibble:X}".encode() + (payload + bytes((check,))).hex().upper().encode() + b"\n"
    )


LABEL = st.from_regex(r"[A-Za-z0-9_#]{1,9}", fullmatch=True).filter(lambda s: s != "Checksum")
# Printable ASCII but ':' (which always starts a HEX frame); values of real devices are shorter.
VALUE = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F) if c != 0x3A], max_size=33)
BLOCK = st.lists(st.tuples(LABEL, VALUE), min_size=1, max_size=22)
# Noise between blocks: anything but a tab (it would look like a record) or a colon.
NOISE = st.binary(max_size=24).map(lambda b: b.replace(b"\t", b"").replace(b":", b""))
HEX = st.builds(hex_frame, st.sampled_from([0x7, 0x8, 0xA]), st.binary(min_size=0, max_size=8))


def feed_in_chunks(stream: bytes, cuts: list[int]) -> tuple[list[TextBlock], list[bytes], int]:
    """Feed ``stream`` cut at ``cuts``; return the blocks, HEX frames and dropped block count."""
    parser = VeDirectTextParser(max_hex_frames=64)
    blocks: list[TextBlock] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(stream)]:
        blocks += parser.feed(stream[start:cut])
        start = cut
    return blocks, parser.take_hex_frames(), parser.bad_blocks


@settings(max_examples=150)
@given(data=st.data())
def test_same_blocks_whatever_the_chunking(data: st.DataObject) -> None:
    """Valid blocks + noise + interleaved HEX frames: every block and frame comes back once."""
    blocks = data.draw(st.lists(BLOCK, min_size=1, max_size=4))
    stream = bytearray()
    for records in blocks:
        stream += data.draw(NOISE) + text_block(records)
    stream += data.draw(NOISE)
    # HEX frames may interrupt the text anywhere except between "Checksum<tab>" and its byte.
    forbidden = set()
    at = stream.find(b"Checksum\t")
    while at >= 0:
        forbidden.add(at + 9)
        at = stream.find(b"Checksum\t", at + 1)
    frames = data.draw(st.lists(HEX, max_size=5))
    spots = sorted(
        data.draw(
            st.lists(
                st.integers(0, len(stream)).filter(lambda i: i not in forbidden),
                min_size=len(frames),
                max_size=len(frames),
            )
        )
    )
    # Insert from the back (ties: the later frame first) so frames end up in (spot, draw) order.
    placed = sorted(zip(spots, range(len(frames)), frames, strict=True))
    for spot, _, frame in reversed(placed):
        stream[spot:spot] = frame
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    got, hex_frames, dropped = feed_in_chunks(bytes(stream), cuts)
    assert got == [TextBlock(tuple(records)) for records in blocks]
    assert hex_frames == [frame for _, _, frame in placed]
    assert dropped == 0


@settings(max_examples=150)
@given(stream=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_random_bytes_give_blocks_or_nothing_whatever_the_chunking(
    stream: bytes, cuts: list[int]
) -> None:
    """Random input never raises; reads cut anywhere give the same result as one read."""
    whole = feed_in_chunks(stream, [])
    assert feed_in_chunks(stream, [c for c in cuts if c <= len(stream)]) == whole
    for block in whole[0]:
        assert isinstance(block, TextBlock)


# Pieces of the protocol's syntax, shuffled: reaches the states that random bytes rarely do.
PIECES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"\r\n",
                b"\n",
                b"\r",
                b"\t",
                b":",
                b"Checksum\t",
                b"V\t12800",
                b"PID",
                b"A1F",
                b"x" * 20,
            ]
        ),
        HEX,
        st.binary(max_size=3),
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=150)
@given(stream=PIECES, cuts=st.lists(st.integers(0, 300), max_size=10))
def test_shuffled_syntax_gives_the_same_result_whatever_the_chunking(
    stream: bytes, cuts: list[int]
) -> None:
    """Streams made of protocol fragments: the chunking never changes what comes out."""
    assert feed_in_chunks(stream, [c for c in cuts if c <= len(stream)]) == feed_in_chunks(
        stream, []
    )


EXAMPLES = examples(["ved"])


@settings(max_examples=200)
@given(data=st.data())
def test_mutated_examples(data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of the reference's examples."""
    protocol, command, frame = data.draw(st.sampled_from(EXAMPLES))
    decode_or_protocol_error(protocol, command, mutate(data, frame))


@given(st.binary(max_size=300))
def test_random_bytes_for_every_command(frame: bytes) -> None:
    """Random bytes as the answer to text mode and to each kind of HEX command."""
    for command in ("vedtext", "batteryCapacity", "consumedAh", "setChargedVoltage14.4"):
        decode_or_protocol_error("ved", command, frame)


@given(records=BLOCK)
def test_any_valid_block_decodes_or_is_refused_cleanly(records: list[tuple[str, str]]) -> None:
    """Known labels with arbitrary values: decoded, or a FrameError naming the field."""
    decode_or_protocol_error("ved", "vedtext", text_block(records))


@given(nibble=st.integers(0, 15), payload=st.binary(max_size=12))
def test_any_valid_hex_frame_decodes_or_is_refused_cleanly(nibble: int, payload: bytes) -> None:
    """Well-formed HEX frames of any command and length, as answers to a get and a set."""
    for command in ("batteryCapacity", "setBatteryCapacity100", "stateOfCharge"):
        decode_or_protocol_error("ved", command, hex_frame(nibble, payload))
