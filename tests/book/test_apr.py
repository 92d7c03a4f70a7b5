"""APR by the IRR method (PBOC 〔2021〕No.3, CN.md §1.5) and the numpy-financial vectors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from arrears.book.apr import (
    AprError,
    apr_of_dated_flows,
    apr_of_flows,
    apr_of_loan,
    irr,
    npv,
    pmt,
    rate,
    xirr,
)
from arrears.book.schedule import build_schedule
from arrears.book.terms import LoanTerms, Method
from arrears.calendar import DayCount, Period

MONTH = Period.parse("month")


def loan(principal: str = "10000.00", annual_rate: str = "0.18", terms: int = 12,
         method: Method = Method.EQUAL_INSTALMENT, **kw: object) -> LoanTerms:
    minor = int(Decimal(principal) * 100)
    base = LoanTerms(minor, Decimal(annual_rate), method, terms, MONTH, date(2025, 1, 15))
    return base.with_(**kw) if kw else base


def exact_npv(rate_: Decimal, values: list[int]) -> Fraction:
    """An independent NPV in exact rationals, to check the solver's answers."""
    r = Fraction(rate_)
    return sum((Fraction(v) / (1 + r) ** t for t, v in enumerate(values)), Fraction(0))


# --- a loan's APR ---------------------------------------------------------------------------------


def test_zero_fee_equal_instalment_apr_is_the_contract_rate() -> None:
    # With 1e9 yuan the fen rounding of each period's interest is ~1e-11 of the balance, so
    # what is left is the exact annuity identity: IRR × 12 = contract rate.
    apr = apr_of_loan(loan("1000000000.00"))
    assert abs(apr.nominal_apr - Decimal("0.18")) <= Decimal("1e-9")
    assert apr.periodic_irr == Decimal("0.0150000000")
    assert apr.effective_annual_rate == Decimal("0.1956181715")  # 1.015 ** 12 − 1
    assert apr.method == "IRR" and apr.periods_per_year == 12


def test_exact_annuity_flows_give_the_contract_rate_to_1e_9() -> None:
    payment = -pmt(Decimal("0.015"), 12, 10000)  # unrounded level payment
    values: list[Decimal | int] = [-10000, *([payment] * 12)]
    assert abs(irr(values) * 12 - Decimal("0.18")) <= Decimal("1e-9")


def test_small_loan_apr_moves_only_by_fen_rounding() -> None:
    # 10,000.00: each period's interest is rounded to the fen (≤ 0.5 fen × 12 on 1,000,000
    # fen), which can move the annual IRR by at most about 1e-5.
    apr = apr_of_loan(loan())
    assert abs(apr.nominal_apr - Decimal("0.18")) < Decimal("1e-5")


def test_equal_principal_without_fees_also_costs_its_contract_rate() -> None:
    apr = apr_of_loan(loan("1000000000.00", method=Method.EQUAL_PRINCIPAL, terms=24))
    assert abs(apr.nominal_apr - Decimal("0.18")) <= Decimal("1e-9")


def test_an_upfront_fee_raises_the_apr() -> None:
    plain = apr_of_loan(loan())
    cut = apr_of_loan(loan(upfront_fee=50_000))  # 500.00 deducted from 10,000.00
    assert cut.nominal_apr > plain.nominal_apr + Decimal("0.09")
    assert "upfront fee 500.00 deducted" in cut.basis and "9500.00 received" in cut.basis


def test_upfront_fee_apr_solves_the_actual_flows() -> None:
    terms = loan(upfront_fee=50_000)
    values = [-terms.net_disbursed, *(i.total for i in build_schedule(terms).instalments)]
    i = apr_of_loan(terms).periodic_irr
    # the 10-place rate brackets the exact root: NPV changes sign within ±1e-10
    step = Decimal("1e-10")
    assert exact_npv(i - step, values) > 0 > exact_npv(i + step, values)


def test_a_service_fee_counts_in_the_all_in_cost() -> None:
    apr = apr_of_loan(loan("1000000000.00", service_fee_rate=Decimal("0.06")))
    assert apr.nominal_apr > Decimal("0.23")


