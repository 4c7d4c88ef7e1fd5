"""The MQTT command channel: run allowlisted commands and settings on a device, answer on MQTT.

A device whose section sets ``mqtt_allowed_cmds`` (regular expressions, each matched against the
whole command text) gets a subscription to ``mppsolar/<device>/command`` on the bridge's broker.
A message there is a raw command (``POP02``, ``QPIGS``) or a JSON object::

    {"command": "POP02", "id": "abc"}
    {"setting": "output_source_priority", "value": "SBU first", "confirm": false, "id": "abc"}

Every message gets one JSON answer on ``mppsolar/<device>/command/response`` (QoS 1, never
retained)::

    {"id": "abc", "device": "inv", "command": "POP02", "setting": null, "ok": true,
     "result": {"ack": true}, "units": {}, "previous": null, "error": null, "refused": null,
     "time": 1700000000.0}

``refused`` says why nothing was sent: ``too_large``, ``rate_limited``, ``malformed``, ``busy``,
``not_allowed``, ``unknown_command``, ``invalid`` or ``confirmation_required``. ``ok`` false with
``refused`` null means the device was asked and failed (NAK, no answer, a setting it did not
apply).

The order of checks is what makes the channel safe: nothing that changes the device is sent
unless the exact command text the protocol would send (its canonical form, ``pop02`` →
``POP02``) fully matches an allowlist pattern *and* the protocol (commands) or the settings
model (settings) accepted it. A setting is checked against the allowlist by the setter command
the settings model encodes (``output_source_priority = SBU first`` → ``POP02``); writing one
reads the setting first and after (its read command, ``QPIRI``), as the settings model always
does. A raw setter that writes a safety setting (battery voltages, charging currents) needs
``"confirm": true`` like the setting itself, so only the JSON form can send it. Retained
messages on the command topic are ignored: a stale retained command would otherwise run again
on every reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Final

from mppsolar_lib.errors import (
    ConfirmationRequiredError,
    InvalidParameterError,
    MppSolarError,
    SettingNotAppliedError,
    UnknownCommandError,
)
from mppsolar_lib.outputs.base import OutputUnavailableError
from mppsolar_lib.outputs.mqtt import topic_part
from mppsolar_lib.outputs.mqtt_pool import shared_connection
from mppsolar_lib.protocols import Kind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mppsolar_lib.bridge.daemon import DeviceRunner
    from mppsolar_lib.outputs.base import OutputContext
    from mppsolar_lib.outputs.mqtt_pool import MqttConnection
    from mppsolar_lib.protocols import Protocol, Result, Setting

_LOGGER = logging.getLogger(__name__)

#: Bytes a command message may have; longer ones are refused unread.
MAX_PAYLOAD: Final = 1024
#: Commands waiting for the device; more are refused as ``busy``.
QUEUE_LIMIT: Final = 8
#: Messages accepted at once, and refilled per second (a token bucket): a flood of commands
#: must not crowd the device's polling out.
BURST: Final = 10
RATE: Final = 0.5

NOT_ALLOWED: Final = "not_allowed"
INVALID: Final = "invalid"
UNKNOWN_COMMAND: Final = "unknown_command"
CONFIRMATION_REQUIRED: Final = "confirmation_required"
MALFORMED: Final = "malformed"
TOO_LARGE: Final = "too_large"
RATE_LIMITED: Final = "rate_limited"
BUSY: Final = "busy"

_JSON_KEYS: Final = frozenset(("id", "command", "setting", "value", "confirm"))


def command_topic(device: str) -> str:
    """Return the topic ``device`` takes commands on."""
    return f"mppsolar/{topic_part(device)}/command"


def response_topic(device: str) -> str:
    """Return the topic ``device``'s command answers are published on."""
    return f"{command_topic(device)}/response"


class Refused(Exception):
    """A command that is not sent; ``reason`` is the response's ``refused``."""

    def __init__(self, reason: str, message: str) -> None:
        """Refuse for ``reason`` (a word), explained by ``message``."""
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class Request:
    """One message of the command topic, parsed."""

    id: str | int | None = None
    command: str | None = None
    setting: str | None = None
    value: object = None
    confirm: bool = False


def parse(payload: bytes) -> Request:
    """Read a command message: raw command text or a JSON object; raise :class:`Refused`."""
    if len(payload) > MAX_PAYLOAD:
        raise Refused(TOO_LARGE, f"message of {len(payload)} bytes; at most {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Refused(MALFORMED, "message is not UTF-8 text") from None
    if not text.startswith(("{", "[")):
        return Request(command=_command_text(text))
    try:
        data = json.loads(text)
    except ValueError as err:
        raise Refused(MALFORMED, f"invalid JSON: {err}") from None
    if not isinstance(data, dict):
        raise Refused(MALFORMED, "expected a JSON object")
    unknown = sorted(set(data) - _JSON_KEYS)
    if unknown:
        raise Refused(MALFORMED, f"unknown keys {unknown}; known: {sorted(_JSON_KEYS)}")
    ident = data.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int)):
        raise Refused(MALFORMED, "id must be a string or a number")
    request = Request(id=ident, confirm=data.get("confirm", False))
    if not isinstance(request.confirm, bool):
        raise Refused(MALFORMED, "confirm must be true or false")
    command, setting = data.get("command"), data.get("setting")
    if (command is None) == (setting is None):
        raise Refused(MALFORMED, "give either command or setting (with value)")
    if command is not None:
        if not isinstance(command, str) or "value" in data:
            raise Refused(MALFORMED, "command must be text, without value")
        request.command = _command_text(command)
        return request
    if not isinstance(setting, str) or "value" not in data:
        raise Refused(MALFORMED, "setting must be a setting's key, with a value")
    request.setting = setting
    request.value = data["value"]
    return request


