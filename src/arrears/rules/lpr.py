"""The Loan Prime Rate (贷款市场报价利率, LPR) series: fixings, lookup, segments, CSV files.

A fixing is "在下一次发布LPR之前有效" — valid until the next one — so the rate in force on a day
is the latest fixing whose effective (publication) date is on or before it. Rates are kept as
``Decimal`` fractions (3.45 % → ``Decimal("0.0345")``); files hold percents, as the published
tables do.

CSV columns (shipped ``rules/CN/lpr.csv`` and operator overlays alike)::

    effective_date,lpr_1y_pct,lpr_5y_pct,note
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from arrears.rules.errors import RuleError

COLUMNS: tuple[str, ...] = ("effective_date", "lpr_1y_pct", "lpr_5y_pct", "note")

# Sanity bounds for a percent value typed by an operator: every fixing since 2019 is between
# 3 % and 5 %; anything at or above 20 % is certainly a unit or typing mistake.
MAX_PCT = Decimal(20)
PCT_PLACES = Decimal("0.01")  # published with two decimals, in 0.05-pp steps


class LprError(RuleError):
    """An LPR question that the series cannot answer (e.g. a date before the first fixing)."""


class LprFieldError(LprError):
    """A bad value in one field of operator input or of a CSV row."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Tenor(StrEnum):
    ONE_YEAR = "1y"
    FIVE_YEAR = "5y"  # "5 years and above" (五年期以上)


class Source(StrEnum):
    """Where a fixing came from: the package, or the operator's workspace overlay."""

    SHIPPED = "shipped"
    OVERLAY = "overlay"


@dataclass(frozen=True, slots=True)
class LprFixing:
    """One published fixing, in force from ``effective_date`` until the next fixing."""

    effective_date: date
    one_year: Decimal  # annual fraction, e.g. Decimal("0.0345")
    five_year: Decimal
    note: str = ""
    source: Source = Source.SHIPPED

    def rate(self, tenor: Tenor) -> Decimal:
        return self.one_year if tenor is Tenor.ONE_YEAR else self.five_year

    def same_values(self, other: LprFixing) -> bool:
        return (self.effective_date, self.one_year, self.five_year) == (
            other.effective_date, other.one_year, other.five_year)


@dataclass(frozen=True, slots=True)
class LprSegment:
    """A stretch of days with one LPR: ``start`` counted, ``end`` not (算头不算尾), as in
    ``calendar.year_fraction(start, end, basis)``."""

    start: date
    end: date
    rate: Decimal
    fixing: LprFixing  # the fixing that set this rate (the first of a run of equal fixings)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def pct(rate: Decimal) -> str:
    """A rate fraction as the percent people read: ``Decimal("0.138")`` → ``"13.80 %"``."""
    p = (rate * 100).normalize()
    if p == p.quantize(PCT_PLACES):
        p = p.quantize(PCT_PLACES)
    return f"{p:f} %"


