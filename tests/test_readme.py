"""README.md stays true to the code: protocol table and the documented commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from mppsolar_lib.protocols.catalog import END, START, readme_section, replace_section

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_protocol_table_is_current() -> None:
    """The table in README.md equals what the registry generates (run scripts/update-readme)."""
    assert readme_section() in README, (
        "README.md protocol table is stale: run scripts/update-readme"
    )


def test_table_lists_every_protocol_once() -> None:
    """Each registered protocol has one row."""
    from mppsolar_lib.protocols import list_protocols  # noqa: PLC0415

    section = README.partition(START)[2].partition(END)[0]
    for protocol_id in list_protocols():
        assert section.count(f"| `{protocol_id}` |") == 1


def test_readme_gives_the_test_and_setup_commands() -> None:
    """The promised commands are in README.md and exist as executables."""
    for script in ("scripts/test", "scripts/setup"):
        assert script in README
        assert (ROOT / script).stat().st_mode & 0o111


def test_replace_section_requires_markers() -> None:
    """Regeneration refuses a README without its markers instead of appending somewhere."""
    with pytest.raises(ValueError, match="marker"):
        replace_section("no markers here")
    with pytest.raises(ValueError, match="end marker"):
        replace_section(f"x {START} y")
    assert replace_section(f"a {START} old {END} b") == f"a {readme_section()} b"
