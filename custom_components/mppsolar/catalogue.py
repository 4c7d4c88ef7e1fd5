"""The entities a protocol can have, read from the library's field catalogue.

Each status and settings command of a protocol lists the fields its answer can hold
(``Protocol.commands[name].info``: key, name, unit, hints, kind, options, precision). One
:class:`Entry` per field says how Home Assistant shows it: which platform, under which entity
key and translation key, read from the status or the settings answers. The platforms turn the
entries into entity descriptions; ``scripts/gen_translations.py`` turns them into the ``entity``
section of ``strings.json`` and into ``icons.json``. Neither knows any protocol.

Two kinds of field get no entry: a reserved position the library decodes only for completeness
(its hints say ``entity=False``), and the current value of a setting whose select, number or
switch is enabled by default — the control shows the value, a sensor beside it would repeat it.
A safety setting's control is disabled by default, so its value keeps its read-only sensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
import re
from typing import Final

from homeassistant.const import EntityCategory, Platform

from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.fields import FieldInfo, FieldKind, slugify
from mppsolar_lib.protocols.settings import Setting, SettingKind

from .parallel import unit_fields

#: Suffix of a settings value whose key a status command uses for something else (PI30's QPIRI
#: ``ac_output_voltage`` is the configured output voltage, QPIGS's the measured one).
SETTING_SUFFIX: Final = "_setting"

#: The two options of a field that is really on/off (PI17 warnings, QFLAG, JK switches).
_ON_OFF: Final = frozenset(("disabled", "enabled"))


@dataclass(frozen=True, slots=True)
class Series:
    """Numbered fields (one per cell or probe) that share one translated name.

    ``pattern`` matches the field key and captures the number; the name is translated once as
    ``translation_key`` with the number as ``placeholder`` (``"Cell {cell} voltage"``).
    """

    pattern: re.Pattern[str]
    translation_key: str
    placeholder: str
    #: Shown under diagnostics (per-cell values), whatever the field's hints say.
    diagnostic: bool = True
    #: Enabled when the entry is set up (noisy per-cell values are not).
    enabled: bool = True


#: Per-cell and per-probe fields. Cell voltages and temperatures are what BMS users watch;
#: resistances, balancing flags and wire warnings change often or rarely matter: disabled.
SERIES: Final = (
    Series(re.compile(r"voltage_cell(\d+)|cell_(\d+)_voltage"), "cell_voltage", "cell"),
    Series(re.compile(r"resistance_cell(\d+)"), "cell_resistance", "cell", enabled=False),
    Series(re.compile(r"wire_resistance_(\d+)"), "cell_wire_resistance", "cell", enabled=False),
    Series(
        re.compile(r"wire_resistance_warning_cell(\d+)"),
        "cell_wire_resistance_warning",
        "cell",
        enabled=False,
    ),
    Series(
        re.compile(r"balancing_cell(\d+)|cell_(\d+)_balancing"),
        "cell_balancing",
        "cell",
        enabled=False,
    ),
    Series(re.compile(r"cell_(\d+)_temperature|ntc_(\d+)"), "temperature_sensor", "sensor"),
    Series(re.compile(r"battery_t(\d+)"), "battery_probe_temperature", "sensor", diagnostic=False),
    Series(re.compile(r"di(\d+)"), "digital_input", "number", diagnostic=False),
    Series(re.compile(r"do(\d+)"), "digital_output", "number", diagnostic=False),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entity a protocol can have."""

    #: Entity key: the field key (``_setting`` appended for a clash); ends the unique id.
    key: str
    #: Field key in the coordinator's data.
    field: str
    #: Read from the settings answers (else from the status answers).
    settings: bool
    info: FieldInfo
    platform: Platform
    translation_key: str
    #: Translation placeholders of a series member (``{"cell": "7"}``).
    placeholders: tuple[tuple[str, str], ...] = ()
    series: Series | None = None

    @property
    def entity_category(self) -> EntityCategory | None:
        """Diagnostic for settings values and cells; else what the field's hints say."""
        if self.settings or (self.series is not None and self.series.diagnostic):
            return EntityCategory.DIAGNOSTIC
        category = self.info.hints.entity_category
        return EntityCategory(category) if category else None

    @property
    def enabled_default(self) -> bool:
        """Whether the entity is enabled when the entry is set up."""
        series = self.series is None or self.series.enabled
        return series and self.info.hints.enabled_default


def on_off(info: FieldInfo) -> bool:
    """Whether ``info`` is a boolean: a flag, or an option that is only enabled or disabled."""
    if info.kind is FieldKind.BOOL:
        return True
    return info.kind is FieldKind.ENUM and {o.casefold() for o in info.options} == _ON_OFF


def option_key(label: str) -> str:
    """Return the state key of an option label (``"SBU first"`` -> ``"sbu_first"``)."""
    return slugify(label)


