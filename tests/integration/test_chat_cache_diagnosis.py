"""Cache diagnostics: opted in with the beta on every turn, the miss reason and the missed
tokens stored with each reply; Chat and AsyncChat through the SDK and the emulator."""

from __future__ import annotations

from chats import ChatMaker, message_requests, words

from claudechat.cache_misses import cache_misses
from claudechat.metadata import CACHE_MISS_REASON, CACHE_MISSED_TOKENS
from claudechat.models import model_info

SONNET = "claude-sonnet-4-6"
SYSTEM = "You are a careful assistant. " + words(900, 3)
BETA = "cache-diagnosis-2026-04-07"


def test_every_turn_opts_in_and_a_system_change_is_diagnosed(make_chat: ChatMaker) -> None:
    from claudechat.testing import Emulator

    emu = Emulator()
    chat = make_chat(emu, SONNET, system=SYSTEM)
    for i in range(3):
        chat.send(f"question {i}: " + words(20, i))
    chat.system = "A different prompt. " + words(900, 4)
    chat.send("after the change")
    requests = message_requests(emu)
    assert all(BETA in r.headers["anthropic-beta"].split(",") for r in requests)
    assert requests[0].body["diagnostics"] == {"previous_message_id": None}
    replies = [m for m in chat.history if m.role == "assistant"]
    for reply, request in zip(replies[1:], requests[1:], strict=True):
        previous = replies[replies.index(reply) - 1].metadata["api_id"]
        assert request.body["diagnostics"] == {"previous_message_id": previous}
    assert all(CACHE_MISS_REASON not in r.metadata for r in replies[:3])  # reused prefixes
    last = replies[-1]
    assert last.metadata[CACHE_MISS_REASON] == "system_changed"
    missed = last.metadata[CACHE_MISSED_TOKENS]
    assert missed > 900
    [miss] = cache_misses(chat.history)
    prices = model_info(SONNET).prices
    assert prices is not None
    assert miss.reason == "system_changed" and miss.missed_tokens == missed
    assert miss.cost_usd == missed * (prices.input - prices.cache_read) / 1_000_000


def test_unknown_models_get_no_beta(make_chat: ChatMaker) -> None:
    import warnings

    from claudechat.testing import Emulator

    emu = Emulator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chat = make_chat(emu, "claude-unlisted-9")
        chat.send("one")
        chat.send("two")
    first, second = message_requests(emu)
    assert "anthropic-beta" not in first.headers and "diagnostics" not in first.body
    assert "diagnostics" in second.body and "anthropic-beta" not in second.headers


def test_a_resumed_chat_is_diagnosed_against_the_stored_last_reply(make_chat: ChatMaker) -> None:
    from claudechat.store.memory import MemoryStore
    from claudechat.testing import Emulator

    emu, store = Emulator(), MemoryStore()
    chat = make_chat(emu, SONNET, system=SYSTEM, store=store)
    chat.send("one")
    chat.send("two")
    assert chat.id is not None
    again = make_chat.resume(chat.id, emu=emu, store=store, system="Another prompt. " + SYSTEM)
    again.send("three")
    last = message_requests(emu)[-1]
    assert last.body["diagnostics"] == {"previous_message_id": chat.history[-1].metadata["api_id"]}
    assert again.history[-1].metadata[CACHE_MISS_REASON] == "system_changed"
