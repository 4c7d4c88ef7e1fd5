"""The actions, against a PI30 simulator over a real pty: send_command and write_setting.

``send_command`` returns the decoded answer and the frames (hex); a setter is refused unless
the options allow it, and then changes the simulated unit. ``write_setting`` checks the value
before anything is sent and returns what the unit reports after. Every refusal says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.mppsolar.const import (
    CONF_ALLOWED_SETTERS,
    CONF_POLL_SETTINGS,
    CONF_SETTINGS_INTERVAL,
    CONF_STATUS_COMMANDS,
    CONF_STATUS_INTERVAL,
    DOMAIN,
)
from custom_components.mppsolar.services import setter_allowed
from mppsolar_lib.simulator.voltronic import VoltronicSimulator

from .controlled import Controlled, controlled

INTEGRATION = Path(__file__).parents[2] / "custom_components" / DOMAIN
STRINGS: dict[str, Any] = json.loads((INTEGRATION / "strings.json").read_text(encoding="utf-8"))
GERMAN: dict[str, Any] = json.loads(
    (INTEGRATION / "translations" / "de.json").read_text(encoding="utf-8")
)
#: The PI30 simulator's output source priority at the start.
OUTPUT_PRIORITY = "SBU first"


@pytest.fixture
async def pi30(hass: HomeAssistant) -> AsyncIterator[Controlled]:
    """Serve a PI30 simulator over a pty, set its entry up, record every request it receives."""
    async with controlled(hass, "pi30") as device:
        yield device


def device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """Return the device registry id of the entry's device."""
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, str(entry.unique_id))})
    assert device is not None
    return device.id


