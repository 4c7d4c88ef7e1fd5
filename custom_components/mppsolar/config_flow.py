"""Config flow for MPP Solar: choose the link, find the device on it, confirm what was found.

``user`` is a menu of links (serial port, USB-HID, TCP or UDP gateway, Bluetooth). Each link's
step asks where the device is and which protocol it speaks (``auto``: detect it). The ``probe``
step then runs as a progress step: detection (``Device.identify``), or for a chosen protocol one
status command plus the device's identity. ``confirm`` shows what was found and creates the
entry. A failure goes back to the link's form with a specific, translated error.

The entry's unique id is the device's serial number; a Bluetooth device's is its address (all a
discovery knows before connecting); a device that reports no serial number gets
``<connection>:<link>`` as it was when the entry was made (the same port cannot be added twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
import contextlib
from dataclasses import dataclass
import errno
from fnmatch import fnmatchcase
from pathlib import Path
import re
import string
from typing import Any

from homeassistant.components.bluetooth import (
    BluetoothServiceInfoBleak,
    async_discovered_service_info,
)
from homeassistant.components.bluetooth.match import ble_device_matches
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.loader import async_get_integration
import serialx
import voluptuous as vol

from mppsolar_lib.device import Device
from mppsolar_lib.errors import DeviceTimeoutError, MppSolarError, NAKError, PortError
from mppsolar_lib.protocols import Kind, Protocol, get_protocol, list_protocols
from mppsolar_lib.transports.ble import DALY, JK, MODELS
from mppsolar_lib.transports.paths import VOLTRONIC_USB_ID

from .bridge import async_validate, output_choices, spool_path
from .connection import build_device, describe
from .const import (
    AUTO,
    CONF_ADDRESS,
    CONF_ALLOWED_SETTERS,
    CONF_BAUD,
    CONF_BRIDGE,
    CONF_CONFIGURE_BRIDGE,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_EXCLFILTER,
    CONF_FILTER,
    CONF_FIRMWARE,
    CONF_HOST,
    CONF_INVERTER,
    CONF_MODEL,
    CONF_MONGO_DB,
    CONF_MONGO_URL,
    CONF_MQTT_HOST,
    CONF_MQTT_PASSWORD,
    CONF_MQTT_PORT,
    CONF_MQTT_TOPIC,
    CONF_MQTT_USERNAME,
    CONF_OUTPUTS,
    CONF_POLL_SETTINGS,
    CONF_PORT,
    CONF_POSTGRES_URL,
    CONF_PROM_OUTPUT_DIR,
    CONF_PROTOCOL,
    CONF_PUSH_URL,
    CONF_SERIAL,
    CONF_SETTINGS_INTERVAL,
    CONF_STATUS_COMMANDS,
    CONF_STATUS_INTERVAL,
    CONF_UDP_PORT,
    CONF_WEB_PANEL,
    DEFAULT_BAUD,
    DOMAIN,
    LOGGER,
    Connection,
)
from .coordinator import polled_status_commands, polls_settings, settings_interval, status_interval
from .entity import async_link_inverter, is_inverter
from .identity import read_identity

#: Where device nodes and the kernel's device tree are (module constants: tests point them at a
#: fake tree to list USB-HID devices).
DEV_ROOT = Path("/dev")
SYSFS_ROOT = Path("/sys")

#: The step that asks for each kind of link (and shows its errors).
LINK_STEPS: Mapping[Connection, str] = {
    Connection.SERIAL: "serial",
    Connection.HIDRAW: "hidraw",
    Connection.TCP: "tcp",
    Connection.UDP: "udp",
    Connection.BLUETOOTH: "ble",
}
#: Protocols spoken only over Bluetooth (not offered for wired links).
BLUETOOTH_ONLY = frozenset(protocol for protocol, model in MODELS.items() if model is JK)
#: The JK layout a Bluetooth JK BMS gets until its records show another (firmware 11+).
DEFAULT_JK_PROTOCOL = "jk02_32"
#: Daly Bluetooth modules: advertised name prefix and manufacturer ids (aiobmsble's matchers).
DALY_NAME_PREFIX = "DL-"
DALY_MANUFACTURER_IDS = frozenset({0x0102, 0x0104, 0x0302, 0x0303, 0x0402})
#: Serial speeds accepted (Voltronic units use 2400, BMSs 9600 or 115200).
BAUD_MIN, BAUD_MAX = 300, 921600
#: Polling bounds (seconds). A PI30 status poll takes ~1.5 s at 2400 baud.
STATUS_INTERVAL_MIN, STATUS_INTERVAL_MAX = 5, 3600
SETTINGS_INTERVAL_MIN, SETTINGS_INTERVAL_MAX = 30, 86400
#: What a placeholder shows for an identity value the device did not report.
UNKNOWN = "—"
#: A usage note closing a command's description (``… (append the cell count …)``).
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)$")
#: The inverter option's choice "no inverter" (not stored: the option is then left out).
NO_INVERTER = "none"
#: What a setter pattern may hold: what commands are written with (letters, digits, and the
#: parameters' ``.`` ``,`` ``+`` ``-`` ``_`` and spaces: ``PBCV44.0``, ``MCHGV552,540``) and
#: the glob's ``* ? [ ] !``.
SETTER_PATTERN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._,+- *?[]!")
#: What makes a pattern a glob (else it is a command's name or a whole command).
_GLOB = frozenset("*?[")
_GLOB_LITERALS = frozenset("[]!")


class ProbeFailed(Exception):
    """The device could not be found or tested: ``key`` is the flow's error, ``detail`` why."""

    def __init__(self, key: str, detail: str = "") -> None:
        """Fail with error ``key`` (config.error.<key>) and the library's explanation."""
        super().__init__(key, detail)
        self.key = key
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Found:
    """What a probe learned: the protocol that works, and who the device says it is."""

    protocol: str
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None


