"""The phrase tables of scripts/glossary.py: whole phrases holding acronyms, and coverage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import sys
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
TRANSLATIONS = ROOT / "custom_components" / "mppsolar" / "translations"


def _glossary() -> ModuleType:
    """Load scripts/glossary.py (a script, not a package module)."""
    path = ROOT / "scripts" / "glossary.py"
    spec = importlib.util.spec_from_file_location("glossary_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("glossary_under_test", module)
    spec.loader.exec_module(module)
    return module


glossary = _glossary()


def _language(code: str, phrases: dict[str, str]) -> Any:
    """Return a language with only ``phrases`` (and German's quantity tables)."""
    german = glossary.LANGUAGES["de"]
    return glossary.Language(
        code=code,
        phrases=phrases,
        quantities=german.quantities,
        qualifiers=german.qualifiers,
        states={},
        series={},
        energy={},
        periods={},
        setting="{} (Einstellung)",
        safety="{} (Sicherheitseinstellung)",
        maximum="Max. {}",
        minimum="Min. {}",
    )


@pytest.mark.parametrize(
    ("english", "german", "french"),
    [
        # The whole name, acronyms included, is a phrase of the table.
        ("Off reason: BMS", "Abschaltgrund: BMS", "Raison de l'arrêt : BMS"),
        ("Device ID", "Geräte-ID", "ID de l'appareil"),
        ("L1 line not OK", "L1-Netz nicht OK", "Réseau L1 non OK"),
        # An acronym among the words: only a reviewed phrase places it.
        ("Max AC charging current", "Max. AC-Ladestrom", "Courant de charge AC max"),
        ("Channel 2 battery current", "Batteriestrom Kanal 2", "Courant de la batterie canal 2"),
        # A leading acronym the phrase places itself, then the trailing level number.
        ("SOC high level 1", "SOC zu hoch, Stufe 1", "SOC trop haut, niveau 1"),
        ("PV OK condition (parallel)", "PV-OK-Bedingung (parallel)", "Condition PV OK (parallèle)"),
        # A core phrase with trailing numbers, and the suffixes the generator adds.
        ("Cell voltage high level 2", "Zellspannung zu hoch, Stufe 2", None),
        (
            "Battery weak voltage in hybrid mode (safety setting)",
            "Spannungsgrenze für schwache Batterie im Hybridmodus (Sicherheitseinstellung)",
            "Seuil de tension de batterie faible en mode hybride (réglage de sécurité)",
        ),
        # New qualifiers compose with max/min.
        ("Maximum auxiliary battery voltage", "Max. Hilfsbatteriespannung", None),
        ("Max battery discharging current", "Max. Batterieentladestrom", None),
        ("Load current", "Laststrom", "Courant des charges"),
        # Still not guessed.
        ("Battery under SOC to 2nd", None, None),
        ("Keep", None, None),
    ],
)
def test_whole_phrases(english: str, german: str | None, french: str | None) -> None:
    """Phrases that hold their acronyms translate the whole name; others stay English."""
    assert glossary.LANGUAGES["de"].name(english) == german
    if french is not None or german is None:
        assert glossary.LANGUAGES["fr"].name(english) == french


def test_whole_phrase_needs_an_acronym_or_the_whole_name() -> None:
    """A phrase matches the words before trailing numbers only when it holds an acronym.

    "Charging MOS" must not become "Laden MOS" through the plain "charging" phrase, while
    "SCC charging" still joins its acronym the usual way.
    """
    language = _language("de", {"charging": "Laden", "soc high level": "SOC zu hoch, Stufe"})
    assert language.name("Charging MOS") is None
    assert language.name("SCC charging") == "SCC-Laden"
    assert language.name("SOC high level 1") == "SOC zu hoch, Stufe 1"
    assert language.name("SOC high level x") is None  # not a trailing number
    assert language.name("Charging") == "Laden"


def test_whole_phrase_drops_an_unused_placeholder() -> None:
    """A whole-name phrase written with ``{}`` (an acronym slot) reads without it."""
    language = _language("fr", {"charging": "Charge{} en cours"})
    assert language.name("Charging") == "Charge en cours"
    assert language.name("SCC charging") == "Charge SCC en cours"


def _coverage(code: str) -> tuple[int, int, int, int]:
    english = json.loads((TRANSLATIONS / "en.json").read_text("utf-8"))["entity"]
    other = json.loads((TRANSLATIONS / f"{code}.json").read_text("utf-8"))["entity"]
    names = done = states = translated_states = 0
    for platform, items in english.items():
        for key, item in items.items():
            found = other.get(platform, {}).get(key, {})
            names += "name" in item
            done += "name" in item and "name" in found
            states += len(item.get("state", {}))
            translated_states += len(found.get("state", {}))
    return names, done, states, translated_states


@pytest.mark.parametrize("code", ["de", "fr"])
def test_coverage(code: str) -> None:
    """At least 95 % of the entity names and 90 % of the states are translated."""
    names, done, states, translated_states = _coverage(code)
    assert done / names >= 0.95, (done, names)
    assert translated_states / states >= 0.9, (translated_states, states)
