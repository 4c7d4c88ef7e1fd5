"""MQTT outputs in the reference's formats: ``mqtt``, ``json_mqtt``, ``tag_mqtt``, ``influx2_mqtt``.

Topics and payloads match the reference's (the tag replaces the command name, as there):

- ``mqtt``: ``<tag>/status/<key>/value`` with the value, and ``<tag>/status/<key>/unit`` with
  the unit when there is one;
- ``json_mqtt``: one message on ``<tag>/<mqtt_topic>`` (``mpp-solar`` by default), a JSON object
  of key -> value;
- ``tag_mqtt``: ``<tag>/<key>`` with the value;
- ``influx2_mqtt``: one Influx line-protocol message per value on ``<mqtt_topic>``:
  ``<mqtt_topic>,command=<tag> <key>=<value>`` (text quoted).

Unlike the reference, every message is published at QoS 1 through the bridge's one shared
connection (:mod:`mppsolar_lib.outputs.mqtt_pool`) and counts as delivered only when the broker
acknowledged it; while the broker is down the sink keeps the readings and delivers them in
order when it is back. Each device's availability is published retained on
``mppsolar/<device>/availability`` (``online``/``offline``).
"""

from __future__ import annotations

from abc import abstractmethod
import json
import logging
import re
from typing import TYPE_CHECKING, ClassVar, Final

from mppsolar_lib.outputs.base import Output, OutputUnavailableError, Report, plain, text, unit_of
from mppsolar_lib.outputs.mqtt_pool import OFFLINE, ONLINE, MqttConnection, shared_connection

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mppsolar_lib.outputs.mqtt_pool import Payload

_LOGGER = logging.getLogger(__name__)

#: The reference's default topic (its program name) where ``mqtt_topic`` is not set.
DEFAULT_TOPIC: Final = "mpp-solar"

Message = tuple[str, "Payload", bool]


def topic_part(name: str) -> str:
    """Make ``name`` one topic level: no ``/``, and none of the wildcards ``+`` and ``#``."""
    return re.sub(r"[/+#\x00]", "_", name) or "_"


def availability_topic(device: str) -> str:
    """Return the retained availability topic of ``device``."""
    return f"mppsolar/{topic_part(device)}/availability"


class MqttOutput(Output):
    """Publish reports to the bridge's broker; subclasses say which messages."""

    spooled: ClassVar[bool] = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Prepare; the shared connection is fetched on first use."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._connection: MqttConnection | None = None
        self._forget: Callable[[], None] | None = None
        # A batch the broker took part of before the link dropped: retrying it skips those.
        self._partial: tuple[tuple[tuple[str, float | None], ...], int] | None = None

    async def connection(self) -> MqttConnection:
        """Return the shared connection to the bridge's broker."""
        if self._connection is None:
            self._connection = await shared_connection(self.context)
            # Back after an outage: deliver what waits now, not after the sink's backoff.
            self._forget = self._connection.add_connect_listener(self.wake)
        return self._connection

    async def close(self) -> None:
        """Stop listening to the shared connection (the bridge closes the connection itself)."""
        if self._forget is not None:
            self._forget()
            self._forget = None

    @property
    def device(self) -> str:
        """The device's name."""
        return self.options.name

    def tag(self, report: Report) -> str:
        """Return what names the report in topics: the device's tag, else the command."""
        return self.options.tag or report.command

    @property
    def mqtt_topic(self) -> str:
        """The device's ``mqtt_topic``, or the reference's default."""
        device = self.context.device if self.context is not None else None
        return (device.mqtt_topic if device is not None else None) or DEFAULT_TOPIC

    @abstractmethod
    def messages(self, report: Report) -> list[Message]:
        """Return ``(topic, payload, retain)`` for one report."""

    async def send(self, reports: Sequence[Report]) -> None:
        """Publish every report's messages; return when the broker acknowledged them all."""
        connection = await self.connection()
        messages = [message for report in reports for message in self.messages(report)]
        await self._publish_batch(connection, reports, messages)

    async def _publish_batch(
        self, connection: MqttConnection, reports: Sequence[Report], messages: list[Message]
    ) -> None:
        """Publish ``messages``; a retry of the same batch skips what the broker already took."""
        batch = tuple((report.command, report.time) for report in reports)
        skip = 0
        if self._partial is not None and self._partial[0] == batch:
            skip = self._partial[1]
        try:
            await connection.publish_many(messages[skip:])
        except OutputUnavailableError as err:
            acked: int = getattr(err, "acked", 0)
            self._partial = (batch, skip + acked)
            raise
        self._partial = None

    async def availability(self, online: bool) -> None:
        """Publish ``online``/``offline`` retained (again after every reconnect)."""
        connection = await self.connection()
        await connection.set_state(availability_topic(self.device), ONLINE if online else OFFLINE)


class Mqtt(MqttOutput):
    """One topic per value (and one per unit): ``<tag>/status/<key>/value``."""

    name = "mqtt"

    def messages(self, report: Report) -> list[Message]:
        """Value and unit messages of each row."""
        prefix = f"{self.tag(report)}/status"
        out: list[Message] = []
        for key, row in self.options.rows(report):
            out.append((f"{prefix}/{key}/value", text(row.value), False))
            if unit := unit_of(row):
                out.append((f"{prefix}/{key}/unit", unit, False))
        return out


class JsonMqtt(MqttOutput):
    """One JSON object per report on ``<tag>/<mqtt_topic>``."""

    name = "json_mqtt"

    def messages(self, report: Report) -> list[Message]:
        """Give the report's values as one JSON object."""
        data = {key: plain(row.value) for key, row in self.options.rows(report)}
        return [(f"{self.tag(report)}/{self.mqtt_topic}", json.dumps(data), False)]


class TagMqtt(MqttOutput):
    """One topic per value: ``<tag>/<key>``."""

    name = "tag_mqtt"

    def messages(self, report: Report) -> list[Message]:
        """One value message per row."""
        tag = self.tag(report)
        return [(f"{tag}/{key}", text(row.value), False) for key, row in self.options.rows(report)]


def _influx_string(value: str) -> str:
    # Line protocol: a string field value escapes its backslashes and double quotes.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Influx2Mqtt(MqttOutput):
    """Influx line protocol, one message per value, on ``<mqtt_topic>``."""

    name = "influx2_mqtt"

    def messages(self, report: Report) -> list[Message]:
        """``<topic>,command=<tag> <key>=<value>`` per row (text values quoted)."""
        topic = self.mqtt_topic
        head = f"{topic},command={self.tag(report)}"
        out: list[Message] = []
        for key, row in self.options.rows(report):
            value = plain(row.value)
            shown = (
                str(value) if isinstance(value, int | float) else _influx_string(text(row.value))
            )
            out.append((topic, f"{head} {key}={shown}", False))
        return out
