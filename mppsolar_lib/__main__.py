"""Command line: ``python -m mppsolar_lib`` (console script ``mppsolar``).

Talks to a device with the reference CLI's flags (``mpp-solar -p /dev/ttyUSB0 -P pi30 -c QPIGS``):
``-p sim`` is the built-in simulator, so ``python -m mppsolar_lib -p sim -c QPIGS`` works on any
machine. Subcommands: ``settings`` (show and change settings through the settings model, with
confirmation), ``simulate`` (serve a simulator on a pseudo-terminal or TCP port), ``daemon``
(the bridge: poll the devices of a configuration file and feed its outputs; the reference's
``-C FILE --daemon`` is the same), and the protocol tools ``protocols``, ``commands``, ``request``, ``decode`` (no device needed).

Errors are one line on stderr and a non-zero exit status (``-D`` shows the traceback).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import contextlib
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Final, TextIO

from mppsolar_lib import __version__
from mppsolar_lib.device import Device, SettingChange
from mppsolar_lib.errors import MppSolarError, PortError, UnknownProtocolError, did_you_mean
from mppsolar_lib.outputs import (
    Output,
    OutputError,
    OutputOptions,
    Report,
    get_output,
    list_outputs,
)
from mppsolar_lib.outputs.base import text
from mppsolar_lib.protocols import get_protocol, list_protocols
from mppsolar_lib.protocols.fields import Field
from mppsolar_lib.protocols.settings import Setting, SettingKind
from mppsolar_lib.transports import Transport, open_transport

if TYPE_CHECKING:
    from pathlib import Path

    from mppsolar_lib.bridge.daemon import Bridge, DeviceRunner
    from mppsolar_lib.bridge.model import BridgeConfig
    from mppsolar_lib.protocols import Protocol
    from mppsolar_lib.protocols.detect import Detection
    from mppsolar_lib.protocols.fields import Result, Value
    from mppsolar_lib.simulator.faults import Faults
    from mppsolar_lib.simulator.serve import PtyServer, TcpServer
    from mppsolar_lib.transports.base import Completion
    from mppsolar_lib.web import WebServer

PROG = "mppsolar"
#: The reference CLI's default port.
#: Where ``--web`` without an address serves the web UI (loopback only).
DEFAULT_WEB: Final = "127.0.0.1:8080"
DEFAULT_PORT = "/dev/ttyUSB0"
DEFAULT_PROTOCOL = "pi30"
#: Subcommands; anything else on the command line is the reference-style device invocation.
ACTIONS = ("protocols", "commands", "request", "decode", "settings", "simulate", "daemon")
#: Where the reference's ``-C`` without a file looks.
REFERENCE_CONFIG = "/etc/mpp-solar/mpp-solar.conf"

_LOGGER = logging.getLogger(__name__)


class UsageError(MppSolarError):
    """The command line asks for something that cannot be done (reported, exit status 2)."""


# -- argument parsing ---------------------------------------------------------------------------


def _device_arguments(parser: argparse.ArgumentParser, *, protocol_help: str) -> None:
    """Add the flags that say which device to talk to (shared by the device CLI and settings)."""
    group = parser.add_argument_group("device")
    group.add_argument(
        "-p",
        "--port",
        help=f"device path, host:port, URL, Bluetooth address, or sim/test for the built-in "
        f"simulator (default: {DEFAULT_PORT})",
    )
    group.add_argument(
        "--porttype", help="force the port type (serial, hidraw, tcp, udp, ble, sim…)"
    )
    group.add_argument(
        "-P",
        "--protocol",
        nargs="?",
        const="help",
        default=DEFAULT_PROTOCOL,
        help=protocol_help,
    )
    group.add_argument("-b", "--baud", type=int, help="serial speed (default: 2400 for inverters)")
    group.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for each answer (default: 2)"
    )
    group.add_argument("-n", "--name", default="unnamed", help="device name, to tell devices apart")
    group.add_argument("-D", "--debug", action="store_true", help="log everything, with frames")
    group.add_argument("-I", "--info", action="store_true", help="log progress")


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "-o",
        "--output",
        nargs="?",
        const="help",
        default="screen",
        help="output format(s), comma separated (default: screen); alone, lists them",
    )
    group.add_argument("--filter", help="show only keys matching this regular expression")
    group.add_argument("--exclfilter", help="hide keys matching this regular expression")
    group.add_argument("--keepcase", action="store_true", help="show display names as keys")
    group.add_argument("-T", "--tag", help="label used instead of the command by topic outputs")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to Voltronic/MPP-Solar inverters, JK and Daly BMSs and Victron "
        "devices. Try: %(prog)s -p sim -c QPIGS",
        epilog=f"Subcommands (run '{PROG} SUBCOMMAND -h'): {', '.join(ACTIONS)}.",
    )
    _device_arguments(
        parser, protocol_help="protocol id or 'auto' (default: pi30); alone, lists them"
    )
    _output_arguments(parser)
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "-c",
        "--command",
        nargs="?",
        const="help",
        help="command(s) to run, '#' separated (QPIGS#QPIRI); alone, lists the commands",
    )
    what.add_argument("-l", "--list", action="store_true", help="list the protocol's commands")
    what.add_argument("--getstatus", action="store_true", help="run the status commands")
    what.add_argument("--getsettings", action="store_true", help="run the settings commands")
    what.add_argument("--getDeviceId", action="store_true", help="build an id from the id commands")
    what.add_argument(
        "--detect", action="store_true", help="find out which protocol the device speaks"
    )
    what.add_argument("-v", "--version", action="store_true", help="show the version and exit")
    bridge = parser.add_argument_group("bridge (the reference's spelling of 'daemon')")
    bridge.add_argument(
        "-C",
        "--configfile",
        nargs="?",
        const=REFERENCE_CONFIG,
        help=f"poll the devices of this configuration file once (default: {REFERENCE_CONFIG})",
    )
    bridge.add_argument(
        "--daemon", action="store_true", help="with -C: keep polling (as 'daemon -C FILE')"
    )
    return parser


def _daemon_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} daemon",
        description="Poll the devices of a configuration file and feed their outputs (MQTT, "
        "Prometheus, databases…) until stopped. See docs/bridge.md.",
    )
    parser.add_argument(
        "-C",
        "--configfile",
        required=True,
        metavar="FILE",
        help="the configuration: INI (the reference's format) or YAML (.yaml/.yml)",
    )
    parser.add_argument("--check", action="store_true", help="validate the file, print a summary")
    parser.add_argument(
        "--once", action="store_true", help="poll every device once, deliver, and stop"
    )
    parser.add_argument(
        "--spool-dir", metavar="DIR", help="keep undelivered readings here (overrides spool_dir)"
    )
    parser.add_argument("-D", "--debug", action="store_true", help="log everything, with frames")
    parser.add_argument("-I", "--info", action="store_true", help="log progress (the default)")
    web = parser.add_argument_group("web UI (docs/web.md)")
    web.add_argument(
        "--web",
        metavar="HOST:PORT",
        nargs="?",
        const=DEFAULT_WEB,
        help=(
            f"serve the web UI here (overrides web; alone: {DEFAULT_WEB}; a bare port is on "
            "127.0.0.1)"
        ),
    )
    web.add_argument("--web-token", metavar="TOKEN", help="token for changes (overrides web_token)")
    web.add_argument(
        "--web-allow-remote",
        action="store_true",
        help="allow a non-loopback address (put a TLS proxy in front)",
    )
    return parser


def _settings_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} settings",
        description="Show the device's settings, one in detail, or change one (asks first).",
    )
    parser.add_argument("key", nargs="?", help="setting to show or change (omit: all)")
    parser.add_argument("value", nargs="?", help="new value: a label, a number, or on/off")
    parser.add_argument("-y", "--yes", action="store_true", help="change without asking")
    _device_arguments(parser, protocol_help="protocol id or 'auto' (default: pi30)")
    _output_arguments(parser)
    return parser


def _simulate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} simulate",
        description="Serve a simulated device until interrupted, and print where.",
    )
    parser.add_argument("-P", "--protocol", default=DEFAULT_PROTOCOL, help="protocol to simulate")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="on a new pseudo-terminal")
    where.add_argument("--tcp", type=int, metavar="PORT", help="on a TCP port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (--tcp)")
    parser.add_argument("--link", help="keep a symlink to the pty here (a stable path, --pty)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--fault",
        action="append",
        metavar="KIND=P",
        help="inject a fault with probability P: silence, garbage, crc, truncate, stale, "
        "disconnect (repeatable)",
    )
    parser.add_argument("--seed", type=int, help="make values and faults repeatable")
    parser.add_argument("-D", "--debug", action="store_true", help="log every exchange")
    return parser


def _tools_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Protocol tools (no device needed).")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("protocols", help="list the supported protocols")
    commands = sub.add_parser("commands", help="list a protocol's commands")
    commands.add_argument("protocol")
    request = sub.add_parser("request", help="print the request frame for a command, as hex")
    request.add_argument("protocol")
    request.add_argument("command")
    decode = sub.add_parser("decode", help="decode an answer frame given as hex")
    decode.add_argument("protocol")
    decode.add_argument("command")
    decode.add_argument("frame_hex")
    decode.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


# -- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    action = args_list[0] if args_list and args_list[0] in ACTIONS else None
    debug = "-D" in args_list or "--debug" in args_list
    try:
        if action in ("settings", "simulate"):
            parser = _settings_parser() if action == "settings" else _simulate_parser()
            args = parser.parse_args(args_list[1:])
            _logging(args)
            run = _settings if action == "settings" else _simulate
            return asyncio.run(run(args))
        if action == "daemon":
            return _daemon(_daemon_parser().parse_args(args_list[1:]))
        if action is not None:
            return _tools(_tools_parser().parse_args(args_list))
        args = _parser().parse_args(args_list)
        if args.configfile or args.daemon:
            return _daemon(_reference_daemon_args(args))
        _logging(args)
        return _device_cli(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's exit-time
        # flush of stdout from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except MppSolarError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - last resort: one line, not a traceback
        if debug:
            raise
        print(
            f"error: unexpected {type(err).__name__}: {err} (run with -D for the traceback, "
            "and please report it)",
            file=sys.stderr,
        )
        return 70


def _logging(args: argparse.Namespace) -> None:
    """Log the library to stderr at -D (frames included) or -I level; once per run."""
    global _HANDLER  # noqa: PLW0603 - one handler per process, replaced on each main() call
    logger = logging.getLogger("mppsolar_lib")
    if _HANDLER is not None:
        logger.removeHandler(_HANDLER)
        _HANDLER = None
    level = logging.DEBUG if args.debug else logging.INFO if getattr(args, "info", False) else None
    if level is None:
        logger.setLevel(logging.NOTSET)
        return
    _HANDLER = logging.StreamHandler(sys.stderr)
    _HANDLER.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(_HANDLER)
    logger.setLevel(level)


_HANDLER: logging.Handler | None = None


# -- the bridge daemon --------------------------------------------------------------------------


def _reference_daemon_args(args: argparse.Namespace) -> argparse.Namespace:
    """Map ``-C FILE [--daemon]`` to ``daemon -C FILE [--once]``, as the reference means them."""
    if not args.configfile:
        raise UsageError("--daemon needs a configuration file: -C FILE")
    return argparse.Namespace(
        configfile=args.configfile,
        check=False,
        once=not args.daemon,
        spool_dir=None,
        debug=args.debug,
        info=args.info,
        web=None,
        web_token=None,
        web_allow_remote=False,
    )


def _daemon(args: argparse.Namespace) -> int:
    """Check the configuration, then run the bridge (``daemon`` and ``-C FILE --daemon``)."""
    # Imported for this action only: the device CLI's start-up never pays for the bridge.
    from mppsolar_lib.bridge.config import ConfigError, load_config  # noqa: PLC0415

    try:
        config = load_config(args.configfile)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        _summary(config, sys.stdout)
        return 0
    _daemon_logging(args, config.log_file)
    return asyncio.run(_run_bridge(config, args))


def _summary(config: BridgeConfig, stream: TextIO) -> None:
    """Print what the daemon would run."""
    count = len(config.devices)
    lines = [f"{config.path}: valid, {count} device{'s' if count != 1 else ''}"]
    for device in config.devices:
        where = f"{device.port}" + (f" ({device.porttype})" if device.porttype else "")
        polls = f"{'#'.join(device.commands)} every {device.pause:g} s"
        if device.slow_commands:
            polls += f", {'#'.join(device.slow_commands)} every {device.slow_pause:g} s"
        lines.append(f"  [{device.name}] {device.protocol or 'auto'} on {where}: {polls}")
        lines.append(f"    outputs: {', '.join(device.outputs)}")
        if device.mqtt_allowed_cmds:
            lines.append(f"    mqtt commands allowed: {', '.join(device.mqtt_allowed_cmds)}")
    if config.mqtt is not None:
        lines.append(f"mqtt broker: {config.mqtt.host}:{config.mqtt.port}")
    if config.log_file:
        lines.append(f"log file: {config.log_file}")
    if config.web is not None:
        host = f"[{config.web[0]}]" if ":" in config.web[0] else config.web[0]
        lines.append(f"web UI: http://{host}:{config.web[1]}/")
    stream.write("\n".join(lines) + "\n")


def _daemon_logging(args: argparse.Namespace, log_file: str | None) -> None:
    """Log progress (or everything at -D) to stderr and, if set, to ``log_file``."""
    global _HANDLER  # noqa: PLW0603 - see _logging
    logger = logging.getLogger("mppsolar_lib")
    for handler in (_HANDLER, *_DAEMON_HANDLERS):
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
    _HANDLER = None
    _DAEMON_HANDLERS.clear()
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        try:
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as err:
            raise UsageError(f"log_file {log_file}: {err.strerror or err}") from None
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        _DAEMON_HANDLERS.append(handler)
    logger.setLevel(logging.DEBUG if args.debug else logging.INFO)


_DAEMON_HANDLERS: list[logging.Handler] = []
#: The daemon's own messages (``__name__`` is ``__main__`` under ``python -m``).
_BRIDGE_LOGGER = logging.getLogger("mppsolar_lib.bridge")


def _spool_dir(args: argparse.Namespace, config: BridgeConfig) -> Path | None:
    """Return --spool-dir, else spool_dir, else systemd's StateDirectory= (else the default)."""
    from pathlib import Path  # noqa: PLC0415 - pathlib costs the device CLI ~4 ms at start-up

    if args.spool_dir:
        return Path(args.spool_dir)
    if config.spool_dir:
        return Path(config.spool_dir)
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) if state else None


