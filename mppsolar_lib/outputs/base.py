"""Reports, output options and the :class:`Output` contract every output implements.

A :class:`Report` is what outputs receive; :class:`OutputOptions` is how users narrow it.

A report is one answer made presentable: the command as sent, a description, and its
:class:`~mppsolar_lib.protocols.fields.Field` rows (key, display name, value, unit and Home
Assistant hints). It is built from a decoded
:class:`~mppsolar_lib.protocols.Result`, from several of them merged (``--getstatus``), or from
plain text rows (command and protocol listings), so every output handles all of them alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
import logging
import re
import sys
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.protocols.fields import Field

if TYPE_CHECKING:
    from mppsolar_lib.bridge.model import DeviceConfig, MqttBroker
    from mppsolar_lib.protocols import Protocol
    from mppsolar_lib.protocols.fields import Result, Value

_LOGGER = logging.getLogger(__name__)


class OutputError(MppSolarError):
    """An output cannot be used as configured (unknown name, bad filter, missing extra)."""


class OutputUnavailableError(MppSolarError):
    """The output's destination cannot take reports now (broker down, database unreachable).

    Transient: the bridge keeps the reports (in memory, then on disk) and tries again with
    backoff. Any other exception from :meth:`Output.send` is a bug or a poison report: the
    bridge logs it and drops that batch, so one bad report never blocks those behind it.
    """


class Report:
    """One command's answer (or a listing) ready for any output."""

    __slots__ = ("command", "description", "raw", "rows", "time")

    def __init__(
        self,
        command: str,
        description: str,
        rows: tuple[Field, ...],
        raw: bytes | None = None,
        time: float | None = None,
    ) -> None:
        """Hold the rows of ``command``; ``raw`` is the frame as received (``None``: listings).

        ``time`` is when the answer arrived (seconds since the epoch); the bridge sets it so
        a reading delivered late (after an outage) keeps its own timestamp.
        """
        #: The command as sent (``QPGS0``), or what the listing is (``command help``).
        self.command = command
        self.description = description
        self.rows = rows
        self.raw = raw
        self.time = time

    def __repr__(self) -> str:
        """Command and number of rows."""
        return f"<Report {self.command}: {len(self.rows)} rows>"

    @classmethod
    def from_result(cls, result: Result, command: str, description: str) -> Report:
        """Present a decoded answer; ``command`` is the text sent (``QPGS0``, not ``QPGS``)."""
        rows = tuple(result.fields.values())
        return cls(command, description, rows, result.raw)

    @classmethod
    def merged(cls, command: str, description: str, results: Iterable[Result]) -> Report:
        """Present several answers as one (``--getstatus``); a later key replaces an earlier one."""
        rows: dict[str, Field] = {}
        for result in results:
            for f in result.fields.values():
                rows[f.key] = f
        return cls(command, description, tuple(rows.values()))

    @classmethod
    def listing(cls, command: str, description: str, items: Iterable[tuple[str, str]]) -> Report:
        """Present ``(name, text)`` pairs: commands, protocols, outputs."""
        return cls(command, description, tuple(Field(name, name, text) for name, text in items))


def text(value: Value) -> str:
    """Show a value as the reference's text outputs do: flags as ``1``/``0``, nothing as ``""``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def plain(value: Value) -> int | float | str | list[int] | None:
    """Give a value as JSON carries it: flags as ``1``/``0`` (as the reference), tuples as lists."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def unit_of(row: Field) -> str:
    """Return the unit shown for ``row``; flags show ``bool``, as in the reference's tables."""
    if not row.unit and isinstance(row.value, bool):
        return "bool"
    return row.unit


