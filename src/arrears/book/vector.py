"""Repayment schedules for whole portfolios at once — the numbers of ``schedule.build_schedule``.

One row per loan in, one row per instalment out, equal to the scalar reference to the fen
(``tests/book/test_vector.py`` proves it on random portfolios). The work is vectorised over
loans; the only Python loops run over the period index k (at most a few hundred), plus an exact
recomputation for the rare loans whose float equal-instalment estimate is too close to a
rounding boundary to trust.

Data flow:

1. ``_validated`` checks the input and finds the loan_id order; ``_prepare`` codes it into
   NumPy columns (exact rate numerators and denominators, a month table for due dates) laid
   out by instalment count, descending, so the loans still running at period k are a prefix.
2. ``_grid`` walks k: due dates from the anchor (never chained), and the year fraction of
   each period as an exact integer over a per-loan denominator; it also sums the float
   annuity factor for the equal instalment.
3. ``_level_payments`` rounds the equal instalment (float, with an exact fallback) and the
   equal-principal share (exact).
4. ``_amortise`` walks k again with the exact integer recurrence of ``schedule.amortise``;
   interest and fees are ``div_round`` in Polars on Int128 (Int64 where the product provably
   fits), written straight into the output slots (sorted by loan_id, n).
5. ``_assemble`` hands the NumPy columns to Polars without copying.

Speed on this project's 2-core machine: see ``bench/bench_schedules.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.book.schedule import equal_instalment
from arrears.book.terms import LoanTerms, Method
from arrears.calendar import DayCount, MonthEnd, Period, PeriodUnit
from arrears.money import Rounding

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

INPUT_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "principal": pl.Int64, "annual_rate": pl.String,
    "method": pl.String, "term_count": pl.Int32, "period": pl.String, "start": pl.Date,
    "first_due": pl.Date, "basis": pl.String, "rounding": pl.String, "month_end": pl.String,
    "service_fee_rate": pl.String, "service_fee_fixed": pl.Int64,
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "n": pl.Int32, "start_on": pl.Date, "due_on": pl.Date,
    "principal": pl.Int64, "interest": pl.Int64, "fee": pl.Int64,
}

_METHODS = tuple(Method)
_BASES = tuple(DayCount)
_ROUNDINGS = tuple(Rounding)
_MONTH_ENDS = tuple(MonthEnd)
_EI, _EP, _BULLET = (_METHODS.index(m) for m in
                     (Method.EQUAL_INSTALMENT, Method.EQUAL_PRINCIPAL, Method.BULLET))
_D30, _ACT_ACT = _BASES.index(DayCount.D30_360), _BASES.index(DayCount.ACT_ACT)
# Every period fraction is an integer numerator over one denominator per basis. ACT/ACT mixes
# days over 365 and days over 366, so its common denominator is 365 × 366.
_FRACTION_DEN = np.array([{DayCount.ACT_ACT: 365 * 366}.get(b, b.year_days) for b in _BASES],
                         dtype=np.int64)
_MAX_DATE = date(9999, 12, 31)
_INT128 = pl.Int128()


def rounding_code(mode: Rounding) -> int:
    """The integer that stands for ``mode`` in the coded ``rounding`` column."""
    return _ROUNDINGS.index(mode)


def div_round_expr(num: pl.Expr, den: pl.Expr, mode: pl.Expr | Rounding,
                   dtype: pl.DataType = _INT128) -> pl.Expr:
    """``money.div_round(num, den, mode)`` row by row, exactly, in ``dtype`` (Int128 unless
    every value and product is known to fit a narrower integer type).

    ``mode`` is a ``Rounding`` or an expression of ``rounding_code`` values; ``den`` must be
    positive (every denominator here is). Within one expression Polars evaluates the division
    up to three times (its fused multiply-subtract does not reuse the quotient): over millions
    of rows, stage it as ``_div_round_staged`` does, about three times faster.
    """
    code = pl.lit(rounding_code(mode), pl.Int8) if isinstance(mode, Rounding) else mode
    n, d = num.cast(dtype), den.cast(dtype)
    q = n // d  # floor division, as divmod in div_round: 0 <= r < d
    return q + _rounds_up(n, d, q, n - q * d, code).cast(dtype)


def _rounds_up(n: pl.Expr, d: pl.Expr, q: pl.Expr, r: pl.Expr, code: pl.Expr) -> pl.Expr:
    """Whether ``div_round`` adds one to the floor quotient ``q`` of ``n / d`` (remainder r)."""

    def is_(m: Rounding) -> pl.Expr:
        return code == rounding_code(m)

    half = is_(Rounding.HALF_UP) | is_(Rounding.HALF_EVEN)
    tie_up = (is_(Rounding.HALF_UP) & (n >= 0)) | (is_(Rounding.HALF_EVEN) & ((q & 1) != 0))
    up = (is_(Rounding.CEILING) | (is_(Rounding.UP) & (n >= 0)) | (is_(Rounding.DOWN) & (n < 0))
          | (half & ((r * 2 > d) | ((r * 2 == d) & tie_up))))
    return (r != 0) & up


@dataclass(frozen=True, slots=True)
class VectorBuild:
    """The schedules and how they were computed."""

    schedules: pl.DataFrame
    exact_fallbacks: int  # loans whose equal instalment was recomputed exactly (Fraction)


def build_schedules(loans: pl.DataFrame) -> pl.DataFrame:
    """The contractual schedule of every loan in ``loans`` (see ``INPUT_SCHEMA``): one row per
    instalment (``OUTPUT_SCHEMA``), sorted by ``loan_id``, ``n``; equal to ``build_schedule``."""
    return build_schedules_traced(loans).schedules


def build_schedules_traced(loans: pl.DataFrame) -> VectorBuild:
    """``build_schedules`` plus the count of loans that needed the exact fallback."""
    frame, order = _validated(loans)
    if frame.height == 0:
        return VectorBuild(pl.DataFrame(schema=OUTPUT_SCHEMA), 0)
    book = _prepare(frame, order)
    g = _grid(book)
    _check_magnitudes(book, g)
    payment, fallbacks = _level_payments(book, g)
    out = _amortise(book, g, payment)
    return VectorBuild(_assemble(frame, book, out), fallbacks)


def terms_frame(terms: Sequence[tuple[str, LoanTerms]]) -> pl.DataFrame:
    """The ``build_schedules`` input for ``(loan_id, terms)`` pairs."""
    rows = [
        {"loan_id": loan_id, "principal": t.principal, "annual_rate": format(t.annual_rate, "f"),
         "method": t.method.value, "term_count": t.term_count, "period": str(t.period),
         "start": t.start, "first_due": t.first_due, "basis": t.basis.value,
         "rounding": t.rounding.value, "month_end": t.month_end.value,
         "service_fee_rate": format(t.service_fee_rate, "f"),
         "service_fee_fixed": t.service_fee_fixed}
        for loan_id, t in terms
    ]
    return pl.DataFrame(rows, schema=INPUT_SCHEMA)


# ---------------------------------------------------------------- input: validate and code


@dataclass(frozen=True, slots=True)
class _Book:
    """The portfolio as NumPy columns, reordered so that loans still running at period k are
    the prefix ``[:counts[k]]`` (longest schedules first). Dates are days since 1970-01-01."""

    size: int
    counts: list[int]  # loans with more than k instalments, for each k
    terms: Ints  # instalments (1 for a bullet loan)
    offset: Ints  # first output row of the loan (output is sorted by loan_id)
    months: _Months
    method: Ints
    month: Bools  # monthly unit (else days)
    step: Ints  # months or days per period (a bullet loan's one period spans them all)
    # Due k is ``first + k`` periods from the anchor (first_due if set, else start), as
    # ``_advance`` counts: month ``anchor_month + month_step × j``, day ``anchor_day`` (31
    # for a month-end anchor under the month-end rule), plus ``day_step × j`` days.
    anchor_month: Ints
    anchor_day: Ints
    month_step: Ints
    day_step: Ints
    first: Ints  # 0 with first_due (it is due 1), else 1
    start: Ints
    regular0: Bools  # the first period is a whole regular period (see ``schedule.grid``)
    basis: Ints
    fden: Ints  # denominator of every period fraction of the loan
    principal: Ints
    rate: Floats  # annual rate, float: only for the equal-instalment estimate
    rate_num: Ints
    rate_den: Ints
    mode: Ints  # rounding_code
    actact: Ints  # positions of ACT/ACT loans (ascending, so a prefix slice is per k)
    fees: _Fees
    sorted_rows: Ints  # loan_id order, for the output rows: frame row,
    sorted_terms: Ints  # instalments,
    sorted_start: Ints  # start date,
    sorted_fee_fixed: Ints  # fixed fee per instalment


@dataclass(frozen=True, slots=True)
class _Fees:
    """Loans with a service fee rate: positions in the book (ascending, so the ones running at
    period k are a prefix) and what ``fee_for`` needs of them."""

    at: Ints
    principal: Ints
    num: Ints
    den: Ints
    fden: Ints
    mode: Ints


def _reject(frame: pl.DataFrame, bad: pl.Series | pl.Expr, field: str, why: str) -> None:
    """Raise naming the first offending loans, if any row is ``bad``."""
    rows = frame.filter(bad)
    if rows.height:
        ids = rows["loan_id"].head(5).to_list()
        more = f" and {rows.height - 5} more" if rows.height > 5 else ""
        raise ValueError(f"loans {ids}{more}: {field} {why}")


def _validated(loans: pl.DataFrame) -> tuple[pl.DataFrame, Ints]:
    """The input cast to ``INPUT_SCHEMA`` and the row order that sorts it by loan_id, or an
    error naming bad rows."""
    missing = [c for c in INPUT_SCHEMA if c not in loans.columns]
    if missing:
        raise ValueError(f"the loans frame lacks columns {missing}")
    for name in ("annual_rate", "service_fee_rate"):
        if loans.schema[name] != pl.String:  # a float rate would already have lost exactness
            raise TypeError(f"{name} must be a String decimal, got {loans.schema[name]}")
    frame = loans.select(pl.col(c).cast(t) for c, t in INPUT_SCHEMA.items())
    checks = [(c, pl.col(c).is_null(), "is missing") for c in INPUT_SCHEMA if c != "first_due"]
    checks += [
        ("principal", pl.col("principal") <= 0, "must be positive"),
        ("term_count", pl.col("term_count") < 1, "must be at least 1"),
        ("first_due", pl.col("first_due") <= pl.col("start"), "is not after start"),
    ]
    failed = frame.select(bad.any().alias(str(i)) for i, (_, bad, _) in enumerate(checks))
    for (field, bad, why), hit in zip(checks, failed.row(0), strict=True):
        if hit:
            _reject(frame, bad, field, why)
    ids = frame["loan_id"]
    if ids.is_sorted():  # the usual export order of a loan table: skip the string sort
        order = np.arange(frame.height, dtype=np.int64)
    else:
        order = ids.arg_sort().to_numpy().astype(np.int64)
        ids = ids.gather(order)
    _reject(frame, pl.col("loan_id").is_in(ids.filter(ids == ids.shift(1)).implode()),
            "loan_id", "is not unique")
    return frame, order


def _code(frame: pl.DataFrame, column: str, values: Sequence[str]) -> Ints:
    """Each value's index in ``values``."""
    try:
        coded = frame[column].cast(pl.Enum(values)).to_physical()
    except pl.exceptions.InvalidOperationError:
        _reject(frame, ~pl.col(column).is_in(values), column, f"is not one of {list(values)}")
        raise
    return coded.to_numpy().astype(np.int64)


