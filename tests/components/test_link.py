"""A BMS linked to the inverter it feeds: the option, and its device's "Connected via".

A simulated PI30 inverter and a simulated Daly BMS, each on its own real pty, are set up side
by side; the BMS's options flow links it to the inverter, changes the link, and takes it
away; the inverter's entry goes while linked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mppsolar.const import (
    CONF_CONNECTION,
    CONF_DEVICE,
    CONF_INVERTER,
    CONF_PROTOCOL,
    DOMAIN,
    Connection,
)

from .simulated import served_entry

#: Every wait on a reload (real I/O with a simulator) is bounded by this (seconds).
BOUND = 60
#: What Home Assistant logs when a device info names a device it does not have.
MISSING_VIA = "non existing `via_device`"


def device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    """Return the device of ``entry``."""
    found = dr.async_get(hass).async_get_device({(DOMAIN, str(entry.unique_id))})
    assert found is not None
    return found


def offered(result: ConfigFlowResult) -> dict[str, str]:
    """Return the inverters the options form offers (value -> label)."""
    schema = result["data_schema"]
    assert schema is not None
    selector = schema.schema[next(key for key in schema.schema if key == CONF_INVERTER)]
    assert selector.config["translation_key"] == "inverter"
    return {option["value"]: option["label"] for option in selector.config["options"]}


def chosen(result: ConfigFlowResult) -> Any:
    """Return the inverter the options form has chosen (its default)."""
    schema = result["data_schema"]
    assert schema is not None
    return next(key for key in schema.schema if key == CONF_INVERTER).default()


async def link(hass: HomeAssistant, entry: MockConfigEntry, inverter: str) -> ConfigFlowResult:
    """Choose ``inverter`` (an entry id, or ``none``) in ``entry``'s options; wait for the reload."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_INVERTER: inverter}
    )
    async with asyncio.timeout(BOUND):
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.state is ConfigEntryState.LOADED
    return result


def other_inverter(hass: HomeAssistant, **kwargs: Any) -> MockConfigEntry:
    """Add an inverter entry that is not set up (nothing behind its port)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Garage inverter",
        unique_id="garage",
        data={
            CONF_CONNECTION: Connection.SERIAL,
            CONF_DEVICE: "/dev/ttyUSB9",
            CONF_PROTOCOL: "pi18",
        },
        **kwargs,
    )
    entry.add_to_hass(hass)
    return entry


async def test_link_a_bms_to_its_inverter(
    hass: HomeAssistant, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    """The BMS's device shows the inverter chosen; choosing none takes the link away.

    Offered: the loaded inverter entries only (not a BMS, not an inverter that is not loaded).
    """
    async with (
        served_entry(hass, request, "pi30", "pty") as inverter,
        served_entry(hass, request, "daly", "pty") as bms,
        served_entry(hass, request, "jkpb", "pty") as other_bms,
    ):
        other_inverter(hass)
        assert device(hass, bms).via_device_id is None
        result = await hass.config_entries.options.async_init(bms.entry_id)
        assert offered(result) == {"none": "None", inverter.entry_id: inverter.title}
        assert chosen(result) == "none"

        await link(hass, bms, inverter.entry_id)

        assert bms.options[CONF_INVERTER] == inverter.entry_id
        assert device(hass, bms).via_device_id == device(hass, inverter).id
        assert device(hass, other_bms).via_device_id is None
        # Set up again, the device info makes the link (the registry's taken away first).
        registry = dr.async_get(hass)
        registry.async_update_device(device(hass, bms).id, via_device_id=None)
        assert await hass.config_entries.async_reload(bms.entry_id)
        async with asyncio.timeout(BOUND):
            await hass.async_block_till_done()
        assert device(hass, bms).via_device_id == device(hass, inverter).id
        result = await hass.config_entries.options.async_init(bms.entry_id)
        assert chosen(result) == inverter.entry_id
        hass.config_entries.options.async_abort(result["flow_id"])

        await link(hass, bms, "none")

        assert CONF_INVERTER not in bms.options
        assert device(hass, bms).via_device_id is None
    assert MISSING_VIA not in caplog.text


async def test_inverter_has_no_link_option(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """An inverter feeds no inverter: its options have no such choice."""
    async with served_entry(hass, request, "pi30", "pty") as inverter:
        result = await hass.config_entries.options.async_init(inverter.entry_id)
        schema = result["data_schema"]
        assert schema is not None
        assert CONF_INVERTER not in {str(key) for key in schema.schema}


async def test_linked_inverter_removed(
    hass: HomeAssistant, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    """The inverter's entry removed: the link goes with its device; the BMS carries on."""
    async with served_entry(hass, request, "daly", "pty") as bms:
        async with served_entry(hass, request, "pi30", "pty") as inverter:
            await link(hass, bms, inverter.entry_id)
            assert device(hass, bms).via_device_id == device(hass, inverter).id
        assert await hass.config_entries.async_remove(inverter.entry_id)
        async with asyncio.timeout(BOUND):
            await hass.async_block_till_done()

        assert device(hass, bms).via_device_id is None
        assert await hass.config_entries.async_reload(bms.entry_id)
        async with asyncio.timeout(BOUND):
            await hass.async_block_till_done()
        assert bms.state is ConfigEntryState.LOADED
        assert device(hass, bms).via_device_id is None
        # The options no longer offer it, and show no inverter.
        result = await hass.config_entries.options.async_init(bms.entry_id)
        assert offered(result) == {"none": "None"}
        assert chosen(result) == "none"
    assert MISSING_VIA not in caplog.text


