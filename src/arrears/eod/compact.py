"""Settled history as per-loan totals: the compact form of the book end-of-day reads.

An instalment line that was due before a horizon date H and is settled — nothing owed in any
component, its interest and fee charged, no penalty pending — can never again change a
snapshot taken on or after H except through what was paid, waived or written off on it and its
due date (the last due date feeds the limitation clock). ``compact`` folds such lines into
``SETTLED_COLUMNS`` on the loan row and keeps the rest as rows; for any business date on or
after H the snapshot is the same (``tests/eod`` proves it against the single-loan view). About
half the lines of a seasoned book are settled history, so the frames end-of-day holds, reads and
writes shrink by that much.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from arrears.eod.line_exprs import COMPONENTS, busy_from, owed

SETTLED_COLUMNS: dict[str, pl.DataType] = {
    **{f"settled_paid_{c}": pl.Int64() for c in COMPONENTS},
    "settled_waived": pl.Int64(),
    "settled_written_off": pl.Int64(),
    "settled_last_due": pl.Date(),  # the latest due date among the folded live lines
}


BUSY_FROM = "busy_from"
"""The compact loans' column of ``line_exprs.busy_from``."""


def settled(horizon: date) -> pl.Expr:
    """Lines that fold into the loan's totals for snapshots on or after ``horizon``."""
    return ((pl.col("due_on") < horizon) & (owed() == 0)
            & (pl.col("charged_interest") == pl.col("interest"))
            & (pl.col("charged_fee") == pl.col("fee")) & (pl.col("pending_penalty") == 0))


def with_settled(loans: pl.DataFrame) -> pl.DataFrame:
    """``loans`` with zero settled totals where it has none yet."""
    missing = {c: t for c, t in SETTLED_COLUMNS.items() if c not in loans.columns}
    return loans.with_columns(
        pl.lit(None if t == pl.Date() else 0, t).alias(c) for c, t in missing.items())


def compact(loans: pl.DataFrame, lines: pl.DataFrame,
            horizon: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fold the lines settled before ``horizon`` into their loans' ``SETTLED_COLUMNS`` (added
    to what earlier compactions folded) and note when each loan next has work for the engine
    (``BUSY_FROM``, see ``line_exprs.busy_from``: what lets a quiet loan's snapshot row be
    carried over without reading its lines); return ``(loans, open lines)`` in the input
    order."""
    loans, lines = _compact(with_settled(loans), lines, horizon)
    # the fold never touches a line with work left, so this is the same before and after it
    return loans.drop(BUSY_FROM, strict=False).join(
        busy_from(lines), on="loan_id", how="left", maintain_order="left"), lines


def _compact(loans: pl.DataFrame, lines: pl.DataFrame,
             horizon: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    mask = settled(horizon)
    folded = lines.filter(mask).group_by("loan_id").agg(
        *[pl.col(f"paid_{c}").sum().alias(f"_p_{c}") for c in COMPONENTS],
        pl.sum_horizontal(pl.col(f"waived_{c}") for c in COMPONENTS).sum().alias("_w"),
        pl.sum_horizontal(pl.col(f"written_off_{c}") for c in COMPONENTS).sum().alias("_o"),
        pl.col("due_on").filter(pl.col("live")).max().alias("_d"))
    if folded.is_empty():
        return loans, lines
    out = loans.join(folded, on="loan_id", how="left", maintain_order="left").with_columns(
        *[(pl.col(f"settled_paid_{c}") + pl.col(f"_p_{c}").fill_null(0))
          .alias(f"settled_paid_{c}") for c in COMPONENTS],
        (pl.col("settled_waived") + pl.col("_w").fill_null(0)).alias("settled_waived"),
        (pl.col("settled_written_off") + pl.col("_o").fill_null(0))
        .alias("settled_written_off"),
        pl.max_horizontal("settled_last_due", "_d").alias("settled_last_due"),
    ).select(loans.columns)
    return out, lines.filter(~mask)
