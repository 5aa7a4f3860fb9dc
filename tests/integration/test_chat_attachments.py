"""Attachments through the real SDK and the emulator, sync and async: refused locally
before anything is stored or sent, stored once however many messages carry them (memory,
SQLite, PostgreSQL), resent from the store after a restart, counted in the budget, and
sent through the Files API with an inline fallback when the file is gone."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chats import ChatMaker
from test_store_contract import KINDS, make_store

import claudechat
from claudechat.errors import AttachmentRejected
from claudechat.metadata import ATTACHMENT_FILES, ATTACHMENTS
from claudechat.store.base import Store
from claudechat.store.export import export_json, import_conversation
from claudechat.store.memory import MemoryStore
from claudechat.store.sqlite import SQLiteStore
from claudechat.testing import Emulator, count_tokens_text, sample_pdf, sample_png
from claudechat.tokens import PDF_PAGE_TOKENS

SRC = Path(claudechat.__file__).parent.parent


@pytest.fixture(params=KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


def _messages(emu: Emulator) -> list[dict[str, Any]]:
    return [r.body for r in emu.requests if r.path == "/v1/messages"]


def _blocks(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for m in body["messages"] for b in m["content"] if b.get("type") == kind]


def _rows(store: Store, sql: str) -> Any:
    if isinstance(store, SQLiteStore):
        return store._db().execute(sql).fetchall()
    with store._tx("test") as db:  # type: ignore[attr-defined]
        return db.execute(sql).fetchall()


# --- refused locally --------------------------------------------------------------------


def test_a_10_mb_pdf_over_the_page_limit_is_refused_before_anything_is_stored_or_sent(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator()
    store = MemoryStore()
    chat = make_chat(emu, store=store)
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(sample_pdf(120, size=10 * 1024 * 1024))
    with pytest.raises(AttachmentRejected) as info:
        chat.send("Summarise this", attachments=[pdf])
    assert info.value.limit == "pages" and info.value.name == "scan.pdf"
    assert emu.requests == [] and store.list_conversations() == []


def test_10_mb_pdfs_over_the_request_size_are_refused_before_anything_is_stored_or_sent(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator()
    store = MemoryStore()
    chat = make_chat(emu, store=store)
    pdfs = []
    for i in range(3):
        pdfs.append(tmp_path / f"part{i}.pdf")
        pdfs[-1].write_bytes(sample_pdf(2, size=10 * 1024 * 1024, text=f"part {i}"))
    chat.send("Part one", attachments=[pdfs[0]])
    chat.send("Part two", attachments=[pdfs[1]])  # two of them still fit a 32 MB request
    sent, stored = len(emu.requests), len(store.all_messages(chat.id))
    with pytest.raises(AttachmentRejected) as info:
        chat.send("Part three", attachments=[pdfs[2]])
    assert info.value.limit == "request" and info.value.name == "part2.pdf"
    assert len(emu.requests) == sent and len(store.all_messages(chat.id)) == stored
    assert len(_blocks(_messages(emu)[-1], "document")) == 2


def test_a_file_that_is_no_image_nor_pdf_is_refused_by_its_bytes(
    make_chat: ChatMaker, tmp_path: Path
) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    fake = tmp_path / "chart.png"
    fake.write_text("<svg/>")
    with pytest.raises(AttachmentRejected, match=r"chart\.png is not a PNG"):
        chat.send("What does it show?", attachments=[fake])
    assert emu.requests == [] and chat.id is None


# --- stored once, resent -----------------------------------------------------------------


def test_the_same_image_in_100_messages_is_stored_once(
    make_chat: ChatMaker, any_store: Store
) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=any_store)
    image = sample_png(120, 90)
    for i in range(100):
        chat.send(f"Look again ({i})", attachments=[image])
    assert any_store.blob_count() == 1  # type: ignore[attr-defined]
    if not isinstance(any_store, MemoryStore):
        assert _rows(any_store, "SELECT count(*) FROM blobs") == [(1,)]
        assert _rows(any_store, "SELECT count(*) FROM message_blobs") == [(100,)]
        text = "content" if isinstance(any_store, SQLiteStore) else "content::text"
        longest = _rows(any_store, f"SELECT max(length({text})) FROM messages")
        assert longest[0][0] < 400  # a reference, not the image, in every row
    last = _messages(emu)[-1]
    images = _blocks(last, "image")
    assert len(images) == 100  # every user message still carries it
    assert {base64.b64decode(b["source"]["data"]) for b in images} == {image}
    history = any_store.branch(chat.id)
    assert all(m.content[0]["source"]["data"] == images[0]["source"]["data"]
               for m in history if m.role == "user")  # fmt: skip
    assert history[0].metadata[ATTACHMENTS][0]["media_type"] == "image/png"


def test_deleting_the_last_conversation_using_an_attachment_deletes_it(any_store: Store) -> None:
    emu = Emulator()
    first = ChatMaker("sync")(emu, store=any_store)
    second = ChatMaker("sync")(emu, store=any_store)
    first.send("one", attachments=[sample_png(10, 10)])
    second.send("two", attachments=[sample_png(10, 10)])
    any_store.delete_conversation(first.id)
    assert any_store.blob_count() == 1  # type: ignore[attr-defined]
    assert second.history[0].content[0]["type"] == "image"
    any_store.delete_conversation(second.id)
    assert any_store.blob_count() == 0  # type: ignore[attr-defined]


_RESUME = """
import base64, json, sys
import anthropic
from claudechat import Chat
from claudechat.testing import Emulator

