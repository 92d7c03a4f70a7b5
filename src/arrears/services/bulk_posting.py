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

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from arrears.book.events import Payment
from arrears.book.vector_engine import LOAN_SCHEMA, post_payments
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
                      now: datetime, chunk_loans: int = 50_000,
                      progress: Any = None) -> BulkOutcome:
    """Post validated payment rows (``PAYMENT_COLUMNS``) whose loans exist."""
    out = BulkOutcome()
    pays = payments.select(PAYMENT_COLUMNS).with_columns(
        value_date=pl.col("paid_at").dt.date()).sort("loan_id", "paid_at", ROW)
    loan_ids = pays["loan_id"].unique(maintain_order=True)
    done = 0
    for i in range(0, len(loan_ids), chunk_loans):
        ids = loan_ids.slice(i, chunk_loans)
        part = pays.filter(pl.col("loan_id").is_in(ids.implode()))
        late = _post_chunk(engine, part, run_id, now, out)
        _restate(engine, late, run_id, now, out)
        done += part.height
        if progress:
            progress("payments", done, pays.height)
    return out


def _post_chunk(engine: Engine, pays: pl.DataFrame, run_id: int | None, now: datetime,
                out: BulkOutcome) -> pl.DataFrame:
    """Post one chunk in bulk; returns the payments of loans that must be restated."""
    with bulk(engine) as b:
        loans, lines = read_state(b, pays["loan_id"])
        first = pays.group_by("loan_id", maintain_order=True).first().join(
            loans.select("loan_id", "disbursed_on", "accrued_through", "last_event_on",
                         "last_event_at"), on="loan_id")
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
            return late
        mine = loans.filter(pl.col("loan_id").is_in(pays["loan_id"].implode()))
        posted = post_payments(
            mine.select(list(LOAN_SCHEMA)).sort("loan_id"),
            lines.filter(pl.col("loan_id").is_in(mine["loan_id"].implode())),
            pays.select("loan_id", pl.col("payment_id").alias("event_id"), "value_date",
                        "amount", pl.col("paid_at").alias("at")))
        refused = posted.rejected.join(pays.select("payment_id", ROW),
                                       left_on="event_id", right_on="payment_id")
        out.rejected.extend(zip(refused[ROW].to_list(), refused["reason"].to_list(),
                                strict=True))
        accepted = pays.filter(~pl.col("payment_id").is_in(refused["event_id"].implode()))
        b.append(schema.loan_events, _events(accepted, run_id, now))
        b.append(schema.journal, posted.entries.with_columns(
            posted_at=pl.lit(now, dtype=pl.Datetime("us")),
            reverses=pl.lit(None, dtype=pl.Int64)))
        write_lines(b, lines, posted.lines)
        write_loan_state(b, _state(mine, posted.loans, accepted))
        out.posted += accepted.height
        out.fallbacks += posted.fallbacks
    return late


def _events(accepted: pl.DataFrame, run_id: int | None, now: datetime) -> pl.DataFrame:
    null_s = pl.lit(None, dtype=pl.String)
    return accepted.select(
        pl.col("payment_id").alias("event_id"), "loan_id", kind=pl.lit("payment"),
        value_date=pl.col("value_date"), amount=pl.col("amount"), component=null_s,
        channel=pl.col("channel"), occurred_at=pl.col("paid_at"), target_event_id=null_s,
        reason=null_s, actor=null_s, status=pl.lit("effective"),
        content_hash=pl.col("_hash"), ingest_run_id=pl.lit(run_id, dtype=pl.Int64),
        recorded_at=pl.lit(now, dtype=pl.Datetime("us"))).select(EVENT_COLUMNS)


def _state(before: pl.DataFrame, after: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """New engine state, the version read (for the optimistic check) and the order key of the
    last payment applied."""
    last = accepted.group_by("loan_id").agg(
        pl.col("value_date").last().alias("_on"), pl.col("paid_at").last().alias("_at"))
    state = ("status", "accrued_through", "credit", "recovered", "closed_on", "next_seq")
    return (after.select("loan_id", *state)
            .join(before.select("loan_id", "version", "last_event_on", "last_event_at"),
                  on="loan_id")
            .join(last, on="loan_id", how="left")
            .with_columns(last_event_on=pl.coalesce("_on", "last_event_on"),
                          last_event_at=pl.when(pl.col("_on").is_not_null())
                          .then(pl.col("_at")).otherwise(pl.col("last_event_at")))
            .drop("_on", "_at"))


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
