"""The trial balance (试算平衡表): account balances summed from the journal as of a value date.

Balances come from the journal alone — not from the sub-ledger — and the debits and credits of
the whole book must net to zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from arrears.book.engine import ACCOUNTS
from arrears.store.bulk import fetch


@dataclass(frozen=True, slots=True)
class TrialBalance:
    as_of: date
    balances: dict[str, int]  # debit positive, credit negative
    loans: int
    entries: int

    @property
    def balanced(self) -> bool:
        return sum(self.balances.values()) == 0


def trial_balance(conn: Connection, as_of: date, loan_id: str | None = None) -> TrialBalance:
    """Every account's balance over entries with a value date on or before ``as_of``
    (reversals carry their original's value date, so restated history is restated here too)."""
    where = "value_date <= ?" + (" AND loan_id = ?" if loan_id else "")
    params = (as_of, loan_id) if loan_id else (as_of,)
    sums = ", ".join(f"COALESCE(SUM({a}), 0)" for a in ACCOUNTS)
    row = fetch(conn, f"SELECT COUNT(DISTINCT loan_id), COUNT(*), {sums} FROM journal "
                      f"WHERE {where}", params)[0]
    return TrialBalance(as_of, {a: int(v) for a, v in zip(ACCOUNTS, row[2:], strict=True)},
                        int(row[0]), int(row[1]))
