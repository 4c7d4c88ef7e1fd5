"""Async byte pipes to devices: serial, USB-HID, TCP/UDP, Bluetooth LE, MQTT, in-process.

:func:`open_transport` turns a port string into a transport (``/dev/ttyUSB0``, ``/dev/hidraw0``,
``tcp://host:port`` or ``host:port``, ``udp://host:port``, serialx URLs such as ``socket://`` and
``esphome://``, ``sim``/``test``, a Bluetooth address, ``mqtt``); ``porttype`` overrides the guess.
Port types live in a small registry (:mod:`mppsolar_lib.transports.factory`): a name, the URL
schemes and the predicate that select it, and a builder. Modules with optional dependencies
(``simulated``, ``ble``, ``mqtt``) are imported on first use and register their builder with
:func:`register_port_type` when they load. See ``docs/transports.md``.
"""

from __future__ import annotations

from mppsolar_lib.transports.base import BufferedTransport, Completion, Transport
from mppsolar_lib.transports.factory import (
    PortRequest,
    PortType,
    open_transport,
    port_type_of,
    port_types,
    register_port_type,
)

__all__ = [
    "BufferedTransport",
    "Completion",
    "PortRequest",
    "PortType",
    "Transport",
    "open_transport",
    "port_type_of",
    "port_types",
    "register_port_type",
]
