"""Device: commands, serialisation, lifecycle, detection, batches and settings.

Every test runs the real Device over a real BufferedTransport (tests/device_fakes.py) whose far
end is a small inverter answering with real framing; faults are in test_device_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
import logging
import math
from typing import TypeVar

import pytest

from mppsolar_lib.device import Batch, Device, SettingChange, expected_value, same_value
from mppsolar_lib.errors import (
    ConfirmationRequiredError,
    DeviceTimeoutError,
    InvalidParameterError,
    MppSolarError,
    NAKError,
    SafetyConfirmationRequired,
    SettingNotAppliedError,
    TransportError,
    UnknownCommandError,
    UnknownProtocolError,
)
from mppsolar_lib.protocols import get_protocol
from mppsolar_lib.protocols.base import fits
from mppsolar_lib.protocols.fields import Float, Rest, Str, Value
from mppsolar_lib.protocols.pi30 import PI30 as PI30Protocol
from mppsolar_lib.protocols.settings import Setting, SettingKind
from mppsolar_lib.simulator import create_simulator, list_simulators
from mppsolar_lib.simulator.serve import PtyServer, TcpServer
from mppsolar_lib.transports import open_transport
from mppsolar_lib.transports.simulated import simulated_transport

from .device_fakes import PIRI, Q1, QPIGS, QPIRI, FakeLink, PI18Unit, PI30Unit
from .helpers import caret_frame, pi_frame

T = TypeVar("T")

PI30 = get_protocol("pi30")
PI18 = get_protocol("pi18")


async def bounded(awaitable: Awaitable[T], seconds: float = 10) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


@pytest.fixture
def unit() -> PI30Unit:
    """Give a PI30 inverter."""
    return PI30Unit()


@pytest.fixture
def link(unit: PI30Unit) -> FakeLink:
    """Give a link to the PI30 inverter."""
    return FakeLink(unit)


@pytest.fixture
async def device(link: FakeLink) -> AsyncIterator[Device]:
    """Give a PI30 device on the link, without backoff (tests do not wait)."""
    dev = Device(link, "pi30", backoff=0, timeout=0.5, probe_timeout=1.0)
    yield dev
    await dev.close()


def written(link: FakeLink) -> list[str]:
    """Return the command texts written so far (CRC and CR removed)."""
    return [r[:-3].decode("latin-1") for r in link.requests]


# -- commands -------------------------------------------------------------------------------------


async def test_command_decodes_the_answer_and_opens_lazily(device: Device, link: FakeLink) -> None:
    """The first command opens the link, sends the protocol's frame and decodes the answer."""
    assert not link.is_open
    result = await bounded(device.command("QPIGS"))
    assert result.command == "QPIGS"
    assert result["battery_voltage"] == 57.5
    assert link.requests == [PI30.build_request("QPIGS")]
    assert link.opens == 1
    assert repr(device) == "<Device fake://link pi30>"
    assert device.name == "fake://link"


@pytest.mark.parametrize(
    ("command", "error", "says"),
    [
        ("QPIGX", UnknownCommandError, "did you mean QPIGS"),
        ("POP09", InvalidParameterError, "02 (SBU first)"),
    ],
)
async def test_bad_commands_are_refused_before_anything_is_sent(
    device: Device, link: FakeLink, command: str, error: type[Exception], says: str
) -> None:
    """An unknown command or a bad parameter never reaches the wire (not even an open)."""
    with pytest.raises(error, match=r".*") as info:
        await bounded(device.command(command))
    assert says in str(info.value)
    assert link.requests == []
    assert link.opens == 0


async def test_a_refusal_is_an_answer_not_retried(
    device: Device, link: FakeLink, unit: PI30Unit
) -> None:
    """NAK is the unit's answer: raised at once, never retried."""
    unit.refuses.add("Q1")
    with pytest.raises(NAKError, match="refused"):
        await bounded(device.command("Q1"))
    assert written(link) == ["Q1"]


async def test_setters_are_acknowledged(device: Device, unit: PI30Unit) -> None:
    """A setter's ACK decodes and the unit applies it."""
    result = await bounded(device.command("POP02"))
    assert result["pop"] == "ACK"
    assert unit.qpiri[16] == "2"


