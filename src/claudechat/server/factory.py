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

__all__ = ["STORE_ENV", "YOUNG_COLLECTION_THRESHOLD", "app_from_env", "collect_young_less_often"]

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
    collect_young_less_often()
    return app


YOUNG_COLLECTION_THRESHOLD = 7_000  # Python's default: 700


def collect_young_less_often() -> None:
    """Let the collector's youngest generation grow to ``YOUNG_COLLECTION_THRESHOLD``
    objects before it is collected (a threshold already higher is kept). Every collection
    holds the whole worker, its streams included, and a turn makes many objects that its
    own end frees: at Python's 700, a worker serving 100 users (1,000 turns) paused some
    215 times for the youngest generation and 20 times for the next (4 ms each), 250 ms
    in all, enough to reach one turn in a hundred as it opened; at 7,000, 8 pauses of 4 ms
    on average, 32 ms in all. What a collection finds is freed a little later; memory per
    open stream did not change."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_THRESHOLD), *older)
