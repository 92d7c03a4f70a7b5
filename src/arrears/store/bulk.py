"""Fast bulk writes: PostgreSQL ``COPY`` and SQLite ``executemany`` on the raw connection.

Both run inside the caller's transaction (the raw DBAPI connection is the one SQLAlchemy holds),
so a batch is still all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_rows(conn: Connection, table: Table, columns: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """Insert tuples (in ``columns`` order) into ``table``; returns the number written."""
    raw = _raw(conn)
    cols = ", ".join(columns)
    n = 0
    if is_postgres(conn):
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
                n += 1
        return n
    batch = rows if isinstance(rows, list) else list(rows)
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({marks})", batch)
    return len(batch)


def update_rows(conn: Connection, table: Table, key: Sequence[str], columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """``UPDATE table SET columns WHERE key`` for each row (values: columns then key)."""
    if not rows:
        return
    raw = _raw(conn)
    if is_postgres(conn) and len(rows) > 200:
        tmp = f"tmp_upd_{table.name}"
        allc = [*columns, *key]
        with raw.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {tmp} "
                        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP")
            cur.execute(f"TRUNCATE {tmp}")
            with cur.copy(f"COPY {tmp} ({', '.join(allc)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            sets = ", ".join(f"{c} = t.{c}" for c in columns)
            where = " AND ".join(f"{table.name}.{k} = t.{k}" for k in key)
            cur.execute(f"UPDATE {table.name} SET {sets} FROM {tmp} t WHERE {where}")
        return
    ph = "%s" if is_postgres(conn) else "?"
    sets = ", ".join(f"{c} = {ph}" for c in columns)
    where = " AND ".join(f"{k} = {ph}" for k in key)
    sql = f"UPDATE {table.name} SET {sets} WHERE {where}"
    if is_postgres(conn):
        with raw.cursor() as cur:
            cur.executemany(sql, rows)
    else:
        raw.executemany(sql, rows)


def select_in(conn: Connection, sql: str, keys: Sequence[Any], chunk: int = 900) -> list[Any]:
    """Run ``sql`` (with one ``{in}`` placeholder for an IN list) over ``keys`` in chunks."""
    out: list[Any] = []
    raw = _raw(conn)
    pg = is_postgres(conn)
    for i in range(0, len(keys), chunk):
        part = list(keys[i:i + chunk])
        if pg:
            with raw.cursor() as cur:
                cur.execute(sql.replace("{in}", "= ANY(%s)"), (part,))
                out.extend(cur.fetchall())
        else:
            marks = ", ".join("?" for _ in part)
            out.extend(raw.execute(sql.replace("{in}", f"IN ({marks})"), part).fetchall())
    return out