# -- probing ------------------------------------------------------------------------------------


async def probe(hass: HomeAssistant, link: Mapping[str, Any], protocol: str | None) -> Found:
    """Find the device on ``link`` (``protocol`` None: detect it) or test ``protocol`` on it.

    Raises :class:`ProbeFailed` with the error the form shows. The device is always closed.
    """
    try:
        device = build_device(hass, link, protocol)
    except MppSolarError as err:
        raise _failure(err) from err
    try:
        if protocol is None:
            return await _detect(device)
        return await _test(device)
    except MppSolarError as err:
        raise _failure(err) from err
    finally:
        await device.close()


async def _detect(device: Device) -> Found:
    """Identify the device's protocol and identity."""
    detection = await device.identify()
    if detection.protocol is None:
        outcomes = {item.rpartition(": ")[2] for item in detection.evidence}
        evidence = "; ".join(detection.evidence)
        if outcomes <= {"silence"}:
            raise ProbeFailed("no_answer", evidence)
        if outcomes <= {"silence", "paren_nak", "caret_nak"}:
            raise ProbeFailed("nak_to_everything", evidence)
        raise ProbeFailed("unrecognized", evidence)
    return Found(detection.protocol, detection.model, detection.firmware, detection.serial)


async def _test(device: Device) -> Found:
    """Send the chosen protocol's first status command; then read the identity if it can.

    The identity comes from the protocol's own queries, normalised as detection normalises
    it: the same unit gets the same unique id whether its protocol was detected or chosen.
    """
    protocol = device.protocol
    assert protocol is not None  # built with the chosen protocol
    await device.command(protocol.status_commands[0])
    # A JK BMS on Bluetooth shows its record layout (jk02 or jk02_32) in what it sends.
    layout: str | None = getattr(device.transport, "detected_protocol", None)
    identity = await read_identity(device)
    return Found(layout or protocol.id, identity.model, identity.firmware, identity.serial)


def _failure(err: MppSolarError) -> ProbeFailed:
    """Return the flow error a library error means to the user."""
    if isinstance(err, PortError):
        key = "permission_denied" if _denied(err) else "cannot_connect"
        return ProbeFailed(key, str(err))
    if isinstance(err, NAKError):
        return ProbeFailed("nak_to_everything", str(err))
    if isinstance(err, DeviceTimeoutError):
        return ProbeFailed("no_answer", str(err))
    return ProbeFailed("cannot_connect", str(err))


