"""Replay the reference implementation's conformance vectors against our protocols.

Each vector is the reference decoding one example frame. Requests must match byte for byte;
frames the reference rejects must raise our ProtocolError; decoded fields must agree (numbers
within 1e-6, or after a decimal rescaling such as 0.1 V -> V) except the deliberate deviations
listed in DEVIATIONS and explained in docs/deviations.md.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import math
from pathlib import Path
import re
from typing import Any

import pytest

from mppsolar_lib.errors import NAKError, ProtocolError
from mppsolar_lib.protocols import get_protocol, list_protocols

HERE = Path(__file__).parent / "vectors"
PROTOCOLS = sorted(p.stem for p in HERE.glob("*.jsonl"))
SCALES = (1, 0.1, 0.01, 0.001, 10, 100, 1000)

#: (protocol, command, field key) -> why we differ. Keep in step with docs/deviations.md.
DEVIATIONS: dict[tuple[str, str, str], str] = {
    ("pi30", "QPIRI", "max_parallel_units"): "'-' placeholder: no field, not 0",
    ("pi30", "QPIRI", "unknown_value_in_response_27"): "reference shows bytes repr b'070'",
    ("pi41", "QPIRI", "max_parallel_units"): "'-' placeholder: no field, not 0",
    ("pi41", "QPIRI", "unknown_value_in_response_27"): "reference shows bytes repr b'070'",
    **{
        (protocol, "GS", f"ac_output_current_{phase}"): "empty position: no field, not 0.0 A"
        for protocol in ("pi17", "pi17infini", "pi17m058")
        for phase in "rst"
    },
    **{
        key: why
        for protocol in ("pi18sv", "pi18lvx")
        for key, why in (
            ((protocol, "ID", "serial_number"), "'14' valid length + padding cut off"),
            (
                (protocol, "PIRI", "output_source_priority"),
                "code 1 is Solar-Battery-Utility (POP1), not 'Solar and Utility'",
            ),
        )
    },
    **{
        ("jk485", "getBalancerData", f"voltage_cell{cell}"): "beyond the 20 configured cells"
        for cell in (21, 22, 23, 24)
    },
    **{
        ("jkserial", "getBalancerData", key): "reference reads fixed 16-cell offsets; 14-cell frame"
        for key in (
            "voltage_cell15",
            "voltage_cell16",
            "mos_temp",
            "battery_t1",
            "battery_t2",
            "battery_voltage",
            "battery_current",
            "percent_remain",
            "cycle_count",
            "total_capacity",
            "battery_warning_message",
            "battery_status_information",
            "balancer_active",
            "capacity_setting",
            "charge_enabled",
            "discharge_enabled",
        )
    },
    **{
        ("pi16", "QPIGS", key): "'---.-' / '-----' placeholder: no field, not 0"
        for key in (
            "negative_battery_voltage",
            "pv2_input_voltage",
            "pv3_input_power",
            "pv3_input_voltage",
        )
    },
    ("ved", "vedtext", "8"): "garbage label '\\x008' of a partial block (dropped: bad checksum)",
    **{
        ("ved", "vedtext", key): "last block of the capture is incomplete (no Checksum line yet): "
        "not verifiable, so not reported"
        for key in (
            "depth_of_the_deepest_discharge",
            "depth_of_the_last_discharge",
            "depth_of_the_average_discharge",
            "number_of_charge_cycles",
            "number_of_full_discharges",
            "cumulative_amp_hours_drawn",
            "minimum_main_battery_voltage",
            "maximum_main_battery_voltage",
            "number_of_seconds_since_last_full_charge",
            "number_of_automatic_synchronizations",
            "number_of_low_main_voltage_alarms",
            "number_of_high_main_voltage_alarms",
            "minimum_auxiliary_battery_voltage",
            "maximum_auxiliary_battery_voltage",
            "amount_of_discharged_energy",
        )
    },
    ("jk02", "getCellData", "balance_current"): "balance current is at byte 138; the reference "
    "shows the battery current (byte 126) under this name",
    **{
        ("jk02", "getCellData", key): "raw -2000 (-200.0 °C) means no probe fitted: no field"
        for key in ("battery_t1", "battery_t2")
    },
    ("jkv11", "getCellData", "mos_temp"): "MOSFET temperature is at byte 144 (as in jk02_32); "
    "the reference reads the alarm word at 166",
}

#: (protocol, command key) -> why our request differs. Keep in step with docs/deviations.md.
REQUEST_DEVIATIONS: dict[tuple[str, str], str] = {
    ("pi30revo", "_PSET"): "reference sends the key's '_' on the wire; we send PSET + CRC + CR",
    **{
        (protocol, command): f"reference's hand-written length ^P005{command} is wrong; we send "
        f"^P{len(command) + 3:03d}{command} (command + CRC + CR)"
        for protocol in ("pi18sv", "pi18lvx")
        for command in ("FWS", "ACCT", "ACLT")
    },
    ("jk232", "getBalancerData"): "checksum is 0x10000 - sum (JBD document: DD A5 03 00 FF FD 77); "
    "the reference sends the plain sum",
    **{
        ("pi16", key): f"reference sends QED + {digits} digits; we send {key} + the digits"
        for key, digits in (("QEH", 10), ("QEM", 6), ("QEY", 4))
    },
    ("pi16", "QED"): "example QED12345678 is not a date: refused (QED20150620 is byte-exact)",
    ("ved", "vedtext"): "the reference's 'request' is the word VEDTEXT; the device streams text "
    "unasked, so we send nothing",
    ("jk02", "setBalanceStart"): "reference pads with 9 bytes copied from an app capture; we pad "
    "with zeros like every other JK request",
}

#: (protocol, command, response index) -> why we reject a frame the reference decodes (it checks
#: no CRC or length field for some families). They must raise ProtocolError and are not scored.
#: Keep in step with docs/deviations.md.
REJECTED_DEVIATIONS: dict[tuple[str, str, int], str] = {
    ("pi18", "ED20240115", 0): "CRC does not match (bytes borrowed from another frame)",
    ("pi18", "ID", 0): "4 bytes shorter than its length field, no CRC",
    ("pi18", "VFW", 0): "starts '^^D', no CRC",
    ("pi18", "PIRI", 0): "no CRC: 2 bytes shorter than its length field",
    ("pi18", "PIRI", 1): "one CRC byte: 1 byte shorter than its length field",
    ("pi18", "GS", 0): "no leading '^' (the reference then misreads grid voltage as 23.2 V)",
    **{
        (protocol, command, 0): why
        for protocol in ("pi18sv", "pi18lvx")
        for command, why in (
            ("EM202312", "length field 010 on an 11-byte body; CRC is that of the ET frame"),
            ("VFW", "CRC mangled by a UTF-8 round trip (0x28DD became C3 9D)"),
            ("MCHGCR", "no CRC, LF instead of CR; the reference reads the last value 70 as 0"),
            ("MUCHGCR", "no CRC, LF instead of CR; the reference reads the last value 70 as 0"),
            ("GS", "CRC mangled by a UTF-8 round trip (60 EA became 60 C3 AA)"),
        )
    },
    ("pi16", "QED12345678", 0): "CRC 9caf is that of '(PI16'; and 12345678 is not a date",
    ("pi16", "QMOD", 0): "CRC 9caf is that of '(PI16', not of '(B'",
    ("pi16", "QPIBI", 0): "CRC b76c is that of '(G', not of '(0 6 1234 12 43'",
    ("jk02", "getCellData", 3): "299 bytes with a wrong sum (a byte lost in the reference's "
    "example); the reference's own I/O would never pass it on",
    ("jk02", "setCellOVP3.65", 0): "a cell data record is no acknowledgement of the setting",
}


def rejected_by_us(protocol: str, vector: dict[str, Any]) -> bool:
    """Tell whether we deliberately reject a frame the reference decodes."""
    return (protocol, vector.get("command"), vector.get("response_index")) in REJECTED_DEVIATIONS


def refused_as_data(vector: dict[str, Any]) -> bool:
    """Tell whether the reference returned a refusal (NAK, ``^0``) as a "was rejected" warning."""
    decoded = vector.get("decoded") or {}
    return bool(decoded) and all(key.startswith("WARNING") for key in decoded)


def slug(name: str) -> str:
    """Return the key check.py derives from a reference display name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def same(ours: object, ref: object) -> bool:
    """Equality as the conformance checker defines it."""
    if isinstance(ours, bool):
        ours = int(ours)
    if isinstance(ref, bool):
        ref = int(ref)
    if isinstance(ref, int | float) and isinstance(ours, int | float):
        return any(math.isclose(float(ours), ref * s, rel_tol=1e-6, abs_tol=1e-9) for s in SCALES)
    return str(ours).strip().lower() == str(ref).strip().lower()


