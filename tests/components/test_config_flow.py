"""The config, reconfigure and options flows, against simulated devices on real links.

Devices are the library's simulators served over a real pseudo-terminal (the serial transport
opens it as it opens /dev/ttyUSB0), a TCP socket, a UDP socket, the simulated USB-HID bridge and
the simulated Bluetooth BMS (through ``connection.BLE_CLIENT_CLASS``). Only the operating system
is stood in for where a test cannot reach it: ``os.open`` refusing access (root ignores file
modes), an unexpected error, a USB-HID node; and the kernel's device tree for port listings.
Creating an entry sets it up: these tests use ``mock_setup_entry`` to keep to the flow, except
``test_serial_flow_sets_up_the_device`` and ``test_options_choose_what_is_polled`` (the polling
options seen from the device's side). Bluetooth discovery end to end: ``test_bluetooth.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
import contextlib
import errno
import json
import os
from pathlib import Path
import re
from typing import Any
from unittest.mock import AsyncMock

from homeassistant.config_entries import (
    SOURCE_BLUETOOTH,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.loader import async_get_integration
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import serialx.platforms.serial_linux
import voluptuous as vol

from custom_components.mppsolar import config_flow, connection
from custom_components.mppsolar.catalogue import catalogue
from custom_components.mppsolar.const import (
    CONF_ADDRESS,
    CONF_ALLOWED_SETTERS,
    CONF_BAUD,
    CONF_CONFIGURE_BRIDGE,
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_FIRMWARE,
    CONF_HOST,
    CONF_INVERTER,
    CONF_MODEL,
    CONF_POLL_SETTINGS,
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_SERIAL,
    CONF_SETTINGS_INTERVAL,
    CONF_STATUS_COMMANDS,
    CONF_STATUS_INTERVAL,
    DOMAIN,
    Connection,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import Faults, create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.ble import SimulatedBleDevice
from mppsolar_lib.simulator.hid import SimulatedHidDevice
from mppsolar_lib.simulator.serve import PtyServer, TcpServer

from .simulated import DALY_SERVICE, advertise, entities, next_poll, served_entry, service_info

INTEGRATION = Path(config_flow.__file__).parent
STRINGS: dict[str, Any] = json.loads((INTEGRATION / "strings.json").read_text(encoding="utf-8"))
GERMAN: dict[str, Any] = json.loads(
    (INTEGRATION / "translations" / "de.json").read_text(encoding="utf-8")
)
FRENCH: dict[str, Any] = json.loads(
    (INTEGRATION / "translations" / "fr.json").read_text(encoding="utf-8")
)
#: Every wait on a device or a flow task is bounded by this (seconds).
BOUND = 60
#: What the PI30 simulator reports.
PI30_SERIAL = "9293333010501"
PI30_MODEL = "MKS2-8000"
PI30_FIRMWARE = "00072.70"
#: A NAK as a PI30 unit sends it (CRC included).
NAK = b"(NAK\x73\x73\r"


class RefusingSimulator(Simulator):
    """A unit that answers NAK to everything (the wrong protocol, or a locked firmware)."""

    def handle(self, request: bytes) -> bytes | None:
        """Refuse."""
        return NAK


class GarblingSimulator(Simulator):
    """A device whose every answer arrives garbled (the wrong speed, a noisy line)."""

    def handle(self, request: bytes) -> bytes | None:
        """Answer a frame no protocol can read."""
        return b"(hello\r"


class UdpServer(asyncio.DatagramProtocol):
    """A simulator behind a UDP port, as a UDP serial gateway forwards a serial line."""

    def __init__(self, simulator: Simulator) -> None:
        """Answer each request of ``simulator``'s framing with one datagram."""
        self.simulator = simulator
        self.buffer = b""
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket to answer on."""
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """Answer the complete requests received."""
        requests, self.buffer = self.simulator.split_requests(self.buffer + data)
        for request in requests:
            answer = self.simulator.handle(request)
            if answer and self.transport is not None:
                self.transport.sendto(answer, addr)


# -- helpers --------------------------------------------------------------------------------------


def shown(section: str, key: str, placeholders: Mapping[str, str] | None = None) -> str:
    """Return the English text of ``config.<section>.<key>`` as the user sees it.

    Fails when the string is missing or uses a placeholder the flow did not give.
    """
    text: str = STRINGS["config"][section][key]
    return text.format(**(placeholders or {}))


def placeholders(result: ConfigFlowResult) -> Mapping[str, str]:
    """Return the placeholders a step shows its texts with."""
    given: Mapping[str, str] | None = result["description_placeholders"]
    assert given is not None
    return given


def error_shown(result: ConfigFlowResult) -> str:
    """Return the text of the form's base error, with the flow's placeholders."""
    assert result["type"] is FlowResultType.FORM
    errors = result["errors"]
    assert errors is not None
    return shown("error", errors["base"], placeholders(result))


async def settle(hass: HomeAssistant) -> None:
    """Let the flow's probe task (real I/O with a simulator) finish, bounded."""
    async with asyncio.timeout(BOUND):
        await hass.async_block_till_done()


async def finish_probe(hass: HomeAssistant, result: ConfigFlowResult) -> ConfigFlowResult:
    """Wait out the progress step and return the step it leads to."""
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    await settle(hass)
    return await hass.config_entries.flow.async_configure(result["flow_id"])


async def start(hass: HomeAssistant, link: str) -> ConfigFlowResult:
    """Start a user flow and choose ``link`` in the menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    return await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": link})


async def submit(
    hass: HomeAssistant, result: ConfigFlowResult, data: dict[str, Any]
) -> ConfigFlowResult:
    """Submit ``data`` to a form that probes, and return where the probe leads."""
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    return await finish_probe(hass, result)


def options(result: ConfigFlowResult, field: str) -> list[dict[str, str]]:
    """Return a select field's options as the frontend gets them."""
    schema = result["data_schema"]
    assert schema is not None
    for key, selector in schema.schema.items():
        if key == field:
            config: dict[str, Any] = selector.config
            return list(config["options"])
    raise AssertionError(f"no field {field}")


def default(result: ConfigFlowResult, field: str) -> Any:
    """Return a field's default value."""
    schema = result["data_schema"]
    assert schema is not None
    for key in schema.schema:
        if key == field:
            return key.default()
    raise AssertionError(f"no field {field}")