kind, where, cid = sys.argv[1:]
if kind == "sqlite":
    from claudechat.store.sqlite import SQLiteStore as Store
else:
    from claudechat.store.postgres import PostgresStore as Store
emu = Emulator()
client = anthropic.Anthropic(api_key="k", http_client=emu.http_client(), max_retries=0)
chat = Chat.resume(cid, store=Store(where), client=client)
chat.send("And what colour was it?")
body = emu.requests[-1].body
images = [b for m in body["messages"] for b in m["content"] if b["type"] == "image"]
print(json.dumps([b["source"] for b in images]))
"""


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_conversation_resumed_in_a_new_process_resends_its_attachments(
    make_chat: ChatMaker, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        where = str(tmp_path / "chat.db")
        store: Store = SQLiteStore(where)
    else:
        from claudechat.store.postgres import PostgresStore

        where = request.getfixturevalue("pg_new_database")()
        store = PostgresStore(where)
    emu = Emulator()
    image = sample_png(64, 64, shade=200)
    chat = make_chat(emu, store=store)
    chat.send("What is this?", attachments=[image])
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", _RESUME, kind, where, chat.id],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    [source] = json.loads(out.stdout)
    assert source["media_type"] == "image/png"
    assert base64.b64decode(source["data"]) == image
    store.close()


def test_export_and_import_carry_attachments(make_chat: ChatMaker, any_store: Store) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=any_store)
    chat.send("Two files", attachments=[sample_png(30, 30), sample_pdf(2)])
    exported = export_json(any_store, chat.id)
    first = json.loads(exported)["messages"][0]
    assert base64.b64decode(first["content"][0]["source"]["data"]) == sample_png(30, 30)
    other = MemoryStore()
    imported = import_conversation(other, exported)
    assert other.branch(imported.id)[0].content == any_store.branch(chat.id)[0].content
    assert other.blob_count() == 2


def test_markdown_names_the_attachments(make_chat: ChatMaker, tmp_path: Path) -> None:
    from claudechat.store.export import export_markdown

    emu = Emulator()
    store = MemoryStore()
    chat = make_chat(emu, store=store)
    photo = tmp_path / "holiday.jpg.png"
    photo.write_bytes(sample_png(40, 30))
    report = tmp_path / "report.pdf"
    report.write_bytes(sample_pdf(3))
    chat.send("Compare", attachments=[photo, report])
    text = export_markdown(store, chat.id)
    assert "*[image: holiday.jpg.png]*" in text and "*[document: report.pdf]*" in text
    assert "iVBOR" not in text  # no base64 in the Markdown


# --- streaming, tokens ----------------------------------------------------------------------


def test_streamed_turns_take_attachments_and_attachments_go_first(make_chat: ChatMaker) -> None:
    emu = Emulator()
    chat = make_chat(emu)
    text = "".join(chat.stream("Read both", attachments=[sample_pdf(1), sample_png(8, 8)]))
    assert text and chat.last_reply is not None
    content = _messages(emu)[-1]["messages"][0]["content"]
    assert [b["type"] for b in content] == ["document", "image", "text"]
    assert content[0]["title"] == "attachment 1"


def test_images_and_pdfs_are_counted_in_the_budget(make_chat: ChatMaker) -> None:
    emu = Emulator()
    plain = make_chat(emu).send("Describe it")
    with_files = make_chat(emu).send(
        "Describe it", attachments=[sample_png(300, 200), sample_pdf(4)]
    )
    title = count_tokens_text("attachment 2", "claude-sonnet-4-6")  # a PDF is titled by name
    extra = (1 + 300 * 200 // 750) + (1 + 10 + title + 4 * PDF_PAGE_TOKENS)
    total = with_files.usage.total_input_tokens - plain.usage.total_input_tokens
    assert total == extra
    # Near the budget, the estimate is checked with count_tokens before sending.
    tight = make_chat(emu, budget=4 * PDF_PAGE_TOKENS + 300)
    tight.send("Describe it", attachments=[sample_pdf(4)])
    assert any(r.path.endswith("count_tokens") for r in emu.requests)


# --- the Files API ---------------------------------------------------------------------------


def test_uploaded_attachments_are_sent_by_file_id_and_inline_when_the_file_is_gone(
    make_chat: ChatMaker, any_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    emu = Emulator()
    chat = make_chat(emu, store=any_store, attachments_upload=True)
    image, pdf = sample_png(50, 50), sample_pdf(2)
    chat.send("Look", attachments=[image, pdf])
    chat.send("Again")
    uploads = [r for r in emu.requests if r.path == "/v1/files"]
    assert len(uploads) == 2 and emu.files.uploads == 2
    assert all("files-api-2025-04-14" in r.headers["anthropic-beta"] for r in uploads)
    last = _messages(emu)[-1]
    sources = [b["source"] for b in [*_blocks(last, "image"), *_blocks(last, "document")]]
    assert all(s["type"] == "file" for s in sources) and len(sources) == 2
    ids = any_store.get_conversation(chat.id).metadata[ATTACHMENT_FILES]
    assert sorted(ids.values()) == sorted(emu.files.files)
    assert {emu.files.files[i].data for i in ids.values()} == {image, pdf}

    emu.files.expire()  # deleted on the API side: the store still has the bytes
    reply = chat.send("Once more")
    assert reply.text and "sending it inline" in caplog.text
    gone, inline = emu.requests[-2:]
    assert gone.path == inline.path == "/v1/messages"
    assert _blocks(gone.body, "image")[0]["source"]["type"] == "file"
    assert _blocks(inline.body, "image")[0]["source"]["type"] == "base64"
    assert any_store.get_conversation(chat.id).metadata[ATTACHMENT_FILES] == {}
    chat.send("And again")  # uploaded anew
    assert (
        emu.files.uploads == 4
        and _blocks(_messages(emu)[-1], "image")[0]["source"]["type"] == "file"
    )


def test_the_emulator_refuses_bytes_that_are_not_their_media_type() -> None:
    from chats import sdk_client

    emu = Emulator()
    client = sdk_client(emu)
    png = base64.b64encode(sample_png(4, 4)).decode()
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": png}}
    with pytest.raises(Exception, match="appears to be a image/png image") as info:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10,
                               messages=[{"role": "user", "content": [block]}])  # fmt: skip
    assert getattr(info.value, "status_code", None) == 400
    file_block = {"type": "image", "source": {"type": "file", "file_id": "file_missing"}}
    with pytest.raises(Exception, match="File not found: file_missing") as gone:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10,
                               messages=[{"role": "user", "content": [file_block]}])  # fmt: skip
    assert getattr(gone.value, "status_code", None) == 404


def test_the_emulator_files_api_uploads_lists_retrieves_and_deletes() -> None:
    from chats import sdk_client

    emu = Emulator()
    client = sdk_client(emu)
    betas = ["files-api-2025-04-14"]
    meta = client.beta.files.upload(file=("a.pdf", sample_pdf(1), "application/pdf"), betas=betas)
    assert (meta.filename, meta.mime_type, meta.size_bytes) == ("a.pdf", "application/pdf",
                                                                len(sample_pdf(1)))  # fmt: skip
    assert [f.id for f in client.beta.files.list(betas=betas)] == [meta.id]
    assert client.beta.files.retrieve_metadata(meta.id, betas=betas).id == meta.id
    client.beta.files.delete(meta.id, betas=betas)
    with pytest.raises(Exception, match="File not found") as info:
        client.beta.files.retrieve_metadata(meta.id, betas=betas)
    assert getattr(info.value, "status_code", None) == 404


def test_the_emulator_holds_the_api_limits_on_attachments() -> None:
    emu = Emulator()

    def post(content: list[dict[str, Any]]) -> tuple[int, str]:
        body = {"model": "claude-sonnet-4-6", "max_tokens": 10,
                "messages": [{"role": "user", "content": content}]}  # fmt: skip
        answer = emu.handle("POST", "/v1/messages", {}, json.dumps(body).encode())
        error = answer.json().get("error") or {}
        return answer.status, str(error.get("message", ""))

    def doc(pages: int) -> dict[str, Any]:
        data = base64.b64encode(sample_pdf(pages)).decode()
        return {"type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": data}}  # fmt: skip

    wide = base64.b64encode(sample_png(8001, 1)).decode()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": wide}}
    assert post([image, {"type": "text", "text": "hi"}])[0] == 400
    assert post([doc(60), doc(40), {"type": "text", "text": "hi"}])[0] == 200
    status, message = post([doc(60), doc(41), {"type": "text", "text": "hi"}])
    assert (status, message) == (400, "A maximum of 100 PDF pages may be provided.")
    too_big = emu.handle("POST", "/v1/messages", {}, b" " * (32 * 1024 * 1024 + 1))
    assert too_big.status == 413 and too_big.json()["error"]["type"] == "request_too_large"