async def test_fifty_concurrent_callers_never_interleave(device: Device, link: FakeLink) -> None:
    """Fifty callers at once: one exchange at a time, each gets its own command's answer."""
    commands = ["QPIGS", "QPIRI", "QMOD", "QID", "Q1"] * 10
    results = await bounded(asyncio.gather(*(device.command(c) for c in commands)))
    assert [r.command for r in results] == commands
    assert link.most_at_once == 1
    assert sorted(written(link)) == sorted(commands)
    expected = {
        "QPIGS": ("battery_voltage", 57.5),
        "QPIRI": ("battery_bulk_charge_voltage", 56.4),
        "QMOD": ("device_mode", "Battery"),
        "QID": ("serial_number", "92931701100510"),
        "Q1": ("inverter_temperature", 45),
    }
    for command, result in zip(commands, results, strict=True):
        key, value = expected[command]
        assert result[key] == value, command


async def test_devices_sharing_a_transport_share_its_lock(link: FakeLink) -> None:
    """Two Device objects on one transport still send one command at a time."""
    first, second = Device(link, "pi30", backoff=0), Device(link, PI30, backoff=0)
    calls = [d.command("QPIGS") for d in (first, second) * 10]
    results = await bounded(asyncio.gather(*calls))
    assert len(results) == 20
    assert link.most_at_once == 1
    await first.close()


async def test_constructor_checks_its_arguments(link: FakeLink) -> None:
    """Nonsensical budgets are refused at construction."""
    with pytest.raises(ValueError, match="attempts"):
        Device(link, attempts=0)
    with pytest.raises(ValueError, match="timeouts"):
        Device(link, timeout=0)
    with pytest.raises(ValueError, match="backoff"):
        Device(link, backoff=-1)
    with pytest.raises(ValueError, match="settle"):
        Device(link, settle=-1)


# -- lifecycle ------------------------------------------------------------------------------------


async def test_async_with_opens_and_closes(link: FakeLink) -> None:
    """``async with`` opens the link on entry and closes it on exit."""
    async with Device(link, "pi30") as device:
        assert link.is_open
        assert (await bounded(device.command("QMOD")))["device_mode"] == "Battery"
    assert (link.opens, link.closes, link.is_open) == (1, 1, False)


async def test_close_is_idempotent_and_the_device_reopens(device: Device, link: FakeLink) -> None:
    """close() twice is harmless; the next command reopens the link."""
    await bounded(device.command("QMOD"))
    await device.close()
    await device.close()
    assert not link.is_open
    await bounded(device.command("QMOD"))
    assert link.opens == 2


async def test_close_ends_a_command_waiting_out_its_backoff(link: FakeLink) -> None:
    """close() ends a command in its backoff at once, not after it."""
    device = Device(link, "pi30", timeout=0.5, backoff=60, max_backoff=60)
    link.faults = ["disconnect"]
    task = asyncio.create_task(device.command("QPIGS"))
    while not link.closes:  # the device dropped the lost link: it is in its backoff now
        await asyncio.sleep(0)
    await device.close()
    with pytest.raises(TransportError, match="closed while QPIGS was pending"):
        await bounded(task, 5)
    assert len(link.requests) == 1


async def test_close_ends_a_command_letting_the_line_settle(link: FakeLink) -> None:
    """close() also ends the listening pause after a garbled answer."""
    device = Device(link, "pi30", timeout=60, backoff=60, max_backoff=60)
    link.faults = ["crc"]
    task = asyncio.create_task(device.command("QPIGS"))
    while not link.listens:  # garbled: the device listens until the line is quiet
        await asyncio.sleep(0)
    await device.close()
    with pytest.raises(TransportError, match="closed while QPIGS was pending"):
        await bounded(task, 5)
    assert len(link.requests) == 1


async def test_close_ends_commands_waiting_for_the_port(link: FakeLink) -> None:
    """close() ends the command in flight and those queued behind it."""
    device = Device(link, "pi30", timeout=0.5, backoff=0)
    link.chunk = 1  # a slow answer keeps the first command in flight for many loop turns
    tasks = [asyncio.create_task(device.command("QPIGS")) for _ in range(3)]
    while not link.requests:
        await asyncio.sleep(0)
    await device.close()
    outcomes = await bounded(asyncio.gather(*tasks, return_exceptions=True))
    assert all(isinstance(o, TransportError) for o in outcomes), outcomes
    assert len(link.requests) == 1


