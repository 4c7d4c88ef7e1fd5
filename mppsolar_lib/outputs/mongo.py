"""``mongo``: every reading as a MongoDB document, each exactly once.

Named like the reference: database ``mongo_db`` (default ``mppsolar``), one collection per
command (``QPIGS``, ``QPGS0``), the values at the top level of the document under their keys
and ``updated`` the time of the reading. Added: ``device`` (the section name, so devices
sharing a database stay apart), ``units`` (key -> unit) and a deterministic ``_id``::

    {"_id": "inverter/QPIGS/2025-01-01T12:00:00.123456+00:00",
     "device": "inverter", "updated": ISODate("2025-01-01T12:00:00.123Z"),
     "ac_input_voltage": 230.1, ..., "units": {"ac_input_voltage": "V", ...}}

The ``_id`` is the device, the command and the reading's time to the microsecond (``updated``
is a BSON date: milliseconds), so a batch delivered again after a crash inserts nothing new:
``insert_many(ordered=False)`` stores the documents not there yet and the duplicate-key errors
of the others are expected and ignored.

Each URL has one :class:`pymongo.AsyncMongoClient`, shared by every device and output using
it. A server that cannot be reached within :data:`SELECT_TIMEOUT_MS` raises
:class:`~mppsolar_lib.outputs.base.OutputUnavailableError`: the bridge keeps the readings and
tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
import time
from typing import Any, ClassVar, Final

import pymongo
from pymongo.errors import BulkWriteError, ConnectionFailure

from mppsolar_lib.outputs.base import (
    Output,
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    plain,
    redacted,
    unit_of,
)

#: Milliseconds to find a server (and to connect) before the database counts as unreachable.
SELECT_TIMEOUT_MS: Final = 5000
#: MongoDB's duplicate-key error: the document is already stored.
DUPLICATE_KEY: Final = 11000


def reading_id(device: str, command: str, when: datetime) -> str:
    """Return the ``_id`` of a reading: unique per device, command and time (microseconds)."""
    return f"{device}/{command}/{when.isoformat(timespec='microseconds')}"


class Mongo(Output):
    """Insert every report as a document of its command's collection."""

    name = "mongo"
    spooled: ClassVar[bool] = True

    def __init__(
        self, options: OutputOptions | None = None, context: OutputContext | None = None
    ) -> None:
        """Use the device's ``mongo_url`` and ``mongo_db``; without a URL this cannot work."""
        super().__init__(options, context)
        if context is None or not context.device.mongo_url:
            raise OutputError("the mongo output needs mongo_url (a mongodb:// URL)")
        self.url: str = context.device.mongo_url
        self.database = context.device.mongo_db
        self.device = context.device.name

    async def _client(self) -> pymongo.AsyncMongoClient[dict[str, Any]]:
        assert self.context is not None

        async def create() -> pymongo.AsyncMongoClient[dict[str, Any]]:
            # Connects lazily, in the background: creating it never fails for a server down.
            return pymongo.AsyncMongoClient(
                self.url,
                serverSelectionTimeoutMS=SELECT_TIMEOUT_MS,
                connectTimeoutMS=SELECT_TIMEOUT_MS,
                tz_aware=True,
            )

        client: pymongo.AsyncMongoClient[dict[str, Any]] = await self.context.resources.get(
            f"mongo {self.url}", create
        )
        return client

    def documents(self, reports: Sequence[Report]) -> dict[str, list[dict[str, Any]]]:
        """Return the documents for ``reports`` by collection (the command), in report order."""
        collections: dict[str, list[dict[str, Any]]] = {}
        for report in reports:
            when = datetime.fromtimestamp(
                report.time if report.time is not None else time.time(), UTC
            )
            rows = list(self.options.rows(report))
            document: dict[str, Any] = {key: plain(row.value) for key, row in rows}
            # After the values: the document's own fields win over a value of the same name.
            document.update(
                _id=reading_id(self.device, report.command, when),
                device=self.device,
                updated=when,
                units={key: unit_of(row) for key, row in rows},
            )
            collections.setdefault(report.command, []).append(document)
        return collections

    async def send(self, reports: Sequence[Report]) -> None:
        """Insert ``reports`` (documents already stored are skipped)."""
        client = await self._client()
        database = client[self.database]
        for collection, documents in self.documents(reports).items():
            try:
                await database[collection].insert_many(documents, ordered=False)
            except BulkWriteError as err:
                errors = err.details.get("writeErrors", [])
                others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
                if others or err.details.get("writeConcernErrors"):
                    raise
            except ConnectionFailure as err:
                raise OutputUnavailableError(f"MongoDB at {redacted(self.url)}: {err}") from err
