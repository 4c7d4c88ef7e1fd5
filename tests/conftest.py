"""Shared pytest configuration.

Also used by the library-only run on Python 3.11: never import homeassistant here.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI machines are small and shared: no per-example deadline there, and print the
# blob needed to reproduce a failure. Select another profile with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
