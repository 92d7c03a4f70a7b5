"""The columnar loan engine equals the scalar one: every line field, every loan field, every
journal entry in order, on random portfolios and payment streams (Hypothesis), and on the
cases a loan officer would name.

``ARREARS_PROPERTY_EXAMPLES=300 python -m pytest tests/book/test_vector_engine.py`` runs deeper.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import permutations
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.book.engine import ACCOUNTS, EngineError, LoanEngine, LoanStatus
from arrears.book.events import Payment, Waiver, WriteOff
from arrears.book.schedule import build_schedule
from arrears.book.terms import (
    AllocationScope,
    Component,
    GracePenalty,
    LoanTerms,
    Method,
    Overpayment,
    Waterfall,
)
from arrears.book.vector_engine import (
    LINE_SCHEMA,
    LOAN_SCHEMA,
    PAYMENT_SCHEMA,
    advance,
    engines_from_frames,
    frames_from_engines,
    post_payments,
)
from arrears.calendar import DayCount, Period
from arrears.money import Rounding
from arrears.store.loans import LINE_COLUMNS, STATE_COLUMNS, TERM_COLUMNS

EXAMPLES = int(os.environ.get("ARREARS_PROPERTY_EXAMPLES", "60"))
D = date.fromisoformat
Book = dict[str, LoanEngine]
Row = tuple[Any, ...]


# ---------------------------------------------------------------- driving both engines


@dataclass(frozen=True)
class Pay:
    loan_id: str
    event_id: str
    value_date: date
    amount: int
    at: datetime | None = None


def payments_frame(pays: Sequence[Pay]) -> pl.DataFrame:
    return pl.DataFrame([(p.loan_id, p.event_id, p.value_date, p.amount, p.at) for p in pays],
                        schema=PAYMENT_SCHEMA, orient="row")


def scalar_post(book: Book, pays: Sequence[Pay]) -> dict[str, str]:
    """Apply the payments with the scalar engines; the refusals by event id."""
    rejected = {}
    for p in pays:
        try:
            book[p.loan_id].apply(Payment(p.event_id, p.value_date, p.amount, at=p.at))
        except EngineError as exc:
            rejected[p.event_id] = str(exc)
    return rejected


def entry_rows(book: Book) -> dict[str, list[Row]]:
    """Each loan's pending entries as rows (taken from the engines)."""
    return {loan_id: [(e.event_id, e.kind.value, e.value_date,
                       *(e.amounts.get(a, 0) for a in ACCOUNTS)) for e in eng.take_entries()]
            for loan_id, eng in book.items()}


