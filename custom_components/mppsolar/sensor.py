"""Sensors: every number, mode and text value the device reports, from the library's catalogue.

And energy (energy.py): the device's own energy counters, and energy integrated from power.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Final

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    Platform,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import FieldKind, Value

from .catalogue import Entry, catalogue, option_key, unit_catalogue
from .coordinator import MppSolarConfigEntry, MppSolarCoordinator, status_interval
from .energy import (
    ENERGY_UNITS,
    NO_STATISTICS,
    Counter,
    Flow,
    Integrator,
    counted,
    counters,
    flows,
    has_statistics,
    max_gap,
)
from .entity import MppSolarEntity, add_entities_as_fields_appear, unit_device_info
from .parallel import Total, system_total, totals

# The coordinator polls; entities only read its data.
PARALLEL_UPDATES = 0

#: The library's units as Home Assistant spells them (ampere hours and ohms have no constant).
UNITS: Final[Mapping[str, str]] = {
    "V": UnitOfElectricPotential.VOLT,
    "mV": UnitOfElectricPotential.MILLIVOLT,
    "A": UnitOfElectricCurrent.AMPERE,
    "mA": UnitOfElectricCurrent.MILLIAMPERE,
    "W": UnitOfPower.WATT,
    "kW": UnitOfPower.KILO_WATT,
    "VA": UnitOfApparentPower.VOLT_AMPERE,
    "Hz": UnitOfFrequency.HERTZ,
    "°C": UnitOfTemperature.CELSIUS,
    "Wh": UnitOfEnergy.WATT_HOUR,
    "kWh": UnitOfEnergy.KILO_WATT_HOUR,
    "%": PERCENTAGE,
    "μs": UnitOfTime.MICROSECONDS,
    "s": UnitOfTime.SECONDS,
    "min": UnitOfTime.MINUTES,
    "h": UnitOfTime.HOURS,
    "Ah": "Ah",
    "Ω": "Ω",
}

#: Decimals a kWh value needs for the resolution of one of a counter's units.
KWH_DECIMALS: Final[Mapping[str, int]] = {"Wh": 3, "kWh": 0}

#: Home Assistant's limit on the length of a state.
MAX_STATE = 255


@dataclass(frozen=True, kw_only=True)
class MppSolarSensorEntityDescription(SensorEntityDescription):
    """A sensor of one catalogue field."""

    #: Field key in the coordinator's data.
    field: str
    #: Read from the settings answers (else from the status answers).
    settings: bool = False
    value_fn: Callable[[Value], StateType]


def _number(value: Value) -> StateType:
    """Return a number as it came (a flag or text here would be a table bug: no state)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _text(value: Value) -> StateType:
    """Return text, cut to the length a state may have."""
    return str(value)[:MAX_STATE]


def _enum(options: frozenset[str]) -> Callable[[Value], StateType]:
    """Return the mapping of a label to its state key (an unknown code has no state)."""

    def value(label: Value) -> StateType:
        key = option_key(str(label))
        return key if key in options else None

    return value


def describe(entry: Entry) -> MppSolarSensorEntityDescription:
    """Return the description of the sensor of catalogue ``entry``."""
    info = entry.info
    hints = info.hints
    device_class: SensorDeviceClass | None = None
    state_class: SensorStateClass | None = None
    unit: str | None = None
    options: list[str] | None = None
    value_fn: Callable[[Value], StateType] = _text
    if info.kind is FieldKind.ENUM:
        device_class = SensorDeviceClass.ENUM
        options = list(dict.fromkeys(option_key(label) for label in info.options))
        value_fn = _enum(frozenset(options))
    elif info.kind is FieldKind.NUMBER:
        if hints.device_class is not None and hints.device_class in SensorDeviceClass:
            device_class = SensorDeviceClass(hints.device_class)
        # Settings change when someone changes them: no long-term statistics.
        if hints.state_class is not None and not entry.settings:
            state_class = SensorStateClass(hints.state_class)
        unit = UNITS.get(info.unit, info.unit or None)
        value_fn = _number
    return MppSolarSensorEntityDescription(
        key=entry.key,
        field=entry.field,
        settings=entry.settings,
        translation_key=entry.translation_key,
        translation_placeholders=dict(entry.placeholders) or None,
        entity_category=entry.entity_category,
        entity_registry_enabled_default=entry.enabled_default,
        device_class=device_class,
        state_class=state_class,
        native_unit_of_measurement=unit,
        suggested_display_precision=info.precision if unit is not None else None,
        options=options,
        value_fn=value_fn,
    )


