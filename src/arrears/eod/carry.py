"""Quiet loans carried over from the previous day's snapshot: what makes a quiet night cheap.

A loan whose stored state has not changed since yesterday's snapshot was made from it (the same
``loan_version``), that has nothing for the engine to do today (no instalment due by today
unpaid or uncharged, no penalty pending in grace), whose next instalment falls after today,
and that was neither cured nor settled yesterday, has today's snapshot row equal to
yesterday's but for the date, the months on book, the interest and fee earned pro rata in the
current period and the payoff that includes them. ``carry`` returns those rows and the loans
that must go through the steps; ``tests/services/test_eod.py`` proves a carried day equal to a
day computed in full.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from arrears.eod.balances import accrued
from arrears.eod.steps import busy_loans, months_on_book


def carry(previous: pl.DataFrame, loans: pl.DataFrame, lines: pl.DataFrame,
          as_of: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(carried snapshot rows, loans still to compute)``. ``previous`` is yesterday's full
    snapshot of these loans (``as_of`` − 1 day); ``loans`` and ``lines`` the book today."""
    busy = busy_loans(lines, as_of).implode()
    same = previous.join(loans.select("loan_id", pl.col("version").alias("_v"),
                                      pl.col("accrued_through").alias("_through")),
                         on="loan_id")
    quiet = same.filter(
        (pl.col("as_of") == as_of - timedelta(days=1))
        & (pl.col("loan_version") == pl.col("_v"))
        # yesterday's row came from the stored state, not from a replay: a loan whose state
        # stands at or past today stood past yesterday (on a backfill, or a payment posted
        # ahead), so its row then was told as it stood and its version says nothing
        & (pl.col("_through") < as_of)
        & ~pl.col("loan_id").is_in(busy)
        & ~pl.col("stage").is_in(["cured", "settled"])
        & (pl.col("next_due_on").is_null() | (pl.col("next_due_on") > as_of)))
    if quiet.is_empty():
        return previous.clear(), loans
    ids = quiet["loan_id"].implode()
    mine = loans.filter(pl.col("loan_id").is_in(ids))
    earned = accrued(mine, lines.filter(pl.col("loan_id").is_in(ids)), as_of)
    active = pl.col("status") == "active"
    rows = quiet.drop("_v", "_through", "accrued_interest", "accrued_fee").join(
        earned, on="loan_id", how="left")
    rows = rows.with_columns(
        as_of=pl.lit(as_of), months_on_book=months_on_book(as_of),
        accrued_interest=pl.when(active).then(pl.col("accrued_interest").fill_null(0))
        .otherwise(0),
        accrued_fee=pl.when(active).then(pl.col("accrued_fee").fill_null(0)).otherwise(0),
    ).with_columns(
        payoff=pl.when(pl.col("status") == "closed").then(0).otherwise(pl.max_horizontal(
            0, pl.col("outstanding_total") + pl.col("accrued_interest")
            + pl.col("accrued_fee") - pl.col("credit"))))
    return rows.select(previous.columns), loans.filter(~pl.col("loan_id").is_in(ids))