async def _run_bridge(config: BridgeConfig, args: argparse.Namespace) -> int:
    """Run the bridge until SIGTERM/SIGINT (or one poll with --once); flush the outputs."""
    from mppsolar_lib.bridge.daemon import Bridge  # noqa: PLC0415 - see _daemon

    bridge = Bridge(config, spool_dir=_spool_dir(args, config))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    status = 0
    web: WebServer | None = None
    try:
        try:
            await bridge.start(poll=not args.once)
        except OSError as err:
            raise MppSolarError(f"cannot start: {err}") from err
        _BRIDGE_LOGGER.info("bridge running: %d devices", len(config.devices))
        if not args.once:
            web = _web_server(bridge, config, args)
            if web is not None:
                await web.start()
        if args.once:
            silent = await _poll_once(bridge, stop)
            if silent:
                _BRIDGE_LOGGER.error("no answer from: %s", ", ".join(silent))
                status = 1
        else:
            await stop.wait()
        _BRIDGE_LOGGER.info("stopping: delivering what is pending")
    finally:
        if web is not None:
            await web.stop()
        await bridge.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return status


def _web_server(bridge: Bridge, config: BridgeConfig, args: argparse.Namespace) -> WebServer | None:
    """Return the web UI server --web or ``web`` asks for (``None``: not asked)."""
    from mppsolar_lib.bridge.config import parse_address  # noqa: PLC0415 - see _daemon

    address = config.web
    if args.web:
        try:
            address = parse_address(args.web)
        except ValueError as err:
            raise UsageError(f"--web: {err}") from None
    if address is None:
        return None
    try:
        from mppsolar_lib.web import WebServer, WebSettings  # noqa: PLC0415 - optional extra
    except ImportError as err:
        raise UsageError(
            f"the web UI needs aiohttp: pip install 'mppsolar-lib[web]' ({err})"
        ) from None
    settings = WebSettings(
        host=address[0],
        port=address[1],
        token=args.web_token or config.web_token,
        allow_remote=args.web_allow_remote or config.web_allow_remote,
        state_dir=bridge.spool_dir,
    )
    return WebServer(bridge, settings)


