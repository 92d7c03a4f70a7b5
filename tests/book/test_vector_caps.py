"""The portfolio APR and cap checks equal ``apr_of_loan`` and ``check_cost_cap``, text for text.

Every test compares the frames with the scalar reference on the same loans; the float error
bounds the fast path relies on are checked against the scalar's unrounded roots too.
"""

from __future__ import annotations

import decimal
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.book.test_vector import AWKWARD, PERIODS, decimals, first_dues

from arrears.book import apr, vector_caps
from arrears.book.apr import irr, loan_flows, xirr
from arrears.book.caps import check_cost_cap
from arrears.book.terms import LenderType, LoanTerms, Method
from arrears.book.vector import build_schedules, terms_frame
from arrears.book.vector_caps import (
    CHECKS_SCHEMA,
    FIELDS,
    RATES_SCHEMA,
    all_in_rates,
    all_in_rates_traced,
    cap_checks,
)
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.money import Rounding
from arrears.rules import CapError, load_pack

CN = load_pack("CN")
MONTH = Period.parse("month")


@dataclass(frozen=True)
class Loan:
    loan_id: str
    terms: LoanTerms
    lender: LenderType
    formed_on: date


def frame_of(loans: Sequence[Loan]) -> pl.DataFrame:
    return terms_frame([(x.loan_id, x.terms) for x in loans]).with_columns(
        upfront_fee=pl.Series([x.terms.upfront_fee for x in loans], dtype=pl.Int64),
        lender_type=pl.Series([x.lender.value for x in loans], dtype=pl.String),
        contract_signed_on=pl.Series([x.formed_on for x in loans], dtype=pl.Date))


def scalar_row(x: Loan) -> tuple[str, ...]:
    check = check_cost_cap(x.terms, x.lender, x.formed_on, CN)
    a = check.apr
    return (x.loan_id, a.method, str(a.periodic_irr), str(a.nominal_apr),
            str(a.effective_annual_rate), str(check.cap), str(check.all_in), str(check.excess),
            check.cost_cap.basis)


def vector_rows(loans: Sequence[Loan]) -> tuple[list[tuple[Any, ...]], int]:
    frame = frame_of(loans)
    traced = all_in_rates_traced(frame, build_schedules(frame))
    checks = cap_checks(frame, traced.rates, CN)
    assert traced.rates.schema == pl.Schema(RATES_SCHEMA)
    assert checks.schema == pl.Schema(CHECKS_SCHEMA)
    assert checks["loan_id"].to_list() == frame["loan_id"].to_list()  # the order of loans
    joined = traced.rates.join(checks, on="loan_id").sort("loan_id").select(
        "loan_id", "apr_method", *FIELDS, "cost_cap_rate", "all_in_rate", "cap_excess",
        "cap_basis")
    return joined.rows(), traced.exact_fallbacks


def assert_same(loans: Sequence[Loan]) -> int:
    """Frames equal the scalar for every field; where the scalar fails, the frame names the
    loan. Returns the number of exact fallbacks."""
    failing = []
    for x in loans:
        try:
            apr.apr_of_loan(x.terms)
        except (ArithmeticError, ValueError):
            failing.append(x.loan_id)
    if failing:
        frame = frame_of(loans)
        with pytest.raises(ValueError, match=f"apr_of_loan fails for loans .*{failing[0]!r}"):
            all_in_rates(frame, build_schedules(frame))
        return 0
    got, fallbacks = vector_rows(loans)
    assert got == sorted(scalar_row(x) for x in loans)
    return fallbacks


# ---------------------------------------------------------------- random portfolios

# formation dates on both sides of each LPR change and of the 2015 and 2020 regime changes
EDGES = sorted({f.effective_date + timedelta(days=d) for f in CN.lpr_fixings for d in (-1, 0)}
               | {date(2015, 8, 31), date(2015, 9, 1), date(2020, 8, 19), date(2020, 8, 20)})


