"""Booking as frames gives exactly what the single-loan engine gives when it opens a loan."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from arrears.book.engine import LoanEngine
from arrears.services.booking import terms_from_record
from arrears.store import schema
from arrears.store.loans import load_engines
from tests.services.booking_helpers import book, truncate

DECIMALS = ("annual_rate", "service_fee_rate", "late_fee_rate", "penalty_rate_multiplier",
            "penalty_rate")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["equal-instalment", "equal-principal", "interest-first",
                               "bullet"]),
       period=st.sampled_from(["month", "3m", "7d", "14d"]),
       terms=st.integers(1, 24), principal=st.integers(100, 10**9),
       rate=st.sampled_from(["0", "0.0435", "0.18", "0.2399", "0.36"]),
       upfront=st.integers(0, 9), broken=st.integers(0, 20),
       basis=st.sampled_from(["30/360", "ACT/365", "ACT/360", "ACT/ACT"]))
def test_booked_lines_and_entry_equal_the_engine(db: Engine, method: str, period: str,
                                                 terms: int, principal: int, rate: str,
                                                 upfront: int, broken: int, basis: str) -> None:
    truncate(db)
    start = date(2025, 1, 31)
    rec = {"repayment_method": method, "period": period, "term_count": terms,
           "principal": principal, "annual_rate": rate, "upfront_fee": principal * upfront // 100,
           "basis": basis, "first_due_on": start + timedelta(days=20 + broken) if broken else None,
           "service_fee_fixed": 500}
    book(db, "L1", start, **rec)
    with db.connect() as c:
        stored = load_engines(c, ["L1"])["L1"].engine
        entry = c.execute(text("SELECT principal, cash, fee_income FROM journal")).one()
        row = dict(c.execute(select(schema.loans)).mappings().one())
        opened = LoanEngine.open(terms_from_record(
            {k: (str(v) if k in DECIMALS and v is not None else v) for k, v in row.items()}))
    assert stored.lines == opened.lines
    assert stored.next_seq == opened.next_seq
    (e,) = opened.entries
    assert tuple(entry) == (e.amounts["principal"], e.amounts["cash"],
                            e.amounts.get("fee_income", 0))
