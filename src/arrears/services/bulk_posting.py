"""Posting a file of payments as frames: the columnar engine (``book.vector_engine``) over the
loans' stored state, written back over ADBC in one transaction per chunk of loans.

For each chunk: payments dated before their loan started are refused; loans whose new payments
fall before what they have already applied (value date before ``accrued_through``, or earlier
in the day than their last applied event) are set aside and restated afterwards through the
single-loan path (``posting.post_batch``), which reverses and replays them; every other loan is
posted in bulk. Each chunk commits on its own, so a crash loses at most the chunk in flight and
a re-run finishes the job (payment ids make every row idempotent).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from arrears.book.events import Payment
from arrears.book.vector_engine import LOAN_SCHEMA, Posted, post_payments
from arrears.contract.validate import ROW
from arrears.services.posting import NewEvent, post_batch
from arrears.store import schema
from arrears.store.arrow_io import bulk
from arrears.store.loans import EVENT_COLUMNS
from arrears.store.state_frames import read_state, write_lines, write_loan_state

PAYMENT_COLUMNS = ("payment_id", "loan_id", "amount", "paid_at", "channel", "_hash", ROW)


@dataclass(slots=True)
class BulkOutcome:
    posted: int = 0
    restated_loans: int = 0
    fallbacks: int = 0
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (row, reason)


def post_payment_file(engine: Engine, payments: pl.DataFrame, run_id: int | None,
                      now: datetime, chunk_loans: int | None = None,
                      progress: Any = None) -> BulkOutcome:
    """Post validated payment rows (``PAYMENT_COLUMNS``) whose loans exist.

    Chunks of loans are pipelined: while a writer thread commits chunk i, chunk i+1 is read
    and computed (the database's I/O releases the GIL; chunks hold disjoint loans, and the
    version check would refuse a loan changed in between). Backdated loans are restated at
    the end, once no bulk session is open."""
    out = BulkOutcome()
    pays = payments.select(PAYMENT_COLUMNS).with_columns(
        value_date=pl.col("paid_at").dt.date()).sort("loan_id", "paid_at", ROW)
    loan_ids = pays["loan_id"].unique(maintain_order=True)
    late: list[pl.DataFrame] = []
    done = 0
    # SQLite has one writer; a PostgreSQL server can take two chunks at once on other cores,
    # and there each chunk's statements scan whole tables, so fewer, larger chunks
    pg = engine.dialect.name == "postgresql"
    writers = 2 if pg else 1
    chunk_loans = chunk_loans or (50_000 if pg else 25_000)
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="arrears-writer") as pool:
        pending: list[Future[None]] = []
        for i in range(0, len(loan_ids), chunk_loans):
            ids = loan_ids.slice(i, chunk_loans)
            part = pays.filter(pl.col("loan_id").is_in(ids.implode()))
            ready = _compute_chunk(engine, part, out)
            late.append(ready.late)
            while len(pending) >= writers:
                pending.pop(0).result()
            pending.append(pool.submit(_write_chunk, engine, ready, run_id, now))
            done += part.height
            if progress:
                progress("payments", done, pays.height)
        for f in pending:
            f.result()
    _restate(engine, pl.concat(late) if late else pays.clear(), run_id, now, out)
    return out


@dataclass(slots=True)
class _Ready:
    """A computed chunk: what to write, and the payments of loans to restate."""

    late: pl.DataFrame
    accepted: pl.DataFrame | None = None
    posted: Posted | None = None
    lines: pl.DataFrame | None = None  # as read
    loans: pl.DataFrame | None = None  # as read (with versions)


def _compute_chunk(engine: Engine, pays: pl.DataFrame, out: BulkOutcome) -> _Ready:
    """Read the chunk's loans and run the engine (no write)."""
    with bulk(engine, write=False) as b:
        loans, lines = read_state(b, pays["loan_id"])
    first = pays.group_by("loan_id", maintain_order=True).first().join(
        loans.select("loan_id", "accrued_through", "last_event_on", "last_event_at"),
        on="loan_id")
    early = pays.join(loans.select("loan_id", "disbursed_on"), on="loan_id").filter(
        pl.col("value_date") < pl.col("disbursed_on"))
    out.rejected.extend(
        (r, f"payment {p} on {d} is before the loan started on {s}") for r, p, d, s in
        early.select(ROW, "payment_id", "value_date", "disbursed_on").iter_rows())
    pays = pays.filter(~pl.col(ROW).is_in(early[ROW].implode()))
    behind = first.filter(
        (pl.col("value_date") < pl.col("accrued_through"))
        | (pl.col("last_event_on").is_not_null()
           & ((pl.col("value_date") < pl.col("last_event_on"))
              | ((pl.col("value_date") == pl.col("last_event_on"))
                 & (pl.col("paid_at") < pl.col("last_event_at").fill_null(
                     pl.datetime(9999, 12, 31)))))))["loan_id"]
    late = pays.filter(pl.col("loan_id").is_in(behind.implode()))
    pays = pays.filter(~pl.col("loan_id").is_in(behind.implode()))
    if pays.is_empty():
        return _Ready(late)
    mine = loans.filter(pl.col("loan_id").is_in(pays["loan_id"].implode()))
    mine_lines = lines.filter(pl.col("loan_id").is_in(mine["loan_id"].implode()))
    posted = post_payments(
        mine.select(list(LOAN_SCHEMA)).sort("loan_id"), mine_lines,
        pays.select("loan_id", pl.col("payment_id").alias("event_id"), "value_date", "amount",
                    pl.col("paid_at").alias("at")))
    refused = posted.rejected.join(pays.select("payment_id", ROW), left_on="event_id",
                                   right_on="payment_id")
    out.rejected.extend(zip(refused[ROW].to_list(), refused["reason"].to_list(), strict=True))
    accepted = pays.filter(~pl.col("payment_id").is_in(refused["event_id"].implode()))
    out.posted += accepted.height
    out.fallbacks += posted.fallbacks
    return _Ready(late, accepted, posted, mine_lines, mine)


