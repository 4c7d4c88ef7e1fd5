"""Generate the integration's entity names, states and icons from the library's field catalogue.

Writes, for every protocol the library knows:

- the ``entity`` section of ``custom_components/mppsolar/strings.json`` (entity names, enum
  states; per-cell values share one name with a placeholder, ``"Cell {cell} voltage"``);
- ``custom_components/mppsolar/icons.json`` (the icons the library's hints give);
- ``custom_components/mppsolar/translations/en.json``: ``strings.json`` with its
  ``[%key:…%]`` references resolved, which is what Home Assistant loads for a custom
  integration;
- the ``entity`` section of ``translations/de.json`` and ``fr.json``: the English names and
  states translated with the reviewed phrase tables of ``scripts/glossary.py`` (a name the tables
  do not cover is left out, so Home Assistant shows it in English); the rest of those files is
  written by hand and kept.

Usage: ``.venv/bin/python scripts/gen_translations.py [--check]``; ``--check`` writes nothing and
exits non-zero when a file is out of date (the tests run it).
"""

# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
import json
from pathlib import Path
import re
import sys
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import homeassistant  # noqa: E402
from homeassistant.const import Platform  # noqa: E402

from custom_components.mppsolar import (  # noqa: E402
    binary_sensor,
    energy,
    number,
    parallel,
    select,
    sensor,
    switch,
)
from custom_components.mppsolar.catalogue import (  # noqa: E402
    Control,
    Entry,
    catalogue,
    controls,
    option_key,
    unit_catalogue,
)
from custom_components.mppsolar.const import DOMAIN  # noqa: E402
from mppsolar_lib.protocols import get_protocol, list_protocols  # noqa: E402
from mppsolar_lib.protocols.fields import FieldKind  # noqa: E402
from scripts.glossary import LANGUAGES, localize  # noqa: E402

INTEGRATION = ROOT / "custom_components" / DOMAIN
STRINGS = INTEGRATION / "strings.json"
ICONS = INTEGRATION / "icons.json"
EN = INTEGRATION / "translations" / "en.json"


# The languages whose ``entity`` section is translated phrase by phrase (scripts/glossary.py);
# the rest of their files is written by hand and kept as it is.


def translation_file(language: str) -> Path:
    """Return the path of ``language``'s translation file (next to en.json)."""
    return EN.parent / f"{language}.json"


def energy_parts() -> dict[str, tuple[str, str]]:
    """Return each energy sensor's English (name pattern, quantity name), by translation key."""
    found: dict[str, tuple[str, str]] = {}
    for protocol in list_protocols():
        for counter in energy.counters(protocol):
            found[counter.key] = (
                ENERGY_PERIODS[counter.period],
                ENERGY_QUANTITIES[counter.quantity][0],
            )
        for flow in energy.flows(protocol):
            found[flow.key] = (INTEGRATED, ENERGY_QUANTITIES[flow.quantity][0])
    return found


def name_groups() -> list[set[tuple[str, str]]]:
    """Return the (platform, translation key) pairs of each protocol's device."""
    groups: list[set[tuple[str, str]]] = []
    for protocol in list_protocols():
        group = {(str(e.platform), e.translation_key) for e in catalogue(protocol).values()}
        group |= {(str(c.platform), c.key) for c in controls(protocol).values()}
        group |= {(str(Platform.SENSOR), c.key) for c in energy.counters(protocol)}
        group |= {(str(Platform.SENSOR), f.key) for f in energy.flows(protocol)}
        groups.append(group)
    return groups


def localized(strings: dict[str, Any]) -> dict[Path, str]:
    """Return each translated language's file with its generated ``entity`` section.

    The other sections stay as written (a missing file starts empty); the sections follow
    strings.json's order.
    """
    series = {(str(e.platform), e.translation_key) for e in entries() if e.series is not None}
    parts, groups = energy_parts(), name_groups()
    files: dict[Path, str] = {}
    for code, language in sorted(LANGUAGES.items()):
        path = translation_file(code)
        current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        current["entity"] = localize(language, strings["entity"], groups, parts, series)
        ordered = {key: current[key] for key in strings if key in current}
        ordered.update({key: value for key, value in current.items() if key not in ordered})
        files[path] = dump(ordered)
    return files


