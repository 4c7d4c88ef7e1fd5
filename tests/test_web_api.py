"""The web UI's API against a real bridge polling simulated devices.

Each test starts a :class:`Bridge` with simulators (``sim://pi30``, ``sim://daly``…) and serves
the web application on a loopback port with aiohttp's test server; requests go through a real
HTTP client. Polls are driven by ``refresh`` (the cadences are an hour), so every count is
exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import json
import logging
import os
from pathlib import Path
import signal
import stat
import subprocess
import sys
from typing import Any

from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
import pytest

from mppsolar_lib.__main__ import DEFAULT_WEB, _daemon_parser, main
from mppsolar_lib.bridge.daemon import Bridge, DeviceRunner
from mppsolar_lib.bridge.model import BridgeConfig, DeviceConfig
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.outputs.base import Report
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field
from mppsolar_lib.web import WebServer, WebSettings, app as web_app, create_app, history, security
from tests.servers.mosquitto import free_port

TIMEOUT = 30.0
TOKEN = "test-token-123"
EVIL = "<script>alert(1)</script>"
#: What the inverter's allowlist lets the UI do.
ALLOWED = ("POP0[0-2]", "MCHGC0[0-9][0-9]", "QPGS[0-9]", "QPIGS", "PEa", "PDa", "PEb")


def inverter(name: str = "inv", **kwargs: Any) -> DeviceConfig:
    """Return a simulated PI30 inverter polled at start and then on refresh only."""
    options: dict[str, Any] = {
        "commands": ("QPIGS",),
        "slow_commands": ("QPIRI", "QFLAG"),
        "pause": 3600.0,
        "slow_pause": 3600.0,
        "port": "sim://pi30",
        "protocol": "pi30",
        "outputs": (),
        "mqtt_allowed_cmds": ALLOWED,
        **kwargs,
    }
    return DeviceConfig(name=name, **options)


def bms(name: str = f"bms {EVIL}", **kwargs: Any) -> DeviceConfig:
    """Return a simulated Daly BMS."""
    options: dict[str, Any] = {
        "commands": ("SOC", "cellVoltages"),
        "pause": 3600.0,
        "port": "sim://daly",
        "protocol": "daly",
        "outputs": (),
        **kwargs,
    }
    return DeviceConfig(name=name, **options)


def times(runner: DeviceRunner) -> list[float]:
    """Return the times of the runner's latest reports."""
    return [report.time for report in runner.latest.values() if report.time is not None]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until ``condition`` holds."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.01)


async def poll(runner: DeviceRunner) -> None:
    """Make ``runner`` poll once more and wait until its reports are handed over."""
    polls = runner.polls
    runner.refresh()
    await until(lambda: runner.polls > polls)
    assert runner.handover is not None
    await asyncio.wait_for(asyncio.shield(runner.handover), TIMEOUT)


class Rig:
    """A running bridge, its web app and a client."""

    def __init__(self, bridge: Bridge, app: web.Application, client: TestClient[Any, Any]) -> None:
        """Hold the parts."""
        self.bridge = bridge
        self.app = app
        self.client = client

    @property
    def state(self) -> web_app.State:
        """The app's shared state."""
        return self.app[web_app.STATE]

    def runner(self, name: str = "inv") -> DeviceRunner:
        """Return a device's runner."""
        return self.bridge.runners[name]

    async def post(self, path: str, body: object = None, **headers: str) -> ClientResponse:
        """POST JSON with the token (unless ``headers`` say otherwise)."""
        sent = {"Authorization": f"Bearer {TOKEN}", **headers}
        sent = {key: value for key, value in sent.items() if value}
        return await self.client.post(path, json=body, headers=sent)

    async def get_json(self, path: str, status: int = 200) -> Any:
        """GET ``path``; check the status and that it is JSON; return the body."""
        response = await self.client.get(path)
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


@contextlib.asynccontextmanager
async def started_bridge(tmp_path: Path, *devices: DeviceConfig) -> AsyncIterator[Bridge]:
    """Run a bridge with ``devices`` (default: an inverter and a BMS) until the block ends."""
    config = BridgeConfig(devices=devices or (inverter(), bms()))
    bridge = Bridge(config, spool_dir=tmp_path / "state")
    async with asyncio.timeout(TIMEOUT):
        await bridge.start()
    try:
        await until(lambda: all(runner.polls for runner in bridge.runners.values()))
        yield bridge
    finally:
        async with asyncio.timeout(TIMEOUT):
            await bridge.stop()


@contextlib.asynccontextmanager
async def served(bridge: Bridge, **settings: Any) -> AsyncIterator[Rig]:
    """Serve ``bridge``'s web app (token :data:`TOKEN`, short heartbeat) to a test client."""
    options: dict[str, Any] = {"token": TOKEN, "heartbeat": 0.05, **settings}
    app = create_app(bridge, WebSettings(**options))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    async with asyncio.timeout(TIMEOUT):
        await client.start_server()
    try:
        yield Rig(bridge, app, client)
    finally:
        async with asyncio.timeout(TIMEOUT):
            await client.close()


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, *devices: DeviceConfig, **settings: Any) -> AsyncIterator[Rig]:
    """Run a bridge and serve it."""
    async with started_bridge(tmp_path, *devices) as bridge, served(bridge, **settings) as r:
        yield r


# -- current values -----------------------------------------------------------------------------


