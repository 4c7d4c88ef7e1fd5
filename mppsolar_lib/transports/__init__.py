"""Async byte pipes to devices: serial, USB-HID, TCP/UDP, Bluetooth LE, MQTT, in-process."""

from __future__ import annotations

from mppsolar_lib.transports.base import BufferedTransport, Completion, Transport

__all__ = ["BufferedTransport", "Completion", "Transport"]