#: Names of the series (numbered fields sharing one translation), with their placeholder.
SERIES_NAMES = {
    "cell_voltage": "Cell {cell} voltage",
    "cell_resistance": "Cell {cell} resistance",
    "cell_wire_resistance": "Cell {cell} wire resistance",
    "cell_wire_resistance_warning": "Cell {cell} wire resistance warning",
    "cell_balancing": "Cell {cell} balancing",
    "temperature_sensor": "Temperature sensor {sensor}",
    "battery_probe_temperature": "Battery temperature {sensor}",
    "digital_input": "Digital input {number}",
    "digital_output": "Digital output {number}",
}

#: Icons of series the library's hints leave without one.
SERIES_ICONS = {
    "cell_resistance": "mdi:omega",
    "cell_wire_resistance": "mdi:omega",
    "cell_balancing": "mdi:scale-balance",
    "digital_input": "mdi:electric-switch",
    "digital_output": "mdi:electric-switch",
}

#: Names that read badly as the library gives them, reviewed one by one: platform -> translation
#: key -> English name. The library's names follow the manufacturers' documents and the
#: reference implementation (``AllowSccOnFlag``, ``Is Load On``, ``Cell OVP``); these are what a
#: Home Assistant user reads. A binary sensor is named for what is on (``Load output``), not
#: asked about (``Is load on``). Every key must exist (a stale override fails the generation).
NAMES: dict[Platform, dict[str, str]] = {
    Platform.BINARY_SENSOR: {
        # PI30/PI41 device status bits (QPIGS, QPGS).
        "is_ac_charging_on": "AC charging",
        "is_battery_over": "Battery overvoltage",
        "is_battery_under": "Battery undervoltage",
        "is_battery_voltage_to_steady_while_charging": "Battery voltage steady while charging",
        "is_charging_on": "Charging",
        "is_charging_to_float": "Float charging",
        "is_configuration_changed": "Configuration changed",
        "is_dustproof_installed": "Dustproof installed",
        "is_l1_ac_charging_on": "L1 AC charging",
        "is_l1_line_not_ok": "L1 line not OK",
        "is_l1_scc_charging_on": "L1 SCC charging",
        "is_l1_scc_ok": "L1 SCC OK",
        "is_load_on": "Load output",
        "is_sbu_priority_version_added": "SBU priority version",
        "is_scc_charging_on": "SCC charging",
        "is_scc_firmware_updated": "SCC firmware updated",
        "is_switched_on": "Power switch",
        # Warnings.
        "ac_charger_keep_battery_voltage_function_enable_diable": (
            "AC charger keep battery voltage function enabled"
        ),
        "battery_over_voltage": "Battery overvoltage",
        "battery_under": "Battery undervoltage",
        "battery_under_voltage": "Battery undervoltage",
        "dc_ripple_alarm": "DC ripple alarm",
        "dc_ripple_warning": "DC ripple warning",
        "eeprom_fail": "EEPROM failure",
        "high_v_ac_out_alarm": "High AC output voltage alarm",
        "high_v_ac_out_warning": "High AC output voltage warning",
        "low_v_ac_out_alarm": "Low AC output voltage alarm",
        "low_v_ac_out_warning": "Low AC output voltage warning",
        "off_reason_paygo": "Off reason: pay-as-you-go",
        "over_load": "Overload",
    },
    Platform.SENSOR: {
        "allowscconflag": "Allow SCC on flag",
        "chargeaveragecurrent": "Charge average current",
        "alarm_todo": "Alarm (undocumented)",
        "equilibrium_state_todo": "Equilibrium state (undocumented)",
        "equilibrium_state_2_todo": "Equilibrium state 2 (undocumented)",
        "protection_state_todo": "Protection state (undocumented)",
        "flags_todo": "Digital input/output state",
        "parallel_max_num": "Max parallel units",
        "battery_constant_charge_voltage_c_v": "Battery constant charge voltage (CV)",
        "battery_under_soc": "Battery under SOC",
        "battery_under_back_soc": "Battery under back SOC",
        "battery_under_soc_to_2nd": "Battery under SOC to 2nd",
        "battery_weak_soc": "Battery weak SOC",
        "battery_weak_back_soc": "Battery weak back SOC",
        "bus_voltage": "Bus voltage",
        "charge_discharge_cycles": "Charge/discharge cycles",
        "charging_discharging": "Charging/discharging",
        "balance_on_off": "Balance on/off",
        "load_output_state_on_off": "Load output state",
        "day_sequence_number_0_364": "Day sequence number",
        "yield_total_user_resettable_counter": "Yield total (user resettable)",
        "state_of_charge": "State of charge",
        "time_to_go": "Time to go",
        # JK BMS protection thresholds (its app's abbreviations).
        "cell_ovp": "Cell overvoltage protection",
        "cell_ovpr": "Cell overvoltage recovery",
        "cell_uvp": "Cell undervoltage protection",
        "cell_uvpr": "Cell undervoltage recovery",
        "charge_ocp_delay": "Charge overcurrent protection delay",
        "charge_ocp_recovery_time": "Charge overcurrent protection recovery time",
        "discharge_ocp_delay": "Discharge overcurrent protection delay",
        "discharge_ocp_recovery_time": "Discharge overcurrent protection recovery time",
        "charge_otp": "Charge overtemperature protection",
        "charge_otp_recovery": "Charge overtemperature recovery",
        "charge_utp": "Charge undertemperature protection",
        "charge_utp_recovery": "Charge undertemperature recovery",
        "discharge_otp": "Discharge overtemperature protection",
        "discharge_otp_recovery": "Discharge overtemperature recovery",
        "mos_otp": "MOS overtemperature protection",
        "mos_otp_recovery": "MOS overtemperature recovery",
        "scp_delay": "Short-circuit protection delay",
        "scp_recovery_time": "Short-circuit protection recovery time",
        "mos_temp": "MOS temperature",
        "percent_remain": "State of charge",
        "capacity_remain": "Remaining capacity",
        # Which cell (or probe) holds the extreme: not a second "cell" in the name.
        "max_voltage_cell": "Cell with max voltage",
        "min_voltage_cell": "Cell with min voltage",
        "max_cell_voltage_cell": "Cell with max voltage",
        "min_cell_voltage_cell": "Cell with min voltage",
        "max_temperature_cell": "Cell with max temperature",
        "min_temperature_cell": "Cell with min temperature",
    },
}

