#!/usr/bin/env python3
"""Check that a release's versions agree: tag, library, integration manifest and its requirement.

Usage: scripts/release_check.py [vX.Y.Z]   (without a tag: only the files must agree)
"""

# ruff: noqa: INP001, T201

from __future__ import annotations

import json
from pathlib import Path
import sys
import tomllib

ROOT = Path(__file__).resolve().parent.parent


def problems(tag: str | None) -> list[str]:
    """Return what disagrees (empty: all agree)."""
    library = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = library["project"]["version"]
    manifest = json.loads(
        (ROOT / "custom_components" / "mppsolar" / "manifest.json").read_text(encoding="utf-8")
    )
    found = []
    if manifest["version"] != version:
        found.append(f"manifest version {manifest['version']} != pyproject version {version}")
    wanted = f"{library['project']['name']}=={version}"
    if wanted not in manifest["requirements"]:
        found.append(f"manifest requirements {manifest['requirements']} lack {wanted}")
    if tag is not None and tag != f"v{version}":
        found.append(f"tag {tag} != v{version}")
    return found


if __name__ == "__main__":
    errors = problems(sys.argv[1] if len(sys.argv) > 1 else None)
    for error in errors:
        print(f"release_check: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