async def send(hass: HomeAssistant, device: str, command: str) -> dict[str, Any]:
    """Run mppsolar.send_command as an automation does, asking for the response."""
    response = await hass.services.async_call(
        DOMAIN,
        "send_command",
        {ATTR_DEVICE_ID: device, "command": command},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


async def write(hass: HomeAssistant, device: str, setting: str, value: Any, **extra: Any) -> Any:
    """Run mppsolar.write_setting, asking for the response."""
    return await hass.services.async_call(
        DOMAIN,
        "write_setting",
        {ATTR_DEVICE_ID: device, "setting": setting, "value": value, **extra},
        blocking=True,
        return_response=True,
    )


def reported(device: Controlled, key: str) -> object:
    """Return what the simulated unit's QPIRI reports for settings field ``key``."""
    simulator = device.simulator
    assert isinstance(simulator, VoltronicSimulator)
    return simulator.query("QPIRI")[key]


def message(key: str, **placeholders: str) -> str:
    """Return the English message of exception ``key`` as raised (no closing full stop)."""
    text: str = STRINGS["exceptions"][key]["message"]
    return text.format(**placeholders).rstrip(".")


# -- send_command ---------------------------------------------------------------------------------


async def test_query_returns_the_decoded_answer_and_frames(
    hass: HomeAssistant, pi30: Controlled
) -> None:
    """QPIGS: each field's name, value and unit; the frames in hex decode back to the same."""
    response = await send(hass, device_id(hass, pi30.entry), "qpigs")

    assert response["command"] == "QPIGS"
    assert response["kind"] == "query"
    assert response["request"] == pi30.frame("QPIGS").hex()
    battery = response["fields"]["battery_voltage"]
    assert battery["name"] == "Battery Voltage"
    assert battery["unit"] == "V"
    assert isinstance(battery["value"], float)
    assert 40 < battery["value"] < 60
    # The raw answer is the unit's own frame: decoding it again gives the values returned.
    decoded = pi30.protocol.decode("QPIGS", bytes.fromhex(response["response"]))
    assert {key: field["value"] for key, field in response["fields"].items()} == dict(decoded)
    assert pi30.received[-1] == pi30.frame("QPIGS")
    assert json.loads(json.dumps(response)) == response


async def test_setter_refused_by_default(hass: HomeAssistant, pi30: Controlled) -> None:
    """POP02 changes the unit: refused, saying why and what to change; nothing is sent."""
    with pytest.raises(ServiceValidationError) as raised:
        await send(hass, device_id(hass, pi30.entry), "POP00")

    assert raised.value.translation_key == "setter_not_allowed"
    assert str(raised.value) == message(
        "setter_not_allowed",
        command="POP00",
        device=pi30.coordinator.device.name,
        description="Set output source priority",
        patterns="—",
        name="POP",
    )
    assert pi30.setters() == []
    assert reported(pi30, "output_source_priority") == OUTPUT_PRIORITY


async def test_setter_allowed_by_the_options(hass: HomeAssistant, pi30: Controlled) -> None:
    """A pattern in the options lets POP00 through: the unit changes, the settings follow.

    A setter the pattern does not cover (POP02, PCP02) is still refused.
    """
    entry = pi30.entry
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"]
    assert schema is not None
    selector = schema.schema[next(k for k in schema.schema if k == CONF_ALLOWED_SETTERS)]
    offered = {option["value"]: option["label"] for option in selector.config["options"]}
    assert offered["POP"] == "POP – Set output source priority"
    assert "PSAVE" in offered
    assert selector.config["custom_value"] is True
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_STATUS_INTERVAL: 10,
            CONF_SETTINGS_INTERVAL: 300,
            CONF_STATUS_COMMANDS: ["QPIGS", "Q1"],
            CONF_POLL_SETTINGS: True,
            CONF_ALLOWED_SETTERS: ["POP0[0-1]"],
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.state is ConfigEntryState.LOADED  # reloaded with the new options
    device = device_id(hass, entry)

    response = await send(hass, device, "POP00")

    assert response["kind"] == "setter"
    assert response["fields"] == {"pop": {"name": "POP", "value": "ACK", "unit": ""}}
    assert pi30.setters() == [pi30.frame("POP00")]
    assert reported(pi30, "output_source_priority") == "Utility first"
    # The settings were read again: what the entities show is the unit's new value.
    shown = pi30.coordinator.data.value("output_source_priority", settings=True)
    assert shown == "Utility first"

    for refused in ("POP02", "PCP02"):
        with pytest.raises(ServiceValidationError, match=r"\(now: POP0\[0-1\]\)"):
            await send(hass, device, refused)
    assert pi30.setters() == [pi30.frame("POP00")]

    # The options show what is allowed.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    marker = next(k for k in schema.schema if k == CONF_ALLOWED_SETTERS)
    assert marker.description == {"suggested_value": ["POP0[0-1]"]}


@pytest.mark.parametrize(
    ("command", "name", "patterns", "allowed"),
    [
        ("POP02", "POP", [], False),
        ("POP02", "POP", ["POP"], True),
        ("POPLG01", "POPLG", ["POP"], False),
        ("POP02", "POP", ["pop0[0-2]"], True),
        ("POP02", "POP", ["POP0[0-1]"], False),
        ("PCP03", "PCP", ["POP*", "PCP*"], True),
        ("PCP03", "PCP", ["  ", "PCP0"], False),
        ("setChargeMos1", "setChargeMos", ["setchargemos"], True),
    ],
)
def test_allowlist_patterns(command: str, name: str, patterns: list[str], allowed: bool) -> None:
    """A command name allows it with any value; a glob covers the whole text; case ignored."""
    assert setter_allowed(command, name, patterns) is allowed


async def test_unknown_command(hass: HomeAssistant, pi30: Controlled) -> None:
    """A command the protocol does not have: refused with the close ones; nothing sent."""
    sent = len(pi30.received)
    with pytest.raises(ServiceValidationError) as raised:
        await send(hass, device_id(hass, pi30.entry), "QPIGZ")

    assert raised.value.translation_key == "unknown_command"
    assert str(raised.value) == message(
        "unknown_command",
        device=pi30.coordinator.device.name,
        protocol="pi30",
        command="QPIGZ",
        matches="QPIGS, QPI, QPGS",
    )
    with pytest.raises(ServiceValidationError, match="Close ones: —"):
        await send(hass, device_id(hass, pi30.entry), "XYZZY")
    assert len(pi30.received) == sent


async def test_invalid_command_value(hass: HomeAssistant, pi30: Controlled) -> None:
    """A value the command does not take: refused with what it takes, even when allowed."""
    with pytest.raises(ServiceValidationError) as raised:
        await send(hass, device_id(hass, pi30.entry), "POP09")

    assert raised.value.translation_key == "invalid_command_parameter"
    assert "use 00 (Utility first), 01 (Solar first), 02 (SBU first)" in str(raised.value)


async def test_query_refused_by_the_unit(hass: HomeAssistant, pi30: Controlled) -> None:
    """A single unit refuses QPGS1 (no second unit in parallel): the NAK is reported."""
    with pytest.raises(HomeAssistantError) as raised:
        await send(hass, device_id(hass, pi30.entry), "QPGS1")

    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "command_refused"
    assert str(raised.value).startswith(f"{pi30.coordinator.device.name} refused QPGS1 (NAK): ")


async def test_unreadable_answers(hass: HomeAssistant, pi30: Controlled) -> None:
    """The unit's answers arrive garbled (a noisy line) on every attempt: the action fails."""
    simulator = pi30.simulator
    handle = simulator.handle
    garbled = pi30.frame("QMOD")

    def noisy(request: bytes) -> bytes | None:
        return b"(hello\r" if request == garbled else handle(request)

    simulator.handle = noisy  # type: ignore[method-assign]

    with pytest.raises(HomeAssistantError) as raised:
        await send(hass, device_id(hass, pi30.entry), "QMOD")

    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "command_failed"
    assert str(raised.value).startswith(f"QMOD on {pi30.coordinator.device.name} failed: ")


async def test_devices_that_cannot_take_the_action(hass: HomeAssistant, pi30: Controlled) -> None:
    """An unknown id, another integration's device, a device whose entry is not loaded."""
    with pytest.raises(ServiceValidationError) as raised:
        await send(hass, "nonexistent", "QPIGS")
    assert raised.value.translation_key == "device_not_found"
    assert str(raised.value) == message("device_not_found", device_id="nonexistent")

    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    registry = dr.async_get(hass)
    foreign = registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}, name="Kettle"
    )
    with pytest.raises(ServiceValidationError) as raised:
        await send(hass, foreign.id, "QPIGS")
    assert raised.value.translation_key == "not_our_device"
    assert str(raised.value) == message("not_our_device", device="Kettle")

    device = device_id(hass, pi30.entry)
    name = registry.async_get(device).name  # type: ignore[union-attr]
    await hass.config_entries.async_unload(pi30.entry.entry_id)
    for action, data in (
        ("send_command", {"command": "QPIGS"}),
        ("write_setting", {"setting": "buzzer", "value": "on"}),
    ):
        with pytest.raises(ServiceValidationError) as raised:
            await hass.services.async_call(
                DOMAIN,
                action,
                {ATTR_DEVICE_ID: device, **data},
                blocking=True,
                return_response=True,
            )
        assert raised.value.translation_key == "device_not_loaded"
        assert str(raised.value) == message("device_not_loaded", device=str(name))
    await hass.config_entries.async_setup(pi30.entry.entry_id)