@cache
def descriptions(protocol_id: str) -> Mapping[tuple[bool, str], MppSolarSensorEntityDescription]:
    """Return the sensors a protocol can have, by (read from settings, field key)."""
    found = {
        where: describe(entry)
        for where, entry in catalogue(protocol_id).items()
        if entry.platform is Platform.SENSOR
    }
    # Energy that Home Assistant should keep no statistics of (see energy.py).
    quiet = NO_STATISTICS.get(protocol_id, frozenset())
    for where in [(settings, key) for settings, key in found if key in quiet and not settings]:
        found[where] = replace(found[where], state_class=None)
    return found


@dataclass(frozen=True, kw_only=True)
class MppSolarCounterSensorEntityDescription(SensorEntityDescription):
    """A sensor of one of the device's energy counters."""

    counter: Counter


@dataclass(frozen=True, kw_only=True)
class MppSolarIntegratedSensorEntityDescription(SensorEntityDescription):
    """A sensor of the energy of one power flow, integrated over time."""

    flow: Flow


@cache
def counter_descriptions(protocol_id: str) -> Mapping[str, MppSolarCounterSensorEntityDescription]:
    """Return the sensors of a protocol's energy counters, by counter key.

    Shown in kWh whatever unit the device counts in; the display precision is the device's
    resolution (a counter in Wh shows three decimals).
    """
    commands = get_protocol(protocol_id).commands
    found = {}
    for counter in counters(protocol_id):
        info = next(
            info for info in commands[counter.command].info.values() if info.unit in ENERGY_UNITS
        )
        found[counter.key] = MppSolarCounterSensorEntityDescription(
            key=counter.key,
            translation_key=counter.key,
            counter=counter,
            device_class=SensorDeviceClass.ENERGY,
            state_class=(
                SensorStateClass.TOTAL_INCREASING if has_statistics(counter, protocol_id) else None
            ),
            native_unit_of_measurement=UNITS[info.unit],
            suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            # Decimals of the suggested unit: a whole number of Wh is three of kWh.
            suggested_display_precision=(
                None if info.precision is None else info.precision + KWH_DECIMALS[info.unit]
            ),
        )
    return found


@cache
def flow_descriptions(
    protocol_id: str,
) -> Mapping[str, MppSolarIntegratedSensorEntityDescription]:
    """Return the integrated energy sensors of a protocol, by key.

    Disabled where the device counts the same quantity itself: its counter is the better one.
    """
    own = counted(protocol_id)
    return {
        flow.key: MppSolarIntegratedSensorEntityDescription(
            key=flow.key,
            translation_key=flow.key,
            flow=flow,
            device_class=SensorDeviceClass.ENERGY,
            state_class=SensorStateClass.TOTAL_INCREASING,
            native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
            suggested_display_precision=2,
            entity_registry_enabled_default=flow.quantity not in own,
        )
        for flow in flows(protocol_id)
    }


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MppSolarConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor for each value the device reports, now and when new ones appear."""
    coordinator = entry.runtime_data
    add_entities_as_fields_appear(
        coordinator,
        descriptions(coordinator.protocol.id),
        lambda description: MppSolarSensor(coordinator, description),
        async_add_entities,
    )
    add_energy_sensors(coordinator, async_add_entities)
    add_parallel_sensors(coordinator, async_add_entities)


def add_energy_sensors(
    coordinator: MppSolarCoordinator, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the energy sensors: a counter's once it is read, a flow's once its fields are."""
    protocol_id = coordinator.protocol.id
    waiting_counters = dict(counter_descriptions(protocol_id))
    waiting_flows = dict(flow_descriptions(protocol_id))

    @callback
    def add_new() -> None:
        data = coordinator.data
        new: list[SensorEntity] = [
            MppSolarCounterSensor(coordinator, waiting_counters.pop(key))
            for key in list(waiting_counters)
            if key in data.energy
        ]
        new.extend(
            MppSolarIntegratedSensor(coordinator, waiting_flows.pop(key))
            for key, description in list(waiting_flows.items())
            if description.flow.fields.issubset(data.status)
        )
        if new:
            async_add_entities(new)

    add_new()
    coordinator.config_entry.async_on_unload(coordinator.async_add_listener(add_new))