def vectors(protocol: str) -> Iterator[dict[str, Any]]:
    """Yield the vectors of one protocol."""
    for line in (HERE / f"{protocol}.jsonl").read_text().splitlines():
        yield json.loads(line)


def test_every_vector_protocol_is_registered() -> None:
    """The registry knows every protocol we carry vectors for."""
    assert set(PROTOCOLS) <= set(list_protocols())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_requests_are_byte_exact(protocol: str) -> None:
    """Every request the reference builds, we build identically (text requests as ASCII)."""
    proto = get_protocol(protocol)
    checked = deviated = 0
    for vector in vectors(protocol):
        if vector["kind"] not in ("test_response", "request") or not vector.get("request_hex"):
            continue
        if (protocol, vector.get("command_key")) in REQUEST_DEVIATIONS:
            deviated += 1
            continue
        assert proto.build_request(vector["command"]).hex() == vector["request_hex"], vector[
            "command"
        ]
        checked += 1
    assert checked + deviated > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rejected_frames_raise_protocol_errors(protocol: str) -> None:
    """A frame the reference flags as invalid raises one of our ProtocolErrors.

    A refusal the reference returns as data ("was rejected") must raise NAKError.
    """
    proto = get_protocol(protocol)
    for vector in vectors(protocol):
        if vector["kind"] != "test_response" or not vector.get("response_hex"):
            continue
        if vector.get("response_type", "bytes") != "bytes":
            continue
        frame = bytes.fromhex(vector["response_hex"])
        if refused_as_data(vector):
            with pytest.raises(NAKError):
                proto.decode(vector["command"], frame)
        elif vector.get("error_kind") == "validity" or rejected_by_us(protocol, vector):
            with pytest.raises(ProtocolError):
                proto.decode(vector["command"], frame)


