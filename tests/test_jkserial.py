"""JKSERIAL (JK "NW" frames): request, identifier walk, values as a user sees them, bad frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mppsolar_lib.errors import CRCError, EchoError, FrameError, TruncatedFrameError
from mppsolar_lib.protocols import get_protocol

from .jk_frames import nw_cells, nw_data, nw_frame

JKSERIAL = get_protocol("jkserial")
VECTORS = [
    json.loads(line)
    for line in (Path(__file__).parent / "vectors" / "jkserial.jsonl").read_text().splitlines()
]
# A user's 14-cell JK-B1A20S15P answering the reference (jblance/mpp-solar#389).
USER = bytes.fromhex(VECTORS[1]["response_hex"])
# The example in JK's document as published by syssi/esphome-jk-bms
# (docs/protocol-design-uart-ttl-gps-port.md): 14 cells, protocol version 1, 2.08 A charging.
DOC = bytes.fromhex(
    "4e57011b00000000060001792a010eed020efa030ef7040eec050ef8060efa070ef1080ef8090ee30a0efa"
    "0b0ef10c0efb0d0efb0e0ef280001d81001e82001c8314ef8480d0850f860287000489000000008a000e8b"
    "00008c00078e16268f10ae900fd2910fa0920005930bea940c1c95000596012c9700079800039900059a00"
    "059b0ce49c00089d019e005a9f0046a00064a10064a20014a30046a40046a5ffeca6fff6a7ffeca8fff6a9"
    "0eaa0000000eab01ac01ad0411ae01af01b0000ab114b231323334353600000000b300b4496e7075742055"
    "73b532313031b60000e200b748362e585f5f53362e312e33535f5fb800b900000000ba4254333037323032"
    "30313230303030323030353231303031c0010000000068000054d1"
)


def with_cells(frame: bytes, extra: list[int]) -> bytes:
    """Append cells to the 0x79 block of ``frame``, fixing length and checksum."""
    start = frame.index(b"\x79", 11)
    size = frame[start + 1]
    cells = frame[start + 2 : start + 2 + size]
    count = size // 3
    cells += b"".join(bytes((count + i,)) + mv.to_bytes(2, "big") for i, mv in enumerate(extra, 1))
    data = frame[11:start] + bytes((0x79, len(cells))) + cells + frame[start + 2 + size : -9]
    return nw_frame(data, command=frame[8])


def test_request_reads_all_identifiers() -> None:
    """``NW``, length 19, command 03 from a computer, identifier 00, end 68, byte sum 0x0126."""
    frame = JKSERIAL.build_request("getBalancerData")
    assert frame.hex() == "4e5700130000000003030000000000006800000126"
    assert int.from_bytes(frame[-4:], "big") == sum(frame[:-4])


def test_user_capture_decodes_to_values_with_units() -> None:
    """The 14-cell capture: what the user's BMS display showed in the issue (33/28/30 °C, 55.78 V)."""
    result = JKSERIAL.decode("getBalancerData", USER)
    assert result["cells_connected"] == 14
    assert result["voltage_cell01"] == 3.984
    assert result["voltage_cell14"] == 3.981
    assert "voltage_cell15" not in result
    assert (result["mos_temp"], result["battery_t1"], result["battery_t2"]) == (33, 28, 30)
    assert result["battery_voltage"] == 55.78
    # 0x81C5, protocol version 1: top bit set = charging, 0x01C5 x 10 mA.
    assert result["battery_current"] == 4.53
    assert result["battery_power"] == 252.68
    assert result["percent_remain"] == 100
    assert result["cycle_count"] == 25
    assert result["total_capacity"] == 5850
    assert result["capacity_setting"] == 234
    assert result["battery_type"] == "Ternary Lithium"
    assert result["software_version"] == "11.XW_S11.261__"
    assert result["manufacturer_id"] == "Input UserdaJK_B1A20S15P"
    assert result["protocol_version"] == 1
    assert (result["charge_enabled"], result["discharge_enabled"]) == (True, True)
    fields = result.fields
    assert (fields["battery_current"].unit, fields["mos_temp"].unit) == ("A", "°C")
    assert fields["battery_power"].hints.device_class == "power"
    assert fields["total_capacity"].hints.state_class == "total_increasing"