async def _poll_once(bridge: Bridge, stop: asyncio.Event) -> list[str]:
    """Poll every device's commands once, together; return the devices that did not answer."""

    async def once(runner: DeviceRunner) -> None:
        commands = (*runner.config.commands, *runner.config.slow_commands)
        await runner.publish(await runner.poll(commands))

    polls = asyncio.gather(*(once(runner) for runner in bridge.runners.values()))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait((polls, stopped), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not polls.done():
        polls.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polls
    else:
        await polls
    return [name for name, runner in bridge.runners.items() if not runner.online]


# -- protocol tools (no device) -----------------------------------------------------------------


def _tools(args: argparse.Namespace) -> int:
    if args.action == "protocols":
        for protocol_id in list_protocols():
            print(f"{protocol_id:10} {get_protocol(protocol_id).description}")
    elif args.action == "commands":
        for command in get_protocol(args.protocol).list_commands():
            print(f"{command.name:12} {command.kind.value:7} {command.description}")
    elif args.action == "request":
        print(get_protocol(args.protocol).build_request(args.command).hex())
    else:
        try:
            frame = bytes.fromhex(args.frame_hex)
        except ValueError:
            raise UsageError("frame_hex is not hexadecimal") from None
        result = get_protocol(args.protocol).decode(args.command, frame)
        if args.json:
            # Imported for this output only: json costs every other start-up ~2 ms.
            import json  # noqa: PLC0415

            print(json.dumps({k: [f.value, f.unit] for k, f in result.fields.items()}))
        else:
            for field in result.fields.values():
                print(f"{field.name:45} {field.value!s:>12} {field.unit}")
    return 0


# -- the device CLI -----------------------------------------------------------------------------


def _options(args: argparse.Namespace, *, keep_case: bool | None = None) -> OutputOptions:
    try:
        return OutputOptions(
            filter=args.filter,
            exclude=args.exclfilter,
            keep_case=args.keepcase if keep_case is None else keep_case,
            tag=args.tag,
            name=args.name,
        )
    except OutputError as err:
        raise UsageError(str(err)) from None


def _outputs(spec: str, options: OutputOptions) -> list[Output]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise UsageError("-o needs an output name; run with -o alone to list them")
    try:
        return [get_output(name, options) for name in names]
    except OutputError as err:
        raise UsageError(str(err)) from None


def _print_now(outputs: Sequence[Output], reports: Sequence[Report]) -> None:
    """Send reports from synchronous code (listings: no device, no loop running yet)."""
    asyncio.run(_send(outputs, reports))


async def _send(outputs: Sequence[Output], reports: Sequence[Report]) -> None:
    for output in outputs:
        await output.send(reports)


def _protocol_or_none(name: str) -> Protocol | None:
    """Return the protocol named ``name``, ``None`` for ``auto``; a usage error if unknown."""
    if name.strip().lower() == "auto":
        return None
    try:
        return get_protocol(name)
    except UnknownProtocolError as err:
        raise UsageError(f"{err} (or 'auto' to detect it)") from None


def _device_cli(args: argparse.Namespace) -> int:
    if args.version:
        python = ".".join(str(part) for part in sys.version_info[:3])
        print(f"{PROG} (mppsolar_lib) {__version__}, python {python}")
        return 0
    if args.protocol == "help":
        screen = _outputs(args.output if args.output != "help" else "screen", _options(args))
        rows = ((pid, get_protocol(pid).description) for pid in list_protocols())
        _print_now(screen, [Report.listing("protocols help", "List available protocols", rows)])
        return 0
    if args.output == "help":
        screen = _outputs("screen", _options(args, keep_case=True))
        report = Report.listing("outputs help", "List available outputs", list_outputs().items())
        _print_now(screen, [report])
        return 0
    options = _options(args)
    outputs = _outputs(args.output, options)
    protocol = _protocol_or_none(args.protocol)
    listing = args.list or args.command == "help"
    if listing and protocol is not None:
        _print_now(_outputs(args.output, _options(args, keep_case=True)), [_commands(protocol)])
        return 0
    if protocol is not None and args.command and not listing:
        for command in _split(args.command):
            protocol.resolve(command)  # unknown command / bad parameter: say so before opening
    return asyncio.run(_session(args, protocol, outputs))


def _split(commands: str) -> list[str]:
    names = [name.strip() for name in commands.split("#") if name.strip()]
    if not names:
        raise UsageError("-c needs a command; run with -c alone to list them")
    return names


def _commands(protocol: Protocol) -> Report:
    rows = []
    for command in sorted(protocol.list_commands(), key=lambda c: c.name.upper()):
        about = command.description
        if command.param is not None:
            about = f"{about} -- {command.param.describe()}"
        rows.append((command.name, about))
    return Report.listing(
        "command help", f"List available commands for protocol {protocol.id}", rows
    )


def _open(args: argparse.Namespace, protocol: Protocol | None) -> Device:
    """Build the device for ``-p``/``--porttype``/``-b`` (nothing is opened yet)."""
    port = args.port or DEFAULT_PORT
    transport = open_transport(
        port,
        porttype=args.porttype,
        baud=args.baud,
        protocol=protocol.id if protocol is not None else None,
    )
    progress = Progress.to_stderr()
    if progress is not None:
        transport = ProgressTransport(transport, progress)
    return Device(transport, protocol, timeout=args.timeout, probe_timeout=min(args.timeout, 1.0))


async def _session(
    args: argparse.Namespace, protocol: Protocol | None, outputs: list[Output]
) -> int:
    device = _open(args, protocol)
    try:
        return await _run(args, device, outputs)
    except PortError as err:
        if args.port is None:
            raise PortError(
                f"{err} (no -p given, so the default {DEFAULT_PORT} was used; "
                "-p sim runs the built-in simulator)"
            ) from err
        raise
    finally:
        await device.close()
        for output in outputs:
            await output.close()


async def _detect(device: Device, *, report: bool) -> Detection:
    """Identify the device's protocol, showing progress on a terminal."""
    transport = device.transport
    progress = transport.progress if isinstance(transport, ProgressTransport) else None
    if progress is not None:
        progress.start("detecting the protocol")
    try:
        detection = await device.identify()
    finally:
        if progress is not None:
            progress.stop()
    if detection.protocol is None:
        tried = "; ".join(detection.evidence)
        raise MppSolarError(
            f"{device.name}: no known protocol answered (tried {tried}); check power, cabling, "
            "the port and the baud rate (-b)"
        )
    if not report:
        _LOGGER.info("detected %s (confidence %.2f)", detection.protocol, detection.confidence)
    return detection


def _detection_report(detection: Detection) -> Report:
    rows = [
        Field("protocol", "Protocol", detection.protocol),
        Field("confidence", "Confidence", detection.confidence),
        Field("model", "Model", detection.model),
        Field("firmware", "Firmware", detection.firmware),
        Field("serial_number", "Serial Number", detection.serial),
    ]
    if detection.alternatives:
        rows.append(Field("alternatives", "Alternatives", ", ".join(detection.alternatives)))
    rows.extend(
        Field(f"probe_{index:02d}", f"Probe {index:02d}", seen)
        for index, seen in enumerate(detection.evidence, 1)
    )
    return Report("detect", "Protocol detection", tuple(rows))


async def _run(args: argparse.Namespace, device: Device, outputs: list[Output]) -> int:
    """Run what the flags ask for against ``device``; return the exit status."""
    if args.detect:
        detection = await _detect(device, report=True)
        await _send(outputs, [_detection_report(detection)])
        return 0
    protocol = device.protocol
    if protocol is None:
        await _detect(device, report=False)
        protocol = device.protocol
        assert protocol is not None  # _detect raises otherwise
    if args.list or args.command == "help":
        keep = [get_output(o.name, _options(args, keep_case=True)) for o in outputs]
        await _send(keep, [_commands(protocol)])
        return 0
    if args.getstatus or args.getsettings:
        what = "status" if args.getstatus else "settings"
        batch = await (device.get_status() if args.getstatus else device.get_settings())
        for command, error in batch.errors.items():
            _warn(command, error)
        names = ", ".join(batch)
        report = Report.merged(f"get_{what}", f"{what.capitalize()}: {names}", batch.values())
        await _send(outputs, [report])
        return 0
    if args.getDeviceId:
        await _send(outputs, [await _device_id(device, protocol)])
        return 0
    commands = _split(args.command) if args.command else [_default_command(protocol)]
    status = 0
    for command in commands:
        try:
            definition, _ = protocol.resolve(command)
            result = await device.command(command)
        except MppSolarError as err:
            if len(commands) == 1:
                raise
            print(f"error: {_about(command, err)}", file=sys.stderr)
            status = 1
            continue
        report = Report.from_result(result, protocol.command_text(command), definition.description)
        await _send(outputs, [report])
    return status


def _about(command: str, err: Exception) -> str:
    """Return the error's message, naming ``command`` unless the message already starts with it."""
    message = str(err)
    return message if message.startswith(command) else f"{command}: {message}"


def _warn(command: str, err: Exception) -> None:
    """Report a failed command of a batch on stderr; the batch goes on."""
    print(f"warning: {_about(command, err)}", file=sys.stderr)


def _default_command(protocol: Protocol) -> str:
    """Return what runs without ``-c``: the first identity query (QPI on PI30), as the reference."""
    return (protocol.id_commands or protocol.status_commands)[0]


async def _device_id(device: Device, protocol: Protocol) -> Report:
    """Join the last value of each identity command: ``PI30:044:MKS2-8000``."""
    parts: list[str] = []
    for command in protocol.id_commands:
        try:
            result = await device.command(command)
        except MppSolarError as err:
            _warn(command, err)
            continue
        parts.extend(text(value) for value in list(result.values())[-1:])
    if not parts:
        raise MppSolarError(
            f"{device.name}: no identity command answered ({', '.join(protocol.id_commands)})"
            if protocol.id_commands
            else f"{protocol.id} has no identity commands"
        )
    row = Field("deviceid", "DeviceID", ":".join(parts))
    return Report("Get Device ID", "Generate a device id", (row,))


# -- settings -----------------------------------------------------------------------------------

#: What a safety setting protects against, by unit, when its own description does not say.
_SAFETY_BY_UNIT = {
    "V": "a voltage outside the battery maker's values over- or under-charges the battery "
    "(damage, shorter life, fire risk) or cuts power too early or too late",
    "A": "a current above what the battery and its cables are rated for overheats them",
    "%": "a wrong value moves the battery protection thresholds",
}
_SAFETY_DEFAULT = "a wrong value can harm the battery or cut power to the loads"


def safety_note(setting: Setting) -> str:
    """Return what a safety setting protects against, for the confirmation prompt."""
    return setting.description or _SAFETY_BY_UNIT.get(setting.unit, _SAFETY_DEFAULT)


def allowed(setting: Setting) -> str:
    """Say which values ``setting`` takes."""
    if setting.kind is SettingKind.SELECT:
        return ", ".join(setting.options.values())
    if setting.kind is SettingKind.SWITCH:
        return "on, off"
    unit = f" {setting.unit}" if setting.unit else ""
    low = "" if setting.minimum is None else f"{setting.minimum:g}"
    high = "" if setting.maximum is None else f"{setting.maximum:g}"
    step = f" in steps of {setting.step:g}" if setting.step else ""
    return f"{low}–{high}{unit}{step}"


_ON = {"on", "true", "yes", "1", "enable", "enabled"}
_OFF = {"off", "false", "no", "0", "disable", "disabled"}


def parse_value(setting: Setting, given: str) -> object:
    """Turn the command-line text into what the setting's encoder takes.

    Switches take on/off words; numbers may carry their unit (``54.5V``, ``30 A``).
    """
    word = given.strip()
    if setting.kind is SettingKind.NUMBER:
        unit = setting.unit
        if unit and word.lower().endswith(unit.lower()):
            word = word[: -len(unit)].strip()
        return word
    if setting.kind is SettingKind.SELECT:
        return word
    if word.lower() in _ON:
        return True
    if word.lower() in _OFF:
        return False
    raise UsageError(f"{setting.name}: {given!r} is not on or off")


async def _settings(args: argparse.Namespace) -> int:
    protocol = _protocol_or_none(args.protocol if args.protocol != "help" else DEFAULT_PROTOCOL)
    options = _options(args)
    outputs = _outputs(args.output if args.output != "help" else "screen", options)
    if args.value is not None and protocol is not None:
        setting = _setting(protocol, args.key)
        parse_value(setting, args.value)
    device = _open(args, protocol)
    try:
        if device.protocol is None:
            await _detect(device, report=False)
        proto = device.protocol
        assert proto is not None
        if not proto.settings:
            raise UsageError(f"{proto.id} has no settings that can be changed")
        if args.key is None:
            await _send(outputs, [await _settings_report(device, proto)])
            return 0
        setting = _setting(proto, args.key)
        if args.value is None:
            current = await device.read_setting(setting.key)
            _describe_setting(setting, current, sys.stdout)
            return 0
        return await _change(device, setting, parse_value(setting, args.value), assume_yes=args.yes)
    finally:
        await device.close()


def _setting(protocol: Protocol, key: str) -> Setting:
    setting = protocol.settings.get(key)
    if setting is not None:
        return setting
    hint = did_you_mean(key, protocol.settings)
    hint = f"{hint} " if hint else ""
    known = ", ".join(sorted(protocol.settings)) or "none"
    raise UsageError(f"{protocol.id} has no setting {key!r}; {hint}settings: {known}")


async def _settings_report(device: Device, protocol: Protocol) -> Report:
    """Read every setting (each read command once) into one report."""
    answers: dict[str, Result | None] = {}
    rows = []
    for setting in protocol.settings.values():
        if setting.read_command not in answers:
            try:
                answers[setting.read_command] = await device.command(setting.read_command)
            except MppSolarError as err:
                _warn(setting.read_command, err)
                answers[setting.read_command] = None
        answer = answers[setting.read_command]
        value = setting.current(answer) if answer is not None else None
        rows.append(Field(setting.key, setting.name, value, setting.unit))
    if all(answer is None for answer in answers.values()):
        raise MppSolarError(
            f"{device.name}: no settings command answered ({', '.join(answers)}); "
            "is the protocol (-P) right?"
        )
    return Report("settings", f"Settings of the {protocol.id} device", tuple(rows))


def _describe_setting(setting: Setting, current: Value, stream: TextIO) -> None:
    shown = _show(setting, current)
    lines = [
        f"{setting.name} ({setting.key}): {shown}",
        f"  allowed: {allowed(setting)}",
        f"  read from {setting.read_command} ({setting.read_field})",
    ]
    if setting.safety:
        lines.append(f"  safety setting: {safety_note(setting)}")
    elif setting.description:
        lines.append(f"  {setting.description}")
    stream.write("\n".join(lines) + "\n")


def _show(setting: Setting, value: Value) -> str:
    if value is None:
        return "not reported"
    if isinstance(value, bool):
        return "on" if value else "off"
    unit = f" {setting.unit}" if setting.unit else ""
    return f"{value}{unit}"


async def _change(device: Device, setting: Setting, value: object, *, assume_yes: bool) -> int:
    change: SettingChange = await device.prepare_setting(setting.key, value)
    if change.unchanged:
        print(f"{setting.name} is already {_show(setting, change.before)}; nothing sent")
        return 0
    print(f"change {change.describe()}")
    if setting.safety:
        print(f"safety setting: {safety_note(setting)}")
    if not assume_yes:
        if not sys.stdin.isatty():
            raise UsageError("not changed: confirm on a terminal, or pass --yes")
        answer = await asyncio.to_thread(input, "apply? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not changed")
            return 1
    now = await device.apply_setting(change, confirm=True)
    print(f"{setting.name} is now {_show(setting, now)}")
    return 0


# -- simulate -----------------------------------------------------------------------------------


async def _simulate(args: argparse.Namespace) -> int:
    """Serve a simulator until SIGINT/SIGTERM; print where, and how to reach it."""
    protocol = _protocol_or_none(args.protocol)
    if protocol is None:
        raise UsageError("simulate needs a protocol: -P pi30, pi18, jk02, daly, ved…")
    # Loaded here only: device commands on real ports never pay for the simulator's tables.
    from mppsolar_lib.simulator import create_simulator  # noqa: PLC0415
    from mppsolar_lib.simulator.serve import serve_pty, serve_tcp  # noqa: PLC0415

    faults = _faults(args)
    simulator = create_simulator(protocol.id, seed=args.seed)
    server: PtyServer | TcpServer
    if args.pty:
        server = await serve_pty(simulator, faults, link=args.link)
        where = str(args.link or server.path)
    else:
        server = await serve_tcp(simulator, faults, host=args.host, port=args.tcp)
        where = f"{args.host}:{server.port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(f"simulating a {protocol.id} device on {where}", flush=True)
        print(f"try: {PROG} -p {where} -P {protocol.id} -c <command>   (Ctrl-C stops)", flush=True)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()
    return 0


def _faults(args: argparse.Namespace) -> Faults | None:
    """Build the fault profile from ``--latency`` and ``--fault KIND=P`` (``None``: no faults)."""
    chances: dict[str, float] = {}
    for item in args.fault or ():
        kind, sep, chance = item.partition("=")
        try:
            chances[kind.strip().lower()] = float(chance) if sep else 1.0
        except ValueError:
            raise UsageError(f"--fault {item!r}: the chance must be a number 0–1") from None
    if not chances and not args.latency:
        return None
    from mppsolar_lib.simulator.faults import Faults  # noqa: PLC0415 - see _simulate

    known = {"silence", "garbage", "crc", "truncate", "stale", "disconnect"}
    unknown = sorted(set(chances) - known)
    if unknown:
        raise UsageError(f"--fault {', '.join(unknown)}: unknown; use {', '.join(sorted(known))}")
    try:
        return Faults(
            latency=args.latency,
            silence=chances.get("silence", 0.0),
            garbage=chances.get("garbage", 0.0),
            crc=chances.get("crc", 0.0),
            truncate=chances.get("truncate", 0.0),
            stale=chances.get("stale", 0.0),
            disconnect=chances.get("disconnect", 0.0),
            seed=args.seed,
        )
    except ValueError as err:
        raise UsageError(f"--fault/--latency: {err}") from None


# -- progress -----------------------------------------------------------------------------------


class Progress:
    """A one-line progress indicator on a terminal, redrawn in place and erased at the end."""

    def __init__(self, stream: TextIO) -> None:
        """Draw on ``stream``."""
        self.stream = stream
        self.active = False
        self.label = ""
        self.count = 0
        self.started = 0.0
        self.width = 0

    @classmethod
    def to_stderr(cls) -> Progress | None:
        """Return an indicator on stderr when it is a terminal, else ``None``."""
        return cls(sys.stderr) if sys.stderr.isatty() else None

    def start(self, label: str) -> None:
        """Show ``label`` and count steps from now."""
        self.active = True
        self.label = label
        self.count = 0
        self.started = time.monotonic()
        self._draw("")

    def step(self, what: str) -> None:
        """Show that ``what`` is being tried."""
        if self.active:
            self.count += 1
            self._draw(what)

    def stop(self) -> None:
        """Erase the line."""
        if self.active:
            self.active = False
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()

    def _draw(self, what: str) -> None:
        if self.count:
            elapsed = time.monotonic() - self.started
            line = f"{self.label}: probe {self.count} {what} ({elapsed:.1f} s)…"
        else:
            line = f"{self.label}…"
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(line))


class ProgressTransport(Transport):
    """Pass every call to ``inner``; report each exchange to a :class:`Progress`."""

    def __init__(self, inner: Transport, progress: Progress) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.progress = progress
        self.name = inner.name

    @property
    def is_open(self) -> bool:
        """Whether the inner link is up."""
        return self.inner.is_open

    async def open(self) -> None:
        """Open the inner link."""
        await self.inner.open()

    async def close(self) -> None:
        """Close the inner link."""
        await self.inner.close()

    async def exchange(self, request: bytes, complete: Completion, timeout: float) -> bytes:
        """Report the request, then exchange it."""
        self.progress.step(_printable(request))
        return await self.inner.exchange(request, complete, timeout)


def _printable(request: bytes) -> str:
    """Return the readable part of a request (``QPIGS``, ``^P005PI``), for the progress line."""
    text = request.decode("latin-1")
    end = 0
    while end < len(text) and text[end].isascii() and (text[end].isalnum() or text[end] in "^,.+-"):
        end += 1
    return text[:end] or request[:8].hex()


if __name__ == "__main__":
    sys.exit(main())
