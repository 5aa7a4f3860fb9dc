"""open_store picks a store from a spec or the environment; the package exports its API."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

import claudechat.store as store_pkg
from claudechat.errors import ConfigError
from claudechat.store import MemoryStore, SQLiteStore, default_db_path, open_store
from claudechat.store.migrations import split_sqlite


def test_memory_and_paths(tmp_path: Path) -> None:
    assert isinstance(open_store(":memory:"), MemoryStore)
    for spec, where in [
        (str(tmp_path / "a.db"), tmp_path / "a.db"),
        (f"sqlite:///{tmp_path}/b.db", tmp_path / "b.db"),
    ]:
        s = open_store(spec, env={})
        assert isinstance(s, SQLiteStore) and s.path == where and where.exists()
        s.close()


def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite:///rel.db")
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "rel.db"
    s.close()


def test_environment_decides_when_no_spec(tmp_path: Path) -> None:
    env = {"CLAUDECHAT_STORE": ":memory:", "CLAUDECHAT_DB": str(tmp_path / "x.db")}
    assert isinstance(open_store(None, env=env), MemoryStore)
    s = open_store(None, env={"CLAUDECHAT_DB": str(tmp_path / "x.db")})
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "x.db"
    s.close()
    assert isinstance(open_store(":memory:", env={"CLAUDECHAT_DB": "/nonexistent/x.db"}),
                      MemoryStore)  # fmt: skip


def test_default_is_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = default_db_path()
    assert path == tmp_path / "data" / "claudechat" / "claudechat.db"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    s = open_store(None, env={})
    assert isinstance(s, SQLiteStore) and s.path == path
    s.close()


def test_bad_specs() -> None:
    with pytest.raises(ConfigError, match="unknown store mysql://"):
        open_store("mysql://x/y")
    with pytest.raises(ConfigError, match="needs a path"):
        open_store("sqlite://")


def test_exports_are_complete_and_sorted() -> None:
    from claudechat.store import accounts, base

    expected = {*base.__all__, "MemoryStore", "ScopedStore", "SQLiteStore", "PostgresStore", "open_store",
                "default_db_path", "export_conversation", "export_json", "export_markdown",
                "import_conversation", "import_file", "MemoryFile", "MemoryFiles",
                *(set(accounts.__all__) - {"check_limits", "check_user_id", "check_user_name",
                                          "last_use_due"})}  # fmt: skip
    assert set(store_pkg.__all__) == expected

    def isort_key(name: str) -> tuple[int, str]:
        kind = 0 if re.fullmatch(r"[A-Z0-9_]+", name) else 1 if name[0].isupper() else 2
        return kind, name

    assert store_pkg.__all__ == sorted(store_pkg.__all__, key=isort_key)
    for name in store_pkg.__all__:
        assert getattr(store_pkg, name) is not None


def test_split_sqlite_keeps_trigger_bodies() -> None:
    script = """
    -- a comment
    CREATE TABLE a (x);

    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO a VALUES (1);
        INSERT INTO a VALUES (2);
    END;
    """
    parts = split_sqlite(script)
    assert len(parts) == 2 and parts[1].endswith("END;") and "VALUES (2);" in parts[1]
    with pytest.raises(ValueError, match="ends inside"):
        split_sqlite("CREATE TABLE b (x")


@pytest.mark.parametrize(
    "spec", ["host=127.0.0.1 port=9 user=u password=KvSecret55", "dbname=chats", " user = app"]
)
def test_a_keyword_conninfo_is_refused_not_made_a_file(
    spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="postgresql://user:password@host") as caught:
        open_store(spec)
    assert "KvSecret55" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []
