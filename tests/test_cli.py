"""The command line, run as a user runs it: ``python -m mppsolar_lib …``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mppsolar_lib.__main__ import main

from .helpers import pi_frame, xmodem


def test_module_runs_as_a_program() -> None:
    """``python -m mppsolar_lib request pi30 QPIGS`` prints the request in hex."""
    out = subprocess.run(
        [sys.executable, "-m", "mppsolar_lib", "request", "pi30", "QPIGS"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out[:10] == b"QPIGS".hex()
    assert int(out[10:14], 16) == xmodem(b"QPIGS")


def test_protocols_and_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """Listing protocols and a protocol's commands."""
    assert main(["protocols"]) == 0
    assert "pi30 " in capsys.readouterr().out
    assert main(["commands", "pi30"]) == 0
    out = capsys.readouterr().out
    assert "QPIGS" in out
    assert "setter" in out


def test_decode_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Decoding a frame prints names, values and units; --json gives machine-readable output."""
    frame = pi_frame("230.0 50.0 229.0 49.9 0161 0119 003 460 57.50").hex()
    assert main(["decode", "pi30", "QPIGS", frame]) == 0
    out = capsys.readouterr().out
    assert "Battery Voltage" in out
    assert "57.5 V" in out
    assert main(["decode", "pi30", "QPIGS", frame, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ac_output_voltage"] == [229.0, "V"]


def test_errors_are_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid values, bad frames and bad hex give a message and a non-zero status."""
    assert main(["request", "pi30", "POP09"]) == 1
    assert "SBU first" in capsys.readouterr().err
    assert main(["decode", "pi30", "QPIGS", "28414243"]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["decode", "pi30", "QPIGS", "zz"]) == 2
    assert "hexadecimal" in capsys.readouterr().err
    assert main(["commands", "nope"]) == 1
