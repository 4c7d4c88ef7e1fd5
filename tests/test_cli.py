"""The command line, run as a user runs it: ``python -m mppsolar_lib …``.

Most tests call ``main(argv)`` in-process and read what it printed; the device is the built-in
simulator (``-p sim``), a simulator served on a real pseudo-terminal or TCP port (the serial and
TCP transports run end to end), or a pseudo-terminal nobody answers on. A few run the program
itself, as a subprocess, where the process boundary matters (the console script, a closed pipe,
a terminal on stderr, signals).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from functools import partial
import io
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from mppsolar_lib import __version__
from mppsolar_lib.__main__ import (
    Progress,
    ProgressTransport,
    allowed,
    main,
    parse_value,
    safety_note,
)
from mppsolar_lib.errors import UnknownCommandError
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer, TcpServer, serve_pty, serve_tcp
from mppsolar_lib.transports import open_transport

from . import privileges
from .helpers import pi_frame, xmodem

#: Bounds every subprocess and background thread: nothing here can hang.
LIMIT = 60


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``main(argv)``; return the exit status, stdout and stderr."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def program(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mppsolar_lib`` as a separate process."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "mppsolar_lib", *argv],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
        **kwargs,
    )


class Terminal(io.StringIO):
    """A stand-in for a terminal on stdin or stderr (``isatty()`` is true)."""

    def isatty(self) -> bool:
        """Claim to be a terminal."""
        return True


class Interrupting(Terminal):
    """A terminal whose user presses Ctrl-C at the prompt."""

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        """Raise what Ctrl-C raises."""
        raise KeyboardInterrupt


class Served:
    """A simulator served on a pty or TCP port by an event loop in a background thread."""

    def __init__(self, protocol: str, kind: str) -> None:
        """Start serving ``protocol`` on a ``kind`` ("pty" or "tcp") port; wait until ready."""
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.port = ""
        self.thread = threading.Thread(target=self._run, args=(protocol, kind), daemon=True)
        self.thread.start()
        assert self.ready.wait(LIMIT), "the simulator did not start"

    def _run(self, protocol: str, kind: str) -> None:
        self.loop.run_until_complete(self._serve(protocol, kind))
        self.loop.close()

    async def _serve(self, protocol: str, kind: str) -> None:
        simulator = create_simulator(protocol, seed=1)
        self.stop = asyncio.Event()
        server: PtyServer | TcpServer
        if kind == "pty":
            server = await serve_pty(simulator)
            self.port = server.path
        else:
            server = await serve_tcp(simulator)
            self.port = f"127.0.0.1:{server.port}"
        self.ready.set()
        try:
            await asyncio.wait_for(self.stop.wait(), LIMIT)
        finally:
            await server.close()

    def close(self) -> None:
        """Stop serving and wait for the thread."""
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(LIMIT)


@pytest.fixture
def served() -> Iterator[Callable[[str, str], str]]:
    """Serve simulators for a test: ``served("pi18", "pty")`` returns the port to open."""
    servers: list[Served] = []

    def start(protocol: str, kind: str = "pty") -> str:
        servers.append(Served(protocol, kind))
        return servers[-1].port

    yield start
    for server in servers:
        server.close()


# -- protocol tools -------------------------------------------------------------------------------


def test_module_runs_as_a_program() -> None:
    """``python -m mppsolar_lib request pi30 QPIGS`` prints the request in hex."""
    out = program("request", "pi30", "QPIGS")
    assert out.returncode == 0, out.stderr
    assert out.stdout[:10] == b"QPIGS".hex()
    assert int(out.stdout[10:14], 16) == xmodem(b"QPIGS")


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


# -- the device CLI on the built-in simulator -----------------------------------------------------


def test_the_readme_command_runs_as_a_program() -> None:
    """``python -m mppsolar_lib -p sim -c QPIGS`` prints the QPIGS table on any machine."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "python -m mppsolar_lib -p sim -c QPIGS " in readme
    out = program("-p", "sim", "-c", "QPIGS")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Command: QPIGS - ")
    assert lines[2].split() == ["Parameter", "Value", "Unit"]
    battery = next(line.split() for line in lines if line.startswith("battery_voltage "))
    assert battery[2] == "V"
    assert 40 < float(battery[1]) < 60
    assert out.stderr == ""


