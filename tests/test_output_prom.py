"""Prometheus outputs against the reference's files and real Prometheus components.

``tests/vectors/extra/prom.jsonl`` holds the files the reference's ``prom_file`` wrote for its
example frames (``mpp-solar -p test0 -P <protocol> -c <command> -o prom_file``); ours must hold
the same series with the same values, plus ``# HELP``/``# TYPE`` lines, and pass Debian's
``promtool check metrics``. End to end, a bridge polling simulated devices writes into a private
node-exporter's textfile directory and pushes to a private Pushgateway, and the series are read
back from a private Prometheus (tests/servers/prometheus.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
import json
import os
from pathlib import Path
import re
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from mppsolar_lib.bridge.daemon import Bridge
from mppsolar_lib.bridge.model import (
    DEFAULT_PROM_OUTPUT_DIR,
    DEFAULT_PUSH_URL,
    BridgeConfig,
    DeviceConfig,
)
from mppsolar_lib.bridge.sink import Sink
from mppsolar_lib.outputs import (
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    Resources,
    get_output,
)
from mppsolar_lib.outputs.prom import (
    BACKUPS,
    Prom,
    PromFile,
    PromPush,
    PromPushD,
    PromWriter,
    exposition,
    file_name,
    format_value,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import Field, Hints
from tests.servers import prometheus as servers
from tests.servers.mosquitto import free_port

VECTORS = Path(__file__).parent / "vectors"
REFERENCE = Path.home() / ".cache/mppsolar/ref-venv/bin/mpp-solar"
TIMEOUT = 30.0
#: promtool's naming advice the reference's own series names draw (kept: renaming a series
#: breaks every dashboard built on it; docs/deviations.md, "Bridge").
NAMING_LINTS = (
    'use base unit "seconds" instead of "hours"',
    "metric names should not contain abbreviated units",
    'non-histogram and non-summary metrics should not have "_count" suffix',
    "metric name should not include type 'counter'",
    "metric names should be written in 'snake_case' not 'camelCase'",
)
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$")


def _records() -> Iterator[dict[str, Any]]:
    with (VECTORS / "extra" / "prom.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def _flag(argv: list[str], flag: str, default: str | None = None) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _example(protocol: str, command: str) -> Report:
    """Decode the reference's first example frame of ``command`` with our protocol."""
    with (VECTORS / f"{protocol}.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            vector = json.loads(line)
            if vector["kind"] == "test_response" and vector["command"] == command:
                result = get_protocol(protocol).decode(
                    command, bytes.fromhex(vector["response_hex"])
                )
                return Report.from_result(result, command, "example")
    raise LookupError(command)  # pragma: no cover - the vectors hold every command used


def _samples(content: str) -> dict[tuple[str, frozenset[tuple[str, str]]], str]:
    """Parse sample lines into ``{(name, labels): value}`` (comments skipped)."""
    samples = {}
    for line in content.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
        samples[(match.group(1), labels)] = match.group(3)
    return samples


def _promtool(content: str) -> tuple[int, list[str]]:
    promtool = servers.need("promtool")
    done = subprocess.run(  # noqa: S603 - Debian's promtool on our own text
        [promtool, "check", "metrics"], input=content, capture_output=True, text=True, check=False
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def _context(tmp_path: Path, **device: Any) -> OutputContext:
    config = DeviceConfig(name="inv", commands=("QPIGS",), prom_output_dir=str(tmp_path), **device)
    return OutputContext(config, resources=Resources())


# --- content, against the reference -------------------------------------------------------


@pytest.mark.parametrize("record", list(_records()), ids=lambda r: " ".join(r["argv"][1:8]))
async def test_files_match_the_reference(tmp_path: Path, record: dict[str, Any]) -> None:
    """Same file names, same series with the same values; every family has HELP and TYPE."""
    argv = record["argv"]
    protocol, command = str(_flag(argv, "-P")), str(_flag(argv, "-c"))
    options = OutputOptions(name=str(_flag(argv, "-n", "unnamed")))
    output = PromFile(options, _context(tmp_path, dev=_flag(argv, "--dev")))
    await output.send([_example(protocol, command)])
    written = {p.name: p.read_text() for p in tmp_path.iterdir() if p.suffix == ".prom"}
    assert sorted(written) == sorted(record["files"])
    for name, theirs in record["files"].items():
        ours = written[name]
        reference = _samples(theirs)
        mine = _samples(ours)
        # Our machine_role carries the file's device labels too (node-exporter refuses the
        # reference's bare one as soon as two files hold it); its role is the same.
        [(role_name, role_labels)] = [k for k in mine if k[0] == "machine_role"]
        assert ("role", "mpp_solar") in role_labels
        assert {k for k in reference if k[0] == "machine_role"} == {
            ("machine_role", frozenset({("role", "mpp_solar")}))
        }
        del mine[(role_name, role_labels)]
        reference = {k: v for k, v in reference.items() if k[0] != "machine_role"}
        assert mine == reference
        families = {name for name, _ in mine} | {"machine_role"}
        assert {
            line.split()[2] for line in ours.splitlines() if line.startswith("# HELP")
        } == families
        assert {
            line.split()[2] for line in ours.splitlines() if line.startswith("# TYPE")
        } == families
        assert _promtool(ours) == (0, [])


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference is not installed")
def test_recorded_files_are_what_the_reference_writes(tmp_path: Path) -> None:
    """The recordings are current: the installed reference writes the same files again."""
    for record in _records():
        argv = [arg if arg != "<dir>" else str(tmp_path / "ref") for arg in record["argv"]]
        subprocess.run([str(REFERENCE), *argv[1:]], check=True, capture_output=True)  # noqa: S603
        files = {p.name: p.read_text() for p in (tmp_path / "ref").iterdir()}
        assert files == record["files"]
        for path in (tmp_path / "ref").iterdir():
            path.unlink()


def test_every_example_frame_parses_with_promtool() -> None:
    """All protocols' example answers give valid exposition.

    The only remarks left are naming advice on series names the reference chose.
    """
    texts: list[str] = []
    for path in sorted(VECTORS.glob("*.jsonl")):
        protocol = get_protocol(path.stem)
        for line in path.open(encoding="utf-8"):
            vector = json.loads(line)
            if vector["kind"] != "test_response":
                continue
            try:
                result = protocol.decode(vector["command"], bytes.fromhex(vector["response_hex"]))
            except Exception:  # noqa: BLE001 - frames our decoder rejects are other tests' concern
                continue
            report = Report.from_result(result, vector["command"], "example")
            texts.extend(
                exposition(report, OutputOptions(keep_case=keep_case, name="x"), "d")
                for keep_case in (False, True)
            )
    assert len(texts) > 1000
    # promtool checks one exposition at a time (one stream holding several would repeat
    # families), so each text is checked on its own, a few processes at once.
    remarks: set[str] = set()
    with ThreadPoolExecutor(max(os.cpu_count() or 1, 2)) as pool:
        for code, lines in pool.map(_promtool, dict.fromkeys(texts)):
            assert code in (0, 3), lines  # 1: a parse error
            remarks.update(line.split(" ", 1)[1] for line in lines)
    assert remarks <= set(NAMING_LINTS), remarks - set(NAMING_LINTS)


def test_values_labels_and_names_are_valid_exposition() -> None:
    """Write valid exposition whatever the values and names.

    Text is escaped, nothing is written for no value, lists get an index, names are sanitised,
    a repeated name is written once, a growing total is a counter.
    """
    report = Report(
        "QTEST",
        "test",
        (
            Field("mode", "Mode", 'Line "A"\\B\nC'),
            Field("missing", "Missing", None),
            Field("cells", "Cells", (3300, 3301)),
            Field("load_on", "Load On", True),
            Field("off", "Off", False),
            Field("nan", "Nan value", float("nan")),
            Field("hot", "Hot", float("inf")),
            Field("cold", "Cold", float("-inf")),
            Field("x", "Odd / Name-with (chars) %", 1.5, "%"),
            Field("y", "Odd / Name-with (chars) %", 2.5, "%"),
            Field("energy_total", "Energy\nTotal", 12, "kWh", Hints("energy", "total_increasing")),
            Field("help", "", 1),
        ),
    )
    text = exposition(report, OutputOptions(keep_case=True, name='a "b"'), None)
    assert _promtool(text)[0] == 0
    samples = _samples(text)
    base = {("inverter", 'a \\"b\\"'), ("device", "None"), ("cmd", "QTEST")}
    assert (
        samples[("mpp_solar_Mode", frozenset({*base, ("value", 'Line \\"A\\"\\\\B\\nC')}))] == "1"
    )
    assert not any(name == "mpp_solar_Missing" for name, _ in samples)
    assert samples[("mpp_solar_Cells", frozenset({*base, ("index", "1")}))] == "3301"
    assert samples[("mpp_solar_Load_On", frozenset(base))] == "1"
    assert samples[("mpp_solar_Off", frozenset(base))] == "0"
    assert samples[("mpp_solar_Nan_value", frozenset(base))] == "NaN"
    assert samples[("mpp_solar_Hot", frozenset(base))] == "+Inf"
    assert samples[("mpp_solar_Cold", frozenset(base))] == "-Inf"
    # "Odd / Name-with (chars) %": spaces and "/" to "_", "-" dropped (as the reference), the
    # rest made valid; the second field with the same name is left out.
    assert samples[("mpp_solar_Odd___Namewith__chars___", frozenset(base))] == "1.5"
    assert "# HELP mpp_solar_Energy_Total Energy\\nTotal (kWh)" in text
    # "_Total" is not Prometheus' "_total": a counter only under its own convention.
    assert "# TYPE mpp_solar_Energy_Total gauge" in text
    snake = exposition(report, OutputOptions(), None)
    assert "# TYPE mpp_solar_energy_total counter" in snake
    assert "# HELP mpp_solar_help help" in snake  # no display name: the key
    assert _promtool(snake)[0] == 0
    assert format_value(7) == "7"


def test_prom_prints_the_exposition(capsys: pytest.CaptureFixture[str]) -> None:
    """``-o prom`` prints what the file would hold."""
    output = get_output("prom")
    assert isinstance(output, Prom)
    report = _example("pi30", "QPIGS")
    output.write([report])
    assert capsys.readouterr().out == exposition(report, OutputOptions(), None)


def test_file_names() -> None:
    """``mpp-solar-<name>-<command>.prom``; unnamed: no name part; "/" cannot make a path."""
    report = Report("QPGS0", "", ())
    assert file_name(report, OutputOptions()) == "mpp-solar-qpgs0.prom"
    assert file_name(report, OutputOptions(name="a/b")) == "mpp-solar-a_b-qpgs0.prom"


def test_defaults_without_a_bridge() -> None:
    """Outside the bridge the reference's defaults apply."""
    assert PromFile().directory == Path(DEFAULT_PROM_OUTPUT_DIR)
    assert PromPush().push_url == DEFAULT_PUSH_URL
    assert PromFile.spooled and PromPush.spooled


async def test_a_prom_file_output_without_a_bridge_owns_its_writer(tmp_path: Path) -> None:
    """Used on its own, the output writes through its own writer and stops it on close."""
    output = PromFile()
    output.directory = tmp_path
    report = Report("QPIGS", "status", (Field("battery_voltage", "Battery Voltage", 52.1, "V"),))
    await output.send([report])
    assert (tmp_path / "mpp-solar-qpigs.prom").read_text().count("52.1") == 1
    await output.close()
    assert not (tmp_path / "mpp-solar-qpigs.prom").exists()


# --- atomic writes and backups ---------------------------------------------------------------

READER = r"""
import json, os, re, sys
path, stop, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\} \S+$')
reads = bad = 0
seen = set()
errors = []
while not os.path.exists(stop):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        continue
    reads += 1
    text = data.decode()
    lines = text.split("\n")
    body = lines[:-1]
    ok = (
        text.endswith("\n")
        and all(l.startswith(("# HELP ", "# TYPE ")) or sample.match(l) for l in body)
        and sum(not l.startswith("#") for l in body) == expected
    )
    if ok:
        seen.add([l for l in body if l.startswith("mpp_solar_write")][0].split()[-1])
    else:
        bad += 1
        if len(errors) < 3:
            errors.append(text[:300])
print(json.dumps({"reads": reads, "bad": bad, "versions": len(seen), "errors": errors}))
"""


async def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """A separate process reading the file during 10 000 rewrites always finds it complete."""
    base = _example("pi30", "QPIGS")
    output = PromFile(OutputOptions(name="inv"), _context(tmp_path))
    target = tmp_path / "mpp-solar-inv-qpigs.prom"
    expected = len(_samples(exposition(base, output.options, None))) + 1
    stop = tmp_path / "stop"
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", READER, str(target), str(stop), str(expected),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for start in range(0, 10_000, 10):
            # Ten rewrites per batch, as a poll of several answers would bring.
            batch = [
                Report("QPIGS", "", (*base.rows, Field("write", "Write", i)))
                for i in range(start, start + 10)
            ]
            await output.send(batch)
    finally:
        stop.touch()
        async with asyncio.timeout(TIMEOUT):
            out, _ = await reader.communicate()
    seen = json.loads(out)
    assert seen["bad"] == 0, seen["errors"]
    assert seen["reads"] > 100
    assert seen["versions"] > 10
    assert (
        _samples(target.read_text())[
            (
                "mpp_solar_write",
                frozenset({("inverter", "inv"), ("device", "None"), ("cmd", "QPIGS")}),
            )
        ]
        == "9999"
    )
    backups = [p for p in tmp_path.iterdir() if p.name.startswith(target.name + ".")]
    assert len(backups) == BACKUPS
    # Temporary files never match node-exporter's "*.prom" and none is left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


async def test_backups_are_hard_links_to_the_last_ten_versions(tmp_path: Path) -> None:
    """After 15 writes: the newest content in the file, the 10 versions before it as links."""
    output = PromFile(OutputOptions(name="inv"), _context(tmp_path))
    target = tmp_path / "mpp-solar-inv-qpigs.prom"
    inodes = []
    contents = []
    for i in range(15):
        report = Report("QPIGS", "", (Field("write", "Write", i),))
        await output.send([report])
        inodes.append(target.stat().st_ino)
        contents.append(exposition(report, output.options, None))
    assert target.read_text() == contents[-1]
    backups = sorted(
        (p for p in tmp_path.iterdir() if p.name.startswith(target.name + ".")),
        key=lambda p: int(p.suffix[1:]),
    )
    # <file>.<n> is the version the n-th rewrite replaced: versions 5..14 (written 4..13).
    assert [p.name for p in backups] == [f"{target.name}.{n}" for n in range(5, 15)]
    for n, backup in zip(range(5, 15), backups, strict=True):
        assert backup.stat().st_ino == inodes[n - 1]  # the very file that was current
        assert backup.stat().st_nlink == 1  # the target moved on: the link holds it alone
        assert backup.read_text() == contents[n - 1]
    assert target.stat().st_mode & 0o777 == 0o644

    # A new output (a restarted bridge) goes on numbering and prunes what is over the bound,
    # even when a backup has gone missing meanwhile.
    (tmp_path / f"{target.name}.5").unlink()
    (tmp_path / f"{target.name}.1").write_text("stale")
    again = PromFile(OutputOptions(name="inv"), _context(tmp_path))
    await again.send([Report("QPIGS", "", (Field("write", "Write", 15),))])
    names = {p.name for p in tmp_path.iterdir() if p.name.startswith(target.name + ".")}
    assert names == {f"{target.name}.{n}" for n in range(6, 16)}
    assert (tmp_path / f"{target.name}.15").read_text() == contents[-1]

    # Stopping removes the current file (stale readings must not look live), not the backups.
    await again.close()
    assert not target.exists()
    await again.close()  # nothing left to remove
    assert len(names) == BACKUPS


async def test_unwritable_directory_is_retried(tmp_path: Path) -> None:
    """A directory that cannot be written raises OutputUnavailableError, leaving nothing."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    output = PromFile(OutputOptions(name="inv"), _context(blocker))
    with pytest.raises(OutputUnavailableError, match="cannot write prom files"):
        await output.send([_example("pi30", "QPIGS")])
    # The target is a directory: the write fails after the temporary file exists.
    (tmp_path / "mpp-solar-inv-qpigs.prom").mkdir()
    output = PromFile(OutputOptions(name="inv"), _context(tmp_path))
    with pytest.raises(OutputUnavailableError):
        await output.send([_example("pi30", "QPIGS")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mpp-solar-inv-qpigs.prom"]


# --- Pushgateway -------------------------------------------------------------------------------


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[servers.Server]:
    """Run a private Pushgateway for one test."""
    server = servers.pushgateway(tmp_path)
    server.start()
    yield server
    server.stop()


def _gateway_samples(gateway: servers.Server) -> dict[tuple[str, frozenset[tuple[str, str]]], str]:
    status, body = servers.http_get(gateway.url + "/metrics")
    assert status == 200
    ours = [line for line in body.decode().splitlines() if line.startswith(("mpp_", "machine_"))]
    return _samples("\n".join(ours))


async def test_push_groups_by_device_and_command(tmp_path: Path, gateway: servers.Server) -> None:
    """Two devices pushing the same series keep both (the reference's single group lost one)."""
    pytest.importorskip("aiohttp")
    context = _context(tmp_path, push_url=gateway.url + "/metrics/job/pushgateway/")
    report = _example("pi30", "QPIGS")
    outputs = [PromPush(OutputOptions(name=name), context) for name in ("inv", "a/b", "")]
    async with asyncio.timeout(TIMEOUT):
        for output in outputs:
            await output.send([report])
        await context.resources.close()
    samples = await asyncio.to_thread(_gateway_samples, gateway)
    voltages = {
        dict(labels)["inverter"]: value
        for (name, labels), value in samples.items()
        if name == "mpp_solar_battery_voltage"
    }
    assert voltages == {"inv": "57.5", "a/b": "57.5", "": "57.5"}
    assert outputs[0].url(report).endswith("/metrics/job/pushgateway/inverter/inv/cmd/QPIGS")
    assert "/inverter@base64/YS9i/" in outputs[1].url(report)
    assert "/inverter@base64/=/" in outputs[2].url(report)
    labels = dict(next(k[1] for k in samples if k[0] == "mpp_solar_battery_voltage"))
    assert labels["job"] == "pushgateway"


async def test_pushd_posts_to_the_host_group(tmp_path: Path, gateway: servers.Server) -> None:
    """``prom_pushd`` posts under job ``mppsolar`` and the short host name.

    Without a bridge the output owns its HTTP session and closes it.
    """
    pytest.importorskip("aiohttp")
    output = get_output("prom_pushd")
    assert isinstance(output, PromPushD)
    output.push_url = gateway.url
    async with asyncio.timeout(TIMEOUT):
        await output.send([_example("pi30", "QPIGS")])
        await output.close()
    samples = await asyncio.to_thread(_gateway_samples, gateway)
    labels = dict(next(k[1] for k in samples if k[0] == "mpp_solar_battery_voltage"))
    assert labels["job"] == "mppsolar"
    assert labels["instance"] == socket.gethostname().split(".")[0]


async def test_push_refused_is_an_error(tmp_path: Path, gateway: servers.Server) -> None:
    """A URL the gateway does not serve (404) is a configuration error, not an outage."""
    pytest.importorskip("aiohttp")
    context = _context(tmp_path, push_url=gateway.url + "/metrics/nojob")
    output = PromPush(OutputOptions(name="inv"), context)
    with pytest.raises(OutputError, match="refused the push \\(404\\)"):
        async with asyncio.timeout(TIMEOUT):
            await output.send([_example("pi30", "QPIGS")])
    await context.resources.close()


async def test_push_server_error_is_retried(tmp_path: Path) -> None:
    """A 5xx answer (a proxy in front of a failing gateway) is an outage.

    A test double: a real Pushgateway cannot be made to answer 503.
    """
    web = pytest.importorskip("aiohttp.web")

    async def unavailable(request: Any) -> Any:
        return web.Response(status=503, text="maintenance")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    context = _context(tmp_path, push_url=f"http://127.0.0.1:{port}/metrics/job/x")
    try:
        with pytest.raises(OutputUnavailableError, match="answered 503: maintenance"):
            async with asyncio.timeout(TIMEOUT):
                await PromPush(OutputOptions(name="inv"), context).send([_example("pi30", "QPIGS")])
    finally:
        await context.resources.close()
        await runner.cleanup()


async def test_gateway_outage_is_retried_until_it_returns(tmp_path: Path) -> None:
    """Retry while the gateway is down; deliver once it is back.

    The push raises OutputUnavailableError, the sink keeps the reading and delivers it once
    the gateway answers on its port again.
    """
    pytest.importorskip("aiohttp")
    server = servers.pushgateway(tmp_path)  # not started: nothing listens on its port
    context = _context(tmp_path, push_url=server.url + "/metrics/job/pushgateway")
    output = PromPush(OutputOptions(name="inv"), context)
    with pytest.raises(OutputUnavailableError, match="unreachable"):
        async with asyncio.timeout(TIMEOUT):
            await output.send([_example("pi30", "QPIGS")])
    sink = Sink(output, "inv/prom_push", backoff_min=0.05, backoff_max=0.2)
    await sink.start()
    try:
        await sink.put([_example("pi30", "QPIGS")])
        async with asyncio.timeout(TIMEOUT):
            while sink.stats.retries < 2:
                await asyncio.sleep(0.05)
        assert sink.stats.delivered == 0
        await asyncio.to_thread(server.start)
        assert await sink.drain(TIMEOUT)
        assert sink.stats.delivered == 1
        samples = await asyncio.to_thread(_gateway_samples, server)
        assert any(name == "mpp_solar_battery_voltage" for name, _ in samples)
    finally:
        await sink.stop(1.0)
        await context.resources.close()
        await asyncio.to_thread(server.stop)


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Stack]:
    """Prometheus, node-exporter and a Pushgateway for this module."""
    stack = servers.Stack(tmp_path_factory.mktemp("prometheus"))
    stack.start()
    yield stack
    stack.stop()


async def test_bridge_series_reach_prometheus(tmp_path: Path, stack: servers.Stack) -> None:
    """Simulated inverter and BMS → bridge → prom_file + prom_push → queried from Prometheus."""
    pytest.importorskip("aiohttp")
    template = DeviceConfig(
        name="inv",
        commands=("QPIGS", "QMOD"),
        pause=3600.0,  # one poll: the values Prometheus shows are the ones polled
        port="sim://pi30",
        protocol="pi30",
        dev="garage",
        outputs=("prom_file", "prom_push"),
        prom_output_dir=str(stack.textfile_dir),
        push_url=stack.gateway.url + "/metrics/job/pushgateway",
    )
    bms = replace(template, name="bms", commands=("SOC",), port="sim://daly", protocol="daly")
    devices = (template, replace(bms, dev=None))
    bridge = Bridge(BridgeConfig(devices=devices), spool_dir=tmp_path / "spool")
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        async with asyncio.timeout(TIMEOUT):
            while not bridge.sinks or any(s.stats.delivered < 1 for s in bridge.sinks):
                await asyncio.sleep(0.05)
        inverter = bridge.runners["inv"].latest
        battery = bridge.runners["bms"].latest

        def value(report: Report, key: str) -> Any:
            return next(row.value for row in report.rows if row.key == key)

        voltage = await asyncio.to_thread(
            stack.wait_for, 'mpp_solar_battery_voltage{inverter="inv"}', 2
        )
        assert {s["metric"]["job"] for s in voltage} == {"node", "pushgateway"}
        for series in voltage:
            assert series["metric"]["device"] == "garage"
            assert series["metric"]["cmd"] == "QPIGS"
            assert float(series["value"][1]) == value(inverter["QPIGS"], "battery_voltage")
        soc = await asyncio.to_thread(stack.wait_for, 'mpp_solar_soc{inverter="bms"}', 2)
        assert {float(s["value"][1]) for s in soc} == {value(battery["SOC"], "soc")}
        assert {s["metric"]["device"] for s in soc} == {"None"}
        mode = await asyncio.to_thread(
            stack.wait_for, 'mpp_solar_device_mode{inverter="inv",job="node"}'
        )
        assert mode[0]["metric"]["value"] == value(inverter["QMOD"], "device_mode")
        # One marker per file, three files: node-exporter takes them all without complaint.
        roles = await asyncio.to_thread(stack.wait_for, 'machine_role{job="node"}', 3)
        assert len(roles) == 3
        errors = await asyncio.to_thread(stack.query, 'node_textfile_scrape_error{job="node"}')
        assert [e["value"][1] for e in errors] == ["0"]
        assert "collected before" not in stack.node.log.read_text()
    finally:
        stop.set()
        async with asyncio.timeout(TIMEOUT):
            await task
    # A stopped bridge leaves no file that would keep its last readings looking live.
    assert not list(stack.textfile_dir.glob("*.prom"))


async def test_the_shared_writer_batches_and_survives_a_cancelled_sender(tmp_path: Path) -> None:
    """Writes queued while a batch runs go in the next; a cancelled sender loses only its own."""
    writer = PromWriter(threads=1)
    await writer.aclose()  # never used: nothing to stop
    done: list[int] = []
    gate = threading.Event()

    def job(number: int) -> None:
        if number == 0:
            gate.wait(10)
        done.append(number)

    def broken() -> None:
        raise OSError("disk full")

    first = asyncio.ensure_future(writer.run(lambda: job(0)))
    await asyncio.sleep(0)
    queued = [asyncio.ensure_future(writer.run(lambda n=n: job(n))) for n in (1, 2)]
    failing = asyncio.ensure_future(writer.run(broken))
    cancelled = asyncio.ensure_future(writer.run(lambda: job(3)))
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    async with asyncio.timeout(10):
        await first
        await asyncio.gather(*queued)
        with pytest.raises(OSError, match="disk full"):
            await failing
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert done[:3] == [0, 1, 2]
    await writer.aclose()
