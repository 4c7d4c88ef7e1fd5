"""Numbers: a PI30's charging currents and battery voltages, written over a pty, read back.

The charging currents take only the values the inverter lists (QMCHGCR, QMUCHGCR): the
number's range and step are those of its list.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.number.const import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.mppsolar.const import DOMAIN
from custom_components.mppsolar.number import step_of

from .controlled import controlled, entity_registry_enabled_by_default  # noqa: F401
from .simulated import described

CHARGING = "number.pi30_simulator_max_charging_current_safety_setting"
AC_CHARGING = "number.pi30_simulator_max_ac_charging_current_safety_setting"
FLOAT = "number.pi30_simulator_battery_float_charging_voltage_safety_setting"


async def set_value(hass: HomeAssistant, entity_id: str, value: float) -> None:
    """Set ``value`` as a user does (the action returns once the device read it back)."""
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: entity_id, ATTR_VALUE: value},
        blocking=True,
    )


def attributes(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    """Return the entity's state and its range."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return {"state": state.state, **{k: state.attributes[k] for k in ("min", "max", "step")}}


async def test_numbers(hass: HomeAssistant, snapshot: SnapshotAssertion) -> None:
    """Every number of a PI30: all are safety settings, so all are disabled by default."""
    async with controlled(hass, "pi30") as device:
        table = described(hass, device.entry, "number")
        assert table == snapshot
        assert table
        assert not any(item["enabled"] for item in table.values())


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_range_from_the_device(hass: HomeAssistant) -> None:
    """The charging currents offer what the unit lists; the voltages their declared range."""
    async with controlled(hass, "pi30"):
        assert attributes(hass, CHARGING) == {"state": "60", "min": 10, "max": 120, "step": 10}
        assert attributes(hass, AC_CHARGING) == {"state": "30", "min": 2, "max": 120, "step": 2}
        assert attributes(hass, FLOAT) == {"state": "54.0", "min": 12.0, "max": 64.0, "step": 0.1}


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_range_declared_when_the_unit_lists_none(hass: HomeAssistant) -> None:
    """Firmware without QMCHGCR: the declared range applies, and it is not asked again."""
    async with controlled(hass, "pi30", refused=("QMCHGCR",)) as device:
        assert attributes(hass, CHARGING) == {"state": "60", "min": 1, "max": 200, "step": 1}
        assert "QMCHGCR" in device.coordinator.dropped


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("entity_id", "value", "frame", "shown"),
    [
        (CHARGING, 30, "MCHGC030", "30"),
        (CHARGING, 110, "MNCHGC0110", "110"),
        (AC_CHARGING, 2, "MUCHGC002", "2"),
        (FLOAT, 54.5, "PBFT54.5", "54.5"),
    ],
)
async def test_number_writes_and_reads_back(
    hass: HomeAssistant, entity_id: str, value: float, frame: str, shown: str
) -> None:
    """The exact setter frame goes out; the number shows the value read back."""
    async with controlled(hass, "pi30") as device:
        await set_value(hass, entity_id, value)
        assert device.setters() == [device.frame(frame)]
        assert attributes(hass, entity_id)["state"] == shown


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_value_the_unit_does_not_list(hass: HomeAssistant) -> None:
    """35 A is in range but not in the unit's list: refused, translated, nothing sent."""
    async with controlled(hass, "pi30") as device:
        with pytest.raises(ServiceValidationError) as caught:
            await set_value(hass, CHARGING, 35)
        assert caught.value.translation_domain == DOMAIN
        assert caught.value.translation_key == "setting_invalid"
        assert str(caught.value) == (
            "Max charging current cannot be set to 35.0: Max charging current: 35 A is not "
            "allowed by this device; use one of 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, "
            f"120. Nothing was sent to {device.coordinator.device.name}"
        )
        assert device.setters() == []
        assert attributes(hass, CHARGING)["state"] == "60"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_value_off_the_step(hass: HomeAssistant) -> None:
    """A voltage between two steps is refused before anything is sent."""
    async with controlled(hass, "pi30") as device:
        with pytest.raises(ServiceValidationError, match="not a multiple of 0.1"):
            await set_value(hass, FLOAT, 54.55)
        assert device.setters() == []


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_number_refused(hass: HomeAssistant) -> None:
    """A NAK: a translated error; the number keeps the device's value."""
    async with controlled(hass, "pi30") as device:
        device.refuse("PBFT55.0")
        with pytest.raises(HomeAssistantError) as caught:
            await set_value(hass, FLOAT, 55)
        assert caught.value.translation_key == "setting_refused"
        assert device.setters() == [device.frame("PBFT55.0")]
        assert attributes(hass, FLOAT)["state"] == "54.0"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_number_unanswered(hass: HomeAssistant) -> None:
    """The unit never answers the setter: a translated error saying why, after the retries."""
    async with controlled(hass, "pi30") as device:
        device.silence(device.frame("PBFT55.0"))
        with pytest.raises(HomeAssistantError) as caught:
            await set_value(hass, FLOAT, 55)
        assert caught.value.translation_key == "setting_failed"
        assert "did not take effect" in str(caught.value)
        assert attributes(hass, FLOAT)["state"] == "54.0"


async def test_unknown_setting(hass: HomeAssistant) -> None:
    """A setting the protocol does not have (an action's key): refused, naming what exists."""
    async with controlled(hass, "pi30") as device:
        with pytest.raises(ServiceValidationError) as caught:
            await device.coordinator.async_write_setting("no_such_setting", 1)
        assert caught.value.translation_key == "setting_unknown"
        assert "output_source_priority" in str(caught.value)
        assert device.setters() == []


@pytest.mark.parametrize(
    ("values", "step"),
    [((10, 20, 30), 10), ((2, 10, 20), 2), ((5,), None), ((1.5, 2.5), None), ((), None)],
)
def test_step_of(values: tuple[float, ...], step: float | None) -> None:
    """The step reaching every listed value; none for one value or fractions."""
    assert step_of(values) == step


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_number_not_applied(hass: HomeAssistant) -> None:
    """The unit acknowledges but keeps its voltage: the error names the one it reports."""
    async with controlled(hass, "pi30") as device:
        device.refuse("PBFT55.0", ignore=True)
        with pytest.raises(HomeAssistantError) as caught:
            await set_value(hass, FLOAT, 55)
        assert caught.value.translation_key == "setting_not_applied"
        assert "but reports 54" in str(caught.value)
        assert attributes(hass, FLOAT)["state"] == "54.0"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_pi17_linked_voltages(hass: HomeAssistant) -> None:
    """PI17 sets bulk and float voltages in one command: the float one is copied as read."""
    async with controlled(hass, "pi17") as device:
        entity_id = "number.pi17_simulator_battery_constant_charge_voltage_cv_safety_setting"
        assert attributes(hass, entity_id)["state"] == "58.4"
        await set_value(hass, entity_id, 56)
        assert device.frame("MCHGV0560,0576") in device.received
        assert attributes(hass, entity_id)["state"] == "56.0"
