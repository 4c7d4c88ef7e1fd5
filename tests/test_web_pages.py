"""The web UI's pages in a real browser: Debian's headless Chromium driven by Playwright.

The daemon's web app (``mppsolar_lib.web.app.WebServer``) serves a bridge of three simulated
devices (a PI30 inverter, a JK BMS, a Daly BMS) polled every second. Each test opens the pages
the way a user does and checks what the user sees: the values, that they move, that a chart
redraws for another range, that a setting changed in the panel reaches the simulated inverter.
Every page must load without a console error or an uncaught exception. Screenshots of every
page, desktop and phone, go to the test's directory and, when ``MPPSOLAR_ARTIFACTS`` is set,
to that directory too.

No browser is downloaded: Chromium is Debian's (``/usr/bin/chromium``, or ``CHROMIUM``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import concurrent.futures
from dataclasses import dataclass, field
import os
from pathlib import Path
import shutil
import threading
import time
from typing import Any

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytest.importorskip("aiohttp")

from mppsolar_lib.bridge.config import load_config  # noqa: E402
from mppsolar_lib.bridge.daemon import Bridge  # noqa: E402
from mppsolar_lib.web.app import WebServer, WebSettings  # noqa: E402
from tests.servers.mosquitto import free_port  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():  # pragma: no cover - depends on the machine
    pytest.skip(
        "Chromium is not installed (apt-get install chromium, or set CHROMIUM)",
        allow_module_level=True,
    )
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "page-test-token"
#: Bounds every wait in the browser (milliseconds) and on the server (seconds).
WAIT_MS = 30_000
WAIT_S = 30.0
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = {"/": "dashboard", "/lcars": "lcars", "/charts": "charts", "/charts/lcars": "charts-lcars"}
CONFIG = """\
[SETUP]
pause = 1

[inverter]
protocol = pi30
port = sim://pi30
command = QPIGS#QMOD#QPIWS
slow_command = QPIRI
slow_pause = 5
outputs = prom_file
prom_output_dir = {prom}
mqtt_allowed_cmds = POP.*,PCP.*,PBFT.*

[bms]
protocol = jk02_32
port = sim://jk02_32
command = getCellData
outputs = prom_file
prom_output_dir = {prom}

