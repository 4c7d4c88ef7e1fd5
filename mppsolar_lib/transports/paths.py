"""Device paths: which ports exist, and what an error opening one means to the user.

Opening ``/dev/ttyUSB0`` or ``/dev/hidraw0`` fails in a handful of ways that users can fix
themselves (wrong path, missing permission, another program holding the port). This module turns
the ``OSError`` into a typed error whose message says what would fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
import errno
import os
from pathlib import Path
import stat
from typing import Literal

from mppsolar_lib.errors import PortError, TransportError

#: Where USB-serial adapters and on-board UARTs show up on Linux: (directory, pattern).
SERIAL_GLOBS = (("/dev", "ttyUSB*"), ("/dev", "ttyACM*"), ("/dev/serial/by-id", "*"))
#: Where USB-HID devices (Voltronic inverters' USB port) show up on Linux.
HIDRAW_GLOBS = (("/dev", "hidraw*"),)
#: Voltronic's USB-HID bridge (Cypress): the IDs nearly every PI16/17/18/30 inverter reports.
VOLTRONIC_USB_ID = ("0665", "5161")
#: sysfs view of hidraw devices: ``<name>/device`` links to ``BUS:VID:PID.N``.
HIDRAW_SYSFS = Path("/sys/class/hidraw")

Kind = Literal["serial", "hidraw"]

_GONE = (errno.ENODEV, errno.ENXIO, errno.EIO)


def existing(patterns: Iterable[tuple[str, str]]) -> list[str]:
    """Return the paths matching ``(directory, pattern)`` pairs now, sorted, no duplicates."""
    return sorted(
        {str(path) for folder, pattern in patterns for path in Path(folder).glob(pattern)}
    )


def present(kind: Kind, patterns: Iterable[tuple[str, str]] | None = None) -> str:
    """Describe which ports of ``kind`` exist (where ``patterns`` say), for an error message."""
    if patterns is None:
        patterns = SERIAL_GLOBS if kind == "serial" else HIDRAW_GLOBS
    patterns = tuple(patterns)
    found = existing(patterns)
    if found:
        return f"ports present: {', '.join(found)}"
    where = " or ".join(f"{folder}/{pattern}" for folder, pattern in patterns)
    return f"no {where} exists: is the cable plugged in and the driver loaded?"


def usb_ids(path: str, sysfs: Path = HIDRAW_SYSFS) -> tuple[str, str]:
    """Return the USB vendor and product id behind a hidraw node (Voltronic's when unknown)."""
    device = sysfs / Path(os.path.realpath(path)).name / "device"
    with contextlib.suppress(OSError):
        # The HID device directory is named BUS:VID:PID.INSTANCE, e.g. 0003:0665:5161.0001.
        parts = Path(os.path.realpath(device)).name.split(":")
        if len(parts) == 3 and all(len(part) >= 4 for part in parts[1:]):
            return parts[1].lower(), parts[2][:4].lower()
    return VOLTRONIC_USB_ID


def owner_group(path: str) -> str | None:
    """Return the name of the group that owns ``path`` (``dialout`` for most serial ports)."""
    try:
        return Path(path).group()
    except (OSError, KeyError, NotImplementedError):
        return None


def permission_help(path: str, kind: Kind, sysfs: Path = HIDRAW_SYSFS) -> str:
    """Say how to get access to ``path``: the group to join or the udev rule to install."""
    if kind == "hidraw":
        vendor, product = usb_ids(path, sysfs)
        return (
            f"{path}: permission denied. Allow access with a udev rule, e.g. in "
            f"/etc/udev/rules.d/99-mppsolar.rules: "
            f'SUBSYSTEM=="hidraw", ATTRS{{idVendor}}=="{vendor}", '
            f'ATTRS{{idProduct}}=="{product}", MODE="0666" '
            f"then run `sudo udevadm control --reload && sudo udevadm trigger` and replug"
        )
    group = owner_group(path) or "dialout"
    rule = f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="XXXX", MODE="0660", GROUP="{group}"'
    try:
        info = Path(path).stat()
    except OSError:
        info = None
    if info is not None and info.st_gid in {os.getegid(), *os.getgroups()}:
        # Joining the group cannot help: the node's mode shuts the group out.
        return (
            f"{path}: permission denied although you are in its group {group!r}: its mode "
            f"{stat.filemode(info.st_mode)} gives the group no access; fix it with a udev rule "
            f"such as {rule}"
        )
    return (
        f"{path}: permission denied. Add your user to the {group!r} group "
        f"(`sudo usermod -aG {group} $USER`, then log out and in; in Docker add "
        f"`--device {path} --group-add {group}`), or give access with a udev rule such as "
        f"{rule}"
    )


def open_error(path: str, error: OSError, kind: Kind) -> PortError | TransportError:
    """Turn an ``OSError`` from opening ``path`` into the error a user can act on.

    Permanent problems (missing, no permission, not a device) are :class:`PortError`; a port
    that is busy or vanishing may work on the next try and is a :class:`TransportError`.
    """
    code = error.errno
    what = "serial port" if kind == "serial" else "USB-HID device"
    if code in (errno.ENOENT, errno.ENOTDIR):
        return PortError(f"{path}: no such {what}; {present(kind)}")
    if code in (errno.EACCES, errno.EPERM):
        return PortError(permission_help(path, kind))
    if code == errno.EISDIR:
        return PortError(f"{path} is a directory, not a {what}; {present(kind)}")
    if code == errno.ENOTTY:
        return PortError(f"{path} is not a {what} (it does not accept terminal settings)")
    if code == errno.EBUSY:
        return TransportError(
            f"{path} is in use by another program (another mppsolar, ModemManager, brltty, "
            f"a serial console?); close it or point that program elsewhere"
        )
    if code in _GONE:
        return TransportError(f"{path}: the device went away ({error.strerror}); replugged?")
    return TransportError(f"{path}: cannot open: {error.strerror or error}")
