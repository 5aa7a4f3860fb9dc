"""At 40 columns the status line, the /cost table and /list stay readable: lines wrap
between fields, never inside one, and ids are shown by their end."""

from __future__ import annotations

import io

import anthropic
from rich.console import Console

from claudechat.accounting import store_cost_report
from claudechat.cli import render
from claudechat.cli.runtime import Runtime
from claudechat.cli.session import Session
from claudechat.config import Settings
from claudechat.context.report import WindowFill
from claudechat.store import MemoryStore
from claudechat.testing import Emulator
from claudechat.usage import Usage

WIDTH = 40


def _narrow_session() -> tuple[Session, io.StringIO]:
    emulator = Emulator()
    client = anthropic.Anthropic(api_key="test", http_client=emulator.http_client())
    runtime = Runtime(Settings(), env={}, client=client, store=MemoryStore())
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, color_system=None, force_terminal=True)
    return Session(runtime, runtime.new_chat(), console, plain=True), out


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_the_status_line_wraps_between_its_fields() -> None:
    usage = Usage(input_tokens=100, output_tokens=40, cache_read_tokens=900, requests=1)
    fill = WindowFill(tokens=1000, budget=200_000, exact=True)
    text = render.status_line(usage, 0.0012, 0.034, fill, width=WIDTH)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    joined = " · ".join(lines)
    assert joined == render.status_line(usage, 0.0012, 0.034, fill)  # nothing cut


def test_cost_table_list_and_status_fit_40_columns() -> None:
    session, out = _narrow_session()
    for text in ("A first question about sourdough starters and ovens", "/new", "Second one"):
        session.handle(text)
    start = out.tell()
    session.handle("/cost")
    cost = _lines(out.getvalue()[start:])
    start = out.tell()
    session.handle("/list")
    listing = _lines(out.getvalue()[start:])
    everything = _lines(out.getvalue())
    reply_lines = [ln for ln in everything if ln.startswith("Emulator reply")]
    for line in [ln for ln in everything if ln not in reply_lines]:
        assert len(line) <= WIDTH, line
    assert cost[0].split() == ["kind", "tokens", "USD"] and cost[-2].startswith("total")
    chat_ids = [info.conversation.id for info in session.chat.store.list_conversations()]
    assert listing[0].startswith(chat_ids[0][-8:]) and "Second one" in listing[0]
    assert listing[2].startswith(chat_ids[1][-8:]) and "A first question" in listing[2]
    assert listing[2].endswith("…")  # a long title is cut with an ellipsis
    assert "turns" in listing[1] and "$" in listing[1]
    report = store_cost_report(session.chat.store, [chat_ids[0]])
    assert render.cost_lines(report)[0] == f"{'kind':<22}{'tokens':>12}{'USD':>12}"  # wide
