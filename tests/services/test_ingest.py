"""Ingestion through the real store: good rows kept, bad rows quarantined with file, row and
field, duplicates skipped, conflicts refused, every format read, re-runs change nothing."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from arrears.services.ingest import IngestError, ingest_paths
from arrears.services.reconcile import reconcile
from arrears.settings import Settings
from arrears.store import schema

NOW = datetime(2026, 1, 1, 9, 0)
BORROWERS = [
    ["borrower_id", "name", "id_number", "mobile", "province", "city", "address"],
    ["B1", "张三", "11010519491231002X", "13800138000", "浙江省", "杭州市", "西湖区文三路1号"],
    ["B2", "李四", "110105194912310021", "13800138001", "浙江省", "杭州市", "x"],  # check digit
]
LOANS = [
    ["loan_id", "borrower_id", "lender_type", "principal", "currency", "annual_rate",
     "repayment_method", "term_count", "period", "disbursed_on", "contract_signed_on",
     "upfront_fee", "penalty_rate_multiplier", "grace_days"],
    ["L1", "B1", "consumer-finance", "10000.00", "CNY", "0.18", "equal-instalment", "12",
     "month", "2025-01-15", "2025-01-15", "0", "1.5", "3"],
    ["L2", "B1", "private", "5000.00", "CNY", "0.12", "bullet", "1", "30d", "2025-02-01",
     "2025-02-01", "500.00", "1.5", "0"],
    ["L3", "B9", "private", "5000.00", "CNY", "0.12", "bullet", "1", "30d", "2025-02-01",
     "2025-02-01", "0", "1.5", "0"],  # unknown borrower
    ["L4", "B1", "bank", "-5", "CNY", "0.12", "bullet", "1", "30d", "2025-13-01",
     "2025-02-01", "0", "1.5", "0"],  # two bad fields
]
PAYMENTS = [
    ["payment_id", "loan_id", "amount", "paid_at", "channel"],
    ["P1", "L1", "916.80", "2025-02-15 10:00:00", "bank"],
    ["P2", "L1", "500.00", "2025-03-25 10:00:00", "bank"],
    ["P3", "L2", "5100", "2025-03-10", "alipay"],
    ["P4", "L9", "1", "2025-03-10", "alipay"],  # unknown loan
    ["P5", "L1", "100", "2024-01-01", "bank"],  # before the loan
    ["P1", "L1", "916.80", "2025-02-15 10:00:00", "bank"],  # same row again: duplicate
    ["P2", "L1", "999.00", "2025-03-25 10:00:00", "bank"],  # same id, other content
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows(rows)
    return path


def count(engine: Engine, table: schema.Table) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    return [write_csv(tmp_path / "payments.csv", PAYMENTS),
            write_csv(tmp_path / "loans.csv", LOANS),
            write_csv(tmp_path / "borrowers.csv", BORROWERS)]


def test_good_rows_are_kept_and_bad_rows_quarantined_with_row_and_field(
        db: Engine, settings: Settings, files: list[Path]) -> None:
    b, lo, p = ingest_paths(files, db, settings, NOW)  # dependency order, whatever was given
    assert (b.kind, b.rows_new, b.rows_quarantined) == ("borrowers", 1, 1)
    assert "row 2 (line 3): id_number: resident ID check digit does not match" in b.problems[0]
    assert "<masked>" in b.problems[0] and "110105194912310021" not in b.problems[0]
    assert (lo.rows_new, lo.rows_quarantined) == (2, 2)
    assert any("row 3 (line 4): borrower_id: unknown borrower B9" in m for m in lo.problems)
    bad = next(m for m in lo.problems if "row 4" in m)
    assert "principal: negative amount" in bad and "disbursed_on: not a date" in bad
    assert (p.rows_new, p.rows_duplicate, p.rows_quarantined) == (3, 1, 3)
    assert any("loan_id: unknown loan L9" in m for m in p.problems)
    assert any("before the loan started" in m for m in p.problems)
    assert any("P2 appears again with different content (first at row 2)" in m
               for m in p.problems)
    quarantine = pl.read_csv(p.quarantine_path or "", infer_schema=False)
    assert quarantine["payment_id"].to_list() == ["P4", "P5", "P2"]
    assert set(quarantine.columns) >= {"_row", "_field", "_reason"}
    assert count(db, schema.loan_events) == 3
    with db.connect() as c:
        assert reconcile(c, replay_sample=None).ok


def test_running_the_same_files_again_changes_nothing(
        db: Engine, settings: Settings, files: list[Path]) -> None:
    ingest_paths(files, db, settings, NOW)
    journal = count(db, schema.journal)
    again = ingest_paths(files, db, settings, NOW)
    assert [r.rows_new for r in again] == [0, 0, 0]
    assert [r.rows_duplicate for r in again] == [1, 2, 4]
    assert count(db, schema.journal) == journal


def test_a_stored_id_with_new_content_is_a_conflict(db: Engine, settings: Settings,
                                                    files: list[Path], tmp_path: Path) -> None:
    ingest_paths(files, db, settings, NOW)
    changed = write_csv(tmp_path / "p2.csv", [PAYMENTS[0], ["P1", "L1", "1.00",
                                                            "2025-02-15 10:00:00", "bank"]])
    (rep,) = ingest_paths([changed], db, settings, NOW)
    assert rep.rows_quarantined == 1
    assert "payment_id P1 is already stored with different content" in rep.problems[0]


def test_parquet_jsonl_and_gb18030_csv_are_read(db: Engine, settings: Settings,
                                                tmp_path: Path) -> None:
    header, *rows = BORROWERS[:2]
    gbk = write_csv(tmp_path / "b.csv", [header, *rows], encoding="gb18030")
    frame = pl.DataFrame([dict(zip(LOANS[0], LOANS[1], strict=True))])
    frame.write_parquet(tmp_path / "l.parquet")
    pay = pl.DataFrame([dict(zip(PAYMENTS[0], PAYMENTS[1], strict=True))])
    pay.write_ndjson(tmp_path / "p.jsonl")
    reports = ingest_paths([tmp_path / "p.jsonl", tmp_path / "l.parquet", gbk], db, settings,
                           NOW)
    assert [r.rows_new for r in reports] == [1, 1, 1]
    with db.connect() as c:
        name = c.execute(select(schema.borrowers.c.name)).scalar_one()
    assert name == "张三"


def test_an_unknown_layout_is_refused_naming_the_file(db: Engine, settings: Settings,
                                                      tmp_path: Path) -> None:
    odd = write_csv(tmp_path / "odd.csv", [["a", "b"], ["1", "2"]])
    with pytest.raises(IngestError, match=r"odd\.csv: cannot tell"):
        ingest_paths([odd], db, settings, NOW)


def test_over_cap_loans_are_booked_and_flagged_with_the_excess(
        db: Engine, settings: Settings, files: list[Path]) -> None:
    from arrears.services.loan_caps import cap_frame

    _, lo, _ = ingest_paths(files, db, settings, NOW, cap_check=cap_frame(settings))
    assert lo.over_cap == 1  # L2: private, 12 % with a 10 % upfront fee over 30 days
    with db.connect() as c:
        row = c.execute(select(schema.loans.c.cap_excess, schema.loans.c.cap_basis,
                               schema.loans.c.cost_cap_rate)
                        .where(schema.loans.c.loan_id == "L2")).one()
    assert row.cap_excess > 0
    assert "LPR" in row.cap_basis
    assert str(row.cost_cap_rate) == "0.1240"  # 4 × the 3.10 % LPR in force on 2025-02-01


def test_a_payment_posted_by_hand_is_a_duplicate_when_a_file_sends_it_again(
        db: Engine, settings: Settings, files: list[Path], tmp_path: Path) -> None:
    from arrears.services.operations import post_payment

    ingest_paths(files[1:], db, settings, NOW)  # borrowers and loans only
    post_payment(db, "P1", "L1", 91_680, datetime(2025, 2, 15, 10), "bank", "clerk", NOW)
    (rep,) = ingest_paths([files[0]], db, settings, NOW)
    assert rep.rows_duplicate == 2  # P1 by hand, and P1 twice in the file
    assert not any("P1" in m and "different content" in m for m in rep.problems)


def test_fingerprints_agree_row_by_row() -> None:
    from arrears.contract.fingerprint import payment_fingerprint, payment_fingerprints

    rows = [("L1", 91_680, datetime(2025, 2, 15, 10, 0, 0, 5), "bank"),
            ("L" * 60, 1, datetime(2025, 1, 1), "a-very-long-channel-name")]
    frame = pl.DataFrame(rows, schema=["loan_id", "amount", "paid_at", "channel"],
                         orient="row")
    assert payment_fingerprints(frame).to_list() == [payment_fingerprint(*r) for r in rows]
    assert len(payment_fingerprint(*rows[1])) == 64  # hashed: the text would be too long
