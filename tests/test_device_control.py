"""Device settings through the simulators: what a failed write reports, check order, JK, REVO.

Each test runs the real Device over an in-process simulated transport: the simulated unit takes
(or ignores, or refuses) the exact frames the library sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from mppsolar_lib.device import Device, SettingChange
from mppsolar_lib.errors import (
    ConfirmationRequiredError,
    InvalidParameterError,
    SettingNotAppliedError,
)
from mppsolar_lib.protocols import Protocol, get_protocol
from mppsolar_lib.protocols.command import Command, Kind
from mppsolar_lib.simulator.jk import JkBleSimulator
from mppsolar_lib.simulator.voltronic import VoltronicSimulator
from mppsolar_lib.transports.simulated import SimulatedTransport, simulated_transport

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float = 10) -> T:
    """Await with a deadline so that no test can hang."""
    return await asyncio.wait_for(awaitable, seconds)


def simulated(protocol: str) -> tuple[Device, SimulatedTransport]:
    """Return a Device on an in-process simulator of ``protocol``, and its transport."""
    transport = simulated_transport(protocol, seed=1)
    assert isinstance(transport, SimulatedTransport)
    return Device(transport, protocol, backoff=0), transport


def recording(transport: SimulatedTransport) -> list[bytes]:
    """Record every request the simulated device receives, from now on."""
    simulator = transport.simulator
    received: list[bytes] = []
    handle = simulator.handle

    def record(request: bytes) -> bytes | None:
        received.append(request)
        return handle(request)

    simulator.handle = record  # type: ignore[method-assign]
    return received


def queries(protocol: Protocol) -> set[bytes]:
    """Return the frames of ``protocol``'s queries that take no parameter."""
    return {
        protocol.build_request(name)
        for name, definition in protocol.commands.items()
        if definition.kind is Kind.QUERY and definition.param is None
    }


# -- an ACK without effect ------------------------------------------------------------------------


async def test_an_ack_without_effect_carries_what_the_device_reports() -> None:
    """The unit ACKs POP00 but keeps SBU first: the error carries both values and the answer.

    A front-end shows the device's value from it without asking again.
    """
    device, transport = simulated("pi30")
    simulator = transport.simulator
    assert isinstance(simulator, VoltronicSimulator)
    write = simulator.write

    def ignoring(definition: Command, param: str, text: str) -> None:
        if text != "POP00":  # acknowledged (the simulator answers ACK), but not applied
            write(definition, param, text)

    simulator.write = ignoring  # type: ignore[method-assign]
    with pytest.raises(SettingNotAppliedError, match="but reports SBU first") as raised:
        await bounded(device.write_setting("output_source_priority", "Utility first"))
    error = raised.value
    assert error.setting == "output_source_priority"
    assert error.requested == "Utility first"
    assert error.reported == "SBU first"
    assert error.result is not None
    assert error.result.command == "QPIRI"
    assert error.result["output_source_priority"] == "SBU first"
    assert error.result["battery_type"] == simulator.query("QPIRI")["battery_type"]
    assert not error.transient
    await device.close()


def test_the_error_says_nothing_it_was_not_told() -> None:
    """Raised without the read-back (by a front-end, a test): every attribute is None."""
    error = SettingNotAppliedError("x")
    assert (error.setting, error.requested, error.reported, error.result) == (None,) * 4


# -- invalid before confirmation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "setting", "value", "says"),
    [
        ("pi30", "battery_type", "Lead carbon", "is not one of: AGM, Flooded, User"),
        ("pi30", "battery_recharge_voltage", 99, "out of range"),
        ("pi30", "max_charging_current", 65, "not allowed by this device; use one of"),
        ("pi17", "battery_constant_charge_voltage_c_v", 80, "out of range"),
        ("jk02", "charging", "maybe", "expected on/off"),
        ("jk02", "cell_ovp", 9, "out of range"),
    ],
)
async def test_an_invalid_value_is_refused_before_confirmation_is_asked(
    protocol: str, setting: str, value: object, says: str
) -> None:
    """A safety setting's invalid value is InvalidParameterError, confirmed or not; no setter.

    Only a valid value asks for confirmation: nobody confirms a value that cannot be written.
    """
    device, transport = simulated(protocol)
    assert get_protocol(protocol).settings[setting].safety
    received = recording(transport)
    for confirm in (False, True):
        with pytest.raises(InvalidParameterError, match=says):
            await bounded(device.write_setting(setting, value, confirm=confirm))
    # Only queries went out: the setting's reading, and what the unit allows (QMCHGCR).
    assert set(received) <= queries(get_protocol(protocol))
    await device.close()


