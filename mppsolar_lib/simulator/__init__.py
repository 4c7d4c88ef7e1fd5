r"""Virtual devices of every family, for demos, tests and development without hardware.

>>> from mppsolar_lib.simulator import create_simulator
>>> simulator = create_simulator("pi30", seed=1)
>>> simulator.handle(simulator.protocol.build_request("QPI"))
b'(PI30\x9a\x0b\r'

:func:`create_simulator` builds the virtual device of a protocol id from :data:`REGISTRY`;
families register their factory with :func:`register_simulator`. ``faults=`` wraps the device
in a :class:`~mppsolar_lib.simulator.faults.Faults` profile; the other options go to the
family's simulator (``clock``, ``seed``, and e.g. ``parallel`` for Voltronic units).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import importlib
from typing import Any

from mppsolar_lib.errors import UnknownProtocolError
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.faults import Faults, FaultySimulator, with_faults

__all__ = [
    "REGISTRY",
    "Faults",
    "FaultySimulator",
    "Simulator",
    "create_simulator",
    "list_simulators",
    "register_simulator",
]

#: Makes the simulator of a protocol id: ``factory(protocol_id, **options)``.
SimulatorFactory = Callable[..., Simulator]

#: Simulator factory by protocol id (lower case, as the protocol registry names them).
REGISTRY: dict[str, SimulatorFactory] = {}


def register_simulator(protocol_id: str, factory: SimulatorFactory) -> None:
    """Make ``factory`` the simulator of ``protocol_id`` (a later registration wins)."""
    REGISTRY[protocol_id.strip().lower()] = factory


#: The built-in families: module under ``mppsolar_lib.simulator`` -> protocol id prefixes. Each
#: is imported when one of its devices is first asked for, so ``-p sim`` on a PI30 does not load
#: the JK, Daly and VE.Direct tables (the CLI's cold start).
_FAMILIES: Mapping[str, tuple[str, ...]] = {
    "voltronic": ("pi",),
    # Battery monitors: JK (Bluetooth and wired), Daly, Victron VE.Direct.
    "jk": ("jk",),
    "daly": ("daly",),
    "vedirect": ("ved",),
}
_loaded: set[str] = set()


def _load(family: str) -> None:
    """Register a built-in family's simulators; earlier registrations of an id win."""
    if family not in _loaded:
        module = importlib.import_module(f"{__name__}.{family}")
        for protocol_id, factory in module.SIMULATORS.items():
            REGISTRY.setdefault(protocol_id, factory)
        _loaded.add(family)


def list_simulators() -> list[str]:
    """Return the protocol ids that have a simulator, sorted."""
    for family in _FAMILIES:
        _load(family)
    return sorted(REGISTRY)


def create_simulator(
    protocol_id: str, *, faults: Faults | None = None, **options: Any
) -> Simulator:
    """Return a new simulated device speaking ``protocol_id`` (case-insensitive).

    Raises :class:`~mppsolar_lib.errors.UnknownProtocolError` naming the ids that have one.
    """
    key = protocol_id.strip().lower()
    if key not in REGISTRY:
        for family, prefixes in _FAMILIES.items():
            if key.startswith(prefixes):
                _load(family)
    factory = REGISTRY.get(key)
    if factory is None:
        known = ", ".join(list_simulators())
        raise UnknownProtocolError(f"no simulator for protocol {protocol_id!r}; known: {known}")
    return with_faults(factory(key, **options), faults)