# -- detection ------------------------------------------------------------------------------------


async def test_identify_detects_pi30_and_sets_the_protocol(link: FakeLink) -> None:
    """identify() runs the probe plan over the link and sets the protocol."""
    device = Device(link, probe_timeout=1.0)
    detection = await bounded(device.identify())
    assert detection.protocol == "pi30"
    assert detection.serial == "92931701100510"
    assert device.protocol is PI30
    assert device.detection is detection
    assert "QPIGS2" in written(link)  # the plan asked for the PI30 MAX query and got NAK


async def test_first_command_detects_when_no_protocol_was_given(link: FakeLink) -> None:
    """Without a protocol, the first commands detect it, once for all callers."""
    device = Device(link, probe_timeout=1.0)
    assert repr(device) == "<Device fake://link auto>"
    results = await bounded(asyncio.gather(device.command("QPIGS"), device.command("QMOD")))
    assert [r.command for r in results] == ["QPIGS", "QMOD"]
    assert written(link).count("QPI") == 1  # one detection for both callers


async def test_identify_detects_pi18_whose_answers_are_measured_by_length() -> None:
    """The probes read ``^D`` answers by their length field, ``(`` answers by CR."""
    link = FakeLink(PI18Unit())
    device = Device(link, probe_timeout=1.0)
    detection = await bounded(device.identify())
    assert detection.protocol == "pi18"
    assert device.protocol is PI18
    assert (await bounded(device.command("PIRI")))["battery_bulk_voltage"] == 55.2


async def test_identify_sees_through_an_echoing_adapter(link: FakeLink) -> None:
    """An adapter echoing every request does not hide the inverter behind it."""
    link.faults = ["echo"] * 20
    detection = await bounded(Device(link, probe_timeout=1.0).identify())
    assert detection.protocol == "pi30"


async def test_detection_says_when_nothing_answers() -> None:
    """Silence on every probe is a timeout naming what was tried."""
    device = Device(FakeLink(lambda _: None), probe_timeout=0.02)
    with pytest.raises(DeviceTimeoutError, match="nothing answered any detection probe"):
        await bounded(device.command("QPIGS"))
    assert device.protocol is None


async def test_detection_says_when_the_answers_are_not_a_known_protocol() -> None:
    """Answers we cannot place end in UnknownProtocolError with the evidence."""
    device = Device(FakeLink(lambda _: b"\x8fzz\x13 %\r"), probe_timeout=0.02)
    with pytest.raises(UnknownProtocolError, match="name the protocol") as info:
        await bounded(device.get_status())
    assert "garbage" in str(info.value)
    detection = device.detection
    assert detection is not None and detection.protocol is None


async def test_detection_records_a_loop_back_as_an_echo() -> None:
    """A loop-back (requests only come back) shows as echo in the evidence."""
    link = FakeLink(lambda _: None)
    link.faults = ["echo_only"] * 10
    detection = await bounded(Device(link, probe_timeout=0.05).identify())
    assert detection.protocol is None
    assert all(item.endswith("echo") for item in detection.evidence)


async def test_detection_hears_a_vedirect_stream() -> None:
    """A VE.Direct device streaming text is recognised from its lines."""
    block = b"\r\nPID\t0x203\r\nV\t26201\r\nI\t0\r\nSOC\t1000\r\n"
    detection = await bounded(Device(FakeLink(lambda _: block), probe_timeout=0.5).identify())
    assert detection.protocol == "ved"


async def test_a_link_lost_while_probing_is_an_error(link: FakeLink) -> None:
    """A link dropping during detection is an error, and the link is closed."""
    link.faults = ["disconnect"]
    with pytest.raises(TransportError, match="connection lost"):
        await bounded(Device(link, probe_timeout=0.5).identify())
    assert not link.is_open


# -- batches --------------------------------------------------------------------------------------


