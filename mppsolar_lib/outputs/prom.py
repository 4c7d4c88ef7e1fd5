"""Prometheus outputs: the exposition text on stdout, in files, pushed.

``prom`` prints it, ``prom_file`` writes it for node-exporter's textfile collector,
``prom_push`` pushes it to a Pushgateway and ``prom_pushd`` to VictoriaMetrics' push path.

Series are named and labelled as the reference's: ``mpp_solar_<key>{inverter=<device name>,
device=<dev>,cmd=<command>} <value>``, a text value as a ``1`` sample carrying the text in a label,
and a ``machine_role{role="mpp_solar"}`` marker. Unlike the reference every family has ``# HELP``
and ``# TYPE`` lines, label values are escaped, and the few things it writes that Prometheus or
node-exporter reject are fixed (``docs/deviations.md``, "Bridge").

``prom_file`` writes each report to ``<dir>/mpp-solar-<name>-<command>.prom`` atomically (a
temporary file in the same directory, fsync, rename over the target) and keeps the previous
versions as hard links ``<file>.<n>`` (the last :data:`BACKUPS`); all file work runs in a worker
thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
import contextlib
import functools
import logging
import math
import os
from pathlib import Path
import re
import socket
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import quote

from mppsolar_lib.bridge.model import DEFAULT_PROM_OUTPUT_DIR, DEFAULT_PUSH_URL
from mppsolar_lib.outputs.base import (
    ConsoleOutput,
    Output,
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    Resources,
)

if TYPE_CHECKING:
    import aiohttp

    from mppsolar_lib.protocols.fields import Field

_LOGGER = logging.getLogger(__name__)

#: Every series name starts with this (the reference's prefix).
PREFIX: Final = "mpp_solar_"
#: Previous versions of each prom file kept as hard links.
BACKUPS: Final = 10
#: Seconds one push may take before the Pushgateway counts as unreachable.
PUSH_TIMEOUT: Final = 10.0
#: Key of the HTTP session the push outputs share (``OutputContext.resources``).
SESSION_KEY: Final = "aiohttp:session"

_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_]")


# The same few hundred keys come back on every poll of every device.
@functools.lru_cache(maxsize=4096)
def series_name(key: str, keep_case: bool) -> str:
    """Return ``mpp_solar_<key>`` as the reference builds it, made a valid metric name.

    The reference replaces spaces and ``/`` with ``_``, drops ``-`` and lowercases (unless
    ``--keepcase``); any character still not allowed in a metric name becomes ``_``.
    """
    key = key.replace(" ", "_").replace("/", "_").replace("-", "")
    if not keep_case:
        key = key.lower()
    return PREFIX + _INVALID_NAME.sub("_", key)


def escape_label(value: str) -> str:
    """Escape a label value for the text exposition format (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Return a sample value as the reference prints it (Python's ``str``).

    NaN and infinities are spelled as Prometheus spells them.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
    return str(value)


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs) + "}"


def _help(row: Field) -> str:
    # Only the field's own name and unit: the same key must get the same HELP in every file
    # and push, or node-exporter and the Pushgateway see inconsistent families.
    text = row.name or row.key
    return f"{text} ({row.unit})" if row.unit else text


def _type(name: str, row: Field) -> str:
    # A counter only where the name already says so (Prometheus' "_total" convention) and the
    # value only grows: renaming the reference's series would break users' dashboards.
    if name.endswith("_total") and row.hints.state_class == "total_increasing":
        return "counter"
    return "gauge"


def _samples(row: Field) -> Iterator[tuple[tuple[tuple[str, str], ...], str]]:
    """Yield ``(extra labels, value)`` for one field; nothing for an empty value."""
    value = row.value
    if value is None:
        return  # the reference prints "None", which no Prometheus parser accepts
    if isinstance(value, bool):
        yield (), "1" if value else "0"
    elif isinstance(value, str):
        # The reference's "info" style: the text in a label, the sample 1.
        yield (("value", value),), "1"
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield (("index", str(index)),), format_value(item)
    else:
        yield (), format_value(value)


def exposition(report: Report, options: OutputOptions, dev: str | None) -> str:
    """Return one report in Prometheus' text format (version 0.0.4), newline-terminated.

    ``options.name`` labels the series (``inverter``; ``mpp_solar`` when unnamed, as the
    reference), ``dev`` is the reference's ``device`` label (``"None"`` when unset, as there).
    """
    inverter = "mpp_solar" if options.name == "unnamed" else options.name
    base = (("inverter", inverter), ("device", str(dev)), ("cmd", report.command))
    # Every series carries the same base labels: escape and join them once per report.
    common = _labels(base)[1:-1]
    lines = [
        "# HELP machine_role What this machine exports (mpp-solar readings).",
        "# TYPE machine_role gauge",
        # The device's labels keep the marker of each file distinct: node-exporter refuses a
        # series that two files both contain (the reference's bare marker does that).
        f'machine_role{{role="mpp_solar",{common}}} 1',
    ]
    seen: set[str] = set()
    for key, row in options.rows(report):
        name = series_name(key, options.keep_case)
        if name in seen:
            continue  # one family per name: a second would make the file invalid
        samples = list(_samples(row))
        if not samples:
            continue
        seen.add(name)
        lines.append(f"# HELP {name} {_escape_help(_help(row))}")
        lines.append(f"# TYPE {name} {_type(name, row)}")
        lines.extend(
            f"{name}{{{common},{_labels(extra)[1:-1]}}} {value}"
            if extra
            else f"{name}{{{common}}} {value}"
            for extra, value in samples
        )
    return "\n".join(lines) + "\n"


def _dev(context: OutputContext | None) -> str | None:
    return context.device.dev if context is not None else None


class Prom(ConsoleOutput):
    """The exposition text on standard output (the reference's ``prom``)."""

    name = "prom"

    def render(self, report: Report) -> str:
        """Return the report's series."""
        return exposition(report, self.options, _dev(self.context))


def file_name(report: Report, options: OutputOptions) -> str:
    """Return the reference's file name: ``mpp-solar-<name>-<command>.prom``.

    The command is lowercased; an unnamed device has no name part; ``/`` in a name (which would
    make a path) becomes ``_``.
    """
    command = report.command.lower()
    stem = command if options.name == "unnamed" else f"{options.name}-{command}"
    return f"mpp-solar-{stem}.prom".replace("/", "_").replace("\0", "_")


class _Versions:
    """The backup numbers of one prom file: ``<file>.<n>``, the highest the newest."""

    def __init__(self, directory: Path, name: str) -> None:
        pattern = re.compile(re.escape(name) + r"\.(\d+)")
        found = sorted(
            int(match.group(1))
            for entry in directory.iterdir()
            if (match := pattern.fullmatch(entry.name))
        )
        self.kept = found
        self.next = (found[-1] + 1) if found else 1


def write_atomically(path: Path, content: bytes, versions: _Versions, keep: int) -> None:
    """Replace ``path`` with ``content`` so a reader sees the old file or the new, never a mix.

    The content goes to a temporary file in the same directory (readable by all, since
    node-exporter usually runs as another user), is flushed to disk, and is renamed over the
    target; the version it replaces is kept as the hard link ``<path>.<n>`` first, and only
    the newest ``keep`` such links stay. Runs in a worker thread (blocking calls).

    Plain ``os`` calls on string paths: two hundred devices rewrite their files every second,
    and pathlib/tempfile's conveniences cost more than the system calls here. The temporary
    name is fixed per file — one file is never written by two writers at once (its output
    waits for each write) — and does not end in ``.prom``, so node-exporter never reads it.
    """
    target = str(path)
    directory, _, name = target.rpartition("/")
    temporary = f"{directory}/.{name}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(target, f"{target}.{versions.next}")
        except FileNotFoundError:
            pass  # the first write has nothing to keep
        else:
            versions.kept.append(versions.next)
            versions.next += 1
        os.replace(temporary, target)  # noqa: PTH105 - see the docstring: plain os calls
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)  # noqa: PTH108
        raise
    # No fsync of the directory: after a crash the rename may be lost, which brings back the
    # previous complete version; fsyncing the data first is what rules out an empty file.
    while len(versions.kept) > keep:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{target}.{versions.kept.pop(0)}")  # noqa: PTH108


