"""The protocol framework itself: parameters, decoders, results, caches and error wrapping."""

from __future__ import annotations

import pytest

from mppsolar_lib.errors import FrameError, InvalidParameterError, ProtocolError
from mppsolar_lib.protocols import Field, Hints, get_protocol
from mppsolar_lib.protocols.base import Protocol, derive, table
from mppsolar_lib.protocols.command import (
    Choice,
    Command,
    Date,
    Number,
    Param,
    Parts,
    Pattern,
    codes,
    query,
)
from mppsolar_lib.protocols.fields import Custom, Float, Int, Out, Rest, Result, Spec
from mppsolar_lib.protocols.settings import Setting, SettingKind
from mppsolar_lib.protocols.voltronic import VoltronicProtocol

from .helpers import pi_frame


def test_hints_compare_hash_and_print() -> None:
    """Hints are value objects: equal when their values are, usable as dict keys."""
    a = Hints("voltage", "measurement")
    assert a == Hints("voltage", "measurement")
    assert a != Hints("voltage")
    assert a != "voltage"
    assert len({a, Hints("voltage", "measurement")}) == 1
    assert repr(a) == "Hints(device_class='voltage', state_class='measurement')"
    assert repr(Hints(enabled_default=False)) == "Hints(enabled_default=False)"


def test_fields_compare_by_content() -> None:
    """Two Field objects with the same key, name, value and unit are equal."""
    hints = Hints()
    assert Field("k", "K", 1, "V", hints) == Field("k", "K", 1, "V", Hints("voltage"))
    assert Field("k", "K", 1, "V", hints) != Field("k", "K", 2, "V", hints)
    assert Field("k", "K", 1, "V", hints) != ("k", 1)


def test_result_fields_are_built_once_and_read_only() -> None:
    """Result.fields is cached and cannot be modified by a caller."""
    proto = get_protocol("pi30")
    result = proto.decode("QPIGS", pi_frame("230.0 50.0"))
    assert result.fields is result.fields
    with pytest.raises(TypeError):
        result.fields["x"] = result.fields["ac_input_voltage"]  # type: ignore[index]
    info = proto.resolve("QPIGS")[0].info["ac_input_voltage"]
    assert repr(info) == "<FieldInfo ac_input_voltage [V]>"
    assert repr(proto) == "<PI30 pi30>"


def test_unknown_keys_get_a_positional_name() -> None:
    """An undescribed token becomes a diagnostic field named by its position."""
    result = Result("X", {"unknown_value_in_response_3": "7"}, b"", {})
    field = result.fields["unknown_value_in_response_3"]
    assert field.name == "Unknown value in response 3"
    assert field.hints.entity_category == "diagnostic"


def test_scaled_and_non_finite_numbers() -> None:
    """Scaling applies to floats too; nan and inf are not readings."""
    out: Out = {}
    Float("Cell", "V", scale=0.001).decode("3312", out)
    assert out["cell"] == pytest.approx(3.312)
    for token in ("nan", "inf", "-inf"):
        with pytest.raises(FrameError, match="finite"):
            Float("Cell", "V").decode(token, {})


def test_number_param_formats_ranges_steps_and_extras() -> None:
    """Number checks the text format, range and step, and describes itself."""
    param = Number("dd.d", 40.0, 60.0, 0.5, also=("00.0",), unit="V")
    param.validate("48.5")
    param.validate("00.0")
    with pytest.raises(InvalidParameterError, match="not on the step"):
        param.validate("48.2")
    with pytest.raises(InvalidParameterError, match="out of range"):
        param.validate("61.0")
    assert param.describe() == "40–60 V in steps of 0.5, written as 'dd.d' (or 00.0)"
    Number("ddd", 0, 999).validate("123")
    assert Pattern(r"\d", "a digit").describe() == "a digit"


