"""The default budget: 200,000 input tokens per request, lifted with budget="max"."""

from __future__ import annotations

import pytest
from chats import ChatMaker, message_requests, sent_roles_and_texts, words

from claudechat import UserError
from claudechat.context.engine import DEFAULT_BUDGET
from claudechat.testing import Emulator


def _long_talk(make_chat: ChatMaker, budget: object = None) -> tuple[list[int], list[int]]:
    """Three ~72,000-token prompts on a 1M-window model: (user turns sent, input tokens)."""
    emu = Emulator(reply=lambda request: "ok")
    kw = {} if budget is None else {"budget": budget}
    chat = make_chat(emu, **kw)
    turns, tokens = [], []
    for i in range(3):
        reply = chat.send(f"part {i}: " + words(36_000, i))
        sent = sent_roles_and_texts(message_requests(emu)[-1])
        turns.append(sum(1 for role, _ in sent if role == "user"))
        tokens.append(reply.usage.total_input_tokens)
    return turns, tokens


def test_a_long_conversation_on_a_1m_window_stays_within_the_default_budget(
    make_chat: ChatMaker,
) -> None:
    turns, tokens = _long_talk(make_chat)
    assert max(tokens) <= DEFAULT_BUDGET == 200_000
    assert turns == [1, 2, 1]  # the oldest turns left the window at the third


def test_budget_max_sends_the_whole_conversation(make_chat: ChatMaker) -> None:
    turns, tokens = _long_talk(make_chat, "max")
    assert turns == [1, 2, 3]
    assert tokens[-1] > DEFAULT_BUDGET


@pytest.mark.parametrize("budget", [0, -5, "lots", 2.5, True])
def test_a_bad_budget_is_a_user_error(make_chat: ChatMaker, budget: object) -> None:
    with pytest.raises(UserError, match='budget must be a positive number of tokens or "max"'):
        make_chat(Emulator(), budget=budget)
