"""The binary-record framework (protocols/binary.py): each spec on hand-built bytes.

Expected values are computed here from the bytes (struct, plain arithmetic), not taken from the
library's output.
"""

from __future__ import annotations

import math
import struct

import pytest

from mppsolar_lib.errors import FrameError, ProtocolError, TruncatedFrameError
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.binary import (
    BinaryProtocol,
    BinSpec,
    Bits,
    Computed,
    Hex,
    Label,
    Num,
    Series,
    Text,
)
from mppsolar_lib.protocols.command import Command, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, FieldInfo, Hints, Int, Out


def read(spec: BinSpec, record: bytes) -> Out:
    """Run one spec over ``record``."""
    out: Out = {}
    spec.read(record, out)
    return out


# -- Num ----------------------------------------------------------------------------------------


def test_num_integer_widths_orders_and_scaling() -> None:
    """Little/big endian, signed, bias and scale (rounded to 6 decimals)."""
    assert read(Num("A", 0, 2), b"\x34\x12") == {"a": 0x1234}
    assert read(Num("A", 0, 2, little=False), b"\x12\x34") == {"a": 0x1234}
    assert read(Num("A", 1, 4, signed=True), b"\x00" + struct.pack("<i", -7)) == {"a": -7}
    assert read(Num("Current", 0, 2, "A", little=False, bias=-30000, scale=0.1), b"\x75\x44") == {
        "current": round((0x7544 - 30000) * 0.1, 6)
    }
    assert read(Num("V", 0, 2, scale=0.001), struct.pack("<H", 3374)) == {"v": 3.374}
    assert read(Num("Big", 0, 8), struct.pack("<Q", 2**40)) == {"big": 2**40}


def test_num_missing_value_gives_no_field() -> None:
    """A sentinel (JK: -2000 for "no probe") is no reading; other values are."""
    spec = Num("T1", 0, 2, "°C", signed=True, scale=0.1, missing=-2000)
    assert read(spec, struct.pack("<h", -2000)) == {}
    assert read(spec, struct.pack("<h", -205)) == {"t1": -20.5}


def test_num_floats() -> None:
    """4-byte floats to float precision (7 significant digits), 8-byte floats as they are."""
    single = struct.unpack("<f", struct.pack("<f", 3.5418152809143066))[0]
    spec = Num("Avg", 0, 4, "V", floating=True)
    assert read(spec, struct.pack("<f", single)) == {"avg": 3.541815}
    assert read(Num("D", 0, 8, floating=True), struct.pack("<d", math.pi)) == {"d": math.pi}
    scaled = Num("mA", 0, 4, floating=True, scale=0.001)
    assert read(scaled, struct.pack("<f", 1500.0)) == {"ma": 1.5}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_num_non_finite_float_is_a_frame_error(value: float) -> None:
    """NaN and infinity mark a corrupt record."""
    with pytest.raises(FrameError, match="Avg: .* is not a reading"):
        read(Num("Avg", 0, 4, floating=True), struct.pack("<f", value))


def test_unsupported_widths_are_table_bugs() -> None:
    """Widths struct cannot read raise at import time."""
    with pytest.raises(ValueError, match="no integer format of 3 bytes"):
        Num("X", 0, 3)
    with pytest.raises(ValueError, match="no floating-point format of 2 bytes"):
        Num("X", 0, 2, floating=True)


# -- Series -------------------------------------------------------------------------------------


def test_series_with_default_summary() -> None:
    """One field per position; min/max with 1-based positions and delta over non-zero values."""
    raw = struct.pack("<4H", 3300, 0, 3350, 3290)
    spec = Series("Cell{:02d}", 0, 4, 2, "V", scale=0.001, summary="Cell Voltage")
    assert read(spec, raw) == {
        "cell01": 3.3,
        "cell02": 0.0,
        "cell03": 3.35,
        "cell04": 3.29,
        "min_cell_voltage": 3.29,
        "min_cell_voltage_cell": 4,
        "max_cell_voltage": 3.35,
        "max_cell_voltage_cell": 3,
        "delta_cell_voltage": 0.06,
    }
    keys = [info.key for info in spec.info()]
    assert keys[-5:] == [
        "min_cell_voltage",
        "min_cell_voltage_cell",
        "max_cell_voltage",
        "max_cell_voltage_cell",
        "delta_cell_voltage",
    ]


