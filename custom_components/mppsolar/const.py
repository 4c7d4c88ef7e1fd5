"""Constants for the MPP Solar integration."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "mppsolar"
LOGGER = logging.getLogger(__package__)


class Connection(StrEnum):
    """How Home Assistant reaches the device (the config entry's ``connection``)."""

    SERIAL = "serial"
    HIDRAW = "hidraw"
    TCP = "tcp"
    UDP = "udp"
    BLUETOOTH = "bluetooth"


# Entry data (what identifies the link and the device; changed by the reconfigure flow).
CONF_CONNECTION: Final = "connection"
#: Serial or hidraw device path (``/dev/serial/by-id/…``, ``/dev/hidraw0``).
CONF_DEVICE: Final = "device"
#: TCP/UDP gateway (``homeassistant.const`` has ``CONF_HOST`` and ``CONF_PORT`` too).
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
#: Bluetooth address.
CONF_ADDRESS: Final = "address"
CONF_BAUD: Final = "baud"
#: Protocol id (``pi30``, ``jk02_32`` …), as detected or chosen.
CONF_PROTOCOL: Final = "protocol"
#: Identity the device last reported (when the entry was made, updated at each setup).
CONF_MODEL: Final = "model"
CONF_FIRMWARE: Final = "firmware"
CONF_SERIAL: Final = "serial_number"
CONF_HARDWARE: Final = "hardware_version"

# Options.
CONF_STATUS_INTERVAL: Final = "status_interval"
CONF_SETTINGS_INTERVAL: Final = "settings_interval"
#: The protocol's status commands to poll (absent: all of them).
CONF_STATUS_COMMANDS: Final = "status_commands"
#: Whether the settings commands are polled (absent: they are).
CONF_POLL_SETTINGS: Final = "poll_settings"
#: Glob patterns of the setter commands the send_command action may send (absent: none;
#: queries are always allowed): ``POP0[0-2]``, ``PCP*``.
CONF_ALLOWED_SETTERS: Final = "allowed_setters"

DEFAULT_BAUD: Final = 2400
#: Status every 10 s: a PI30 status poll (QPIGS, QMOD, QPIWS) takes ~1.5 s at 2400 baud.
DEFAULT_STATUS_INTERVAL: Final = timedelta(seconds=10)
#: A Bluetooth BMS: each poll wakes the radio; 30 s keeps cell values useful.
DEFAULT_BLE_STATUS_INTERVAL: Final = timedelta(seconds=30)
#: Settings change only when someone changes them: every 5 minutes (and after each write).
DEFAULT_SETTINGS_INTERVAL: Final = timedelta(minutes=5)

#: Protocol value that asks the config flow to detect the protocol.
AUTO: Final = "auto"

# Repair issues (repairs.py).
#: Polls in a row (setup attempts count) without an answer before an issue says so.
STALE_POLLS: Final = 3
#: Status answers in a row with nothing but zeros before the protocol is suspected.
ZERO_POLLS: Final = 5
