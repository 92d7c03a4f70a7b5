"""The business steps of end-of-day, in a configurable order (as Fineract's close-of-business
steps): each a small named pure function over the whole portfolio as frames, declaring the
snapshot columns it needs and the ones it adds, so an order that would read a column before a
step makes it is refused before anything runs.

A step takes and returns a ``Day``: the book as of the run (``loans``, ``lines``), the
previous business day's snapshot (or ``None``), the rules, and the snapshot being built
(``snap``: one row per loan, the columns added so far).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from arrears.book.buckets import BucketTable, bucket_columns
from arrears.book.vector_engine import LOAN_SCHEMA, advance
from arrears.book.vector_limitation import limitation_columns
from arrears.eod.balances import balances, by_loan
from arrears.eod.line_exprs import busy
from arrears.rules.pack import RulePack


@dataclass(frozen=True, slots=True)
class DayRules:
    """What the steps need from the rule pack, resolved for the run."""

    pack: RulePack
    buckets: BucketTable
    write_off_dpd: int


@dataclass(frozen=True, slots=True)
class Day:
    as_of: date
    loans: pl.DataFrame  # book state: vector_engine.LOAN_SCHEMA + mirror extras, by loan_id
    # vector_engine.LINE_SCHEMA, sorted by loan_id, due_on, seq (each loan's lines together)
    lines: pl.DataFrame | pl.LazyFrame
    previous: pl.DataFrame | None  # the previous business day's snapshot (loan_id, stage, dpd)
    rules: DayRules
    # the snapshot being built, one row per loan: after ``advance`` (always the first step)
    # the book itself in loan order, each later step adding its columns
    snap: pl.DataFrame
    # after ``advance``: the new lines of the loans it advanced (they replace their old
    # lines in ``lines``, which is left as read), else None
    moved: pl.DataFrame | None = None


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    run: Callable[[Day], Day]
    needs: frozenset[str]
    gives: frozenset[str]
    doc: str


def _with(day: Day, frame: pl.DataFrame) -> Day:
    return replace(day, snap=by_loan(day.snap, frame))


def advance_step(day: Day) -> Day:
    """Accrue every loan to the end of the day: interest and fees due, penalty interest per
    day and per line, grace expiries, late fees — the loan engine's rules, vectorised. The
    entries are derived, not posted: the ledger records accruals with the next event on the
    loan (payment, waiver, write-off, plan), so the book stays the one source of truth.

    A quiet loan is left as it is: one with no instalment due by the date that is unpaid or
    not yet charged, and no penalty pending in grace — advancing it would change nothing but
    its processed-through date, which the snapshot does not show."""
    keep = [c for c in day.loans.columns if c not in LOAN_SCHEMA]
    lines = day.lines if isinstance(day.lines, pl.DataFrame) else day.lines.collect()
    busy = busy_loans(lines, day.as_of).implode()
    mine = pl.col("loan_id").is_in(busy)
    # only the busy loans go through the engine (frames stay sorted by a filter); the rest of
    # the day's steps group and join, so the two parts are put together unsorted
    moved = advance(day.loans.filter(mine).select(list(LOAN_SCHEMA)),
                    lines.filter(mine), day.as_of)
    loans = moved.loans.join(day.loans.filter(mine).select("loan_id", *keep), on="loan_id",
                             how="left", maintain_order="left").select(day.loans.columns)
    # both parts sorted, disjoint: merged, the book stays in loan order (the snapshot is
    # built on it column by column). The lines are not copied: ``moved`` holds the busy
    # loans' new lines, which stand in for their old ones in ``lines``
    book = day.loans.filter(~mine).merge_sorted(loans, key="loan_id")
    return replace(day, loans=book, lines=lines, moved=moved.lines,
                   snap=book.with_columns(pl.lit(day.as_of).alias("as_of")))


def busy_loans(lines: pl.DataFrame, as_of: date) -> pl.Series:
    """Loans with something for the engine to do by ``as_of`` (see ``advance_step``)."""
    return lines.filter(busy(as_of))["loan_id"].unique()


def balances_step(day: Day) -> Day:
    """Outstanding, overdue and paid per component, accrued-not-due, next instalment, payoff."""
    lines = day.lines if isinstance(day.lines, pl.DataFrame) else day.lines.collect()
    if day.moved is None or not day.moved.height:
        return _with(day, balances(day.loans, lines, day.as_of))
    # the advanced loans' figures from their new lines, the others' from theirs (when most
    # loans were advanced, as on a night of carried rows, the rest are few)
    mine = pl.col("loan_id").is_in(day.moved["loan_id"].unique().implode())
    found = balances(day.loans.filter(mine), day.moved, day.as_of)
    rest = day.loans.filter(~mine)
    if rest.height:
        others = balances(rest, lines.filter(~mine), day.as_of)
        found = others.merge_sorted(found.select(others.columns), key="loan_id")
    return _with(day, found)


def delinquency_step(day: Day) -> Day:
    """Days past due from the oldest unpaid instalment, and dpd after the product's grace."""
    raw = pl.when(pl.col("oldest_unpaid_due").is_null()).then(0).otherwise(
        (pl.lit(day.as_of) - pl.col("oldest_unpaid_due")).dt.total_days())
    snap = day.snap.with_columns(past_due_days=raw.cast(pl.Int32))
    g = pl.col("grace_days")
    dpd = pl.when(pl.col("past_due_days") <= g).then(0).when(
        pl.col("dpd_grace") == "subtract").then(pl.col("past_due_days") - g).otherwise(
        pl.col("past_due_days"))
    return replace(day, snap=snap.with_columns(dpd=dpd.cast(pl.Int32)))


