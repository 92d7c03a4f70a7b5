"""Booking loans straight through the booking service (for service-level tests)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, insert, text

from arrears.services.booking import book_loans
from arrears.services.posting import content_hash
from arrears.store import schema
from arrears.store.schema import metadata


def truncate(engine: Engine) -> None:
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(metadata.sorted_tables):
                c.execute(t.delete())


def book(engine: Engine, loan_id: str, start: date, **over: Any) -> str:
    """Book one loan (and its borrower) with sensible defaults overridden by ``over``."""
    rec: dict[str, Any] = {
        "loan_id": loan_id, "borrower_id": "B1", "lender_type": "consumer-finance",
        "principal": 300_000, "currency": "CNY", "annual_rate": "0.18",
        "repayment_method": "equal-instalment", "term_count": 3, "period": "month",
        "disbursed_on": start, "contract_signed_on": start, "upfront_fee": 0,
        "penalty_rate_multiplier": "1.5", "grace_days": 0, "late_fee_fixed": 1_000,
    }
    rec.update(over)
    rec["method"] = rec["repayment_method"] = over.get("method", rec["repayment_method"])
    rec["_hash"] = content_hash(*sorted(rec.items()))
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        if conn.execute(schema.borrowers.select().where(
                schema.borrowers.c.borrower_id == "B1")).first() is None:
            conn.execute(insert(schema.borrowers).values(
                borrower_id="B1", name="张三", id_number="11010519491231002X",
                mobile="13800138000", province="浙江省", city="杭州市", address="文三路1号",
                extra={}, content_hash="x", created_at=now))
        booked = book_loans(conn, [rec], None, now)
    assert booked.loans == 1, booked.rejected
    return loan_id
