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
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from arrears.eod.compact import compact
from arrears.store.arrow_io import Bulk, bulk
from arrears.store.state_frames import read_state

EXTRA_COLUMNS = ("borrower_id", "product_code", "lender_type", "contract_signed_on")
"""``loans`` columns the mirror keeps besides the engine's terms and state."""

LOANS_FILE, LINES_FILE, MANIFEST = "loans.arrow", "lines.arrow", "manifest.json"


@dataclass(frozen=True, slots=True)
class Mirror:
    """The book as frames: ``loans`` sorted by loan_id (engine terms and state, ``version``,
    ``EXTRA_COLUMNS``, ``last_payment_on`` and the settled totals of ``eod.compact``),
    ``lines`` (the open ones) sorted by loan_id, due_on, seq."""

    loans: pl.DataFrame
    lines: pl.DataFrame
    changed: int  # loans re-read from the book by this sync
    rebuilt: bool  # the whole book was read


RECOMPACT_DAYS = 28
"""After this many days past the horizon, the whole mirror folds its settled lines again."""


def sync(engine: Engine, folder: Path, as_of: date, rebuild: bool = False) -> Mirror:
    """Bring the mirror in ``folder`` up to date with the book and return it, compacted for
    business dates on or after its horizon (``eod.compact``); a date before the horizon, or
    ``rebuild``, reads the whole book again."""
    folder.mkdir(parents=True, exist_ok=True)
    with bulk(engine, write=True) as b:
        changed = b.read("DELETE FROM loan_changes RETURNING loan_id")["loan_id"].unique()
        old = None if rebuild else _load(folder)
        if old is None or as_of < old[2]:
            return _rebuilt(b, folder, as_of)
        loans, lines, horizon = old
        if not changed.is_empty():
            fresh_loans, fresh_lines = _read(b, changed)
            fresh_loans, fresh_lines = compact(fresh_loans, fresh_lines, horizon)
            if fresh_loans.columns != loans.columns or fresh_lines.columns != lines.columns:
                return _rebuilt(b, folder, as_of)  # written by another version of the mirror
            gone = changed.implode()
            # both sides are sorted and hold disjoint loans: a merge keeps each loan's lines
            # together and in order, without sorting the whole book again
            loans = loans.filter(~pl.col("loan_id").is_in(gone)).merge_sorted(
                fresh_loans.cast(loans.schema).sort("loan_id"), key="loan_id")
            lines = lines.filter(~pl.col("loan_id").is_in(gone)).merge_sorted(
                fresh_lines.cast(lines.schema), key="loan_id")
        elif (as_of - horizon).days < RECOMPACT_DAYS:
            return Mirror(loans, lines, 0, False)
        if (as_of - horizon).days >= RECOMPACT_DAYS:
            (loans, lines), horizon = compact(loans, lines, as_of), as_of
        mirror = Mirror(loans, lines, changed.len(), False)
        _store(folder, mirror, horizon)
    return mirror


def _rebuilt(b: Bulk, folder: Path, as_of: date) -> Mirror:
    loans, lines = compact(*_read(b, None), as_of)
    mirror = Mirror(loans, lines, loans.height, True)
    _store(folder, mirror, as_of)
    return mirror


def _read(b: Bulk, ids: pl.Series | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    loans, lines = read_state(b, ids, EXTRA_COLUMNS)
    paid = _last_payments(b, ids)
    loans = loans.join(paid, on="loan_id", how="left", maintain_order="left")
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


def _load(folder: Path) -> tuple[pl.DataFrame, pl.DataFrame, date] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        loans = pl.read_ipc(folder / LOANS_FILE)
        lines = pl.read_ipc(folder / LINES_FILE)
        horizon = date.fromisoformat(manifest["horizon"])
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError):
        return None
    if (manifest.get("loans"), manifest.get("lines")) != (loans.height, lines.height):
        return None
    return loans, lines, horizon


def _store(folder: Path, m: Mirror, horizon: date) -> None:
    # the manifest goes first (removed), the files are replaced, the manifest written last:
    # a crash in between leaves no manifest, so the next sync rebuilds
    (folder / MANIFEST).unlink(missing_ok=True)
    for name, frame in ((LOANS_FILE, m.loans), (LINES_FILE, m.lines)):
        tmp = folder / f".{name}.tmp"
        frame.write_ipc(tmp, compression="uncompressed")
        os.replace(tmp, folder / name)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"loans": m.loans.height, "lines": m.lines.height,
                               "horizon": horizon.isoformat()}))
    os.replace(tmp, folder / MANIFEST)
