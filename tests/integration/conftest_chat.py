"""Helpers for the conversation tests: chats on the real SDK over the emulator's transport."""

from __future__ import annotations

import random
from typing import Any

import anthropic

from claudechat import AsyncChat, Chat, validate
from claudechat.models import known_models, model_info
from claudechat.store.memory import MemoryStore
from claudechat.testing import Emulator, RecordedRequest

SONNET = "claude-sonnet-4-6"  # refuses prefill
HAIKU = "claude-haiku-4-5"  # accepts prefill
# Models are picked by what they can do, never by a name that will retire: the models that
# accept prefill and have no retirement date.
PREFILL_MODELS = [
    name for name in known_models() if model_info(name).prefill and model_info(name).retires is None
]

_WORDS = ["amber", "river", "stone", "cloud", "quartz", "maple", "signal", "harbor", "copper"]


def client(emu: Emulator) -> anthropic.Anthropic:
    """A real SDK client whose HTTP goes to the emulator (no retries: faults surface)."""
    return anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)


def async_client(emu: Emulator) -> anthropic.AsyncAnthropic:
    """The async twin of ``client``."""
    return anthropic.AsyncAnthropic(api_key="t", http_client=emu.async_http_client(), max_retries=0)


def make_chat(emu: Emulator, model: str = SONNET, **kw: Any) -> Chat:
    """A Chat over the emulator, in memory unless ``store`` is given."""
    kw.setdefault("store", MemoryStore())
    return Chat(model, client=client(emu), **kw)


def make_async_chat(emu: Emulator, model: str = SONNET, **kw: Any) -> AsyncChat:
    """An AsyncChat over the emulator."""
    kw.setdefault("store", MemoryStore())
    return AsyncChat(model, client=async_client(emu), **kw)


def message_requests(emu: Emulator) -> list[RecordedRequest]:
    """The /v1/messages requests the emulator received (count_tokens left out)."""
    return [r for r in emu.requests if r.path == "/v1/messages"]


def text_of_message(message: dict[str, Any]) -> str:
    """The text blocks of an API message, joined (tool and thinking blocks left out)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def sent_roles_and_texts(request: RecordedRequest) -> list[tuple[str, str]]:
    """(role, text) of every message of a recorded request."""
    return [(m["role"], text_of_message(m)) for m in request.body["messages"]]


def assert_valid_request(
    request: RecordedRequest, *, prefill_allowed: bool = False, body: Any = None
) -> None:
    """What the API checks: a valid history, ending with the user unless prefill is allowed."""
    messages = (body or request.body)["messages"]
    if prefill_allowed and messages[-1]["role"] == "assistant":
        validate(messages[:-1])
    else:
        validate(messages)
        assert messages[-1]["role"] == "user", "a request must end with a user message"


def words(n: int, seed: int) -> str:
    """``n`` varied words (repeated words would count as too few tokens)."""
    rnd = random.Random(seed)
    return " ".join(f"{rnd.choice(_WORDS)}{rnd.randint(0, 99)}" for _ in range(n))
