"""Annualised cost of a loan by the IRR method (PBOC Announcement 〔2021〕No.3, CN.md §1.5).

The borrower receives the net disbursement (the upfront fee is deducted, Civil Code Art. 670)
and pays each instalment's total (principal + interest + fee). The periodic internal rate of
return ``i`` of those flows is annualised two ways:

* ``nominal_apr = i × periods per year`` — what Chinese lenders call "IRR年化" and what is held
  against the legal caps;
* ``effective_annual_rate = (1 + i) ** periods per year − 1``.

Irregular (dated) flows — a broken first period, real payment dates — use XIRR: a daily
compounding on actual days over a 365-day year, then expressed per period of the loan.

Arithmetic is ``Decimal`` at 50 significant digits; the root is bracketed on a fixed grid and
refined by bisection and Newton steps until it moves less than 1e-30, so the answer is
deterministic. Reported rates are rounded once, at the rounding point ``apr-rate``: to 10
decimal places, ``ROUND_HALF_UP``.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from arrears.book.schedule import build_schedule
from arrears.book.terms import LoanTerms, Method
from arrears.calendar import Period, advance
from arrears.money import Rounding, fmt

RATE_PLACES = 10  # reported rates: 10 decimal places ...
RATE_ROUNDING = Rounding.HALF_UP  # ... rounded half-up (rounding point ``apr-rate``)
_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
_PRECISION = 50  # significant digits while solving
_TOLERANCE = Decimal("1e-30")  # stop when a step moves the rate less than this
_FULL = Decimal("1e-24")  # unrounded helpers (irr, xirr, rate) return 24 decimal places
_XIRR_YEAR_DAYS = 365

Number = Decimal | int


class AprError(ValueError):
    """Cash flows without an internal rate of return (e.g. no sign change)."""


@dataclass(frozen=True, slots=True)
class Apr:
    """A loan's annualised cost (年化利率), IRR method, rates rounded to 10 places half-up."""

    periodic_irr: Decimal  # per repayment period
    nominal_apr: Decimal  # periodic_irr × periods_per_year (IRR年化)
    effective_annual_rate: Decimal  # (1 + periodic_irr) ** periods_per_year − 1
    periods_per_year: Fraction  # 12 monthly; 365/N for N-day periods
    method: str  # "IRR" (regular periods) or "XIRR" (dated flows)
    basis: str  # the flows and conventions used, in words


# --- the solver -----------------------------------------------------------------------------


def _ctx() -> decimal.Context:
    return decimal.Context(prec=_PRECISION, rounding=decimal.ROUND_HALF_EVEN)


def _grid() -> list[Decimal]:
    """Candidate rates for bracketing roots in (−1, ∞): dense near 0, geometric outwards."""
    with decimal.localcontext(_ctx()):
        pos: list[Decimal] = []
        r = Decimal("0.0001")
        while r < 10000:
            pos.append(r)
            r *= Decimal("1.5")
        neg = [-x for x in pos if x < 1] + [Decimal("-0.999"), Decimal("-0.99999")]
    return sorted([*neg, Decimal(0), *pos])


_GRID = _grid()


def _solve(f: Callable[[Decimal], Decimal], df: Callable[[Decimal], Decimal]) -> Decimal:
    """The root of ``f`` on (−1, ∞) closest to 0 (numpy-financial's choice when several).

    Roots are bracketed by sign changes of ``f`` on ``_GRID``; two roots inside one grid cell
    would be missed — impossible for a loan (one sign change in the flows ⇒ one root).
    """
    with decimal.localcontext(_ctx()):
        values = [f(r) for r in _GRID]
        roots: list[Decimal] = []
        for k, (r, v) in enumerate(zip(_GRID, values, strict=True)):
            if v == 0:
                roots.append(r)
            elif k + 1 < len(_GRID) and values[k + 1] != 0 and (v > 0) != (values[k + 1] > 0):
                roots.append(_refine(f, df, r, _GRID[k + 1], v))
        if not roots:
            raise AprError("no internal rate of return: the flows' value never crosses zero")
        return min(roots, key=lambda x: (abs(x), x))


def _refine(f: Callable[[Decimal], Decimal], df: Callable[[Decimal], Decimal],
            lo: Decimal, hi: Decimal, f_lo: Decimal) -> Decimal:
    """Safeguarded Newton inside ``[lo, hi]``: a Newton step when it stays in the bracket,
    a bisection step otherwise; the bracket always shrinks, so this terminates."""
    x = (lo + hi) / 2
    for _ in range(400):
        fx = f(x)
        if fx == 0:
            return x
        if (fx > 0) == (f_lo > 0):
            lo, f_lo = x, fx
        else:
            hi = x
        d = df(x)
        step = fx / d if d != 0 else None
        nxt = x - step if step is not None else None
        if nxt is None or not lo < nxt < hi:
            nxt = (lo + hi) / 2
        if abs(nxt - x) < _TOLERANCE or hi - lo < _TOLERANCE:
            return nxt
        x = nxt
    raise AprError("the IRR did not converge")  # pragma: no cover - bracket halves each step


