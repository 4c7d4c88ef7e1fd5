"""Outputs that print to standard output, in the reference CLI's formats.

``screen`` (the default table), ``boxdraw`` (the table with line-art borders), ``simple``
(``key=value``), ``simpleunits`` (``key=value(unit)``), ``value`` (values only), ``json`` and
``json_units`` (one object per report), and ``raw`` (the frame as received). Layouts match the
reference byte for byte so scripts that parse them keep working; where we differ is listed in
``docs/deviations.md`` ("CLI").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mppsolar_lib.outputs.base import ConsoleOutput, Report, plain, text, unit_of

if TYPE_CHECKING:
    from mppsolar_lib.protocols.fields import Value

_RULE = "-" * 80


def _pad(value: str, width: int) -> str:
    return value.ljust(width)


class Screen(ConsoleOutput):
    """A table: parameter, value, unit."""

    name = "screen"

    def render(self, report: Report) -> str:
        """Header, rule, one line per row, rule, two blank lines (as the reference)."""
        shown = [(key, text(row.value), unit_of(row)) for key, row in self.options.rows(report)]
        width = max([9, *(len(key) for key, _, _ in shown)]) + 1
        lines = [
            f"Command: {report.command} - {report.description}",
            _RULE,
            f"{_pad('Parameter', width)}{'Value':<15}Unit",
        ]
        lines.extend(f"{_pad(key, width)}{value:<15}{unit}" for key, value, unit in shown)
        lines.extend((_RULE, "", "", ""))
        return "\n".join(lines)


class BoxDraw(ConsoleOutput):
    """The screen table framed with box-drawing characters."""

    name = "boxdraw"

    def render(self, report: Report) -> str:
        """Frame, title, column headings, rows; the unit column absorbs a long title."""
        shown = [(key, text(row.value), unit_of(row)) for key, row in self.options.rows(report)]
        width_p = max([9, *(len(key) for key, _, _ in shown)]) + 1
        width_v = max([6, *(len(value) for _, value, _ in shown)]) + 1
        width_u = max([5, *(len(unit) for _, _, unit in shown)]) + 1
        title = f" Command: {report.command} - {report.description}"
        # The line is the three columns plus 7 border/space characters; a longer title widens it
        # and the unit column takes the slack, so every border stays aligned.
        line = max(width_p + width_v + width_u + 7, len(title) + 7)
        width_u = line - width_p - width_v - 7
        columns = (width_p, width_v, width_u)

        def rule(left: str, fill: str, cross: str, right: str) -> str:
            return left + cross.join(fill * (width + 1) for width in columns) + right

        def cells(*values: str) -> str:
            padded = (
                f" {_pad(value, width)}" for value, width in zip(values, columns, strict=True)
            )
            return "║" + "│".join(padded) + "║"

        lines = [
            "╔" + "═" * (line - 2) + "╗",
            "║" + _pad(title, line - 2) + "║",
            rule("╠", "═", "╤", "╣"),
            cells("Parameter", "Value", "Unit"),
            rule("╟", "─", "┼", "╢"),
        ]
        lines.extend(cells(key, value, unit) for key, value, unit in shown)
        lines.extend((rule("╚", "═", "╧", "╝"), "", "", ""))
        return "\n".join(lines)


class Simple(ConsoleOutput):
    """``key=value`` lines."""

    name = "simple"

    def render(self, report: Report) -> str:
        """One ``key=value`` line per row."""
        return "".join(f"{key}={text(row.value)}\n" for key, row in self.options.rows(report))


class SimpleUnits(ConsoleOutput):
    """``key=value(unit)`` lines."""

    name = "simpleunits"

    def render(self, report: Report) -> str:
        """One line per row, the unit in brackets when there is one."""
        lines = []
        for key, row in self.options.rows(report):
            unit = unit_of(row)
            lines.append(
                f"{key}={text(row.value)}({unit})\n" if unit else f"{key}={text(row.value)}\n"
            )
        return "".join(lines)


class Values(ConsoleOutput):
    """Values only, one per line."""

    name = "value"

    def render(self, report: Report) -> str:
        """One value per line, in row order."""
        return "".join(f"{text(row.value)}\n" for _, row in self.options.rows(report))


class Json(ConsoleOutput):
    """One JSON object per report: ``_command``, ``_command_description``, then key: value."""

    name = "json"

    def render(self, report: Report) -> str:
        """One line of JSON; the filters apply to every key, ``_command`` included (as the reference)."""
        header = (("_command", report.command), ("_command_description", report.description))
        obj: dict[str, object] = {k: v for k, v in header if self.options.wanted(k)}
        for key, row in self.options.rows(report):
            obj[key] = self.item(row.value, unit_of(row))
        # Imported for JSON output only: json costs every other start-up ~2 ms.
        import json  # noqa: PLC0415

        return json.dumps(obj) + "\n"

    def item(self, value: Value, unit: str) -> object:
        """Return what a key maps to: the plain value (``json_units`` adds ``unit``)."""
        return plain(value)


class JsonUnits(Json):
    """As ``json``, each value with its unit: ``{"value": 57.5, "unit": "V"}``."""

    name = "json_units"

    def item(self, value: Value, unit: str) -> object:
        """Return the value with its unit."""
        return {"value": plain(value), "unit": unit}


class Raw(ConsoleOutput):
    """The frame as received, escaped to ASCII."""

    name = "raw"

    def render(self, report: Report) -> str:
        """Header, a 60-character rule and the frame (as the reference: bytes read as Latin-1)."""
        lines = [f"Command: {report.command} - {report.description}", "-" * 60]
        if report.raw is not None:
            lines.append(f"{'raw_response':<30}\t{report.raw.decode('latin-1')!a:<15}")
        return "\n".join(lines) + "\n"
