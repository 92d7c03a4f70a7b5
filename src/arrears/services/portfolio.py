"""A portfolio summary as of a date, for the demo and quick looks, from end-of-day's
snapshot of that date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Engine

from arrears.book.buckets import BucketTable, bucket_columns
from arrears.money import fmt
from arrears.rules import load_pack
from arrears.services.reconcile import _fetch


@dataclass(slots=True)
class PortfolioSummary:
    as_of: date
    loans: int = 0
    disbursed: int = 0
    outstanding: int = 0
    collected: int = 0
    collected_penalty: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, list[int]] = field(default_factory=dict)  # name -> [loans, outstanding]

    def as_json(self) -> dict[str, Any]:
        return {
            "loans": self.loans, "disbursed": fmt(self.disbursed),
            "outstanding": fmt(self.outstanding), "collected": fmt(self.collected),
            "collected_penalty": fmt(self.collected_penalty), "by_status": self.by_status,
            "buckets": [{"bucket": k, "loans": v[0], "outstanding": fmt(v[1])}
                        for k, v in self.buckets.items()],
        }


def portfolio_summary(engine: Engine, as_of: date, snap: pl.DataFrame,
                      table: BucketTable | None = None) -> PortfolioSummary:
    """Loans, amounts and statuses from end-of-day's snapshot of ``as_of``; active loans by
    ``table`` (default: the CN pack's default bucket table, ``CN-M``); the money collected
    from the journal."""
    if table is None:
        table = load_pack("CN").delinquency.table()
    s = PortfolioSummary(as_of, buckets={n: [0, 0] for n in table.names})
    s.loans = snap.height
    s.disbursed = int(snap["principal"].sum())
    s.by_status = dict(snap.group_by("status").len().sort("status").iter_rows())
    active = snap.filter(pl.col("status") == "active")
    s.outstanding = int(active["outstanding_total"].sum())
    name, _, _ = bucket_columns(pl.col("dpd"), table)
    counted = active.group_by(name).agg(pl.len(), pl.col("outstanding_total").sum())
    for bucket, loans, owed in counted.iter_rows():
        if bucket is None:  # as table.of refuses it
            raise ValueError(f"{loans} active loan(s) with a negative or missing dpd")
        s.buckets[bucket] = [int(loans), int(owed)]
    with engine.connect() as conn:
        row = _fetch(conn, "SELECT COALESCE(SUM(cash), 0), COALESCE(SUM(penalty), 0) "
                           "FROM journal WHERE kind IN ('payment', 'recovery')")[0]
    s.collected, s.collected_penalty = int(row[0]), -int(row[1])
    return s
