"""Console outputs, byte for byte against the reference CLI's recorded stdout.

``tests/vectors/extra/cli.jsonl`` holds what ``mpp-solar -p test0 -P <protocol> -c <command>
-o <format>`` printed for the reference's example frames. Where our protocol decodes a frame to
the same keys, values and units, every format must print exactly the same bytes, except the Home
Assistant hints the reference appends to some screen rows (``{'icon': …}``), which we leave out
(docs/deviations.md, "CLI").
"""

from __future__ import annotations

from collections.abc import Iterator
import io
import json
from pathlib import Path
import sys
from typing import Any

import pytest

from mppsolar_lib.outputs import (
    ConsoleOutput,
    OutputError,
    OutputOptions,
    Report,
    get_output,
    list_outputs,
    register_output,
)
from mppsolar_lib.outputs.base import plain, text, unit_of
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field

VECTORS = Path(__file__).parent / "vectors"
CONSOLE = ("screen", "boxdraw", "simple", "simpleunits", "value", "json", "json_units", "raw")
#: Commands whose example frame both implementations decode to the same keys, values and units.
SAME = {("pi30", "QPIGS"), ("pi30", "QFLAG"), ("pi30", "QPGS0"), ("daly", "SOC")}


def _records() -> Iterator[dict[str, Any]]:
    with (VECTORS / "extra" / "cli.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def _flag(argv: list[str], flag: str, default: str | None = None) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _cases() -> list[Any]:
    cases = []
    for record in _records():
        argv = record["argv"]
        if "-c" not in argv or "-P" not in argv or _flag(argv, "-p") != "test0":
            continue
        protocol, command = _flag(argv, "-P"), _flag(argv, "-c")
        output = _flag(argv, "-o", "screen")
        if (protocol, command) in SAME and output in CONSOLE:
            cases.append(pytest.param(record, id=" ".join(argv[1:])))
    return cases


def _example(protocol: str, command: str) -> dict[str, Any]:
    """Return the reference's decoding of the first example frame of ``command``."""
    with (VECTORS / f"{protocol}.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            vector: dict[str, Any] = json.loads(line)
            if vector["kind"] == "test_response" and vector["command"] == command:
                return vector
    raise LookupError(command)  # pragma: no cover - the vectors hold every command above


def _without_hints(stdout: str) -> str:
    """Drop the ``{'icon': …}`` the reference appends after a unit padded to 6 characters."""
    lines = []
    for line in stdout.split("\n"):
        cut = line.find(" {'")
        if cut != -1 and line.endswith("}"):
            head = line[: cut + 1]
            line = head[:-6] + head[-6:].rstrip()
        lines.append(line)
    return "\n".join(lines)


def _render(name: str, reports: list[Report], options: OutputOptions | None = None) -> str:
    output = get_output(name, options)
    assert isinstance(output, ConsoleOutput)
    stream = io.StringIO()
    output.stream = stream
    output.write(reports)
    return stream.getvalue()


@pytest.mark.parametrize("record", _cases())
def test_matches_the_reference(record: dict[str, Any]) -> None:
    """Every console format prints what the reference printed for the same frame."""
    argv = record["argv"]
    protocol, command = str(_flag(argv, "-P")), str(_flag(argv, "-c"))
    vector = _example(protocol, command)
    result = get_protocol(protocol).decode(command, bytes.fromhex(vector["response_hex"]))
    # Our descriptions are our own wording; the layout is what is compared.
    report = Report.from_result(result, command, vector["meta"]["_command_description"])
    options = OutputOptions(
        filter=_flag(argv, "--filter"),
        exclude=_flag(argv, "--exclfilter"),
        keep_case="--keepcase" in argv,
    )
    out = _render(str(_flag(argv, "-o", "screen")), [report], options)
    assert out == _without_hints(record["actual_stdout"])


def test_the_comparison_covers_every_format_and_the_filters() -> None:
    """The recorded cases exercise all eight formats, both filters and --keepcase."""
    argvs = [case.values[0]["argv"] for case in _cases()]
    assert {_flag(argv, "-o", "screen") for argv in argvs} == set(CONSOLE)
    assert any("--filter" in argv for argv in argvs)
    assert any("--exclfilter" in argv for argv in argvs)
    assert any("--keepcase" in argv for argv in argvs)


def test_hints_are_dropped_from_the_reference_only_where_it_printed_them() -> None:
    """The normalisation keeps padding of value-only rows and removes only the hint dict."""
    line = "ac_input_voltage  0.0            V     {'icon': 'mdi:lightning'}"
    assert _without_hints(line) == "ac_input_voltage  0.0            V"
    no_unit = "serial  123            " + " " * 6 + "{'icon': 'x'}"
    assert _without_hints(no_unit) == "serial  123            "


REPORT = Report(
    "QTEST",
    "A test command",
    (
        Field("battery_voltage", "Battery Voltage", 52.5, "V"),
        Field("is_load_on", "Is Load On", True),
        Field("fault", "Fault", False),
        Field("model", "Model", "MKS2-8000"),
        Field("missing", "Missing", None),
        Field("cells", "Cells", (3, 4)),
    ),
    b"(52.5 1\x8c\r",
)


def test_values_in_every_format() -> None:
    """Flags print as 1/0 with unit bool, nothing as empty, tuples joined; JSON keeps types."""
    assert _render("simple", [REPORT]) == (
        "battery_voltage=52.5\nis_load_on=1\nfault=0\nmodel=MKS2-8000\nmissing=\ncells=3,4\n"
    )
    assert _render("simpleunits", [REPORT]).splitlines()[:3] == [
        "battery_voltage=52.5(V)",
        "is_load_on=1(bool)",
        "fault=0(bool)",
    ]
    assert _render("value", [REPORT]) == "52.5\n1\n0\nMKS2-8000\n\n3,4\n"
    assert json.loads(_render("json", [REPORT])) == {
        "_command": "QTEST",
        "_command_description": "A test command",
        "battery_voltage": 52.5,
        "is_load_on": 1,
        "fault": 0,
        "model": "MKS2-8000",
        "missing": None,
        "cells": [3, 4],
    }
    units = json.loads(_render("json_units", [REPORT]))
    assert units["is_load_on"] == {"value": 1, "unit": "bool"}
    assert units["model"] == {"value": "MKS2-8000", "unit": ""}


def test_one_json_object_per_report() -> None:
    """A '#' list of commands gives one JSON line each (JSON Lines)."""
    lines = _render("json", [REPORT, REPORT]).splitlines()
    assert [json.loads(line)["_command"] for line in lines] == ["QTEST", "QTEST"]


def test_screen_rows_longer_than_the_columns() -> None:
    """Long keys widen the parameter column; long values push the unit along, never cut."""
    long = Report("X", "d", (Field("k", "K", "a value longer than fifteen", "V"),))
    out = _render("screen", [long])
    assert "Parameter Value          Unit\n" in out
    assert "k         a value longer than fifteenV\n" in out


def test_boxdraw_title_wider_than_the_columns() -> None:
    """A long title widens the box; the unit column absorbs the slack and borders stay aligned."""
    report = Report("ET", "Total PV Generated Energy Inquiry", (Field("e", "E", 0, "Wh"),))
    lines = _render("boxdraw", [report]).split("\n")
    table = [line for line in lines if line]
    assert {len(line) for line in table} == {
        len(" Command: ET - Total PV Generated Energy Inquiry") + 7
    }
    assert table[3] == "║ Parameter │ Value  │ " + "Unit".ljust(31) + "║"
    assert lines[-3:] == ["", "", ""]


def test_raw_output() -> None:
    """The frame escaped as the reference prints it; a listing has none."""
    out = _render("raw", [REPORT])
    assert out.splitlines() == [
        "Command: QTEST - A test command",
        "-" * 60,
        "raw_response                  \t'(52.5 1\\x8c\\r'",
    ]
    listing = Report.listing("command help", "Commands", [("QPI", "Protocol id")])
    assert _render("raw", [listing]) == "Command: command help - Commands\n" + "-" * 60 + "\n"


def test_filters_and_keep_case() -> None:
    """--exclfilter wins over --filter; --keepcase shows display names; filters see those keys."""
    options = OutputOptions(filter="^is|^bat", exclude="load")
    assert _render("simple", [REPORT], options) == "battery_voltage=52.5\n"
    keep = OutputOptions(keep_case=True, filter="^Battery")
    assert _render("simple", [REPORT], keep) == "Battery_Voltage=52.5\n"
    # The reference applies the filter to _command too: a JSON filter drops the header keys.
    assert json.loads(_render("json", [REPORT], OutputOptions(filter="model"))) == {
        "model": "MKS2-8000"
    }


def test_a_bad_filter_names_the_flag() -> None:
    """An invalid regular expression is a clear error, not a traceback."""
    with pytest.raises(OutputError, match=r"--filter '\(' is not a regular expression"):
        OutputOptions(filter="(")
    with pytest.raises(OutputError, match="--exclfilter"):
        OutputOptions(exclude="[")


def test_report_builders() -> None:
    """Merged reports keep the later value of a repeated key; listings are name/text rows."""
    proto = get_protocol("pi30")
    first = proto.decode("QPI", b"(PI30\x9a\x0b\r")
    merged = Report.merged("get_status", "Status", [first, first])
    assert [row.key for row in merged.rows] == ["protocol_id"]
    assert merged.raw is None
    listing = Report.listing("protocols help", "Protocols", [("pi30", "PI30 inverters")])
    assert listing.rows == (Field("pi30", "pi30", "PI30 inverters"),)


def test_rows_and_reports_read_well_in_logs() -> None:
    """Rows compare by content (not with other types) and both have a short repr."""
    row = Field("battery_voltage", "Battery Voltage", 52.5, "V")
    assert row == Field("battery_voltage", "Battery Voltage", 52.5, "V")
    assert row != ("battery_voltage", 52.5)
    assert repr(row) == "<Field battery_voltage=52.5 V>"
    assert repr(REPORT) == "<Report QTEST: 6 rows>"


def test_a_report_keeps_the_decoded_fields_with_their_home_assistant_hints() -> None:
    """Outputs get the protocol's own fields, hints included (MQTT discovery needs them)."""
    result = get_protocol("pi30").decode(
        "QPIGS",
        b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
        b"00110110 00 00 00856 010$\x8c\r",
    )
    report = Report.from_result(result, "QPIGS", "status")
    voltage = next(row for row in report.rows if row.key == "battery_voltage")
    assert voltage is result.fields["battery_voltage"]
    assert (voltage.value, voltage.unit, voltage.hints.device_class) == (57.5, "V", "voltage")


def test_value_helpers() -> None:
    """text(), plain() and unit_of() as the formats use them."""
    assert [text(v) for v in (True, False, None, (1, 2), 0.1 + 0.2, "x")] == [
        "1",
        "0",
        "",
        "1,2",
        "0.30000000000000004",
        "x",
    ]
    assert [plain(v) for v in (True, (1,), 2.5)] == [1, [1], 2.5]
    assert unit_of(Field("a", "A", True, "")) == "bool"
    assert unit_of(Field("a", "A", 1, "")) == ""
    assert unit_of(Field("a", "A", True, "x")) == "x"


def test_registry() -> None:
    """Outputs are listed sorted with descriptions; unknown names suggest close ones."""
    names = list(list_outputs())
    assert names == sorted(names)
    assert set(CONSOLE) <= set(names)
    with pytest.raises(OutputError, match="did you mean json"):
        get_output("jsn")
    with pytest.raises(OutputError, match="unknown output 'zzz'; known: boxdraw"):
        get_output("zzz")


def test_an_output_with_a_missing_dependency_says_what_to_install() -> None:
    """A registered output whose module cannot be imported names the missing package."""
    register_output("broken_test_output", "mppsolar_lib_missing_module:Nothing", "test only")
    try:
        assert "broken_test_output" in list_outputs()
        with pytest.raises(OutputError, match="needs 'mppsolar_lib_missing_module'.*pip install"):
            get_output("broken_test_output")
    finally:
        from mppsolar_lib.outputs import _REGISTRY  # noqa: PLC0415 - test cleanup of the registry

        del _REGISTRY["broken_test_output"]


async def test_console_output_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, output goes to the current sys.stdout (honouring redirection)."""
    output = get_output("value")
    await output.send([REPORT])
    await output.close()
    assert capsys.readouterr().out.startswith("52.5\n1\n")
    assert sys.stdout is not None
