"""The device's identity: read at each setup, shown in the device registry, kept in the entry.

The identity queries must read what the library's detection reads (an entry made by detection
and one set up later must agree): each Voltronic simulator is asked both ways, in process.
Then, against simulators on a real pty: a firmware update shows after the next setup, a unit
that does not answer them keeps what the entry knew, and a VE.Direct unit's identity comes from
its first status text.
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.mppsolar.const import (
    CONF_FIRMWARE,
    CONF_HARDWARE,
    CONF_MODEL,
    CONF_PROTOCOL,
    CONF_SERIAL,
    DOMAIN,
)
from custom_components.mppsolar.identity import (
    Identity,
    carries_identity,
    read_identity,
    status_identity,
)
from mppsolar_lib.device import Device
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.simulator import Faults, create_simulator, list_simulators
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.serve import PtyServer
from mppsolar_lib.simulator.voltronic_templates import TEMPLATES
from mppsolar_lib.transports.simulated import SimulatedTransport

from .simulated import serial_entry, set_up

#: Every in-process exchange and detection is bounded by this (seconds).
BOUND = 30
#: What the PI30 simulator reports.
PI30_SERIAL = "9293333010501"
PI30_MODEL = "MKS2-8000"
PI30_FIRMWARE = "00072.70"
#: The Voltronic protocols that have a simulator (every PI family and variant).
VOLTRONIC = [protocol for protocol in list_simulators() if protocol.startswith("pi")]


class Refusing(Simulator):
    """A unit of ``protocol`` whose firmware does not know ``refused`` (it answers NAK)."""

    def __init__(self, protocol: str, *refused: str) -> None:
        """Answer as the ``protocol`` simulator, except to the commands ``refused``."""
        super().__init__(protocol)
        self.inner = create_simulator(protocol, seed=1)
        self.refused = tuple(command.encode() for command in refused)

    def handle(self, request: bytes) -> bytes | None:
        """Refuse the commands named; answer the rest."""
        body = request.lstrip(b"^P0123456789")
        if body.startswith(self.refused):
            return self.inner.nak(request)  # type: ignore[attr-defined]
        return self.inner.handle(request)


def in_process(simulator: Simulator, protocol: str | None) -> Device:
    """Return a device talking to ``simulator`` in process (``protocol`` None: detect it)."""
    return Device(SimulatedTransport(simulator), protocol, backoff=0, settle=0)


async def detected(simulator: Simulator) -> Identity:
    """Return what the library's detection reports of ``simulator``."""
    async with asyncio.timeout(BOUND):
        detection = await in_process(simulator, None).identify()
    return Identity(detection.model, detection.firmware, detection.serial)


@pytest.mark.parametrize("protocol", [*VOLTRONIC, "ved"])
async def test_identity_queries_read_what_detection_reads(protocol: str) -> None:
    """Serial number, firmware and model as detection gives them.

    PI30 REVO has no model number or name: its serial number (QID) and firmware (QVFW) only.
    """
    simulator = create_simulator(protocol, seed=1)
    sent: list[bytes] = []
    handle = simulator.handle
    simulator.handle = lambda request: sent.append(request) or handle(request)  # type: ignore[method-assign]
    device = in_process(simulator, protocol)
    async with asyncio.timeout(BOUND):
        identity = await read_identity(device)

    assert identity == await detected(create_simulator(protocol, seed=1))
    assert identity.firmware
    assert identity.serial or protocol == "ved"  # a SmartShunt sends no serial number
    if protocol == "pi30revo":
        assert identity.model is None
        assert [request[:-3] for request in sent] == [b"QID", b"QVFW"]


@pytest.mark.parametrize(
    ("protocol", "refused", "expected"),
    [
        # No model name: the general model number instead, as detection does.
        ("pi30", ("QMN",), Identity("038", PI30_FIRMWARE, PI30_SERIAL)),
        ("pi30", ("QMN", "QGMN"), Identity(None, PI30_FIRMWARE, PI30_SERIAL)),
        ("pi30", ("QID", "QVFW"), Identity(PI30_MODEL)),
        ("pi18", ("ID",), Identity(None, "5220", None)),
    ],
    ids=["pi30-no-model-name", "pi30-no-model", "pi30-no-serial", "pi18-no-serial"],
)
async def test_refused_identity_query_is_left_out(
    protocol: str, refused: tuple[str, ...], expected: Identity
) -> None:
    """A query the unit's firmware refuses is left out; what the others tell is kept."""
    simulator = Refusing(protocol, *refused)
    async with asyncio.timeout(BOUND):
        identity = await read_identity(in_process(simulator, protocol))

    assert identity == expected
    assert identity == await detected(Refusing(protocol, *refused))


