"""The retrying ``Device``: one port, one command at a time, classified errors, checked settings.

A :class:`Device` joins a :class:`~mppsolar_lib.transports.base.Transport` (bytes) and a
:class:`~mppsolar_lib.protocols.base.Protocol` (meaning)::

    async with Device(transport, "pi30") as device:
        status = await device.command("QPIGS")          # a Result
        await device.write_setting("output_source_priority", "SBU first")

What it adds to the two:

- one command in flight per port (an :class:`asyncio.Lock` shared by every ``Device`` on the
  same transport), so concurrent callers never interleave frames;
- validation before anything is sent (unknown command, invalid parameter: nothing goes out);
- classified errors: permanent ones (:class:`~mppsolar_lib.errors.PortError`, unknown command,
  invalid parameter, NAK) are raised at once; transient ones (timeout, link dropped, CRC, bad
  frame, echo, a late reply to an earlier command) are retried with bounded exponential backoff
  and jitter, reopening the link after it dropped. After the budget, the last error is raised
  with what was tried in its message;
- echo removal (adapters that send our request back before the answer) and a reply-matches-
  request check, so a late reply to an earlier command is never decoded as this one: the
  answer must fit the command (:meth:`Protocol.matches
  <mppsolar_lib.protocols.base.Protocol.matches>`), must not fit the command that last timed
  out, and must have the shape this unit gave the command before;
- protocol auto-detection (:meth:`Device.identify`), status and settings batches, and settings
  written through the settings model with a read-back.

Setters are never re-sent blindly: after an ambiguous failure (timeout, garbled answer) the unit
may or may not have applied them. :meth:`Device.write_setting` reads the setting back and
re-sends only if it did not take effect; a raw setter through :meth:`Device.command` is sent once.
See ``docs/device.md``.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import Callable, Collection, Iterable, Mapping
import contextlib
from dataclasses import dataclass
from functools import partial
import logging
import math
import random
import time
from typing import Self, TypeGuard
from weakref import WeakKeyDictionary

from mppsolar_lib.errors import (
    ConfirmationRequiredError,
    CRCError,
    DeviceTimeoutError,
    EchoError,
    FrameError,
    InvalidParameterError,
    MppSolarError,
    NAKError,
    ProtocolError,
    SettingNotAppliedError,
    StaleReplyError,
    TransportError,
    UnknownProtocolError,
    did_you_mean,
)
from mppsolar_lib.protocols import Protocol, get_protocol
from mppsolar_lib.protocols.command import Kind
from mppsolar_lib.protocols.detect import Detection, Detector, Framing, Probe, classify
from mppsolar_lib.protocols.fields import Result, Value
from mppsolar_lib.protocols.settings import Setting, SettingKind, parse_number
from mppsolar_lib.transports.base import Completion, Transport

_LOGGER = logging.getLogger(__name__)

#: One lock per transport, shared by every Device built on it: one command in flight per port.
_PORT_LOCKS: WeakKeyDictionary[Transport, asyncio.Lock] = WeakKeyDictionary()

#: What to check when a command keeps failing with this kind of error (most specific first).
_HINTS: tuple[tuple[type[MppSolarError], str], ...] = (
    (EchoError, "only our own request came back: is the device powered and connected?"),
    (StaleReplyError, "the device answers later than the timeout: raise timeout="),
    (DeviceTimeoutError, "check power, cabling, the port and the baud rate"),
    (TransportError, "the link keeps dropping: check the cable, gateway or radio"),
    (CRCError, "check the baud rate and the cabling (noise)"),
    (FrameError, "check the protocol (-P) and the baud rate"),
)


def _port_lock(transport: Transport) -> asyncio.Lock:
    lock = _PORT_LOCKS.get(transport)
    if lock is None:
        lock = _PORT_LOCKS[transport] = asyncio.Lock()
    return lock


def _probe_length(buffer: bytes) -> int | None:
    """Tell where a detection probe's answer ends, whichever framing the device uses.

    Voltronic answers end at their CR or length field; a VE.Direct device streams text, read
    until its whole status has come (its identity is in the main block) or the probe's timeout
    passes (what came is recognised as VE.Direct all the same); anything else is read until
    the probe's timeout.
    """
    if buffer[:1] in (b"(", b"^"):
        # The ^ framing's reader also ends ( answers at their CR.
        return get_protocol("pi18").answer_length("PI", buffer)
    if classify(buffer) is Framing.VEDIRECT:
        return get_protocol("ved").answer_length("vedstatus", buffer)
    return None


def _never(buffer: bytes) -> None:
    """Never call an answer complete: listen until the deadline."""


class _Reader:
    """A completion that skips our own request echoed in front of the answer.

    Some answers are byte for byte the request (a VE.Direct HEX set, a Modbus single-register
    write): ``answers(request)`` tells whether the request's bytes would be a valid answer, and
    then they are taken as one. It also remembers the last bytes it was shown, so a timeout can
    tell an echo or garbage from silence.
    """

    __slots__ = ("answers", "complete", "echoed", "identical", "request", "seen")

    def __init__(
        self,
        request: bytes,
        complete: Completion,
        answers: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.request = request
        self.complete = complete
        self.answers = answers
        self.identical = False
        self.echoed = False
        self.seen = b""

    def __call__(self, buffer: bytes) -> int | None:
        self.seen = buffer
        request = self.request
        # A request and its answer never share a first byte in the Voltronic framings; binary
        # ones may (Daly's A5), and are told apart within a few bytes.
        if request and buffer[:1] == request[:1]:
            if buffer.startswith(request):
                if self.answers is not None:
                    # Asked once: the request's bytes either are a valid answer or never are.
                    self.identical = self.answers(request)
                    self.answers = None
                if self.identical:
                    return self.complete(buffer)
                self.echoed = True
                if len(buffer) == len(request):
                    return None
                size = self.complete(buffer[len(request) :])
                return None if size is None else len(request) + size
            if request.startswith(buffer):
                return None
        return self.complete(buffer)


def _token_kind(token: str) -> str:
    """Say what a value is, whatever its width: ``""`` (empty), ``"9"`` (number), ``"a"``."""
    if not token:
        return ""
    # str methods rather than a regular expression: this runs for every value of every poll.
    return "9" if token.lstrip("+-").replace(".", "", 1).isdigit() else "a"


def _alike(known: tuple[str, ...], shape: tuple[str, ...]) -> bool:
    """Tell whether two shapes agree: as many values, at most a quarter of another kind."""
    if len(known) != len(shape):
        return False
    differ = sum(a != b for a, b in zip(known, shape, strict=True))
    return differ <= len(known) // 4


def _is_answer(protocol: Protocol, command: str, frame: bytes) -> bool:
    """Whether ``frame`` decodes as an answer to ``command``."""
    try:
        protocol.decode(command, frame)
    except ProtocolError:
        return False
    return True


class Batch(dict[str, Result]):
    """Answers to a batch of commands, by command; :attr:`errors` holds the ones that failed.

    A unit that refuses one command (``NAK``: a firmware without ``Q1``) or garbles it does not
    cost the others; the failure is reported here instead of raised.
    """

    def __init__(self) -> None:
        """Start empty."""
        super().__init__()
        self.errors: dict[str, MppSolarError] = {}


@dataclass(frozen=True)
class SettingChange:
    """A validated, encoded write of one setting, ready to :meth:`Device.apply_setting`."""

    setting: Setting
    #: The command that writes it (``"POP02"``).
    command: str
    #: What reading the setting back must show afterwards (a label, a bool or a number).
    value: Value
    #: What the device reported when the change was prepared (``None``: not reported).
    before: Value

    @property
    def safety(self) -> bool:
        """Whether the setting can harm a battery or cut power (needs ``confirm=True``)."""
        return self.setting.safety

    @property
    def unchanged(self) -> bool:
        """Whether the device already reports the value (nothing needs to be sent)."""
        return same_value(self.setting, self.before, self.value)

    def describe(self) -> str:
        """Say what changes, for a confirmation prompt or a log line."""
        unit = f" {self.setting.unit}" if self.setting.unit else ""
        return (
            f"{self.setting.name}: {_show(self.before)}{unit} -> {_show(self.value)}{unit}"
            f" ({self.command})"
        )


def _show(value: Value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def expected_value(setting: Setting, value: object) -> Value:
    """Return what reading ``setting`` back shows once ``value`` is written (it encodes)."""
    if setting.kind is SettingKind.SELECT:
        text = str(value)
        labels = {label.casefold(): label for label in setting.options.values()}
        return setting.options.get(text) or labels.get(text.casefold(), text)
    if setting.kind is SettingKind.SWITCH:
        return bool(value)
    return parse_number(setting.name, value)


def same_value(setting: Setting, reported: Value, expected: Value) -> bool:
    """Whether the device's ``reported`` value is ``expected`` (numbers within half a step)."""
    if setting.kind is SettingKind.NUMBER and _is_number(reported) and _is_number(expected):
        tolerance = setting.step / 2 if setting.step else 1e-3
        return math.isclose(reported, expected, abs_tol=tolerance)
    return reported == expected


