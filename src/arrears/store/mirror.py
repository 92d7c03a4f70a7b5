"""The columnar mirror of the loan book that end-of-day reads.

The database stays the source of truth. The mirror is a set of chunks in
``<ARREARS_HOME>/mirror/``, each a contiguous range of loan ids held as two Arrow IPC files
(uncompressed: written and read at memory speed; it is a cache, not an archive) — the loans
(terms, engine state, the few facts reports need and the settled totals of ``eod.compact``) and
their open instalment lines — plus a manifest naming the chunks, their first ids and the
compaction horizon. End-of-day works a chunk at a time, so its memory is bounded by the chunk
size, not the book's.

The mirror is brought up to date from ``loan_changes``: every write of a loan's state logs the
loan there in its own transaction, and ``sync`` takes the log and deletes it in one statement
(``DELETE … RETURNING``), re-reads just those loans and replaces their rows in their chunks.

Crash safety: the log rows are deleted in the transaction that is committed only after the new
files are in place (written beside and renamed) and the manifest rewritten; the manifest is
removed before any chunk is touched. A crash before the commit leaves the log as it was, and
the next sync either re-applies it (replacing a loan's rows is idempotent) or, finding no
manifest, rebuilds the mirror from the book.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from arrears.eod.compact import compact
from arrears.store.arrow_io import Bulk, bulk
from arrears.store.state_frames import read_range, read_state

EXTRA_COLUMNS = ("borrower_id", "product_code", "lender_type", "contract_signed_on")
"""``loans`` columns the mirror keeps besides the engine's terms and state."""

MANIFEST = "manifest.json"
FORMAT = 2
"""The manifest's ``format``: a mirror of another form (2 added ``busy_from``) is rebuilt."""
CHUNK_LOANS = 1_000_000
"""Loans per chunk when the mirror is built (end-of-day's unit of work and of memory)."""
RECOMPACT_DAYS = 28
"""After this many days past the horizon, every chunk folds its settled lines again."""


@dataclass(frozen=True, slots=True)
class Chunk:
    name: str
    first: str  # the smallest loan id the chunk may hold ("" for the first chunk)
    loans: int
    lines: int