[daly]
protocol = daly
port = sim://daly
command = SOC#CELLVOLTAGES#CELLTEMPERATURES#STATUS
outputs = prom_file
prom_output_dir = {prom}
"""


# -- the daemon's web app, in a thread of its own ------------------------------------------------


@dataclass
class Daemon:
    """The bridge and its web server, running on their own event loop."""

    url: str
    bridge: Bridge
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the daemon's loop; return its result (bounded)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT_S)

    def read(self, device: str, command: str) -> dict[str, object]:
        """Ask a simulated device ``command`` now; return its answer's values."""
        report = self.call(self.bridge.runners[device].execute(command))
        return {row.key: row.value for row in report.rows}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Run the bridge with simulated devices and the web UI on a free loopback port."""
    root = tmp_path_factory.mktemp("web")
    (root / "prom").mkdir()
    conf = root / "mppsolar.conf"
    conf.write_text(CONFIG.format(prom=root / "prom"))
    port = free_port()
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[Daemon] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        bridge = Bridge(load_config(str(conf)), spool_dir=root)
        await bridge.start()
        server = WebServer(
            bridge, WebSettings(port=port, token=TOKEN, state_dir=root, heartbeat=2.0)
        )
        try:
            await server.start()
            ready.set_result(Daemon(f"http://127.0.0.1:{port}", bridge, loop))
            await stop.wait()
        finally:
            await server.stop()
            await bridge.stop()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as err:  # noqa: BLE001 - handed to the test
            if not ready.done():
                ready.set_exception(err)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="web-daemon", daemon=True)
    thread.start()
    running = ready.result(WAIT_S)
    # Values on the pages from the start: wait until every device answered once.
    for runner in running.bridge.runners.values():
        for _ in range(int(WAIT_S * 10)):
            if runner.latest:
                break
            time.sleep(0.1)
    yield running
    loop.call_soon_threadsafe(stop.set)
    thread.join(WAIT_S)


# -- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Start Debian's Chromium headless (no browser download)."""
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page with every console error and uncaught exception collected."""

    page: Any
    errors: list[tuple[str, str]] = field(default_factory=list)

    def check(self, *expected: str) -> None:
        """Fail on any error the page logged but the refusals in ``expected`` (URL endings).

        Chromium logs every 4xx answer as a console error; a refusal the test provokes (401
        without a token, a 403) is expected there.
        """
        unexpected = [
            message
            for message, url in self.errors
            if not (url.endswith(expected) and "status of 4" in message)
        ]
        assert unexpected == [], "\n".join(unexpected)


@pytest.fixture
def artifacts(tmp_path: Path) -> Callable[[Tab, str], Path]:
    """Return a function that screenshots a page to tmp_path (and $MPPSOLAR_ARTIFACTS)."""
    extra = os.environ.get("MPPSOLAR_ARTIFACTS")

    def shoot(tab: Tab, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        tab.page.screenshot(path=str(path), full_page=True)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return shoot


@pytest.fixture
def open_tab(browser: Any, daemon: Daemon) -> Iterator[Callable[..., Tab]]:
    """Return a function that opens a page at a viewport size in a fresh browser context."""
    contexts: list[Any] = []

    def open_(path: str, viewport: dict[str, int] = DESKTOP) -> Tab:
        context = browser.new_context(viewport=viewport, base_url=daemon.url)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page)
        page.on(
            "console",
            lambda message: (
                tab.errors.append(
                    (f"console error: {message.text} {message.location}", message.location["url"])
                )
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: tab.errors.append((f"page error: {error}", "")))
        page.goto(path)
        return tab

    yield open_
    for context in contexts:
        context.close()


def text(tab: Tab, selector: str) -> str:
    """Return the text content of the element ``selector`` (as written, before CSS casing)."""
    return str(tab.page.locator(selector).first.text_content())


def wait_change(tab: Tab, selector: str, before: str) -> str:
    """Wait until the text of ``selector`` differs from ``before``; return it.

    (Playwright's expect, not wait_for_function: the pages' CSP forbids eval, rightly.)
    """
    expect(tab.page.locator(selector).first).not_to_have_text(before, timeout=WAIT_MS)
    return text(tab, selector)


PV = '[data-device="inverter"] [data-metric="pv_power"] .value'
# The BMS's current, not its voltage: the simulated pack's voltage follows its state of charge
# and can show the same two decimals for minutes; the current moves every poll.
BATTERY = '[data-device="bms"] [data-metric="battery_current"] .value'


# -- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("path", list(PAGES))
def test_page_loads_cleanly(
    open_tab: Callable[..., Tab],
    artifacts: Callable[[Tab, str], Path],
    path: str,
    viewport: str,
) -> None:
    """Every page shows its content without an error, and fits a phone without side-scrolling."""
    tab = open_tab(path, PHONE if viewport == "phone" else DESKTOP)
    page = tab.page
    if "charts" in path:
        page.wait_for_selector("#chart[data-draws]")
        assert page.locator("#device option").all_inner_texts() == ["inverter", "bms", "daly"]
        assert page.locator("[data-series]:checked").count() >= 1
        assert int(page.get_attribute("#chart", "data-points") or 0) > 0
        expect(page.locator("#chart-status")).to_contain_text("readings", timeout=WAIT_MS)
    else:
        expect(page.locator("article.device")).to_have_count(3)
        page.wait_for_selector(f"{PV}:not(:text('—'))")
        assert text(tab, '[data-device="inverter"] .state') == "online"
        assert text(tab, '[data-device="inverter"] [data-metric="mode"] .value').lower() in (
            "battery",
            "line",
            "standby",
        )
        # Both BMSs: a bar per cell (16 in the simulators), min/max/delta under them.
        for bms in ("bms", "daly"):
            assert page.locator(f'[data-device="{bms}"] .cell').count() == 16
            assert text(tab, f'[data-device="{bms}"] [data-stat="delta"]').lower().endswith("mv")
        assert page.locator('[data-device="bms"] [data-group="temperatures"] li').count() >= 2
        assert (
            text(tab, '[data-device="inverter"] [data-group="alarms"]')
            .lower()
            .endswith("none active")
        )
        # Everything else: the full table, folded until asked for.
        page.locator('[data-device="inverter"] details.all summary').click()
        row = page.locator('[data-device="inverter"] tr[data-key="bus_voltage"]')
        # Live readings re-render the table: wait for the row rather than look once.
        expect(row).to_be_visible(timeout=WAIT_MS)
    if "lcars" in path:
        assert page.locator(".elbow-top").is_visible()
        assert page.evaluate("document.fonts.check('16px Antonio')")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {viewport} width"
    artifacts(tab, f"{PAGES[path]}-{viewport}")
    tab.check()


@pytest.mark.parametrize("path", ["/", "/lcars"])
def test_live_values_change(open_tab: Callable[..., Tab], path: str) -> None:
    """PV power and the BMS's battery voltage move while the simulators run (over SSE)."""
    tab = open_tab(path)
    tab.page.wait_for_selector(f"{PV}:not(:text('—'))")
    tab.page.wait_for_selector("#connection[data-state='live']")
    pv = text(tab, PV)
    battery = text(tab, BATTERY)
    assert wait_change(tab, PV, pv) != pv
    assert wait_change(tab, BATTERY, battery) != battery
    assert text(tab, '[data-device="bms"] .updated').startswith("updated")
    tab.check()