async def test_data_has_every_device_with_values_units_and_times(tmp_path: Path) -> None:
    """/api/data: each device's availability, protocol, family and its latest values."""
    async with rig(tmp_path) as r:
        data = await r.get_json("/api/data")
        assert set(data["devices"]) == {"inv", f"bms {EVIL}"}
        inv, battery = data["devices"]["inv"], data["devices"][f"bms {EVIL}"]
        assert (inv["online"], inv["protocol"], inv["family"]) == (True, "pi30", "inverter")
        assert (battery["online"], battery["protocol"], battery["family"]) == (True, "daly", "bms")
        qpigs = r.runner().latest["QPIGS"]
        assert inv["updated"] == max(times(r.runner()))
        # Live values win over the rated ones of the same key (QPIRI's ac_output_voltage).
        voltage = inv["values"]["ac_output_voltage"]
        assert voltage == {
            "name": "AC Output Voltage",
            "value": next(row.value for row in qpigs.rows if row.key == "ac_output_voltage"),
            "unit": "V",
            "kind": "number",
            "command": "QPIGS",
            "time": qpigs.time,
        }
        # The rated value of the same key is there too, as "<key>_setting" (as in Home Assistant).
        qpiri = r.runner().latest["QPIRI"]
        rated = inv["values"]["ac_output_voltage_setting"]
        assert (rated["name"], rated["command"]) == ("AC Output Voltage setting", "QPIRI")
        assert rated["value"] == next(x.value for x in qpiri.rows if x.key == "ac_output_voltage")
        assert inv["values"]["output_source_priority"]["kind"] == "enum"
        assert inv["values"]["output_source_priority"]["value"] == "SBU first"
        assert battery["values"]["soc"]["unit"] == "%"
        assert battery["values"]["cell_01_voltage"]["command"] == "cellVoltages"
        assert abs(data["time"] - qpigs.time) < 3600
        # A new poll shows up.
        await poll(r.runner())
        data = await r.get_json("/api/data")
        assert data["devices"]["inv"]["values"]["ac_output_voltage"]["time"] == (
            r.runner().latest["QPIGS"].time
        )


async def test_device_names_and_values_are_only_ever_json(tmp_path: Path) -> None:
    """A device name with markup reaches the pages only as JSON data, never as HTML."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>mppsolar</title>\n")
    async with rig(tmp_path, inverter(), bms(), static_dir=static) as r:
        response = await r.client.get("/api/data")
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        text = await response.text()
        assert json.dumps(f"bms {EVIL}") in text
        page = await r.client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        assert EVIL not in await page.text() and "script" not in await page.text()
        # A page that is not installed is a JSON 404; static files are served as files.
        missing = await r.client.get("/charts/lcars")
        assert missing.status == 404 and "charts-lcars.html" in (await missing.json())["error"]
        asset = await r.client.get("/static/index.html")
        assert asset.status == 200
        assert (await r.client.get("/static/../state/web-token")).status in (403, 404)
        # Detaching twice (a stopped app) is harmless.
        r.state.detach()
        r.state.detach()
    async with rig(tmp_path / "2", inverter(), static_dir=tmp_path / "none") as r:
        assert (await r.client.get("/static/app.js")).status == 404
        assert (await r.client.get("/")).status == 404


def test_json_values_and_families() -> None:
    """Values JSON cannot carry become null; every protocol maps to a family."""
    assert web_app.plain(float("nan")) is None
    assert web_app.plain((1.0, float("inf"))) == [1.0, None]
    assert [web_app.family(name) for name in ("pi30", "jk02", "daly", "ved", "xyz", None)] == [
        "inverter",
        "bms",
        "bms",
        "charger",
        None,
        None,
    ]
    report = Report("X", "", (Field("a", "A", True), Field("b", "B", 3), Field("c", "C", "t")))
    report.time = 5.0
    kinds = {key: entry["kind"] for key, entry in web_app.report_values(None, [report]).items()}
    assert kinds == {"a": "bool", "b": "number", "c": "text"}
    # Keys and commands the protocol does not describe: the value's own kind.
    pi30 = get_protocol("pi30")
    report = Report("QPIGS", "", (Field("zzz", "Z", 1.5),), time=1.0)
    assert web_app.report_values(pi30, [report])["zzz"]["kind"] == "number"
    report = Report("NOSUCH", "", (Field("t", "T", (1, 2)),), time=1.0)
    assert web_app.report_values(pi30, [report])["t"]["kind"] == "number"


# -- history ------------------------------------------------------------------------------------


async def test_history_from_memory(tmp_path: Path) -> None:
    """/api/historical from memory: every poll, in time order, numbers only, narrowed by keys."""
    async with rig(tmp_path) as r:
        for _ in range(3):
            await poll(r.runner())
        await poll(r.runner(f"bms {EVIL}"))
        body = await r.get_json("/api/historical?device=inv")
        assert body["device"] == "inv" and body["sources"] == ["memory"]
        assert body["to"] - body["from"] == web_app.DEFAULT_SPAN
        times = [point["time"] for point in body["points"]]
        # 4 polls x 2 commands (QFLAG's flags are text: "enabled", not charted).
        assert times == sorted(times) and len(times) == 4 * 2
        qpigs = [p for p in body["points"] if "pv_input_voltage" in p["values"]]
        assert len(qpigs) == 4
        assert all(
            isinstance(value, int | float) for p in body["points"] for value in p["values"].values()
        )
        assert "output_source_priority" not in str(body["points"])
        # A chart of the live battery voltage never gets QPIRI's rated one (its own series).
        qpiri = [p for p in body["points"] if "battery_voltage_setting" in p["values"]]
        assert qpiri
        assert all("battery_voltage" not in p["values"] for p in qpiri)
        latest = r.runner().latest["QPIGS"]
        narrowed = await r.get_json(
            f"/api/historical?device=inv&keys=pv_input_voltage,nothing&to={latest.time}"
        )
        assert [p["values"] for p in narrowed["points"]][-1] == {
            "pv_input_voltage": next(x.value for x in latest.rows if x.key == "pv_input_voltage")
        }
        assert len(narrowed["points"]) == 4
        first = times[0]
        later = await r.get_json(f"/api/historical?device=inv&from={first + 1e-6}&to=")
        assert len(later["points"]) == 7
        everything = await r.get_json("/api/historical/all")
        assert set(everything["devices"]) == {"inv", f"bms {EVIL}"}
        assert everything["devices"]["inv"] == body["points"]
        assert len(everything["devices"][f"bms {EVIL}"]) == 2 * 2
        # Lists (a BMS's cells) are charted item by item.
        assert "errors" not in everything


async def test_history_requests_that_cannot_be_answered(tmp_path: Path) -> None:
    """Unknown device 404; bad or reversed times 400, each with the reason."""
    async with rig(tmp_path) as r:
        body = await r.get_json("/api/historical?device=nope", 404)
        assert body == {"error": f"no device 'nope'; devices: bms {EVIL}, inv", "status": 404}
        assert (await r.get_json("/api/historical", 404))["error"].startswith("no device None")
        body = await r.get_json("/api/historical?device=inv&from=soon", 400)
        assert body["error"] == "from must be seconds since the epoch, got 'soon'"
        body = await r.get_json("/api/historical?device=inv&to=nan", 400)
        assert "to must be" in body["error"]
        body = await r.get_json("/api/historical/all?from=10&to=5", 400)
        assert body["error"] == "from (10) is after to (5)"


async def test_history_from_prom_files_and_their_backups(tmp_path: Path) -> None:
    """The prom_file output's files and backups are read back, once each, de-duplicated."""
    prom = tmp_path / "prom"
    device = inverter(outputs=("prom_file",), prom_output_dir=str(prom))
    async with started_bridge(tmp_path, device, bms()) as bridge:
        runner = bridge.runners["inv"]
        async with served(bridge) as r:
            for _ in range(3):
                await poll(runner)
            # Every command's file and its 3 backups are written (the sinks deliver
            # in the background: QPIRI's last write may land after QPIGS').
            await until(
                lambda: all(
                    len(list(prom.glob(f"mpp-solar-inv-{command}.prom*"))) == 4
                    for command in ("qpigs", "qpiri", "qflag")
                )
            )
            qpigs = sorted(prom.glob("mpp-solar-inv-qpigs.prom*"))
            live = await r.get_json("/api/historical?device=inv")
            assert live["sources"] == ["memory", "prom_file"]
            # Memory holds the same readings: each is there once.
            assert len(live["points"]) == 4 * 2
        # A new app has nothing in memory: the files give the readings back.
        async with served(bridge) as r:
            body = await r.get_json(
                "/api/historical?device=inv&keys=pv_input_voltage,max_charging_current"
            )
            assert r.state.prom.parsed == 4 * 3
            from_files = [p for p in body["points"] if "pv_input_voltage" in p["values"]]
            assert len(from_files) == 4
            assert sorted(p["values"]["pv_input_voltage"] for p in from_files) == sorted(
                p["values"]["pv_input_voltage"]
                for p in live["points"]
                if "pv_input_voltage" in p["values"]
            )
            # The app started with the latest poll in memory: the current file is that poll.
            backups = [path.stat().st_mtime for path in qpigs if path.suffix != ".prom"]
            latest = runner.latest["QPIGS"].time
            assert latest is not None
            assert [p["time"] for p in from_files] == sorted([*backups, latest])
            assert any("max_charging_current" in p["values"] for p in body["points"])
            # Parsed once: asking again reads nothing; a changed file is read again.
            await r.get_json("/api/historical?device=inv")
            assert r.state.prom.parsed == 4 * 3
            os.utime(qpigs[0], (1.0, 2.0))
            await r.get_json("/api/historical?device=inv&from=0")
            assert r.state.prom.parsed == 4 * 3 + 1
            # Rotated files are forgotten.
            qpigs[1].unlink()
            await r.get_json("/api/historical?device=inv&from=0")
            assert qpigs[1] not in r.state.prom.cache


