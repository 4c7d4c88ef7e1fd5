"""A private PostgreSQL server on loopback for tests.

Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``; ``$PG_BINDIR`` names
another directory): a cluster made with ``initdb`` in a temporary directory, trust
authentication, listening on 127.0.0.1 on a free port with its socket in the same directory.
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user and the server runs as that user (the directory is outside pytest's root-only tmp tree).
:meth:`PostgresServer.stop` and :meth:`PostgresServer.start` let a test take it down mid-run.
The tests using it are skipped only when PostgreSQL is not installed (scripts/test installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest

from .mosquitto import free_port
from .process import TIMEOUT, LoggedProcess

#: The server's log line once it takes connections.
READY = b"database system is ready to accept connections"


def bindir() -> Path | None:
    """Return the directory of ``initdb`` and ``postgres`` (``None``: not installed)."""
    env = os.environ.get("PG_BINDIR")
    candidates = [Path(env)] if env else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    return None


class PostgresServer:
    """A PostgreSQL cluster in ``directory``, served on 127.0.0.1:``port`` once started."""

    def __init__(self, binaries: Path, directory: Path, port: int) -> None:
        """Use the cluster in ``directory`` (see :func:`postgres_server`)."""
        self.binaries = binaries
        self.directory = directory
        self.port = port
        self.server = LoggedProcess("postgres", READY)
        # Root cannot run postgres: run it as the postgres system user.
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running server (``None``: stopped)."""
        return self.server.process

    def url(self, database: str = "postgres") -> str:
        """Return the connection URL of ``database`` (trust authentication: no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 - our own arguments
            argv, user=self.user, capture_output=True, check=True, timeout=TIMEOUT
        )

    def init(self) -> None:
        """Create the cluster (trust authentication, superuser ``postgres``)."""
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.directory / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        """Start the server and wait (bounded) until it takes connections."""
        self.server.start(
            [
                str(self.binaries / "postgres"),
                "-D",
                str(self.directory / "data"),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "log_destination=stderr",
            ],
            user=self.user,
        )

    def stop(self) -> None:
        """Stop the server now ("fast" shutdown: clients are disconnected) and wait for it."""
        self.server.stop(signal.SIGINT)

    def psql(self, database: str, sql: str) -> str:
        """Run ``sql`` through ``psql`` and return its unaligned output (setup and checks)."""
        result = self._run(
            str(self.binaries / "psql"),
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        )
        return result.stdout.decode()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Make a cluster in a fresh directory, start it, and remove both afterwards."""
    binaries = bindir()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql, or set PG_BINDIR)")
    directory = Path(tempfile.mkdtemp(prefix="mppsolar-pg-"))
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        server = PostgresServer(binaries, directory, free_port())
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
