"""Selects: a PI30's priorities and battery type, written over a real pty and read back."""

from __future__ import annotations

from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.mppsolar.const import DOMAIN

from .controlled import controlled, entity_registry_enabled_by_default  # noqa: F401
from .simulated import described

OUTPUT = "select.pi30_simulator_output_source_priority"
BATTERY = "select.pi30_simulator_battery_type_safety_setting"


async def select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    """Choose ``option`` as a user does (the action returns once the device read it back)."""
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id, ATTR_OPTION: option},
        blocking=True,
    )


def shown(hass: HomeAssistant, entity_id: str) -> str:
    """Return the entity's state."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_selects(hass: HomeAssistant, snapshot: SnapshotAssertion) -> None:
    """Every select of a PI30: ids, names, options, category config; safety ones disabled."""
    async with controlled(hass, "pi30") as device:
        assert described(hass, device.entry, "select") == snapshot
        assert shown(hass, OUTPUT) == "sbu_first"
        assert hass.states.get(BATTERY) is None  # a safety setting: disabled by default
        item = er.async_get(hass).async_get(BATTERY)
        assert item is not None
        assert item.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_select_writes_and_reads_back(hass: HomeAssistant) -> None:
    """The option's code goes out as the exact setter frame; the select shows the read-back."""
    async with controlled(hass, "pi30") as device:
        await select(hass, OUTPUT, "utility_first")
        assert device.setters() == [device.frame("POP00")]
        assert shown(hass, OUTPUT) == "utility_first"
        assert device.coordinator.data.settings["output_source_priority"].value == "Utility first"


async def test_select_already_set_sends_nothing(hass: HomeAssistant) -> None:
    """The device already reports the option: nothing is written."""
    async with controlled(hass, "pi30") as device:
        await select(hass, OUTPUT, "sbu_first")
        assert device.setters() == []
        assert shown(hass, OUTPUT) == "sbu_first"


async def test_select_refused(hass: HomeAssistant) -> None:
    """A NAK: a translated error; the select keeps showing the device's value."""
    async with controlled(hass, "pi30") as device:
        device.refuse("POP01")
        with pytest.raises(HomeAssistantError) as caught:
            await select(hass, OUTPUT, "solar_first")
        assert caught.value.translation_domain == DOMAIN
        assert caught.value.translation_key == "setting_refused"
        assert str(caught.value) == (
            f"{device.coordinator.device.name} refused to set Output source priority to Solar "
            "first (NAK); it may not accept it in its current mode or with its other settings"
        )
        assert device.setters() == [device.frame("POP01")]
        assert shown(hass, OUTPUT) == "sbu_first"


async def test_select_not_applied(hass: HomeAssistant) -> None:
    """The unit acknowledges but keeps its value: the error names what it reports."""
    async with controlled(hass, "pi30") as device:
        device.refuse("POP01", ignore=True)
        with pytest.raises(HomeAssistantError) as caught:
            await select(hass, OUTPUT, "solar_first")
        assert caught.value.translation_key == "setting_not_applied"
        assert "but reports SBU first" in str(caught.value)
        assert device.setters()[0] == device.frame("POP01")
        assert shown(hass, OUTPUT) == "sbu_first"


async def test_select_unknown_option(hass: HomeAssistant) -> None:
    """An option the select does not list is refused before anything is sent."""
    async with controlled(hass, "pi30") as device:
        with pytest.raises(ServiceValidationError):
            await select(hass, OUTPUT, "grid_first")
        assert device.setters() == []


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_safety_select_when_enabled(hass: HomeAssistant) -> None:
    """A safety setting the user enabled writes as any other (the user's action confirms)."""
    async with controlled(hass, "pi30") as device:
        assert shown(hass, BATTERY) == "user"
        await select(hass, BATTERY, "agm")
        assert device.setters() == [device.frame("PBT00")]
        assert shown(hass, BATTERY) == "agm"
