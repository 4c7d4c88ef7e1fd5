"""PI17M058: PI17 as spoken by model 058 units.

Only ``BATS`` differs: its state-of-charge limits (positions 19–22) are numbers, the "back"
voltages are called "release", and the two reserved positions are dropped. The settings read from
``BATS`` follow its keys; everything else is PI17's, shared.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi17
from mppsolar_lib.protocols.base import derive, table
from mppsolar_lib.protocols.fields import Int, Option
from mppsolar_lib.protocols.settings import settings_table

BATS = derive(
    pi17.BATS,
    {
        "battery_constant_charge_voltage_c_v": pi17.tenths("Battery constant charge voltage", "V"),
        "battery_under_back_voltage": pi17.tenths("Battery under voltage release", "V"),
        "battery_weak_back_voltage_in_hybrid_mode": pi17.tenths(
            "Battery weak voltage release in hybrid mode", "V"
        ),
        "ac_charger_keep_battery_voltage_function": Option(
            # Spelling kept from the reference so the key matches its output.
            "AC charger keep battery voltage function enable/diable",
            pi17.CAP_ENABLED,
        ),
        "battery_under_soc": Int("Battery under SOC", "%"),
        "battery_under_back_soc": Int("Battery under back SOC", "%"),
        "battery_weak_soc": Int("Battery weak SOC in hybrid mode", "%"),
        "battery_weak_back_soc": Int("Battery weak back SOC in hybrid mode", "%"),
        "battery_under_soc_to_2nd": Int("Unknown", hints=pi17.HIDDEN),
    },
)

COMMANDS = MappingProxyType(table(BATS, base=pi17.COMMANDS))
#: PI17's settings but those read from BATS, which are rebuilt on this model's BATS keys.
SETTINGS = MappingProxyType(
    settings_table(
        *pi17.battery_settings(BATS),
        base={k: s for k, s in pi17.SETTINGS.items() if s.read_command != "BATS"},
    )
)


class PI17M058(pi17.PI17):
    """PI17 as spoken by model 058 units (numeric state-of-charge limits in BATS)."""

    id: ClassVar[str] = "pi17m058"
    description: ClassVar[str] = "Voltronic PI17, model 058"
    commands = COMMANDS
    settings = SETTINGS
