"""Benchmark: all-in APR and legal cap checks for a synthetic portfolio (``book.vector_caps``).

    python bench/bench_vector_caps.py --loans 200000 --seed 1 [--repeat 3]

Prints one JSON line and writes nothing. Timed: ``all_in_rates_traced`` + ``cap_checks`` (the
CN pack); the schedules they read are built first by ``build_schedules`` and timed apart
(``schedule_seconds``). The book: mixed methods and periods, 1–36 terms, ~20 % broken first
periods (XIRR), ~30 % with an upfront fee of 1–10 %, ~30 % with a service fee, lenders of
every type, contracts signed 2023–2025 (several LPR fixings). ``scalar_ms_per_loan`` is
``check_cost_cap`` on a sample of the same loans, for comparison.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np
import polars as pl

from arrears.book.caps import check_cost_cap
from arrears.book.terms import LenderType
from arrears.book.vector import INPUT_SCHEMA, build_schedules
from arrears.book.vector_caps import LOAN_SCHEMA, _terms, all_in_rates_traced, cap_checks
from arrears.rules import load_pack


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
    """A realistic mix of consumer loans (mainland online lending) with lender and signing date."""
    rng = np.random.default_rng(seed)
    common = rng.choice([3, 6, 12, 24, 36], size=n)
    terms = np.where(rng.random(n) < 0.7, common, rng.integers(1, 37, size=n))
    principal = np.exp(rng.uniform(np.log(500), np.log(200_000), size=n)).astype(np.int64) * 100
    start = np.datetime64(date(2023, 1, 1)) + rng.integers(0, 3 * 365, size=n)
    method = _pick(rng, n, {"equal-instalment": 55, "equal-principal": 15,
                            "interest-first": 15, "bullet": 15})
    period = _pick(rng, n, {"month": 70, "7d": 10, "14d": 10, "30d": 10})
    # a fixed repayment day: the first due 5–45 days on; a bullet's one due date near the end
    # of its term (a period of ~30 or N days, give or take ten days)
    days = period.str.strip_suffix("d").cast(pl.Int64, strict=False).fill_null(30).to_numpy()
    span = np.where(method == "bullet", days * terms + rng.integers(-10, 11, size=n),
                    rng.integers(5, 46, size=n))
    first_due = np.where(rng.random(n) < 0.2, start + np.maximum(span, 1), np.datetime64("NaT"))
    fee_rated = rng.random(n) < 0.3
    upfront = np.where(rng.random(n) < 0.3, principal * rng.integers(1, 11, size=n) // 100, 0)
    return pl.DataFrame({
        "loan_id": pl.Series(np.char.add("L", np.arange(n).astype(str))).shuffle(seed),
        "principal": principal,
        "annual_rate": _decimal_text(rng, n, 0.072, 0.24).zip_with(
            pl.Series(rng.random(n) < 0.85), _decimal_text(rng, n, 0.24, 0.36)),
        "method": method,
        "term_count": terms,
        "period": period,
        "start": start,
        "first_due": first_due,
        "basis": _pick(rng, n, {"30/360": 50, "ACT/365": 25, "ACT/360": 10, "ACT/ACT": 10,
                                "ACT/364": 5}),
        "rounding": _pick(rng, n, {"half-up": 80, "half-even": 10, "down": 10}),
        "month_end": _pick(rng, n, {"clamp": 70, "month-end": 30}),
        "service_fee_rate": pl.Series(_decimal_text(rng, n, 0.01, 0.12)).zip_with(
            pl.Series(fee_rated), pl.Series(["0"])),
        "service_fee_fixed": np.where(rng.random(n) < 0.2, rng.choice([500, 1000, 2000], n), 0),
        "upfront_fee": upfront,
        "lender_type": _pick(rng, n, {"consumer-finance": 40, "microloan": 30, "bank": 15,
                                      "licensed": 5, "private": 5, "p2p": 3, "individual": 2}),
        "contract_signed_on": start - rng.integers(0, 3, size=n),
    }).cast({**LOAN_SCHEMA, "contract_signed_on": pl.Date})  # type: ignore[dict-item]


def _scalar_ms(loans: pl.DataFrame, sample: int) -> float:
    pack = load_pack("CN")
    rows = loans.head(sample).rows(named=True)
    began = time.perf_counter()
    for row in rows:
        check_cost_cap(_terms(row), LenderType(row["lender_type"]), row["contract_signed_on"],
                       pack)
    return (time.perf_counter() - began) / len(rows) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="call it this many times; 'seconds' is the first (cold) call")
    parser.add_argument("--scalar-sample", type=int, default=300)
    args = parser.parse_args()
    loans = portfolio(args.loans, args.seed)
    pack = load_pack("CN")
    began = time.perf_counter()
    schedules = build_schedules(loans.select(list(INPUT_SCHEMA)))
    schedule_seconds = time.perf_counter() - began
    runs = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        rates = all_in_rates_traced(loans, schedules)
        checks = cap_checks(loans, rates.rates, pack)
        runs.append(time.perf_counter() - began)
    print(json.dumps({
        "loans": loans.height,
        "instalments": schedules.height,
        "seconds": round(runs[0], 3),
        "loans_per_s": round(loans.height / runs[0]),
        "exact_fallbacks": rates.exact_fallbacks,
        "over_cap": checks.filter(pl.col("cap_excess") != "0").height,
        "schedule_seconds": round(schedule_seconds, 3),
        "scalar_ms_per_loan": round(_scalar_ms(loans, args.scalar_sample), 3),
        "runs": [round(r, 3) for r in runs],
        "seed": args.seed,
        "polars": pl.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
