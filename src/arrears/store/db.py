"""Engine creation and migrate-on-first-use."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

from arrears.settings import Settings, load_settings

MIGRATIONS = Path(__file__).parent / "migrations"

# Values written through the raw sqlite3 connection (bulk paths) are stored exactly as
# SQLAlchemy stores them: ISO dates, "YYYY-MM-DD HH:MM:SS[.ffffff]" date-times, exact decimals.
sqlite3.register_adapter(date, date.isoformat)
sqlite3.register_adapter(datetime, lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f"))
sqlite3.register_adapter(Decimal, str)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-262144")  # 256 MB page cache
    cur.execute("PRAGMA temp_store=MEMORY")  # staging tables stay in memory
    cur.close()


_SQLITE_ENGINES: dict[str, Engine] = {}


def make_engine(url: str) -> Engine:
    """The engine for ``url``. A SQLite file has one engine per process: the bulk paths open
    it with ADBC's own copy of SQLite after disposing the engine's connections, and POSIX
    locks belong to the process — a second engine's open connection would lose its locks when
    the other copy closes the file, and the file can be corrupted
    (https://www.sqlite.org/howtocorrupt.html §2.2)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        file = bool(path) and path != ":memory:"
        key = str(Path(path).resolve()) if file else ""
        if key in _SQLITE_ENGINES:
            return _SQLITE_ENGINES[key]
        if file:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"timeout": 30})
        event.listen(eng, "connect", _sqlite_pragmas)
        if file:
            _SQLITE_ENGINES[key] = eng
        return eng
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (no-op when already there)."""
    url = engine.url.render_as_string(hide_password=False)
    if current_revision(engine) == head_revision(url):
        return
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_engines: dict[str, Engine] = {}


def get_engine(settings: Settings | None = None) -> Engine:
    """The workspace's engine, created and migrated on first use."""
    s = settings or load_settings()
    eng = _engines.get(s.database_url)
    if eng is None:
        s.home.mkdir(parents=True, exist_ok=True)
        eng = make_engine(s.database_url)
        migrate(eng)
        _engines[s.database_url] = eng
    return eng