def refuse_open(
    monkeypatch: pytest.MonkeyPatch, path: str, error: Callable[[str], BaseException]
) -> None:
    """Make the OS's ``open`` of ``path`` raise ``error(path)`` (other paths open as usual)."""
    real_open = os.open

    def fake_open(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(name) == path:
            raise error(path)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


def opened(path: str) -> int:
    """Count this process's file descriptors open on ``path``."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            count += str(fd.readlink()) == path
    return count


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
async def inverter() -> AsyncIterator[PtyServer]:
    """Serve a PI30 inverter on a real pty."""
    async with PtyServer(create_simulator("pi30", seed=1)) as server:
        yield server


@pytest.fixture
async def refusing() -> AsyncIterator[PtyServer]:
    """Serve a unit that NAKs everything on a real pty."""
    async with PtyServer(RefusingSimulator("pi30")) as server:
        yield server


@pytest.fixture
async def silent() -> AsyncIterator[PtyServer]:
    """Serve a PI30 inverter that never answers (a dead unit, the wrong port or speed)."""
    async with PtyServer(create_simulator("pi30"), Faults(silence=1.0)) as server:
        yield server


@pytest.fixture
async def gateway(socket_enabled: None) -> AsyncIterator[TcpServer]:
    """Serve a PI30 inverter behind a TCP serial gateway (on the loopback interface)."""
    async with TcpServer(create_simulator("pi30", seed=1)) as server:
        yield server


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the port listings (the flow's and serialx's) at an empty /dev and /sys."""
    root = tmp_path.resolve()
    for folder in ("dev", "sys"):
        (root / folder).mkdir()
    monkeypatch.setattr(config_flow, "DEV_ROOT", root / "dev")
    monkeypatch.setattr(config_flow, "SYSFS_ROOT", root / "sys")
    monkeypatch.setattr(serialx.platforms.serial_linux, "DEV_ROOT", root / "dev")
    monkeypatch.setattr(serialx.platforms.serial_linux, "SYS_ROOT", root / "sys")
    return root


@pytest.fixture
def bms(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedBleDevice]:
    """Put a JK BMS (firmware 11+) on the air, where the integration's Bluetooth links go."""
    device = SimulatedBleDevice(create_simulator("jk02_32", seed=1), name="JK-B2A24S15P")
    monkeypatch.setattr(connection, "BLE_CLIENT_CLASS", device.client_class)
    yield device
    device.close()


def plug_usb_serial(tree: Path) -> str:
    """Add a Prolific USB-serial adapter and an on-board UART; return the adapter's by-id path."""
    sys_root, dev_root = tree / "sys", tree / "dev"
    usb = sys_root / "devices/pci0000:00/usb1/1-1"
    interface = usb / "1-1:1.0"
    port = interface / "ttyUSB0"
    (port / "driver").mkdir(parents=True)
    (sys_root / "bus/usb-serial").mkdir(parents=True)
    (port / "subsystem").symlink_to(sys_root / "bus/usb-serial")
    (port / "port_number").write_text("0\n")
    (interface / "bInterfaceNumber").write_text("00\n")
    for name, value in {
        "idVendor": "067b",
        "idProduct": "2303",
        "bcdDevice": "0300",
        "manufacturer": "Prolific Technology Inc.",
        "product": "USB-Serial Controller",
    }.items():
        (usb / name).write_text(f"{value}\n")
    uart = sys_root / "devices/platform/serial8250/tty/ttyS0"
    (uart / "driver").mkdir(parents=True)
    (sys_root / "bus/platform").mkdir(parents=True)
    (uart / "subsystem").symlink_to(sys_root / "bus/platform")
    for name, target in (("ttyUSB0", port), ("ttyS0", uart)):
        node = sys_root / "class/tty" / name
        node.mkdir(parents=True)
        (node / "device").symlink_to(target)
        (dev_root / name).write_text("")
    (sys_root / "class/tty/ttyS0/type").write_text("4\n")  # a 16550A
    by_id = dev_root / "serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0"
    by_id.parent.mkdir(parents=True)
    by_id.symlink_to(dev_root / "ttyUSB0")
    return str(by_id)


def plug_hidraw(tree: Path, name: str, uevent: str | None) -> str:
    """Add a /dev/hidraw node with ``uevent`` in sysfs (``None``: none readable)."""
    node = tree / "dev" / name
    node.write_text("")
    device = tree / "sys/class/hidraw" / name / "device"
    device.mkdir(parents=True)
    if uevent is not None:
        (device / "uevent").write_text(uevent)
    return str(node)


# -- the user flow: serial ------------------------------------------------------------------------


async def test_menu_offers_every_link(hass: HomeAssistant) -> None:
    """The first step asks how the device is connected, with a label for each way."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["serial", "hidraw", "tcp", "udp", "ble"]
    labels = STRINGS["config"]["step"]["user"]["menu_options"]
    assert set(labels) == set(result["menu_options"])


async def test_serial_detects_and_creates_the_entry(
    hass: HomeAssistant, inverter: PtyServer, mock_setup_entry: AsyncMock
) -> None:
    """Auto-detection over a real pty: progress, then what was found, then the entry."""
    result = await start(hass, "serial")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "serial"
    assert result["errors"] is None
    assert default(result, CONF_BAUD) == 2400
    assert default(result, CONF_PROTOCOL) == "auto"
    protocols = [option["value"] for option in options(result, CONF_PROTOCOL)]
    assert protocols[0] == "auto"
    assert {"pi30", "pi18", "daly", "jk232", "ved"} <= set(protocols)
    assert "jk02_32" not in protocols  # Bluetooth only

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "detect"
    assert shown("progress", "detect", placeholders(result)).startswith(
        f"Asking the device on {inverter.path}"
    )

    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    text = STRINGS["config"]["step"]["confirm"]["description"].format(**placeholders(result))
    assert f"Found on {inverter.path}" in text
    assert "Protocol: pi30 – Voltronic PI30" in text
    assert f"Model: {PI30_MODEL}" in text
    assert f"Firmware: {PI30_FIRMWARE}" in text
    assert f"Serial number: {PI30_SERIAL}" in text

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"{PI30_MODEL} {PI30_SERIAL}"
    assert result["data"] == {
        CONF_CONNECTION: Connection.SERIAL,
        CONF_DEVICE: inverter.path,
        CONF_BAUD: 2400,
        CONF_PROTOCOL: "pi30",
        CONF_MODEL: PI30_MODEL,
        CONF_FIRMWARE: PI30_FIRMWARE,
        CONF_SERIAL: PI30_SERIAL,
    }
    assert result["result"].unique_id == PI30_SERIAL
    assert len(mock_setup_entry.mock_calls) == 1


async def test_serial_flow_sets_up_the_device(hass: HomeAssistant, inverter: PtyServer) -> None:
    """The entry the flow creates works: it loads and its sensors read the inverter."""
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)

    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    registered = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert any(item.unique_id == f"{PI30_SERIAL}_ac_input_voltage" for item in registered)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await settle(hass)


async def test_serial_ports_are_listed(hass: HomeAssistant, tree: Path) -> None:
    """Ports come from serialx: the adapter by its stable by-id path, first and the default."""
    by_id = plug_usb_serial(tree)

    result = await start(hass, "serial")

    assert options(result, CONF_DEVICE) == [
        {
            "value": by_id,
            "label": f"{by_id} (Prolific Technology Inc., USB-Serial Controller, 067b:2303)",
        },
        {"value": str(tree / "dev/ttyS0"), "label": str(tree / "dev/ttyS0")},
    ]
    assert default(result, CONF_DEVICE) == by_id


async def test_serial_chosen_protocol_is_tested(
    hass: HomeAssistant, inverter: PtyServer, mock_setup_entry: AsyncMock
) -> None:
    """A chosen protocol is tested with a status command; the identity is still read."""
    result = await start(hass, "serial")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "pi30"}
    )
    assert result["progress_action"] == "test"
    assert shown("progress", "test", placeholders(result)) == (
        f"Testing protocol pi30 on {inverter.path}."
    )

    result = await finish_probe(hass, result)
    assert result["step_id"] == "confirm"
    assert placeholders(result)["serial"] == PI30_SERIAL
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PROTOCOL] == "pi30"
    assert result["result"].unique_id == PI30_SERIAL


async def test_device_without_serial_number_gets_its_link_as_id(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    """A Daly BMS reports no serial number: the unique id is the link it was added on."""
    async with PtyServer(create_simulator("daly", seed=1)) as server:
        result = await start(hass, "serial")
        result = await submit(
            hass, result, {CONF_DEVICE: server.path, CONF_BAUD: 9600, CONF_PROTOCOL: "daly"}
        )
        assert result["step_id"] == "confirm"
        assert placeholders(result)["serial"] == "—"
        assert placeholders(result)["model"] == "—"
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"DALY ({server.path})"
    assert result["result"].unique_id == f"serial:{server.path}"
    assert result["data"] == {
        CONF_CONNECTION: Connection.SERIAL,
        CONF_DEVICE: server.path,
        CONF_BAUD: 9600,
        CONF_PROTOCOL: "daly",
    }


async def test_identity_lost_after_the_test_falls_back(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    """The status command answered but the link dropped while reading the identity."""
    faults = Faults(script=("none", "disconnect"))
    async with PtyServer(create_simulator("pi30"), faults) as server:
        path = server.path
        result = await start(hass, "serial")
        result = await submit(
            hass, result, {CONF_DEVICE: path, CONF_BAUD: 2400, CONF_PROTOCOL: "pi30"}
        )
        assert result["step_id"] == "confirm"
        assert placeholders(result)["serial"] == "—"
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["result"].unique_id == f"serial:{path}"


async def test_known_device_on_another_port_updates_the_entry(
    hass: HomeAssistant, inverter: PtyServer, mock_setup_entry: AsyncMock
) -> None:
    """The same inverter (same serial number) found on another port: its entry follows it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PI30_SERIAL,
        data={
            CONF_CONNECTION: Connection.SERIAL,
            CONF_DEVICE: "/dev/ttyUSB7",
            CONF_BAUD: 2400,
            CONF_PROTOCOL: "pi30",
        },
    )
    entry.add_to_hass(hass)

    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert shown("abort", "already_configured")
    assert entry.data[CONF_DEVICE] == inverter.path
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# -- errors ---------------------------------------------------------------------------------------


