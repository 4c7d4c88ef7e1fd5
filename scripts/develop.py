"""Home Assistant with this working tree's integration and simulated devices (``scripts/develop``).

1. Installs the few requirements of ``config/configuration.yaml``'s integrations that ``.venv``
   lacks (the frontend), once; Home Assistant then runs with ``--skip-pip``.
2. Serves simulated devices: a PI30 inverter and a Daly BMS on pseudo-terminals (stable links
   ``config/devices/pi30``, ``config/devices/daly``), a JK BMS behind a TCP "gateway" on
   127.0.0.1.
3. Adds their config entries to ``config/.storage/core.config_entries`` (Home Assistant's own
   storage format, written with its own classes) when they are not there; other entries are kept.
   The entries are what the config flow makes: data, unique id (the serial number, else the link).
4. Runs ``python -m homeassistant --config config --skip-pip`` with the integration linked
   from the working tree (``config/custom_components/mppsolar``), on http://localhost:8123.
   A restart from the UI restarts it. Ctrl-C stops Home Assistant, then the simulators.

``--check`` does the same in a throw-away configuration directory and a free port, waits until
the devices' entities have states, prints the entity count per device and values that change
between two polls, stops, and exits 0 (1 on failure). No onboarding, no API token: the
``develop_probe`` component (scripts/develop_probe) writes what Home Assistant holds to a file.
"""

# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator, Mapping
import contextlib
from dataclasses import dataclass, field
import fcntl
import importlib
import importlib.metadata
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import MappingProxyType
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "config"
INTEGRATION = ROOT / "custom_components" / "mppsolar"
PROBE = ROOT / "scripts" / "develop_probe"
sys.path.insert(0, str(ROOT))

from homeassistant import config_entries as ha_entries  # noqa: E402

# The exit code by which Home Assistant asks to be started again (a restart from the UI).
from homeassistant.const import RESTART_EXIT_CODE  # noqa: E402
from homeassistant.runner import LOCK_FILE_NAME  # noqa: E402
from homeassistant.util import dt as dt_util, ulid as ulid_util  # noqa: E402
from homeassistant.util.yaml import Secrets, load_yaml  # noqa: E402

from custom_components.mppsolar.const import (  # noqa: E402
    CONF_BAUD,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_FIRMWARE,
    CONF_HOST,
    CONF_MODEL,
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_SERIAL,
    DEFAULT_STATUS_INTERVAL,
    DOMAIN,
    Connection,
)
from mppsolar_lib.device import Device  # noqa: E402
from mppsolar_lib.errors import MppSolarError  # noqa: E402
from mppsolar_lib.protocols import Protocol, get_protocol  # noqa: E402
from mppsolar_lib.protocols.command import Kind  # noqa: E402
from mppsolar_lib.simulator import create_simulator  # noqa: E402
from mppsolar_lib.simulator.serve import PtyServer, TcpServer  # noqa: E402
from mppsolar_lib.transports import open_transport  # noqa: E402

#: The exit code of a run stopped by Ctrl-C before Home Assistant started.
INTERRUPTED = 130
#: How long Home Assistant gets to stop before it is killed.
STOP_TIMEOUT = 60.0
#: Where the simulated JK BMS's TCP "gateway" listens.
GATEWAY_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Spec:
    """A simulated device: protocol, how it is reached, and the entry's title."""

    key: str
    protocol: str
    link: str  # "pty" or "tcp"
    title: str
    baud: int = 2400


DEVICES = (
    Spec("pi30", "pi30", "pty", "Simulated PI30 inverter", 2400),
    Spec("daly", "daly", "pty", "Simulated Daly BMS", 9600),
    Spec("jkpb", "jkpb", "tcp", "Simulated JK BMS"),
)


@dataclass(slots=True)
class Served:
    """A simulator being served, and the config entry that reaches it."""

    spec: Spec
    server: PtyServer | TcpServer
    data: dict[str, Any] = field(default_factory=dict)
    unique_id: str = ""


def log(message: str) -> None:
    """Print a line of this script's own (not Home Assistant's)."""
    print(f"\033[1m[develop]\033[0m {message}" if sys.stdout.isatty() else f"[develop] {message}")
    sys.stdout.flush()


class Failed(Exception):
    """The run cannot go on; the message says why (and what to do)."""


# -- requirements -------------------------------------------------------------------------------


def integrations(config_dir: Path) -> set[str]:
    """Return the integrations that ``configuration.yaml`` and the custom ones load, and theirs."""
    config = load_yaml(config_dir / "configuration.yaml", Secrets(config_dir)) or {}
    todo = [str(key).split(" ")[0] for key in config if key != "homeassistant"]
    custom = config_dir / "custom_components"
    todo += [path.name for path in custom.iterdir()] if custom.is_dir() else []
    core = Path(importlib.import_module("homeassistant.components").__file__ or "").parent
    seen: set[str] = set()
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        for base in (custom, core):
            manifest = base / domain / "manifest.json"
            if manifest.is_file():
                seen.add(domain)
                todo += json.loads(manifest.read_text(encoding="utf-8")).get("dependencies", [])
                break
    return seen


def missing_requirements(config_dir: Path) -> list[str]:
    """Return the requirements of the loaded integrations whose package is not installed at all.

    A package installed in another version than a manifest pins is left alone: .venv's versions
    are the ones the tests use (bleak, habluetooth …), and Home Assistant runs with --skip-pip.
    """
    from packaging.requirements import Requirement  # noqa: PLC0415 - pulled by HA

    core = Path(importlib.import_module("homeassistant.components").__file__ or "").parent
    missing: list[str] = []
    for domain in sorted(integrations(config_dir)):
        manifest = config_dir / "custom_components" / domain / "manifest.json"
        if not manifest.is_file():
            manifest = core / domain / "manifest.json"
        for requirement in json.loads(manifest.read_text(encoding="utf-8")).get("requirements", []):
            try:
                importlib.metadata.version(Requirement(requirement).name)
            except importlib.metadata.PackageNotFoundError:
                missing.append(requirement)
    return missing


def install_requirements(config_dir: Path) -> None:
    """Install what ``missing_requirements`` names (a no-op once done)."""
    missing = missing_requirements(config_dir)
    if not missing:
        return
    log(f"Installing what the configured integrations need (once): {' '.join(missing)}")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *missing],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if result.returncode:
        raise Failed(f"pip install {' '.join(missing)} failed:\n{result.stdout}")


# -- the configuration directory ----------------------------------------------------------------


def link(path: Path, target: Path) -> None:
    """Make ``path`` a symlink to ``target``, replacing a symlink.

    Relative inside the checkout (``config/custom_components/mppsolar`` ->
    ``../../custom_components/mppsolar``), absolute from elsewhere (the check's directory).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        raise Failed(f"{path} exists and is not a symlink; move it away")
    inside = path.parent.resolve().is_relative_to(ROOT)
    path.symlink_to(os.path.relpath(target, path.parent.resolve()) if inside else target)


def prepare_check_config() -> Path:
    """Return a throw-away configuration directory: the template plus the probe."""
    config_dir = Path(tempfile.mkdtemp(prefix="mppsolar-develop-"))
    text = (TEMPLATE / "configuration.yaml").read_text(encoding="utf-8")
    (config_dir / "configuration.yaml").write_text(
        text + "\n# scripts/develop --check reads Home Assistant through this.\ndevelop_probe:\n",
        encoding="utf-8",
    )
    (config_dir / "custom_components").mkdir()
    (config_dir / "custom_components" / "develop_probe").symlink_to(PROBE)
    return config_dir


@contextlib.contextmanager
def not_running(config_dir: Path) -> Iterator[None]:
    """Fail if a Home Assistant runs on ``config_dir`` (its own lock); hold the lock meanwhile."""
    lock_path = config_dir / LOCK_FILE_NAME
    with lock_path.open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Failed(
                f"a Home Assistant already runs on {config_dir} (another scripts/develop?)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def port_free(host: str, port: int) -> bool:
    """Return whether ``host``:``port`` can be listened on."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """Return a TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# -- config entries -----------------------------------------------------------------------------

STORE = Path(".storage") / ha_entries.STORAGE_KEY


