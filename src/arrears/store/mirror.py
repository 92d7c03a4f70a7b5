"""The columnar mirror of the loan book that end-of-day reads.

The database stays the source of truth. The mirror is two Arrow IPC files in
``<ARREARS_HOME>/mirror/`` (uncompressed: written and read at memory speed; it is a cache, not
an archive) — ``loans.arrow`` (terms, engine state and the few facts reports
need, one row per loan) and ``lines.arrow`` (the sub-ledger lines) — brought up to date from
``loan_changes``: every write of a loan's state logs the loan there in its own transaction,
and ``sync`` takes the log and deletes it in one statement (``DELETE … RETURNING``), re-reads
just those loans, and replaces their rows in the mirror.

Crash safety: the log rows are deleted in the same transaction that is committed only after
the new files are in place (written beside and renamed), so a crash before the commit leaves
the log as it was and the next sync re-applies it — replacing a loan's rows is idempotent. A
mirror that is missing or whose manifest disagrees with its files is rebuilt from the book.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from arrears.store.arrow_io import Bulk, bulk
from arrears.store.state_frames import read_state

EXTRA_COLUMNS = ("borrower_id", "product_code", "lender_type", "contract_signed_on")
"""``loans`` columns the mirror keeps besides the engine's terms and state."""

LOANS_FILE, LINES_FILE, MANIFEST = "loans.arrow", "lines.arrow", "manifest.json"


@dataclass(frozen=True, slots=True)
class Mirror:
    """The book as frames: ``loans`` sorted by loan_id (engine terms and state, ``version``,
    ``EXTRA_COLUMNS`` and ``last_payment_on``), ``lines`` sorted by loan_id, due_on, seq."""

    loans: pl.DataFrame
    lines: pl.DataFrame
    changed: int  # loans re-read from the book by this sync
    rebuilt: bool  # the whole book was read


def sync(engine: Engine, folder: Path, rebuild: bool = False) -> Mirror:
    """Bring the mirror in ``folder`` up to date with the book and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    with bulk(engine, write=True) as b:
        changed = b.read("DELETE FROM loan_changes RETURNING loan_id")["loan_id"].unique()
        old = None if rebuild else _load(folder)
        if old is None:
            return _rebuilt(b, folder)
        if changed.is_empty():
            return Mirror(old[0], old[1], 0, False)
        fresh_loans, fresh_lines = _read(b, changed)
        if fresh_loans.columns != old[0].columns or fresh_lines.columns != old[1].columns:
            return _rebuilt(b, folder)  # written by another version of the mirror
        gone = changed.implode()
        # both sides are sorted and hold disjoint loans: a merge keeps each loan's lines
        # together and in order, without sorting the whole book again
        loans = old[0].filter(~pl.col("loan_id").is_in(gone)).merge_sorted(
            fresh_loans.cast(old[0].schema).sort("loan_id"), key="loan_id")
        lines = old[1].filter(~pl.col("loan_id").is_in(gone)).merge_sorted(
            fresh_lines.cast(old[1].schema), key="loan_id")
        mirror = Mirror(loans, lines, changed.len(), False)
        _store(folder, mirror)
    return mirror


def _rebuilt(b: Bulk, folder: Path) -> Mirror:
    loans, lines = _read(b, None)
    mirror = Mirror(loans, lines, loans.height, True)
    _store(folder, mirror)
    return mirror


def _read(b: Bulk, ids: pl.Series | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    loans, lines = read_state(b, ids, EXTRA_COLUMNS)
    paid = _last_payments(b, ids)
    loans = loans.join(paid, on="loan_id", how="left")
    return loans, lines


def _last_payments(b: Bulk, ids: pl.Series | None) -> pl.DataFrame:
    """The value date of each loan's latest effective payment (an interruption of the
    limitation period, Civil Code Art. 195)."""
    sql = ("SELECT loan_id, MAX(value_date) AS last_payment_on FROM loan_events "
           "WHERE kind = 'payment' AND status = 'effective'")
    want = {"loan_id": pl.String(), "last_payment_on": pl.Date()}
    if ids is None:
        return b.read(f"{sql} GROUP BY loan_id", schema=want)
    tmp = b.stage(pl.DataFrame({"loan_id": ids}))
    try:
        return b.read(f"{sql} AND loan_id IN (SELECT loan_id FROM {tmp}) GROUP BY loan_id",
                      schema=want)
    finally:
        b.drop(tmp)


def _load(folder: Path) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        loans = pl.read_ipc(folder / LOANS_FILE)
        lines = pl.read_ipc(folder / LINES_FILE)
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    if manifest != {"loans": loans.height, "lines": lines.height}:
        return None
    return loans, lines


def _store(folder: Path, m: Mirror) -> None:
    # the manifest goes first (removed), the files are replaced, the manifest written last:
    # a crash in between leaves no manifest, so the next sync rebuilds
    (folder / MANIFEST).unlink(missing_ok=True)
    for name, frame in ((LOANS_FILE, m.loans), (LINES_FILE, m.lines)):
        tmp = folder / f".{name}.tmp"
        frame.write_ipc(tmp, compression="uncompressed")
        os.replace(tmp, folder / name)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"loans": m.loans.height, "lines": m.lines.height}))
    os.replace(tmp, folder / MANIFEST)