def test_screen_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The default output: header, rule, rows with units, rule, blank lines."""
    status, out, err = run(capsys, "-p", "test", "-c", "QPIGS")
    assert (status, err) == (0, "")
    lines = out.split("\n")
    assert lines[1] == "-" * 80
    assert lines[-4:] == ["-" * 80, "", "", ""]
    assert any(line.split()[1:] == ["1", "bool"] for line in lines if line.startswith("is_load_on"))


def test_formats(capsys: pytest.CaptureFixture[str]) -> None:
    """-o selects the format; several comma-separated outputs each get every report."""
    status, out, _ = run(capsys, "-p", "sim", "-c", "QPI", "-o", "simple,json_units")
    assert status == 0
    simple, units = out.splitlines()
    assert simple == "protocol_id=PI30"
    assert json.loads(units) == {
        "_command": "QPI",
        "_command_description": get_protocol("pi30").commands["QPI"].description,
        "protocol_id": {"value": "PI30", "unit": ""},
    }


def test_hash_separated_commands_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    """'#' runs several commands, one JSON object each; --filter/--exclfilter narrow the keys."""
    status, out, _ = run(
        capsys,
        "-p",
        "sim",
        "-c",
        "QPIGS#QPIRI",
        "-o",
        "json",
        "--filter",
        "^battery",
        "--exclfilter",
        "scc|recharge",
    )
    assert status == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert set(first) == {
        "battery_voltage",
        "battery_charging_current",
        "battery_capacity",
        "battery_discharge_current",
    }
    assert "battery_recharge_voltage" not in second
    assert "battery_bulk_charge_voltage" in second


def test_info_logging_and_porttype(capsys: pytest.CaptureFixture[str]) -> None:
    """-I logs progress to stderr; --porttype forces the port type whatever the port string."""
    status, out, err = run(
        capsys,
        "-I",
        "-p",
        "anything",
        "--porttype",
        "test",
        "-P",
        "auto",
        "-c",
        "QPI",
        "-o",
        "value",
    )
    assert (status, out) == (0, "PI30\n")
    assert "INFO detected pi30 (confidence 0.9" in err


def test_keepcase_and_tag(capsys: pytest.CaptureFixture[str]) -> None:
    """--keepcase shows display names as keys; -T is accepted (topic outputs use it)."""
    status, out, _ = run(capsys, "-p", "sim", "-c", "QPI", "-o", "simple", "--keepcase", "-T", "x")
    assert (status, out) == (0, "Protocol_ID=PI30\n")


def test_default_command_is_the_first_identity_query(capsys: pytest.CaptureFixture[str]) -> None:
    """Without -c the protocol's first identity command runs (QPI on PI30), as the reference."""
    status, out, _ = run(capsys, "-p", "sim", "-o", "value")
    assert (status, out) == (0, "PI30\n")


def test_a_failing_command_in_a_list_does_not_stop_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refused command is one error line; the others print; the status says something failed."""
    status, out, err = run(capsys, "-p", "sim", "-c", "QPI#QPGS1#QMOD", "-o", "simple")
    assert status == 1
    assert out.splitlines()[0] == "protocol_id=PI30"
    assert out.splitlines()[1].startswith("device_mode=")
    assert err.count("\n") == 1
    assert err.startswith("error: QPGS1: ") and "NAK" in err


def test_getstatus_getsettings_getdeviceid(capsys: pytest.CaptureFixture[str]) -> None:
    """The helper flags merge the status/settings commands; the device id joins identity values."""
    status, out, _ = run(capsys, "-p", "sim", "--getstatus", "-o", "json")
    report = json.loads(out)
    assert status == 0
    assert report["_command"] == "get_status"
    assert "battery_voltage" in report  # QPIGS
    assert "inverter_charge_status" in report  # Q1
    status, out, _ = run(capsys, "-p", "sim", "--getsettings", "-o", "json")
    assert "battery_type" in json.loads(out)  # QPIRI
    assert "buzzer" in json.loads(out)  # QFLAG
    status, out, _ = run(capsys, "-p", "sim", "--getDeviceId", "-o", "json")
    assert json.loads(out) == {
        "_command": "Get Device ID",
        "_command_description": "Generate a device id",
        "deviceid": "PI30:038:MKS2-8000",
    }


def test_a_status_command_the_unit_refuses_is_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--getstatus prints what answered and warns about the rest (a PI18 unit without FWS)."""
    status, out, err = run(capsys, "-p", "sim", "-P", "pi18", "--getstatus", "-o", "json")
    assert status == 0
    assert json.loads(out)["_command_description"] == "Status: GS, MOD"
    assert err.startswith("warning: FWS: ") and err.count("\n") == 1


