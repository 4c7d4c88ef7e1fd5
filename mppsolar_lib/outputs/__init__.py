"""Where results go: console formats today, the bridge's MQTT/Prometheus/database outputs later.

>>> from mppsolar_lib.outputs import get_output
>>> screen = get_output("screen")            # an Output instance (default options)

The registry maps a name to ``"module:Class"`` and a description, and imports the module only
when that output is asked for: the CLI's start-up never pays for an MQTT client it does not use,
and ``-o`` can list every output without importing any. A new output registers itself here with
:func:`register_output` (or by adding a line to ``_REGISTRY``).
"""

from __future__ import annotations

import importlib

from mppsolar_lib.errors import did_you_mean
from mppsolar_lib.outputs.base import (
    ConsoleOutput,
    Output,
    OutputContext,
    OutputError,
    OutputOptions,
    OutputUnavailableError,
    Report,
    Resources,
)

__all__ = [
    "ConsoleOutput",
    "Output",
    "OutputContext",
    "OutputError",
    "OutputOptions",
    "OutputUnavailableError",
    "Report",
    "Resources",
    "get_output",
    "list_outputs",
    "output_class",
    "register_output",
]

_CONSOLE = "mppsolar_lib.outputs.console"
_MQTT = "mppsolar_lib.outputs.mqtt"
_HASS = "mppsolar_lib.outputs.hass_mqtt"
_PROM = "mppsolar_lib.outputs.prom"

#: name -> ("module:Class", description)
_REGISTRY: dict[str, tuple[str, str]] = {
    "screen": (f"{_CONSOLE}:Screen", "a table of parameter, value and unit (the default)"),
    "boxdraw": (f"{_CONSOLE}:BoxDraw", "the screen table framed with line-art boxes"),
    "simple": (f"{_CONSOLE}:Simple", "key=value lines"),
    "simpleunits": (f"{_CONSOLE}:SimpleUnits", "key=value(unit) lines"),
    "value": (f"{_CONSOLE}:Values", "values only, one per line"),
    "json": (f"{_CONSOLE}:Json", "one JSON object per command"),
    "json_units": (f"{_CONSOLE}:JsonUnits", 'one JSON object per command, {"value", "unit"} each'),
    "raw": (f"{_CONSOLE}:Raw", "the answer frame as received"),
    "mqtt": (f"{_MQTT}:Mqtt", "MQTT, a topic per value: <tag>/status/<key>/value"),
    "json_mqtt": (f"{_MQTT}:JsonMqtt", "MQTT, one JSON object per command on <tag>/<mqtt_topic>"),
    "tag_mqtt": (f"{_MQTT}:TagMqtt", "MQTT, a topic per value: <tag>/<key>"),
    "influx2_mqtt": (f"{_MQTT}:Influx2Mqtt", "MQTT, Influx line protocol on <mqtt_topic>"),
    "hass_mqtt": (f"{_HASS}:HassMqtt", "MQTT with Home Assistant device discovery"),
    "prom": (f"{_PROM}:Prom", "Prometheus text format (node-exporter style) on standard output"),
    "prom_file": (f"{_PROM}:PromFile", "Prometheus .prom files for node-exporter's textfile dir"),
    "prom_push": (f"{_PROM}:PromPush", "Prometheus series pushed to a Pushgateway"),
    "prom_pushd": (f"{_PROM}:PromPushD", "Prometheus series pushed to VictoriaMetrics"),
    "postgres": ("mppsolar_lib.outputs.postgres:Postgres", "PostgreSQL, a row per command"),
    "mongo": ("mppsolar_lib.outputs.mongo:Mongo", "MongoDB, a document per command"),
    "json_udp": ("mppsolar_lib.outputs.udp:JsonUdp", "one JSON datagram per command (UDP)"),
}


def register_output(name: str, target: str, description: str) -> None:
    """Make ``target`` (``"package.module:Class"``, an :class:`Output`) available as ``name``."""
    _REGISTRY[name] = (target, description)


def list_outputs() -> dict[str, str]:
    """Return every output name with its description, sorted by name."""
    return {name: description for name, (_, description) in sorted(_REGISTRY.items())}


def get_output(
    name: str, options: OutputOptions | None = None, context: OutputContext | None = None
) -> Output:
    """Return a new instance of the output registered as ``name``.

    Raises :class:`OutputError` for an unknown name (with close matches), or when the output's
    optional dependencies are not installed (saying which extra to install).
    """
    return output_class(name)(options, context)


def output_class(name: str) -> type[Output]:
    """Return the class registered as ``name``, importing its module (errors as :func:`get_output`).

    Lets a caller tell console outputs (:class:`ConsoleOutput`) from network ones, or read a
    class attribute such as ``spooled``, without making an instance.
    """
    entry = _REGISTRY.get(name.strip().lower())
    if entry is None:
        hint = did_you_mean(name, _REGISTRY)
        hint = f"{hint} " if hint else ""
        raise OutputError(f"unknown output {name!r}; {hint}known: {', '.join(sorted(_REGISTRY))}")
    module_name, _, class_name = entry[0].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise OutputError(
            f"output {name!r} needs {err.name!r}, which is not installed; "
            "install the matching extra, e.g. pip install 'mppsolar-lib[all]'"
        ) from err
    cls: type[Output] = getattr(module, class_name)
    return cls
