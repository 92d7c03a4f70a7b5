"""Writing a simulation to a folder: the ingestion contract's files, contact outcomes, the
lender's application data, and — apart — the ground truth.

    borrowers.csv  loans.csv  payments.csv     the ingestion data contract
    contact_outcomes.parquet                   delivery receipts and outcomes (not ingested)
    borrower_profiles.parquet                  application data: credit features, contacts
    days/YYYY-MM-DD/{loans,payments}.csv       each day's new rows (``daily=True``)
    days/YYYY-MM-DD/contact_outcomes.csv
    truth/borrower_months.parquet              latent state — never read by the platform
    truth/loan_months.parquet
    truth/instalments.parquet                  every instalment and the day it was cleared
    manifest.json                              seed, sizes, config digest, counts

Same seed, sizes, policy and config: byte-identical files (nothing records the wall clock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

import polars as pl
import pyarrow.parquet as pq

from arrears.sim.actions import Policy
from arrears.sim.config import SimConfig, load_config
from arrears.sim.records import empty_contacts
from arrears.sim.simulation import SimDay, Simulation

Progress = Callable[[str, int, int], None]  # (label, done, total)


@dataclass(frozen=True, slots=True)
class SimFiles:
    folder: Path
    borrowers: Path
    loans: Path
    payments: Path
    contacts: Path
    profiles: Path
    truth_borrowers: Path
    truth_loans: Path
    truth_instalments: Path
    manifest: Path
    daily: Path | None
    counts: dict[str, int]

    def day_folder(self, day: date) -> Path | None:
        """The folder of one day's files (None unless written with ``daily=True``)."""
        return None if self.daily is None else self.daily / day.isoformat()

    @property
    def contract(self) -> list[Path]:
        """The files ``arrears ingest`` takes, in dependency order."""
        return [self.borrowers, self.loans, self.payments]


def config_digest(cfg: SimConfig) -> str:
    text = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class _Appender:
    """One CSV written a day at a time (header once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._f: IO[bytes] = path.open("wb")

    def add(self, frame: pl.DataFrame) -> None:
        if self._f.tell() == 0:
            frame.write_csv(self._f, include_header=True)
        elif frame.height:
            frame.write_csv(self._f, include_header=False)
        self.rows += frame.height

    def close(self) -> None:
        self._f.close()


def write_simulation(folder: Path, config: SimConfig | None = None, *, seed: int = 1,
                     borrowers: int = 20_000, start: date = date(2025, 7, 1), days: int = 365,
                     policy: Policy | None = None, daily: bool = True,
                     progress: Progress | None = None) -> SimFiles:
    """Simulate and write every file of the layout above into ``folder`` (created)."""
    cfg = config if config is not None else load_config()
    sim = Simulation(cfg, seed=seed, borrowers=borrowers, start=start, days=days,
                     policy=policy)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "truth").mkdir(exist_ok=True)
    people = sim.borrowers()
    people.write_csv(folder / "borrowers.csv")
    sim.profiles().write_parquet(folder / "borrower_profiles.parquet")
    loans, payments = _Appender(folder / "loans.csv"), _Appender(folder / "payments.csv")
    contacts_path = folder / "contact_outcomes.parquet"
    writer: pq.ParquetWriter | None = None
    n_contacts = 0
    try:
        for k, day in enumerate(sim):
            loans.add(day.loans)
            payments.add(day.payments)
            if day.contacts.height:
                table = day.contacts.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(contacts_path, table.schema, compression="zstd")
                writer.write_table(table)
                n_contacts += day.contacts.height
            if daily:
                _write_day(folder / "days", day)
            if progress:
                progress("days", k + 1, days)
    finally:
        loans.close()
        payments.close()
        if writer is not None:
            writer.close()
    if writer is None:
        empty_contacts().write_parquet(contacts_path)
    bm, lm = sim.ground_truth()
    bm.write_parquet(folder / "truth" / "borrower_months.parquet")
    lm.write_parquet(folder / "truth" / "loan_months.parquet")
    sim.instalments().write_parquet(folder / "truth" / "instalments.parquet")
    counts = {"borrowers": people.height, "loans": loans.rows, "payments": payments.rows,
              "contacts": n_contacts, "candidate_loans": sim.loans_total}
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({
        "generator": "arrears simulate", "seed": seed, "borrowers": borrowers,
        "start": start.isoformat(), "days": days, "policy": sim.policy.name,
        "config_sha256": config_digest(cfg), "daily": daily, "counts": counts,
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return SimFiles(folder, folder / "borrowers.csv", loans.path, payments.path,
                    contacts_path, folder / "borrower_profiles.parquet",
                    folder / "truth" / "borrower_months.parquet",
                    folder / "truth" / "loan_months.parquet",
                    folder / "truth" / "instalments.parquet", manifest,
                    folder / "days" if daily else None, counts)


def _write_day(root: Path, day: SimDay) -> None:
    parts = (("loans.csv", day.loans), ("payments.csv", day.payments),
             ("contact_outcomes.csv", day.contacts))
    if not any(f.height for _, f in parts):
        return
    where = root / day.day.isoformat()
    where.mkdir(parents=True, exist_ok=True)
    for name, frame in parts:
        if frame.height:
            frame.write_csv(where / name)
