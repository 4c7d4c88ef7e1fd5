"""Read the bridge's configuration file: the reference's INI format, or the same keys in YAML.

:func:`load_config` checks the whole file before anything starts and reports every problem at
once — unknown keys (with a did-you-mean), values that cannot be used, missing required keys,
duplicate sections and keys — each with the file, section and line, in one :class:`ConfigError`.

The INI dialect is Python's :mod:`configparser` with its defaults, as the reference reads it
(``key = value`` or ``key: value``, full-line ``#``/``;`` comments, keys in any case, indented
continuation lines, ``%(key)s`` interpolation, a ``[DEFAULT]`` section). configparser does not
say where a key was, so a small scanner that follows its rules notes the line of every section
and key, and finds the duplicates (configparser stops at the first one).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
import configparser
from dataclasses import dataclass, field
import ipaddress
from pathlib import Path
import re
import sys
from typing import TYPE_CHECKING, Any, Final

from mppsolar_lib.bridge.model import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_MONGO_DB,
    DEFAULT_MQTT_PORT,
    DEFAULT_PAUSE,
    DEFAULT_PORT,
    DEFAULT_PROM_OUTPUT_DIR,
    DEFAULT_PUSH_URL,
    DEFAULT_SLOW_PAUSE,
    DEFAULT_SPOOL_LIMIT,
    DEFAULT_UDP_PORT,
    BridgeConfig,
    DeviceConfig,
    MqttBroker,
)
from mppsolar_lib.errors import MppSolarError, did_you_mean

if TYPE_CHECKING:
    from mppsolar_lib.protocols import Protocol

#: The INI section of the daemon's own settings (the reference's name; case matters there too).
SETUP: Final = "SETUP"
#: The reference's device types; they only choose its device class, which we do not need.
DEVICE_TYPES: Final = ("jkbms", "mppsolar")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration file, and where."""

    path: str
    line: int
    section: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        """Return ``file:line: [section] key: message``."""
        parts = [f"{self.path}:{self.line}" if self.line else self.path]
        if self.section is not None:
            parts.append(f"[{self.section}]" + (f" {self.key}" if self.key else ""))
        elif self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)


class ConfigError(MppSolarError):
    """The configuration cannot be used; :attr:`problems` lists every reason."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        """Report ``problems`` found in ``path``."""
        self.path = path
        self.problems = sorted(problems, key=lambda problem: problem.line)
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{path}: {count} in the configuration:\n{lines}")


# -- the file's content, whichever format ----------------------------------------------------


@dataclass(slots=True)
class _Entry:
    key: str
    value: object
    line: int
    #: From ``[DEFAULT]``: its problems are reported there, once.
    inherited: bool = False


@dataclass(slots=True)
class _Section:
    name: str
    line: int
    entries: dict[str, _Entry] = field(default_factory=dict)


class _Problems:
    """Collect problems of one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[Problem] = []

    def add(self, line: int, section: str | None, key: str | None, message: str) -> None:
        self.items.append(Problem(self.path, line, section, key, message))


# -- value conversions (INI gives text; YAML also numbers, booleans, lists) ------------------


class _BadValue(ValueError):
    """A value that cannot be used; the message says why."""