async def test_get_status_and_get_settings(device: Device) -> None:
    """The status and settings batches return every command's result."""
    status = await bounded(device.get_status())
    assert isinstance(status, Batch)
    assert list(status) == ["QPIGS", "QMOD", "QPIWS", "Q1"]
    assert status.errors == {}
    settings = await bounded(device.get_settings())
    assert list(settings) == ["QPIRI", "QFLAG"]
    assert settings["QFLAG"]["buzzer"] == "disabled"


async def test_a_command_the_unit_refuses_does_not_end_the_batch(
    device: Device, unit: PI30Unit
) -> None:
    """A firmware without Q1 still gives QPIGS; the NAK is reported."""
    unit.refuses.add("Q1")
    status = await bounded(device.get_status())
    assert list(status) == ["QPIGS", "QMOD", "QPIWS"]
    assert isinstance(status.errors["Q1"], NAKError)


async def test_commands_a_caller_skips_are_not_sent(device: Device, link: FakeLink) -> None:
    """A front-end that dropped a refused command polls the rest only."""
    status = await bounded(device.get_status(skip={"QMOD", "QPIWS", "Q1"}))
    settings = await bounded(device.get_settings(skip=("QFLAG",)))
    assert (list(status), list(settings)) == (["QPIGS"], ["QPIRI"])
    assert [r[:-3] for r in link.requests] == [b"QPIGS", b"QPIRI"]


async def test_a_batch_with_no_answer_at_all_raises(device: Device, unit: PI30Unit) -> None:
    """A batch where nothing succeeded raises, listing every failure."""
    unit.refuses.update({"QPIGS", "QMOD", "QPIWS", "Q1"})
    with pytest.raises(NAKError, match="no command of the batch succeeded") as info:
        await bounded(device.get_status())
    assert "QPIGS:" in str(info.value) and "Q1:" in str(info.value)


async def test_a_silent_command_after_others_answered_is_reported(
    link: FakeLink, unit: PI30Unit
) -> None:
    """Silence on one command after others answered is reported, not raised."""
    device = Device(link, "pi30", attempts=1, timeout=0.2, backoff=0)
    link.faults = ["ok", "silent"]
    status = await bounded(device.get_status())
    assert list(status) == ["QPIGS", "Q1"]
    assert isinstance(status.errors["QMOD"], DeviceTimeoutError)
    # QMOD's answer came late, in front of QPIWS's: named, never decoded as QPIWS.
    assert "late answer to QMOD" in str(status.errors["QPIWS"])


async def test_silence_before_anything_answered_ends_the_batch(link: FakeLink) -> None:
    """Silence on the first command ends the batch (the device is gone)."""
    device = Device(link, "pi30", attempts=1, timeout=0.05, backoff=0)
    link.faults = ["silent"]
    with pytest.raises(DeviceTimeoutError):
        await bounded(device.get_status())
    assert written(link) == ["QPIGS"]


class MisspeltPI30(PI30Protocol):
    """A table bug: a status command the protocol does not have."""

    status_commands = ("QPIGS", "QPIGZ")


async def test_a_table_bug_in_a_batch_is_raised(link: FakeLink) -> None:
    """An unknown command in a batch is the table's fault, not the unit's: it is raised."""
    device = Device(link, MisspeltPI30())
    with pytest.raises(UnknownCommandError, match="QPIGZ"):
        await bounded(device.get_status())


async def test_a_garbled_answer_is_reported_in_the_batch(link: FakeLink) -> None:
    """An unreadable answer is reported and the batch goes on."""
    device = Device(link, "pi30", attempts=1, backoff=0)
    link.faults = ["crc"]
    status = await bounded(device.get_status())
    assert list(status) == ["QMOD", "QPIWS", "Q1"]
    assert "CRC" in str(status.errors["QPIGS"])


# -- settings -------------------------------------------------------------------------------------


async def test_read_setting(device: Device) -> None:
    """Settings read as labels, bools and numbers."""
    assert await bounded(device.read_setting("output_source_priority")) == "Utility first"
    assert await bounded(device.read_setting("buzzer")) is False
    assert await bounded(device.read_setting("battery_recharge_voltage")) == 46.0


