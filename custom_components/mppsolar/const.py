"""Constants for the MPP Solar integration."""

from typing import Final

DOMAIN: Final = "mppsolar"
