"""The bridge's configuration files: the reference's INI, YAML, and every problem reported."""

from __future__ import annotations

from pathlib import Path
import sys
import textwrap

import pytest

from mppsolar_lib.bridge.config import ConfigError, Problem, load_config
from mppsolar_lib.bridge.model import (
    DEFAULT_MONGO_DB,
    DEFAULT_PAUSE,
    DEFAULT_PORT,
    DEFAULT_PROM_OUTPUT_DIR,
    DEFAULT_PUSH_URL,
    DEFAULT_SLOW_PAUSE,
    DEFAULT_UDP_PORT,
    BridgeConfig,
    MqttBroker,
)
from mppsolar_lib.errors import PortError
from mppsolar_lib.outputs import _REGISTRY, list_outputs, register_output
from mppsolar_lib.protocols import list_protocols
from mppsolar_lib.transports.factory import port_type_of

DOCS = Path(__file__).resolve().parents[1] / "docs"


def write(tmp_path: Path, text: str, name: str = "mppsolar.conf") -> Path:
    """Write ``text`` (dedented) as a configuration file in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "mppsolar.conf") -> BridgeConfig:
    """Write ``text`` and load it."""
    return load_config(write(tmp_path, text, name))


def problems(tmp_path: Path, text: str, name: str = "mppsolar.conf") -> list[str]:
    """Return every problem as the user reads it, without the file name."""
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {len(caught.value.problems)} problem")
    return [str(problem).removeprefix(f"{path}:") for problem in caught.value.problems]


# -- INI ----------------------------------------------------------------------------------------


def test_ini_every_key(tmp_path: Path) -> None:
    """Ini every key."""
    config = load(
        tmp_path,
        """
        [SETUP]
        pause = 5
        mqtt_broker = broker.lan
        mqtt_port = 1884
        mqtt_user = solar
        mqtt_pass = secret
        log_file = /var/log/mppsolar.log
        spool_dir = /var/lib/mppsolar
        memory_limit = 10
        spool_limit = 20
        web = 0.0.0.0:8080
        web_token = s3cret
        web_allow_remote = yes

        [inverter]
        protocol = PI30
        type = mppsolar
        port = sim://pi30
        porttype = sim
        baud = 2400
        command = QPIGS # QMOD
        pause = 2.5
        slow_command = QPIRI#QPIWS
        slow_pause = 600
        tag = inv
        outputs = json, simple
        filter = ^ac_
        exclfilter = frequency
        keepcase = yes
        dev = house
        mqtt_topic = solar
        mqtt_allowed_cmds = ^POP0[0-2]$, QPI.*
        prom_output_dir = /srv/prom
        push_url = https://push.lan/metrics/job/x
        postgres_url = postgresql://u@db/solar
        mongo_url = mongodb://db:27017
        mongo_db = solar
        udpport = 6666
        """,
    )
    assert config.pause == 5
    assert config.mqtt == MqttBroker("broker.lan", 1884, "solar", "secret")
    assert config.log_file == "/var/log/mppsolar.log"
    assert config.spool_dir == "/var/lib/mppsolar"
    assert (config.memory_limit, config.spool_limit) == (10, 20)
    assert config.web == ("0.0.0.0", 8080)
    assert (config.web_token, config.web_allow_remote) == ("s3cret", True)
    assert config.extra == {}
    (device,) = config.devices
    assert device.name == "inverter"
    assert device.line == 15
    assert device.protocol == "pi30"
    assert (device.port, device.porttype, device.baud) == ("sim://pi30", "sim", 2400)
    assert device.commands == ("QPIGS", "QMOD")
    assert (device.pause, device.slow_commands, device.slow_pause) == (2.5, ("QPIRI", "QPIWS"), 600)
    assert (device.tag, device.outputs) == ("inv", ("json", "simple"))
    assert (device.filter, device.exclfilter, device.keep_case) == ("^ac_", "frequency", True)
    assert (device.dev, device.mqtt_topic) == ("house", "solar")
    assert device.mqtt_allowed_cmds == ("^POP0[0-2]$", "QPI.*")
    assert (device.prom_output_dir, device.push_url) == (
        "/srv/prom",
        "https://push.lan/metrics/job/x",
    )
    assert (device.postgres_url, device.mongo_url) == (
        "postgresql://u@db/solar",
        "mongodb://db:27017",
    )
    assert (device.mongo_db, device.udp_port) == ("solar", 6666)


def test_ini_defaults_like_the_reference(tmp_path: Path) -> None:
    """Ini defaults like the reference."""
    config = load(tmp_path, "[SETUP]\n[inv]\ncommand = QPIGS\n")
    assert config.mqtt is None
    assert config.pause == DEFAULT_PAUSE
    assert config.extra == {}
    (device,) = config.devices
    assert device.protocol is None  # detected
    assert (device.port, device.outputs, device.pause) == (DEFAULT_PORT, ("screen",), DEFAULT_PAUSE)
    assert (device.slow_commands, device.slow_pause) == ((), DEFAULT_SLOW_PAUSE)
    assert (device.prom_output_dir, device.push_url) == (DEFAULT_PROM_OUTPUT_DIR, DEFAULT_PUSH_URL)
    assert (device.mongo_db, device.udp_port, device.type) == (
        DEFAULT_MONGO_DB,
        DEFAULT_UDP_PORT,
        "mppsolar",
    )
    assert device.postgres_url is None


def test_ini_dialect_the_reference_accepts(tmp_path: Path) -> None:
    """``key: value``, keys in any case, comments, continuation lines, interpolation, [DEFAULT]."""
    config = load(
        tmp_path,
        """
        # the daemon
        ; also a comment
        [SETUP]
        PAUSE: 7

        [DEFAULT]
        outputs = json
        dev = house

        [inv]
        Command = QPIGS#
          QMOD
        port = sim://pi30
        mqtt_topic = %(dev)s/%%
        protocol = auto
        """,
    )
    assert config.pause == 7
    (device,) = config.devices
    assert device.commands == ("QPIGS", "QMOD")
    assert (device.port, device.outputs, device.protocol) == ("sim://pi30", ("json",), None)
    assert (device.dev, device.mqtt_topic) == ("house", "house/%")


def test_default_section_is_checked_once(tmp_path: Path) -> None:
    """A bad [DEFAULT] key is reported once, on its line, not once per device inheriting it."""
    assert problems(
        tmp_path,
        """
        [SETUP]
        [DEFAULT]
        outputs = jsn
        colour = red
        [a]
        command = QPIGS
        [b]
        command = QPIGS
        outputs = json
        """,
    ) == [
        f"3: [a] outputs: unknown output 'jsn'; did you mean json? known: {known_outputs()}",
        "4: [DEFAULT] colour: unknown device key",
    ]


def test_every_device_option_is_per_device(tmp_path: Path) -> None:
    """The reference sends every device's output with the last section's URLs; here each keeps its own."""
    config = load(
        tmp_path,
        """
        [SETUP]
        [one]
        command = QPIGS
        postgres_url = postgresql://db1/a
        prom_output_dir = /srv/one
        mongo_url = mongodb://m1
        udpport = 5001
        mqtt_topic = t1
        pause = 1
        [two]
        command = QPIGS
        postgres_url = postgresql://db2/b
        prom_output_dir = /srv/two
        push_url = http://gw2:9091/metrics/job/two
        mqtt_topic = t2
        """,
    )
    one, two = config.devices
    assert (one.postgres_url, one.prom_output_dir, one.mongo_url, one.udp_port) == (
        "postgresql://db1/a",
        "/srv/one",
        "mongodb://m1",
        5001,
    )
    assert (two.postgres_url, two.prom_output_dir, two.mongo_url, two.udp_port) == (
        "postgresql://db2/b",
        "/srv/two",
        None,
        DEFAULT_UDP_PORT,
    )
    assert (one.push_url, two.push_url) == (DEFAULT_PUSH_URL, "http://gw2:9091/metrics/job/two")
    assert (one.mqtt_topic, two.mqtt_topic, one.pause, two.pause) == ("t1", "t2", 1, DEFAULT_PAUSE)


def test_mqtt_broker_when_an_output_or_command_topic_needs_it(tmp_path: Path) -> None:
    """Mqtt broker when an output or command topic needs it."""
    if "mqtt" not in _REGISTRY:
        register_output("mqtt", "mppsolar_lib.outputs.console:Simple", "test stand-in")
    config = load(tmp_path, "[SETUP]\n[a]\ncommand = QPIGS\noutputs = mqtt\n")
    assert config.mqtt == MqttBroker()
    config = load(tmp_path, "[SETUP]\n[a]\ncommand = QPIGS\nmqtt_allowed_cmds = QPI\n")
    assert config.mqtt == MqttBroker()
    config = load(tmp_path, "[SETUP]\nmqtt_port = 1999\n[a]\ncommand = QPIGS\n")
    assert config.mqtt == MqttBroker(port=1999)


def test_every_problem_at_once_with_lines(tmp_path: Path) -> None:
    """Every problem at once with lines."""
    assert problems(
        tmp_path,
        """
        [SETUP]
        pause = soon
        pase = 3
        mqtt_port = 0
        memory_limit = 1.5
        spool_limit = -1

        [inv]
        protocol = pi30
        port = sim://pi30
        command = QPIGS#QPIZZ
        slow_command = QPIRI
        filter = [abc
        exclfilter = (x
        mqtt_allowed_cmds = QPI.*, POP(
        udpport = 70000
        baud = fast
        keepcase = maybe
        outputs = json,jsn,json
        type = inverter
        slow_pause = 0
        postgres_url = mysql://db
        mongo_url = http://db
        push_url = ftp://gw
        comand = QMOD

        [bms]
        protocol = pi99
        porttype = carrier-pigeon
        outputs =
        baud = 9600
        baud = 2400

        [inv]
        tag = again
        """,
    ) == [
        "2: [SETUP] pause: expected a number, got 'soon'",
        "3: [SETUP] pase: unknown [SETUP] key; did you mean pause?",
        "4: [SETUP] mqtt_port: must be a port number 1-65535, got 0",
        "5: [SETUP] memory_limit: expected a whole number, got '1.5'",
        "6: [SETUP] spool_limit: must be above 0, got -1",
        "11: [inv] command: pi30 has no command 'QPIZZ'; did you mean QPI or QPIWS or QPIRI?",
        (
            "13: [inv] filter: '[abc' is not a valid regular expression: unterminated character set "
            "at position 0"
        ),
        (
            "14: [inv] exclfilter: '(x' is not a valid regular expression: missing ), unterminated "
            "subpattern at position 0"
        ),
        (
            "15: [inv] mqtt_allowed_cmds: 'POP(' is not a valid regular expression: missing ), "
            "unterminated subpattern at position 3"
        ),
        "16: [inv] udpport: must be a port number 1-65535, got 70000",
        "17: [inv] baud: expected a whole number, got 'fast'",
        "18: [inv] keepcase: expected true or false (yes/no, on/off, 1/0), got 'maybe'",
        f"19: [inv] outputs: unknown output 'jsn'; did you mean json? known: {known_outputs()}",
        "19: [inv] outputs: 'json' is listed twice",
        "20: [inv] type: unknown device type 'inverter'; known: jkbms, mppsolar",
        "21: [inv] slow_pause: must be a number of seconds above 0, got 0",
        "22: [inv] postgres_url: expected a postgres:// or postgresql:// URL, got 'mysql://db'",
        "23: [inv] mongo_url: expected a mongodb:// or mongodb+srv:// URL, got 'http://db'",
        "24: [inv] push_url: expected a http:// or https:// URL, got 'ftp://gw'",
        "25: [inv] comand: unknown device key; did you mean command or slow_command?",
        "27: [bms] command: missing: the commands to poll, '#' separated (QPIGS#QMOD)",
        f"28: [bms] protocol: unknown protocol 'pi99'; use 'auto' or one of: {known_protocols()}",
        problem_of_porttype(29, "carrier-pigeon"),
        "30: [bms] outputs: empty: name at least one output (screen, json, mqtt…)",
        "32: [bms] baud: duplicate key (first on line 31)",
        "34: [inv]: duplicate section (first on line 8)",
    ]


def known_outputs() -> str:
    """Return the output names as the error messages list them."""
    return ", ".join(list_outputs())


def known_protocols() -> str:
    """Return the protocol ids as the error messages list them."""
    return ", ".join(list_protocols())


def problem_of_porttype(line: int, porttype: str) -> str:
    """Return the transport factory's own message about an unknown port type."""
    with pytest.raises(PortError) as caught:
        port_type_of("x", porttype)
    return f"{line}: [bms] porttype: {caught.value}"


def test_web_address(tmp_path: Path) -> None:
    """``web`` is host:port (loopback unless web_allow_remote); a bare port is on 127.0.0.1."""
    device = "[inv]\nport = sim://pi30\ncommand = QPIGS\n"
    assert load(tmp_path, f"[SETUP]\nweb = 8080\n{device}").web == ("127.0.0.1", 8080)
    assert load(tmp_path, f"[SETUP]\nweb = [::1]:81\n{device}").web == ("::1", 81)
    assert load(tmp_path, f"[SETUP]\nweb = localhost:81\n{device}").web == ("localhost", 81)
    config = load(tmp_path, f"[SETUP]\npause = 5\n{device}")
    assert (config.web, config.web_token, config.web_allow_remote) == (None, None, False)
    found = problems(
        tmp_path,
        """
        [SETUP]
        web = 192.168.1.5:8080
        web_allow_remote = maybe

        [inv]
        port = sim://pi30
        command = QPIGS
        """,
    )
    assert found == [
        (
            "2: [SETUP] web: 192.168.1.5 is not a loopback address: serving the network needs "
            "web_allow_remote = yes (and a web_token)"
        ),
        "3: [SETUP] web_allow_remote: expected true or false (yes/no, on/off, 1/0), got 'maybe'",
    ]
    for bad, message in (
        ("web = host", "expected host:port, got 'host'"),
        ("web = 1.2.3.4:0", "port must be 1-65535, got 0"),
        ("web = ::1:80", "expected host:port ([address]:port for IPv6), got '::1:80'"),
    ):
        assert problems(tmp_path, f"[SETUP]\n{bad}\n{device}") == [f"2: [SETUP] web: {message}"]


def test_bad_port_and_empty_command(tmp_path: Path) -> None:
    """Bad port and empty command."""
    assert problems(
        tmp_path,
        """
        [SETUP]
        [a]
        port = gopher://x
        command = #
        """,
    )[0].startswith("3: [a] port: unknown port scheme 'gopher://'")
    assert problems(tmp_path, "[SETUP]\n[a]\ncommand = #\n") == [
        "3: [a] command: empty: give the commands to poll, '#' separated (QPIGS#QMOD)"
    ]


def test_missing_setup_and_devices(tmp_path: Path) -> None:
    """Missing setup and devices."""
    assert problems(tmp_path, "[Setup]\npause = 1\n") == [
        "1: missing the [SETUP] section; [Setup] is read as a device: the name is [SETUP]",
        "1: [Setup] command: missing: the commands to poll, '#' separated (QPIGS#QMOD)",
    ]
    assert problems(tmp_path, "[inv]\ncommand = QPIGS\n") == ["1: missing the [SETUP] section"]
    assert problems(tmp_path, "[SETUP]\n") == ["1: no device sections: nothing to poll"]


def test_syntax_errors(tmp_path: Path) -> None:
    """Syntax errors."""
    assert problems(tmp_path, "pause = 1\n[SETUP]\n") == [
        "1: expected a [section] first, got 'pause = 1\\n'"
    ]
    assert problems(tmp_path, "[SETUP]\njust words\n[a]\ncommand = QPIGS\nmore words\n") == [
        "2: expected 'key = value', got 'just words'",
        "5: expected 'key = value', got 'more words'",
    ]
    assert problems(tmp_path, "[SETUP]\n[a]\ncommand = QPIGS\nmqtt_topic = 50%\n") == [
        "4: [a] mqtt_topic: '%' must be followed by '%' or '(', found: '%' (write a % as %%)"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    """Unreadable file."""
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert [str(p) for p in caught.value.problems] == [
        f"{missing}: cannot read the configuration: No such file or directory"
    ]
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"\xff\xfe[SETUP]")
    with pytest.raises(ConfigError, match="cannot read the configuration: 'utf-8' codec"):
        load_config(binary)


def test_problem_text() -> None:
    """Problem text."""
    assert str(Problem("f", 0, None, None, "m")) == "f: m"
    assert str(Problem("f", 3, "s", None, "m")) == "f:3: [s]: m"
    assert str(Problem("f", 3, "s", "k", "m")) == "f:3: [s] k: m"
    assert str(ConfigError("f", [Problem("f", 1, None, None, "m")])).startswith("f: 1 problem in")


# -- YAML ---------------------------------------------------------------------------------------


def test_yaml_equivalent(tmp_path: Path) -> None:
    """Yaml equivalent."""
    pytest.importorskip("yaml")
    config = load(
        tmp_path,
        """
        setup:
          pause: 0.5
          mqtt_broker: broker
          mqtt_pass: 1234
        devices:
          inv:
            protocol: pi30
            port: sim://pi30
            command: [QPIGS, QMOD]
            slow_command: QPIRI#QPIWS
            outputs: [json, simple]
            keepcase: yes
            mqtt_allowed_cmds: ["^POP0[0-2]$"]
            udpport: 6000
            tag:
          2:
            Command: QPIGS
            prom_output_dir: /srv/two
        """,
        "bridge.yaml",
    )
    assert config.pause == 0.5
    assert config.mqtt == MqttBroker("broker", password="1234")
    inv, two = config.devices
    assert (inv.commands, inv.slow_commands, inv.outputs) == (
        ("QPIGS", "QMOD"),
        ("QPIRI", "QPIWS"),
        ("json", "simple"),
    )
    assert (inv.keep_case, inv.mqtt_allowed_cmds, inv.udp_port, inv.tag) == (
        True,
        ("^POP0[0-2]$",),
        6000,
        None,
    )
    assert (inv.line, two.line, two.name) == (6, 16, "2")
    assert (two.commands, two.prom_output_dir, two.pause) == (("QPIGS",), "/srv/two", 0.5)


def test_yaml_problems(tmp_path: Path) -> None:
    """Yaml problems."""
    pytest.importorskip("yaml")
    assert problems(
        tmp_path,
        """
        setup:
          pause: -1
          mqtt_user: yes
        devise: {}
        devices:
          inv:
            command: QPIGS
            Command: QMOD
            udpport: [1]
            outputs: [[json]]
            keepcase: 2
          bad:
            command: {a: 1}
          inv:
            command: QPIGS
          plain: words
        """,
        "bridge.yml",
    ) == [
        "2: [setup] pause: must be a number of seconds above 0, got -1",
        "3: [setup] mqtt_user: expected text, got True (quote it)",
        "4: devise: unknown key; did you mean devices?",
        "8: [inv] command: duplicate key (first on line 7)",
        "9: [inv] udpport: expected a single value, got a list",
        "10: [inv] outputs: expected a single value, got a list",
        "11: [inv] keepcase: expected true or false (yes/no, on/off, 1/0), got '2'",
        "13: [bad] command: expected a single value, got a mapping",
        "14: [devices] inv: duplicate key (first on line 6)",
        "16: [plain]: expected a mapping of key: value",
        "16: [plain] command: missing: the commands to poll, '#' separated (QPIGS#QMOD)",
    ]


def test_yaml_structure_problems(tmp_path: Path) -> None:
    """Yaml structure problems."""
    pytest.importorskip("yaml")
    assert problems(tmp_path, "", "a.yaml") == [
        "1: empty: expected 'setup:' and 'devices:' mappings"
    ]
    assert problems(tmp_path, "- a\n- b\n", "a.yaml") == [
        "1: expected a mapping of key: value",
        "1: empty: expected 'setup:' and 'devices:' mappings",
    ]
    assert problems(tmp_path, "setup:\ndevices:\n", "a.yaml") == [
        "2: no device sections: nothing to poll"
    ]
    assert problems(tmp_path, "setup: {pause: 1\n", "a.yaml") == [
        "2: not valid YAML: expected ',' or '}', but got '<stream end>'"
    ]
    assert problems(
        tmp_path,
        "setup:\n  pause: !!python/name:os.system x\ndevices: {a: {command: Q}}\n",
        "a.yaml",
    ) == [
        (
            "2: not valid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/name:os.system'"
        ),
    ]
    assert problems(tmp_path, "misc: 1\ndevices:\n  a: {command: QPIGS}\n", "a.yaml") == [
        "1: misc: unknown key; use setup: and devices:"
    ]


def test_yaml_needs_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Yaml needs pyyaml."""
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert problems(tmp_path, "setup: {}\n", "a.yaml") == [
        " YAML configurations need the pyyaml package: pip install pyyaml"
    ]


# -- shipped examples and the reference's ----------------------------------------------------------


def test_shipped_examples_are_valid() -> None:
    """Shipped examples are valid."""
    ini = load_config(DOCS / "mppsolar.conf.example")
    assert ini.devices
    pytest.importorskip("yaml")
    yaml = load_config(DOCS / "mppsolar.yaml.example")
    assert [d.name for d in yaml.devices] == [d.name for d in ini.devices]


def test_yaml_numbers_and_empty_values(tmp_path: Path) -> None:
    """Yaml numbers and empty values."""
    pytest.importorskip("yaml")
    assert problems(
        tmp_path,
        """
        setup:
          pause: true
          memory_limit: 1.5
        devices:
          a:
            command: QPIGS
            filter: ""
            slow_pause: .inf
        """,
        "a.yml",
    ) == [
        "2: [setup] pause: expected a number, got True",
        "3: [setup] memory_limit: expected a whole number, got 1.5",
        "8: [a] slow_pause: must be a number of seconds above 0, got inf",
    ]


def test_default_bad_value_reported_once(tmp_path: Path) -> None:
    """Default bad value reported once."""
    assert problems(
        tmp_path, "[SETUP]\n[DEFAULT]\nkeepcase = maybe\n[a]\ncommand = QPIGS\nfilter =\n"
    ) == ["3: [DEFAULT] keepcase: expected true or false (yes/no, on/off, 1/0), got 'maybe'"]
