"""The web UI's server: JSON API, Server-Sent Events and the pages, on the bridge's event loop.

:func:`create_app` builds the aiohttp application for a started :class:`Bridge`;
:class:`WebServer` runs it on an address (the daemon's ``--web``). The routes are in
``docs/web.md``. Nothing here polls a device on its own: values come from the bridge's
reading listeners, and the only requests that reach a device are ``POST /api/refresh`` (poll
now) and ``POST /api/command`` (through the same checks as the MQTT command topic).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
import json
import logging
import math
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from mppsolar_lib.bridge.commands import (
    BUSY,
    CONFIRMATION_REQUIRED,
    NOT_ALLOWED,
    CommandCore,
    Refused,
    Request,
    parse,
)
from mppsolar_lib.bridge.config import is_loopback
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.protocols.settings import SettingKind
from mppsolar_lib.web import history, security, sse

if TYPE_CHECKING:
    from mppsolar_lib.bridge.daemon import Bridge, DeviceRunner
    from mppsolar_lib.outputs.base import Report
    from mppsolar_lib.protocols import Protocol, Setting

_LOGGER = logging.getLogger(__name__)

STATIC: Final = Path(__file__).parent / "static"
#: Page routes -> file in ``static/``.
PAGES: Final = {
    "/": "index.html",
    "/lcars": "lcars.html",
    "/charts": "charts.html",
    "/charts/lcars": "charts-lcars.html",
}
#: Seconds of history ``/api/historical`` gives without ``from``.
DEFAULT_SPAN: Final = 86_400.0
#: Seconds a history ``step`` is at least.
MIN_STEP: Final = 0.001
#: Database rows a history answer takes unthinned per device. More (a day at 1 Hz is 86 400 per
#: command) would be hundreds of MB and seconds of the event loop: the answer is then thinned
#: to :data:`MAX_BUCKETS` steps over its span, and says so (``step``).
MAX_ROWS: Final = 10_000
MAX_BUCKETS: Final = 2000
#: Bytes a request body may have.
MAX_BODY: Final = 16 * 1024
#: Candidate values of a number setting checked against the allowlist, at most.
MAX_CANDIDATES: Final = 2000

#: Status of a command answer by its ``refused`` reason (``None``: sent; see :func:`_status`).
REFUSED_STATUS: Final = {NOT_ALLOWED: 403, CONFIRMATION_REQUIRED: 409, BUSY: 429}


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Where and how the web UI is served."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: ``None``: the stored token, or a new one (see :func:`security.resolve_token`).
    token: str | None = None
    #: Serve addresses other than loopback (and any ``Host``).
    allow_remote: bool = False
    #: Polls per device kept in memory for the charts.
    history_size: int = history.HISTORY_SIZE
    heartbeat: float = sse.HEARTBEAT
    queue_size: int = sse.QUEUE_SIZE
    replay: int = sse.REPLAY
    #: Where a generated token is kept (``None``: the bridge's spool directory).
    state_dir: Path | None = None
    static_dir: Path = STATIC


def family(protocol_id: str | None) -> str | None:
    """Return what kind of device a protocol talks to: ``inverter``, ``bms`` or ``charger``."""
    if protocol_id is None:
        return None
    if protocol_id.startswith("pi"):
        return "inverter"
    if protocol_id.startswith(("jk", "daly")):
        return "bms"
    return "charger" if protocol_id == "ved" else None


def plain(value: object) -> object:
    """Return a value JSON can carry (lists for tuples, ``None`` for NaN and infinities)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


def _kind(protocol: Protocol | None, command: str, key: str, value: object) -> str:
    if protocol is not None:
        try:
            info = protocol.resolve(command)[0].info.get(key)
        except MppSolarError:
            info = None
        if info is not None:
            return str(info.kind)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | tuple):
        return "number"
    return "text"


def report_values(protocol: Protocol | None, reports: Sequence[Report]) -> dict[str, Any]:
    """Return ``{key: {name, value, unit, kind, command, time}}`` of ``reports``."""
    values: dict[str, Any] = {}
    for report in reports:
        for row in report.rows:
            values[row.key] = {
                "name": row.name,
                "value": plain(row.value),
                "unit": row.unit,
                "kind": _kind(protocol, report.command, row.key, row.value),
                "command": report.command,
                "time": report.time,
            }
    return values


