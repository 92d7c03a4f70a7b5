"""Benchmark: ingest and post payments (issue: ≥ 20,000 payments/s into SQLite and PostgreSQL).

Builds a synthetic book of N loans (booked through the normal ingestion path, not timed), then
times ``arrears ingest payments.csv`` end to end — reading, validating, duplicate and reference
checks, allocation through the engine, journal, events and sub-ledger writes, commits.

    python bench/bench_ingest.py --loans 200000 --payments-per-loan 5 --db sqlite
    python bench/bench_ingest.py --loans 200000 --payments-per-loan 5 \
        --db postgresql+psycopg://root@127.0.0.1:5432/arrears_bench
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import shutil
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text

from arrears.book.schedule import build_schedule
from arrears.book.terms import LoanTerms, Method
from arrears.calendar import Period
from arrears.money import fmt
from arrears.services.ingest import ingest_paths
from arrears.settings import Settings
from arrears.store.db import make_engine, migrate

START = date(2025, 1, 1)


def write_book(folder: Path, loans: int, per_loan: int, seed: int) -> tuple[Path, Path, Path]:
    rng = random.Random(seed)
    b, lo, p = folder / "borrowers.csv", folder / "loans.csv", folder / "payments.csv"
    with b.open("w", newline="") as fb, lo.open("w", newline="") as fl, \
            p.open("w", newline="") as fp:
        wb, wl, wp = csv.writer(fb), csv.writer(fl), csv.writer(fp)
        wb.writerow(["borrower_id", "name", "id_number", "mobile", "province", "city",
                     "address"])
        wl.writerow(["loan_id", "borrower_id", "lender_type", "principal", "currency",
                     "annual_rate", "repayment_method", "term_count", "period", "disbursed_on",
                     "contract_signed_on", "upfront_fee", "penalty_rate_multiplier",
                     "grace_days"])
        wp.writerow(["payment_id", "loan_id", "amount", "paid_at", "channel"])
        for i in range(loans):
            bid, lid = f"B{i:07d}", f"L{i:07d}"
            wb.writerow([bid, "张三", "11010519491231002X", "13800138000", "浙江省", "杭州市",
                         "文三路1号"])
            method = rng.choice((Method.EQUAL_INSTALMENT, Method.EQUAL_INSTALMENT,
                                 Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST))
            start = START + timedelta(days=rng.randint(0, 60))
            principal = rng.randint(30, 500) * 10000
            rate = f"0.{rng.randint(10, 24)}"
            terms = LoanTerms(principal=principal, annual_rate=Decimal(rate),
                              method=method, term_count=12, period=Period.parse("month"),
                              start=start, grace_days=3)
            wl.writerow([lid, bid, "consumer-finance", fmt(principal), "CNY", rate,
                         method.value, 12, "month", start, start, "0.00", "1.5", 3])
            for k, inst in enumerate(build_schedule(terms).instalments[:per_loan]):
                late = rng.random() < 0.15
                day = inst.due_on + timedelta(days=rng.randint(5, 25) if late else
                                              rng.randint(-3, 0))
                amount = inst.total + (inst.total // 50 if late else 0)
                at = datetime.combine(day, datetime.min.time()) + timedelta(hours=10 + k % 8)
                wp.writerow([f"P{i:07d}-{k:02d}", lid, fmt(amount), at.isoformat(sep=" "),
                             "bank-transfer"])
    return b, lo, p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=200_000)
    ap.add_argument("--payments-per-loan", type=int, default=5)
    ap.add_argument("--db", default="sqlite", help="sqlite or a PostgreSQL URL (dropped!)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2000, help="loans per transaction")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrears-bench-"))
    try:
        if a.db == "sqlite":
            url = f"sqlite:///{work / 'bench.db'}"
        else:
            url = a.db
            base, name = url.rsplit("/", 1)
            admin = create_engine(base + "/test", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url)
        migrate(engine)
        settings = Settings(home=work, database_url=url)
        t0 = time.perf_counter()
        b, lo, p = write_book(work, a.loans, a.payments_per_loan, a.seed)
        t1 = time.perf_counter()
        ingest_paths([b, lo], engine, settings, datetime(2026, 1, 1), batch_loans=a.batch)
        t2 = time.perf_counter()
        (rep,) = ingest_paths([p], engine, settings, datetime(2026, 1, 1), batch_loans=a.batch)
        t3 = time.perf_counter()
        assert rep.rows_quarantined == 0, rep.problems[:5]
        print(json.dumps({
            "bench": "ingest-and-post-payments", "db": engine.dialect.name,
            "loans": a.loans, "payments": rep.rows_new, "seconds": round(t3 - t2, 2),
            "payments_per_s": round(rep.rows_new / (t3 - t2)),
            "book_seconds": round(t2 - t1, 2), "generate_seconds": round(t1 - t0, 2),
            "machine": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "date": date.today().isoformat(),  # noqa: DTZ011 - benchmark record, not logic
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
