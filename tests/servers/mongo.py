"""A private server speaking the MongoDB wire protocol on loopback, for tests.

Debian does not ship MongoDB, so this is ``nx-27017`` from PyPI (requirements_test.txt): a
MongoDB wire-protocol server storing each database in its own SQLite file (``--data-dir``, so
two databases really are apart). It is not MongoDB; docs/bridge.md says what was tested against
what. :meth:`MongoServer.stop` and :meth:`MongoServer.start` let a test take it down mid-run;
the data directory survives a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading

import pytest

from .mosquitto import free_port

TIMEOUT = 30.0
#: The server's log line once it takes connections.
READY = b"Listening on"


def nx27017() -> str | None:
    """Return the server's script: ``$NX27017``, the one beside this Python, or on the PATH."""
    for candidate in (os.environ.get("NX27017"), str(Path(sys.executable).parent / "nx-27017")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("nx-27017")


class MongoServer:
    """nx-27017 serving the databases in ``directory`` on 127.0.0.1:``port`` once started."""

    def __init__(self, binary: str, directory: Path, port: int) -> None:
        """Serve ``directory`` (see :func:`mongo_server`)."""
        self.binary = binary
        self.directory = directory
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: list[bytes] = []

    @property
    def url(self) -> str:
        """Return the connection URL."""
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait (bounded) for its "Listening on" line."""
        (self.directory / "data").mkdir(exist_ok=True)
        process = subprocess.Popen(  # noqa: S603 - our own arguments
            [
                self.binary,
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--data-dir",
                str(self.directory / "data"),
                "--log-file",
                str(self.directory / "nx-27017.log"),
                "--pid-file",
                str(self.directory / "nx-27017.pid"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        ready = threading.Event()
        threading.Thread(target=self._read_log, args=(process, ready), daemon=True).start()
        if not ready.wait(TIMEOUT) or process.poll() is not None:
            process.kill()
            process.wait(TIMEOUT)
            raise RuntimeError(f"nx-27017 did not start: {b''.join(self._log)!r}")
        self.process = process

    def _read_log(self, process: subprocess.Popen[bytes], ready: threading.Event) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._log.append(line)
            if READY in line:
                ready.set()
        ready.set()  # exited: start() sees it

    def stop(self) -> None:
        """Stop the server and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


@contextlib.contextmanager
def mongo_server(directory: Path) -> Iterator[MongoServer]:
    """Start nx-27017 on a free port with its data in ``directory``; stop it afterwards."""
    binary = nx27017()
    if binary is None:
        pytest.skip("nx-27017 is not installed (pip install -r requirements_test.txt)")
    server = MongoServer(binary, directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