def test_prom_reader_edge_cases(tmp_path: Path) -> None:
    """Series of other devices, text series, bad lines and missing directories are skipped."""
    samples = list(
        history.parse_exposition(
            "# HELP x y\n\n"
            'mpp_solar_a{inverter="inv",cmd="Q",index="1"} 2.5\n'
            'mpp_solar_b{inverter="inv",cmd="Q",value="on"} 1\n'
            'mpp_solar_c{inverter="other",cmd="Q"} 3\n'
            "mpp_solar_d 4\n"
            'mpp_solar_e{inverter="i\\"n\\\\v\\n"} 5\n'
            "not a sample line at all\n"
            "mpp_solar_f{bad} 1\n"
            "mpp_solar_g NaNa\n"
        )
    )
    assert [(s.series, dict(s.labels), s.value) for s in samples] == [
        ("mpp_solar_a", {"inverter": "inv", "cmd": "Q", "index": "1"}, 2.5),
        ("mpp_solar_b", {"inverter": "inv", "cmd": "Q", "value": "on"}, 1.0),
        ("mpp_solar_c", {"inverter": "other", "cmd": "Q"}, 3.0),
        ("mpp_solar_d", {}, 4.0),
        ("mpp_solar_e", {"inverter": 'i"n\\v\n'}, 5.0),
    ]
    device = inverter(prom_output_dir=str(tmp_path / "missing"))
    files = history.PromFiles()
    assert files.points(device, 0, 1e10, {}) == []
    directory = tmp_path / "prom"
    directory.mkdir()
    device = inverter(prom_output_dir=str(directory))
    (directory / "mpp-solar-inv-q.prom").write_text(
        'mpp_solar_a{inverter="inv",cmd="Q",index="1"} 2.5\n'
        'mpp_solar_b{inverter="inv",cmd="Q",value="on"} 1\n'
        'mpp_solar_c{inverter="other",cmd="Q"} 3\n'
        'machine_role{inverter="inv"} 1\n'
    )
    (directory / "mpp-solar-inv-empty.prom").write_text("# nothing\n")
    (directory / "mpp-solar-inv-q.txt").write_text("not a prom file\n")
    (directory / "mpp-solar-other-q.prom").write_text('mpp_solar_a{inverter="other"} 1\n')
    (directory / "mpp-solar-inv-dangling.prom").symlink_to(directory / "gone")
    (point,) = files.points(device, 0, 1e10, {"mpp_solar_a": "A"})
    assert (point.command, dict(point.values)) == ("Q", {"A.1": 2.5})
    assert files.points(device, 0, 1.0, {}) == []


