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
from collections.abc import Iterable, Iterator, Sequence
import re
import sys
from typing import TYPE_CHECKING, ClassVar, TextIO

from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.protocols.fields import Field

if TYPE_CHECKING:
    from mppsolar_lib.protocols.fields import Result, Value


class OutputError(MppSolarError):
    """An output cannot be used as configured (unknown name, bad filter, missing extra)."""


class Report:
    """One command's answer (or a listing) ready for any output."""

    __slots__ = ("command", "description", "raw", "rows")

    def __init__(
        self, command: str, description: str, rows: tuple[Field, ...], raw: bytes | None = None
    ) -> None:
        """Hold the rows of ``command``; ``raw`` is the frame as received (``None``: listings)."""
        #: The command as sent (``QPGS0``), or what the listing is (``command help``).
        self.command = command
        self.description = description
        self.rows = rows
        self.raw = raw

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


class Output(ABC):
    """Where reports go. Console outputs print; the bridge adds MQTT, Prometheus, databases.

    An output never raises for one bad report in a way that stops others: implementations
    raise :class:`OutputError` only for configuration problems.
    """

    #: Registry name (``screen``); the description lives in the registry, for ``-o`` listings.
    name: ClassVar[str]

    def __init__(self, options: OutputOptions | None = None) -> None:
        """Use ``options`` (defaults: no filter, snake_case keys)."""
        self.options = options or OutputOptions()

    @abstractmethod
    async def send(self, reports: Sequence[Report]) -> None:
        """Deliver ``reports`` (one poll's answers, in order)."""

    async def close(self) -> None:
        """Release connections; the default has none."""


class ConsoleOutput(Output):
    """An output that writes text to a stream (standard output unless told otherwise)."""

    def __init__(self, options: OutputOptions | None = None, stream: TextIO | None = None) -> None:
        """Write to ``stream`` (looked up at write time when ``None``, so redirection works)."""
        super().__init__(options)
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