def test_device_id_of_other_families(capsys: pytest.CaptureFixture[str]) -> None:
    """--getDeviceId on a BMS joins its identity answer; a protocol without one says so."""
    status, out, _ = run(capsys, "-p", "sim", "-P", "daly", "--getDeviceId", "-o", "value")
    assert status == 0
    assert out.strip()
    status, _, err = run(capsys, "-p", "sim", "-P", "jk485", "--getDeviceId")
    assert status == 1
    assert err == "error: jk485 has no identity commands\n"


def test_listings(capsys: pytest.CaptureFixture[str]) -> None:
    """-c alone or -l lists commands (names as defined); -P alone protocols; -o alone outputs."""
    status, out, _ = run(capsys, "-P", "pi30", "-c")
    assert status == 0
    assert out.startswith("Command: command help - List available commands for protocol pi30\n")
    rows = {line.split()[0] for line in out.splitlines()[3:-4]}
    assert {"QPIGS", "POP", "PBCV"} <= rows
    pop = next(line for line in out.splitlines() if line.startswith("POP "))
    assert "SBU first" in pop  # the allowed parameter values
    status, out, _ = run(capsys, "-P", "daly", "-l", "-o", "json")
    assert "cellVoltages" in json.loads(out)
    status, out, _ = run(capsys, "-P")
    assert "jk02_32" in out and "ved" in out
    status, out, _ = run(capsys, "-o")
    assert "json_units" in out and "boxdraw" in out


def test_auto_detects_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    """-P auto probes the device first, then runs the command (or lists the commands)."""
    status, out, _ = run(capsys, "-p", "sim", "-P", "auto", "-c", "QPI", "-o", "value")
    assert (status, out) == (0, "PI30\n")
    status, out, _ = run(capsys, "-p", "sim", "-P", "auto", "-c", "-o", "simple")
    assert status == 0
    assert "QPIGS=" in out


def test_detect_over_a_real_pty(
    capsys: pytest.CaptureFixture[str], served: Callable[[str, str], str]
) -> None:
    """--detect over the serial transport and a pty names the protocol, identity and evidence."""
    port = served("pi18", "pty")
    status, out, _ = run(capsys, "-p", port, "-b", "2400", "--detect", "-o", "simple")
    assert status == 0
    found = dict(line.split("=", 1) for line in out.splitlines())
    assert found["protocol"] == "pi18"
    assert float(found["confidence"]) >= 0.8
    assert found["probe_01"].startswith("QPI with CRC: ")


def test_commands_over_tcp(
    capsys: pytest.CaptureFixture[str], served: Callable[[str, str], str]
) -> None:
    """host:port reaches a serial-over-IP gateway; here a simulated daly BMS."""
    port = served("daly", "tcp")
    status, out, _ = run(capsys, "-p", port, "-P", "daly", "-c", "SOC", "-o", "simpleunits")
    assert status == 0
    assert "soc=" in out and "(%)" in out


def test_detect_finds_nothing_on_a_silent_port(capsys: pytest.CaptureFixture[str]) -> None:
    """A port nobody answers on: one error line saying what was tried."""
    master, slave = os.openpty()
    try:
        status, out, err = run(capsys, "-p", os.ttyname(slave), "--detect", "--timeout", "0.05")
    finally:
        os.close(master)
        os.close(slave)
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert "no known protocol answered" in err and "QPI with CRC: silence" in err


def test_device_not_answering(capsys: pytest.CaptureFixture[str]) -> None:
    """A command on a silent port fails after its retries with what was tried, and no traceback."""
    master, slave = os.openpty()
    try:
        status, out, err = run(capsys, "-p", os.ttyname(slave), "-c", "QPI", "--timeout", "0.05")
    finally:
        os.close(master)
        os.close(slave)
    assert (status, out) == (1, "")
    assert err.startswith("error: QPI on ") and "no valid answer after 3 attempts" in err
    assert "timeout" in err and "Traceback" not in err


