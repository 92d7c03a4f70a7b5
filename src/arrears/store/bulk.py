"""Fast bulk writes: PostgreSQL ``COPY`` and SQLite ``executemany`` on the raw connection.

Both run inside the caller's transaction (the raw DBAPI connection is the one SQLAlchemy holds),
so a batch is still all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table


def raw(conn: Connection) -> Any:
    """The DBAPI connection under a SQLAlchemy connection (same transaction)."""
    return conn.connection.driver_connection


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def fetch(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Rows of ``sql`` written with ``?`` placeholders, on either driver."""
    r = raw(conn)
    if is_postgres(conn):
        with r.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return list(cur.fetchall())
    return list(r.execute(sql, params).fetchall())


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement written with ``?`` placeholders; returns the row count."""
    r = raw(conn)
    if is_postgres(conn):
        with r.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return int(cur.rowcount)
    return int(r.execute(sql, params).rowcount)


def insert_rows(conn: Connection, table: Table, columns: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """Insert tuples (in ``columns`` order) into ``table``; returns the number written."""
    cols = ", ".join(columns)
    n = 0
    if is_postgres(conn):
        with raw(conn).cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
                n += 1
        return n
    batch = rows if isinstance(rows, list) else list(rows)
    marks = ", ".join("?" for _ in columns)
    raw(conn).executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({marks})", batch)
    return len(batch)


def update_rows(conn: Connection, table: Table, key: Sequence[str], columns: Sequence[str],
                rows: Sequence[Sequence[Any]], bump: str | None = None) -> int:
    """``UPDATE table SET columns WHERE key`` for each row (values: columns then key); returns
    the number of rows updated. ``bump`` names a column incremented on each update (a version).
    """
    if not rows:
        return 0
    r = raw(conn)
    extra = f", {bump} = {table.name}.{bump} + 1" if bump else ""
    if is_postgres(conn) and len(rows) > 200:
        tmp = f"tmp_upd_{table.name}"
        allc = [*columns, *key]
        with r.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {tmp} "
                        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP")
            cur.execute(f"TRUNCATE {tmp}")
            with cur.copy(f"COPY {tmp} ({', '.join(allc)}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
            sets = ", ".join(f"{c} = t.{c}" for c in columns)
            where = " AND ".join(f"{table.name}.{k} = t.{k}" for k in key)
            cur.execute(f"UPDATE {table.name} SET {sets}{extra} FROM {tmp} t WHERE {where}")
            return int(cur.rowcount)
    sets = ", ".join(f"{c} = ?" for c in columns)
    where = " AND ".join(f"{k} = ?" for k in key)
    sql = f"UPDATE {table.name} SET {sets}{extra} WHERE {where}"
    if is_postgres(conn):
        return sum(execute(conn, sql, row) for row in rows)
    cur = r.executemany(sql, rows)
    return int(cur.rowcount)


def select_in(conn: Connection, sql: str, keys: Sequence[Any], chunk: int = 900) -> list[Any]:
    """Run ``sql`` (with one ``{in}`` placeholder for an IN list) over ``keys`` in chunks."""
    out: list[Any] = []
    r = raw(conn)
    pg = is_postgres(conn)
    for i in range(0, len(keys), chunk):
        part = list(keys[i:i + chunk])
        if pg:
            with r.cursor() as cur:
                cur.execute(sql.replace("{in}", "= ANY(%s)"), (part,))
                out.extend(cur.fetchall())
        else:
            marks = ", ".join("?" for _ in part)
            out.extend(r.execute(sql.replace("{in}", f"IN ({marks})"), part).fetchall())
    return out