def _periods(frame: pl.DataFrame) -> tuple[Bools, Ints]:
    """Monthly unit and length of each loan's period (the few distinct texts parsed once)."""
    parsed: dict[str, Period] = {}
    for text in frame["period"].unique().to_list():
        with suppress(ValueError):  # an unparsable text stays unmapped and is rejected below
            parsed[text] = Period.parse(text)
    unit = frame["period"].replace_strict(
        {t: p.unit is PeriodUnit.MONTH for t, p in parsed.items()}, default=None,
        return_dtype=pl.Boolean)
    _reject(frame, unit.is_null(), "period", "is not a period (month, quarter, week, Nm, Nd, Nw)")
    count = frame["period"].replace_strict({t: p.count for t, p in parsed.items()},
                                           return_dtype=pl.Int64)
    return unit.to_numpy(), count.to_numpy()


_PLAIN_DECIMAL = r"^[0-9]*\.?[0-9]*$"
_SCALE = 10**18
_INT64_MAX = 2**63 - 1


def _rationals(frame: pl.DataFrame, column: str) -> tuple[Ints, Ints]:
    """Exact reduced ``(numerator, denominator)`` of each decimal text, as ``money.ratio``.

    Plain decimals (digits and a point, so at most 18 decimals within 19 characters, and below
    9.2) are read as 18-decimal fixed point, which is exact for them; anything else Python's
    ``Decimal`` accepts (signs, exponents, spaces) goes through ``Fraction`` for its few
    distinct texts.
    """
    text = pl.col(column)
    plain = text.str.contains(_PLAIN_DECIMAL) & (text.str.len_bytes() <= 19)
    scaled = frame.lazy().select(pl.when(plain).then(
        text.cast(pl.Decimal(38, 18), strict=False).to_physical().cast(pl.Int64, strict=False)
    )).collect().to_series()
    num = scaled.fill_null(0).to_numpy(writable=True)
    den = np.full(len(num), _SCALE, dtype=np.int64)
    todo = scaled.is_null()
    if todo.any():
        raw = frame[column].filter(todo)
        exact = {t: r for t in raw.unique().to_list() if (r := _ratio(t)) is not None}
        parts = [raw.replace_strict({t: r[k] for t, r in exact.items()}, default=None,
                                    return_dtype=pl.Int64) for k in (0, 1)]
        _reject(frame.filter(todo), parts[0].is_null(), column,
                "is not a decimal number (at most 18 digits after reduction)")
        where = np.flatnonzero(todo.to_numpy())
        num[where], den[where] = parts[0].to_numpy(), parts[1].to_numpy()
    common = np.gcd(num, den)
    return num // common, den // common


