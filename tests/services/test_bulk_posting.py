"""Posting a file in bulk ends exactly where posting its payments one by one ends."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from arrears.money import to_minor
from arrears.services.ingest import ingest_paths
from arrears.services.operations import OperationError, loan_as_of, post_payment
from arrears.services.reconcile import reconcile
from arrears.services.trial_balance import trial_balance
from arrears.settings import Settings
from arrears.store.db import make_engine, migrate
from tests.services.test_ingest import BORROWERS, LOANS, write_csv

NOW = datetime(2026, 1, 1, 9, 0)
AS_OF = date(2026, 3, 31)


def _book(tmp: Path, rng: random.Random, loans: int) -> tuple[Path, Path, list[list[str]]]:
    header = [*LOANS[0], "overpayment", "allocation_scope", "late_fee_fixed",
              "penalty_on_interest", "grace_penalty"]
    rows, pays = [header], [["payment_id", "loan_id", "amount", "paid_at", "channel"]]
    for i in range(loans):
        method = rng.choice(["equal-instalment", "equal-principal", "interest-first", "bullet"])
        period = rng.choice(["month", "14d"]) if method != "bullet" else "30d"
        start = date(2025, 1, 1) + timedelta(days=rng.randint(0, 60))
        terms = 1 if method == "bullet" else rng.randint(2, 8)
        rows.append([f"L{i}", "B1", rng.choice(["bank", "private", "microloan"]),
                     f"{rng.randint(10, 300) * 100}.00", "CNY",
                     rng.choice(["0.12", "0.18", "0.24"]),
                     method, str(terms), period, start.isoformat(), start.isoformat(), "0", "1.5",
                     str(rng.choice([0, 3])), rng.choice(["credit", "credit", "reduce-term",
                                                          "reduce-instalment"]),
                     rng.choice(["instalment-first", "component-first"]),
                     rng.choice(["0", "20.00"]), rng.choice(["true", "false"]),
                     rng.choice(["retroactive", "forgiven"])])
        day = start
        for k in range(rng.randint(0, 6)):
            day += timedelta(days=rng.randint(5, 50))
            amount = rng.choice(["1.00", "150.00", "900.00", "2500.00", "40000.00"])
            at = datetime.combine(day, datetime.min.time()) + timedelta(hours=9 + k)
            pays.append([f"P{i}-{k}", f"L{i}", amount, at.isoformat(sep=" "), "bank"])
    return (write_csv(tmp / "borrowers.csv", BORROWERS[:2]), write_csv(tmp / "loans.csv", rows),
            pays)


def _state(engine: Engine, loans: int) -> list[tuple[object, ...]]:
    out = []
    for i in range(loans):
        s = loan_as_of(engine, f"L{i}", AS_OF)
        out.append((f"L{i}", s.status, tuple(s.outstanding.values()), s.credit, s.dpd,
                    [(ln.seq, ln.state, tuple(ln.paid.values())) for ln in s.lines]))
    return out


def test_bulk_equals_one_by_one_and_backdated_files_restate(db: Engine, settings: Settings,
                                                            tmp_path: Path) -> None:
    rng = random.Random(20261123)
    n = 40
    b, lo, pays = _book(tmp_path, rng, n)
    head, *body = pays
    early, later = body[::2], body[1::2]  # the second file goes back in time for many loans
    first = write_csv(tmp_path / "p1.csv", [head, *later])
    second = write_csv(tmp_path / "p2.csv", [head, *early])

    ingest_paths([b, lo], db, settings, NOW)
    r1 = ingest_paths([first], db, settings, NOW)[0]
    r2 = ingest_paths([second], db, settings, NOW)[0]
    assert r2.restated_loans > 0  # backdated payments went through restatement

    one = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    migrate(one)
    ingest_paths([b, lo], one, Settings(tmp_path / "one", str(one.url)), NOW)
    refused = 0
    for pid, loan, amount, at, channel in sorted(body, key=lambda r: r[3]):
        try:
            post_payment(one, pid, loan, to_minor(amount),
                         datetime.fromisoformat(at), channel, "t", NOW)
        except OperationError:
            refused += 1
    assert r1.rows_quarantined + r2.rows_quarantined == refused

    assert _state(db, n) == _state(one, n)
    for e in (db, one):
        with e.connect() as c:
            assert reconcile(c, replay_sample=None).ok
    with db.connect() as c1, one.connect() as c2:
        assert trial_balance(c1, AS_OF).balances == trial_balance(c2, AS_OF).balances
