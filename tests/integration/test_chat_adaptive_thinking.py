"""Adaptive thinking through the real SDK and the emulator, sync and async: the default
where the capability table says the model takes it; off, a budget or adaptive on request;
the SDK's deprecation of budgets passed on as one warning per chat; thinking blocks sent
back unchanged; the emulator's 400s for thinking a model refuses."""

from __future__ import annotations

import warnings

import anthropic
import pytest
from chats import HAIKU, SONNET, ChatMaker, message_requests, sdk_client

from claudechat import ThinkingDeprecationWarning
from claudechat.errors import UserError
from claudechat.models import model_info
from claudechat.testing import Emulator

OPUS46 = "claude-opus-4-6"  # takes both; the SDK deprecates a budget on it
OPUS47 = "claude-opus-4-7"  # adaptive only


def _thinking(emu: Emulator) -> list[object]:
    return [r.body.get("thinking") for r in message_requests(emu)]


def test_the_capability_table_says_which_models_think_adaptively() -> None:
    assert model_info(SONNET).adaptive_thinking and model_info(SONNET).budget_thinking
    assert model_info(OPUS47).adaptive_thinking and not model_info(OPUS47).budget_thinking
    assert not model_info(HAIKU).adaptive_thinking and model_info(HAIKU).budget_thinking


def test_adaptive_thinking_is_the_default_where_the_model_takes_it(make_chat: ChatMaker) -> None:
    emu = Emulator()
    reply = make_chat(emu, SONNET).send("hello")
    assert _thinking(emu) == [{"type": "adaptive"}]
    assert reply.message.content[0]["type"] == "thinking"
    make_chat(emu, HAIKU).send("hello")  # takes a budget only: nothing is sent
    make_chat(emu, SONNET, temperature=0.2).send("hello")  # the API refuses both together
    make_chat(emu, SONNET, thinking="off").send("hello")
    make_chat(emu, HAIKU, thinking=2048, max_tokens=4096).send("hello")
    assert _thinking(emu)[1:] == [None, None, None, {"type": "enabled", "budget_tokens": 2048}]


def test_a_budget_the_sdk_deprecates_warns_once_per_chat(make_chat: ChatMaker) -> None:
    emu = Emulator()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chat = make_chat(emu, OPUS46, thinking=2048, max_tokens=4096)
        chat.send("one")
        chat.send("two")
    ours = [w for w in caught if issubclass(w.category, ThinkingDeprecationWarning)]
    assert [str(w.message) for w in ours] == [
        "thinking with a token budget is deprecated on claude-opus-4-6: use "
        "thinking='adaptive' (--thinking adaptive)"
    ]
    assert not [w for w in caught if "thinking.type=enabled" in str(w.message)]  # the SDK's
    assert _thinking(emu) == [{"type": "enabled", "budget_tokens": 2048}] * 2


def test_thinking_a_known_model_refuses_is_refused_before_sending(make_chat: ChatMaker) -> None:
    emu = Emulator()
    with pytest.raises(UserError, match="takes only adaptive thinking"):
        make_chat(emu, OPUS47, thinking=4096, max_tokens=8192)
    with pytest.raises(UserError, match="does not support adaptive thinking"):
        make_chat(emu, HAIKU, thinking="adaptive")
    with pytest.raises(UserError, match="at least 1024"):
        make_chat(emu, HAIKU, thinking=10)
    assert message_requests(emu) == []


def test_thinking_blocks_go_back_unchanged(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu, OPUS47, thinking="adaptive")
    chat.send("first")
    chat.send("second")
    kept = chat.history[1].content
    assert kept[0]["type"] == "thinking" and kept[0]["signature"]
    second = message_requests(emu)[1].body["messages"]
    assert second[1]["content"] == kept


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        (HAIKU, {"type": "adaptive"}, "adaptive thinking is not supported on this model"),
        (
            OPUS47,
            {"type": "enabled", "budget_tokens": 2048},
            '"thinking.type.enabled" is not supported for this model',
        ),
        (SONNET, {"type": "adaptive", "budget_tokens": 2048}, "Extra inputs are not permitted"),
        (SONNET, {"type": "sometimes"}, "does not match any of the expected tags"),
    ],
)
def test_the_emulator_answers_thinking_a_model_refuses_with_a_400(
    model: str, thinking: dict[str, object], message: str
) -> None:
    client = sdk_client(Emulator())
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.create(
            model=model,
            max_tokens=4096,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"thinking": thinking},
        )
    ok = client.messages.create(
        model=SONNET,
        max_tokens=1024,
        messages=[{"role": "user", "content": "hi"}],
        thinking={"type": "adaptive"},
    )
    assert ok.content[0].type == "thinking"