def _command_text(text: str) -> str:
    """Check a raw command is one printable ASCII line (no CR sneaking a second command in)."""
    text = text.strip()
    if not text:
        raise Refused(MALFORMED, "empty command")
    if not all(" " <= char <= "~" for char in text):
        raise Refused(MALFORMED, "a command is printable ASCII on one line")
    return text


class Allowlist:
    """Regular expressions; a command is allowed when one matches all of its text."""

    def __init__(self, patterns: Iterable[str]) -> None:
        """Compile ``patterns`` (the config reader already checked they compile)."""
        self.patterns = tuple(re.compile(pattern) for pattern in patterns)

    def __bool__(self) -> bool:
        """Whether anything can be allowed at all."""
        return bool(self.patterns)

    def allows(self, command: str) -> bool:
        """Whether some pattern matches the whole of ``command``."""
        return any(pattern.fullmatch(command) for pattern in self.patterns)


def safety_setting(protocol: Protocol, command: str) -> Setting | None:
    """Return the safety setting a raw setter ``command`` writes, if it writes one."""
    definition, _ = protocol.resolve(command)
    for setting in protocol.settings.values():
        if not setting.safety:
            continue
        for template in (setting.write, setting.write_large, setting.on, setting.off):
            prefix = template.split("{", 1)[0]
            if prefix and prefix.startswith(definition.name) and command.startswith(prefix):
                return setting
    return None


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


class CommandCore:
    """Check and run one device's commands and settings, whatever carried them (MQTT, web).

    Everything that makes a command safe to run lives here (the allowlist, validation by the
    protocol and the settings model, confirmation of safety settings); the transports only
    parse requests and deliver the answers.
    """

    def __init__(self, runner: DeviceRunner, *, source: str = "MQTT") -> None:
        """Serve ``runner``'s device; ``source`` names the transport in logs."""
        self.runner = runner
        self.source = source
        self.allowlist = Allowlist(runner.config.mqtt_allowed_cmds)

    @property
    def name(self) -> str:
        """The device's name."""
        return self.runner.name

    async def handle(self, request: Request) -> dict[str, Any]:
        """Check and run one request; return its answer (never raises)."""
        try:
            protocol = await self.runner.protocol()
            if request.setting is not None:
                return await self._write_setting(request, protocol)
            return await self._run_command(request, protocol)
        except Refused as refused:
            return self.refusal(request, refused.reason, str(refused))
        except MppSolarError as err:
            _LOGGER.warning("%s: command %s failed: %s", self.name, self._what(request), err)
            return self._answer(request, error=str(err))
        except Exception as err:
            _LOGGER.exception("%s: command %s failed", self.name, self._what(request))
            return self._answer(request, error=f"internal error: {err!r}")

    async def _run_command(self, request: Request, protocol: Protocol) -> dict[str, Any]:
        command = request.command
        assert command is not None
        try:
            definition, _ = protocol.resolve(command)
        except (UnknownCommandError, InvalidParameterError) as err:
            if not self.allowlist.allows(command):
                raise Refused(NOT_ALLOWED, f"{command} is not in mqtt_allowed_cmds") from None
            reason = UNKNOWN_COMMAND if isinstance(err, UnknownCommandError) else INVALID
            raise Refused(reason, str(err)) from None
        text = protocol.command_text(command)
        request.command = text
        if not self.allowlist.allows(text):
            raise Refused(NOT_ALLOWED, f"{text} is not in mqtt_allowed_cmds")
        setter = definition.kind is Kind.SETTER
        if setter and not request.confirm and (setting := safety_setting(protocol, text)):
            raise Refused(
                CONFIRMATION_REQUIRED,
                f"{text} writes {setting.name}, a safety setting (it can harm the battery or "
                'cut power): send {"command": "%s", "confirm": true}' % text,
            )
        _LOGGER.info("%s: running %s from %s", self.name, text, self.source)
        result = await self.runner.device.command(text)
        if setter:
            self.runner.refresh()
        return self._answer(request, result=result)

    async def _write_setting(self, request: Request, protocol: Protocol) -> dict[str, Any]:
        key = request.setting
        assert key is not None
        setting = protocol.settings.get(key)
        if setting is None:
            known = ", ".join(sorted(protocol.settings)) or "none"
            raise Refused(INVALID, f"{protocol.id} has no setting {key!r}; settings: {known}")
        try:
            if not setting.needs_current:
                # The command text is known without the device: refuse before reading it.
                self._check_setter(request, protocol.command_text(setting.encode(request.value)))
            change = await self.runner.device.prepare_setting(key, request.value)
        except InvalidParameterError as err:
            raise Refused(INVALID, str(err)) from None
        self._check_setter(request, change.command)
        _LOGGER.info("%s: writing %s from %s", self.name, change.describe(), self.source)
        try:
            value = await self.runner.device.apply_setting(change, confirm=request.confirm)
        except ConfirmationRequiredError as err:
            raise Refused(CONFIRMATION_REQUIRED, str(err)) from None
        except SettingNotAppliedError as err:
            self.runner.refresh()
            _LOGGER.warning("%s: %s", self.name, err)
            return self._answer(
                request, error=str(err), values={key: err.reported}, previous=change.before
            )
        self.runner.refresh()
        return self._answer(request, values={key: value}, previous=change.before)

    def _check_setter(self, request: Request, command: str) -> None:
        request.command = command
        if not self.allowlist.allows(command):
            raise Refused(
                NOT_ALLOWED,
                f"{request.setting} is written with {command}: not in mqtt_allowed_cmds",
            )

    # -- answers ---------------------------------------------------------------------------

    @staticmethod
    def _what(request: Request) -> str:
        if request.command is not None:
            return request.command
        return f"setting {request.setting}" if request.setting is not None else "message"

    def _answer(
        self,
        request: Request,
        *,
        result: Result | None = None,
        values: dict[str, object] | None = None,
        error: str | None = None,
        refused: str | None = None,
        previous: object = None,
    ) -> dict[str, Any]:
        units: dict[str, str] = {}
        if result is not None:
            values = {key: field.value for key, field in result.fields.items()}
            units = {key: field.unit for key, field in result.fields.items() if field.unit}
        return {
            "id": request.id,
            "device": self.name,
            "command": request.command,
            "setting": request.setting,
            "ok": error is None,
            "result": (
                {key: _jsonable(value) for key, value in values.items()}
                if values is not None
                else None
            ),
            "units": units,
            "previous": _jsonable(previous),
            "error": error,
            "refused": refused,
            "time": time.time(),
        }

    def refusal(self, request: Request, reason: str, message: str) -> dict[str, Any]:
        """Return the answer refusing ``request`` for ``reason`` (nothing was sent)."""
        _LOGGER.info("%s: refused command %s: %s", self.name, self._what(request), message)
        return self._answer(request, error=message, refused=reason)


