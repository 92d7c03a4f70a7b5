"""Benchmark: one end-of-day over a synthetic book (issue 3: 1M loans ≤ 6 s, 10M ≤ 60 s and
≤ 12 GB peak, local engine).

    python bench/bench_eod.py --loans 1000000 [--changed 0.01] [--seed 1] [--keep DIR]
    python bench/bench_eod.py --run-only DIR --day 2     # another night, on the kept book

The book is generated (not timed) as end-of-day finds it: a columnar mirror of N loans (method
and term mix of a consumer lender, disbursed over the past year, schedules exact, every
instalment due before the business date paid on its due date except for ~3 % of loans that
stopped paying one to six instalments ago) plus a SQLite database. Two nights are run, each
in a fresh process after a share of the loans (``--changed``, spread over the id range) were
booked again that day, so the run must fetch them and put them in the mirror: the first
night (no snapshot of the day before; ``first_night_seconds``) and the next one, the steady
state every later night is like (``seconds``: yesterday's snapshot in place, quiet loans
carried over). Timed is ``run_eod`` — the mirror sync, every step, the snapshot partition
and the totals — and the peak memory is that process's maximum resident set. Prints one JSON line.

``--engine spark [--master local[2]]`` runs the same day on Apache Spark (``arrears[spark]``):
the session is started before the clock (its start-up is reported as ``spark_start_seconds``),
``seconds`` is ``run_eod`` on it; ``peak_gb`` is the driver's Python process and
``spark_peak_gb`` the sum of the peaks of its child processes (the JVM with the local
executors, the Python workers) — an upper bound, as they do not all peak at once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from arrears.book.vector import build_schedules
from arrears.book.vector_engine import LINE_SCHEMA, LOAN_SCHEMA
from arrears.eod.compact import compact
from arrears.settings import Settings
from arrears.store.db import make_engine, migrate
from arrears.store.mirror import CHUNK_LOANS, FORMAT, MANIFEST, Chunk, write_chunk

AS_OF = date(2026, 6, 30)


def _pick(rng: np.random.Generator, n: int, values: list[object], p: list[float]) -> np.ndarray:
    return np.array(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def terms_frame(n: int, seed: int, offset: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed * 1_000_003 + offset)
    term = rng.choice([1, 3, 6, 12, 24], size=n, p=[0.1, 0.2, 0.3, 0.3, 0.1])
    method = np.where(term == 1, "bullet", _pick(
        rng, n, ["equal-instalment", "equal-principal", "interest-first"], [0.6, 0.25, 0.15]))
    # disbursed over the past year (longer loans further back on average)
    back = rng.integers(1, 366, size=n)
    start = pl.Series(np.datetime64(AS_OF) - back.astype("timedelta64[D]")).cast(pl.Date)
    rate = rng.integers(900, 2400, size=n)  # 9.00 % … 23.99 %
    return pl.DataFrame({
        "loan_id": pl.Series([f"L{i:08d}" for i in range(offset, offset + n)]),
        "principal": rng.integers(50, 5000, size=n) * 10_000,
        "annual_rate": pl.Series(rate).cast(pl.String).str.zfill(4).map_elements(
            lambda s: f"0.{s}", return_dtype=pl.String),
        "method": method, "term_count": pl.Series(term, dtype=pl.Int32),
        "period": "month", "start": start, "first_due": pl.Series([None] * n, dtype=pl.Date),
        "basis": "30/360", "rounding": "half-up", "month_end": "clamp",
        "service_fee_rate": "0", "service_fee_fixed": 0,
    })


def book_frames(n: int, seed: int, offset: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The mirror's (loans, lines) as the book would hold them on ``AS_OF`` − 1: loans
    ``L{offset:08d}`` onwards."""
    t = terms_frame(n, seed, offset)
    sched = build_schedules(t)
    rng = np.random.default_rng(seed * 1_000_003 + offset + 1)
    # how many instalments before the business date each loan has left unpaid
    arrears = np.where(rng.random(n) < 0.03, rng.integers(1, 7, size=n), 0)
    due = sched.with_columns(k=pl.col("n").rank("ordinal").over("loan_id")).join(
        pl.DataFrame({"loan_id": t["loan_id"], "behind": arrears}), on="loan_id")
    past = due.filter(pl.col("due_on") < AS_OF).group_by("loan_id").agg(
        pl.col("due_on").sort().alias("dues"))
    paid_to = past.select("loan_id", pl.col("dues").list.len().alias("n_past"),
                          "dues").join(pl.DataFrame({"loan_id": t["loan_id"],
                                                     "behind": arrears}), on="loan_id")
    paid_to = paid_to.with_columns(paid=pl.max_horizontal(pl.col("n_past") - pl.col("behind"),
                                                          0)).with_columns(
        through=pl.when(pl.col("paid") > 0).then(
            pl.col("dues").list.get(pl.col("paid") - 1, null_on_oob=True)))
    lines = due.join(paid_to.select("loan_id", "through"), on="loan_id", how="left")
    settled = pl.col("due_on") <= pl.col("through").fill_null(date(1970, 1, 1))
    zero = pl.lit(0, pl.Int64)
    lines = lines.with_columns(
        seq=pl.col("n"), charged_principal=pl.col("principal"),
        charged_interest=pl.when(settled).then(pl.col("interest")).otherwise(zero),
        charged_fee=pl.when(settled).then(pl.col("fee")).otherwise(zero),
        charged_penalty=zero,
    ).with_columns(
        paid_principal=pl.when(settled).then(pl.col("principal")).otherwise(zero),
        paid_interest=pl.col("charged_interest"), paid_fee=pl.col("charged_fee"),
        paid_penalty=zero,
        **{f"{m}_{c}": zero for m in ("waived", "written_off")
           for c in ("fee", "penalty", "interest", "principal")},
        pending_penalty=zero, grace_done=pl.lit(False), live=pl.lit(True),
    ).select(list(LINE_SCHEMA)).cast(LINE_SCHEMA).sort("loan_id", "due_on", "seq")
    state = lines.group_by("loan_id").agg(
        (pl.col("charged_interest") == pl.col("interest")).all().alias("done"),
        pl.len().alias("count")).join(paid_to.select("loan_id", "through"), on="loan_id",
                                      how="left")
    loans = t.join(state, on="loan_id").select(
        "loan_id", currency=pl.lit("CNY"), principal="principal", annual_rate="annual_rate",
        repayment_method="method", term_count="term_count", period="period",
        disbursed_on="start", first_due_on="first_due", basis="basis", rounding="rounding",
        month_end="month_end", upfront_fee=zero, service_fee_rate=pl.lit("0"),
        service_fee_fixed=zero, late_fee_fixed=zero, late_fee_rate=pl.lit("0"),
        penalty_rate_multiplier=pl.lit("1.5"), penalty_rate=pl.lit(None, pl.String),
        penalty_on_interest=pl.lit(False), grace_days=pl.lit(3, pl.Int32),
        grace_penalty=pl.lit("retroactive"), dpd_grace=pl.lit("threshold"),
        waterfall=pl.lit("fee,penalty,interest,principal"),
        allocation_scope=pl.lit("instalment-first"), overpayment=pl.lit("credit"),
        status=pl.when(pl.col("done")).then(pl.lit("closed")).otherwise(pl.lit("active")),
        accrued_through=pl.col("through").fill_null(pl.col("start")),
        credit=zero, recovered=zero,
        closed_on=pl.when(pl.col("done")).then(pl.col("through")),
        next_seq=(pl.col("count") + 1).cast(pl.Int32),
    ).cast(LOAN_SCHEMA).sort("loan_id")
    extra = loans.select(
        "loan_id", journal_n=pl.lit(1, pl.Int32), event_n=pl.lit(0, pl.Int32),
        last_event_on=pl.lit(None, pl.Date), last_event_at=pl.lit(None, pl.Datetime("us")),
        version=pl.lit(1, pl.Int64),
        borrower_id=pl.format("B{}", pl.col("loan_id").str.slice(1)),
        product_code=pl.lit("cash-12"), lender_type=pl.lit("consumer-finance"),
        contract_signed_on=pl.col("disbursed_on"),
        last_payment_on=pl.col("accrued_through"))
    return loans.join(extra, on="loan_id"), lines


