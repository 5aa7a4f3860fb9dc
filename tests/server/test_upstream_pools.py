"""The service's upstream client: copies with connection pools of their own, a
conversation always on the same one; none for a client the embedding app gives."""

from __future__ import annotations

from typing import Any

from claudechat.server.app import UPSTREAM_POOLS, upstream_client, upstream_pools
from claudechat.server.settings import ServerSettings
from claudechat.server.state import ServerState
from claudechat.testing import offline_client

ENV = {"ANTHROPIC_API_KEY": "sk-ant-pools-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}


def _state(client: Any, pools: tuple[Any, ...]) -> ServerState:
    return ServerState(ServerSettings(), None, client, None, pools=pools)  # type: ignore[arg-type]


def test_a_built_upstream_gets_pools_of_its_own() -> None:
    settings = ServerSettings()
    client, emulated = upstream_client(settings, ENV)
    pools = upstream_pools(settings, client, emulated)
    assert len(pools) == UPSTREAM_POOLS
    assert len({id(p._client) for p in pools}) == UPSTREAM_POOLS  # one HTTP pool each
    assert all(id(p._client) != id(client._client) for p in pools)
    for pool in pools:
        assert (pool.api_key, str(pool.base_url), pool.max_retries) == (
            client.api_key,
            str(client.base_url),
            client.max_retries,
        )
    state = _state(client, pools)
    ids = [f"conversation-{n}" for n in range(200)]
    chosen = [state.client_for(cid) for cid in ids]
    assert chosen == [state.client_for(cid) for cid in ids]  # always the same copy
    assert len({id(c) for c in chosen}) == UPSTREAM_POOLS  # spread over all of them


def test_a_given_client_and_the_emulator_are_used_as_they_are() -> None:
    given = offline_client(asynchronous=True)
    settings = ServerSettings(client=given)
    client, emulated = upstream_client(settings, ENV)
    assert client is given and upstream_pools(settings, client, emulated) == ()
    assert _state(client, ()).client_for("any") is given
    plain = ServerSettings()
    client, emulated = upstream_client(plain, {})  # no key: the built-in emulator
    assert emulated and upstream_pools(plain, client, emulated) == ()