#: Names of settings (select, number, switch entities) that read badly as the library gives
#: them, by setting key. Every key must be a setting of some protocol.
CONTROL_NAMES: dict[str, str] = {
    "battery_constant_charge_voltage_c_v": "Battery constant charge voltage (CV)",
    "ac_charger_keep_battery_voltage_function_enable_diable": (
        "AC charger keep battery voltage function"
    ),
    "max_ac_charging_current": "Max AC charging current",
    "battery_recharge_voltage": "Battery re-charge voltage",
    "battery_redischarge_voltage": "Battery re-discharge voltage",
    "silence_buzzer_or_open_buzzer": "Silence buzzer",
    "charging_mos": "Charging MOSFET",
    "discharging_mos": "Discharging MOSFET",
    "charging": "Charging MOSFET",
    "discharging": "Discharging MOSFET",
}

#: Appended to the name of a safety setting's entity: changing it can harm the battery or cut
#: the power (its entity is disabled until the user enables it).
SAFETY_SUFFIX = " (safety setting)"

_REFERENCE = re.compile(r"\[%key:([^%]+)%\]")


def sentence(name: str) -> str:
    """Return a field's display name in Home Assistant's sentence case.

    ``"Battery_Voltage"`` -> ``"Battery voltage"``; words in capitals or of mixed case (``AC``,
    ``PV1``, ``kWh``, ``Li-Fe``) stay as they are.
    """
    words = name.replace("_", " ").split()
    kept = [
        word.lower() if index and word[:1].isupper() and word[1:].islower() else word
        for index, word in enumerate(words)
    ]
    text = " ".join(kept)
    return text[:1].upper() + text[1:]


