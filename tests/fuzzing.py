"""Shared pieces of the property-based fuzz tests: example answers, the decode check, mutations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from mppsolar_lib.errors import ProtocolError
from mppsolar_lib.protocols import Result, get_protocol

VECTORS = Path(__file__).parent / "vectors"
MUTATIONS = ("flip", "truncate", "insert", "delete")


def response_vectors(protocol: str) -> Iterator[dict[str, Any]]:
    """Yield the example answers (``test_response`` vectors with a response) of ``protocol``."""
    for line in (VECTORS / f"{protocol}.jsonl").read_text().splitlines():
        vector = json.loads(line)
        if vector["kind"] == "test_response" and vector.get("response_hex"):
            yield vector


def examples(protocols: Iterable[str]) -> list[tuple[str, str, bytes]]:
    """Return (protocol, command, frame) for every example answer of ``protocols``, in order."""
    return [
        (protocol, vector["command"], bytes.fromhex(vector["response_hex"]))
        for protocol in protocols
        for vector in response_vectors(protocol)
    ]


def example_commands(found: list[tuple[str, str, bytes]]) -> list[tuple[str, str]]:
    """Return the (protocol, command) pairs of ``found``: protocols in order, commands sorted."""
    protocols = dict.fromkeys(protocol for protocol, _, _ in found)
    return [
        (protocol, command)
        for protocol in protocols
        for command in sorted({c for p, c, _ in found if p == protocol})
    ]


def example_frames(found: list[tuple[str, str, bytes]], protocol: str, command: str) -> list[bytes]:
    """Return the example frames of ``found`` answering ``command`` of ``protocol``."""
    return [f for p, c, f in found if p == protocol and c == command]


def decode_or_protocol_error(protocol: str, command: str, frame: bytes) -> Result | None:
    """Decode, accepting only a Result (with well-formed fields) or a ProtocolError (None)."""
    try:
        result = get_protocol(protocol).decode(command, frame)
    except ProtocolError:
        return None
    assert isinstance(result, Result)
    for key, field in result.fields.items():
        assert key == field.key
        assert field.value is not None
    return result


def mutate(data: st.DataObject, frame: bytes, *, max_insert: int = 8, max_delete: int = 1) -> bytes:
    """Return ``frame`` with a drawn bit flip, truncation, insertion or deletion.

    Insertions add 1 to ``max_insert`` random bytes, deletions remove 1 to ``max_delete``
    consecutive bytes. An empty frame can only grow: it always gets an insertion.
    """
    mutated = bytearray(frame)
    mutation = data.draw(st.sampled_from(MUTATIONS)) if mutated else "insert"
    if mutation == "flip":
        index = data.draw(st.integers(0, len(mutated) - 1))
        mutated[index] ^= 1 << data.draw(st.integers(0, 7))
    elif mutation == "truncate":
        del mutated[data.draw(st.integers(0, len(mutated))) :]
    elif mutation == "insert":
        index = data.draw(st.integers(0, len(mutated)))
        mutated[index:index] = data.draw(st.binary(min_size=1, max_size=max_insert))
    else:
        index = data.draw(st.integers(0, len(mutated) - 1))
        del mutated[index : index + data.draw(st.integers(1, max_delete))]
    return bytes(mutated)
