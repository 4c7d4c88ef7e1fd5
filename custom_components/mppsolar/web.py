"""The web UI in Home Assistant's sidebar: the bridge's pages and API behind Home Assistant's auth.

An entry whose bridge options turn on "Web UI in the sidebar" is served by the same handlers
the bridge daemon's web server uses (:mod:`mppsolar_lib.web.app`), mounted under
:data:`URL_BASE` as Home Assistant views — no second port is opened:

- ``/api/mppsolar/`` (and ``lcars``, ``charts``, ``charts/lcars``): the pages, and
  ``/api/mppsolar/static/`` their assets. They hold no data, so they are served without auth
  (an iframe cannot send a token when it loads a page); the HTML's root-absolute links are
  rebased onto :data:`URL_BASE` and two ``<meta>`` tags tell the page where the API is
  (``mppsolar-api``) and that it authenticates as Home Assistant's frontend does
  (``mppsolar-auth`` = ``home-assistant``: the page takes the logged-in frontend's access
  token from ``window.parent.hassConnection``).
- ``/api/mppsolar/api/data``, ``…/api/historical``, ``…/api/historical/all``,
  ``…/api/settings``, ``…/api/refresh``, ``…/api/command`` and ``/api/mppsolar/stream``: the
  API, every route ``requires_auth`` (a bearer token, or for the event stream — an
  ``EventSource`` sends no headers — a short-lived path signed by Home Assistant's
  ``auth/sign_path``). Commands also need an administrator.

The sidebar shows the pages in Home Assistant's built-in iframe panel. Values come from the
entries' coordinators: each poll's batch (status and settings) feeds the current values, the
in-memory history and the event stream; entries with the ``prom_file`` output add their files
to the history. Commands and settings go through the bridge's :class:`CommandCore` (the
checks of the MQTT command topic) with the entry's "allowed setters" option as the allowlist,
as the ``send_command`` action applies it: queries always, setters only when a pattern allows
them. The panel is removed when the last entry with the option unloads; the views (Home
Assistant cannot remove a view) then answer 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
import re
import time
from typing import TYPE_CHECKING, Any, Final, cast

from aiohttp import web
from homeassistant.components import frontend
from homeassistant.components.http import StaticPathConfig
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from mppsolar_lib.bridge.commands import INVALID, CommandCore, Request
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.outputs import Report
from mppsolar_lib.protocols import Kind
from mppsolar_lib.web import app as web_app
from mppsolar_lib.web.app import PAGES, STATIC, State, WebSettings
from mppsolar_lib.web.security import HEADERS

from .bridge import device_config, device_name
from .const import CONF_ALLOWED_SETTERS, CONF_BRIDGE, CONF_WEB_PANEL, DOMAIN, LOGGER
from .services import setter_allowed

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from mppsolar_lib.bridge.daemon import Bridge, DeviceRunner
    from mppsolar_lib.bridge.model import DeviceConfig
    from mppsolar_lib.device import Batch, Device
    from mppsolar_lib.protocols import Protocol

    from .coordinator import MppSolarCoordinator

#: Where the web UI lives in Home Assistant's HTTP server.
URL_BASE: Final = "/api/mppsolar"
#: The sidebar panel's path in the frontend (``/mppsolar``).
PANEL_PATH: Final = DOMAIN
PANEL_TITLE: Final = "MPP Solar"
PANEL_ICON: Final = "mdi:solar-power-variant"
#: The ``<meta>`` tags a page gets in Home Assistant (see the module's notes).
META: Final = (
    f'<meta name="mppsolar-api" content="{URL_BASE}/">'
    '<meta name="mppsolar-auth" content="home-assistant">'
)
#: Root-absolute links of the pages (``href="/static/…"``, ``href="/charts"``): rebased.
_ROOT_LINK: Final = re.compile(r'\b(href|src)="/(?!/)')
_HEAD: Final = re.compile(r"<head[^>]*>", re.IGNORECASE)

WEB_DATA: HassKey[WebShared] = HassKey(f"{DOMAIN}_web")
#: Set once the views and static path are registered (Home Assistant cannot remove them).
_REGISTERED: HassKey[bool] = HassKey(f"{DOMAIN}_web_registered")


def web_panel_enabled(entry: ConfigEntry) -> bool:
    """Return whether the entry's bridge options put the web UI in the sidebar."""
    options: Mapping[str, Any] = entry.options.get(CONF_BRIDGE) or {}
    return bool(options.get(CONF_WEB_PANEL))


def rebase(html: str) -> str:
    """Return a page with its root-absolute links under :data:`URL_BASE` and the meta tags."""
    html = _ROOT_LINK.sub(rf'\1="{URL_BASE}/', html)
    return _HEAD.sub(lambda match: match.group(0) + META, html, count=1)