def _name(entry: Entry) -> str:
    """Return the English name of ``entry``'s translation key."""
    if entry.series is not None:
        return SERIES_NAMES[entry.translation_key]
    name = NAMES.get(entry.platform, {}).get(entry.translation_key) or sentence(entry.info.name)
    if "{" in name or "}" in name:
        raise ValueError(f"{entry.key}: braces in a name would be read as a placeholder")
    # The key got the suffix because a status field has the field's key (not just its name).
    return f"{name} setting" if entry.key != entry.field else name


def _state(label: str) -> str:
    """Return an option's display text: the label, first letter capitalised."""
    return label[:1].upper() + label[1:]


def entries() -> list[Entry]:
    """Return every entry of every protocol (checking that each protocol's names are distinct).

    Two entities of one device must not read the same, whatever their platforms; each name
    override must name an entry.
    """
    found: list[Entry] = []
    for protocol in list_protocols():
        named: dict[str, str] = {}
        for entry in catalogue(protocol).values():
            found.append(entry)
            if entry.series is not None:
                continue
            name = _name(entry).casefold()
            if (other := named.setdefault(name, entry.key)) != entry.key:
                raise ValueError(f"{protocol}: {other} and {entry.key} are both named {name!r}")
    keys = {(entry.platform, entry.translation_key) for entry in found}
    stale = [(p, key) for p, names in NAMES.items() for key in names if (p, key) not in keys]
    if stale:
        raise ValueError(f"name overrides for entries no protocol has: {stale}")
    return found


def entity_section(all_entries: list[Entry]) -> dict[str, Any]:
    """Return the ``entity`` section of strings.json for ``all_entries``.

    A key several protocols share takes the name most of them give it; an enum sensor's states
    are the options of all of them.
    """
    names: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    series = {(str(e.platform), e.translation_key) for e in all_entries if e.series is not None}
    states: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for entry in all_entries:
        where = (str(entry.platform), entry.translation_key)
        if entry.series is None and where in series:
            raise ValueError(f"{entry.key}: its key is a series' translation key too")
        names[where][_name(entry)] += 1
        if entry.platform is Platform.SENSOR and entry.info.kind is FieldKind.ENUM:
            for label in entry.info.options:
                states[where][option_key(label)][_state(label)] += 1
    section: dict[str, Any] = {}
    for where in sorted(names):
        platform, key = where
        item: dict[str, Any] = {"name": names[where].most_common(1)[0][0]}
        if where in states:
            item["state"] = {
                option: texts.most_common(1)[0][0]
                for option, texts in sorted(states[where].items())
            }
        section.setdefault(platform, {})[key] = item
    return section


def control_name(control: Control) -> str:
    """Return the English name of a setting's entity (marked when it is a safety setting)."""
    setting = control.setting
    name = CONTROL_NAMES.get(setting.key) or sentence(setting.name)
    if "{" in name or "}" in name:
        raise ValueError(f"{setting.key}: braces in a name would be read as a placeholder")
    return name + SAFETY_SUFFIX if setting.safety else name


def all_controls() -> list[Control]:
    """Return the settings of every protocol (checking each protocol's names are distinct)."""
    found: list[Control] = []
    for protocol in list_protocols():
        named: dict[str, str] = {}
        for control in controls(protocol).values():
            found.append(control)
            name = control_name(control).casefold()
            if (other := named.setdefault(name, control.key)) != control.key:
                raise ValueError(f"{protocol}: {other} and {control.key} are both named {name!r}")
    stale = sorted(set(CONTROL_NAMES) - {control.key for control in found})
    if stale:
        raise ValueError(f"name overrides for settings no protocol has: {stale}")
    return found


def control_section(found: list[Control]) -> dict[str, Any]:
    """Return the select, number and switch parts of the ``entity`` section.

    A key several protocols share takes the name most of them give it; a select's states are
    the options of all of them.
    """
    names: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    states: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for control in found:
        where = (str(control.platform), control.key)
        names[where][control_name(control)] += 1
        for option, label in control.options.items():
            states[where][option][_state(label)] += 1
    section: dict[str, Any] = {}
    for where in sorted(names):
        platform, key = where
        item: dict[str, Any] = {"name": names[where].most_common(1)[0][0]}
        if where in states:
            item["state"] = {
                option: texts.most_common(1)[0][0]
                for option, texts in sorted(states[where].items())
            }
        section.setdefault(platform, {})[key] = item
    return section


