"""``arrears book reconcile``: prove the book, loan by loan and component by component.

Three independent sources must agree to the fen:

1. the journal — for each loan and component, what was charged (disbursement and accrual
   entries), paid (payment and credit-applied entries), waived and written off, and the
   resulting balance; every entry must sum to zero;
2. the instalment sub-ledger — the same four measures summed over the loan's lines;
3. a replay of the loan from its terms and effective events (all loans, or a sample).

The identity disbursed + accrued − paid − waived − written off = outstanding is checked on the
journal, and each measure is compared with the sub-ledger; then the sub-ledger with the replay.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Connection

from arrears.book.engine import EngineError, replay
from arrears.store.bulk import fetch
from arrears.store.loans import effective_events, load_engines

COMPS = ("fee", "penalty", "interest", "principal")
CHARGE_KINDS = ("disbursement", "accrual")
PAID_KINDS = ("payment", "credit-applied")


@dataclass(frozen=True, slots=True)
class Break:
    loan_id: str
    check: str
    component: str
    expected: int
    actual: int

    def __str__(self) -> str:
        return (f"{self.loan_id} {self.component}: {self.check} — expected {self.expected}, "
                f"found {self.actual} (difference {self.actual - self.expected})")


@dataclass(slots=True)
class ReconcileReport:
    loans: int = 0
    entries: int = 0
    unbalanced_entries: int = 0
    replayed: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks and self.unbalanced_entries == 0


def _fetch(conn: Connection, sql: str) -> list[Any]:
    return fetch(conn, sql)


def _journal_measures(conn: Connection) -> pl.DataFrame:
    sums = ", ".join(f"SUM({c})" for c in (*COMPS, "credit"))
    rows = _fetch(conn, f"SELECT loan_id, kind, {sums} FROM journal GROUP BY loan_id, kind")
    df = pl.DataFrame(rows, schema=["loan_id", "kind", *COMPS, "credit"], orient="row")
    df = df.with_columns(pl.col([*COMPS, "credit"]).cast(pl.Int64))
    out = []
    for measure, kinds, sign in (("charged", CHARGE_KINDS, 1), ("paid", PAID_KINDS, -1),
                                 ("waived", ("waiver",), -1), ("written_off", ("write-off",), -1)):
        part = df.filter(pl.col("kind").is_in(kinds)).group_by("loan_id").agg(
            [(pl.col(c).sum() * sign).alias(f"{measure}_{c}") for c in COMPS])
        out.append(part)
    bal = df.group_by("loan_id").agg([pl.col(c).sum().alias(f"balance_{c}") for c in COMPS]
                                     + [(-pl.col("credit").sum()).alias("credit")])
    res = bal
    for part in out:
        res = res.join(part, on="loan_id", how="left")
    return res.fill_null(0)


def _ledger_measures(conn: Connection) -> pl.DataFrame:
    cols = [f"SUM({m}_{c})" for m in ("charged", "paid", "waived", "written_off") for c in COMPS]
    rows = _fetch(conn, f"SELECT loan_id, {', '.join(cols)} FROM instalments GROUP BY loan_id")
    names = [f"{m}_{c}" for m in ("charged", "paid", "waived", "written_off") for c in COMPS]
    df = pl.DataFrame(rows, schema=["loan_id", *names], orient="row")
    state = pl.DataFrame(_fetch(conn, "SELECT loan_id, credit FROM loans"),
                         schema=["loan_id", "credit"], orient="row")
    return df.with_columns(pl.col(names).cast(pl.Int64)).join(
        state.with_columns(pl.col("credit").cast(pl.Int64)), on="loan_id", how="full",
        coalesce=True).fill_null(0)


def reconcile(conn: Connection, replay_sample: int | None = 1000,
              seed: int = 0) -> ReconcileReport:
    """Check the whole book. ``replay_sample=None`` replays every loan."""
    rep = ReconcileReport()
    rep.entries = int(_fetch(conn, "SELECT COUNT(*) FROM journal")[0][0])
    accounts = " + ".join(("cash", "principal", "interest", "fee", "penalty", "credit",
                           "interest_income", "fee_income", "penalty_income", "waiver",
                           "write_off", "recovery"))
    rep.unbalanced_entries = int(_fetch(
        conn, f"SELECT COUNT(*) FROM journal WHERE {accounts} <> 0")[0][0])
    for table in ("instalments", "loan_events", "journal"):  # references the store does not
        for (loan_id,) in _fetch(conn, f"SELECT DISTINCT loan_id FROM {table} t WHERE NOT "
                                       f"EXISTS (SELECT 1 FROM loans l WHERE l.loan_id = "
                                       f"t.loan_id)"):  # enforce as constraints (bulk cost)
            rep.breaks.append(Break(loan_id, f"{table} rows for a loan that does not exist",
                                    "-", 0, 0))
    j = _journal_measures(conn)
    led = _ledger_measures(conn)
    rep.loans = led.height
    both = led.join(j, on="loan_id", how="full", suffix="_j", coalesce=True).fill_null(0)
    for c in COMPS:
        identity = (pl.col(f"charged_{c}_j") - pl.col(f"paid_{c}_j") - pl.col(f"waived_{c}_j")
                    - pl.col(f"written_off_{c}_j"))
        bad = both.filter(identity != pl.col(f"balance_{c}"))
        rep.breaks.extend(Break(r["loan_id"], "journal identity (charged−paid−waived−written "
                                "off vs balance)", c, r[f"balance_{c}"], r["_id"])
                          for r in bad.with_columns(identity.alias("_id")).iter_rows(named=True))
        for m in ("charged", "paid", "waived", "written_off"):
            bad = both.filter(pl.col(f"{m}_{c}") != pl.col(f"{m}_{c}_j"))
            rep.breaks.extend(Break(r["loan_id"], f"{m}: journal vs instalment ledger", c,
                                    r[f"{m}_{c}_j"], r[f"{m}_{c}"])
                              for r in bad.iter_rows(named=True))
    bad = both.filter(pl.col("credit") != pl.col("credit_j"))
    rep.breaks.extend(Break(r["loan_id"], "credit balance: journal vs loan", "credit",
                            r["credit_j"], r["credit"]) for r in bad.iter_rows(named=True))
    ids: Sequence[str] = led["loan_id"].to_list()
    if replay_sample is not None and len(ids) > replay_sample:
        ids = random.Random(seed).sample(list(ids), replay_sample)
    _check_replay(conn, ids, rep)
    return rep


def _check_replay(conn: Connection, ids: Sequence[str], rep: ReconcileReport) -> None:
    for i in range(0, len(ids), 1000):
        loaded = load_engines(conn, ids[i:i + 1000])
        for loan_id, ld in loaded.items():
            stored = ld.engine
            try:
                fresh = replay(stored.terms, effective_events(conn, loan_id),
                               through=stored.accrued_through)
            except EngineError as exc:
                rep.breaks.append(Break(loan_id, f"replay failed: {exc}", "-", 0, 0))
                continue
            rep.replayed += 1
            for c, (a, b) in zip(COMPS, zip(fresh.outstanding(), stored.outstanding(),
                                            strict=True), strict=True):
                if a != b:
                    rep.breaks.append(Break(loan_id, "replay vs stored outstanding", c, a, b))
            if fresh.credit != stored.credit or fresh.status != stored.status:
                rep.breaks.append(Break(loan_id, f"replay status/credit {fresh.status}/"
                                        f"{fresh.credit} vs {stored.status}/{stored.credit}",
                                        "credit", fresh.credit, stored.credit))
