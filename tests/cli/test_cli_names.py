"""Names and finding things: rename and /title, the optional generated title, the /open
picker (fuzzy over titles and first lines), claudechat -c and -V."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import anthropic
from click.testing import Result
from emulated import sent_bodies, server_env
from rich.console import Console

from claudechat.cli.picker import Candidate, fuzzy_rank, score
from claudechat.cli.runtime import Runtime
from claudechat.cli.session import Session
from claudechat.config import Settings
from claudechat.store import MemoryStore
from claudechat.testing import Emulator, EmulatorServer, EmuRequest

Run = Callable[..., Result]


def _cid(run: Run, *args: str) -> str:
    result = run("ask", "--json", *args)
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["conversation_id"])


def _titles(run: Run) -> dict[str, str]:
    rows = [json.loads(line) for line in run("list", "--json").stdout.splitlines()]
    return {row["id"]: row["title"] for row in rows}


def test_rename_sets_the_title_by_id_or_its_end(run: Run) -> None:
    cid = _cid(run, "What is a monad?")
    result = run("rename", cid[-8:], "Monads,", "explained")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{cid}: Monads, explained\n"
    assert _titles(run)[cid] == "Monads, explained"
    missing = run("rename", "0123456789abcdef", "x")
    assert missing.exit_code == 2 and "no conversation" in missing.stderr


def test_title_in_the_repl(run: Run) -> None:
    result = run("chat", input="/title too early\nhello\n/title  Greetings \n/quit\n")
    assert result.exit_code == 0, result.output
    assert "nothing to name yet: send a message first" in result.stdout
    assert "title: Greetings" in result.stdout
    assert list(_titles(run).values()) == ["Greetings"]


def _titler(request: EmuRequest) -> str:
    if "Write a title" in request.last_user_text:
        return '"Cheese of the Alps."'
    return "Gruyère, mostly."


def test_a_generated_title_only_when_configured_and_billed_to_the_conversation(
    run: Run, emulator_server: Callable[..., EmulatorServer], cli_env: dict[str, str | None]
) -> None:
    server = emulator_server(Emulator(reply=_titler))
    env = server_env(server)
    assert run("chat", input="Which cheese?\n/quit\n", env=env).exit_code == 0
    assert len(sent_bodies(server)) == 1  # off by default
    assert run("config", "set", "auto_title", "true").exit_code == 0
    result = run("chat", input="Which cheese again?\nand then?\n/quit\n", env=env)
    assert result.exit_code == 0, result.output
    assert "[title: Cheese of the Alps]" in result.stdout
    bodies = sent_bodies(server)
    assert [b["model"] for b in bodies[1:]] == [
        "claude-sonnet-4-6",
        "claude-haiku-4-5",  # once, after the first exchange
        "claude-sonnet-4-6",
    ]
    titled = [cid for cid, title in _titles(run).items() if title == "Cheese of the Alps"]
    assert len(titled) == 1
    costs = run("cost", titled[0], "--json", env=env)
    assert json.loads(costs.stdout)["requests"] == 3  # the title request is billed too


def _picker(answers: list[str | None]) -> tuple[Session, io.StringIO, MemoryStore]:
    emulator = Emulator()
    client = anthropic.Anthropic(api_key="test", http_client=emulator.http_client())
    store = MemoryStore()
    runtime = Runtime(Settings(), env={}, client=client, store=store)
    for prompt in ("Sourdough starter tips", "Kubernetes ingress question", "Sourdough oven"):
        runtime.new_chat().send(prompt)
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    session = Session(runtime, runtime.new_chat(), console, plain=True,
                      choose=lambda question: answers.pop(0))  # fmt: skip
    return session, out, store


def test_open_without_an_id_picks_by_number_or_narrows_by_words() -> None:
    session, out, _ = _picker(["dough", "2"])
    session.handle("/open")
    shown = out.getvalue()
    assert " 1. " in shown and " 3. " in shown and "Kubernetes" in shown
    assert "opened" in shown and "Sourdough starter tips" in shown.split("opened")[1]


def test_open_with_words_opens_the_single_match_and_cancel_opens_nothing() -> None:
    session, out, _ = _picker([""])
    session.handle("/open kube")
    assert "opened" in out.getvalue() and "Kubernetes ingress question" in out.getvalue()
    session.handle("/open sour")
    assert out.getvalue().rstrip().endswith("not opened")
    session.handle("/open zzz")
    assert "no conversation matches 'zzz'" in out.getvalue()


def test_open_without_a_terminal_lists_and_says_how() -> None:
    session, out, _ = _picker([None])
    session.handle("/open")
    assert "/open ID (or words of its title) opens one" in out.getvalue()


def test_fuzzy_score() -> None:
    assert score("sour", "Sourdough") == 0
    assert score("sdo", "Sourdough") is not None
    assert score("xyz", "Sourdough") is None
    items = [Candidate("a", "Kubernetes ingress", ""), Candidate("b", "Knitting", "")]
    assert [c.id for c in fuzzy_rank("kni", items)] == ["b", "a"]


def test_claudechat_c_continues_the_latest_conversation_and_V_prints_the_version(
    run: Run,
) -> None:
    cid = _cid(run, "remember 42")
    result = run("-c", input="what number?\n/quit\n")
    assert result.exit_code == 0, result.output
    assert f"conversation {cid} (1 turns)" in result.stdout.splitlines()[0]
    assert run("-V").stdout.startswith("claudechat, version ")
    assert run("-c", "list").exit_code == 2