def test_bullet_loan_effective_rate_is_its_simple_annual_rate() -> None:
    # 12 months, interest 18 % × 1 year paid with the principal at the end (30/360): the
    # money grows by 18 % in a year, so the effective annual rate is 18 % and the nominal
    # (monthly-compounded) APR is 12 × (1.18^(1/12) − 1).
    apr = apr_of_loan(loan(method=Method.BULLET))
    assert apr.effective_annual_rate == Decimal("0.1800000000")
    with localcontext(prec=40):
        expected = (12 * (Decimal("1.18") ** (Decimal(1) / 12) - 1)).quantize(Decimal("1e-10"))
    assert apr.nominal_apr == expected


def test_weekly_loan_annualises_by_365_over_7() -> None:
    weekly = LoanTerms(1_000_000_000_00, Decimal("0.18"), Method.EQUAL_INSTALMENT, 8,
                       Period.parse("7d"), date(2025, 1, 15), basis=DayCount.ACT_365)
    apr = apr_of_loan(weekly)
    assert apr.periods_per_year == Fraction(365, 7)
    assert abs(apr.nominal_apr - Decimal("0.18")) <= Decimal("1e-9")
    assert "365/7" in apr.basis


def test_broken_first_period_uses_xirr_on_actual_dates() -> None:
    apr = apr_of_loan(loan(first_due=date(2025, 2, 20)))
    assert apr.method == "XIRR" and "broken first period" in apr.basis
    assert abs(apr.nominal_apr - Decimal("0.18")) < Decimal("0.003")


# --- explicit flows ----------------------------------------------------------------------------


def test_explicit_flows_99000_8833_30_x12() -> None:
    apr = apr_of_flows(9_900_000, 883_330, 12, MONTH)
    i = apr.periodic_irr
    values = [-9_900_000, *([883_330] * 12)]
    step = Decimal("1e-10")
    assert exact_npv(i - step, values) > 0 > exact_npv(i + step, values)
    assert abs(exact_npv(i, values)) < 1  # less than a fen
    # nominal = periodic × 12 from the unrounded IRR, each rounded once: at most 12 × 0.5e-10
    assert abs(apr.nominal_apr - i * 12) <= Decimal("6e-10")
    assert Decimal("0.128") < apr.nominal_apr < Decimal("0.1281")
    assert apr.effective_annual_rate == Decimal("0.1358255763")


def test_xirr_of_one_year_growth_is_that_growth() -> None:
    flows = [(date(2025, 1, 1), -100_000), (date(2026, 1, 1), 110_000)]
    assert xirr(flows) == Decimal("0.1")
    apr = apr_of_dated_flows(flows, MONTH)
    assert apr.effective_annual_rate == Decimal("0.1000000000")


def test_flows_without_a_sign_change_have_no_irr() -> None:
    with pytest.raises(AprError):
        apr_of_dated_flows([(date(2025, 1, 1), 100), (date(2025, 2, 1), 100)], MONTH)
    with pytest.raises(AprError):
        apr_of_flows(0, 100, 12, MONTH)


def test_solver_is_deterministic() -> None:
    assert apr_of_loan(loan(upfront_fee=50_000)) == apr_of_loan(loan(upfront_fee=50_000))


# --- numpy-financial vectors ---------------------------------------------------------------------
# From numpy/numpy-financial@f47e8af289f9abd34002267c6663869b9ed586a8,
# numpy_financial/tests/test_financial.py (BSD-3-Clause), via the project's vector file.
# Cases marked ``requires`` there are skipped: they need numpy-financial fixes made after
# 1.0.0 (gh-17/gh-44/gh-48: the multi-root ``irr`` case and array ``rate``), and 1.0.0 is
# the reference version here. Sign convention: money paid out is negative.

IRR_CASES = [
    ([-150000, 15000, 25000, 35000, 45000, 60000], "0.0524"),
    ([-100, 0, 0, 74], "-0.0955"),
    ([-100, 39, 59, 55, 20], "0.28095"),
    ([-100, 100, 0, -7], "-0.0833"),
    ([-100, 100, 0, 7], "0.06206"),
    (["-5", "10.5", "1", "-8", "1"], "0.0886"),
]


