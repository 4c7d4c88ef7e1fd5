"""``python -m mppsolar_lib daemon``: --check, --once, the reference's -C/--daemon, signals, systemd."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from mppsolar_lib.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
#: Bounds every wait on the daemon subprocess (a hang fails the test instead of blocking it).
WAIT = 30.0

CONFIG = """
[SETUP]
pause = 0.2

[inverter]
protocol = pi30
port = sim://pi30
command = QPIGS#QMOD
outputs = json
filter = ^(ac_output_voltage|battery_voltage|device_mode)$

[charger]
protocol = pi18
port = sim://pi18
command = GS
slow_command = PIRI
slow_pause = 60
outputs = simple
filter = ^battery_voltage$
"""


def write(tmp_path: Path, text: str = CONFIG, name: str = "mppsolar.conf") -> Path:
    """Write ``text`` (dedented) as a configuration file in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the default spool out of the home directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


def test_check_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Check prints a summary."""
    path = write(
        tmp_path,
        CONFIG.replace("pause = 0.2", "pause = 0.2\nlog_file = /tmp/x.log\nmqtt_broker = mq"),
    )
    assert main(["daemon", "--check", "-C", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"{path}: valid, 2 devices\n"
        "  [inverter] pi30 on sim://pi30: QPIGS#QMOD every 0.2 s\n"
        "    outputs: json\n"
        "  [charger] pi18 on sim://pi18: GS every 0.2 s, PIRI every 60 s\n"
        "    outputs: simple\n"
        "mqtt broker: mq:1883\n"
        "log file: /tmp/x.log\n"
    )


def test_check_names_porttype_and_allowed_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check names porttype and allowed commands."""
    path = write(
        tmp_path,
        "[SETUP]\n[one]\nport = x\nporttype = sim\ncommand = QPI\nmqtt_allowed_cmds = QPI.*\n",
    )
    assert main(["daemon", "--check", "-C", str(path)]) == 0
    out = capsys.readouterr().out
    assert "valid, 1 device\n  [one] auto on x (sim): QPI every 60 s\n" in out
    assert "    mqtt commands allowed: QPI.*\n" in out
    assert "mqtt broker: localhost:1883\n" in out


def test_config_errors_exit_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Config errors exit 2 listing every problem."""
    path = write(tmp_path, "[SETUP]\npause = 0\n[a]\nport = sim://pi30\noutputs = jsn\n")
    assert main(["daemon", "-C", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: {path}: 3 problems in the configuration:",
        f"  {path}:2: [SETUP] pause: must be a number of seconds above 0, got 0",
        f"  {path}:3: [a] command: missing: the commands to poll, '#' separated (QPIGS#QMOD)",
        f"  {path}:5: [a] outputs: unknown output 'jsn'; did you mean json? known: "
        + ", ".join(__import__("mppsolar_lib.outputs").outputs.list_outputs()),
    ]
    # The reference's spelling checks the same way.
    assert main(["-C", str(path), "--daemon"]) == 2


def test_once_polls_every_device_and_delivers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once polls every device and delivers."""
    log = tmp_path / "bridge.log"
    path = write(tmp_path, CONFIG.replace("pause = 0.2", f"pause = 0.2\nlog_file = {log}"))
    assert main(["daemon", "--once", "-C", str(path), "--spool-dir", str(tmp_path / "sp")]) == 0
    out = capsys.readouterr().out.splitlines()
    answers = [json.loads(line) for line in out if line.startswith("{")]
    assert {"ac_output_voltage", "battery_voltage"} <= set(answers[0])
    assert set(answers[1]) == {"device_mode"}
    assert "battery_voltage=" in "\n".join(out)
    assert (tmp_path / "sp" / "spool.sqlite3").exists()
    text = log.read_text()
    assert "inverter: answering" in text
    assert "stopping: delivering what is pending" in text