def _denied(err: BaseException) -> bool:
    """Tell whether ``err`` was caused by the OS refusing access (EACCES, EPERM)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


# -- what is there to choose from -----------------------------------------------------------------


def serial_ports() -> dict[str, str]:
    """Return the serial ports present, USB adapters first (by their stable by-id path)."""
    ports: dict[str, str] = {}
    listed = sorted(serialx.list_serial_ports(), key=lambda port: (port.vid is None, port.device))
    for port in listed:
        ids = (
            f"{port.vid:04x}:{port.pid:04x}"
            if port.vid is not None and port.pid is not None
            else None
        )
        details = ", ".join(filter(None, (port.manufacturer, port.product, ids)))
        ports[port.device] = f"{port.device} ({details})" if details else port.device
    return ports


def hidraw_devices() -> dict[str, str]:
    """Return the USB-HID nodes present, Voltronic inverters (0665:5161) first."""
    found: list[tuple[bool, str, str]] = []
    for node in DEV_ROOT.glob("hidraw*"):
        vendor, product, name = _hid_identity(SYSFS_ROOT / "class/hidraw" / node.name)
        details = ", ".join(filter(None, (name, vendor and f"{vendor}:{product}")))
        label = f"{node} ({details})" if details else str(node)
        found.append(((vendor, product) != VOLTRONIC_USB_ID, str(node), label))
    found.sort(key=lambda item: (item[0], len(item[1]), item[1]))
    return {path: label for _, path, label in found}


def _hid_identity(sysfs: Path) -> tuple[str | None, str | None, str | None]:
    """Read (vendor, product, name) of a hidraw node from its ``device/uevent``."""
    try:
        text = (sysfs / "device" / "uevent").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None, None
    values = dict(line.partition("=")[::2] for line in text.splitlines())
    # HID_ID=0003:00000665:00005161 (bus, vendor, product)
    parts = values.get("HID_ID", "").split(":")
    vendor = product = None
    if len(parts) == 3:
        with contextlib.suppress(ValueError):
            vendor, product = f"{int(parts[1], 16):04x}", f"{int(parts[2], 16):04x}"
    return vendor, product, values.get("HID_NAME") or None


def bluetooth_protocol(info: BluetoothServiceInfoBleak) -> str:
    """Return the protocol a Bluetooth BMS's advertisement suggests (Daly, else JK)."""
    daly = (
        DALY.service in {uuid.lower() for uuid in info.service_uuids}
        or info.name.upper().startswith(DALY_NAME_PREFIX)
        or not DALY_MANUFACTURER_IDS.isdisjoint(info.manufacturer_data)
    )
    return "daly" if daly else DEFAULT_JK_PROTOCOL


