"""``json_udp``: each report as one JSON datagram to 127.0.0.1:``udp_port`` (default 5555).

The payload is the reference's: one JSON object per report, ``{"<key>": <value>, ...}`` with
the keys as the filters and ``keep_case`` leave them, no command, description or units. UDP has
no acknowledgement: this output is fire-and-forget. A datagram nobody listens for is lost, and
so are the readings taken while the listener is down; nothing is spooled or retried (an output
that could report a failure would be needed for that: use ``postgres``, ``mongo`` or MQTT).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import json
import logging
from typing import ClassVar, Final

from mppsolar_lib.outputs.base import Output, OutputContext, OutputOptions, Report, plain

_LOGGER = logging.getLogger(__name__)

#: Where datagrams go. The reference sends to ``localhost`` over IPv4, which is this address.
HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 5555


class _Protocol(asyncio.DatagramProtocol):
    """Notice ICMP "port unreachable" (nobody listening), which a send cannot report."""

    def error_received(self, exc: Exception) -> None:
        """Log it: the datagrams were sent, nobody took them."""
        _LOGGER.debug("json_udp: %s", exc)


class JsonUdp(Output):
    """Send each report as a JSON datagram."""

    name = "json_udp"
    #: Not spooled: the sink could not know whether a datagram arrived anyway.
    spooled: ClassVar[bool] = False

    def __init__(
        self, options: OutputOptions | None = None, context: OutputContext | None = None
    ) -> None:
        """Send to the device's ``udp_port`` (5555 without a bridge context)."""
        super().__init__(options, context)
        self.address = (HOST, context.device.udp_port if context is not None else DEFAULT_PORT)
        self._transport: asyncio.DatagramTransport | None = None

    def payload(self, report: Report) -> bytes:
        """Return the datagram for ``report``: its values by key, as JSON."""
        values = {key: plain(row.value) for key, row in self.options.rows(report)}
        return json.dumps(values).encode()

    async def send(self, reports: Sequence[Report]) -> None:
        """Send one datagram per report; never waits and never fails for a missing listener."""
        if self._transport is None or self._transport.is_closing():
            loop = asyncio.get_running_loop()
            self._transport, _ = await loop.create_datagram_endpoint(
                _Protocol, remote_addr=self.address
            )
        for report in reports:
            self._transport.sendto(self.payload(report))

    async def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