def generate(home: Path, n: int, seed: int) -> dict[str, float]:
    """The mirror of ``n`` loans and an empty, migrated database beside it."""
    t0 = time.perf_counter()
    mirror = home / "mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    chunks, full_lines, open_lines, behind = [], 0, 0, 0
    for i, offset in enumerate(range(0, n, CHUNK_LOANS)):  # a chunk at a time, as the mirror
        loans, lines = book_frames(min(CHUNK_LOANS, n - offset), seed, offset)
        full_lines += lines.height
        # compacted as a mirror built the night before holds it
        loans, lines = compact(loans, lines, AS_OF)
        open_lines += lines.height
        behind += lines.filter(pl.col("due_on") < AS_OF)["loan_id"].n_unique()  # unpaid
        first = "" if i == 0 else loans["loan_id"][0]
        c = write_chunk(mirror, Chunk(f"c{i:05d}", first, loans.height, lines.height),
                        loans, lines)
        chunks.append({"name": c.name, "first": c.first, "loans": c.loans, "lines": c.lines,
                       "delta": 0})
        del loans, lines
    (mirror / MANIFEST).write_text(json.dumps({"format": FORMAT, "horizon": AS_OF.isoformat(),
                                               "chunks": chunks}))
    migrate(make_engine(f"sqlite:///{home / 'arrears.db'}"))
    return {"lines": full_lines, "open_lines": open_lines,
            "generate_seconds": round(time.perf_counter() - t0, 2),
            "overdue_share": round(behind / n, 4)}


