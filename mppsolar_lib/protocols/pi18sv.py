"""PI18SV: PI18 as the reference names it for EASUN SV (ISolar SV IV) inverters.

The wire protocol is PI18's; the differences are field names (``AC Input Voltage`` where pi18
says ``Grid voltage``, ``Generated energy`` for every energy counter, no date echoed by EY/EM/ED)
and the CRC: these units accept ``PI``, ``T``, ``ET``, ``EY``, ``EM``, ``ID``, ``DI``, ``GS``,
``MCHGC`` and ``MUCHGC`` only *without* a request CRC (``GS`` with one returns a partial answer,
as reported by the reference's contributor). Their answers carry a CRC like any PI18 answer.

PI18LVX starts from :data:`COMMANDS` and :data:`SETTINGS` of this module.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.protocols import pi18, pi30max
from mppsolar_lib.protocols.base import derive, table
from mppsolar_lib.protocols.command import Command, Param, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Int, Option, Spec
from mppsolar_lib.protocols.settings import settings_table

BASE = pi18.COMMANDS


def no_crc(command: Command) -> Command:
    """``command`` sent without a request CRC."""
    return dataclasses.replace(command, options={**command.options, "crc": False})


def renamed(command: Command, names: dict[str, Spec], *, crc: bool = True) -> Command:
    """``command`` with the specs keyed in ``names`` replaced (the others are pi18's own)."""
    derived = derive(command, names)
    return derived if crc else no_crc(derived)


def generated(name: str, description: str, unit: str, period: Param | None) -> Command:
    """Define an energy counter named ``Generated energy`` (no date echoed)."""
    hints = pi18.ENERGY if period is None else pi18.PERIOD_ENERGY
    return query(name, description, Int("Generated energy", unit, hints), param=period)


COMMANDS_CHANGED = (
    no_crc(BASE["PI"]),
    no_crc(BASE["T"]),
    no_crc(BASE["ID"]),
    no_crc(BASE["DI"]),
    no_crc(BASE["MCHGC"]),
    no_crc(BASE["MUCHGC"]),
    # The reference's contributor reads ET in kWh on an SV IV (and EY/EM/ED in Wh).
    no_crc(generated("ET", BASE["ET"].description, "kWh", None)),
    no_crc(generated("EY", BASE["EY"].description, "Wh", pi30max.YEAR)),
    no_crc(generated("EM", BASE["EM"].description, "Wh", pi30max.MONTH)),
    generated("ED", BASE["ED"].description, "Wh", pi30max.DATE),
    renamed(
        BASE["GS"],
        {
            "grid_voltage": pi18.volts("AC Input Voltage"),
            "grid_frequency": pi18.hertz("AC Input Frequency"),
            "output_load_percent": Int("AC Output Load", "%"),
            "battery_charging_current": Int("Battery Charge Current", "A"),
            "inverter_heat_sink_temperature": Int("Inverter Temperature", "°C"),
        },
        crc=False,
    ),
    renamed(
        BASE["PIRI"],
        {
            "ac_output_rating_apparent_power": Int("AC output rated apparent power", "VA"),
            "ac_output_rating_active_power": Int("AC output rated active power", "W"),
            "battery_re_charge_voltage": pi18.volts("Battery recharge voltage"),
            "battery_re_discharge_voltage": pi18.volts("Battery redischarge voltage"),
            "input_voltage_rang": Option("Input voltage range", pi18.INPUT_VOLTAGE_RANGES),
            "mppt_strings": Int("MPPT string", hints=DIAGNOSTIC),
        },
    ),
    renamed(
        BASE["FLAG"],
        {
            "buzzer_beep": Option("Mute buzzer beep", pi18.ENABLED),
            "display_back_to_default_page": Option(
                "LCD Display escape to default page after timeout", pi18.ENABLED
            ),
            "alarm_primary_source_interrupt": Option(
                "Alarm on when primary source interrupted", pi18.ENABLED
            ),
        },
    ),
    query(
        "MCHGCR",
        BASE["MCHGCR"].description,
        pi18.Series("Max. charging current selectable value", "A"),
    ),
    # The reference gives both lists the same field names; kept so stored entities line up.
    query(
        "MUCHGCR",
        BASE["MUCHGCR"].description,
        pi18.Series("Max. charging current selectable value", "A"),
    ),
)

COMMANDS = MappingProxyType(table(*COMMANDS_CHANGED, base=BASE))

#: pi18 PIRI field key -> this variant's, for the settings that read PIRI.
PIRI_KEYS = {
    "input_voltage_rang": "input_voltage_range",
    "battery_re_charge_voltage": "battery_recharge_voltage",
    "battery_re_discharge_voltage": "battery_redischarge_voltage",
}

SETTINGS = MappingProxyType(
    settings_table(
        *pi18.piri_settings(PIRI_KEYS),
        *pi18.flag_switches(
            dict(
                zip(
                    pi18.FLAG_LETTERS,
                    (spec.key for spec in COMMANDS["FLAG"].fields[:8]),
                    strict=True,
                )
            )
        ),
        base=pi18.SETTINGS,
    )
)


class PI18SV(pi18.PI18):
    """PI18 as spoken by EASUN SV (ISolar SV IV) units: some requests without CRC."""

    id: ClassVar[str] = "pi18sv"
    description: ClassVar[str] = "Voltronic PI18 for EASUN SV / ISolar SV IV"
    commands = COMMANDS
    settings = SETTINGS
