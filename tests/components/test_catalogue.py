"""The entity set: no read-only twin of a control, no reserved positions, an icon for each entity.

A setting whose select, number or switch is enabled by default shows its value there only; a
safety setting (its control disabled by default) keeps its read-only sensor. Reserved bits and
bytes stay decoded by the library (the conformance vectors expect them) but get no entity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.mppsolar import binary_sensor, number, select, sensor, switch
from custom_components.mppsolar.catalogue import catalogue, controls, unit_catalogue
from custom_components.mppsolar.const import DOMAIN
from mppsolar_lib.protocols import get_protocol, list_protocols
from mppsolar_lib.protocols.fields import is_reserved
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.serve import PtyServer

from .simulated import FAMILIES, entities, serial_entry, served_entry, unique_id

ICONS = Path(__file__).parents[2] / "custom_components" / DOMAIN / "icons.json"


async def test_a_control_replaces_the_sensor_of_its_value(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """PI30: output source priority is a select only; battery type keeps its sensor."""
    registry = er.async_get(hass)
    async with served_entry(hass, request, "pi30", "pty"):
        priority = hass.states.get("select.pi30_simulator_output_source_priority")
        assert priority is not None
        assert priority.state == "sbu_first"
        assert registry.async_get("sensor.pi30_simulator_output_source_priority") is None
        # QFLAG's buzzer: a switch, no binary sensor.
        assert hass.states.get("switch.pi30_simulator_buzzer") is not None
        assert registry.async_get("binary_sensor.pi30_simulator_buzzer") is None

        # A safety setting: its select is disabled by default, its value stays visible.
        control = registry.async_get("select.pi30_simulator_battery_type_safety_setting")
        assert control is not None
        assert control.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        battery_type = hass.states.get("sensor.pi30_simulator_battery_type")
        assert battery_type is not None
        assert battery_type.state == "user"


@pytest.mark.parametrize("protocol", list_protocols())
def test_no_read_only_twin_of_an_enabled_control(protocol: str) -> None:
    """The value of an enabled-by-default control has no entry; a safety setting's has one."""
    entries = catalogue(protocol)
    fields = {
        (command not in get_protocol(protocol).status_commands, key)
        for command in {
            *get_protocol(protocol).status_commands,
            *get_protocol(protocol).settings_commands,
        }
        for key in get_protocol(protocol).resolve(command)[0].info
    }
    for where, control in controls(protocol).items():
        if control.enabled_default:
            assert where not in entries, (protocol, control.key)
        elif where in fields:
            assert where in entries, (protocol, control.key)


@pytest.mark.parametrize("protocol", list_protocols())
def test_reserved_positions_have_no_entry(protocol: str) -> None:
    """No protocol's catalogue (its own or its parallel units') holds a reserved position."""
    for entry in [*catalogue(protocol).values(), *unit_catalogue(protocol).values()]:
        assert not is_reserved(entry.field), (protocol, entry.key)
        assert "reserved" not in entry.info.name.casefold(), (protocol, entry.key)


@pytest.mark.parametrize("protocol", ["pi30", "pi30max", "pi30m044", "pi41"])
def test_reserved_warning_bits_stay_decoded(protocol: str) -> None:
    """QPIWS keeps its reserved field (as the reference names it), hinted to have no entity."""
    info = get_protocol(protocol).commands["QPIWS"].info
    assert info["reserved"].hints.entity is False
    assert info["reserved"].hints.enabled_default is False
    assert all(item.hints.entity for key, item in info.items() if key != "reserved")


@pytest.mark.parametrize(("protocol", "link"), FAMILIES)
async def test_no_reserved_entities(
    hass: HomeAssistant, request: pytest.FixtureRequest, protocol: str, link: str
) -> None:
    """No entity of any family is named Reserved, enabled or not; the others have values."""
    async with served_entry(hass, request, protocol, link) as entry:
        items = entities(hass, entry)
        assert items
        for item in items:
            assert "reserved" not in (item.original_name or "").casefold(), item.entity_id
            assert not is_reserved(item.unique_id.rsplit("_", 1)[-1]), item.entity_id
            if item.disabled_by is None and item.domain in ("binary_sensor", "sensor"):
                state = hass.states.get(item.entity_id)
                assert state is not None, item.entity_id
                assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE), item.entity_id


def _without_device_class(protocol: str) -> set[tuple[str, str | None]]:
    """Return the (platform, translation key) of the protocol's entities without a class."""
    described: list[tuple[str, Any]] = [
        *((Platform.SENSOR, d) for d in sensor.descriptions(protocol).values()),
        *((Platform.SENSOR, d) for d in sensor.unit_descriptions(protocol).values()),
        *((Platform.BINARY_SENSOR, d) for d in binary_sensor.descriptions(protocol).values()),
    ]
    describe = {
        Platform.SELECT: select.describe,
        Platform.NUMBER: number.describe,
        Platform.SWITCH: switch.describe,
    }
    described.extend(
        (control.platform, describe[control.platform](control))
        for control in controls(protocol).values()
    )
    return {
        (str(platform), description.translation_key)
        for platform, description in described
        if getattr(description, "device_class", None) is None
    }


@pytest.mark.parametrize("protocol", list_protocols())
def test_entities_without_device_class_have_an_icon(protocol: str) -> None:
    """An entity Home Assistant has no device-class icon for gets one from icons.json."""
    icons = json.loads(ICONS.read_text(encoding="utf-8"))["entity"]
    missing = [
        (platform, key)
        for platform, key in sorted(_without_device_class(protocol), key=str)
        if key not in icons.get(platform, {})
    ]
    assert not missing


async def test_sensors_of_earlier_versions_are_removed(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """Entities an earlier version made for now-superseded values leave the registry at setup.

    An upgrade must not leave "unavailable" twins: output source priority (a select now) and
    the reserved QPIWS bit were sensors before. Another integration's entity is untouched.
    """
    simulator = create_simulator("pi30")
    async with PtyServer(simulator) as server:
        entry = serial_entry(server, "pi30")
        entry.add_to_hass(hass)
        registry = er.async_get(hass)
        prefix = unique_id(simulator, "pi30")
        stale = {
            registry.async_get_or_create(
                domain, DOMAIN, f"{prefix}_{key}", config_entry=entry
            ).entity_id
            for domain, key in (
                (Platform.SENSOR, "output_source_priority"),
                (Platform.BINARY_SENSOR, "reserved"),
            )
        }
        foreign = registry.async_get_or_create(
            Platform.SENSOR, "other", f"{prefix}_output_source_priority"
        ).entity_id
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        try:
            for entity_id in stale:
                assert registry.async_get(entity_id) is None, entity_id
            assert registry.async_get(foreign) is not None
            assert hass.states.get("sensor.pi30_simulator_battery_voltage") is not None
            assert hass.states.get("select.pi30_simulator_output_source_priority") is not None
        finally:
            await hass.config_entries.async_unload(entry.entry_id)
