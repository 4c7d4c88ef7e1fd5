"""Counted series and counted bits (binary.py additions used by the JK wired protocols)."""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import TruncatedFrameError
from mppsolar_lib.protocols.binary import Bits, Series
from mppsolar_lib.protocols.fields import Out


def test_counted_series_yields_only_present_positions() -> None:
    """``count_from`` limits the fields; the summary covers those positions only."""
    series = Series(
        "Cell {}",
        1,
        8,
        2,
        "V",
        little=False,
        scale=0.001,
        summary="Cell",
        count_from=lambda r: r[0],
    )
    out: Out = {}
    series.read(bytes((2,)) + bytes.fromhex("0ce40cf8") + b"\xff\xff", out)
    assert out == {
        "cell_1": 3.3,
        "cell_2": 3.32,
        "min_cell": 3.3,
        "min_cell_cell": 1,
        "max_cell": 3.32,
        "max_cell_cell": 2,
        "delta_cell": 0.02,
    }
    assert series.end == 1  # a counted series does not make the record longer


def test_counted_series_checks_its_own_bytes() -> None:
    """A count the record cannot hold is a truncated frame; a negative count is none."""
    series = Series("Cell {}", 1, 8, 2, count_from=lambda r: r[0])
    with pytest.raises(TruncatedFrameError, match="too short"):
        series.read(bytes((3, 0, 1, 0, 2)), {})
    out: Out = {}
    Series("Cell {}", 0, 4, count_from=lambda r: -1).read(b"", out)
    assert out == {}


def test_padded_series_skips_bytes_before_each_value() -> None:
    """``pad=1`` reads ``index, value`` pairs (JK "NW" cells)."""
    series = Series("Cell {}", 0, 4, 2, little=False, pad=1, count_from=lambda r: len(r) // 3)
    out: Out = {}
    series.read(bytes.fromhex("010ce4020cf8"), out)
    assert out == {"cell_1": 3300, "cell_2": 3320}
    fixed = Series("Cell {}", 0, 2, 2, little=False, pad=1)
    assert fixed.end == 6


def test_counted_bits() -> None:
    """Only the first ``count_from`` named bits yield fields; a negative count yields none."""
    bits = Bits("Balancing", 0, [f"Cell {i}" for i in range(1, 9)], count_from=lambda r: r[1])
    out: Out = {}
    bits.read(bytes((0b101, 3)), out)
    assert out == {"cell_1": True, "cell_2": False, "cell_3": True}
    none: Out = {}
    Bits("B", 0, ["A"], count_from=lambda r: -5).read(b"\x01", none)
    assert none == {}