async def test_write_setting_sends_checks_the_ack_and_reads_back(
    device: Device, link: FakeLink, unit: PI30Unit
) -> None:
    """A write reads the current value, sends, requires ACK and reads back."""
    assert await bounded(device.write_setting("output_source_priority", "SBU first")) == (
        "SBU first"
    )
    assert unit.qpiri[16] == "2"
    assert written(link) == ["QPIRI", "POP02", "QPIRI"]


async def test_write_setting_takes_a_code_or_a_label_in_any_case(
    device: Device, unit: PI30Unit
) -> None:
    """Selects accept the code or the label, in any case."""
    assert await bounded(device.write_setting("charger_source_priority", "02")) == (
        "Solar + Utility"
    )
    assert await bounded(device.write_setting("output_source_priority", "sbu FIRST")) == (
        "SBU first"
    )
    assert unit.qpiri[16:18] == ["2", "2"]


async def test_switches_are_written_through_the_flags(device: Device, unit: PI30Unit) -> None:
    """Switches write PE/PD letters and read back from QFLAG."""
    assert await bounded(device.write_setting("buzzer", True)) is True
    assert "a" in unit.enabled
    assert await bounded(device.write_setting("buzzer", False)) is False
    assert "a" in unit.disabled


async def test_nothing_is_sent_when_the_value_is_already_set(
    device: Device, link: FakeLink
) -> None:
    """Writing the current value sends nothing (no needless EEPROM write)."""
    assert await bounded(device.write_setting("output_source_priority", "Utility first")) == (
        "Utility first"
    )
    assert written(link) == ["QPIRI"]


async def test_an_invalid_value_is_refused_before_anything_is_sent(
    device: Device, link: FakeLink
) -> None:
    """A value outside the model is refused, naming what is allowed, before any I/O."""
    with pytest.raises(InvalidParameterError, match="Solar first") as info:
        await bounded(device.write_setting("output_source_priority", "Battery first"))
    assert "is not one of" in str(info.value)
    with pytest.raises(InvalidParameterError, match="out of range"):
        await bounded(device.write_setting("battery_recharge_voltage", 99, confirm=True))
    assert link.requests == []


async def test_an_unknown_setting_names_close_matches(device: Device) -> None:
    """A misspelt setting key gets close matches and the list of settings."""
    with pytest.raises(InvalidParameterError, match="did you mean output_source_priority"):
        await bounded(device.read_setting("output_source_prio"))
    with pytest.raises(InvalidParameterError, match="settings: battery_bulk"):
        await bounded(device.write_setting("zzz", 1))


async def test_a_protocol_without_settings_says_so(link: FakeLink) -> None:
    """Protocols without a settings model say so."""
    device = Device(link, "jk232")
    with pytest.raises(InvalidParameterError, match="jk232 has no settings"):
        await bounded(device.read_setting("anything"))


async def test_safety_settings_need_confirmation(
    device: Device, link: FakeLink, unit: PI30Unit
) -> None:
    """A safety setting needs confirm=True; the error carries the planned change."""
    with pytest.raises(SafetyConfirmationRequired, match="safety setting") as info:
        await bounded(device.write_setting("battery_recharge_voltage", 47.0))
    change = info.value.change
    assert isinstance(change, SettingChange)
    assert change.describe() == "Battery re-charge voltage: 46 V -> 47 V (PBCV47.0)"
    assert change.safety
    assert "PBCV47.0" not in written(link)
    assert await bounded(device.apply_setting(change, confirm=True)) == 47.0
    assert unit.qpiri[8] == "47.0"


async def test_prepare_then_apply_for_a_front_end(device: Device, link: FakeLink) -> None:
    """prepare_setting() shows the change without sending it; apply_setting() sends it."""
    change = await bounded(device.prepare_setting("output_source_priority", "01"))
    assert (change.command, change.before, change.value) == (
        "POP01",
        "Utility first",
        "Solar first",
    )
    assert not change.unchanged
    assert not change.safety
    assert written(link) == ["QPIRI"]
    assert await bounded(device.apply_setting(change)) == "Solar first"


