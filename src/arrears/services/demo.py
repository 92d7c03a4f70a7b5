"""``arrears demo``'s main job (issue 4): a simulated online lender run through the platform
the way a real one's data would arrive — day by day.

    simulator (child process, ``demo_feed``)     platform (this process)
    borrowers.csv ───────────────────────────▶   ingest_paths(borrowers)
    days/D/{loans,payments}.csv, D = 1…N ─────▶   ingest_paths(that day's files)
                                                 run_eod(D)          — the nightly flow
    summary: the last day's snapshot (book, buckets), roll rates from the month-end snapshots
    (``services.reports``), money collected (journal), contact receipts by channel, the ledger
    reconciled, and how long each phase took.

Nothing is ingested ahead of its day and nothing is backfilled: each day's end-of-day sees
exactly the book of that day, and carries the quiet loans over from the day before. The
simulator's ground truth (``demo/simulation/truth/``) is written for tests and evaluations;
the platform never reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from arrears.eod.analytics import rate
from arrears.rules.pack import load_pack
from arrears.services.demo_feed import Feed, FeedRequest
from arrears.services.demo_workspace import database_label, demo_folder, write_manifest
from arrears.services.eod import EodResult, run_eod
from arrears.services.ingest import IngestReport, ingest_paths
from arrears.services.loan_caps import cap_frame
from arrears.services.portfolio import PortfolioSummary, portfolio_summary
from arrears.services.reconcile import ReconcileReport, reconcile
from arrears.services.reports import RollRateReport, roll_rate_report
from arrears.settings import Settings

DEFAULT_AS_OF = date(2026, 6, 30)  # the demo's business date: its last simulated day
DEFAULT_BORROWERS = 20_000
DEFAULT_MONTHS = 12
RECONCILE_REPLAYS = 300  # loans replayed from their events by the reconciliation, sampled
PHASES = ("simulate", "ingest", "end_of_day", "summary")

Progress = Callable[[str, int, int], None]  # (label, done, total)
Clock = Callable[[], datetime]  # wall clock for audit timestamps


def days_in_months(as_of: date, months: int) -> int:
    """The days from the day after ``as_of`` less ``months`` calendar months through
    ``as_of``: 12 months to 2026-06-30 are 2025-07-01…2026-06-30, 365 days."""
    if months < 1:
        raise ValueError("months must be at least 1")
    index = as_of.year * 12 + as_of.month - 1 - months
    year, month = divmod(index, 12)
    day = min(as_of.day, _month_length(year, month + 1))
    return (as_of - date(year, month + 1, day)).days


def _month_length(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@dataclass(frozen=True, slots=True)
class DemoPlan:
    seed: int
    borrowers: int
    days: int
    as_of: date  # the last simulated day

    def __post_init__(self) -> None:
        if self.borrowers < 1 or self.days < 1:
            raise ValueError("a demo needs at least one borrower and one day")

    @property
    def start(self) -> date:
        return self.as_of - timedelta(days=self.days - 1)


@dataclass(slots=True)
class IngestTotals:
    """One kind's ingestion over every file of the demo."""

    kind: str
    files: int = 0
    rows: int = 0
    new: int = 0
    duplicate: int = 0
    quarantined: int = 0
    over_cap: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, for people

    def add(self, r: IngestReport) -> None:
        self.files += 1
        self.rows += r.rows_total
        self.new += r.rows_new
        self.duplicate += r.rows_duplicate
        self.quarantined += r.rows_quarantined
        self.over_cap += r.over_cap
        self.problems.extend(r.problems[: max(0, 5 - len(self.problems))])


@dataclass(slots=True)
class DemoResult:
    plan: DemoPlan
    folder: Path
    simulated: dict[str, int]  # the simulator's counts: borrowers, loans, payments, contacts
    ingest: dict[str, IngestTotals]
    eod_days: int
    eod_replayed: int  # loans replayed because their state was past the day: 0, day by day
    last_eod: EodResult
    book: PortfolioSummary
    roll: RollRateReport | None  # None for a demo within one calendar month
    contacts: pl.DataFrame  # by channel: actions, reached, promises, cost (fen)
    reconciled: ReconcileReport
    seconds: dict[str, float]  # PHASES, plus "waiting" (for the simulator) and "total"


