"""The stream fold (models/_stream.py) against the SDK's own ``messages.stream`` helper: over
the same recorded server-sent events, the same final message, the same text and thinking
pieces, the same errors."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import anthropic
import httpx2
import pytest

from claudechat.errors import BadResponse, StreamInterrupted
from claudechat.models._stream import LineSplitter, SSEReader
from claudechat.models.anthropic import AnthropicModel, to_response
from claudechat.models.base import Done, Request, TextDelta, ThinkingDelta, UsageSoFar
from claudechat.testing import Emulator, EmuReply, Fault, sign_thinking

MODEL = "claude-sonnet-4-6"
THOUGHT = "Weigh the two paths; the second is shorter."

REPLIES: list[Any] = [
    "plain words, then more words",
    [{"type": "thinking", "thinking": THOUGHT, "signature": sign_thinking(THOUGHT)},
     {"type": "text", "text": "After thinking: the second path."}],
    EmuReply([{"type": "text", "text": "Let me look."},
              {"type": "tool_use", "id": "toolu_01", "name": "lookup",
               "input": {"query": "zebra", "limit": 3, "deep": {"a": [1, 2]}}}],
             stop_reason="tool_use"),
    [{"type": "text", "text": "é ü 漢字 🙂 and \"quotes\"\nnew line"}],
]  # fmt: skip


def _request(**kw: Any) -> Request:
    return Request(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        **kw,
    )


def _sdk(emu: Emulator, request: Request) -> tuple[list[str], list[str], Any]:
    """Text and thinking pieces and the final message, through the SDK's helper."""
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    body = request.to_api()
    texts: list[str] = []
    thoughts: list[str] = []
    with client.beta.messages.stream(**body, betas=list(request.betas) or ["x"]) as stream:
        for event in stream:
            if event.type == "text":
                texts.append(event.text)
            elif event.type == "thinking":
                thoughts.append(event.thinking)
        return texts, thoughts, stream.get_final_message()


def _ours(emu: Emulator, request: Request) -> tuple[list[str], list[str], Any, list[Any]]:
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    events = list(AnthropicModel(MODEL, client=client).stream(request))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    thoughts = [e.text for e in events if isinstance(e, ThinkingDelta)]
    done = events[-1]
    assert isinstance(done, Done)
    return texts, thoughts, done.response, events


@pytest.mark.parametrize("reply", REPLIES, ids=["text", "thinking", "tool_use", "unicode"])
@pytest.mark.parametrize("beta", [False, True])
def test_the_fold_gives_what_the_sdk_helper_gives(reply: Any, beta: bool) -> None:
    emu = Emulator(script=[reply, reply])
    request = _request(betas=("context-management-2025-06-27",) if beta else ())
    texts, thoughts, final = _sdk(emu, request)
    our_texts, our_thoughts, response, events = _ours(emu, request)
    assert (our_texts, our_thoughts) == (texts, thoughts)
    assert len(texts) > 1 and bool(thoughts) == (reply is REPLIES[1])  # streamed piecewise
    expected = to_response(final)
    assert response.content == expected.content
    assert (response.stop_reason, response.usage, response.model) == (
        expected.stop_reason,
        expected.usage,
        expected.model,
    )
    usages = [e for e in events if isinstance(e, UsageSoFar)]
    assert usages and usages[-1].usage == expected.usage  # message_start, then message_delta


def test_the_snapshot_class_the_sdk_subscripts_is_not_built_again_after_a_collection() -> None:
    """The SDK subscripts ``ParsedBetaMessage[ResponseFormatT]`` at every beta reply's start
    (the service's replies are beta); once a reply has been folded, that class outlives a
    garbage collection, so the next reply finds it in pydantic's cache instead of building
    it again."""
    from anthropic.lib.streaming import _beta_messages

    _ours(Emulator(script=["one two three"]), _request(betas=("context-management-2025-06-27",)))
    generic: Any = _beta_messages.ParsedBetaMessage
    kept = weakref.ref(generic[_beta_messages.ResponseFormatT])
    gc.collect()
    assert kept() is not None and kept() is generic[_beta_messages.ResponseFormatT]