def test_document_example() -> None:
    """JK's own example: 53.59 V, SOC 15 %, 0x80D0 = +2.08 A, settings below zero stay signed."""
    result = JKSERIAL.decode("getBalancerData", DOC)
    assert (result["mos_temp"], result["battery_t1"], result["battery_t2"]) == (29, 30, 28)
    assert result["battery_voltage"] == 53.59
    assert result["battery_current"] == 2.08
    assert result["percent_remain"] == 15
    assert result["charge_undertemperature_protection"] == -20
    assert result["discharge_undertemperature_recovery"] == -10
    assert result["cell_overvoltage_protection"] == 4.05
    assert result["total_overvoltage_protection"] == 56.7
    assert result["current_calibration"] == 1.041
    assert result["system_working_time"] == 0xE200
    assert result["manufacturer_id"] == "BT3072020120000200521001"
    # Status 0x0007: both MOS on and balancing (24 mV spread over an 8 mV trigger).
    assert (result["charging_mos"], result["discharging_mos"], result["balancing"]) == (
        True,
        True,
        True,
    )
    assert result["delta_cell_voltage"] == 0.024
    assert (result["min_cell_voltage_cell"], result["max_cell_voltage_cell"]) == (9, 12)


def test_sixteen_cells_agree_with_the_reference() -> None:
    """On a 16-cell pack (where the reference's fixed offsets hold) it decodes as we do.

    Expected values: the reference (mppsolar 0.16.56) run on this very frame.
    """
    frame = with_cells(USER, [3983, 3984])
    reference = {
        "cells_connected": 16,
        "voltage_cell15": 3.983,
        "voltage_cell16": 3.984,
        "mos_temp": 33,
        "battery_t1": 28,
        "battery_t2": 30,
        "battery_voltage": 55.78,
        "battery_current": 4.53,
        "percent_remain": 100,
        "cycle_count": 25,
        "total_capacity": 5850,
        "battery_warning_message": "0000",
        "battery_status_information": "0003",
        "balancer_active": 1,
        "capacity_setting": 234,
        "charge_enabled": 1,
        "discharge_enabled": 1,
    }
    result = JKSERIAL.decode("getBalancerData", frame)
    assert {key: result[key] for key in reference} == reference


def test_password_is_never_reported() -> None:
    """Identifier 0xB2 (the parameter password "123456") is walked over, not shown."""
    result = JKSERIAL.decode("getBalancerData", USER)
    assert not any("123456" in str(value) for value in result.values())


@pytest.mark.parametrize(
    ("raw", "version", "amps"),
    [
        (0x07D0, 1, -20.0),  # document: discharging 20 A is sent as 2000
        (0x87D0, 1, 20.0),  # document: charging 20 A is sent as 34768
        (11000, 0, -10.0),  # document, version 0: (10000 - 11000) x 0.01 = -10 A
        (9500, 0, 5.0),  # document, version 0: (10000 - 9500) x 0.01 = 5 A
    ],
)
def test_current_encodings(raw: int, version: int, amps: float) -> None:
    """Positive while charging in both encodings the document defines."""
    data = nw_data([(0x83, (5000).to_bytes(2, "big")), (0x84, raw.to_bytes(2, "big"))])
    data += nw_data([(0xC0, bytes((version,)))])
    result = JKSERIAL.decode("getBalancerData", nw_frame(data))
    assert result["battery_current"] == amps
    assert result["battery_power"] == round(50.0 * amps, 2)


def test_current_defaults_to_version_zero_and_unknown_versions_give_nothing() -> None:
    """Without 0xC0 the document's default (0) applies; an undocumented version is not guessed."""
    current = (0x84, (9000).to_bytes(2, "big"))
    plain = JKSERIAL.decode("getBalancerData", nw_frame(nw_data([current])))
    assert plain["battery_current"] == 10.0
    assert "battery_power" not in plain  # no pack voltage to multiply
    odd = JKSERIAL.decode("getBalancerData", nw_frame(nw_data([current, (0xC0, b"\x02")])))
    assert "battery_current" not in odd
    assert odd["protocol_version"] == 2


