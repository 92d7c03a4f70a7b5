"""The audit log: append-only and hash-chained (each record's hash covers the previous one),
so an edit or a deletion anywhere breaks the chain from that point on."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from arrears.store import schema

GENESIS = "0" * 64


def _digest(prev: str, at: datetime, actor: str, action: str, subject: str,
            detail: dict[str, Any]) -> str:
    body = json.dumps([prev, at.isoformat(), actor, action, subject, detail],
                      ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def record(conn: Connection, at: datetime, actor: str, action: str, subject: str,
           detail: dict[str, Any]) -> str:
    """Append one record inside the caller's transaction; returns its hash."""
    a = schema.audit_log
    if conn.dialect.name == "postgresql":  # one writer of the chain at a time
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
    last = conn.execute(select(a.c.hash).order_by(a.c.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    detail = json.loads(json.dumps(detail, default=str))
    h = _digest(prev, at, actor, action, subject, detail)
    conn.execute(insert(a).values(at=at, actor=actor, action=action, subject=subject,
                                  detail=detail, prev_hash=prev, hash=h))
    return h


def verify(conn: Connection) -> list[int]:
    """Ids of records whose hash or link does not hold (empty when the chain is intact)."""
    a = schema.audit_log
    broken = []
    prev = GENESIS
    for r in conn.execute(select(a).order_by(a.c.id)):
        at = r.at if isinstance(r.at, datetime) else datetime.fromisoformat(str(r.at))
        if r.prev_hash != prev or _digest(prev, at, r.actor, r.action, r.subject,
                                          r.detail) != r.hash:
            broken.append(r.id)
        prev = r.hash
    return broken
