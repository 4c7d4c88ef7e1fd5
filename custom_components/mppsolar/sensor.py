"""Sensors: every number, mode and text value the device reports, from the library's catalogue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from homeassistant.components.sensor import (
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
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from mppsolar_lib.protocols.fields import FieldKind, Value

from .catalogue import Entry, catalogue, option_key
from .coordinator import MppSolarConfigEntry, MppSolarCoordinator
from .entity import MppSolarEntity, add_entities_as_fields_appear

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
    return {
        where: describe(entry)
        for where, entry in catalogue(protocol_id).items()
        if entry.platform is Platform.SENSOR
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