#: Key of the file writer the prom_file outputs of a bridge share.
WRITER_KEY: Final = "prom_file:writer"
#: Writer threads: two, so one slow fsync does not hold up every other file.
WRITER_THREADS: Final = 2


class PromWriter:
    """Run the prom files' blocking writes for every device in a few threads, in batches.

    Two hundred devices rewriting their files each second through the default executor means
    two hundred thread hand-offs and threads fighting over the GIL; here the writes queued while
    a batch runs go together into the next one, so a busy second costs a few hand-offs. An idle
    writer starts a write at once.
    """

    def __init__(self, threads: int = WRITER_THREADS) -> None:
        """Use ``threads`` worker threads (made on first use)."""
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Callable[[], None], asyncio.Future[None]]] = []
        self._running = 0

    async def run(self, job: Callable[[], None]) -> None:
        """Run ``job`` in a writer thread; raise what it raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        self._start()
        await future

    def _start(self) -> None:
        if not self._pending or self._running >= self.threads:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="mppsolar-prom")
        batch, self._pending = self._pending, []
        self._running += 1
        done = asyncio.wrap_future(self._executor.submit(_run_all, [job for job, _ in batch]))
        done.add_done_callback(functools.partial(self._finished, batch))

    def _finished(
        self,
        batch: list[tuple[Callable[[], None], asyncio.Future[None]]],
        done: asyncio.Future[list[BaseException | None]],
    ) -> None:
        self._running -= 1
        outcomes = done.result()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its sender was cancelled
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
        self._start()

    async def aclose(self) -> None:
        """Stop the threads once the writes under way are done (waiting off the loop)."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)


