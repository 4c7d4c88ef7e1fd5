"""Sensors: one device of each family, over a real pty or TCP, as a user sees them."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import PropertyMock, patch

from homeassistant.components.sensor import (
    DEVICE_CLASS_STATE_CLASSES,
    DEVICE_CLASS_UNITS,
    SensorDeviceClass,
)
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.mppsolar.sensor import MAX_STATE, descriptions
from mppsolar_lib.protocols import list_protocols
from mppsolar_lib.simulator import create_simulator
from mppsolar_lib.simulator.faults import Faults, FaultySimulator
from mppsolar_lib.simulator.serve import PtyServer

from .simulated import FAMILIES, described, entities, next_poll, serial_entry, served_entry, set_up


@pytest.mark.parametrize(("protocol", "link"), FAMILIES)
async def test_sensors(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    request: pytest.FixtureRequest,
    protocol: str,
    link: str,
) -> None:
    """Every sensor of the device: ids, names, classes, units, categories, enabled state.

    Each enabled sensor shows a value at once: a number where it has a state class, one of
    its options where it is an enum.
    """
    async with served_entry(hass, request, protocol, link) as entry:
        table = described(hass, entry, "sensor")
        assert table == snapshot
        for entity_id, item in table.items():
            if not item["enabled"]:
                assert hass.states.get(entity_id) is None
                continue
            state = hass.states.get(entity_id)
            assert state is not None, entity_id
            assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE), entity_id
            if "state_class" in item:
                float(state.state)
            if "options" in item:
                assert state.state in item["options"], entity_id


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Enable the entities that are disabled by default (as Home Assistant core's tests do)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(("protocol", "link"), FAMILIES)
async def test_disabled_entities_work_when_enabled(
    hass: HomeAssistant, request: pytest.FixtureRequest, protocol: str, link: str
) -> None:
    """What a user enables (per-cell resistances, raw frames, reserved values) shows a value."""
    async with served_entry(hass, request, protocol, link) as entry:
        for item in entities(hass, entry):
            assert item.disabled_by is None
            state = hass.states.get(item.entity_id)
            assert state is not None, item.entity_id
            assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE), item.entity_id
            assert len(state.state) <= MAX_STATE


async def test_settings_read_later_get_their_sensors(hass: HomeAssistant) -> None:
    """Settings the first poll could not read get their sensors when they arrive."""
    # The identity (QID, QVFW, QMN) and the status (QPIGS, QMOD, QPIWS, Q1) answer; QPIRI and
    # QFLAG are garbled on all three attempts each.
    faults = Faults(script=(*("none",) * 7, *("crc",) * 6))
    async with PtyServer(create_simulator("pi30"), faults) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        assert hass.states.get("sensor.pi30_simulator_battery_voltage") is not None
        assert hass.states.get("sensor.pi30_simulator_battery_type") is None
        before = len(entities(hass, entry))

        await next_poll(hass)
        state = hass.states.get("sensor.pi30_simulator_battery_type")
        assert state is not None
        assert state.state == "user"
        setting = hass.states.get("sensor.pi30_simulator_battery_voltage_setting")
        assert setting is not None
        assert float(setting.state) == 48.0
        assert len(entities(hass, entry)) > before
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_value_missing_from_an_answer(hass: HomeAssistant) -> None:
    """A command that fails one poll makes only its own values unavailable, for that poll."""
    simulator = FaultySimulator(create_simulator("pi30"), Faults())
    async with PtyServer(simulator) as server:
        entry = serial_entry(server, "pi30")
        await set_up(hass, entry)
        q1 = "sensor.pi30_simulator_inverter_temperature"
        qpigs = "sensor.pi30_simulator_battery_voltage"
        qmod = "sensor.pi30_simulator_device_mode"
        assert hass.states.get(q1).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

        # QPIGS, QMOD and QPIWS answer; Q1 is garbled on all three attempts.
        simulator.inject("none", "none", "none", "crc", "crc", "crc")
        await next_poll(hass)
        assert hass.states.get(q1).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
        assert hass.states.get(qpigs).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
        assert hass.states.get(qmod).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

        await next_poll(hass, 2)
        assert hass.states.get(q1).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
        assert await hass.config_entries.async_unload(entry.entry_id)


def test_values_as_states() -> None:
    """Numbers stay numbers, labels become option keys, text is cut to a state's length."""
    sensors = descriptions("pi30")
    voltage = sensors[False, "battery_voltage"]
    assert voltage.value_fn(52.3) == 52.3
    assert voltage.value_fn("52.3") is None  # a decoder never gives text here
    assert voltage.value_fn(True) is None
    battery_type = sensors[True, "battery_type"]
    assert battery_type.value_fn("Pylontech") == "pylontech"
    assert battery_type.value_fn("Unknown (9)") is None
    text = sensors[False, "parallel_warning"]
    assert text.value_fn("0000") == "0000"
    assert text.value_fn("x" * 600) == "x" * MAX_STATE


def test_settings_have_no_statistics() -> None:
    """A settings value is diagnostic and has no state class; a clash gets a suffixed key."""
    sensors = descriptions("pi30")
    rated = sensors[True, "ac_output_voltage"]
    assert rated.key == "ac_output_voltage_setting"
    assert rated.state_class is None
    assert rated.entity_category == "diagnostic"
    measured = sensors[False, "ac_output_voltage"]
    assert measured.key == "ac_output_voltage"
    assert measured.state_class == "measurement"


@pytest.mark.parametrize("protocol", list_protocols())
def test_every_protocol_fits_home_assistant(protocol: str) -> None:
    """Each sensor any protocol can have is one Home Assistant accepts without a warning.

    Units suit the device class, state classes suit it too, enums have options and no unit.
    """
    for description in descriptions(protocol).values():
        device_class = description.device_class
        unit = description.native_unit_of_measurement
        if device_class is SensorDeviceClass.ENUM:
            assert description.options, description.key
            assert unit is None, description.key
            assert description.state_class is None, description.key
            continue
        if device_class is not None:
            assert unit in DEVICE_CLASS_UNITS[device_class], description.key
            if description.state_class is not None:
                assert description.state_class in DEVICE_CLASS_STATE_CLASSES[device_class], (
                    description.key
                )
        if description.suggested_display_precision is not None:
            assert unit is not None, description.key


def test_cells_share_one_translation() -> None:
    """Per-cell values: one translation key with the cell number as placeholder."""
    sensors = descriptions("jkpb")
    cell = sensors[False, "voltage_cell07"]
    assert cell.translation_key == "cell_voltage"
    assert cell.translation_placeholders == {"cell": "7"}
    assert cell.entity_category == "diagnostic"
    assert cell.entity_registry_enabled_default
    resistance = sensors[False, "resistance_cell02"]
    assert resistance.translation_key == "cell_resistance"
    assert not resistance.entity_registry_enabled_default
