"""An in-process transport to a simulator: no sockets, no pty, the device in the same process.

``-p sim`` / ``-p test`` on the command line, demos, and fast tests use it. The request reaches
the simulator as bytes and the answer comes back as bytes, through the same completion check a
real link uses, so everything above the transport (``Device``, the protocols) runs unchanged.
What a device sends unasked (:meth:`~mppsolar_lib.simulator.base.Simulator.unsolicited`: VE.Direct
text blocks, streamed JK cell records) follows when the answer alone is not complete: an empty
request (just listening), a request the device does not answer (a detection probe to a
VE.Direct unit), or an answer still being waited for.
A :class:`~mppsolar_lib.simulator.faults.Faults` profile plays out as on a real link: a silent
or cut-off answer costs the exchange's timeout and raises
:class:`~mppsolar_lib.errors.DeviceTimeoutError`, a dropped connection raises
:class:`~mppsolar_lib.errors.TransportError` until the transport is opened again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mppsolar_lib.errors import DeviceTimeoutError, PortError, TransportError, UnknownProtocolError
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.faults import Faults, reply, with_faults
from mppsolar_lib.transports.base import Completion, Transport
from mppsolar_lib.transports.factory import PortRequest, register_port_type

#: The protocol ``-p sim`` simulates when none is named (the reference's default, PI30).
DEFAULT_PROTOCOL = "pi30"
#: What a streaming device sends unasked during one exchange, at most (sends, not bytes).
MAX_UNSOLICITED = 8


class SimulatedTransport(Transport):
    """A transport whose far end is a :class:`~mppsolar_lib.simulator.base.Simulator`."""

    def __init__(
        self, simulator: Simulator, faults: Faults | None = None, *, name: str | None = None
    ) -> None:
        """Talk to ``simulator``, through ``faults`` if given."""
        self.simulator = with_faults(simulator, faults)
        self.name = name or f"sim://{simulator.protocol.id}"
        self._open = False
        self._inbox = b""

    @property
    def is_open(self) -> bool:
        """Whether the link is up."""
        return self._open

    async def open(self) -> None:
        """Connect (nothing to do but say so)."""
        self._open = True
        self._inbox = b""

    async def close(self) -> None:
        """Disconnect; never raises."""
        self._open = False

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Hand ``request`` to the simulator and return its answer once ``complete`` says so."""
        if not self._open:
            await self.open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # A stream has no message boundaries: requests end where the device's framing says.
        requests, self._inbox = self.simulator.split_requests(self._inbox + request)
        answer = b""
        for one in requests:
            action = reply(self.simulator, one)
            if action.delay:
                remaining = deadline - loop.time()
                await asyncio.sleep(min(action.delay, max(remaining, 0.0)))
                if action.delay > remaining:
                    raise DeviceTimeoutError(f"{self.name}: no answer in {timeout:g} s")
            if action.disconnect:
                self._open = False
                raise TransportError(f"{self.name}: the simulated device dropped the connection")
            answer += action.data or b""
        size = complete(answer) if answer else None
        # Not answered (yet): a streaming device (VE.Direct text, JK cell records) goes on
        # talking while the host waits, whatever it asked, until the answer is complete (a
        # VE.Direct status may take a history block, then the main one). Only then, so that a
        # complete answer leaves the device's stream where it was.
        for _ in range(MAX_UNSOLICITED):
            if size is not None:
                break
            more = self.simulator.unsolicited()
            if not more:
                break
            answer += more
            size = complete(answer)
        if size is not None:
            return answer[:size]
        # Nothing complete: a host learns that only when its deadline passes.
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        got = f"{len(answer)} bytes ({answer[:32]!r}…)" if answer else "nothing"
        raise DeviceTimeoutError(f"{self.name}: no complete answer in {timeout:g} s, got {got}")


def simulated_transport(protocol_id: str = DEFAULT_PROTOCOL, **options: Any) -> Transport:
    """Return an in-process transport to a new simulator of ``protocol_id``.

    ``faults=`` (a :class:`Faults`) and the simulator's options (``seed``, ``clock``,
    ``parallel`` …) are passed on; unknown protocols and options raise :class:`PortError`.
    """
    faults = options.pop("faults", None)
    try:
        simulator = create_simulator(protocol_id, **options)
    except UnknownProtocolError as err:
        raise PortError(f"sim: {err}") from err
    except TypeError as err:
        raise PortError(f"sim: unknown simulator option ({err})") from err
    return SimulatedTransport(simulator, faults, name=f"sim://{protocol_id}")


def _build(request: PortRequest) -> Transport:
    """Build the transport of a ``sim`` / ``test`` / ``sim://PROTOCOL`` port.

    ``sim://pi18`` simulates that device whatever the host speaks (so ``-P auto`` has something
    to find); a bare ``sim`` simulates the protocol given (PI30 when none or ``auto``).
    """
    named = request.address if "://" in request.port else ""
    protocol = named or request.protocol
    if not protocol or protocol.lower() == "auto":
        protocol = DEFAULT_PROTOCOL
    return simulated_transport(protocol.lower(), **request.options)


register_port_type("sim", _build)
