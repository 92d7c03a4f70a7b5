"""Arrow-native bulk I/O (ADBC): whole tables in and out as Polars frames, no per-value Python.

Used where millions of rows move (bulk posting, end-of-day mirrors). One ADBC connection is one
transaction until ``commit``. Frames are normalised to the table's logical types on the way in
(SQLite hands back dates as text and booleans as integers) and written in the exact text forms
SQLAlchemy uses on SQLite, so both access paths read each other's rows.

SQLite caution: the ADBC driver carries its own copy of the SQLite library, and two copies in one
process must never have the same database open at once — their POSIX locks and WAL index do not
see each other (sqlite.org, "How To Corrupt An SQLite Database", §2.2). ``bulk`` therefore closes
the engine's pooled ``sqlite3`` connections before it opens, and nothing else in the process may
use the database until the bulk session ends. Bulk phases here are sequential; a multi-threaded
server must run them in a separate process.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Engine, Integer, Table

from arrears.store.schema import ExactDecimal

_tmp_counter = itertools.count()


def polars_schema(table: Table) -> dict[str, pl.DataType]:
    """The Polars dtype of each column of ``table``."""
    out: dict[str, pl.DataType] = {}
    for c in table.columns:
        t = c.type
        if isinstance(t, Boolean):
            out[c.name] = pl.Boolean()
        elif isinstance(t, DateTime):
            out[c.name] = pl.Datetime("us")
        elif isinstance(t, Date):
            out[c.name] = pl.Date()
        elif isinstance(t, BigInteger):
            out[c.name] = pl.Int64()
        elif isinstance(t, Integer):
            out[c.name] = pl.Int32()
        elif isinstance(t, ExactDecimal):
            out[c.name] = pl.String()
        else:
            out[c.name] = pl.String()
    return out


class Bulk:
    """An ADBC connection with typed frame reads and writes (SQLite or PostgreSQL)."""

    def __init__(self, conn: Any, dialect: str, write: bool = True) -> None:
        self.conn = conn
        self.dialect = dialect
        self.cur = conn.cursor()
        if dialect == "sqlite":
            # the connection is opened in autocommit mode so these can be set (SQLite refuses
            # some inside a transaction); the transaction is then ours: BEGIN IMMEDIATE takes
            # the write lock up front, so two writers wait instead of deadlocking on upgrade
            for pragma in ("busy_timeout = 30000", "foreign_keys = ON", "synchronous = NORMAL",
                           "cache_size = -524288", "temp_store = MEMORY"):
                self.cur.execute(f"PRAGMA {pragma}")
            # a reader takes no write lock, so it can run beside a writer (WAL)
            self.cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        else:
            # a bulk batch is idempotent by its ids, so a crash of the server that loses the
            # last few hundred milliseconds of commits costs a re-run, never consistency
            self.cur.execute("SET synchronous_commit = off")
            # bulk statements look expensive to the planner and get JIT-compiled every time;
            # the compilation costs more than it saves on these plain scans and joins
            self.cur.execute("SET jit = off")

    @property
    def pg(self) -> bool:
        return self.dialect == "postgresql"

    def read(self, sql: str, params: Sequence[Any] = (),
             schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
        """A query's rows as a frame, columns cast to ``schema`` where given."""
        self.cur.execute(_numbered(sql) if self.pg else sql, list(params) or None)
        df = pl.from_arrow(self.cur.fetch_arrow_table())
        assert isinstance(df, pl.DataFrame)
        return _cast(df, schema or {})

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(_numbered(sql) if self.pg else sql, list(params) or None)
        return int(self.cur.rowcount)

    def append(self, table: Table | str, df: pl.DataFrame) -> int:
        """Append rows (columns by name; absent nullable/defaulted columns left to the DB)."""
        if df.is_empty():
            return 0
        if isinstance(table, Table):
            name = table.name
            df = _conform(df, table)
        else:
            name = table
        self.cur.adbc_ingest(name, self._outgoing(df).to_arrow(), mode="append")
        return df.height

    def insert(self, table: Table, df: pl.DataFrame) -> int:
        """Insert rows through a staging table, casting text to the table's JSON columns
        (PostgreSQL will not take text into ``json`` directly)."""
        if df.is_empty():
            return 0
        json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
        if not self.pg or not json_cols & set(df.columns):
            return self.append(table, df)
        tmp = self.stage(_conform(df, table))
        cols = ", ".join(df.columns)
        picks = ", ".join(f"CAST({c} AS json)" if c in json_cols else c for c in df.columns)
        self.cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {picks} FROM {tmp}")
        self.drop(tmp)
        return df.height

    def stage(self, df: pl.DataFrame) -> str:
        """Load ``df`` into a temporary table and return its name."""
        name = f"arrears_stage_{next(_tmp_counter)}"
        self.cur.adbc_ingest(name, self._outgoing(df).to_arrow(), mode="create",
                             temporary=True)
        return name

    def drop(self, name: str) -> None:
        self.cur.execute(f"DROP TABLE IF EXISTS {name}")

    def upsert(self, table: Table, df: pl.DataFrame, key: Sequence[str]) -> int:
        """Insert rows, replacing the existing row with the same ``key``."""
        if df.is_empty():
            return 0
        tmp = self.stage(_conform(df, table))
        cols = ", ".join(df.columns)
        if self.pg:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in df.columns if c not in key)
            self.cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {tmp} "
                             f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")
        else:
            self.cur.execute(f"INSERT OR REPLACE INTO {table.name} ({cols}) "
                             f"SELECT {cols} FROM {tmp}")
        self.drop(tmp)
        return df.height

    def update(self, table: Table, df: pl.DataFrame, key: Sequence[str],
               bump: str | None = None) -> int:
        """``UPDATE table SET <other columns> FROM df WHERE key``; returns rows updated.
        ``bump`` is incremented on every updated row (optimistic versioning: put it in ``key``
        to update only rows still at the version read)."""
        if df.is_empty():
            return 0
        tmp = self.stage(_conform(df, table))
        sets = [f"{c} = t.{c}" for c in df.columns if c not in key]
        if bump:
            sets.append(f"{bump} = {table.name}.{bump} + 1")
        where = " AND ".join(f"{table.name}.{k} = t.{k}" for k in key)
        self.cur.execute(f"UPDATE {table.name} SET {', '.join(sets)} FROM {tmp} t "
                         f"WHERE {where}")
        n = int(self.cur.rowcount)
        if n < 0:  # the SQLite driver does not report it; ask SQLite
            self.cur.execute("SELECT changes()")
            n = int(self.cur.fetchone()[0])
        self.drop(tmp)
        return n

    def _outgoing(self, df: pl.DataFrame) -> pl.DataFrame:
        if self.pg:
            return df
        # SQLAlchemy's text forms on SQLite
        return df.with_columns(
            pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
            for c, t in df.schema.items() if isinstance(t, pl.Datetime))

    def commit(self) -> None:
        if self.pg:
            self.conn.commit()
        else:
            self.cur.execute("COMMIT")

    def rollback(self) -> None:
        if self.pg:
            self.conn.rollback()
        else:
            self.cur.execute("ROLLBACK")

    def close(self) -> None:
        self.cur.close()
        self.conn.close()