def _ratio(text: str) -> tuple[int, int] | None:
    try:
        value = Fraction(Decimal(text))
    except (ArithmeticError, ValueError):  # InvalidOperation, NaN, Infinity
        return None
    if abs(value.numerator) > _INT64_MAX or value.denominator > _INT64_MAX:
        return None
    return value.numerator, value.denominator


# ---------------------------------------------------------------- calendar on arrays
# Howard Hinnant's civil-date algorithms, in days since 1970-01-01 (Polars' Date), proleptic
# Gregorian like ``datetime.date``.

_EPOCH_SHIFT = 719468  # days from 0000-03-01 to 1970-01-01
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _is_leap(y: Ints) -> Bools:
    leap: Bools = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    return leap


def _month_days(y: Ints, m: Ints) -> Ints:
    days: Ints = _MONTH_DAYS[m] + ((m == 2) & _is_leap(y))
    return days


def _days_from_civil(y: Ints, m: Ints, d: Ints) -> Ints:
    y = y - (m <= 2)  # count years from March, so the leap day ends the year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    days: Ints = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - _EPOCH_SHIFT
    return days


def _civil_from_days(days: Ints) -> tuple[Ints, Ints, Ints]:
    z = days + _EPOCH_SHIFT
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (m <= 2), m, doy - (153 * mp + 2) // 5 + 1