async def test_a_valid_value_of_a_safety_setting_asks_for_confirmation() -> None:
    """The same setting with a valid value: ConfirmationRequiredError, with the change."""
    device, _ = simulated("pi30")
    with pytest.raises(ConfirmationRequiredError, match="safety setting") as raised:
        await bounded(device.write_setting("battery_type", "Flooded"))
    change = raised.value.change
    assert isinstance(change, SettingChange)
    assert change.command == "PBT01"
    assert await bounded(device.apply_setting(change, confirm=True)) == "Flooded"
    await device.close()


# -- JK balancer switch ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["jk02", "jk02_32", "jkv11"])
async def test_jk_balancer_switch(protocol: str) -> None:
    """Balancing off writes register 0x1F with 0; the settings record then reports it off."""
    device, transport = simulated(protocol)
    simulator = transport.simulator
    assert isinstance(simulator, JkBleSimulator)
    received = recording(transport)
    assert await bounded(device.read_setting("balancing")) is True

    assert await bounded(device.write_setting("balancing", False, confirm=True)) is False
    # aa 55 90 eb, register 0x1F, length 4, value 0 (4 bytes, little-endian), padding, sum.
    off = bytes.fromhex("aa5590eb1f04") + bytes(13) + bytes((0x9D,))
    assert off in received
    assert not simulator.pack.balancer_enabled
    assert not simulator.pack.balancing
    assert await bounded(device.read_setting("balancing")) is False

    assert await bounded(device.write_setting("balancing", True, confirm=True)) is True
    on = bytes.fromhex("aa5590eb1f0401") + bytes(12) + bytes((0x9E,))
    assert on in received
    assert simulator.pack.balancer_enabled
    await device.close()


async def test_jk_balancer_switch_is_a_safety_setting() -> None:
    """Switching the balancer needs confirmation; a value other than 0/1 is refused by the BMS."""
    device, transport = simulated("jk02")
    with pytest.raises(ConfirmationRequiredError, match="Balancing"):
        await bounded(device.write_setting("balancing", False))
    simulator = transport.simulator
    assert isinstance(simulator, JkBleSimulator)
    assert simulator.pack.balancer_enabled
    assert simulator.handle(get_protocol("jk02").build_request("setBalancerOn")[:6]) is None
    await device.close()


# -- PI30 REVO identity ---------------------------------------------------------------------------


async def test_revo_is_detected_with_its_serial_number_and_firmware() -> None:
    """A simulated REVO unit: detected as such, with serial number and firmware (no model)."""
    transport = simulated_transport("pi30revo", seed=1)
    assert isinstance(transport, SimulatedTransport)
    simulator = transport.simulator
    assert isinstance(simulator, VoltronicSimulator)
    device = Device(transport, None, backoff=0)
    detection = await bounded(device.identify())
    assert detection.protocol == "pi30revo"
    assert "pi30" in detection.alternatives
    assert detection.serial == simulator.serial
    assert detection.firmware
    assert detection.model is None
    assert (await bounded(device.command("QID")))["serial_number"] == simulator.serial
    await device.close()


async def test_a_plain_pi30_is_not_taken_for_a_revo() -> None:
    """A PI30 unit that refuses QALL (every non-REVO PI30) stays pi30."""
    device, _ = simulated("pi30")
    device.protocol = None
    detection = await bounded(device.identify())
    assert detection.protocol != "pi30revo"
    await device.close()
