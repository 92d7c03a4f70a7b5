"""Benchmark: the columnar loan engine on a synthetic book (``book.vector_engine``).

    python bench/bench_vector_engine.py --loans 200000 --payments 5 --advance-loans 1000000

Prints one JSON line and writes nothing. Timed: ``post_payments`` of P payments on each of N
freshly disbursed loans, and ``advance`` of a mid-life book of M loans by one day; building
the frames is not timed. The book: 12 monthly instalments (等额本息, 等额本金, 先息后本),
schedules from ``vector.build_schedules``; grace 0–3 days, both grace rules, late fees,
compound penalty for some, both allocation scopes, mostly the credit policy. Payments: most
on the due date and exact; some late, partial, over (a credit, or a reschedule for the
reduce-term/instalment loans: the scalar fallback) or settling the loan.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date, timedelta

import numpy as np
import polars as pl

from arrears.book.vector import INPUT_SCHEMA, build_schedules
from arrears.book.vector_engine import LINE_SCHEMA, LOAN_SCHEMA, advance, post_payments

START = date(2024, 1, 1)


def _pick(rng: np.random.Generator, n: int, weights: dict[str, float]) -> pl.Series:
    p = np.array(list(weights.values()))
    return pl.Series(np.array(list(weights))[rng.choice(len(p), size=n, p=p / p.sum())])


def _rate_text(rng: np.random.Generator, n: int, low: int, high: int) -> pl.Series:
    """Rates as 4-decimal texts between low and high basis points (e.g. "0.1825")."""
    units = pl.Series(rng.integers(low, high + 1, size=n))
    return pl.select(pl.lit("0.") + units.cast(pl.String).str.zfill(4)).to_series()


def book(n: int, seed: int, spread_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """N newly disbursed loans (``LOAN_SCHEMA``, ``LINE_SCHEMA``), starts over spread_days."""
    rng = np.random.default_rng(seed)
    ids = pl.Series("loan_id", np.char.add("L", np.char.zfill(np.arange(n).astype(str), 8)))
    start = np.datetime64(START) + rng.integers(0, spread_days, size=n)
    terms = pl.DataFrame({
        "loan_id": ids,
        "principal": np.exp(rng.uniform(np.log(1_000), np.log(100_000), n)).astype(np.int64) * 100,
        "annual_rate": _rate_text(rng, n, 700, 2400),
        "method": _pick(rng, n, {"equal-instalment": 65, "equal-principal": 20,
                                 "interest-first": 15}),
        "term_count": np.full(n, 12), "period": pl.Series(["month"] * n), "start": start,
        "first_due": pl.Series([None] * n, dtype=pl.Date),
        "basis": _pick(rng, n, {"30/360": 70, "ACT/365": 20, "ACT/360": 10}),
        "rounding": _pick(rng, n, {"half-up": 90, "half-even": 10}),
        "month_end": pl.Series(["clamp"] * n),
        "service_fee_rate": _pick(rng, n, {"0": 80, "0.06": 20}),
        "service_fee_fixed": np.where(rng.random(n) < 0.2, 500, 0),
    }).cast(INPUT_SCHEMA)  # type: ignore[arg-type]
    lines = build_schedules(terms)
    loans = terms.select(
        "loan_id", currency=pl.lit("CNY"), principal="principal", annual_rate="annual_rate",
        repayment_method="method", term_count="term_count", period="period",
        disbursed_on="start", first_due_on="first_due", basis="basis", rounding="rounding",
        month_end="month_end", upfront_fee=pl.lit(0), service_fee_rate="service_fee_rate",
        service_fee_fixed="service_fee_fixed",
        late_fee_fixed=pl.Series(np.where(rng.random(n) < 0.5, 2_000, 0)),
        late_fee_rate=_pick(rng, n, {"0": 70, "0.05": 30}),
        penalty_rate_multiplier=_pick(rng, n, {"1.5": 80, "1.3": 20}),
        penalty_rate=pl.lit(None, pl.String),
        penalty_on_interest=pl.Series(rng.random(n) < 0.3),
        grace_days=pl.Series(rng.choice([0, 0, 1, 3], size=n)),
        grace_penalty=_pick(rng, n, {"retroactive": 80, "forgiven": 20}),
        dpd_grace=pl.lit("threshold"),
        waterfall=_pick(rng, n, {"fee,penalty,interest,principal": 80,
                                 "penalty,interest,principal,fee": 20}),
        allocation_scope=_pick(rng, n, {"instalment-first": 85, "component-first": 15}),
        overpayment=_pick(rng, n, {"credit": 90, "reduce-term": 7, "reduce-instalment": 3}),
        status=pl.lit("active"), accrued_through="start", credit=pl.lit(0),
        recovered=pl.lit(0), closed_on=pl.lit(None, pl.Date), next_seq=pl.lit(13),
    ).cast(LOAN_SCHEMA)  # type: ignore[arg-type]
    zero = pl.lit(0, pl.Int64)
    lines = lines.select(
        "loan_id", seq="n", n="n", start_on="start_on", due_on="due_on", principal="principal",
        interest="interest", fee="fee",
        **{f"{m}_{c}": (pl.col("principal") if (m, c) == ("charged", "principal") else zero)
           for m in ("charged", "paid", "waived", "written_off")
           for c in ("fee", "penalty", "interest", "principal")},
        pending_penalty=zero, grace_done=pl.lit(False), live=pl.lit(True),
    ).cast(LINE_SCHEMA)  # type: ignore[arg-type]
    return loans, lines


def payments(lines: pl.DataFrame, per_loan: int, seed: int) -> pl.DataFrame:
    """The first ``per_loan`` instalments of each loan paid: 85 % on the due date and exact,
    8 % up to 20 days late, 4 % partial, 2 % over, 1 % the whole loan."""
    due = lines.filter(pl.col("n") <= per_loan)
    rng = np.random.default_rng(seed)
    roll = rng.random(due.height)
    total = (due["principal"] + due["interest"] + due["fee"]).to_numpy()
    late = np.where((roll >= 0.85) & (roll < 0.93), rng.integers(1, 21, due.height), 0)
    amount = np.select(
        [roll < 0.93, roll < 0.97, roll < 0.99],
        [total, total * rng.integers(50, 91, due.height) // 100,
         total + total * rng.integers(10, 51, due.height) // 100],
        10 * total)
    return pl.DataFrame({
        "loan_id": due["loan_id"],
        "event_id": due["loan_id"] + "-P" + due["n"].cast(pl.String),
        "value_date": (due["due_on"].to_physical() + pl.Series(late)).cast(pl.Int32).cast(pl.Date),
        "amount": amount, "at": pl.Series([None] * due.height, dtype=pl.Datetime("us")),
    })


def mid_life(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, date]:
    """A book as of a day in its life: lines due so far charged and paid, except for 8 % of
    loans with one to three instalments unpaid (penalty accruing); repaid loans closed."""
    loans, lines = book(n, seed, 365)
    as_of = START + timedelta(days=400)
    rng = np.random.default_rng(seed + 1)
    bad_loan = pl.Series(rng.random(n) < 0.08)
    missed = pl.Series(rng.integers(1, 4, n))
    due = pl.col("due_on") <= as_of
    flags = pl.DataFrame({"loan_id": loans["loan_id"], "bad": bad_loan, "missed": missed})
    lines = lines.join(flags, on="loan_id", how="left", maintain_order="left").with_columns(
        last_due=pl.col("n").filter(due).max().over("loan_id").fill_null(0))
    unpaid = pl.col("bad") & (pl.col("n") > pl.col("last_due") - pl.col("missed"))
    days_late = (pl.lit(as_of) - pl.col("due_on")).dt.total_days()
    penalty = pl.when(due & unpaid).then(pl.col("principal") * days_late * 7 // 10_000)
    lines = lines.with_columns(
        charged_interest=pl.when(due).then("interest").otherwise(0),
        charged_fee=pl.when(due).then("fee").otherwise(0),
        charged_penalty=penalty.otherwise(0),
        grace_done=due & (days_late > 3),
    ).with_columns(**{
        f"paid_{c}": pl.when(due & ~unpaid).then(f"charged_{c}").otherwise(0)
        for c in ("fee", "penalty", "interest", "principal")})
    settled = lines.group_by("loan_id").agg(
        done=(pl.col("due_on") <= as_of).all() & ~pl.col("bad").first())
    loans = loans.join(settled, on="loan_id", maintain_order="left").with_columns(
        status=pl.when("done").then(pl.lit("closed")).otherwise(pl.lit("active")),
        closed_on=pl.when("done").then(pl.lit(as_of)),
        accrued_through=pl.lit(as_of)).drop("done").cast(LOAN_SCHEMA)  # type: ignore[arg-type]
    return loans, lines.select(list(LINE_SCHEMA)), as_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--payments", type=int, default=5)
    parser.add_argument("--advance-loans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    loans, lines = book(args.loans, args.seed, 365)
    pays = payments(lines, args.payments, args.seed).sort("loan_id", "value_date")
    began = time.perf_counter()
    posted = post_payments(loans, lines, pays)
    post_s = time.perf_counter() - began
    del loans, lines

    big_loans, big_lines, as_of = mid_life(args.advance_loans, args.seed)
    began = time.perf_counter()
    moved = advance(big_loans, big_lines, as_of + timedelta(days=1))
    advance_s = time.perf_counter() - began
    print(json.dumps({
        "loans": args.loans, "payments": pays.height, "seconds": round(post_s, 3),
        "payments_per_s": round(pays.height / post_s), "fallbacks": posted.fallbacks,
        "scalar_payments": posted.scalar_payments,
        "rejected": posted.rejected.height, "entries": posted.entries.height,
        "advance_loans": args.advance_loans, "advance_lines": big_lines.height,
        "advance_seconds": round(advance_s, 3), "advance_entries": moved.entries.height,
        "seed": args.seed, "polars": pl.__version__, "numpy": np.__version__,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
