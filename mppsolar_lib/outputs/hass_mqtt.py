"""``hass_mqtt``: readings on MQTT with Home Assistant device-based discovery.

Per device, three topics (``<node>`` is ``mppsolar_<device name as a slug>``):

- ``homeassistant/device/<node>/config`` (retained): one discovery payload for the whole device:
  ``dev`` (identifiers, name, manufacturer, model, firmware and serial number once read),
  ``o`` (origin: this library), and ``cmps``: one component per field, named with the field's
  display name only (Home Assistant prefixes the device name), with ``device_class``,
  ``state_class``, unit, entity category, icon and display precision from the protocol's field
  catalogue; flags become ``binary_sensor``; enumerations ``device_class: enum`` with their
  options; text is never declared numeric; energy keeps the catalogue's state class (``measurement`` becomes ``total_increasing``); reserved
  positions get no entity;
- ``mppsolar/<device>/state`` (retained): one JSON object with the latest value of every field
  (across all of the device's commands), each component reading its key with a
  ``value_template``: one message per poll instead of one per value. A key several commands
  answer stays apart: the first command in the protocol's order keeps it, a later settings
  command's becomes ``<key>_setting``, any other's ``<key>_<command>``;
- availability: ``mppsolar/<device>/availability`` (``online``/``offline``, the device answers)
  and the bridge's last will ``mppsolar/bridge/<host>/status``, with ``availability_mode: all``.

Discovery is published before the first state, again when a new field or enumeration label
appears, after every reconnect (a broker without persistence forgets retained messages), and
when Home Assistant announces itself on ``homeassistant/status`` (``online``).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

from mppsolar_lib import __version__
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.outputs.base import OutputUnavailableError, plain
from mppsolar_lib.outputs.mqtt import Message, MqttOutput, availability_topic, topic_part
from mppsolar_lib.protocols.fields import FieldInfo, FieldKind, slugify

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mppsolar_lib.outputs.base import Report
    from mppsolar_lib.protocols.fields import Field

_LOGGER = logging.getLogger(__name__)

DISCOVERY_PREFIX: Final = "homeassistant"
BIRTH_TOPIC: Final = f"{DISCOVERY_PREFIX}/status"
ORIGIN: Final = {
    "name": "mppsolar",
    "sw": __version__,
    "url": "https://github.com/mppsolar/mppsolar",
}
#: Who makes the devices a protocol family talks to (by protocol id prefix).
MANUFACTURERS: Final = (
    ("pi", "Voltronic Power"),
    ("jk", "Jikong (JK BMS)"),
    ("daly", "Daly"),
    ("ved", "Victron Energy"),
)
#: Device classes a binary sensor may have (a sensor's, such as ``voltage``, would be refused).
BINARY_CLASSES: Final = frozenset(
    ("battery_charging", "connectivity", "heat", "plug", "power", "problem", "running", "safety")
)
ON: Final = "1"
OFF: Final = "0"


def node_id(device: str) -> str:
    """Return the discovery node id (and device identifier) of ``device``."""
    return f"mppsolar_{slugify(device) or 'device'}"


def state_topic(device: str) -> str:
    """Return the retained JSON state topic of ``device``."""
    return f"mppsolar/{topic_part(device)}/state"


def discovery_topic(device: str) -> str:
    """Return the device discovery topic of ``device``."""
    return f"{DISCOVERY_PREFIX}/device/{node_id(device)}/config"


def manufacturer(protocol: str) -> str | None:
    """Return the maker of devices speaking ``protocol``."""
    return next((name for prefix, name in MANUFACTURERS if protocol.startswith(prefix)), None)


class HassMqtt(MqttOutput):
    """Readings as one JSON state per device, announced by Home Assistant device discovery."""

    name = "hass_mqtt"

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Start with nothing announced."""
        super().__init__(*args, **kwargs)
        self._values: dict[str, Any] = {}
        self._components: dict[str, dict[str, Any]] = {}
        self._identity: dict[str, str] = {}
        self._announced: tuple[int, str] | None = None
        self._listening = False
        #: Field catalogue by command name, and the commands having each key (in order).
        self._infos: dict[str, Mapping[str, FieldInfo]] = {}
        self._owners: dict[str, list[str]] = {}

    def messages(self, report: Report) -> list[Message]:  # pragma: no cover - see batch
        """Unused: a batch is published as one state (see :meth:`batch_messages`)."""
        return []

    # -- what Home Assistant is told -------------------------------------------------------

    def _command(self, report: Report) -> str | None:
        """Return the name of the command ``report`` answers (``None``: not the protocol's)."""
        protocol = self.context.protocol if self.context is not None else None
        if protocol is None:
            return None
        try:
            command, _ = protocol.resolve(report.command)
        except MppSolarError:  # a listing, or a command the protocol does not know
            return None
        return command.name

    def _key(self, command: str | None, key: str) -> tuple[str, str]:
        """Return the entity key and name suffix of field ``key`` of ``command``.

        Several commands may answer a field of the same key (PI30's QPIGS and QPIRI both have
        ``battery_voltage``: the live voltage and the rated one). The first command in the
        protocol's order (status commands, settings commands, then the table) keeps the key;
        the same key from the first settings command after it becomes ``<key>_setting`` (as in
        the integration), from any other ``<key>_<command>``. The choice depends only on the
        protocol, so unique ids do not change with the commands a section polls.
        """
        protocol = self.context.protocol if self.context is not None else None
        if command is None or protocol is None:
            return key, ""
        owners = self._owners.get(key)
        if owners is None:
            order = dict.fromkeys(
                (*protocol.status_commands, *protocol.settings_commands, *protocol.commands)
            )
            owners = [name for name in order if key in self._catalogue(name)]
            self._owners[key] = owners
        if not owners or owners[0] == command:
            return key, ""
        settings = [name for name in owners[1:] if name in protocol.settings_commands]
        if settings and settings[0] == command:
            return f"{key}_setting", " setting"
        return f"{key}_{slugify(command)}", f" ({command})"

    def _catalogue(self, name: str | None) -> Mapping[str, FieldInfo]:
        """Return the field catalogue of command ``name`` (empty: none), built once."""
        info = self._infos.get(name or "")
        if info is None:
            protocol = self.context.protocol if self.context is not None else None
            definition = protocol.commands.get(name or "") if protocol is not None else None
            info = self._infos[name or ""] = definition.info if definition is not None else {}
        return info

    def _component(
        self, row: Field, key: str, suffix: str, info: FieldInfo | None
    ) -> dict[str, Any] | None:
        """Return the component announcing ``row`` as ``key`` (``None``: not an entity)."""
        hints = info.hints if info is not None else row.hints
        if not hints.entity:
            return None
        unit = row.unit or (info.unit if info is not None else "")
        if info is not None:
            kind = info.kind
        elif isinstance(row.value, bool):
            kind = FieldKind.BOOL
        elif isinstance(row.value, int | float) and unit:
            kind = FieldKind.NUMBER
        else:
            kind = FieldKind.TEXT
        unique = f"{node_id(self.device)}_{key}"
        config: dict[str, Any] = {
            "p": "sensor",
            "name": row.name + suffix,
            "uniq_id": unique,
            "val_tpl": f"{{{{ value_json.{key} }}}}",
        }
        if kind is FieldKind.BOOL:
            config.update(p="binary_sensor", pl_on=ON, pl_off=OFF)
            if hints.device_class in BINARY_CLASSES:
                config["dev_cla"] = hints.device_class
        elif kind is FieldKind.ENUM:
            options = list(info.options if info is not None else ())
            previous = self._components.get(key, {}).get("ops", [])
            for label in (*previous, row.value):
                if isinstance(label, str) and label not in options:
                    options.append(label)
            config.update(dev_cla="enum", ops=options)
        elif kind is FieldKind.NUMBER:
            if unit:
                config["unit_of_meas"] = unit
            device_class = hints.device_class
            state_class = hints.state_class
            if device_class == "energy" or unit in ("Wh", "kWh"):
                # Home Assistant refuses "measurement" for energy: a counter hinted so is a
                # lifetime total. "total" (a period counter that resets) and no state class
                # (a date's figure, not a series) stay as the catalogue says.
                device_class = "energy"
                if state_class == "measurement":
                    state_class = "total_increasing"
            if device_class:
                config["dev_cla"] = device_class
            if state_class:
                config["stat_cla"] = state_class
            if info is not None and info.precision is not None:
                config["sug_dsp_prc"] = info.precision
        if hints.entity_category:
            config["ent_cat"] = hints.entity_category
        if hints.icon:
            config["ic"] = hints.icon
        if not hints.enabled_default:
            config["en"] = False
        return config

    def _learn_identity(self, row: Field) -> None:
        value = row.value.strip() if isinstance(row.value, str) else ""
        if not value:
            return
        if "serial" in row.key:
            self._identity.setdefault("sn", value)
        elif "firmware" in row.key or "cpu_version" in row.key:
            self._identity.setdefault("sw", value.removeprefix("VERFW:"))

    def discovery(self) -> dict[str, Any]:
        """Return the device discovery payload for the fields seen so far."""
        node = node_id(self.device)
        device: dict[str, Any] = {"ids": [node], "name": self.device}
        protocol = self.context.protocol if self.context is not None else None
        if protocol is not None:
            device.update(mf=manufacturer(protocol.id), mdl=protocol.id.upper())
        device.update(self._identity)
        device = {name: value for name, value in device.items() if value is not None}
        connection = self._connection
        availability = [{"t": availability_topic(self.device)}]
        if connection is not None:
            availability.append({"t": connection.status_topic})
        return {
            "dev": device,
            "o": ORIGIN,
            "avty": availability,
            "avty_mode": "all",
            "stat_t": state_topic(self.device),
            "qos": 1,
            "cmps": self._components,
        }

    def batch_messages(self, reports: Sequence[Report]) -> list[Message]:
        """Discovery (when it changed or was lost) then the device's JSON state."""
        for report in reports:
            command = self._command(report)
            catalogue = self._catalogue(command)
            for _, row in self.options.rows(report):
                self._learn_identity(row)
                key, suffix = self._key(command, row.key)
                self._values[key] = plain(row.value)
                component = self._component(row, key, suffix, catalogue.get(row.key))
                if component is not None:
                    self._components[key] = component
        out: list[Message] = []
        config = json.dumps(self.discovery())
        generation = self._connection.generation if self._connection is not None else 0
        if self._announced != (generation, config):
            out.append((discovery_topic(self.device), config, True))
        out.append((state_topic(self.device), json.dumps(self._values), True))
        return out

    async def send(self, reports: Sequence[Report]) -> None:
        """Publish discovery (if needed) and the state; listen for Home Assistant's birth."""
        connection = await self.connection()
        if not self._listening:
            self._listening = True
            await connection.subscribe(BIRTH_TOPIC, self._birth)
        messages = self.batch_messages(reports)
        await self._publish_batch(connection, reports, messages)
        if messages[0][0] == discovery_topic(self.device):
            self._announced = (connection.generation, messages[0][1])  # type: ignore[assignment]

    async def _birth(self, topic: str, payload: bytes) -> None:
        """Home Assistant (re)started: announce the device and its state again."""
        if payload.strip() != b"online" or not self._values:
            return
        connection = await self.connection()
        config = json.dumps(self.discovery())
        try:
            await connection.publish_many(
                [
                    (discovery_topic(self.device), config, True),
                    (state_topic(self.device), json.dumps(self._values), True),
                ]
            )
        except OutputUnavailableError as err:
            _LOGGER.debug("%s: re-announcing to Home Assistant failed: %s", self.device, err)
            return
        self._announced = (connection.generation, config)

    async def close(self) -> None:
        """Stop listening for Home Assistant's birth message and for reconnections."""
        if self._connection is not None and self._listening:
            await self._connection.unsubscribe(BIRTH_TOPIC, self._birth)
            self._listening = False
        await super().close()
