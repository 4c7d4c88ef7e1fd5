"""The web UI: live values, history charts and settings, served by the bridge daemon.

``create_app(bridge, settings)`` builds the aiohttp application; ``WebServer`` runs it for the
daemon (``--web HOST:PORT``). See ``docs/web.md``.
"""

from __future__ import annotations

from mppsolar_lib.web.app import WebServer, WebSettings, create_app

__all__ = ["WebServer", "WebSettings", "create_app"]
