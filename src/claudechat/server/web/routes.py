"""The web chat's routes: the page, its assets, the Markdown preview, and what the page
needs to know of the service (``/v1/info``); and the security headers of every answer.

Assets are read once from the package. Their URLs carry a hash of their contents
(``/static/<hash>/app.js``), so they are cached for a year and a new release is fetched at
once; the page itself is revalidated each time (ETag).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth import Who
from ..bodies import RenderBody
from ..errors import ApiError
from ..render import code_css, render_markdown
from ..state import State

__all__ = ["CSP", "SECURITY_HEADERS", "SecurityHeaders", "install_web", "router"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_VERSION_MARK = "__ASSETS__"  # in index.html: replaced by /static/<hash>
YEAR = 365 * 24 * 3600

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page: its bytes, media type and ETag."""

    body: bytes
    media_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Assets:
    """The page's files by name, and the hash of them all (the URL's version)."""

    files: dict[str, Asset]
    version: str
    index: Asset


def _asset(name: str, body: bytes) -> Asset:
    suffix = name[name.rfind(".") :]
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, _TYPES.get(suffix, "application/octet-stream"), f'"{digest}"')


@cache
def assets() -> Assets:
    """The files of ``static/`` (and the generated code.css), read once."""
    folder = resources.files(__package__).joinpath("static")
    raw: dict[str, bytes] = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".")
    }
    raw["code.css"] = code_css().encode()
    page = raw.pop("index.html")
    whole = hashlib.sha256()
    for name in sorted(raw):
        whole.update(name.encode() + b"\0" + raw[name])
    version = whole.hexdigest()[:12]
    index = page.replace(_VERSION_MARK.encode(), f"/static/{version}".encode())
    files = {name: _asset(name, body) for name, body in raw.items()}
    return Assets(files, version, _asset("index.html", index))


def _answer(request: Request, asset: Asset, cache_control: str) -> Response:
    """The asset, or 304 when the browser's copy (If-None-Match) is current."""
    headers = {"etag": asset.etag, "cache-control": cache_control}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/", include_in_schema=False)
async def page(request: Request) -> Response:
    """The web chat (no auth to load it: it asks /v1/auth/session, then shows a login)."""
    return _answer(request, assets().index, "no-cache")


@router.get("/static/{version}/{name}", include_in_schema=False)
async def versioned_asset(version: str, name: str, request: Request) -> Response:
    """An asset under the current hash (cached for a year), or under an old one (served
    as it is now, not cached)."""
    found = assets()
    asset = found.files.get(name)
    if asset is None:
        raise ApiError(404, f"no asset {name!r}")
    current = version == found.version
    return _answer(request, asset, f"public, max-age={YEAR}, immutable" if current else "no-cache")


@router.get("/static/{name}", include_in_schema=False)
async def plain_asset(name: str, request: Request) -> Response:
    """An asset by its plain name (revalidated by ETag)."""
    asset = assets().files.get(name)
    if asset is None:
        raise ApiError(404, f"no asset {name!r}")
    return _answer(request, asset, "no-cache")


@router.get("/v1/info")
async def info(state: State) -> dict[str, Any]:
    """What the page shows before sign-in: whether replies come from the built-in
    emulator (no API key), the auth mode, whether search by meaning is on, and the
    defaults of new conversations."""
    settings = state.settings
    budget = settings.budget if isinstance(settings.budget, int) else None
    auth = "custom" if state.auth is not None else settings.auth_mode
    return {
        "emulator": state.emulated,
        "auth": auth,
        "semantic_search": state.embedder is not None,
        "defaults": {
            "model": settings.model,
            "strategy": settings.strategy,
            "budget": budget,
            "recall": settings.recall,
        },
    }


@router.post("/v1/render")
async def render(who: Who, body: RenderBody) -> dict[str, str]:
    """Text rendered as the chat shows a message (the streaming preview)."""
    return {"html": render_markdown(body.text)}


class SecurityHeaders:
    """ASGI middleware: the CSP, nosniff and referrer policy on every answer (streams
    pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                added = [(k, v) for k, v in self.extra if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_web(app: FastAPI) -> None:
    """Serve the page and its assets, and add the security headers to every answer."""
    for route in router.routes:
        app.router.routes.append(route)
    app.add_middleware(SecurityHeaders)