async def test_missing_port_cannot_connect(hass: HomeAssistant, tmp_path: Path) -> None:
    """A port that does not exist: the form comes back saying so, with what is present."""
    missing = str(tmp_path / "ttyUSB9")
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: missing, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )

    assert result["step_id"] == "serial"
    assert result["errors"] == {"base": "cannot_connect"}
    text = error_shown(result)
    assert text.startswith(f"Cannot open the connection: {missing}: no such serial port")
    # The user's input comes back with the error.
    schema = result["data_schema"]
    assert schema is not None
    suggested = {str(key): key.description for key in schema.schema}
    assert suggested[CONF_DEVICE] == {"suggested_value": missing}


async def test_permission_denied_names_the_fix(
    hass: HomeAssistant, inverter: PtyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS refuses the port: the error says how to get access (the group to join)."""
    refuse_open(
        monkeypatch,
        inverter.path,
        lambda path: PermissionError(errno.EACCES, "Permission denied", path),
    )
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )

    assert result["errors"] == {"base": "permission_denied"}
    text = error_shown(result)
    assert text.startswith(f"Home Assistant may not open the port. {inverter.path}: permission")
    assert re.search(r"group|udev rule", text)


async def test_unit_that_naks_everything(hass: HomeAssistant, refusing: PtyServer) -> None:
    """Detection: every probe refused. The error says so and what to do."""
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: refusing.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )

    assert result["errors"] == {"base": "nak_to_everything"}
    text = error_shown(result)
    assert "refuses every command (NAK)" in text
    assert "QPI with CRC: paren_nak" in text


async def test_chosen_protocol_refused(hass: HomeAssistant, refusing: PtyServer) -> None:
    """The chosen protocol's status command is refused: the same error."""
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: refusing.path, CONF_BAUD: 2400, CONF_PROTOCOL: "pi30"}
    )

    assert result["errors"] == {"base": "nak_to_everything"}
    assert "QPIGS: the device refused the command" in error_shown(result)


async def test_nothing_answers_detection(hass: HomeAssistant, silent: PtyServer) -> None:
    """Detection hears nothing at all."""
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: silent.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )

    assert result["errors"] == {"base": "no_answer"}
    assert error_shown(result).startswith("Nothing answered. Check the power")


async def test_nothing_answers_the_chosen_protocol(hass: HomeAssistant, silent: PtyServer) -> None:
    """The chosen protocol's status command times out (after the Device's retries)."""
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: silent.path, CONF_BAUD: 2400, CONF_PROTOCOL: "pi30"}
    )

    assert result["errors"] == {"base": "no_answer"}
    assert "no valid answer after 3 attempts" in error_shown(result)


