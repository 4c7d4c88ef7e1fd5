"""PI18LVX: PI18SV's table on MPP Solar LVX units, which take every request without a CRC.

Requests are ``^P``/``^S`` + length + command + CR; the length still counts the two CRC bytes
that are not sent (``^P005GS`` + CR). Answers are checked like any PI18 answer, CRC included.
"""

from __future__ import annotations

from typing import ClassVar

from mppsolar_lib.protocols import pi18sv


class PI18LVX(pi18sv.PI18SV):
    """PI18 as spoken by MPP Solar LVX units: PI18SV's commands, no request CRC at all."""

    id: ClassVar[str] = "pi18lvx"
    description: ClassVar[str] = "Voltronic PI18 for MPP Solar LVX (no request CRC)"
    request_crc: ClassVar[bool] = False