def test_series_summary_names_and_summary_limit() -> None:
    """Own names, a blank one dropped; the summary covers the first cells the record names."""
    raw = bytes([2]) + struct.pack("<4H", 3300, 3310, 3000, 0)
    spec = Series(
        "Cell{}",
        1,
        4,
        2,
        "V",
        scale=0.001,
        summary_names=("Lowest", "Lowest Cell", "Highest", "Highest Cell", ""),
        summary_count_from=lambda record: record[0],
    )
    out = read(spec, raw)
    assert out["cell3"] == 3.0  # still reported
    assert {k: out[k] for k in ("lowest", "lowest_cell", "highest", "highest_cell")} == {
        "lowest": 3.3,
        "lowest_cell": 1,
        "highest": 3.31,
        "highest_cell": 2,
    }
    assert "delta" not in out
    infos = {info.key: info for info in spec.info()}
    assert infos["lowest_cell"].hints == DIAGNOSTIC
    assert infos["lowest_cell"].unit == ""
    assert infos["highest"].unit == "V"
    assert "delta" not in infos


def test_series_summary_of_nothing_gives_no_summary() -> None:
    """All positions empty (or none counted): no min/max at all, not zeros."""
    spec = Series("C{}", 0, 2, 2, summary="V", summary_count_from=lambda record: -1)
    assert read(spec, struct.pack("<2H", 3300, 3301)) == {"c1": 3300, "c2": 3301}
    assert read(Series("C{}", 0, 2, 2, summary="V"), bytes(4)) == {"c1": 0, "c2": 0}


def test_series_summary_names_must_be_five() -> None:
    """A wrong count of names is a table bug."""
    with pytest.raises(ValueError, match="summary_names needs 5 names, got 2"):
        Series("C{}", 0, 2, 2, summary_names=("a", "b"))


def test_series_of_floats() -> None:
    """Float series are trimmed like Num; NaN refuses the record."""
    raw = struct.pack("<3f", 3.25, 0.0, 3.5)
    spec = Series("V{}", 0, 3, 4, "V", floating=True, summary="Cell")
    out = read(spec, raw)
    assert (out["v1"], out["v3"], out["min_cell_cell"], out["max_cell"]) == (3.25, 3.5, 1, 3.5)
    with pytest.raises(FrameError, match="not a reading"):
        read(spec, struct.pack("<3f", 3.25, float("nan"), 3.5))


def test_counted_series_checks_its_own_length() -> None:
    """With count_from, a record too short for the counted values is truncated."""
    spec = Series("C{}", 1, 4, 2, count_from=lambda record: record[0])
    assert read(spec, bytes([1, 5, 0])) == {"c1": 5}
    with pytest.raises(TruncatedFrameError, match="too short for its values"):
        read(spec, bytes([3, 5, 0]))


def test_series_with_padding() -> None:
    """``pad`` skips bytes before each value (a cell number before each voltage)."""
    spec = Series("C{}", 0, 2, 2, little=False, pad=1)
    assert read(spec, bytes([1, 0x0C, 0xE4, 2, 0x0C, 0xF8])) == {"c1": 0x0CE4, "c2": 0x0CF8}


# -- Text, Hex, Label, Bits, Computed ------------------------------------------------------------


def test_text() -> None:
    """Cut at the first NUL and stripped; empty gives no field unless asked to keep it."""
    assert read(Text("Model", 0, 8), b" JK-B2A\x00x") == {"model": "JK-B2A"}
    assert read(Text("Model", 0, 4), bytes(4)) == {}
    assert read(Text("Model", 0, 4, keep_empty=True), bytes(4)) == {"model": ""}
    with pytest.raises(UnicodeDecodeError):
        read(Text("Model", 0, 2), b"\xc3\xa9")
    assert read(Text("Name", 0, 2, encoding="utf-8"), b"\xc3\xa9") == {"name": "é"}
    lenient = Text("Name", 0, 2, encoding="utf-8", errors="replace")
    assert read(lenient, b"\xff\x41") == {"name": "\ufffdA"}
    with pytest.raises(TruncatedFrameError, match="Model: record too short"):
        read(Text("Model", 2, 4), b"abc")


def test_hex() -> None:
    """Lower-case hex, diagnostic by default."""
    spec = Hex("Header", 1, 2)
    assert read(spec, b"\x00\xab\xcd") == {"header": "abcd"}
    assert spec.hints == DIAGNOSTIC
    with pytest.raises(TruncatedFrameError, match="Header: record too short"):
        read(spec, b"\x00\xab")


