"""End-of-day's columnar balances and days past due equal the single-loan view
(``book.views.snapshot``, what ``arrears loan show --as-of`` prints) to the fen, on random
portfolios: payments early, late, partial and over, write-offs, waivers, prepayments."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from tests.book.test_vector_engine import EXAMPLES, Book, Pay, portfolio, scalar_post, terms

from arrears.book.engine import LoanEngine
from arrears.book.terms import Component, DpdGrace
from arrears.book.vector_engine import frames_from_engines
from arrears.book.views import snapshot
from arrears.eod.compact import compact
from arrears.eod.steps import (
    Day,
    advance_step,
    balances_step,
    delinquency_step,
)

COMPONENT = {"fee": Component.FEE, "penalty": Component.PENALTY,
             "interest": Component.INTEREST, "principal": Component.PRINCIPAL}


def eod_frame(book: Book, as_of: date, horizon: date | None = None) -> pl.DataFrame:
    """End-of-day's balances of the book, its settled history folded into totals up to
    ``horizon`` (≤ ``as_of``) first when one is given."""
    loans, lines = frames_from_engines(book)
    loans = loans.filter(pl.col("disbursed_on") <= as_of)
    lines = lines.filter(pl.col("loan_id").is_in(loans["loan_id"].implode()))
    if horizon is not None:
        folded, lines = compact(loans, lines, horizon)
        assert folded["loan_id"].equals(loans["loan_id"])  # order kept: the engine needs it
        loans = folded
    day = Day(as_of, loans, lines, None, None, loans)  # type: ignore[arg-type]
    for step in (advance_step, balances_step, delinquency_step):
        day = step(day)
    return day.snap


def expected(eng: LoanEngine, as_of: date) -> dict[str, Any]:
    s = snapshot(eng, as_of)
    row: dict[str, Any] = {
        **{f"outstanding_{c}": s.outstanding[k] for c, k in COMPONENT.items()},
        **{f"overdue_{c}": s.overdue[k] for c, k in COMPONENT.items()},
        **{f"paid_{c}": s.paid[k] for c, k in COMPONENT.items()},
        "outstanding_total": s.outstanding_total, "paid_total": sum(s.paid.values()),
        "waived_total": sum(s.waived.values()),
        "written_off_total": sum(s.written_off.values()),
        "principal_not_due": s.principal_not_due, "accrued_interest": s.accrued_interest,
        "accrued_fee": s.accrued_fee, "pending_penalty": s.pending_penalty,
        "credit": s.credit, "recovered": s.recovered, "oldest_unpaid_due": s.oldest_unpaid_due,
        "next_due_on": s.next_due_on, "next_due_amount": s.next_due_amount,
        "payoff": s.payoff, "closed_on": s.closed_on, "past_due_days": s.past_due_days,
        "dpd": s.dpd,
    }
    return row


def assert_agree(book: Book, as_of: date, horizon: date | None = None) -> int:
    frame = eod_frame(book, as_of, horizon)
    got = {r["loan_id"]: r for r in frame.iter_rows(named=True)}
    checked = 0
    for loan_id, eng in book.items():
        if eng.terms.start > as_of:
            assert loan_id not in got
            continue
        want = expected(eng, as_of)
        have = {k: got[loan_id][k] for k in want}
        assert have == want, (loan_id, as_of,
                              {k: (have[k], want[k]) for k in want if have[k] != want[k]})
        checked += 1
    return checked


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(portfolio())
def test_eod_balances_equal_the_single_loan_view(
        case: tuple[Book, list[Pay], dict[str, date]]) -> None:
    book, pays, _ = case
    scalar_post(book, pays)
    for eng in book.values():
        eng.take_entries()
    rng = random.Random(len(pays))
    starts = [e.terms.start for e in book.values()]
    days = [min(starts) + timedelta(days=rng.randint(0, 700)) for _ in range(3)]
    # the day a payment was made and the days around a due date are where rules meet
    days += [p.value_date for p in pays[:2]]
    for d in days:
        assert_agree({k: e.copy() for k, e in book.items()}, d)
        # and with the settled history folded into totals, up to the date or before it
        for horizon in (d, d - timedelta(days=rng.randint(1, 120))):
            assert_agree({k: e.copy() for k, e in book.items()}, d, horizon)


def test_a_loan_within_grace_and_one_past_it() -> None:
    base = terms()
    book = {"A": LoanEngine.open(replace(base, grace_days=3)),
            "B": LoanEngine.open(replace(base, grace_days=3, dpd_grace=DpdGrace.SUBTRACT))}
    first_due = book["A"].lines[0].due_on
    for d, dpd_a, dpd_b in ((first_due, 0, 0), (first_due + timedelta(days=3), 0, 0),
                            (first_due + timedelta(days=4), 4, 1)):
        frame = eod_frame({k: e.copy() for k, e in book.items()}, d)
        by = dict(zip(frame["loan_id"], frame["dpd"], strict=True))
        assert (by["A"], by["B"]) == (dpd_a, dpd_b), d
        assert_agree({k: e.copy() for k, e in book.items()}, d)