def _write_chunk(engine: Engine, r: _Ready, run_id: int | None, now: datetime) -> None:
    """Write a computed chunk in one transaction."""
    if r.posted is None or r.accepted is None or r.lines is None or r.loans is None:
        return
    counters = r.loans.select("loan_id", "journal_n", "event_n")
    with bulk(engine) as b:
        b.append(schema.loan_events, _events(r.accepted, counters, run_id, now))
        b.append(schema.journal, _numbered(r.posted.entries, counters).with_columns(
            posted_at=pl.lit(now, dtype=pl.Datetime("us")),
            reverses=pl.lit(None, dtype=pl.Int64)))
        write_lines(b, r.lines, r.posted.lines)
        write_loan_state(b, _state(r.loans, r.posted.loans, r.accepted, r.posted.entries))


def _numbered(entries: pl.DataFrame, counters: pl.DataFrame) -> pl.DataFrame:
    """Entries numbered per loan after the loan's last entry, in the engine's order."""
    return entries.join(counters.select("loan_id", "journal_n"), on="loan_id",
                        maintain_order="left").with_columns(
        n=(pl.col("journal_n") + pl.int_range(1, pl.len() + 1).over("loan_id")).cast(pl.Int32)
    ).drop("journal_n")


def _events(accepted: pl.DataFrame, counters: pl.DataFrame, run_id: int | None,
            now: datetime) -> pl.DataFrame:
    """Event rows, numbered per loan after the loan's last recorded event (accepted payments
    are in the order they were applied)."""
    null_s = pl.lit(None, dtype=pl.String)
    accepted = accepted.join(counters.select("loan_id", "event_n"), on="loan_id",
                             maintain_order="left")
    return accepted.select(
        pl.col("payment_id").alias("event_id"), "loan_id",
        n=(pl.col("event_n") + pl.int_range(1, pl.len() + 1).over("loan_id")).cast(pl.Int32),
        kind=pl.lit("payment"),
        value_date=pl.col("value_date"), amount=pl.col("amount"), component=null_s,
        channel=pl.col("channel"), occurred_at=pl.col("paid_at"), target_event_id=null_s,
        reason=null_s, actor=null_s, status=pl.lit("effective"),
        content_hash=pl.col("_hash"), ingest_run_id=pl.lit(run_id, dtype=pl.Int64),
        recorded_at=pl.lit(now, dtype=pl.Datetime("us"))).select(EVENT_COLUMNS)


def _state(before: pl.DataFrame, after: pl.DataFrame, accepted: pl.DataFrame,
           entries: pl.DataFrame) -> pl.DataFrame:
    """New engine state, the version read (for the optimistic check), the numbering counters
    and the order key of the last payment applied."""
    last = accepted.group_by("loan_id").agg(
        pl.col("value_date").last().alias("_on"), pl.col("paid_at").last().alias("_at"),
        pl.len().alias("_events"))
    posted = entries.group_by("loan_id").agg(pl.len().alias("_entries"))
    state = ("status", "accrued_through", "credit", "recovered", "closed_on", "next_seq")
    return (after.select("loan_id", *state)
            .join(before.select("loan_id", "version", "journal_n", "event_n", "last_event_on",
                                "last_event_at"), on="loan_id")
            .join(last, on="loan_id", how="left")
            .join(posted, on="loan_id", how="left")
            .with_columns(last_event_on=pl.coalesce("_on", "last_event_on"),
                          last_event_at=pl.when(pl.col("_on").is_not_null())
                          .then(pl.col("_at")).otherwise(pl.col("last_event_at")),
                          journal_n=pl.col("journal_n") + pl.col("_entries").fill_null(0),
                          event_n=pl.col("event_n") + pl.col("_events").fill_null(0))
            .drop("_on", "_at", "_events", "_entries"))


def _restate(engine: Engine, late: pl.DataFrame, run_id: int | None, now: datetime,
             out: BulkOutcome) -> None:
    """Backdated payments: through the single-loan path, which reverses and replays."""
    if late.is_empty():
        return
    by_loan: dict[str, list[NewEvent]] = {}
    for pid, lid, amt, at, ch, h, row in late.select(PAYMENT_COLUMNS).iter_rows():
        by_loan.setdefault(lid, []).append(NewEvent(
            lid, Payment(pid, at.date(), amt, ch, at), h, occurred_at=at,
            ingest_run_id=run_id, ref=row))
    ids = list(by_loan)
    for i in range(0, len(ids), 2000):
        with engine.begin() as conn:
            o = post_batch(conn, {k: by_loan[k] for k in ids[i:i + 2000]}, now)
        out.posted += o.posted
        out.restated_loans += o.restated_loans
        out.rejected.extend((r.ref, r.reason) for r in o.rejected)
