"""Sans-IO protocols: build request frames and decode answers, with no I/O at all.

>>> from mppsolar_lib.protocols import get_protocol
>>> proto = get_protocol("pi30")
>>> proto.build_request("QPI").hex()
'515049beac0d'
"""

from __future__ import annotations

from functools import cache

from mppsolar_lib.errors import UnknownProtocolError
from mppsolar_lib.protocols.base import Protocol
from mppsolar_lib.protocols.command import Command, Kind
from mppsolar_lib.protocols.daly import DALY
from mppsolar_lib.protocols.daly40 import DALY40
from mppsolar_lib.protocols.fields import Field, FieldInfo, Hints, Result
from mppsolar_lib.protocols.jk02 import JK02
from mppsolar_lib.protocols.jk02_32 import JK02_32
from mppsolar_lib.protocols.jk04 import JK04
from mppsolar_lib.protocols.jk232 import JK232
from mppsolar_lib.protocols.jk485 import JK485
from mppsolar_lib.protocols.jkpb import JKPB
from mppsolar_lib.protocols.jkserial import JKSerial
from mppsolar_lib.protocols.jkv11 import JKV11
from mppsolar_lib.protocols.pi16 import PI16
from mppsolar_lib.protocols.pi17 import PI17
from mppsolar_lib.protocols.pi17infini import PI17INFINI
from mppsolar_lib.protocols.pi17m058 import PI17M058
from mppsolar_lib.protocols.pi18 import PI18
from mppsolar_lib.protocols.pi18lvx import PI18LVX
from mppsolar_lib.protocols.pi18sv import PI18SV
from mppsolar_lib.protocols.pi30 import PI30
from mppsolar_lib.protocols.pi30m044 import PI30M044
from mppsolar_lib.protocols.pi30m045 import PI30M045
from mppsolar_lib.protocols.pi30max import PI30MAX
from mppsolar_lib.protocols.pi30mst import PI30MST
from mppsolar_lib.protocols.pi30revo import PI30REVO
from mppsolar_lib.protocols.pi41 import PI41
from mppsolar_lib.protocols.settings import Setting, SettingKind
from mppsolar_lib.protocols.vedirect import VeDirect

__all__ = [
    "Command",
    "Field",
    "FieldInfo",
    "Hints",
    "Kind",
    "Protocol",
    "Result",
    "Setting",
    "SettingKind",
    "get_protocol",
    "list_protocols",
]

#: Every protocol class by id. A new protocol module adds its class here.
REGISTRY: dict[str, type[Protocol]] = {
    cls.id: cls
    for cls in (
        DALY,
        DALY40,
        JK02,
        JK02_32,
        JK04,
        JK232,
        JK485,
        JKPB,
        JKSerial,
        JKV11,
        PI16,
        PI17,
        PI17INFINI,
        PI17M058,
        PI18,
        PI18SV,
        PI18LVX,
        PI30,
        PI30MAX,
        PI30M044,
        PI30M045,
        PI30MST,
        PI30REVO,
        PI41,
        VeDirect,
    )
}


def list_protocols() -> list[str]:
    """Return the ids of all registered protocols, sorted."""
    return sorted(REGISTRY)


def get_protocol(protocol_id: str) -> Protocol:
    """Return the protocol registered under ``protocol_id`` (case-insensitive), shared."""
    return _instance(protocol_id.strip().lower())


@cache
def _instance(protocol_id: str) -> Protocol:
    cls = REGISTRY.get(protocol_id)
    if cls is None:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownProtocolError(f"unknown protocol {protocol_id!r}; known: {known}")
    return cls()
