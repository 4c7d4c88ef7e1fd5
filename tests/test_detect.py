"""Protocol auto-detection against simulated devices of every inverter family.

Each fake device answers from the reference's example frames of its own protocol (the vectors),
refuses what it does not know the way its family does (``(NAK`` or ``^0``), and stays silent to
requests in a framing it does not speak. Variants differ only in the identity answers a real unit
of that model gives, which the tests set explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path

from hypothesis import given, settings, strategies as st
import pytest

from mppsolar_lib.protocols import Kind, get_protocol
from mppsolar_lib.protocols.detect import (
    Detection,
    Detector,
    Framing,
    classify,
    detect,
    framing_probes,
)

from .helpers import caret_frame, pi_frame

VECTORS = Path(__file__).parent / "vectors"
PAREN = ("pi16", "pi30", "pi30max", "pi30m044", "pi30m045", "pi30mst", "pi30revo", "pi41")
CARET = ("pi17", "pi17infini", "pi17m058", "pi18", "pi18sv", "pi18lvx")


class FakeInverter:
    """A device that answers the example frames of one protocol, keyed by request bytes."""

    def __init__(
        self,
        protocol: str,
        overrides: Mapping[str, bytes | None] | None = None,
        *,
        speaks: tuple[bytes, ...] | None = None,
    ) -> None:
        """Collect the first valid example answer of each query; ``overrides`` win."""
        self.protocol = get_protocol(protocol)
        self.caret = protocol in CARET
        self.speaks = speaks or ((b"^P", b"^S") if self.caret else (b"Q", b"P", b"M"))
        self.answers: dict[bytes, bytes | None] = {}
        self.sent: list[bytes] = []
        for line in (VECTORS / f"{protocol}.jsonl").read_text().splitlines():
            vector = json.loads(line)
            if vector["kind"] != "test_response" or vector.get("error"):
                continue
            if not vector.get("response_hex") or not vector.get("request_hex"):
                continue
            request = bytes.fromhex(vector["request_hex"])
            self.answers.setdefault(request, bytes.fromhex(vector["response_hex"]))
        for command, answer in (overrides or {}).items():
            self.answers[self.request(command)] = answer

    def request(self, command: str) -> bytes:
        """Return the bytes ``command`` arrives as, from this protocol or the richest sibling."""
        for protocol in (self.protocol, get_protocol("pi18sv" if self.caret else "pi30max")):
            if command in protocol.commands:
                return protocol.build_request(command)
        raise KeyError(command)

    def __call__(self, request: bytes) -> bytes | None:
        """Answer like the real unit: known query, refusal, or silence for a foreign framing."""
        self.sent.append(request)
        if request in self.answers:
            return self.answers[request]
        if not request.startswith(self.speaks):
            return None
        return caret_frame("", nak=True) if self.caret else pi_frame("NAK")


def run(device: FakeInverter) -> Detection:
    """Detect, and check that nothing but queries went on the wire."""
    result = detect(device)
    for request in device.sent:
        for probe in framing_probes():
            if probe.request == request:
                break
        else:
            text = request.rstrip(b"\r").decode("latin-1")
            assert not text.startswith(("^S", "P", "M", "F")) or text.startswith(("PI", "^P")), (
                f"detection sent {request!r}"
            )
    return result


def test_probes_go_out_in_the_documented_safe_order() -> None:
    """QPI with CRC, ^P005PI, ^P003PI, ^P005PI without CRC, QPI without CRC, then Q1."""
    assert [p.request for p in framing_probes()] == [
        b"QPI\xbe\xac\r",
        b"^P005PIq\x8b\r",
        b"^P003PI\r",
        b"^P005PI\r",
        b"QPI\r",
        b"Q1\x1b\xfc\r",
    ]


@pytest.mark.parametrize(
    ("answer", "framing"),
    [
        (None, Framing.SILENCE),
        (b"", Framing.SILENCE),
        (b"(PI30\x9a\x0b\r", Framing.PAREN),
        (b"(NAKss\r", Framing.PAREN_NAK),
        (b"^D00518;\x03\r", Framing.CARET),
        (b"^0\x1b\xe3\r", Framing.CARET_NAK),
        (b"QPI\xbe\xac\r", Framing.ECHO),
        (b"\r\nPID\t0xA389\r\nV\t53509", Framing.VEDIRECT),
        (b"\x00\xff garbage", Framing.GARBAGE),
    ],
)
def test_answers_are_classified_by_framing(answer: bytes | None, framing: Framing) -> None:
    """The first look at an answer needs no protocol knowledge beyond the framing."""
    assert classify(answer, b"QPI\xbe\xac\r") is framing


def test_pi30_unit_is_identified_with_its_identity() -> None:
    """A plain PI30 unit: protocol, model, firmware and serial from its own answers."""
    found = run(FakeInverter("pi30", {"QGMN": pi_frame("038"), "QPIGS2": pi_frame("NAK")}))
    assert found.protocol == "pi30"
    assert found.confidence >= 0.9
    assert (found.model, found.firmware, found.serial) == ("MKS2-8000", "00072.70", "9293333010501")
    assert found.evidence[0].startswith("QPI with CRC: protocol_id=PI30")


@pytest.mark.parametrize(
    ("protocol", "overrides", "expected"),
    [
        ("pi30m044", {}, "pi30m044"),
        ("pi30m045", {"QGMN": pi_frame("045")}, "pi30m045"),
        ("pi30mst", {"QGMN": pi_frame("031"), "QMN": pi_frame("PIP4048MST")}, "pi30mst"),
        ("pi30max", {"QGMN": pi_frame("038"), "QMN": pi_frame("LV6048MAX")}, "pi30max"),
        ("pi30max", {"QGMN": pi_frame("038"), "QMN": pi_frame("VMIII-5K")}, "pi30max"),
    ],
)
def test_pi30_variants_are_told_apart(
    protocol: str, overrides: dict[str, bytes], expected: str
) -> None:
    """Model number 044/045, an MST model name, or PV2 data (QPIGS2) pick the variant."""
    found = run(FakeInverter(protocol, overrides))
    assert found.protocol == expected
    assert found.confidence >= 0.8


@pytest.mark.parametrize(("number", "protocol"), [("16", "pi16"), ("41", "pi41")])
def test_other_paren_families_are_named_by_their_protocol_number(
    number: str, protocol: str
) -> None:
    """``(PI16`` and ``(PI41`` answer QPI like PI30 does, with their own number."""
    found = run(FakeInverter(protocol, {"QPI": pi_frame(f"PI{number}")}))
    assert found.protocol == protocol
    assert found.confidence >= 0.9
    assert found.firmware is not None


def test_pi17_unit_is_identified() -> None:
    """PI17 answers ``^P003PI`` only; the identity comes from ID, VFW and MD."""
    found = run(FakeInverter("pi17"))
    assert found.protocol == "pi17"
    assert "pi17infini" in found.alternatives
    assert found.serial == "96161704100242"
    assert found.firmware == "00001.01"
    assert found.model == "Infini-Solar 10KW/3P"


def test_pi17_machine_058_selects_its_variant() -> None:
    """Machine number 058 is the unit pi17m058 was written for."""
    md = "058,010000,99,3,3,2300,2300,04,120"
    found = run(FakeInverter("pi17m058", {"MD": caret_frame(md)}))
    assert found.protocol == "pi17m058"


def test_pi18_unit_is_identified() -> None:
    """PI18 answers ``^P005PI`` with CRC and NAKs the SV/LVX-only FWS query."""
    found = run(FakeInverter("pi18", {"FWS": caret_frame("", nak=True)}))
    assert found.protocol == "pi18"
    assert found.confidence >= 0.85


#: A fault-status answer: no fault, no warning (the reference's example has a mangled CRC).
FWS_ANSWER = caret_frame("00," + ",".join("0" * 17))


def test_pi18sv_answers_the_fault_status_query() -> None:
    """An EASUN SV answers PI without a CRC and FWS with one; plain PI18 firmware refuses FWS."""
    found = run(FakeInverter("pi18sv", {"FWS": FWS_ANSWER}))
    assert found.protocol == "pi18sv"
    assert found.serial == "96161704100242"


def test_pi18lvx_never_takes_a_crc() -> None:
    """An LVX unit answers only CRC-less requests, FWS included."""
    device = FakeInverter("pi18lvx")
    device.answers[get_protocol("pi18lvx").build_request("FWS")] = FWS_ANSWER
    found = run(device)
    assert found.protocol == "pi18lvx"
    assert found.confidence >= 0.8


def test_pi18_without_crc_and_without_fault_status_is_a_guess() -> None:
    """Only the CRC-less identity answered: LVX is likely, SV possible; say so."""
    found = run(FakeInverter("pi18lvx"))
    assert found.protocol == "pi18lvx"
    assert found.confidence < 0.6
    assert found.alternatives == ("pi18sv",)


def test_silent_port_gives_no_protocol_and_full_evidence() -> None:
    """Nothing connected: every probe tried once, no guess."""
    sent: list[bytes] = []

    def silent(request: bytes) -> bytes | None:
        sent.append(request)
        return None

    found = detect(silent)
    assert found.protocol is None
    assert found.confidence == 0
    assert sent == [p.request for p in framing_probes()]
    assert len(found.evidence) == len(sent)


def test_corrupted_answers_are_not_trusted() -> None:
    """A ``(PI30`` with a broken CRC is evidence of nothing; detection goes on."""
    device = FakeInverter("pi30")
    qpi = get_protocol("pi30").build_request("QPI")
    device.answers[qpi] = b"(PI30\x00\x00\r"
    device.answers[b"QPI\r"] = None
    found = run(device)
    assert found.protocol == "pi30"
    assert found.confidence == 0.5
    assert "unreadable (CRCError)" in found.evidence[0]


def test_old_unit_answering_only_q1_is_a_guess() -> None:
    """Q1 alone means PI30 at low confidence: worth confirming."""
    device = FakeInverter("pi30")
    device.answers[get_protocol("pi30").build_request("QPI")] = pi_frame("NAK")
    found = run(device)
    assert found.protocol == "pi30"
    assert found.confidence < 0.6


def test_unknown_protocol_number_is_reported_not_guessed() -> None:
    """``(PI99`` names no family we know: say so in the evidence and keep probing."""
    device = FakeInverter("pi30", {"QPI": pi_frame("PI99"), "Q1": None})
    found = run(device)
    assert found.protocol is None
    assert any("PI99" in line for line in found.evidence)


def test_vedirect_text_on_the_line_is_recognised() -> None:
    """A VE.Direct device streams text whatever it is sent."""
    found = detect(lambda _: b"\r\nPID\t0xA389\r\nV\t53509\r\nI\t23866")
    assert found.protocol == "ved"


def test_detector_refuses_answers_after_it_finished() -> None:
    """Feeding a finished detector is a caller bug, reported as such."""
    detector = Detector()
    while detector.probe is not None:
        detector.feed(None)
    assert detector.result is not None
    with pytest.raises(RuntimeError, match="finished"):
        detector.feed(b"(PI30")


@pytest.mark.parametrize("protocol", PAREN + CARET)
def test_every_family_is_detected_into_its_family(protocol: str) -> None:
    """Whatever the variant, detection lands in the right family and never sends a setter."""
    found = run(FakeInverter(protocol))
    assert found.protocol is not None
    family = protocol[:4]
    assert found.protocol.startswith(family) or protocol in ("pi30revo", "pi41", "pi16"), found


_ANSWERS = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.sampled_from(
        [
            pi_frame("PI30"),
            pi_frame("PI41"),
            pi_frame("PI16"),
            pi_frame("NAK"),
            pi_frame("044"),
            pi_frame("LV6048MAX"),
            caret_frame("17"),
            caret_frame("18"),
            caret_frame("", nak=True),
            caret_frame("058,010000,99,3,3,2300,2300,04,120"),
            FWS_ANSWER,
        ]
    ),
)


@settings(max_examples=300)
@given(answers=st.lists(_ANSWERS, min_size=20, max_size=20))
def test_whatever_comes_back_only_queries_are_sent(answers: list[bytes | None]) -> None:
    """Any sequence of answers: a bounded number of probes, every one a query, then a result."""
    detector = Detector()
    sent = 0
    while (probe := detector.probe) is not None:
        definition, _ = get_protocol(probe.protocol).resolve(probe.command)
        assert definition.kind is Kind.QUERY
        assert probe.request == get_protocol(probe.protocol).build_request(probe.command) or (
            probe.label == "QPI without CRC"
        )
        detector.feed(answers[sent])
        sent += 1
        assert sent < len(answers)
    assert detector.result is not None
    assert 0 <= detector.result.confidence <= 1
