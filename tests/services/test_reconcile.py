"""Reconciliation and the audit chain catch what they exist to catch."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, text, update

from arrears.book.terms import Component
from arrears.services import audit
from arrears.services.operations import post_payment, waive
from arrears.services.reconcile import reconcile
from arrears.store import schema
from tests.services.booking_helpers import book

NOW = datetime(2026, 1, 1, 12, 0)


def _book_with_activity(engine: Engine) -> None:
    book(engine, "L1", date(2025, 1, 10), term_count=6)
    book(engine, "L2", date(2025, 1, 10), term_count=3)
    post_payment(engine, "P1", "L1", 30_000, datetime(2025, 2, 20, 9), "bank", "t", NOW)
    post_payment(engine, "P2", "L2", 60_000, datetime(2025, 3, 1, 9), "bank", "t", NOW)
    waive(engine, "W1", "L1", Component.PRINCIPAL, 100, date(2025, 2, 20), "goodwill", "t", NOW)


def test_a_clean_book_reconciles(db: Engine) -> None:
    _book_with_activity(db)
    with db.connect() as c:
        rep = reconcile(c, replay_sample=None)
    assert rep.ok and rep.loans == 2 and rep.replayed == 2 and rep.entries > 5


def test_an_edited_sub_ledger_line_is_a_break(db: Engine) -> None:
    _book_with_activity(db)
    with db.begin() as c:
        c.execute(update(schema.instalments).where(schema.instalments.c.loan_id == "L1")
                  .where(schema.instalments.c.n == 1)
                  .values(paid_interest=schema.instalments.c.paid_interest + 1))
    with db.connect() as c:
        rep = reconcile(c, replay_sample=None)
    assert not rep.ok
    assert any(b.loan_id == "L1" and b.component == "interest" for b in rep.breaks)


def test_an_edited_journal_amount_is_a_break(db: Engine) -> None:
    _book_with_activity(db)
    with db.begin() as c:  # keep the row balanced: the CHECK would refuse anything else
        c.execute(text("UPDATE journal SET principal = principal - 1, cash = cash + 1 "
                       "WHERE kind = 'payment' AND loan_id = 'L2'"))
    with db.connect() as c:
        rep = reconcile(c, replay_sample=None)
    assert any(b.loan_id == "L2" and b.component == "principal" for b in rep.breaks)


def test_the_audit_chain_shows_where_it_was_edited(db: Engine) -> None:
    _book_with_activity(db)
    with db.connect() as c:
        assert audit.verify(c) == []
        ids = [r[0] for r in c.execute(text("SELECT id FROM audit_log ORDER BY id"))]
    assert len(ids) == 3  # two payments and a waiver, each recorded
    with db.begin() as c:
        c.execute(update(schema.audit_log).where(schema.audit_log.c.id == ids[1])
                  .values(actor="someone else"))
    with db.connect() as c:
        assert audit.verify(c) == [ids[1]]


def test_rows_for_a_loan_that_does_not_exist_are_a_break(db: Engine) -> None:
    _book_with_activity(db)
    with db.begin() as c:
        c.execute(text("UPDATE loan_events SET loan_id = 'GHOST' WHERE event_id = 'P2'"))
    with db.connect() as c:
        rep = reconcile(c, replay_sample=None)
    assert any(b.loan_id == "GHOST" and "does not exist" in b.check for b in rep.breaks)
