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
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
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
    frame, book = _prepare(loans)
    if book.size == 0:
        return VectorBuild(pl.DataFrame(schema=OUTPUT_SCHEMA), 0)
    g = _grid(book)
    _check_magnitudes(book, g)
    payment, fallbacks = _level_payments(book, g)
    out = _amortise(book, g, payment)
    return VectorBuild(_assemble(frame, book, g, out), fallbacks)
