"""The web UI in Home Assistant's sidebar: the bridge's pages and API behind Home Assistant's auth.

A simulated PI30 on a real pty, its entry in bridge mode with "Web UI in the sidebar" on. What
a user (or the page in the sidebar) sees is asked through Home Assistant's own HTTP server:
an authenticated client (a bearer token, as the page borrows the frontend's), one without
auth, and signed paths for the event stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from homeassistant.components.frontend import DATA_PANELS
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.mppsolar import web
from custom_components.mppsolar.const import (
    CONF_ALLOWED_SETTERS,
    CONF_BRIDGE,
    CONF_CONFIGURE_BRIDGE,
    CONF_OUTPUTS,
    CONF_PROM_OUTPUT_DIR,
    CONF_WEB_PANEL,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer

from .simulated import next_poll, serial_entry

TIMEOUT = 10.0
#: What the simulated PI30 reports as its serial number: its name in the web UI.
SERIAL = "9293333010501"
BASE = web.URL_BASE
API_GETS = ("/api/data", "/api/historical", "/api/historical/all", "/api/settings", "/stream")
API_POSTS = ("/api/refresh", "/api/command")
SELECT = "select.pi30_simulator_output_source_priority"


@pytest.fixture(autouse=True)
def _config_dir(hass: HomeAssistant, tmp_path: Path) -> None:
    """Keep the bridge's spool in this test's own configuration directory."""
    hass.config.config_dir = str(tmp_path / "config")


@pytest.fixture
async def inverter() -> AsyncIterator[PtyServer]:
    """Serve a PI30 inverter on a real pty."""
    async with PtyServer(create_simulator("pi30", seed=1)) as server:
        yield server


async def set_up(
    hass: HomeAssistant,
    server: PtyServer,
    bridge: dict[str, Any] | None = None,
    **options: Any,
) -> MockConfigEntry:
    """Set up an entry for ``server``'s PI30 with the web UI on (and ``bridge`` options)."""
    entry = serial_entry(server, "pi30")
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry,
        options={CONF_BRIDGE: {CONF_WEB_PANEL: True, **(bridge or {})}, **options},
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def body(response: ClientResponse) -> Any:
    """Return a response's JSON."""
    return json.loads(await response.text())


# -- the panel and the pages ------------------------------------------------------------------


async def test_panel_and_pages(
    hass: HomeAssistant, inverter: PtyServer, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """The sidebar shows the iframe panel; its pages load without a token, rebased."""
    await set_up(hass, inverter)
    panel = hass.data[DATA_PANELS][web.PANEL_PATH]
    assert panel.component_name == "iframe"
    assert panel.sidebar_title == "MPP Solar"
    assert panel.config == {"url": f"{BASE}/"}

    client = await hass_client_no_auth()
    for route in ("/", "/lcars", "/charts", "/charts/lcars"):
        response = await client.get(f"{BASE}{route}")
        assert response.status == 200, route
        html = await response.text()
        assert '<meta name="mppsolar-api" content="/api/mppsolar/">' in html
        assert '<meta name="mppsolar-auth" content="home-assistant">' in html
        # Every root-absolute link now points into the web UI's own space.
        assert 'href="/static/' not in html
        assert f'src="{BASE}/static/' in html or f'href="{BASE}/static/' in html
        assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]

    response = await client.get(f"{BASE}/static/common.js")
    assert response.status == 200
    assert "export" in await response.text()


def test_rebase() -> None:
    """Root-absolute links move under the base; others stay; the meta tags follow <head>."""
    html = web.rebase(
        '<html><head lang="x"><link href="/static/a.css"><a href="//cdn/x"></a>'
        '<a href="charts">c</a><script src="/static/b.js"></script></head></html>'
    )
    assert html == (
        f'<html><head lang="x">{web.META}<link href="{BASE}/static/a.css">'
        f'<a href="//cdn/x"></a><a href="charts">c</a>'
        f'<script src="{BASE}/static/b.js"></script></head></html>'
    )


