"""``arrears simulate`` writes a lender to a folder, refuses to mix runs, names bad config."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.cli.cli_helpers import flat, invoke, ok_json


def test_simulate_writes_the_files_and_reports_them(tmp_path: Path) -> None:
    out = tmp_path / "lender"
    body = ok_json("simulate", "--out", str(out), "--borrowers", "150", "--days", "40",
                   "--seed", "4", "--policy", "none", "--start", "2025-05-01")
    assert body["counts"]["borrowers"] == 150 and body["policy"] == "none"
    loans = pl.read_csv(body["files"]["loans"], infer_schema=False)
    assert loans.height == body["counts"]["loans"] > 100
    assert loans["disbursed_on"].min() >= "2025-05-01"  # type: ignore[operator]
    assert (out / "truth" / "borrower_months.parquet").is_file()
    again = invoke("simulate", "--out", str(out), "--borrowers", "10", "--days", "3")
    assert again.exit_code == 2 and "--overwrite" in flat(again.output)
    replaced = ok_json("simulate", "--out", str(out), "--borrowers", "10", "--days", "3",
                       "--overwrite", "--no-daily")
    assert replaced["counts"]["borrowers"] == 10 and not (out / "days").exists()


def test_simulate_never_replaces_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    r = invoke("simulate", "--out", str(tmp_path), "--days", "2", "--overwrite")
    assert r.exit_code == 2 and (tmp_path / "notes.txt").is_file()


def test_a_bad_config_file_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("response:\n  early_window_days: 99\n", encoding="utf-8")
    r = invoke("simulate", "--out", str(tmp_path / "x"), "--config", str(cfg))
    assert r.exit_code == 2 and "response.early_window_days" in flat(r.output)