async def test_without_asking_for_the_response(hass: HomeAssistant, pi30: Controlled) -> None:
    """Both actions also run as plain steps (an automation that does not use the answer)."""
    device = device_id(hass, pi30.entry)
    assert (
        await hass.services.async_call(
            DOMAIN, "send_command", {ATTR_DEVICE_ID: device, "command": "QMOD"}, blocking=True
        )
        is None
    )
    await hass.services.async_call(
        DOMAIN,
        "write_setting",
        {ATTR_DEVICE_ID: device, "setting": "output_source_priority", "value": "Solar first"},
        blocking=True,
    )
    assert reported(pi30, "output_source_priority") == "Solar first"


# -- write_setting --------------------------------------------------------------------------------


async def test_write_setting(hass: HomeAssistant, pi30: Controlled) -> None:
    """A select by label, a number, a switch by "off": sent, read back, returned."""
    device = device_id(hass, pi30.entry)

    assert await write(hass, device, "output_source_priority", "Utility first") == {
        "setting": "output_source_priority",
        "value": "Utility first",
        "unit": "",
    }
    assert pi30.setters() == [pi30.frame("POP00")]
    assert reported(pi30, "output_source_priority") == "Utility first"
    shown = pi30.coordinator.data.value("output_source_priority", settings=True)
    assert shown == "Utility first"

    # By code; a value it already has is not sent again.
    assert (await write(hass, device, "output_source_priority", "00"))["value"] == "Utility first"
    assert pi30.setters() == [pi30.frame("POP00")]

    response = await write(hass, device, "max_ac_charging_current", "20", confirm=True)
    assert response == {"setting": "max_ac_charging_current", "value": 20, "unit": "A"}
    assert pi30.setters()[-1] == pi30.frame("MUCHGC020")

    assert await write(hass, device, "buzzer", "off") == {
        "setting": "buzzer",
        "value": False,
        "unit": "",
    }
    assert pi30.setters()[-1] == pi30.frame("PDa")