@pytest.mark.parametrize("path", ["/charts", "/charts/lcars"])
def test_chart_range_switch_redraws(open_tab: Callable[..., Tab], path: str) -> None:
    """Switching the range fetches that range and redraws the chart; so does a custom range."""
    tab = open_tab(path)
    page = tab.page
    page.wait_for_selector("#chart[data-draws='1']")
    before = page.evaluate("document.getElementById('chart').toDataURL()")
    start = float(page.get_attribute("#chart", "data-from") or 0)
    page.click("[data-range='6h']")
    page.wait_for_selector("#chart[data-draws='2'][data-range='6h']")
    assert page.get_attribute("[data-range='6h']", "aria-pressed") == "true"
    wider = float(page.get_attribute("#chart", "data-from") or 0)
    assert 5 * 3600 - 60 < start - wider < 5 * 3600 + 60
    assert page.evaluate("document.getElementById('chart').toDataURL()") != before
    assert "range=6h" in page.url
    # A custom range of the last two minutes.
    page.click("[data-range='custom']")
    expect(page.locator("#custom-range")).to_be_visible(timeout=WAIT_MS)
    now = page.evaluate("Date.now()")
    page.evaluate(
        "([from, to]) => {"
        " const local = (ms) => { const d = new Date(ms);"
        " d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); };"
        " document.getElementById('from').value = local(from);"
        " document.getElementById('to').value = local(to); }",
        [now - 120_000, now + 60_000],
    )
    page.click("#apply-range")
    page.wait_for_selector("#chart[data-draws='3'][data-range='custom']")
    span = float(page.get_attribute("#chart", "data-to") or 0) - float(
        page.get_attribute("#chart", "data-from") or 0
    )
    assert 120 <= span <= 300
    # Another series: the chart shows it (its points arrive with the next draw).
    page.locator("[data-series='bus_voltage']").check()
    page.wait_for_selector("#chart[data-draws='4']")
    assert "keys=" in page.url and "bus_voltage" in page.url
    tab.check()


def test_setting_round_trips_to_the_simulator(
    open_tab: Callable[..., Tab], daemon: Daemon, artifacts: Callable[[Tab, str], Path]
) -> None:
    """Set output source priority in the panel: confirm, give the token, the inverter has it."""
    current = daemon.read("inverter", "QPIRI")["output_source_priority"]
    wanted = "Solar first" if current != "Solar first" else "Utility first"
    tab = open_tab("/")
    page = tab.page
    page.click('[data-device="inverter"] button.settings')
    select = page.locator("select[data-setting='output_source_priority']")
    select.wait_for()
    assert "SBU first" in select.locator("option").all_inner_texts()
    artifacts(tab, "settings-panel")
    select.select_option(wanted)
    page.click("[data-apply='output_source_priority']")
    assert text(tab, "#settings-dialog .question") == f"Set Output source priority to {wanted}?"
    page.click("#settings-dialog [data-action='confirm']")
    # No token stored yet: the server answers 401 and the panel asks for it. A wrong one first.
    page.fill("#token-input", "wrong-token")
    page.click("[data-action='save-token']")
    page.wait_for_selector("#settings-dialog .token-form .warning")
    page.fill("#token-input", TOKEN)
    page.click("[data-action='save-token']")
    result = page.locator("#settings-dialog [data-result]")
    result.wait_for()
    assert result.get_attribute("data-result") == "ok", result.inner_text()
    assert result.text_content() == f"Output source priority is now {wanted}."
    assert daemon.read("inverter", "QPIRI")["output_source_priority"] == wanted
    assert page.evaluate("localStorage.getItem('mppsolar.token')") == TOKEN
    # The bridge polls again after a setter: the dashboard's table shows the new value live.
    page.click("#settings-dialog [data-action='close']")
    page.locator('[data-device="inverter"] details.all summary').click()
    expect(
        page.locator('[data-device="inverter"] tr[data-key="output_source_priority"] td.num')
    ).to_have_text(wanted, timeout=WAIT_MS)
    tab.check("/api/command")


