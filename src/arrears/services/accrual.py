"""Posting accruals up to a date for stored loans (interest and fees falling due, penalty
interest, late fees, credit applied) — the ledger side of end-of-day for the given loans."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection

from arrears.store.loans import journal_rows, load_engines, save_engines, write_journal


def accrue_through(conn: Connection, loan_ids: Sequence[str], day: date,
                   posted_at: datetime) -> int:
    """Advance each loan's engine through ``day`` and post what it emits; returns the number of
    journal rows. Loans already at or past ``day`` are left alone (idempotent)."""
    loaded = load_engines(conn, loan_ids)
    rows = []
    todo = {}
    for loan_id, ld in loaded.items():
        if ld.engine.accrued_through >= day:
            continue
        ld.engine.advance_to(day)
        rows.extend(journal_rows(ld, loan_id, ld.engine.take_entries(), posted_at))
        todo[loan_id] = ld
    n = write_journal(conn, rows)
    save_engines(conn, todo)
    return n
