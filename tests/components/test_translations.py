"""Entity names, states and icons stay generated from the library's field catalogue."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import re
from string import Formatter
import sys
from types import ModuleType
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
import pytest

from custom_components.mppsolar import binary_sensor, sensor
from custom_components.mppsolar.const import DOMAIN
from mppsolar_lib.protocols import list_protocols

ROOT = Path(__file__).parents[2]
INTEGRATION = ROOT / "custom_components" / DOMAIN


def _script() -> ModuleType:
    """Load scripts/gen_translations.py (a script, not a package module)."""
    path = ROOT / "scripts" / "gen_translations.py"
    spec = importlib.util.spec_from_file_location("gen_translations", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_translations", module)
    spec.loader.exec_module(module)
    return module


gen = _script()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def test_generated_files_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    """strings.json's entity section, icons.json and translations/en.json are up to date."""
    status = gen.main(["--check"])
    assert status == 0, capsys.readouterr().out


def test_check_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check fails, naming the file, when a generated file differs; a run rewrites it."""
    icons = tmp_path / "icons.json"
    icons.write_text("{}\n", encoding="utf-8")
    strings = tmp_path / "strings.json"
    strings.write_text((INTEGRATION / "strings.json").read_text("utf-8"), encoding="utf-8")
    en = tmp_path / "translations" / "en.json"
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "ICONS", icons)
    monkeypatch.setattr(gen, "STRINGS", strings)
    monkeypatch.setattr(gen, "EN", en)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert _load(icons) == _load(INTEGRATION / "icons.json")
    assert _load(en) == _load(INTEGRATION / "translations" / "en.json")


@pytest.mark.parametrize("protocol", list_protocols())
def test_every_entity_has_its_translation(protocol: str) -> None:
    """Each entity the platforms can create: a name (placeholders matching) and its states."""
    entity = _load(INTEGRATION / "strings.json")["entity"]
    for platform, descriptions in (
        (Platform.SENSOR, sensor.descriptions(protocol)),
        (Platform.BINARY_SENSOR, binary_sensor.descriptions(protocol)),
    ):
        for description in descriptions.values():
            key = description.translation_key
            assert key is not None
            item = entity[platform].get(key)
            assert item is not None, f"{protocol}: no {platform} translation for {key}"
            placeholders = set(description.translation_placeholders or {})
            assert _placeholders(item["name"]) == placeholders, (key, item["name"])
            for option in getattr(description, "options", None) or ():
                assert option in item["state"], f"{protocol}: {key} has no state {option}"


def test_translation_keys_are_valid() -> None:
    """Keys are what hassfest accepts: lower-case letters, digits and underscores."""
    entity = _load(INTEGRATION / "strings.json")["entity"]
    for platform, items in entity.items():
        for key, item in items.items():
            assert re.fullmatch(r"[a-z0-9_]+", key), (platform, key)
            assert item["name"], (platform, key)
            for state in item.get("state", {}):
                assert re.fullmatch(r"[a-z0-9_]+", state), (platform, key, state)


def test_icons_name_translated_entities() -> None:
    """Every icon belongs to a translated entity and is a Material Design icon."""
    entity = _load(INTEGRATION / "strings.json")["entity"]
    for platform, items in _load(INTEGRATION / "icons.json")["entity"].items():
        for key, icon in items.items():
            assert key in entity[platform], (platform, key)
            assert icon["default"].startswith("mdi:"), (platform, key)


def test_english_has_no_references() -> None:
    """translations/en.json is strings.json with every [%key:…%] reference resolved."""
    text = (INTEGRATION / "translations" / "en.json").read_text(encoding="utf-8")
    assert "[%key:" not in text
    english = json.loads(text)
    assert english["entity"] == _load(INTEGRATION / "strings.json")["entity"]


def test_resolve_references() -> None:
    """References to Home Assistant's common strings, to a component's and to our own."""
    own = {"config": {"step": {"user": {"title": "Connect"}}}}
    tree = {
        "a": "[%key:common::config_flow::error::cannot_connect%]",
        "b": "Then: [%key:component::mppsolar::config::step::user::title%]",
        "c": "[%key:component::sensor::entity_component::battery::name%]",
        "d": 3,
    }
    assert gen.resolve(tree, own) == {
        "a": "Failed to connect",
        "b": "Then: Connect",
        "c": "Battery",
        "d": 3,
    }
    with pytest.raises(ValueError, match="cannot resolve"):
        gen.resolve("[%key:nowhere%]", own)
    with pytest.raises(TypeError, match="does not name a string"):
        gen.resolve("[%key:component::mppsolar::config%]", own)


def test_names_read_well() -> None:
    """No generated name keeps a library spelling that reads badly in Home Assistant.

    No CamelCase (``AllowSccOnFlag``), no question (``Is load on``), no word twice in a row
    (``setting setting``), no note to developers (``TODO``), no spaced slash.
    """
    section = _load(INTEGRATION / "strings.json")["entity"]
    names = [item["name"] for items in section.values() for item in items.values()]
    reads_badly = (
        re.compile(r"[a-z][A-Z]"),
        re.compile(r"^Is "),
        re.compile(r"\b(\w+) \1\b", re.IGNORECASE),
        re.compile(r"\btodo\b", re.IGNORECASE),
        re.compile(r" / "),
    )
    offenders = [name for name in names if any(pattern.search(name) for pattern in reads_badly)]
    assert offenders == []


def test_name_overrides_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An override for a key no protocol has, or one that makes two names alike, fails."""
    names = {platform: dict(table) for platform, table in gen.NAMES.items()}
    monkeypatch.setattr(gen, "NAMES", names)
    names[Platform.SENSOR]["no_such_field"] = "Nothing"
    with pytest.raises(ValueError, match="no_such_field"):
        gen.entries()
    del names[Platform.SENSOR]["no_such_field"]
    # Every PI protocol reports both: they must not read the same.
    names[Platform.SENSOR]["battery_charging_current"] = "Battery voltage"
    with pytest.raises(
        ValueError,
        match="battery_voltage and battery_charging_current are both named 'battery voltage'",
    ):
        gen.entries()


