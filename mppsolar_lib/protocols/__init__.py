"""Sans-IO protocols: build request frames and decode answers, with no I/O at all.

>>> from mppsolar_lib.protocols import get_protocol
>>> proto = get_protocol("pi30")
>>> proto.build_request("QPI")
b'QPI\\xbe\\xac\\r'
"""

from __future__ import annotations

from functools import cache

from ..errors import UnknownProtocolError
from .base import Protocol
from .command import Command, Kind
from .fields import Field, Hints, Result
from .settings import Setting, SettingKind

__all__ = [
    "Command",
    "Field",
    "Hints",
    "Kind",
    "Protocol",
    "Result",
    "Setting",
    "SettingKind",
    "get_protocol",
    "list_protocols",
]


def _registry() -> dict[str, type[Protocol]]:
    # Imported here so that importing the package stays cheap and cycle-free.
    from .pi30 import PI30
    from .pi30m044 import PI30M044
    from .pi30m045 import PI30M045
    from .pi30max import PI30MAX
    from .pi30mst import PI30MST
    from .pi30revo import PI30REVO
    from .pi41 import PI41

    classes: list[type[Protocol]] = [PI30, PI30REVO, PI41]
    classes += [PI30MAX, PI30M044, PI30M045, PI30MST]
    return {cls.id: cls for cls in classes}


def list_protocols() -> list[str]:
    """Ids of all registered protocols, sorted."""
    return sorted(_registry())


def get_protocol(protocol_id: str) -> Protocol:
    """The protocol registered under ``protocol_id`` (case-insensitive); instances are shared."""
    return _instance(protocol_id.strip().lower())


@cache
def _instance(protocol_id: str) -> Protocol:
    registry = _registry()
    cls = registry.get(protocol_id)
    if cls is None:
        known = ", ".join(sorted(registry))
        raise UnknownProtocolError(f"unknown protocol {protocol_id!r}; known: {known}")
    return cls()