@pytest.mark.parametrize(("values", "expected"), IRR_CASES)
def test_irr_vectors(values: list[int | str], expected: str) -> None:
    flows = [Decimal(v) for v in values]
    found = irr(flows)
    assert abs(found - Decimal(expected)) <= abs(Decimal(expected)) * Decimal("0.01")
    # and it is a root: the 24-place answer leaves an NPV of ~1e-24 of the flows
    assert abs(npv(found, flows)) < sum(abs(v) for v in flows) * Decimal("1e-22")


def test_irr_vector_without_solution() -> None:
    with pytest.raises(AprError):
        irr([-1, -2, -3])


@pytest.mark.parametrize(("rate_", "nper", "pv", "expected"), [
    (0.006666666666666667, 60, 15000, "-304.1459143262052370338701494"),
    (0.0, 60, 15000, "-250.0"),
    (0.0, 12, 2000, "-166.66667"),
    (0.8, 3, 20000, "-19311.258"),
    (0.3, 12, 2000, "-626.90814"),
])
def test_pmt_vectors(rate_: float, nper: int, pv: int, expected: str) -> None:
    # the vector rates are floats; Decimal(float) keeps their exact binary value
    found = pmt(Decimal(rate_), nper, pv)
    assert abs(found - Decimal(expected)) <= abs(Decimal(expected)) * Decimal("1e-7")


def test_pmt_agrees_with_the_decimal_reference_to_15_digits() -> None:
    found = pmt(Decimal("0.006666666666666667"), 60, 15000)
    assert abs(found - Decimal("-304.1459143262052370338701494")) < Decimal("1e-12")


def test_npv_vector() -> None:
    found = npv(Decimal("0.05"), [-15000, 1500, 2500, 3500, 4500, 6000])
    assert abs(found - Decimal("122.894854950942692161628715")) < Decimal("1e-24")


def test_rate_vector() -> None:
    found = rate(10, 0, -3500, 10000)
    assert abs(found - Decimal("0.1107")) < Decimal("0.00005")  # the vector's 4 places
    # The vector's decimal_expected (…71426…) is numpy's Newton result, stopped at tol 1e-6;
    # the exact root is (10000/3500)^(1/10) − 1 and ours is it to 20 places:
    assert abs(Fraction(1 + found) ** 10 * 3500 - 10000) < Fraction(1, 10**15)


def test_rate_vector_infeasible() -> None:
    with pytest.raises(AprError):
        rate(12, 400, 10000, 5000)


def test_a_bullet_due_at_the_end_of_its_term_is_regular_and_priced_by_its_real_flows() -> None:
    # the same cash flows with or without first_due must cost the same: a 3-month bullet's
    # one period is the whole term (schedule.grid), not one month
    from arrears.book.apr import is_regular

    base = LoanTerms(1_000_000, Decimal("0.12"), Method.BULLET, 3, Period.parse("month"),
                     date(2025, 1, 15))
    at_end = base.with_(first_due=date(2025, 4, 15))
    assert is_regular(at_end)
    assert apr_of_loan(at_end) == apr_of_loan(base)
    early = base.with_(first_due=date(2025, 2, 15))  # the whole interest after one month
    assert not is_regular(early)
    assert apr_of_loan(early).nominal_apr > Decimal("0.11")


def test_rates_do_not_depend_on_the_callers_decimal_context() -> None:
    import decimal

    t = LoanTerms(1_000_000, Decimal("0.18"), Method.EQUAL_INSTALMENT, 12,
                  Period.parse("month"), date(2025, 1, 15), upfront_fee=20_000)
    expected = apr_of_loan(t)
    with decimal.localcontext(prec=20):
        assert apr_of_loan(t) == expected


def test_an_enormous_effective_rate_is_reported_not_crashed_on() -> None:
    # 20 % for one day: (1.2)^365 − 1 has 29 integer digits (it raised InvalidOperation)
    t = LoanTerms(10_000, Decimal(0), Method.EQUAL_INSTALMENT, 1, Period.parse("1d"),
                  date(2025, 1, 15), service_fee_fixed=2000)
    apr = apr_of_loan(t)
    assert apr.periodic_irr == Decimal("0.2000000000")
    assert apr.effective_annual_rate > Decimal(10) ** 28
