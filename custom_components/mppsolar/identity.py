"""Who the device says it is: model, firmware, serial number, hardware version.

Read with the protocol's own identity queries, normalised as the library's detection
normalises what it reads (so an entry made by detection and one made for a chosen protocol,
or set up again later, agree):

* Voltronic units in brackets (PI16, the PI30 family, PI41): ``QID``, ``QVFW``, and ``QMN``
  (PI30 family), else ``QGMN``.
* Voltronic units with a caret (PI17, PI18): ``ID``, ``VFW``, and ``MD`` where the table has it.
  A query the table lacks is not sent (PI30 REVO's has no QMN or QGMN: no model).
* VE.Direct units send their identity (``PID``, ``FW``, ``SER#``) in their status text: it is
  read from a status poll (:func:`status_identity`: at no cost from one already made).
* BMSs: the query that reports the serial number, if the protocol has one (JK's device
  information record: model, hardware and software version, serial number). Daly's protocol
  has none.

The config flow uses it to show what it found; the coordinator, at every setup, to keep the
device registry up to date (a firmware update shows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from mppsolar_lib.device import Device
from mppsolar_lib.errors import MppSolarError, NAKError
from mppsolar_lib.protocols import Protocol
from mppsolar_lib.protocols.command import Kind
from mppsolar_lib.protocols.detect import detect
from mppsolar_lib.protocols.fields import Result
from mppsolar_lib.protocols.vedirect import VeDirect
from mppsolar_lib.protocols.voltronic import CaretProtocol, VoltronicProtocol

from .const import CONF_FIRMWARE, CONF_HARDWARE, CONF_MODEL, CONF_SERIAL, LOGGER


@dataclass(frozen=True, slots=True)
class Identity:
    """What a device reports about itself; ``None`` where it reports nothing."""

    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    hardware: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Identity:
        """Return the identity kept in a config entry's ``data``."""
        return cls(*(data.get(key) for key in _DATA_KEYS))

    def as_data(self) -> dict[str, str]:
        """Return the entry data that keeps this identity (what is known only)."""
        values = (getattr(self, item.name) for item in fields(self))
        return {key: value for key, value in zip(_DATA_KEYS, values, strict=True) if value}

    def or_else(self, known: Identity) -> Identity:
        """Return this identity, with what it lacks taken from ``known``."""
        return Identity(
            *(getattr(self, item.name) or getattr(known, item.name) for item in fields(self))
        )


#: The entry data keys of the identity's fields, in their order.
_DATA_KEYS = (CONF_MODEL, CONF_FIRMWARE, CONF_SERIAL, CONF_HARDWARE)


async def read_identity(device: Device) -> Identity:
    """Ask ``device`` (its protocol known) who it is; never raises.

    A query the unit refuses, or its protocol's table lacks, is left out; any other failure
    gives an empty identity (logged at debug level): whoever asks keeps what it knew.
    """
    protocol = device.protocol
    assert protocol is not None  # built with a protocol, or detected before
    try:
        if carries_identity(protocol):
            # The whole status: a lone history block would not name the unit.
            return status_identity((await device.get_status()).values())
        if isinstance(protocol, VoltronicProtocol | CaretProtocol):
            return await _voltronic(device, protocol)
        command = identity_command(protocol)
        if command is None:
            return Identity()
        result = await device.command(command)
    except MppSolarError as err:
        LOGGER.debug("%s: identity not read: %s", device.name, err)
        return Identity()
    return Identity(
        model=_text(result.get("device_model")),
        firmware=_text(result.get("software_version")),
        serial=_text(result.get("serial_number")),
        hardware=_text(result.get("hardware_version")),
    )


def carries_identity(protocol: Protocol) -> bool:
    """Tell whether ``protocol``'s status answers carry the identity (VE.Direct text)."""
    return isinstance(protocol, VeDirect)


def status_identity(answers: Iterable[Result]) -> Identity:
    """Return the identity in the status ``answers`` of a unit that :func:`carries_identity`.

    A VE.Direct text is read as detection reads it (the model from ``PID``, else ``BMV``;
    ``FW`` ``0419`` as ``4.19``; ``SER#``), from the bytes received.
    """
    text = b"".join(answer.raw for answer in answers)
    detection = detect(lambda _request: text)
    return Identity(detection.model, detection.firmware, detection.serial)


def identity_command(protocol: Protocol) -> str | None:
    """Return the query that reports ``protocol``'s serial number (``getInfo``), if any."""
    for name in (*protocol.id_commands, *protocol.commands):
        definition = protocol.commands.get(name)
        if (
            definition is not None
            and definition.kind is Kind.QUERY
            and "serial_number" in definition.info
        ):
            return name
    return None


async def _voltronic(device: Device, protocol: Protocol) -> Identity:
    """Read a Voltronic unit's serial number, firmware and model as detection does."""
    if isinstance(protocol, CaretProtocol):
        serial = _caret_serial(await _ask(device, protocol, "ID"))
        firmware = _firmware(await _ask(device, protocol, "VFW"))
        model = _first(await _ask(device, protocol, "MD"), "machine")
        return Identity(model, firmware, serial)
    serial = _first(await _ask(device, protocol, "QID"), "serial")
    firmware = _firmware(await _ask(device, protocol, "QVFW"))
    # A PI30 unit's model name (QMN), else its general model number; others report only that.
    names = ("QMN", "QGMN") if protocol.id.startswith("pi30") else ("QGMN",)
    model = None
    for name in names:
        model = _first(await _ask(device, protocol, name), "model")
        if model:
            break
    return Identity(model, firmware, serial)


async def _ask(device: Device, protocol: Protocol, command: str) -> Result | None:
    """Send the query ``command``; ``None`` when the unit refuses it or its table lacks it."""
    if command not in protocol.commands:
        return None
    try:
        return await device.command(command)
    except NAKError as err:
        LOGGER.debug("%s refuses %s: %s", device.name, command, err)
        return None


def _first(result: Result | None, *words: str) -> str | None:
    """Return the first value whose key contains one of ``words``, as text."""
    if result is None:
        return None
    return next(
        (_text(value) for key, value in result.items() if any(word in key for word in words)),
        None,
    )


def _firmware(result: Result | None) -> str | None:
    """Return the main CPU's firmware version (``VERFW:00072.70`` -> ``00072.70``)."""
    text = _first(result, "firmware", "cpu_version")
    return text.removeprefix("VERFW:") if text else None


def _caret_serial(result: Result | None) -> str | None:
    """Return a PI17/PI18 serial number: sent as a 2-digit length, the digits and padding."""
    text = _first(result, "serial")
    if text and len(text) > 2 and text[:2].isdigit() and 0 < int(text[:2]) <= len(text) - 2:
        return text[2 : 2 + int(text[:2])]
    return text


def _text(value: object) -> str | None:
    """Return ``value`` as stripped text, ``None`` when empty or missing."""
    return (str(value).strip() or None) if value is not None else None
