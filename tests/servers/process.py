"""A server process started for tests: ready when its log says so, stopped with a signal.

The log (stdout or stderr) is read in a thread from the start, so the server never blocks on a
full pipe and a failed start shows what the server said.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
import signal
import subprocess
import threading
from typing import Any

TIMEOUT = 30.0


class LoggedProcess:
    """One server process: :meth:`start` waits (bounded) for ``ready`` in its log."""

    def __init__(self, name: str, ready: bytes) -> None:
        """Name the server (for errors) and the log line that says it takes connections."""
        self.name = name
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None
        self.log: list[bytes] = []

    def start(self, argv: Sequence[str], *, log_on_stdout: bool = False, **popen: Any) -> None:
        """Run ``argv`` and wait until its log has the ready line (else kill it and raise)."""
        if log_on_stdout:
            popen.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        else:
            popen.update(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        process = subprocess.Popen(argv, **popen)  # noqa: S603 - the tests' own arguments
        stream = process.stdout if log_on_stdout else process.stderr
        assert stream is not None
        ready = threading.Event()

        def read() -> None:
            for line in stream:
                self.log.append(line)
                if self.ready in line:
                    ready.set()
            ready.set()  # exited: start() sees it

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(TIMEOUT) or process.poll() is not None:
            process.kill()
            process.wait(TIMEOUT)
            raise RuntimeError(f"{self.name} did not start: {b''.join(self.log)!r}")
        self.process = process

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        """Send ``how`` and wait for the process (killed if it does not end in time)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(how)
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)