def bucket_step(day: Day) -> Day:
    """The bucket of the rule pack's table, its rank and why."""
    name, rank, reason = bucket_columns(pl.col("dpd"), day.rules.buckets)
    return replace(day, snap=day.snap.with_columns(
        bucket=name, bucket_rank=rank, bucket_reason=reason))


def stage_step(day: Day) -> Day:
    """current → overdue → cured; settled on the day a loan closes, closed after; written-off."""
    prev = (day.previous.select("loan_id", pl.col("stage").alias("_prev"),
                                pl.col("dpd").alias("_prev_dpd"))
            if day.previous is not None else
            pl.DataFrame(schema={"loan_id": pl.String, "_prev": pl.String,
                                 "_prev_dpd": pl.Int32}))
    s = day.snap.join(prev, on="loan_id", how="left", maintain_order="left")
    d = pl.lit(day.as_of)
    status, dpd = pl.col("status"), pl.col("dpd")
    stage = (pl.when(status == "written-off").then(pl.lit("written-off"))
             .when((status == "closed") & (pl.col("closed_on") == d)).then(pl.lit("settled"))
             .when(status == "closed").then(pl.lit("closed"))
             .when(dpd > 0).then(pl.lit("overdue"))
             .when(pl.col("_prev") == "overdue").then(pl.lit("cured"))
             .otherwise(pl.lit("current")))
    reason = (pl.when(status == "written-off").then(pl.lit("written off 已核销"))
              .when(status == "closed").then(pl.format("closed on {} 已结清", "closed_on"))
              .when(dpd > 0).then(pl.format("dpd {} from the instalment due {} 逾期", "dpd",
                                            "oldest_unpaid_due"))
              .when(pl.col("_prev") == "overdue").then(pl.format(
                  "overdue (dpd {}) on the previous business day, nothing past due now 已结清逾期",
                  "_prev_dpd"))
              .otherwise(pl.lit("nothing past due 正常")))
    return replace(day, snap=s.with_columns(stage=stage, stage_reason=reason).drop(
        "_prev", "_prev_dpd"))


def write_off_step(day: Day) -> Day:
    """Write-off candidates by the rule pack (an active loan at or beyond the dpd line)."""
    line = day.rules.write_off_dpd
    hit = (pl.col("status") == "active") & (pl.col("dpd") >= line)
    return replace(day, snap=day.snap.with_columns(
        write_off_candidate=hit,
        stage_reason=pl.when(hit).then(pl.format(
            "{}; write-off candidate: dpd ≥ {} 核销候选", "stage_reason", pl.lit(line)))
        .otherwise(pl.col("stage_reason"))))


def limitation_step(day: Day) -> Day:
    """The limitation deadline: three years from the last instalment's due date, restarted by
    each interruption on record (Civil Code Art. 188/189/195; the pack's limitation rules).
    Worked out once per distinct pair of dates — far fewer than loans — then joined back."""
    s = day.snap
    deadline, reason = limitation_columns(pl.col("last_due_on"), pl.col("last_payment_on"),
                                          day.rules.pack.limitation, kind="payment")
    keys = ["last_due_on", "last_payment_on"]
    pairs = s.select(keys).unique().with_columns(limitation_deadline=deadline,
                                                 limitation_reason=reason)
    return replace(day, snap=s.join(pairs, on=keys, how="left", nulls_equal=True,
                                    maintain_order="left"))


