"""Benchmark: repayment schedules for a synthetic portfolio through ``build_schedules``.

    python bench/bench_schedules.py --loans 1000000 --seed 1 [--repeat 3]

Prints one JSON line (loans, instalments, seconds, loans/s, exact fallbacks); writes nothing.
The timing covers ``build_schedules`` only, not the generation of the portfolio. The loan ids
are shuffled, so the string sort by loan_id is paid (a table export sorted by id skips it).
The first call in a process is the cold one: on this VM, fresh memory pages cost far more than
reused ones, and a 1M-loan schedule is about 1 GB of output.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np
import polars as pl

from arrears.book.vector import INPUT_SCHEMA, build_schedules_traced


def _pick(rng: np.random.Generator, n: int, weights: dict[str, float]) -> pl.Series:
    p = np.array(list(weights.values()))
    return pl.Series(np.array(list(weights))[rng.choice(len(p), size=n, p=p / p.sum())])


def _decimal_text(rng: np.random.Generator, n: int, low: float, high: float) -> pl.Series:
    """Rates between low and high as decimal texts with 4 to 6 decimals (e.g. "0.1825")."""
    decimals = rng.integers(4, 7, size=n)
    scale = 10**decimals
    units = rng.integers((low * scale).astype(np.int64), (high * scale).astype(np.int64) + 1)
    frame = pl.DataFrame({"u": units, "d": decimals})
    return frame.select(
        pl.lit("0.") + pl.col("u").cast(pl.String).str.zfill(pl.col("d"))).to_series()


def portfolio(n: int, seed: int) -> pl.DataFrame:
    """A realistic mix of consumer loans (mainland online lending)."""
    rng = np.random.default_rng(seed)
    common = rng.choice([3, 6, 12, 24, 36], size=n)
    terms = np.where(rng.random(n) < 0.7, common, rng.integers(1, 37, size=n))
    yuan = np.exp(rng.uniform(np.log(500), np.log(200_000), size=n)).astype(np.int64)
    start = np.datetime64(date(2023, 1, 1)) + rng.integers(0, 3 * 365, size=n)
    first_due = np.where(rng.random(n) < 0.2, start + rng.integers(5, 46, size=n),
                         np.datetime64("NaT"))
    fee_rated = rng.random(n) < 0.3
    return pl.DataFrame({
        "loan_id": pl.Series(np.char.add("L", np.arange(n).astype(str))).shuffle(seed),
        "principal": yuan * 100 + np.where(rng.random(n) < 0.1, rng.integers(0, 100, n), 0),
        "annual_rate": _decimal_text(rng, n, 0.07, 0.36),
        "method": _pick(rng, n, {"equal-instalment": 55, "equal-principal": 15,
                                 "interest-first": 15, "bullet": 15}),
        "term_count": terms,
        "period": _pick(rng, n, {"month": 70, "7d": 10, "14d": 10, "30d": 10}),
        "start": start,
        "first_due": first_due,
        "basis": _pick(rng, n, {"30/360": 50, "ACT/365": 25, "ACT/360": 10, "ACT/ACT": 10,
                                "ACT/364": 5}),
        "rounding": _pick(rng, n, {"half-up": 80, "half-even": 10, "down": 10}),
        "month_end": _pick(rng, n, {"clamp": 70, "month-end": 30}),
        "service_fee_rate": pl.Series(_decimal_text(rng, n, 0.01, 0.12)).zip_with(
            pl.Series(fee_rated), pl.Series(["0"])),
        "service_fee_fixed": np.where(rng.random(n) < 0.2, rng.choice([500, 1000, 2000], n), 0),
    }).cast(INPUT_SCHEMA)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="call it this many times; 'seconds' is the first (cold) call")
    args = parser.parse_args()
    loans = portfolio(args.loans, args.seed)
    runs = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        built = build_schedules_traced(loans)
        runs.append(time.perf_counter() - began)
    print(json.dumps({
        "loans": loans.height,
        "instalments": built.schedules.height,
        "seconds": round(runs[0], 3),
        "loans_per_s": round(loans.height / runs[0]),
        "exact_fallbacks": built.exact_fallbacks,
        "runs": [round(r, 3) for r in runs],
        "seed": args.seed,
        "polars": pl.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
