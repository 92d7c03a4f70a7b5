"""A portfolio summary as of a date, for the demo and quick looks.

Until the end-of-day engine lands this walks loans through the single-loan engine (fine for a
sample book of a few thousand loans; end-of-day is the vectorised path for real books).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from arrears.book.buckets import BucketTable
from arrears.book.engine import LoanStatus
from arrears.book.views import snapshot
from arrears.money import fmt
from arrears.rules import load_pack
from arrears.services.reconcile import _fetch
from arrears.store.loans import load_engines


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


def portfolio_summary(engine: Engine, as_of: date, loan_ids: Sequence[str],
                      table: BucketTable | None = None,
                      progress: Callable[[str, int, int], None] | None = None) -> PortfolioSummary:
    """Loans, amounts and statuses as of ``as_of``; active loans by ``table`` (default: the CN
    pack's default bucket table, ``CN-M``)."""
    if table is None:
        table = load_pack("CN").delinquency.table()
    s = PortfolioSummary(as_of, buckets={n: [0, 0] for n in table.names})
    with engine.connect() as conn:
        for i in range(0, len(loan_ids), 1000):
            for ld in load_engines(conn, loan_ids[i:i + 1000]).values():
                snap = snapshot(ld.engine, max(as_of, ld.engine.accrued_through))
                s.loans += 1
                s.disbursed += ld.engine.terms.principal
                s.by_status[snap.status.value] = s.by_status.get(snap.status.value, 0) + 1
                if snap.status is LoanStatus.ACTIVE:
                    b = s.buckets[table.of(snap.dpd)]
                    b[0] += 1
                    b[1] += snap.outstanding_total
                    s.outstanding += snap.outstanding_total
            if progress:
                progress("summary", min(i + 1000, len(loan_ids)), len(loan_ids))
        row = _fetch(conn, "SELECT COALESCE(SUM(cash), 0), COALESCE(SUM(penalty), 0) "
                           "FROM journal WHERE kind IN ('payment', 'recovery')")[0]
    s.collected, s.collected_penalty = int(row[0]), -int(row[1])
    return s
