"""Every subcommand through CliRunner, on the built-in emulator and a temporary database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from claudechat.cli.runtime import EMULATOR_NOTICE
from claudechat.messages import Message
from claudechat.store import SQLiteStore

Run = Callable[..., Result]


def _ask(run: Run, *args: str, input: str | None = None) -> dict[str, object]:
    result = run("ask", "--json", *args, input=input)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_ask_prints_the_reply_and_says_it_runs_on_the_emulator(run: Run) -> None:
    result = run("ask", "What is 2+2?")
    assert result.exit_code == 0
    assert result.stderr.strip() == EMULATOR_NOTICE
    assert 'You said: "What is 2+2?"' in result.stdout
    assert result.stdout.endswith("\n")


def test_ask_json_gives_reply_usage_cost_and_ids(run: Run, cli_env: dict[str, str | None]) -> None:
    data = _ask(run, "-s", "Be brief.", "--max-tokens", "300", "hello")
    assert set(data) >= {"conversation_id", "message_id", "reply", "usage", "cost_usd", "model"}
    assert data["model"] == "claude-sonnet-4-6"
    assert isinstance(data["cost_usd"], float) and data["cost_usd"] > 0
    usage = data["usage"]
    assert isinstance(usage, dict) and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    store = SQLiteStore(str(cli_env["CLAUDECHAT_DB"]))
    conv = store.get_conversation(str(data["conversation_id"]))
    assert conv.system == "Be brief." and conv.title == "hello"
    assert [m.role for m in store.branch(conv.id)] == ["user", "assistant"]
    store.close()


def test_ask_reads_stdin_and_joins_it_to_the_prompt(run: Run) -> None:
    data = _ask(run, "Summarise:", input="line one\nline two\n")
    assert "Summarise:\\n\\nline one" in json.dumps(data["reply"]) or "Summarise:" in str(
        data["reply"]
    )
    piped = _ask(run, input="only stdin\n")
    assert "only stdin" in str(piped["reply"])


def test_ask_without_any_prompt_is_a_usage_error(run: Run) -> None:
    result = run("ask", input="")
    assert result.exit_code == 2
    assert "nothing to ask" in result.stderr


def test_ask_continue_and_cid_continue_conversations(run: Run) -> None:
    first = _ask(run, "first question")
    second = _ask(run, "-c", "second question")
    assert second["conversation_id"] == first["conversation_id"]
    assert "(2 turns)" in str(second["reply"])
    other = _ask(run, "a separate chat")
    assert other["conversation_id"] != first["conversation_id"]
    third = _ask(run, "--cid", str(first["conversation_id"]), "third")
    assert third["conversation_id"] == first["conversation_id"]
    assert "(3 turns)" in str(third["reply"])
    by_end = _ask(run, "--cid", str(first["conversation_id"])[-8:], "fourth")
    assert by_end["conversation_id"] == first["conversation_id"]


def test_ask_with_a_model_flag_and_an_unknown_model_warns_in_one_line(run: Run) -> None:
    result = run("ask", "-m", "claude-future-9", "hi")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "claude-future-9" in warnings[0]


def test_configuration_reaches_the_request(run: Run, tmp_path: Path) -> None:
    assert run("config", "set", "model", "claude-haiku-4-5").exit_code == 0
    assert run("config", "set", "system", "From the file.").exit_code == 0
    data = _ask(run, "hi")
    assert data["model"] == "claude-haiku-4-5"
    flagged = _ask(run, "-m", "claude-opus-4-6", "hi")
    assert flagged["model"] == "claude-opus-4-6"
    result = run("ask", "--json", "hi", env={"CLAUDECHAT_MODEL": "claude-opus-4-8"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "claude-opus-4-8"


@pytest.mark.parametrize("key", ["model", "summary_model"])
def test_config_set_refuses_a_retired_model_and_writes_nothing(run: Run, key: str) -> None:
    assert run("config", "set", key, "claude-haiku-4-5").exit_code == 0
    result = run("config", "set", key, "claude-mythos-preview")  # retired on 2026-06-30
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: model 'claude-mythos-preview' was retired on 2026-06-30; "
        "use claude-mythos-5 instead; nothing was written"
    )
    shown = run("config", "get", key)
    assert shown.exit_code == 0 and "claude-haiku-4-5" in shown.stdout


def test_a_retired_model_is_refused_before_anything_is_stored(run: Run) -> None:
    result = run("ask", "-m", "claude-mythos-preview", "hi")  # retired on 2026-06-30
    assert result.exit_code == 2
    assert "retired on 2026-06-30" in result.stderr and "claude-mythos-5" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: model 'claude-mythos-preview' was retired on 2026-06-30; "
        "use claude-mythos-5 instead"
    ]
    assert run("list", "--json").stdout == ""  # no conversation was created


def test_config_path_get_set_unset(run: Run, cli_env: dict[str, str | None]) -> None:
    path = run("config", "path")
    assert path.stdout.strip() == cli_env["CLAUDECHAT_CONFIG"]
    assert run("config", "set", "budget", "20k").stdout.startswith("budget = 20000")
    assert run("config", "get", "budget").stdout == "20000\n"
    listing = run("config", "get").stdout
    assert "budget = 20000  # file" in listing
    assert 'model = "claude-sonnet-4-6"  # default' in listing
    assert run("config", "get", "budget", env={"CLAUDECHAT_BUDGET": "999"}).stdout == "999\n"
    assert run("config", "unset", "budget").exit_code == 0
    assert run("config", "get", "budget").stdout == "\n"
    bad = run("config", "set", "strategy", "yolo")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == (
        "error: strategy must be one of window, summary, compact, got 'yolo'"
    )
    assert run("config", "get", "nope").exit_code == 2


def test_list_shows_conversations_with_their_figures(run: Run) -> None:
    assert run("list").stdout.strip() == "no conversations yet"
    first = _ask(run, "Plan the launch")
    _ask(run, "-c", "and the budget?")
    _ask(run, "Another topic")
    lines = run("list").stdout.splitlines()
    assert lines[0].split() == ["id", "updated", "turns", "tokens", "cost", "title"]
    assert lines[1].endswith("Another topic")
    row = lines[2].split()
    assert (
        row[0] == first["conversation_id"]
        and row[2] == "2"
        and row[-3:]
        == [
            "Plan",
            "the",
            "launch",
        ]
    )
    rows = [json.loads(line) for line in run("list", "--json", "-n", "1").stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["title"] == "Another topic" and rows[0]["turns"] == 1


def test_show_prints_the_transcript_and_json(run: Run) -> None:
    data = _ask(run, "Tell me about **owls**")
    cid = str(data["conversation_id"])
    shown = run("show", cid)
    assert shown.exit_code == 0
    out = shown.stdout
    assert out.startswith(f"# Tell me about **owls** — {cid}")
    assert "## You\n\nTell me about **owls**" in out
    assert "## Claude (claude-sonnet-4-6)" in out
    exported = json.loads(run("show", cid, "--json").stdout)
    assert exported["format"] == "claudechat" and len(exported["messages"]) == 2
    missing = run("show", "does-not-exist")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        "error: not found: no conversation 'does-not-exist' (see claudechat list)"
    )


def test_show_tells_a_reply_being_written_from_an_interrupted_one(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    """A turn of another writer (the service, say) holds the conversation while its reply
    streams, saved as partial: `show` marks it being written, not interrupted."""
    cid = str(_ask(run, "First question")["conversation_id"])
    store = SQLiteStore(str(cli_env["CLAUDECHAT_DB"]))
    try:
        head = store.get_conversation(cid).head_id
        store.claim_turn(cid, "another-writer", ttl=60)
        asked = Message("user", [{"type": "text", "text": "Second question"}], parent_id=head)
        store.append(cid, asked, lease="another-writer")
        assert "(a reply is being written" in run("show", cid).stdout
        half = Message("assistant", [{"type": "text", "text": "Half a rep"}], parent_id=asked.id,
                       model="claude-sonnet-4-6", status="partial")  # fmt: skip
        store.append(cid, half, lease="another-writer")
        writing = run("show", cid).stdout
        assert "## Claude (claude-sonnet-4-6) [being written]\n\nHalf a rep" in writing
        assert "[interrupted]" not in writing and "(a reply is being written" not in writing
        store.release_turn(cid, "another-writer")  # the writer stopped there
        stopped = run("show", cid).stdout
    finally:
        store.close()
    assert "## Claude (claude-sonnet-4-6) [interrupted]\n\nHalf a rep" in stopped
    assert "[being written]" not in stopped


def test_search_prints_snippets_with_conversation_ids(run: Run) -> None:
    hit = _ask(run, "The deploy command is make ship")
    _ask(run, "Something about gardening")
    result = run("search", "deploy")
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith(str(hit["conversation_id"])) for line in lines)
    assert "«deploy»" in lines[0]
    none = run("search", "zebra")
    assert none.exit_code == 0 and none.stdout == "" and "no matches" in none.stderr


def test_export_json_and_markdown_then_import_round_trips(run: Run, tmp_path: Path) -> None:
    data = _ask(run, "Export me")
    cid = str(data["conversation_id"])
    md = run("export", cid, "--format", "md")
    assert md.exit_code == 0 and md.stdout.startswith("# Export me")
    target = tmp_path / "conv.json"
    result = run("export", cid, "-o", str(target))
    assert result.exit_code == 0 and json.loads(target.read_text())["format"] == "claudechat"
    imported = run("import", str(target), "--again")
    assert imported.exit_code == 0
    new_id = imported.stdout.strip()
    assert new_id != cid  # the same file again gets new ids
    assert "Export me" in run("show", new_id).stdout


def test_import_a_plain_messages_array_from_stdin(run: Run) -> None:
    messages = [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
    ]
    result = run("import", "-", "--title", "From a script", input=json.dumps(messages))
    assert result.exit_code == 0, result.output
    cid = result.stdout.strip()
    assert "Hello!" in run("show", cid).stdout
    cont = _ask(run, "--cid", cid, "and now?")
    assert "(2 turns)" in str(cont["reply"])


def test_an_export_of_a_user_this_store_lacks_is_imported_as_yours_and_c_continues_it(
    run: Run, tmp_path: Path, cli_env: dict[str, str | None]
) -> None:
    """A service's export (its owner a user id of the service's store) imported into the
    terminal's store: the terminal's own conversation, which ``-c`` continues, not a
    stranger's that nobody could reach; a user this store has keeps it."""
    cid = str(_ask(run, "Export me")["conversation_id"])
    export = json.loads(run("export", cid, "--format", "json").stdout)
    export["conversation"]["owner"] = "01a2306d307dcc453072ddca681cca40"  # not a user here
    source = tmp_path / "from-the-service.json"
    source.write_text(json.dumps(export))
    run("rm", "-y", cid)
    imported = run("import", str(source))
    assert imported.exit_code == 0, imported.output
    assert "it is yours (-c continues it)" in imported.stderr
    new_id = imported.stdout.strip()
    with SQLiteStore(cli_env["CLAUDECHAT_DB"] or "") as store:
        assert store.get_conversation(new_id).owner == "local"
        alice = store.add_user("alice")
    assert _ask(run, "-c", "and now?")["conversation_id"] == new_id
    export["conversation"]["owner"] = alice.id
    source.write_text(json.dumps(export))
    kept = run("import", str(source), "--again")
    assert kept.exit_code == 0 and "it is yours" not in kept.stderr
    with SQLiteStore(cli_env["CLAUDECHAT_DB"] or "") as store:
        assert store.get_conversation(kept.stdout.strip()).owner == alice.id


