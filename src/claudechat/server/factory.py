"""The app as uvicorn's workers build it: ``uvicorn --factory claudechat.server.factory:
app_from_env``. Everything comes from the environment (``claudechat serve`` sets it), so
each worker process opens its own store connection and builds the same app."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

from fastapi import FastAPI

from .app import create_app
from .chats import warm_up
from .request_log import log_to_stream
from .settings import ServerSettings

__all__ = ["STORE_ENV", "app_from_env"]

STORE_ENV = "CLAUDECHAT_SERVE_STORE"  # the store spec (a path, sqlite:///…, postgresql://…)


def app_from_env(env: Mapping[str, str] | None = None) -> FastAPI:
    """The service app configured from ``CLAUDECHAT_SERVE_*`` and the usual variables."""
    from ..store import open_store

    env = os.environ if env is None else env
    log_to_stream()  # the request log's JSON lines on stderr
    store = open_store(env.get(STORE_ENV) or None, env=env)
    settings = ServerSettings.from_env(env)
    app = create_app(store=store, settings=settings)
    warm_up(settings)
    # What start-up made (with what the first turn would load: warm_up) lives as long as
    # the worker: frozen out of the collector's way, a full collection walks only what the
    # turns made. Under load such a collection holds every stream of the worker; measured
    # with 100 users, pauses of 130-240 ms before the freeze, 50-120 ms with it but without
    # the warm-up. (Here, not in create_app: an app mounted in another's is not ours to
    # freeze.)
    gc.collect()
    gc.freeze()
    return app
