"""The vectorised schedules equal the scalar reference, row for row, to the fen.

The Fineract vectors run through both engines in ``test_schedule_vectors.py``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.book import vector
from arrears.book.schedule import build_schedule
from arrears.book.terms import LoanTerms, Method
from arrears.book.vector import (
    OUTPUT_SCHEMA,
    build_schedules,
    build_schedules_traced,
    div_round_expr,
    terms_frame,
)
from arrears.calendar import DayCount, MonthEnd, Period, last_day
from arrears.money import Rounding, div_round

Row = tuple[str, int, date, date, int, int, int]

PERIODS = ["month", "2m", "3m", "quarter", "week", "2w", "7d", "14d", "15d", "30d", "1d"]
# anchors that exercise the month-end rules: 31sts, 29 Feb, month ends of short months
AWKWARD = [date(2024, 1, 31), date(2024, 2, 29), date(2023, 2, 28), date(2024, 4, 30),
           date(2023, 12, 31), date(2024, 8, 31), date(2023, 1, 29), date(2024, 3, 30)]


def scalar_rows(terms: Sequence[tuple[str, LoanTerms]]) -> list[Row]:
    return [
        (loan_id, i.n, i.start_on, i.due_on, i.principal, i.interest, i.fee)
        for loan_id, t in sorted(terms, key=lambda p: p[0])
        for i in build_schedule(t).instalments
    ]


def assert_same(terms: Sequence[tuple[str, LoanTerms]]) -> None:
    got = build_schedules(terms_frame(terms))
    assert got.schema == pl.Schema(OUTPUT_SCHEMA)
    expected = scalar_rows(terms)
    rows = got.rows()
    for want, have in zip(expected, rows, strict=False):
        assert have == want, dict(terms)[want[0]]
    assert len(rows) == len(expected)


@st.composite
def first_dues(draw: st.DrawFn, start: date) -> date | None:
    """None (regular grid), or a fixed repayment day that breaks the first period: some days
    on, or a 29th/30th/31st or month end in this month or the next (after ``start``)."""
    kind = draw(st.sampled_from(["none", "none", "days", "month-end", "awkward"]))
    if kind == "none":
        return None
    if kind == "days":
        return start + timedelta(days=draw(st.integers(1, 75)))
    for ahead in range(draw(st.integers(0, 1)), 3):
        year = start.year + (start.month + ahead - 1) // 12
        month = (start.month + ahead - 1) % 12 + 1
        end = last_day(year, month)
        day = end if kind == "month-end" else min(draw(st.sampled_from([29, 30, 31])), end)
        if date(year, month, day) > start:
            return date(year, month, day)
    raise AssertionError("unreachable: two months on is always after start")


def decimals(high: int) -> st.SearchStrategy[Decimal]:
    """Non-negative rates up to high/100 with 0 to 6 decimals."""
    return st.integers(0, 6).flatmap(
        lambda d: st.integers(0, high * 10**d // 100).map(lambda u: Decimal(u).scaleb(-d)))


@st.composite
def loan_terms(draw: st.DrawFn) -> LoanTerms:
    start = draw(st.one_of(st.sampled_from(AWKWARD), st.dates(date(2015, 1, 1), date(2035, 1, 1))))
    return LoanTerms(
        principal=draw(st.one_of(st.integers(1, 10**10), st.sampled_from([1, 2, 99, 10**10]))),
        annual_rate=draw(st.one_of(st.just(Decimal(0)), decimals(36))),
        method=draw(st.sampled_from(Method)),
        term_count=draw(st.integers(1, 60)),
        period=Period.parse(draw(st.sampled_from(PERIODS))),
        start=start,
        first_due=draw(first_dues(start)),
        basis=draw(st.sampled_from(DayCount)),
        rounding=draw(st.sampled_from(Rounding)),
        month_end=draw(st.sampled_from(MonthEnd)),
        service_fee_rate=draw(st.one_of(st.just(Decimal(0)), decimals(20))),
        service_fee_fixed=draw(st.sampled_from([0, 0, 1, 500])),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(loan_terms(), min_size=1, max_size=20))
def test_frame_equals_scalar_for_random_portfolios(loans: list[LoanTerms]) -> None:
    # ids in reverse order, so the output's sort by loan_id is exercised too
    assert_same([(f"L{len(loans) - i:03d}", t) for i, t in enumerate(loans)])


def mixed_portfolio(size: int, seed: int) -> list[tuple[str, LoanTerms]]:
    rnd = random.Random(seed)
    terms = []
    for i in range(size):
        start = rnd.choice(AWKWARD) if rnd.random() < 0.3 else date(2020, 1, 1) + timedelta(
            days=rnd.randrange(2000))
        terms.append((f"X{i}", LoanTerms(
            principal=rnd.choice([1, rnd.randrange(1, 10**10), rnd.randrange(50_000, 2 * 10**7)]),
            annual_rate=Decimal(rnd.randrange(0, 360_001)).scaleb(-6),
            method=rnd.choice(list(Method)), term_count=rnd.randrange(1, 61),
            period=Period.parse(rnd.choice(PERIODS)), start=start,
            first_due=start + timedelta(days=rnd.randrange(1, 70)) if rnd.random() < 0.4 else None,
            basis=rnd.choice(list(DayCount)), rounding=rnd.choice(list(Rounding)),
            month_end=rnd.choice(list(MonthEnd)),
            service_fee_rate=Decimal(rnd.randrange(0, 1000)).scaleb(-4),
            service_fee_fixed=rnd.choice([0, 300]))))
    return terms


def test_frame_equals_scalar_for_a_larger_mixed_portfolio() -> None:
    assert_same(mixed_portfolio(1500, 20240229))


def test_the_int128_path_equals_the_int64_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # periods whose exact products fit Int64 use it; force Int128 everywhere to prove it too
    monkeypatch.setattr(vector, "_INT64_SAFE", 0)
    assert_same(mixed_portfolio(300, 7))


def test_huge_principals_and_long_act_act_bullets_use_int128() -> None:
    start = date(2024, 2, 29)
    terms = [(f"B{i}", LoanTerms(
        principal=9 * 10**15 + i, annual_rate=Decimal("0.359999"), method=method,
        term_count=60, period=Period.parse("3m"), start=start, basis=DayCount.ACT_ACT,
        rounding=mode, service_fee_rate=Decimal("0.012345")))
        for i, (method, mode) in enumerate([(m, r) for m in Method for r in Rounding])]
    assert_same(terms)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**56), 2**56), st.integers(1, 2**68), st.sampled_from(Rounding))
def test_div_round_expr_is_div_round(num: int, den: int, mode: Rounding) -> None:
    frame = pl.DataFrame({"n": [num, -num, num * den // 2, den // 2, -(den // 2)]},
                         schema={"n": pl.Int128})
    got = frame.lazy().select(div_round_expr(pl.col("n"), pl.lit(den, pl.Int128), mode))
    assert got.collect().to_series().to_list() == [
        div_round(n, den, mode) for n in frame["n"].to_list()]


def one_period(principal: int, rate: str, mode: Rounding) -> LoanTerms:
    return LoanTerms(principal, Decimal(rate), Method.EQUAL_INSTALMENT, 1, Period.parse("month"),
                     date(2024, 1, 15), rounding=mode)


@pytest.mark.parametrize("mode", list(Rounding))
def test_instalment_on_a_rounding_boundary_is_recomputed_exactly(mode: Rounding) -> None:
    # 50 × (1 + 0.12/12) = 50.5 and 100 × 1.01 = 101 exactly: float cannot tell which side of
    # the boundary (a half-integer for the half modes, an integer for the others) it is on
    terms = [("half", one_period(50, "0.12", mode)), ("whole", one_period(100, "0.12", mode))]
    built = build_schedules_traced(terms_frame(terms))
    assert built.exact_fallbacks == 1
    assert built.schedules.rows() == scalar_rows(terms)


def test_a_level_payment_rounded_up_leaves_zero_rows_at_the_end() -> None:
    month = Period.parse("month")
    terms = [(name, LoanTerms(5, Decimal(0), method, 4, month, date(2024, 1, 31),
                              rounding=Rounding.UP))
             for name, method in [("EI", Method.EQUAL_INSTALMENT), ("EP", Method.EQUAL_PRINCIPAL),
                                  ("IF", Method.INTEREST_FIRST)]]
    got = build_schedules(terms_frame(terms))
    assert got.rows() == scalar_rows(terms)
    assert got.group_by("loan_id").len().sort("loan_id").rows() == [("EI", 4), ("EP", 4),
                                                                     ("IF", 4)]
    assert got.filter(pl.col("loan_id") == "EI")["principal"].to_list() == [2, 2, 1, 0]


def test_rates_in_exponent_notation_are_exact() -> None:
    terms = [("A", one_period(10**9, "0.01", Rounding.HALF_UP))]
    frame = terms_frame(terms).with_columns(annual_rate=pl.lit("1E-2"))
    assert build_schedules(frame).rows() == scalar_rows(terms)


def test_empty_portfolio() -> None:
    assert build_schedules(terms_frame([])).schema == pl.Schema(OUTPUT_SCHEMA)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("method", "balloon", "method is not one of"),
    ("period", "fortnightly", "period is not a period"),
    ("annual_rate", "18%", "annual_rate is not a decimal"),
    ("annual_rate", "-0.1", "annual_rate must not be negative"),
    ("first_due", date(2024, 1, 15), "first_due is not after start"),
    ("principal", 0, "principal must be positive"),
])
def test_bad_rows_are_named(column: str, value: object, message: str) -> None:
    frame = terms_frame([("GOOD", one_period(100, "0.1", Rounding.HALF_UP)),
                         ("BAD", one_period(100, "0.1", Rounding.HALF_UP))])
    frame = frame.with_columns(
        pl.when(pl.col("loan_id") == "BAD").then(pl.lit(value)).otherwise(pl.col(column))
        .cast(frame.schema[column]).alias(column))
    with pytest.raises(ValueError, match=f"'BAD'.*{message}"):
        build_schedules(frame)


def test_duplicate_loan_ids_are_refused() -> None:
    t = one_period(100, "0.1", Rounding.HALF_UP)
    with pytest.raises(ValueError, match="loan_id is not unique"):
        build_schedules(terms_frame([("A", t), ("A", t)]))
