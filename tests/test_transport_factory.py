"""Port strings to transports (the reference CLI's --port/--porttype), and open errors."""

from __future__ import annotations

from collections.abc import Iterator
import errno
from pathlib import Path
import sys

import pytest

from mppsolar_lib.errors import PortError, TransportError
from mppsolar_lib.transports import (
    PortRequest,
    Transport,
    open_transport,
    port_type_of,
    port_types,
    register_port_type,
)
from mppsolar_lib.transports.hidraw import HidrawTransport
from mppsolar_lib.transports.paths import (
    existing,
    open_error,
    owner_group,
    permission_help,
    present,
    usb_ids,
)
from mppsolar_lib.transports.serial import SerialTransport
from mppsolar_lib.transports.tcp import TcpTransport
from mppsolar_lib.transports.udp import UdpTransport

from .privileges import foreign_group_node, locked_port, open_unprivileged


@pytest.mark.parametrize(
    ("port", "kind"),
    [
        ("/dev/ttyUSB0", "serial"),
        ("/dev/ttyACM0", "serial"),  # the reference cannot tell what this is
        ("/dev/ttyS0", "serial"),
        ("/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0", "serial"),
        ("COM3", "serial"),
        ("device:///dev/ttyUSB0", "serial"),
        ("socket://10.0.0.7:8899", "serial"),
        ("rfc2217://10.0.0.7:2217", "serial"),
        ("/dev/hidraw0", "hidraw"),
        ("tcp://10.0.0.7:8899", "tcp"),
        ("10.0.0.7:8899", "tcp"),
        ("192.168.1.5:502", "tcp"),  # the reference takes this for a Bluetooth address
        ("gateway.local:23", "tcp"),
        ("[fe80::1]:502", "tcp"),
        ("udp://10.0.0.7:48899", "udp"),
        ("UDP://10.0.0.7:48899", "udp"),
        ("sim", "sim"),
        ("test", "sim"),
        ("TEST0", "sim"),
        ("test12", "sim"),
        ("sim://pi30", "sim"),
        ("AA:BB:CC:DD:EE:FF", "ble"),
        ("aa-bb-cc-dd-ee-ff", "ble"),
        ("ble://AA:BB:CC:DD:EE:FF", "ble"),
        ("mqtt", "mqtt"),
        ("mqtt://broker.local:1883/inverter", "mqtt"),
        ("  /dev/ttyUSB0  ", "serial"),
    ],
)
def test_port_strings_choose_the_port_type(port: str, kind: str) -> None:
    """Each spelling users type selects the transport that serves it."""
    assert port_type_of(port) == kind


@pytest.mark.parametrize(
    ("port", "porttype", "kind"),
    [
        ("/dev/ttyUSB0", "hidraw", "hidraw"),
        ("/dev/mppsolar", "USB", "hidraw"),
        ("/dev/hidraw0", "serial", "serial"),
        ("10.0.0.7:8899", "remotesocket", "tcp"),
        ("/dev/ttyUSB1", "jkserial", "serial"),
        ("/dev/ttyUSB1", "daly", "serial"),
        ("/dev/ttyUSB1", "TEST", "sim"),
        ("AA:BB:CC:DD:EE:FF", "jkble", "ble"),
        ("10.0.0.7:48899", " udp ", "udp"),
    ],
)
def test_porttype_overrides_the_guess(port: str, porttype: str, kind: str) -> None:
    """--porttype wins, by name or the reference's names, in any case."""
    assert port_type_of(port, porttype) == kind


def test_a_symlink_to_a_hidraw_node_is_hidraw(tmp_path: Path) -> None:
    """A udev symlink such as /dev/mppsolar leads to the node it names."""
    node = tmp_path / "hidraw3"
    node.write_text("")
    link = tmp_path / "mppsolar"
    link.symlink_to(node)
    assert port_type_of(str(link)) == "hidraw"
    assert port_type_of(str(tmp_path / "missing-link")) == "serial"


def test_unknown_port_types_schemes_and_empty_ports_are_refused() -> None:
    """Each refusal lists what would be accepted."""
    with pytest.raises(PortError, match=r"unknown port type 'carrier-pigeon'; use one of .*hidraw"):
        port_type_of("/dev/ttyUSB0", "carrier-pigeon")
    with pytest.raises(PortError, match=r"unknown port scheme 'gopher://'.*tcp://.*udp://"):
        port_type_of("gopher://10.0.0.7")
    with pytest.raises(PortError, match="no port given"):
        port_type_of("   ")


