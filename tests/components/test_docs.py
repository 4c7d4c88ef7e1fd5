"""docs/home-assistant.md: the generated device table is current, the examples name real entities."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import re
import sys
from types import ModuleType
from typing import Any

from homeassistant.util import slugify
import pytest

from custom_components.mppsolar.const import DOMAIN
from mppsolar_lib.protocols import list_protocols

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "home-assistant.md"
STRINGS = ROOT / "custom_components" / DOMAIN / "strings.json"


def _script() -> ModuleType:
    """Load scripts/gen_docs.py (a script, not a package module)."""
    path = ROOT / "scripts" / "gen_docs.py"
    spec = importlib.util.spec_from_file_location("gen_docs", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_docs", module)
    spec.loader.exec_module(module)
    return module


gen = _script()


def _entity() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(STRINGS.read_text(encoding="utf-8"))["entity"]
    return data


def test_supported_devices_table_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    """The table between the markers is what scripts/gen_docs.py generates now."""
    assert gen.main(["--check"]) == 0, capsys.readouterr().out


def test_table_lists_every_protocol() -> None:
    """One row per protocol, with detection and the settings count."""
    rows = {line.split("|")[1].strip(" `"): line for line in gen.table().splitlines()[2:]}
    assert set(rows) == set(list_protocols())
    assert "| yes | 23 |" in rows["pi30"]
    assert "USB-HID" in rows["pi30"]
    assert "| yes |" in rows["ved"]
    assert "Bluetooth" in rows["jk02"]
    assert "serial" not in rows["jk02"]
    assert "no: choose it" in rows["daly"]
    assert "offered as the alternative" in rows["pi17infini"]
    assert "| yes |" in rows["pi30revo"]  # told from PI30 by QALL, which only REVO answers


def test_check_fails_on_a_stale_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check names the stale document; a run rewrites only the table."""
    doc = tmp_path / "docs" / "home-assistant.md"
    doc.parent.mkdir()
    doc.write_text(f"# Title\n\n{gen.START}\nold\n{gen.END}\n\nHand-written.\n", encoding="utf-8")
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "DOC", doc)
    assert gen.main(["--check"]) == 1
    assert "docs/home-assistant.md is out of date" in capsys.readouterr().out
    assert gen.main([]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\n")
    assert text.endswith(f"{gen.END}\n\nHand-written.\n")
    assert "| `pi30` |" in text
    assert gen.main(["--check"]) == 0
    doc.write_text("# No markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        gen.main(["--check"])


def test_docs_cover_the_gold_rules() -> None:
    """The sections the docs-* rules ask for are there."""
    text = DOC.read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ (.+)$", text, re.MULTILINE))
    for heading in (
        "Supported devices",
        "Not supported",
        "Installing",
        "Adding a device",
        "Options and reconfiguring",
        "Entities",
        "How data is updated",
        "Use cases and examples",
        "Known limitations",
        "Troubleshooting",
        "Removing",
        "Actions",
        "Examples",
    ):
        assert heading in headings, heading
    table = text.partition("## Troubleshooting")[2].partition("\n## ")[0]
    for symptom in (
        "no entities",
        "unavailable",
        "zero",
        "NAK",
        "Bluetooth",
        "permission",
        "in use",
        "slow",
    ):
        assert symptom.lower() in table.lower(), symptom


def test_example_entity_ids_exist() -> None:
    """Every example entity id (a device named "Inverter" or "Daly BMS") is one the integration makes.

    Its object id is the device's name and the entity's English name, slugified; an option an
    example selects is one of that select's states.
    """
    entity = _entity()
    text = DOC.read_text(encoding="utf-8")
    examples = re.findall(
        r"\b(select|number|switch|sensor|binary_sensor)\.(inverter|daly_bms)_([a-z0-9_]+)", text
    )
    assert len(examples) >= 8
    for platform, device, object_id in examples:
        names = {slugify(item["name"]): key for key, item in entity[platform].items()}
        assert object_id in names, f"{platform}.{device}_{object_id}"
    options = re.findall(r"entity_id: select\.inverter_(\w+)\n\s+data:\n\s+option: (\w+)", text)
    assert options
    for object_id, option in options:
        key = {slugify(item["name"]): key for key, item in entity["select"].items()}[object_id]
        assert option in entity["select"][key]["state"], (object_id, option)
