"""Command line: ``python -m mppsolar_lib``.

For now it exposes the protocol layer (list protocols and commands, build requests, decode
frames); talking to devices and the simulator arrive with the transports.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import sys

from mppsolar_lib.errors import MppSolarError
from mppsolar_lib.protocols import get_protocol, list_protocols


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mppsolar_lib",
        description="Voltronic / MPP-Solar inverter protocols: list, build requests, decode.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("protocols", help="list the supported protocols")
    commands = sub.add_parser("commands", help="list a protocol's commands")
    commands.add_argument("protocol")
    request = sub.add_parser("request", help="print the request frame for a command, as hex")
    request.add_argument("protocol")
    request.add_argument("command")
    decode = sub.add_parser("decode", help="decode an answer frame given as hex")
    decode.add_argument("protocol")
    decode.add_argument("command")
    decode.add_argument("frame_hex")
    decode.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.action == "protocols":
            for protocol_id in list_protocols():
                print(f"{protocol_id:10} {get_protocol(protocol_id).description}")
        elif args.action == "commands":
            for command in get_protocol(args.protocol).list_commands():
                print(f"{command.name:12} {command.kind.value:7} {command.description}")
        elif args.action == "request":
            print(get_protocol(args.protocol).build_request(args.command).hex())
        else:
            try:
                frame = bytes.fromhex(args.frame_hex)
            except ValueError:
                print("error: frame_hex is not hexadecimal", file=sys.stderr)
                return 2
            result = get_protocol(args.protocol).decode(args.command, frame)
            if args.json:
                print(json.dumps({k: [f.value, f.unit] for k, f in result.fields.items()}))
            else:
                for field in result.fields.values():
                    print(f"{field.name:45} {field.value!s:>12} {field.unit}")
    except MppSolarError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