def test_open_transport_builds_each_wired_type() -> None:
    """The factory returns unopened transports configured from the port string and options."""
    serial = open_transport("/dev/ttyUSB0")
    assert isinstance(serial, SerialTransport)
    assert serial.settings == "2400 8N1"
    assert not serial.is_open
    fast = open_transport("/dev/ttyUSB1", baud=115200, parity="E", bytesize=7, stopbits=2)
    assert isinstance(fast, SerialTransport)
    assert fast.settings == "115200 7E2"
    url = open_transport("socket://10.0.0.7:8899", baud=9600, connect_timeout=3)
    assert isinstance(url, SerialTransport)
    assert url.options == {"connect_timeout": 3}
    hidraw = open_transport("/dev/hidraw0")
    assert isinstance(hidraw, HidrawTransport)
    assert hidraw.name == "/dev/hidraw0"
    tcp = open_transport("tcp://10.0.0.7:8899", connect_timeout=1.5)
    assert isinstance(tcp, TcpTransport)
    assert (tcp.host, tcp.port, tcp.connect_timeout) == ("10.0.0.7", 8899, 1.5)
    assert isinstance(open_transport("10.0.0.7:8899"), TcpTransport)
    udp = open_transport("udp://10.0.0.7:48899")
    assert isinstance(udp, UdpTransport)
    assert udp.name == "udp://10.0.0.7:48899"


def test_options_a_port_type_does_not_take_are_refused() -> None:
    """Options are checked per port type, listing what it takes."""
    with pytest.raises(PortError, match=r"hidraw ports take no option parity \(report_size\)"):
        open_transport("/dev/hidraw0", parity="E")
    with pytest.raises(PortError, match=r"tcp ports take no option baudrate \(connect_timeout\)"):
        open_transport("10.0.0.7:8899", baudrate=9600)
    with pytest.raises(PortError, match=r"udp ports take no option retries \(none\)"):
        open_transport("udp://10.0.0.7:48899", retries=3)
    with pytest.raises(PortError, match="serial ports take no option colour"):
        open_transport("/dev/ttyUSB0", colour="blue")
    with pytest.raises(PortError, match="is not host:port"):
        open_transport("tcp://10.0.0.7")


async def test_missing_and_wrong_paths_fail_on_open(tmp_path: Path) -> None:
    """Paths are checked when the port opens: missing, a directory; each said plainly."""
    with pytest.raises(PortError, match=f"{tmp_path}/ttyUSB9: no such serial port"):
        await open_transport(str(tmp_path / "ttyUSB9")).open()
    with pytest.raises(PortError, match=f"{tmp_path}/hidraw9: no such USB-HID device"):
        await open_transport(str(tmp_path / "hidraw9")).open()
    # A directory is refused for every user, root included.
    with pytest.raises(PortError, match="is a directory, not a serial port"):
        await open_transport(str(tmp_path), porttype="serial").open()
    with pytest.raises(PortError, match="is a directory, not a USB-HID device"):
        await open_transport(str(tmp_path), porttype="hidraw").open()


def test_permission_denied_on_open_says_how_to_get_access(tmp_path: Path) -> None:
    """A port the user may not open: the group or the udev rule that fixes it.

    Opened by a user file modes apply to (root loses its override: see tests/privileges.py).
    """
    port = locked_port(tmp_path / "ttyUSB0")
    imports = "from mppsolar_lib.transports import open_transport"
    serial = open_unprivileged(imports, "open_transport(path)", port.path)
    assert serial.startswith(f"PortError: {port.path}: permission denied")
    assert port.fix in serial and 'MODE="0660"' in serial
    hidraw = open_unprivileged(imports, "open_transport(path, porttype='hidraw')", port.path)
    assert hidraw.startswith(f"PortError: {port.path}: permission denied. Allow access with a udev")
    assert 'ATTRS{idVendor}=="0665", ATTRS{idProduct}=="5161", MODE="0666"' in hidraw