async def test_answers_no_protocol_knows(hass: HomeAssistant) -> None:
    """Something answers, but nothing detection can read (a BMS, a wrong speed)."""
    async with PtyServer(GarblingSimulator("pi30")) as server:
        result = await start(hass, "serial")
        result = await submit(
            hass, result, {CONF_DEVICE: server.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
        )

    assert result["errors"] == {"base": "unrecognized"}
    assert "QPI with CRC: unreadable (CRCError)" in error_shown(result)


async def test_unexpected_error_is_logged(
    hass: HomeAssistant,
    inverter: PtyServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error nobody expected: "unknown", with the traceback in the log."""
    refuse_open(monkeypatch, inverter.path, lambda path: RuntimeError("kernel says no"))
    result = await start(hass, "serial")
    result = await submit(
        hass, result, {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )

    assert result["errors"] == {"base": "unknown"}
    assert error_shown(result) == "Unexpected error; see the log."
    assert f"Unexpected error while probing {inverter.path}" in caplog.text
    assert "RuntimeError: kernel says no" in caplog.text


async def test_error_then_success(
    hass: HomeAssistant, inverter: PtyServer, tmp_path: Path, mock_setup_entry: AsyncMock
) -> None:
    """After an error the user corrects the port and the flow goes on."""
    result = await start(hass, "serial")
    result = await submit(
        hass,
        result,
        {CONF_DEVICE: str(tmp_path / "nothing"), CONF_BAUD: 2400, CONF_PROTOCOL: "auto"},
    )
    assert result["errors"] == {"base": "cannot_connect"}

    result = await submit(
        hass, result, {CONF_DEVICE: inverter.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_closing_the_flow_while_probing_closes_the_port(
    hass: HomeAssistant, silent: PtyServer
) -> None:
    """The user closes the dialog during detection: the probe stops, the port is released."""
    before = opened(silent.path)  # the server's own side
    result = await start(hass, "serial")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: silent.path, CONF_BAUD: 2400, CONF_PROTOCOL: "auto"}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    async with asyncio.timeout(BOUND):
        while opened(silent.path) == before:  # the probe has the port open
            await asyncio.sleep(0.01)

    hass.config_entries.flow.async_abort(result["flow_id"])
    await settle(hass)

    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    async with asyncio.timeout(BOUND):  # serialx closes the port a moment later
        while opened(silent.path) != before:
            await asyncio.sleep(0.01)


# -- USB-HID ----------------------------------------------------------------------------------------


async def test_hidraw_lists_voltronic_first_and_detects(
    hass: HomeAssistant,
    tree: Path,
    monkeypatch: pytest.MonkeyPatch,
    mock_setup_entry: AsyncMock,
) -> None:
    """USB-HID nodes come with vendor/product from sysfs, Voltronic's (0665:5161) first."""
    keyboard = plug_hidraw(
        tree, "hidraw0", "DRIVER=hid-generic\nHID_ID=0003:0000046D:0000C31C\nHID_NAME=Logitech\n"
    )
    inverter = plug_hidraw(
        tree, "hidraw1", "HID_ID=0003:00000665:00005161\nHID_NAME=Cypress USB to Serial\n"
    )
    odd = plug_hidraw(tree, "hidraw2", "HID_ID=garbled\n")
    bad_ids = plug_hidraw(tree, "hidraw3", "HID_ID=0003:zz:yy\n")
    unreadable = plug_hidraw(tree, "hidraw10", None)
    usb = SimulatedHidDevice(create_simulator("pi30", seed=1), path=inverter)
    real_open = os.open

    def open_node(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        # The kernel's hidraw node is the simulated USB-HID bridge.
        if os.fspath(name) == inverter:
            return usb.opener()
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_node)

    result = await start(hass, "hidraw")
    assert options(result, CONF_DEVICE) == [
        {"value": inverter, "label": f"{inverter} (Cypress USB to Serial, 0665:5161)"},
        {"value": keyboard, "label": f"{keyboard} (Logitech, 046d:c31c)"},
        {"value": odd, "label": odd},
        {"value": bad_ids, "label": bad_ids},
        {"value": unreadable, "label": unreadable},
    ]
    assert default(result, CONF_DEVICE) == inverter

    result = await submit(hass, result, {CONF_DEVICE: inverter, CONF_PROTOCOL: "auto"})
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    usb.close()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CONNECTION] == Connection.HIDRAW
    assert result["data"][CONF_DEVICE] == inverter
    assert CONF_BAUD not in result["data"]
    assert result["result"].unique_id == PI30_SERIAL


async def test_hidraw_nothing_present(hass: HomeAssistant, tree: Path, tmp_path: Path) -> None:
    """No USB-HID device: the path can still be typed; a wrong one says so."""
    result = await start(hass, "hidraw")
    assert options(result, CONF_DEVICE) == []

    missing = str(tmp_path / "hidraw9")
    result = await submit(hass, result, {CONF_DEVICE: missing, CONF_PROTOCOL: "auto"})
    assert result["step_id"] == "hidraw"
    assert result["errors"] == {"base": "cannot_connect"}
    assert "no such USB-HID device" in error_shown(result)


# -- network gateways -------------------------------------------------------------------------------


async def test_tcp_gateway(
    hass: HomeAssistant, gateway: TcpServer, mock_setup_entry: AsyncMock
) -> None:
    """A PI30 behind a TCP gateway is detected; host and port make the entry."""
    result = await start(hass, "tcp")
    assert result["step_id"] == "tcp"
    result = await submit(
        hass,
        result,
        {CONF_HOST: " 127.0.0.1 ", CONF_PORT: gateway.port, CONF_PROTOCOL: "auto"},
    )
    assert placeholders(result)["port"] == f"127.0.0.1:{gateway.port}"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_CONNECTION: Connection.TCP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: gateway.port,
        CONF_PROTOCOL: "pi30",
        CONF_MODEL: PI30_MODEL,
        CONF_FIRMWARE: PI30_FIRMWARE,
        CONF_SERIAL: PI30_SERIAL,
    }


@pytest.mark.usefixtures("socket_enabled")
async def test_tcp_refused(hass: HomeAssistant, unused_tcp_port: int) -> None:
    """Nothing listens on the gateway's port: cannot connect."""
    result = await start(hass, "tcp")
    result = await submit(
        hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: unused_tcp_port, CONF_PROTOCOL: "pi30"}
    )

    assert result["step_id"] == "tcp"
    assert result["errors"] == {"base": "cannot_connect"}
    assert f"127.0.0.1:{unused_tcp_port}" in error_shown(result)


async def test_gateway_host_missing(hass: HomeAssistant) -> None:
    """A host of blanks: the library says which form it needs."""
    result = await start(hass, "tcp")
    result = await submit(hass, result, {CONF_HOST: "  ", CONF_PORT: 8899, CONF_PROTOCOL: "auto"})

    assert result["errors"] == {"base": "cannot_connect"}
    assert "is not host:port" in error_shown(result)


