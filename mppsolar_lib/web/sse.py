"""Server-Sent Events: every new reading and availability change pushed to every page.

The bridge publishes into the :class:`Hub` without waiting: each client has a bounded queue,
and a client that does not keep up (its queue is full) is dropped — its page reconnects and
catches up from ``Last-Event-ID`` — so one slow phone never holds up the bridge or the other
clients. Events carry increasing ids; the last :attr:`Hub.replay` of them stay in memory, and a
reconnecting client gets those newer than the id it last saw. A comment line every
``heartbeat`` seconds keeps proxies from closing an idle stream and lets the page notice a
dead connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
import json
import logging
from typing import Final

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

#: Seconds between heartbeat comments.
HEARTBEAT: Final = 15.0
#: Events a client may have waiting before it is dropped.
QUEUE_SIZE: Final = 256
#: Events kept for clients that reconnect.
REPLAY: Final = 1000
#: Milliseconds a browser waits before reconnecting (the ``retry:`` field).
RETRY_MS: Final = 3000


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its id, type and JSON data."""

    id: int
    type: str
    data: str

    def encode(self) -> bytes:
        """Return the event in the stream's wire format."""
        return f"id: {self.id}\nevent: {self.type}\ndata: {self.data}\n\n".encode()


@dataclass(eq=False, slots=True)
class Client:
    """One connected stream: its queue, and whether the hub dropped it."""

    queue: asyncio.Queue[Event | None]
    dropped: bool = False
    sent: int = field(default=0)


class Hub:
    """Fan events out to every client, never waiting for one."""

    def __init__(
        self, *, queue_size: int = QUEUE_SIZE, replay: int = REPLAY, heartbeat: float = HEARTBEAT
    ) -> None:
        """Give each client ``queue_size`` events of slack; keep ``replay`` for reconnects."""
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self.clients: set[Client] = set()
        self.history: deque[Event] = deque(maxlen=replay)
        self.last_id = 0
        self.dropped = 0

    def publish(self, kind: str, data: object) -> Event:
        """Send an event to every client now; drop those whose queue is full."""
        self.last_id += 1
        event = Event(self.last_id, kind, json.dumps(data, separators=(",", ":")))
        self.history.append(event)
        for client in list(self.clients):
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.drop(client)
        return event

    def drop(self, client: Client) -> None:
        """Disconnect ``client``: its stream ends once it has written what it holds."""
        if client in self.clients:
            self.clients.discard(client)
            client.dropped = True
            self.dropped += 1
            _LOGGER.info("web UI: a stream client fell %d events behind; dropped", self.queue_size)
            # Make room for the end marker: the client only ever sees the queue's head.
            while not client.queue.empty():
                client.queue.get_nowait()
            client.queue.put_nowait(None)

    def subscribe(self, last_id: int | None = None) -> Client:
        """Add a client; queue the kept events newer than ``last_id`` for it."""
        client = Client(asyncio.Queue(self.queue_size))
        if last_id is not None and last_id <= self.last_id:
            for event in self.history:
                if event.id > last_id:
                    if client.queue.full():
                        # More than its queue holds is missing: the page reloads it all.
                        break
                    client.queue.put_nowait(event)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        """Forget ``client`` (its stream ended)."""
        self.clients.discard(client)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        for client in list(self.clients):
            self.drop(client)
        self.dropped = 0


def last_event_id(request: web.Request) -> int | None:
    """Return the ``Last-Event-ID`` header (or ``lastEventId`` query) as a number, if any."""
    value = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def stream(request: web.Request, hub: Hub) -> web.StreamResponse:
    """Serve one client's event stream until it goes away or is dropped."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            # nginx would otherwise buffer the stream.
            "X-Accel-Buffering": "no",
        }
    )
    client = hub.subscribe(last_event_id(request))
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
        while True:
            try:
                event = await asyncio.wait_for(client.queue.get(), hub.heartbeat)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if event is None:
                break
            await response.write(event.encode())
            client.sent += 1
    except ConnectionResetError:
        # The page went away: nothing to tell anyone.
        pass
    finally:
        hub.unsubscribe(client)
    return response