def test_once_reports_a_silent_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once reports a silent device."""
    state = tmp_path / "systemd-state"
    monkeypatch.setenv("STATE_DIRECTORY", f"{state}:/elsewhere")
    path = write(
        tmp_path,
        "[SETUP]\n[dead]\nprotocol = pi30\nport = 127.0.0.1:1\ncommand = QPIGS\noutputs = json\n"
        "[alive]\nprotocol = pi30\nport = sim://pi30\ncommand = QMOD\noutputs = json\n",
    )
    assert main(["daemon", "--once", "-C", str(path)]) == 1
    captured = capsys.readouterr()
    assert "device_mode" in json.loads(captured.out)
    assert "dead: not answering" in captured.err
    assert "no answer from: dead" in captured.err
    assert (state / "spool.sqlite3").exists()


def test_reference_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mpp-solar -C FILE`` polls once, as the reference does without --daemon."""
    path = write(tmp_path, CONFIG.replace("pause = 0.2", f"pause = 0.2\nspool_dir = {tmp_path}/sp"))
    assert main(["-C", str(path)]) == 0
    assert '{"device_mode": "' in capsys.readouterr().out
    assert main(["--daemon"]) == 2
    assert "error: --daemon needs a configuration file: -C FILE" in capsys.readouterr().err


def test_unwritable_log_file_and_spool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unwritable log file and spool."""
    path = write(
        tmp_path, CONFIG.replace("pause = 0.2", f"log_file = {tmp_path}/no/such/dir/x.log")
    )
    assert main(["daemon", "--once", "-C", str(path)]) == 2
    assert f"error: log_file {tmp_path}/no/such/dir/x.log: No such file or directory" in (
        capsys.readouterr().err
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = write(tmp_path, CONFIG)
    assert main(["daemon", "--once", "-C", str(path), "--spool-dir", str(blocker / "sp")]) == 1
    assert "error: cannot start:" in capsys.readouterr().err


# -- the daemon as systemd runs it ------------------------------------------------------------------


@contextlib.contextmanager
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """Listen where systemd would: a datagram socket in ``tmp_path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(WAIT)
    try:
        yield sock
    finally:
        sock.close()


def receive_until(sock: socket.socket, wanted: str, seen: list[str]) -> None:
    """Read notifications into ``seen`` until one has the line ``wanted``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        lines = sock.recv(4096).decode().splitlines()
        seen.extend(lines)
        if wanted in lines:
            return
    raise AssertionError(f"{wanted} never arrived; got {seen}")


def daemon_process(tmp_path: Path, args: list[str], **env: str) -> subprocess.Popen[str]:
    """Start ``python -m mppsolar_lib`` with ``args`` and extra environment."""
    environ = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **env}
    environ.pop("WATCHDOG_PID", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mppsolar_lib", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_systemd_notify_watchdog_and_sigterm(tmp_path: Path) -> None:
    """Systemd notify watchdog and sigterm."""
    path = write(tmp_path)
    with notify_socket(tmp_path) as sock:
        process = daemon_process(
            tmp_path,
            ["daemon", "-C", str(path)],
            NOTIFY_SOCKET=str(tmp_path / "notify"),
            WATCHDOG_USEC="200000",
        )
        seen: list[str] = []
        try:
            receive_until(sock, "READY=1", seen)
            assert "STATUS=polling 2 devices" in seen
            receive_until(sock, "WATCHDOG=1", seen)
            # Let a few polls run, then stop it as systemd does.
            receive_until(sock, "WATCHDOG=1", seen)
            process.send_signal(signal.SIGTERM)
            receive_until(sock, "STOPPING=1", seen)
            out, err = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    lines = out.splitlines()
    answers = [json.loads(line) for line in lines if line.startswith("{")]
    assert answers, out
    assert all(line.startswith("{") or "=" in line for line in lines)
    assert "stopping: delivering what is pending" in err


def test_reference_daemon_stops_on_sigint(tmp_path: Path) -> None:
    """Reference daemon stops on sigint."""
    path = write(tmp_path, CONFIG.replace("pause = 0.2", f"pause = 0.2\nspool_dir = {tmp_path}/sp"))
    with notify_socket(tmp_path) as sock:
        process = daemon_process(
            tmp_path, ["-C", str(path), "--daemon"], NOTIFY_SOCKET=str(tmp_path / "notify")
        )
        seen: list[str] = []
        try:
            receive_until(sock, "READY=1", seen)
            process.send_signal(signal.SIGINT)
            receive_until(sock, "STOPPING=1", seen)
            out, err = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert all(json.loads(line) is not None for line in out.splitlines() if line.startswith("{"))
    assert (tmp_path / "sp" / "spool.sqlite3").exists()