def test_parts_param_checks_count_then_each_part() -> None:
    """Parts counts the values, then checks each by its own param and names the one at fault."""
    param = Parts(("unit", Number("d", 0, 9, 1)), ("mode", Choice(codes(("off", "on")))))
    param.validate("3,1")
    assert param.split("3,1") == ["3", "1"]
    assert param.describe() == (
        "unit: 0–9 in steps of 1, written as 'd'; then mode: 0 (off), 1 (on)"
    )
    with pytest.raises(InvalidParameterError, match="expected 2 values separated by commas, got 1"):
        param.validate("3")
    with pytest.raises(InvalidParameterError, match="got 0; use unit: 0–9"):
        param.validate("")
    with pytest.raises(InvalidParameterError, match=r"^mode: '2' is not allowed; use 0 \(off\)"):
        param.validate("3,2")


def test_parts_param_optional_parts_and_other_separators() -> None:
    """Trailing parts may be optional; values may be split on spaces, or be one character each."""
    digits = Parts(("a", Choice(codes("xy"))), ("b", Choice(codes("xyz"))), sep="")
    digits.validate("12")
    assert digits.split("12") == ["1", "2"]
    with pytest.raises(InvalidParameterError, match="expected 2 characters, got 3"):
        digits.validate("123")
    with pytest.raises(InvalidParameterError, match="^b: '3' is not allowed"):
        digits.validate("13")
    spaced = Parts(("volts", Number("dd.d", 10, 64)), ("digits", digits), sep=" ", required=1)
    spaced.validate("56.3")
    spaced.validate("56.3 01")
    assert spaced.describe().startswith("volts: 10–64, written as 'dd.d'; then [digits]: a: 0 (x)")
    with pytest.raises(
        InvalidParameterError, match="expected 1–2 values separated by single spaces"
    ):
        spaced.validate("56.3 01 1")
    with pytest.raises(InvalidParameterError, match="^digits: b: '7' is not allowed"):
        spaced.validate("56.3 07")
    piped = Parts(("a", Number("d", 0, 9)), ("b", Number("d", 0, 9)), sep="|")
    piped.validate("1|2")
    with pytest.raises(InvalidParameterError, match="expected 2 values separated by '\\|', got 1"):
        piped.validate("12")


def test_date_param_checks_shape_then_calendar() -> None:
    """Date refuses a wrong shape as Pattern does, then a day the calendar does not have."""
    param = Date(r"20\d\d\d\d\d\d", "%Y%m%d", "a date as YYYYMMDD")
    param.validate("20240229")
    assert (param.describe(), param.fmt) == ("a date as YYYYMMDD", "%Y%m%d")
    with pytest.raises(InvalidParameterError, match="'2024022' is not allowed; use a date as"):
        param.validate("2024022")
    with pytest.raises(InvalidParameterError, match="not a real date or time; use a date as"):
        param.validate("20230229")
    with pytest.raises(InvalidParameterError, match="not a real date or time"):
        Date(r"\d{12}", "%y%m%d%H%M%S", "YYMMDDHHMMSS").validate("240115240000")


def test_codes_number_labels_by_position() -> None:
    """codes() gives each label its index as the code."""
    assert codes(("AGM", "Flooded")) == {"0": "AGM", "1": "Flooded"}
    assert codes(()) == {}


def test_command_spec_names_a_missing_field() -> None:
    """Command.spec raises KeyError naming the command for a key it does not have."""
    command = query("Q", "q", Int("Value"))
    assert command.spec("value").name == "Value"
    with pytest.raises(KeyError, match="Q has no field 'other'"):
        command.spec("other")


def test_abstract_pieces_must_be_implemented() -> None:
    """The base classes refuse to act on their own."""
    with pytest.raises(NotImplementedError):
        Param().validate("x")
    with pytest.raises(NotImplementedError):
        Param().describe()
    with pytest.raises(NotImplementedError):
        Spec("x").decode("1", {})

    class Bare(Protocol):
        id = "bare"
        description = "no framing"
        commands = table(query("Q", "q", Int("Value")))

    with pytest.raises(NotImplementedError):
        Bare().build_request("Q")
    with pytest.raises(NotImplementedError):
        Bare().decode("Q", b"(1\r")


