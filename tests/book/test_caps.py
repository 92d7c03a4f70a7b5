"""A loan's all-in cost against its legal cap (CN.md §1, worked examples)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from arrears.book.caps import check_cost_cap
from arrears.book.schedule import build_schedule
from arrears.book.terms import LenderType, LoanTerms, Method
from arrears.calendar import Period
from arrears.rules import CapError, load_pack

CN = load_pack("CN")


def private_loan(annual_rate: str, upfront_fee: int = 0, start: date = date(2025, 6, 1)
                 ) -> LoanTerms:
    return LoanTerms(1_000_000, Decimal(annual_rate), Method.EQUAL_INSTALMENT, 12,
                     Period.parse("month"), start, upfront_fee=upfront_fee)


def test_upfront_fee_pushes_a_12_pct_private_loan_over_its_12_pct_cap() -> None:
    # 10,000 lent 2025-06-01 at 12 % nominal with a 5 % (500.00) fee deducted up front
    terms = private_loan("0.12", upfront_fee=50_000)
    check = check_cost_cap(terms, LenderType.PRIVATE, date(2025, 6, 1), CN)
    assert check.cap == Decimal("0.12")
    assert not check.within
    assert check.excess == check.all_in - Decimal("0.12")
    assert check.all_in == Decimal("0.2185603033")
    assert check.excess == Decimal("0.0985603033")
    assert "EXCEEDS" in check.basis and "12.00 %" in check.basis
    assert "upfront fee 500.00" in check.basis and "Art. 25" in check.basis


def test_the_flagged_all_in_rate_is_the_root_of_the_actual_flows() -> None:
    terms = private_loan("0.12", upfront_fee=50_000)
    check = check_cost_cap(terms, LenderType.PRIVATE, date(2025, 6, 1), CN)
    flows = [-terms.net_disbursed, *(i.total for i in build_schedule(terms).instalments)]
    monthly = Fraction(check.all_in) / 12
    npv = sum((Fraction(v) / (1 + monthly) ** t for t, v in enumerate(flows)), Fraction(0))
    assert abs(npv) < 1  # under a fen: 21.856… % is what the borrower really pays


def test_same_loan_without_the_fee_is_within_the_cap() -> None:
    # 11.9 %: the all-in APR stays below 12 % after fen rounding
    check = check_cost_cap(private_loan("0.119"), LenderType.PRIVATE, date(2025, 6, 1), CN)
    assert check.within and check.excess == 0
    assert "within the cap" in check.basis


def test_licensed_lender_may_charge_what_a_private_lender_may_not() -> None:
    terms = private_loan("0.18")
    private = check_cost_cap(terms, LenderType.INDIVIDUAL, date(2025, 6, 1), CN)
    bank = check_cost_cap(terms, LenderType.CONSUMER_FINANCE, date(2025, 6, 1), CN)
    assert not private.within and private.excess > Decimal("0.059")
    assert bank.within and bank.cap == Decimal("0.24")
    assert bank.cost_cap.regime == "licensed-24pct"


def test_cap_is_read_on_the_formation_date_not_the_start() -> None:
    terms = private_loan("0.13", start=date(2025, 6, 1))
    formed_early = check_cost_cap(terms, LenderType.PRIVATE, date(2024, 3, 1), CN)
    formed_late = check_cost_cap(terms, LenderType.PRIVATE, date(2025, 6, 1), CN)
    assert formed_early.cap == Decimal("0.138") and formed_early.within
    assert formed_late.cap == Decimal("0.12") and not formed_late.within


def test_transitional_loan_is_held_to_its_strictest_segment() -> None:
    terms = private_loan("0.15", start=date(2020, 1, 10))
    check = check_cost_cap(terms, LenderType.P2P, date(2020, 1, 10), CN,
                           filed_on=date(2024, 3, 4))
    assert check.cap == Decimal("0.138")  # 4 × 3.45 % at filing (Art. 31)
    assert not check.within
    assert len(check.cost_cap.segments) == 2


def test_a_pack_without_caps_refuses_to_check() -> None:
    with pytest.raises(CapError):
        check_cost_cap(private_loan("0.12"), LenderType.BANK, date(2025, 6, 1), load_pack("US"))
