"""Booking loans straight through the booking service (for service-level tests)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, insert, text

from arrears.services.booking import book_frame
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
    rec["repayment_method"] = rec.pop("method", rec["repayment_method"])
    for name, default in DEFAULTS.items():
        rec.setdefault(name, default)
    rec["_hash"] = content_hash(*sorted(rec.items()))
    rec["_row"] = 1
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        if conn.execute(schema.borrowers.select().where(
                schema.borrowers.c.borrower_id == "B1")).first() is None:
            conn.execute(insert(schema.borrowers).values(
                borrower_id="B1", name="张三", id_number="11010519491231002X",
                mobile="13800138000", province="浙江省", city="杭州市", address="文三路1号",
                extra={}, content_hash="x", created_at=now))
    booked = book_frame(engine, pl.DataFrame([rec], schema_overrides=SCHEMA), None, now)
    assert booked.loans == 1, booked.rejected
    return loan_id


DEFAULTS: dict[str, Any] = {
    "product_code": None, "first_due_on": None, "basis": "30/360", "rounding": "half-up",
    "month_end": "clamp", "service_fee_rate": "0", "service_fee_fixed": 0,
    "late_fee_rate": "0", "penalty_rate": None, "penalty_on_interest": False,
    "grace_penalty": "retroactive", "dpd_grace": "threshold",
    "waterfall": "fee,penalty,interest,principal", "allocation_scope": "instalment-first",
    "overpayment": "credit",
}
SCHEMA = {"first_due_on": pl.Date, "product_code": pl.String, "penalty_rate": pl.String,
          "principal": pl.Int64, "upfront_fee": pl.Int64, "late_fee_fixed": pl.Int64,
          "service_fee_fixed": pl.Int64, "term_count": pl.Int64, "grace_days": pl.Int64}