async def test_the_units_own_list_of_currents_narrows_the_range(
    device: Device, link: FakeLink, unit: PI30Unit
) -> None:
    """QMCHGCR's list narrows what max_charging_current accepts."""
    with pytest.raises(InvalidParameterError, match="not allowed by this device; use one of 10"):
        await bounded(device.write_setting("max_charging_current", 65, confirm=True))
    assert await bounded(device.write_setting("max_charging_current", 60, confirm=True)) == 60
    assert unit.qpiri[14] == "060"
    assert "MCHGC060" in written(link)


async def test_without_a_list_of_currents_the_declared_range_applies(
    device: Device, unit: PI30Unit
) -> None:
    """A unit without QMCHGCR falls back to the declared range."""
    unit.refuses.add("QMCHGCR")
    assert await bounded(device.write_setting("max_charging_current", 65, confirm=True)) == 65


async def test_a_unit_that_refuses_the_value_says_nak(device: Device, unit: PI30Unit) -> None:
    """A NAK to a setting names the change that was refused."""
    unit.refuses.add("PCP03")
    with pytest.raises(NAKError, match=r"refused Charger source priority: .* \(PCP03\)"):
        await bounded(
            device.write_setting("charger_source_priority", "Only solar charging permitted")
        )


async def test_an_ack_without_effect_is_an_error(
    device: Device, link: FakeLink, unit: PI30Unit
) -> None:
    """ACK but the old value read back: SettingNotAppliedError, no re-send."""
    unit.stubborn = True
    with pytest.raises(SettingNotAppliedError, match="acknowledged .* but reports Utility first"):
        await bounded(device.write_setting("output_source_priority", "SBU first"))
    # Read back twice (a unit may lag), never re-sent after an ACK.
    assert written(link) == ["QPIRI", "POP02", "QPIRI", "QPIRI"]


async def test_a_value_read_back_late_is_accepted(link: FakeLink, unit: PI30Unit) -> None:
    """A unit whose settings page lags one read is given a second read."""
    device = Device(link, "pi30", backoff=0)
    unit.stubborn = True
    original = unit.__call__

    def apply_on_second_read(request: bytes) -> bytes | None:
        if written(link).count("QPIRI") == 3:
            unit.qpiri[16] = "2"  # the unit's settings page updates a moment after the ACK
        return original(request)

    link.responder = apply_on_second_read
    assert await bounded(device.write_setting("output_source_priority", "SBU first")) == (
        "SBU first"
    )


async def test_writes_that_share_a_command_keep_each_other(device: Device) -> None:
    """Concurrent MCHGV writes (bulk and float together) do not undo each other."""
    link = FakeLink(PI18Unit())
    pi18 = Device(link, "pi18", backoff=0)
    await bounded(
        asyncio.gather(
            pi18.write_setting("battery_bulk_voltage", 56.4, confirm=True),
            pi18.write_setting("battery_float_voltage", 54.0, confirm=True),
        )
    )
    setters = [r for r in link.requests if r.startswith(b"^S")]
    assert [s[5:-3] for s in setters] == [b"MCHGV564,545", b"MCHGV564,540"]
    assert await bounded(pi18.read_setting("battery_bulk_voltage")) == 56.4
    assert await bounded(pi18.read_setting("battery_float_voltage")) == 54.0


async def test_expected_values_and_comparison() -> None:
    """Read-back comparison: numbers within half a step, labels and bools exactly."""
    setting = PI30.settings["battery_recharge_voltage"]
    assert expected_value(setting, "47") == 47.0
    assert same_value(setting, 47.0, 47.04)
    assert not same_value(setting, 47.1, 47.0)
    assert not same_value(setting, None, 47.0)
    unstepped = PI30.settings["battery_recharge_voltage"].__class__(
        "x", "X", setting.kind, "QPIRI", "x"
    )
    assert same_value(unstepped, 1.0, 1.0004)
    assert expected_value(PI30.settings["buzzer"], 1) is True
    assert SettingChange(PI30.settings["buzzer"], "PEa", True, None).describe() == (
        "Buzzer: unknown -> on (PEa)"
    )


# -- logging --------------------------------------------------------------------------------------