def _run_all(jobs: list[Callable[[], None]]) -> list[BaseException | None]:
    """Run each job; return, per job, ``None`` or the exception it raised."""
    outcomes: list[BaseException | None] = []
    for job in jobs:
        try:
            job()
        except Exception as err:  # noqa: BLE001 - handed to the job's own sender
            outcomes.append(err)
        else:
            outcomes.append(None)
    return outcomes


class PromFile(Output):
    """One ``.prom`` file per device and command, for node-exporter's textfile collector."""

    name = "prom_file"
    spooled: ClassVar[bool] = True

    def __init__(
        self, options: OutputOptions | None = None, context: OutputContext | None = None
    ) -> None:
        """Write into the device's ``prom_output_dir`` (the reference's default without one)."""
        super().__init__(options, context)
        self.directory = Path(
            context.device.prom_output_dir if context is not None else DEFAULT_PROM_OUTPUT_DIR
        )
        self.keep = BACKUPS
        #: The files written so far (removed on close) and their backup numbers.
        self._versions: dict[str, _Versions] = {}
        #: Whether the directory is known to exist (checked again after a failed write).
        self._directory_made = False
        # Without a bridge the output owns its writer (closed with it).
        self._own = context is None
        self.resources = context.resources if context is not None else Resources()

    def _write(self, files: list[tuple[str, bytes]]) -> None:
        if not self._directory_made:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._directory_made = True
        for name, content in files:
            versions = self._versions.get(name)
            if versions is None:
                versions = self._versions[name] = _Versions(self.directory, name)
            write_atomically(self.directory / name, content, versions, self.keep)

    async def send(self, reports: Sequence[Report]) -> None:
        """Rewrite the file of each report (in a worker thread).

        Raises :class:`OutputUnavailableError` when the directory cannot be written (full
        disk, missing mount, permissions): the bridge keeps the readings and retries.
        """
        dev = _dev(self.context)
        files = [
            (file_name(report, self.options), exposition(report, self.options, dev).encode())
            for report in reports
        ]
        writer: PromWriter = await self.resources.get(WRITER_KEY, _new_writer)
        try:
            await writer.run(functools.partial(self._write, files))
        except OSError as err:
            self._directory_made = False  # it may be gone: the retry makes it again
            raise OutputUnavailableError(
                f"cannot write prom files in {self.directory}: {err}"
            ) from err

    def _remove(self) -> None:
        for name in self._versions:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()

    async def close(self) -> None:
        """Remove the files written (as the reference's daemon does on exit), keep the backups.

        A stopped bridge must not leave its last readings looking current to Prometheus.
        """
        await asyncio.to_thread(self._remove)
        self._versions.clear()
        if self._own:
            await self.resources.close()


