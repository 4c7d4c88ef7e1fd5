"""What ``scripts/develop --check`` reads of a running Home Assistant: no API, no user needed.

Loaded only in the check's throw-away configuration (``develop_probe:``). Every second it writes
``develop_probe.json`` in the configuration directory: Home Assistant's state, and for each MPP
Solar config entry its state and its entities (registry entry and current state).
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType

DOMAIN = "develop_probe"
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)
REPORT = "develop_probe.json"
INTERVAL = timedelta(seconds=1)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Write the report now and every second."""
    path = Path(hass.config.path(REPORT))

    async def write(_now: datetime | None = None) -> None:
        await hass.async_add_executor_job(_write, path, snapshot(hass))

    await write()
    async_track_time_interval(hass, write, INTERVAL, cancel_on_shutdown=True)
    return True


def snapshot(hass: HomeAssistant) -> dict[str, Any]:
    """Return Home Assistant's state and the MPP Solar entries with their entities."""
    registry = er.async_get(hass)
    entries = []
    for entry in hass.config_entries.async_entries("mppsolar"):
        entities = {}
        for item in er.async_entries_for_config_entry(registry, entry.entry_id):
            state = hass.states.get(item.entity_id)
            entities[item.entity_id] = {
                "enabled": item.disabled_by is None,
                "state": None if state is None else state.state,
                "unit": None if state is None else state.attributes.get("unit_of_measurement"),
            }
        entries.append(
            {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "state": entry.state.value,
                "reason": entry.reason,
                "entities": entities,
            }
        )
    return {"core": hass.state.value, "entries": entries}


def _write(path: Path, report: dict[str, Any]) -> None:
    """Replace ``path`` with ``report`` at once (a reader never sees half of it)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(report, indent=1), encoding="utf-8")
    temporary.replace(path)