def test_setting_suffix_only_when_added() -> None:
    """A settings value named "… setting" by the library is not called "… setting setting"."""
    section = _load(INTEGRATION / "strings.json")["entity"]["sensor"]
    assert section["output_model_setting"]["name"] == "Output model setting"
    # QPIRI's output voltage shares QPIGS's key: it is told apart as the setting.
    assert section["ac_output_voltage_setting"]["name"] == "AC output voltage setting"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Battery_Voltage", "Battery voltage"),
        ("AC Input Voltage", "AC input voltage"),
        ("PV1 Input power", "PV1 input power"),
        ("total kWh", "Total kWh"),
        ("Li-Fe Battery", "Li-Fe battery"),
    ],
)
def test_sentence_case(name: str, expected: str) -> None:
    """Names follow Home Assistant's sentence case; acronyms and units keep their letters."""
    assert gen.sentence(name) == expected


# --------------------------------------------------------------------------- other languages

LANGUAGES = ("de", "fr")


def _flatten(tree: Any, path: str = "") -> dict[str, str]:
    """Flatten a translation tree to ``path -> text``."""
    if isinstance(tree, str):
        return {path: tree}
    flat: dict[str, str] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{path}.{key}" if path else key))
    return flat


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_translates_every_written_string(language: str) -> None:
    """Flows, options, selectors, exceptions, actions and issues: every string, same placeholders.

    Compared with translations/en.json (strings.json with its references resolved).
    """
    english = _load(INTEGRATION / "translations" / "en.json")
    other = _load(INTEGRATION / "translations" / f"{language}.json")
    assert set(other) == set(english)
    for section in english:
        if section == "entity":
            continue
        wanted, found = _flatten(english[section]), _flatten(other[section])
        assert set(found) == set(wanted), (section, set(found) ^ set(wanted))
        for key, text in wanted.items():
            assert _placeholders(found[key]) == _placeholders(text), (section, key)
            assert found[key].strip(), (section, key)
            assert "[%key:" not in found[key], (section, key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_entity_keys_exist_in_english(language: str) -> None:
    """Each translated entity name or state is one strings.json has, with its placeholders."""
    english = _flatten(_load(INTEGRATION / "strings.json")["entity"])
    other = _flatten(_load(INTEGRATION / "translations" / f"{language}.json")["entity"])
    assert other
    for key, text in other.items():
        assert key in english, key
        assert _placeholders(text) == _placeholders(english[key]), (key, text)
        assert "{}" not in text, (key, text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_covers_most_names(language: str) -> None:
    """The phrase tables translate at least 45 % of the names (the rest show in English)."""
    entity = _load(INTEGRATION / "strings.json")["entity"]
    other = _load(INTEGRATION / "translations" / f"{language}.json")["entity"]
    names = [(platform, key) for platform, items in entity.items() for key in items]
    translated = [where for where in names if "name" in other.get(where[0], {}).get(where[1], {})]
    assert len(translated) / len(names) >= 0.45


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_names_stay_distinct(language: str) -> None:
    """Names that differ in English do not read the same on one device in a translation."""
    entity = _load(INTEGRATION / "strings.json")["entity"]
    other = _load(INTEGRATION / "translations" / f"{language}.json")["entity"]
    for group in gen.name_groups():
        seen: dict[str, str] = {}
        for platform, key in sorted(group):
            text = other.get(platform, {}).get(key, {}).get("name")
            if text is None:
                continue
            english = entity[platform][key]["name"].casefold()
            assert seen.setdefault(text.casefold(), english) == english, (key, text)
    for items in other.values():
        for item in items.values():
            states = list(item.get("state", {}).values())
            assert len({text.casefold() for text in states}) == len(states), states


def test_check_covers_the_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check fails when de.json's entity section is stale; a run restores only that section."""
    translations = tmp_path / "translations"
    translations.mkdir()
    for name in ("en.json", "de.json", "fr.json"):
        source = INTEGRATION / "translations" / name
        (translations / name).write_text(source.read_text("utf-8"), encoding="utf-8")
    strings = tmp_path / "strings.json"
    strings.write_text((INTEGRATION / "strings.json").read_text("utf-8"), encoding="utf-8")
    icons = tmp_path / "icons.json"
    icons.write_text((INTEGRATION / "icons.json").read_text("utf-8"), encoding="utf-8")
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "ICONS", icons)
    monkeypatch.setattr(gen, "STRINGS", strings)
    monkeypatch.setattr(gen, "EN", translations / "en.json")
    assert gen.main(["--check"]) == 0
    german = _load(translations / "de.json")
    del german["entity"]["sensor"]["battery_voltage"]
    german["config"]["step"]["user"]["title"] = "Von Hand geschrieben"
    (translations / "de.json").write_text(gen.dump(german), encoding="utf-8")
    assert gen.main(["--check"]) == 1
    assert "translations/de.json is out of date" in capsys.readouterr().out
    assert gen.main([]) == 0
    german = _load(translations / "de.json")
    assert german["entity"]["sensor"]["battery_voltage"] == {"name": "Batteriespannung"}
    assert german["config"]["step"]["user"]["title"] == "Von Hand geschrieben"
    assert list(german) == list(_load(strings))


@pytest.mark.parametrize(
    ("english", "german", "french"),
    [
        ("Battery voltage", "Batteriespannung", "Tension de la batterie"),
        ("AC output rated voltage", "AC-Ausgangsnennspannung", "Tension nominale de sortie AC"),
        ("AC output rated current", "AC-Ausgangsnennstrom", "Courant nominal de sortie AC"),
        ("PV1 input power", "PV1-Eingangsleistung", "Puissance d'entrée PV1"),
        ("Solar input voltage 2", "Solareingangsspannung 2", "Tension d'entrée solaire 2"),
        ("Max charging current", "Max. Ladestrom", "Courant de charge max"),
        ("SCC charging", "SCC-Laden", "Charge SCC en cours"),
        ("MOS overtemperature recovery", "MOS-Übertemperatur (Wiederfreigabe)", None),
        (
            "Battery voltage from SCC",
            "Batteriespannung von SCC",
            "Tension de la batterie depuis SCC",
        ),
        ("AC output voltage setting", "AC-Ausgangsspannung (Einstellung)", None),
        ("Battery type (safety setting)", "Batterietyp (Sicherheitseinstellung)", None),
        ("SOC", "SOC", "SOC"),
        # Not covered: left to English rather than guessed.
        ("Charging MOSFET", "Lade-MOSFET", "MOSFET de charge"),  # a reviewed whole phrase
        ("Heating MOSFET", None, None),  # the acronym is the noun
        ("309 A protection", None, None),  # not an acronym qualifying the words
        ("Cell 1 something", None, None),  # an acronym among the words
        ("Wobble frequency", None, None),  # a qualifier the tables lack
        ("Frobnication", None, None),
    ],
)
def test_glossary_names(english: str, german: str | None, french: str | None) -> None:
    """Names are translated only when the phrase tables cover every word."""
    assert gen.LANGUAGES["de"].name(english) == german
    if french is not None or german is None:
        assert gen.LANGUAGES["fr"].name(english) == french


def test_glossary_drops_clashes_and_counts() -> None:
    """Two names, or two states, that would read the same are left in English; shares counted."""
    language = gen.LANGUAGES["de"]
    english = {
        "sensor": {
            "fault_code": {"name": "Fault code"},
            "error_code": {"name": "Fault code setting"},
            "battery_voltage": {"name": "Battery voltage"},
            "cell_voltage": {"name": "Cell {cell} voltage"},
            "pv_energy_today": {"name": "PV energy today"},
            "mode": {
                "name": "Mode",
                "state": {"a": "Off", "b": "Solar + Utility", "c": "Solar and Utility"},
            },
        }
    }
    section = gen.localize(
        language,
        english,
        [{("sensor", "fault_code"), ("sensor", "battery_voltage")}],
        {"pv_energy_today": ("{} today", "PV energy")},
        [("sensor", "cell_voltage")],
    )
    assert section == {
        "sensor": {
            "fault_code": {"name": "Fehlercode"},
            "error_code": {"name": "Fehlercode (Einstellung)"},
            "battery_voltage": {"name": "Batteriespannung"},
            "cell_voltage": {"name": "Zellspannung {cell}"},
            "pv_energy_today": {"name": "PV-Energie heute"},
            "mode": {"state": {"a": "Aus"}},
        }
    }
    assert language.stats == {"names": 6, "translated": 5}
    clashing = gen.localize(
        language,
        {"sensor": {"a": {"name": "Overtemperature"}, "b": {"name": "Over temperature"}}},
        [{("sensor", "a"), ("sensor", "b")}],
        {},
        [],
    )
    assert clashing == {}


async def test_home_assistant_falls_back_to_english(hass: HomeAssistant) -> None:
    """A name the German file leaves out is shown in English; the others in German."""
    german = _load(INTEGRATION / "translations" / "de.json")["entity"]["sensor"]
    missing = next(
        key
        for key in _load(INTEGRATION / "strings.json")["entity"]["sensor"]
        if "name" not in german.get(key, {})
    )
    loaded = await async_get_translations(hass, "de", "entity", [DOMAIN])
    prefix = f"component.{DOMAIN}.entity.sensor"
    assert loaded[f"{prefix}.battery_voltage.name"] == "Batteriespannung"
    english = _load(INTEGRATION / "strings.json")["entity"]["sensor"][missing]["name"]
    assert loaded[f"{prefix}.{missing}.name"] == english
    french = await async_get_translations(hass, "fr", "entity", [DOMAIN])
    assert french[f"{prefix}.battery_voltage.name"] == "Tension de la batterie"
