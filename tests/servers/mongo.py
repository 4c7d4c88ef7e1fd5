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

import pytest

from .mosquitto import free_port
from .process import LoggedProcess

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
        self.server = LoggedProcess("nx-27017", READY)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running server (``None``: stopped)."""
        return self.server.process

    @property
    def url(self) -> str:
        """Return the connection URL."""
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait (bounded) for its "Listening on" line."""
        (self.directory / "data").mkdir(exist_ok=True)
        self.server.start(
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
            log_on_stdout=True,
        )

    def stop(self) -> None:
        """Stop the server and wait for it."""
        self.server.stop()


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
