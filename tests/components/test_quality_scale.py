"""quality_scale.yaml: every rule of the scale, in a form hassfest accepts, and checkable claims.

The rules are those of Home Assistant 2026.2's ``script/hassfest/quality_scale.py`` (not shipped
in the wheel). The core integrations it ships list exactly these rules in their own
``quality_scale.yaml``: the test checks that too, so a Home Assistant upgrade that changes the
scale fails here until the file (and :data:`TIERS`) follow. Where hassfest checks a rule marked
done, the same check runs here.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import Any

import homeassistant.components
from homeassistant.util.yaml import load_yaml_dict
import pytest
import voluptuous as vol

from custom_components.mppsolar import PLATFORMS

INTEGRATION = Path(__file__).parents[2] / "custom_components" / "mppsolar"
MANIFEST: dict[str, Any] = json.loads((INTEGRATION / "manifest.json").read_text(encoding="utf-8"))

#: The rules per tier, as hassfest (Home Assistant 2026.2) lists them.
TIERS: dict[str, tuple[str, ...]] = {
    "bronze": (
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ),
    "silver": (
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ),
    "gold": (
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}
ALL_RULES = [rule for rules in TIERS.values() for rule in rules]

#: hassfest's schema: todo/done, optionally with a comment; exempt always with one.
SCHEMA = vol.Schema(
    {
        vol.Required("rules"): vol.Schema(
            {
                vol.Optional(rule): vol.Any(
                    vol.In(["todo", "done"]),
                    vol.Schema(
                        {
                            vol.Required("status"): vol.In(["todo", "done"]),
                            vol.Required("comment"): str,
                        }
                    ),
                    vol.Schema({vol.Required("status"): "exempt", vol.Required("comment"): str}),
                )
                for rule in ALL_RULES
            }
        )
    }
)


def rules() -> dict[str, Any]:
    """Return the integration's rules (rule -> status or {status, comment})."""
    data = load_yaml_dict(str(INTEGRATION / "quality_scale.yaml"))
    SCHEMA(data)
    found: dict[str, Any] = data["rules"]
    return found


def status(rule: str) -> str:
    """Return a rule's status (todo, done, exempt)."""
    value = rules()[rule]
    return str(value["status"] if isinstance(value, dict) else value)


def module(name: str) -> ast.Module:
    """Parse one of the integration's modules."""
    return ast.parse((INTEGRATION / f"{name}.py").read_text(encoding="utf-8"))


def functions(tree: ast.Module) -> set[str]:
    """Return the names of the functions and methods defined in ``tree``."""
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_rule_is_listed_tier_by_tier() -> None:
    """All rules of every tier, nothing else, a tier's rules together; hassfest's schema holds."""
    listed = list(rules())
    assert sorted(listed) == sorted(ALL_RULES)
    tier_of = {rule: index for index, rules in enumerate(TIERS.values()) for rule in rules}
    tiers = [tier_of[rule] for rule in listed]
    assert tiers == sorted(tiers)


def test_the_scale_is_home_assistants() -> None:
    """The tiers here are the scale of the installed Home Assistant: its core files agree."""
    shipped: set[str] = set()
    components = Path(homeassistant.components.__path__[0])
    for path in components.glob("*/quality_scale.yaml"):
        shipped |= set(load_yaml_dict(str(path)).get("rules", {}))
    assert shipped == set(ALL_RULES)


def test_exempt_and_todo_say_why() -> None:
    """Every exempt rule, and every todo, comes with its reason."""
    for rule, value in rules().items():
        if status(rule) in ("exempt", "todo"):
            assert isinstance(value, dict), f"{rule}: say why"
            assert value["comment"].strip(), rule


@pytest.mark.parametrize("rule", ["config-flow", "discovery", "reconfiguration-flow"])
def test_flow_claims(rule: str) -> None:
    """What hassfest checks of the flow rules marked done."""
    if status(rule) != "done":
        pytest.skip(f"{rule} is not claimed")
    flow = functions(module("config_flow"))
    assert MANIFEST["config_flow"] is True
    if rule == "discovery":
        assert MANIFEST["bluetooth"]
        assert "async_step_bluetooth" in flow
    if rule == "reconfiguration-flow":
        assert "async_step_reconfigure" in flow


def test_setup_claims() -> None:
    """runtime-data, test-before-setup, parallel-updates, diagnostics, icons, strict typing."""
    init = ast.unparse(module("__init__"))
    if status("runtime-data") == "done":
        assert "entry.runtime_data = " in init
        assert "ConfigEntry[MppSolarCoordinator]" in ast.unparse(module("coordinator"))
    if status("test-before-setup") == "done":
        assert "async_config_entry_first_refresh" in init
    if status("parallel-updates") == "done":
        for platform in PLATFORMS:
            assert "PARALLEL_UPDATES = " in ast.unparse(module(platform.value)), platform
    if status("diagnostics") == "done":
        assert "async_get_config_entry_diagnostics" in functions(module("diagnostics"))
    if status("icon-translations") == "done":
        assert json.loads((INTEGRATION / "icons.json").read_text(encoding="utf-8"))["entity"]
    if status("integration-owner") == "done":
        assert MANIFEST["codeowners"]
    if status("strict-typing") == "done":
        assert (INTEGRATION.parents[1] / "mppsolar_lib" / "py.typed").is_file()
    for rule in ("action-setup", "action-exceptions", "docs-actions"):
        if status(rule) == "exempt":
            # No service actions: nothing registers one.
            for path in INTEGRATION.glob("*.py"):
                assert "async_register" not in path.read_text(encoding="utf-8"), path


def test_brand_images() -> None:
    """brands: every image Home Assistant looks for, at the sizes the brands guidelines ask."""
    assert status("brands") == "done"
    from PIL import Image  # noqa: PLC0415 - only this test needs Pillow

    for prefix in ("", "dark_"):
        for suffix, factor in (("", 1), ("@2x", 2)):
            with Image.open(INTEGRATION / "brand" / f"{prefix}icon{suffix}.png") as icon:
                assert icon.format == "PNG"
                assert icon.size == (256 * factor, 256 * factor)
            with Image.open(INTEGRATION / "brand" / f"{prefix}logo{suffix}.png") as logo:
                assert logo.format == "PNG"
                assert logo.height == 128 * factor
                assert logo.width > logo.height
    # The committed files are what scripts/gen_brand.py draws now.
    spec = importlib.util.spec_from_file_location(
        "gen_brand", INTEGRATION.parents[1] / "scripts" / "gen_brand.py"
    )
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for name, data in generator.images().items():
        assert (INTEGRATION / "brand" / name).read_bytes() == data, name


def test_dependency_is_the_released_library() -> None:
    """dependency-transparency: the manifest pins this repository's library at its version."""
    assert status("dependency-transparency") == "done"
    pyproject = (INTEGRATION.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "MIT"' in pyproject
    release = (INTEGRATION.parents[1] / ".github" / "workflows" / "release.yml").read_text(
        encoding="utf-8"
    )
    assert "pypa/gh-action-pypi-publish" in release
    assert "id-token: write" in release
    spec = importlib.util.spec_from_file_location(
        "release_check", INTEGRATION.parents[1] / "scripts" / "release_check.py"
    )
    assert spec is not None
    assert spec.loader is not None
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    assert checker.problems(f"v{MANIFEST['version']}") == []
    assert checker.problems("v0.0.0-not-this") == [f"tag v0.0.0-not-this != v{MANIFEST['version']}"]
