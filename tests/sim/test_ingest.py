"""A simulated lender's files go through the real ingestion path (SQLite) without a single
quarantined row — all at once, and day by day from the daily folders — and the loan book then
sees every loan exactly where the simulator left it: same days past due, same closed loans."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from arrears.services.ingest import ingest_paths
from arrears.services.loan_caps import cap_frame
from arrears.settings import Settings
from arrears.sim import write_simulation
from arrears.sim.files import SimFiles
from arrears.store.db import make_engine, migrate
from arrears.store.loans import load_engines

START, DAYS = date(2025, 9, 1), 150
NOW = datetime(2026, 2, 1, 9, 0)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SimFiles:
    return write_simulation(tmp_path_factory.mktemp("sim") / "out", seed=5, borrowers=500,
                            start=START, days=DAYS)


def _book(tmp: Path) -> tuple[Engine, Settings]:
    engine = make_engine(f"sqlite:///{tmp / 'book.db'}")
    migrate(engine)
    return engine, Settings(home=tmp / "ws", database_url=engine.url.render_as_string(False))


def test_every_row_ingests_and_the_book_agrees_with_the_ground_truth(
        files: SimFiles, tmp_path: Path) -> None:
    engine, settings = _book(tmp_path)
    reports = ingest_paths(files.contract, engine, settings, NOW, cap_check=cap_frame(settings))
    assert [(r.kind, r.rows_quarantined) for r in reports] == [
        ("borrowers", 0), ("loans", 0), ("payments", 0)], [r.problems for r in reports]
    assert [r.rows_new for r in reports] == [r.rows_total for r in reports]
    assert reports[1].rows_total == files.counts["loans"] > 400
    last = START + timedelta(days=DAYS - 1)
    truth = pl.read_parquet(files.truth_loans).filter(pl.col("month") == last)
    with engine.connect() as conn:
        loaded = load_engines(conn, truth["loan_id"].to_list())
    seen = {}
    for loan_id, got in loaded.items():
        eng = got.engine
        eng.advance_to(last)
        seen[loan_id] = (eng.dpd(last), eng.status.value == "closed")
    expected = {r["loan_id"]: (r["dpd"], r["status"] == "closed")
                for r in truth.iter_rows(named=True)}
    assert seen == expected
    assert sum(1 for dpd, _ in expected.values() if dpd > 0) > 5  # there is something to see


def test_the_daily_folders_ingest_day_by_day(files: SimFiles, tmp_path: Path) -> None:
    engine, settings = _book(tmp_path)
    assert files.daily is not None
    (b,) = ingest_paths([files.borrowers], engine, settings, NOW)
    assert b.rows_quarantined == 0
    loans = payments = 0
    for k in range(24):
        folder = files.day_folder(START + timedelta(days=k))
        assert folder is not None
        paths = [p for p in (folder / "loans.csv", folder / "payments.csv") if p.exists()]
        for r in ingest_paths(paths, engine, settings, NOW) if paths else []:
            assert r.rows_quarantined == 0, r.problems
            loans += r.rows_new if r.kind == "loans" else 0
            payments += r.rows_new if r.kind == "payments" else 0
    assert loans > 20 and payments > 2
