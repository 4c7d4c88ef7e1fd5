"""From a port string to a transport: the registry of port types and :func:`open_transport`.

A port type is a name (``serial``), the URL schemes that select it (``tcp://``), an optional
predicate on bare port strings (a MAC address selects ``ble``), and a builder that makes the
transport from a :class:`PortRequest`. How a port string is matched, first hit wins:

1. ``porttype`` (the CLI's ``--porttype``), by name or alias, case-insensitive;
2. a ``scheme://`` prefix registered by a port type; any other scheme serialx has a handler for
   (``socket://``, ``rfc2217://``, ``esphome://``, or one the host application registered with
   serialx, such as ``esphome-hass://``) is a serial port;
3. the predicates, in registration order: ``sim``/``test`` (``test0`` too), ``mqtt``, a
   Bluetooth address, a hidraw node (also through a symlink such as ``/dev/mppsolar``),
   ``host:port``;
4. anything else is a serial device path (``/dev/ttyUSB0``, ``COM3``).

A port type whose builder lives in a module not imported yet names that ``module``: it is
imported on first use, and registers its builder with :func:`register_port_type` when it loads
(``register_port_type("ble", build)``: scheme, predicate and aliases declared here stay). So
optional dependencies (bleak, aiomqtt) are only imported for ports that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import dataclasses
import importlib
import os
import re
from types import MappingProxyType
from typing import Any

from mppsolar_lib.errors import PortError
from mppsolar_lib.transports.base import Transport


@dataclasses.dataclass(frozen=True, slots=True)
class PortRequest:
    """What the caller asked for, handed to a port type's builder."""

    #: The port string as given (``/dev/ttyUSB0``, ``tcp://10.0.0.7:8899``, ``sim``).
    port: str
    #: The port type chosen for it (``serial``, ``hidraw``, ``tcp`` …).
    kind: str
    #: Line speed, when the caller gave one (serial ports default to 2400).
    baud: int | None = None
    #: Protocol id, when known (the simulator picks its device by it; BLE its characteristics).
    protocol: str | None = None
    #: Any other keyword options for the builder (``parity``, ``connect_timeout`` …).
    options: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    @property
    def address(self) -> str:
        """Return the port without its ``scheme://`` prefix."""
        return self.port.partition("://")[2] if "://" in self.port else self.port

    def reject_options(self, allowed: Iterable[str] = ()) -> None:
        """Raise :class:`PortError` for options this port type does not take."""
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            takes = ", ".join(sorted(allowed)) or "none"
            raise PortError(f"{self.kind} ports take no option {', '.join(unknown)} ({takes})")


#: Makes a transport for a request.
TransportBuilder = Callable[[PortRequest], Transport]


@dataclasses.dataclass(slots=True)
class PortType:
    """One kind of port and how to recognise and build it."""

    name: str
    build: TransportBuilder | None = None
    schemes: tuple[str, ...] = ()
    match: Callable[[str], bool] | None = None
    aliases: tuple[str, ...] = ()
    #: Imported on first use when ``build`` is missing; it registers the builder.
    module: str | None = None
    #: The pip extra that brings the module's dependencies (``ble`` → ``mppsolar-lib[ble]``).
    extra: str | None = None
    description: str = ""


_TYPES: dict[str, PortType] = {}

_SIM = re.compile(r"(sim|test)\d*", re.IGNORECASE)
_MAC = re.compile(r"([0-9a-f]{2}[:-]){5}[0-9a-f]{2}", re.IGNORECASE)
_HOST_PORT = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.-]*):\d{1,5}", re.IGNORECASE)


def register_port_type(
    name: str,
    build: TransportBuilder | None = None,
    *,
    schemes: Iterable[str] = (),
    match: Callable[[str], bool] | None = None,
    aliases: Iterable[str] = (),
    module: str | None = None,
    extra: str | None = None,
    description: str = "",
) -> Callable[[], None]:
    """Add a port type, or complete one declared earlier; return a function that undoes it.

    For a name already registered, what is given is added (schemes, aliases) or replaces what
    was there (``build``, ``match``, ``module``, ``extra``, ``description``); the rest stays.
    """
    key = name.lower()
    previous = _TYPES.get(key)
    entry = dataclasses.replace(previous) if previous else PortType(key)
    if build is not None:
        entry.build = build
    entry.schemes = tuple(dict.fromkeys((*entry.schemes, *(s.lower() for s in schemes))))
    entry.aliases = tuple(dict.fromkeys((*entry.aliases, *(a.lower() for a in aliases))))
    entry.match = match or entry.match
    entry.module = module or entry.module
    entry.extra = extra or entry.extra
    entry.description = description or entry.description
    _TYPES[key] = entry

    def undo() -> None:
        if previous is None:
            _TYPES.pop(key, None)
        else:
            _TYPES[key] = previous

    return undo


def port_types() -> Mapping[str, PortType]:
    """Return the registered port types by name, in matching order."""
    return MappingProxyType(_TYPES)


def _by_name(porttype: str) -> str:
    wanted = porttype.strip().lower()
    for entry in _TYPES.values():
        if wanted == entry.name or wanted in entry.aliases:
            return entry.name
    names = ", ".join(
        entry.name + (f" ({', '.join(entry.aliases)})" if entry.aliases else "")
        for entry in _TYPES.values()
    )
    raise PortError(f"unknown port type {porttype!r}; use one of {names}")


