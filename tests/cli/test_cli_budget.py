"""The CLI's budget: 200,000 tokens by default, the model's whole window with ``max``."""

from __future__ import annotations

from claudechat.chat_settings import ChatSettings
from claudechat.store.sqlite import SQLiteStore
from conftest import Run


def _window_line(run: Run, *args: str, env: dict[str, str] | None = None) -> str:
    result = run("chat", *args, input="hello\n/tokens\n/quit\n", env=env)
    assert result.exit_code == 0, result.output
    return next(line for line in result.stdout.splitlines() if line.startswith("window:"))


def test_the_default_budget_is_200k_and_max_lifts_it_to_the_window(run: Run) -> None:
    assert " of 200,000 tokens" in _window_line(run, "-m", "claude-sonnet-4-6")
    assert " of 975,904 tokens" in _window_line(run, "-m", "claude-sonnet-4-6", "--budget", "max")
    env = {"CLAUDECHAT_BUDGET": "MAX"}
    assert " of 975,904 tokens" in _window_line(run, "-m", "claude-sonnet-4-6", env=env)
    assert " of 20,000 tokens" in _window_line(run, "--budget", "20k")


def test_config_set_budget_max(run: Run) -> None:
    assert run("config", "set", "budget", "max").stdout.startswith('budget = "max"')
    assert run("config", "get", "budget").stdout == "max\n"
    assert " of 975,904 tokens" in _window_line(run, "-m", "claude-sonnet-4-6")
    bad = run("ask", "--budget", "maximum", "hi")
    assert bad.exit_code == 2
    assert "budget must be a positive whole number" in bad.stderr


def _set_own(cli_env: dict[str, str | None], **settings: object) -> str:
    """The only conversation of the store, given its own settings as the web chat's
    settings panel (``PATCH /v1/conversations/{id}``) stores them; its id."""
    store = SQLiteStore(str(cli_env["CLAUDECHAT_DB"]))
    try:
        (info,) = store.iter_conversations()
        conv = info.conversation
        own = ChatSettings.of(conv).changed(settings)
        store.update_conversation(conv.id, metadata=own.metadata(conv))
        return conv.id
    finally:
        store.close()


def test_a_conversations_own_settings_apply_in_the_cli_unless_the_command_says_otherwise(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    assert run("ask", "hello").exit_code == 0
    cid = _set_own(cli_env, budget=3_000, strategy="summary")
    assert run("config", "set", "budget", "50000").exit_code == 0  # the conversation wins
    assert " of 3,000 tokens" in _window_line(run, "--cid", cid)
    assert " of 20,000 tokens" in _window_line(run, "--cid", cid, "--budget", "20k")
    assert " of 30,000 tokens" in _window_line(
        run, "--cid", cid, env={"CLAUDECHAT_BUDGET": "30000"}
    )
    # The strategy too (only the summary strategy compacts on demand), and a new chat of the
    # same session goes back to the configuration.
    session = run("chat", "--cid", cid, input="/compact\n/new\n/tokens\n/compact\n/quit\n")
    assert session.exit_code == 0, session.output
    out = session.stdout
    assert out.count("nothing to compact: the window strategy") == 1, out
    assert "the next message will be sent with the earlier turns summarised" in out
    assert "nothing sent yet (budget 50,000 tokens)" in out