# -- errors ----------------------------------------------------------------------------------------


def test_unknown_command_suggests_close_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt command is refused before the port is opened, with close matches."""
    status, out, err = run(capsys, "-p", "/nonexistent/port", "-c", "QPGIS")
    assert (status, out) == (1, "")
    assert err == "error: pi30 has no command 'QPGIS'; did you mean QPGS or QPIWS or QPIGS?\n"


def test_invalid_setter_value_lists_what_is_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    """A setter parameter out of its set is refused with the allowed values; nothing is sent."""
    status, _, err = run(capsys, "-p", "sim", "-c", "POP09")
    assert status == 1
    assert "00 (Utility first), 01 (Solar first), 02 (SBU first)" in err


def test_missing_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A missing device path says which ports exist; a directory is not a port."""
    status, _, err = run(capsys, "-p", str(tmp_path / "ttyUSB9"), "-c", "QPI")
    assert status == 1
    assert "no such serial port" in err and err.count("\n") == 1
    status, _, err = run(capsys, "-p", str(tmp_path), "-c", "QPI")
    assert status == 1
    assert "is a directory, not a serial port" in err


@pytest.mark.skipif(Path("/dev/ttyUSB0").exists(), reason="a real adapter is plugged in")
def test_without_a_port_the_default_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """No -p: the reference's default /dev/ttyUSB0 is tried, and the simulator suggested."""
    status, _, err = run(capsys, "-c", "QPI")
    assert status == 1
    assert "no -p given, so the default /dev/ttyUSB0 was used; -p sim" in err


def test_permission_denied_says_how_to_fix_it(tmp_path: Path) -> None:
    """A port the user may not open: one line naming the port and the fix, no traceback.

    Run as a user file modes apply to (root loses its override: see tests/privileges.py).
    """
    port = privileges.locked_port(tmp_path / "ttyUSB0")
    done = privileges.python("-m", "mppsolar_lib", "-p", str(port.path), "-c", "QPI")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"error: {port.path}: permission denied")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert port.fix in done.stderr


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown protocol, unknown output, bad filter, empty -c: exit status 2, one line each."""
    cases = {
        ("-p", "sim", "-P", "pi99"): "unknown protocol 'pi99'; known: daly",
        ("-p", "sim", "-o", "jsn"): "unknown output 'jsn'; did you mean json?",
        ("-p", "sim", "-o", ","): "-o needs an output name",
        ("-p", "sim", "--filter", "("): "--filter '(' is not a regular expression",
        ("-p", "sim", "-c", "#"): "-c needs a command",
    }
    for argv, message in cases.items():
        status, out, err = run(capsys, *argv)
        assert (status, out) == (2, ""), argv
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """-D lets the error through (with its traceback) and logs the frames."""
    with pytest.raises(UnknownCommandError):
        main(["-D", "-p", "sim", "-c", "QPGIS"])
    assert main(["-D", "-p", "sim", "-c", "QPI", "-o", "value"]) == 0
    assert "> QPI 51 50 49" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """-v prints the version and exits."""
    status, out, _ = run(capsys, "-v")
    assert status == 0
    assert out.startswith(f"mppsolar (mppsolar_lib) {__version__}, python 3.")


def test_a_closed_pipe_ends_quietly() -> None:
    """Piping into ``head`` closes stdout early: no traceback, status 0."""
    with subprocess.Popen(  # the pipe is closed after one line, mid-output
        [sys.executable, "-m", "mppsolar_lib", "-p", "sim", "-c", "#".join(["QPIGS"] * 60)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith(b"Command: QPIGS")
        process.stdout.close()
        err = process.stderr.read()
        assert process.wait(LIMIT) == 0
    assert err == b""


def test_broken_pipe_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same in-process: stdout replaced by a pipe whose reader is gone."""
    read, write = os.pipe()
    os.close(read)

    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return write

    monkeypatch.setattr(sys, "stdout", Gone())
    try:
        assert main(["-p", "sim", "-c", "QPI"]) == 0
    finally:
        os.close(write)


