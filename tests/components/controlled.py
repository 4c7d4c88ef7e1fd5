"""A simulated inverter whose requests are recorded, for the select, number and switch tests.

The simulator is served over a real pty; every request it receives is kept (as sent, with its
CRC and terminator), so a test asserts the exact frame a write put on the wire, or that none
was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from unittest.mock import PropertyMock, patch

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mppsolar.coordinator import MppSolarCoordinator
from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.protocols import Protocol
from mppsolar_lib.protocols.command import Command, Kind
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.serve import PtyServer
from mppsolar_lib.simulator.voltronic import VoltronicSimulator

from .simulated import serial_entry, set_up


@dataclass
class Controlled:
    """A set-up entry, the simulated device behind it, and what that device received."""

    entry: MockConfigEntry
    simulator: Simulator
    received: list[bytes] = field(default_factory=list)

    @property
    def protocol(self) -> Protocol:
        """The device's protocol."""
        return self.simulator.protocol

    @property
    def coordinator(self) -> MppSolarCoordinator:
        """The entry's coordinator."""
        coordinator: MppSolarCoordinator = self.entry.runtime_data
        return coordinator

    def frame(self, command: str) -> bytes:
        """Return the exact frame the host sends for ``command``."""
        return self.protocol.build_request(command)

    def setters(self) -> list[bytes]:
        """Return the setter frames the inverter received, in order (queries left out)."""
        protocol = self.protocol
        found = []
        for request in self.received:
            text = request[:-3].decode("latin-1")  # less the CRC and the CR
            try:
                definition, _ = protocol.resolve(text)
            except MppSolarError:
                continue  # sent without a CRC: a query (QPI, QID …)
            if definition.kind is Kind.SETTER:
                found.append(request)
        return found

    def refuse(self, text: str, *, ignore: bool = False) -> None:
        """Make the inverter refuse setter ``text`` (NAK), as a unit does in some modes.

        With ``ignore`` it acknowledges the setter but keeps its value (a unit that takes the
        command and does nothing).
        """
        simulator = self.simulator
        assert isinstance(simulator, VoltronicSimulator)
        write = simulator.write

        def refusing(definition: Command, param: str, request: str) -> None:
            if request != text:
                write(definition, param, request)
            elif not ignore:
                raise ValueError(f"{text} refused")

        simulator.write = refusing  # type: ignore[method-assign,assignment]

    def silence(self, request: bytes) -> None:
        """Make the device leave ``request`` unanswered (a unit busy, a line gone quiet)."""
        handle = self.simulator.handle

        def answer(received: bytes) -> bytes | None:
            return None if received == request else handle(received)

        self.simulator.handle = answer  # type: ignore[method-assign,assignment]


@asynccontextmanager
async def controlled(
    hass: HomeAssistant, protocol: str, *, refused: tuple[str, ...] = ()
) -> AsyncIterator[Controlled]:
    """Serve a simulated ``protocol`` device over a pty, recording requests; set up its entry.

    The device answers NAK to the ``refused`` queries (a firmware without them).
    """
    simulator = create_simulator(protocol, seed=1)
    if refused:
        assert isinstance(simulator, VoltronicSimulator)
        simulator.refused = frozenset(refused)  # type: ignore[misc]
    received: list[bytes] = []
    handle = simulator.handle

    def recording(request: bytes) -> bytes | None:
        received.append(request)
        return handle(request)

    simulator.handle = recording  # type: ignore[method-assign]
    server = PtyServer(simulator)
    await server.start()
    entry = serial_entry(server, protocol)
    try:
        await set_up(hass, entry)
        yield Controlled(entry, simulator, received)
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.close()


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Enable the entities that are disabled by default (as Home Assistant core's tests do)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield
