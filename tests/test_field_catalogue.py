"""The field catalogue says what each field's values are: kind, options, precision.

Front-ends (Home Assistant's entities, the CLI's listings) choose how to show a field from
``FieldInfo.kind`` before any frame arrives, so the catalogue must agree with what the decoders
produce: checked here on every example answer of every command table, and on a status and a
settings poll of every simulator.
"""

from __future__ import annotations

import pytest

from mppsolar_lib.device import Device
from mppsolar_lib.errors import ProtocolError
from mppsolar_lib.protocols import get_protocol, list_protocols
from mppsolar_lib.protocols.binary import Bits, Computed, Hex, Label, Num, Series, Text
from mppsolar_lib.protocols.fields import (
    DIAGNOSTIC,
    ENABLED_DISABLED,
    Custom,
    EnableFlags,
    FieldInfo,
    FieldKind,
    Flags,
    Float,
    Hints,
    Int,
    Keyed,
    Option,
    Out,
    Str,
    Value,
    decimals,
)
from mppsolar_lib.protocols.voltronic_specs import CharOptions, Flag
from mppsolar_lib.simulator import list_simulators
from mppsolar_lib.transports import open_transport


def fits(info: FieldInfo, value: Value) -> bool:
    """Whether ``value`` is what ``info`` says its field holds."""
    if info.kind is FieldKind.BOOL:
        return isinstance(value, bool)
    if info.kind is FieldKind.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if info.kind is FieldKind.ENUM:
        # A code the table does not know is kept visibly, never guessed.
        return isinstance(value, str) and (value in info.options or value.startswith("Unknown ("))
    return isinstance(value, str)


# -- each spec ------------------------------------------------------------------------------------


def test_numbers_carry_their_precision() -> None:
    """Integers scaled by a power of ten report its decimals; unscaled ones none."""
    (tenths,) = Int("Battery voltage", "V", scale=0.1).info()
    assert (tenths.kind, tenths.precision) == (FieldKind.NUMBER, 1)
    (whole,) = Int("Load", "%").info()
    assert (whole.kind, whole.precision) == (FieldKind.NUMBER, 0)
    (odd,) = Int("Half", "W", scale=0.5).info()
    assert odd.precision is None
    (decimal,) = Float("Frequency", "Hz").info()
    assert (decimal.kind, decimal.precision) == (FieldKind.NUMBER, None)
    (unitless,) = Int("Parallel units").info()
    assert unitless.kind is FieldKind.NUMBER


def test_decimals() -> None:
    """Powers of ten give their decimals; other scales give none."""
    assert [decimals(s) for s in (1, 0.1, 0.01, 0.001, 1e-6)] == [0, 1, 2, 3, 6]
    assert decimals(0.5) is None
    assert decimals(10) is None


def test_options_of_labelled_fields() -> None:
    """Option and Keyed list their labels once each, in order, blanks left out."""
    (option,) = Option("Mode", ["Line", "Battery", "", "Line"]).info()
    assert (option.kind, option.options) == (FieldKind.ENUM, ("Line", "Battery"))
    (keyed,) = Keyed("Mode", {"L": "Line", "B": "Battery", "b": "Battery"}).info()
    assert (keyed.kind, keyed.options) == (FieldKind.ENUM, ("Line", "Battery"))
    (label,) = Label("State", 0, {1: "On", 2: "Off"}).info()
    assert (label.kind, label.options) == (FieldKind.ENUM, ("On", "Off"))


def test_flags_are_booleans_and_enable_flags_options() -> None:
    """Flag strings and bit words give booleans; E…D… flags give enabled/disabled."""
    assert {i.kind for i in Flags(["A", "B"]).info()} == {FieldKind.BOOL}
    assert {i.kind for i in Bits("Alarms", 0, ["Low", "", "High"]).info()} == {FieldKind.BOOL}
    (flag,) = Flag("Fan locked").info()
    assert flag.kind is FieldKind.BOOL
    (enable,) = EnableFlags({"a": "Buzzer"}).info()
    assert (enable.kind, enable.options) == (FieldKind.ENUM, ENABLED_DISABLED)


def test_text_and_default_kinds() -> None:
    """Text specs are text; a field with a unit is a number unless its spec says otherwise."""
    for spec in (Str("Serial"), Text("Model", 0, 8), Hex("Header", 0, 4)):
        assert spec.info()[0].kind is FieldKind.TEXT
    assert FieldInfo("v", "V", "V", DIAGNOSTIC).kind is FieldKind.NUMBER
    assert FieldInfo("s", "S", "", DIAGNOSTIC).kind is FieldKind.TEXT
    assert FieldInfo("s", "S", "", DIAGNOSTIC, kind=FieldKind.BOOL).kind is FieldKind.BOOL


