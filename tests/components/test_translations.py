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