@pytest.mark.usefixtures("socket_enabled")
async def test_udp_gateway(hass: HomeAssistant, mock_setup_entry: AsyncMock) -> None:
    """A PI30 behind a UDP gateway, tested with the chosen protocol."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpServer(create_simulator("pi30", seed=1)), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        result = await start(hass, "udp")
        assert result["step_id"] == "udp"
        result = await submit(
            hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: port, CONF_PROTOCOL: "pi30"}
        )
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    finally:
        transport.close()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CONNECTION] == Connection.UDP
    assert result["data"][CONF_PORT] == port
    assert result["result"].unique_id == PI30_SERIAL


# -- Bluetooth ---------------------------------------------------------------------------------------


@pytest.fixture
async def matchers(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return the manifest's Bluetooth matchers (what the Bluetooth step filters with)."""
    integration = await async_get_integration(hass, DOMAIN)
    found: list[dict[str, Any]] = integration.manifest.get("bluetooth") or []
    assert found, "manifest.json has no Bluetooth matchers: the Bluetooth step would list nothing"
    return found


@pytest.mark.usefixtures("enable_bluetooth", "matchers")
async def test_bluetooth_user_step_lists_and_tests(
    hass: HomeAssistant, bms: SimulatedBleDevice, mock_setup_entry: AsyncMock
) -> None:
    """Bluetooth: the BMSs the stack has seen are offered; the chosen one is tested."""
    advertise(hass, service_info(bms))
    await settle(hass)

    result = await start(hass, "ble")
    assert result["step_id"] == "ble"
    assert options(result, CONF_ADDRESS) == [
        {"value": bms.address, "label": f"JK-B2A24S15P ({bms.address})"}
    ]
    assert [option["value"] for option in options(result, CONF_PROTOCOL)] == [
        "auto",
        "daly",
        "daly40",
        "jk02",
        "jk02_32",
        "jk04",
        "jkv11",
    ]

    result = await submit(hass, result, {CONF_ADDRESS: bms.address, CONF_PROTOCOL: "auto"})
    assert result["step_id"] == "confirm"
    assert placeholders(result)["protocol"].startswith("jk02_32 – JK BMS")
    serial = placeholders(result)["serial"]
    assert serial != "—"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "JK-B2A24S15P"
    assert result["result"].unique_id == bms.address
    assert result["data"][CONF_CONNECTION] == Connection.BLUETOOTH
    assert result["data"][CONF_ADDRESS] == bms.address
    assert result["data"][CONF_PROTOCOL] == "jk02_32"
    assert result["data"][CONF_SERIAL] == serial


@pytest.mark.usefixtures("enable_bluetooth", "matchers")
async def test_bluetooth_layout_comes_from_the_records(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, mock_setup_entry: AsyncMock
) -> None:
    """An older JK (24-cell records) chosen as "auto": its records say jk02."""
    old = SimulatedBleDevice(create_simulator("jk02", seed=1), name="JK-B2A8S20P")
    monkeypatch.setattr(connection, "BLE_CLIENT_CLASS", old.client_class)
    advertise(hass, service_info(old))
    await settle(hass)

    result = await start(hass, "ble")
    result = await submit(hass, result, {CONF_ADDRESS: old.address, CONF_PROTOCOL: "auto"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    old.close()

    assert result["data"][CONF_PROTOCOL] == "jk02"


@pytest.mark.usefixtures("enable_bluetooth", "matchers")
async def test_bluetooth_bms_refuses_the_connection(
    hass: HomeAssistant, bms: SimulatedBleDevice
) -> None:
    """The BMS is busy (a phone app holds it): cannot connect, shown on the Bluetooth form."""
    advertise(hass, service_info(bms))
    await settle(hass)
    bms.refuse_connect = "device busy"

    result = await start(hass, "ble")
    result = await submit(hass, result, {CONF_ADDRESS: bms.address, CONF_PROTOCOL: "jk02_32"})

    assert result["step_id"] == "ble"
    assert result["errors"] == {"base": "cannot_connect"}
    assert "cannot connect" in error_shown(result)


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_nothing_seen(hass: HomeAssistant) -> None:
    """No JK or Daly BMS in range: the flow ends saying so."""
    result = await start(hass, "ble")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"
    assert "No JK or Daly BMS" in shown("abort", "no_devices_found")


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_configured_devices_are_not_offered(
    hass: HomeAssistant, bms: SimulatedBleDevice
) -> None:
    """A BMS already added is not offered again."""
    MockConfigEntry(domain=DOMAIN, unique_id=bms.address, data={}).add_to_hass(hass)
    advertise(hass, service_info(bms))
    await settle(hass)

    result = await start(hass, "ble")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_discovery(
    hass: HomeAssistant, bms: SimulatedBleDevice, mock_setup_entry: AsyncMock
) -> None:
    """A discovered JK BMS: confirm with its name, then the entry (protocol jk02_32)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=service_info(bms)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "bluetooth_confirm"
    shown_with = placeholders(result)
    assert (
        STRINGS["config"]["step"]["bluetooth_confirm"]["description"]
        .format(**shown_with)
        .startswith(f"Add JK-B2A24S15P ({bms.address}), protocol jk02_32")
    )
    flows = hass.config_entries.flow.async_progress()
    assert flows[0]["context"]["title_placeholders"] == {"name": "JK-B2A24S15P"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "JK-B2A24S15P"
    assert result["result"].unique_id == bms.address
    assert result["data"] == {
        CONF_CONNECTION: Connection.BLUETOOTH,
        CONF_ADDRESS: bms.address,
        CONF_PROTOCOL: "jk02_32",
    }


@pytest.mark.parametrize(
    ("service_uuids", "manufacturer_data", "name"),
    [
        ([DALY_SERVICE], {}, "BMS-1234"),
        ([], {}, "DL-40D63C2F1234"),
        ([], {0x0302: b"\x00"}, "BMS-5678"),
    ],
)
@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_discovery_of_a_daly(
    hass: HomeAssistant,
    mock_setup_entry: AsyncMock,
    service_uuids: list[str],
    manufacturer_data: dict[int, bytes],
    name: str,
) -> None:
    """A Daly module (by service, name or manufacturer id) gets the daly protocol."""
    daly = SimulatedBleDevice(create_simulator("daly"), name=name, address="AA:BB:CC:DD:EE:01")
    info = service_info(daly, service_uuids=service_uuids, manufacturer_data=manufacturer_data)
    daly.close()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=info
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["data"][CONF_PROTOCOL] == "daly"


@pytest.mark.usefixtures("enable_bluetooth")
async def test_bluetooth_discovery_of_a_known_device(
    hass: HomeAssistant, bms: SimulatedBleDevice
) -> None:
    """A BMS already configured is not offered again."""
    MockConfigEntry(domain=DOMAIN, unique_id=bms.address, data={}).add_to_hass(hass)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=service_info(bms)
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# -- reconfigure ---------------------------------------------------------------------------------


def pi30_entry(device: str, **data: Any) -> MockConfigEntry:
    """Return an entry for the PI30 simulator, last seen on ``device``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{PI30_MODEL} {PI30_SERIAL}",
        unique_id=data.pop("unique_id", PI30_SERIAL),
        data={
            CONF_CONNECTION: Connection.SERIAL,
            CONF_DEVICE: device,
            CONF_BAUD: 2400,
            CONF_PROTOCOL: "pi30",
            CONF_SERIAL: PI30_SERIAL,
            **data,
        },
    )


async def test_reconfigure_moves_the_device(
    hass: HomeAssistant, inverter: PtyServer, mock_setup_entry: AsyncMock
) -> None:
    """The inverter moved to another port: the same serial number is found there."""
    entry = pi30_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert "set up on /dev/ttyUSB7" in STRINGS["config"]["step"]["reconfigure"][
        "description"
    ].format(**placeholders(result))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: inverter.path, CONF_BAUD: 2400}
    )
    await settle(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_DEVICE] == inverter.path
    assert entry.data[CONF_PROTOCOL] == "pi30"


