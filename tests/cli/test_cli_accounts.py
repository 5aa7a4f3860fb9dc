"""``users`` and ``keys``: accounts of the service, made and changed from the command line."""

from __future__ import annotations

import re
from collections.abc import Callable

from click.testing import Result

from claudechat.credentials import key_hash, verify_password
from claudechat.store import Limits, SQLiteStore

Run = Callable[..., Result]
KEY = re.compile(r"cc_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def _store(cli_env: dict[str, str | None]) -> SQLiteStore:
    return SQLiteStore(str(cli_env["CLAUDECHAT_DB"]))


def test_users_add_and_list(run: Run, cli_env: dict[str, str | None]) -> None:
    added = run("users", "add", "alice", "--password-stdin", input="correct horse\n")
    assert added.exit_code == 0, added.output
    assert re.fullmatch(r"added user alice \(id [0-9a-f]{32}\)\n", added.stdout)
    assert run("users", "add", "root", "--admin").exit_code == 0
    listed = run("users", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ID", "ROLE", "PASSWORD", "LIMITS"]
    assert [line.split()[0] for line in lines[1:]] == ["alice", "local", "root"]
    assert "user   password" in lines[1] and "admin  no password" in lines[3]
    with _store(cli_env) as store:
        alice = store.user_by_name("alice")
        stored = store.password_hash(alice.id)
        assert stored is not None and stored.startswith("$argon2id$")
        assert verify_password(stored, "correct horse")
        assert store.user_by_name("root").is_admin


def test_password_stdin_reads_one_line(run: Run, cli_env: dict[str, str | None]) -> None:
    assert run("users", "add", "bob").exit_code == 0
    result = run("users", "passwd", "bob", "--password-stdin", input="first line ok\nsecond\n")
    assert result.exit_code == 0 and result.stdout == "password of bob set\n"
    with _store(cli_env) as store:
        stored = store.password_hash(store.user_by_name("bob").id)
        assert stored is not None and verify_password(stored, "first line ok")
        assert not verify_password(stored, "first line ok\nsecond")


def test_bad_input_is_one_line_and_exit_2(run: Run, cli_env: dict[str, str | None]) -> None:
    assert run("users", "add", "bob").exit_code == 0
    cases = [
        (("users", "add", "bob"), None, "error: a user named bob exists already"),
        (("users", "add", "two words"), None, "error: user name 'two words'"),
        (("users", "passwd", "bob", "--password-stdin"), "short\n", "8 to 1024 characters"),
        (("users", "passwd", "nobody", "--password-stdin"), "long enough\n", "no user named"),
        (("users", "limit", "nobody", "--usd-per-day", "1"), None, "error: no user named nobody"),
        (("keys", "create", "nobody"), None, "error: no user named nobody"),
        (("keys", "revoke", "nope"), None, "error: no API key nope"),
    ]
    for args, stdin, message in cases:
        result = run(*args, input=stdin)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and result.stdout == ""
    with _store(cli_env) as store:
        assert [u.name for u in store.list_users()] == ["bob", "local"]
        assert not store.get_user(store.user_by_name("bob").id).has_password


def test_users_limit_sets_keeps_and_clears(run: Run, cli_env: dict[str, str | None]) -> None:
    assert run("users", "add", "carol").exit_code == 0
    result = run("users", "limit", "carol", "--usd-per-day", "2.5", "--concurrent-streams", "2")
    assert result.stdout == "limits of carol: $2.5/day, 2 streams\n"
    result = run("users", "limit", "carol", "--usd-per-month", "40")
    assert result.stdout == "limits of carol: $2.5/day, $40/month, 2 streams\n"
    assert run("users", "limit", "carol", "--usd-per-day", "none").exit_code == 0
    assert run("users", "limit", "carol", "--concurrent-streams", "0").exit_code == 0
    with _store(cli_env) as store:
        assert store.user_by_name("carol").limits == Limits(None, 40.0, None)
    assert run("users", "limit", "carol").stdout == "limits of carol: $40/month\n"
    for bad in (("--usd-per-day", "-1"), ("--concurrent-streams", "1.5"), ("--usd-per-month", "x")):
        refused = run("users", "limit", "carol", *bad)
        assert refused.exit_code == 2 and "Invalid value" in refused.stderr
    assert "carol" in run("users", "list").stdout.splitlines()[1]
    assert "$40/month" in run("users", "list").stdout


def test_keys_create_prints_the_key_once_on_its_last_line(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    assert run("users", "add", "dave").exit_code == 0
    made = run("keys", "create", "dave")
    assert made.exit_code == 0, made.output
    *before, last = made.stdout.splitlines()
    assert KEY.fullmatch(last) and before and not any(KEY.search(line) for line in before)
    with _store(cli_env) as store:
        found = store.api_key_user(key_hash(last))
        assert found is not None and found[0].name == "dave"
        key_id, prefix = found[1].id, found[1].prefix
    assert last.startswith(f"cc_{prefix}_")
    listed = run("keys", "list")
    assert key_id in listed.stdout and f"cc_{prefix}…" in listed.stdout
    assert last not in listed.stdout and last[12:] not in listed.stdout
    assert key_id in run("keys", "list", "dave").stdout
    assert key_id not in run("keys", "list", "local").stdout
    revoked = run("keys", "revoke", key_id)
    assert revoked.exit_code == 0 and revoked.stdout == f"API key {key_id} revoked\n"
    assert "revoked 2" in run("keys", "list", "dave").stdout
    with _store(cli_env) as store:
        assert store.api_key_user(key_hash(last)) is None


def test_two_keys_differ(run: Run) -> None:
    assert run("users", "add", "erin").exit_code == 0
    first = run("keys", "create", "erin").stdout.splitlines()[-1]
    second = run("keys", "create", "erin").stdout.splitlines()[-1]
    assert first != second and KEY.fullmatch(first) and KEY.fullmatch(second)
    listed = run("keys", "list", "erin").stdout.splitlines()
    assert len(listed) == 3 and all("active" in line for line in listed[1:])


def test_continue_latest_is_the_local_users_not_a_newer_one_of_a_service_user(
    run: Run, cli_env: dict[str, str | None]
) -> None:
    assert run("ask", "mine from the terminal").exit_code == 0
    with _store(cli_env) as store:
        alice = store.add_user("alice")
        theirs = store.create_conversation(title="alice's", owner=alice.id)
        (mine,) = [c for c in store.list_conversations() if c.conversation.owner == "local"]
    resumed = run("ask", "-c", "and again")
    assert resumed.exit_code == 0, resumed.output
    with _store(cli_env) as store:
        assert len(store.branch(mine.conversation.id)) == 4  # continued the local one
        assert store.branch(theirs.id) == []  # alice's, the newest, untouched
        shown = run("show", theirs.id)  # an explicit id still opens anyone's (admin)
        assert shown.exit_code == 0 and "alice's" in shown.stdout