def test_merge_and_numbers() -> None:
    """Exact duplicates go; prom points matching a reading up to the window before go too."""
    assert history.numbers([("a", True), ("b", float("nan")), ("c", [1, True, float("inf")])]) == {
        "a": 1,
        "c.0": 1,
    }
    assert history.report_point(Report("Q", "", (Field("a", "A", "text"),), time=1.0)) is None
    assert history.report_point(Report("Q", "", (Field("a", "A", 1),))) is None
    memory = [history.Point(100.0, "Q", {"a": 1.0}), history.Point(100.0, "Q", {"a": 1.0})]
    prom = [
        history.Point(101.0, "Q", {"a": 1.0}),  # the same reading, written 1 s later
        history.Point(101.0, "Q", {"b": 1.0}),  # nothing in common: kept
        history.Point(50.0, "Q", {"a": 2.0}),  # older: kept
        history.Point(100.5, "R", {"a": 1.0}),  # another command: kept
    ]
    merged = history.merge(memory, prom)
    assert [(p.time, p.command, dict(p.values)) for p in merged] == [
        (50.0, "Q", {"a": 2.0}),
        (100.0, "Q", {"a": 1.0}),
        (100.5, "R", {"a": 1.0}),
        (101.0, "Q", {"b": 1.0}),
    ]
    assert history.as_json(merged, frozenset({"b"})) == [{"time": 101.0, "values": {"b": 1.0}}]


async def test_history_from_postgres(tmp_path: Path, pg_server: Any) -> None:
    """Rows of the postgres output are read back, merged with memory, each reading once."""
    pg_server.psql("postgres", "CREATE DATABASE webhist")
    url = pg_server.url("webhist")
    device = inverter(outputs=("postgres",), postgres_url=url)
    async with started_bridge(tmp_path, device, bms()) as bridge:
        runner = bridge.runners["inv"]
        async with served(bridge) as r:
            # No table yet (the output has not written): no rows, no error.
            assert r.state.postgres.pools == {}
            await poll(runner)
            await until(lambda: not any(sink.pending for sink in runner.sinks))
            live = await r.get_json("/api/historical?device=inv")
            assert live["sources"] == ["memory", "postgres"]
            assert len(live["points"]) == 2 * 2
        async with served(bridge) as r:
            body = await r.get_json("/api/historical?device=inv")
            assert body["sources"] == ["memory", "postgres"]
            assert body["points"] == [
                {"time": pytest.approx(p["time"], abs=1e-6), "values": p["values"]}
                for p in live["points"]
            ]
            everything = await r.get_json("/api/historical/all")
            assert len(everything["devices"]["inv"]) == 2 * 2
    pg_server.psql("postgres", "CREATE DATABASE webempty")
    device = inverter(outputs=(), postgres_url=pg_server.url("webempty"))
    async with started_bridge(tmp_path / "2", device) as bridge, served(bridge) as r:
        body = await r.get_json("/api/historical?device=inv")
        assert body["sources"] == ["memory", "postgres"] and len(body["points"]) == 2


async def test_history_downsampled(tmp_path: Path) -> None:
    """step= keeps the first point of each command in every step seconds; a bad step is a 400."""
    async with rig(tmp_path) as r:
        for _ in range(3):
            await poll(r.runner())
        full = (await r.get_json("/api/historical?device=inv"))["points"]
        # Every poll of this test is in one 10⁹ s bucket: the first of each command is left.
        body = await r.get_json("/api/historical?device=inv&step=1e9")
        firsts = [full[0], next(p for p in full if p["values"].keys() != full[0]["values"].keys())]
        assert body["points"] == sorted(firsts, key=lambda p: p["time"])
        assert len(full) == 4 * 2
        everything = await r.get_json("/api/historical/all?step=1e9")
        assert everything["devices"]["inv"] == body["points"]
        assert len(everything["devices"][f"bms {EVIL}"]) == 2
        assert (await r.get_json("/api/historical?device=inv&step="))["points"] == full
        for step in ("0", "-1", "0.0001", "nan", "inf", "soon"):
            answer = await r.get_json(f"/api/historical?device=inv&step={step}", 400)
            assert answer["error"].startswith("step must be a number of seconds")
        await r.get_json("/api/historical/all?step=0", 400)


async def test_history_downsampled_in_postgres(tmp_path: Path, pg_server: Any) -> None:
    """With step=, the database returns only the first row of each command per bucket."""
    from mppsolar_lib.outputs.postgres import SCHEMA  # noqa: PLC0415 - needs asyncpg

    pg_server.psql("postgres", "CREATE DATABASE webstep")
    pg_server.psql("webstep", SCHEMA)
    # QPIGS at 1000…1029 s with battery_voltage 50…79, QPIRI at 1005 s.
    pg_server.psql(
        "webstep",
        "INSERT INTO mppsolar (device, command, updated, data, units) "
        "SELECT 'inv', 'QPIGS', to_timestamp(1000 + s), jsonb_build_object('battery_voltage', "
        "50 + s), '{}'::jsonb FROM generate_series(0, 29) AS s UNION ALL "
        "SELECT 'inv', 'QPIRI', to_timestamp(1005), '{\"battery_voltage\": 48}', '{}'",
    )
    device = inverter(postgres_url=pg_server.url("webstep"))
    async with rig(tmp_path, device) as r:
        body = await r.get_json("/api/historical?device=inv&from=0&to=2000")
        assert body["sources"] == ["memory", "postgres"] and len(body["points"]) == 31
        body = await r.get_json("/api/historical?device=inv&from=0&to=2000&step=10")
        assert body["points"] == [
            {"time": 1000, "values": {"battery_voltage": 50}},
            {"time": 1005, "values": {"battery_voltage_setting": 48}},
            {"time": 1010, "values": {"battery_voltage": 60}},
            {"time": 1020, "values": {"battery_voltage": 70}},
        ]
        everything = await r.get_json("/api/historical/all?from=0&to=2000&step=10")
        assert everything["devices"]["inv"] == body["points"]
        assert everything["steps"] == {"inv": 10}


