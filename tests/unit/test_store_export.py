"""Export to JSON and Markdown, and the checks an import makes before storing anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claudechat.errors import InvalidImport
from claudechat.messages import assistant, user
from claudechat.store import (
    MemoryStore,
    Summary,
    export_conversation,
    export_json,
    export_markdown,
    import_conversation,
    import_file,
)
from claudechat.store.export import parse_import, title_from
from claudechat.usage import Usage


def _store_with_tools() -> tuple[MemoryStore, str]:
    store = MemoryStore()
    conv = store.create_conversation(title="Weather", model="claude-sonnet-4-6", system="Be brief.")
    u = user("What's the weather in Paris?")
    call = assistant(
        [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig"},
            {"type": "tool_use", "id": "tu1", "name": "weather", "input": {"city": "Paris"}},
        ],
        parent_id=u.id,
        model="claude-sonnet-4-6",
        usage=Usage(input_tokens=1000, output_tokens=50, cache_read_tokens=4000, requests=1),
    )
    result = user(
        [{"type": "tool_result", "tool_use_id": "tu1", "content": "18°C, sunny"}], parent_id=call.id
    )
    final = assistant("It is 18°C and sunny.", parent_id=result.id, model="claude-sonnet-4-6",
                      usage=Usage(input_tokens=1100, output_tokens=20, requests=1))  # fmt: skip
    for m in (u, call, result, final):
        store.append(conv.id, m)
    return store, conv.id


def test_markdown_is_readable() -> None:
    store, cid = _store_with_tools()
    md = export_markdown(store, cid)
    assert md.startswith("# Weather\n")
    assert "Be brief." in md and "<summary>System prompt</summary>" in md
    assert "## User\n\nWhat's the weather in Paris?" in md
    assert "## Assistant · claude-sonnet-4-6" in md
    assert "<details><summary>Thinking</summary>\n\nI should call the tool." in md
    assert '**Tool call** `weather` `{"city": "Paris"}`' in md
    assert "## Tool results\n\n**Tool result** `weather`\n\n```\n18°C, sunny\n```" in md
    assert "It is 18°C and sunny." in md
    footer = md.strip().splitlines()[-1]
    assert "4 messages, 1 turn" in footer
    assert "6,100 input tokens (4,000 read from cache, 0 written)" in footer
    assert "70 output tokens" in footer and "cost $" in footer


def test_markdown_marks_unknown_cost_and_interruptions() -> None:
    store = MemoryStore()
    conv = store.create_conversation()
    u = user("Hello")
    store.append(conv.id, u)
    store.append(conv.id, assistant("Hi, I was cut", parent_id=u.id, status="partial",
                                    model="my-local-model",
                                    usage=Usage(input_tokens=5, output_tokens=3, requests=1)))  # fmt: skip
    md = export_markdown(store, conv.id)
    assert md.startswith("# Conversation\n")
    assert "## Assistant · my-local-model · *interrupted*" in md
    assert "cost unknown" in md


def test_json_export_shape() -> None:
    store, cid = _store_with_tools()
    data = json.loads(export_json(store, cid))
    assert (data["format"], data["version"]) == ("claudechat", 1)
    assert data["conversation"]["id"] == cid and len(data["messages"]) == 4
    assert data["messages"][1]["content"][0]["signature"] == "sig"
    assert data["messages"][1]["usage"]["cache_read_tokens"] == 4000
    assert data["summaries"] == []


def test_plain_messages_array_imports() -> None:
    store = MemoryStore()
    plain = [
        {"role": "user", "content": "  \n  Explain   monads\nplease"},
        {"role": "assistant", "content": [{"type": "text", "text": "A monad is..."}]},
        {"role": "user", "content": "Shorter?"},
    ]
    conv = import_conversation(store, json.dumps(plain))
    branch = store.branch(conv.id)
    assert [m.to_api() for m in branch] == [
        {"role": "user", "content": [{"type": "text", "text": "  \n  Explain   monads\nplease"}]},
        plain[1],
        {"role": "user", "content": [{"type": "text", "text": "Shorter?"}]},
    ]
    assert conv.title == "Explain monads" and conv.head_id == branch[-1].id
    wrapped = import_conversation(store, {"model": "claude-haiku-4-5", "system": "S",
                                          "messages": plain})  # fmt: skip
    assert (wrapped.model, wrapped.system) == ("claude-haiku-4-5", "S")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"messages": [', r"not JSON: Expecting value at line 1, column 15"),
        ('[\n  {"role": "user",\n   "content": "hi"},\n  oops\n]', r"line 4, column 3"),
        (b"\xff\xfe\x00", r"not UTF-8 text \(byte 0\)"),
        ("42", r"expected a claudechat export or an Anthropic messages array"),
        ("[]", r"no messages to import"),
        ('{"messages": {"role": "user"}}', r"messages: expected an array, got an object"),
        ('[{"role": "system", "content": "x"}]', r"messages\[0\]\.role: must be 'user' or"),
        ('[{"role": "user"}]', r"messages\[0\]: no content"),
        ('[{"role": "user", "content": [1]}]', r"messages\[0\]\.content\[0\]: not a content block"),
        (
            '[{"role": "user", "content": 5}]',
            r"messages\[0\]\.content: expected an array, got an integer",
        ),
        (
            '[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},'
            ' {"role": "user", "content": "c"},'
            ' {"role": "assistant", "content": [{"type": "text", "text": ""}]}]',
            r"^import: messages\[3\]\.content\[0\]: empty text block$",
        ),
        ('[{"role": "assistant", "content": "hi"}]', r"messages\[0\]: the first message must"),
        (
            '[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]',
            r"messages\[1\]: two user messages in a row",
        ),
        (
            '[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]',
            r"messages\[0\]\.content\[0\]: orphaned tool_result",
        ),
        ('{"format": "other"}', r"unknown format 'other'"),
        ('{"format": "claudechat", "version": 7}', r"export version 7 is newer"),
        ('{"format": "claudechat", "version": 1}', r"conversation: expected an object, got null"),
    ],
)
def test_bad_files_say_what_and_where(data: Any, expected: str) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidImport, match=expected):
        import_conversation(store, data)
    assert store.list_conversations() == []


def _export() -> dict[str, Any]:
    store, cid = _store_with_tools()
    return export_conversation(store, cid)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["messages"][2].update(parent_id="ghost"), r"messages\[2\]\.parent_id: ghost"),
        (
            lambda d: d["messages"][3].update(id=d["messages"][0]["id"]),
            r"messages\[3\]\.id: .* twice",
        ),
        (lambda d: d["conversation"].update(head_id="ghost"), r"conversation\.head_id: ghost"),
        (lambda d: d["messages"][1].update(usage=[1]), r"messages\[1\]\.usage: expected an object"),
        (lambda d: d["messages"][1].update(status="odd"), r"messages\[1\]\.status: unknown"),
        (lambda d: d["messages"][0].pop("id"), r"messages\[0\]\.id: expected a string, got null"),
        (lambda d: d.update(summaries=[{"id": "s"}]), r"summaries\[0\]\.text: expected a string"),
        (
            lambda d: d["messages"][2]["content"][0].update(tool_use_id="other"),
            r"the active branch: message 2: block 0: orphaned tool_result",
        ),
        (
            lambda d: [
                m.update(parent_id=d["messages"][(i + 1) % 4]["id"])
                for i, m in enumerate(d["messages"])
            ],
            r"cycle",
        ),
    ],
)
def test_bad_exports_say_what_and_where(change: Any, expected: str) -> None:
    data = _export()
    change(data)
    with pytest.raises(InvalidImport, match=expected):
        parse_import(data)


def test_interrupted_tool_round_is_importable() -> None:
    """What Chat can leave after a crash (a tool_use without its result) must round-trip."""
    store = MemoryStore()
    conv = store.create_conversation()
    u = user("go")
    call = assistant([{"type": "tool_use", "id": "t", "name": "f", "input": {}}], parent_id=u.id)
    store.append(conv.id, u)
    store.append(conv.id, call)
    store.append(conv.id, user("never mind", parent_id=call.id))
    copy = import_conversation(MemoryStore(), export_conversation(store, conv.id))
    assert copy.id == conv.id


def test_import_file(tmp_path: Path) -> None:
    store = MemoryStore()
    path = tmp_path / "chat.json"
    path.write_text('[{"role": "user", "content": "hello"}]', encoding="utf-8")
    conv = import_file(store, path, title="Mine")
    assert conv.title == "Mine" and store.branch(conv.id)[0].text == "hello"
    with pytest.raises(InvalidImport, match=r"missing\.json: cannot read"):
        import_file(store, tmp_path / "missing.json")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(InvalidImport, match=r"chat\.json: not JSON"):
        import_file(store, path)


def test_summaries_travel_with_the_export() -> None:
    store, cid = _store_with_tools()
    msgs = store.all_messages(cid)
    store.add_summary(Summary("s1", cid, "Weather talk.", msgs[0].id, msgs[1].id, 5.0, tokens=3))
    other = MemoryStore()
    conv = import_conversation(other, export_json(store, cid))
    assert other.summaries(conv.id) == store.summaries(cid)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Hello there", "Hello there"),
        ("\n\n   first line  \nsecond", "first line"),
        ("a\tb   c", "a b c"),
        ("x" * 80, "x" * 59 + "…"),
        ("", ""),
    ],
)
def test_title_from(text: str, title: str) -> None:
    assert title_from(text) == title
