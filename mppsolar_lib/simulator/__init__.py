"""Virtual devices of every family, for demos, tests and development without hardware."""

from __future__ import annotations

from mppsolar_lib.simulator.base import Simulator

__all__ = ["Simulator"]
