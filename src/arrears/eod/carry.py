"""Quiet loans carried over from the previous day's snapshot: what makes a quiet night cheap.

A loan whose stored state has not changed since yesterday's snapshot was made from it (the same
``loan_version``), that has nothing for the engine to do by today (its ``busy_from`` — no
instalment due by today unpaid or uncharged, no penalty pending in grace), whose next
instalment falls after today, and that was neither cured nor settled yesterday, has today's
snapshot row equal to yesterday's but for the date, the months on book, the interest and fee
earned pro rata in the current period and the payoff that includes them.

The test reads a few narrow columns — the mirror's loan ids, versions and ``busy_from``,
yesterday's versions, stages and next due dates — so the quiet loans' lines and terms are
never read; only the rest go through the steps. ``tests/services/test_eod.py`` proves a carried
day equal to a day computed in full.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.eod.compact import BUSY_FROM
from arrears.eod.steps import months_on_book

YESTERDAY_COLUMNS = ("loan_id", "loan_version", "stage", "dpd", "next_due_on")
"""What ``quiet`` reads of yesterday's snapshot (the stage step reads stage and dpd too)."""
BOOK_COLUMNS = ("loan_id", "version", "accrued_through", BUSY_FROM)
"""What ``quiet`` reads of the mirror's loans."""
EARNING_COLUMNS = ("live", "start_on", "due_on", "interest", "fee")
"""What the interest and fee earned in the current period are worked out from, per line."""


def quiet(book: pl.DataFrame, yesterday: pl.DataFrame,
          as_of: date) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Which loans of ``book`` (``BOOK_COLUMNS``, in loan order) carry their row over from
    ``yesterday`` (``YESTERDAY_COLUMNS`` of the snapshot of ``as_of`` − 1, in loan order), and
    the row of each of those there."""
    row = _rows_before(book["loan_id"], yesterday["loan_id"])
    there = row >= 0
    y = yesterday.select(*YESTERDAY_COLUMNS[1:]).gather(np.where(there, row, 0))
    both = pl.concat([book.select(*BOOK_COLUMNS), y], how="horizontal").with_columns(
        row=pl.Series(row), _there=pl.Series(there))
    nothing_due = pl.col("next_due_on").is_null() | (pl.col("next_due_on") > as_of)
    # yesterday's row came from the stored state, not from a replay: a loan whose state
    # stands at or past today stood past yesterday (on a backfill, or a payment posted ahead),
    # so its row then was told as it stood and its version says nothing
    ok = ((pl.col("loan_version") == pl.col("version")) & (pl.col("accrued_through") < as_of)
          & (pl.col(BUSY_FROM).is_null() | (pl.col(BUSY_FROM) > as_of))
          & ~pl.col("stage").is_in(["cured", "settled"]) & nothing_due)
    mask = both.select((pl.col("_there") & ok).fill_null(False)).to_series().to_numpy()
    return mask, row[mask]


def _rows_before(book: pl.Series, before: pl.Series) -> npt.NDArray[np.int64]:
    """The row in ``before`` of each loan id of ``book`` (−1: none), both sorted. On the
    usual night the loans are yesterday's, row for row, with the day's new loans after them;
    otherwise each of yesterday's ids is looked up by binary search (no hash join)."""
    n = len(before)
    if len(book) >= n and book.head(n).equals(before):
        return np.concatenate([np.arange(n, dtype=np.int64),
                               np.full(len(book) - n, -1, dtype=np.int64)])
    at = book.search_sorted(before, side="left").to_numpy().astype(np.int64)
    found = at < len(book)
    found[found] = book.gather(at[found]).to_numpy() == before.filter(
        pl.Series(found)).to_numpy()
    row = np.full(len(book), -1, dtype=np.int64)
    row[at[found]] = np.flatnonzero(found)
    return row


def assemble(yesterday: pl.DataFrame, kept_ids: pl.Series, kept_rows: npt.NDArray[np.int64],
             fresh: pl.DataFrame, earned: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
             as_of: date) -> pl.DataFrame:
    """Today's snapshot rows in loan order: yesterday's rows ``kept_rows`` (of the loans
    ``kept_ids``, from ``quiet``) brought to ``as_of`` — ``earned`` is the interest and fee
    of their current periods, in the same order — and the ``fresh`` rows the steps made for
    the other loans. ``yesterday`` and ``fresh`` have the snapshot's columns; one gather puts
    the two together (a row-by-row merge of sixty columns costs several times more)."""
    order, kept = _interleave(kept_ids, kept_rows, yesterday.height, fresh["loan_id"])
    # one chunk first: a gather over a frame of several chunks is several times slower
    rows = pl.concat([yesterday, fresh.select(yesterday.columns)], rechunk=True).gather(order)
    # the kept rows come out in the order of ``kept_ids``: what they earned is laid out so
    fill = {c: _spread(v, kept) for c, v in zip(("accrued_interest", "accrued_fee"), earned,
                                                 strict=True)}
    k, active = pl.lit(pl.Series(kept)), pl.col("status") == "active"
    rows = rows.with_columns(
        as_of=pl.lit(as_of), months_on_book=months_on_book(as_of),
        **{c: pl.when(~k).then(pl.col(c)).when(active).then(pl.lit(pl.Series(v))).otherwise(0)
           for c, v in fill.items()},
    )
    return rows.with_columns(
        payoff=pl.when(~k).then(pl.col("payoff"))
        .when(pl.col("status") == "closed").then(0).otherwise(pl.max_horizontal(
            0, pl.col("outstanding_total") + pl.col("accrued_interest")
            + pl.col("accrued_fee") - pl.col("credit"))))


def _spread(values: npt.NDArray[np.int64], at: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """``values`` at the True places of ``at``, zero elsewhere."""
    out = np.zeros(len(at), dtype=np.int64)
    out[at] = values
    return out


def _interleave(kept_ids: pl.Series, kept_rows: npt.NDArray[np.int64], base: int,
                fresh_ids: pl.Series) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The gather order over ``base`` rows followed by the fresh ones that puts the kept rows
    (ids ``kept_ids`` at ``kept_rows``) and the fresh rows in loan order (both lists sorted,
    no id in both), and which of the result's rows are kept ones."""
    at = (kept_ids.search_sorted(fresh_ids, side="left").to_numpy().astype(np.int64)
          + np.arange(len(fresh_ids), dtype=np.int64))
    n = len(kept_rows) + len(fresh_ids)
    kept = np.ones(n, dtype=np.bool_)
    kept[at] = False
    order = np.empty(n, dtype=np.int64)
    order[at] = base + np.arange(len(fresh_ids), dtype=np.int64)
    order[kept] = kept_rows
    return order, kept
