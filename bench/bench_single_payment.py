"""Benchmark: one payment through the service layer (issue: p99 ≤ 20 ms on SQLite).

Books N loans (not timed), then posts M single payments one by one through
``services.operations.post_payment`` — the path the CLI and the API use: idempotency check,
engine load, accrual catch-up, allocation, journal/event/sub-ledger writes, audit record,
commit — and reports latency percentiles.

    python bench/bench_single_payment.py --loans 20000 --payments 2000 [--db URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_ingest import write_book

from arrears.services.ingest import ingest_paths
from arrears.services.operations import post_payment
from arrears.settings import Settings
from arrears.store.db import make_engine, migrate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=20_000)
    ap.add_argument("--payments", type=int, default=2_000)
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrears-bench-"))
    try:
        url = f"sqlite:///{work / 'bench.db'}" if a.db == "sqlite" else a.db
        engine = make_engine(url)
        migrate(engine)
        b, lo, _ = write_book(work, a.loans, 0, a.seed)
        ingest_paths([b, lo], engine, Settings(work, url), datetime(2026, 1, 1))
        rng = random.Random(a.seed)
        lat = []
        for i in range(a.payments):
            loan = f"L{rng.randrange(a.loans):07d}"
            at = datetime(2025, 3, 1) + timedelta(days=rng.randint(0, 200), hours=i % 10)
            t = time.perf_counter()
            post_payment(engine, f"S{i:07d}", loan, rng.randint(100, 300_000), at, "counter",
                         "bench", datetime(2026, 1, 1))
            lat.append((time.perf_counter() - t) * 1000)
        q = statistics.quantiles(lat, n=100)
        print(json.dumps({
            "bench": "single-payment-service", "db": engine.dialect.name, "loans": a.loans,
            "payments": a.payments, "p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2),
            "p99_ms": round(q[98], 2), "max_ms": round(max(lat), 2),
            "python": platform.python_version(),
            "date": date.today().isoformat(),  # noqa: DTZ011 - benchmark record, not logic
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