def redacted(url: str) -> str:
    """Return ``url`` with its password (if any) masked, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.partition(':')[0]}:***@{host}"


def _compile(flag: str, pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as err:
        raise OutputError(f"{flag} {pattern!r} is not a regular expression: {err}") from None


class OutputOptions:
    """How the user narrowed and labelled the output (``--filter``, ``--keepcase``, ``-T``, ``-n``).

    ``filter`` keeps only keys matching it (``re.search``); ``exclude`` drops keys matching it,
    before ``filter``; ``keep_case`` shows display names (``AC_Input_Voltage``) instead of
    snake_case keys; ``tag`` replaces the command name in topic-style outputs (MQTT, Influx);
    ``name`` tells several devices apart in shared outputs (Prometheus, MQTT). A filter that is
    not a regular expression raises :class:`OutputError` naming the flag.
    """

    __slots__ = ("_exclude", "_include", "exclude", "filter", "keep_case", "name", "tag")

    def __init__(
        self,
        filter: str | None = None,
        exclude: str | None = None,
        keep_case: bool = False,
        tag: str | None = None,
        name: str = "unnamed",
    ) -> None:
        """Store the options and compile the filters once."""
        self.filter = filter
        self.exclude = exclude
        self.keep_case = keep_case
        self.tag = tag
        self.name = name
        self._include = _compile("--filter", filter)
        self._exclude = _compile("--exclfilter", exclude)

    def display_key(self, row: Field) -> str:
        """Return the key shown for ``row``: snake_case, or the display name with ``--keepcase``."""
        return row.name.replace(" ", "_") if self.keep_case else row.key

    def wanted(self, key: str) -> bool:
        """Whether ``key`` passes ``--exclfilter`` and ``--filter``."""
        if self._exclude is not None and self._exclude.search(key):
            return False
        return self._include is None or self._include.search(key) is not None

    def rows(self, report: Report) -> Iterator[tuple[str, Field]]:
        """Yield ``(shown key, row)`` for the rows the filters keep, in report order."""
        for row in report.rows:
            key = self.display_key(row)
            if self.wanted(key):
                yield key, row


def _nothing() -> None:
    """Do nothing: an output outside the bridge has no one to wake."""


class Resources:
    """Connections the outputs of a bridge share: one MQTT client per broker, one pool per database.

    ``await resources.get(key, factory)`` returns the object made by ``await factory()`` the
    first time ``key`` is asked for, and the same object afterwards (concurrent first calls
    wait for one factory); :meth:`close` closes them all (``aclose()`` or ``close()``, awaited
    when it is a coroutine) in reverse order of creation.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._made: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str, factory: Callable[[], Awaitable[Any]]) -> Any:
        """Return the shared object for ``key``, making it with ``factory`` the first time."""
        if key in self._made:
            return self._made[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._made:
                self._made[key] = await factory()
        return self._made[key]

    async def close(self) -> None:
        """Close every shared object (errors are logged: closing goes on)."""
        for key, made in reversed(list(self._made.items())):
            closer = getattr(made, "aclose", None) or getattr(made, "close", None)
            if closer is None:
                continue
            try:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                _LOGGER.exception("closing %s failed", key)
        self._made.clear()


@dataclass(slots=True)
class OutputContext:
    """What a bridge output needs beyond its options: where to deliver, and shared connections.

    ``device`` is the device's configuration (prom_output_dir, push_url, postgres_url,
    mongo_url/mongo_db, mqtt_topic, udp_port, dev, mqtt_allowed_cmds: each device's own);
    ``mqtt`` the bridge's broker (``None``: none configured); ``protocol`` the device's protocol
    once known (field catalogue for Home Assistant discovery); ``resources`` the shared
    connections.
    """

    device: DeviceConfig
    mqtt: MqttBroker | None = None
    protocol: Protocol | None = None
    resources: Resources = field(default_factory=Resources)


class Output(ABC):
    """Where reports go. Console outputs print; the bridge adds MQTT, Prometheus, databases.

    An output never raises for one bad report in a way that stops others: implementations
    raise :class:`OutputError` only for configuration problems, and
    :class:`OutputUnavailableError` when the destination is down (the bridge retries).
    """

    #: Registry name (``screen``); the description lives in the registry, for ``-o`` listings.
    name: ClassVar[str]

    def __init__(
        self, options: OutputOptions | None = None, context: OutputContext | None = None
    ) -> None:
        """Use ``options`` (defaults: no filter, snake_case keys) and the bridge's ``context``."""
        self.options = options or OutputOptions()
        self.context = context
        #: Called when the destination is reachable again (a broker reconnected): the bridge's
        #: sink sets it to retry at once instead of waiting out its backoff.
        self.wake: Callable[[], None] = _nothing

    async def availability(self, online: bool) -> None:
        """Note that the device answers (``True``) or stopped answering; the default ignores it."""

    @abstractmethod
    async def send(self, reports: Sequence[Report]) -> None:
        """Deliver ``reports`` (one poll's answers, in order)."""

    async def close(self) -> None:
        """Release connections; the default has none."""


class ConsoleOutput(Output):
    """An output that writes text to a stream (standard output unless told otherwise)."""

    def __init__(
        self,
        options: OutputOptions | None = None,
        context: OutputContext | None = None,
        stream: TextIO | None = None,
    ) -> None:
        """Write to ``stream`` (looked up at write time when ``None``, so redirection works)."""
        super().__init__(options, context)
        self.stream = stream

    @abstractmethod
    def render(self, report: Report) -> str:
        """Return the text for one report, newline-terminated."""

    def write(self, reports: Sequence[Report]) -> None:
        """Write ``reports`` now (synchronous: console writes do not wait on anything)."""
        # Looked up per call, so a redirected sys.stdout (tests, pipes) is honoured.
        stream = self.stream or sys.stdout
        stream.write("".join(self.render(report) for report in reports))
        stream.flush()

    async def send(self, reports: Sequence[Report]) -> None:
        """Write ``reports``."""
        self.write(reports)
