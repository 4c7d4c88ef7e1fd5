"""PI17INFINI: PI17 as described by the 2022 Infini-Solar specification.

Differences from PI17: the buzzer is muted with ``PEA`` / un-muted with ``PDA`` (letter style)
instead of ``PA1``/``PA0``, ``PA`` and ``PB`` do not exist, and ``ACCT`` sets two AC charging
time ranges at once (``ACCT2200,2259,2300,2359``). Everything else is PI17's, shared.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi17
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import Pattern, setter
from mppsolar_lib.protocols.settings import settings_table

_RANGE = f"{pi17.HHMM},{pi17.HHMM}"

_commands = table(
    setter(
        "ACCT",
        "Set two AC charging time ranges, end minutes included (ACCT2200,2259,2300,2359)",
        Pattern(
            f"{_RANGE},{_RANGE}",
            "four times HHMM separated by commas: start and end of the first range, then of "
            "the second, e.g. 2200,2259,2300,2359",
        ),
    ),
    setter("PEA", "Enable 'mute buzzer beep'"),
    setter("PDA", "Disable 'mute buzzer beep'"),
    base=pi17.COMMANDS,
)
del _commands["PA"], _commands["PB"]
COMMANDS = MappingProxyType(_commands)

_settings = settings_table(
    dataclasses.replace(pi17.SETTINGS["mute_buzzer_beep"], on="PEA", off="PDA"),
    base=pi17.SETTINGS,
)
del _settings["mute_buzzer_beep_in_standby_mode"]  # PB does not exist on these units
SETTINGS = MappingProxyType(_settings)


class PI17INFINI(pi17.PI17):
    """PI17 as the 2022 Infini-Solar specification describes it (PEA/PDA, two ACCT ranges)."""

    id: ClassVar[str] = "pi17infini"
    description: ClassVar[str] = "Voltronic PI17, Infini-Solar 2022 specification"
    commands = COMMANDS
    settings = SETTINGS