async def test_reconfigure_to_another_device(hass: HomeAssistant, inverter: PtyServer) -> None:
    """The port now reaches a unit with another serial number: refused."""
    entry = pi30_entry("/dev/ttyUSB7", unique_id="111", **{CONF_SERIAL: "111"})
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: inverter.path, CONF_BAUD: 2400}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert shown("abort", "unique_id_mismatch")
    assert entry.data[CONF_DEVICE] == "/dev/ttyUSB7"


@pytest.mark.usefixtures("socket_enabled")
async def test_reconfigure_without_serial_number(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    """A device without a serial number keeps its unique id; the protocol must answer."""
    async with TcpServer(create_simulator("daly", seed=1)) as server:
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id="tcp:10.0.0.9:8899",
            data={
                CONF_CONNECTION: Connection.TCP,
                CONF_HOST: "10.0.0.9",
                CONF_PORT: 8899,
                CONF_PROTOCOL: "daly",
            },
        )
        entry.add_to_hass(hass)
        result = await entry.start_reconfigure_flow(hass)
        assert {str(key) for key in result["data_schema"].schema} == {CONF_HOST, CONF_PORT}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: server.host, CONF_PORT: server.port}
        )
        await settle(hass)

    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == server.port
    assert entry.unique_id == "tcp:10.0.0.9:8899"


async def test_reconfigure_errors_stay_on_the_form(
    hass: HomeAssistant,
    inverter: PtyServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A port that cannot be used, or an unexpected error: the form again, with the error."""
    entry = pi30_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)
    missing = str(tmp_path / "ttyUSB8")

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: missing, CONF_BAUD: 2400}
    )
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "cannot_connect"}
    assert "no such serial port" in error_shown(result)

    refuse_open(monkeypatch, inverter.path, lambda path: RuntimeError("kernel says no"))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: inverter.path, CONF_BAUD: 2400}
    )
    assert result["errors"] == {"base": "unknown"}
    assert "RuntimeError: kernel says no" in caplog.text
    assert entry.data[CONF_DEVICE] == "/dev/ttyUSB7"


async def test_reconfigure_bluetooth_is_not_offered(hass: HomeAssistant) -> None:
    """A Bluetooth device is its address: nothing to change."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="C8:47:8C:00:00:01",
        data={
            CONF_CONNECTION: Connection.BLUETOOTH,
            CONF_ADDRESS: "C8:47:8C:00:00:01",
            CONF_PROTOCOL: "jk02_32",
        },
    )
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_bluetooth"
    assert shown("abort", "reconfigure_bluetooth")


# -- options ---------------------------------------------------------------------------------------


def options_entry(protocol: str = "pi30", **data: Any) -> MockConfigEntry:
    """Return an entry of ``protocol`` on a serial port (nothing behind it: not set up)."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id="x",
        data={
            CONF_CONNECTION: Connection.SERIAL,
            CONF_DEVICE: "/dev/ttyUSB0",
            CONF_PROTOCOL: protocol,
            **data,
        },
    )


@pytest.mark.parametrize(
    ("connection_data", "status"),
    [
        ({CONF_CONNECTION: Connection.SERIAL, CONF_DEVICE: "/dev/ttyUSB0"}, 10),
        ({CONF_CONNECTION: Connection.BLUETOOTH, CONF_ADDRESS: "C8:47:8C:00:00:01"}, 30),
    ],
)
async def test_options_set_the_polling_intervals(
    hass: HomeAssistant,
    mock_setup_entry: AsyncMock,
    connection_data: dict[str, Any],
    status: int,
) -> None:
    """Defaults per connection (serial 10 s, Bluetooth 30 s; settings 5 min); saved and reloaded.

    What is polled defaults to everything: every status command, and the settings.
    """
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="x", data={**connection_data, CONF_PROTOCOL: "pi30"}
    )
    entry.add_to_hass(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert default(result, CONF_STATUS_INTERVAL) == status
    assert default(result, CONF_SETTINGS_INTERVAL) == 300
    assert default(result, CONF_STATUS_COMMANDS) == ["QPIGS", "QMOD", "QPIWS", "Q1"]
    assert default(result, CONF_POLL_SETTINGS) is True
    assert (
        STRINGS["options"]["step"]["init"]["description"]
        .format(**placeholders(result))
        .endswith("(protocol pi30).")
    )

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STATUS_INTERVAL: 15, CONF_SETTINGS_INTERVAL: 600}
    )
    await settle(hass)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_STATUS_INTERVAL: 15,
        CONF_SETTINGS_INTERVAL: 600,
        CONF_STATUS_COMMANDS: ["QPIGS", "QMOD", "QPIWS", "Q1"],
        CONF_POLL_SETTINGS: True,
    }
    # OptionsFlowWithReload: the changed options reloaded the entry (set up again).
    assert entry.state is ConfigEntryState.LOADED
    assert len(mock_setup_entry.mock_calls) == 1

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert default(result, CONF_STATUS_INTERVAL) == 15


async def test_options_bounds(hass: HomeAssistant) -> None:
    """Intervals outside sensible bounds are refused by the form."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    schema = result["data_schema"]
    assert schema is not None
    with pytest.raises(vol.Invalid, match="too small.*status_interval"):
        schema({CONF_STATUS_INTERVAL: 1, CONF_SETTINGS_INTERVAL: 600})
    with pytest.raises(vol.Invalid, match="too large.*settings_interval"):
        schema({CONF_STATUS_INTERVAL: 10, CONF_SETTINGS_INTERVAL: 100000})
    assert schema({CONF_STATUS_INTERVAL: 5, CONF_SETTINGS_INTERVAL: 86400}) == {
        CONF_STATUS_INTERVAL: 5,
        CONF_SETTINGS_INTERVAL: 86400,
        CONF_STATUS_COMMANDS: ["QPIGS", "QMOD", "QPIWS", "Q1"],
        CONF_POLL_SETTINGS: True,
    }


