"""The CLI with several writers on one conversation, and with a store that fails.

``ask -c`` on a conversation whose turn another writer holds waits with backoff
(``CLAUDECHAT_BUSY_WAIT`` seconds) and tries again, or says so in one line; a reply the
store could not take is retried before ``ask`` exits.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from claudechat import Chat, StoreError
from claudechat.cli.busy import retrying, store_unsaved
from claudechat.errors import ConcurrentUpdate
from claudechat.messages import Message
from claudechat.store import SQLiteStore
from claudechat.testing import Emulator, EmulatorServer, EmuRequest, serve

Run = Callable[..., Result]
SRC = Path(__file__).resolve().parents[2] / "src"


def chat_on(path: Path, emu: Emulator, *, busy_timeout: float = 10.0) -> Chat:
    import anthropic

    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    store = SQLiteStore(path, busy_timeout=busy_timeout)
    return Chat("claude-sonnet-4-6", store=store, client=client)


def test_ask_continue_on_a_busy_conversation_says_so_and_stores_nothing(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    assert run("ask", "first").exit_code == 0
    with SQLiteStore(cli_env["CLAUDECHAT_DB"] or "") as store:
        conv = store.latest_conversation()
        assert conv is not None
        store.claim_turn(conv.id, "another writer", ttl=3600)
    result = run("ask", "-c", "second", env={"CLAUDECHAT_BUSY_WAIT": "0"})
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: conversation {conv.id} is busy: another writer holds its turn")
    )
    with SQLiteStore(cli_env["CLAUDECHAT_DB"] or "") as store:
        texts = [m.text for m in store.all_messages(conv.id)]
    assert texts[0] == "first" and len(texts) == 2  # the question and its reply, nothing more


def test_a_bad_busy_wait_is_a_usage_error(run: Run) -> None:
    assert run("ask", "first").exit_code == 0
    result = run("ask", "-c", "again", env={"CLAUDECHAT_BUSY_WAIT": "soon"})
    assert result.exit_code == 2
    assert "CLAUDECHAT_BUSY_WAIT" in result.stderr


def test_retrying_waits_with_backoff_until_the_turn_is_free(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = chat_on(tmp_path / "chat.db", Emulator())
    chat.send("first")
    cid = chat.id or ""
    chat.store.claim_turn(cid, "another writer", ttl=3600)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # the other writer finishes during the second pause
        pauses.append(seconds)
        if len(pauses) == 2:
            chat.store.release_turn(cid, "another writer")

    reply = retrying(chat, lambda: chat.send("second"), patience=30, sleep=sleep)
    assert reply.text.endswith('You said: "second"')
    assert pauses == [0.1, 0.2]
    assert capsys.readouterr().err.count("waiting") == 1
    assert [m.text for m in chat.store.branch(cid)[::2]] == ["first", "second"]


def test_retrying_gives_up_when_its_time_is_over_however_long_each_try_takes(
    tmp_path: Path,
) -> None:
    """``CLAUDECHAT_BUSY_WAIT`` bounds the whole wait, the tries' own time included (a try
    that loads the SDK or waits for the store is not free)."""
    chat = chat_on(tmp_path / "chat.db", Emulator())
    chat.send("first")
    chat.store.claim_turn(chat.id or "", "another writer", ttl=3600)
    now = [0.0]

    def slow_tries() -> float:  # every look at the clock finds a second gone
        now[0] += 1.0
        return now[0]

    pauses: list[float] = []
    with pytest.raises(ConcurrentUpdate):
        retrying(chat, lambda: chat.send("second"), patience=2, sleep=pauses.append,
                 clock=slow_tries)  # fmt: skip
    assert len(pauses) == 1  # 0.1 s planned first, then the two seconds were gone


def _locked_while_answering(
    path: Path, question: str
) -> tuple[sqlite3.Connection, Callable[[EmuRequest], str]]:
    """A second connection to the database at ``path``, and a reply function that has it
    take the write lock (as another program would) when it answers ``question``."""
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def answer(request: EmuRequest) -> str:
        if request.last_user_text == question:
            locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        return f"answer to {request.last_user_text}"

    return locker, answer


def test_a_reply_the_store_could_not_take_is_stored_before_exit(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    locker, answer = _locked_while_answering(path, "second")
    chat = chat_on(path, Emulator(reply=answer), busy_timeout=0.05)
    chat.send("first")
    reply = chat.send("second")
    assert reply.text == "answer to second" and chat.unsaved == [reply.message]
    assert [m.text for m in chat.store.branch(chat.id or "")] == ["first", "answer to first",
                                                                 "second"]  # fmt: skip
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            locker.execute("ROLLBACK")

    with pytest.raises(StoreError, match="not saved"):
        store_unsaved(chat, patience=0.3, sleep=lambda s: None)
    store_unsaved(chat, patience=30, sleep=sleep)
    assert chat.unsaved == [] and len(pauses) == 3
    assert [m.text for m in chat.store.branch(chat.id or "")][-1] == "answer to second"
    locker.close()


def _ask_loop(server: EmulatorServer, db: Path, name: str, n: int, codes: list[int]) -> None:
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test",
           "CLAUDECHAT_DB": str(db), "PYTHONPATH": str(SRC)}  # fmt: skip
    for k in ("CLAUDECHAT_STORE", "CLAUDECHAT_MODEL", "CLAUDECHAT_SYSTEM"):
        env.pop(k, None)
    for i in range(n):
        run = subprocess.run(
            [sys.executable, "-m", "claudechat", "ask", "-c", f"{name} question {i}"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        codes.append(run.returncode)
        assert run.returncode == 0, run.stderr


def test_two_processes_asking_on_one_database_each_get_their_own_reply(
    tmp_path: Path, emulator_server: Callable[..., EmulatorServer]
) -> None:
    server = emulator_server()
    db = tmp_path / "chat.db"
    codes: list[int] = []
    _ask_loop(server, db, "start", 1, codes)
    loops = [threading.Thread(target=_ask_loop, args=(server, db, w, 2, codes)) for w in "ab"]
    for t in loops:
        t.start()
    for t in loops:
        t.join()
    assert codes == [0] * 5
    with SQLiteStore(db) as store:
        conv = store.latest_conversation()
        assert conv is not None
        branch: list[Message] = store.branch(conv.id)
        assert len(store.all_messages(conv.id)) == len(branch) == 10
    for question, answer in zip(branch[::2], branch[1::2], strict=True):
        assert (question.role, answer.role, answer.status) == ("user", "assistant", "complete")
        assert answer.text.endswith(f'You said: "{question.text}"')


def _session(store: SQLiteStore, emu: Emulator) -> tuple[Any, io.StringIO]:
    """A REPL session over ``store`` and ``emu``, printing plain text to a string."""
    import anthropic
    from rich.console import Console

    from claudechat.cli.runtime import Runtime
    from claudechat.cli.session import Session
    from claudechat.config import Settings

    client = anthropic.Anthropic(api_key="t", http_client=emu.http_client(), max_retries=0)
    runtime = Runtime(Settings(), env={}, client=client, store=store)
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    return Session(runtime, runtime.new_chat(), console, plain=True), out


def _held_after_one_turn(path: Path) -> tuple[SQLiteStore, Any, io.StringIO, str]:
    """A REPL session that has had one turn, its next turn now held by another writer."""
    store = SQLiteStore(path)
    session, out = _session(store, Emulator())
    session.handle("first")
    cid = session.chat.id or ""
    store.claim_turn(cid, "another writer", ttl=3600)
    return store, session, out, cid


def test_the_repl_says_a_conversation_is_busy_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDECHAT_BUSY_WAIT", "0")
    store, session, out, cid = _held_after_one_turn(tmp_path / "chat.db")
    session.handle("second")
    assert f"conversation {cid} is busy" in out.getvalue()
    assert "second" not in [m.text for m in store.all_messages(cid)]
    store.release_turn(cid, "another writer")
    session.handle("third")
    assert [m.text for m in store.branch(cid)[::2]] == ["first", "third"]
    store.close()


def test_ctrl_c_while_waiting_for_another_writer_says_nothing_was_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDECHAT_BUSY_WAIT", "20")
    store, session, out, cid = _held_after_one_turn(tmp_path / "chat.db")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        session.handle("second")
    finally:
        timer.cancel()
    shown = out.getvalue()
    assert "cancelled before it was sent: nothing was stored" in shown
    assert "partial reply is kept" not in shown
    assert "second" not in [m.text for m in store.all_messages(cid)]
    store.close()


def test_the_repl_says_a_reply_is_kept_through_a_store_failure(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    locker, answer = _locked_while_answering(path, "second")
    store = SQLiteStore(path, busy_timeout=0.05)
    session, out = _session(store, Emulator(reply=answer))
    session.handle("first")
    session.handle("second")
    assert "answer to second" in out.getvalue()
    assert "the reply is kept in memory and stored with your next message" in out.getvalue()
    locker.execute("ROLLBACK")
    session.handle("third")
    texts = [m.text for m in store.branch(session.chat.id or "")]
    assert texts == ["first", "answer to first", "second", "answer to second", "third",
                     "answer to third"]  # fmt: skip
    store.close()
    locker.close()


def test_storing_a_held_reply_gives_up_when_its_time_is_over(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def answer(request: EmuRequest) -> str:
        locker.execute("BEGIN IMMEDIATE")
        return "kept"

    chat = chat_on(path, Emulator(reply=answer), busy_timeout=0.05)
    chat.send("first")
    now = [0.0]

    def slow_tries() -> float:  # every look at the clock finds 10 s gone (a slow store)
        now[0] += 10.0
        return now[0]

    pauses: list[float] = []
    with pytest.raises(StoreError, match="not saved"):
        store_unsaved(chat, patience=30, sleep=pauses.append, clock=slow_tries)
    assert len(pauses) == 3 and len(chat.unsaved) == 1  # 30 s of tries, not 18 tries
    locker.execute("ROLLBACK")
    locker.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_ask_keeps_its_partial_reply_and_gives_the_turn_back(
    signum: int,
    tmp_path: Path,
    emulator_server: Callable[..., EmulatorServer],
    gated_emulator: Any,
) -> None:
    server = emulator_server(gated_emulator)
    db = tmp_path / "chat.db"
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test",
           "CLAUDECHAT_DB": str(db), "PYTHONPATH": str(SRC), "CLAUDECHAT_BUSY_WAIT": "0"}  # fmt: skip
    for k in ("CLAUDECHAT_STORE", "CLAUDECHAT_MODEL", "CLAUDECHAT_SYSTEM"):
        env.pop(k, None)
    with subprocess.Popen(
        [sys.executable, "-m", "claudechat", "ask", "tell me a long story"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as asking:  # fmt: skip
        assert asking.stdout is not None
        assert "once" in asking.stdout.read(5)  # streaming; the gate holds the rest
        asking.send_signal(signum)
        asking.communicate(timeout=60)
        assert asking.returncode == 128 + signum
    after = subprocess.run(
        [sys.executable, "-m", "claudechat", "ask", "-c", "and then?"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert after.returncode == 0, after.stderr  # not "busy": the turn was given back
    with SQLiteStore(db) as store:
        conv = store.latest_conversation()
        assert conv is not None
        roles = [(m.role, m.status) for m in store.branch(conv.id)]
    assert roles[:2] == [("user", "complete"), ("assistant", "partial")]


def test_an_ask_stopped_through_the_store_keeps_its_partial_reply_and_exits_130(
    tmp_path: Path,
) -> None:
    """The service's cancel (its stop button) on a turn the CLI sent: the CLI stops as at
    Ctrl-C, says why, keeps what arrived and gives the turn back."""
    story = " ".join(f"word{i}" for i in range(2000))
    server = serve(Emulator(reply=lambda r: story if "story" in r.last_user_text else "ok"),
                   "127.0.0.1", 0, token_delay=0.005)  # fmt: skip
    db = tmp_path / "chat.db"
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test",
           "CLAUDECHAT_DB": str(db), "PYTHONPATH": str(SRC), "CLAUDECHAT_BUSY_WAIT": "0"}  # fmt: skip
    for k in ("CLAUDECHAT_STORE", "CLAUDECHAT_MODEL", "CLAUDECHAT_SYSTEM", "CLAUDECHAT_THINKING"):
        env.pop(k, None)
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "claudechat", "ask", "--thinking", "off", "tell me a story"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as asking:  # fmt: skip
            assert asking.stdout is not None
            assert asking.stdout.read(5) == "word0"  # streaming (ten seconds in all)
            with SQLiteStore(db) as store:
                conv = store.latest_conversation()
                assert conv is not None
                assert store.request_stop(conv.id) is True
            _, stderr = asking.communicate(timeout=60)
            assert asking.returncode == 130, stderr
    finally:
        server.shutdown()
    assert stderr.strip().splitlines()[-2:] == [
        "the turn was stopped from another client (the service's cancel)",
        "note: what arrived is kept as a partial reply",
    ]
    with SQLiteStore(db) as store:
        stored = [(m.role, m.status, m.text) for m in store.branch(conv.id)]
        store.claim_turn(conv.id, "the next writer", ttl=5)  # given back
    assert [(role, status) for role, status, _ in stored] == [
        ("user", "complete"),
        ("assistant", "partial"),
    ]
    assert story.startswith(stored[1][2]) and len(stored[1][2]) < len(story)


def test_rm_of_a_conversation_whose_turn_runs_elsewhere_is_refused_and_deletes_nothing(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    """As the service's DELETE: not while another writer (the service, another chat) is
    answering in it; once its turn is given back, the deletion goes through."""
    assert run("ask", "first").exit_code == 0
    db = cli_env["CLAUDECHAT_DB"] or ""
    with SQLiteStore(db) as store:
        conv = store.latest_conversation()
        assert conv is not None
        store.claim_turn(conv.id, "the service", ttl=3600)
    refused = run("rm", "-y", conv.id)
    assert refused.exit_code == 1
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: conversation {conv.id} is busy: another writer holds its turn")
    )
    with SQLiteStore(db) as store:
        assert len(store.branch(conv.id)) == 2  # still there, whole
        store.release_turn(conv.id, "the service")
    assert run("rm", "-y", conv.id).exit_code == 0
    with SQLiteStore(db) as store:
        assert store.latest_conversation() is None