async def test_write_setting_invalid_value(hass: HomeAssistant, pi30: Controlled) -> None:
    """A value the setting (or the unit) does not allow: refused, naming what is; nothing sent."""
    device = device_id(hass, pi30.entry)
    for setting, value, allowed in (
        ("output_source_priority", "Battery first", "Utility first, Solar first, SBU first"),
        ("max_ac_charging_current", 7, "use one of 2, 10, 20, 30, 40"),
        ("buzzer", "maybe", "expected on/off"),
    ):
        with pytest.raises(ServiceValidationError, match=allowed) as raised:
            await write(hass, device, setting, value, confirm=True)
        assert raised.value.translation_key == "setting_invalid"
    assert pi30.setters() == []


async def test_write_setting_refused_by_the_unit(hass: HomeAssistant, pi30: Controlled) -> None:
    """The unit answers NAK: the action fails saying so; the setting keeps its value."""
    pi30.refuse("POP00")

    with pytest.raises(HomeAssistantError) as raised:
        await write(hass, device_id(hass, pi30.entry), "output_source_priority", "00")

    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "setting_refused"
    assert pi30.setters() == [pi30.frame("POP00")]
    assert reported(pi30, "output_source_priority") == OUTPUT_PRIORITY


async def test_write_unknown_setting(hass: HomeAssistant, pi30: Controlled) -> None:
    """A setting the protocol does not have: refused with the close ones and the list."""
    with pytest.raises(ServiceValidationError) as raised:
        await write(hass, device_id(hass, pi30.entry), "output_priority", "SBU first")

    assert raised.value.translation_key == "unknown_setting"
    text = str(raised.value)
    assert "Close ones: output_source_priority" in text
    assert "charger_source_priority, input_voltage_range" in text
    assert pi30.setters() == []


async def test_write_safety_setting_needs_confirmation(
    hass: HomeAssistant, pi30: Controlled
) -> None:
    """Battery type can harm the battery: refused without confirm (nothing sent), then written."""
    device = device_id(hass, pi30.entry)
    with pytest.raises(ServiceValidationError) as raised:
        await write(hass, device, "battery_type", "Flooded")

    assert raised.value.translation_key == "confirmation_required"
    assert str(raised.value) == message(
        "confirmation_required",
        name="Battery type",
        device=pi30.coordinator.device.name,
        value="Flooded",
    )
    assert pi30.setters() == []

    response = await write(hass, device, "battery_type", "Flooded", confirm=True)
    assert response["value"] == "Flooded"
    assert pi30.setters() == [pi30.frame("PBT01")]


@pytest.mark.parametrize(
    ("setting", "value", "allowed"),
    [
        ("battery_type", "Lead carbon", "is not one of: AGM, Flooded, User"),
        ("max_ac_charging_current", 7, "use one of 2, 10, 20, 30, 40"),
        ("battery_recharge_voltage", 99, "out of range"),
    ],
)
async def test_write_safety_setting_invalid_before_confirmation(
    hass: HomeAssistant, pi30: Controlled, setting: str, value: Any, allowed: str
) -> None:
    """An invalid value of a safety setting is refused as invalid, not asked to be confirmed.

    Nobody should confirm a value only to learn then that it cannot be written.
    """
    device = device_id(hass, pi30.entry)
    for confirm in (False, True):
        with pytest.raises(ServiceValidationError, match=allowed) as raised:
            await write(hass, device, setting, value, confirm=confirm)
        assert raised.value.translation_key == "setting_invalid"
    assert pi30.setters() == []