@dataclass(frozen=True, slots=True)
class LprSeries:
    """All known fixings in date order, with the lookups the rules need."""

    fixings: tuple[LprFixing, ...]
    first_allowed: date  # the first day an LPR existed (2019-08-20, PBOC 〔2019〕No.15)
    authority: str  # who publishes it and under which announcement, for error messages

    def __post_init__(self) -> None:
        dates = [f.effective_date for f in self.fixings]
        if dates != sorted(set(dates)):
            raise LprError("LPR fixings must be in strictly increasing date order")

    def in_force(self, on: date) -> LprFixing:
        """The fixing in force on ``on``: the latest with ``effective_date <= on``."""
        if not self.fixings or on < self.fixings[0].effective_date:
            first = self.fixings[0].effective_date if self.fixings else self.first_allowed
            raise LprError(
                f"no LPR in force on {on.isoformat()}: the LPR series starts on "
                f"{first.isoformat()} ({self.authority}); before that there was no LPR "
                "(贷款市场报价利率) to refer to"
            )
        found = self.fixings[0]
        for f in self.fixings:
            if f.effective_date > on:
                break
            found = f
        return found

    def in_force_from(self, on: date) -> tuple[LprFixing, ...]:
        """The fixing in force on ``on`` and every later one."""
        first = self.in_force(on)
        return tuple(f for f in self.fixings if f.effective_date >= first.effective_date)

    def segments(self, start: date, end: date, tenor: Tenor = Tenor.ONE_YEAR
                 ) -> list[LprSegment]:
        """``[start, end)`` cut at every change of the ``tenor`` rate.

        Consecutive fixings with the same rate form one segment (a court splits the period only
        where the rate changes). The last fixing is assumed to stay in force up to ``end``.
        """
        if end <= start:
            raise LprError(f"empty period: {start.isoformat()} → {end.isoformat()}")
        current = self.in_force(start)
        out: list[LprSegment] = []
        seg_start, seg_fixing = start, current
        for f in self.fixings:
            if f.effective_date <= start:
                continue
            if f.effective_date >= end:
                break
            if f.rate(tenor) != seg_fixing.rate(tenor):
                out.append(LprSegment(seg_start, f.effective_date, seg_fixing.rate(tenor),
                                      seg_fixing))
                seg_start, seg_fixing = f.effective_date, f
        out.append(LprSegment(seg_start, end, seg_fixing.rate(tenor), seg_fixing))
        return out


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A rejected CSV row: which file, which row (1 = the header), which field, and why."""

    file: str
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, field {self.field}: {self.message}"


def parse_pct(text: str, field: str) -> Decimal:
    """A published percent (``"3.45"``) as a fraction; raises ``LprError`` naming the field."""
    try:
        value = Decimal(text.strip().rstrip("%").strip())
    except InvalidOperation:
        raise LprFieldError(field, f"{text!r} is not a number") from None
    if not value.is_finite() or value <= 0 or value >= MAX_PCT:
        raise LprFieldError(field, f"{text!r} must be a percent above 0 and below {MAX_PCT}")
    if value != value.quantize(PCT_PLACES):
        raise LprFieldError(field, f"{text!r} has more than two decimals (LPR moves in 0.05 pp)")
    return value.quantize(PCT_PLACES).scaleb(-2)


def parse_date(text: str, field: str = "effective_date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise LprFieldError(field, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _check_not_before_first(d: date, first_allowed: date | None) -> None:
    if first_allowed is not None and d < first_allowed:
        raise LprFieldError("effective_date", f"{d.isoformat()} is before the first LPR fixing "
                            f"{first_allowed.isoformat()} — there was no LPR then")


def make_fixing(effective_date: str | date, one_year_pct: str, five_year_pct: str,
                note: str = "", source: Source = Source.OVERLAY,
                first_allowed: date | None = None) -> LprFixing:
    """A fixing from operator input (percents as published); raises ``LprError``."""
    d = effective_date if isinstance(effective_date, date) else parse_date(effective_date)
    _check_not_before_first(d, first_allowed)
    return LprFixing(d, parse_pct(one_year_pct, "lpr_1y_pct"),
                     parse_pct(five_year_pct, "lpr_5y_pct"), note.strip(), source)


def read_lpr_rows(text: str, file: str, source: Source, first_allowed: date | None = None
                  ) -> tuple[list[tuple[int, LprFixing]], list[RowProblem]]:
    """Parse an LPR CSV into ``(row number, fixing)`` pairs (row 1 is the header). Good rows
    are returned, bad rows reported — never dropped silently. A date repeated in the file with
    different values rejects the later row; an exact repeat is kept once."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS[:3] if c not in (reader.fieldnames or [])]
    if missing:
        return [], [RowProblem(file, 1, ", ".join(missing),
                               f"missing column(s); expected header {','.join(COLUMNS)}")]
    good: dict[date, tuple[int, LprFixing]] = {}
    problems: list[RowProblem] = []
    for row_no, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        try:
            d = parse_date(row.get("effective_date") or "")
            _check_not_before_first(d, first_allowed)
            one = parse_pct(row.get("lpr_1y_pct") or "", "lpr_1y_pct")
            five = parse_pct(row.get("lpr_5y_pct") or "", "lpr_5y_pct")
        except LprFieldError as e:
            problems.append(RowProblem(file, row_no, e.field, e.reason))
            continue
        fixing = LprFixing(d, one, five, (row.get("note") or "").strip(), source)
        earlier = good.get(d)
        if earlier is not None:
            if not earlier[1].same_values(fixing):
                problems.append(RowProblem(
                    file, row_no, "effective_date",
                    f"{d.isoformat()} appears again (first on row {earlier[0]}) with "
                    "different values"))
            continue
        good[d] = (row_no, fixing)
    return sorted(good.values(), key=lambda rf: rf[1].effective_date), problems


def read_lpr_csv(text: str, file: str, source: Source, first_allowed: date | None = None
                 ) -> tuple[list[LprFixing], list[RowProblem]]:
    """``read_lpr_rows`` without the row numbers: the fixings in date order, and problems."""
    rows, problems = read_lpr_rows(text, file, source, first_allowed)
    return [f for _, f in rows], problems


def lpr_csv_text(fixings: Iterable[LprFixing]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for f in sorted(fixings, key=lambda x: x.effective_date):
        w.writerow([f.effective_date.isoformat(), f"{(f.one_year * 100).quantize(PCT_PLACES)}",
                    f"{(f.five_year * 100).quantize(PCT_PLACES)}", f.note])
    return out.getvalue()


def write_lpr_csv(path: Path, fixings: Sequence[LprFixing]) -> None:
    """Write atomically (temp file + rename), so a crash never leaves half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lpr-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(lpr_csv_text(fixings))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge(shipped: Iterable[LprFixing], overlay: Iterable[LprFixing]) -> tuple[LprFixing, ...]:
    """Shipped fixings plus the overlay's; the overlay wins on the same effective date."""
    by_date = {f.effective_date: f for f in shipped}
    by_date.update({f.effective_date: f for f in overlay})
    return tuple(by_date[d] for d in sorted(by_date))