def _round(rate: Decimal) -> Decimal:
    # in the module's own context: a caller's narrower context must not change the result
    with decimal.localcontext(_ctx()):
        try:
            return rate.quantize(_QUANTUM, rounding=RATE_ROUNDING.decimal_mode)
        except decimal.InvalidOperation:
            raise AprError(f"rate {rate:.6E} is too large to report") from None


# --- numpy-financial-style helpers (sign convention: money paid out is negative) -------------


def npv(rate: Number, values: Sequence[Number]) -> Decimal:
    """Σ values[t] / (1 + rate) ** t, the first value at t = 0 (numpy-financial 1.0.0)."""
    with decimal.localcontext(_ctx()):
        x = 1 / (1 + Decimal(rate))
        total = Decimal(0)
        for v in reversed(values):  # Horner in x = 1/(1+rate)
            total = total * x + Decimal(v)
        return +total


def _npv_derivative(rate: Decimal, values: Sequence[Number]) -> Decimal:
    x = 1 / (1 + rate)
    return -sum((t * Decimal(v) * x ** (t + 1) for t, v in enumerate(values) if t),
                Decimal(0))


def irr(values: Sequence[Number]) -> Decimal:
    """The periodic internal rate of return of regular flows (first at t = 0), unrounded
    (24 places). Raises ``AprError`` when there is none."""
    if not any(Decimal(v) > 0 for v in values) or not any(Decimal(v) < 0 for v in values):
        raise AprError("no internal rate of return: the flows do not change sign")
    root = _solve(lambda r: npv(r, values), lambda r: _npv_derivative(r, values))
    with decimal.localcontext(_ctx()):
        return root.quantize(_FULL)


def pmt(rate: Number, nper: int, pv: Number, fv: Number = 0, begin: bool = False) -> Decimal:
    """The level payment per period (numpy-financial ``pmt``), exact to 50 digits."""
    with decimal.localcontext(_ctx()):
        r, p, f = Decimal(rate), Decimal(pv), Decimal(fv)
        if r == 0:
            return +(-(p + f) / nper)
        growth = (1 + r) ** nper
        return +(-(f + p * growth) * r / ((growth - 1) * (1 + r * (1 if begin else 0))))


def rate(nper: int, pmt: Number, pv: Number, fv: Number = 0) -> Decimal:
    """The periodic rate that makes ``pv``, ``nper`` payments ``pmt`` (period end) and
    ``fv`` worth nothing together (numpy-financial ``rate``); ``AprError`` when none."""
    a, p, f = Decimal(pmt), Decimal(pv), Decimal(fv)

    def value(r: Decimal) -> Decimal:
        g = (1 + r) ** nper
        annuity = Decimal(nper) if r == 0 else (g - 1) / r
        return p * g + a * annuity + f

    def slope(r: Decimal) -> Decimal:
        h = Decimal("1e-20")
        return (value(r + h) - value(r - h)) / (2 * h)

    root = _solve(value, slope)
    with decimal.localcontext(_ctx()):
        return root.quantize(_FULL)


def xirr(flows: Sequence[tuple[date, Number]], year_days: int = _XIRR_YEAR_DAYS) -> Decimal:
    """The effective annual rate r with Σ amount / (1 + r) ** (days since first / year_days)
    = 0 (Excel's XIRR), unrounded (24 places)."""
    if len(flows) < 2:
        raise AprError("XIRR needs at least two dated flows")
    t0 = min(d for d, _ in flows)
    times = [Decimal((d - t0).days) / year_days for d, _ in flows]
    amounts = [Decimal(a) for _, a in flows]
    if not any(a > 0 for a in amounts) or not any(a < 0 for a in amounts):
        raise AprError("no internal rate of return: the flows do not change sign")

    def value(r: Decimal) -> Decimal:
        log = (1 + r).ln()
        return sum((a * (-t * log).exp() for a, t in zip(amounts, times, strict=True)),
                   Decimal(0))

    def slope(r: Decimal) -> Decimal:
        log = (1 + r).ln()
        return sum((-t * a * (-(t + 1) * log).exp()
                    for a, t in zip(amounts, times, strict=True)), Decimal(0))

    root = _solve(value, slope)
    with decimal.localcontext(_ctx()):
        return root.quantize(_FULL)


# --- APR of a loan ----------------------------------------------------------------------------