def test_parameterless_command_refuses_a_parameter() -> None:
    """Validating text for a command without a parameter is an error."""
    command = Command("QPI", "id")
    command.validate("")
    with pytest.raises(InvalidParameterError, match="takes no parameter"):
        command.validate("1")


def test_table_bugs_surface_as_protocol_errors() -> None:
    """A decoder raising a built-in exception becomes a FrameError, never escapes raw."""

    def broken(token: str, spec: Custom, out: Out) -> None:
        raise KeyError(token)

    class Broken(VoltronicProtocol):
        id = "broken"
        description = "test"
        commands = table(query("QX", "x", Custom("X", broken)))

    with pytest.raises(FrameError, match="cannot decode") as caught:
        Broken().decode("QX", pi_frame("1"))
    assert isinstance(caught.value, ProtocolError)
    assert isinstance(caught.value.__cause__, KeyError)


def test_caches_stay_bounded() -> None:
    """Many distinct parameterised commands do not grow the caches without limit."""
    proto = get_protocol("pi30")
    for i in range(600):
        proto.build_request(f"DAT2024011512{i // 60:02d}{i % 60:02d}")
    assert len(proto._requests) <= 512  # noqa: SLF001
    assert len(proto._resolved) <= 512  # noqa: SLF001
    assert proto.build_request("DAT20240115120000")[:3] == b"DAT"


def test_setting_edge_cases() -> None:
    """Whole-number templates without a step, numeric option values, open ranges."""
    setting = Setting(
        "amps", "Amps", SettingKind.NUMBER, "Q", "amps", write="A{value:03d}", unit="A"
    )
    assert setting.encode(7) == "A007"
    with pytest.raises(InvalidParameterError, match="whole number"):
        setting.encode(7.5)
    result = Result("Q", {"a": 10, "b": "x 20 y", "c": True, "d": 2.5}, b"", {})
    assert setting.allowed_values(result) == (10, 20, 2.5)
    assert setting.allowed_values(Result("Q", {"a": "none"}, b"", {})) is None


@pytest.mark.parametrize("token", ["", "-", "-----", "---.-", "--.--.-", "N/A"])
def test_placeholders_of_any_width_give_no_field(token: str) -> None:
    """Units pad "not reported" to the field's width; no width becomes a reading."""
    out: Out = {}
    Int("Battery voltage", "V").decode(token, out)
    Float("PV voltage", "V").decode(token, out)
    assert out == {}


def test_a_negative_number_is_not_a_placeholder() -> None:
    """A leading dash followed by digits is a value."""
    out: Out = {}
    Int("Current", "A").decode("-5", out)
    assert out == {"current": -5}


class _Named(VoltronicProtocol):
    """A toy protocol: a number, then free text to the end (spaces included)."""

    id = "named"
    description = "test"
    commands = table(query("QN", "number and name", Int("Number"), Rest("Name")))


def test_text_to_the_end_keeps_its_spaces_after_other_fields() -> None:
    """A ``Rest`` field after a number takes everything left, spaces and all."""
    result = _Named().decode("QN", pi_frame("42 Axpert MKS 5K"))
    assert dict(result) == {"number": 42, "name": "Axpert MKS 5K"}
    assert dict(_Named().decode("QN", pi_frame("42"))) == {"number": 42}


def test_deriving_a_command_with_an_unknown_field_fails_at_import_time() -> None:
    """A variant that replaces a field its base does not have is a table bug, named."""
    base = query("QN", "n", Int("Number"))
    with pytest.raises(KeyError, match="QN has no field"):
        derive(base, replace={"colour": Int("Colour")})
    assert derive(base, append=(Int("Extra"),)).fields[1].key == "extra"
