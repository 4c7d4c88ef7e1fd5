#!/usr/bin/env python3
"""Benchmark: build + decode per operation, mppsolar_lib side by side with the reference.

Usage: python bench/bench_protocols.py [--number N] [--repeat R] [--ref-python PATH]

Runs our library in this interpreter and the reference implementation (PyPI ``mppsolar==0.16.56``)
in a throwaway venv under ~/.cache/mppsolar/ref-venv (created on first use), on the same frames,
and prints µs per operation (best of R runs of N operations) and the ratio.
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import timeit
import venv

ROOT = Path(__file__).resolve().parents[1]
REF_VERSION = "0.16.56"
REF_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mppsolar" / "ref-venv"

VECTORS = ROOT / "tests" / "vectors"

#: One representative status command per family (the ones a poll sends most), plus PI30's three.
CASES = (
    ("pi30", "QPIGS"),
    ("pi30", "QPIRI"),
    ("pi30", "QPIWS"),
    ("pi30max", "QPIGS2"),
    ("pi41", "QPIGS"),
    ("pi16", "QPIGS"),
    ("pi17", "GS"),
    ("pi18sv", "PGS0"),  # no GS example of the PI18 family has a valid CRC
    ("pi18sv", "PIRI"),
    ("jk02", "getCellData"),
    ("jk02_32", "getCellData"),
    ("jk04", "getCellData"),
    ("jk232", "getBalancerData"),
    ("jkserial", "getBalancerData"),
    ("jkpb", "getCellData"),
    ("daly", "cellVoltages"),
    ("daly40", "SOC"),
    ("ved", "vedtext"),
)


def frames() -> dict[str, tuple[str, str, str]]:
    """Case label -> (protocol, command, frame hex): the first example both implementations decode.

    Examples the reference decodes but we refuse (defective CRCs, see docs/deviations.md) would
    compare a decode with an error path, so they are skipped.
    """
    sys.path.insert(0, str(ROOT))
    from mppsolar_lib.errors import ProtocolError  # noqa: PLC0415
    from mppsolar_lib.protocols import get_protocol  # noqa: PLC0415

    out = {}
    for protocol, command in CASES:
        path = VECTORS / f"{protocol}.jsonl"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            vector = json.loads(line)
            if (
                vector["kind"] == "test_response"
                and vector["command"] == command
                and vector.get("response_hex")
                and vector.get("decoded")
                and not vector.get("error")
                and vector.get("response_type", "bytes") == "bytes"
            ):
                try:
                    get_protocol(protocol).decode(command, bytes.fromhex(vector["response_hex"]))
                except ProtocolError:
                    continue
                out[f"{protocol} {command}"] = (protocol, command, vector["response_hex"])
                break
    return out


REF_SCRIPT = r"""
import importlib, json, sys, timeit, logging
logging.disable(logging.CRITICAL)
cases, number, repeat = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
for label, (protocol, command, hexframe) in cases.items():
    proto = getattr(importlib.import_module(f"mppsolar.protocols.{protocol}"), protocol)()
    frame = bytes.fromhex(hexframe)
    def op(command=command, frame=frame):
        proto.get_full_command(command)
        return proto.decode(frame, command)
    try:
        assert op(), command
    except Exception as err:  # the reference cannot run this case
        out[label] = None
        continue
    out[label] = min(timeit.repeat(op, number=number, repeat=repeat)) / number
print(json.dumps(out))
"""


def ref_python(explicit: str | None) -> str:
    """Return a Python with the reference installed, creating the throwaway venv if needed."""
    if explicit:
        return explicit
    python = REF_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {REF_VENV} with mppsolar=={REF_VERSION} (once)…", file=sys.stderr)
        venv.create(REF_VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"mppsolar=={REF_VERSION}"], check=True
        )
    return str(python)


def ours(cases: dict[str, tuple[str, str, str]], number: int, repeat: int) -> dict[str, float]:
    """Seconds per build+decode with mppsolar_lib."""
    sys.path.insert(0, str(ROOT))
    from mppsolar_lib.protocols import Protocol, get_protocol  # noqa: PLC0415

    out = {}
    for label, (protocol, command, hexframe) in cases.items():
        proto = get_protocol(protocol)
        frame = bytes.fromhex(hexframe)

        def op(command: str = command, frame: bytes = frame, proto: Protocol = proto) -> object:
            proto.build_request(command)
            return proto.decode(command, frame)

        assert op(), command
        out[label] = min(timeit.repeat(op, number=number, repeat=repeat)) / number
    return out


def main() -> int:
    """Run both and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ref-python", help="a Python that has mppsolar installed")
    args = parser.parse_args()

    cases = frames()
    mine = ours(cases, args.number * 5, args.repeat)
    proc = subprocess.run(
        [
            ref_python(args.ref_python),
            "-c",
            REF_SCRIPT,
            json.dumps(cases),
            str(args.number),
            str(args.repeat),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"python {sys.version.split()[0]}; µs per build+decode (best of {args.repeat})")
    print(f"{'protocol command':28} {'mppsolar_lib':>13} {'reference':>10} {'speed-up':>9}")
    for label in cases:
        a = mine[label] * 1e6
        if theirs.get(label) is None:
            print(f"{label:28} {a:13.2f} {'fails':>10} {'':>9}")
            continue
        b = theirs[label] * 1e6
        print(f"{label:28} {a:13.2f} {b:10.2f} {b / a:8.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
