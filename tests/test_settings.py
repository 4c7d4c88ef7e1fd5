"""The settings model: read the current value, validate and encode a new one."""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols import Setting, SettingKind, get_protocol, list_protocols

from .helpers import pi_frame

PI30 = get_protocol("pi30")
QPIRI = (
    "230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 2 0 6 01 0 0 "
    "54.0 0 1 480 0"
)


def test_every_setting_reads_a_field_its_query_produces() -> None:
    """Each setting's read command exists and its answer layout has the field."""
    for setting in PI30.settings.values():
        command = PI30.commands[setting.read_command]
        keys = {key for spec in command.fields for key in spec.field_keys()}
        assert setting.read_field in keys, setting.key


def test_every_setting_writes_a_command_the_protocol_accepts() -> None:
    """Encoding any allowed value yields a command that passes the protocol's own validation."""
    for setting in PI30.settings.values():
        if setting.kind is SettingKind.SELECT:
            samples: list[object] = list(setting.options.values())
        elif setting.kind is SettingKind.SWITCH:
            samples = [True, False]
        else:
            assert setting.minimum is not None and setting.maximum is not None
            samples = [setting.minimum if setting.minimum > 0 else 0.0, setting.maximum]
            if setting.large_from is not None:
                samples.append(setting.large_from)
        for value in samples:
            PI30.build_request(setting.encode(value))


def test_select_reads_label_and_writes_code() -> None:
    """Output source priority: QPIRI shows the label; writing a label or a code sends POPnn."""
    setting = PI30.settings["output_source_priority"]
    result = PI30.decode("QPIRI", pi_frame(QPIRI))
    assert setting.current(result) == "SBU first"
    assert setting.encode("Solar first") == "POP01"
    assert setting.encode("solar FIRST") == "POP01"
    assert setting.encode("02") == "POP02"
    with pytest.raises(InvalidParameterError, match="Utility first, Solar first, SBU first"):
        setting.encode("Battery first")


def test_number_formats_as_the_device_expects() -> None:
    """Voltages are sent as dd.d; out-of-range or off-step values are refused."""
    setting = PI30.settings["battery_recharge_voltage"]
    assert setting.current(PI30.decode("QPIRI", pi_frame(QPIRI))) == 46.0
    assert setting.encode(46) == "PBCV46.0"
    assert setting.encode("47.5") == "PBCV47.5"
    assert setting.safety
    with pytest.raises(InvalidParameterError, match="out of range"):
        setting.encode(70)
    with pytest.raises(InvalidParameterError, match="multiple of 0.1"):
        setting.encode(46.25)
    with pytest.raises(InvalidParameterError, match="not a number"):
        setting.encode("lots")
    with pytest.raises(InvalidParameterError, match="finite"):
        setting.encode(float("nan"))
    with pytest.raises(InvalidParameterError, match="expected a number"):
        setting.encode(True)


def test_charging_current_allowed_values_come_from_the_device() -> None:
    """MCHGC values are limited to what QMCHGCR reports; ≥ 100 A switches to MNCHGC."""
    setting = PI30.settings["max_charging_current"]
    options = PI30.decode("QMCHGCR", pi_frame("010 020 030 040 050 060 070 080 090 100 110 120"))
    allowed = setting.allowed_values(options)
    assert allowed == (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
    assert setting.options_command == "QMCHGCR"
    assert setting.encode(40, allowed=allowed) == "MCHGC040"
    assert setting.encode(120, allowed=allowed) == "MNCHGC0120"
    with pytest.raises(InvalidParameterError, match="not allowed by this device"):
        setting.encode(45, allowed=allowed)
    with pytest.raises(InvalidParameterError, match="multiple of 1 A"):
        setting.encode(40.5)
    assert setting.allowed_values(None) is None


def test_utility_charging_current_cannot_exceed_two_digits() -> None:
    """MUCHGC carries two digits of amps: 100 A and more are refused, not mangled."""
    setting = PI30.settings["max_ac_charging_current"]
    assert setting.encode(30) == "MUCHGC030"
    assert setting.encode(2) == "MUCHGC002"
    with pytest.raises(InvalidParameterError):
        setting.encode(110)


def test_switch_reads_qflag_and_writes_pe_pd() -> None:
    """Flags are switches: enabled -> True; on/off send PEx/PDx."""
    buzzer = PI30.settings["buzzer"]
    result = PI30.decode("QFLAG", pi_frame("EakxyDbjuvz"))
    assert buzzer.current(result) is True
    assert PI30.settings["overload_bypass"].current(result) is False
    assert buzzer.encode(True) == "PEa"
    assert buzzer.encode(False) == "PDa"
    with pytest.raises(InvalidParameterError, match="on/off"):
        buzzer.encode("yes")


def test_current_of_missing_field_is_none() -> None:
    """An older firmware without the field reports no current value, not a default."""
    short = PI30.decode("QPIRI", pi_frame(QPIRI.rsplit(" ", 2)[0]))
    assert PI30.settings["operation_logic"].current(short) is None


def _valid_value(setting: Setting) -> object:
    """Return a value the setting's own range or options allow."""
    if setting.kind is SettingKind.SWITCH:
        return True
    if setting.kind is SettingKind.SELECT:
        return next(iter(setting.options.values()))
    return setting.minimum


@pytest.mark.parametrize("protocol", list_protocols())
def test_settings_say_when_they_need_the_current_reading(protocol: str) -> None:
    """A setting that writes several values at once says so; every other encodes on its own.

    Front-ends read ``needs_current`` to know whether to pass the current answer of the read
    command; a setting that needs it and is not given it refuses, naming what is missing.
    """
    for setting in get_protocol(protocol).settings.values():
        value = _valid_value(setting)
        if setting.needs_current:
            with pytest.raises(InvalidParameterError, match="current"):
                setting.encode(value)
        else:
            assert setting.encode(value), setting.key
