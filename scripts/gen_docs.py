"""Generate the "Supported devices" table of docs/home-assistant.md from the protocol registry.

For every protocol the library knows, one row: its id, the family,
the devices it covers (the protocol's own description), how Home Assistant can reach it (the
connections the config flow offers for it), whether *Detect automatically* recognises it
(found by running the library's detector against the protocol's simulator, so the column says
what the code does) and how many settings its select/number/switch entities cover.

The table sits between ``<!-- supported-devices:start -->`` and ``<!-- supported-devices:end -->``;
the rest of the document is written by hand.

Usage: ``.venv/bin/python scripts/gen_docs.py [--check]``; ``--check`` writes nothing and exits
non-zero when the table is out of date (the tests run it).
"""

# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mppsolar_lib.protocols import get_protocol, list_protocols  # noqa: E402
from mppsolar_lib.protocols.detect import Detection, detect  # noqa: E402
from mppsolar_lib.simulator import create_simulator  # noqa: E402
from mppsolar_lib.transports.ble import JK, MODELS  # noqa: E402

DOC = ROOT / "docs" / "home-assistant.md"
START = "<!-- supported-devices:start -->"
END = "<!-- supported-devices:end -->"

#: The family of each protocol, by id prefix (the first match wins).
FAMILIES = (
    ("pi", "Voltronic inverter"),
    ("jk485", "JK active balancer"),
    ("jk", "JK BMS"),
    ("daly", "Daly BMS"),
    ("ved", "Victron VE.Direct"),
)


def family(protocol: str) -> str:
    """Return the family of the devices speaking ``protocol``."""
    return next(text for prefix, text in FAMILIES if protocol.startswith(prefix))


def connections(protocol: str) -> str:
    """Return the connections the config flow offers for ``protocol``."""
    found: list[str] = []
    if not (protocol in MODELS and MODELS[protocol] is JK):  # JK Bluetooth layouts: radio only
        found.append("serial")
        if protocol.startswith("pi"):
            found.append("USB-HID")
        found.append("TCP/UDP gateway")
    if protocol in MODELS:
        found.append("Bluetooth")
    return ", ".join(found)


def detected(protocol: str) -> str:
    """Return what *Detect automatically* finds on ``protocol``'s simulator."""
    simulator = create_simulator(protocol)

    def exchange(request: bytes) -> bytes | None:
        answer = simulator.handle(request)
        # A VE.Direct device in text mode talks without being asked.
        return answer if answer is not None else (simulator.unsolicited() or None)

    found: Detection = detect(exchange)
    if found.protocol == protocol:
        return "yes"
    if protocol in found.alternatives:
        return f"as `{found.protocol}`, `{protocol}` offered as the alternative"
    return "no: choose it"


def table() -> str:
    """Return the Markdown table, one row per protocol."""
    rows = [
        "| Protocol | Family | Devices | Connections | Detected automatically | Settings |",
        "|---|---|---|---|---|---|",
    ]
    for protocol_id in list_protocols():
        protocol = get_protocol(protocol_id)
        devices = protocol.description.replace("|", "\\|")
        rows.append(
            f"| `{protocol_id}` | {family(protocol_id)} | {devices} | {connections(protocol_id)}"
            f" | {detected(protocol_id)} | {len(protocol.settings)} |"
        )
    return "\n".join(rows)


def render(text: str) -> str:
    """Return ``text`` with the table between the markers replaced by the current one."""
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{DOC.name} has no {START} … {END} markers")
    return f"{before}{START}\n{table()}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the table; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail when the table is out of date"
    )
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    wanted = render(text)
    if wanted == text:
        return 0
    if args.check:
        print(f"{DOC.relative_to(ROOT)} is out of date: run scripts/gen_docs.py")
        return 1
    DOC.write_text(wanted, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