async def test_status_text_carries_the_identity() -> None:
    """A VE.Direct unit's status text gives what detection gives; other answers give none."""
    simulator = create_simulator("ved", serial="HQ2212ABCDE", seed=1)
    device = in_process(simulator, "ved")
    async with asyncio.timeout(BOUND):
        status = await device.get_status()
    identity = status_identity(status.values())

    assert identity == Identity("SmartShunt 500A/50mV", "4.19", "HQ2212ABCDE")
    assert identity == await detected(create_simulator("ved", serial="HQ2212ABCDE", seed=1))
    assert carries_identity(get_protocol("ved"))
    # Nothing received: nothing known.
    assert status_identity(()) == Identity()
    # Other units are asked.
    assert not carries_identity(get_protocol("pi30"))


# -- in Home Assistant ------------------------------------------------------------------------


def updated_pi30(firmware: str) -> Simulator:
    """Return a PI30 simulator whose firmware reports version ``firmware``."""
    return create_simulator("pi30", templates={**TEMPLATES["pi30"], "QVFW": f"VERFW:{firmware}"})


async def test_firmware_update_shows_after_the_next_setup(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    """The device shows model, serial number and firmware; after an update, the new firmware."""
    async with PtyServer(create_simulator("pi30")) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        device = device_registry.async_get_device(identifiers={(DOMAIN, PI30_SERIAL)})
        assert device is not None
        assert (device.model, device.serial_number, device.sw_version) == (
            PI30_MODEL,
            PI30_SERIAL,
            PI30_FIRMWARE,
        )
        assert device.model_id == "pi30"
        assert device.hw_version is None
        assert entry.data[CONF_FIRMWARE] == PI30_FIRMWARE

        # The unit's firmware is updated; Home Assistant restarts (the entry is set up again).
        server.simulator = updated_pi30("00073.10")
        async with asyncio.timeout(BOUND):
            assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()

        device = device_registry.async_get_device(identifiers={(DOMAIN, PI30_SERIAL)})
        assert device is not None
        assert device.sw_version == "00073.10"
        assert device.model == PI30_MODEL
        assert entry.data[CONF_FIRMWARE] == "00073.10"
        assert entry.data[CONF_PROTOCOL] == "pi30"
        assert len(dr.async_entries_for_config_entry(device_registry, entry.entry_id)) == 1
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unanswered_identity_keeps_what_the_entry_knew(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """The identity's first answers are garbled: setup goes on with what the entry knew."""
    caplog.set_level(logging.DEBUG, logger="custom_components.mppsolar")
    known = {CONF_MODEL: "MKS2-5000", CONF_FIRMWARE: "00071.00", CONF_SERIAL: PI30_SERIAL}
    # QID: all three attempts fail their CRC.
    async with PtyServer(create_simulator("pi30"), Faults(script=("crc",) * 3)) as server:
        entry = serial_entry(server, "pi30", **known)
        await set_up(hass, entry)

        assert entry.state is ConfigEntryState.LOADED
        assert "identity not read" in caplog.text
        device = device_registry.async_get_device(identifiers={(DOMAIN, entry.unique_id)})
        assert device is not None
        assert (device.model, device.serial_number, device.sw_version) == (
            "MKS2-5000",
            PI30_SERIAL,
            "00071.00",
        )
        assert {key: entry.data[key] for key in known} == known
        assert hass.states.get("sensor.pi30_simulator_battery_voltage") is not None
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_vedirect_identity_from_its_first_status(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    """A VE.Direct unit is not asked: its first status text names it; the entry keeps that."""
    async with PtyServer(create_simulator("ved", serial="HQ2212ABCDE")) as server:
        entry = serial_entry(server, "ved")
        await set_up(hass, entry)

        assert entry.state is ConfigEntryState.LOADED
        device = device_registry.async_get_device(identifiers={(DOMAIN, entry.unique_id)})
        assert device is not None
        assert device.manufacturer == "Victron Energy"
        assert (device.model, device.serial_number, device.sw_version) == (
            "SmartShunt 500A/50mV",
            "HQ2212ABCDE",
            "4.19",
        )
        assert entry.data[CONF_MODEL] == "SmartShunt 500A/50mV"
        assert CONF_HARDWARE not in entry.data
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_bms_without_identity_shows_its_protocol(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    """Daly's protocol has no identity query: the model shown is the protocol's, no serial."""
    async with PtyServer(create_simulator("daly", seed=1)) as server:
        entry = serial_entry(server, "daly")
        await set_up(hass, entry)

        device = device_registry.async_get_device(identifiers={(DOMAIN, entry.unique_id)})
        assert device is not None
        assert (device.model, device.serial_number, device.sw_version) == ("DALY", None, None)
        assert CONF_MODEL not in entry.data
        assert await hass.config_entries.async_unload(entry.entry_id)