async def test_linked_inverter_not_loaded(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """An inverter that is not loaded (unreachable) keeps its link and stays offered."""
    async with served_entry(hass, request, "daly", "pty") as bms:
        async with served_entry(hass, request, "pi30", "pty") as inverter:
            await link(hass, bms, inverter.entry_id)
        assert inverter.state is ConfigEntryState.NOT_LOADED

        assert await hass.config_entries.async_reload(bms.entry_id)
        async with asyncio.timeout(BOUND):
            await hass.async_block_till_done()

        assert device(hass, bms).via_device_id == device(hass, inverter).id
        result = await hass.config_entries.options.async_init(bms.entry_id)
        assert offered(result) == {"none": "None", inverter.entry_id: inverter.title}
        assert chosen(result) == inverter.entry_id


@pytest.mark.parametrize(
    "linked",
    [
        # An entry id no entry has (removed while Home Assistant was stopped).
        "01JUNKNOWNENTRY",
        # Another integration's entry.
        "foreign",
        # An inverter entry that was never set up: it has no device yet.
        "never_set_up",
    ],
)
async def test_link_to_nothing_usable(
    hass: HomeAssistant,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    linked: str,
) -> None:
    """A link option naming no inverter device: the BMS is set up without the link."""
    if linked == "foreign":
        foreign = MockConfigEntry(domain="demo", title="Demo")
        foreign.add_to_hass(hass)
        linked = foreign.entry_id
    elif linked == "never_set_up":
        linked = other_inverter(hass).entry_id
    async with served_entry(hass, request, "daly", "pty") as bms:
        assert await hass.config_entries.async_unload(bms.entry_id)
        hass.config_entries.async_update_entry(bms, options={CONF_INVERTER: linked})
        assert await hass.config_entries.async_setup(bms.entry_id)
        async with asyncio.timeout(BOUND):
            await hass.async_block_till_done()

        assert bms.state is ConfigEntryState.LOADED
        assert device(hass, bms).via_device_id is None
    assert MISSING_VIA not in caplog.text


async def test_link_chosen_before_the_bms_is_set_up(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """A BMS entry that has no device yet stores the link; its device gets it at setup."""
    async with served_entry(hass, request, "pi30", "pty") as inverter:
        bms = MockConfigEntry(
            domain=DOMAIN,
            title="Daly",
            unique_id="daly-later",
            data={
                CONF_CONNECTION: Connection.SERIAL,
                CONF_DEVICE: "/dev/ttyUSB8",
                CONF_PROTOCOL: "daly",
            },
            state=ConfigEntryState.NOT_LOADED,
        )
        bms.add_to_hass(hass)
        result = await hass.config_entries.options.async_init(bms.entry_id)
        assert offered(result) == {"none": "None", inverter.entry_id: inverter.title}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_INVERTER: inverter.entry_id}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert bms.options[CONF_INVERTER] == inverter.entry_id
        assert dr.async_get(hass).async_get_device({(DOMAIN, "daly-later")}) is None
