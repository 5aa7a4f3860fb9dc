"""``TemporaryPostgres``: a throwaway PostgreSQL server for tests and benchmarks.

``initdb`` into a temporary directory, ``pg_ctl start`` listening only on a unix socket
in that directory, ``stop()`` kills it and deletes everything. PostgreSQL refuses to run
as root, so under root the server runs as the ``postgres`` user (created as
``claudechat-pg`` with ``useradd`` when no such user exists).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..errors import StoreError

__all__ = ["PostgresUnavailable", "TemporaryPostgres", "find_bindir", "with_dbname"]

_FALLBACK_USER = "claudechat-pg"


class PostgresUnavailable(StoreError):
    """No PostgreSQL server could be started here (binaries missing, initdb failed, ...)."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then Debian's layout."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def with_dbname(conninfo: str, dbname: str, *, schema: str | None = None) -> str:
    """The same server, another database (URL or ``key=value`` conninfo); with ``schema``,
    connections use it first in their ``search_path`` (tables are created there)."""
    if conninfo.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(conninfo)
        query = [kv for kv in parts.query.split("&") if kv and not kv.startswith("options=")]
        if schema is not None:
            query.append("options=" + quote(f"-csearch_path={schema}", safe=""))
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe=""), query="&".join(query)))
    from psycopg.conninfo import make_conninfo

    extra = {"options": f"-csearch_path={schema}"} if schema is not None else {}
    return make_conninfo(conninfo, dbname=dbname, **extra)


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root (None otherwise)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _FALLBACK_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    cmd = [useradd, "--system", "--no-create-home", "--shell", "/bin/false", _FALLBACK_USER]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        raise PostgresUnavailable(f"running as root and cannot create a user: {err}") from err
    return pwd.getpwnam(_FALLBACK_USER)


class TemporaryPostgres:
    """A private PostgreSQL server in a temporary directory; use as a context manager."""

    def __init__(
        self,
        *,
        bindir: str | os.PathLike[str] | None = None,
        fsync: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        found = Path(bindir) if bindir else find_bindir()
        if found is None or not (found / "initdb").exists() or not (found / "pg_ctl").exists():
            raise PostgresUnavailable("initdb and pg_ctl not found (install PostgreSQL)")
        self.bindir = found
        self.fsync = fsync
        self.settings = dict(settings or {})
        self.dir: Path | None = None
        self.conninfo = ""

    def __enter__(self) -> TemporaryPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        assert self.dir is not None, "the server is not started"
        return self.dir / "data"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        user = _server_user()
        kw: dict[str, Any] = {}
        if user is not None:
            kw = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )

    def start(self) -> str:
        """Create and start the cluster; returns its conninfo URL (user and db ``postgres``)."""
        user = _server_user()
        base = "/tmp" if user is not None and os.path.isdir("/tmp") else None
        self.dir = Path(tempfile.mkdtemp(prefix="claudechat-pg-", dir=base))
        try:
            if user is not None:
                os.chown(self.dir, user.pw_uid, user.pw_gid)
            init = self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
            if init.returncode:
                raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-2000:]}")
            conf = {
                "listen_addresses": "''",
                "unix_socket_directories": f"'{self.dir}'",
                "fsync": "on" if self.fsync else "off",
                "synchronous_commit": "on" if self.fsync else "off",
                "full_page_writes": "on" if self.fsync else "off",
                **self.settings,
            }
            with (self.data / "postgresql.conf").open("a", encoding="utf-8") as f:
                f.writelines(f"{k} = {v}\n" for k, v in conf.items())
            log = str(self.dir / "server.log")
            started = self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60",
                                "start")  # fmt: skip
            if started.returncode:
                tail = (self.dir / "server.log").read_text(errors="replace")[-2000:]
                raise PostgresUnavailable(f"pg_ctl start failed: {started.stderr.strip()} {tail}")
        except BaseException:
            self.stop()
            raise
        self.conninfo = f"postgresql://postgres@/postgres?host={quote(str(self.dir), safe='')}"
        return self.conninfo

    def stop(self) -> None:
        """Stop the server (immediately) and delete its directory; safe to call twice."""
        if self.dir is None:
            return
        try:
            if (self.data / "postmaster.pid").exists():
                done = self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                                 timeout=60)  # fmt: skip
                if done.returncode:
                    self._kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.conninfo = ""

    def _kill(self) -> None:
        """Last resort: SIGKILL the postmaster named in its pid file."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
