"""Properties of every simulated book, on random seeds, sizes, dates and policies: no payment
before its loan was disbursed, none above what the loan owes at that moment (by the scalar
loan engine, from the contract rows as ingestion reads them), no overpaid closed loan."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.book.engine import LoanEngine, LoanStatus
from arrears.book.events import Payment
from arrears.contract.fields import CONTRACTS
from arrears.contract.validate import check
from arrears.services.booking import terms_from_record
from arrears.sim import BaselinePolicy, NoPolicy, Simulation


def _owed(eng: LoanEngine, day: date) -> int:
    """Everything the loan would still ask for on ``day``: receivables now, plus interest and
    fees of the instalments not yet due."""
    eng.advance_to(day)
    future = sum(ln.interest + ln.fee for ln in eng.lines if ln.live and ln.due_on > day)
    return sum(eng.outstanding()) + future


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(1, 10_000), borrowers=st.integers(20, 100),
       days=st.integers(40, 120), start=st.dates(date(2024, 1, 1), date(2026, 12, 31)),
       baseline=st.booleans())
def test_payments_never_exceed_what_is_owed_nor_come_before_the_loan(
        seed: int, borrowers: int, days: int, start: date, baseline: bool) -> None:
    policy = BaselinePolicy() if baseline else NoPolicy()
    sim = Simulation(seed=seed, borrowers=borrowers, start=start, days=days, policy=policy)
    out = list(sim)
    loans = check(pl.concat([d.loans for d in out]), CONTRACTS["loans"])
    pays = check(pl.concat([d.payments for d in out]), CONTRACTS["payments"])
    assert loans.bad.height == 0 and pays.bad.height == 0
    by_loan = pays.good.sort("paid_at").partition_by("loan_id", as_dict=True)
    for record in loans.good.iter_rows(named=True):
        eng = LoanEngine.open(terms_from_record(record))
        rows = by_loan.get((record["loan_id"],))
        for p in rows.iter_rows(named=True) if rows is not None else []:
            day = p["paid_at"].date()
            assert day >= record["disbursed_on"], p
            assert 0 < p["amount"] <= _owed(eng, day), p
            eng.apply(Payment(p["payment_id"], day, p["amount"], at=p["paid_at"]))
        if eng.status is LoanStatus.CLOSED:
            assert eng.credit == 0, record["loan_id"]
