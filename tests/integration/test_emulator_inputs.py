"""The emulator refuses what the API refuses: bad tool names, bad base64, deep JSON."""

from __future__ import annotations

import base64
import re
from typing import Any

import anthropic
import pytest

from claudechat.testing import Emulator

MODEL = "claude-sonnet-4-6"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
SCHEMA = {"type": "object", "properties": {}}


def _client(emu: Emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)


def _create(emu: Emulator, content: Any, **kw: Any) -> Any:
    with _client(emu) as client:
        return client.messages.create(
            model=MODEL, max_tokens=50, messages=[{"role": "user", "content": content}], **kw
        )


def _image(data: str, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


@pytest.mark.parametrize("name", ["bad name; rm -rf /", "../../etc/passwd", "", "x" * 129])
def test_a_bad_tool_name_is_a_400(name: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match=r"tools\.0\.custom\.name"):
        _create(Emulator(), "hi", tools=[{"name": name, "input_schema": SCHEMA}])


def test_a_good_tool_name_of_128_characters_is_accepted() -> None:
    reply = _create(Emulator(), "hi", tools=[{"name": "a-b_" + "c" * 124, "input_schema": SCHEMA}])
    assert reply.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        (_image("not base64!"), "content.0.image.source.base64.data: invalid base64 data"),
        (_image(""), "invalid base64 data"),
        (_image(PNG, "image/bmp"), "image.source.base64.media_type"),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "%%%"},
            },
            "content.0.document.source.base64.data: invalid base64 data",
        ),
    ],
)
def test_bad_base64_media_is_a_400(block: dict[str, Any], problem: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match=re.escape(problem)):
        _create(Emulator(), [block, {"type": "text", "text": "what is it?"}])


def test_bad_base64_inside_a_tool_result_is_a_400() -> None:
    emu = Emulator()
    messages = [
        {"role": "user", "content": "look"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [_image("@@")]}
            ],
        },
    ]
    tools = [{"name": "shot", "input_schema": SCHEMA}]
    with (
        _client(emu) as client,
        pytest.raises(
            anthropic.BadRequestError, match=r"content\.0\.tool_result\.content\.0\.image"
        ),
    ):
        client.messages.create(model=MODEL, max_tokens=50, messages=messages, tools=tools)  # type: ignore[arg-type]


def test_an_image_over_5_mb_of_base64_is_a_400() -> None:
    big = base64.b64encode(b"\x89PNG" + b"\x00" * (4 * 1024 * 1024)).decode()  # 5.3 MB of text
    with pytest.raises(anthropic.BadRequestError, match="image exceeds 5 MB maximum"):
        _create(Emulator(), [_image(big), {"type": "text", "text": "what?"}])


def test_a_valid_base64_image_is_accepted() -> None:
    assert _create(Emulator(), [_image(PNG), {"type": "text", "text": "what?"}]).content