@pytest.mark.parametrize(
    ("protocol", "fields", "labels"),
    [
        # Live status, the mode, the warnings and the Q1 extras; the labels are the library's
        # command descriptions.
        (
            "pi30",
            {CONF_STATUS_COMMANDS, CONF_POLL_SETTINGS, CONF_ALLOWED_SETTERS},
            [
                "QPIGS – Live status: grid, output, battery, PV",
                "QMOD – Operating mode",
                "QPIWS – Active warnings and faults",
                "Q1 – Extra status: charging stage timers, temperatures, fan and SCC state",
            ],
        ),
        # A usage note closing a description is left out of the label.
        # A BMS also chooses the inverter it feeds.
        (
            "daly",
            {CONF_STATUS_COMMANDS, CONF_POLL_SETTINGS, CONF_ALLOWED_SETTERS, CONF_INVERTER},
            [
                "SOC – State of charge, pack voltage and current",
                "cellMinMaxVoltages – Highest and lowest cell voltage with their cell numbers",
                "cellMinMaxTemps – Highest and lowest temperature with their sensor numbers",
                (
                    "mosStatus – Charge/discharge state, MOS switches, heartbeat and remaining "
                    "capacity"
                ),
                "status – Cell and sensor counts, charger and load, digital I/O, cycles",
                "cellVoltages – Voltage of every cell",
                "cellTemperatures – Every temperature sensor",
                "cellBalanceState – Which cells are being balanced",
                "failureCodes – Alarm and failure flags",
            ],
        ),
        # One status command (it must be polled: nothing to choose), settings and setters.
        ("jk02_32", {CONF_POLL_SETTINGS, CONF_ALLOWED_SETTERS, CONF_INVERTER}, None),
        # Two status commands, no settings command, no setter.
        (
            "jk232",
            {CONF_STATUS_COMMANDS, CONF_INVERTER},
            [
                (
                    "getBalancerData – Basic information: pack voltage, current, capacity, "
                    "balancing, protection, temperatures"
                ),
                "getCellVoltages – Cell voltages (register 04), with min/max/spread",
            ],
        ),
    ],
)
async def test_options_offer_the_protocols_commands(
    hass: HomeAssistant, protocol: str, fields: set[str], labels: list[str] | None
) -> None:
    """What can be chosen is the entry's protocol's: its status commands, its settings."""
    entry = options_entry(protocol)
    entry.add_to_hass(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)

    schema = result["data_schema"]
    assert schema is not None
    shown_fields = {str(key) for key in schema.schema} - {
        CONF_STATUS_INTERVAL,
        CONF_SETTINGS_INTERVAL,
        CONF_CONFIGURE_BRIDGE,  # every entry's (bridge mode: test_bridge_mode.py)
    }
    assert shown_fields == fields
    if labels is not None:
        offered = options(result, CONF_STATUS_COMMANDS)
        assert [option["label"] for option in offered] == labels
        assert [option["value"] for option in offered] == list(
            get_protocol(protocol).status_commands
        )
        assert default(result, CONF_STATUS_COMMANDS) == [option["value"] for option in offered]


async def test_options_need_a_status_command(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    """Choosing no status command is refused, with the choices kept; one is enough."""
    entry = options_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    chosen = {
        CONF_STATUS_INTERVAL: 20,
        CONF_SETTINGS_INTERVAL: 300,
        CONF_STATUS_COMMANDS: [],
        CONF_POLL_SETTINGS: False,
        CONF_ALLOWED_SETTERS: ["PCP*"],
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], chosen)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_STATUS_COMMANDS: "no_status_commands"}
    assert STRINGS["options"]["error"]["no_status_commands"] == (
        "Choose at least one status command."
    )
    schema = result["data_schema"]
    assert schema is not None
    suggested = {
        str(key): (key.description or {}).get("suggested_value")
        for key in schema.schema
        if key != CONF_CONFIGURE_BRIDGE
    }
    assert suggested == chosen
    assert entry.options == {}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**chosen, CONF_STATUS_COMMANDS: ["Q1"]}
    )
    await settle(hass)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_STATUS_COMMANDS] == ["Q1"]
    assert entry.options[CONF_POLL_SETTINGS] is False


@pytest.mark.parametrize(
    ("protocol", "pattern", "error", "characters"),
    [
        # Empty (only spaces): allows nothing.
        ("pi30", "  ", "setter_pattern_empty", ""),
        # Characters no command is written with.
        ("pi30", "POP(02)", "setter_pattern_characters", "( )"),
        ("pi30", "POP0é", "setter_pattern_characters", "é"),
        ("pi30", "POP0;PCP0", "setter_pattern_characters", ";"),
        # A query is not a setter; a name the protocol lacks; a setter's name whose parameter
        # is not one the unit takes (PCP takes two digits); a glob no setter can match.
        ("pi30", "QPIGS", "setter_pattern_unmatched", ""),
        ("pi30", "XYZ", "setter_pattern_unmatched", ""),
        ("pi30", "PCP0", "setter_pattern_unmatched", ""),
        ("pi30", "Q*", "setter_pattern_unmatched", ""),
        ("pi30", "PX*", "setter_pattern_unmatched", ""),
        # ``?`` matches one character: F is a setter's name, but F alone is not a command.
        ("pi30", "?", "setter_pattern_unmatched", ""),
        # A JK BMS's setter patterns do not fit a PI30's commands, nor the reverse.
        ("jk02_32", "POP*", "setter_pattern_unmatched", ""),
    ],
)
async def test_options_refuse_a_setter_pattern(
    hass: HomeAssistant, protocol: str, pattern: str, error: str, characters: str
) -> None:
    """A pattern that cannot allow a setter is refused, naming it; nothing is stored."""
    entry = options_entry(protocol)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    chosen = {
        CONF_STATUS_INTERVAL: 20,
        CONF_SETTINGS_INTERVAL: 300,
        CONF_ALLOWED_SETTERS: ["*", pattern],
    }

    result = await hass.config_entries.options.async_configure(result["flow_id"], chosen)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ALLOWED_SETTERS: error}
    given = placeholders(result)
    assert given["pattern"] == pattern
    assert given["characters"] == characters
    text = STRINGS["options"]["error"][error].format(**given)
    assert f"“{pattern}”" in text
    if characters:
        assert f"({characters})" in text
    if error == "setter_pattern_unmatched":
        assert f"protocol {protocol}." in text
    for language in (GERMAN, FRENCH):
        assert pattern in language["options"]["error"][error].format(**given)
    schema = result["data_schema"]
    assert schema is not None
    marker = next(key for key in schema.schema if key == CONF_ALLOWED_SETTERS)
    assert marker.description == {"suggested_value": ["*", pattern]}
    assert entry.options == {}