def test_open_errors_become_errors_users_can_act_on(tmp_path: Path) -> None:
    """Every OSError an open can raise is translated (permission tested without privileges)."""
    path = str(tmp_path / "ttyUSB0")
    Path(path).write_text("")
    Path(path).chmod(0o600)
    # Our own file: we are in its group already, so the mode is what needs fixing.
    mine = open_error(path, PermissionError(errno.EACCES, "Permission denied"), "serial")
    assert isinstance(mine, PortError)
    assert f"although you are in its group {owner_group(path)!r}" in str(mine)
    assert "mode -rw------- gives the group no access" in str(mine)
    assert 'MODE="0660"' in str(mine)
    # A group we are not in (what /dev/ttyUSB0's dialout is to a new user).
    node = str(foreign_group_node(tmp_path / "ttyUSB1"))
    denied = open_error(node, PermissionError(errno.EACCES, "Permission denied"), "serial")
    assert f"Add your user to the {owner_group(node)!r} group" in str(denied)
    assert f"usermod -aG {owner_group(node)} $USER" in str(denied)
    assert f"--device {node}" in str(denied)
    gone = open_error(str(tmp_path / "ttyUSB9"), PermissionError(errno.EACCES, "x"), "serial")
    assert "Add your user to the 'dialout' group" in str(gone)
    hid = open_error("/dev/hidraw0", PermissionError(errno.EPERM, "x"), "hidraw")
    assert 'SUBSYSTEM=="hidraw"' in str(hid)
    assert "udevadm trigger" in str(hid)
    busy = open_error(path, OSError(errno.EBUSY, "Device or resource busy"), "serial")
    assert type(busy) is TransportError
    assert "in use by another program" in str(busy)
    vanished = open_error(path, OSError(errno.ENODEV, "No such device"), "hidraw")
    assert type(vanished) is TransportError
    assert "went away (No such device)" in str(vanished)
    other = open_error(path, OSError(errno.EROFS, "Read-only file system"), "serial")
    assert type(other) is TransportError
    assert str(other) == f"{path}: cannot open: Read-only file system"
    missing = open_error(path, FileNotFoundError(errno.ENOENT, "x"), "serial")
    assert isinstance(missing, PortError)


def test_the_udev_rule_names_the_real_usb_ids(tmp_path: Path) -> None:
    """With the node's sysfs entry at hand, the rule carries its vendor and product ids."""
    sysfs = tmp_path / "sys" / "class" / "hidraw"
    device = tmp_path / "sys" / "devices" / "usb1" / "0003:1A86:E008.0004"
    device.mkdir(parents=True)
    (sysfs / "hidraw3").mkdir(parents=True)
    (sysfs / "hidraw3" / "device").symlink_to(device)
    odd = tmp_path / "sys" / "devices" / "platform-thing"
    odd.mkdir()
    (sysfs / "hidraw4").mkdir()
    (sysfs / "hidraw4" / "device").symlink_to(odd)
    assert usb_ids("/dev/hidraw3", sysfs) == ("1a86", "e008")
    assert usb_ids("/dev/hidraw4", sysfs) == ("0665", "5161")
    assert usb_ids("/dev/hidraw5", sysfs) == ("0665", "5161")
    rule = permission_help("/dev/hidraw3", "hidraw", sysfs)
    assert 'ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="e008", MODE="0666"' in rule


def test_present_lists_ports_or_says_none_exist(tmp_path: Path) -> None:
    """The missing-port message names the ports that do exist, or where none were found."""
    (tmp_path / "ttyUSB0").write_text("")
    (tmp_path / "ttyUSB1").write_text("")
    patterns = [(str(tmp_path), "ttyUSB*"), (str(tmp_path / "by-id"), "*")]
    assert existing(patterns) == [str(tmp_path / "ttyUSB0"), str(tmp_path / "ttyUSB1")]
    assert present("serial", patterns) == (f"ports present: {tmp_path}/ttyUSB0, {tmp_path}/ttyUSB1")
    assert present("hidraw", [(str(tmp_path), "hidraw*")]) == (
        f"no {tmp_path}/hidraw* exists: is the cable plugged in and the driver loaded?"
    )
    assert "/dev/hidraw*" in present("hidraw") or "ports present" in present("hidraw")
    assert owner_group(str(tmp_path / "nothing")) is None


def test_port_request_address_strips_the_scheme() -> None:
    """Builders get the port with and without its scheme."""
    assert PortRequest("tcp://10.0.0.7:1", "tcp").address == "10.0.0.7:1"
    assert PortRequest("/dev/ttyUSB0", "serial").address == "/dev/ttyUSB0"
    PortRequest("x", "udp").reject_options()


@pytest.fixture
def undo() -> Iterator[list[object]]:
    """Collect registrations and undo them after the test, newest first."""
    undos: list[object] = []
    yield undos
    for item in reversed(undos):
        assert callable(item)
        item()


class Marker(TcpTransport):
    """A transport a test registers, so the built object is recognisable."""