def facts_step(day: Day) -> Day:
    """Who and what: borrower, product, lender type, currency, origination, months on book."""
    d = day.as_of
    return replace(day, snap=day.snap.with_columns(
        months_on_book=months_on_book(d), loan_version=pl.col("version")))


def months_on_book(d: date) -> pl.Expr:
    """Calendar months from the disbursement month to ``d``'s (0 in the month of lending)."""
    return ((d.year - pl.col("disbursed_on").dt.year()) * 12
            + d.month - pl.col("disbursed_on").dt.month()).cast(pl.Int32)


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("advance", advance_step, frozenset(), frozenset({"_advanced"}),
         advance_step.__doc__ or ""),
    Step("facts", facts_step, frozenset({"_advanced"}), frozenset({"months_on_book"}),
         facts_step.__doc__ or ""),
    Step("balances", balances_step, frozenset({"_advanced"}),
         frozenset({"outstanding_total", "oldest_unpaid_due", "last_due_on", "payoff"}),
         balances_step.__doc__ or ""),
    Step("delinquency", delinquency_step, frozenset({"oldest_unpaid_due"}),
         frozenset({"past_due_days", "dpd"}), delinquency_step.__doc__ or ""),
    Step("buckets", bucket_step, frozenset({"dpd"}), frozenset({"bucket", "bucket_rank"}),
         bucket_step.__doc__ or ""),
    Step("stage", stage_step, frozenset({"dpd"}), frozenset({"stage", "stage_reason"}),
         stage_step.__doc__ or ""),
    Step("write-off", write_off_step, frozenset({"dpd", "stage_reason"}),
         frozenset({"write_off_candidate"}), write_off_step.__doc__ or ""),
    Step("limitation", limitation_step, frozenset({"last_due_on"}),
         frozenset({"limitation_deadline"}), limitation_step.__doc__ or ""),
)}

DEFAULT_ORDER: tuple[str, ...] = ("advance", "facts", "balances", "delinquency", "buckets",
                                  "stage", "write-off", "limitation")


class StepOrderError(ValueError):
    """A step order that names an unknown step, repeats one, leaves one out or reads a column
    before the step that makes it."""


def check_order(order: Sequence[str]) -> tuple[Step, ...]:
    """The steps of ``order``, refused unless every step runs once, after what it needs."""
    unknown = [n for n in order if n not in STEPS]
    if unknown:
        raise StepOrderError(f"unknown end-of-day step(s): {', '.join(unknown)}; "
                             f"known: {', '.join(STEPS)}")
    missing = [n for n in STEPS if n not in order]
    if missing or len(set(order)) != len(order):
        raise StepOrderError(f"every step runs exactly once; missing: {', '.join(missing)}"
                             if missing else f"a step is named twice in {', '.join(order)}")
    made: set[str] = set()
    for n in order:
        s = STEPS[n]
        lacking = sorted(s.needs - made)
        if lacking:
            makers = sorted({m.name for m in STEPS.values() if m.gives & set(lacking)})
            raise StepOrderError(f"step {n} needs {', '.join(lacking)}, which "
                                 f"{', '.join(makers)} makes: run it first")
        made |= s.gives
    return tuple(STEPS[n] for n in order)


def run_steps(day: Day, order: Sequence[str] = DEFAULT_ORDER,
              on_step: Callable[[str], None] | None = None) -> Day:
    """Run the steps in ``order`` (checked first) and return the finished day."""
    for step in check_order(order):
        day = step.run(day)
        if on_step is not None:
            on_step(step.name)
    return day


def start(as_of: date, loans: pl.DataFrame, lines: pl.DataFrame,
          previous: pl.DataFrame | None, rules: DayRules) -> Day:
    """A day over the loans on the book by ``as_of`` (disbursed on or before it)."""
    latest = loans["disbursed_on"].max()
    if isinstance(latest, date) and latest > as_of:  # only then is a copy worth making
        loans = loans.filter(pl.col("disbursed_on") <= as_of)
        lines = lines.filter(pl.col("loan_id").is_in(loans["loan_id"].implode()))
    return Day(as_of, loans, lines, previous, rules, loans)
