"""The end-of-day mirror in chunks (SQLite and PostgreSQL): built from the book, kept from the
change log, equal to a fresh build whatever the chunking, new loans in their chunk."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from arrears.services.operations import post_payment
from arrears.store import mirror as mirror_module
from arrears.store.mirror import MANIFEST, Mirror, sync
from tests.services.booking_helpers import book

NOW = datetime(2026, 1, 1)
D = date.fromisoformat


def frames(m: Mirror) -> tuple[pl.DataFrame, pl.DataFrame]:
    return m.loans.drop("version"), m.lines


@pytest.mark.parametrize("delta_share", [0.1, 10.0])
def test_chunks_follow_the_change_log(db: Engine, tmp_path: Path, delta_share: float,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.1: every change folds into the base (tiny chunks); 10: changes stay in the deltas
    monkeypatch.setattr(mirror_module, "DELTA_SHARE", delta_share)
    for i in (2, 4, 6, 8, 9):
        book(db, f"L{i}", D("2025-01-10"))
    folder = tmp_path / "mirror"
    m = sync(db, folder, D("2025-03-01"), chunk_loans=2)
    assert m.rebuilt and [c.first for c in m.chunks] == ["", "L6", "L9"]
    assert [c.loans for c in m.chunks] == [2, 2, 1]
    assert sync(db, folder, D("2025-03-01"), chunk_loans=2).changed == 0
    post_payment(db, "P2", "L2", 102_000, datetime(2025, 2, 10, 9), "bank", "t", NOW)
    post_payment(db, "P8", "L8", 102_000, datetime(2025, 2, 10, 9), "bank", "t", NOW)
    book(db, "L1", D("2025-01-12"))  # before every chunk's first id: into the first chunk
    book(db, "L7", D("2025-01-12"))  # between: into the second
    m = sync(db, folder, D("2025-03-01"), chunk_loans=2)
    assert m.changed == 4 and not m.rebuilt
    assert [c.loans for c in m.chunks] == [3, 3, 1]
    assert [c.delta for c in m.chunks] == ([0, 0, 0] if delta_share < 1 else [2, 2, 0])
    assert [c.lines for c in m.chunks] == [m.load(c)[1].height for c in m.chunks]
    loans, lines = frames(m)
    assert loans["loan_id"].to_list() == ["L1", "L2", "L4", "L6", "L7", "L8", "L9"]
    for size in (2, 3, 100):
        fresh = sync(db, tmp_path / f"fresh-{size}", D("2025-03-01"), rebuild=True,
                     chunk_loans=size)
        f_loans, f_lines = frames(fresh)
        assert f_loans.equals(loans) and f_lines.equals(lines), size
    paid = loans.filter(pl.col("loan_id") == "L2")["last_payment_on"][0]
    assert paid == D("2025-02-10")


def test_a_lost_manifest_rebuilds(db: Engine, tmp_path: Path) -> None:
    book(db, "L1", D("2025-01-10"))
    folder = tmp_path / "mirror"
    sync(db, folder, D("2025-03-01"))
    (folder / MANIFEST).unlink()
    post_payment(db, "P1", "L1", 102_000, datetime(2025, 2, 10, 9), "bank", "t", NOW)
    m = sync(db, folder, D("2025-03-01"))
    assert m.rebuilt and m.loans["last_payment_on"][0] == D("2025-02-10")


def test_a_chunk_view_reads_what_load_gives(db: Engine, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Base and delta read in parts (columns, some loans' rows, lines by position) agree with
    the chunk loaded whole — the delta's loans replacing the base's and added between them."""
    monkeypatch.setattr(mirror_module, "DELTA_SHARE", 10.0)
    for i in (2, 4, 6, 8):
        book(db, f"L{i}", D("2025-01-10"))
    folder = tmp_path / "mirror"
    sync(db, folder, D("2025-03-01"))
    post_payment(db, "P4", "L4", 102_000, datetime(2025, 2, 10, 9), "bank", "t", NOW)
    for i in (1, 5, 9):
        book(db, f"L{i}", D("2025-01-12"))
    m = sync(db, folder, D("2025-03-01"))
    (c,) = m.chunks
    assert c.delta == 4
    loans, lines = m.load(c)
    view = m.view(c)
    assert view.height == loans.height == 7
    assert view.loans(["loan_id", "version"]).equals(loans.select("loan_id", "version"))
    per_line, row = view.per_line(["loan_id", "due_on"])
    assert per_line["loan_id"].to_list() == loans["loan_id"].gather(row).to_list()
    assert per_line.sort("loan_id", "due_on", maintain_order=True).equals(
        lines.select("loan_id", "due_on"))
    for pick in ([0, 1, 0, 1, 1, 0, 1], [1] * 7, [0] * 7, [1, 0, 0, 0, 0, 0, 0]):
        take = np.array(pick, dtype=np.bool_)
        some_loans, some_lines = view.rows(take)
        want = loans.filter(pl.Series(take))
        assert some_loans.equals(want)
        assert some_lines.equals(lines.filter(pl.col("loan_id").is_in(want["loan_id"].implode())))