async def _bluetooth_matchers(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return the manifest's Bluetooth matchers: a device listed must match one."""
    integration = await async_get_integration(hass, DOMAIN)
    return list(integration.manifest.get("bluetooth") or [])


# -- forms ----------------------------------------------------------------------------------------


def _options(choices: Mapping[str, str]) -> list[SelectOptionDict]:
    return [SelectOptionDict(value=value, label=label) for value, label in choices.items()]


def _path_selector(choices: Mapping[str, str]) -> SelectSelector:
    """Select a listed path, or type another."""
    return SelectSelector(
        SelectSelectorConfig(
            options=_options(choices), custom_value=True, mode=SelectSelectorMode.DROPDOWN
        )
    )


def _number(minimum: int, maximum: int, unit: str | None = None) -> vol.All:
    """Return a whole-number box from ``minimum`` to ``maximum`` (in ``unit``)."""
    config = NumberSelectorConfig(min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return vol.All(NumberSelector(config), vol.Coerce(int))


def _protocol_selector(
    choices: Iterable[str], translation_key: str, automatic: str
) -> SelectSelector:
    """Select ``auto`` (``automatic``, translated by ``translation_key``) or a protocol.

    Protocols are labelled with the library's description (names of products, not translated).
    """
    options = [SelectOptionDict(value=AUTO, label=automatic)]
    options += [SelectOptionDict(value=p, label=get_protocol(p).description) for p in choices]
    return SelectSelector(
        SelectSelectorConfig(
            options=options, translation_key=translation_key, mode=SelectSelectorMode.DROPDOWN
        )
    )


def link_schema(connection: Connection, paths: Mapping[str, str]) -> dict[vol.Marker, Any]:
    """Return the fields that say where a wired device of ``connection`` is.

    ``paths`` are the ports present (path -> label); the first is the default.
    """
    if connection in (Connection.SERIAL, Connection.HIDRAW):
        device = (
            vol.Required(CONF_DEVICE, default=next(iter(paths)))
            if paths
            else vol.Required(CONF_DEVICE)
        )
        fields: dict[vol.Marker, Any] = {device: _path_selector(paths)}
        if connection is Connection.SERIAL:
            fields[vol.Required(CONF_BAUD, default=DEFAULT_BAUD)] = _number(BAUD_MIN, BAUD_MAX)
        return fields
    return {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT): _number(1, 65535),
    }


def link_data(connection: Connection, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry data of a wired link from its form."""
    data: dict[str, Any] = {CONF_CONNECTION: connection.value}
    if connection is Connection.SERIAL:
        data[CONF_DEVICE] = str(user_input[CONF_DEVICE]).strip()
        data[CONF_BAUD] = user_input[CONF_BAUD]
    elif connection is Connection.HIDRAW:
        data[CONF_DEVICE] = str(user_input[CONF_DEVICE]).strip()
    else:
        data[CONF_HOST] = str(user_input[CONF_HOST]).strip()
        data[CONF_PORT] = user_input[CONF_PORT]
    return data


async def _link_choices(hass: HomeAssistant, connection: Connection) -> dict[str, str]:
    """Return the paths to offer for ``connection`` (listed through the executor)."""
    if connection is Connection.SERIAL:
        return await hass.async_add_executor_job(serial_ports)
    if connection is Connection.HIDRAW:
        return await hass.async_add_executor_job(hidraw_devices)
    return {}


def _placeholders(failure: ProbeFailed | None) -> dict[str, str]:
    return {"error": failure.detail} if failure is not None else {}


# -- the flows ------------------------------------------------------------------------------------


class MppSolarConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a device: pick the link, detect or test, confirm."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._link: dict[str, Any] = {}
        #: The chosen protocol (``None``: detect it).
        self._protocol: str | None = None
        #: What the link form held last (shown again with an error).
        self._input: dict[str, Any] = {}
        self._probing: asyncio.Task[Found] | None = None
        self._found: Found | None = None
        self._failure: ProbeFailed | None = None
        self._title: str | None = None
        self._bluetooth: dict[str, BluetoothServiceInfoBleak] = {}
        self._discovery: BluetoothServiceInfoBleak | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> MppSolarOptionsFlow:
        """Return the polling options flow."""
        return MppSolarOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask how Home Assistant reaches the device."""
        return self.async_show_menu(step_id="user", menu_options=list(LINK_STEPS.values()))

    async def async_step_serial(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the serial port, its speed and the protocol."""
        return await self._async_link_step(Connection.SERIAL, user_input)

    async def async_step_hidraw(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the USB-HID node (a Voltronic inverter's USB port) and the protocol."""
        return await self._async_link_step(Connection.HIDRAW, user_input)

    async def async_step_tcp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the TCP gateway (an Elfin EW11, ser2net …) and the protocol."""
        return await self._async_link_step(Connection.TCP, user_input)

    async def async_step_udp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the UDP gateway and the protocol."""
        return await self._async_link_step(Connection.UDP, user_input)

    async def _async_link_step(
        self, connection: Connection, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show a wired link's form; on submit, probe what it names."""
        if user_input is not None:
            self._input = user_input
            protocol = user_input[CONF_PROTOCOL]
            return await self._async_probe_link(
                link_data(connection, user_input), None if protocol == AUTO else protocol
            )
        paths = await _link_choices(self.hass, connection)
        fields = link_schema(connection, paths)
        protocols = [p for p in list_protocols() if p not in BLUETOOTH_ONLY]
        fields[vol.Required(CONF_PROTOCOL, default=AUTO)] = _protocol_selector(
            protocols, "protocol", "Detect automatically"
        )
        schema = self.add_suggested_values_to_schema(vol.Schema(fields), self._input)
        failure, self._failure = self._failure, None
        return self.async_show_form(
            step_id=LINK_STEPS[connection],
            data_schema=schema,
            errors={"base": failure.key} if failure else None,
            description_placeholders=_placeholders(failure),
        )

    async def async_step_ble(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer the JK and Daly BMSs Home Assistant's Bluetooth stack has seen."""
        if user_input is not None:
            self._input = user_input
            address = user_input[CONF_ADDRESS]
            info = self._bluetooth[address]
            protocol = user_input[CONF_PROTOCOL]
            if protocol == AUTO:
                protocol = bluetooth_protocol(info)
            self._title = info.name
            link = {CONF_CONNECTION: Connection.BLUETOOTH.value, CONF_ADDRESS: address}
            return await self._async_probe_link(link, protocol)
        configured = self._async_current_ids(include_ignore=False)
        matchers = await _bluetooth_matchers(self.hass)
        self._bluetooth = {
            info.address: info
            for info in async_discovered_service_info(self.hass)
            if info.address not in configured
            and any(ble_device_matches(matcher, info) for matcher in matchers)  # type: ignore[arg-type]
        }
        if not self._bluetooth:
            return self.async_abort(reason="no_devices_found")
        devices = {address: f"{info.name} ({address})" for address, info in self._bluetooth.items()}
        schema = vol.Schema(
            {
                vol.Required(CONF_ADDRESS): SelectSelector(
                    SelectSelectorConfig(
                        options=_options(devices), mode=SelectSelectorMode.DROPDOWN
                    )
                ),
                vol.Required(CONF_PROTOCOL, default=AUTO): _protocol_selector(
                    sorted(MODELS), "bluetooth_protocol", "From the advertisement"
                ),
            }
        )
        failure, self._failure = self._failure, None
        return self.async_show_form(
            step_id="ble",
            data_schema=self.add_suggested_values_to_schema(schema, self._input),
            errors={"base": failure.key} if failure else None,
            description_placeholders=_placeholders(failure),
        )

    async def _async_probe_link(
        self, link: dict[str, Any], protocol: str | None
    ) -> ConfigFlowResult:
        """Remember the link and start probing it."""
        self._link = link
        self._protocol = protocol
        self._found = None
        return await self.async_step_probe()

    async def async_step_probe(self, user_input: None = None) -> ConfigFlowResult:
        """Detect (or test) the device while showing progress; then confirm or go back."""
        if self._probing is None:
            self._probing = self.hass.async_create_task(
                probe(self.hass, self._link, self._protocol),
                f"{DOMAIN} probe {describe(self._link)}",
                eager_start=False,
            )
        if not self._probing.done():
            return self.async_show_progress(
                step_id="probe",
                progress_action="detect" if self._protocol is None else "test",
                description_placeholders={
                    "port": describe(self._link),
                    "protocol": self._protocol or AUTO,
                },
                progress_task=self._probing,
            )
        task, self._probing = self._probing, None
        try:
            self._found = task.result()
        except ProbeFailed as failure:
            self._failure = failure
        except Exception:  # noqa: BLE001 - shown as "unknown", logged with its traceback
            LOGGER.exception("Unexpected error while probing %s", describe(self._link))
            self._failure = ProbeFailed("unknown")
        if self._found is None:
            return self.async_show_progress_done(
                next_step_id=LINK_STEPS[Connection(self._link[CONF_CONNECTION])]
            )
        return self.async_show_progress_done(next_step_id="confirm")

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what was found; create the entry (or update a known device's link)."""
        found = self._found
        assert found is not None  # reached from a successful probe only
        link = self._link
        bluetooth = link[CONF_CONNECTION] == Connection.BLUETOOTH
        if bluetooth:
            unique_id = str(link[CONF_ADDRESS])
        else:
            unique_id = found.serial or f"{link[CONF_CONNECTION]}:{describe(link)}"
        await self.async_set_unique_id(unique_id, raise_on_progress=False)
        self._abort_if_unique_id_configured(updates=link)
        if user_input is not None:
            identity = {
                CONF_MODEL: found.model,
                CONF_FIRMWARE: found.firmware,
                CONF_SERIAL: found.serial,
            }
            data = {
                **link,
                CONF_PROTOCOL: found.protocol,
                **{key: value for key, value in identity.items() if value},
            }
            return self.async_create_entry(title=self._entry_title(found), data=data)
        protocol = get_protocol(found.protocol)
        return self.async_show_form(
            step_id="confirm",
            description_placeholders={
                "protocol": f"{protocol.id} – {protocol.description}",
                "model": found.model or UNKNOWN,
                "firmware": found.firmware or UNKNOWN,
                "serial": found.serial or UNKNOWN,
                "port": describe(link),
            },
        )

    def _entry_title(self, found: Found) -> str:
        """Name the entry: the advertised name, else the model and serial number or link."""
        if self._title:
            return self._title
        base = found.model or found.protocol.upper()
        return f"{base} {found.serial}" if found.serial else f"{base} ({describe(self._link)})"

    # -- Bluetooth discovery ----------------------------------------------------------------------

    async def async_step_bluetooth(
        self, discovery_info: BluetoothServiceInfoBleak
    ) -> ConfigFlowResult:
        """Handle a JK or Daly BMS found by the manifest's Bluetooth matchers."""
        await self.async_set_unique_id(discovery_info.address)
        self._abort_if_unique_id_configured()
        self._discovery = discovery_info
        self.context["title_placeholders"] = {"name": discovery_info.name}
        return await self.async_step_bluetooth_confirm()

    async def async_step_bluetooth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before adding the discovered BMS."""
        info = self._discovery
        assert info is not None  # set by the bluetooth step
        protocol = bluetooth_protocol(info)
        if user_input is not None:
            return self.async_create_entry(
                title=info.name,
                data={
                    CONF_CONNECTION: Connection.BLUETOOTH.value,
                    CONF_ADDRESS: info.address,
                    CONF_PROTOCOL: protocol,
                },
            )
        self._set_confirm_only()
        return self.async_show_form(
            step_id="bluetooth_confirm",
            description_placeholders={
                "name": info.name,
                "address": info.address,
                "protocol": f"{protocol} – {get_protocol(protocol).description}",
            },
        )

    # -- reconfigure ------------------------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where the device is (port, speed, gateway); it must be the same device."""
        entry = self._get_reconfigure_entry()
        connection = Connection(entry.data[CONF_CONNECTION])
        if connection is Connection.BLUETOOTH:
            return self.async_abort(reason="reconfigure_bluetooth")
        failure: ProbeFailed | None = None
        if user_input is not None:
            updates = link_data(connection, user_input)
            link = {**entry.data, **updates}
            try:
                found = await probe(self.hass, link, entry.data[CONF_PROTOCOL])
            except ProbeFailed as err:
                failure = err
            except Exception:  # noqa: BLE001 - shown as "unknown", logged with its traceback
                LOGGER.exception("Unexpected error while probing %s", describe(link))
                failure = ProbeFailed("unknown")
            else:
                if entry.data.get(CONF_SERIAL):
                    # The entry's unique id is the serial number: the new link must reach it.
                    await self.async_set_unique_id(found.serial)
                    self._abort_if_unique_id_mismatch()
                return self.async_update_reload_and_abort(entry, data_updates=updates)
        paths = await _link_choices(self.hass, connection)
        schema = self.add_suggested_values_to_schema(
            vol.Schema(link_schema(connection, paths)), user_input or entry.data
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors={"base": failure.key} if failure else None,
            description_placeholders={"port": describe(entry.data), **_placeholders(failure)},
        )


def command_label(protocol: Protocol, command: str) -> str:
    """Label a command for a choice: its name and the library's description of it."""
    description = _TRAILING_NOTE.sub("", protocol.commands[command].description)
    return " – ".join(filter(None, (command, description)))


def setter_patterns(protocol: Protocol) -> dict[str, str]:
    """Offer the setter commands of ``protocol``, labelled (a name allows it with any value)."""
    return {
        name: command_label(protocol, name)
        for name, command in protocol.commands.items()
        if command.kind is Kind.SETTER and not name.startswith("_")
    }


def setter_pattern_error(protocol: Protocol, pattern: str) -> tuple[str, str] | None:
    """Return why ``pattern`` cannot allow a setter of ``protocol``, if it cannot.

    The reason is the options form's error key, with the characters at fault (if that is
    why). A pattern is refused when it is empty, holds a character no command is written with,
    or matches no setter: a literal pattern must be a setter's name or a whole setter command
    the protocol accepts (``POP``, ``POP02``); a glob must be able to match a text beginning
    with a setter's name (``POP0[0-2]``, ``PCP*``, ``*``), as the setter is sent.
    """
    text = pattern.strip()
    if not text:
        return "setter_pattern_empty", ""
    if wrong := dict.fromkeys(c for c in text if c not in SETTER_PATTERN_CHARACTERS):
        return "setter_pattern_characters", " ".join(wrong)
    names = list(setter_patterns(protocol))
    upper = text.upper()
    if _GLOB.isdisjoint(text):
        matched = upper in (name.upper() for name in names) or _sets(protocol, text)
    else:
        tokens = _glob_tokens(upper)
        # A ``[``, ``]`` or ``!`` standing for itself matches nothing a command holds.
        matched = _GLOB_LITERALS.isdisjoint(tokens) and any(
            # Something left for the parameter, or the bare name is a whole command.
            (left := _after(tokens, name.upper()))
            and (min(left) < len(tokens) or _sets(protocol, name))
            for name in names
        )
    return None if matched else ("setter_pattern_unmatched", "")


def _sets(protocol: Protocol, text: str) -> bool:
    """Tell whether ``text`` is a whole setter command ``protocol`` accepts (``POP02``)."""
    try:
        definition, _ = protocol.resolve(text)
    except MppSolarError:
        return False
    return definition.kind is Kind.SETTER and not definition.name.startswith("_")


def _glob_tokens(pattern: str) -> list[str]:
    """Split a glob into what each matches: ``*``, or one character (``?``, ``[0-2]``, ``P``).

    As :mod:`fnmatch` reads it: a ``[`` without its ``]`` is the character itself.
    """
    tokens: list[str] = []
    start = 0
    while start < len(pattern):
        end = start + 1
        if pattern[start] == "[":
            inner = end + (pattern[end : end + 1] == "!")
            inner += pattern[inner : inner + 1] == "]"
            close = pattern.find("]", inner)
            end = close + 1 if close >= 0 else end
        tokens.append(pattern[start:end])
        start = end
    return tokens


def _after(tokens: list[str], name: str) -> set[int]:
    """Return where in the glob ``tokens`` a match of a text beginning with ``name`` can be.

    Empty: the glob matches no such text. What follows the name (the parameter) is matched
    by the tokens from there on; it is not checked.
    """
    states = _past_stars({0}, tokens)
    for char in name:
        states = _past_stars(
            {
                index + (token != "*")
                for index in states
                if index < len(tokens)
                and ((token := tokens[index]) == "*" or fnmatchcase(char, token))
            },
            tokens,
        )
        if not states:
            break
    return states


def _past_stars(states: set[int], tokens: list[str]) -> set[int]:
    """Add to ``states`` (positions in ``tokens``) those reached by a ``*`` matching nothing."""
    reached = set(states)
    for index in sorted(states):
        while index < len(tokens) and tokens[index] == "*":
            index += 1
            reached.add(index)
    return reached


def inverter_choices(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, str]:
    """Offer the inverters ``entry``'s device may feed: the loaded inverter entries (by title).

    The one it is linked to stays offered while its entry exists, loaded or not.
    """
    linked = entry.options.get(CONF_INVERTER)
    return {
        other.entry_id: other.title
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id
        and (other.state is ConfigEntryState.LOADED or other.entry_id == linked)
        and is_inverter(get_protocol(other.data[CONF_PROTOCOL]))
    }


class MppSolarOptionsFlow(OptionsFlowWithReload):
    """Polling: intervals, which status commands, whether settings; the entry reloads on change.

    The command choices are the entry's protocol's: its status commands (offered when it has
    more than one; at least one must stay) and, when it has settings commands, whether to poll
    them. A status command left out is never sent: the entities of the values only it reports
    are not created, and those created before show as unavailable until it is polled again.
    Setter patterns are checked (:func:`setter_pattern_error`). A BMS, charger or shunt also
    chooses the inverter it feeds (its device then shows "Connected via" the inverter's).
    """

    #: What the polling step chose, while the bridge step asks for the outputs.
    _polling: dict[str, Any]

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the intervals (seconds) and what to poll."""
        entry = self.config_entry
        protocol = get_protocol(entry.data[CONF_PROTOCOL])
        errors: dict[str, str] = {}
        placeholders = {"protocol": protocol.id}
        if user_input is not None:
            if not user_input.get(CONF_STATUS_COMMANDS, protocol.status_commands):
                errors[CONF_STATUS_COMMANDS] = "no_status_commands"
            for pattern in user_input.get(CONF_ALLOWED_SETTERS, []):
                if refused := setter_pattern_error(protocol, pattern):
                    errors[CONF_ALLOWED_SETTERS] = refused[0]
                    placeholders |= {"pattern": pattern, "characters": refused[1]}
                    break
            if not errors:
                if user_input.pop(CONF_CONFIGURE_BRIDGE, False):
                    self._polling = user_input
                    return await self.async_step_bridge()
                return self._async_save(user_input)
        fields: dict[vol.Marker, Any] = {
            vol.Required(
                CONF_STATUS_INTERVAL, default=int(status_interval(entry).total_seconds())
            ): _number(STATUS_INTERVAL_MIN, STATUS_INTERVAL_MAX, "s"),
            vol.Required(
                CONF_SETTINGS_INTERVAL, default=int(settings_interval(entry).total_seconds())
            ): _number(SETTINGS_INTERVAL_MIN, SETTINGS_INTERVAL_MAX, "s"),
        }
        if len(protocol.status_commands) > 1:
            choices = {name: command_label(protocol, name) for name in protocol.status_commands}
            fields[
                vol.Required(
                    CONF_STATUS_COMMANDS, default=list(polled_status_commands(entry, protocol))
                )
            ] = SelectSelector(
                SelectSelectorConfig(
                    options=_options(choices), multiple=True, mode=SelectSelectorMode.LIST
                )
            )
        if protocol.settings_commands:
            fields[vol.Required(CONF_POLL_SETTINGS, default=polls_settings(entry))] = (
                BooleanSelector()
            )
        if setters := setter_patterns(protocol):
            # What the send_command action may send besides queries (none unless chosen).
            allowed = entry.options.get(CONF_ALLOWED_SETTERS)
            fields[
                vol.Optional(
                    CONF_ALLOWED_SETTERS,
                    description={"suggested_value": allowed} if allowed else None,
                )
            ] = SelectSelector(
                SelectSelectorConfig(
                    options=_options(setters),
                    multiple=True,
                    custom_value=True,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            )
        if not is_inverter(protocol):
            # A BMS, charger or shunt: the inverter it feeds ("Connected via" on its page).
            inverters = inverter_choices(self.hass, entry)
            linked = entry.options.get(CONF_INVERTER)
            fields[
                vol.Required(CONF_INVERTER, default=linked if linked in inverters else NO_INVERTER)
            ] = SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=NO_INVERTER, label="None"),
                        *_options(inverters),
                    ],
                    translation_key="inverter",
                    mode=SelectSelectorMode.DROPDOWN,
                )
            )
        # Bridge mode's outputs are set in a step of their own (bridge.py).
        fields[vol.Optional(CONF_CONFIGURE_BRIDGE)] = BooleanSelector()
        schema = vol.Schema(fields)
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors or None,
            description_placeholders=placeholders,
        )

    async def async_step_bridge(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which bridge outputs the polls feed, and where they deliver (bridge mode).

        Offered: the library's outputs that deliver somewhere (not the console ones). URLs,
        filters and the Prometheus directory are checked; an output's required setting too.
        """
        choices = await self.hass.async_add_executor_job(output_choices)
        errors: dict[str, str] = {}
        if user_input is not None:
            bridge = {
                key: value.strip() if isinstance(value, str) else value
                for key, value in user_input.items()
            }
            bridge = {key: value for key, value in bridge.items() if value not in ("", None)}
            bridge.setdefault(CONF_OUTPUTS, [])
            errors = await async_validate(self.hass, bridge)
            if not errors:
                return self._async_save({**self._polling, CONF_BRIDGE: bridge})
        current: Mapping[str, Any] = self.config_entry.options.get(CONF_BRIDGE) or {}
        fields: dict[vol.Marker, Any] = {
            vol.Optional(
                CONF_OUTPUTS,
                default=[name for name in current.get(CONF_OUTPUTS, []) if name in choices],
            ): SelectSelector(
                SelectSelectorConfig(
                    options=_options(choices), multiple=True, mode=SelectSelectorMode.LIST
                )
            ),
            vol.Optional(CONF_MQTT_HOST): TextSelector(),
            vol.Optional(CONF_MQTT_PORT): _number(1, 65535),
            vol.Optional(CONF_MQTT_USERNAME): TextSelector(),
            vol.Optional(CONF_MQTT_PASSWORD): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
            vol.Optional(CONF_MQTT_TOPIC): TextSelector(),
            vol.Optional(CONF_PROM_OUTPUT_DIR): TextSelector(),
            vol.Optional(CONF_PUSH_URL): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            vol.Optional(CONF_POSTGRES_URL): TextSelector(),
            vol.Optional(CONF_MONGO_URL): TextSelector(),
            vol.Optional(CONF_MONGO_DB): TextSelector(),
            vol.Optional(CONF_UDP_PORT): _number(1, 65535),
            vol.Optional(CONF_FILTER): TextSelector(),
            vol.Optional(CONF_EXCLFILTER): TextSelector(),
            # The web UI in the sidebar, behind Home Assistant's auth (web.py).
            vol.Optional(CONF_WEB_PANEL): BooleanSelector(),
        }
        schema = self.add_suggested_values_to_schema(vol.Schema(fields), user_input or current)
        return self.async_show_form(
            step_id="bridge",
            data_schema=schema,
            errors=errors or None,
            description_placeholders={"spool": str(spool_path(self.hass))},
        )

    def _async_save(self, user_input: dict[str, Any]) -> ConfigFlowResult:
        """Store the options (patterns stripped; no inverter: left out); link the device.

        The bridge outputs stay as they were unless the bridge step set them. The entry then
        reloads; its device shows the inverter chosen, or none.
        """
        options = dict(user_input)
        if CONF_BRIDGE not in options and CONF_BRIDGE in self.config_entry.options:
            options[CONF_BRIDGE] = self.config_entry.options[CONF_BRIDGE]
        if CONF_ALLOWED_SETTERS in options:
            options[CONF_ALLOWED_SETTERS] = [p.strip() for p in options[CONF_ALLOWED_SETTERS]]
        if CONF_INVERTER in options:
            if options[CONF_INVERTER] == NO_INVERTER:
                del options[CONF_INVERTER]
            async_link_inverter(self.hass, self.config_entry, options.get(CONF_INVERTER))
        return self.async_create_entry(data=options)
