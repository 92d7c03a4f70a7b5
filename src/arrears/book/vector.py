"""Repayment schedules for whole portfolios at once — the numbers of ``schedule.build_schedule``.

One row per loan in, one row per instalment out, equal to the scalar reference to the fen
(``tests/book/test_vector.py`` proves it on random portfolios). The work is vectorised over
loans; the only Python loops run over the period index k (at most a few hundred), plus an exact
recomputation for the rare loans whose float equal-instalment estimate is too close to a
rounding boundary to trust.

Data flow:

1. ``_prepare`` validates and codes the input, sorted by ``loan_id``, then reorders loans by
   instalment count, descending, so the loans still running at period k are always a prefix.
2. ``_grid`` walks k: due dates from the anchor (never chained), period start, and the year
   fraction of each period as an exact numerator over a per-loan denominator; it also sums the
   float annuity factor for the equal instalment.
3. ``_level_payments`` rounds the equal instalment (float, with an exact fallback) and the
   equal-principal share (exact).
4. ``_amortise`` walks k again with the exact integer recurrence of ``schedule.amortise``:
   interest and fees are ``div_round`` on Int128 columns (``div_round_expr``).
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


def rounding_code(mode: Rounding) -> int:
    """The integer that stands for ``mode`` in the coded ``rounding`` column."""
    return _ROUNDINGS.index(mode)


def div_round_expr(num: pl.Expr, den: pl.Expr, mode: pl.Expr | Rounding) -> pl.Expr:
    """``money.div_round(num, den, mode)`` row by row, exactly, on Int128.

    ``mode`` is a ``Rounding`` or an expression of ``rounding_code`` values; ``den`` must be
    positive (every denominator here is). Evaluate it lazily so Polars computes the shared
    sub-expressions (num, the quotient) once.
    """
    code = pl.lit(rounding_code(mode), pl.Int8) if isinstance(mode, Rounding) else mode
    n, d = num.cast(pl.Int128), den.cast(pl.Int128)
    q = n // d  # floor division, as divmod in div_round: 0 <= r < d
    r = n - q * d

    def is_(m: Rounding) -> pl.Expr:
        return code == rounding_code(m)

    half = is_(Rounding.HALF_UP) | is_(Rounding.HALF_EVEN)
    tie_up = (is_(Rounding.HALF_UP) & (n >= 0)) | (is_(Rounding.HALF_EVEN) & (q % 2 != 0))
    up = (is_(Rounding.CEILING) | (is_(Rounding.UP) & (n >= 0)) | (is_(Rounding.DOWN) & (n < 0))
          | (half & ((r * 2 > d) | ((r * 2 == d) & tie_up))))
    return q + ((r != 0) & up).cast(pl.Int128)


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
    frame = _validated(loans)
    if frame.height == 0:
        return VectorBuild(pl.DataFrame(schema=OUTPUT_SCHEMA), 0)
    book = _prepare(frame)
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
    sorted_terms: Ints  # ``terms`` in loan_id order, for the output rows
    method: Ints
    month: Bools  # monthly unit (else days)
    step: Ints  # months or days per period (a bullet loan's one period spans them all)
    anchor: Ints  # first_due if set, else start; due k is ``first + k`` steps from it
    anchor_ym: Ints  # year × 12 + month − 1 of the anchor
    anchor_day: Ints
    sticky: Bools  # month-end rule and the anchor is a month end: every due on a month end
    first: Ints  # 0 with first_due (it is due 1), else 1
    start: Ints
    regular0: Bools  # the first period is a whole regular period (see ``schedule.grid``)
    basis: Ints
    fden: Ints  # denominator of every period fraction of the loan
    principal: Ints
    rate: Floats  # annual rate, float: only for the equal-instalment estimate
    rate_num: Ints
    rate_den: Ints
    fee_num: Ints
    fee_den: Ints
    fee_fixed: Ints
    mode: Ints  # rounding_code
    actact: Ints  # positions of ACT/ACT loans (ascending, so a prefix slice is per k)
    fee_rated: Ints  # positions of loans with a service fee rate


def _reject(frame: pl.DataFrame, bad: pl.Series | pl.Expr, field: str, why: str) -> None:
    """Raise naming the first offending loans, if any row is ``bad``."""
    rows = frame.filter(bad)
    if rows.height:
        ids = rows["loan_id"].head(5).to_list()
        more = f" and {rows.height - 5} more" if rows.height > 5 else ""
        raise ValueError(f"loans {ids}{more}: {field} {why}")


def _validated(loans: pl.DataFrame) -> pl.DataFrame:
    """The input cast to ``INPUT_SCHEMA`` and sorted by loan_id, or an error naming bad rows."""
    missing = [c for c in INPUT_SCHEMA if c not in loans.columns]
    if missing:
        raise ValueError(f"the loans frame lacks columns {missing}")
    for name in ("annual_rate", "service_fee_rate"):
        if loans.schema[name] != pl.String:  # a float rate would already have lost exactness
            raise TypeError(f"{name} must be a String decimal, got {loans.schema[name]}")
    frame = loans.select(pl.col(c).cast(t) for c, t in INPUT_SCHEMA.items()).sort("loan_id")
    for c in INPUT_SCHEMA:
        if c != "first_due":
            _reject(frame, pl.col(c).is_null(), c, "is missing")
    _reject(frame, pl.col("loan_id") == pl.col("loan_id").shift(1), "loan_id", "is not unique")
    _reject(frame, pl.col("principal") <= 0, "principal", "must be positive")
    _reject(frame, pl.col("term_count") < 1, "term_count", "must be at least 1")
    _reject(frame, pl.col("first_due") <= pl.col("start"), "first_due", "is not after start")
    return frame


def _code(frame: pl.DataFrame, column: str, values: Sequence[str]) -> Ints:
    coded = frame[column].replace_strict({v: i for i, v in enumerate(values)}, default=None,
                                         return_dtype=pl.Int64)
    _reject(frame, coded.is_null(), column, f"is not one of {list(values)}")
    return coded.to_numpy()


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


_PLAIN_DECIMAL = r"^\s*([+-]?)([0-9]*)(?:\.([0-9]*))?\s*$"
_INT64_MAX = 2**63 - 1


def _rationals(frame: pl.DataFrame, column: str) -> tuple[Ints, Ints]:
    """Exact reduced ``(numerator, denominator)`` of each decimal text, as ``money.ratio``.

    Plain decimals of up to 18 digits are parsed as columns; anything else Python's
    ``Decimal`` accepts (exponents, other digits) goes through ``Fraction`` for its few
    distinct texts.
    """
    g = pl.col(column).str.extract_groups(_PLAIN_DECIMAL)
    frac = g.struct.field("3").fill_null("")
    digits = g.struct.field("2") + frac
    plain = digits.str.len_bytes().is_between(1, 18)  # null where the pattern did not match
    sign = pl.when(g.struct.field("1") == "-").then(-1).otherwise(1)
    parsed = frame.select(
        num=pl.when(plain).then(digits.str.to_integer(strict=False) * sign),
        den=pl.when(plain).then(pl.lit(10, pl.Int64).pow(frac.str.len_bytes())),
    )
    num, den = parsed["num"], parsed["den"]
    todo = num.is_null()
    if todo.any():
        texts = frame[column].filter(todo).unique().to_list()
        exact = {t: r for t in texts if (r := _ratio(t)) is not None}
        text = frame[column]
        num = num.fill_null(text.replace_strict({t: r[0] for t, r in exact.items()},
                                                default=None, return_dtype=pl.Int64))
        den = den.fill_null(text.replace_strict({t: r[1] for t, r in exact.items()},
                                                default=None, return_dtype=pl.Int64))
    _reject(frame, num.is_null(), column, "is not a decimal number of at most 18 digits")
    n, d = num.to_numpy(), den.to_numpy()
    common = np.gcd(n, d)
    return n // common, d // common


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


def _advance(epoch: Ints, ym: Ints, day: Ints, sticky: Bools, month: Bools, steps: Ints) -> Ints:
    """``calendar.advance`` on arrays: ``steps`` months (monthly rows) or days (the others)
    after a date given as epoch day, ``year × 12 + month − 1`` and day of month. Always from
    the anchor, so a 31st comes back after February; ``sticky`` keeps month ends."""
    y, m0 = np.divmod(ym + steps, 12)
    end = _month_days(y, m0 + 1)
    d = np.where(sticky, end, np.minimum(day, end))
    return np.where(month, _days_from_civil(y, m0 + 1, d), epoch + steps)


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


def _prepare(frame: pl.DataFrame) -> _Book:
    """Code and reorder the validated portfolio (sorted by loan_id)."""
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
    first_due = frame["first_due"].fill_null(frame["start"]).to_physical().to_numpy()
    anchor = np.where(has_first, first_due.astype(np.int64), start)
    ay, am, ad = _civil_from_days(anchor)
    sy, sm, sd = _civil_from_days(start)
    start_sticky = rule_end & (sd == _month_days(sy, sm))
    # schedule.grid: the first period is regular unless first_due moves it off the grid
    regular0 = ~has_first | (anchor == _advance(start, sy * 12 + sm - 1, sd, start_sticky,
                                                month, step))

    perm = np.argsort(-terms, kind="stable")
    per_k = np.cumsum(np.bincount(terms))
    offset = np.concatenate(([0], np.cumsum(terms)[:-1]))
    fee_fixed = frame["service_fee_fixed"].to_numpy()
    return _Book(
        size=frame.height,
        counts=[int(frame.height - per_k[k]) for k in range(int(terms.max(initial=0)))],
        terms=terms[perm], offset=offset[perm], sorted_terms=terms, method=method[perm],
        month=month[perm], step=step[perm], anchor=anchor[perm],
        anchor_ym=(ay * 12 + am - 1)[perm], anchor_day=ad[perm],
        sticky=(rule_end & (ad == _month_days(ay, am)))[perm],
        first=np.where(has_first, 0, 1)[perm], start=start[perm], regular0=regular0[perm],
        basis=basis[perm], fden=_FRACTION_DEN[basis][perm],
        principal=frame["principal"].to_numpy()[perm],
        rate=(rate_num / rate_den)[perm], rate_num=rate_num[perm], rate_den=rate_den[perm],
        fee_num=fee_num[perm], fee_den=fee_den[perm], fee_fixed=fee_fixed[perm],
        mode=mode[perm],
        actact=np.flatnonzero(basis[perm] == _ACT_ACT),
        fee_rated=np.flatnonzero(fee_num[perm] != 0),
    )


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
        due = _advance(b.anchor[:c], b.anchor_ym[:c], b.anchor_day[:c], b.sticky[:c],
                       b.month[:c], b.step[:c] * (b.first[:c] + k))
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
    rates = max(int(np.abs(b.rate_num).max()), int(np.abs(b.fee_num).max()))
    if pmax * rates * fmax >= 2**126:
        raise ValueError("a principal, rate and period too large for exact Int128 arithmetic")
    per_year = float(np.max(np.abs(b.rate_num) / b.rate_den + np.abs(b.fee_num) / b.fee_den))
    if pmax * (1 + per_year * fmax / float(b.fden.min())) + abs(b.fee_fixed).max() >= 2**61:
        raise ValueError("an instalment would exceed the Int64 range of the output")


# ---------------------------------------------------------------- money


def _rated(amount: Ints, num: Ints, fnum: Ints, den: Ints, fden: Ints, mode: Ints) -> Ints:
    """``schedule.interest_for`` on arrays: amount × (num/den) × (fnum/fden), rounded."""
    frame = pl.DataFrame({"a": amount, "n": num, "f": fnum, "d": den, "fd": fden, "m": mode})
    exact = div_round_expr(pl.col("a").cast(pl.Int128) * pl.col("n") * pl.col("f"),
                           pl.col("d").cast(pl.Int128) * pl.col("fd"), pl.col("m"))
    return frame.lazy().select(exact.cast(pl.Int64)).collect().to_series().to_numpy()


def _even_split(amount: Ints, parts: Ints, mode: Ints) -> Ints:
    """``div_round(amount, parts, mode)`` on arrays."""
    frame = pl.DataFrame({"a": amount, "p": parts, "m": mode})
    exact = div_round_expr(pl.col("a"), pl.col("p"), pl.col("m"))
    return frame.lazy().select(exact.cast(pl.Int64)).collect().to_series().to_numpy(
        writable=True)


_HALF = [rounding_code(Rounding.HALF_UP), rounding_code(Rounding.HALF_EVEN)]
_AWAY = [rounding_code(Rounding.UP), rounding_code(Rounding.CEILING)]


def _level_payments(b: _Book, g: _Grid) -> tuple[Ints, int]:
    """Rounding points ``instalment-amount`` and ``period-principal``: the level payment of each
    equal-instalment loan, the share of each equal-principal loan; and how many loans needed
    the exact fallback.

    The equal instalment A = P / S is estimated in float. Error bound, u = 2⁻⁵³: r and f are
    each within 3u of exact (int→float conversions, one division), 1 + r·f within 6u, each
    discount factor adds 7u, so the k-th product is within 7ku and the sum S of n positive
    terms within 8nu; A is then within (8n + 2)u of exact, relatively (first order: n·u ≪ 1).
    The margin is twice that. An estimate farther than the margin from every rounding boundary
    (integers for the directed modes, half-integers for the half modes) lies on the same side
    of each as the exact A, so rounds the same; the others — and any non-finite estimate — are
    recomputed exactly by ``schedule.equal_instalment``.
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

    n: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    due: npt.NDArray[np.int32]
    principal: Ints
    interest: Ints
    fee: Ints
    live: Bools  # False for slots after an early payoff (the schedule ended sooner)

    @classmethod
    def empty(cls, size: int) -> _Rows:
        def i32() -> npt.NDArray[np.int32]:
            return np.zeros(size, dtype=np.int32)

        def i64() -> Ints:
            return np.zeros(size, dtype=np.int64)

        return cls(i32(), i32(), i32(), i64(), i64(), i64(), np.zeros(size, dtype=np.bool_))