@pytest.mark.parametrize(("raw", "celsius"), [(0, 0), (25, 25), (100, 100), (101, -1), (140, -40)])
def test_temperatures_above_100_are_below_zero(raw: int, celsius: int) -> None:
    """0-100 are °C; 101-140 are -1 to -40 °C (the document's "100 benchmark")."""
    frame = nw_frame(nw_data([(0x80, raw.to_bytes(2, "big"))]))
    assert JKSERIAL.decode("getBalancerData", frame)["mos_temp"] == celsius


def test_warning_bits() -> None:
    """0x8B bit 0 low capacity, bit 10 cell overvoltage, bit 13 the second "309" bit."""
    frame = nw_frame(nw_data([(0x8B, ((1 << 0) | (1 << 10) | (1 << 13)).to_bytes(2, "big"))]))
    result = JKSERIAL.decode("getBalancerData", frame)
    assert result["low_capacity_alarm"] is True
    assert result["cell_overvoltage_alarm"] is True
    assert result["309_b_protection"] is True
    assert result["mos_overtemperature_alarm"] is False
    assert result["battery_warning_message"] == "2401"
    assert result.fields["low_capacity_alarm"].hints.device_class == "problem"


def test_walk_follows_any_cell_count() -> None:
    """Three cells, then the temperature: still the temperature."""
    data = nw_cells([3300, 3310, 3290]) + nw_data([(0x80, (21).to_bytes(2, "big"))])
    result = JKSERIAL.decode("getBalancerData", nw_frame(data))
    assert result["cells_connected"] == 3
    assert result["min_cell_voltage_cell"] == 3
    assert result["mos_temp"] == 21


def test_unknown_identifier_keeps_the_rest_as_hex() -> None:
    """An identifier the document does not list stops the walk; what follows is kept, not guessed."""
    data = nw_data([(0x85, b"\x50"), (0xC7, b"\x01\x02"), (0x86, b"\x02")])
    result = JKSERIAL.decode("getBalancerData", nw_frame(data))
    assert result["percent_remain"] == 80
    assert result["unparsed_data"] == "c701028602"
    assert "temperature_sensors" not in result


def test_upload_frames_decode_too() -> None:
    """A BMS upload (transport type 02) carries the same data."""
    frame = nw_frame(nw_data([(0x85, b"\x32")]), transport=0x02)
    assert JKSERIAL.decode("getBalancerData", frame)["percent_remain"] == 50


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (bytes.fromhex(VECTORS[0]["response_hex"]), TruncatedFrameError, "length says 285"),
        (b"NW\x01", TruncatedFrameError, "no length"),
        (b"MW" + USER[2:], FrameError, "not 4e57"),
        (b"NW\x00\x05" + bytes(5), FrameError, "shorter than an empty frame"),
        (USER + b"\x00", FrameError, "after the frame"),
        (USER[:-5] + b"\x69" + USER[-4:], FrameError, "end mark"),
        (USER[:-1] + bytes(((USER[-1] + 1) % 256,)), CRCError, "checksum"),
        (bytes.fromhex("4e5700130000000003030000000000006800000126"), EchoError, "request"),
        (nw_frame(b"\x79"), TruncatedFrameError, "no length byte"),
        (nw_frame(b"\x79\x06\x01\x0c\xe4"), TruncatedFrameError, "do not fit"),
        (nw_frame(b"\x83\x14"), TruncatedFrameError, "do not fit"),
        (nw_frame(b"\x79\x04\x01\x0c\xe4\x02"), FrameError, "groups of 3"),
        (nw_frame(b"\xb7" + b"\xff" * 15), FrameError, "cannot decode"),
    ],
)
def test_malformed_frames_raise_protocol_errors(
    frame: bytes, error: type[Exception], message: str
) -> None:
    """Each fault has its own error; the reference's crash on the truncated capture is ours too."""
    with pytest.raises(error, match=message):
        JKSERIAL.decode("getBalancerData", frame)


def test_field_metadata_covers_every_identifier() -> None:
    """Entity metadata is known before any frame arrives (cells, current, settings, identity)."""
    info = JKSERIAL.commands["getBalancerData"].info
    for key in ("voltage_cell32", "battery_current", "battery_power", "manufacturer_id"):
        assert key in info
    assert info["battery_current"].unit == "A"
    assert "unparsed_data" in info
    result = JKSERIAL.decode("getBalancerData", USER)
    assert all(
        field.name != f"Unknown value in response {key}" for key, field in result.fields.items()
    )