def frame_entries(entries: pl.DataFrame, loan_ids: Sequence[str]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {loan_id: [] for loan_id in loan_ids}
    for r in entries.iter_rows():
        out[r[0]].append(r[1:])
    return out


def assert_frames(got: tuple[pl.DataFrame, pl.DataFrame], book: Book) -> None:
    want_loans, want_lines = frames_from_engines(book)
    loans, lines = got
    assert loans.schema == want_loans.schema and lines.schema == want_lines.schema
    for have, want, key in ((loans, want_loans, "loan_id"), (lines, want_lines, "loan_id")):
        if not have.equals(want):
            assert have.height == want.height, (have.height, want.height)
            diff = [c for c in want.columns if not have[c].equals(want[c])]
            bad = have.with_row_index().filter(
                pl.any_horizontal(pl.col(c).ne_missing(want[c]) for c in diff))
            first = bad.row(0, named=True)
            row = first["index"]
            raise AssertionError(f"{key} {first[key]}: {diff} differ, e.g. row {row}: "
                                 f"{ {c: (have[c][row], want[c][row]) for c in diff} }")


def assert_entries(entries: pl.DataFrame, book: Book) -> None:
    assert entries.select(pl.sum_horizontal(ACCOUNTS)).to_series().eq(0).all()
    want = entry_rows(book)
    have = frame_entries(entries, list(book))
    for loan_id in book:
        assert have[loan_id] == want[loan_id], loan_id


def post_both(book: Book, pays: Sequence[Pay]) -> int:
    """Post through both engines and compare everything; the fallback count."""
    loans, lines = frames_from_engines(book)
    posted = post_payments(loans, lines, payments_frame(pays))
    refused = scalar_post(book, pays)
    assert_frames((posted.loans, posted.lines), book)
    assert_entries(posted.entries, book)
    assert dict(zip(posted.rejected["event_id"], posted.rejected["reason"],
                    strict=True)) == refused
    return posted.fallbacks


def advance_both(book: Book, to: dict[str, date]) -> None:
    loans, lines = frames_from_engines(book)
    target = pl.Series([to.get(i) for i in loans["loan_id"]], dtype=pl.Date)
    moved = advance(loans, lines, target)
    for loan_id, day in to.items():
        book[loan_id].advance_to(day)
    assert_frames((moved.loans, moved.lines), book)
    assert_entries(moved.entries, book)


def fresh(terms: dict[str, LoanTerms]) -> Book:
    book = {loan_id: LoanEngine.open(t) for loan_id, t in terms.items()}
    for eng in book.values():
        eng.take_entries()
    return book


# ---------------------------------------------------------------- random portfolios

PERIODS = ["month", "month", "month", "2m", "7d", "14d", "30d"]
ORDERS = list(permutations(Component))


def rates(high: int, decimals: int = 4) -> st.SearchStrategy[Decimal]:
    return st.integers(0, high * 10**decimals // 100).map(lambda u: Decimal(u).scaleb(-decimals))


@st.composite
def loan_terms(draw: st.DrawFn) -> LoanTerms:
    principal = draw(st.integers(5_000, 3_000_000))
    start = D("2024-01-01") + timedelta(days=draw(st.integers(0, 420)))
    penalty_rate = draw(st.one_of(st.none(), rates(50)))
    return LoanTerms(
        principal=principal, annual_rate=draw(rates(36)),
        method=draw(st.sampled_from(list(Method))), term_count=draw(st.integers(1, 8)),
        period=Period.parse(draw(st.sampled_from(PERIODS))), start=start,
        first_due=draw(st.one_of(st.none(), st.integers(5, 45).map(
            lambda d: start + timedelta(days=d)))),
        basis=draw(st.sampled_from(list(DayCount))),
        rounding=draw(st.sampled_from(list(Rounding))),
        upfront_fee=draw(st.sampled_from([0, 0, principal // 50])),
        service_fee_rate=draw(st.sampled_from([Decimal(0), Decimal("0.06"), Decimal("0.012")])),
        service_fee_fixed=draw(st.sampled_from([0, 0, 300])),
        late_fee_fixed=draw(st.sampled_from([0, 0, 500, 2_000])),
        late_fee_rate=draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("0.05"),
                                            Decimal("0.015")])),
        penalty_multiplier=draw(st.sampled_from([Decimal("1.5"), Decimal("1.3"),
                                                 Decimal("1.45")])),
        penalty_rate=penalty_rate,
        penalty_on_interest=draw(st.booleans()),
        grace_days=draw(st.integers(0, 5)),
        grace_penalty=draw(st.sampled_from(list(GracePenalty))),
        waterfall=Waterfall(draw(st.sampled_from(ORDERS)),
                            draw(st.sampled_from(list(AllocationScope)))),
        overpayment=draw(st.sampled_from(list(Overpayment))),
    )


def _amount(kind: str, eng: LoanEngine, rng: random.Random) -> int:
    """An amount of the given kind for the loan's next instalment (from its schedule)."""
    inst = build_schedule(eng.terms).instalments
    due = max(1, inst[min(rng.randrange(len(inst)), 1)].total)
    return {"exact": due, "partial": max(1, due * rng.randint(1, 9) // 10),
            "over": due + rng.randint(1, due), "payoff": 2 * eng.terms.principal,
            "tiny": rng.randint(1, 99), "zero": -rng.randint(0, 1) * 100,
            "double": 2 * due}[kind]


KINDS = ["exact", "exact", "partial", "over", "payoff", "tiny", "double", "zero"]


@st.composite
def portfolio(draw: st.DrawFn) -> tuple[Book, list[Pay], dict[str, date]]:
    """A book of loans with some history (advanced, written off, waived) and a stream of
    payments: several per loan, none for some, early, on time, late, refused."""
    count = draw(st.integers(12, 40))
    terms = {f"L{i:03d}": draw(loan_terms()) for i in range(count)}
    book = fresh(terms)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for loan_id, eng in book.items():
        start = eng.terms.start
        history = rng.random()
        if history < 0.15:
            eng.advance_to(start + timedelta(days=rng.randint(1, 150)))
        elif history < 0.2:
            eng.apply(WriteOff(f"{loan_id}-X", start + timedelta(days=rng.randint(30, 200))))
        elif history < 0.25:
            eng.advance_to(start + timedelta(days=rng.randint(40, 90)))
            eng.apply(Waiver(f"{loan_id}-W", eng.accrued_through, Component.PENALTY))
        eng.take_entries()
    pays: list[list[Pay]] = []
    for loan_id, eng in book.items():
        day = max(eng.accrued_through, eng.terms.start)
        own = []
        for k in range(rng.choice([0, 1, 2, 3, 4, 5])):
            day += timedelta(days=rng.choice([0, 1, 5, 14, 20, 31, 33, 45, 70]))
            when = day
            roll = rng.random()
            if roll < 0.04:
                when = eng.terms.start - timedelta(days=3)  # before the loan started
            elif roll < 0.08 and eng.accrued_through > eng.terms.start:
                when = eng.accrued_through - timedelta(days=1)  # before the last processed day
            own.append(Pay(loan_id, f"{loan_id}-P{k}", when,
                           _amount(rng.choice(KINDS), eng, rng)))
        pays.append(own)
    stream = interleave(pays, rng)
    horizon = {loan_id: eng.terms.start + timedelta(days=rng.randint(0, 400))
               for loan_id, eng in book.items() if rng.random() < 0.9}
    return book, stream, horizon


def interleave(per_loan: list[list[Pay]], rng: random.Random) -> list[Pay]:
    """All payments in one list, loans mixed, each loan's own order kept."""
    slots = [i for i, own in enumerate(per_loan) for _ in own]
    rng.shuffle(slots)
    queues = [list(own) for own in per_loan]
    return [queues[i].pop(0) for i in slots]


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(portfolio())
def test_random_portfolios_post_and_advance_like_the_scalar_engine(
        case: tuple[Book, list[Pay], dict[str, date]]) -> None:
    book, pays, horizon = case
    post_both(book, pays)
    advance_both(book, horizon)
    # and a second batch on the advanced book: what end-of-day then payments look like
    later = [Pay(p.loan_id, p.event_id + "b",
                 max(p.value_date, horizon.get(p.loan_id, p.value_date)) + timedelta(days=3),
                 p.amount) for p in pays]
    post_both(book, later)


# ---------------------------------------------------------------- named cases


def terms(**kw: Any) -> LoanTerms:
    base: dict[str, Any] = dict(principal=1_000_000, annual_rate=Decimal("0.18"),
                                method=Method.EQUAL_INSTALMENT, term_count=12,
                                period=Period.parse("month"), start=D("2025-01-15"))
    base.update(kw)
    return LoanTerms(**base)


def test_the_frame_layout_is_the_stored_one() -> None:
    assert list(LINE_SCHEMA) == list(LINE_COLUMNS)
    assert list(LOAN_SCHEMA) == [*TERM_COLUMNS, *STATE_COLUMNS[:6]]


def test_the_bridge_round_trips() -> None:
    book = fresh({"A": terms(), "B": terms(grace_days=2, penalty_rate=Decimal("0.24"))})
    scalar_post(book, [Pay("A", "P1", D("2025-03-01"), 50_000)])
    loans, lines = frames_from_engines(book)
    again = frames_from_engines(engines_from_frames(loans, lines))
    assert again[0].equals(loans) and again[1].equals(lines)


def test_credit_is_applied_on_every_due_date_of_one_long_span() -> None:
    # 4,000.00 paid ahead on credit-policy loans: applied on five due dates over six months
    book = fresh({"A": terms(), "B": terms(grace_days=3, late_fee_fixed=1_000),
                  "C": terms(waterfall=Waterfall(scope=AllocationScope.COMPONENT_FIRST))})
    post_both(book, [Pay(i, f"{i}-P", D("2025-02-01"), 400_000) for i in book])
    assert all(eng.credit > 0 for eng in book.values())
    probe = book["A"].copy()
    probe.advance_to(D("2025-07-20"))
    assert [e.kind.value for e in probe.entries].count("credit-applied") == 5
    advance_both(book, dict.fromkeys(book, D("2025-07-20")))


def test_credit_that_settles_the_loan_ends_nothing_after_it() -> None:
    # two payments ahead, each below the payoff, together cover the last instalment: the
    # credit closes the loan on its due date, and no grace period of it ends afterwards —
    # however the loan is advanced (once to month end, or day by day)
    t = terms(term_count=2, grace_days=3, late_fee_fixed=500)
    first, second = build_schedule(t).instalments
    book = fresh({"A": t, "B": t.with_(grace_days=20)})
    post_both(book, [Pay(i, f"{i}-P", first.due_on, first.total + second.principal - 100)
                     for i in book])
    post_both(book, [Pay(i, f"{i}-Q", D("2025-02-20"), second.interest + 1_100) for i in book])
    advance_both(book, dict.fromkeys(book, D("2025-04-30")))
    assert all(e.status is LoanStatus.CLOSED for e in book.values())
    assert not book["A"].lines[-1].grace_done and not book["B"].lines[-1].grace_done
    daily = fresh({"A": t})
    post_both(daily, [Pay("A", "A-P", first.due_on, first.total + second.principal - 100)])
    post_both(daily, [Pay("A", "A-Q", D("2025-02-20"), second.interest + 1_100)])
    day = D("2025-02-20")
    while day < D("2025-04-30"):
        day += timedelta(days=1)
        advance_both(daily, {"A": day})
    assert daily["A"].lines == book["A"].lines


def test_month_end_chunks_across_many_months() -> None:
    book = fresh({"A": terms(grace_days=4, penalty_on_interest=True),
                  "B": terms(period=Period.parse("14d"), late_fee_rate=Decimal("0.05")),
                  "C": terms(method=Method.BULLET, term_count=3)})
    advance_both(book, {"A": D("2025-09-03"), "B": D("2025-06-30"), "C": D("2026-02-01")})
    post_both(book, [Pay("A", "A1", D("2025-12-31"), 300_000),
                     Pay("B", "B1", D("2025-08-01"), 50_000)])


def test_written_off_and_closed_loans() -> None:
    book = fresh({"W": terms(), "C": terms(), "R": terms(overpayment=Overpayment.REDUCE_TERM)})
    book["W"].apply(WriteOff("W-X", D("2025-06-01"), "180 dpd"))
    scalar_post(book, [Pay("C", "C-0", D("2025-03-01"), 2_000_000)])
    book["W"].take_entries()
    book["C"].take_entries()
    assert book["C"].status is LoanStatus.CLOSED
    post_both(book, [Pay("W", "W1", D("2025-07-01"), 10_000),
                     Pay("W", "W2", D("2025-08-01"), 20_000),
                     Pay("C", "C1", D("2025-04-01"), 5_000),
                     Pay("R", "R1", D("2025-04-20"), 2_500_000)])
    advance_both(book, dict.fromkeys(book, D("2025-12-31")))
    assert book["W"].recovered == 30_000 and book["R"].status is LoanStatus.CLOSED


def test_refused_payments() -> None:
    book = fresh({"A": terms(), "B": terms()})
    book["B"].advance_to(D("2025-05-01"))
    book["B"].take_entries()
    fallbacks = post_both(book, [
        Pay("A", "A0", D("2025-01-01"), 100),  # before the loan started
        Pay("A", "A1", D("2025-03-01"), 0),  # not positive: refused, but the accrual stays
        Pay("A", "A2", D("2025-03-02"), -5),
        Pay("B", "B1", D("2025-04-30"), 100),  # before the last processed day
        Pay("B", "B2", D("2025-05-01"), 100),
    ])
    assert fallbacks == 0
    loans, lines = frames_from_engines(book)
    unknown = post_payments(loans, lines, payments_frame([Pay("Z", "Z1", D("2025-05-01"), 1)]))
    assert unknown.rejected["reason"].to_list() == ["unknown loan Z"]


def test_partial_prepayment_that_reschedules_goes_to_the_scalar_engine() -> None:
    policies = {"T": Overpayment.REDUCE_TERM, "I": Overpayment.REDUCE_INSTALMENT}
    book = fresh({i: terms(overpayment=p) for i, p in policies.items()})
    first = build_schedule(terms()).instalments[0].total
    pays = [Pay(i, f"{i}-{k}", D("2025-02-15") + timedelta(days=10 * k), first + 300_000)
            for k in range(3) for i in policies]
    assert post_both(book, pays) == 2


def test_settling_a_rescheduled_loan_puts_the_part_line_before_superseded_ones() -> None:
    # a reschedule leaves superseded lines due later than the new ones; a payoff in a later
    # batch (the columnar path) must sort its settled line before them too
    book = fresh({"T": terms(overpayment=Overpayment.REDUCE_TERM, service_fee_fixed=300),
                  "I": terms(overpayment=Overpayment.REDUCE_INSTALMENT,
                             period=Period.parse("14d"))})
    assert post_both(book, [Pay(i, f"{i}-1", D("2025-01-20"), 300_000) for i in book]) == 2
    assert post_both(book, [Pay(i, f"{i}-2", D("2025-03-21"), 2_000_000) for i in book]) == 0
    assert all(e.status is LoanStatus.CLOSED for e in book.values())


def test_precise_rates_and_large_loans_stay_exact() -> None:
    # products beyond Int64 (principal × a 16-decimal penalty rate) go through Int128; a long
    # contract rate × multiplier is multiplied as the engine multiplies Decimals
    book = fresh({
        "A": terms(principal=900_000_000, penalty_rate=Decimal("0.0001234567890123"),
                   late_fee_rate=Decimal("0.012345678901234567"), grace_days=1),
        "B": terms(annual_rate=Decimal("0.180000000000000"),
                   penalty_multiplier=Decimal("1.50000000000000"), penalty_on_interest=True),
        "C": terms(annual_rate=Decimal("0.1234567891"), penalty_multiplier=Decimal("1.4321"),
                   rounding=Rounding.HALF_EVEN, late_fee_fixed=1_000)})
    advance_both(book, dict.fromkeys(book, D("2025-06-17")))
    post_both(book, [Pay(i, f"{i}-1", D("2025-06-30"), 123_456) for i in book])


def test_a_penalty_rate_too_precise_is_refused_naming_the_loan() -> None:
    book = fresh({"Z": terms(annual_rate=Decimal("0.12345678901234"),
                             penalty_multiplier=Decimal("1.2345678901234"))})
    loans, lines = frames_from_engines(book)
    with pytest.raises(ValueError, match=r"\['Z'\]: penalty rate too precise"):
        advance(loans, lines, D("2025-06-17"))


def test_frames_out_of_order_are_refused() -> None:
    book = fresh({"A": terms(), "B": terms()})
    loans, lines = frames_from_engines(book)
    with pytest.raises(ValueError, match="sorted by a unique loan_id"):
        advance(loans.reverse(), lines, D("2025-03-01"))
    with pytest.raises(ValueError, match="sorted by loan_id, due_on, seq"):
        advance(loans, lines.sort("loan_id", "due_on", descending=[False, True]),
                D("2025-03-01"))
    with pytest.raises(ValueError, match="unknown loans"):
        advance(loans.head(1), lines, D("2025-03-01"))


def test_payments_with_missing_fields_are_refused_naming_the_field() -> None:
    book = fresh({"A": terms()})
    loans, lines = frames_from_engines(book)
    pays = pl.DataFrame([("A", "P1", None, 100, None), ("A", "P2", D("2025-03-01"), None, None),
                         (None, "P3", D("2025-03-01"), 100, None),
                         ("A", "P4", D("2025-03-01"), 100, None)],
                        schema=PAYMENT_SCHEMA, orient="row")
    posted = post_payments(loans, lines, pays)
    assert posted.rejected["reason"].to_list() == [
        "value_date is missing", "amount is missing", "loan_id is missing"]
    book["A"].apply(Payment("P4", D("2025-03-01"), 100))
    assert_frames((posted.loans, posted.lines), book)