def book_changes(home: Path, n: int, share: float, seed: int, night: int) -> int:
    """Book ``share`` of the loans into the database again, as a day's changes are: every
    write is logged in loan_changes, so end-of-day must fetch these loans and put them in the
    mirror. The loans are spread over the whole id range (every chunk gets its share), a
    different set each ``night``."""
    k = int(n * share)
    if not k:
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_ingest import write_book  # type: ignore[import-not-found]

    from arrears.services.ingest import ingest_paths

    folder = home / f"changes-{night}"
    folder.mkdir(exist_ok=True)
    b, lo, _ = write_book(folder, k, 0, seed + night)
    stride = n // k
    # the booked ids follow the mirror's L######## pattern, spread over it
    pl.read_csv(lo).with_columns(loan_id=pl.format("L{}", (
        pl.col("loan_id").str.slice(1).cast(pl.Int64) * stride + night * 7919 % stride)
        .cast(pl.String).str.zfill(8))).write_csv(lo)
    url = f"sqlite:///{home / 'arrears.db'}"
    ingest_paths([b, lo], make_engine(url), Settings(home=home, database_url=url),
                 datetime(2026, 6, 29))
    return k


def run(home: Path, engine: str, master: str, offset: int = 0) -> None:
    from contextlib import nullcontext

    from arrears.services.eod import run_eod
    from arrears.services.eod_spark import session

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'arrears.db'}")
    db = make_engine(settings.database_url)
    t = time.perf_counter()
    with session(master) if engine == "spark" else nullcontext():
        t0 = time.perf_counter()
        r = run_eod(db, settings, AS_OF + timedelta(days=offset), datetime(2026, 7, 1),
                    allow_gap=True, engine=engine, master=master)
        t1 = time.perf_counter()
        children = _children_peak_kb()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spark = ({"spark_start_seconds": round(t0 - t, 2), "master": master,
              "spark_peak_gb": round(children / 2**20, 2)} if engine == "spark" else {})
    print(json.dumps({"seconds": round(t1 - t0, 2), "loans": r.loans, "carried": r.carried,
                      "mirror_changed": r.mirror_changed, "digest": r.digest,
                      "peak_gb": round(peak_kb / 2**20, 2), **spark}))


def _children_peak_kb() -> int:
    """The summed peak resident sets (VmHWM) of this process's descendants (Linux)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    mine, total = {os.getpid()}, 0
    for pid in sorted(parent):  # children have higher ids than their parents here
        if parent[pid] in mine:
            mine.add(pid)
            try:
                status = (Path("/proc") / str(pid) / "status").read_text()
            except OSError:
                continue
            total += next((int(line.split()[1]) for line in status.splitlines()
                           if line.startswith("VmHWM:")), 0)
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="workspace to keep (else a temp)")
    ap.add_argument("--engine", choices=["local", "spark"], default="local")
    ap.add_argument("--master", default="local[2]", help="Spark master (with --engine spark)")
    ap.add_argument("--run-only", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--day", type=int, default=0,
                    help="with --run-only: run the business date this many days after the "
                         "book's (2 after the bench's two nights: the next one)")
    a = ap.parse_args()
    if a.run_only:
        run(a.run_only, a.engine, a.master, a.day)
        return
    home = a.keep or Path(tempfile.mkdtemp(prefix="arrears-eod-bench-"))
    made = generate(home, a.loans, a.seed)

    def night(day: int) -> dict[str, object]:
        changed = book_changes(home, a.loans, a.changed, a.seed, day)
        out = subprocess.run([sys.executable, __file__, "--run-only", str(home), "--engine",
                              a.engine, "--master", a.master, "--day", str(day)], check=True,
                             capture_output=True, text=True)
        return {"changed_loans": changed, **json.loads(out.stdout.strip().splitlines()[-1])}

    # the first night has no snapshot of the day before: every loan is computed. The next
    # night is the steady state measured: yesterday's snapshot in place, the day's changes
    # booked, quiet loans carried over. Spark computes every loan every night: its first
    # night is its measure.
    first = night(0)
    timed = night(1) if a.engine == "local" else first
    print(json.dumps({
        "bench": f"eod-{a.engine}", "loans": a.loans, **made, **timed,
        "first_night_seconds": first["seconds"], "first_night_peak_gb": first["peak_gb"],
        "loans_per_s": round(int(str(timed["loans"])) / float(str(timed["seconds"]))),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(), "polars": pl.__version__,
        "date": date.today().isoformat(),  # noqa: DTZ011 - benchmark record, not logic
    }))


if __name__ == "__main__":
    main()
