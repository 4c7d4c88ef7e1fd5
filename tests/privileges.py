"""Run a scenario as a user whom file permissions stop, also when the tests run as root.

Root ignores file modes (the kernel's ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``
capabilities), so a "permission denied" test run as root proves nothing unless its scenario runs
without them. Dropping to ``nobody`` does not work everywhere: here the interpreter lives under
``/root`` (mode 0700), which ``nobody`` cannot enter, and a forked child without a fresh
interpreter cannot import what it has not imported yet. So, as root, the scenario runs in a fresh
interpreter that is still uid 0 but has lost the capabilities that override file permissions:
they are dropped from the bounding set before ``exec``, as ``setpriv --bounding-set`` does. That
process meets file modes like any user: a port owned by another user and by a group it is not in
is closed to it. Not root: the scenario simply runs in a subprocess; nothing needs dropping.

Only when the drop itself is impossible (no ``CAP_SETPCAP``) is the test skipped, with the reason.
"""

from __future__ import annotations

import grp
import os
from pathlib import Path
import subprocess
import sys
from typing import NamedTuple

import pytest

#: The checkout, put on the child's import path.
CHECKOUT = Path(__file__).resolve().parents[1]
#: Bounds every child: nothing here can hang.
LIMIT = 60
ROOT = os.geteuid() == 0
#: The capabilities that let root past file modes (linux/capability.h): DAC_OVERRIDE,
#: DAC_READ_SEARCH, FOWNER.
OVERRIDES = (1, 2, 3)
#: The child's exit status when it could not drop them.
NO_DROP = 77
#: Drops the overrides from the bounding set, then execs the scenario; exit NO_DROP if it can't.
_DROP = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in {OVERRIDES!r}:
    if libc.prctl(24, cap, 0, 0, 0):  # PR_CAPBSET_DROP
        print(os.strerror(ctypes.get_errno()), file=sys.stderr)
        sys.exit({NO_DROP})
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


class LockedPort(NamedTuple):
    """A port node the unprivileged child may not open, and what the message must tell it."""

    path: Path
    #: The fix the error names for this node: the group to join, or why joining cannot help.
    fix: str


def locked_port(path: Path) -> LockedPort:
    """Create ``path`` as a port node the child may not open, as a real one looks to a new user.

    As root: owned by ``nobody`` and the ``dialout`` group (``nogroup`` where there is none),
    mode 0660, like ``/dev/ttyUSB0`` to a user outside dialout: the fix is joining the group.
    Otherwise the node is ours, mode 0: we are in its group, so the fix is its mode.
    """
    path.write_text("")
    if ROOT:
        try:
            group = grp.getgrnam("dialout")
        except KeyError:
            group = grp.getgrgid(65534)
        os.chown(path, 65534, group.gr_gid)
        path.chmod(0o660)
        name = group.gr_name
        return LockedPort(
            path, f"Add your user to the {name!r} group (`sudo usermod -aG {name} $USER`"
        )
    path.chmod(0)
    return LockedPort(path, "although you are in its group")


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` from the checkout as a user file modes apply to; return the outcome.

    The child gets the checkout on ``PYTHONPATH`` and no terminal; its output is captured.
    """
    argv = [sys.executable, *args]
    if ROOT:
        argv = [sys.executable, "-c", _DROP, *args]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(CHECKOUT), os.environ.get("PYTHONPATH")))),
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own arguments
        argv,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
        cwd=CHECKOUT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if ROOT and done.returncode == NO_DROP:
        pytest.skip(f"cannot drop root's file-permission override here: {done.stderr.strip()}")
    return done


_OPEN = """
import asyncio, sys
from mppsolar_lib.errors import MppSolarError
{imports}

async def main(path: str) -> None:
    transport = {build}
    await transport.open()
    await transport.close()

try:
    asyncio.run(main(sys.argv[1]))
except MppSolarError as err:
    print(f"{{type(err).__name__}}: {{err}}")
    sys.exit(1)
print("opened")
"""


def open_unprivileged(imports: str, build: str, path: Path) -> str:
    """Open the transport ``build`` makes of ``path`` as a user file modes apply to.

    ``build`` is an expression of ``path`` (``"SerialTransport(path)"``), ``imports`` the import
    lines it needs. Return what the child printed: ``"<ErrorType>: <message>"`` if opening
    failed with a library error, ``"opened"`` if it worked. Anything else (a traceback, a
    non-zero exit with no error line) fails the test right here.
    """
    done = python("-c", _OPEN.format(imports=imports, build=build), str(path))
    assert done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert done.returncode == (0 if lines[0] == "opened" else 1), done
    return lines[0]


def foreign_group_node(path: Path) -> Path:
    """Return a node whose group we are not in (what ``dialout`` is to a new user).

    As root: ``path``, created and given the group ``nogroup`` (65534). Otherwise a system path
    owned by a group we are not in (``/`` belongs to root's group).
    """
    if ROOT:
        path.write_text("")
        os.chown(path, -1, 65534)
        return path
    ours = {os.getegid(), *os.getgroups()}
    for candidate in (Path("/"), Path("/etc/shadow"), Path("/dev/ttyS0")):
        if candidate.exists() and candidate.stat().st_gid not in ours:
            return candidate
    pytest.skip("every system path belongs to one of our groups")