class CommandChannel(CommandCore):
    """One device's command topic: checks, runs one command at a time, answers."""

    def __init__(
        self,
        runner: DeviceRunner,
        context: OutputContext,
        *,
        queue_limit: int = QUEUE_LIMIT,
        burst: int = BURST,
        rate: float = RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Serve ``runner``'s device on the broker of ``context``."""
        super().__init__(runner, source="MQTT")
        self.context = context
        self.topic = command_topic(runner.name)
        self.response_topic = response_topic(runner.name)
        self.burst = burst
        self.rate = rate
        self.clock = clock
        self._tokens = float(burst)
        self._filled = clock()
        self._queue: asyncio.Queue[Request] = asyncio.Queue(queue_limit)
        self._connection: MqttConnection | None = None
        self._worker: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Subscribe to the command topic (nothing when the allowlist is empty)."""
        if not self.allowlist or self._worker is not None:
            return
        self._connection = await shared_connection(self.context)
        self._worker = asyncio.create_task(self._work(), name=f"{self.name} commands")
        await self._connection.subscribe(self.topic, self._received, retained=False)
        _LOGGER.info("%s: taking commands on %s", self.name, self.topic)

    async def aclose(self) -> None:
        """Unsubscribe; drop commands not yet run; wait for answers being published."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        assert self._connection is not None
        await self._connection.unsubscribe(self.topic, self._received)
        if self._replies:
            await asyncio.wait(set(self._replies))
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    def _received(self, topic: str, payload: bytes) -> None:
        self.submit(payload)

    def submit(self, payload: bytes) -> None:
        """Take one command message: queue it, or answer at once why it is refused."""
        if not self._take_token():
            self._reply_soon(self.refusal(Request(), RATE_LIMITED, "too many commands; wait"))
            return
        try:
            request = parse(payload)
        except Refused as refused:
            self._reply_soon(self.refusal(Request(), refused.reason, str(refused)))
            return
        try:
            self._queue.put_nowait(request)
        except asyncio.QueueFull:
            self._reply_soon(
                self.refusal(request, BUSY, f"{self._queue.maxsize} commands are waiting")
            )

    def _take_token(self) -> bool:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._filled) * self.rate)
        self._filled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    # -- running ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            request = await self._queue.get()
            await self._reply(await self.handle(request))

    def _reply_soon(self, answer: dict[str, Any]) -> None:
        task = asyncio.create_task(self._reply(answer))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _reply(self, answer: dict[str, Any]) -> None:
        assert self._connection is not None
        try:
            await self._connection.publish(self.response_topic, json.dumps(answer, default=str))
        except OutputUnavailableError as err:
            # Whoever asked is cut off from the broker too; the command itself is done.
            _LOGGER.warning("%s: command answer not published: %s", self.name, err)
