"""The installed mppsolar-lib distribution matches pyproject.toml (no Home Assistant)."""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path
import tomllib

ROOT = Path(__file__).parents[1]


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def test_installed_version_matches_pyproject() -> None:
    """The environment runs the library built from this checkout."""
    assert metadata.version("mppsolar-lib") == _project()["version"]


def test_package_is_typed() -> None:
    """The PEP 561 marker ships with the package."""
    assert resources.files("mppsolar_lib").joinpath("py.typed").is_file()
