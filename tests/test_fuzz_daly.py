"""Property-based robustness of the Daly protocols (daly, daly40).

Random bytes, bit flips, truncations, insertions and deletions of real answers, and multi-frame
answers with frames cut, added, repeated or reordered either decode or raise ProtocolError —
never IndexError, struct.error, ValueError or anything else. Well-formed answers built from
random values decode back to those values.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.protocols import get_protocol

from .fuzzing import decode_or_protocol_error, examples, mutate

PROTOCOLS = ("daly", "daly40")
QUERIES = (
    "SOC",
    "cellMinMaxVoltages",
    "cellMinMaxTemps",
    "mosStatus",
    "status",
    "cellVoltages",
    "cellVoltages16",
    "cellTemperatures",
    "cellTemperatures3",
    "cellBalanceState",
    "cellBalanceState8",
    "failureCodes",
)
SETTERS = ("setChargeMos1", "setDischargeMos0", "setSOC50")
DATA_IDS = {
    "SOC": 0x90,
    "cellMinMaxVoltages": 0x91,
    "cellMinMaxTemps": 0x92,
    "mosStatus": 0x93,
    "status": 0x94,
    "cellBalanceState": 0x97,
    "cellBalanceState8": 0x97,
    "failureCodes": 0x98,
    "setChargeMos1": 0xDA,
    "setDischargeMos0": 0xD9,
    "setSOC50": 0x21,
}


def frame(data_id: int, data: bytes) -> bytes:
    """Build a BMS answer frame with its byte-sum check byte (computed independently)."""
    body = bytes((0xA5, 0x01, data_id, 0x08)) + data
    return body + bytes((sum(body) % 256,))


#: (command, example answer) of the reference's vectors, tried on both protocols.
EXAMPLES = [(command, answer) for _, command, answer in examples(["daly"])]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("command", QUERIES + SETTERS)
@settings(max_examples=40)
@given(data=st.binary(max_size=240))
def test_random_bytes(protocol: str, command: str, data: bytes) -> None:
    """Any bytes at all."""
    decode_or_protocol_error(protocol, command, data)


@pytest.mark.parametrize("command", [c for c in QUERIES + SETTERS if c in DATA_IDS])
@settings(max_examples=40)
@given(data=st.binary(min_size=8, max_size=8))
def test_any_well_formed_single_frame_decodes(command: str, data: bytes) -> None:
    """Queries read every 8-byte payload; setters acknowledge or refuse it."""
    result = decode_or_protocol_error("daly", command, frame(DATA_IDS[command], data))
    if not command.startswith("set"):
        assert result is not None
        assert len(result) >= 4


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=150)
@given(data=st.data())
def test_mutated_examples(protocol: str, data: st.DataObject) -> None:
    """Bit flips, truncations, insertions and deletions of the reference's examples."""
    command, example = data.draw(st.sampled_from(EXAMPLES))
    mutated = mutate(data, example, max_insert=14, max_delete=14)
    decode_or_protocol_error(protocol, command, mutated)


def voltage_frames(voltages_mv: list[int], frames: int) -> list[bytes]:
    """Split cell voltages over numbered 0x95 frames, zero-padded."""
    padded = voltages_mv + [0] * (3 * frames - len(voltages_mv))
    return [
        frame(
            0x95,
            bytes((n + 1,))
            + b"".join(v.to_bytes(2, "big") for v in padded[3 * n : 3 * n + 3])
            + b"\0",
        )
        for n in range(frames)
    ]


@st.composite
def packs(draw: st.DrawFn) -> tuple[list[int], list[bytes]]:
    """Draw 1–48 non-zero cell voltages and their frames (only the needed ones, or all 16)."""
    cells = draw(st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=48))
    needed = -(-len(cells) // 3)
    frames = draw(st.sampled_from(sorted({needed, 16})))
    return cells, voltage_frames(cells, frames)


@settings(max_examples=150)
@given(pack=packs())
def test_well_formed_cell_voltages_decode_to_their_values(
    pack: tuple[list[int], list[bytes]],
) -> None:
    """Every cell comes back in volts, with or without the count; the count is inferred."""
    cells, frames = pack
    answer = b"".join(frames)
    for command in ("cellVoltages", f"cellVoltages{len(cells)}"):
        result = get_protocol("daly").decode(command, answer)
        assert result["cell_count"] == len(cells)
        for number, millivolts in enumerate(cells, 1):
            assert result[f"cell_{number:02d}_voltage"] == pytest.approx(millivolts / 1000)
        assert result["max_cell_voltage"] == pytest.approx(max(cells) / 1000)
        assert result["min_cell_voltage"] == pytest.approx(min(cells) / 1000)
    assert f"cell_{len(cells) + 1:02d}_voltage" not in result


@settings(max_examples=200)
@given(pack=packs(), data=st.data())
def test_damaged_multi_frame_answers(
    pack: tuple[list[int], list[bytes]], data: st.DataObject
) -> None:
    """Frames cut, dropped, repeated, swapped or added: a Result or a ProtocolError.

    A counted answer that decodes at all carries the pack's true values: damage never shifts a
    value to another cell.
    """
    cells, frames = pack
    damage = data.draw(st.sampled_from(["cut", "drop", "repeat", "swap", "extra", "noise"]))
    index = data.draw(st.integers(0, len(frames) - 1))
    if damage == "cut":
        answer = b"".join(frames)
        answer = answer[: data.draw(st.integers(0, len(answer)))]
    else:
        if damage == "drop":
            del frames[index]
        elif damage == "repeat":
            frames.insert(index, frames[index])
        elif damage == "swap":
            other = data.draw(st.integers(0, len(frames) - 1))
            frames[index], frames[other] = frames[other], frames[index]
        elif damage == "extra":
            payload = data.draw(st.binary(min_size=7, max_size=7))
            frames.append(frame(0x95, bytes((len(frames) + 1,)) + payload))
        else:
            frames.insert(index, data.draw(st.binary(min_size=1, max_size=13)))
        answer = b"".join(frames)
    decode_or_protocol_error("daly", "cellVoltages", answer)
    counted = decode_or_protocol_error("daly", f"cellVoltages{len(cells)}", answer)
    if counted is not None:
        for number, millivolts in enumerate(cells, 1):
            assert counted[f"cell_{number:02d}_voltage"] == pytest.approx(millivolts / 1000)