class State:
    """What the handlers share: the bridge, the history sources, the command cores."""

    def __init__(self, bridge: Bridge, settings: WebSettings, token: str) -> None:
        """Serve ``bridge``."""
        self.bridge = bridge
        self.settings = settings
        self.token = token
        self.memory = history.Memory(settings.history_size)
        self.prom = history.PromFiles()
        self.postgres = history.Postgres()
        self.hub = sse.Hub(
            queue_size=settings.queue_size, replay=settings.replay, heartbeat=settings.heartbeat
        )
        self.cores: dict[str, tuple[CommandCore, asyncio.Lock]] = {}

    def runner(self, name: object) -> DeviceRunner:
        """Return the named device's runner; 404 when there is none."""
        runner = self.bridge.runners.get(name) if isinstance(name, str) else None
        if runner is None:
            known = ", ".join(sorted(self.bridge.runners)) or "none"
            raise web.HTTPNotFound(text=f"no device {name!r}; devices: {known}")
        return runner

    # -- listeners --------------------------------------------------------------------------

    def attach(self) -> None:
        """Listen to every device (the app is starting)."""
        for runner in self.bridge.runners.values():
            # What was polled before the app started is the charts' first point.
            self.memory.add(
                runner.name, history.renamed(runner.device.protocol, list(runner.latest.values()))
            )
            runner.listeners.append(self.reading)
            runner.availability_listeners.append(self.availability)

    def detach(self) -> None:
        """Stop listening (the app is stopping)."""
        for runner in self.bridge.runners.values():
            if self.reading in runner.listeners:
                runner.listeners.remove(self.reading)
            if self.availability in runner.availability_listeners:
                runner.availability_listeners.remove(self.availability)

    def reading(self, device: str, reports: Sequence[Report]) -> None:
        """Keep a poll and push it to the pages (a reading listener: never blocks)."""
        runner = self.bridge.runners[device]
        reports = history.renamed(runner.device.protocol, reports)
        self.memory.add(device, reports)
        times = [report.time for report in reports if report.time is not None]
        self.hub.publish(
            "reading",
            {
                "device": device,
                "time": max(times) if times else time.time(),
                "values": report_values(runner.device.protocol, reports),
            },
        )

    def availability(self, device: str, online: bool) -> None:
        """Push an availability change to the pages."""
        self.hub.publish("availability", {"device": device, "online": online})

    # -- views ------------------------------------------------------------------------------

    def device_data(self, runner: DeviceRunner) -> dict[str, Any]:
        """Return one device's entry of ``/api/data``."""
        protocol = runner.device.protocol
        protocol_id = protocol.id if protocol is not None else runner.config.protocol
        # A settings answer's key that a status answer has too is shown as "<key>_setting";
        # among the rest the fast (live) commands come last, so their value wins.
        fast = {command.upper() for command in runner.config.commands}
        reports = history.renamed(
            protocol,
            sorted(runner.latest.values(), key=lambda report: report.command.upper() in fast),
        )
        times = [report.time for report in reports if report.time is not None]
        return {
            "online": runner.online,
            "protocol": protocol_id,
            "family": family(protocol_id),
            "updated": max(times) if times else None,
            "values": report_values(protocol, reports),
        }

    async def points(
        self,
        runner: DeviceRunner,
        start: float,
        end: float,
        errors: dict[str, str],
        step: float | None = None,
    ) -> tuple[list[history.Point], list[str], float | None]:
        """Return a device's points from every source, merged, the sources read and the step.

        With ``step``: one point per command in every ``step`` seconds (the first). Without
        one, a span holding more than :data:`MAX_ROWS` database rows is thinned all the same.
        """
        config = runner.config
        sources = [history.MEMORY]
        exact = self.memory.points(runner.name, start, end)
        prom: list[history.Point] = []
        if "prom_file" in config.outputs:
            sources.append(history.PROM_FILE)
            prom = await asyncio.to_thread(
                self.prom.points, config, start, end, dict(self.memory.series)
            )
        if config.postgres_url:
            try:
                url = config.postgres_url
                limit = MAX_ROWS + 1 if step is None else history.ROW_LIMIT
                rows = await self.postgres.points(url, runner.name, start, end, step, limit)
                if step is None and len(rows) > MAX_ROWS:
                    step = max((end - start) / MAX_BUCKETS, MIN_STEP)
                    rows = await self.postgres.points(url, runner.name, start, end, step)
                exact += rows
                sources.append(history.POSTGRES)
            except Exception as err:  # noqa: BLE001 - the other sources still answer
                errors[history.POSTGRES] = str(err) or type(err).__name__
                _LOGGER.warning("%s: history from PostgreSQL failed: %s", runner.name, err)
        merged = history.downsample(history.merge(exact, prom), step)
        # Prom files and database rows carry the device's own keys: name them as live ones are.
        return history.renamed_points(runner.device.protocol, merged), sources, step

    def core(self, runner: DeviceRunner) -> tuple[CommandCore, asyncio.Lock]:
        """Return the device's command core and the lock that runs its commands one by one."""
        entry = self.cores.get(runner.name)
        if entry is None:
            entry = self.cores[runner.name] = (
                CommandCore(runner, source="the web UI"),
                asyncio.Lock(),
            )
        return entry