@dataclass(frozen=True, slots=True)
class Mirror:
    """The mirror after a sync: its chunks in loan-id order and what the sync did."""

    folder: Path
    chunks: tuple[Chunk, ...]
    horizon: date
    changed: int  # loans re-read from the book by this sync
    rebuilt: bool  # the whole book was read

    def load(self, chunk: Chunk) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(loans, lines)`` of a chunk: loans sorted by loan_id, lines by loan_id, due_on,
        seq."""
        return (pl.read_ipc(self.folder / f"{chunk.name}.loans.arrow"),
                pl.read_ipc(self.folder / f"{chunk.name}.lines.arrow"))

    def scan(self, chunk: Chunk, kind: str) -> pl.LazyFrame:
        """A chunk's ``loans`` or ``lines`` to read a few columns of (only those are read)."""
        return pl.scan_ipc(self.folder / f"{chunk.name}.{kind}.arrow")

    def load_except(self, chunk: Chunk, skip: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``load`` without the loans in ``skip`` (and their lines): only the rest's rows are
        taken from the files."""
        if skip.is_empty():
            return self.load(chunk)
        keep = ~pl.col("loan_id").is_in(skip.implode())
        return (self.scan(chunk, "loans").filter(keep).collect(),
                self.scan(chunk, "lines").filter(keep).collect())

    def frames(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        for c in self.chunks:
            yield self.load(c)

    @property
    def loans(self) -> pl.DataFrame:
        """Every chunk's loans in one frame (for small books and tests)."""
        return pl.concat([f[0] for f in self.frames()])

    @property
    def lines(self) -> pl.DataFrame:
        return pl.concat([f[1] for f in self.frames()])


def sync(engine: Engine, folder: Path, as_of: date, rebuild: bool = False,
         chunk_loans: int | None = None) -> Mirror:
    """Bring the mirror in ``folder`` up to date with the book, compacted for business dates
    on or after its horizon (``eod.compact``); a date before the horizon, a missing or broken
    manifest, or ``rebuild`` reads the whole book again, a chunk at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    with bulk(engine, write=True) as b:
        changed = b.read("DELETE FROM loan_changes RETURNING loan_id")["loan_id"].unique()
        old = None if rebuild else _manifest(folder)
        if old is None or as_of < old.horizon:
            return _rebuild(b, folder, as_of, chunk_loans or CHUNK_LOANS)
        refold = (as_of - old.horizon).days >= RECOMPACT_DAYS
        if changed.is_empty() and not refold:
            return old
        return _update(b, old, changed.sort(), as_of if refold else None)


def _update(b: Bulk, m: Mirror, changed: pl.Series, refold: date | None) -> Mirror:
    """Replace the changed loans' rows chunk by chunk; fold again up to ``refold`` if given."""
    firsts = pl.Series([c.first for c in m.chunks])
    where = (firsts.search_sorted(changed, side="right") - 1).clip(0) if len(changed) else None
    fresh = _read(b, changed) if len(changed) else None
    horizon = refold or m.horizon
    (m.folder / MANIFEST).unlink()
    chunks = []
    for i, c in enumerate(m.chunks):
        mine = changed.filter(where == i) if where is not None else changed.clear()
        if mine.is_empty() and refold is None:
            chunks.append(c)
            continue
        loans, lines = m.load(c)
        if not mine.is_empty() and fresh is not None:
            loans, lines = _merge(loans, lines, fresh, mine, m.horizon)
        if refold is not None:
            loans, lines = compact(loans, lines, refold)
        chunks.append(_store(m.folder, replace(c, loans=loans.height, lines=lines.height),
                             loans, lines))
    out = Mirror(m.folder, tuple(chunks), horizon, len(changed), False)
    _write_manifest(out)
    return out


def _merge(loans: pl.DataFrame, lines: pl.DataFrame, fresh: tuple[pl.DataFrame, pl.DataFrame],
           ids: pl.Series, horizon: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids_ = ids.implode()
    new_loans, new_lines = compact(fresh[0].filter(pl.col("loan_id").is_in(ids_)),
                                   fresh[1].filter(pl.col("loan_id").is_in(ids_)), horizon)
    # both sides sorted, disjoint loans: a merge keeps each loan's lines together and in order
    return (loans.filter(~pl.col("loan_id").is_in(ids_)).merge_sorted(
                new_loans.select(loans.columns).cast(loans.schema).sort("loan_id"),
                key="loan_id"),
            lines.filter(~pl.col("loan_id").is_in(ids_)).merge_sorted(
                new_lines.select(lines.columns).cast(lines.schema), key="loan_id"))


def _rebuild(b: Bulk, folder: Path, as_of: date, chunk_loans: int) -> Mirror:
    (folder / MANIFEST).unlink(missing_ok=True)
    for f in folder.glob("c*.arrow"):
        f.unlink()
    ids = b.read("SELECT loan_id FROM loans ORDER BY loan_id")["loan_id"]
    firsts = ids.gather_every(chunk_loans).to_list() if len(ids) else [""]
    firsts[0] = ""
    chunks = []
    for i, first in enumerate(firsts):
        last = firsts[i + 1] if i + 1 < len(firsts) else None
        loans, lines = compact(*_read_range(b, first, last), as_of)
        chunks.append(_store(folder, Chunk(f"c{i:05d}", first, loans.height, lines.height),
                             loans, lines))
    out = Mirror(folder, tuple(chunks), as_of, len(ids), True)
    _write_manifest(out)
    return out


def _read(b: Bulk, ids: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    loans, lines = read_state(b, ids, EXTRA_COLUMNS)
    paid = _last_payments(b, "loan_id IN (SELECT loan_id FROM {tmp})", ids)
    return loans.join(paid, on="loan_id", how="left", maintain_order="left"), lines


def _read_range(b: Bulk, first: str, last: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    loans, lines = read_range(b, first, last, EXTRA_COLUMNS)
    cond = "loan_id >= ?" + ("" if last is None else " AND loan_id < ?")
    paid = _last_payments(b, cond, None, (first,) if last is None else (first, last))
    return loans.join(paid, on="loan_id", how="left", maintain_order="left"), lines


def _last_payments(b: Bulk, cond: str, ids: pl.Series | None,
                   params: tuple[str, ...] = ()) -> pl.DataFrame:
    """The value date of each loan's latest effective payment (an interruption of the
    limitation period, Civil Code Art. 195)."""
    sql = ("SELECT loan_id, MAX(value_date) AS last_payment_on FROM loan_events "
           "WHERE kind = 'payment' AND status = 'effective' AND {cond} GROUP BY loan_id")
    want: dict[str, pl.DataType] = {"loan_id": pl.String(), "last_payment_on": pl.Date()}
    if ids is None:
        return b.read(sql.format(cond=cond), params, schema=want)
    tmp = b.stage(pl.DataFrame({"loan_id": ids}))
    try:
        return b.read(sql.format(cond=cond.format(tmp=tmp)), schema=want)
    finally:
        b.drop(tmp)


def _manifest(folder: Path) -> Mirror | None:
    try:
        doc = json.loads((folder / MANIFEST).read_text())
        chunks = tuple(Chunk(c["name"], c["first"], int(c["loans"]), int(c["lines"]))
                       for c in doc["chunks"])
        horizon = date.fromisoformat(doc["horizon"])
        if doc.get("format") != FORMAT:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not chunks or not all((folder / f"{c.name}.{k}.arrow").exists()
                             for c in chunks for k in ("loans", "lines")):
        return None
    return Mirror(folder, chunks, horizon, 0, False)


def _store(folder: Path, c: Chunk, loans: pl.DataFrame, lines: pl.DataFrame) -> Chunk:
    for kind, frame in (("loans", loans), ("lines", lines)):
        tmp = folder / f".{c.name}.{kind}.arrow.tmp"
        frame.write_ipc(tmp, compression="uncompressed")
        os.replace(tmp, folder / f"{c.name}.{kind}.arrow")
    return c


def _write_manifest(m: Mirror) -> None:
    tmp = m.folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({
        "format": FORMAT, "horizon": m.horizon.isoformat(),
        "chunks": [{"name": c.name, "first": c.first, "loans": c.loans, "lines": c.lines}
                   for c in m.chunks]}))
    os.replace(tmp, m.folder / MANIFEST)
