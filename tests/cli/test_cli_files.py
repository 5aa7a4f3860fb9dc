"""Files and secrets: config, exports and input history are 0600, passwords in store URLs
never reach the screen, exports and imports do not silently overwrite or duplicate, rm
without a terminal says what to do, and an unreachable PostgreSQL fails fast in one line."""

from __future__ import annotations

import json
import logging
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from claudechat.cli.repl import history_path

Run = Callable[..., Result]
PASSWORD = "S3cretPGpw"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _ask(run: Run, *args: str) -> str:
    result = run("ask", "--json", *args)
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["conversation_id"])


def test_config_is_0600_and_the_store_password_is_never_shown(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    config = Path(str(cli_env["CLAUDECHAT_CONFIG"]))
    url = f"postgresql://app:{PASSWORD}@db.example.com:5432/chats"
    set_ = run("config", "set", "store", url)
    assert set_.exit_code == 0
    assert set_.stdout.startswith('store = "postgresql://app:***@db.example.com:5432/chats"')
    assert _mode(config) == 0o600
    assert PASSWORD in config.read_text()  # the file keeps it: it is the configuration
    assert (
        run("config", "get", "store").stdout == "postgresql://app:***@db.example.com:5432/chats\n"
    )
    listing = run("config", "get").stdout
    assert "store = " in listing and PASSWORD not in listing


def test_a_looser_config_file_is_made_0600(run: Run, cli_env: dict[str, str | None]) -> None:
    config = Path(str(cli_env["CLAUDECHAT_CONFIG"]))
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('model = "claude-haiku-4-5"\n')
    config.chmod(0o644)
    assert run("config", "get", "model").stdout == "claude-haiku-4-5\n"
    assert _mode(config) == 0o600


def test_an_unreachable_postgresql_fails_fast_in_one_line_without_the_password(
    run: Run,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/chats"
    result = run("list", "--store", url)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to PostgreSQL at postgresql://app:***@")
    assert PASSWORD not in result.output


def test_export_is_0600_and_refuses_to_overwrite_without_force(run: Run, tmp_path: Path) -> None:
    cid = _ask(run, "Export me")
    target = tmp_path / "conv.json"
    assert run("export", cid, "-o", str(target)).exit_code == 0
    assert _mode(target) == 0o600
    target.write_text("precious")
    again = run("export", cid, "-o", str(target))
    assert again.exit_code == 2
    assert again.stderr.strip() == f"error: {target} exists: use --force to overwrite it"
    assert target.read_text() == "precious"
    target.chmod(0o644)
    forced = run("export", cid, "-o", str(target), "--force")
    assert forced.exit_code == 0 and json.loads(target.read_text())["format"] == "claudechat"
    assert _mode(target) == 0o600


def test_importing_the_same_export_twice_says_so(run: Run, tmp_path: Path) -> None:
    cid = _ask(run, "Import me")
    target = tmp_path / "conv.json"
    assert run("export", cid, "-o", str(target)).exit_code == 0
    twice = run("import", str(target))
    assert twice.exit_code == 2
    assert twice.stderr.strip() == (
        f"error: already imported: {target} is conversation {cid} in this store "
        "(--again imports another copy)"
    )
    assert len(run("list", "--json").stdout.splitlines()) == 1
    copy = run("import", str(target), "--again")
    assert copy.exit_code == 0 and copy.stdout.strip() != cid
    assert len(run("list", "--json").stdout.splitlines()) == 2


def test_rm_without_a_terminal_says_to_use_yes(run: Run) -> None:
    cid = _ask(run, "keep me")
    result = run("rm", cid, input="")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: not deleted: no answer to confirm it (use --yes): {cid}"
    )
    assert "interrupted" not in result.stderr
    assert run("show", cid).exit_code == 0


def test_an_ambiguous_short_id_says_to_use_its_end(run: Run) -> None:
    first, second = _ask(run, "one"), _ask(run, "two")
    if second.startswith(first[:6]):  # ids start with the time: almost always shared
        ambiguous = run("show", first[:6])
        assert ambiguous.exit_code == 2 and "its last 6 characters" in ambiguous.stderr
    assert "one" in run("show", first[-6:]).stdout


def test_the_input_history_file_is_0600(
    cli_env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(cli_env["XDG_DATA_HOME"]))
    first = history_path()
    assert _mode(first) == 0o600
    first.chmod(0o644)
    assert _mode(history_path()) == 0o600


def test_library_warnings_are_one_line_without_the_password(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("list").exit_code == 0  # the command line takes over the library's warnings
    logging.getLogger("claudechat.store").warning(
        "could not keep it in\npostgresql://app:%s@db.example.com/chats", PASSWORD
    )
    err = capsys.readouterr().err
    assert err == "warning: could not keep it in postgresql://app:***@db.example.com/chats\n"