async def test_write_safety_setting_already_set(hass: HomeAssistant, pi30: Controlled) -> None:
    """A safety setting that already has the value: nothing to confirm, nothing sent."""
    current = reported(pi30, "battery_type")
    response = await write(hass, device_id(hass, pi30.entry), "battery_type", current)
    assert response["value"] == current
    assert pi30.setters() == []


async def test_write_setting_not_applied(hass: HomeAssistant, pi30: Controlled) -> None:
    """The unit ACKs but keeps another value: the error names it, the entity shows it.

    The value shown is the one the library read back after the ACK: the setting is not read a
    third time. Here the unit was changed at its panel since the last poll, so what it reports
    is neither the value requested nor the one Home Assistant showed.
    """
    simulator = pi30.simulator
    assert isinstance(simulator, VoltronicSimulator)
    simulator.store.setdefault("QPIRI", {})["output_source_priority"] = "Solar first"
    pi30.refuse("POP00", ignore=True)
    entity_id = "select.pi30_simulator_output_source_priority"
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "sbu_first"  # not polled since
    received = len(pi30.received)

    with pytest.raises(HomeAssistantError) as raised:
        await write(hass, device_id(hass, pi30.entry), "output_source_priority", "Utility first")

    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "setting_not_applied"
    assert str(raised.value) == message(
        "setting_not_applied",
        device=pi30.coordinator.device.name,
        setting="Output source priority",
        value="Utility first",
        reported="Solar first",
    )
    assert pi30.setters() == [pi30.frame("POP00")]
    # Read before (for the value before), then twice after the ACK (a unit may lag): no more.
    sent = [request[:5] for request in pi30.received[received:]]
    assert sent == [b"QPIRI", b"POP00", b"QPIRI", b"QPIRI"]
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "solar_first"
    assert pi30.coordinator.data.value("output_source_priority", settings=True) == "Solar first"


# -- what a user reads ----------------------------------------------------------------------------


async def test_actions_as_home_assistant_describes_them(hass: HomeAssistant) -> None:
    """What the action editor shows: names, fields with their selectors, optional response."""
    await async_setup_component(hass, DOMAIN, {})
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]

    send = descriptions["send_command"]
    assert send["response"] == {"optional": True}
    assert send["fields"]["device_id"]["selector"]["device"]["integration"] == DOMAIN
    assert send["fields"]["command"]["required"] is True
    write = descriptions["write_setting"]
    assert write["response"] == {"optional": True}
    assert set(write["fields"]) == {"device_id", "setting", "value", "confirm"}
    assert write["fields"]["confirm"]["default"] is False
    # The names the editor shows come from the translations.
    english = await async_get_translations(hass, "en", "services", [DOMAIN])
    assert english[f"component.{DOMAIN}.services.send_command.name"] == "Send command"
    german = await async_get_translations(hass, "de", "services", [DOMAIN])
    assert german[f"component.{DOMAIN}.services.write_setting.fields.value.name"] == "Wert"


def test_actions_are_described_and_translated() -> None:
    """services.yaml's actions and fields have names and descriptions in English and German.

    Each action has its icon.
    """
    described = yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8"))
    icons = json.loads((INTEGRATION / "icons.json").read_text(encoding="utf-8"))["services"]
    assert set(icons) == set(described)
    for strings in (STRINGS, GERMAN):
        services = strings["services"]
        assert set(services) == set(described)
        for action, spec in described.items():
            assert services[action]["name"]
            assert services[action]["description"]
            assert set(services[action]["fields"]) == set(spec["fields"])
            for field in services[action]["fields"].values():
                assert field["name"]
                assert field["description"]
