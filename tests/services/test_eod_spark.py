"""The Spark engine equals the local one, and both equal the single-loan view: a random book
of a few hundred loans in a real SQLite database (payments early, on time, late, partial, over
and paying off; waivers, reversals, write-offs), end-of-day for a backfill and a current day
with each engine, snapshots identical to the byte, every loan equal to ``loan_as_of``.

One Spark session (local[2]) serves the module: starting Spark costs about ten seconds, and
``eod_spark.session`` reuses a session already running, as a backfill does."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyspark.sql import SparkSession
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from arrears.book.schedule import build_schedule
from arrears.book.terms import Component, Method
from arrears.book.vector_engine import frames_from_engines
from arrears.cli.main import app
from arrears.eod.compact import compact
from arrears.eod.snapshot import SNAPSHOT_SCHEMA, conform
from arrears.eod.steps import DEFAULT_ORDER, run_steps, start
from arrears.rules.pack import load_pack
from arrears.services import eod_spark
from arrears.services.eod import EodResult, day_rules, partition, run_eod
from arrears.services.ingest import ingest_paths
from arrears.services.operations import (
    OperationError,
    loan_as_of,
    reverse,
    waive,
    write_off,
)
from arrears.settings import Settings, load_settings
from arrears.store import mirror as mirror_module
from arrears.store import schema
from arrears.store.db import get_engine, make_engine, migrate
from tests.book.test_vector_engine import Pay, fresh, scalar_post, terms
from tests.services.test_ingest import BORROWERS, write_csv

NOW = datetime(2026, 3, 1, 20)
D = date.fromisoformat
LOANS = 400
CURED_ON = D("2025-06-16")  # loan CURE clears its arrears that day, loan PAYOFF settles
LATE = D("2027-03-01")  # after every event: nothing is replayed
COMPONENT = {"fee": Component.FEE, "penalty": Component.PENALTY,
             "interest": Component.INTEREST, "principal": Component.PRINCIPAL}

runner = CliRunner()


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    with eod_spark.session("local[2]") as s:
        yield s


# ---------------------------------------------------------------- a random book

LOAN_HEADER = ["loan_id", "borrower_id", "lender_type", "principal", "currency", "annual_rate",
               "repayment_method", "term_count", "period", "disbursed_on",
               "contract_signed_on", "upfront_fee", "penalty_rate_multiplier", "grace_days",
               "dpd_grace", "overpayment", "allocation_scope", "late_fee_fixed",
               "late_fee_rate", "penalty_on_interest", "grace_penalty", "service_fee_rate"]
PAY_HEADER = ["payment_id", "loan_id", "amount", "paid_at", "channel"]


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _loan(rng: random.Random, i: int, pays: list[list[str]]) -> list[str]:
    method = rng.choice(["equal-instalment", "equal-principal", "interest-first", "bullet"])
    period = rng.choice(["month", "month", "14d", "2m"]) if method != "bullet" else "30d"
    terms = 1 if method == "bullet" else rng.randint(2, 9)
    step = {"month": 30, "14d": 14, "2m": 61, "30d": 30}[period]
    start = D("2025-01-01") + timedelta(days=rng.randint(0, 200))
    principal = rng.randint(20, 800) * 10_000
    rate = rng.choice(["0.0", "0.12", "0.18", "0.24", "0.3599"])
    loan_id = f"L{i:04d}"
    # how this borrower pays: a share of the instalments, early, on time or late, in part,
    # in full or over; some pay off early, some stop
    due = principal // terms + principal * 2 // 100
    habit = rng.choice(["prompt", "late", "partial", "over", "payoff", "stops", "none"])
    paid_to = terms if habit != "stops" else rng.randint(0, terms - 1)
    for k in range(1, (0 if habit == "none" else paid_to) + 1):
        shift = {"prompt": rng.randint(-5, 0), "late": rng.randint(1, 75)}.get(
            habit, rng.randint(-3, 20))
        amount = {"partial": due * rng.randint(2, 9) // 10, "over": due * 2,
                  "payoff": 2 * principal}.get(habit, due + rng.randint(0, 3_000))
        at = datetime.combine(start + timedelta(days=k * step + shift), datetime.min.time())
        pays.append([f"P{i}-{k}", loan_id, _yuan(amount),
                     (at + timedelta(hours=9 + k % 8)).isoformat(sep=" "), "bank"])
        if habit == "payoff":
            break
    return [loan_id, "B1", rng.choice(["bank", "consumer-finance", "microloan", "private"]),
            _yuan(principal), "CNY", rate, method, str(terms), period, start.isoformat(),
            start.isoformat(), rng.choice(["0", "0", _yuan(principal // 50)]),
            rng.choice(["1.5", "1.3"]), str(rng.choice([0, 0, 3, 5])),
            rng.choice(["threshold", "subtract"]),
            rng.choice(["credit", "credit", "reduce-term", "reduce-instalment"]),
            rng.choice(["instalment-first", "component-first"]),
            rng.choice(["0", "20.00"]), rng.choice(["0", "0", "0.05"]),
            rng.choice(["true", "false"]), rng.choice(["retroactive", "forgiven"]),
            rng.choice(["0", "0", "0.06"])]


def _named(start: str, loan_id: str) -> list[str]:
    return [loan_id, "B1", "consumer-finance", "3000.00", "CNY", "0.18", "equal-instalment",
            "3", "month", start, start, "0", "1.5", "0", "threshold", "credit",
            "instalment-first", "10.00", "0", "false", "retroactive", "0"]


def book_a_portfolio(db: Engine, tmp: Path, seed: int = 20261123) -> dict[str, int]:
    """Book ``LOANS`` random loans and their payments through ingestion, then waivers,
    reversals and write-offs through their services; how many of each were posted."""
    rng = random.Random(seed)
    pays = [PAY_HEADER]
    loans = [LOAN_HEADER, *(_loan(rng, i, pays) for i in range(LOANS)),
             _named("2025-04-01", "CURE"), _named("2025-04-01", "PAYOFF")]
    at = f"{CURED_ON} 10:00:00"
    pays += [["CURE-1", "CURE", "2500.00", at, "bank"],  # both overdue instalments, in credit
             ["PAYOFF-1", "PAYOFF", "6000.00", at, "bank"]]
    files = [write_csv(tmp / "borrowers.csv", BORROWERS[:2]),
             write_csv(tmp / "loans.csv", loans), write_csv(tmp / "payments.csv", pays)]
    settings = Settings(tmp / "ingest", str(db.url))
    reports = {r.kind: r for r in ingest_paths(files, db, settings, NOW)}
    assert reports["loans"].ok and reports["loans"].rows_new == LOANS + 2
    assert reports["payments"].rows_new > LOANS  # a payment after a payoff is refused
    done = {"waivers": 0, "reversals": 0, "write-offs": 0}
    ids = [f"L{i:04d}" for i in range(LOANS)]
    ev = schema.loan_events
    with db.connect() as c:
        paid = sorted((r.event_id, r.value_date) for r in c.execute(
            select(ev.c.event_id, ev.c.value_date).where(ev.c.kind == "payment",
                                                         ev.c.loan_id.like("L%"))))
    for n, loan_id in enumerate(rng.sample(ids, 30)):
        try:
            waive(db, f"W{n}", loan_id, rng.choice([Component.PENALTY, Component.INTEREST]),
                  None, D("2025-05-20") + timedelta(days=rng.randint(0, 120)), "goodwill",
                  "test", NOW)
            done["waivers"] += 1
        except OperationError:
            pass  # nothing of that component owed that day
    for n, (payment_id, paid_on) in enumerate(rng.sample(paid, 25)):
        reverse(db, payment_id, f"R{n}", paid_on + timedelta(days=rng.randint(0, 10)),
                "bounced", "test", NOW)
        done["reversals"] += 1
    for n, loan_id in enumerate(rng.sample(ids, 15)):
        try:
            write_off(db, f"X{n}", loan_id, D("2025-07-01") + timedelta(days=rng.randint(0, 150)),
                      "uncollectable", "test", NOW)
            done["write-offs"] += 1
        except OperationError:
            pass  # closed by then
    return done


# ---------------------------------------------------------------- the differential

KEYS = ("status", "outstanding_total", "principal_not_due", "accrued_interest", "accrued_fee",
        "pending_penalty", "credit", "recovered", "past_due_days", "dpd", "oldest_unpaid_due",
        "next_due_on", "next_due_amount", "payoff", "closed_on", "paid_total", "waived_total",
        "written_off_total")


def assert_equals_loan_as_of(db: Engine, frame: pl.DataFrame, as_of: date) -> None:
    for r in frame.iter_rows(named=True):
        s = loan_as_of(db, r["loan_id"], as_of)
        want: dict[str, Any] = {
            "status": s.status.value, "outstanding_total": s.outstanding_total,
            "principal_not_due": s.principal_not_due, "accrued_interest": s.accrued_interest,
            "accrued_fee": s.accrued_fee, "pending_penalty": s.pending_penalty,
            "credit": s.credit, "recovered": s.recovered, "past_due_days": s.past_due_days,
            "dpd": s.dpd, "oldest_unpaid_due": s.oldest_unpaid_due,
            "next_due_on": s.next_due_on, "next_due_amount": s.next_due_amount,
            "payoff": s.payoff, "closed_on": s.closed_on, "paid_total": sum(s.paid.values()),
            "waived_total": sum(s.waived.values()),
            "written_off_total": sum(s.written_off.values()),
            **{f"outstanding_{c}": s.outstanding[k] for c, k in COMPONENT.items()},
            **{f"overdue_{c}": s.overdue[k] for c, k in COMPONENT.items()},
        }
        have = {k: r[k] for k in want}
        assert have == want, (r["loan_id"], as_of,
                              {k: (have[k], want[k]) for k in want if have[k] != want[k]})


def engines_of_runs(db: Engine) -> dict[date, str]:
    t = schema.eod_runs
    with db.connect() as c:
        return {r.as_of: r.engine for r in c.execute(select(t.c.as_of, t.c.engine))}


def test_spark_local_and_the_single_loan_view_agree(spark: SparkSession, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_module, "CHUNK_LOANS", 150)  # three chunks of the mirror
    db = make_engine(f"sqlite:///{tmp_path / 'book.db'}")
    migrate(db)
    done = book_a_portfolio(db, tmp_path)
    assert min(done.values()) >= 5, done  # the book has each kind of event, several times
    local = Settings(tmp_path / "local", str(db.url))
    cluster = Settings(tmp_path / "spark", str(db.url))
    # a backfill of two days (loans paid since are replayed to each) and a later day on
    # the mirror as it stands; the second backfill day reads the first day's stages
    days = [CURED_ON - timedelta(days=1), CURED_ON, LATE]
    for d in days:
        mine: EodResult = run_eod(db, local, d, NOW, allow_gap=True)
        steps: list[str] = []
        theirs = run_eod(db, cluster, d, NOW, allow_gap=True, engine="spark",
                         on_step=steps.append)
        assert engines_of_runs(db)[d] == "spark" and len(steps) == 8
        assert len(list(theirs.path.glob("part-*.parquet"))) == 3  # a part per chunk
        a, b = (pl.read_parquet(partition(s, d) / "*.parquet") for s in (local, cluster))
        assert theirs.digest == mine.digest, d
        assert b.equals(a) and theirs.loans == mine.loans == a.height
        assert theirs.summary.equals(mine.summary) and theirs.replayed == mine.replayed
        assert_equals_loan_as_of(db, b, d)
        if d == CURED_ON:
            assert theirs.replayed > 100  # most loans had paid since: told as they stood
            by = {r["loan_id"]: r["stage"] for r in b.select("loan_id", "stage").iter_rows(
                named=True)}
            assert (by["CURE"], by["PAYOFF"]) == ("cured", "settled")
        if d == LATE:
            assert theirs.replayed == 0
            stages = set(b["stage"])
            assert {"overdue", "closed", "written-off"} <= stages, stages
            assert b["write_off_candidate"].any() and (b["credit"] > 0).any()
    # how the book is cut makes no difference
    spark.conf.set(eod_spark.PARTS_CONF, "3")
    try:
        again = run_eod(db, cluster, LATE, NOW, allow_gap=True, engine="spark")
    finally:
        spark.conf.unset(eod_spark.PARTS_CONF)
    assert again.digest == mine.digest


# ---------------------------------------------------------------- pieces and the command


def test_the_partition_key_is_crc32_of_the_loan_id() -> None:
    rng = random.Random(7)
    ids = ["".join(rng.choice("L0123456789-借据号x") for _ in range(rng.randint(0, 24)))
           for _ in range(3_000)]
    series = pl.Series(ids)[3:]  # a slice: the Arrow array starts at an offset
    assert eod_spark.crc32(series).tolist() == [zlib.crc32(i.encode()) for i in ids[3:]]


def test_the_executor_s_arrow_matches_the_declared_spark_schema(spark: SparkSession) -> None:
    declared = spark.createDataFrame([], eod_spark.SPARK_ROWS_DDL).schema
    from pyspark.sql.pandas.types import to_arrow_schema

    assert to_arrow_schema(declared, prefers_large_types=False) == eod_spark.ARROW_ROWS


def test_parts_without_lines_and_an_empty_book(spark: SparkSession, tmp_path: Path) -> None:
    # loans that paid every instalment on its due date fold whole into their settled
    # totals: no open lines, so their parts meet nothing on the lines side
    book = fresh({"A": terms(term_count=3), "B": terms(principal=500_000, method=Method.BULLET,
                                                       term_count=1)})
    scalar_post(book, [Pay(i, f"{i}-{k.n}", k.due_on, k.total) for i, e in book.items()
                       for k in build_schedule(e.terms).instalments])
    day = D("2025-06-01")
    loans, lines = compact(*frames_from_engines(book), day)
    loans = loans.with_columns(borrower_id=pl.lit("B1"), product_code=pl.lit(None, pl.String),
                               lender_type=pl.lit("bank"), contract_signed_on="disbursed_on",
                               last_payment_on=pl.lit(D("2025-04-15")),
                               version=pl.lit(1, pl.Int64))  # as the mirror holds them
    assert lines.is_empty() and loans.height == 2
    settings = Settings(tmp_path, "sqlite://")
    rules = day_rules(load_pack("CN"))
    for frames in ((loans, lines), (loans.clear(), lines)):
        local = run_steps(start(day, *frames, None, rules)).snap
        [there] = eod_spark.spark_snapshots(settings, day, [frames], [""], None, rules,
                                            DEFAULT_ORDER)
        assert conform(there).sort("loan_id").equals(conform(local).sort("loan_id"))
    assert set(conform(there).schema.items()) == set(SNAPSHOT_SCHEMA.items()) and not there.height
    assert not (tmp_path / "spark").exists() or not any((tmp_path / "spark").iterdir())


def test_the_command_runs_on_spark(spark: SparkSession, workspace_env: Path,
                                   tmp_path: Path) -> None:
    # the command's own engine: a second one open on the same SQLite file would not do (the
    # bulk path's SQLite library and Python's would each take the other's locks for theirs)
    settings = load_settings()
    db = get_engine(settings)
    rng = random.Random(3)
    pays = [PAY_HEADER]
    loans = [LOAN_HEADER, *(_loan(rng, i, pays) for i in range(40))]
    ingest_paths([write_csv(tmp_path / "b.csv", BORROWERS[:2]),
                  write_csv(tmp_path / "l.csv", loans), write_csv(tmp_path / "p.csv", pays)],
                 db, settings, NOW)
    out = {}
    for engine in ("spark", "local"):
        r = runner.invoke(app, ["eod", "--as-of", "2025-09-30", "--engine", engine, "--json",
                                "--allow-gap"])
        assert r.exit_code == 0, r.output
        out[engine] = json.loads(r.stdout)
        assert engines_of_runs(db)[D("2025-09-30")] == engine
    assert out["spark"]["loans"] == 40 and out["spark"]["digest"] == out["local"]["digest"]
    assert out["spark"]["buckets"] == out["local"]["buckets"]
    bad = runner.invoke(app, ["eod", "--as-of", "2025-10-01", "--engine", "hadoop"])
    assert bad.exit_code == 1 and "unknown engine 'hadoop'" in bad.output