def reports(batch: Batch, protocol: Protocol, now: float) -> list[Report]:
    """Return one poll's answers as the bridge's reports, stamped ``now``."""
    stamped = []
    for command, result in batch.items():
        sent = result.command or command
        definition, _ = protocol.resolve(sent)
        report = Report.from_result(result, protocol.command_text(sent), definition.description)
        report.time = now
        stamped.append(report)
    return stamped


class EntryAllowlist:
    """The entry's "allowed setters" as the command core's allowlist (as ``send_command``)."""

    def __init__(self, entry: ConfigEntry, protocol: Protocol) -> None:
        """Read the patterns of ``entry``'s options (a change of options reloads the entry)."""
        self.patterns: list[str] = list(entry.options.get(CONF_ALLOWED_SETTERS) or ())
        self.protocol = protocol

    def __bool__(self) -> bool:
        """Whether any setter (and so any setting) can be allowed."""
        return bool(self.patterns)

    def allows(self, command: str) -> bool:
        """Allow a query always, a setter when a pattern matches it."""
        try:
            definition, _ = self.protocol.resolve(command)
        except MppSolarError:
            return False
        if definition.kind is not Kind.SETTER:
            return True
        return setter_allowed(command, definition.name, self.patterns)


class EntryCommands(CommandCore):
    """The bridge's command checks for an entry, refusing what the unit says it does not take."""

    def __init__(self, runner: EntryRunner) -> None:
        """Check and run commands on ``runner``'s device."""
        super().__init__(cast("DeviceRunner", runner), source="the Home Assistant web UI")
        self.entry_runner = runner
        self.allowlist = EntryAllowlist(runner.entry, runner.coordinator.protocol)  # type: ignore[assignment]

    async def handle(self, request: Request) -> dict[str, Any]:
        """Refuse a number the unit does not allow (QMCHGCR) first; then as the bridge does."""
        coordinator = self.entry_runner.coordinator
        setting = coordinator.protocol.settings.get(request.setting or "")
        if setting is not None and (allowed := coordinator.allowed_values(setting)) is not None:
            try:
                setting.encode(request.value, allowed=allowed)
            except (MppSolarError, TypeError, ValueError) as err:
                return self.refusal(request, INVALID, str(err))
        return await super().handle(request)

    def refusal(self, request: Request, reason: str, message: str) -> dict[str, Any]:
        """Refuse, naming the option that allows setters in Home Assistant."""
        message = message.replace("mqtt_allowed_cmds", "the entry's allowed setters option")
        return super().refusal(request, reason, message)


class EntryRunner:
    """An entry's device as the web app's handlers see a bridge device (``DeviceRunner``)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        coordinator: MppSolarCoordinator,
        name: str,
        config: DeviceConfig,
    ) -> None:
        """Serve ``entry``'s device as ``name``."""
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self.name = name
        self.config = config
        #: The last report of each command polled.
        self.latest: dict[str, Report] = {}
        self.online: bool | None = None

    @property
    def device(self) -> Device:
        """The entry's device."""
        return self.coordinator.device

    async def protocol(self) -> Protocol:
        """Return the device's protocol (the entry knows it)."""
        return self.coordinator.protocol

    def refresh(self) -> None:
        """Poll now, settings too (after a command that may have changed them)."""
        self.hass.async_create_background_task(
            self.coordinator.async_refresh_settings(),
            f"{DOMAIN} web refresh {self.entry.entry_id}",
        )


@dataclass(slots=True)
class Devices:
    """The entries served, as the web app's handlers see the bridge (``runners``)."""

    runners: dict[str, EntryRunner] = field(default_factory=dict)
    spool_dir: Path = Path()


@dataclass(slots=True)
class WebShared:
    """What every entry with the option shares: the app's state and the pages."""

    devices: Devices
    state: State
    pages: dict[str, str]


def read_pages() -> dict[str, str]:
    """Return each page route's rebased HTML (``/lcars`` -> page). Blocking: executor."""
    pages = {}
    for route, file in PAGES.items():
        path = STATIC / file
        if path.is_file():
            pages[route] = rebase(path.read_text(encoding="utf-8"))
    return pages