def test_series_values_and_summary() -> None:
    """Cell values keep the series' precision; the cell numbers of the summary are whole."""
    series = Series("Voltage_Cell{:02d}", 0, 4, 2, "V", scale=0.001, summary="Cell Voltage")
    infos = {info.key: info for info in series.info()}
    assert (infos["voltage_cell01"].kind, infos["voltage_cell01"].precision) == (
        FieldKind.NUMBER,
        3,
    )
    assert (infos["max_cell_voltage_cell"].kind, infos["max_cell_voltage_cell"].precision) == (
        FieldKind.NUMBER,
        0,
    )
    assert infos["delta_cell_voltage"].precision == 3
    floats = Series("T{}", 0, 2, 4, "°C", floating=True)
    assert {info.precision for info in floats.info()} == {None}
    assert Num("Power", 0, 4, "W", floating=True).info()[0].precision is None
    assert Num("Current", 0, 2, "A", scale=0.01).info()[0].precision == 2


def test_escape_hatches_say_their_kind() -> None:
    """Custom and Computed take a kind; without one they follow the unit."""

    def nothing(*_: object) -> None:
        """Decode nothing."""

    assert Custom("Time", nothing).info()[0].kind is FieldKind.TEXT
    assert Custom("Power", nothing, "W").info()[0].kind is FieldKind.NUMBER
    assert Custom("On", nothing, kind=FieldKind.BOOL).info()[0].kind is FieldKind.BOOL
    assert Computed("Count", 0, 1, nothing).info()[0].kind is FieldKind.TEXT
    assert Computed("Busy", 0, 1, nothing, kind=FieldKind.BOOL).info()[0].kind is FieldKind.BOOL


def test_char_options_parts() -> None:
    """Each character of a settings token is an option (or, without labels, text)."""
    spec = CharOptions([("Mode", ("Off", "On")), ("Id", None)], Hints())
    mode, ident = spec.info()
    assert (mode.kind, mode.options) == (FieldKind.ENUM, ("Off", "On"))
    assert (ident.kind, ident.options) == (FieldKind.TEXT, ())


# -- every table ----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol_id", list_protocols())
def test_catalogue_is_consistent(protocol_id: str) -> None:
    """Every field of every command has a kind; enums have options; flags have no unit."""
    protocol = get_protocol(protocol_id)
    for command in protocol.commands.values():
        for info in command.info.values():
            assert isinstance(info.kind, FieldKind), (command.name, info.key)
            assert bool(info.options) == (info.kind is FieldKind.ENUM), (command.name, info.key)
            if info.kind is FieldKind.BOOL:
                assert not info.unit, (command.name, info.key)
            if info.precision is not None:
                assert info.kind is FieldKind.NUMBER, (command.name, info.key)


@pytest.mark.parametrize("protocol_id", list_protocols())
def test_examples_decode_to_their_kind(protocol_id: str) -> None:
    """Every example answer in the tables decodes to values of the kind the catalogue says."""
    protocol = get_protocol(protocol_id)
    checked = 0
    for command in protocol.commands.values():
        for example in command.examples:
            try:
                result = protocol.decode(command.name, example)
            except ProtocolError:
                continue  # an example of a refusal (NAK) or of a parameterised request
            for key, value in result.items():
                info = command.info.get(key)
                if info is not None:
                    assert fits(info, value), (command.name, key, info.kind, value)
                    checked += 1
    assert checked or not any(c.examples for c in protocol.commands.values())


@pytest.mark.parametrize("protocol_id", list_simulators())
async def test_simulated_polls_decode_to_their_kind(protocol_id: str) -> None:
    """A status and a settings poll of each simulator: every value fits its catalogue entry."""
    async with Device(open_transport(f"sim://{protocol_id}"), protocol_id) as device:
        batches = (await device.get_status(), await device.get_settings())
        protocol = device.protocol
    assert protocol is not None
    seen = 0
    for batch in batches:
        for command, result in batch.items():
            info = protocol.resolve(command)[0].info
            for key, value in result.items():
                if key in info:
                    assert fits(info[key], value), (command, key, info[key].kind, value)
                    seen += 1
    assert seen


def test_fits_rejects_mismatches() -> None:
    """The checker itself tells kinds apart (a flag is not a number, text not an option)."""
    number = FieldInfo("v", "V", "V", DIAGNOSTIC)
    assert fits(number, 1.5)
    assert not fits(number, True)
    option = FieldInfo("m", "M", "", DIAGNOSTIC, kind=FieldKind.ENUM, options=("A",))
    assert fits(option, "A")
    assert fits(option, "Unknown (7)")
    assert not fits(option, "B")
    out: Out = {}
    Flag("F").decode("1", out)
    assert out == {"f": True}