HUB: Final = web.AppKey("hub", sse.Hub)
STATE: Final = web.AppKey("state", State)


#: Where a host serving these handlers in its own application (Home Assistant's views) puts the
#: :class:`State` of the request.
REQUEST_STATE: Final = "mppsolar.web.state"


def _state(request: web.Request) -> State:
    state: State | None = request.get(REQUEST_STATE)
    return state if state is not None else request.app[STATE]


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda value: json.dumps(value, allow_nan=False, default=str)
    )


def _epoch(request: web.Request, name: str, default: float) -> float:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise web.HTTPBadRequest(text=f"{name} must be seconds since the epoch, got {text!r}")
    return value


def _span(request: web.Request) -> tuple[float, float]:
    end = _epoch(request, "to", time.time())
    start = _epoch(request, "from", end - DEFAULT_SPAN)
    if start > end:
        raise web.HTTPBadRequest(text=f"from ({start:g}) is after to ({end:g})")
    return start, end


def _step(request: web.Request) -> float | None:
    """Return ``step`` (seconds, at least :data:`MIN_STEP`), or ``None`` when not given."""
    text = request.query.get("step")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    # Not NaN, and not so small that time / step overflows.
    if not MIN_STEP <= value < math.inf:
        raise web.HTTPBadRequest(
            text=f"step must be a number of seconds of at least {MIN_STEP:g}, got {text!r}"
        )
    return value


def _keys(request: web.Request) -> frozenset[str] | None:
    text = request.query.get("keys")
    if not text:
        return None
    return frozenset(key.strip() for key in text.split(",") if key.strip())


async def _body(request: web.Request) -> dict[str, Any]:
    """Return the JSON object body (empty without one)."""
    if not request.can_read_body:
        return {}
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send JSON (Content-Type: application/json)")
    try:
        data = await request.json()
    except ValueError as err:
        raise web.HTTPBadRequest(text=f"invalid JSON: {err}") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data


# -- handlers -----------------------------------------------------------------------------------


async def get_data(request: web.Request) -> web.Response:
    """``GET /api/data``: current values of every device."""
    state = _state(request)
    devices = {name: state.device_data(runner) for name, runner in state.bridge.runners.items()}
    return _json({"time": time.time(), "devices": devices})


async def get_historical(request: web.Request) -> web.Response:
    """``GET /api/historical?device=&from=&to=&keys=&step=``: one device's history."""
    state = _state(request)
    runner = state.runner(request.query.get("device"))
    start, end = _span(request)
    errors: dict[str, str] = {}
    points, sources, step = await state.points(runner, start, end, errors, _step(request))
    body: dict[str, Any] = {
        "device": runner.name,
        "from": start,
        "to": end,
        "step": step,
        "points": history.as_json(points, _keys(request)),
        "sources": sources,
    }
    if errors:
        body["errors"] = errors
    return _json(body)


async def get_historical_all(request: web.Request) -> web.Response:
    """``GET /api/historical/all?from=&to=&keys=&step=``: every device's history."""
    state = _state(request)
    start, end = _span(request)
    keys = _keys(request)
    asked = _step(request)
    errors: dict[str, str] = {}
    devices: dict[str, Any] = {}
    steps: dict[str, float | None] = {}
    for name, runner in state.bridge.runners.items():
        device_errors: dict[str, str] = {}
        points, _, steps[name] = await state.points(runner, start, end, device_errors, asked)
        devices[name] = history.as_json(points, keys)
        errors.update({f"{name}/{source}": error for source, error in device_errors.items()})
    body: dict[str, Any] = {"from": start, "to": end, "steps": steps, "devices": devices}
    if errors:
        body["errors"] = errors
    return _json(body)


async def post_refresh(request: web.Request) -> web.Response:
    """``POST /api/refresh`` (``{"device": name}`` optional): poll now."""
    state = _state(request)
    body = await _body(request)
    if "device" in body:
        runners = [state.runner(body["device"])]
    else:
        runners = list(state.bridge.runners.values())
    for runner in runners:
        runner.refresh()
    return _json({"refreshed": [runner.name for runner in runners]}, status=202)


def _status(answer: dict[str, Any]) -> int:
    """200 done; 403 not allowed; 409 needs confirmation; 400 refused otherwise; 502 failed."""
    if answer["ok"]:
        return 200
    refused = answer["refused"]
    if refused is None:
        return 502  # the device was asked and failed (NAK, no answer, not applied)
    return REFUSED_STATUS.get(refused, 400)


async def post_command(request: web.Request) -> web.Response:
    """``POST /api/command``: a command or a setting, checked as on the MQTT command topic."""
    state = _state(request)
    body = await _body(request)
    runner = state.runner(body.pop("device", None))
    core, lock = state.core(runner)
    try:
        command = parse(json.dumps(body).encode())
    except Refused as refused:
        answer = core.refusal(_request_id(body), refused.reason, str(refused))
        return _json(answer, status=_status(answer))
    async with lock:
        answer = await core.handle(command)
    return _json(answer, status=_status(answer))


def _request_id(body: dict[str, Any]) -> Request:
    """Return an empty request carrying the body's id, for a refusal."""
    ident = body.get("id")
    valid = isinstance(ident, str | int) and not isinstance(ident, bool)
    return Request(id=ident if valid else None)


def _current(runner: DeviceRunner, setting: Setting) -> object:
    report = runner.latest.get(setting.read_command)
    if report is None:
        return None
    for row in report.rows:
        if row.key == setting.read_field:
            if setting.kind is SettingKind.SWITCH:
                return row.value == setting.on_value
            return plain(row.value)
    return None


def _allowed_setting(
    core: CommandCore, runner: DeviceRunner, setting: Setting
) -> dict[str, Any] | None:
    """Return the setting as ``/api/settings`` lists it, or ``None`` if nothing is allowed."""
    protocol = runner.device.protocol
    assert protocol is not None
    current: dict[str, Any] | None = None
    if setting.needs_current:
        report = runner.latest.get(setting.read_command)
        current = {row.key: row.value for row in report.rows} if report is not None else None

    def allowed(value: object) -> bool:
        try:
            command = setting.encode(value, current=current)
            return core.allowlist.allows(protocol.command_text(command))
        except (MppSolarError, KeyError, TypeError, ValueError):
            return False

    entry: dict[str, Any] = {
        "key": setting.key,
        "name": setting.name,
        "kind": str(setting.kind),
        "value": _current(runner, setting),
        "unit": setting.unit,
        "safety": setting.safety,
    }
    if setting.kind is SettingKind.SELECT:
        options = [label for code, label in setting.options.items() if allowed(code)]
        if not options:
            return None
        entry["options"] = options
    elif setting.kind is SettingKind.SWITCH:
        if not (allowed(True) and allowed(False)):
            return None
    else:
        values = [value for value in _candidates(setting) if allowed(value)]
        if not values:
            return None
        entry.update(minimum=min(values), maximum=max(values), step=setting.step or 1)
    return entry


def _candidates(setting: Setting) -> list[float]:
    lo = setting.minimum if setting.minimum is not None else 0.0
    hi = setting.maximum if setting.maximum is not None else lo
    step = setting.step or 1.0
    count = min(int(round((hi - lo) / step)) + 1, MAX_CANDIDATES)
    return [_tidy(lo + index * step) for index in range(max(count, 1))]