def score(protocol: str) -> tuple[int, int, list[str]]:
    """Count reference fields, documented deviations hit and undocumented mismatches."""
    proto = get_protocol(protocol)
    total = deviated = 0
    mismatches: list[str] = []
    for vector in vectors(protocol):
        if vector["kind"] != "test_response" or vector.get("error") or not vector.get("decoded"):
            continue
        if vector.get("response_type", "bytes") != "bytes" or not vector.get("response_hex"):
            continue
        if refused_as_data(vector) or rejected_by_us(protocol, vector):
            continue
        result = proto.decode(vector["command"], bytes.fromhex(vector["response_hex"]))
        ours = {slug(key): field for key, field in result.fields.items()}
        for name, ref in vector["decoded"].items():
            key = slug(name)
            if not key or not isinstance(ref, list) or not ref:
                continue
            if len(ref) > 1 and ref[1] == "__empty_position__":
                continue
            total += 1
            field = ours.get(key)
            if field is not None and same(field.value, ref[0]):
                continue
            if (protocol, result.command, key) in DEVIATIONS:
                deviated += 1
                continue
            got = None if field is None else field.value
            mismatches.append(f"{vector['command']} {key}: ours {got!r}, reference {ref[0]!r}")
    return total, deviated, mismatches


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_decoded_fields_match_reference(protocol: str) -> None:
    """Every reference field agrees with ours, but for the documented deviations."""
    total, _, mismatches = score(protocol)
    assert total > 0
    assert not mismatches, "\n".join(mismatches)


def _sections() -> dict[str, str]:
    """Return docs/deviations.md as heading (lower case, no spaces) -> section text."""
    text = (Path(__file__).parents[1] / "docs" / "deviations.md").read_text()
    sections = {}
    for chunk in text.split("\n## ")[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading.lower().replace(" ", "")] = body
    return sections


def test_every_deviation_is_explained_in_the_docs() -> None:
    """Each deviation names its command in the docs section of its protocol."""
    sections = _sections()
    keys = [(p, c) for p, c, _ in DEVIATIONS] + list(REQUEST_DEVIATIONS)
    keys += [(p, c) for p, c, _ in REJECTED_DEVIATIONS]
    undocumented = []
    for protocol, command in sorted(set(keys)):
        text = " ".join(body for head, body in sections.items() if protocol in head)
        name = re.match(r"[A-Za-z_^]+", command)
        if not text or name is None or name.group().lstrip("_") not in text:
            undocumented.append(f"{protocol} {command}")
    assert not undocumented, f"not explained in docs/deviations.md: {undocumented}"


def test_deviations_are_rare() -> None:
    """Fields we decode differently from the reference stay under 2 % of all it decodes.

    Frames we refuse (refusals, broken examples) are counted separately in REJECTED_DEVIATIONS.
    """
    scores = [score(protocol) for protocol in PROTOCOLS]
    total = sum(t for t, _, _ in scores)
    deviated = sum(d for _, d, _ in scores)
    assert deviated <= 0.02 * total, f"{deviated} of {total} fields deviate"
