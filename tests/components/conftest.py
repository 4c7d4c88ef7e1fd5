"""Fixtures for the tests that run the integration inside Home Assistant."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import AsyncMock, patch

import pytest

# Import the integration when pytest loads this conftest, before any test lets
# Home Assistant's loader import `custom_components`: the loader puts the plugin's
# testing_config/ first on sys.path, where `custom_components` is a regular (empty)
# package that would shadow this repository's custom_components/ folder.
import custom_components.mppsolar  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant's loader find the integrations in custom_components/."""


@pytest.fixture(autouse=True)
def auto_mock_bluetooth(mock_bluetooth: None) -> None:
    """Keep Home Assistant's Bluetooth stack off this machine's adapters.

    The integration depends on ``bluetooth_adapters``, so setting it up (or starting its config
    flow) sets up Bluetooth too: with the plugin's mocked adapter and scanner.
    """


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Make setting up (and so unloading) a created entry a no-op.

    Isolates a config flow test from the runtime, as Home Assistant core's flow tests do.
    """
    with (
        patch("custom_components.mppsolar.async_setup_entry", return_value=True) as mock,
        patch("custom_components.mppsolar.async_unload_entry", return_value=True),
    ):
        yield mock
