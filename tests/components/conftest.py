"""Fixtures for the tests that run the integration inside Home Assistant."""

from __future__ import annotations

import pytest

# Import the integration when pytest loads this conftest, before any test lets
# Home Assistant's loader import `custom_components`: the loader puts the plugin's
# testing_config/ first on sys.path, where `custom_components` is a regular (empty)
# package that would shadow this repository's custom_components/ folder.
import custom_components.mppsolar  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant's loader find the integrations in custom_components/."""