def test_import_of_a_bad_file_is_one_line_and_exit_2(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("import", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}: not JSON")
    assert len(result.stderr.strip().splitlines()) == 1


def test_rm_asks_unless_yes(run: Run) -> None:
    cid = str(_ask(run, "delete me")["conversation_id"])
    kept = run("rm", cid, input="n\n")
    assert kept.exit_code == 0 and "not deleted" in kept.stderr
    assert run("show", cid).exit_code == 0
    gone = run("rm", cid, input="y\n")
    assert gone.exit_code == 0 and f"deleted {cid}" in gone.stderr
    assert run("show", cid).exit_code == 2
    other = str(_ask(run, "me too")["conversation_id"])
    assert run("rm", other, "--yes").exit_code == 0
    assert run("list").stdout.strip() == "no conversations yet"


def test_cost_reports_tokens_by_kind_and_cache_ratio(run: Run) -> None:
    cid = str(_ask(run, "count me")["conversation_id"])
    _ask(run, "-c", "and me")
    one = run("cost", cid)
    assert one.exit_code == 0
    lines = one.stdout.splitlines()
    assert lines[0] == f"conversation {cid}, 2 requests"
    assert lines[1].split() == ["kind", "tokens", "USD"]
    assert any(line.startswith("input") for line in lines)
    assert any(line.startswith("cache hit ratio:") for line in lines)
    _ask(run, "another")
    every = json.loads(run("cost", "--json").stdout)
    assert every["conversations"] == 2 and every["requests"] == 3
    assert every["tokens"]["output"] > 0 and every["cost_usd"] > 0


def test_chat_reads_lines_when_stdin_is_not_a_terminal(run: Run) -> None:
    result = run("chat", input="first message\n/tokens\n/quit\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert 'You said: "first message"' in out
    assert "window:" in out
    assert "saved as" in out
    assert "in 1" in out and "total $" in out  # the status line


def test_plain_claudechat_starts_a_chat_and_continue_reopens_it(run: Run) -> None:
    result = run(input="remember the number 42\n")
    assert result.exit_code == 0
    again = run("chat", "-c", input="what number?\n")
    assert "(2 turns)" in again.stdout
    assert "(1 turns)" in again.stdout.splitlines()[0]


def test_demo_runs_fast_and_beats_the_naive_cost(run: Run) -> None:
    result = run("demo", "--fast", "--turns", "14")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "folded into the rolling summary" in out
    assert "cache hit" in out
    assert "the naive approach" in out


def test_version_and_help(run: Run) -> None:
    assert run("--version").stdout.startswith("claudechat, version ")
    help_text = run("--help").stdout
    for name in ("ask", "chat", "list", "show", "search", "export", "import", "rm", "cost"):
        assert f"  {name} " in help_text


def test_emulate_serves_the_emulator_until_interrupted(cli_env: dict[str, str | None]) -> None:
    import os
    import signal
    import subprocess
    import sys

    import anthropic

    env = {k: v for k, v in os.environ.items() if k not in cli_env}
    env.update({k: v for k, v in cli_env.items() if v is not None})
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudechat", "emulate", "--port", "0", "--api-key", "sesame"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("claudechat emulator listening on http://127.0.0.1:")
        url = line.split(" on ")[1].split()[0]
        with anthropic.Anthropic(api_key="sesame", base_url=url, max_retries=0) as client:
            message = client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=100,
                messages=[{"role": "user", "content": "ping"}],
            )
        assert 'You said: "ping"' in message.content[0].text  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_reindex_and_semantic_search(run: Run) -> None:
    deploy = _ask(run, "The deploy command is make ship")
    _ask(run, "I grow tomatoes in the garden")
    env = {"CLAUDECHAT_EMBEDDER": "hashing"}
    rebuilt = run("reindex", "--semantic", env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout.startswith("indexed 2 turns of 2 conversations (lexical + ")
    found = run("search", "--semantic", "deploy command", "-n", "1", env=env)
    assert found.exit_code == 0, found.output
    line = found.stdout.strip()
    assert line.startswith(str(deploy["conversation_id"]))
    assert "user: The deploy command is make ship" in line
    lexical = run("reindex", "--cid", str(deploy["conversation_id"]))
    assert lexical.stdout.strip() == "indexed 1 turns of 1 conversations (lexical)"


def test_rm_removes_the_conversation_from_the_search_index(run: Run) -> None:
    cid = str(_ask(run, "The secret word is pelican")["conversation_id"])
    env = {"CLAUDECHAT_EMBEDDER": "hashing"}
    assert run("search", "--semantic", "pelican", env=env).stdout.startswith(cid)
    run("rm", cid, "--yes")
    assert run("search", "--semantic", "pelican", env=env).stdout == ""
