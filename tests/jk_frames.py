"""Frame builders for the JK wired protocols, with checksums written independently of the library."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def modbus_crc(data: bytes) -> int:
    """Bit-by-bit CRC-16/MODBUS (reflected 0xA001, init 0xFFFF), independent of mppsolar_lib.crc."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def jbd_frame(register: int, data: bytes, status: int = 0) -> bytes:
    """Build a JBD answer ``DD reg status len data chk 77``; chk = 0x10000 - sum(status len data)."""
    body = bytes((status, len(data))) + data
    check = (0x10000 - sum(body)) % 0x10000
    return bytes((0xDD, register)) + body + check.to_bytes(2, "big") + b"\x77"


def nw_frame(data: bytes, *, transport: int = 0x01, command: int = 0x03) -> bytes:
    """Build a JK "NW" frame around ``data`` (identifiers and values), checksum included."""
    length = 2 + 4 + 3 + len(data) + 4 + 1 + 4
    body = (
        b"NW"
        + length.to_bytes(2, "big")
        + b"\x00\x00\x00\x00"
        + bytes((command, 0x00, transport))
        + data
        + b"\x00\x00\x00\x00\x68"
    )
    return body + (sum(body) % 0x10000).to_bytes(4, "big")


def nw_data(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Concatenate ``identifier, value`` pairs."""
    return b"".join(bytes((tag,)) + value for tag, value in items)


def nw_cells(millivolts: Iterable[int]) -> bytes:
    """Build the 0x79 cell block: length byte, then ``number, mV`` triples."""
    triples = b"".join(bytes((i,)) + mv.to_bytes(2, "big") for i, mv in enumerate(millivolts, 1))
    return bytes((0x79, len(triples))) + triples


def jk485_frame(
    cells: Iterable[int],
    *,
    configured: int,
    detected: int | None = None,
    status: int = 0,
    alarms: int = 0,
    temperature: int = 250,
    balance_current: int = 0,
) -> bytes:
    """Build a 74-byte JK balancer answer (big-endian; cell list padded to 24 slots)."""
    mv = list(cells)
    slots = (mv + [0] * 24)[:24]
    total = sum(mv) // 10
    frame = (
        b"\xeb\x90\x01\xff"
        + total.to_bytes(2, "big")
        + (sum(mv) // max(len(mv), 1)).to_bytes(2, "big")
        + bytes((detected if detected is not None else configured, 0, 0, status, alarms))
        + (max(mv, default=0) - min(mv, default=0)).to_bytes(2, "big")
        + balance_current.to_bytes(2, "big", signed=True)
        + (5).to_bytes(2, "big")
        + (1000).to_bytes(2, "big")
        + bytes((1, configured))
        + b"".join(v.to_bytes(2, "big") for v in slots)
        + temperature.to_bytes(2, "big", signed=True)
    )
    return frame + bytes((sum(frame) % 256,))


def jk_record(
    record_type: int, fields: Mapping[int, bytes], *, register: int | None = None
) -> bytes:
    """Build a 300-byte ``55 AA EB 90`` record (byte sum at 299), plus a Modbus response.

    ``fields`` maps offsets to bytes; everything else is zero. With ``register``, the 8-byte
    Modbus "write multiple registers" response for it follows, CRC low byte first.
    """
    record = bytearray(300)
    record[:6] = b"\x55\xaa\xeb\x90" + bytes((record_type, 0x05))
    for offset, value in fields.items():
        record[offset : offset + len(value)] = value
    record[299] = sum(record[:299]) % 256
    if register is None:
        return bytes(record)
    tail = b"\x01\x10" + register.to_bytes(2, "big") + b"\x00\x01"
    return bytes(record) + tail + modbus_crc(tail).to_bytes(2, "little")


def le(value: int, size: int, *, signed: bool = False) -> bytes:
    """Little-endian bytes."""
    return value.to_bytes(size, "little", signed=signed)
