"""Dates for loans: repayment periods, due-date rules and day-count conventions.

All functions are pure and take dates as arguments (no clock). Year fractions are exact
``Fraction`` values so interest can be rounded once, at a named point, by ``money.div_round``.
"""

from __future__ import annotations

import calendar as _cal
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction


class DayCount(StrEnum):
    """Day-count basis (计息基础)."""

    D30_360 = "30/360"  # 月利率 = 年利率 / 12, 日利率 = 年利率 / 360 (PBOC convention)
    ACT_360 = "ACT/360"
    ACT_365 = "ACT/365"  # fixed 365, as court LPR calculators use
    ACT_364 = "ACT/364"  # 52-week year, for weekly products
    ACT_ACT = "ACT/ACT"  # each day over the length of its own calendar year

    @property
    def year_days(self) -> int:
        """The denominator of the daily rate (日利率 = 年利率 / year_days)."""
        return {"30/360": 360, "ACT/360": 360, "ACT/365": 365, "ACT/364": 364, "ACT/ACT": 365}[
            self.value
        ]


class MonthEnd(StrEnum):
    """How a monthly due date behaves when its day does not exist in a month."""

    CLAMP = "clamp"  # keep the anchor day, clamped to month end: 31 Jan -> 29 Feb -> 31 Mar
    MONTH_END = "month-end"  # an anchor on a month's last day stays on month ends


class PeriodUnit(StrEnum):
    MONTH = "month"
    DAY = "day"


_PERIOD_RE = re.compile(r"^(\d+)\s*([mdw])$")


@dataclass(frozen=True, slots=True)
class Period:
    """A repayment period: every ``count`` months or every ``count`` days."""

    unit: PeriodUnit
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a period needs a positive length, got {self.count}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """``month``, ``quarter``, ``week``, ``3m``, ``7d``, ``14d``, ``2w``."""
        t = text.strip().lower()
        named = {"month": (PeriodUnit.MONTH, 1), "monthly": (PeriodUnit.MONTH, 1),
                 "quarter": (PeriodUnit.MONTH, 3), "week": (PeriodUnit.DAY, 7),
                 "day": (PeriodUnit.DAY, 1)}
        if t in named:
            return cls(*named[t])
        m = _PERIOD_RE.match(t)
        if not m:
            raise ValueError(f"unknown period {text!r}: use month, quarter, week, Nm, Nd or Nw")
        n, u = int(m.group(1)), m.group(2)
        if u == "m":
            return cls(PeriodUnit.MONTH, n)
        return cls(PeriodUnit.DAY, n * (7 if u == "w" else 1))

    def __str__(self) -> str:
        if self.unit is PeriodUnit.MONTH:
            return "month" if self.count == 1 else f"{self.count}m"
        return f"{self.count}d"

    @property
    def per_year(self) -> Fraction:
        """Periods per year, for annualising a periodic rate (12 for monthly, 365/7 weekly)."""
        if self.unit is PeriodUnit.MONTH:
            return Fraction(12, self.count)
        return Fraction(365, self.count)


def last_day(year: int, month: int) -> int:
    return _cal.monthrange(year, month)[1]


def is_month_end(d: date) -> bool:
    return d.day == last_day(d.year, d.month)


def add_months(anchor: date, months: int, rule: MonthEnd = MonthEnd.CLAMP) -> date:
    """``anchor`` moved by ``months`` calendar months under the month-end rule."""
    y, m = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + y, m + 1
    end = last_day(year, month)
    if rule is MonthEnd.MONTH_END and is_month_end(anchor):
        return date(year, month, end)
    return date(year, month, min(anchor.day, end))


def advance(anchor: date, period: Period, k: int, rule: MonthEnd = MonthEnd.CLAMP) -> date:
    """The date ``k`` periods after ``anchor`` (always computed from the anchor, never chained,
    so a 31st stays a 31st after February)."""
    if period.unit is PeriodUnit.MONTH:
        return add_months(anchor, period.count * k, rule)
    return anchor + timedelta(days=period.count * k)


def due_dates(
    start: date,
    period: Period,
    count: int,
    rule: MonthEnd = MonthEnd.CLAMP,
    first_due: date | None = None,
) -> list[date]:
    """Due dates of ``count`` instalments from a loan starting on ``start``.

    With ``first_due`` the schedule is anchored on it (a fixed repayment day, 固定还款日) and the
    first period may be broken; otherwise the anchor is ``start`` and period k ends k periods on.
    """
    if first_due is not None:
        if first_due <= start:
            raise ValueError(f"first due date {first_due} is not after the start {start}")
        return [advance(first_due, period, k, rule) for k in range(count)]
    return [advance(start, period, k, rule) for k in range(1, count + 1)]


def days_30_360(start: date, end: date) -> int:
    """30/360 (bond basis) day count between two dates."""
    d1 = min(start.day, 30)
    d2 = min(end.day, 30) if d1 == 30 else end.day
    return (end.year - start.year) * 360 + (end.month - start.month) * 30 + (d2 - d1)


def year_fraction(start: date, end: date, basis: DayCount) -> Fraction:
    """The exact fraction of a year between two dates under ``basis`` (start counted, end not)."""
    if basis is DayCount.D30_360:
        return Fraction(days_30_360(start, end), 360)
    if basis is DayCount.ACT_ACT:
        total = Fraction(0)
        cur = start
        while cur < end:
            nxt = min(end, date(cur.year + 1, 1, 1))
            total += Fraction((nxt - cur).days, 366 if _cal.isleap(cur.year) else 365)
            cur = nxt
        return total
    return Fraction((end - start).days, basis.year_days)


def period_fraction(
    start: date, end: date, basis: DayCount, period: Period, regular: bool
) -> Fraction:
    """Year fraction of one repayment period.

    Under 30/360 a regular monthly period is exactly ``months/12`` (the PBOC 月利率 = 年利率/12
    convention) even across February; broken periods and day-based periods count days.
    """
    if basis is DayCount.D30_360:
        if regular and period.unit is PeriodUnit.MONTH:
            return Fraction(period.count, 12)
        if period.unit is PeriodUnit.DAY:
            return Fraction((end - start).days, 360)
    return year_fraction(start, end, basis)
