"""Same seed and config, byte-identical files; another seed, another lender."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from arrears.sim import write_simulation


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_book(tmp_path: Path) -> None:
    kw = {"borrowers": 300, "start": date(2025, 4, 1), "days": 75}
    a = write_simulation(tmp_path / "a", seed=7, **kw)  # type: ignore[arg-type]
    b = write_simulation(tmp_path / "b", seed=7, **kw)  # type: ignore[arg-type]
    c = write_simulation(tmp_path / "c", seed=8, daily=False, **kw)  # type: ignore[arg-type]
    da, db = _digests(a.folder), _digests(b.folder)
    assert da == db
    assert {"borrowers.csv", "loans.csv", "payments.csv", "contact_outcomes.parquet",
            "borrower_profiles.parquet", "truth/borrower_months.parquet",
            "truth/loan_months.parquet", "truth/instalments.parquet", "manifest.json"} <= set(da)
    assert any(k.startswith("days/2025-04-") for k in da)
    assert _digests(c.folder)["payments.csv"] != da["payments.csv"]
    manifest = json.loads(a.manifest.read_text(encoding="utf-8"))
    assert manifest["seed"] == 7 and manifest["counts"]["payments"] == a.counts["payments"] > 0