def _conform(df: pl.DataFrame, table: Table) -> pl.DataFrame:
    """The frame's columns cast to the table's own types (PostgreSQL's binary COPY takes a
    32-bit INTEGER only from a 32-bit column, and so on)."""
    want = polars_schema(table)
    casts = {c: want[c] for c in df.columns if c in want and df.schema[c] != want[c]}
    return df.cast(casts) if casts else df  # type: ignore[arg-type]


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …``."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], start=1))


def _cast(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    exprs = []
    for c, t in schema.items():
        if c not in df.columns or df.schema[c] == t:
            continue
        col = pl.col(c)
        if isinstance(t, pl.Date) and df.schema[c] == pl.String:
            exprs.append(col.str.slice(0, 10).str.to_date("%Y-%m-%d").alias(c))
        elif isinstance(t, pl.Datetime) and df.schema[c] == pl.String:
            exprs.append(col.str.replace("T", " ").str.to_datetime(
                "%Y-%m-%d %H:%M:%S%.f", time_unit="us").alias(c))
        else:
            exprs.append(col.cast(t).alias(c))
    return df.with_columns(exprs) if exprs else df


def connect(engine: Engine) -> Any:
    """A raw ADBC connection to the engine's database (autocommit off)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite_adbc

        return sqlite_adbc.connect(url.database or ":memory:", autocommit=True)
    import adbc_driver_postgresql.dbapi as pg_adbc

    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return pg_adbc.connect(uri)


@contextmanager
def bulk(engine: Engine, write: bool = True) -> Iterator[Bulk]:
    """A bulk session: commits when the block ends normally, rolls back otherwise. A reading
    session (``write=False``) takes no write lock and may run beside a writing one."""
    if engine.url.get_backend_name() == "sqlite":
        engine.dispose()  # no sqlite3 connection may stay open beside the ADBC one
    b = Bulk(connect(engine), engine.url.get_backend_name(), write)
    try:
        yield b
        b.commit()
    except BaseException:
        b.rollback()
        raise
    finally:
        b.close()


def lookup(engine: Engine, table: Table, key: str, values: pl.Series,
           columns: Sequence[str]) -> pl.DataFrame:
    """The rows of ``table`` whose ``key`` is among ``values`` (``columns`` of them, typed):
    one staged join instead of an IN list per few hundred keys."""
    want = {c: polars_schema(table)[c] for c in columns}
    if values.is_empty():
        return pl.DataFrame(schema=want)
    with bulk(engine) as b:
        tmp = b.stage(pl.DataFrame({"k": values.unique()}))
        try:
            return b.read(f"SELECT {', '.join(columns)} FROM {table.name} "
                          f"WHERE {key} IN (SELECT k FROM {tmp})", schema=want)
        finally:
            b.drop(tmp)
