"""Templates: save, list, show and rm them (TOML files in the config directory), -t NAME on
ask and chat (explicit flags win), /template NAME in the REPL."""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from emulated import sent_bodies, server_env

from claudechat.testing import EmulatorServer

Run = Callable[..., Result]


def _dir(cli_env: dict[str, str | None]) -> Path:
    return Path(str(cli_env["CLAUDECHAT_CONFIG"])).parent / "templates"


def test_save_list_show_rm(run: Run, cli_env: dict[str, str | None]) -> None:
    saved = run("templates", "save", "pirate", "--system", 'Talk like a "pirate".',
                "-m", "claude-haiku-4-5", "--strategy", "summary")  # fmt: skip
    assert saved.exit_code == 0, saved.output
    path = _dir(cli_env) / "pirate.toml"
    assert tomllib.loads(path.read_text()) == {
        "system": 'Talk like a "pirate".',
        "model": "claude-haiku-4-5",
        "strategy": "summary",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run("templates", "save", "terse", "-s", "Be terse.").exit_code == 0
    assert run("templates", "list").stdout.splitlines() == [
        'pirate  [claude-haiku-4-5] [summary] Talk like a "pirate".',
        "terse  Be terse.",
    ]
    assert 'system = "Talk like a \\"pirate\\"."' in run("templates", "show", "pirate").stdout
    assert run("templates", "rm", "terse").exit_code == 0
    assert run("templates", "list").stdout.splitlines()[0].startswith("pirate")
    gone = run("templates", "show", "terse")
    assert gone.exit_code == 2 and "no template 'terse' (templates: pirate)" in gone.stderr


def test_bad_templates_are_usage_errors(run: Run, cli_env: dict[str, str | None]) -> None:
    assert run("templates", "save", "empty").exit_code == 2
    assert run("templates", "save", "../escape", "-s", "x").exit_code == 2
    folder = _dir(cli_env)
    folder.mkdir(parents=True)
    (folder / "hand.toml").write_text('system = "ok"\ncolour = "blue"\n')
    bad = run("ask", "-t", "hand", "hi")
    assert bad.exit_code == 2 and "unknown keys colour" in bad.stderr


def test_t_applies_the_template_and_explicit_flags_win(
    run: Run, server: EmulatorServer, cli_env: dict[str, str | None]
) -> None:
    assert run("templates", "save", "pirate", "-s", "Talk like a pirate.",
               "-m", "claude-haiku-4-5").exit_code == 0  # fmt: skip
    hand = _dir(cli_env) / "pirate.toml"
    hand.write_text(hand.read_text().replace("a pirate", "an old pirate"))  # edited by hand
    assert run("ask", "-t", "pirate", "hi", env=server_env(server)).exit_code == 0
    assert run("ask", "-t", "pirate", "-m", "claude-opus-4-6", "hi",
               env=server_env(server)).exit_code == 0  # fmt: skip
    first, second = sent_bodies(server)
    assert first["model"] == "claude-haiku-4-5" and second["model"] == "claude-opus-4-6"
    for body in (first, second):
        assert body["system"][0]["text"] == "Talk like an old pirate."


def test_template_in_the_repl(run: Run, server: EmulatorServer) -> None:
    assert (
        run("templates", "save", "terse", "-s", "Be terse.", "--strategy", "summary").exit_code == 0
    )
    result = run("chat", input="/template terse\nhello\n/template nope\n/quit\n",
                 env=server_env(server))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "template terse: system prompt set" in result.stdout
    assert "its strategy, summary, applies to a chat started with -t terse" in result.stdout
    assert "no template 'nope'" in result.stdout
    assert sent_bodies(server)[0]["system"][0]["text"] == "Be terse."