def load_entries(config_dir: Path) -> dict[str, Any]:
    """Return ``core.config_entries`` as stored (an empty store if there is none)."""
    path = config_dir / STORE
    if not path.is_file():
        return {
            "version": ha_entries.STORAGE_VERSION,
            "minor_version": ha_entries.STORAGE_VERSION_MINOR,
            "key": ha_entries.STORAGE_KEY,
            "data": {"entries": []},
        }
    stored: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if stored.get("version") != ha_entries.STORAGE_VERSION:
        raise Failed(
            f"{path} has storage version {stored.get('version')}; this Home Assistant writes "
            f"{ha_entries.STORAGE_VERSION}. Remove {config_dir / '.storage'} to start afresh."
        )
    return stored


def entry_dict(title: str, unique_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new entry as Home Assistant stores it (``ConfigEntry.as_dict``)."""
    importlib.import_module("custom_components.mppsolar.config_flow")
    handler = ha_entries.HANDLERS[DOMAIN]
    now = dt_util.utcnow()
    entry = ha_entries.ConfigEntry(
        created_at=now,
        data=dict(data),
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        entry_id=ulid_util.ulid_now(),
        minor_version=handler.MINOR_VERSION,
        modified_at=now,
        options={},
        source=ha_entries.SOURCE_USER,
        subentries_data=None,
        title=title,
        unique_id=unique_id,
        version=handler.VERSION,
    )
    return entry.as_dict()


def add_entries(config_dir: Path, served: list[Served]) -> list[str]:
    """Add the simulated devices' entries unless present; point present ones at the simulators.

    An entry is ours when it has our unique id, or our title and protocol (a Daly BMS has no
    serial number: its unique id is its link, which moves with the checkout). Returns what was
    done, for the log.
    """
    stored = load_entries(config_dir)
    entries: list[dict[str, Any]] = stored["data"]["entries"]
    done = []
    for item in served:
        spec = item.spec
        ours = next(
            (
                entry
                for entry in entries
                if entry.get("domain") == DOMAIN
                and (
                    entry.get("unique_id") == item.unique_id
                    or (
                        entry.get("title") == spec.title
                        and entry.get("data", {}).get(CONF_PROTOCOL) == spec.protocol
                    )
                )
            ),
            None,
        )
        if ours is None:
            entries.append(entry_dict(spec.title, item.unique_id, item.data))
            done.append(f"added the entry {spec.title!r}")
            continue
        data = {**ours["data"], **item.data}
        if data != ours["data"] or ours.get("unique_id") != item.unique_id:
            ours["data"] = data
            ours["unique_id"] = item.unique_id
            ours["modified_at"] = dt_util.utcnow().isoformat()
            done.append(f"pointed the entry {ours['title']!r} at the simulator")
    if done:
        path = config_dir / STORE
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.develop")
        temporary.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)
    return done


# -- simulated devices --------------------------------------------------------------------------


def previous_port(config_dir: Path, spec: Spec) -> int:
    """Return the TCP port ``spec``'s entry names if it is free now, else 0 (any)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, Failed):
        for entry in load_entries(config_dir)["data"]["entries"]:
            data = entry.get("data", {})
            if entry.get("domain") == DOMAIN and entry.get("title") == spec.title:
                port = int(data.get(CONF_PORT) or 0)
                if port and port_free(GATEWAY_HOST, port):
                    return port
    return 0


async def identity(device: Device, protocol: Protocol) -> tuple[str | None, str | None, str | None]:
    """Return (model, firmware, serial) as the config flow reads them.

    Voltronic and VE.Direct units through detection; others through their identity command.
    """
    if protocol.id.startswith(("pi", "ved")):
        detection = await device.identify()
        return detection.model, detection.firmware, detection.serial
    for name in (*protocol.id_commands, *protocol.commands):
        definition = protocol.commands.get(name)
        if definition and definition.kind is Kind.QUERY and "serial_number" in definition.info:
            result = await device.command(name)
            model, firmware, serial = (
                str(result.get(key) or "").strip() or None
                for key in ("device_model", "software_version", "serial_number")
            )
            return model, firmware, serial
    return None, None, None


async def serve(config_dir: Path, spec: Spec) -> Served:
    """Serve ``spec``'s simulator; read its identity through the real link, as the flow does."""
    simulator = create_simulator(spec.protocol)
    server: PtyServer | TcpServer
    data: dict[str, Any]
    if spec.link == "pty":
        path = config_dir / "devices" / spec.key
        path.parent.mkdir(parents=True, exist_ok=True)
        server = PtyServer(simulator, link=path)
        await server.start()
        data = {
            CONF_CONNECTION: Connection.SERIAL.value,
            CONF_DEVICE: str(path),
            CONF_BAUD: spec.baud,
        }
        where = str(path)  # what connection.describe() says of the link
        transport = open_transport(where, porttype="serial", baud=spec.baud, protocol=spec.protocol)
    else:
        gateway = TcpServer(simulator, host=GATEWAY_HOST, port=previous_port(config_dir, spec))
        await gateway.start()
        server = gateway
        data = {
            CONF_CONNECTION: Connection.TCP.value,
            CONF_HOST: gateway.host,
            CONF_PORT: gateway.port,
        }
        where = f"{gateway.host}:{gateway.port}"
        transport = open_transport(f"tcp://{where}", protocol=spec.protocol)
    device = Device(transport, spec.protocol, timeout=3.0)
    try:
        await device.open()
        model, firmware, serial = await identity(device, get_protocol(spec.protocol))
    except MppSolarError as err:
        await server.close()
        raise Failed(f"the simulated {spec.protocol} on {where} did not answer: {err}") from err
    finally:
        await device.close()
    data[CONF_PROTOCOL] = spec.protocol
    for key, value in ((CONF_MODEL, model), (CONF_FIRMWARE, firmware), (CONF_SERIAL, serial)):
        if value:
            data[key] = value
    # The config flow's unique id: the serial number, else the link.
    return Served(spec, server, data, serial or f"{data[CONF_CONNECTION]}:{where}")


# -- Home Assistant -----------------------------------------------------------------------------

#: A console line of Home Assistant's log: "2026-01-02 03:04:05.678 LEVEL (thread) [logger] …".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?P<level>[A-Z]+) ")


#: Integrations onboarding offers to set up (homeassistant/components/onboarding/views.py);
#: this configuration does not install their requirements, so loading their flows fails.
ONBOARDING_EXTRAS = re.compile(
    r"Error occurred loading flow for integration (met|radio_browser|google_translate)\b"
    r"|No module named '(metno|radios|mutagen|gtts)'[\s\S]*UnknownHandler"
)


class Output:
    """Home Assistant's console output: all to a file, or the warnings and errors to ours.

    Whole records (a header line and its traceback) are judged, so a record is written when the
    next one starts, or when Home Assistant has said nothing for a moment (:meth:`flush`).
    """

    def __init__(self, stream: TextIO, everything: bool) -> None:
        """Write to ``stream``: ``everything``, or only what is logged at WARNING or above."""
        self.stream = stream
        self.everything = everything
        self._record: list[str] = []
        self._extras_noted = everything
        #: Our errors, and Home Assistant's reports of our blocking calls (the check fails).
        self.problems: list[str] = []

    def line(self, text: str) -> None:
        """Take one line of output."""
        if LOG_LINE.match(text):
            self.flush()
        self._record.append(text)

    def flush(self) -> None:
        """Judge and write the record taken so far."""
        if not self._record:
            return
        text, self._record = "".join(self._record), []
        match = LOG_LINE.match(text)
        level = match["level"] if match else "WARNING"
        if "mppsolar" in text.splitlines()[0] and (
            level in ("ERROR", "CRITICAL")
            # Home Assistant's detector of I/O or imports in its event loop (a review blocker).
            or "Detected blocking call" in text
        ):
            self.problems.append(text.splitlines()[0])
        if not self.everything:
            if level in ("DEBUG", "INFO"):
                return
            if ONBOARDING_EXTRAS.search(text):
                if not self._extras_noted:
                    self._extras_noted = True
                    log(
                        "Onboarding offers met, radio_browser and google_translate, which this "
                        "configuration leaves out: their errors are hidden (-v shows them)."
                    )
                return
        self.stream.write(text)
        self.stream.flush()


class HomeAssistant:
    """Home Assistant as a child process, in a session of its own (it gets our signals only)."""

    def __init__(self, config_dir: Path, host: str, port: int, output: Output) -> None:
        """Run on ``config_dir``, listening on ``host``:``port``."""
        self.config_dir = config_dir
        self.host = host
        self.port = port
        self.output = output
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start Home Assistant (it loads the integration from ``custom_components/``)."""
        env = {
            **os.environ,
            "MPPSOLAR_DEVELOP_HOST": self.host,
            "MPPSOLAR_DEVELOP_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeassistant",
            "--config",
            str(self.config_dir),
            "--skip-pip",
            # The console log without colour codes (it goes through a pipe).
            "--log-no-color",
            cwd=self.config_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            limit=1 << 20,
        )
        self._pump = asyncio.create_task(self._read(self.process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        pending: asyncio.Task[bytes] | None = None
        while True:
            pending = pending or asyncio.ensure_future(process.stdout.readline())
            done, _ = await asyncio.wait({pending}, timeout=0.5)
            if not done:
                self.output.flush()  # quiet for a moment: the last record is complete
                continue
            line, pending = pending.result(), None
            if not line:
                break
            self.output.line(line.decode("utf-8", "replace"))
        self.output.flush()

    async def wait(self) -> int:
        """Wait until Home Assistant exits; return its exit code."""
        assert self.process is not None
        code = await self.process.wait()
        if self._pump is not None:
            await self._pump
        return code

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> int | None:
        """Ask Home Assistant to stop (SIGTERM: it shuts down cleanly); kill it if it hangs."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log(f"Home Assistant did not stop within {STOP_TIMEOUT:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        return await self.wait()

    async def listening(self) -> bool:
        """Return whether Home Assistant's web server accepts connections."""
        try:
            _, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


def onboarded(config_dir: Path) -> bool:
    """Return whether a user was created in onboarding (Home Assistant's ``.storage/onboarding``)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stored = json.loads((config_dir / ".storage" / "onboarding").read_text(encoding="utf-8"))
        return "user" in stored["data"]["done"]
    return False


# -- the run ------------------------------------------------------------------------------------


class Runner:
    """Simulators, entries and Home Assistant, until Ctrl-C (or the check's end)."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Run as ``args`` say."""
        self.args = args
        self.stopping = asyncio.Event()
        self.served: list[Served] = []
        self.signals = 0

    def _signal(self) -> None:
        self.signals += 1
        if self.signals == 1:
            log("Stopping (Home Assistant first, then the simulators) …")
        self.stopping.set()

    async def run(self) -> int:
        """Do it all; return the exit code."""
        args = self.args
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._signal)
        config_dir: Path = args.config_dir
        output_file: TextIO | None = None
        try:
            with not_running(config_dir):
                link(config_dir / "custom_components" / "mppsolar", INTEGRATION)
                try:
                    await asyncio.to_thread(install_requirements, config_dir)
                except Failed:
                    if self.stopping.is_set():  # Ctrl-C reached pip too
                        return INTERRUPTED
                    raise
                for spec in DEVICES:
                    if self.stopping.is_set():
                        return INTERRUPTED
                    self.served.append(await serve(config_dir, spec))
                for item in self.served:
                    where = (
                        item.data.get(CONF_DEVICE)
                        or f"{item.data[CONF_HOST]}:{item.data[CONF_PORT]}"
                    )
                    log(f"{item.spec.title}: {where} (unique id {item.unique_id})")
                for line in add_entries(config_dir, self.served):
                    log(f"{STORE}: {line}")
            if self.stopping.is_set():
                return INTERRUPTED
            if args.check:
                output_file = (config_dir / "home-assistant.console.log").open(
                    "w", encoding="utf-8"
                )
                output = Output(output_file, everything=True)
            else:
                output = Output(sys.stdout, everything=args.verbose)
            if args.check:
                return await self._check(config_dir, output)
            return await self._interactive(config_dir, output)
        finally:
            for item in self.served:
                await item.server.close()
            if output_file is not None:
                output_file.close()
            if self.served:
                log("Simulators stopped")

    async def _interactive(self, config_dir: Path, output: Output) -> int:
        """Run Home Assistant until Ctrl-C; start it again when it asks to restart."""
        args = self.args
        again = False
        while True:
            hass = HomeAssistant(config_dir, args.host, args.port, output)
            await hass.start()
            announce = asyncio.create_task(self._announce(hass, config_dir, again))
            stop = asyncio.create_task(self.stopping.wait())
            exited = asyncio.create_task(hass.wait())
            await asyncio.wait({stop, exited}, return_when=asyncio.FIRST_COMPLETED)
            announce.cancel()
            stop.cancel()
            if self.stopping.is_set():
                code = await hass.stop()
                log(f"Home Assistant stopped (exit code {code})")
                return 0
            code = exited.result()
            if code != RESTART_EXIT_CODE:
                log(
                    f"Home Assistant exited with code {code}; see {config_dir / 'home-assistant.log'}"
                )
                return 0 if code == 0 else 1
            log("Home Assistant asked for a restart; starting it again")
            again = True

    async def _announce(self, hass: HomeAssistant, config_dir: Path, again: bool) -> None:
        """Say where to go once the web server answers."""
        while not await hass.listening():
            await asyncio.sleep(0.5)
        host = "localhost" if hass.host in ("127.0.0.1", "0.0.0.0") else hass.host
        log(f"Home Assistant is up{' again' if again else ''}: http://{host}:{hass.port}")
        if again:
            return
        if onboarded(config_dir):
            log("  Log in; the simulated devices are on the Overview dashboard")
        else:
            log("  First start: create your user (onboarding); the simulated devices are then")
            log("  on the Overview dashboard")
        log("  and in Settings → Devices & services → MPP Solar.")
        log(f"  Log (the integration at debug level): {config_dir / 'home-assistant.log'}")
        log("  Ctrl-C stops Home Assistant and the simulators.")

    async def _check(self, config_dir: Path, output: Output) -> int:
        """Start, wait for entity states, show two samples, stop; return 0 when it all worked."""
        started = time.monotonic()
        deadline = started + self.args.timeout
        hass = HomeAssistant(config_dir, self.args.host, self.args.port, output)
        await hass.start()
        report_path = config_dir / "develop_probe.json"
        expected = {item.unique_id: item.spec.title for item in self.served}
        failure: str | None = None
        try:
            first = await self._wait_for(
                hass, report_path, deadline, lambda report: _all_have_states(report, expected)
            )
            if first is None:
                failure = "the devices' entities got no states in time"
                return 1
            t1 = time.monotonic() - started
            log(f"Home Assistant up and the devices' entities have states after {t1:.1f} s")
            _print_counts(first, expected)
            # Values move at each poll: wait for every device to show a changed value.
            changed_by = min(
                deadline, time.monotonic() + 3 * DEFAULT_STATUS_INTERVAL.total_seconds()
            )
            second = await self._wait_for(
                hass, report_path, changed_by, lambda report: _all_changed(first, report, expected)
            )
            t2 = time.monotonic() - started
            if second is None:
                second = _read_report(report_path) or first
                failure = "some devices' values did not change between polls"
            _print_changes(first, second, expected, t1, t2)
            if output.problems:
                failure = failure or "the integration logged errors or blocked the event loop"
            return 1 if failure else 0
        finally:
            code = await hass.stop()
            for line in output.problems:
                log(f"logged: {line}")
            if code not in (0, None):
                failure = failure or f"Home Assistant exited with code {code}"
            if self.stopping.is_set() and failure is None:
                failure = "interrupted"
            if failure:
                log(f"Check FAILED: {failure}. Home Assistant's output: {output.stream.name}")
                report = _read_report(report_path)
                if report is not None:
                    for entry in report["entries"]:
                        log(f"  entry {entry['title']!r}: {entry['state']} {entry['reason'] or ''}")
            else:
                log(f"Check passed in {time.monotonic() - started:.1f} s")
                shutil.rmtree(config_dir, ignore_errors=True)

    async def _wait_for(
        self,
        hass: HomeAssistant,
        report_path: Path,
        deadline: float,
        ready: Any,
    ) -> dict[str, Any] | None:
        """Return the probe's report once ``ready(report)``; None at the deadline or a stop."""
        while time.monotonic() < deadline and not self.stopping.is_set() and hass.running:
            report = _read_report(report_path)
            if report is not None and ready(report):
                return report
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.5)
        return None


def _read_report(path: Path) -> dict[str, Any] | None:
    """Return the probe's last report, if there is one."""
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report


def _by_unique_id(report: Mapping[str, Any], expected: Mapping[str, str]) -> dict[str, Any]:
    return {
        entry["unique_id"]: entry for entry in report["entries"] if entry["unique_id"] in expected
    }


def _has_value(state: str | None) -> bool:
    return state not in (None, "unknown", "unavailable")


def _all_have_states(report: Mapping[str, Any], expected: Mapping[str, str]) -> bool:
    """Whether every device's entry is loaded and its enabled entities have states."""
    entries = _by_unique_id(report, expected)
    if report["core"] != "RUNNING" or set(entries) != set(expected):
        return False
    for entry in entries.values():
        enabled = [e for e in entry["entities"].values() if e["enabled"]]
        if entry["state"] != "loaded" or not enabled:
            return False
        if any(e["state"] is None for e in enabled) or not any(
            _has_value(e["state"]) for e in enabled
        ):
            return False
    return True


def _numbers(entry: Mapping[str, Any]) -> dict[str, float]:
    values = {}
    for entity_id, entity in entry["entities"].items():
        with contextlib.suppress(TypeError, ValueError):
            values[entity_id] = float(entity["state"])
    return values


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Return the entity ids whose numeric value differs between two snapshots of an entry."""
    old, new = _numbers(before), _numbers(after)
    return [entity_id for entity_id in old if entity_id in new and new[entity_id] != old[entity_id]]


def _all_changed(
    first: Mapping[str, Any], report: Mapping[str, Any], expected: Mapping[str, str]
) -> bool:
    before, after = _by_unique_id(first, expected), _by_unique_id(report, expected)
    return all(uid in after and _changes(before[uid], after[uid]) for uid in expected)


def _print_counts(report: Mapping[str, Any], expected: Mapping[str, str]) -> None:
    entries = _by_unique_id(report, expected)
    log(f"  {'device':<26} {'entities':>8} {'enabled':>8} {'with a value':>13}")
    for uid, title in expected.items():
        entities = entries[uid]["entities"].values()
        enabled = [e for e in entities if e["enabled"]]
        valued = [e for e in enabled if _has_value(e["state"])]
        log(f"  {title:<26} {len(entities):>8} {len(enabled):>8} {len(valued):>13}")


def _print_changes(
    first: Mapping[str, Any],
    second: Mapping[str, Any],
    expected: Mapping[str, str],
    t1: float,
    t2: float,
) -> None:
    before, after = _by_unique_id(first, expected), _by_unique_id(second, expected)
    log(f"  Values at {t1:.1f} s and at {t2:.1f} s (up to 4 per device that changed):")
    for uid, title in expected.items():
        changed = _changes(before[uid], after.get(uid, before[uid]))
        log(f"  {title}: {len(changed)} of {len(_numbers(before[uid]))} numeric values changed")
        for entity_id in changed[:4]:
            old = before[uid]["entities"][entity_id]
            new = after[uid]["entities"][entity_id]
            unit = f" {new['unit']}" if new["unit"] else ""
            log(f"    {entity_id}: {old['state']}{unit} -> {new['state']}{unit}")


def main() -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Run Home Assistant from config/ with this working tree's integration and "
        "simulated devices (a PI30 inverter, a Daly BMS, a JK BMS) set up.",
    )
    parser.add_argument("--port", type=int, help="web port (default 8123; --check: any free one)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show all of Home Assistant's console log"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="smoke test: start in a temporary configuration, wait for live values, stop",
    )
    parser.add_argument(
        "--timeout", type=float, default=110.0, help="--check: give up after this many seconds"
    )
    args = parser.parse_args()
    if args.check:
        args.config_dir = prepare_check_config()
        args.port = args.port or free_port(args.host)
    else:
        args.config_dir = TEMPLATE
        args.port = args.port or 8123
    if not port_free(args.host, args.port):
        log(f"Port {args.port} is in use (another Home Assistant?); choose one with --port")
        if args.check:
            shutil.rmtree(args.config_dir, ignore_errors=True)
        return 1
    try:
        return asyncio.run(Runner(args).run())
    except Failed as err:
        log(f"Failed: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
