"""``claudechat serve``: the multi-user chat service under uvicorn."""

from __future__ import annotations

import ipaddress
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from .options import runtime_from, store_options

STOPPING_SECONDS = 10.0  # after the grace: the stopped turns store their partials, streams end

__all__ = ["COMMANDS", "banner", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (localhost, 127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def banner(*, url: str, store: str, auth: str, emulated: bool, workers: int) -> str:
    """The one line ``serve`` prints: where it listens, the store, the auth mode, and
    whether replies are simulated. Never a key."""
    from ..config import redact

    parts = [f"store {redact(store)}", f"auth {auth}"]
    if workers > 1:
        parts.append(f"{workers} workers")
    if emulated:
        parts.append("emulator (no API key)")
    return f"claudechat serving on {url} ({', '.join(parts)})"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker processes (share a PostgreSQL store for more than one machine).")  # fmt: skip
@click.option("--no-auth", is_flag=True,
              help="Every request is the local user (a loopback address only).")  # fmt: skip
@store_options
def serve(host: str, port: int, workers: int, no_auth: bool, **params: Any) -> None:
    """Run the chat service: the HTTP API with streamed replies, for many users."""
    from ..errors import UserError

    if no_auth and not is_loopback(host):
        raise UserError(f"--no-auth serves anyone who can reach {host}: use a loopback "
                        "address (127.0.0.1) or builtin auth")  # fmt: skip
    with runtime_from(params) as runtime:
        from .api_key import env_key

        env_key(runtime.env)  # a blank or padded upstream key: refused before serving
        spec = runtime.settings.store or runtime.settings.db or ""
        store = runtime.store()
        if not no_auth:
            _require_credentials(store)
        label = spec or str(getattr(store, "path", "default"))
    env = _serve_env(spec, no_auth)
    os.environ.update(env)
    from ..server.semantic import semantic_embedder
    from ..server.settings import ServerSettings

    settings = ServerSettings.from_env()  # a bad CLAUDECHAT_SERVE_* setting: refused now
    semantic_embedder(settings.semantic)  # and search by meaning without its extra
    emulated = not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"))
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    click.echo(banner(url=url, store=label, auth="none" if no_auth else "builtin",
                      emulated=emulated, workers=workers), err=True)  # fmt: skip
    import uvicorn

    # The turns get the grace from the termination signal, then are stopped; their streams
    # then end with their usage, message and done: the open responses get that long and
    # STOPPING_SECONDS more before uvicorn cuts them.
    grace = settings.shutdown_grace_seconds
    with _shared_metrics(workers):
        uvicorn.run("claudechat.server.factory:app_from_env", factory=True, host=host,
                    port=port, workers=workers, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=math.ceil(grace + STOPPING_SECONDS))  # fmt: skip


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory for prometheus-client's multiprocess mode
    (removed at the end), so that /metrics answers the service's totals from any worker; a
    PROMETHEUS_MULTIPROC_DIR already set is used as it is."""
    from ..server.metrics import MULTIPROCESS_ENV

    if workers == 1 or os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="claudechat-metrics-") as directory:
        os.environ[MULTIPROCESS_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_ENV]


def _serve_env(spec: str, no_auth: bool) -> dict[str, str]:
    from ..server.factory import STORE_ENV

    env = {"CLAUDECHAT_SERVE_AUTH": "none" if no_auth else "builtin"}
    if spec:
        env[STORE_ENV] = spec
    return env


def _require_credentials(store: Any) -> None:
    """Builtin auth with no user able to sign in would refuse every request: say what to do."""
    from ..errors import UserError

    users = store.list_users()
    keys = [k for k in store.list_api_keys() if k.revoked_at is None]
    if not keys and not any(u.has_password for u in users):
        raise UserError("no user can sign in: create one with 'claudechat users add NAME "
                        "--password-stdin' or 'claudechat keys create NAME', or serve "
                        "locally with --no-auth")  # fmt: skip


COMMANDS = (serve,)
