"""Daly BMS addressed as the PC ("upper computer", 0x40) of Daly's UART/485 protocol V1.2.

The same commands, answers and settings as :mod:`~mppsolar_lib.protocols.daly`; only the host
address in the requests differs (V1.0 of the document gave the PC 0x80, V1.2 moved it to 0x40 and
gave 0x80 to the Bluetooth app). Use whichever your BMS answers.
"""

from __future__ import annotations

from typing import ClassVar

from mppsolar_lib.protocols.daly import DALY


class DALY40(DALY):
    """Daly BMS, host address 0x40."""

    id: ClassVar[str] = "daly40"
    description: ClassVar[str] = "Daly BMS over UART/RS485, host address 0x40"
    address: ClassVar[int] = 0x40