def _series(key: str) -> tuple[Series, str] | None:
    """Return the series ``key`` belongs to and its number (``"07"`` -> ``"7"``)."""
    for series in SERIES:
        match = series.pattern.fullmatch(key)
        if match is not None:
            number = next(group for group in match.groups() if group is not None)
            return series, str(int(number))
    return None


def _entry(key: str, info: FieldInfo, *, settings: bool) -> Entry:
    platform = Platform.BINARY_SENSOR if on_off(info) else Platform.SENSOR
    field = info.key
    found = _series(field) if key == field else None
    if found is None:
        return Entry(key, field, settings, info, platform, key)
    series, number = found
    return Entry(
        key,
        field,
        settings,
        info,
        platform,
        series.translation_key,
        ((series.placeholder, number),),
        series,
    )


def _candidates(protocol_id: str) -> dict[tuple[bool, str], Entry]:
    """Return a sensor or binary sensor for every field of the status and settings answers."""
    protocol = get_protocol(protocol_id)
    entries: dict[tuple[bool, str], Entry] = {}
    status: set[str] = set()
    for command in protocol.status_commands:
        for info in protocol.resolve(command)[0].info.values():
            # A later command's field wins, as it does in the coordinator's data.
            entries[False, info.key] = _entry(info.key, info, settings=False)
            status.add(info.key)
    for command in protocol.settings_commands:
        if command in protocol.status_commands:
            continue  # polled with the status already (Daly's MOS and SOC answers)
        for info in protocol.resolve(command)[0].info.values():
            if (True, info.key) in entries:
                continue
            key = info.key + SETTING_SUFFIX if info.key in status else info.key
            entries[True, info.key] = _entry(key, info, settings=True)
    return entries


@cache
def catalogue(protocol_id: str) -> Mapping[tuple[bool, str], Entry]:
    """Return the sensors and binary sensors ``protocol_id`` can have, by (from settings, key).

    Every field of its status and settings answers, but reserved positions and the values that
    an enabled-by-default control shows (see the module's docstring).
    """
    shown = controls(protocol_id)
    return {
        where: entry
        for where, entry in _candidates(protocol_id).items()
        if entry.info.hints.entity
        and not ((control := shown.get(where)) is not None and control.enabled_default)
    }


@cache
def superseded(protocol_id: str) -> frozenset[str]:
    """Return the keys of the sensors :func:`catalogue` leaves out.

    Earlier versions made entities for them (a reserved bit, a value a control now shows);
    setup removes those from the entity registry so they do not linger as unavailable.
    """
    kept = catalogue(protocol_id)
    return frozenset(
        entry.key for where, entry in _candidates(protocol_id).items() if where not in kept
    )


#: The platform of each kind of setting of the library's settings model.
CONTROL_PLATFORMS: Final = {
    SettingKind.SELECT: Platform.SELECT,
    SettingKind.NUMBER: Platform.NUMBER,
    SettingKind.SWITCH: Platform.SWITCH,
}


@dataclass(frozen=True, slots=True)
class Control:
    """One setting of a protocol's settings model, as a select, number or switch."""

    setting: Setting
    platform: Platform
    #: Its value is read from the settings answers (else from the status answers).
    settings: bool

    @property
    def key(self) -> str:
        """Entity key and translation key: the setting's key."""
        return self.setting.key

    @property
    def field(self) -> str:
        """Field key of the current value in the coordinator's data."""
        return self.setting.read_field

    @property
    def enabled_default(self) -> bool:
        """Whether the entity is enabled when the entry is set up: not for safety settings.

        An enabled control replaces the sensor of its value (:func:`catalogue`).
        """
        return not self.setting.safety

    @property
    def options(self) -> dict[str, str]:
        """Selects: state key -> the label the device reports (and takes)."""
        return {option_key(label): label for label in self.setting.options.values()}


@cache
def controls(protocol_id: str) -> Mapping[tuple[bool, str], Control]:
    """Return the settings protocol ``protocol_id`` can write, by (from settings, field key).

    Where the value is read follows the coordinator: a read command polled with the status
    (Daly's MOS states) is read from the status answers.
    """
    protocol = get_protocol(protocol_id)
    found: dict[tuple[bool, str], Control] = {}
    for setting in protocol.settings.values():
        settings = setting.read_command not in protocol.status_commands
        found[settings, setting.read_field] = Control(
            setting, CONTROL_PLATFORMS[setting.kind], settings
        )
    return found


@cache
def unit_catalogue(protocol_id: str) -> Mapping[str, Entry]:
    """Return the sensors of each unit of a parallel system (parallel.py), by field key.

    The values of the protocol's per-unit answers (``parallel.unit_fields``); on/off flags are
    left out.
    """
    found: dict[str, Entry] = {}
    for key, info in unit_fields(get_protocol(protocol_id)).items():
        entry = _entry(key, info, settings=False)
        if entry.platform is Platform.SENSOR and info.hints.entity:
            found[key] = entry
    return found