@pytest.mark.parametrize(
    ("protocol", "patterns", "stored"),
    [
        # A name (any value), a whole command, globs; case ignored, spaces around dropped.
        (
            "pi30",
            ["POP", " pop02 ", "PCP0[0-2]", "MUCHGC*", "PBCV44.0", "*"],
            ["POP", "pop02", "PCP0[0-2]", "MUCHGC*", "PBCV44.0", "*"],
        ),
        # ``?`` before a ``*``: F followed by its parameter.
        ("pi30", ["?*", "F?0"], ["?*", "F?0"]),
        ("jk02_32", ["setcharging*", "setBalanceStart"], ["setcharging*", "setBalanceStart"]),
        ("daly", ["setChargeMos1", "set[CD]*"], ["setChargeMos1", "set[CD]*"]),
    ],
)
async def test_options_accept_setter_patterns(
    hass: HomeAssistant,
    mock_setup_entry: AsyncMock,
    protocol: str,
    patterns: list[str],
    stored: list[str],
) -> None:
    """Patterns that can allow a setter of the entry's protocol are stored (stripped)."""
    entry = options_entry(protocol)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_STATUS_INTERVAL: 20, CONF_SETTINGS_INTERVAL: 300, CONF_ALLOWED_SETTERS: patterns},
    )
    await settle(hass)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_ALLOWED_SETTERS] == stored


def test_glob_tokens() -> None:
    """A glob is read as fnmatch reads it: a ``[`` without its ``]`` is itself."""
    tokens = config_flow._glob_tokens  # noqa: SLF001 - the glob reader, on its own
    assert tokens("P[!0]?*") == ["P", "[!0]", "?", "*"]
    assert tokens("P[]0]") == ["P", "[]0]"]
    assert tokens("P[0") == ["P", "[", "0"]
    pi30 = get_protocol("pi30")
    assert config_flow.setter_pattern_error(pi30, "POP[") == ("setter_pattern_unmatched", "")
    assert config_flow.setter_pattern_error(pi30, "POP[0") == ("setter_pattern_unmatched", "")
    assert config_flow.setter_pattern_error(pi30, "PO[P]0[!3]") is None


async def test_options_choose_what_is_polled(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """A PI30 polled for QPIGS only, without settings: nothing else is sent.

    The values only QMOD, QPIWS, Q1 and the settings report become unavailable (their entities
    stay, with their history); QPIGS's stay live. Choosing everything again brings them all back.
    """
    async with served_entry(hass, request, "pi30", "pty") as entry:
        coordinator = entry.runtime_data
        assert {"QPIGS", "QMOD", "QPIWS", "Q1", "QPIRI", "QFLAG"} <= set(coordinator.frames)
        live = {
            item.entity_id: item
            for item in entities(hass, entry)
            if (state := hass.states.get(item.entity_id)) is not None
            and state.state != STATE_UNAVAILABLE
        }
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                CONF_STATUS_INTERVAL: 10,
                CONF_SETTINGS_INTERVAL: 300,
                CONF_STATUS_COMMANDS: ["QPIGS"],
                CONF_POLL_SETTINGS: False,
            },
        )
        await settle(hass)
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert entry.state is ConfigEntryState.LOADED
        coordinator = entry.runtime_data
        await next_poll(hass, 2)

        # Only QPIGS has been sent since the reload.
        assert set(coordinator.frames) == {"QPIGS"}
        assert coordinator.last_update_success
        qpigs = set(get_protocol("pi30").commands["QPIGS"].info)
        known = {item.key: item for item in catalogue("pi30").values()}
        gone: list[str] = []
        for entity_id, item in live.items():
            field = known.get(item.unique_id.removeprefix(f"{entry.unique_id}_"))
            if field is None:
                # Integrated energy (energy.py) and controls are not catalogue fields.
                assert item.domain in ("sensor", "select", "number", "switch"), entity_id
                continue
            state = hass.states.get(entity_id)
            assert state is not None
            if field.settings or field.field not in qpigs:
                assert state.state == STATE_UNAVAILABLE, entity_id
                gone.append(entity_id)
            else:
                assert state.state != STATE_UNAVAILABLE, entity_id
        assert "sensor.pi30_simulator_battery_voltage" in live
        assert "sensor.pi30_simulator_battery_voltage" not in gone
        assert 10 < len(gone) < len(live)

        result = await hass.config_entries.options.async_init(entry.entry_id)
        assert default(result, CONF_STATUS_COMMANDS) == ["QPIGS"]
        assert default(result, CONF_POLL_SETTINGS) is False
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                CONF_STATUS_INTERVAL: 10,
                CONF_SETTINGS_INTERVAL: 300,
                CONF_STATUS_COMMANDS: ["QPIGS", "QMOD", "QPIWS", "Q1"],
                CONF_POLL_SETTINGS: True,
            },
        )
        await settle(hass)
        for entity_id in live:
            state = hass.states.get(entity_id)
            assert state is not None
            assert state.state != STATE_UNAVAILABLE, entity_id


# -- translations ------------------------------------------------------------------------------------


def _strings(tree: Any, path: str = "") -> dict[str, str]:
    """Flatten a translation tree to ``path -> text``."""
    if isinstance(tree, str):
        return {path: tree}
    flat: dict[str, str] = {}
    for key, value in tree.items():
        flat.update(_strings(value, f"{path}.{key}" if path else key))
    return flat


@pytest.mark.parametrize("section", ["config", "options", "selector", "exceptions"])
def test_german_matches_english(section: str) -> None:
    """de.json translates every string of the flows and errors, with the same placeholders."""
    english = _strings(STRINGS[section])
    german = _strings(GERMAN[section])

    assert set(german) == set(english)
    for key, text in english.items():
        assert set(re.findall(r"{(\w+)}", german[key])) == set(re.findall(r"{(\w+)}", text)), key