def _scalar_text(value: object) -> str:
    if isinstance(value, list | dict):
        shown = "a list" if isinstance(value, list) else "a mapping"
        raise _BadValue(f"expected a single value, got {shown}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        # YAML reads yes/no/on/off unquoted as booleans, dates as dates.
        raise _BadValue(f"expected text, got {value!r} (quote it)")
    return str(value).strip()


def _text(value: object) -> str | None:
    """Return the text, ``None`` when empty (the key is then as if not given)."""
    return _scalar_text(value) or None


def _number(value: object, kind: type[float | int]) -> float:
    if isinstance(value, bool):
        raise _BadValue(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        number: float = value
    else:
        word = _scalar_text(value)
        try:
            number = kind(word)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise _BadValue(f"expected {what}, got {word!r}") from None
    if kind is int and number != int(number):
        raise _BadValue(f"expected a whole number, got {number!r}")
    return number


def _positive_float(value: object) -> float:
    number = float(_number(value, float))
    if not number > 0 or number == float("inf"):
        raise _BadValue(f"must be a number of seconds above 0, got {number:g}")
    return number


def _positive_int(value: object) -> int:
    number = int(_number(value, int))
    if number <= 0:
        raise _BadValue(f"must be above 0, got {number}")
    return number


def _port_number(value: object) -> int:
    number = int(_number(value, int))
    if not 1 <= number <= 65535:
        raise _BadValue(f"must be a port number 1-65535, got {number}")
    return number


_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off"})


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = _scalar_text(value).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _BadValue(f"expected true or false (yes/no, on/off, 1/0), got {word!r}")


def parse_address(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Read ``host:port``, ``[v6]:port`` or ``port`` (on ``default_host``); raise ValueError."""
    text = text.strip()
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"expected host:port ([address]:port for IPv6), got {text!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"expected host:port, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be 1-65535, got {port}")
    return host or default_host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(value: object) -> tuple[str, int]:
    try:
        return parse_address(_scalar_text(value))
    except ValueError as err:
        raise _BadValue(str(err)) from None


def _items(value: object, separator: str) -> tuple[str, ...]:
    """Split ``a<sep>b`` (INI) or take a YAML list; blanks are dropped."""
    parts = (
        [_scalar_text(item) for item in value]
        if isinstance(value, list)
        else _scalar_text(value).split(separator)
    )
    return tuple(part.strip() for part in parts if part.strip())


def _commands(value: object) -> tuple[str, ...]:
    return _items(value, "#")


def _names(value: object) -> tuple[str, ...]:
    return _items(value, ",")


def _regex(value: object) -> str | None:
    text = _text(value)
    if text is not None:
        _compile(text)
    return text


def _regexes(value: object) -> tuple[str, ...]:
    patterns = _names(value)
    for pattern in patterns:
        _compile(pattern)
    return patterns


def _compile(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as err:
        raise _BadValue(f"{pattern!r} is not a valid regular expression: {err}") from None


def _device_type(value: object) -> str:
    word = _scalar_text(value).lower()
    if word not in DEVICE_TYPES:
        hint = did_you_mean(word, DEVICE_TYPES)
        raise _BadValue(
            f"unknown device type {word!r}; {hint + ' ' if hint else ''}"
            f"known: {', '.join(DEVICE_TYPES)}"
        )
    return word


def _url(*schemes: str) -> Callable[[object], str | None]:
    def convert(value: object) -> str | None:
        text = _text(value)
        if text is not None and not text.lower().startswith(tuple(f"{s}://" for s in schemes)):
            wanted = " or ".join(f"{s}://" for s in schemes)
            raise _BadValue(f"expected a {wanted} URL, got {text!r}")
        return text

    return convert


_Convert = Callable[[object], Any]

#: ``[SETUP]`` keys and how to read each.
SETUP_KEYS: Final[Mapping[str, _Convert]] = {
    "pause": _positive_float,
    "mqtt_broker": _text,
    "mqtt_port": _port_number,
    "mqtt_user": _text,
    "mqtt_pass": _text,
    "log_file": _text,
    "spool_dir": _text,
    "memory_limit": _positive_int,
    "spool_limit": _positive_int,
    "web": _address,
    "web_token": _text,
    "web_allow_remote": _boolean,
}

#: Device keys and how to read each.
DEVICE_KEYS: Final[Mapping[str, _Convert]] = {
    "command": _commands,
    "protocol": _text,
    "type": _device_type,
    "port": _text,
    "porttype": _text,
    "baud": _positive_int,
    "pause": _positive_float,
    "slow_command": _commands,
    "slow_pause": _positive_float,
    "tag": _text,
    "outputs": _names,
    "filter": _regex,
    "exclfilter": _regex,
    "keepcase": _boolean,
    "dev": _text,
    "mqtt_topic": _text,
    "mqtt_allowed_cmds": _regexes,
    "prom_output_dir": _text,
    "push_url": _url("http", "https"),
    "postgres_url": _url("postgres", "postgresql"),
    "mongo_url": _url("mongodb", "mongodb+srv"),
    "mongo_db": _text,
    "udpport": _port_number,
}


# -- building the configuration from sections ------------------------------------------------


def _read_keys(
    section: _Section, keys: Mapping[str, _Convert], problems: _Problems, what: str
) -> dict[str, Any]:
    """Convert the section's entries; report unknown keys and bad values."""
    values: dict[str, Any] = {}
    for entry in section.entries.values():
        convert = keys.get(entry.key)
        if convert is None:
            if not entry.inherited:
                hint = did_you_mean(entry.key, keys)
                message = f"unknown {what} key" + (f"; {hint}" if hint else "")
                problems.add(entry.line, section.name, entry.key, message)
            continue
        try:
            values[entry.key] = convert(entry.value)
        except _BadValue as err:
            if not entry.inherited:
                problems.add(entry.line, section.name, entry.key, str(err))
    return values


def _setup(section: _Section | None, problems: _Problems) -> dict[str, Any]:
    if section is None:
        return {}
    return _read_keys(section, SETUP_KEYS, problems, "[SETUP]")


def _device(
    section: _Section, setup: Mapping[str, Any], problems: _Problems
) -> DeviceConfig | None:
    """Build one device, or report why it cannot be built (``None``)."""
    values = _read_keys(section, DEVICE_KEYS, problems, "device")
    count = len(problems.items)

    def line_of(key: str) -> int:
        entry = section.entries.get(key)
        return entry.line if entry is not None else section.line

    def report(key: str, message: str) -> None:
        problems.add(line_of(key), section.name, key, message)

    commands: tuple[str, ...] = values.get("command", ())
    if "command" not in section.entries:
        report("command", "missing: the commands to poll, '#' separated (QPIGS#QMOD)")
    elif not commands and "command" in values:
        report("command", "empty: give the commands to poll, '#' separated (QPIGS#QMOD)")
    protocol = _protocol(values.get("protocol"), lambda message: report("protocol", message))
    if protocol is not None:
        for key in ("command", "slow_command"):
            for command in values.get(key, ()):
                try:
                    protocol.resolve(command)
                except MppSolarError as err:
                    report(key, str(err))
    port = values.get("port") or DEFAULT_PORT
    _check_port(port, values.get("porttype"), report)
    outputs = values.get("outputs", ("screen",))
    _check_outputs(outputs, "outputs" in values, report)
    if len(problems.items) > count or any(
        entry.key not in values for entry in section.entries.values()
    ):
        return None
    return DeviceConfig(
        name=section.name,
        commands=commands,
        pause=values.get("pause", setup.get("pause", DEFAULT_PAUSE)),
        slow_commands=values.get("slow_command", ()),
        slow_pause=values.get("slow_pause", DEFAULT_SLOW_PAUSE),
        protocol=protocol.id if protocol is not None else None,
        type=values.get("type", "mppsolar"),
        port=port,
        porttype=values.get("porttype"),
        baud=values.get("baud"),
        tag=values.get("tag"),
        outputs=outputs,
        filter=values.get("filter"),
        exclfilter=values.get("exclfilter"),
        keep_case=values.get("keepcase", False),
        mqtt_topic=values.get("mqtt_topic"),
        mqtt_allowed_cmds=values.get("mqtt_allowed_cmds", ()),
        prom_output_dir=values.get("prom_output_dir") or DEFAULT_PROM_OUTPUT_DIR,
        push_url=values.get("push_url") or DEFAULT_PUSH_URL,
        postgres_url=values.get("postgres_url"),
        mongo_url=values.get("mongo_url"),
        mongo_db=values.get("mongo_db") or DEFAULT_MONGO_DB,
        udp_port=values.get("udpport", DEFAULT_UDP_PORT),
        dev=values.get("dev"),
        line=section.line,
    )


def _protocol(name: str | None, report: Callable[[str], None]) -> Protocol | None:
    """Return the named protocol; ``None`` for ``auto`` (or unset) and for an unknown one."""
    # Imported here: the protocol registry is only needed once a file is read.
    from mppsolar_lib.protocols import get_protocol, list_protocols  # noqa: PLC0415

    if name is None or name.lower() == "auto":
        return None
    try:
        return get_protocol(name)
    except MppSolarError:
        known = list_protocols()
        hint = did_you_mean(name.lower(), known)
        report(
            f"unknown protocol {name!r}; {hint + ' ' if hint else ''}"
            f"use 'auto' or one of: {', '.join(known)}"
        )
        return None


def _check_port(port: str, porttype: str | None, report: Callable[[str, str], None]) -> None:
    from mppsolar_lib.transports.factory import port_type_of  # noqa: PLC0415 - see _protocol

    try:
        port_type_of(port, porttype)
    except MppSolarError as err:
        report("porttype" if porttype else "port", str(err))


def _check_outputs(
    outputs: tuple[str, ...], given: bool, report: Callable[[str, str], None]
) -> None:
    from mppsolar_lib.outputs import list_outputs  # noqa: PLC0415 - see _protocol

    if given and not outputs:
        report("outputs", "empty: name at least one output (screen, json, mqtt…)")
    known = list_outputs()
    seen: set[str] = set()
    for name in outputs:
        if name not in known:
            hint = did_you_mean(name, known)
            report(
                "outputs",
                f"unknown output {name!r}; {hint + ' ' if hint else ''}known: {', '.join(known)}",
            )
        elif name in seen:
            report("outputs", f"{name!r} is listed twice")
        seen.add(name)


def _build(
    path: Path,
    setup_section: _Section | None,
    devices: list[_Section],
    problems: _Problems,
    devices_line: int,
) -> BridgeConfig:
    setup = _setup(setup_section, problems)
    web = setup.get("web")
    if web is not None and not is_loopback(web[0]) and not setup.get("web_allow_remote"):
        assert setup_section is not None
        problems.add(
            setup_section.entries["web"].line,
            SETUP,
            "web",
            f"{web[0]} is not a loopback address: serving the network needs "
            "web_allow_remote = yes (and a web_token)",
        )
    built = [_device(section, setup, problems) for section in devices]
    if not devices:
        problems.add(devices_line, None, None, "no device sections: nothing to poll")
    if problems.items:
        raise ConfigError(str(path), problems.items)
    devices_config = tuple(device for device in built if device is not None)
    needs_mqtt = any(
        key in setup for key in ("mqtt_broker", "mqtt_port", "mqtt_user", "mqtt_pass")
    ) or any(
        device.mqtt_allowed_cmds or any("mqtt" in name for name in device.outputs)
        for device in devices_config
    )
    mqtt = (
        MqttBroker(
            host=setup.get("mqtt_broker") or "localhost",
            port=setup.get("mqtt_port", DEFAULT_MQTT_PORT),
            username=setup.get("mqtt_user"),
            password=setup.get("mqtt_pass"),
        )
        if needs_mqtt
        else None
    )
    return BridgeConfig(
        devices=devices_config,
        path=path,
        pause=setup.get("pause", DEFAULT_PAUSE),
        mqtt=mqtt,
        log_file=setup.get("log_file"),
        spool_dir=setup.get("spool_dir"),
        memory_limit=setup.get("memory_limit", DEFAULT_MEMORY_LIMIT),
        spool_limit=setup.get("spool_limit", DEFAULT_SPOOL_LIMIT),
        web=web,
        web_token=setup.get("web_token"),
        web_allow_remote=setup.get("web_allow_remote", False),
    )


# -- INI ----------------------------------------------------------------------------------------

_SECTION_LINE = re.compile(r"\[(?P<header>.+)\]")
_OPTION_LINE = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")


@dataclass(slots=True)
class _Located:
    """Where configparser's rules put each section and key (section -> key -> line)."""

    sections: dict[str, int] = field(default_factory=dict)
    keys: dict[str, dict[str, int]] = field(default_factory=dict)


def _locate(text: str, problems: _Problems) -> _Located:
    """Note the line of every section and key; report duplicates.

    Follows configparser's reading rules: blank and comment lines are skipped, a line indented
    deeper than its key continues that key's value, ``[name]`` starts a section, anything else
    in a section is ``key = value`` or ``key: value`` with the key lower-cased.
    """
    located = _Located()
    section: str | None = None
    key: str | None = None
    indent = 0
    for number, line in enumerate(text.splitlines(), start=1):
        clean = line.strip()
        if not clean or clean.startswith(("#", ";")):
            continue
        depth = len(line) - len(line.lstrip())
        if section is not None and key and depth > indent:
            continue
        indent = depth
        header = _SECTION_LINE.match(clean)
        if header is not None:
            section = header.group("header")
            key = None
            if section in located.sections and section != configparser.DEFAULTSECT:
                first = located.sections[section]
                problems.add(number, section, None, f"duplicate section (first on line {first})")
            located.sections.setdefault(section, number)
            located.keys.setdefault(section, {})
            continue
        option = _OPTION_LINE.match(clean)
        if section is None or option is None:
            continue  # configparser reports these lines itself
        key = option.group("option").rstrip().lower()
        keys = located.keys[section]
        if key in keys:
            problems.add(number, section, key, f"duplicate key (first on line {keys[key]})")
        keys.setdefault(key, number)
    return located


def _read_ini(path: Path, text: str, problems: _Problems) -> BridgeConfig:
    located = _locate(text, problems)
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as err:
        problems.add(err.lineno, None, None, f"expected a [section] first, got {err.line!r}")
        raise ConfigError(str(path), problems.items) from None
    except configparser.ParsingError as err:
        for number, text_line in _parsing_errors(err):
            problems.add(number, None, None, f"expected 'key = value', got {text_line!r}")
    defaults = located.keys.get(configparser.DEFAULTSECT, {})
    default_section = _Section(
        configparser.DEFAULTSECT, located.sections.get(configparser.DEFAULTSECT, 0)
    )
    for key, line in defaults.items():
        default_section.entries[key] = _Entry(key, parser.defaults().get(key, ""), line)
    # The [DEFAULT] keys apply to device sections only: check them once, as device keys.
    if defaults:
        _read_keys(default_section, DEVICE_KEYS, problems, "device")
    setup: _Section | None = None
    devices: list[_Section] = []
    for name in parser.sections():
        section = _Section(name, located.sections.get(name, 0))
        own = located.keys.get(name, {})
        inherited = {} if name == SETUP else {k: v for k, v in defaults.items() if k not in own}
        for key, line in {**inherited, **own}.items():
            try:
                value = parser.get(name, key)
            except configparser.InterpolationError as err:
                problems.add(line, name, key, f"{_first_line(err)} (write a % as %%)")
                continue
            except configparser.NoOptionError:  # pragma: no cover - the scanner follows it
                continue
            section.entries[key] = _Entry(key, value, line, inherited=key in inherited)
        if name == SETUP:
            setup = section
        else:
            devices.append(section)
    if setup is None:
        # The reference looks for exactly [SETUP]; any other section is a device.
        near = [name for name in parser.sections() if name.strip().upper() == SETUP]
        hint = f"; [{near[0]}] is read as a device: the name is [SETUP]" if near else ""
        problems.add(1, None, None, f"missing the [SETUP] section{hint}")
    return _build(path, setup, devices, problems, 1)


def _parsing_errors(err: configparser.ParsingError) -> Iterator[tuple[int, str]]:
    for number, line in err.errors:
        if sys.version_info < (3, 12):  # pragma: no cover - Python 3.11 keeps repr(line)
            line = ast.literal_eval(line)  # noqa: PLW2901
        yield number, line.strip()


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0]


# -- YAML ---------------------------------------------------------------------------------------

_YAML_TOP: Final = ("setup", "devices")
#: A value YAML could not construct (already reported).
_INVALID: Final = object()


def _read_yaml(path: Path, text: str, problems: _Problems) -> BridgeConfig:
    try:
        import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - optional: YAML files only
    except ImportError:
        problems.add(
            0, None, None, "YAML configurations need the pyyaml package: pip install pyyaml"
        )
        raise ConfigError(str(path), problems.items) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(err, "problem", None) or str(err)
        problems.add(line, None, None, f"not valid YAML: {problem}")
        raise ConfigError(str(path), problems.items) from None
    constructor = yaml.constructor.SafeConstructor()

    def value_of(node: yaml.Node) -> object:
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError as err:
            # A tag SafeLoader refuses (!!python/…): report it, read it as nothing.
            line = node.start_mark.line + 1
            problems.add(line, None, None, f"not valid YAML: {getattr(err, 'problem', err)}")
            return _INVALID

    def mapping(node: yaml.Node | None, where: str | None) -> list[tuple[str, yaml.Node, int]]:
        """Return (key, value node, line) of a mapping; report duplicates and non-mappings."""
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "~")):
            return []
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            problems.add(line, where, None, "expected a mapping of key: value")
            return []
        pairs: list[tuple[str, yaml.Node, int]] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = str(value_of(key_node))
            if key in seen:
                problems.add(key_line, where, key, f"duplicate key (first on line {seen[key]})")
                continue
            seen[key] = key_line
            pairs.append((key, value_node, key_line))
        return pairs

    top = mapping(root, None)
    if root is None or not top:
        problems.add(1, None, None, "empty: expected 'setup:' and 'devices:' mappings")
        raise ConfigError(str(path), problems.items)
    setup: _Section | None = None
    devices: list[_Section] = []
    devices_line = 1
    for key, node, line in top:
        if key == "setup":
            setup = _yaml_section("setup", node, line, mapping, value_of, problems)
        elif key == "devices":
            devices_line = line
            for name, device_node, device_line in mapping(node, "devices"):
                devices.append(
                    _yaml_section(name, device_node, device_line, mapping, value_of, problems)
                )
        else:
            hint = did_you_mean(key, _YAML_TOP)
            problems.add(line, None, key, f"unknown key; {hint or 'use setup: and devices:'}")
    return _build(path, setup, devices, problems, devices_line)