async def _new_writer() -> PromWriter:
    return PromWriter()


def _path_label(name: str, value: str) -> str:
    """Return ``/<name>/<value>`` for a Pushgateway URL (base64 when ``/`` or empty)."""
    if not value or "/" in value:
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"/{name}@base64/{encoded}"
    return f"/{name}/{quote(value, safe='')}"


class PromPush(Output):
    """Each report pushed to a Prometheus Pushgateway, one group per device and command.

    The URL is the device's ``push_url`` (the reference's default,
    ``http://localhost:9091/metrics/job/pushgateway``) plus ``/inverter/<name>/cmd/<command>``:
    each report replaces its own group (``PUT``), so devices and commands never overwrite one
    another's series as the reference's single group does.
    """

    name = "prom_push"
    spooled: ClassVar[bool] = True
    method: ClassVar[str] = "PUT"

    def __init__(
        self, options: OutputOptions | None = None, context: OutputContext | None = None
    ) -> None:
        """Push to the device's ``push_url``; share one HTTP session through the context."""
        super().__init__(options, context)
        self.push_url = (
            context.device.push_url if context is not None else DEFAULT_PUSH_URL
        ).rstrip("/")
        # Without a bridge (the CLI) the output owns its session and closes it itself.
        self._owns_session = context is None
        self.resources = context.resources if context is not None else Resources()

    def url(self, report: Report) -> str:
        """Return where ``report`` is pushed."""
        inverter = "mpp_solar" if self.options.name == "unnamed" else self.options.name
        return (
            self.push_url + _path_label("inverter", inverter) + _path_label("cmd", report.command)
        )

    async def _session(self) -> aiohttp.ClientSession:
        async def make() -> Any:
            import aiohttp  # noqa: PLC0415 - optional dependency, only when pushing

            return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT))

        session: aiohttp.ClientSession = await self.resources.get(SESSION_KEY, make)
        return session

    async def send(self, reports: Sequence[Report]) -> None:
        """Push each report, in order.

        Raises :class:`OutputUnavailableError` while the gateway is unreachable or failing
        (5xx, 408, 429), :class:`OutputError` when it refuses the push (other 4xx).
        """
        import aiohttp  # noqa: PLC0415 - optional dependency, only when pushing

        session = await self._session()
        dev = _dev(self.context)
        for report in reports:
            url = self.url(report)
            body = exposition(report, self.options, dev).encode()
            try:
                async with session.request(
                    self.method,
                    url,
                    data=body,
                    headers={"Content-Type": "text/plain; version=0.0.4"},
                ) as response:
                    status = response.status
                    reason = (await response.text()).strip() or response.reason
            except (aiohttp.ClientError, TimeoutError) as err:
                raise OutputUnavailableError(f"Pushgateway {url} unreachable: {err!r}") from err
            if status >= 500 or status in (408, 429):
                raise OutputUnavailableError(f"Pushgateway {url} answered {status}: {reason}")
            if status >= 300:
                raise OutputError(f"Pushgateway {url} refused the push ({status}): {reason}")

    async def close(self) -> None:
        """Close the session if this output made its own (the bridge closes shared ones)."""
        if self._owns_session:
            await self.resources.close()


class PromPushD(PromPush):
    """The reference's ``prom_pushd``: the push path VictoriaMetrics accepts.

    ``POST`` to ``<push_url>/metrics/job/mppsolar/instance/<short host name>`` (a Pushgateway
    accepts it too).
    """

    name = "prom_pushd"
    method: ClassVar[str] = "POST"

    def url(self, report: Report) -> str:
        """Return ``<push_url>/metrics/job/mppsolar/instance/<host>`` (the same for every report)."""
        host = socket.gethostname().split(".")[0]
        return self.push_url + "/metrics/job/mppsolar" + _path_label("instance", host)
