"""What keeps the web UI safe: the token, the same-origin check, the headers, JSON errors.

Reading (``GET``) is open to whoever can reach the server — by default only this machine.
Changing anything (every ``POST``) needs the token, sent as ``Authorization: Bearer <token>``
or ``X-MPPSolar-Token``, and a request that says where it comes from (``Origin``, else
``Referer``) must come from this server's own pages: another site open in the same browser
cannot make the browser send commands (it cannot read the token either). While the server is
not opened to the network (``allow_remote``), the ``Host`` header must name this machine too,
so a hostile page cannot reach it by rebinding its own DNS name to 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import contextlib
import hmac
import json
import logging
import os
from pathlib import Path
import secrets
import stat
import sys
from typing import Final, TextIO
from urllib.parse import urlsplit

from aiohttp import web

from mppsolar_lib.bridge.config import is_loopback

_LOGGER = logging.getLogger(__name__)

#: The token file's name, in the bridge's state (spool) directory.
TOKEN_FILE: Final = "web-token"
#: The header that carries the token when ``Authorization`` cannot be used.
TOKEN_HEADER: Final = "X-MPPSolar-Token"

#: Only our own files: no inline script, no other site's script, style, frame or connection.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Same-origin requests keep their Referer (the origin check may need it); others get none.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def resolve_token(configured: str | None, state_dir: Path, *, stream: TextIO | None = None) -> str:
    """Return the configured token, else the stored one, else a new one (stored and printed).

    A new token is written ``0600`` to ``<state_dir>/web-token`` and printed once, on
    ``stream`` (standard error): the one moment the user sees it without reading the file.
    """
    if configured:
        return configured
    path = state_dir / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            _LOGGER.warning("%s was readable by others: made 0600", path)
            path.chmod(0o600)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            _LOGGER.info("web UI token: in %s", path)
            return token
        path.unlink()
    token = secrets.token_urlsafe(32)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    print(
        f"web UI token (shown once; kept in {path}): {token}",
        file=stream if stream is not None else sys.stderr,
        flush=True,
    )
    return token


def json_error(status: int, reason: str, **extra: object) -> web.Response:
    """Return ``{"error": reason, "status": status}`` with ``status``."""
    body = {"error": reason, "status": status, **extra}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def own_origin(request: web.Request) -> str:
    """Return this server's origin as the browser sees it (``http://host:port``)."""
    return f"{request.scheme}://{request.host}".lower()


def origin_refusal(request: web.Request) -> str | None:
    """Return why the request's ``Origin``/``Referer`` is not ours (``None``: it is, or absent)."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return None
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin.lower() != own_origin(request):
        return f"cross-origin request from {origin!r} refused; only {own_origin(request)} may"
    return None


def host_name(request: web.Request) -> str:
    """Return the host the request was sent to, without port or brackets."""
    try:
        return urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        return ""


def token_of(request: web.Request) -> str | None:
    """Return the token the request carries (``Authorization: Bearer`` or the header)."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER)


def middlewares(token: str, *, allow_remote: bool) -> list[web.middleware]:  # type: ignore[valid-type]
    """Return the error, host, origin and token middlewares, outermost first."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as err:
            if err.status < 400:
                raise
            response = json_error(err.status, err.text or err.reason)
            if "Allow" in err.headers:
                response.headers["Allow"] = err.headers["Allow"]
            return response
        except Exception:
            _LOGGER.exception("web UI: %s %s failed", request.method, request.path)
            return json_error(500, "internal error (see the bridge's log)")

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allow_remote and not is_loopback(host_name(request)):
            return json_error(
                403, f"host {request.host!r} refused: the web UI is local only (allow_remote)"
            )
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return await handler(request)
        refusal = origin_refusal(request)
        if refusal is not None:
            return json_error(403, refusal)
        given = token_of(request)
        if given is None:
            return json_error(
                401,
                f"a token is needed to change anything: Authorization: Bearer <token> or "
                f"{TOKEN_HEADER}",
            )
        if not hmac.compare_digest(given.encode(), token.encode()):
            return json_error(401, "wrong token")
        return await handler(request)

    return [errors, guard]


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers to every response (``on_response_prepare``)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/stream")):
        response.headers.setdefault("Cache-Control", "no-store")