#: The icons of the actions (services.yaml).
SERVICE_ICONS = {
    "send_command": {"service": "mdi:console-line"},
    "write_setting": {"service": "mdi:cog-transfer"},
}


#: Icons of the entities that have neither a device class (whose icon Home Assistant would show)
#: nor an icon from the library's hints: the first pattern their translation key matches, else
#: their platform's. Only icons Home Assistant core's own integrations use.
KEY_ICONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), icon)
    for pattern, icon in (
        (r"mute|silence", "mdi:volume-off"),
        (r"buzzer|beep", "mdi:volume-high"),
        (r"backlight", "mdi:brightness-6"),
        (r"lcd|display", "mdi:monitor"),
        (r"fault_code_record|record_fault_code", "mdi:history"),
        (r"restart", "mdi:restart"),
        (r"bypass", "mdi:electric-switch"),
        (r"power_saving|sleep", "mdi:power-sleep"),
        (r"priority|distribution", "mdi:format-list-numbered"),
        (r"battery_type", "mdi:car-battery"),
        (r"grid_tie|feed.*(grid|utility)|to_grid", "mdi:transmission-tower-export"),
        (r"generator", "mdi:engine"),
        (r"input_voltage_range|input_range|operation_logic|work_mode", "mdi:tune"),
        (r"^(pv|solar|scc|mppt)|_(pv|solar|scc|mppt)|allowscc", "mdi:solar-power"),
        (r"_cell$", "mdi:counter"),  # which cell: max_voltage_cell, lowest_cell
        (r"temperature|(^|_)(otp|utp)(_|$)|ntc|heating", "mdi:thermometer"),
        (r"warning|alarm|fault|protection|off_reason|error", "mdi:alert-circle-outline"),
        (r"battery_(over|under)$", "mdi:battery-alert"),
        (r"relay|_mos|mos_|fet|switch|dry\d|gpio|^charging$|^discharging$", "mdi:electric-switch"),
        (r"balanc|equilibrium", "mdi:scale-balance"),
        (r"load_percent|output_load|load_percentage|power_percentage", "mdi:gauge"),
        (r"load", "mdi:power-plug"),
        (r"line", "mdi:transmission-tower"),
        (r"cycle|full_discharges|synchronizations", "mdi:battery-sync"),
        (r"(^|_)time($|_)|seconds|delay|uptime", "mdi:timer-outline"),
        (r"discharg", "mdi:battery-arrow-down"),
        (r"charg", "mdi:battery-charging"),
        (r"soc|capacity|amp_hours|depth_of|floor|state_of_health|bms_life", "mdi:battery-50"),
        (r"voltage|ovp|uvp|_volt", "mdi:flash"),
        (r"ac_.*current", "mdi:current-ac"),
        (r"current|ocp|scp", "mdi:current-dc"),
        (r"frequency", "mdi:sine-wave"),
        (r"efficiency|peukert|coefficient|deviation", "mdi:percent"),
        (r"date|day_", "mdi:calendar"),
        (r"firmware|software|version|protocol|product|model|manufactur|serial", "mdi:chip"),
        (r"time", "mdi:timer-outline"),
        (
            r"count|number_of|strings|cells|cell_number|parallel|batteries|(est)_cell$",
            "mdi:counter",
        ),
        (r"gps", "mdi:crosshairs-gps"),
        (r"fan", "mdi:fan"),
        (r"status|state|mode|condition|flag", "mdi:state-machine"),
    )
)

#: The icon of an entity no pattern of :data:`KEY_ICONS` matches (ids, raw bytes, leftovers).
PLATFORM_ICONS: dict[str, str] = {
    Platform.SENSOR: "mdi:information-outline",
    Platform.BINARY_SENSOR: "mdi:checkbox-marked-circle-outline",
    Platform.SELECT: "mdi:format-list-bulleted",
    Platform.NUMBER: "mdi:tune",
    Platform.SWITCH: "mdi:electric-switch",
}