def _is_number(value: Value) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Device:
    """One physical device behind one transport: serialised, retrying, validating.

    ``protocol`` is a :class:`Protocol` or its id; ``None`` detects it on first use. ``attempts``
    bounds the exchanges per command (at least 1); the pause before attempt *n* + 1 is
    ``backoff * 2**(n-1)`` capped at ``max_backoff``, of which a random half is jitter.
    ``timeout`` is per exchange, ``probe_timeout`` per detection probe, ``open_timeout`` for
    opening the link (a Bluetooth connection can take tens of seconds). After a garbled, late
    or missing answer the pause is spent listening until the line has been quiet for ``settle``
    seconds, so the rest of that answer cannot run into the next one.
    """

    def __init__(
        self,
        transport: Transport,
        protocol: Protocol | str | None = None,
        *,
        attempts: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        timeout: float = 2.0,
        probe_timeout: float = 1.0,
        open_timeout: float = 30.0,
        settle: float = 0.05,
        rng: random.Random | None = None,
    ) -> None:
        """Wrap ``transport``; nothing is opened or sent until the first command."""
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        if min(backoff, max_backoff, settle) < 0 or min(timeout, probe_timeout, open_timeout) <= 0:
            raise ValueError("backoff and settle must be ≥ 0, timeouts > 0")
        self.transport = transport
        self.protocol: Protocol | None = (
            get_protocol(protocol) if isinstance(protocol, str) else protocol
        )
        #: The outcome of the last :meth:`identify` (``None`` until one ran).
        self.detection: Detection | None = None
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.open_timeout = open_timeout
        self.settle = settle
        self._random = rng or random.Random()
        self._lock = _port_lock(transport)
        self._detecting = asyncio.Lock()
        self._writing = asyncio.Lock()
        # Replaced by close(): whatever started before waits on the old one and gives up.
        self._closing = asyncio.Event()
        # Consecutive timeouts; a link that stays silent is reopened (half-open TCP, USB reset).
        self._silent = 0
        # The last command that timed out: its answer may arrive in front of the next one's.
        self._unanswered: str | None = None
        # The shape of this unit's answers by command name, and a new shape seen once.
        self._shapes: dict[str, tuple[str, ...]] = {}
        self._doubted: dict[str, tuple[str, ...]] = {}
        # The last answer to each status command: what the next poll's requests may build on.
        self._status: dict[str, Result] = {}

    def __repr__(self) -> str:
        """Transport and protocol."""
        protocol = self.protocol.id if self.protocol else "auto"
        return f"<Device {self.transport.name} {protocol}>"

    @property
    def name(self) -> str:
        """The transport's address, for messages."""
        return self.transport.name

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the link now rather than on the first command (raises ``PortError`` early)."""
        async with self._lock:
            await self._open()

    async def close(self) -> None:
        """Close the link; commands in flight or waiting end with ``TransportError``.

        Never raises. The device can be used again afterwards: the next command reopens.
        """
        closing, self._closing = self._closing, asyncio.Event()
        closing.set()
        await self.transport.close()

    async def __aenter__(self) -> Self:
        """Open on entering ``async with``."""
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on leaving ``async with``."""
        await self.close()

    # -- commands -------------------------------------------------------------------------------

    async def command(self, command: str, *, timeout: float | None = None) -> Result:
        """Send ``command`` and return its decoded answer.

        Raises :class:`~mppsolar_lib.errors.UnknownCommandError` or
        :class:`~mppsolar_lib.errors.InvalidParameterError` before anything is sent,
        :class:`~mppsolar_lib.errors.NAKError` when the unit refuses, and after the retry budget
        the last transient error. A setter is sent once: if its answer is lost it may or may not
        have been applied, and the error says so (:meth:`write_setting` checks and recovers).
        """
        closing = self._closing
        protocol = await self._ready(closing)
        definition, _ = protocol.resolve(command)
        return await self._run(
            protocol,
            command,
            closing,
            timeout=timeout,
            resend=definition.kind is not Kind.SETTER,
        )

    async def get_status(self, *, skip: Collection[str] = ()) -> Batch:
        """Poll the protocol's status commands (``QPIGS``, ``Q1`` …) in one batch.

        Commands in ``skip`` are left out (a front-end drops those the unit refuses).

        What is sent for each is the protocol's choice
        (:meth:`~mppsolar_lib.protocols.base.Protocol.status_request`), made with this poll's
        answers so far and the last poll's: a Daly BMS is asked for exactly the cells its
        ``status`` answer counts, a VE.Direct unit is heard until its whole status has come.
        Answers are reported under the status command's name (``cellVoltages``).
        """
        protocol = await self._ready(self._closing)
        known = self._status
        batch = await self._batch(
            [c for c in protocol.status_commands if c not in skip],
            lambda command, batch: protocol.status_request(command, ChainMap(batch, known)),
        )
        known.update(batch)
        return batch

    async def get_settings(self, *, skip: Collection[str] = ()) -> Batch:
        """Read the protocol's settings commands (``QPIRI``, ``QFLAG`` …) but ``skip``'s."""
        protocol = await self._ready(self._closing)
        return await self._batch([c for c in protocol.settings_commands if c not in skip])

    async def _batch(
        self, commands: Iterable[str], request: Callable[[str, Batch], str] | None = None
    ) -> Batch:
        """Run ``commands`` in turn; one unit-specific failure does not end the batch.

        ``request(command, batch)`` says what to send for ``command`` (default: itself); the
        answer is recorded under ``command``. A NAK or an unreadable answer is recorded in
        :attr:`Batch.errors`. A lost link or silence before anything answered ends the batch
        (the device is gone; waiting for every other command would only multiply the delay);
        nothing succeeding at all raises.
        """
        batch = Batch()
        closing = self._closing
        answered = False
        for command in commands:
            sent = command if request is None else request(command, batch)
            try:
                batch[command] = await self.command(sent)
            except ProtocolError as err:
                if not isinstance(err, NAKError | FrameError):
                    raise  # an unknown command or parameter: a table bug, not the unit
                batch.errors[command] = err
            except TransportError as err:
                if closing.is_set() or not answered:
                    raise
                batch.errors[command] = err
            answered = True
        if batch.errors and not batch:
            failures = "; ".join(f"{c}: {e}" for c, e in batch.errors.items())
            last = list(batch.errors.values())[-1]
            raise type(last)(f"{self.name}: no command of the batch succeeded ({failures})")
        return batch

    # -- the exchange loop ----------------------------------------------------------------------

    async def _run(
        self,
        protocol: Protocol,
        command: str,
        closing: asyncio.Event,
        *,
        timeout: float | None = None,
        resend: bool = True,
        attempts: int | None = None,
    ) -> Result:
        """Exchange ``command`` until it decodes, a permanent error occurs or the budget is spent.

        With ``resend=False`` (setters) a failure after the request went out is not retried;
        failing to open the link (nothing was sent) is, either way.
        """
        budget = attempts or self.attempts
        # A device talking at its own pace cannot answer sooner than it does.
        wait = max(self.timeout if timeout is None else timeout, protocol.answer_time(command))
        request = protocol.build_request(command)
        tried: list[str] = []
        started = time.monotonic()
        last: MppSolarError | None = None
        async with self._lock:
            for attempt in range(1, budget + 1):
                if attempt > 1:
                    # Bytes may still be on their way unless the link itself failed.
                    busy = isinstance(last, FrameError | DeviceTimeoutError)
                    await self._pause(attempt - 1, closing, listen=busy)
                self._check(closing, command)
                sent = False
                try:
                    await self._open()
                    sent = True
                    result = await self._once(protocol, command, request, wait)
                except MppSolarError as err:
                    self._check(closing, command, err)
                    if not err.transient:
                        raise
                    await self._recover(err)
                    if sent and not resend:
                        raise type(err)(
                            f"{err}; {command} may or may not have been applied (a setter is "
                            "not sent twice blindly: read the setting before sending it again)"
                        ) from err
                    last = err
                    tried.append(_kind(err))
                    if _LOGGER.isEnabledFor(logging.DEBUG):
                        _LOGGER.debug(
                            "%s: %s attempt %d/%d failed: %s",
                            self.name,
                            command,
                            attempt,
                            budget,
                            err,
                        )
                    continue
                self._silent = 0
                return result
        assert last is not None  # the loop ran at least once and every pass failed
        raise type(last)(
            f"{command} on {self.name}: no valid answer after {budget} attempt"
            f"{'s' if budget > 1 else ''} in {time.monotonic() - started:.1f} s "
            f"({', '.join(tried)}); {_hint(last)}. Last error: {last}"
        ) from last

    async def _once(self, protocol: Protocol, command: str, request: bytes, wait: float) -> Result:
        """One exchange: write, read the answer, drop an echo, decode, check it answers us."""
        reader = _Reader(
            request,
            partial(protocol.answer_length, command),
            partial(_is_answer, protocol, command),
        )
        try:
            raw = await self._exchange(request, reader, wait, command)
        except DeviceTimeoutError as err:
            if reader.echoed:
                raise EchoError(
                    f"{self.name}: {command}: only our own request came back within {wait:g} s "
                    "(an echoing adapter or a loop-back, and no device answering)"
                ) from err
            # Its answer may still come, in front of a later command's.
            self._unanswered = command
            raise
        # A late answer comes first or not at all: it has this one exchange to show up.
        unanswered, self._unanswered = self._unanswered, None
        if unanswered is not None and unanswered != command and protocol.matches(unanswered, raw):
            # Even if it would pass for this command's answer too (QMOD's "B" for QPI's).
            raise StaleReplyError(
                f"{self.name}: {command}: the late answer to {unanswered} arrived instead"
            )
        result = protocol.decode(command, raw)
        if not protocol.matches(command, result):
            raise StaleReplyError(
                f"{self.name}: {command}: the answer {raw[:24]!r}… does not fit {command} "
                "(a late reply to an earlier command?)"
            )
        self._familiar(protocol, command, raw)
        return result

    def _familiar(self, protocol: Protocol, command: str, raw: bytes) -> None:
        """Check a text answer against the shape this unit gave the same command before.

        A unit answers a command with the same number of values every time, each a number or
        text, so an answer of another command is recognised even where the table's window
        (:func:`~mppsolar_lib.protocols.base.fits`) is wide. The first answer teaches the shape;
        a new shape seen twice in a row replaces it (a unit that changed mode), so a wrong
        lesson costs one retry, never the command.
        """
        definition, _ = protocol.resolve(command)
        if definition.kind is Kind.SETTER:
            return
        tokens = protocol.answer_tokens(definition, raw, command)
        if tokens is None:
            return
        shape = tuple(_token_kind(token) for token in tokens[1])
        known = self._shapes.setdefault(definition.name, shape)
        if _alike(known, shape):
            self._doubted.pop(definition.name, None)
            return
        if self._doubted.pop(definition.name, None) == shape:
            self._shapes[definition.name] = shape
            return
        self._doubted[definition.name] = shape
        raise StaleReplyError(
            f"{self.name}: {command}: the answer has {len(shape)} values, not the "
            f"{len(known)} this unit answered {definition.name} with before (a late reply to "
            "an earlier command?)"
        )

    async def _exchange(self, request: bytes, reader: _Reader, wait: float, label: str) -> bytes:
        """Run the transport's exchange with a safety deadline; strip an echo from the answer."""
        debug = _LOGGER.isEnabledFor(logging.DEBUG)
        if debug:
            _LOGGER.debug("%s > %s %s", self.name, label, request.hex(" "))
        try:
            # The transport enforces `wait`; this only catches a transport that does not.
            async with asyncio.timeout(wait * 2 + 1):
                raw = await self.transport.exchange(request, reader, wait)
        except TimeoutError as err:
            raise DeviceTimeoutError(
                f"{self.name}: {label}: the transport did not return within {wait * 2 + 1:g} s"
            ) from err
        except OSError as err:
            raise TransportError(f"{self.name}: {label}: {err}") from err
        if reader.echoed and raw.startswith(request):
            raw = raw[len(request) :]
        if debug:
            _LOGGER.debug("%s < %s %s", self.name, label, raw.hex(" "))
        return raw

    async def _open(self) -> None:
        """Open the transport unless it is open; every failure becomes a typed error."""
        if self.transport.is_open:
            return
        try:
            async with asyncio.timeout(self.open_timeout):
                await self.transport.open()
        except TimeoutError as err:
            raise TransportError(
                f"{self.name}: could not open the link within {self.open_timeout:g} s"
            ) from err
        except OSError as err:
            raise TransportError(f"{self.name}: cannot open: {err}") from err

    async def _recover(self, err: MppSolarError) -> None:
        """Reopen the link before the next attempt after it dropped or stayed silent twice."""
        if isinstance(err, DeviceTimeoutError):
            self._silent += 1
            if self._silent < 2:
                return
        elif not isinstance(err, TransportError):
            return
        self._silent = 0
        await self.transport.close()

    async def _pause(self, retry: int, closing: asyncio.Event, *, listen: bool = False) -> None:
        """Wait out the backoff before retry number ``retry`` (ends early on close()).

        With ``listen`` the pause is spent listening, and lasts until the line has been quiet
        for :attr:`settle` seconds: the rest of a garbled or late answer must not run into the
        next one.
        """
        delay = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        delay *= 0.5 + self._random.random() / 2
        if listen and self.transport.is_open:
            await self._settle(max(delay, self.settle))
        elif delay > 0:
            # Waiting on the close event rather than sleeping lets close() end the wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), delay)

    async def _settle(self, quiet: float) -> None:
        """Drop what arrives until nothing has for ``quiet`` s (at most :attr:`timeout` s)."""
        give_up = time.monotonic() + self.timeout
        while True:
            reader = _Reader(b"", _never)
            try:
                await self._exchange(b"", reader, quiet, "(settling)")
            except DeviceTimeoutError:
                pass  # the normal end: the whole window passed
            except TransportError:
                return  # the link dropped (or was closed); the next attempt reopens
            if not reader.seen or time.monotonic() >= give_up:
                return

    def _check(self, closing: asyncio.Event, what: str, err: Exception | None = None) -> None:
        """Raise if close() was called since ``closing`` was current."""
        if closing.is_set():
            raise TransportError(f"{self.name}: closed while {what} was pending") from err

    # -- detection ------------------------------------------------------------------------------

    async def identify(self, closing: asyncio.Event | None = None) -> Detection:
        """Probe the device to find its protocol; set :attr:`protocol` if found.

        Sends the :class:`~mppsolar_lib.protocols.detect.Detector`'s probes (queries only,
        never a setter) with :attr:`probe_timeout` each; silence is an answer here. Returns the
        :class:`~mppsolar_lib.protocols.detect.Detection` (``protocol`` ``None`` when nothing
        could be identified; its ``evidence`` says what each probe saw).
        """
        closing = closing or self._closing
        detector = Detector()
        async with self._lock:
            while (probe := detector.probe) is not None:
                self._check(closing, probe.label)
                detector.feed(await self._probe(probe))
        detection = detector.result
        assert detection is not None  # the loop ends when the detector has a result
        self.detection = detection
        if detection.protocol is not None:
            self.protocol = get_protocol(detection.protocol)
            self._shapes.clear()
            self._status.clear()
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug(
                "%s: detected %s (confidence %.2f): %s",
                self.name,
                detection.protocol,
                detection.confidence,
                "; ".join(detection.evidence),
            )
        return detection

    async def _probe(self, probe: Probe) -> bytes | None:
        """Send one probe; return its answer, what arrived before the timeout, or ``None``.

        A probe of a known framing (:attr:`Probe.framed`) is read with its protocol's own
        answer length, for at least the time the device needs at its own pace.
        """
        await self._open()
        wait = self.probe_timeout
        complete: Completion = _probe_length
        if probe.framed:
            protocol = get_protocol(probe.protocol)
            complete = partial(protocol.answer_length, probe.command)
            wait = max(wait, protocol.answer_time(probe.command))
        reader = _Reader(probe.request, complete)
        try:
            return await self._exchange(probe.request, reader, wait, probe.label)
        except DeviceTimeoutError:
            return reader.seen or None
        except TransportError:
            await self.transport.close()
            raise

    async def _ready(self, closing: asyncio.Event) -> Protocol:
        """Return the protocol, detecting it first if none was given."""
        protocol = self.protocol
        if protocol is not None:
            return protocol
        async with self._detecting:
            if self.protocol is None:
                detection = await self.identify(closing)
                if self.protocol is None:
                    raise self._undetected(detection)
            return self.protocol

    def _undetected(self, detection: Detection) -> MppSolarError:
        """Say why detection failed: nothing answered, or nothing we know answered."""
        tried = "; ".join(detection.evidence)
        if all(item.endswith(": silence") for item in detection.evidence):
            return DeviceTimeoutError(
                f"{self.name}: nothing answered any detection probe ({tried}); check power, "
                "cabling, the port and the baud rate"
            )
        return UnknownProtocolError(
            f"{self.name}: the answers do not identify a known protocol ({tried}); "
            "name the protocol (protocol=…, CLI: -P)"
        )

    # -- settings -------------------------------------------------------------------------------

    async def read_setting(self, key: str) -> Value:
        """Return the current value of setting ``key`` (a label, a bool or a number)."""
        protocol = await self._ready(self._closing)
        setting = self._setting(protocol, key)
        return setting.current(await self.command(setting.read_command))

    async def prepare_setting(self, key: str, value: object) -> SettingChange:
        """Validate and encode a write of ``value`` to setting ``key``; send nothing that changes.

        Reads the setting's current answer (for the value before, and for commands that write
        several values at once), and the values the unit allows where it lists them (QMCHGCR).
        Raises :class:`~mppsolar_lib.errors.InvalidParameterError` naming what is allowed.
        """
        protocol = await self._ready(self._closing)
        setting = self._setting(protocol, key)
        if not setting.needs_current:
            setting.encode(value)  # refuse a bad value before talking to the device
        reading = await self.command(setting.read_command)
        allowed = await self._allowed(protocol, setting, self._closing)
        command = setting.encode(
            value, allowed=allowed, current=reading if setting.needs_current else None
        )
        protocol.resolve(command)  # the command table's own check of what will be sent
        return SettingChange(
            setting, command, expected_value(setting, value), setting.current(reading)
        )

    async def apply_setting(self, change: SettingChange, *, confirm: bool = False) -> Value:
        """Write a prepared change, require the ACK, read it back; return the value read.

        A safety setting needs ``confirm=True`` (else :class:`ConfirmationRequiredError`,
        nothing sent). Nothing is sent when the device already reports the value. After an
        ambiguous failure (timeout, garbled answer) the setting is read back and re-sent only
        if it did not take effect. Raises :class:`~mppsolar_lib.errors.NAKError` when the unit
        refuses and :class:`SettingNotAppliedError` when it acknowledges but reports another
        value.
        """
        async with self._writing:
            return await self._apply(change, confirm=confirm)

    async def write_setting(self, key: str, value: object, *, confirm: bool = False) -> Value:
        """Validate, write and read back setting ``key`` (:meth:`prepare_setting` + apply).

        Writes are serialised with each other, so two writes of settings sharing one command
        (PI18 ``MCHGV`` sets bulk and float together) never undo each other.
        """
        async with self._writing:
            change = await self.prepare_setting(key, value)
            return await self._apply(change, confirm=confirm)

    async def _apply(self, change: SettingChange, *, confirm: bool) -> Value:
        setting = change.setting
        if change.unchanged:
            _LOGGER.debug("%s: %s already set; nothing sent", self.name, setting.name)
            return change.before
        if setting.safety and not confirm:
            raise ConfirmationRequiredError(
                f"{change.describe()}: {setting.name} is a safety setting (it can harm the "
                "battery or cut power); confirm it (confirm=True, CLI: --yes)",
                change,
            )
        closing = self._closing
        protocol = await self._ready(closing)
        last: MppSolarError | None = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                await self._pause(attempt - 1, closing)
            try:
                await self._run(protocol, change.command, closing, resend=False)
            except NAKError as err:
                raise NAKError(
                    f"{self.name}: the device refused {change.describe()} (NAK); it may not "
                    "accept it in its current mode or with its other settings"
                ) from err
            except MppSolarError as err:
                if not err.transient or closing.is_set():
                    raise
                last = err
                # The answer was lost or garbled: the unit may have applied it. Look first.
                try:
                    now = await self._read_back(setting)
                except MppSolarError as read_err:
                    raise type(read_err)(
                        f"{change.describe()}: {err}; reading it back failed too, so whether "
                        f"it was applied is unknown: {read_err}"
                    ) from read_err
                if same_value(setting, now, change.value):
                    return now
                continue
            return await self._verify(change)
        assert last is not None  # the loop ran at least once and every pass failed
        raise type(last)(
            f"{change.describe()} did not take effect after {self.attempts} attempts; "
            f"last error: {last}"
        ) from last

    async def _verify(self, change: SettingChange) -> Value:
        """After the ACK, read the setting back (twice, a backoff apart, if it lags)."""
        setting = change.setting
        result = await self.command(setting.read_command)
        now = setting.current(result)
        if not same_value(setting, now, change.value):
            await self._pause(1, self._closing)
            result = await self.command(setting.read_command)
            now = setting.current(result)
        if not same_value(setting, now, change.value):
            raise SettingNotAppliedError(
                f"{self.name}: the device acknowledged {change.describe()} but reports "
                f"{_show(now)}; it may not accept it in its current mode or with its other "
                "settings",
                setting=setting.key,
                requested=change.value,
                reported=now,
                result=result,
            )
        return now

    async def _read_back(self, setting: Setting) -> Value:
        return setting.current(await self.command(setting.read_command))

    async def _allowed(
        self, protocol: Protocol, setting: Setting, closing: asyncio.Event
    ) -> tuple[float, ...] | None:
        """Return the values the unit says it accepts, or ``None`` (use the declared range)."""
        if setting.options_command is None or setting.kind is not SettingKind.NUMBER:
            return None
        try:
            result = await self._run(protocol, setting.options_command, closing, attempts=1)
        except (NAKError, FrameError, DeviceTimeoutError) as err:
            # Older firmware lacks QMCHGCR & co.; the declared range still applies.
            _LOGGER.debug("%s: %s unavailable (%s)", self.name, setting.options_command, err)
            return None
        return setting.allowed_values(result)

    def _setting(self, protocol: Protocol, key: str) -> Setting:
        """Return the setting ``key``; the error lists close matches and what exists."""
        settings: Mapping[str, Setting] = protocol.settings
        setting = settings.get(key)
        if setting is not None:
            return setting
        if not settings:
            raise InvalidParameterError(f"{protocol.id} has no settings that can be written")
        hint = did_you_mean(key, settings)
        hint = f"{hint} " if hint else ""
        raise InvalidParameterError(
            f"{protocol.id} has no setting {key!r}; {hint}settings: {', '.join(sorted(settings))}"
        )


def _kind(err: MppSolarError) -> str:
    """Name an error for the list of what was tried (``timeout``, ``CRC error`` …)."""
    names = {
        EchoError: "echo only",
        StaleReplyError: "reply to another command",
        DeviceTimeoutError: "timeout",
        CRCError: "CRC error",
        TransportError: "link lost",
    }
    for cls, name in names.items():
        if isinstance(err, cls):
            return name
    return "unreadable answer"


def _hint(err: MppSolarError) -> str:
    return next((hint for cls, hint in _HINTS if isinstance(err, cls)), "check the device")