async def test_a_missing_page_is_not_found(
    hass: HomeAssistant, inverter: PtyServer, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """A page the package does not ship answers 404 (and pages are read once, at start)."""
    await set_up(hass, inverter)
    del hass.data[web.WEB_DATA].pages["/lcars"]
    client = await hass_client_no_auth()
    assert (await client.get(f"{BASE}/lcars")).status == 404


def test_pages_are_read_from_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the pages that are installed are served."""
    (tmp_path / "index.html").write_text("<head></head>", encoding="utf-8")
    monkeypatch.setattr(web, "STATIC", tmp_path)
    assert web.read_pages() == {"/": f"<head>{web.META}</head>"}


# -- the API behind Home Assistant's auth -----------------------------------------------------


async def test_every_api_route_needs_auth(
    hass: HomeAssistant, inverter: PtyServer, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """Without Home Assistant's auth, every API route answers 401, and the device is not asked."""
    await set_up(hass, inverter, allowed_setters=["POP"])
    client = await hass_client_no_auth()
    for route in API_GETS:
        assert (await client.get(f"{BASE}{route}")).status == 401, route
    for route in API_POSTS:
        response = await client.post(f"{BASE}{route}", json={"device": SERIAL, "command": "POP00"})
        assert response.status == 401, route
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(SELECT)
    assert state is not None
    assert state.state == "sbu_first"  # as it was: nothing was sent


async def test_data_shows_the_entrys_values(
    hass: HomeAssistant, inverter: PtyServer, hass_client: ClientSessionGenerator
) -> None:
    """/api/data holds the device, online, with the values of its last poll."""
    await set_up(hass, inverter)
    client = await hass_client()
    response = await client.get(f"{BASE}/api/data")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = await body(response)
    device = data["devices"][SERIAL]
    assert device["online"] is True
    assert device["protocol"] == "pi30"
    assert device["family"] == "inverter"
    voltage = device["values"]["ac_output_voltage"]
    assert voltage["unit"] == "V"
    assert voltage["command"] == "QPIGS"
    assert isinstance(voltage["value"], float)
    # The settings poll is there too (QPIRI).
    assert "battery_type" in device["values"]


async def test_history_from_memory_and_prom_files(
    hass: HomeAssistant,
    inverter: PtyServer,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
) -> None:
    """The charts get every poll from memory, and the prom files of a prom_file entry."""
    prom = tmp_path / "prom"
    prom.mkdir()
    await set_up(hass, inverter, {CONF_OUTPUTS: ["prom_file"], CONF_PROM_OUTPUT_DIR: str(prom)})
    await next_poll(hass)
    client = await hass_client()
    response = await client.get(
        f"{BASE}/api/historical", params={"device": SERIAL, "keys": "pv_input_power"}
    )
    assert response.status == 200
    history = await body(response)
    assert history["sources"] == ["memory", "prom_file"]
    assert len(history["points"]) >= 2
    assert all(set(point["values"]) == {"pv_input_power"} for point in history["points"])

    response = await client.get(f"{BASE}/api/historical/all")
    assert SERIAL in (await body(response))["devices"]

    response = await client.get(f"{BASE}/api/historical", params={"device": "nobody"})
    assert response.status == 404


async def test_refresh_polls_now(
    hass: HomeAssistant, inverter: PtyServer, hass_client: ClientSessionGenerator
) -> None:
    """POST /api/refresh polls the device at once: a reading arrives without waiting."""
    await set_up(hass, inverter)
    client = await hass_client()
    stream = await client.get(f"{BASE}/stream")
    response = await client.post(f"{BASE}/api/refresh", json={})
    assert response.status == 202
    assert await body(response) == {"refreshed": [SERIAL]}
    await hass.async_block_till_done(wait_background_tasks=True)
    assert (await _next_event(stream, "reading"))["device"] == SERIAL
    stream.close()


# -- commands and settings --------------------------------------------------------------------


async def test_commands_follow_the_allowed_setters(
    hass: HomeAssistant, inverter: PtyServer, hass_client: ClientSessionGenerator
) -> None:
    """Allowed: sent and read back; not allowed, invalid: refused before anything is sent."""
    entry = await set_up(hass, inverter, allowed_setters=["POP"])
    client = await hass_client()

    async def command(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = await client.post(f"{BASE}/api/command", json={"device": SERIAL, **request})
        return response.status, await body(response)

    status, answer = await command({"setting": "output_source_priority", "value": "Solar first"})
    assert status == 200, answer
    assert answer["ok"] is True
    assert answer["result"] == {"output_source_priority": "Solar first"}
    assert answer["previous"] == "SBU first"
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(SELECT)
    assert state is not None
    assert state.state == "solar_first"

    # A query is always allowed (as the send_command action has it).
    status, answer = await command({"command": "QPIRI"})
    assert status == 200
    assert answer["ok"] is True

    status, answer = await command({"command": "PCP02"})
    assert status == 403
    assert answer["refused"] == "not_allowed"
    assert "allowed setters option" in answer["error"]

    status, answer = await command({"setting": "output_source_priority", "value": "Moon first"})
    assert status == 400
    assert answer["refused"] == "invalid"

    status, answer = await command({"setting": "max_charging_current", "value": 7})
    assert status == 400
    assert answer["refused"] == "invalid"  # the unit lists what it takes (QMCHGCR)

    status, answer = await command({"command": "POP02", "value": 1})
    assert status == 400
    assert answer["refused"] == "malformed"

    # The settings panel lists the settings the option lets it change.
    response = await client.get(f"{BASE}/api/settings", params={"device": SERIAL})
    settings = {setting["key"]: setting for setting in await body(response)}
    assert set(settings) == {"output_source_priority"}
    assert settings["output_source_priority"]["value"] == "Solar first"
    del entry


async def test_no_setter_allowed_lists_no_settings(
    hass: HomeAssistant, inverter: PtyServer, hass_client: ClientSessionGenerator
) -> None:
    """Without allowed setters the settings panel is empty and setters are refused."""
    await set_up(hass, inverter)
    client = await hass_client()
    response = await client.get(f"{BASE}/api/settings", params={"device": SERIAL})
    assert await body(response) == []
    response = await client.post(
        f"{BASE}/api/command", json={"device": SERIAL, "command": "NOSUCH"}
    )
    assert response.status == 403


async def test_commands_need_an_administrator(
    hass: HomeAssistant,
    inverter: PtyServer,
    hass_client: ClientSessionGenerator,
    hass_read_only_access_token: str,
) -> None:
    """A user who is not an administrator sees the values but cannot send commands."""
    await set_up(hass, inverter, allowed_setters=["POP"])
    client = await hass_client(hass_read_only_access_token)
    assert (await client.get(f"{BASE}/api/data")).status == 200
    response = await client.post(f"{BASE}/api/command", json={"device": SERIAL, "command": "POP02"})
    assert response.status == 403
    assert (await body(response))["refused"] == "not_admin"


# -- the event stream -------------------------------------------------------------------------


async def _next_event(response: ClientResponse, kind: str) -> dict[str, Any]:
    """Return the data of the next ``kind`` event on the stream (bounded)."""
    event = ""
    async with asyncio.timeout(TIMEOUT):
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == kind:
                data: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return data
    raise AssertionError("stream ended")  # pragma: no cover - a failure


async def test_stream_delivers_the_next_poll(
    hass: HomeAssistant, inverter: PtyServer, hass_client: ClientSessionGenerator
) -> None:
    """The stream pushes a reading after the next poll; availability when the device goes."""
    await set_up(hass, inverter)
    client = await hass_client()
    response = await client.get(f"{BASE}/stream")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    await next_poll(hass)
    reading = await _next_event(response, "reading")
    assert reading["device"] == SERIAL
    assert "ac_output_voltage" in reading["values"]

    await inverter.close()
    await next_poll(hass)
    assert await _next_event(response, "availability") == {"device": SERIAL, "online": False}
    response.close()


async def test_signed_stream_path(
    hass: HomeAssistant,
    inverter: PtyServer,
    hass_client_no_auth: ClientSessionGenerator,
    hass_access_token: str,
) -> None:
    """An EventSource's signed path opens the stream; tampered or expired ones do not."""
    await set_up(hass, inverter)
    refresh_token = hass.auth.async_validate_access_token(hass_access_token)
    assert refresh_token is not None
    client = await hass_client_no_auth()

    signed = async_sign_path(
        hass, f"{BASE}/stream", timedelta(seconds=30), refresh_token_id=refresh_token.id
    )
    response = await client.get(signed)
    assert response.status == 200
    response.close()

    # The signature covers the path and the query: another path or parameter is refused.
    assert (await client.get(signed.replace("/stream", "/api/data"))).status == 401
    assert (await client.get(f"{signed}&lastEventId=3")).status == 401
    expired = async_sign_path(
        hass, f"{BASE}/stream", timedelta(seconds=-1), refresh_token_id=refresh_token.id
    )
    assert (await client.get(expired)).status == 401
    # POSTs never take a signed path.
    signed = async_sign_path(
        hass, f"{BASE}/api/refresh", timedelta(seconds=30), refresh_token_id=refresh_token.id
    )
    assert (await client.post(signed)).status == 401


# -- unload -----------------------------------------------------------------------------------


async def test_unload_removes_the_panel(
    hass: HomeAssistant,
    inverter: PtyServer,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
) -> None:
    """The panel stays while one entry has the option; after the last, the views answer 404."""
    first = await set_up(hass, inverter)
    async with PtyServer(create_simulator("pi30", seed=2)) as other:
        second = serial_entry(other, "pi30")
        second.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            second,
            unique_id="second",
            data={**second.data, "serial_number": SERIAL},
            options={CONF_BRIDGE: {CONF_WEB_PANEL: True}},
        )
        assert await hass.config_entries.async_setup(second.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)

        client = await hass_client()
        stream = await client.get(f"{BASE}/stream")
        data = await body(await client.get(f"{BASE}/api/data"))
        # Both entries report the same serial: the second goes by its entry too.
        assert set(data["devices"]) == {SERIAL, f"{SERIAL}-{second.entry_id}"}

        assert await hass.config_entries.async_unload(second.entry_id)
        assert web.PANEL_PATH in hass.data[DATA_PANELS]
        data = await body(await client.get(f"{BASE}/api/data"))
        assert set(data["devices"]) == {SERIAL}

        assert await hass.config_entries.async_unload(first.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert web.PANEL_PATH not in hass.data[DATA_PANELS]
    async with asyncio.timeout(TIMEOUT):
        await stream.read()  # the open stream ended
    for route in ("/api/data", "/api/settings"):
        assert (await client.get(f"{BASE}{route}")).status == 404
    assert (await client.get(f"{BASE}/")).status == 404

    # Set up again: the views (registered once) answer again.
    assert await hass.config_entries.async_setup(first.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert (await client.get(f"{BASE}/api/data")).status == 200
    assert await hass.config_entries.async_unload(first.entry_id)


async def test_off_by_default(hass: HomeAssistant, inverter: PtyServer) -> None:
    """An entry without the option registers no panel."""
    entry = serial_entry(inverter, "pi30")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert web.PANEL_PATH not in hass.data.get(DATA_PANELS, {})
    assert web.WEB_DATA not in hass.data


async def test_a_bad_batch_never_fails_a_poll(
    hass: HomeAssistant, inverter: PtyServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch the web UI cannot present is logged; the poll and the entities go on."""
    entry = await set_up(hass, inverter)
    coordinator = entry.runtime_data
    listener = coordinator.batch_listeners[-1]
    listener({})  # an empty batch: nothing to keep
    listener({"XYZ": object()})
    assert "web UI reading not kept" in caplog.text
    await next_poll(hass)
    assert coordinator.last_update_success


def test_allowlist_refuses_unknown_commands() -> None:
    """A command the protocol does not know is not allowed."""
    entry = MockConfigEntry(domain="mppsolar", options={CONF_ALLOWED_SETTERS: ["POP"]})
    allowlist = web.EntryAllowlist(entry, get_protocol("pi30"))
    assert allowlist
    assert not allowlist.allows("NOSUCH")
    assert allowlist.allows("QPIGS")
    assert allowlist.allows("POP02")
    assert not allowlist.allows("PCP02")


# -- the option -------------------------------------------------------------------------------


async def test_option_in_the_bridge_step(hass: HomeAssistant, mock_setup_entry: Any) -> None:
    """The bridge step offers the web UI and stores it with the outputs."""
    entry = MockConfigEntry(
        domain="mppsolar",
        unique_id="x",
        data={"connection": "serial", "device": "/dev/null", "protocol": "pi30"},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"status_interval": 10, "settings_interval": 300, CONF_CONFIGURE_BRIDGE: True},
    )
    assert result["step_id"] == "bridge"
    schema = result["data_schema"]
    assert schema is not None
    assert CONF_WEB_PANEL in schema.schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OUTPUTS: [], CONF_WEB_PANEL: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_BRIDGE] == {CONF_OUTPUTS: [], CONF_WEB_PANEL: True}
