"""Binary sensors: warnings, faults and switches of one device per family, as a user sees them."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.mppsolar.binary_sensor import descriptions, is_on
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer

from .simulated import FAMILIES, described, serial_entry, served_entry, set_up


@pytest.mark.parametrize(("protocol", "link"), FAMILIES)
async def test_binary_sensors(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    request: pytest.FixtureRequest,
    protocol: str,
    link: str,
) -> None:
    """Every binary sensor of the device; each enabled one is on or off at once."""
    async with served_entry(hass, request, protocol, link) as entry:
        table = described(hass, entry, "binary_sensor")
        assert table == snapshot
        for entity_id, item in table.items():
            state = hass.states.get(entity_id)
            if item["enabled"]:
                assert state is not None, entity_id
                assert state.state in (STATE_ON, STATE_OFF), entity_id
            else:
                assert state is None, entity_id


async def test_enabled_disabled_options_read_as_on_off(hass: HomeAssistant) -> None:
    """PI17 reports warnings and settings as enabled/disabled: problems off, settings on/off."""
    async with PtyServer(create_simulator("pi17")) as server:
        entry = serial_entry(server, "pi17")
        await set_up(hass, entry)
        warning = hass.states.get("binary_sensor.pi17_simulator_over_temperature")
        assert warning is not None
        assert warning.state == STATE_OFF
        assert warning.attributes["device_class"] == "problem"
        # A safety setting (its switch is disabled by default) keeps its binary sensor.
        setting = hass.states.get(
            "binary_sensor.pi17_simulator_ac_charger_keep_battery_voltage_function"
        )
        assert setting is not None
        assert setting.state == STATE_ON
        assert await hass.config_entries.async_unload(entry.entry_id)


def test_is_on() -> None:
    """Flags and enabled/disabled options have a state; anything else is unknown."""
    assert is_on(True) is True
    assert is_on(False) is False
    assert is_on("Enabled") is True
    assert is_on("disabled") is False
    assert is_on("Unknown (7)") is None
    assert is_on(1) is None


def test_warnings_are_problems() -> None:
    """Warning and fault flags are diagnostic problem sensors."""
    flags = descriptions("pi18sv")
    fan = flags[False, "fan_lock"]
    assert fan.device_class == "problem"
    assert fan.entity_category == "diagnostic"
    balancing = descriptions("jkpb")[False, "balancing"]
    assert balancing.device_class is None