async def test_too_many_rows_are_thinned_whatever_is_asked(
    tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A span with more rows than MAX_ROWS comes back thinned to MAX_BUCKETS steps, saying so.

    (The limits are lowered for the test: 10 rows, 200 buckets over 2000 s = 10 s steps.)
    """
    from mppsolar_lib.outputs.postgres import SCHEMA  # noqa: PLC0415 - needs asyncpg

    pg_server.psql("postgres", "CREATE DATABASE webcap")
    pg_server.psql("webcap", SCHEMA)
    pg_server.psql(
        "webcap",
        "INSERT INTO mppsolar (device, command, updated, data, units) "
        "SELECT 'inv', 'QPIGS', to_timestamp(1000 + s), jsonb_build_object('battery_voltage', "
        "50 + s), '{}'::jsonb FROM generate_series(0, 29) AS s",
    )
    monkeypatch.setattr(web_app, "MAX_ROWS", 10)
    monkeypatch.setattr(web_app, "MAX_BUCKETS", 200)
    device = inverter(postgres_url=pg_server.url("webcap"))
    async with rig(tmp_path, device) as r:
        body = await r.get_json("/api/historical?device=inv&from=0&to=2000")
        assert body["step"] == 10
        assert [p["values"]["battery_voltage"] for p in body["points"]] == [50, 60, 70]
        # Few enough rows: nothing is thinned, and the answer says so.
        few = await r.get_json("/api/historical?device=inv&from=1000&to=1005")
        assert few["step"] is None and len(few["points"]) == 6


async def test_history_when_postgres_is_unreachable(tmp_path: Path) -> None:
    """A database that cannot be reached is reported; memory still answers."""
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    async with rig(tmp_path, inverter(postgres_url=url)) as r:
        body = await r.get_json("/api/historical?device=inv")
        assert body["sources"] == ["memory"] and len(body["points"]) == 2
        assert "postgres" in body["errors"]
        everything = await r.get_json("/api/historical/all")
        assert "inv/postgres" in everything["errors"]


async def test_postgres_pool_that_will_not_close_is_cut() -> None:
    """Closing the readers' pools never hangs."""

    class Stuck:
        terminated = False

        async def close(self) -> None:
            raise OSError("gone")

        def terminate(self) -> None:
            self.terminated = True

    reader = history.Postgres()
    stuck = Stuck()
    reader.pools["x"] = stuck
    await reader.close()
    assert stuck.terminated and reader.pools == {}


# -- refresh and commands -----------------------------------------------------------------------


async def test_refresh_polls_now(tmp_path: Path) -> None:
    """POST /api/refresh polls one device or all of them (202)."""
    async with rig(tmp_path) as r:
        polls = r.runner().polls
        response = await r.post("/api/refresh", {"device": "inv"})
        assert response.status == 202 and await response.json() == {"refreshed": ["inv"]}
        await until(lambda: r.runner().polls == polls + 1)
        response = await r.post("/api/refresh")
        assert await response.json() == {"refreshed": ["inv", f"bms {EVIL}"]}
        response = await r.post("/api/refresh", {"device": "nope"})
        assert response.status == 404
        response = await r.client.post(
            "/api/refresh", data="x", headers={"X-MPPSolar-Token": TOKEN}
        )
        assert response.status == 415 and "application/json" in (await response.json())["error"]
        response = await r.client.post(
            "/api/refresh",
            data="{x",
            headers={"X-MPPSolar-Token": TOKEN, "Content-Type": "application/json"},
        )
        assert response.status == 400 and "invalid JSON" in (await response.json())["error"]
        response = await r.post("/api/refresh", [1])
        assert (await response.json())["error"] == "expected a JSON object"
        response = await r.client.get("/api/refresh")
        assert response.status == 405 and response.headers["Allow"] == "POST"
        assert (await r.get_json("/api/nothing", 404))["status"] == 404


async def command(r: Rig, body: dict[str, Any], status: int) -> dict[str, Any]:
    """POST a command; check the status; return the answer."""
    response = await r.post("/api/command", body)
    answer: dict[str, Any] = await response.json()
    assert response.status == status, answer
    return answer


async def test_commands_through_the_allowlist(tmp_path: Path) -> None:
    """Allowed commands run; the rest are refused with the reason and never sent."""
    async with rig(tmp_path) as r:
        inv = r.runner()
        answer = await command(r, {"device": "inv", "command": "pop00", "id": 4}, 200)
        assert answer == {**answer, "ok": True, "command": "POP00", "id": 4, "refused": None}
        assert answer["result"] == {"pop": "ACK"}
        result = await inv.device.command("QPIRI")
        assert result["output_source_priority"] == "Utility first"
        # Not allowlisted: 403, the device is not asked.
        answer = await command(r, {"device": "inv", "command": "PCP03"}, 403)
        assert answer["refused"] == "not_allowed" and "not in mqtt_allowed_cmds" in answer["error"]
        answer = await command(r, {"device": f"bms {EVIL}", "command": "SOC"}, 403)
        assert answer["refused"] == "not_allowed"
        # Invalid values: 400.
        body = {"device": "inv", "setting": "max_charging_current", "value": 500}
        answer = await command(r, body, 400)
        assert answer["refused"] == "invalid" and "out of range" in answer["error"]
        body = {"device": "inv", "setting": "output_source_priority", "value": "Moon"}
        assert (await command(r, body, 400))["refused"] == "invalid"
        body = {"device": "inv", "command": "QPIGS", "extra": 1, "id": "m"}
        answer = await command(r, body, 400)
        assert answer["refused"] == "malformed" and answer["id"] == "m"
        answer = await command(r, {"device": "inv", "command": "QPIGS", "id": True, "x": 1}, 400)
        assert answer["id"] is None
        # The unit refuses (NAK): 502, an error, not a refusal.
        answer = await command(r, {"device": "inv", "command": "QPGS5"}, 502)
        assert answer["refused"] is None and "NAK" in answer["error"]
        # Safety settings need confirmation: 409, then done with it.
        body = {"device": "inv", "setting": "max_charging_current", "value": 30}
        answer = await command(r, body, 409)
        assert answer["refused"] == "confirmation_required" and "60 A -> 30 A" in answer["error"]
        answer = await command(r, {**body, "confirm": True}, 200)
        assert answer["result"] == {"max_charging_current": 30} and answer["previous"] == 60
        body = {"device": "inv", "setting": "output_source_priority", "value": "Solar first"}
        answer = await command(r, body, 200)
        assert answer["command"] == "POP01" and answer["previous"] == "Utility first"
        assert (await command(r, {"command": "QPIGS"}, 404))["error"].startswith("no device None")


async def test_settings_the_allowlist_permits(tmp_path: Path) -> None:
    """/api/settings lists what the allowlist lets the UI write, with the allowed values."""
    async with rig(tmp_path) as r:
        settings = await r.get_json("/api/settings?device=inv")
        by_key = {setting["key"]: setting for setting in settings}
        assert list(by_key) == ["output_source_priority", "max_charging_current", "buzzer"]
        assert by_key["output_source_priority"] == {
            "key": "output_source_priority",
            "name": "Output source priority",
            "kind": "select",
            "value": "SBU first",
            "unit": "",
            "safety": False,
            "options": ["Utility first", "Solar first", "SBU first"],
        }
        charging = by_key["max_charging_current"]
        assert (charging["minimum"], charging["maximum"], charging["step"]) == (1, 99, 1)
        assert charging["value"] == 60 and charging["safety"] is True and charging["unit"] == "A"
        assert by_key["buzzer"]["kind"] == "switch" and by_key["buzzer"]["value"] in (True, False)
        # overload_bypass: only PEb is allowed, not PDb: not listed.
        assert await r.get_json(f"/api/settings?device=bms%20{EVIL}") == []
        await r.get_json("/api/settings?device=nope", 404)
        # A setting whose read command is not polled has no value yet.
        del r.runner().latest["QFLAG"]
        settings = await r.get_json("/api/settings?device=inv")
        assert [s["value"] for s in settings if s["key"] == "buzzer"] == [None]
        r.runner().latest["QFLAG"] = Report("QFLAG", "", (), time=1.0)
        settings = await r.get_json("/api/settings?device=inv")
        assert [s["value"] for s in settings if s["key"] == "buzzer"] == [None]


async def test_settings_written_with_the_current_reading(tmp_path: Path) -> None:
    """PI18 voltages are written with their partner from the current reading."""
    device = inverter(
        commands=("GS",),
        slow_commands=("PIRI",),
        port="sim://pi18",
        protocol="pi18",
        mqtt_allowed_cmds=("MCHGV5[0-9][0-9],[0-9]+",),
    )
    async with rig(tmp_path, device) as r:
        keys = [s["key"] for s in await r.get_json("/api/settings?device=inv")]
        assert keys == ["battery_bulk_voltage", "battery_float_voltage"]
        del r.runner().latest["PIRI"]
        keys = [s["key"] for s in await r.get_json("/api/settings?device=inv")]
        assert keys == []


async def test_settings_of_a_device_that_never_answered(tmp_path: Path) -> None:
    """A device whose protocol is not known yet: 503 with the reason."""
    device = inverter(protocol=None, port=f"127.0.0.1:{free_port()}", porttype="tcp")
    bridge = Bridge(BridgeConfig(devices=(device,)), spool_dir=tmp_path / "state")
    await bridge.start(poll=False)
    try:
        async with served(bridge) as r:
            body = await r.get_json("/api/settings?device=inv", 503)
            assert body["error"].startswith("inv: protocol unknown yet")
            data = await r.get_json("/api/data")
            assert data["devices"]["inv"] == {
                "online": None,
                "protocol": None,
                "family": None,
                "updated": None,
                "values": {},
            }
    finally:
        await bridge.stop()


# -- security -----------------------------------------------------------------------------------


async def test_every_refusal(tmp_path: Path) -> None:
    """No token, a wrong token, another site's origin: refused with the reason; reads are open."""
    async with rig(tmp_path) as r:
        body = {"device": "inv", "command": "QPIGS"}
        response = await r.post("/api/command", body, Authorization="")
        assert response.status == 401 and "token is needed" in (await response.json())["error"]
        response = await r.post("/api/command", body, Authorization="Bearer nope")
        assert response.status == 401 and (await response.json())["error"] == "wrong token"
        response = await r.post("/api/command", body, Authorization="", **{"X-MPPSolar-Token": "x"})
        assert response.status == 401
        response = await r.post(
            "/api/command", body, Authorization="", **{"X-MPPSolar-Token": TOKEN}
        )
        assert response.status == 200
        own = f"http://{r.client.host}:{r.client.port}"
        response = await r.post("/api/refresh", None, Origin="https://evil.example")
        assert response.status == 403
        assert (
            "cross-origin request from 'https://evil.example'" in (await response.json())["error"]
        )
        response = await r.post("/api/refresh", None, Referer="https://evil.example/page")
        assert response.status == 403
        assert (await r.post("/api/refresh", None, Origin=own)).status == 202
        assert (await r.post("/api/refresh", None, Referer=f"{own}/lcars")).status == 202
        # The origin is checked before the token: another site learns nothing about it.
        response = await r.post("/api/refresh", None, Origin="null", Authorization="")
        assert response.status == 403
        # A name that is not this machine (DNS rebinding) is refused, even for reading.
        response = await r.client.get("/api/data", headers={"Host": "evil.example:80"})
        assert response.status == 403 and "local only" in (await response.json())["error"]
        response = await r.client.get("/api/data", headers={"Host": "[::1]:80"})
        assert response.status == 200
        for bad in ("bad[:x", "[::1"):
            response = await r.client.get("/api/data", headers={"Host": bad})
            assert response.status == 403
        # Every response carries the security headers.
        headers = (await r.client.get("/api/data")).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"


async def test_remote_hosts_when_allowed(tmp_path: Path) -> None:
    """With allow_remote any Host is served."""
    async with rig(tmp_path, inverter(), allow_remote=True) as r:
        response = await r.client.get("/api/data", headers={"Host": "solar.lan:8080"})
        assert response.status == 200


async def test_an_unexpected_failure_is_a_json_500(tmp_path: Path, caplog: Any) -> None:
    """A bug in a handler answers 500 with a JSON reason and is logged."""
    async with rig(tmp_path, inverter()) as r:
        r.runner().latest["QPIGS"].rows = None  # type: ignore[assignment]
        body = await r.get_json("/api/data", 500)
        assert body == {"error": "internal error (see the bridge's log)", "status": 500}
        assert "GET /api/data failed" in caplog.text


async def test_redirects_pass_through() -> None:
    """An HTTP exception that is not an error (a redirect) is not made a JSON error."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    app = web.Application(middlewares=security.middlewares(TOKEN, allow_remote=False))
    app.router.add_get("/old", moved)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/old", allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/elsewhere"


def test_host_names() -> None:
    """The Host header is read without port or brackets; an unreadable one is no host."""
    from aiohttp.test_utils import make_mocked_request  # noqa: PLC0415

    for host, name in (("[::1]:80", "::1"), ("localhost", "localhost"), ("[::1", "")):
        request = make_mocked_request("GET", "/", headers={"Host": host})
        assert security.host_name(request) == name


def test_token_generated_once_stored_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A generated token is stored 0600, printed once, and read back later."""
    state = tmp_path / "state"
    token = security.resolve_token(None, state)
    path = state / security.TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 40 and path.read_text().strip() == token
    assert f"web UI token (shown once; kept in {path}): {token}" in capsys.readouterr().err
    assert security.resolve_token(None, state) == token
    assert capsys.readouterr().err == ""
    path.chmod(0o644)
    assert security.resolve_token(None, state) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("\n")
    assert security.resolve_token(None, state) not in ("", token)
    assert security.resolve_token("given", state) == "given"


async def test_the_server_for_the_daemon(tmp_path: Path, caplog: Any) -> None:
    """WebServer: loopback by default; another address needs allow_remote and warns."""
    async with started_bridge(tmp_path, inverter()) as bridge:
        with pytest.raises(MppSolarError, match="needs --web-allow-remote"):
            WebServer(bridge, WebSettings(host="0.0.0.0", port=free_port()))
        port = free_port()
        server = WebServer(bridge, WebSettings(host="127.0.0.1", port=port, token=TOKEN))
        await server.start()
        try:
            busy = WebServer(bridge, WebSettings(host="127.0.0.1", port=port, token=TOKEN))
            with pytest.raises(MppSolarError, match="cannot listen on"):
                await busy.start()
            assert busy.runner is None
            url = f"http://127.0.0.1:{port}/api/data"
            async with ClientSession() as session, session.get(url) as response:
                assert (await response.json())["devices"]["inv"]["online"] is True
        finally:
            await server.stop()
            await server.stop()
        assert bridge.runners["inv"].listeners == []
        remote = WebServer(
            bridge,
            WebSettings(host="0.0.0.0", port=free_port(), allow_remote=True, state_dir=tmp_path),
        )
        with caplog.at_level(logging.WARNING):
            await remote.start()
        await remote.stop()
        assert "open to the network" in caplog.text


# -- Server-Sent Events -------------------------------------------------------------------------


async def read_event(response: ClientResponse) -> dict[str, Any]:
    """Return the next event of a stream (comments skipped) as {id, event, data}."""
    event: dict[str, Any] = {}
    async with asyncio.timeout(TIMEOUT):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if not line:
                if "data" in event:
                    return event
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                event["data"] = json.loads(value)
            elif name in ("id", "event"):
                event[name] = value


async def test_stream_pushes_readings_and_availability(tmp_path: Path) -> None:
    """/stream: each poll as a reading event, availability changes, heartbeats."""
    async with rig(tmp_path) as r:
        response = await r.client.get("/stream")
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert await response.content.readline() == b"retry: 3000\n"
        await poll(r.runner())
        event = await read_event(response)
        assert event["event"] == "reading" and event["data"]["device"] == "inv"
        report = r.runner().latest["QPIGS"]
        assert event["data"]["time"] == max(times(r.runner()))
        assert event["data"]["values"]["pv_input_voltage"]["time"] == report.time
        # Availability: a poll with no answer, then one with.
        await r.runner().poll(["NOSUCH"])
        event = await read_event(response)
        assert event == {**event, "event": "availability"}
        assert event["data"] == {"device": "inv", "online": False}
        await r.runner().poll(["QPIGS"])
        assert (await read_event(response))["data"] == {"device": "inv", "online": True}
        # A quiet stream gets heartbeats.
        async with asyncio.timeout(TIMEOUT):
            while await response.content.readline() != b": heartbeat\n":
                pass
        response.close()


async def test_stream_replays_after_a_reconnect(tmp_path: Path) -> None:
    """A client reconnecting with Last-Event-ID gets the events it missed, in order."""
    async with rig(tmp_path) as r:
        response = await r.client.get("/stream")
        await poll(r.runner())
        first = await read_event(response)
        response.close()
        await poll(r.runner())
        await poll(r.runner(f"bms {EVIL}"))
        response = await r.client.get("/stream", headers={"Last-Event-ID": first["id"]})
        missed = [await read_event(response), await read_event(response)]
        assert [int(event["id"]) for event in missed] == [
            int(first["id"]) + 1,
            int(first["id"]) + 2,
        ]
        assert [event["data"]["device"] for event in missed] == ["inv", f"bms {EVIL}"]
        response.close()
        # The query form (some proxies drop the header); unreadable ids replay nothing.
        response = await r.client.get(f"/stream?lastEventId={first['id']}")
        assert (await read_event(response))["id"] == missed[0]["id"]
        response.close()
        response = await r.client.get("/stream", headers={"Last-Event-ID": "x"})
        await poll(r.runner())
        assert int((await read_event(response))["id"]) == int(missed[1]["id"]) + 1
        response.close()


async def test_slow_clients_are_dropped_never_waited_for(tmp_path: Path) -> None:
    """A client that does not keep up is dropped; the bridge and the other clients go on."""
    async with rig(tmp_path, inverter(), queue_size=2) as r:
        hub = r.state.hub
        stalled = hub.subscribe()  # never reads
        response = await r.client.get("/stream")
        await until(lambda: len(hub.clients) == 2)
        for _ in range(3):
            await poll(r.runner())
            await read_event(response)
        assert stalled.dropped and stalled not in hub.clients and hub.dropped == 1
        assert await stalled.queue.get() is None
        # Three events at once overflow the streaming client too: its stream ends.
        for _ in range(3):
            hub.publish("test", {})
        async with asyncio.timeout(TIMEOUT):
            while await response.content.readline():
                pass
        assert hub.clients == set()
        hub.drop(stalled)
        assert hub.dropped == 2
        # A reconnect far behind gets what fits in its queue.
        client = hub.subscribe(0)
        assert client.queue.qsize() == 2


async def test_a_stream_that_goes_away(tmp_path: Path) -> None:
    """A client that disconnects is forgotten at the next write."""
    async with rig(tmp_path, inverter()) as r:
        response = await r.client.get("/stream")
        await until(lambda: len(r.state.hub.clients) == 1)
        response.close()
        await until(lambda: not r.state.hub.clients)


async def test_listener_failures_do_not_stop_the_bridge(tmp_path: Path, caplog: Any) -> None:
    """An availability listener that fails is logged; polling goes on."""
    async with rig(tmp_path, inverter()) as r:

        def broken(device: str, online: bool) -> None:
            raise RuntimeError("boom")

        r.runner().availability_listeners.insert(0, broken)
        await r.runner().poll(["NOSUCH"])
        assert "an availability listener failed" in caplog.text
        assert r.runner().online is False


# -- the daemon ---------------------------------------------------------------------------------


def write_config(tmp_path: Path, setup: str = "") -> Path:
    """Write a daemon configuration with one simulated inverter."""
    path = tmp_path / "mppsolar.conf"
    path.write_text(
        f"[SETUP]\nspool_dir = {tmp_path / 'state'}\n{setup}\n"
        "[inv]\nport = sim://pi30\nprotocol = pi30\ncommand = QPIGS\npause = 1\n"
        "outputs = json\n"
    )
    return path


def test_daemon_serves_the_web_ui(tmp_path: Path) -> None:
    """``daemon --web`` serves the UI next to the polling, and stops on SIGTERM."""
    port = free_port()
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "mppsolar_lib", "daemon", "-C", str(config)]
    process = subprocess.Popen(  # noqa: S603 - our own command
        [*command, "--web", f"127.0.0.1:{port}", "--web-token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        async def check() -> None:
            async with ClientSession() as session, asyncio.timeout(TIMEOUT):
                while True:
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/api/data") as response:
                            data = await response.json()
                            if data["devices"]["inv"]["online"]:
                                return
                    except OSError:
                        pass
                    await asyncio.sleep(0.1)

        asyncio.run(check())
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
        assert b"web UI on http://127.0.0.1:" in err
    finally:
        if process.poll() is None:  # pragma: no cover - only when the test failed
            process.kill()
            process.wait()


def test_daemon_web_options_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A network address without --web-allow-remote, or a bad address, stops the daemon."""
    config = write_config(tmp_path)
    assert main(["daemon", "-C", str(config), "--web", f"0.0.0.0:{free_port()}"]) != 0
    assert "needs --web-allow-remote" in capsys.readouterr().err
    assert main(["daemon", "-C", str(config), "--web", "nowhere"]) != 0
    assert "--web: expected host:port" in capsys.readouterr().err
    config = write_config(tmp_path, "web = 127.0.0.1:8080\nweb_token = abc\n")
    assert main(["daemon", "-C", str(config), "--check"]) == 0
    assert "web UI: http://127.0.0.1:8080/" in capsys.readouterr().out
    # --web alone: the loopback default.
    parsed = _daemon_parser().parse_args(["-C", str(config), "--web"])
    assert parsed.web == DEFAULT_WEB == "127.0.0.1:8080"
    assert _daemon_parser().parse_args(["-C", str(config)]).web is None
    config = write_config(tmp_path, "web = [::1]:8080\n")
    assert main(["daemon", "-C", str(config), "--check"]) == 0
    assert "web UI: http://[::1]:8080/" in capsys.readouterr().out


def test_shown_keys_of_settings_answers() -> None:
    """Only a settings answer's key that a status answer also has gets ``_setting``."""
    pi30 = get_protocol("pi30")
    assert history.shown_key(pi30, "QPIRI", "battery_voltage") == "battery_voltage_setting"
    assert history.shown_key(pi30, "QPIRI", "battery_type") == "battery_type"
    assert history.shown_key(pi30, "QPIGS", "battery_voltage") == "battery_voltage"
    assert history.shown_key(pi30, "NOT A COMMAND", "battery_voltage") == "battery_voltage"
    assert history.shown_key(None, "QPIRI", "battery_voltage") == "battery_voltage"
    point = history.Point(1.0, "QPIRI", {"battery_voltage": 48.0, "cells.0": 3.3})
    (again,) = history.renamed_points(pi30, [point])
    assert again.values == {"battery_voltage_setting": 48.0, "cells.0": 3.3}
