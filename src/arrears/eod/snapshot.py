"""The daily loan snapshot: one row per loan per business date, the record every report and
every collection decision reads.

End-of-day writes it as Parquet under ``<ARREARS_HOME>/snapshots/as_of=YYYY-MM-DD/`` (one
partition per business date, replaced whole on a re-run). Money columns are integer minor
units in the loan's ``currency``; dates are business dates. The columns match
``book.views.LoanSnapshot`` field for field where both have them, and a differential test
proves end-of-day and ``arrears loan show --as-of`` equal to the fen.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from arrears.eod.line_exprs import COMPONENTS

SNAPSHOT_SCHEMA: dict[str, Any] = {
    "as_of": pl.Date,
    "loan_id": pl.String,
    "borrower_id": pl.String,
    "product_code": pl.String,  # null when the loan was booked without a product
    "lender_type": pl.String,
    "currency": pl.String,
    "principal": pl.Int64,  # the amount lent (contract principal)
    "disbursed_on": pl.Date,  # origination: vintages group by its month
    "months_on_book": pl.Int32,  # whole months from disbursed_on to as_of
    "last_due_on": pl.Date,  # the last live instalment's due date (limitation, Art. 189)
    # ledger status of the loan (book.engine.LoanStatus): active | closed | written-off
    "status": pl.String,
    # delinquency stage on as_of: current | overdue | cured | settled | closed | written-off
    # (cured: overdue on the previous snapshot, current now; settled: closed on as_of)
    "stage": pl.String,
    "stage_reason": pl.String,
    "past_due_days": pl.Int32,  # days since the oldest unpaid due date (0 if none)
    "dpd": pl.Int32,  # past_due_days after the product's grace rule (what buckets use)
    "bucket": pl.String,  # name in the rule pack's bucket table, e.g. M0..M6+
    "bucket_rank": pl.Int8,  # 0 = the first (current) bucket; order of the table
    "bucket_reason": pl.String,  # e.g. "dpd 45 (oldest unpaid due 2026-10-09) → M2 31–60"
    "oldest_unpaid_due": pl.Date,
    **{f"overdue_{c}": pl.Int64 for c in COMPONENTS},  # of instalments due before as_of
    **{f"outstanding_{c}": pl.Int64 for c in COMPONENTS},  # receivables as the journal holds
    "outstanding_total": pl.Int64,
    "principal_not_due": pl.Int64,
    "accrued_interest": pl.Int64,  # current period, earned, not yet due (pro rata by days)
    "accrued_fee": pl.Int64,
    "pending_penalty": pl.Int64,  # within grace: a receivable only if the grace is exceeded
    "credit": pl.Int64,  # money held for the borrower
    **{f"paid_{c}": pl.Int64 for c in COMPONENTS},  # cumulative, from disbursement
    "paid_total": pl.Int64,
    "waived_total": pl.Int64,
    "written_off_total": pl.Int64,
    "recovered": pl.Int64,  # collected after write-off
    "last_payment_on": pl.Date,  # value date of the latest effective payment
    "next_due_on": pl.Date,
    "next_due_amount": pl.Int64,
    "payoff": pl.Int64,  # to settle in full on as_of
    "closed_on": pl.Date,
    "write_off_candidate": pl.Boolean,
    "limitation_deadline": pl.Date,  # Civil Code Art. 188/189/195 (rule pack)
    "limitation_reason": pl.String,
    "loan_version": pl.Int64,  # the version of the loan's stored state the row was made from
}
"""Columns of a snapshot row, in order."""


def empty_snapshot() -> pl.DataFrame:
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the snapshot columns, in order and type (a missing one fails)."""
    missing = [c for c in SNAPSHOT_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"snapshot frame lacks columns: {', '.join(missing)}")
    return frame.select([pl.col(c).cast(t) for c, t in SNAPSHOT_SCHEMA.items()])