class MppSolarSensor(MppSolarEntity, SensorEntity):
    """One value of the device."""

    entity_description: MppSolarSensorEntityDescription

    def __init__(
        self, coordinator: MppSolarCoordinator, description: MppSolarSensorEntityDescription
    ) -> None:
        """Show ``description``'s field."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Available while the device answers and its last answer held the value."""
        return super().available and self._value is not None

    @property
    def native_value(self) -> StateType:
        """Return the value in Home Assistant's terms."""
        value = self._value
        return None if value is None else self.entity_description.value_fn(value)

    @property
    def _value(self) -> Value:
        description = self.entity_description
        return self.coordinator.data.value(description.field, settings=description.settings)


class MppSolarCounterSensor(MppSolarEntity, SensorEntity):
    """One of the device's energy counters."""

    entity_description: MppSolarCounterSensorEntityDescription

    def __init__(
        self, coordinator: MppSolarCoordinator, description: MppSolarCounterSensorEntityDescription
    ) -> None:
        """Show ``description``'s counter."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Available while the device answers and its counter has been read."""
        return super().available and self.entity_description.key in self.coordinator.data.energy

    @property
    def native_value(self) -> StateType:
        """Return the counter's value in the device's unit."""
        field = self.coordinator.data.energy.get(self.entity_description.key)
        return None if field is None else _number(field.value)


class MppSolarIntegratedSensor(MppSolarEntity, RestoreSensor):
    """The energy of one power flow: its power integrated poll by poll, kept across restarts.

    Each coordinator update is a sample (the time it arrived, the flow's power). Nothing is
    added across a gap: an update that failed, a power the device did not report, or a poll
    later than twice the status interval (and the time a poll may take).
    """

    entity_description: MppSolarIntegratedSensorEntityDescription

    def __init__(
        self,
        coordinator: MppSolarCoordinator,
        description: MppSolarIntegratedSensorEntityDescription,
    ) -> None:
        """Integrate ``description``'s flow."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._integrator = Integrator(max_gap(status_interval(coordinator.config_entry)))

    async def async_added_to_hass(self) -> None:
        """Go on from the energy this sensor had before the restart; take the first sample."""
        await super().async_added_to_hass()
        restored = await self._restored_energy()
        if restored is not None:
            self._integrator.total = restored
        self._sample()

    async def _restored_energy(self) -> float | None:
        """Return the energy (kWh) this sensor last had, if Home Assistant kept it."""
        value: object = None
        unit: str | None = None
        if (data := await self.async_get_last_sensor_data()) is not None:
            value, unit = data.native_value, data.native_unit_of_measurement
        elif (state := await self.async_get_last_state()) is not None:
            value, unit = state.state, state.attributes.get("unit_of_measurement")
        if unit not in EnergyConverter.VALID_UNITS:
            return None
        try:
            energy = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None  # unknown, unavailable
        return EnergyConverter.convert(energy, unit, UnitOfEnergy.KILO_WATT_HOUR)

    @callback
    def _handle_coordinator_update(self) -> None:
        """Take the new sample, then write the state."""
        self._sample()
        super()._handle_coordinator_update()

    def _sample(self) -> None:
        coordinator = self.coordinator
        power = (
            self.entity_description.flow.power(coordinator.data.status)
            if coordinator.last_update_success
            else None
        )
        self._integrator.add(dt_util.utcnow(), power)

    @property
    def native_value(self) -> float:
        """Return the energy so far (kWh)."""
        return self._integrator.total


@cache
def unit_descriptions(protocol_id: str) -> Mapping[str, MppSolarSensorEntityDescription]:
    """Return the sensors of each unit of a parallel system, by field key."""
    return {key: describe(entry) for key, entry in unit_catalogue(protocol_id).items()}


@dataclass(frozen=True, kw_only=True)
class MppSolarTotalSensorEntityDescription(SensorEntityDescription):
    """A sensor of a parallel system's total."""

    total: Total


