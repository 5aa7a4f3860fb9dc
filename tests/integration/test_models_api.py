"""The Models API through the SDK and the emulator (sync and async): the list shape, its
paging, and claudechat's list of models built on it."""

from __future__ import annotations

import asyncio
from datetime import date

import anthropic
import pytest
from chats import sdk_client

from claudechat import ModelError
from claudechat.models.catalog import alist_models, list_models, table_models
from claudechat.testing import Emulator


def test_pages_follow_after_id_and_before_id() -> None:
    client = sdk_client(Emulator())
    first = client.models.list(limit=3)
    assert len(first.data) == 3 and first.has_more is True
    assert first.first_id == first.data[0].id and first.last_id == first.data[-1].id
    second = client.models.list(limit=3, after_id=first.last_id)
    assert second.data[0].id not in [m.id for m in first.data]
    back = client.models.list(limit=3, before_id=second.first_id)
    assert [m.id for m in back.data] == [m.id for m in first.data]
    everything = [m.id for m in client.models.list(limit=2)]  # the SDK follows the pages
    assert everything == [m.id for m in client.models.list(limit=100).data]
    assert len(everything) == len(set(everything)) == 16  # retired models left out
    dates = [m.created_at for m in client.models.list(limit=100).data]
    assert dates == sorted(dates, reverse=True)  # newest first
    with pytest.raises(anthropic.BadRequestError):
        client.models.list(limit=0)


def test_lifecycle_filter_and_one_model() -> None:
    client = sdk_client(Emulator())
    retired = client.models.list(lifecycle=["retired"]).data
    assert [m.id for m in retired] == ["claude-mythos-preview"]
    sonnet = client.models.retrieve("claude-sonnet-4-5")
    assert sonnet.lifecycle == "deprecated" and sonnet.line == "sonnet"
    assert sonnet.retires_at is not None and sonnet.retires_at.date() == date(2026, 11, 30)
    assert sonnet.max_input_tokens == 200_000 and sonnet.max_tokens == 64_000


@pytest.mark.parametrize("asynchronous", [False, True])
def test_claudechat_lists_the_api_models_with_the_tables_prices(asynchronous: bool) -> None:
    client = sdk_client(Emulator(), asynchronous=asynchronous)
    if asynchronous:
        listed = asyncio.run(alist_models(client, include_retired=True))
    else:
        listed = list_models(client, include_retired=True)
    by_id = {m.id: m for m in listed}
    assert len(listed) == 17 and all(m.source == "api" for m in listed)
    opus = by_id["claude-opus-5-5"]
    assert opus.context_window == 1_000_000 and opus.max_output == 128_000
    assert opus.prices is not None and (opus.prices.input, opus.prices.output) == (4, 20)
    assert by_id["claude-sonnet-4-5"].retires == date(2026, 11, 30)
    assert by_id["claude-mythos-preview"].lifecycle == "retired"


def test_a_server_without_the_models_api_fails_as_a_model_error() -> None:
    client = sdk_client(Emulator(), base_url="http://emulator/elsewhere")  # a 404 there
    with pytest.raises(ModelError):
        list_models(client)
    table = table_models(today=date(2026, 12, 1))
    assert "claude-sonnet-4-5" not in [m.id for m in table]  # retired by then
    assert all(m.source == "table" for m in table)