def _annualise(periodic: Decimal, per_year: Fraction, method: str, basis: str) -> Apr:
    with decimal.localcontext(_ctx()):
        nominal = periodic * per_year.numerator / per_year.denominator
        if per_year.denominator == 1:
            effective = (1 + periodic) ** per_year.numerator - 1
        else:
            effective = ((1 + periodic).ln() * per_year.numerator / per_year.denominator
                         ).exp() - 1
    return Apr(_round(periodic), _round(nominal), _round(effective), per_year, method, basis)


def _per_year_text(per_year: Fraction) -> str:
    return str(per_year.numerator) if per_year.denominator == 1 else (
        f"{per_year.numerator}/{per_year.denominator}")


def apr_of_regular_flows(values: Sequence[int], period: Period, what: str = "flows") -> Apr:
    """APR of flows in minor units, one per period from t = 0 (lender's view: the
    disbursement negative, repayments positive)."""
    i = irr(values)
    per_year = period.per_year
    basis = (f"IRR method (PBOC 〔2021〕No.3): {what}; periodic IRR × {_per_year_text(per_year)} "
             f"periods a year ({period}); rates rounded to {RATE_PLACES} places "
             f"{RATE_ROUNDING.value}")
    return _annualise(i, per_year, "IRR", basis)


def apr_of_flows(disbursed: int, payment: int, count: int, period: Period,
                 currency: str = "CNY") -> Apr:
    """APR of a loan paying out ``disbursed`` and receiving ``count`` equal ``payment``s, one at
    the end of each ``period`` (amounts in minor units)."""
    if disbursed <= 0 or payment <= 0 or count < 1:
        raise AprError("disbursed and payment must be positive and count at least 1")
    what = (f"{fmt(disbursed, currency)} disbursed, {count} × {fmt(payment, currency)} "
            f"every {period}")
    return apr_of_regular_flows([-disbursed, *([payment] * count)], period, what)


def apr_of_dated_flows(flows: Sequence[tuple[date, int]], period: Period,
                       currency: str = "CNY") -> Apr:
    """APR of dated flows (minor units, disbursement negative) by XIRR on actual days over a
    365-day year, expressed per ``period``: periodic = (1 + XIRR) ** (1 / periods a year) − 1."""
    eff = xirr(flows)
    per_year = period.per_year
    with decimal.localcontext(_ctx()):
        periodic = ((1 + eff).ln() * per_year.denominator / per_year.numerator).exp() - 1
    basis = (f"XIRR (PBOC 〔2021〕No.3 IRR method on actual dates, ACT/{_XIRR_YEAR_DAYS}): "
             f"{len(flows)} dated flows from {min(d for d, _ in flows).isoformat()}; "
             f"expressed per {period}, × {_per_year_text(per_year)} a year; rates rounded to "
             f"{RATE_PLACES} places {RATE_ROUNDING.value}")
    return _annualise(periodic, per_year, "XIRR", basis)


def is_regular(terms: LoanTerms) -> bool:
    """True when every period of the schedule is whole (no broken first period), so the plain
    periodic IRR applies. A bullet's one period is the whole term, as ``schedule.grid`` has it."""
    if terms.first_due is None:
        return True
    span = (Period(terms.period.unit, terms.period.count * terms.term_count)
            if terms.method is Method.BULLET else terms.period)
    return terms.first_due == advance(terms.start, span, 1, terms.month_end)


def loan_flows(terms: LoanTerms) -> list[tuple[date, int]]:
    """The borrower's contract cash flows from the lender's view: the net disbursement
    (principal − upfront fee) on the start date, then each instalment's total on its due date."""
    schedule = build_schedule(terms)
    return [(terms.start, -terms.net_disbursed),
            *((i.due_on, i.total) for i in schedule.instalments)]


def apr_of_loan(terms: LoanTerms) -> Apr:
    """The all-in annualised cost of a loan's contract schedule, IRR method."""
    flows = loan_flows(terms)
    fee = (f", upfront fee {fmt(terms.upfront_fee, terms.currency)} deducted"
           if terms.upfront_fee else "")
    what = (f"{fmt(terms.net_disbursed, terms.currency)} received{fee}, {len(flows) - 1} "
            f"instalment(s) of principal + interest + fee totalling "
            f"{fmt(sum(a for _, a in flows[1:]), terms.currency)}")
    if not is_regular(terms):
        apr = apr_of_dated_flows(flows, terms.period, terms.currency)
        return Apr(apr.periodic_irr, apr.nominal_apr, apr.effective_annual_rate,
                   apr.periods_per_year, apr.method,
                   f"{apr.basis}; broken first period (first due {terms.first_due}); {what}")
    values = [-terms.net_disbursed] + [a for _, a in flows[1:]]
    if terms.method is Method.BULLET:
        # one payment after term_count periods: place it there on the regular period grid
        values = [-terms.net_disbursed, *([0] * (terms.term_count - 1)), flows[-1][1]]
    return apr_of_regular_flows(values, terms.period, what)