async def test_frames_are_logged_in_hex_at_debug_level(
    device: Device, link: FakeLink, caplog: pytest.LogCaptureFixture
) -> None:
    """Requests and answers are logged in hex at debug level."""
    link.faults = ["crc"]
    with caplog.at_level(logging.DEBUG, logger="mppsolar_lib.device"):
        await bounded(device.command("QMOD"))
        await bounded(device.identify())
    assert f"fake://link > QMOD {PI30.build_request('QMOD').hex(' ')}" in caplog.text
    assert f"fake://link < QMOD {pi_frame('B').hex(' ')}" in caplog.text
    assert "fake://link: QMOD attempt 1/3 failed: QMOD: CRC mismatch" in caplog.text
    assert "fake://link: detected pi30 (confidence 0.90): QPI with CRC: protocol_id=PI30" in (
        caplog.text
    )


async def test_nothing_is_logged_when_debug_is_off(
    device: Device, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing is logged on the normal path above debug level."""
    with caplog.at_level(logging.INFO, logger="mppsolar_lib.device"):
        await bounded(device.command("QMOD"))
        await bounded(device.identify())
    assert caplog.records == []


# -- the reply-matches-request check (Protocol.matches) -------------------------------------------


def test_an_answer_to_another_command_does_not_match() -> None:
    """A valid frame of another command does not pass for this one's answer."""
    assert PI30.matches("QPIGS", pi_frame(QPIGS))
    assert PI30.matches("QPIRI", pi_frame(QPIRI))
    assert not PI30.matches("QPIGS", pi_frame(QPIRI))
    assert not PI30.matches("QPIRI", pi_frame(QPIGS))
    assert not PI30.matches("QPIGS", pi_frame(Q1))
    assert not PI30.matches("QPIGS", pi_frame("NAK"))
    assert not PI30.matches("QID", pi_frame(QPIGS))


def test_matches_takes_a_decoded_result_too() -> None:
    """matches() accepts the decoded Result (no second decode)."""
    result = PI30.decode("QPIRI", pi_frame(QPIRI))
    assert PI30.matches("QPIRI", result)


def test_firmware_variations_still_match() -> None:
    """Shorter and longer answers of real firmwares, lists and free text still match."""
    shorter = " ".join(QPIRI.split(" ")[:-2])
    longer = QPIRI + " 000"
    assert PI30.matches("QPIRI", pi_frame(shorter))
    assert PI30.matches("QPIRI", pi_frame(longer))
    assert PI30.matches("QMCHGCR", pi_frame("010 020 030 040"))
    assert PI30.matches("QMN", pi_frame("MKS2 5000 with spaces"))


def test_caret_answers_are_counted_by_their_commas() -> None:
    """``^D`` answers are counted by their comma-separated values."""
    assert PI18.matches("PIRI", caret_frame(PIRI))
    assert not PI18.matches("PIRI", caret_frame("05210,00000,00000"))
    assert PI18.matches("VFW", caret_frame("05210,00000,00000"))
    pi17 = get_protocol("pi17")
    # BMS answers mix commas and spaces; both separate values.
    assert pi17.matches("BMS", caret_frame("0,075,0,0,560 550,0,0 0,0,480,0"))
    assert not pi17.matches("BMS", caret_frame("0,075"))


def test_binary_framings_rely_on_decoding() -> None:
    """Binary framings carry the command id: decoding is the whole check."""
    daly = get_protocol("daly")
    assert daly.answer_tokens(daly.resolve("SOC")[0], b"", "SOC") is None


def test_fits_in_words() -> None:
    """The shape window: a third fewer, an eighth more, like-valued lists, free text."""
    three = (Float("A"), Float("B"), Float("C"))
    assert fits(three, ["1", "2", "3"])
    assert fits(three, ["1"])
    assert not fits((*three, *three, *three), ["1"] * 5)
    assert not fits(three, ["1"] * 5)
    assert fits((Str("X"),), ["010", "020"])
    assert not fits((Str("X"),), ["010", "2.5"])
    assert fits((Str("X"), Rest("Y")), ["a", "b", "c", "d"])
    assert not fits((Str("A"), Str("B"), Str("C"), Str("D"), Str("E"), Rest("Y")), ["a"])


def test_errors_are_typed() -> None:
    """The new errors are MppSolarErrors and permanent."""
    for error in (ConfirmationRequiredError("x"), SettingNotAppliedError("x")):
        assert isinstance(error, MppSolarError)
        assert not error.transient
    assert ConfirmationRequiredError("x").change is None


# -- end to end through the simulators ------------------------------------------------------------

VOLTRONIC = [p for p in list_simulators() if p.startswith("pi")]


@pytest.mark.parametrize("protocol_id", list_simulators())
async def test_every_simulated_device_answers_its_batches(protocol_id: str) -> None:
    """Each family's simulator, in process: the status and settings batches come back whole."""
    device = Device(simulated_transport(protocol_id, seed=1), protocol_id, backoff=0)
    protocol = get_protocol(protocol_id)
    for batch in (await bounded(device.get_status()), await bounded(device.get_settings())):
        # A firmware may lack a command (plain PI18 refuses SV's FWS): reported, not raised.
        assert all(isinstance(e, NAKError) for e in batch.errors.values()), batch.errors
        assert set(batch) | set(batch.errors) <= {
            *protocol.status_commands,
            *protocol.settings_commands,
        }
    assert len(await bounded(device.get_status())) >= 1


@pytest.mark.parametrize("protocol_id", VOLTRONIC)
async def test_every_simulated_inverter_is_detected(protocol_id: str) -> None:
    """Detection over the simulated link names the family (or lists it as an alternative)."""
    device = Device(simulated_transport(protocol_id, seed=1), probe_timeout=0.1)
    detection = await bounded(device.identify(), 30)
    assert protocol_id in (detection.protocol, *detection.alternatives), detection.evidence
    assert device.protocol is not None
    assert len(await bounded(device.get_status())) >= 1


async def _another_value(device: Device, setting: Setting, current: Value) -> object:
    """Pick a valid value other than ``current`` (from the unit's own list where it has one)."""
    if setting.kind is SettingKind.SELECT:
        return next(label for label in setting.options.values() if label != current)
    if setting.kind is SettingKind.SWITCH:
        return not current
    allowed = None
    if setting.options_command:
        allowed = setting.allowed_values(await bounded(device.command(setting.options_command)))
    assert isinstance(current, int | float)
    if allowed:
        return next(a for a in allowed if not same_value(setting, a, current))
    step = setting.step or 1
    below = setting.minimum is not None and current + step > (setting.maximum or math.inf)
    return round(current - step if below else current + step, 3)


@pytest.mark.parametrize("protocol_id", [p for p in list_simulators() if get_protocol(p).settings])
async def test_every_setting_of_every_simulated_device_round_trips(protocol_id: str) -> None:
    """Every setting of the model, written through the Device, reads back as written."""
    device = Device(simulated_transport(protocol_id, seed=1), protocol_id, backoff=0)
    for key, setting in get_protocol(protocol_id).settings.items():
        current = await bounded(device.read_setting(key))
        value = await _another_value(device, setting, current)
        written_back = await bounded(device.write_setting(key, value, confirm=True))
        assert same_value(setting, written_back, expected_value(setting, value)), key
        assert same_value(setting, await bounded(device.read_setting(key)), written_back), key


async def test_end_to_end_over_a_pseudo_terminal() -> None:
    """The real serial transport on a pty served by the simulator: detect, poll, write."""
    pytest.importorskip("serialx")
    async with PtyServer(create_simulator("pi30", seed=1)) as server:
        device = Device(open_transport(server.path), probe_timeout=0.5)
        async with device:
            detection = await bounded(device.identify())
            assert detection.protocol == "pi30"
            status = await bounded(device.get_status())
            voltage = status["QPIGS"]["battery_voltage"]
            assert isinstance(voltage, float) and 40 < voltage < 60
            assert await bounded(device.write_setting("output_source_priority", "SBU first")) == (
                "SBU first"
            )


async def test_end_to_end_over_tcp() -> None:
    """A serial-over-IP gateway (the simulator on TCP): a PI18 unit is detected and polled."""
    async with TcpServer(create_simulator("pi18", seed=1)) as server:
        transport = open_transport(f"tcp://127.0.0.1:{server.port}")
        async with Device(transport, probe_timeout=0.5) as device:
            status = await bounded(device.get_status())
            assert device.protocol is PI18
            assert "GS" in status