def test_safety_setting_needs_a_second_confirmation(
    open_tab: Callable[..., Tab], daemon: Daemon, artifacts: Callable[[Tab, str], Path]
) -> None:
    """A safety setting asks twice; cancelling the second question sends nothing."""
    before = daemon.read("inverter", "QPIRI")["battery_float_charge_voltage"]
    wanted = 54.5 if before != 54.5 else 54.0
    tab = open_tab("/lcars")
    page = tab.page
    page.evaluate(f"localStorage.setItem('mppsolar.token', {TOKEN!r})")
    page.click('[data-device="inverter"] button.settings')
    field = page.locator("input[data-setting='battery_float_charge_voltage']")
    assert text(tab, "[data-key='battery_float_charge_voltage'] .badge") == "safety"
    field.fill(str(wanted))
    page.click("[data-apply='battery_float_charge_voltage']")
    page.click("#settings-dialog [data-action='confirm']")
    # The dialog is already open: wait for its text to change, do not read it at once.
    expect(page.locator("#settings-dialog .question")).to_contain_text(
        "safety setting", timeout=WAIT_MS
    )
    artifacts(tab, "safety-confirmation-lcars")
    page.click("#settings-dialog [data-action='cancel']")
    page.wait_for_selector("select[data-setting='output_source_priority']")
    assert daemon.read("inverter", "QPIRI")["battery_float_charge_voltage"] == before
    # Again, confirming both times.
    page.locator("input[data-setting='battery_float_charge_voltage']").fill(str(wanted))
    page.click("[data-apply='battery_float_charge_voltage']")
    page.click("#settings-dialog [data-action='confirm']")
    page.click("#settings-dialog [data-action='confirm']")
    result = page.locator("#settings-dialog [data-result]")
    result.wait_for()
    assert result.get_attribute("data-result") == "ok", result.inner_text()
    assert daemon.read("inverter", "QPIRI")["battery_float_charge_voltage"] == wanted
    tab.check()


def test_refused_setting_shows_the_reason(open_tab: Callable[..., Tab]) -> None:
    """A device without an allowlist offers no settings; a refused refresh says why."""
    tab = open_tab("/")
    page = tab.page
    page.click('[data-device="daly"] button.settings')
    # The dialog opens with "Loading…": wait for the answer.
    expect(page.locator("#settings-dialog")).to_contain_text(
        "No setting of this device is allowed", timeout=WAIT_MS
    )
    page.click("#settings-dialog .close")
    # Refresh needs the token too; cancelling the prompt sends nothing and shows no error.
    page.click('[data-device="daly"] button.refresh')
    page.click("#settings-dialog [data-action='cancel']")
    page.evaluate(f"localStorage.setItem('mppsolar.token', {TOKEN!r})")
    page.click('[data-device="daly"] button.refresh')
    page.wait_for_selector("#toast[data-kind='ok']")
    tab.check("/api/refresh")


def test_refusal_is_shown_with_its_reason(open_tab: Callable[..., Tab]) -> None:
    """A refused change shows the server's reason, not a success (the answer is intercepted).

    Every listed setting is allowed by construction, so the refusal is played by the browser's
    request routing: what is checked is how the panel presents the command channel's answer.
    """
    tab = open_tab("/")
    page = tab.page
    page.evaluate(f"localStorage.setItem('mppsolar.token', {TOKEN!r})")
    refusal = {
        "ok": False,
        "refused": "not_allowed",
        "error": "POP02 is not in mqtt_allowed_cmds",
        "result": None,
    }
    page.route(
        "**/api/command",
        lambda route: route.fulfill(status=403, json=refusal),
    )
    page.click('[data-device="inverter"] button.settings')
    page.locator("select[data-setting='output_source_priority']").select_option("SBU first")
    page.click("[data-apply='output_source_priority']")
    page.click("#settings-dialog [data-action='confirm']")
    result = page.locator("#settings-dialog [data-result]")
    result.wait_for()
    assert result.get_attribute("data-result") == "error"
    assert result.text_content() == "not_allowed: POP02 is not in mqtt_allowed_cmds"
    assert text(tab, "#settings-dialog h2") == "Refused"
    tab.check("/api/command")