@st.composite
def loans(draw: st.DrawFn, loan_id: str) -> Loan:
    start = draw(st.one_of(st.sampled_from(AWKWARD), st.dates(date(2015, 1, 1),
                                                               date(2026, 12, 31))))
    principal = draw(st.one_of(st.integers(100_00, 10**10),
                               st.sampled_from([100_00, 10**6, 10**10])))
    terms = LoanTerms(
        principal=principal,
        annual_rate=draw(st.one_of(st.just(Decimal(0)), decimals(36))),
        method=draw(st.sampled_from(Method)),
        term_count=draw(st.integers(1, 36)),
        period=Period.parse(draw(st.sampled_from(PERIODS))),
        start=start,
        first_due=draw(first_dues(start)),
        basis=draw(st.sampled_from(DayCount)),
        rounding=draw(st.sampled_from(Rounding)),
        month_end=draw(st.sampled_from(MonthEnd)),
        upfront_fee=draw(st.one_of(st.just(0), st.integers(0, principal // 10))),
        service_fee_rate=draw(st.one_of(st.just(Decimal(0)), decimals(20))),
        service_fee_fixed=draw(st.sampled_from([0, 0, 1, 500])),
    )
    formed = draw(st.one_of(st.sampled_from(EDGES), st.dates(date(2015, 1, 1),
                                                             date(2026, 12, 31))))
    return Loan(loan_id, terms, draw(st.sampled_from(LenderType)), formed)


@st.composite
def portfolios(draw: st.DrawFn) -> list[Loan]:
    size = draw(st.integers(1, 12))
    # ids in reverse order, so the sort by loan_id is exercised too
    return [draw(loans(f"L{size - i:03d}")) for i in range(size)]


@settings(max_examples=120, deadline=None)
@given(portfolios())
def test_frames_equal_the_scalar_for_random_portfolios(book: list[Loan]) -> None:
    assert_same(book)


def mixed_portfolio(size: int, seed: int) -> list[Loan]:
    rnd = random.Random(seed)
    out = []
    for i in range(size):
        start = rnd.choice(AWKWARD) if rnd.random() < 0.2 else date(2015, 1, 1) + timedelta(
            days=rnd.randrange(4000))
        principal = rnd.choice([rnd.randrange(100_00, 10**8), rnd.randrange(10**6, 10**10)])
        method = rnd.choice(list(Method))
        period = Period.parse(rnd.choice(["month", "month", "month", "3m", "7d", "14d", "30d"]))
        terms = rnd.randrange(1, 37)
        broken = rnd.random() < 0.2
        span = 30 * terms if method is Method.BULLET else rnd.randrange(5, 46)
        out.append(Loan(f"M{i:05d}", LoanTerms(
            principal=principal, annual_rate=Decimal(rnd.randrange(0, 360_001)).scaleb(-6),
            method=method, term_count=terms, period=period, start=start,
            first_due=start + timedelta(days=span) if broken else None,
            basis=rnd.choice(list(DayCount)), rounding=rnd.choice(list(Rounding)),
            month_end=rnd.choice(list(MonthEnd)),
            upfront_fee=principal * rnd.randrange(1, 11) // 100 if rnd.random() < 0.3 else 0,
            service_fee_rate=Decimal(rnd.randrange(0, 1200)).scaleb(-4) if rnd.random() < 0.3
            else Decimal(0),
            service_fee_fixed=rnd.choice([0, 0, 0, 500])),
            rnd.choice(list(LenderType)), start - timedelta(days=rnd.randrange(3))))
    return out


def test_frames_equal_the_scalar_for_a_2000_loan_mixed_portfolio() -> None:
    fallbacks = assert_same(mixed_portfolio(2000, 20260301))
    assert fallbacks <= 10  # exact ties and near-ties only (about 1 in 20,000 loans)


# ---------------------------------------------------------------- chosen loans


def one_month(principal: int, rate: str, lender: LenderType, formed: date, loan_id: str = "A",
              **kw: Any) -> Loan:
    terms = LoanTerms(principal, Decimal(rate), Method.EQUAL_INSTALMENT, 1, MONTH,
                      date(2024, 3, 1), **kw)
    return Loan(loan_id, terms, lender, formed)


def test_a_zero_rate_loan_costs_nothing_under_both_methods() -> None:
    book = [Loan(name, LoanTerms(1_000_000, Decimal(0), Method.EQUAL_INSTALMENT, 12, MONTH,
                                 date(2024, 1, 31), first_due=first), LenderType.PRIVATE,
                 date(2024, 1, 31))
            for name, first in [("IRR", None), ("XIRR", date(2024, 3, 10))]]
    assert assert_same(book) == 0
    got, _ = vector_rows(book)
    assert [r[1:5] for r in got] == [("IRR", "0E-10", "0E-10", "0E-10"),
                                     ("XIRR", "0E-10", "0E-10", "0E-10")]
    assert [r[7] for r in got] == ["0", "0"]


def test_a_loan_exactly_at_its_cap_has_no_excess() -> None:
    # one month at r: the IRR is exactly r/12, so the nominal APR is r to the last place
    book = [one_month(100_000, "0.24", LenderType.BANK, date(2024, 3, 1), "BANK"),
            one_month(100_000, "0.138", LenderType.PRIVATE, date(2024, 3, 1), "PRIVATE"),
            one_month(12 * 10**10, "0.1380000001", LenderType.PRIVATE, date(2024, 3, 1), "OVER")]
    assert assert_same(book) == 0
    got = {r[0]: r for r in vector_rows(book)[0]}
    assert got["BANK"][5:8] == ("0.24", "0.2400000000", "0")
    assert got["PRIVATE"][5:8] == ("0.1380", "0.1380000000", "0")
    assert got["OVER"][5:8] == ("0.1380", "0.1380000001", "1E-10")  # as Decimal prints it


def test_a_rate_exactly_on_a_rounding_tie_is_computed_exactly() -> None:
    # 2e10 fen for a month at 18.00000006 %: interest 300000001, IRR 0.01500000005 exactly —
    # half-way between two 10-place values: no float can say which way, apr_of_loan does
    book = [one_month(2 * 10**10, "0.1800000006", LenderType.BANK, date(2024, 3, 1))]
    assert assert_same(book) == 1
    assert vector_rows(book)[0][0][2] == "0.0150000001"


def test_a_loan_with_a_rebate_is_left_to_the_scalar() -> None:
    # a negative fixed fee makes the flows repay less than was lent: a negative rate
    book = [one_month(30_000, "0", LenderType.BANK, date(2024, 3, 1), service_fee_fixed=-5000)]
    assert assert_same(book) == 1
    assert vector_rows(book)[0][0][2].startswith("-")


def test_a_loan_without_a_rate_in_reach_is_named() -> None:
    # 50 % more back a day later: an XIRR of 1.5^365 − 1, beyond any solver grid
    terms = LoanTerms(100_000, Decimal("0.01"), Method.BULLET, 1, MONTH, date(2024, 3, 1),
                      first_due=date(2024, 3, 2), service_fee_fixed=50_000)
    frame = frame_of([Loan("HUGE", terms, LenderType.BANK, date(2024, 3, 1))])
    with pytest.raises(ValueError, match="apr_of_loan fails for loans 'HUGE'"):
        all_in_rates(frame, build_schedules(frame))


def test_every_lender_type_across_the_regimes() -> None:
    book = [one_month(1_000_000 + k, "0.15", lender, formed, f"{lender.value}-{formed}")
            for k, (lender, formed) in enumerate(
                (lender, formed) for lender in LenderType
                for formed in [date(2015, 3, 1), date(2019, 8, 20), date(2020, 8, 19),
                               date(2020, 8, 20), date(2024, 10, 21), date(2026, 3, 1)])]
    assert_same(book)


@pytest.mark.parametrize(("start", "first_due", "month_end", "period", "method"), [
    (date(2024, 1, 31), date(2024, 2, 29), MonthEnd.MONTH_END, "month", Method.EQUAL_INSTALMENT),
    (date(2024, 1, 31), date(2024, 2, 29), MonthEnd.CLAMP, "month", Method.EQUAL_INSTALMENT),
    (date(2024, 2, 29), date(2024, 3, 31), MonthEnd.MONTH_END, "month", Method.EQUAL_PRINCIPAL),
    (date(2024, 2, 29), date(2024, 3, 31), MonthEnd.CLAMP, "month", Method.EQUAL_PRINCIPAL),
    (date(2024, 2, 29), date(2024, 3, 29), MonthEnd.CLAMP, "month", Method.INTEREST_FIRST),
    (date(2023, 11, 30), date(2024, 2, 29), MonthEnd.MONTH_END, "quarter", Method.INTEREST_FIRST),
    (date(2024, 3, 1), date(2024, 3, 15), MonthEnd.CLAMP, "14d", Method.EQUAL_INSTALMENT),
    (date(2024, 3, 1), date(2024, 3, 16), MonthEnd.CLAMP, "14d", Method.EQUAL_INSTALMENT),
    # a bullet is regular when first_due is ONE period on (apr.is_regular), not term_count
    (date(2024, 3, 1), date(2024, 4, 1), MonthEnd.CLAMP, "month", Method.BULLET),
    (date(2024, 3, 1), date(2024, 9, 1), MonthEnd.CLAMP, "month", Method.BULLET),
])
def test_the_method_follows_is_regular(start: date, first_due: date, month_end: MonthEnd,
                                       period: str, method: Method) -> None:
    terms = LoanTerms(5_000_000, Decimal("0.18"), method, 6, Period.parse(period), start,
                      first_due=first_due, month_end=month_end, upfront_fee=100_000)
    book = [Loan("R", terms, LenderType.MICROLOAN, start)]
    assert_same(book)
    assert vector_rows(book)[0][0][1] == ("IRR" if apr.is_regular(terms) else "XIRR")


# ---------------------------------------------------------------- the error bounds


def exact_fields(terms: LoanTerms) -> list[Decimal]:
    """The scalar's unrounded periodic rate (its 24-place root) and what it annualises to."""
    per_year = terms.period.per_year
    with decimal.localcontext(prec=50):
        if apr.is_regular(terms):
            flows = loan_flows(terms)
            values = [-terms.net_disbursed, *(a for _, a in flows[1:])]
            if terms.method is Method.BULLET:
                values = [values[0], *([0] * (terms.term_count - 1)), values[-1]]
            periodic = irr(values)
        else:
            y = xirr(loan_flows(terms))
            periodic = ((1 + y).ln() * per_year.denominator / per_year.numerator).exp() - 1
        ny = Decimal(per_year.numerator) / per_year.denominator
        return [periodic, periodic * ny, ((1 + periodic).ln() * ny).exp() - 1]


def wide_decimal(x: np.longdouble) -> Decimal:
    mantissa, exponent = np.frexp(x)
    return Decimal(int(np.ldexp(mantissa, 64))) * Decimal(2) ** (int(exponent) - 64)


def test_every_estimate_lies_within_its_bound_of_the_scalar_root() -> None:
    book = mixed_portfolio(400, 7)
    frame = frame_of(book)
    estimates = vector_caps._estimates(vector_caps._read(frame, build_schedules(frame)))
    checked = 0
    for i, x in enumerate(sorted(book, key=lambda x: x.loan_id)):
        try:
            exact = exact_fields(x.terms)
        except apr.AprError:
            continue
        for (values, bounds), want in zip(estimates, exact, strict=True):
            if np.isfinite(bounds[i]):
                with decimal.localcontext(prec=50):
                    assert abs(wide_decimal(values[i]) - want) <= wide_decimal(bounds[i]), x
                checked += 1
    assert checked > 1000


TRANSCENDENTALS: dict[str, tuple[Callable[[Any], Any], Callable[[Decimal], Decimal]]] = {
    "exp": (np.exp, lambda d: d.exp()),
    "expm1": (np.expm1, lambda d: d.exp() - 1),
    "log1p": (np.log1p, lambda d: (1 + d).ln()),
}


@pytest.mark.parametrize(("name", "low", "high"), [
    ("exp", -40.0, 40.0), ("expm1", -0.9, 12.0), ("log1p", -0.5, 1e4)])
def test_longdouble_transcendentals_are_as_accurate_as_the_bounds_assume(
        name: str, low: float, high: float) -> None:
    function, exact = TRANSCENDENTALS[name]
    rng = np.random.default_rng(3)
    tiny = rng.uniform(-1e-3, 1e-3, 500)  # where expm1 and log1p lose digits if done naively
    # × 3 / 3 in longdouble: arguments that use all 64 bits of the significand
    args = (np.concatenate([rng.uniform(low, high, 2000), tiny]) * 3).astype(np.longdouble) / 3
    worst = Decimal(0)
    with decimal.localcontext(prec=60):
        for a, g in zip(args, function(args), strict=True):
            ulp = wide_decimal(np.spacing(abs(g)))
            worst = max(worst, abs(wide_decimal(g) - exact(wide_decimal(a))) / ulp)
    assert worst <= Decimal(vector_caps._ULPS) / 4


def test_the_fast_path_stays_below_the_scalar_solver_top() -> None:
    assert apr._GRID[-1] > vector_caps._SOLVER_TOP


@pytest.mark.parametrize("units", [0, 1, 9, 10, 1234, 9999, 10_000, 10**10 - 1, 10**10,
                                   123_456_789_012, 2**62])
def test_decimal_text_is_how_decimal_prints_a_10_place_rate(units: int) -> None:
    text = vector_caps._decimal_text(np.array([units], dtype=np.int64))
    assert text.to_list() == [str(Decimal(units).scaleb(-10))]


# ---------------------------------------------------------------- bad input


def small_book() -> tuple[pl.DataFrame, pl.DataFrame]:
    book = [one_month(100_000, "0.12", LenderType.BANK, date(2024, 3, 1), name)
            for name in ("A", "B")]
    frame = frame_of(book)
    return frame, build_schedules(frame)


def test_schedules_of_other_loans_are_refused() -> None:
    frame, schedules = small_book()
    with pytest.raises(ValueError, match="loan ids do not match"):
        all_in_rates(frame, schedules.filter(pl.col("loan_id") == "A"))
    longer = frame.with_columns(term_count=pl.lit(2, pl.Int32))
    with pytest.raises(ValueError, match="schedule does not have one row per instalment"):
        all_in_rates(longer, schedules)


def test_an_upfront_fee_of_the_whole_principal_is_named() -> None:
    frame, schedules = small_book()
    frame = frame.with_columns(upfront_fee=pl.when(pl.col("loan_id") == "B")
                               .then(pl.col("principal")).otherwise(0))
    with pytest.raises(ValueError, match=r"'B'.*upfront_fee must be at least 0 and less"):
        all_in_rates(frame, schedules)


def test_cap_checks_name_bad_lenders_and_missing_rates() -> None:
    frame, schedules = small_book()
    rates = all_in_rates(frame, schedules)
    odd = frame.with_columns(lender_type=pl.when(pl.col("loan_id") == "B")
                             .then(pl.lit("pawnshop")).otherwise(pl.col("lender_type")))
    with pytest.raises(ValueError, match=r"'B'.*lender_type is not one of"):
        cap_checks(odd, rates, CN)
    with pytest.raises(ValueError, match=r"'B'.*nominal_apr is not in all_in"):
        cap_checks(frame, rates.filter(pl.col("loan_id") == "A"), CN)


def test_a_pack_without_caps_refuses_as_the_scalar_does() -> None:
    frame, schedules = small_book()
    with pytest.raises(CapError):
        cap_checks(frame, all_in_rates(frame, schedules), load_pack("US"))


def test_texts_from_elsewhere_are_compared_by_decimal() -> None:
    # an all-in rate not at exactly 10 places takes the Decimal path, same result
    frame, schedules = small_book()
    rates = all_in_rates(frame, schedules).with_columns(nominal_apr=pl.Series(["0.25", "1E-3"]))
    got = cap_checks(frame, rates, CN)["cap_excess"].to_list()
    assert got == [str(Decimal("0.25") - Decimal("0.24")), "0"]
    with pytest.raises(ValueError, match=r"'B'.*nominal_apr is not a decimal"):
        cap_checks(frame, rates.with_columns(nominal_apr=pl.Series(["0.25", "25 %"])), CN)