def _yaml_section(
    name: str,
    node: Any,
    line: int,
    mapping: Callable[[Any, str | None], list[tuple[str, Any, int]]],
    value_of: Callable[[Any], object],
    problems: _Problems,
) -> _Section:
    section = _Section(name, line)
    for key, value_node, key_line in mapping(node, name):
        value = value_of(value_node)
        if value is _INVALID:
            continue
        key = key.lower()
        if key in section.entries:
            first = section.entries[key].line
            problems.add(key_line, name, key, f"duplicate key (first on line {first})")
            continue
        section.entries[key] = _Entry(key, "" if value is None else value, key_line)
    return section


# -- entry point ----------------------------------------------------------------------------------


def load_config(path: str | Path) -> BridgeConfig:
    """Read and check a configuration file (YAML for a ``.yaml``/``.yml`` name, INI otherwise).

    Raises :class:`ConfigError` listing every problem found, each with file, section and line.
    """
    file = Path(path)
    problems = _Problems(str(file))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        problems.add(0, None, None, f"cannot read the configuration: {reason}")
        raise ConfigError(str(file), problems.items) from None
    # Any .yaml/.yml suffix: mppsolar.yaml.example is YAML too.
    if {suffix.lower() for suffix in file.suffixes} & {".yaml", ".yml"}:
        return _read_yaml(file, text, problems)
    return _read_ini(file, text, problems)