def total_description(protocol_id: str, total: Total) -> MppSolarTotalSensorEntityDescription:
    """Return the description of ``total``: like the unit sensor of the field it sums."""
    unit = unit_descriptions(protocol_id)[total.field]
    return MppSolarTotalSensorEntityDescription(
        key=total.key,
        translation_key=total.key,
        total=total,
        device_class=unit.device_class,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=unit.native_unit_of_measurement,
        suggested_display_precision=unit.suggested_display_precision,
    )


def add_parallel_sensors(
    coordinator: MppSolarCoordinator, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add each unit's sensors when the unit is first reported; the totals with the first two.

    A unit that appears later (added to the system) gets its device and sensors then; one
    removed by the user (``async_remove_config_entry_device``) gets them again if it returns.
    """
    protocol_id = coordinator.protocol.id
    added: set[str] = set()
    waiting_totals = {
        total.key: total_description(protocol_id, total) for total in totals(coordinator.protocol)
    }

    @callback
    def add_new() -> None:
        units = coordinator.data.parallel
        new: list[SensorEntity] = []
        for serial in units:
            if serial in added:
                continue
            added.add(serial)
            new.extend(
                MppSolarUnitSensor(coordinator, description, serial, added)
                for description in unit_descriptions(protocol_id).values()
            )
        if units and waiting_totals:
            new.extend(
                MppSolarTotalSensor(coordinator, description)
                for description in waiting_totals.values()
            )
            waiting_totals.clear()
        if new:
            async_add_entities(new)

    add_new()
    coordinator.config_entry.async_on_unload(coordinator.async_add_listener(add_new))


class MppSolarUnitSensor(MppSolarSensor):
    """One value of one unit of the parallel system, on the unit's device."""

    def __init__(
        self,
        coordinator: MppSolarCoordinator,
        description: MppSolarSensorEntityDescription,
        serial: str,
        added: set[str],
    ) -> None:
        """Show ``description``'s field of unit ``serial`` (``added``: units with sensors)."""
        super().__init__(coordinator, description)
        self.serial = serial
        self._added = added
        entry = coordinator.config_entry
        unique = entry.unique_id or entry.entry_id
        self._attr_unique_id = f"{unique}_unit_{serial}_{description.key}"
        self._attr_device_info = unit_device_info(coordinator, serial)

    async def async_will_remove_from_hass(self) -> None:
        """Let the unit's sensors be added again should it return after its removal."""
        await super().async_will_remove_from_hass()
        self._added.discard(self.serial)

    @property
    def _value(self) -> Value:
        fields = self.coordinator.data.parallel.get(self.serial, {})
        field = fields.get(self.entity_description.field)
        return None if field is None else field.value


class MppSolarTotalSensor(MppSolarEntity, SensorEntity):
    """A total of the parallel system (the sum over its units), on the entry's device."""

    entity_description: MppSolarTotalSensorEntityDescription

    def __init__(
        self, coordinator: MppSolarCoordinator, description: MppSolarTotalSensorEntityDescription
    ) -> None:
        """Show ``description``'s total."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Available while the device answers and reports its units."""
        return super().available and self.native_value is not None

    @property
    def native_value(self) -> float | None:
        """Return the sum over the units."""
        return system_total(self.entity_description.total, self.coordinator.data.parallel)