def test_a_registered_port_type_is_matched_and_built(undo: list[object]) -> None:
    """Builders get the request: port, kind, baud, protocol and options."""
    seen: list[PortRequest] = []

    def build(request: PortRequest) -> Transport:
        seen.append(request)
        return Marker("10.0.0.1", 1)

    undo.append(
        register_port_type(
            "canbus",
            build,
            schemes=("CAN",),
            match=lambda port: port.startswith("can"),
            aliases=("socketcan",),
            description="a test port type",
        )
    )
    assert isinstance(open_transport("can0", baud=500, protocol="pi30", x=1), Marker)
    assert isinstance(open_transport("can://vcan0"), Marker)
    assert isinstance(open_transport("/dev/whatever", porttype="SocketCAN"), Marker)
    first = seen[0]
    assert (first.port, first.kind, first.baud, first.protocol) == ("can0", "canbus", 500, "pi30")
    assert dict(first.options) == {"x": 1}
    assert seen[1].address == "vcan0"
    assert port_types()["canbus"].description == "a test port type"
    with pytest.raises(TypeError):
        port_types()["x"] = port_types()["canbus"]  # type: ignore[index]


def test_registering_again_completes_an_entry_and_undo_restores_it(undo: list[object]) -> None:
    """A module adding its builder keeps the schemes and predicate declared before."""
    before = port_types()["hidraw"]
    restore = register_port_type("hidraw", schemes=("hid",))
    entry = port_types()["hidraw"]
    assert entry.schemes == ("hid",)
    assert entry.match is before.match
    assert entry.build is before.build
    assert port_type_of("hid:///dev/hidraw0") == "hidraw"
    restore()
    assert port_types()["hidraw"] is before
    with pytest.raises(PortError):
        port_type_of("hid:///dev/hidraw0")


def test_port_types_from_missing_modules_say_so(
    undo: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module not built yet, one that does not register, one missing its dependency."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "porttype_needs_dep.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "porttype_silent.py").write_text("VALUE = 1\n")
    (tmp_path / "porttype_registers.py").write_text(
        "from mppsolar_lib.transports import register_port_type\n"
        "from mppsolar_lib.transports.udp import UdpTransport\n"
        "register_port_type('lazy', lambda request: UdpTransport('10.0.0.2', 9))\n"
    )
    undo.append(register_port_type("absent", module="mppsolar_lib.transports.no_such_module"))
    undo.append(register_port_type("needsdep", module="porttype_needs_dep", extra="fancy"))
    undo.append(register_port_type("needsdep2", module="porttype_needs_dep"))
    undo.append(register_port_type("silent", module="porttype_silent"))
    undo.append(register_port_type("bare"))
    undo.append(register_port_type("lazy", module="porttype_registers"))
    with pytest.raises(PortError, match=r"absent ports are not built yet \(mppsolar_lib"):
        open_transport("x", porttype="absent")
    with pytest.raises(
        PortError,
        match=r"needsdep ports need the 'no_such_dependency_xyz' package: "
        r"pip install 'mppsolar-lib\[fancy\]'",
    ):
        open_transport("x", porttype="needsdep")
    with pytest.raises(PortError, match="needsdep2 ports need .*: install it"):
        open_transport("x", porttype="needsdep2")
    with pytest.raises(PortError, match="silent ports are not built yet"):
        open_transport("x", porttype="silent")
    with pytest.raises(PortError, match="bare ports are not built yet"):
        open_transport("x", porttype="bare")
    lazy = open_transport("x", porttype="lazy")
    assert isinstance(lazy, UdpTransport)
    assert lazy.name == "udp://10.0.0.2:9"


def test_the_hooks_for_other_transports_are_declared() -> None:
    """sim, ble and mqtt are known by name, with the module that provides each."""
    types = port_types()
    assert types["sim"].module == "mppsolar_lib.transports.simulated"
    assert types["ble"].module == "mppsolar_lib.transports.ble"
    assert types["ble"].extra == "ble"
    assert types["mqtt"].module == "mppsolar_lib.transports.mqtt"
    assert list(types)[-1] == "serial"


def test_without_serialx_serial_ports_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serial extra missing: serial ports ask for it; URLs are no longer guessed serial."""
    monkeypatch.delitem(sys.modules, "mppsolar_lib.transports.serial")
    monkeypatch.setitem(sys.modules, "serialx", None)
    with pytest.raises(PortError, match=r"pip install 'mppsolar-lib\[serial\]'"):
        open_transport("/dev/ttyUSB0")
    with pytest.raises(PortError, match="unknown port scheme 'socket://'"):
        port_type_of("socket://10.0.0.7:8899")
    assert isinstance(open_transport("tcp://10.0.0.7:8899"), TcpTransport)
