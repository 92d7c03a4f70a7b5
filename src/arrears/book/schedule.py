"""Repayment schedules exact to the fen — the scalar reference implementation.

Rounding points (all with the loan's ``rounding`` mode, HALF_UP by default):

* ``instalment-amount`` — the equal instalment (等额本息 payment) is rounded once;
* ``period-interest`` — each period's interest = balance × rate × period fraction, rounded;
* ``period-principal`` — equal-principal (等额本金) share = principal / n, rounded;
* ``period-fee`` — service fee = fee base × fee rate × period fraction, rounded.

The last instalment takes whatever principal is left, so the principal always sums to the
loan's principal exactly. ``vector.build_schedules`` computes the same numbers for whole
portfolios; ``tests/book/test_vector.py`` proves the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from arrears.book.terms import LoanTerms, Method
from arrears.calendar import DayCount, MonthEnd, Period, advance, due_dates, period_fraction
from arrears.money import Rounding, div_round


@dataclass(frozen=True, slots=True)
class Instalment:
    """One scheduled due line (期)."""

    n: int
    start_on: date  # interest period start (inclusive)
    due_on: date  # interest period end and due date
    principal: int
    interest: int
    fee: int

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fee


@dataclass(frozen=True, slots=True)
class Schedule:
    instalments: tuple[Instalment, ...]

    @property
    def principal(self) -> int:
        return sum(i.principal for i in self.instalments)

    @property
    def interest(self) -> int:
        return sum(i.interest for i in self.instalments)

    @property
    def fee(self) -> int:
        return sum(i.fee for i in self.instalments)

    @property
    def total(self) -> int:
        return sum(i.total for i in self.instalments)

    def __len__(self) -> int:
        return len(self.instalments)


@dataclass(frozen=True, slots=True)
class Grid:
    """Period boundaries and year fractions of a schedule, before any money is computed."""

    starts: tuple[date, ...]
    dues: tuple[date, ...]
    fractions: tuple[Fraction, ...]


def grid(
    start: date,
    period: Period,
    count: int,
    basis: DayCount,
    month_end: MonthEnd = MonthEnd.CLAMP,
    first_due: date | None = None,
    bullet: bool = False,
) -> Grid:
    """The periods of a schedule. A bullet loan is one period spanning all ``count`` periods."""
    if first_due is not None and first_due <= start:
        raise ValueError(f"first due date {first_due} is not after the start {start}")
    if bullet:
        whole = Period(period.unit, period.count * count)
        due = first_due if first_due is not None else advance(start, whole, 1, month_end)
        regular = first_due is None or first_due == advance(start, whole, 1, month_end)
        return Grid((start,), (due,), (period_fraction(start, due, basis, whole, regular),))
    dues = due_dates(start, period, count, month_end, first_due)
    starts = [start, *dues[:-1]]
    fractions = []
    for k, (s, d) in enumerate(zip(starts, dues, strict=True)):
        regular = k > 0 or first_due is None or first_due == advance(start, period, 1, month_end)
        fractions.append(period_fraction(s, d, basis, period, regular))
    return Grid(tuple(starts), tuple(dues), tuple(fractions))


def interest_for(balance: int, rate: Fraction, fraction: Fraction, mode: Rounding) -> int:
    """Rounding point ``period-interest``: balance × annual rate × year fraction."""
    return div_round(
        balance * rate.numerator * fraction.numerator,
        rate.denominator * fraction.denominator,
        mode,
    )


def equal_instalment(balance: int, rate: Fraction, fractions: Sequence[Fraction],
                     mode: Rounding) -> int:
    """Rounding point ``instalment-amount``: the level payment that amortises ``balance``.

    Exact: A = balance / Σₖ Πⱼ≤ₖ 1/(1 + r·fⱼ); with equal fractions this is the familiar
    P·i·(1+i)ⁿ / ((1+i)ⁿ − 1).
    """
    if rate == 0:
        return div_round(balance, len(fractions), mode)
    discount = Fraction(1)
    annuity = Fraction(0)
    for f in fractions:
        discount /= 1 + rate * f
        annuity += discount
    amount = balance / annuity
    return div_round(amount.numerator, amount.denominator, mode)


def amortise(
    balance: int,
    annual_rate: Decimal,
    method: Method,
    fractions: Sequence[Fraction],
    mode: Rounding,
    fixed_payment: int | None = None,
) -> list[tuple[int, int]]:
    """(principal, interest) per period for ``balance`` over the given period fractions.

    A contractual schedule always has one row per period, the last taking whatever principal
    is left (a broken first period whose interest exceeds the level payment repays no principal
    in it; a level payment rounded up leaves zero rows at the end). ``fixed_payment`` keeps a
    given level payment and ends as soon as the balance is paid (reduce-term after a
    prepayment).
    """
    rate = Fraction(annual_rate)
    n = len(fractions)
    rows: list[tuple[int, int]] = []
    if method is Method.EQUAL_INSTALMENT:
        payment = fixed_payment if fixed_payment is not None else equal_instalment(
            balance, rate, fractions, mode)
        for k, f in enumerate(fractions):
            interest = interest_for(balance, rate, f, mode)
            last = k == n - 1 or (fixed_payment is not None and balance + interest <= payment)
            principal = balance if last else min(balance, max(payment - interest, 0))
            rows.append((principal, interest))
            balance -= principal
            if last:
                break
        return rows
    if method is Method.EQUAL_PRINCIPAL:
        share = fixed_payment if fixed_payment is not None else div_round(balance, n, mode)
        for k, f in enumerate(fractions):
            interest = interest_for(balance, rate, f, mode)
            last = k == n - 1 or (fixed_payment is not None and balance <= share)
            principal = balance if last else min(share, balance)
            rows.append((principal, interest))
            balance -= principal
            if last:
                break
        return rows
    # interest-first and bullet: interest on the whole balance, principal at the end
    for k, f in enumerate(fractions):
        interest = interest_for(balance, rate, f, mode)
        rows.append((balance if k == n - 1 else 0, interest))
    return rows


def fee_for(terms: LoanTerms, fraction: Fraction) -> int:
    """Rounding point ``period-fee``: fixed fee plus the annual fee rate on the original
    principal for the period."""
    if terms.service_fee_rate == 0:
        return terms.service_fee_fixed
    return terms.service_fee_fixed + interest_for(
        terms.principal, Fraction(terms.service_fee_rate), fraction, terms.rounding
    )


def build_schedule(terms: LoanTerms) -> Schedule:
    """The contractual schedule of a new loan."""
    g = grid(terms.start, terms.period, terms.term_count, terms.basis, terms.month_end,
             terms.first_due, bullet=terms.method is Method.BULLET)
    rows = amortise(terms.principal, terms.annual_rate, terms.method, g.fractions, terms.rounding)
    return Schedule(tuple(
        Instalment(k + 1, g.starts[k], g.dues[k], p, i, fee_for(terms, g.fractions[k]))
        for k, (p, i) in enumerate(rows)
    ))


def reschedule(
    terms: LoanTerms,
    balance: int,
    start: date,
    dues: Sequence[date],
    first_n: int,
    fixed_payment: int | None = None,
    fees: Sequence[int] | None = None,
) -> list[Instalment]:
    """A new schedule for ``balance`` from ``start`` over the remaining due dates.

    Used after a prepayment: the first period (start → dues[0]) may be broken; the later ones
    are regular. ``fixed_payment`` keeps the old instalment (reduce-term); without it the
    instalment is recomputed over all remaining dates (reduce-instalment).
    """
    if balance <= 0 or not dues:
        return []
    starts = [start, *dues[:-1]]
    fractions = []
    for k, (s, d) in enumerate(zip(starts, dues, strict=True)):
        regular = k > 0 or (terms.method is not Method.BULLET
                            and advance(s, terms.period, 1, terms.month_end) == d)
        fractions.append(period_fraction(s, d, terms.basis, terms.period, regular))
    method = Method.INTEREST_FIRST if terms.method is Method.BULLET else terms.method
    rows = amortise(balance, terms.annual_rate, method, fractions, terms.rounding, fixed_payment)
    out = []
    for k, (p, i) in enumerate(rows):
        fee = fees[k] if fees is not None and k < len(fees) else fee_for(terms, fractions[k])
        out.append(Instalment(first_n + k, starts[k], dues[k], p, i, fee))
    return out