@dataclass(frozen=True, slots=True)
class _Months:
    """First day (epoch day) and length of each month from ``base`` (year × 12 + month − 1) on:
    due dates become two table look-ups instead of a civil-date conversion per instalment."""

    base: int
    first_day: Ints
    length: Ints

    @classmethod
    def spanning(cls, low: int, high: int) -> _Months:
        y, m0 = np.divmod(np.arange(low, high + 1, dtype=np.int64), 12)
        return cls(low, _days_from_civil(y, m0 + 1, np.ones_like(y)), _month_days(y, m0 + 1))


def _advance(months: _Months, month: Ints, day: Ints, month_step: Ints, day_step: Ints,
             j: Ints | int) -> Ints:
    """``calendar.advance`` on arrays: j periods after the date (``month`` index from
    ``months.base``, ``day``), by ``month_step`` months (clamped to the month's length — always
    from the anchor, so a 31st comes back after February) plus ``day_step`` days."""
    at = month + month_step * j
    due: Ints = months.first_day[at] - 1 + np.minimum(day, months.length[at]) + day_step * j
    return due


def _leap_days_before(days: Ints) -> Ints:
    """How many days before ``days`` (since year 1) lie in leap years: the difference for two
    dates splits an ACT/ACT period into its days over 366 and its days over 365."""
    y, _, _ = _civil_from_days(days)
    py = y - 1
    into_year = days - _days_from_civil(y, np.ones_like(y), np.ones_like(y))
    return 366 * (py // 4 - py // 100 + py // 400) + np.where(_is_leap(y), into_year, 0)


def _days_30_360(start: Ints, end: Ints) -> Ints:
    """``calendar.days_30_360`` on arrays."""
    ys, ms, ds = _civil_from_days(start)
    ye, me, de = _civil_from_days(end)
    d1 = np.minimum(ds, 30)
    d2 = np.where(d1 == 30, np.minimum(de, 30), de)
    days: Ints = (ye - ys) * 360 + (me - ms) * 30 + (d2 - d1)
    return days


def _prepare(frame: pl.DataFrame, order: Ints) -> _Book:
    """Code the validated portfolio and lay it out (``order`` sorts the frame by loan_id)."""
    method = _code(frame, "method", [m.value for m in _METHODS])
    basis = _code(frame, "basis", [b.value for b in _BASES])
    mode = _code(frame, "rounding", [r.value for r in _ROUNDINGS])
    rule_end = _code(frame, "month_end", [r.value for r in _MONTH_ENDS]) == _MONTH_ENDS.index(
        MonthEnd.MONTH_END)
    month, count = _periods(frame)
    rate_num, rate_den = _rationals(frame, "annual_rate")
    _reject(frame, pl.Series(rate_num < 0), "annual_rate", "must not be negative")
    fee_num, fee_den = _rationals(frame, "service_fee_rate")

    bullet = method == _BULLET
    term_count = frame["term_count"].to_numpy().astype(np.int64)
    terms = np.where(bullet, 1, term_count)
    step = np.where(bullet, count * term_count, count)
    start = frame["start"].to_physical().to_numpy().astype(np.int64)
    has_first = frame["first_due"].is_not_null().to_numpy()
    first = np.where(has_first, 0, 1)
    first_due = frame["first_due"].fill_null(frame["start"]).to_physical().to_numpy()
    anchor = np.where(has_first, first_due, start)
    month_step, day_step = np.where(month, step, 0), np.where(month, 0, step)
    months, anchor_month, anchor_day, start_month, start_day = _calendar(
        anchor, start, month & rule_end, month_step * (first + terms - 1), month_step)
    # schedule.grid: the first period is regular unless first_due moves it off the grid
    regular0 = ~has_first | (anchor == _advance(months, start_month, start_day, month_step,
                                                day_step, 1))

    sorted_terms = terms[order]
    perm = np.argsort(-sorted_terms, kind="stable")  # within a length, still by loan_id
    at = order[perm]  # frame row of each book position
    per_k = np.cumsum(np.bincount(terms))
    principal, fee_num, mode = frame["principal"].to_numpy()[at], fee_num[at], mode[at]
    fee_at = np.flatnonzero(fee_num != 0)
    fden = _FRACTION_DEN[basis][at]
    return _Book(
        size=frame.height,
        counts=[int(frame.height - per_k[k]) for k in range(int(terms.max()))],
        terms=terms[at], offset=np.concatenate(([0], np.cumsum(sorted_terms)[:-1]))[perm],
        months=months, method=method[at], month=month[at], step=step[at],
        anchor_month=anchor_month[at], anchor_day=anchor_day[at],
        month_step=month_step[at], day_step=day_step[at], first=first[at],
        start=start[at], regular0=regular0[at], basis=basis[at], fden=fden,
        principal=principal, rate=(rate_num / rate_den)[at], rate_num=rate_num[at],
        rate_den=rate_den[at], mode=mode, actact=np.flatnonzero(basis[at] == _ACT_ACT),
        fees=_Fees(fee_at, principal[fee_at], fee_num[fee_at], fee_den[at][fee_at],
                   fden[fee_at], mode[fee_at]),
        sorted_rows=order, sorted_terms=sorted_terms, sorted_start=start[order],
        sorted_fee_fixed=frame["service_fee_fixed"].to_numpy()[order],
    )


def _calendar(anchor: Ints, start: Ints, month_end_rule: Bools, anchor_reach: Ints,
              start_reach: Ints) -> tuple[_Months, Ints, Ints, Ints, Ints]:
    """The month table from ``start`` to the months ``reach`` after each date, and both dates
    as (month index, day) for ``_advance``; a month end under the month-end rule becomes day
    31 so that it stays on month ends."""
    (ay, am, ad), (sy, sm, sd) = _civil_from_days(anchor), _civil_from_days(start)
    a_index, s_index = ay * 12 + am - 1, sy * 12 + sm - 1
    low = min(int(a_index.min()), int(s_index.min()))
    high = max(int((a_index + anchor_reach).max()), int((s_index + start_reach).max()))
    months = _Months.spanning(low, high)
    a_day = np.where(month_end_rule & (ad == _month_days(ay, am)), 31, ad)
    s_day = np.where(month_end_rule & (sd == _month_days(sy, sm)), 31, sd)
    return months, a_index - low, a_day, s_index - low, s_day


# ---------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class _Grid:
    """Due dates and period fractions per period index k, for the loans ``[:counts[k]]``."""

    due: list[Ints]
    fnum: list[Ints]  # year fraction of the period × the loan's ``fden`` (exact integer)
    annuity: Floats  # Σₖ Πⱼ≤ₖ 1/(1 + r·fⱼ) per loan, in float (see ``_level_payments``)


def _grid(b: _Book) -> _Grid:
    """``schedule.grid`` for every loan, one period index at a time."""
    dues: list[Ints] = []
    fnums: list[Ints] = []
    discount = np.ones(b.size)
    annuity = np.zeros(b.size)
    prev = b.start
    for k, c in enumerate(b.counts):
        due = _advance(b.months, b.anchor_month[:c], b.anchor_day[:c], b.month_step[:c],
                       b.day_step[:c], b.first[:c] + k)
        fnum = _fraction_num(b, k, prev[:c], due)
        discount[:c] /= 1.0 + b.rate[:c] * (fnum / b.fden[:c])
        annuity[:c] += discount[:c]
        dues.append(due)
        fnums.append(fnum)
        prev = due
    last = max((int(d.max()) for d in dues), default=0)
    if last > (_MAX_DATE - date(1970, 1, 1)).days:
        raise ValueError("a due date falls after 9999-12-31")
    return _Grid(dues, fnums, annuity)


def _fraction_num(b: _Book, k: int, start: Ints, due: Ints) -> Ints:
    """``calendar.period_fraction`` × ``fden`` for period k of the loans ``[:len(due)]``."""
    c = len(due)
    days = due - start
    # 30/360 monthly: a regular period is months/12 (PBOC 月利率 = 年利率/12), a broken first
    # one counts 30/360 days; day periods and the ACT bases count actual days.
    d30_month = (b.basis[:c] == _D30) & b.month[:c]
    fnum = np.where(d30_month, 30 * b.step[:c], days)
    if k == 0:
        broken = np.flatnonzero(d30_month & ~b.regular0[:c])
        fnum[broken] = _days_30_360(start[broken], due[broken])
    act = b.actact[: np.searchsorted(b.actact, c)]
    if len(act):
        leap = _leap_days_before(due[act]) - _leap_days_before(start[act])
        fnum[act] = leap * 365 + (days[act] - leap) * 366  # over 365 × 366
    return fnum


def _check_magnitudes(b: _Book, g: _Grid) -> None:
    """Refuse inputs whose exact products would leave Int128 or whose amounts leave Int64."""
    fmax = max(int(f.max()) for f in g.fnum)
    pmax = int(b.principal.max())
    rates = max(int(np.abs(b.rate_num).max()), int(np.abs(b.fees.num).max(initial=0)))
    if pmax * rates * fmax >= 2**126:
        raise ValueError("a principal, rate and period too large for exact Int128 arithmetic")
    per_year = float(np.max(b.rate_num / b.rate_den)) + float(
        np.max(np.abs(b.fees.num) / b.fees.den, initial=0))
    fixed = int(np.abs(b.sorted_fee_fixed).max())
    if pmax * (1 + per_year * fmax / float(b.fden.min())) + fixed >= 2**61:
        raise ValueError("an instalment would exceed the Int64 range of the output")


# ---------------------------------------------------------------- money


# Below this, a product of non-negative Int64 values and twice a remainder stay in Int64.
_INT64_SAFE = 2**62


def _rated(amount: Ints, num: Ints, fnum: Ints, den: Ints, fden: Ints, mode: Ints) -> Ints:
    """``schedule.interest_for`` on arrays: amount × (num/den) × (fnum/fden), rounded."""
    if not len(amount):
        return np.zeros(0, dtype=np.int64)
    top = int(np.abs(amount).max()) * int(np.abs(num).max()) * int(np.abs(fnum).max())
    if max(top, int(den.max()) * int(fden.max())) < _INT64_SAFE:
        return _div_round_int64(amount * num * fnum, den * fden, mode)
    frame = pl.DataFrame({"a": amount, "n": num, "f": fnum, "d": den, "fd": fden, "m": mode})
    return _div_round_staged(frame.lazy().select(  # exact Python-int bounds: Int128 needed
        num=pl.col("a").cast(_INT128) * pl.col("n") * pl.col("f"),
        den=pl.col("d").cast(_INT128) * pl.col("fd"),
        mode="m",
    ), _INT128)


def _even_split(amount: Ints, parts: Ints, mode: Ints) -> Ints:
    """``div_round(amount, parts, mode)`` on arrays (an amount of fen fits the NumPy path)."""
    return _div_round_int64(amount, parts, mode)


def _div_round_int64(num: Ints, den: Ints, mode: Ints) -> Ints:
    """``div_round`` row by row in NumPy, for |num| and den below ``_INT64_SAFE`` (twice a
    remainder then stays in Int64). One pass, no query plan: a day's batch of a hundred loans
    would otherwise pay Polars' fixed cost per period, more than the arithmetic itself."""
    q = np.floor_divide(num, den)  # as divmod in div_round: 0 <= r < den
    r = num - q * den
    twice = 2 * r
    half_up, half_even = mode == _HALF_UP, mode == _HALF_EVEN
    tie_up = (half_up & (num >= 0)) | (half_even & ((q & 1) != 0))
    up = ((mode == _CEILING) | ((mode == _UP) & (num >= 0)) | ((mode == _DOWN) & (num < 0))
          | ((half_up | half_even) & ((twice > den) | ((twice == den) & tie_up))))
    out: Ints = q + ((r != 0) & up)
    return out


def _div_round_staged(frame: pl.LazyFrame, dtype: pl.DataType) -> Ints:
    """``div_round_expr`` of the columns num, den, mode, in stages: within one expression
    Polars' fused multiply-subtract repeats the division, the costliest step, three times."""
    num, den, q, r = pl.col("num"), pl.col("den"), pl.col("q"), pl.col("r")
    return frame.with_columns(q=num // den).with_columns(r=num - q * den).select(
        (q + _rounds_up(num, den, q, r, pl.col("mode")).cast(dtype)).cast(pl.Int64)
    ).collect().to_series().to_numpy(writable=True)


_HALF = [rounding_code(Rounding.HALF_UP), rounding_code(Rounding.HALF_EVEN)]
_HALF_UP, _HALF_EVEN, _CEILING, _UP, _DOWN = (rounding_code(m) for m in (
    Rounding.HALF_UP, Rounding.HALF_EVEN, Rounding.CEILING, Rounding.UP, Rounding.DOWN))
_AWAY = [rounding_code(Rounding.UP), rounding_code(Rounding.CEILING)]


def _level_payments(b: _Book, g: _Grid) -> tuple[Ints, int]:
    """Rounding points ``instalment-amount`` and ``period-principal``: the level payment of each
    equal-instalment loan, the share of each equal-principal loan; and how many loans needed
    the exact fallback.

    The equal instalment A = P / S is estimated in float. Relative error bound, u = 2⁻⁵³:
    r and f are each within 3u of exact (int→float conversions, one division), r·f within 7u,
    1 + r·f within 8u, so each discount step (one more division) adds 9u: the k-th product is
    within 9ku and the sum S of n positive terms within 10nu; A = P/S is within (10n + 2)u
    (first order; the second-order terms are negligible while n·u ≪ 1). The margin, (16n + 16)u
    of A, covers it with room to spare. An estimate farther than the margin from every rounding
    boundary (integers for the directed modes, half-integers for the half modes) lies on the
    same side of each as the exact A, so rounds the same; the fraction and distance below are
    computed exactly (Sterbenz). The others — and any non-finite estimate — are recomputed
    exactly by ``schedule.equal_instalment``. In practice they are single-instalment loans
    whose exact amount is a tie (P·(1 + r·f) on a half fen), which no float can settle.
    """
    payment = _even_split(b.principal, b.terms, b.mode)  # zero-rate instalment; 等额本金 share
    with np.errstate(all="ignore"):
        estimate = b.principal / g.annuity
        margin = estimate * (16.0 * b.terms + 16.0) * 2.0**-53
        floor = np.floor(estimate)
        frac = estimate - floor
    half = np.isin(b.mode, _HALF)
    distance = np.where(half, np.abs(frac - 0.5), np.minimum(frac, 1.0 - frac))
    levelled = (b.method == _EI) & (b.rate_num != 0)
    risky = levelled & ~(distance > margin)  # NaN compares False: also risky
    safe = np.flatnonzero(levelled & ~risky)
    up = np.where(half, frac > 0.5, np.isin(b.mode, _AWAY))
    payment[safe] = (floor[safe] + up[safe]).astype(np.int64)
    fallbacks = np.flatnonzero(risky)
    for i in fallbacks:  # rare: a handful per million loans (see the benchmark)
        payment[i] = _exact_payment(b, g, int(i))
    return payment, len(fallbacks)


def _exact_payment(b: _Book, g: _Grid, i: int) -> int:
    fractions = [Fraction(int(g.fnum[k][i]), int(b.fden[i])) for k in range(int(b.terms[i]))]
    rate = Fraction(int(b.rate_num[i]), int(b.rate_den[i]))
    return equal_instalment(int(b.principal[i]), rate, fractions, _ROUNDINGS[int(b.mode[i])])


@dataclass(frozen=True, slots=True)
class _Rows:
    """Output columns, one slot per possible instalment, in loan_id, n order."""

    due: npt.NDArray[np.int32]  # epoch days, as Polars' Date
    principal: Ints
    interest: Ints
    fee: Ints


def _amortise(b: _Book, g: _Grid, payment: Ints) -> _Rows:
    """``schedule.amortise`` and ``fee_for`` for every loan, one period index at a time."""
    size = int(b.terms.sum())
    rows = _Rows(np.empty(size, dtype=np.int32), np.empty(size, dtype=np.int64),
                 np.empty(size, dtype=np.int64), np.repeat(b.sorted_fee_fixed, b.sorted_terms))
    balance = b.principal.copy()
    for k, c in enumerate(b.counts):
        at = b.offset[:c] + k
        interest = _rated(balance[:c], b.rate_num[:c], g.fnum[k], b.rate_den[:c], b.fden[:c],
                          b.mode[:c])
        principal = _principal_due(b.method[:c], b.terms[:c] == k + 1, balance[:c],
                                   interest, payment[:c])
        rows.due[at] = g.due[k]
        rows.principal[at] = principal
        rows.interest[at] = interest
        _add_rated_fees(b.fees, k, c, at, g.fnum[k], rows.fee)
        balance[:c] -= principal
    return rows


def _principal_due(method: Ints, final: Bools, balance: Ints, interest: Ints,
                   payment: Ints) -> Ints:
    """Principal of this period, as ``schedule.amortise``: the last period takes the whole
    balance; before it the level payment's principal part, never more than is left."""
    ei, ep = method == _EI, method == _EP
    level = np.where(ei, np.minimum(balance, np.maximum(payment - interest, 0)),
                     np.where(ep, np.minimum(payment, balance), 0))
    return np.where(final, balance, level)


def _add_rated_fees(fees: _Fees, k: int, c: int, at: Ints, fnum: Ints, out: Ints) -> None:
    """Rounding point ``period-fee``: add the fee rate on the original principal for period k
    to the fixed fee already in ``out``, for the rated loans among ``[:c]``."""
    m = int(np.searchsorted(fees.at, c))
    if m:
        rated = fees.at[:m]
        out[at[rated]] += _rated(fees.principal[:m], fees.num[:m], fnum[rated], fees.den[:m],
                                 fees.fden[:m], fees.mode[:m])


def _assemble(frame: pl.DataFrame, b: _Book, rows: _Rows) -> pl.DataFrame:
    """The output frame; n and start_on follow from the layout (a period starts at the
    previous due date, the first one at the loan's start). 32-bit columns where the output
    has them, built in place: the frame takes the NumPy buffers without copying."""
    size = len(rows.due)
    if size >= 2**31:
        raise ValueError("more than 2³¹ instalments in one call: split the portfolio")
    first_row = np.concatenate(([0], np.cumsum(b.sorted_terms)[:-1]))
    n = np.ones(size, dtype=np.int32)  # +1 a row, back to 1 at each loan's first row
    n[first_row[1:]] = 1 - b.sorted_terms[:-1]
    np.cumsum(n, dtype=np.int32, out=n)
    loan = np.zeros(size, dtype=np.uint32)  # +1 at each loan's first row
    loan[first_row[1:]] = 1
    np.cumsum(loan, dtype=np.uint32, out=loan)
    start = np.empty_like(rows.due)
    start[1:] = rows.due[:-1]
    start[first_row] = b.sorted_start
    out = pl.DataFrame({
        "loan_id": frame["loan_id"].gather(b.sorted_rows).gather(loan),
        "n": n,
        "start_on": pl.Series(start).cast(pl.Date),
        "due_on": pl.Series(rows.due).cast(pl.Date),
        "principal": rows.principal,
        "interest": rows.interest,
        "fee": rows.fee,
    })
    return out
