"""Switches: a PI30's flags over a pty, a JK BMS's MOSFETs over (simulated) Bluetooth.

The JK BMS's charging and discharging switches cut the pack off, and its balancer switch lets
the cells drift apart: they are safety settings, disabled until the user enables them, and
named so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from mppsolar_lib.simulator.ble import SimulatedBleDevice

from .controlled import controlled, entity_registry_enabled_by_default  # noqa: F401
from .simulated import advertise, described, service_info
from .test_bluetooth import BOUND, bluetooth_entry, on_the_air, settle

BUZZER = "switch.pi30_simulator_buzzer"
JK_CHARGING = "switch.jk_bms_charging_mosfet_safety_setting"
JK_BALANCING = "switch.jk_bms_balancing_safety_setting"


async def switch(hass: HomeAssistant, entity_id: str, *, on: bool) -> None:
    """Turn the switch on or off as a user does (returns once the device read it back)."""
    await hass.services.async_call(
        SWITCH_DOMAIN,
        SERVICE_TURN_ON if on else SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: entity_id},
        blocking=True,
    )


def shown(hass: HomeAssistant, entity_id: str) -> str:
    """Return the entity's state."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_pi30_switches(hass: HomeAssistant, snapshot: SnapshotAssertion) -> None:
    """Every switch of a PI30 (its QFLAG flags), enabled: none is a safety setting."""
    async with controlled(hass, "pi30") as device:
        assert described(hass, device.entry, "switch") == snapshot
        assert shown(hass, BUZZER) == STATE_ON


async def test_switch_writes_and_reads_back(hass: HomeAssistant) -> None:
    """Off then on: the exact flag setter frames go out; the switch shows the read-back."""
    async with controlled(hass, "pi30") as device:
        await switch(hass, BUZZER, on=False)
        assert device.setters() == [device.frame("PDa")]
        assert shown(hass, BUZZER) == STATE_OFF
        await switch(hass, BUZZER, on=True)
        assert device.setters() == [device.frame("PDa"), device.frame("PEa")]
        assert shown(hass, BUZZER) == STATE_ON


async def test_switch_refused(hass: HomeAssistant) -> None:
    """A NAK: a translated error; the switch keeps the device's state."""
    async with controlled(hass, "pi30") as device:
        device.refuse("PDa")
        with pytest.raises(HomeAssistantError) as caught:
            await switch(hass, BUZZER, on=False)
        assert caught.value.translation_key == "setting_refused"
        assert shown(hass, BUZZER) == STATE_ON


@asynccontextmanager
async def jk_bms(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SimulatedBleDevice, MockConfigEntry]]:
    """Put a simulated JK BMS on the air; set up its entry; yield both."""
    bms = on_the_air(monkeypatch, "jk02_32", "JK-B2A24S15P", "C8:47:8C:00:00:05")
    try:
        advertise(hass, service_info(bms))
        entry = bluetooth_entry(bms.address, "jk02_32")
        entry.add_to_hass(hass)
        async with asyncio.timeout(BOUND):
            assert await hass.config_entries.async_setup(entry.entry_id)
        await settle(hass)
        yield bms, entry
        async with asyncio.timeout(BOUND):
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        bms.close()


@pytest.mark.usefixtures("enable_bluetooth")
async def test_jk_controls(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    """A JK BMS: charging, discharging and balancer switches, two thresholds: all disabled."""
    async with jk_bms(hass, monkeypatch) as (_, entry):
        table = {
            domain: described(hass, entry, domain) for domain in ("number", "select", "switch")
        }
        assert table == snapshot
        assert not any(item["enabled"] for items in table.values() for item in items.values())


@pytest.mark.usefixtures("enable_bluetooth", "entity_registry_enabled_by_default")
async def test_jk_charging_switch(hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enabled by the user: charging off sends the BMS's frame; the switch shows its record."""
    async with jk_bms(hass, monkeypatch) as (bms, entry):
        assert shown(hass, JK_CHARGING) == STATE_ON
        await switch(hass, JK_CHARGING, on=False)
        frame = entry.runtime_data.protocol.build_request("setChargingOff")
        assert frame in bms.writes
        assert shown(hass, JK_CHARGING) == STATE_OFF


@pytest.mark.usefixtures("enable_bluetooth", "entity_registry_enabled_by_default")
async def test_jk_balancing_switch(hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enabled by the user: balancer off writes register 0x1F; the switch shows the record's."""
    async with jk_bms(hass, monkeypatch) as (bms, entry):
        assert shown(hass, JK_BALANCING) == STATE_ON
        await switch(hass, JK_BALANCING, on=False)
        # aa 55 90 eb, register 0x1F, 4 value bytes (0: off), padding, byte sum.
        frame = bytes.fromhex("aa5590eb1f04") + bytes(13) + b"\x9d"
        assert entry.runtime_data.protocol.build_request("setBalancerOff") == frame
        assert frame in bms.writes
        assert shown(hass, JK_BALANCING) == STATE_OFF
        await switch(hass, JK_BALANCING, on=True)
        assert shown(hass, JK_BALANCING) == STATE_ON


async def test_switch_not_applied(hass: HomeAssistant) -> None:
    """The unit acknowledges but keeps the flag: the error says it still reports it on."""
    async with controlled(hass, "pi30") as device:
        device.refuse("PDa", ignore=True)
        with pytest.raises(HomeAssistantError) as caught:
            await switch(hass, BUZZER, on=False)
        assert caught.value.translation_key == "setting_not_applied"
        assert "but reports on" in str(caught.value)
        assert shown(hass, BUZZER) == STATE_ON


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_daly_mosfet_switch(hass: HomeAssistant) -> None:
    """A Daly BMS's MOS states come with its status: the switch writes and shows the new one."""
    async with controlled(hass, "daly") as device:
        entity_id = "switch.daly_simulator_charging_mosfet_safety_setting"
        assert shown(hass, entity_id) == STATE_ON
        await switch(hass, entity_id, on=False)
        # As the BMS takes it: its 13-byte frame (the line feed the host adds is ignored).
        assert device.frame("setChargeMos0").rstrip(b"\n") in device.received
        assert shown(hass, entity_id) == STATE_OFF
