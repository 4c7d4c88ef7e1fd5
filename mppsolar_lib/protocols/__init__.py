"""Sans-IO protocols: build request frames and decode answers, with no I/O at all.

>>> from mppsolar_lib.protocols import get_protocol
>>> proto = get_protocol("pi30")
>>> proto.build_request("QPI").hex()
'515049beac0d'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
import importlib

from mppsolar_lib.errors import UnknownProtocolError
from mppsolar_lib.protocols.base import Protocol
from mppsolar_lib.protocols.command import Command, Kind
from mppsolar_lib.protocols.fields import Field, FieldInfo, Hints, Result
from mppsolar_lib.protocols.settings import Setting, SettingKind

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

#: Every protocol by id: the module under ``mppsolar_lib.protocols`` and the class. Modules are
#: imported on first use, so a program that talks to one PI30 inverter does not pay for loading
#: two dozen command tables (the CLI's cold start). A new protocol module adds its line here.
_MODULES: Mapping[str, tuple[str, str]] = {
    "daly": ("daly", "DALY"),
    "daly40": ("daly40", "DALY40"),
    "jk02": ("jk02", "JK02"),
    "jk02_32": ("jk02_32", "JK02_32"),
    "jk04": ("jk04", "JK04"),
    "jk232": ("jk232", "JK232"),
    "jk485": ("jk485", "JK485"),
    "jkpb": ("jkpb", "JKPB"),
    "jkserial": ("jkserial", "JKSerial"),
    "jkv11": ("jkv11", "JKV11"),
    "pi16": ("pi16", "PI16"),
    "pi17": ("pi17", "PI17"),
    "pi17infini": ("pi17infini", "PI17INFINI"),
    "pi17m058": ("pi17m058", "PI17M058"),
    "pi18": ("pi18", "PI18"),
    "pi18sv": ("pi18sv", "PI18SV"),
    "pi18lvx": ("pi18lvx", "PI18LVX"),
    "pi30": ("pi30", "PI30"),
    "pi30max": ("pi30max", "PI30MAX"),
    "pi30m044": ("pi30m044", "PI30M044"),
    "pi30m045": ("pi30m045", "PI30M045"),
    "pi30mst": ("pi30mst", "PI30MST"),
    "pi30revo": ("pi30revo", "PI30REVO"),
    "pi41": ("pi41", "PI41"),
    "ved": ("vedirect", "VeDirect"),
}


class _Registry(Mapping[str, type[Protocol]]):
    """Protocol classes by id, each module imported when its class is first looked up."""

    def __getitem__(self, protocol_id: str) -> type[Protocol]:
        module, name = _MODULES[protocol_id]
        cls: type[Protocol] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


#: Every protocol class by id (a read-only mapping; lookups import the protocol's module).
REGISTRY: Mapping[str, type[Protocol]] = _Registry()


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
