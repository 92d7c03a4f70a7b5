"""Shared fixtures: real databases (a SQLite file, and PostgreSQL on 127.0.0.1:5432).

PostgreSQL tests use a database of their own per test session (and per xdist worker), created
and migrated once and truncated between tests. Set ARREARS_TEST_PG_URL to point elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from arrears.settings import Settings
from arrears.store.db import make_engine, migrate
from arrears.store.schema import metadata

PG_ADMIN = os.environ.get("ARREARS_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


def _pg_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"arrears_test_{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = _pg_name()
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, not a test result
        pytest.fail(f"PostgreSQL is required for the store tests ({PG_ADMIN}): {exc}")
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    eng = make_engine(url)
    migrate(eng)
    eng.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(engine: Engine) -> None:
    names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(metadata.sorted_tables):
                c.execute(t.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'book.db'}")
        migrate(eng)
    else:
        eng = make_engine(request.getfixturevalue("pg_url"))
        _truncate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path, db: Engine) -> Settings:
    return Settings(home=tmp_path / "ws", database_url=db.url.render_as_string(False))


@pytest.fixture
def workspace_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace for CLI tests (embedded SQLite)."""
    home = tmp_path / "arrears-home"
    monkeypatch.setenv("ARREARS_HOME", str(home))
    monkeypatch.delenv("ARREARS_DATABASE_URL", raising=False)
    return home
