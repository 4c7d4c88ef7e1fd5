"""Property-based robustness of PI16: answers never crash, energy requests are always right.

Random and mutated answers either decode or raise ProtocolError; every energy query that is
accepted names a real date and carries the correct byte-sum check.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols import get_protocol

from .fuzzing import decode_or_protocol_error, mutate, response_vectors
from .helpers import pi_frame

PROTO = get_protocol("pi16")
#: A valid command string for each command of the table.
COMMANDS = {
    "QEY": "QEY2015",
    "QEM": "QEM201506",
    "QED": "QED20150620",
    "QEH": "QEH2015062010",
}
COMMAND_TEXTS = [COMMANDS.get(name, name) for name in PROTO.commands]
# The reference's QED example date is not a date; keep its frame under a real one.
EXAMPLES = [
    (COMMANDS.get(vector["command_key"], vector["command"]), bytes.fromhex(vector["response_hex"]))
    for vector in response_vectors("pi16")
]


def test_every_command_has_an_example() -> None:
    """The fuzzers below start from a real answer of each command that has one."""
    assert {c for c, _ in EXAMPLES} >= {"QPIGS", "QPIRI", "QMOD", "QPI", "QED20150620"}


@settings(max_examples=200)
@given(data=st.data())
def test_mutated_examples(data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of the reference's examples."""
    command, frame = data.draw(st.sampled_from(EXAMPLES))
    decode_or_protocol_error("pi16", command, mutate(data, frame))


@pytest.mark.parametrize("command", COMMAND_TEXTS)
@settings(max_examples=40)
@given(payload=st.binary(max_size=160))
def test_garbage_with_valid_crc(command: str, payload: bytes) -> None:
    """Arbitrary payloads wrapped in a correct frame and CRC."""
    decode_or_protocol_error("pi16", command, pi_frame(payload))


_TOKEN = st.one_of(
    st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"[-.]{1,6}", fullmatch=True),
    st.sampled_from(["", "NAK", "VERFW:", "D---110001", "B", "G"]),
    st.text(max_size=6),
)


@pytest.mark.parametrize("command", COMMAND_TEXTS)
@settings(max_examples=40)
@given(tokens=st.lists(_TOKEN, max_size=30))
def test_plausible_token_soup(command: str, tokens: list[str]) -> None:
    """Space-separated plausible tokens of any count, in a valid frame."""
    decode_or_protocol_error("pi16", command, pi_frame(" ".join(tokens).encode("utf-8")))


@given(st.binary(max_size=200))
def test_random_bytes(frame: bytes) -> None:
    """Random bytes as the answer to each kind of query."""
    for command in ("QPIGS", "QED20150620", "QVFW"):
        decode_or_protocol_error("pi16", command, frame)


_PERIODS = {"QEY": "%Y", "QEM": "%Y%m", "QED": "%Y%m%d", "QEH": "%Y%m%d%H"}


@given(name=st.sampled_from(sorted(_PERIODS)), digits=st.from_regex(r"[0-9]{0,12}", fullmatch=True))
def test_energy_requests_are_real_dates_with_the_right_check(name: str, digits: str) -> None:
    """Any digits: either refused before sending, or a real date/hour with a correct check."""
    command = name + digits
    try:
        frame = PROTO.build_request(command)
    except InvalidParameterError:
        return
    parsed = datetime.strptime(digits, _PERIODS[name])
    assert parsed.strftime(_PERIODS[name]) == digits
    assert 2000 <= parsed.year <= 2099
    text, check, end = frame[:-4], frame[-4:-1], frame[-1:]
    assert (text, end) == (command.encode(), b"\r")
    assert int(check) == sum(text) % 256
