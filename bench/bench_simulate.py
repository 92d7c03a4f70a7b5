"""Benchmark: a simulated lender of about 1,000,000 loans over 365 days, every file written
(issue 4: ≤ 10 minutes on this machine).

    python bench/bench_simulate.py [--borrowers 690000] [--days 365] [--seed 1] [--keep DIR]
                                   [--no-daily] [--policy baseline]

Times ``write_simulation`` end to end in this process — drawing the borrowers and candidate
loans and their schedules (``setup``), the days (the whole portfolio moved a day at a time,
each day's rows formatted and written, including the per-day folders), then the ground truth
(``finish``). About 1.45 candidate loans per borrower are drawn and almost all are disbursed,
so 690,000 borrowers give about a million loans. Prints one JSON line; peak memory is this
process's maximum resident set.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shlex
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from arrears.sim import POLICIES, write_simulation

START = date(2025, 7, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=690_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policy", default="baseline", choices=sorted(POLICIES))
    parser.add_argument("--no-daily", action="store_true", help="skip the per-day folders")
    parser.add_argument("--keep", type=Path, help="write here and keep it (default: a "
                        "temporary folder, removed)")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        folder = a.keep if a.keep is not None else Path(tmp) / "sim"
        marks: dict[str, float] = {}

        def progress(label: str, done: int, total: int) -> None:
            now = time.perf_counter()
            marks.setdefault("first_day", now)
            if done == total:
                marks["last_day"] = now

        began = time.perf_counter()
        files = write_simulation(folder, seed=a.seed, borrowers=a.borrowers, start=START,
                                 days=a.days, policy=POLICIES[a.policy](),
                                 daily=not a.no_daily, progress=progress)
        ended = time.perf_counter()
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(json.dumps({
        "bench": "simulate", **files.counts, "days": a.days, "policy": a.policy,
        "daily": not a.no_daily, "seconds": round(ended - began, 1),
        "setup_seconds": round(marks["first_day"] - began, 1),
        "days_seconds": round(marks["last_day"] - marks["first_day"], 1),
        "finish_seconds": round(ended - marks["last_day"], 1),
        "loans_per_s": round(files.counts["loans"] / (ended - began)),
        "output_gb": round(size / 1e9, 2),
        "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(), "polars": pl.__version__,
        "numpy": np.__version__,
        "date": date.today().isoformat(),  # noqa: DTZ011 - benchmark record, not logic
    }))


if __name__ == "__main__":
    main()
