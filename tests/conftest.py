"""Shared fixtures: a PostgreSQL server for the tests that need one.

``pg_conninfo`` (session) is ``CLAUDECHAT_TEST_PG`` when set, else a throwaway server
started here (initdb + pg_ctl on a unix socket in a temporary directory, run as an
unprivileged user when we are root) and stopped at the end; it is also exported as
``CLAUDECHAT_TEST_PG``. ``pg_database`` gives each test a fresh, empty schema of its own. Tests
marked ``postgres`` get the server without asking. Without PostgreSQL those tests are
skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"PostgreSQL is required under CI=true but unavailable: {reason}",
                    pytrace=False)  # fmt: skip
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_conninfo() -> Iterator[str]:
    """Conninfo (a postgresql:// URL) of a PostgreSQL server for this test session."""
    try:
        import psycopg

        from claudechat.store.pgtemp import PostgresUnavailable, TemporaryPostgres
    except ImportError as err:
        _unavailable(f"psycopg is not installed ({err})")
    given = os.environ.get("CLAUDECHAT_TEST_PG")
    if given:
        try:
            psycopg.connect(given, connect_timeout=10).close()
        except psycopg.Error as err:
            _unavailable(f"cannot connect to CLAUDECHAT_TEST_PG: {err}")
        yield given
        return
    try:
        server = TemporaryPostgres()
        conninfo = server.start()
    except (PostgresUnavailable, OSError) as err:
        _unavailable(str(err))
    atexit.register(server.stop)  # also on an interrupted session
    os.environ["CLAUDECHAT_TEST_PG"] = conninfo
    try:
        yield conninfo
    finally:
        os.environ.pop("CLAUDECHAT_TEST_PG", None)
        server.stop()


@pytest.fixture(scope="session")
def _pg_tests_db(pg_conninfo: str) -> Iterator[str]:
    """One database for the session's tests (each test works in a schema of its own),
    dropped at the end so that an external CLAUDECHAT_TEST_PG server is left clean."""
    import psycopg

    name = f"claudechat_tests_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(pg_conninfo, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_new_database(pg_conninfo: str, _pg_tests_db: str) -> Iterator[Callable[[], str]]:
    """A function giving fresh, empty, isolated databases (a new schema each, first in the
    ``search_path`` of the conninfo it returns), dropped after the test."""
    import psycopg

    from claudechat.store.pgtemp import with_dbname

    admin_info = with_dbname(pg_conninfo, _pg_tests_db)
    schemas: list[str] = []

    def new() -> str:
        schemas.append(f"test_{uuid.uuid4().hex[:16]}")
        with psycopg.connect(admin_info, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schemas[-1]}"')
        return with_dbname(pg_conninfo, _pg_tests_db, schema=schemas[-1])

    try:
        yield new
    finally:
        with psycopg.connect(admin_info, autocommit=True) as admin:
            for schema in schemas:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_database(pg_new_database: Callable[[], str]) -> str:
    """Conninfo of a fresh, empty, isolated database for this test (see pg_new_database)."""
    return pg_new_database()


@pytest.fixture(autouse=True)
def _postgres_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """Start (or skip for) PostgreSQL for tests marked ``postgres``."""
    if request.node.get_closest_marker("postgres") is not None:
        request.getfixturevalue("pg_conninfo")