def _shared(request: web.Request) -> WebShared:
    """Return the served state; 404 when no entry has the option (the views outlive it)."""
    shared = request.app[KEY_HASS].data.get(WEB_DATA)
    if shared is None:
        raise web.HTTPNotFound(text="the MPP Solar web UI is not turned on")
    # The web app's handlers find their state here (not in Home Assistant's application).
    request[web_app.REQUEST_STATE] = shared.state
    return shared


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiView(HomeAssistantView):
    """One route of the web app's API, behind Home Assistant's auth."""

    requires_auth = True

    def __init__(self, route: str, handler: Handler, *, admin: bool = False) -> None:
        """Answer ``URL_BASE + route`` with the web app's ``handler``."""
        self.url = f"{URL_BASE}{route}"
        self.name = f"api:{DOMAIN}:{route.strip('/').replace('/', ':')}"
        self.handler = handler
        self.admin = admin

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """Answer as the bridge's web server does; commands only for an administrator."""
        _shared(request)
        if self.admin and not request[KEY_HASS_USER].is_admin:
            return web.json_response(
                {"error": "only an administrator may send commands", "refused": "not_admin"},
                status=HTTPStatus.FORBIDDEN,
            )
        response = await self.handler(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response


class ApiGetView(ApiView):
    """A ``GET`` route of the API."""

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Answer a ``GET``."""
        return await self.answer(request)


class ApiPostView(ApiView):
    """A ``POST`` route of the API."""

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Answer a ``POST``."""
        return await self.answer(request)


def api_views() -> list[ApiView]:
    """Return the API's views."""
    return [
        ApiGetView("/api/data", web_app.get_data),
        ApiGetView("/api/historical", web_app.get_historical),
        ApiGetView("/api/historical/all", web_app.get_historical_all),
        ApiGetView("/api/settings", web_app.get_settings),
        ApiPostView("/api/refresh", web_app.post_refresh),
        ApiPostView("/api/command", web_app.post_command, admin=True),
        ApiGetView("/stream", web_app.get_stream),
    ]


class MppSolarPageView(HomeAssistantView):
    """The pages: markup only (no data), so without auth — an iframe sends no token."""

    url = f"{URL_BASE}/"
    extra_urls = [f"{URL_BASE}{route}" for route in PAGES if route != "/"]
    name = f"{DOMAIN}:web:page"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Serve a page."""
        shared = _shared(request)
        route = request.path.removeprefix(URL_BASE) or "/"
        html = shared.pages.get(route)
        if html is None:
            raise web.HTTPNotFound(text=f"page {request.path} is not installed")
        return web.Response(
            text=html,
            content_type="text/html",
            headers={**HEADERS, "Cache-Control": "no-cache"},
        )


async def _async_register(hass: HomeAssistant) -> None:
    """Register the views and the pages' assets (once: they cannot be removed)."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    await hass.http.async_register_static_paths(
        [StaticPathConfig(f"{URL_BASE}/static", str(STATIC), cache_headers=False)]
    )
    hass.http.register_view(MppSolarPageView())
    for view in api_views():
        hass.http.register_view(view)


async def async_setup_web(
    hass: HomeAssistant, entry: ConfigEntry, coordinator: MppSolarCoordinator
) -> None:
    """Serve the entry's device in the sidebar's web UI, if its options say so."""
    if not web_panel_enabled(entry):
        return
    await _async_register(hass)
    shared = hass.data.get(WEB_DATA)
    if shared is None:
        devices = Devices()
        # No token of its own: Home Assistant's auth guards every API route.
        state = State(cast("Bridge", devices), WebSettings(), token="")
        pages = await hass.async_add_executor_job(read_pages)
        shared = hass.data[WEB_DATA] = WebShared(devices, state, pages)
        frontend.async_register_built_in_panel(
            hass,
            "iframe",
            sidebar_title=PANEL_TITLE,
            sidebar_icon=PANEL_ICON,
            frontend_url_path=PANEL_PATH,
            config={"url": f"{URL_BASE}/"},
            require_admin=False,
        )
    devices, state = shared.devices, shared.state
    name = device_name(entry)
    if name in devices.runners:
        name = f"{name}-{entry.entry_id}"  # two entries for one serial: both shown
    options: Mapping[str, Any] = entry.options.get(CONF_BRIDGE) or {}
    runner = EntryRunner(hass, entry, coordinator, name, device_config(entry, coordinator, options))
    runner.config = replace(runner.config, name=name)
    devices.runners[name] = runner
    state.cores[name] = (
        cast("CommandCore", EntryCommands(runner)),
        asyncio.Lock(),
    )

    @callback
    def _reading(batch: Batch) -> None:
        if not batch:
            return
        try:
            polled = reports(batch, coordinator.protocol, time.time())
        except Exception:  # noqa: BLE001 - the web UI must never fail a poll
            LOGGER.exception("%s: web UI reading not kept", entry.title)
            return
        runner.latest.update((report.command, report) for report in polled)
        state.reading(name, polled)

    @callback
    def _availability() -> None:
        online = coordinator.last_update_success
        if online is not runner.online:
            runner.online = online
            state.availability(name, online)

    coordinator.batch_listeners.append(_reading)
    remove_listener = coordinator.async_add_listener(_availability)

    @callback
    def _unload() -> None:
        coordinator.batch_listeners.remove(_reading)
        remove_listener()
        devices.runners.pop(name, None)
        state.cores.pop(name, None)
        if not devices.runners:
            # The last one: the panel goes, open streams end, the views answer 404.
            hass.data.pop(WEB_DATA, None)
            state.hub.close()
            hass.async_create_background_task(state.postgres.close(), f"{DOMAIN} web history close")
            frontend.async_remove_panel(hass, PANEL_PATH, warn_if_unknown=False)

    entry.async_on_unload(_unload)
