"""What a bridge configuration holds, whichever file format it came from (INI or YAML).

Defaults follow the reference implementation's, so its configuration files mean the same here;
the differences (every per-device option really is per device; the additions: ``slow_command``,
``slow_pause``, spool and queue bounds) are in ``docs/bridge.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

DEFAULT_PAUSE: Final = 60.0
DEFAULT_SLOW_PAUSE: Final = 300.0
DEFAULT_PORT: Final = "/dev/ttyUSB0"
DEFAULT_PROM_OUTPUT_DIR: Final = "/var/lib/node_exporter"
DEFAULT_PUSH_URL: Final = "http://localhost:9091/metrics/job/pushgateway"
DEFAULT_MONGO_DB: Final = "mppsolar"
DEFAULT_UDP_PORT: Final = 5555
DEFAULT_MQTT_PORT: Final = 1883
#: Batches a sink holds in memory before it spills the oldest to its on-disk spool.
DEFAULT_MEMORY_LIMIT: Final = 1000
#: Batches a sink keeps on disk before it drops the oldest (counted and logged).
DEFAULT_SPOOL_LIMIT: Final = 100_000


@dataclass(frozen=True, slots=True)
class MqttBroker:
    """An MQTT broker every MQTT output and command channel of the bridge shares."""

    host: str = "localhost"
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device section: how to reach the device, what to ask, where the answers go."""

    #: The section name: the device's name in topics, metrics and database rows.
    name: str
    #: Commands polled every :attr:`pause` seconds, in order (``QPIGS#QMOD`` in INI).
    commands: tuple[str, ...]
    pause: float = DEFAULT_PAUSE
    #: Commands polled every :attr:`slow_pause` seconds (settings, energy counters).
    slow_commands: tuple[str, ...] = ()
    slow_pause: float = DEFAULT_SLOW_PAUSE
    #: Protocol id; ``None`` detects it (``protocol = auto``).
    protocol: str | None = None
    #: The reference's device type (``mppsolar``, ``jkbms``, ``vedirect``…); it only chooses
    #: default protocols there, and is accepted here for compatibility.
    type: str = "mppsolar"
    port: str = DEFAULT_PORT
    porttype: str | None = None
    baud: int | None = None
    #: Replaces the command name in topics and series (``tag``).
    tag: str | None = None
    outputs: tuple[str, ...] = ("screen",)
    filter: str | None = None
    exclfilter: str | None = None
    keep_case: bool = False
    mqtt_topic: str | None = None
    #: Regular expressions (full match) of commands the MQTT command topic may run; empty:
    #: the command topic refuses everything.
    mqtt_allowed_cmds: tuple[str, ...] = ()
    prom_output_dir: str = DEFAULT_PROM_OUTPUT_DIR
    push_url: str = DEFAULT_PUSH_URL
    postgres_url: str | None = None
    mongo_url: str | None = None
    mongo_db: str = DEFAULT_MONGO_DB
    udp_port: int = DEFAULT_UDP_PORT
    #: The reference's ``dev`` (a device label some outputs add to topics/series).
    dev: str | None = None
    #: Line of the section header in the file (0: not from a file), for messages.
    line: int = 0


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """The whole configuration: the ``[SETUP]`` section and the devices, in file order."""

    devices: tuple[DeviceConfig, ...]
    #: The file it was read from (``None``: built in code).
    path: Path | None = None
    #: Default status cadence of devices that do not set their own.
    pause: float = DEFAULT_PAUSE
    mqtt: MqttBroker | None = None
    log_file: str | None = None
    #: Directory of the on-disk spool (``None``: ``$XDG_STATE_HOME/mppsolar`` or
    #: ``~/.local/state/mppsolar``).
    spool_dir: str | None = None
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    spool_limit: int = DEFAULT_SPOOL_LIMIT
    #: The web UI's address (``None``: not served; ``docs/web.md``).
    web: tuple[str, int] | None = None
    #: The web UI's token (``None``: generated at first start and kept in the spool dir).
    web_token: str | None = None
    #: Whether the web UI may listen on an address other than loopback.
    web_allow_remote: bool = False
    #: Extra, reader-defined settings kept for later features.
    extra: dict[str, str] = field(default_factory=dict)