def test_an_error_event_mid_stream_is_the_sdks_error_with_the_partial_reply() -> None:
    emu = Emulator(script=["one two three four five six"])
    emu.inject(Fault.midstream_error(after_events=4))
    with pytest.raises(StreamInterrupted) as info:
        list(_model(emu).stream(_request()))
    err = info.value
    assert err.error_type == "overloaded_error"
    assert isinstance(err.__cause__, anthropic.APIStatusError)
    assert err.partial is not None and err.partial.content[0]["text"].startswith("one")


def test_a_stream_that_is_not_messages_events_is_a_bad_response() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        body = b'event: hello\ndata: {"type": "nothing_we_know"}\n\n'
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.Anthropic(api_key="t", max_retries=0,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))  # fmt: skip
    with pytest.raises((BadResponse, StreamInterrupted)):
        list(AnthropicModel(MODEL, client=client).stream(_request()))


def test_the_reader_splits_events_as_the_sse_format_says() -> None:
    reader = SSEReader()
    lines = [": a comment", "event: one", 'data: {"a":', "data: 1}", "", "", "data:x", "event:two"]
    out = [sse for line in lines if (sse := reader.line(line)) is not None]
    assert out == [("one", '{"a":\n1}')]
    assert reader.flush() == ("two", "x")  # the stream ended without a blank line
    assert reader.flush() is None


def _model(emu: Emulator) -> AnthropicModel:
    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    return AnthropicModel(MODEL, client=client)


def _body(reply: Any) -> bytes:
    """The emulator's whole SSE body for ``reply``, as bytes."""
    client = anthropic.Anthropic(api_key="t", http_client=Emulator(script=[reply]).http_client(),
                                 max_retries=0)  # fmt: skip
    with client.messages.with_streaming_response.create(**_request().to_api(), stream=True) as r:
        return r.http_response.read()


def _served(body: bytes, pieces: int | None) -> AnthropicModel:
    """A model whose server answers ``body``, in pieces of ``pieces`` bytes (whole: None)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        size = pieces or len(body)
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               content=iter(parts))  # fmt: skip

    client = anthropic.Anthropic(api_key="t", max_retries=0,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))  # fmt: skip
    return AnthropicModel(MODEL, client=client)


@pytest.mark.parametrize("breaks", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("pieces", [1, 3, None])
def test_a_body_cut_anywhere_with_any_line_break_folds_the_same(
    breaks: str, pieces: int | None
) -> None:
    """The body is cut into lines here, not by the HTTP client: pieces of one byte (a
    multi-byte character and a CRLF cut in two) and the three line breaks of the SSE format
    give the same events and the same final message as the whole body with LF."""
    body = _body(REPLIES[3])
    assert "\r" not in body.decode() and "🙂".encode() in body
    expected = list(_served(body, None).stream(_request()))
    got = list(_served(body.replace(b"\n", breaks.encode()), pieces).stream(_request()))
    texts = [e.text for e in got if isinstance(e, TextDelta)]
    assert texts == [e.text for e in expected if isinstance(e, TextDelta)] and len(texts) > 1
    assert "".join(texts) == REPLIES[3][0]["text"]
    assert isinstance(got[-1], Done) and isinstance(expected[-1], Done)
    assert got[-1].response == expected[-1].response


def test_the_splitter_keeps_a_last_line_without_its_break() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"event: one\r") == []  # a CR at the end may start a CRLF
    assert splitter.feed(b"\ndata: \xe6\xbc") == ["event: one"]
    assert splitter.feed(b"\xa2\r\r") == ["data: 漢"]
    assert splitter.feed(b"data: x") == [""]
    assert splitter.end() == ["data: x"] and splitter.end() == []