def key_icon(platform: str, key: str) -> str:
    """Return the icon of an entity without a device class or hinted icon."""
    return next(
        (icon for pattern, icon in KEY_ICONS if pattern.search(key)), PLATFORM_ICONS[platform]
    )


def without_device_class() -> set[tuple[str, str]]:
    """Return the (platform, translation key) of each entity that some protocol gives no class.

    The devices' sensors and binary sensors, the parallel units' sensors and the system totals,
    the selects, numbers and switches; the energy sensors all have one.
    """
    found: set[tuple[str, str]] = set()
    for protocol in list_protocols():
        described: list[tuple[str, Any]] = [
            *((Platform.SENSOR, d) for d in sensor.descriptions(protocol).values()),
            *((Platform.SENSOR, d) for d in sensor.unit_descriptions(protocol).values()),
            *(
                (Platform.SENSOR, sensor.total_description(protocol, total))
                for total in parallel.totals(get_protocol(protocol))
            ),
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
        found.update(
            (str(platform), description.translation_key)
            for platform, description in described
            if getattr(description, "device_class", None) is None
        )
    return found


def icons(all_entries: list[Entry]) -> dict[str, Any]:
    """Return icons.json's entities: the icon the hints give each translation key (most common wins).

    An entity without a device class and a hinted icon gets the icon its key suggests
    (:func:`key_icon`).
    """
    found: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for entry in all_entries:
        icon = entry.info.hints.icon or SERIES_ICONS.get(entry.translation_key)
        if icon:
            found[str(entry.platform), entry.translation_key][icon] += 1
    for platform, key in without_device_class():
        if (platform, key) not in found:
            found[platform, key][key_icon(platform, key)] += 1
    section: dict[str, Any] = {}
    for (platform, key), counts in sorted(found.items()):
        section.setdefault(platform, {})[key] = {"default": counts.most_common(1)[0][0]}
    return {"entity": section}


#: What the energy sensors (energy.py) measure: English name and icon.
ENERGY_QUANTITIES: dict[energy.Quantity, tuple[str, str]] = {
    energy.Quantity.PV: ("PV energy", "mdi:solar-power"),
    energy.Quantity.OUTPUT: ("AC output energy", "mdi:home-lightning-bolt"),
    energy.Quantity.BATTERY_CHARGE: ("Battery charge energy", "mdi:battery-arrow-up"),
    energy.Quantity.BATTERY_DISCHARGE: ("Battery discharge energy", "mdi:battery-arrow-down"),
    energy.Quantity.GRID_IMPORT: ("Grid import energy", "mdi:transmission-tower-import"),
    energy.Quantity.GRID_EXPORT: ("Grid export energy", "mdi:transmission-tower-export"),
}
#: How a device counter's name reads, by its period; an integrated sensor says it is one.
ENERGY_PERIODS: dict[energy.Period, str] = {
    energy.Period.TOTAL: "Total {}",
    energy.Period.YEAR: "{} this year",
    energy.Period.MONTH: "{} this month",
    energy.Period.TODAY: "{} today",
}
INTEGRATED = "{} (integrated)"


def energy_sensors() -> dict[str, tuple[str, str]]:
    """Return the name and icon of every energy sensor, by translation key.

    An energy sensor must not share its key (its unique id's end, its translation key), or its
    name, with a catalogue entity of a protocol that has both.
    """
    found: dict[str, tuple[str, str]] = {}
    for protocol in list_protocols():
        own = catalogue(protocol).values()
        keys = {entry.key for entry in own} | {
            entry.translation_key for entry in own if entry.platform is Platform.SENSOR
        }
        names = {_name(entry).casefold() for entry in own if entry.series is None}
        sensors = [
            *((c.key, ENERGY_PERIODS[c.period], c.quantity) for c in energy.counters(protocol)),
            *((f.key, INTEGRATED, f.quantity) for f in energy.flows(protocol)),
        ]
        for key, pattern, quantity in sensors:
            name, icon = ENERGY_QUANTITIES[quantity]
            text = pattern.format(name)
            if key in keys or text.casefold() in names:
                raise ValueError(f"{protocol}: energy sensor {key} ({text!r}) clashes")
            found[key] = (text, icon)
    return found


def unit_entries() -> list[Entry]:
    """Return the sensors of the units of every protocol's parallel systems (parallel.py)."""
    return [entry for protocol in list_protocols() for entry in unit_catalogue(protocol).values()]


def with_units(all_entries: list[Entry]) -> dict[str, Any]:
    """Return the ``entity`` section with the parallel units' sensors and the system totals.

    A key the devices' own entities have keeps their name (the units' answers only add enum
    states); the totals are named by parallel.py.
    """
    own = entity_section(all_entries)
    section = entity_section([*all_entries, *unit_entries()])
    for platform, items in section.items():
        for key, item in items.items():
            if key in own.get(platform, {}):
                item["name"] = own[platform][key]["name"]
    sensors = section.setdefault(str(Platform.SENSOR), {})
    for total in parallel.TOTALS:
        if total.key in sensors:
            raise ValueError(f"system total {total.key} clashes with a field")
        sensors[total.key] = {"name": total.name}
    section[str(Platform.SENSOR)] = dict(sorted(sensors.items()))
    return section


def add_energy(entity: dict[str, Any], icon_file: dict[str, Any]) -> None:
    """Add the energy sensors' names to strings.json's ``entity`` section and their icons."""
    sensors = energy_sensors()
    for section, value in ((entity, "name"), (icon_file["entity"], "default")):
        platform = section.setdefault(str(Platform.SENSOR), {})
        for key, (name, icon) in sensors.items():
            platform[key] = {value: name if value == "name" else icon}
        section[str(Platform.SENSOR)] = dict(sorted(platform.items()))


def _lookup(path: str, own: dict[str, Any]) -> str:
    """Return the string a ``[%key:…%]`` reference names (``common::…``, ``component::…``)."""
    parts = path.split("::")
    base = Path(homeassistant.__file__).parent
    if parts[0] == "common":
        tree: Any = json.loads((base / "strings.json").read_text(encoding="utf-8"))
    elif parts[0] == "component" and len(parts) > 2:
        domain = parts[1]
        tree = (
            own
            if domain == DOMAIN
            else json.loads((base / "components" / domain / "strings.json").read_text("utf-8"))
        )
        parts = parts[2:]
    else:
        raise ValueError(f"cannot resolve [%key:{path}%]")
    for part in parts:
        tree = tree[part]
    if not isinstance(tree, str):
        raise TypeError(f"[%key:{path}%] does not name a string")
    return tree


def resolve(tree: Any, own: dict[str, Any]) -> Any:
    """Return ``tree`` with every ``[%key:…%]`` reference replaced by the string it names."""
    if isinstance(tree, dict):
        return {key: resolve(value, own) for key, value in tree.items()}
    if isinstance(tree, str):
        text = tree
        for _ in range(10):  # references to references, never a cycle
            resolved = _REFERENCE.sub(lambda match: _lookup(match.group(1), own), text)
            if resolved == text:
                break
            text = resolved
        return text
    return tree


def dump(data: Any) -> str:
    """Return ``data`` as the files hold it (two-space indent, UTF-8, final newline)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def generate(strings_text: str) -> dict[Path, str]:
    """Return the content each generated file should have, given strings.json's current text."""
    all_entries = entries()
    strings = json.loads(strings_text)
    section = {**with_units(all_entries), **control_section(all_controls())}
    strings["entity"] = dict(sorted(section.items()))
    icon_file = icons(all_entries)
    add_energy(strings["entity"], icon_file)
    icon_file["services"] = SERVICE_ICONS
    return {
        STRINGS: dump(strings),
        ICONS: dump(icon_file),
        EN: dump(resolve(strings, strings)),
        **localized(strings),
    }


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail when a file is out of date"
    )
    args = parser.parse_args(argv)
    # Read strings.json right before writing it: other sections belong to other authors.
    wanted = generate(STRINGS.read_text(encoding="utf-8"))
    stale = [
        path
        for path, text in wanted.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run scripts/gen_translations.py")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