def run_demo(db: Engine, settings: Settings, plan: DemoPlan, clock: Clock,
             progress: Progress | None = None) -> DemoResult:
    """Simulate ``plan``'s lender and run the platform over it day by day in the workspace of
    ``settings`` (which the caller has checked is empty; see ``demo_workspace``)."""
    began = time.perf_counter()
    folder = demo_folder(settings)
    write_manifest(settings, _manifest(settings, plan, clock(), "running"))
    req = FeedRequest(folder / "simulation", plan.seed, plan.borrowers, plan.start, plan.days)
    nightly = _Nightly(db, settings, clock)
    with Feed(req) as feed:
        for k, day in enumerate(feed.days(), start=1):
            if k == 1:  # borrowers.csv is written before the first day
                nightly.ingest([req.folder / "borrowers.csv"])
            nightly.day(req.folder / "days" / day.isoformat(), day)
            if progress:
                progress("days", k, plan.days)
    assert feed.done is not None and nightly.last is not None  # every day ran
    t = time.perf_counter()
    step = progress or (lambda _label, _done, _total: None)
    book = portfolio_summary(db, plan.as_of,
                             pl.read_parquet(nightly.last.path / "*.parquet"))
    step("summary", 1, 3)
    roll = _roll(settings, plan)
    contacts = contact_summary(req.folder / "contact_outcomes.parquet")
    step("summary", 2, 3)
    with db.connect() as conn:
        rec = reconcile(conn, replay_sample=RECONCILE_REPLAYS)
    step("summary", 3, 3)
    seconds = {"simulate": feed.done.seconds, "ingest": nightly.ingest_s,
               "end_of_day": nightly.eod_s, "summary": time.perf_counter() - t,
               "waiting": feed.waited, "total": time.perf_counter() - began}
    result = DemoResult(plan, folder, feed.done.counts, nightly.totals, nightly.days,
                        nightly.replayed, nightly.last, book, roll, contacts, rec, seconds)
    write_manifest(settings, _manifest(settings, plan, clock(), "done"))
    return result


class _Nightly:
    """The platform's side of a day: that day's files through ``ingest_paths``, then
    end-of-day for the day."""

    def __init__(self, db: Engine, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.caps = cap_frame(settings)  # built once: the rule pack's caps
        self.pack = load_pack("CN", settings.rules_dir)
        self.totals = {k: IngestTotals(k) for k in ("borrowers", "loans", "payments")}
        self.ingest_s = self.eod_s = 0.0
        self.days = self.replayed = 0  # replays: loans whose state was past the day (none)
        self.last: EodResult | None = None

    def ingest(self, paths: list[Path]) -> None:
        t = time.perf_counter()
        for r in ingest_paths(paths, self.db, self.settings, self.clock(), cap_check=self.caps):
            self.totals[r.kind].add(r)
        self.ingest_s += time.perf_counter() - t

    def day(self, where: Path, day: date) -> None:
        # a day without new loans or payments has no file (and no folder)
        files = [p for p in (where / "loans.csv", where / "payments.csv") if p.is_file()]
        if files:
            self.ingest(files)
        t = time.perf_counter()
        self.last = run_eod(self.db, self.settings, day, self.clock(), pack=self.pack)
        self.eod_s += time.perf_counter() - t
        self.days += 1
        self.replayed += self.last.replayed


def _roll(settings: Settings, plan: DemoPlan) -> RollRateReport | None:
    """Month-over-month roll rates over every calendar month the demo covers."""
    months = (plan.as_of.year - plan.start.year) * 12 + plan.as_of.month - plan.start.month
    return roll_rate_report(settings, plan.as_of, months) if months else None


def contact_summary(path: Path) -> pl.DataFrame:
    """The simulator's contact receipts by channel: actions, reached (delivered, answered or
    an emergency contact), promises to pay, cost in fen."""
    receipts = pl.scan_parquet(path)
    return receipts.group_by("channel").agg(
        actions=pl.len().cast(pl.Int64),
        reached=pl.col("status").is_in(["delivered", "answered", "third_party"]).sum()
        .cast(pl.Int64),
        promises=(pl.col("outcome") == "ptp").sum().cast(pl.Int64),
        cost=pl.col("cost").cast(pl.Decimal(18, 2)).to_physical().cast(pl.Int64).sum(),
    ).sort("actions", "channel", descending=[True, False]).collect()


def _manifest(settings: Settings, plan: DemoPlan, at: datetime, status: str) -> dict[str, object]:
    return {"status": status, "at": at.isoformat(timespec="seconds"), "seed": plan.seed,
            "borrowers": plan.borrowers, "days": plan.days, "start": plan.start.isoformat(),
            "as_of": plan.as_of.isoformat(), "database": database_label(settings)}


def roll_forward(report: RollRateReport) -> list[dict[str, object]]:
    """Per month pair and bucket (but the last), the share of the loans active in it at the
    first month-end that were one bucket further at the next — the roll rates a collections
    team reads first (M0→M1, M1→M2, …) — by count and by outstanding principal."""
    m = report.roll.matrix.filter(pl.col("to_rank") == pl.col("from_rank") + 1)
    return [{"from_month": r["from_month"], "to_month": r["to_month"],
             "from": r["from_bucket"], "to": r["to"], "from_loans": r["row_loans"],
             "loans": r["loans"], "loans_share": rate(r["loans"], r["row_loans"]),
             "balance_share": rate(r["balance"], r["row_balance"])}
            for r in m.iter_rows(named=True)]