def _amortise(b: _Book, g: _Grid, payment: Ints) -> _Rows:
    """``schedule.amortise`` and ``fee_for`` for every loan, one period index at a time."""
    rows = _Rows.empty(int(b.terms.sum()))
    balance = b.principal.copy()
    done = np.zeros(b.size, dtype=np.bool_)
    prev = b.start
    for k, c in enumerate(b.counts):
        at = b.offset[:c] + k
        interest = _rated(balance[:c], b.rate_num[:c], g.fnum[k], b.rate_den[:c], b.fden[:c],
                          b.mode[:c])
        principal, last = _principal_due(b.method[:c], b.terms[:c] == k + 1, balance[:c],
                                         interest, payment[:c])
        live = ~done[:c]
        principal[~live] = 0
        rows.n[at] = k + 1
        rows.start[at] = prev[:c]
        rows.due[at] = g.due[k]
        rows.principal[at] = principal
        rows.interest[at] = interest
        rows.fee[at] = _period_fees(b, c, g.fnum[k])
        rows.live[at] = live
        balance[:c] -= principal
        done[:c] |= last
        prev = g.due[k]
    return rows


def _principal_due(method: Ints, final: Bools, balance: Ints, interest: Ints,
                   payment: Ints) -> tuple[Ints, Bools]:
    """Principal of this period and whether it ends the schedule, as ``schedule.amortise``:
    the last period (or the first one the level payment covers) takes the whole balance."""
    ei, ep = method == _EI, method == _EP
    last = final | (ei & (balance + interest <= payment)) | (ep & (balance <= payment))
    level = np.where(ei, np.minimum(balance, np.maximum(payment - interest, 0)),
                     np.where(ep, payment, 0))
    return np.where(last, balance, level), last


def _period_fees(b: _Book, c: int, fnum: Ints) -> Ints:
    """Rounding point ``period-fee``: the fixed fee plus the fee rate on the original principal
    for the period, for the loans ``[:c]``."""
    fee = b.fee_fixed[:c].copy()
    rated = b.fee_rated[: np.searchsorted(b.fee_rated, c)]
    if len(rated):
        fee[rated] += _rated(b.principal[rated], b.fee_num[rated], fnum[rated], b.fee_den[rated],
                             b.fden[rated], b.mode[rated])
    return fee


def _assemble(frame: pl.DataFrame, b: _Book, rows: _Rows) -> pl.DataFrame:
    loan = np.repeat(np.arange(b.size), b.sorted_terms)
    out = pl.DataFrame({
        "loan_id": frame["loan_id"].gather(loan),
        "n": rows.n,
        "start_on": pl.Series(rows.start).cast(pl.Date),
        "due_on": pl.Series(rows.due).cast(pl.Date),
        "principal": rows.principal,
        "interest": rows.interest,
        "fee": rows.fee,
    })
    return out if rows.live.all() else out.filter(pl.Series(rows.live))
