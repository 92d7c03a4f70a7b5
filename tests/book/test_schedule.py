"""The scalar schedule (schedule.build_schedule): methods, month ends, broken periods, bases."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.book.schedule import Schedule, build_schedule
from arrears.book.terms import LoanTerms, Method
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.money import Rounding


def schedule(**changes: Any) -> Schedule:
    """10,000.00 yuan at 18 % a year, 12 monthly equal instalments from 15 Jan 2024 (30/360)."""
    terms = LoanTerms(principal=1_000_000, annual_rate=Decimal("0.18"),
                      method=Method.EQUAL_INSTALMENT, term_count=12, period=Period.parse("month"),
                      start=date(2024, 1, 15))
    return build_schedule(terms.with_(**changes))


# --- methods -----------------------------------------------------------------------------------


def test_equal_instalment_pays_the_same_total_each_period_but_the_last() -> None:
    rows = schedule().instalments
    # P·i(1+i)ⁿ/((1+i)ⁿ−1) with i = 1.5 % a month: 916.80 yuan (等额本息)
    assert {r.total for r in rows[:-1]} == {91_680}
    assert rows[0].interest == 15_000  # 10,000 × 18 % / 12
    assert rows[-1].total == 91_681  # the last takes what is left
    assert sum(r.principal for r in rows) == 1_000_000


def test_equal_principal_repays_the_same_share_with_falling_interest() -> None:
    rows = schedule(principal=1_200_000, method=Method.EQUAL_PRINCIPAL).instalments
    assert [r.principal for r in rows] == [100_000] * 12  # 等额本金: 12,000 / 12
    assert [r.interest for r in rows] == [18_000 - 1_500 * k for k in range(12)]


def test_equal_principal_leaves_the_remainder_to_the_last_instalment() -> None:
    rows = schedule(principal=1_000_000, term_count=3, method=Method.EQUAL_PRINCIPAL).instalments
    assert [r.principal for r in rows] == [333_333, 333_333, 333_334]


def test_interest_first_repays_principal_only_at_the_end() -> None:
    rows = schedule(method=Method.INTEREST_FIRST, term_count=6).instalments
    assert [r.principal for r in rows] == [0] * 5 + [1_000_000]  # 先息后本
    assert {r.interest for r in rows} == {15_000}


def test_bullet_is_one_instalment_with_interest_for_the_whole_term() -> None:
    (row,) = schedule(method=Method.BULLET, term_count=6).instalments  # 到期一次还本付息
    assert (row.start_on, row.due_on) == (date(2024, 1, 15), date(2024, 7, 15))
    assert (row.principal, row.interest) == (1_000_000, 90_000)  # 10,000 × 18 % × 6/12


def test_bullet_over_day_periods_counts_actual_days() -> None:
    (row,) = schedule(method=Method.BULLET, term_count=3, period=Period.parse("30d"),
                      basis=DayCount.ACT_365).instalments
    assert row.due_on == date(2024, 4, 14)
    assert row.interest == 44_384  # 10,000 × 18 % × 90/365 = 443.835…


def test_zero_rate_splits_the_principal_evenly() -> None:
    rows = schedule(annual_rate=Decimal(0), principal=100_000, term_count=3).instalments
    assert [(r.principal, r.interest) for r in rows] == [(33_333, 0), (33_333, 0), (33_334, 0)]


def test_service_fee_is_charged_on_the_original_principal_each_period() -> None:
    rows = schedule(service_fee_rate=Decimal("0.06"), service_fee_fixed=500).instalments
    assert {r.fee for r in rows} == {5_500}  # 10,000 × 6 % / 12 + 5.00


@st.composite
def any_terms(draw: st.DrawFn) -> LoanTerms:
    start = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    return LoanTerms(
        principal=draw(st.integers(1, 10**10)),
        annual_rate=Decimal(draw(st.integers(0, 360_000))).scaleb(-6),
        method=draw(st.sampled_from(Method)), term_count=draw(st.integers(1, 60)),
        period=Period.parse(draw(st.sampled_from(["month", "3m", "7d", "14d", "30d"]))),
        start=start,
        first_due=draw(st.one_of(st.none(), st.integers(1, 60).map(
            lambda d: start + timedelta(days=d)))),
        basis=draw(st.sampled_from(DayCount)), rounding=draw(st.sampled_from(Rounding)),
        month_end=draw(st.sampled_from(MonthEnd)))


@settings(max_examples=200, deadline=None)
@given(any_terms())
def test_principal_always_sums_to_the_loan_and_periods_chain(terms: LoanTerms) -> None:
    rows = build_schedule(terms).instalments
    assert sum(r.principal for r in rows) == terms.principal
    assert all(r.principal >= 0 and r.interest >= 0 for r in rows)
    assert rows[0].start_on == terms.start
    assert all(a.due_on == b.start_on for a, b in pairwise(rows))
    assert all(r.start_on < r.due_on for r in rows)
    assert [r.n for r in rows] == list(range(1, len(rows) + 1))
    # a contractual schedule has one row per period, whatever the rounding
    assert len(rows) == (1 if terms.method is Method.BULLET else terms.term_count)


def test_a_broken_first_period_dearer_than_the_instalment_keeps_every_instalment() -> None:
    # 36 days of interest (175.00) exceed the level payment of a 30-year loan (151.08): the
    # first instalment repays no principal and the schedule still runs its 360 months
    terms = LoanTerms(1_000_000, Decimal("0.18"), Method.EQUAL_INSTALMENT, 360,
                      Period.parse("month"), date(2025, 1, 15), first_due=date(2025, 2, 20))
    rows = build_schedule(terms).instalments
    assert len(rows) == 360
    assert rows[0].principal == 0 and rows[0].interest == 17_500
    assert sum(r.principal for r in rows) == 1_000_000


def test_a_bullet_due_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="not after the start"):
        build_schedule(LoanTerms(1_000_000, Decimal("0.18"), Method.BULLET, 6,
                                 Period.parse("month"), date(2024, 1, 15),
                                 first_due=date(2023, 12, 15)))


def test_modes_given_as_plain_strings_are_coerced() -> None:
    terms = LoanTerms(5, Decimal(0), "equal-instalment", 4,  # type: ignore[arg-type]
                      Period.parse("month"), date(2024, 1, 15), rounding="up")  # type: ignore[arg-type]
    assert terms.rounding is Rounding.UP and terms.method is Method.EQUAL_INSTALMENT
    assert [r.principal for r in build_schedule(terms).instalments] == [2, 2, 1, 0]


# --- month ends --------------------------------------------------------------------------------


def dues(start: date, rule: MonthEnd, count: int = 4) -> list[date]:
    return [r.due_on for r in schedule(start=start, month_end=rule, term_count=count).instalments]


def test_a_31st_is_clamped_in_short_months_and_comes_back() -> None:
    assert dues(date(2024, 1, 31), MonthEnd.CLAMP) == [
        date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31)]


def test_the_month_end_rule_keeps_a_month_end_anchor_on_month_ends() -> None:
    assert dues(date(2024, 4, 30), MonthEnd.MONTH_END, 3) == [
        date(2024, 5, 31), date(2024, 6, 30), date(2024, 7, 31)]
    assert dues(date(2024, 4, 30), MonthEnd.CLAMP, 3) == [
        date(2024, 5, 30), date(2024, 6, 30), date(2024, 7, 30)]


@pytest.mark.parametrize(("rule", "expected"), [
    (MonthEnd.CLAMP, [date(2024, 3, 29), date(2024, 4, 29)]),
    (MonthEnd.MONTH_END, [date(2024, 3, 31), date(2024, 4, 30)]),
])
def test_29_february(rule: MonthEnd, expected: list[date]) -> None:
    assert dues(date(2024, 2, 29), rule, 2) == expected


# --- broken first period -----------------------------------------------------------------------


def test_first_due_breaks_the_first_period_and_anchors_the_rest() -> None:
    rows = schedule(start=date(2024, 1, 10), first_due=date(2024, 2, 15), term_count=3,
                    method=Method.INTEREST_FIRST, principal=3_600_000,
                    annual_rate=Decimal("0.12")).instalments
    assert [(r.start_on, r.due_on) for r in rows] == [
        (date(2024, 1, 10), date(2024, 2, 15)),
        (date(2024, 2, 15), date(2024, 3, 15)),
        (date(2024, 3, 15), date(2024, 4, 15))]
    # 30/360 counts 35 days for the broken period; the regular ones are 1/12 of a year
    assert [r.interest for r in rows] == [42_000, 36_000, 36_000]


def test_first_due_one_period_on_is_a_regular_period() -> None:
    plain = schedule(method=Method.INTEREST_FIRST, term_count=2)
    fixed = schedule(method=Method.INTEREST_FIRST, term_count=2, first_due=date(2024, 2, 15))
    assert plain == fixed


# --- day-count bases ---------------------------------------------------------------------------


@pytest.mark.parametrize(("basis", "january", "february"), [
    (DayCount.D30_360, 30_500, 30_500),  # 1/12 of a year each (月利率 = 年利率/12)
    (DayCount.ACT_360, 31_517, 29_483),  # 31/360, 29/360
    (DayCount.ACT_365, 31_085, 29_079),  # 31/365, 29/365
    (DayCount.ACT_364, 31_170, 29_159),  # 31/364, 29/364
    (DayCount.ACT_ACT, 31_000, 29_000),  # 31/366, 29/366 (2024 is a leap year)
])
def test_day_count_bases(basis: DayCount, january: int, february: int) -> None:
    rows = schedule(principal=3_660_000, annual_rate=Decimal("0.1"), term_count=2,
                    method=Method.INTEREST_FIRST, basis=basis).instalments
    assert [r.interest for r in rows] == [january, february]


def test_act_act_splits_a_period_at_the_new_year() -> None:
    (row,) = schedule(principal=3_660_000, annual_rate=Decimal("0.1"), term_count=1,
                      method=Method.INTEREST_FIRST, basis=DayCount.ACT_ACT,
                      start=date(2023, 12, 15)).instalments
    assert row.interest == 31_047  # 366,000 × (17/365 + 14/366) = 17,046.58 + 14,000


# --- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "interest"), [
    (Rounding.HALF_UP, 1), (Rounding.HALF_EVEN, 0), (Rounding.DOWN, 0), (Rounding.UP, 1),
    (Rounding.FLOOR, 0), (Rounding.CEILING, 1),
])
def test_period_interest_is_rounded_by_the_loans_mode(mode: Rounding, interest: int) -> None:
    rows = schedule(principal=100, annual_rate=Decimal("0.06"), term_count=2,
                    method=Method.INTEREST_FIRST, rounding=mode).instalments
    assert rows[0].interest == interest  # 1.00 yuan × 6 % / 12 = half a fen
