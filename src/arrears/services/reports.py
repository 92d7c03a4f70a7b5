"""Portfolio reports from the end-of-day snapshots in the workspace (组合报表).

Reads ``<ARREARS_HOME>/snapshots/as_of=YYYY-MM-DD/*.parquet`` — only the partitions a report
needs and only the columns it reads, with ``pl.scan_parquet`` and hive partitioning on
``as_of`` — and hands the frame to ``eod.analytics``. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from arrears.eod import analytics
from arrears.settings import Settings

PREFIX = "as_of="


class ReportError(Exception):
    """A report that cannot be made from the snapshots there are, with what to do."""


def snapshot_dates(settings: Settings) -> list[date]:
    """The business dates with a snapshot partition holding at least one Parquet file
    (a directory not named ``as_of=YYYY-MM-DD``, e.g. one being written, is not one)."""
    root = settings.snapshots_dir
    if not root.is_dir():
        return []
    found = []
    for d in root.glob(f"{PREFIX}*"):
        try:
            day = date.fromisoformat(d.name.removeprefix(PREFIX))
        except ValueError:
            continue
        if d.is_dir() and d.name == f"{PREFIX}{day.isoformat()}" and _files(d):
            found.append(day)
    return sorted(found)


def _files(partition: Path) -> list[Path]:
    return sorted(partition.glob("*.parquet"))


def scan_snapshots(settings: Settings, dates: list[date],
                   columns: tuple[str, ...]) -> pl.LazyFrame:
    """The snapshots of ``dates`` (which must have partitions), ``columns`` only; ``as_of``
    comes from the partition path."""
    files = [f for d in dates for f in _files(settings.snapshots_dir / f"{PREFIX}{d}")]
    return pl.scan_parquet(files, hive_partitioning=True,
                           hive_schema={"as_of": pl.Date}).select(columns)


def _dates_for(settings: Settings, as_of: date) -> list[date]:
    dates = snapshot_dates(settings)
    if not dates:
        raise ReportError(f"no snapshots in {settings.snapshots_dir}: "
                          f"run `arrears eod --as-of {as_of}` first")
    if as_of not in dates:
        before = [d for d in dates if d < as_of]
        latest = f" (latest before it: {before[-1]})" if before else ""
        raise ReportError(f"no snapshot on {as_of}{latest}: "
                          f"run `arrears eod --as-of {as_of}` first")
    return dates


def _frame(settings: Settings, dates: list[date], columns: tuple[str, ...],
           currency: str | None) -> pl.LazyFrame:
    lf = scan_snapshots(settings, dates, columns)
    return lf if currency is None else lf.filter(pl.col("currency") == currency)


def _month_end_dates(dates: list[date], as_of: date, months: int | None) -> list[date]:
    return [p.as_of for p in analytics.month_ends(dates, as_of, months) if p.as_of is not None]


@dataclass(frozen=True, eq=False)
class RollRateReport:
    roll: analytics.RollRates
    flow: analytics.FlowRates
    cure: analytics.CureRates


def roll_rate_report(settings: Settings, as_of: date, months: int = 6,
                     currency: str | None = None) -> RollRateReport:
    """Roll-rate matrices, flow rates and cure rates over the ``months`` month pairs ending on
    ``as_of``."""
    dates = _dates_for(settings, as_of)
    lf = _frame(settings, _month_end_dates(dates, as_of, months), analytics.ROLL_COLUMNS,
                currency)
    try:
        return RollRateReport(analytics.roll_rates(lf, as_of, months, dates),
                              analytics.flow_rates(lf, as_of, months, dates),
                              analytics.cure_rate(lf, as_of, months, dates))
    except ValueError as exc:
        raise ReportError(_hint(exc)) from None


def vintage_report(settings: Settings, as_of: date, threshold_dpd: int = 30,
                   months: int | None = None, currency: str | None = None) -> analytics.Vintages:
    """Vintage curves from the month-end snapshots up to ``as_of`` (the last ``months``
    months, or all)."""
    dates = _dates_for(settings, as_of)
    lf = _frame(settings, _month_end_dates(dates, as_of, months), analytics.VINTAGE_COLUMNS,
                currency)
    try:
        return analytics.vintages(lf, as_of, threshold_dpd, months, dates)
    except ValueError as exc:
        raise ReportError(_hint(exc)) from None


def bucket_report(settings: Settings, as_of: date,
                  currency: str | None = None) -> analytics.BucketTotals:
    """Outstanding by bucket on ``as_of``."""
    _dates_for(settings, as_of)
    lf = _frame(settings, [as_of], analytics.BUCKET_COLUMNS, currency)
    try:
        return analytics.buckets(lf, as_of)
    except ValueError as exc:
        raise ReportError(_hint(exc)) from None


def _hint(exc: ValueError) -> str:
    hint = " (choose one with --currency)" if isinstance(exc, analytics.MixedCurrencies) else ""
    return f"{exc}{hint}"