def test_label() -> None:
    """Known codes map; unknown codes are kept visibly."""
    assert read(Label("Mode", 0, ["Off", "On"]), b"\x01") == {"mode": "On"}
    assert read(Label("Mode", 0, {2: "Two"}, 2, little=False), b"\x00\x02") == {"mode": "Two"}
    assert read(Label("Mode", 0, ["Off"]), b"\x07") == {"mode": "Unknown (7)"}


def test_bits() -> None:
    """Named bits, least significant first; blank names reserved; count_from limits them."""
    spec = Bits("Alarms", 0, ["Low", "", "High"], 2, little=False)
    assert read(spec, b"\x00\x05") == {"low": True, "high": True}
    assert [info.key for info in spec.info()] == ["low", "high"]
    counted = Bits("Cells", 1, ["C1", "C2", "C3"], count_from=lambda record: record[0])
    assert read(counted, bytes([2, 0b111])) == {"c1": True, "c2": True}
    with pytest.raises(ValueError, match="9 bit names for 1 bytes"):
        Bits("X", 0, [str(i) for i in range(9)])


def test_computed() -> None:
    """The function reads what it needs; info lists its fields (or the spec's own)."""

    def double(record: bytes, spec: Computed, out: Out) -> None:
        out[spec.key] = record[spec.offset] * 2

    spec = Computed("Twice", 1, 1, double, "V", Hints("voltage"))
    assert read(spec, b"\x00\x15") == {"twice": 42}
    assert [info.key for info in spec.info()] == ["twice"]
    listed = Computed("Pair", 0, 1, double, infos=[FieldInfo("a", "A", "", DIAGNOSTIC)])
    assert [info.key for info in listed.info()] == ["a"]


def test_binspec_refuses_text_and_must_be_subclassed() -> None:
    """A binary spec in a text table is a bug; the base read is abstract."""
    spec = BinSpec("Raw", 0, 1)
    with pytest.raises(TypeError, match="Raw is a binary field"):
        spec.decode("12", {})
    with pytest.raises(NotImplementedError):
        spec.read(b"\x00", {})
    assert spec.end == 1


# -- BinaryProtocol -----------------------------------------------------------------------------


class Toy(BinaryProtocol):
    """A protocol whose frames are ``0x7e`` + record."""

    id = "toy"
    description = "toy"
    commands = table(
        query("GET", "get", Num("Value", 0, 2, little=False), Text("Name", 2, 3)),
        query("PING", "ping"),
        # a text spec has nothing to read in a record: it is skipped
        query("MIXED", "mixed", Num("Value", 0, 1), Int("Text only")),
    )

    def check(self, command: Command, frame: bytes, sent: str) -> bytes:
        """Strip the start byte."""
        if not frame.startswith(b"\x7e"):
            raise FrameError(f"{sent}: no start byte")
        return frame[1:]


def test_binary_protocol_reads_the_layout() -> None:
    """The record is checked, then each spec reads its bytes."""
    result = Toy().decode("GET", b"\x7e\x01\x02abc")
    assert dict(result) == {"value": 0x0102, "name": "abc"}
    assert dict(Toy().decode("PING", b"\x7e")) == {}
    assert dict(Toy().decode("MIXED", b"\x7e\x09")) == {"value": 9}


def test_binary_protocol_refuses_short_records() -> None:
    """A record shorter than its layout needs is truncated, before any spec reads it."""
    with pytest.raises(TruncatedFrameError, match="record has 3 bytes, the layout needs 5"):
        Toy().decode("GET", b"\x7e\x01\x02a")
    with pytest.raises(FrameError, match="no start byte"):
        Toy().decode("GET", b"\x01\x02abc")


def test_binary_protocol_check_is_abstract() -> None:
    """A protocol must say how to check its frames."""

    class Bare(BinaryProtocol):
        id = "bare"
        description = "bare"
        commands = table(query("GET", "get"))

    with pytest.raises(NotImplementedError):
        Bare().check(Bare.commands["GET"], b"", "GET")


def test_text_decoding_errors_become_protocol_errors() -> None:
    """Non-ASCII bytes in an ASCII field surface as a ProtocolError from decode()."""
    with pytest.raises(ProtocolError):
        Toy().decode("GET", b"\x7e\x00\x01\xff\xfe\xfd")
