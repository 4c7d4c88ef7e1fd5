"""A private mosquitto broker on loopback for tests.

Debian's ``mosquitto`` (``MOSQUITTO`` names another binary), started on a free port and stopped
after the test; the test is skipped only when mosquitto is not installed (scripts/test installs
it).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
from pathlib import Path
import shutil
import socket

import pytest

TIMEOUT = 5.0


def mosquitto() -> str | None:
    """Return the broker binary: ``$MOSQUITTO``, /usr/sbin/mosquitto, or one on the PATH."""
    for candidate in (os.environ.get("MOSQUITTO"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mosquitto")


#: Ports handed out in this process: the kernel may give a just-released port again, and two
#: servers of one test (chosen before either starts) must not get the same one.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """Return a TCP port nothing listens on now, never one this process handed out before."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class Broker:
    """A mosquitto process on 127.0.0.1:``port``."""

    def __init__(self, binary: str, config: Path, port: int) -> None:
        """Run ``binary`` with ``config`` once started."""
        self.binary = binary
        self.config = config
        self.port = port
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start mosquitto and wait for its "running" log line (no polling, no sleeping)."""
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "-c",
            str(self.config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        lines = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                line = await process.stderr.readline()
                lines.append(line)
                if not line:
                    raise RuntimeError(f"mosquitto did not start: {b''.join(lines)!r}")
                if b" running" in line:
                    break
        self.process = process
        self._drain = asyncio.get_running_loop().create_task(self._read_log(process))

    @staticmethod
    async def _read_log(process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while await process.stderr.readline():
            pass

    async def stop(self) -> None:
        """Stop mosquitto (and wait for it)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        async with asyncio.timeout(TIMEOUT):
            await process.wait()
        if self._drain is not None:
            await self._drain


async def start_broker(
    tmp_path: Path, *, password_file: Path | None = None, extra: tuple[str, ...] = ()
) -> Broker:
    """Configure and start a broker on a free port (skip the test if mosquitto is missing)."""
    binary = mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto, or set MOSQUITTO)")
    port = free_port()
    config = tmp_path / f"mosquitto-{port}.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "persistence false",
        "log_dest stderr",  # the default levels, "running" among them
        # Started as root, mosquitto would switch to its own user, who cannot read tmp_path.
        f"user {getpass.getuser()}",
    ]
    lines += extra
    if password_file is None:
        lines.append("allow_anonymous true")
    else:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    config.write_text("\n".join(lines) + "\n")
    broker = Broker(binary, config, port)
    await broker.start()
    return broker
