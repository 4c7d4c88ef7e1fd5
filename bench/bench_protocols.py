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

# Real-world frames (CRC included) of the three commands every poll sends.
FRAMES = {
    "QPIGS": "283030302e302030302e30203233302e302034392e392030313631203031313920303033203436302035"
    "372e3530203031322031303020303036392030303134203130332e382035372e34352030303030302030303131"
    "303131302030302030302030303835362030313024"
    "8c0d",
    "QPIRI": "283233302e302032312e37203233302e302035302e302032312e37203530303020343030302034382e30"
    "2034362e302034322e302035362e342035342e302030203130203031302031203020302036203031203020302035"
    "342e30203020316f7e0d",
    "QPIWS": "28303030303031303030303030303030303130303030303030303030303030303056a60d",
}

REF_SCRIPT = r"""
import json, sys, timeit, logging
logging.disable(logging.CRITICAL)
from mppsolar.protocols.pi30 import pi30
frames, number, repeat = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
proto = pi30()
out = {}
for command, hexframe in frames.items():
    frame = bytes.fromhex(hexframe)
    def op(command=command, frame=frame):
        proto.get_full_command(command)
        return proto.decode(frame, command)
    assert op(), command
    out[command] = min(timeit.repeat(op, number=number, repeat=repeat)) / number
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


def ours(number: int, repeat: int) -> dict[str, float]:
    """Seconds per build+decode with mppsolar_lib."""
    sys.path.insert(0, str(ROOT))
    from mppsolar_lib.protocols import get_protocol  # noqa: PLC0415

    proto = get_protocol("pi30")
    out = {}
    for command, hexframe in FRAMES.items():
        frame = bytes.fromhex(hexframe)

        def op(command: str = command, frame: bytes = frame) -> object:
            proto.build_request(command)
            return proto.decode(command, frame)

        assert op(), command
        out[command] = min(timeit.repeat(op, number=number, repeat=repeat)) / number
    return out


def main() -> int:
    """Run both and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ref-python", help="a Python that has mppsolar installed")
    args = parser.parse_args()

    mine = ours(args.number * 5, args.repeat)
    proc = subprocess.run(
        [
            ref_python(args.ref_python),
            "-c",
            REF_SCRIPT,
            json.dumps(FRAMES),
            str(args.number),
            str(args.repeat),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"python {sys.version.split()[0]}; µs per build+decode (best of {args.repeat})")
    print(f"{'command':8} {'mppsolar_lib':>13} {'reference':>10} {'speed-up':>9}")
    for command in FRAMES:
        a, b = mine[command] * 1e6, theirs[command] * 1e6
        print(f"{command:8} {a:13.2f} {b:10.2f} {b / a:8.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
