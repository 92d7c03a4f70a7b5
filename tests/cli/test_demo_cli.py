"""``arrears demo`` end to end, as a newcomer runs it: a small simulated lender through the
real command on the embedded SQLite, day by day; what it prints is checked against the
database, the snapshots and the simulator's own files. Then a second run refuses and
changes nothing, ``--fresh`` starts over, and a workspace holding someone's data is left
alone even with ``--fresh``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select
from tests.cli.cli_helpers import flat, invoke

from arrears.money import fmt
from arrears.services.demo import days_in_months
from arrears.services.reconcile import reconcile
from arrears.settings import load_settings
from arrears.store import schema
from arrears.store.db import get_engine

SIZE, MONTHS = "2000", "2"  # 61 days to the default date, 2026-05-01 … 2026-06-30
AS_OF = date(2026, 6, 30)


def _counts() -> dict[str, int]:
    db = get_engine(load_settings())
    with db.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in schema.metadata.sorted_tables}


def _files(home: Path) -> dict[str, tuple[int, int]]:
    """Every file of the workspace but SQLite's own (which merely opening the database may
    touch), with its size and modification time."""
    return {str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in home.rglob("*") if p.is_file() and ".db" not in p.name}


def _active(suffix: str = "") -> pl.Expr:
    """Still in the book (docs/reports.md): neither closed, settled nor written off."""
    return (~pl.col("status" + suffix).is_in(["closed", "written-off"])
            & ~pl.col("stage" + suffix).is_in(["closed", "settled", "written-off"]))


def _demo(*args: str) -> dict[str, Any]:
    result = invoke("demo", *args, "--json")
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_months_are_calendar_months_ending_on_the_date() -> None:
    assert days_in_months(date(2026, 6, 30), 12) == 365  # 2025-07-01 … 2026-06-30
    assert days_in_months(date(2026, 6, 30), 2) == 61
    assert days_in_months(date(2024, 3, 31), 1) == 31  # from the day after 2024-02-29


def test_the_demo_runs_the_platform_day_by_day(workspace_env: Path) -> None:
    body = _demo("--size", SIZE, "--months", MONTHS)
    sim = workspace_env / "demo" / "simulation"
    made = json.loads((sim / "manifest.json").read_text())["counts"]
    start = AS_OF - timedelta(days=60)
    assert (body["start"], body["as_of"], body["days"]) == (str(start), str(AS_OF), 61)

    # end-of-day ran once for every simulated day, each done
    db = get_engine(load_settings())
    with db.connect() as conn:
        runs = conn.execute(select(schema.eod_runs.c.as_of, schema.eod_runs.c.status)
                            .order_by(schema.eod_runs.c.as_of)).all()
        n_loans = conn.execute(select(func.count()).select_from(schema.loans)).scalar_one()
        quarantined = conn.execute(select(func.sum(schema.ingest_runs.c.rows_quarantined))
                                   ).scalar_one()
        assert reconcile(conn, replay_sample=200).ok
    assert runs == [(start + timedelta(days=i), "done") for i in range(61)]
    assert body["eod"]["replayed"] == 0  # no day saw a later day's data: nothing backfilled

    # the book holds what the simulator disbursed; every row ingested, none quarantined
    assert n_loans == made["loans"] == body["simulated"]["loans"] == body["loans"]
    ingest = {r["kind"]: r for r in body["ingest"]}
    for kind in ("borrowers", "loans", "payments"):
        assert ingest[kind]["rows"] == ingest[kind]["new"] == made[kind]
        assert ingest[kind]["quarantined"] == ingest[kind]["duplicate"] == 0
    assert quarantined == 0 and not (workspace_env / "quarantine").exists()

    # the summary is what the last snapshot says
    snap = pl.read_parquet(workspace_env / "snapshots" / f"as_of={AS_OF}" / "*.parquet")
    active = snap.filter(pl.col("status") == "active")
    assert body["eod"]["loans"] == snap.height == n_loans
    assert body["disbursed"] == fmt(int(snap["principal"].sum()))
    assert body["outstanding"] == fmt(int(active["outstanding_total"].sum()))
    by_bucket = {b: (n, fmt(int(o))) for b, n, o in active.group_by("bucket").agg(
        pl.len(), pl.col("outstanding_total").sum()).iter_rows()}
    assert {b["bucket"]: (b["loans"], b["outstanding"]) for b in body["buckets"]
            if b["loans"]} == by_bucket
    assert body["by_status"] == dict(snap.group_by("status").len().iter_rows())
    assert body["reconciled"] is True and body["reconcile_breaks"] == 0

    # roll rates: loans in a bucket at the end of May, and where they were at the end of June
    may = pl.read_parquet(workspace_env / "snapshots" / "as_of=2026-05-31" / "*.parquet")
    moved = may.filter(_active()).join(
        snap.select("loan_id", "status", "stage", to_rank="bucket_rank"), on="loan_id",
        suffix="_then")
    assert body["roll_rates"], "some loan rolled between the month-ends"
    for r in body["roll_rates"]:
        group = moved.filter(pl.col("bucket") == r["from"])
        rolled = group.filter((pl.col("to_rank") == pl.col("bucket_rank") + 1)
                              & _active("_then"))
        assert (r["from_loans"], r["loans"]) == (group.height, rolled.height)
        share = (Decimal(rolled.height) / group.height).quantize(Decimal("0.0001"),
                                                                  ROUND_HALF_UP)
        assert Decimal(r["loans_share"]) == share

    # the simulator's contact receipts, counted by channel
    receipts = pl.read_parquet(sim / "contact_outcomes.parquet")
    assert {c["channel"]: c["actions"] for c in body["contacts"]} == dict(
        receipts.group_by("channel").len().iter_rows())
    assert sum(c["actions"] for c in body["contacts"]) == made["contacts"]
    assert set(body["seconds"]) >= {"simulate", "ingest", "end_of_day", "summary", "total"}

    # a second run refuses, says why and what --fresh would do, and changes nothing
    before, files = _counts(), _files(workspace_env)
    again = invoke("demo", "--size", SIZE, "--months", MONTHS)
    assert again.exit_code == 1
    said = flat(again.output)
    assert "already holds a demo" in said and "--fresh" in said and "nothing was changed" in said
    assert _counts() == before and _files(workspace_env) == files


def test_fresh_starts_over_and_keeps_what_the_demo_did_not_make(workspace_env: Path) -> None:
    _demo("--size", "100", "--days", "3")
    mine = workspace_env / "rules" / "my-notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("keep me")
    body = _demo("--size", "50", "--days", "4", "--seed", "2", "--fresh")
    removed = {Path(p).name for p in body["removed"]}
    assert {"arrears.db", "mirror", "snapshots", "demo"} <= removed
    assert mine.read_text() == "keep me"
    counts = _counts()
    assert counts["eod_runs"] == 4 and counts["loans"] == body["simulated"]["loans"]
    assert counts["borrowers"] == 50
    with get_engine(load_settings()).connect() as conn:
        ids = conn.execute(select(schema.loans.c.loan_id)).scalars().all()
    assert all(i.startswith("S2-") for i in ids)  # only the new seed's loans


@pytest.mark.parametrize("fresh", [False, True])
def test_a_workspace_with_other_data_is_left_alone(workspace_env: Path, tmp_path: Path,
                                                   fresh: bool) -> None:
    people = tmp_path / "borrowers.csv"
    people.write_text("borrower_id,name,id_number,mobile,province,city,address\n"
                      "B1,张三,11010519491231002X,13800138000,浙江省,杭州市,文三路1号\n",
                      encoding="utf-8")
    assert invoke("ingest", str(people)).exit_code == 0
    before, files = _counts(), _files(workspace_env)
    result = invoke("demo", "--size", "50", "--days", "2", *(["--fresh"] if fresh else []))
    assert result.exit_code == 1
    said = flat(result.output)
    assert "did not make" in said and "1 row(s) in borrowers" in said
    assert _counts() == before and _files(workspace_env) == files
