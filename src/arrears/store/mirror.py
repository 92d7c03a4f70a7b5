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

A night's changes go to a chunk's small *delta* (two more Arrow files holding the changed
loans' rows, which stand in for the base's), so a sync costs what changed, not the chunk; the
delta is folded into the base when it outgrows ``DELTA_SHARE`` of the chunk or when the chunk is
compacted again. Readers see base and delta as one (``Mirror.load``, ``ChunkView``). The base
files are memory-mapped: a reader that takes a few columns, or the rows of a few loans, reads
only those pages.

Crash safety: the log rows are deleted in the transaction that is committed only after the new
files are in place (written beside and renamed) and the manifest rewritten; the manifest is
removed before any chunk is touched. A crash before the commit leaves the log as it was, and
the next sync either re-applies it (replacing a loan's rows is idempotent) or, finding no
manifest, rebuilds the mirror from the book.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
from sqlalchemy import Engine, text

from arrears.eod.compact import compact
from arrears.store.arrow_io import Bulk, bulk
from arrears.store.state_frames import read_range, read_state

EXTRA_COLUMNS = ("borrower_id", "product_code", "lender_type", "contract_signed_on")
"""``loans`` columns the mirror keeps besides the engine's terms and state."""

MANIFEST = "manifest.json"
FORMAT = 3
"""The manifest's ``format``: a mirror of another form is rebuilt (2 added ``busy_from``, 3
``lines_n`` and the deltas)."""
LINES_N = "lines_n"
"""The loans' column counting each loan's lines in its file (lines lie in loan order): the
lines of some loans are then taken by position, without matching ids."""
DELTA_SHARE = 0.1
"""A chunk's delta is folded into its base once it holds more than this share of its loans."""
CHUNK_LOANS = 1_000_000
"""Loans per chunk when the mirror is built (end-of-day's unit of work and of memory)."""
RECOMPACT_DAYS = 28
"""After this many days past the horizon, every chunk folds its settled lines again."""


@dataclass(frozen=True, slots=True)
class Chunk:
    name: str
    first: str  # the smallest loan id the chunk may hold ("" for the first chunk)
    loans: int  # base and delta together
    lines: int
    delta: int = 0  # loans whose rows are in the delta (changed since the base was written)


@dataclass(frozen=True, slots=True)
class Mirror:
    """The mirror after a sync: its chunks in loan-id order and what the sync did."""

    folder: Path
    chunks: tuple[Chunk, ...]
    horizon: date
    changed: int  # loans re-read from the book by this sync
    rebuilt: bool  # the whole book was read

    def load(self, chunk: Chunk) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(loans, lines)`` of a chunk, base and delta as one: loans sorted by loan_id, lines
        by loan_id, due_on, seq."""
        base = (_read_file(self.folder / f"{chunk.name}.loans.arrow"),
                _read_file(self.folder / f"{chunk.name}.lines.arrow"))
        if not chunk.delta:
            return base
        return _overlay(base, self.delta(chunk))

    def delta(self, chunk: Chunk) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The chunk's delta ``(loans, lines)`` (empty frames of the base's form if none)."""
        if not chunk.delta:
            loans, lines = self.view_base(chunk)
            return loans.clear(), lines.clear()
        return (_read_file(self.folder / f"{chunk.name}.delta.loans.arrow"),
                _read_file(self.folder / f"{chunk.name}.delta.lines.arrow"))

    def view_base(self, chunk: Chunk) -> tuple[pl.DataFrame, pl.DataFrame]:
        return (_mapped(self.folder / f"{chunk.name}.loans.arrow"),
                _mapped(self.folder / f"{chunk.name}.lines.arrow"))

    def view(self, chunk: Chunk) -> ChunkView:
        """The chunk to read parts of: base memory-mapped, delta in memory."""
        base = self.view_base(chunk)
        delta = self.delta(chunk)
        return ChunkView(base, delta, _order(base[0]["loan_id"], delta[0]["loan_id"]))

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


@dataclass(frozen=True, slots=True)
class ChunkView:
    """A chunk as one book in loan order, read in parts: ``order`` gathers the rows of the
    base (first) and the delta (after) into loan order — the base's rows of loans in the
    delta left out — so a column, or the rows of some loans, cost what they hold."""

    base: tuple[pl.DataFrame, pl.DataFrame]
    delta: tuple[pl.DataFrame, pl.DataFrame]
    order: npt.NDArray[np.int64] | None  # None: no delta, the base as it is

    @property
    def height(self) -> int:
        return self.base[0].height if self.order is None else len(self.order)

    def loans(self, columns: Sequence[str]) -> pl.DataFrame:
        """These columns of the chunk's loans, in loan order."""
        base = self.base[0].select(columns)
        if self.order is None:
            return base
        both = pl.concat([base, self.delta[0].select(columns)], rechunk=True)
        return both.gather(self.order)

    def per_line(self, columns: Sequence[str]) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
        """These columns of the chunk's lines (base, then delta, each in loan order) and the
        row of each line's loan in ``loans`` — to reduce lines to loans by position."""
        where = self._rows()
        parts = []
        for (loans, lines), rows in zip((self.base, self.delta), where, strict=True):
            n = loans[LINES_N].to_numpy()
            keep = rows >= 0  # the base's loans in the delta are left out
            line_keep = np.repeat(keep, n)
            parts.append((lines.select(columns).filter(pl.Series(line_keep))
                          if not line_keep.all() else lines.select(columns),
                          np.repeat(rows[keep], n[keep])))
        return (pl.concat([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]).astype(np.int64))

    def rows(self, take: npt.NDArray[np.bool_]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(loans, lines)`` of the loans at the True places of ``take`` (over the chunk's
        loans in loan order), as ``Mirror.load`` gives them."""
        out, at = [], []
        for (loans, lines), rows in zip((self.base, self.delta), self._rows(), strict=True):
            pick = np.zeros(len(rows), dtype=np.bool_)
            ok = rows >= 0
            pick[ok] = take[rows[ok]]
            n = loans[LINES_N].to_numpy()
            out.append((loans.filter(pl.Series(pick)),
                        lines.filter(pl.Series(np.repeat(pick, n)))))
            at.append(rows[pick])
        if self.order is None or not out[1][0].height:
            return out[0]
        # the two parts hold other loans: put them in loan order by where each stands
        order = np.argsort(np.concatenate(at), kind="stable")
        loans = pl.concat([out[0][0], out[1][0]], rechunk=True)
        n = loans[LINES_N].to_numpy()
        first = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
        line_order = _ranges(first[order], n[order])
        return (loans.gather(order),
                pl.concat([out[0][1], out[1][1]], rechunk=True).gather(line_order))

    def _rows(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """For the base's rows and the delta's: each one's row in loan order (−1: left out)."""
        nb = self.base[0].height
        if self.order is None:
            return np.arange(nb, dtype=np.int64), np.zeros(0, dtype=np.int64)
        at = np.full(nb + self.delta[0].height, -1, dtype=np.int64)
        at[self.order] = np.arange(len(self.order), dtype=np.int64)
        return at[:nb], at[nb:]


def _ranges(starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The positions ``starts[i] … starts[i] + lengths[i] − 1``, range after range."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return shift + np.arange(total, dtype=np.int64)


def _order(base: pl.Series, delta: pl.Series) -> npt.NDArray[np.int64] | None:
    """The gather over base rows then delta rows that puts the chunk in loan order, the base's
    rows of the delta's loans left out (both id lists sorted); None without a delta."""
    if delta.is_empty():
        return None
    hit = base.search_sorted(delta, side="left").to_numpy().astype(np.int64)
    found = hit < len(base)
    found[found] = base.gather(hit[found]).to_numpy() == delta.filter(
        pl.Series(found)).to_numpy()
    stay = np.ones(len(base), dtype=np.bool_)
    stay[hit[found]] = False
    kept = np.flatnonzero(stay)
    # each delta row goes before the first kept base row with a larger id
    at = np.searchsorted(kept, hit, side="left") + np.arange(len(delta), dtype=np.int64)
    order = np.empty(len(kept) + len(delta), dtype=np.int64)
    is_delta = np.zeros(len(order), dtype=np.bool_)
    is_delta[at] = True
    order[at] = len(base) + np.arange(len(delta), dtype=np.int64)
    order[~is_delta] = kept
    return order


def _overlay(base: tuple[pl.DataFrame, pl.DataFrame],
             delta: tuple[pl.DataFrame, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The base with the delta's loans' rows in place of its own (both sorted by loan, both
    with ``LINES_N``): one gather for the loans and one for the lines, by position."""
    if delta[0].is_empty():
        return base
    order = _order(base[0]["loan_id"], delta[0]["loan_id"])
    assert order is not None
    loans = pl.concat([base[0], delta[0].select(base[0].columns).cast(base[0].schema)],
                      rechunk=True)
    n = loans[LINES_N].to_numpy()
    first = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    lines = pl.concat([base[1], delta[1].select(base[1].columns).cast(base[1].schema)],
                      rechunk=True)
    return loans.gather(order), lines.gather(_ranges(first[order], n[order]))


def _read_file(path: Path) -> pl.DataFrame:
    return pl.read_ipc(path)


def _mapped(path: Path) -> pl.DataFrame:
    """An uncompressed Arrow file as a frame over the file's pages, not a copy of them."""
    # the map is not closed here: the frame's buffers keep it (and the file, even once a
    # later sync has replaced it) alive until they are freed
    return pl.DataFrame(pl.from_arrow(ipc.open_file(pa.memory_map(str(path))).read_all()))


def sync(engine: Engine, folder: Path, as_of: date, rebuild: bool = False,
         chunk_loans: int | None = None) -> Mirror:
    """Bring the mirror in ``folder`` up to date with the book, compacted for business dates
    on or after its horizon (``eod.compact``); a date before the horizon, a missing or broken
    manifest, or ``rebuild`` reads the whole book again, a chunk at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    if not rebuild and (old := _manifest(folder)) is not None and as_of >= old.horizon \
            and (as_of - old.horizon).days < RECOMPACT_DAYS and not _logged(engine):
        return old  # nothing changed: not even the bulk connection is opened
    with bulk(engine, write=True) as b:
        changed = b.read("DELETE FROM loan_changes RETURNING loan_id")["loan_id"].unique()
        old = None if rebuild else _manifest(folder)
        if old is None or as_of < old.horizon:
            return _rebuild(b, folder, as_of, chunk_loans or CHUNK_LOANS)
        refold = (as_of - old.horizon).days >= RECOMPACT_DAYS
        if changed.is_empty() and not refold:
            return old
        return _update(b, old, changed.sort(), as_of if refold else None)


def _logged(engine: Engine) -> bool:
    """Whether the change log holds anything."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM loan_changes LIMIT 1")).first() is not None


def _update(b: Bulk, m: Mirror, changed: pl.Series, refold: date | None) -> Mirror:
    """Put the changed loans' rows in their chunks' deltas; fold a delta into its base when it
    has grown past ``DELTA_SHARE`` of the chunk, and every chunk again up to ``refold`` if
    given."""
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
        delta = m.delta(c)
        if not mine.is_empty() and fresh is not None:
            delta = _merge(*delta, fresh, mine, m.horizon)
        grown = delta[0].height > DELTA_SHARE * max(c.loans, 1)
        if refold is None and not grown:
            chunks.append(_store_delta(m, c, *delta))
            continue
        base = m.view_base(c)
        loans, lines = _overlay(base, delta)
        if refold is not None:
            loans, lines = compact(loans, lines, refold)
        chunks.append(write_chunk(m.folder, replace(c, delta=0), loans, lines))
    out = Mirror(m.folder, tuple(chunks), horizon, len(changed), False)
    _write_manifest(out)
    return out


def _merge(loans: pl.DataFrame, lines: pl.DataFrame, fresh: tuple[pl.DataFrame, pl.DataFrame],
           ids: pl.Series, horizon: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids_ = ids.implode()
    new_loans, new_lines = compact(fresh[0].filter(pl.col("loan_id").is_in(ids_)),
                                   fresh[1].filter(pl.col("loan_id").is_in(ids_)), horizon)
    new_loans = with_line_counts(new_loans.sort("loan_id"), new_lines)
    # both sides sorted, disjoint loans: a merge keeps each loan's lines together and in order
    return _overlay((loans, lines), (new_loans, new_lines))


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
        chunks.append(write_chunk(folder, Chunk(f"c{i:05d}", first, loans.height,
                                                lines.height), loans, lines))
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
        chunks = tuple(Chunk(c["name"], c["first"], int(c["loans"]), int(c["lines"]),
                             int(c.get("delta", 0))) for c in doc["chunks"])
        horizon = date.fromisoformat(doc["horizon"])
        if doc.get("format") != FORMAT:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = [f"{c.name}.{d}{k}.arrow" for c in chunks for k in ("loans", "lines")
             for d in (("", "delta.") if c.delta else ("",))]
    if not chunks or not all((folder / f).exists() for f in files):
        return None
    return Mirror(folder, chunks, horizon, 0, False)


def with_line_counts(loans: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """``loans`` (sorted) with ``LINES_N`` counted from ``lines`` (in loan order)."""
    counts = lines.select(pl.col("loan_id").rle()).unnest("loan_id").select(
        pl.col("value").alias("loan_id"), pl.col("len").cast(pl.Int64).alias(LINES_N))
    if counts["loan_id"].n_unique() != counts.height:
        raise ValueError("the lines of a loan must lie together (sorted by loan)")
    out = loans.drop(LINES_N, strict=False).with_columns(pl.col("loan_id").set_sorted()).join(
        counts.with_columns(pl.col("loan_id").set_sorted()), on="loan_id", how="left",
        maintain_order="left")
    return out.with_columns(pl.col(LINES_N).fill_null(0))


def write_chunk(folder: Path, c: Chunk, loans: pl.DataFrame, lines: pl.DataFrame) -> Chunk:
    """Write a chunk's base (the loans sorted, the lines in loan order), its delta gone."""
    loans = with_line_counts(loans, lines)
    _write(folder, f"{c.name}.loans", loans)
    _write(folder, f"{c.name}.lines", lines)
    for kind in ("loans", "lines"):
        (folder / f"{c.name}.delta.{kind}.arrow").unlink(missing_ok=True)
    return replace(c, loans=loans.height, lines=lines.height, delta=0)


def _store_delta(m: Mirror, c: Chunk, loans: pl.DataFrame, lines: pl.DataFrame) -> Chunk:
    _write(m.folder, f"{c.name}.delta.loans", loans)
    _write(m.folder, f"{c.name}.delta.lines", lines)
    out = replace(c, delta=loans.height)
    view = m.view(out)
    counts = [part[0][LINES_N].to_numpy() for part in (view.base, view.delta)]
    n_lines = sum(int(n[rows >= 0].sum()) for n, rows in zip(counts, view._rows(),
                                                                strict=True))
    return replace(out, loans=view.height, lines=n_lines)


def _write(folder: Path, name: str, frame: pl.DataFrame) -> None:
    tmp = folder / f".{name}.arrow.tmp"
    frame.write_ipc(tmp, compression="uncompressed")
    os.replace(tmp, folder / f"{name}.arrow")


def _write_manifest(m: Mirror) -> None:
    tmp = m.folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({
        "format": FORMAT, "horizon": m.horizon.isoformat(),
        "chunks": [{"name": c.name, "first": c.first, "loans": c.loans, "lines": c.lines,
                    "delta": c.delta} for c in m.chunks]}))
    os.replace(tmp, m.folder / MANIFEST)
