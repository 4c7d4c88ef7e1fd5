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
#: A BMS, charger or shunt entry: the entry id of the inverter it feeds (absent: none). Its
#: device shows "Connected via" that inverter's device.
CONF_INVERTER: Final = "inverter"
#: Bridge mode (bridge.py): the entry's outputs and their parameters, one dict in the options
#: (absent or no outputs: off). The options form's ``configure_bridge`` box (not stored) opens
#: the step that sets them.
CONF_BRIDGE: Final = "bridge"
CONF_CONFIGURE_BRIDGE: Final = "configure_bridge"
CONF_OUTPUTS: Final = "outputs"
CONF_PROM_OUTPUT_DIR: Final = "prom_output_dir"
CONF_PUSH_URL: Final = "push_url"
CONF_POSTGRES_URL: Final = "postgres_url"
CONF_MONGO_URL: Final = "mongo_url"
CONF_MONGO_DB: Final = "mongo_db"
CONF_UDP_PORT: Final = "udp_port"
CONF_MQTT_HOST: Final = "mqtt_host"
CONF_MQTT_PORT: Final = "mqtt_port"
CONF_MQTT_USERNAME: Final = "mqtt_username"
CONF_MQTT_PASSWORD: Final = "mqtt_password"
CONF_MQTT_TOPIC: Final = "mqtt_topic"
CONF_FILTER: Final = "filter"
CONF_EXCLFILTER: Final = "exclfilter"
#: Bridge option: serve the web UI in Home Assistant's sidebar (web.py).
CONF_WEB_PANEL: Final = "web_panel"

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
