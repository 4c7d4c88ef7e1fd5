"""Where an answer ends: shared pieces of the binary and streaming ``answer_length`` methods.

``Protocol.answer_length(command, buffer)`` tells a transport how many bytes of what it has
received make the complete answer, so that it stops reading at the frame end instead of
sleeping. The rules every framing here follows:

* the length counts from the start of the buffer: bytes before the answer's first byte (line
  noise, an adapter echoing the request, a record or frame the device sent unasked, the stale
  tail of an earlier answer) are part of what the transport hands over, and ``decode`` skips
  them the same way (:class:`FramedProtocol`), so that ``decode(command, buffer[:length])``
  reads the answer whenever the buffer holds one — the frame end is never lost;
* a frame that cannot be the answer (an echo, another record type, a frame for another data id)
  is stepped over whole, so the search goes on to the frame that is;
* a command the protocol does not know hands over the whole buffer (``decode`` raises the
  clear :class:`~mppsolar_lib.errors.UnknownCommandError`);
* nothing raises: the method runs on every chunk a transport receives.
"""

from __future__ import annotations

from mppsolar_lib.errors import ProtocolError
from mppsolar_lib.protocols.base import Protocol
from mppsolar_lib.protocols.binary import BinaryProtocol
from mppsolar_lib.protocols.command import Command
from mppsolar_lib.protocols.fields import Result

#: Where the answer lies in a buffer: (first byte, end).
Span = tuple[int, int]


def lookup(protocol: Protocol, command: str) -> Command | None:
    """Return the definition of ``command``, or None when the protocol cannot resolve it."""
    try:
        return protocol.resolve(command)[0]
    except ProtocolError:
        return None


def everything(buffer: bytes) -> int | None:
    """Hand the whole buffer to ``decode`` (None while it is empty)."""
    return len(buffer) or None


class FramedProtocol(BinaryProtocol):
    """A binary protocol that can tell where its answer lies in what a transport received.

    Subclasses implement :meth:`span`; :meth:`answer_length` is its end and :meth:`decode`
    starts at its first byte, so both agree on which bytes are the answer.
    """

    def span(self, command: Command, sent: str, buffer: bytes) -> Span | None:
        """Return where the answer to ``sent`` lies in ``buffer``; None while it is incomplete."""
        raise NotImplementedError  # pragma: no cover - every framing defines it

    def answer_length(self, command: str, buffer: bytes) -> int | None:
        """Return the end of the answer's :meth:`span` (see the module docstring)."""
        definition = lookup(self, command)
        if definition is None:
            return everything(buffer)
        found = self.span(definition, command, buffer)
        return None if found is None else found[1]

    def decode(self, command: str, frame: bytes) -> Result:
        """Skip what precedes the answer (see :meth:`span`), then decode as usual.

        Where no answer can be found, the frame is decoded as it is, so the error says what is
        wrong with it.
        """
        definition = lookup(self, command)
        if definition is not None:
            found = self.span(definition, command, frame)
            if found is not None and found[0]:
                frame = frame[found[0] :]
        return super().decode(command, frame)
