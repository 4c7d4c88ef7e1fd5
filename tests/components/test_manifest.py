"""The integration's metadata as Home Assistant's loader and HACS read it."""

from __future__ import annotations

import json
from pathlib import Path
import tomllib
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component

from custom_components.mppsolar.const import DOMAIN

ROOT = Path(__file__).parents[2]
INTEGRATION_DIR = ROOT / "custom_components" / DOMAIN

# The keys HACS' hacs.json schema accepts (HACS_MANIFEST_JSON_SCHEMA, extra keys rejected).
HACS_KEYS = {
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "zip_release",
    "name",
}


def _pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def _load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


async def test_loader_reads_manifest(hass: HomeAssistant) -> None:
    """Home Assistant's loader finds the custom integration with its metadata."""
    integration = await async_get_integration(hass, DOMAIN)

    assert integration.domain == DOMAIN
    assert not integration.is_built_in
    assert integration.pkg_path == f"custom_components.{DOMAIN}"
    assert integration.file_path == INTEGRATION_DIR
    assert integration.name == "MPP Solar"
    assert integration.iot_class == "local_polling"
    assert integration.integration_type == "device"
    assert integration.config_flow is True
    # Bluetooth links need the adapters (and ESPHome proxies) up before an entry connects.
    assert integration.dependencies == ["bluetooth_adapters", "http"]
    # The web UI in the sidebar registers a panel when the frontend is there (web.py).
    assert integration.after_dependencies == ["frontend"]
    assert {m.get("manufacturer_id") for m in integration.manifest["bluetooth"]} >= {2917, 19274}


async def test_requirement_pins_library_version(hass: HomeAssistant) -> None:
    """The integration pins exactly the library version this repository builds."""
    version = _pyproject_version()
    integration = await async_get_integration(hass, DOMAIN)

    assert integration.requirements == [f"mppsolar-lib=={version}"]
    assert str(integration.version) == version


async def test_setup_component(hass: HomeAssistant) -> None:
    """The integration sets up through Home Assistant's setup machinery (no YAML)."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    assert DOMAIN in hass.config.components


def test_manifest_key_order() -> None:
    """Hassfest's order: domain, name, then the other keys alphabetically."""
    keys = list(_load_json(INTEGRATION_DIR / "manifest.json"))

    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_hacs_json_keys() -> None:
    """hacs.json holds only keys HACS accepts, including the required name."""
    hacs = _load_json(ROOT / "hacs.json")

    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert hacs["name"] == _load_json(INTEGRATION_DIR / "manifest.json")["name"]
    assert isinstance(hacs.get("render_readme", False), bool)
    assert hacs["homeassistant"] == "2026.2.0"
