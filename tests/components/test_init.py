"""Setting up, unloading and reloading entries against simulated devices on a real pty or TCP.

The simulators answer through the same serial (serialx) and TCP code paths a real unit uses.
"""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.mppsolar.const import CONF_BAUD, DOMAIN
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer, TcpServer

from .simulated import entities, next_poll, serial_entry, set_up, tcp_entry

BATTERY_VOLTAGE = "sensor.pi30_simulator_battery_voltage"
#: Where the coordinator logs (Home Assistant's coordinator logs through our logger).
LOGGER = "custom_components.mppsolar"


def records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    """Return the integration's log messages at ``level`` that contain ``text``."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == level and text in r.getMessage()
    ]


async def test_setup_unload_reload_over_pty(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    """A PI30 on a pty: set up with live values, unloaded, reloaded with the same entities."""
    async with PtyServer(create_simulator("pi30")) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        created = [e.entity_id for e in entities(hass, entry)]
        assert len(created) > 50
        voltage = hass.states.get(BATTERY_VOLTAGE)
        assert voltage is not None
        assert 40 < float(voltage.state) < 65

        device = device_registry.async_get_device(identifiers={(DOMAIN, entry.unique_id)})
        assert device is not None
        assert device.manufacturer == "Voltronic Power"
        assert device.model_id == "pi30"

        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.NOT_LOADED
        state = hass.states.get(BATTERY_VOLTAGE)
        assert state is not None
        assert state.state == STATE_UNAVAILABLE

        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert [e.entity_id for e in entities(hass, entry)] == created
        state = hass.states.get(BATTERY_VOLTAGE)
        assert state is not None
        assert state.state != STATE_UNAVAILABLE

        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert [e.entity_id for e in entities(hass, entry)] == created
        assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("socket_enabled")
async def test_setup_over_tcp(hass: HomeAssistant) -> None:
    """A PI30 behind a serial-over-IP gateway: the same entities and live values."""
    async with TcpServer(create_simulator("pi30")) as server:
        entry = tcp_entry(server, "pi30")
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        state = hass.states.get("sensor.pi30_gateway_battery_voltage")
        assert state is not None
        assert 40 < float(state.state) < 65
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert entry.state is ConfigEntryState.NOT_LOADED


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize("link", ["pty", "tcp"])
async def test_unavailable_then_available(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture, link: str
) -> None:
    """The device goes away for two polls and comes back: logged once each way."""
    simulator = create_simulator("pi30")
    server: PtyServer | TcpServer
    if link == "pty":
        server = PtyServer(simulator, link=tmp_path / "inverter")
        await server.start()
        entry = serial_entry(server, "pi30")
        entity_id = BATTERY_VOLTAGE
        flag_id = "binary_sensor.pi30_simulator_load_output"
    else:
        server = TcpServer(simulator)
        await server.start()
        entry = tcp_entry(server, "pi30")
        entity_id = "sensor.pi30_gateway_battery_voltage"
        flag_id = "binary_sensor.pi30_gateway_load_output"
    try:
        await set_up(hass, entry)
        assert hass.states.get(entity_id).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

        port = server.port if isinstance(server, TcpServer) else 0
        await server.close()
        await next_poll(hass, 2)
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
        flag = hass.states.get(flag_id)
        assert flag is not None
        assert flag.state == STATE_UNAVAILABLE
        assert len(records(caplog, logging.ERROR, "Error fetching")) == 1

        server = (
            PtyServer(simulator, link=tmp_path / "inverter")
            if link == "pty"
            else TcpServer(simulator, port=port)
        )
        await server.start()
        await next_poll(hass, 2)
        state = hass.states.get(entity_id)
        assert state is not None
        assert 40 < float(state.state) < 65
        assert len(records(caplog, logging.INFO, "recovered")) == 1
        assert len(records(caplog, logging.ERROR, "Error fetching")) == 1
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.close()


async def test_refused_command_is_dropped(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain PI18 firmware refuses FWS: the rest stays available and FWS is not asked again."""
    caplog.set_level(logging.DEBUG, logger="mppsolar_lib.device")
    async with PtyServer(create_simulator("pi18")) as server:
        entry = serial_entry(server, "pi18")
        await set_up(hass, entry)
        coordinator = entry.runtime_data
        assert coordinator.dropped == {"FWS"}
        assert len(records(caplog, logging.INFO, "refuses FWS")) == 1
        sent_before = sum("> FWS" in r.getMessage() for r in caplog.records)
        assert sent_before == 1

        await next_poll(hass, 2)
        assert sum("> FWS" in r.getMessage() for r in caplog.records) == sent_before
        assert len(records(caplog, logging.INFO, "refuses FWS")) == 1
        assert coordinator.last_update_success
        state = hass.states.get("sensor.pi18_simulator_battery_voltage")
        assert state is not None
        assert state.state != STATE_UNAVAILABLE
        # The warnings FWS would report get no entities: the unit never reports them.
        assert not [e for e in entities(hass, entry) if e.unique_id.endswith("_fan_lock")]
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unusable_port_settings(hass: HomeAssistant) -> None:
    """Settings no port accepts (a negative baud rate) fail setup for good, saying why."""
    async with PtyServer(create_simulator("pi30")) as server:
        entry = serial_entry(server, "pi30", **{CONF_BAUD: -1})
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_ERROR
        assert entry.reason is not None
        assert "baud rate -1 is not allowed" in entry.reason


async def test_missing_port_is_retried(hass: HomeAssistant, tmp_path: Path) -> None:
    """A port that is not there (unplugged adapter) makes Home Assistant retry the setup."""
    async with PtyServer(create_simulator("pi30")) as server:
        entry = serial_entry(server, "pi30")
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "device": str(tmp_path / "ttyUSB9")}
    )
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "Cannot open" in entry.reason


async def test_device_refusing_everything_is_retried(hass: HomeAssistant) -> None:
    """A unit that answers NAK to every status command: setup is retried, nothing is created."""
    # A PI17 answers (NAK to requests without its ^ framing: all of PI30's.
    async with PtyServer(create_simulator("pi17")) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert entities(hass, entry) == []
        await hass.config_entries.async_unload(entry.entry_id)
