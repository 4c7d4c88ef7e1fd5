"""systemd's notify protocol (``Type=notify`` and ``WatchdogSec=``) without a dependency.

systemd passes ``NOTIFY_SOCKET`` (a datagram socket path; ``@`` starts an abstract one) and,
with a watchdog, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``: only that process may answer). The
daemon sends ``READY=1`` once every device task runs, ``WATCHDOG=1`` at half the interval while
its tasks make progress, ``STATUS=…`` lines, and ``STOPPING=1``. Outside systemd every call is
a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

_LOGGER = logging.getLogger(__name__)


class Notifier:
    """Send notifications to the service manager, if there is one."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        """Read ``NOTIFY_SOCKET``/``WATCHDOG_USEC``/``WATCHDOG_PID`` (from ``os.environ``)."""
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path.startswith("@"):
            self.address = "\0" + path[1:]
        elif path.startswith("/"):
            self.address = path
        self.watchdog: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog = int(usec) / 1_000_000

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; return whether it was sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as err:
            _LOGGER.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), err)
            return False
        return True

    def ready(self, status: str) -> bool:
        """Tell systemd start-up is complete."""
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        """Update the status line ``systemctl status`` shows."""
        return self.send(f"STATUS={status}")

    def ping(self) -> bool:
        """Feed the watchdog."""
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd shutdown has begun."""
        return self.send("STOPPING=1", "STATUS=stopping")
