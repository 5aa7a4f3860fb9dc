"""Bad input: a clear, typed error or a documented fallback, and nothing said is lost."""

from __future__ import annotations

from typing import Any

import pytest
from chats import ChatMaker, assert_valid_request, message_requests

from claudechat import AuthError, BadResponse, Chat, UserError, validate
from claudechat.models.capabilities import UnknownModelWarning
from claudechat.testing import Emulator, EmuRequest, Fault


def _said(chat: Chat) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in chat.history]


@pytest.mark.parametrize(
    "prompt",
    ["", "   \n\t ", 42, None, {"text": "hi"}, [], [{"type": "text", "text": " "}], ["hi"]],
)
def test_a_bad_prompt_is_a_user_error_sent_nowhere_and_stored_nowhere(
    make_chat: ChatMaker, prompt: Any
) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    chat.send("hello")
    before = _said(chat)
    with pytest.raises(UserError):
        chat.send(prompt)
    with pytest.raises(UserError):
        chat.stream(prompt)
    assert len(emu.requests) == 1
    assert _said(chat) == before
    chat.send("still here")
    assert_valid_request(message_requests(emu)[-1])


@pytest.mark.parametrize("max_tokens", [0, -1, 2.5, "100", None, True])
def test_max_tokens_must_be_a_positive_integer(make_chat: ChatMaker, max_tokens: Any) -> None:
    emu = Emulator()
    with pytest.raises(UserError, match="max_tokens"):
        make_chat(emu, max_tokens=max_tokens)
    assert emu.requests == []


def test_an_unknown_model_warns_has_no_cost_and_still_works(make_chat: ChatMaker) -> None:
    emu = Emulator()
    with pytest.warns(UnknownModelWarning, match="claude-nova-9"):
        chat = make_chat(emu, "claude-nova-9")
    reply = chat.send("hi")
    assert reply.text.startswith("Emulator reply #1")
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.cost_usd is None  # unknown, never zero
    assert chat.cost_usd is None
    assert message_requests(emu)[0].body["model"] == "claude-nova-9"


def test_an_empty_model_name_is_a_user_error(make_chat: ChatMaker) -> None:
    with pytest.raises(UserError):
        make_chat(model="  ")


def test_a_tool_that_raises_is_reported_to_claude_not_to_the_caller(make_chat: ChatMaker) -> None:
    def explode(what: str) -> str:
        """Always fails."""
        raise RuntimeError(f"cannot {what}")

    def model(request: EmuRequest) -> Any:
        last = request.messages[-1]["content"]
        results = [b for b in last if b.get("type") == "tool_result"]
        if results:
            return f"The tool failed: {results[0]['content']}"
        return [{"type": "tool_use", "name": "explode", "input": {"what": "fly"}}]

    emu = Emulator(reply=model)
    chat = make_chat(emu, tools=make_chat.tools(explode))
    reply = chat.send("try it")
    assert reply.text == "The tool failed: RuntimeError: cannot fly"
    result = chat.history[2].content[0]
    assert result["is_error"] is True and result["content"] == "RuntimeError: cannot fly"
    validate(chat.messages)


def test_a_tool_returning_something_json_cannot_carry_is_an_error_result(
    make_chat: ChatMaker,
) -> None:
    def handle() -> Any:
        """Returns a Python object."""
        return {"socket": object()}

    emu = Emulator(
        reply=lambda r: (
            "ok"
            if r.messages[-1]["content"][0].get("type") == "tool_result"
            else [{"type": "tool_use", "name": "handle", "input": {}}]
        )
    )
    chat = make_chat(emu, tools=[handle])
    assert chat.send("go").text == "ok"
    result = chat.history[2].content[0]
    assert result["is_error"] is True
    assert "not JSON-serialisable" in result["content"]
    assert_valid_request(message_requests(emu)[-1])


def test_a_wrong_api_key_is_an_auth_error_with_status_401_and_the_prompt_is_kept(
    make_chat: ChatMaker,
) -> None:
    emu = Emulator(api_key="right")
    chat = make_chat(client=make_chat.client(emu, api_key="wrong"))
    with pytest.raises(AuthError) as info:
        chat.send("hello?")
    assert info.value.status == 401
    assert "x-api-key" in str(info.value)
    assert _said(chat) == [("user", "hello?")]
    # With the right key the same conversation continues.
    right = make_chat.client(emu, api_key="right")
    resumed = make_chat.resume(chat.id or "", store=chat.store, client=right)
    assert resumed.send("again").text.startswith("Emulator reply")
    assert [m.text for m in resumed.history if m.role == "user"] == ["hello?", "again"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_answering_garbage_is_a_bad_response(make_chat: ChatMaker, stream: bool) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    chat.send("one")
    emu.inject(Fault.garbage())
    with pytest.raises(BadResponse):
        if stream:
            list(chat.stream("two"))
        else:
            chat.send("two")
    assert _said(chat)[-1] == ("user", "two")
    chat.send("three")
    assert_valid_request(message_requests(emu)[-1])
    assert [m.text for m in chat.history if m.role == "user"] == ["one", "two", "three"]


def test_a_bad_model_object_is_a_user_error(make_chat: ChatMaker) -> None:
    with pytest.raises(UserError):
        make_chat(model=object())


def test_editing_a_reply_or_an_unknown_id_is_refused(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    reply = chat.send("hi")
    with pytest.raises(UserError):
        chat.edit(reply.id, "changed")
    with pytest.raises(KeyError):
        chat.edit("no-such-id", "changed")
    with pytest.raises(UserError):
        make_chat(emu).retry()
    assert _said(chat) == [("user", "hi"), ("assistant", reply.text)]