def _serialx_knows(port: str) -> bool:
    """Tell whether serialx has a handler for ``port``'s scheme (False without serialx)."""
    try:
        # Optional dependency, and only URLs that no port type claims need it.
        from mppsolar_lib.transports.serial import serialx_knows  # noqa: PLC0415
    except ImportError:
        return False
    return serialx_knows(port)


def port_type_of(port: str, porttype: str | None = None) -> str:
    """Return the name of the port type that handles ``port`` (see the module docstring).

    Raises :class:`PortError` for an unknown ``porttype`` or URL scheme, or an empty port.
    """
    if porttype:
        return _by_name(porttype)
    text = port.strip()
    if not text:
        raise PortError("no port given; use a device path, host:port, a URL or 'sim'")
    scheme, sep, _ = text.partition("://")
    if sep:
        scheme = scheme.lower()
        for entry in _TYPES.values():
            if scheme in entry.schemes:
                return entry.name
        if _serialx_knows(text):
            return "serial"
        known = sorted({s for entry in _TYPES.values() for s in entry.schemes})
        raise PortError(
            f"unknown port scheme {scheme + '://'!r} in {port!r}; use one of "
            f"{', '.join(s + '://' for s in known)}, a serialx URL, a device path or host:port"
        )
    for entry in _TYPES.values():
        if entry.match is not None and entry.match(text):
            return entry.name
    return "serial"


def _builder(entry: PortType) -> TransportBuilder:
    """Return the entry's builder, importing the module that provides it on first use."""
    if entry.build is None and entry.module is not None:
        try:
            importlib.import_module(entry.module)
        except ModuleNotFoundError as err:
            if err.name == entry.module:
                raise PortError(f"{entry.name} ports are not built yet ({entry.module})") from err
            hint = f"pip install 'mppsolar-lib[{entry.extra}]'" if entry.extra else "install it"
            raise PortError(f"{entry.name} ports need the {err.name!r} package: {hint}") from err
        entry = _TYPES[entry.name]
    if entry.build is None:
        raise PortError(f"{entry.name} ports are not built yet")
    return entry.build


def open_transport(
    port: str,
    *,
    porttype: str | None = None,
    baud: int | None = None,
    protocol: str | None = None,
    **options: Any,
) -> Transport:
    """Build the transport for ``port`` as the reference CLI's ``--port`` understands it.

    The transport is not connected yet: ``async with transport:``, ``await transport.open()``,
    or the first exchange connects it (and reports a missing port or a refused connection
    then). ``options`` go to the builder (``parity``, ``stopbits``, ``connect_timeout`` …).
    Raises :class:`PortError` for a port string or option nothing can use.
    """
    kind = port_type_of(port, porttype)
    build = _builder(_TYPES[kind])
    request = PortRequest(
        port=port.strip(),
        kind=kind,
        baud=baud,
        protocol=protocol,
        options=MappingProxyType(dict(options)),
    )
    return build(request)


# -- built-in port types ------------------------------------------------------------------------


def _is_hidraw(port: str) -> bool:
    """Tell whether ``port`` names a hidraw node, directly or through a symlink."""
    # String splitting rather than pathlib: importing pathlib costs the CLI's start-up ~4 ms.
    return any("hidraw" in path.rpartition(os.sep)[2] for path in (port, os.path.realpath(port)))


def _build_serial(request: PortRequest) -> Transport:
    try:
        # serialx is an optional dependency: only serial ports import it.
        from mppsolar_lib.transports.serial import DEFAULT_BAUD, SerialTransport  # noqa: PLC0415
    except ImportError as err:
        raise PortError(
            f"serial ports need the serialx package: pip install 'mppsolar-lib[serial]' ({err})"
        ) from err
    return SerialTransport(request.port, baud=request.baud or DEFAULT_BAUD, **request.options)


register_port_type(
    "sim",
    schemes=("sim",),
    match=lambda port: _SIM.fullmatch(port) is not None,
    aliases=("test", "simulator"),
    module="mppsolar_lib.transports.simulated",
    description="the built-in simulator of the chosen protocol",
)
register_port_type(
    "mqtt",
    schemes=("mqtt", "mqtts"),
    match=lambda port: port.lower() == "mqtt",
    module="mppsolar_lib.transports.mqtt",
    extra="mqtt",
    description="request/response relay over an MQTT broker",
)
register_port_type(
    "ble",
    schemes=("ble",),
    match=lambda port: _MAC.fullmatch(port) is not None,
    aliases=("jkble", "bluetooth"),
    module="mppsolar_lib.transports.ble",
    extra="ble",
    description="Bluetooth LE (JK and Daly BMSs)",
)
register_port_type(
    "hidraw",
    match=_is_hidraw,
    module="mppsolar_lib.transports.hidraw",
    aliases=("usb", "hid"),
    description="USB-HID /dev/hidraw* (Voltronic inverters' USB port)",
)
register_port_type(
    "tcp",
    schemes=("tcp",),
    module="mppsolar_lib.transports.tcp",
    match=lambda port: _HOST_PORT.fullmatch(port) is not None,
    aliases=("remotesocket", "network"),
    description="TCP to a serial-over-IP gateway",
)
register_port_type(
    "udp",
    schemes=("udp",),
    module="mppsolar_lib.transports.udp",
    description="UDP to a serial-over-IP gateway",
)
register_port_type(
    "serial",
    _build_serial,
    aliases=("vserial", "daly", "dalyserial", "jkserial"),
    extra="serial",
    description="serial port or serialx URL (socket://, rfc2217://, esphome://)",
)