def test_unexpected_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug surfaces as one line asking for -D and a report; -D shows it whole."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("mppsolar_lib.__main__.open_transport", broken)
    status, _, err = run(capsys, "-p", "sim", "-c", "QPI")
    assert status == 70
    assert err == (
        "error: unexpected RuntimeError: boom (run with -D for the traceback, "
        "and please report it)\n"
    )
    with pytest.raises(RuntimeError):
        main(["-D", "-p", "sim", "-c", "QPI"])


# -- progress --------------------------------------------------------------------------------------


def test_progress_on_a_terminal_while_detecting() -> None:
    """With stderr on a terminal, --detect shows which probe runs, then erases the line."""
    master, slave = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mppsolar_lib", "-p", "sim", "-P", "auto", "--detect"],
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=LIMIT,
            check=False,
        )
        os.close(slave)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once everything written has been read
            while chunk := os.read(master, 4096):
                shown += chunk
    finally:
        os.close(master)
    assert done.returncode == 0
    assert b"detecting the protocol: probe 1 QPI" in shown
    assert shown.endswith(b"\r")  # the line is erased at the end
    assert b"protocol" in done.stdout


def test_progress_in_process_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """-P auto shows the same progress while it detects, then runs the command."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = main(["-p", "sim", "-P", "auto", "-c", "QPI", "-o", "value"])
    assert (status, capsys.readouterr().out) == (0, "PI30\n")
    shown = terminal.getvalue()
    assert shown.startswith("\rdetecting the protocol…\rdetecting the protocol: probe 1 QPI (")
    assert shown.endswith("\r")


def test_progress_is_silent_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Redirected stderr gets no progress line (logs and pipes stay clean)."""
    status, _, err = run(capsys, "-p", "sim", "-P", "auto", "--detect", "-o", "value")
    assert (status, err) == (0, "")
    assert Progress.to_stderr() is None


async def test_progress_transport_passes_everything_through() -> None:
    """The progress wrapper reports each request and delegates the rest to the real transport."""
    stream = io.StringIO()
    progress = Progress(stream)
    inner = open_transport("sim", protocol="pi30")
    transport = ProgressTransport(inner, progress)
    assert transport.name == inner.name
    progress.step("not started")  # ignored until started
    assert stream.getvalue() == ""
    progress.start("probing")
    request = get_protocol("pi30").build_request("QPI")
    complete = partial(get_protocol("pi30").answer_length, "QPI")
    answer = await asyncio.wait_for(transport.exchange(request, complete, 1.0), LIMIT)
    assert answer.startswith(b"(PI30")
    assert transport.is_open
    await transport.close()
    assert (transport.is_open, inner.is_open) == (False, False)
    await transport.open()
    assert inner.is_open
    progress.stop()
    progress.stop()  # idempotent
    shown = stream.getvalue()
    assert shown.startswith("\rprobing…\rprobing: probe 1 QPI (")
    assert shown.endswith("\r")


# -- settings --------------------------------------------------------------------------------------