def _tidy(number: float) -> float:
    rounded = round(number, 6)
    return int(rounded) if rounded == int(rounded) else rounded


async def get_settings(request: web.Request) -> web.Response:
    """``GET /api/settings?device=``: the settings the allowlist lets the UI change."""
    state = _state(request)
    runner = state.runner(request.query.get("device"))
    core, _ = state.core(runner)
    if not core.allowlist:
        return _json([])
    try:
        protocol = await asyncio.wait_for(runner.protocol(), 30.0)
    except (MppSolarError, TimeoutError) as err:
        raise web.HTTPServiceUnavailable(
            text=f"{runner.name}: protocol unknown yet: {err}"
        ) from None
    settings = [
        entry
        for setting in protocol.settings.values()
        if (entry := _allowed_setting(core, runner, setting)) is not None
    ]
    return _json(settings)


async def get_stream(request: web.Request) -> web.StreamResponse:
    """``GET /stream``: Server-Sent Events."""
    return await sse.stream(request, _state(request).hub)


def _page(file: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    async def page(request: web.Request) -> web.FileResponse:
        path = _state(request).settings.static_dir / file
        if not path.is_file():
            raise web.HTTPNotFound(text=f"page {request.path} is not installed ({file})")
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return page


# -- the application ----------------------------------------------------------------------------


def create_app(bridge: Bridge, settings: WebSettings | None = None) -> web.Application:
    """Return the web UI's application for ``bridge`` (started or about to be)."""
    settings = settings or WebSettings()
    token = security.resolve_token(settings.token, settings.state_dir or bridge.spool_dir)
    state = State(bridge, settings, token)
    app = web.Application(
        middlewares=security.middlewares(token, allow_remote=settings.allow_remote),
        client_max_size=MAX_BODY,
    )
    app[STATE] = state
    app[HUB] = state.hub
    app.router.add_get("/api/data", get_data)
    app.router.add_get("/api/historical", get_historical)
    app.router.add_get("/api/historical/all", get_historical_all)
    app.router.add_get("/api/settings", get_settings)
    app.router.add_post("/api/refresh", post_refresh)
    app.router.add_post("/api/command", post_command)
    app.router.add_get("/stream", get_stream)
    for route, file in PAGES.items():
        app.router.add_get(route, _page(file))
    if settings.static_dir.is_dir():
        app.router.add_static("/static/", settings.static_dir, follow_symlinks=False)
    app.on_response_prepare.append(security.add_headers)

    async def started(app: web.Application) -> None:
        state.attach()

    async def shutdown(app: web.Application) -> None:
        state.detach()
        state.hub.close()

    async def cleanup(app: web.Application) -> None:
        await state.postgres.close()

    app.on_startup.append(started)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app


class WebServer:
    """The web UI on an address, for the daemon: started after the bridge, stopped before."""

    def __init__(self, bridge: Bridge, settings: WebSettings) -> None:
        """Serve ``bridge`` as ``settings`` say; refuse a network address without allow_remote."""
        if not is_loopback(settings.host) and not settings.allow_remote:
            raise MppSolarError(
                f"web UI on {settings.host}: not a loopback address; serving the network "
                "needs --web-allow-remote (web_allow_remote = yes)"
            )
        self.bridge = bridge
        self.settings = settings
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; log the address."""
        if not is_loopback(self.settings.host) and not self.settings.token:
            _LOGGER.warning(
                "web UI open to the network on %s:%d without a configured token: anyone who "
                "can reach it sees every reading; set web_token and use a TLS proxy",
                self.settings.host,
                self.settings.port,
            )
        app = create_app(self.bridge, self.settings)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as err:
            await self.runner.cleanup()
            self.runner = None
            raise MppSolarError(
                f"web UI: cannot listen on {self.settings.host}:{self.settings.port}: {err}"
            ) from err
        _LOGGER.info("web UI on %s", ", ".join(site_names(self.runner)))

    async def stop(self) -> None:
        """Close every connection (streams end) and stop listening."""
        runner, self.runner = self.runner, None
        if runner is not None:
            await runner.cleanup()


def site_names(runner: web.AppRunner) -> list[str]:
    """Return the URLs the runner listens on."""
    return [site.name for site in runner.sites]