def test_settings_list(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a key, every setting with its current value (each read command sent once)."""
    status, out, _ = run(capsys, "settings", "-p", "sim", "-o", "simpleunits")
    assert status == 0
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert values["output_source_priority"] in ("Utility first", "Solar first", "SBU first")
    assert values["battery_float_charge_voltage"].endswith("(V)")
    assert values["buzzer"] in ("1(bool)", "0(bool)")


def test_settings_detail(capsys: pytest.CaptureFixture[str]) -> None:
    """One setting: value, allowed values, where it is read; a safety one says what it guards."""
    status, out, _ = run(capsys, "settings", "-p", "sim", "output_source_priority")
    assert status == 0
    assert out.splitlines()[1] == "  allowed: Utility first, Solar first, SBU first"
    status, out, _ = run(capsys, "settings", "-p", "sim", "battery_float_charge_voltage")
    assert "  allowed: 12–64 V in steps of 0.1" in out
    assert "safety setting: a voltage outside the battery maker's values" in out


def test_settings_change_with_yes(capsys: pytest.CaptureFixture[str]) -> None:
    """--yes writes the value, which the device then reports (read back after the ACK)."""
    status, out, _ = run(
        capsys, "settings", "-p", "sim", "output_source_priority", "Solar first", "--yes"
    )
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("change Output source priority: ") and "(POP01)" in lines[0]
    assert lines[-1] == "Output source priority is now Solar first"
    status, out, _ = run(capsys, "settings", "-p", "sim", "output_source_priority", "SBU first")
    assert (status, out) == (0, "Output source priority is already SBU first; nothing sent\n")


def test_settings_confirmation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change asks on a terminal; 'n' keeps the value; a safety change shows its risk first."""
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    status, out, _ = run(capsys, "settings", "-p", "sim", "battery_float_charge_voltage", "54.5")
    assert status == 1
    assert "safety setting: a voltage outside" in out
    assert out.endswith("apply? [y/N] not changed\n")
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    status, out, _ = run(capsys, "settings", "-p", "sim", "buzzer", "off")
    assert status == 0
    assert out.endswith("Buzzer is now off\n")


def test_ctrl_c_at_the_prompt(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C ends the program with status 130 and one line, nothing changed."""
    monkeypatch.setattr(sys, "stdin", Interrupting())
    status, _, err = run(capsys, "settings", "-p", "sim", "buzzer", "off")
    assert (status, err) == (130, "interrupted\n")


def test_settings_refuses_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """No terminal to ask on and no --yes: nothing is changed, exit status 2."""
    status, _, err = run(capsys, "settings", "-p", "sim", "buzzer", "off")
    assert status == 2
    assert err == "error: not changed: confirm on a terminal, or pass --yes\n"


def test_settings_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown key (close matches), invalid value (allowed ones), a protocol without settings."""
    status, _, err = run(capsys, "settings", "-p", "sim", "output_priority", "x")
    assert status == 2
    assert "did you mean output_source_priority?" in err
    status, _, err = run(
        capsys, "settings", "-p", "sim", "output_source_priority", "Wind first", "--yes"
    )
    assert status == 1
    assert "not one of: Utility first, Solar first, SBU first" in err
    status, _, err = run(capsys, "settings", "-p", "sim", "buzzer", "maybe")
    assert (status, err) == (2, "error: Buzzer: 'maybe' is not on or off\n")
    status, _, err = run(capsys, "settings", "-p", "sim", "-P", "jk485")
    assert (status, err) == (2, "error: jk485 has no settings that can be changed\n")


def test_settings_the_device_does_not_report(
    capsys: pytest.CaptureFixture[str], served: Callable[[str, str], str]
) -> None:
    """A setting the firmware does not report shows as such; a non-safety note is shown too."""
    port = served("pi41", "pty")  # PI41's QPIRI has no operation logic position
    status, out, _ = run(capsys, "settings", "-p", port, "-P", "pi30", "operation_logic")
    assert (status, out.splitlines()[0]) == (0, "Operation logic (operation_logic): not reported")
    status, out, _ = run(capsys, "settings", "-p", "sim", "-P", "ved", "current_threshold")
    assert status == 0
    assert out.splitlines()[-1] == "  Current threshold (smaller currents read as zero)"


def test_wrong_protocol_for_the_device(
    capsys: pytest.CaptureFixture[str], served: Callable[[str, str], str]
) -> None:
    """PI17 requests to a PI18 unit: each refusal is a warning, the outcome one error line."""
    port = served("pi18", "pty")
    status, _, err = run(capsys, "-p", port, "-P", "pi17", "--getDeviceId", "--timeout", "0.5")
    assert status == 1
    *warnings, error = err.splitlines()
    assert [line.split(":")[0] for line in warnings] == ["warning"] * 5
    assert error == f"error: {port}: no identity command answered (PI, ID, MD, DM, VFW)"
    status, _, err = run(capsys, "settings", "-p", port, "-P", "pi17", "--timeout", "0.5")
    assert status == 1
    assert err.splitlines()[-1].startswith(f"error: {port}: no settings command answered (BATS")


def test_settings_with_detection(capsys: pytest.CaptureFixture[str]) -> None:
    """-P auto detects the protocol first; unknown keys are then checked against it."""
    status, out, _ = run(capsys, "settings", "-p", "sim", "-P", "auto", "buzzer")
    assert status == 0
    assert out.startswith("Buzzer (buzzer): ")


def test_setting_helpers() -> None:
    """Allowed values in words, switch words, and the safety note for every kind."""
    pi30 = get_protocol("pi30").settings
    assert allowed(pi30["buzzer"]) == "on, off"
    assert parse_value(pi30["buzzer"], "Enabled") is True
    assert parse_value(pi30["buzzer"], "0") is False
    assert parse_value(pi30["output_source_priority"], " SBU first ") == "SBU first"
    assert parse_value(pi30["battery_float_charge_voltage"], "54.5V") == "54.5"
    assert parse_value(pi30["battery_float_charge_voltage"], "54.5 v") == "54.5"
    assert parse_value(get_protocol("jk02").settings["cell_ovp"], "3.65") == "3.65"
    assert parse_value(get_protocol("ved").settings["peukert_coefficient"], "1.25") == "1.25"
    assert "cables" in safety_note(pi30["max_charging_current"])
    assert safety_note(get_protocol("daly").settings["soc"]).startswith("A wrong value moves")
    assert "harm the battery" in safety_note(pi30["battery_type"])
    jk = get_protocol("jk02").settings
    assert safety_note(jk["discharging"]).startswith("Off opens the discharge MOSFET")


# -- simulate --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_after(check: Callable[[], bool]) -> threading.Thread:
    """Send this process SIGTERM once ``check()`` passes (or after LIMIT seconds)."""

    def watch() -> None:
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if check():
                    break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _ask(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    answer = b""
    while not answer.endswith(b"\r"):
        answer += sock.recv(4096)
    return answer


def test_simulate_over_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    """``simulate --tcp PORT`` serves until SIGTERM and says where; a client gets answers."""
    port = _free_port()
    answers: list[bytes] = []

    def query() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as sock:
            answers.append(_ask(sock, get_protocol("pi30").build_request("QPI")))
        return True

    watcher = _stop_after(query)
    status, out, _ = run(capsys, "simulate", "-P", "pi30", "--tcp", str(port))
    watcher.join(LIMIT)
    assert status == 0
    assert out.splitlines()[0] == f"simulating a pi30 device on 127.0.0.1:{port}"
    assert f"-p 127.0.0.1:{port} -P pi30" in out
    assert answers == [pi_frame("PI30")]


def test_simulate_on_a_pty_with_a_stable_link(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``simulate --pty --link PATH``: the link opens like a serial port."""
    link = tmp_path / "inverter"
    answers: list[bytes] = []

    def query() -> bool:
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, get_protocol("pi30").build_request("QPI"))
            answer = b""
            while not answer.endswith(b"\r"):
                answer += os.read(fd, 4096)
            answers.append(answer)
        finally:
            os.close(fd)
        return True

    watcher = _stop_after(query)
    status, out, _ = run(capsys, "simulate", "--pty", "--link", str(link), "--latency", "0.01")
    watcher.join(LIMIT)
    assert status == 0
    assert out.splitlines()[0] == f"simulating a pi30 device on {link}"
    assert answers == [pi_frame("PI30")]


def test_simulate_as_a_program() -> None:
    """The subcommand in its own process: prints the pty, serves it, stops on SIGTERM."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mppsolar_lib",
            "simulate",
            "--pty",
            "-P",
            "pi18",
            "--fault",
            "crc=0.0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        port = first.split()[-1]
        try:
            done = program("-p", port, "-P", "pi18", "-c", "PI", "-o", "value")
        finally:
            process.send_signal(signal.SIGTERM)
            status = process.wait(LIMIT)
    assert first.startswith("simulating a pi18 device on /dev/pts/")
    assert (done.returncode, done.stdout) == (0, "18\n")
    assert status == 0


def test_simulate_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad fault specifications and 'auto' are refused before anything is served."""
    cases = {
        ("--fault", "bogus=0.5"): "--fault bogus: unknown; use crc, disconnect, garbage",
        ("--fault", "crc=x"): "--fault 'crc=x': the chance must be a number 0–1",
        ("--fault", "crc=2"): "crc must be a probability 0–1",
        ("--latency", "-1"): "latency must be 0 s or more",
        ("--fault", "crc", "--fault", "silence"): "add up to more than 1",
        ("-P", "auto"): "simulate needs a protocol",
    }
    for argv, message in cases.items():
        status, _, err = run(capsys, "simulate", "--tcp", "0", *argv)
        assert status == 2, argv
        assert message in err, err
