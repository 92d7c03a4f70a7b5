"""Ingesting borrowers, loans and payments from CSV, Parquet and JSON Lines.

For every file: read as strings, validate every row against the contract, split off bad rows
(quarantine file with the reason), tell duplicates (same id, same content: skipped) from
conflicts (same id, different content: quarantined), check references, then book or post the
good rows in batches — each batch one transaction, so a crash loses at most the batch in
flight and a re-run finishes the job (ids make every row idempotent).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, insert, update

from arrears.contract.fields import CONTRACTS, KEYS, detect_kind
from arrears.contract.fingerprint import payment_fingerprints
from arrears.contract.validate import ROW, check
from arrears.services.booking import CapFrame, book_frame
from arrears.services.bulk_posting import post_payment_file
from arrears.services.products import apply_products, product_defaults
from arrears.settings import Settings
from arrears.store import schema
from arrears.store.arrow_io import lookup

ORDER = {"borrowers": 0, "loans": 1, "payments": 2}
Progress = Callable[[str, int, int], None]  # (label, done, total)


class IngestError(ValueError):
    """A file that cannot be ingested at all (unreadable, unknown layout)."""


@dataclass(slots=True)
class IngestReport:
    path: str
    kind: str
    rows_total: int = 0
    rows_new: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    quarantine_path: str | None = None
    problems: list[str] = field(default_factory=list)  # first messages, for people
    run_id: int | None = None
    restated_loans: int = 0
    over_cap: int = 0

    @property
    def ok(self) -> bool:
        return self.rows_quarantined == 0


def read_table(path: Path) -> pl.DataFrame:
    """A file as a frame of strings. CSV may be UTF-8 (with or without BOM) or GB18030."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            df = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            df = pl.read_ndjson(path, infer_schema_length=None)
        elif suffix in (".csv", ".txt"):
            data = path.read_bytes()
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("gb18030")
            df = pl.read_csv(io.StringIO(text), infer_schema=False)
        else:
            raise IngestError(f"{path}: unknown file type {suffix!r} (csv, parquet, jsonl)")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc
    return df.select(pl.all().cast(pl.String))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _row_hashes(df: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    """Content fingerprint per row over the contract columns (typed values, canonical text)."""
    texts = df.select(pl.concat_str([pl.col(c).cast(pl.String).fill_null("")
                                     for c in columns], separator="\x1f")).to_series()
    return [hashlib.sha256(t.encode()).hexdigest() for t in texts]


@dataclass(slots=True)
class _Quarantine:
    rows: list[pl.DataFrame] = field(default_factory=list)

    def add(self, original: pl.DataFrame, rows: Sequence[int] | pl.Series,
            field_: str, reason: str | Sequence[str]) -> None:
        ids = pl.Series(ROW, list(rows), dtype=pl.UInt32)
        part = original.filter(pl.col(ROW).is_in(ids.implode()))
        if isinstance(reason, str):
            part = part.with_columns(pl.lit(field_).alias("_field"),
                                     pl.lit(reason).alias("_reason"))
        else:
            m = pl.DataFrame({ROW: ids, "_reason": list(reason)})
            part = part.join(m, on=ROW).with_columns(pl.lit(field_).alias("_field"))
        self.rows.append(part)


def ingest_paths(paths: Sequence[Path], engine: Engine, settings: Settings, now: datetime,
                 *, cap_check: CapFrame | None = None,
                 progress: Progress | None = None, batch_loans: int = 2000) -> list[IngestReport]:
    """Ingest files in dependency order (borrowers, loans, payments)."""
    frames = []
    for p in paths:
        df = read_table(p)
        kind = detect_kind(df.columns)
        if kind is None:
            raise IngestError(f"{p}: cannot tell borrowers, loans or payments from the header "
                              f"{df.columns[:8]}")
        frames.append((ORDER[kind], p, kind, df))
    reports = []
    for _, p, kind, df in sorted(frames, key=lambda t: t[0]):
        reports.append(_ingest_one(p, kind, df, engine, settings, now, cap_check, progress,
                                   batch_loans))
    return reports


def _ingest_one(path: Path, kind: str, df: pl.DataFrame, engine: Engine, settings: Settings,
                now: datetime, cap_check: CapFrame | None, progress: Progress | None,
                batch_loans: int) -> IngestReport:
    rep = IngestReport(str(path), kind, rows_total=df.height)
    fields = CONTRACTS[kind]
    key = KEYS[kind]
    original = df.with_row_index(ROW, offset=1)
    q = _Quarantine()
    rows = original
    if kind == "loans":
        with engine.connect() as conn:
            rows, unknown = apply_products(original, product_defaults(conn))
        if unknown.height:
            q.add(original, unknown[ROW], "product_code",
                  [f"product_code: unknown product {c} (define it with arrears product load)"
                   for c in unknown["product_code"]])
    checked = check(rows, fields)
    if checked.bad.height:
        q.rows.append(checked.bad)
    good = checked.good
    if kind == "payments":
        good = good.with_columns(payment_fingerprints(good))
    else:
        good = good.with_columns(pl.Series("_hash", _row_hashes(good, [f.name for f in fields])))
    # the same id twice in one file: identical → duplicate; different → conflict
    first = good.unique(subset=[key], keep="first", maintain_order=True)
    dup = good.join(first.select(key, pl.col(ROW).alias("_first"), pl.col("_hash").alias("_fh")),
                    on=key).filter(pl.col(ROW) != pl.col("_first"))
    same = dup.filter(pl.col("_hash") == pl.col("_fh"))
    diff = dup.filter(pl.col("_hash") != pl.col("_fh"))
    rep.rows_duplicate += same.height
    if diff.height:
        q.add(original, diff[ROW], key,
              [f"{key} {k} appears again with different content (first at row {r})"
               for k, r in zip(diff[key], diff["_first"], strict=True)])
    good = first
    with engine.begin() as conn:
        run_id = conn.execute(insert(schema.ingest_runs).values(
            kind=kind, path=str(path), sha256=_sha256(path), started_at=now,
            rows_total=df.height)).inserted_primary_key[0]  # type: ignore[index]
    rep.run_id = run_id
    good = _against_store(kind, key, good, original, q, rep, engine)
    if kind == "borrowers":
        _write_borrowers(good, run_id, now, engine, rep)
    elif kind == "loans":
        _write_loans(good, run_id, now, engine, rep, q, original, cap_check, progress,
                     batch_loans)
    else:
        _post_payments(good, run_id, now, engine, rep, q, original, progress, batch_loans)
    _finish(rep, q, path, run_id, settings, engine)
    return rep


_TABLE = {"borrowers": (schema.borrowers, "borrower_id"), "loans": (schema.loans, "loan_id"),
          "payments": (schema.loan_events, "event_id")}


def _against_store(kind: str, key: str, good: pl.DataFrame, original: pl.DataFrame,
                   q: _Quarantine, rep: IngestReport, engine: Engine) -> pl.DataFrame:
    """Drop rows already stored (duplicates), quarantine conflicts and broken references."""
    table, col = _TABLE[kind]
    known = lookup(engine, table, col, good[key], [col, "content_hash"]).rename(
        {col: key, "content_hash": "_stored"})
    stored = good.join(known, on=key)
    same = stored.filter(pl.col("_hash") == pl.col("_stored"))
    rep.rows_duplicate += same.height
    conflicts = stored.filter(pl.col("_hash") != pl.col("_stored"))
    if conflicts.height:
        q.add(original, conflicts[ROW], key,
              [f"{key} {k} is already stored with different content" for k in conflicts[key]])
    good = good.join(known.select(key), on=key, how="anti")
    if kind == "loans":
        refs = lookup(engine, schema.borrowers, "borrower_id", good["borrower_id"],
                      ["borrower_id"])
        missing = good.join(refs, on="borrower_id", how="anti")
        if missing.height:
            q.add(original, missing[ROW], "borrower_id",
                  [f"borrower_id: unknown borrower {b}" for b in missing["borrower_id"]])
        good = good.join(refs, on="borrower_id", how="semi")
    if kind == "payments":
        refs = lookup(engine, schema.loans, "loan_id", good["loan_id"],
                      ["loan_id", "currency"]).rename({"currency": "_currency"})
        missing = good.join(refs, on="loan_id", how="anti")
        if missing.height:
            q.add(original, missing[ROW], "loan_id",
                  [f"loan_id: unknown loan {x}" for x in missing["loan_id"]])
        good = good.join(refs, on="loan_id", how="inner", maintain_order="left")
        wrong = good.filter(pl.col("currency").is_not_null()
                            & (pl.col("currency") != pl.col("_currency")))
        if wrong.height:
            q.add(original, wrong[ROW], "currency",
                  [f"currency: {c} differs from the loan's currency" for c in wrong["currency"]])
        good = good.filter(~pl.col(ROW).is_in(wrong[ROW].implode())).drop("_currency")
    return good


def _write_borrowers(good: pl.DataFrame, run_id: int, now: datetime, engine: Engine,
                     rep: IngestReport) -> None:
    core = ("borrower_id", "name", "id_number", "mobile", "province", "city", "address")
    extra_cols = [c for c in good.columns if c not in core and not c.startswith("_")]
    rows = []
    for r in good.iter_rows(named=True):
        extra = {c: (r[c].isoformat() if hasattr(r[c], "isoformat") else r[c])
                 for c in extra_cols if r[c] is not None}
        rows.append({**{c: r[c] for c in core}, "extra": extra, "content_hash": r["_hash"],
                     "ingest_run_id": run_id, "created_at": now})
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(schema.borrowers), rows[i:i + 5000])
    rep.rows_new += len(rows)


def _write_loans(good: pl.DataFrame, run_id: int, now: datetime, engine: Engine,
                 rep: IngestReport, q: _Quarantine, original: pl.DataFrame,
                 cap_check: CapFrame | None, progress: Progress | None,
                 batch: int) -> None:
    step = max(batch, 50_000)  # loans are booked as frames: big batches are cheap
    for i in range(0, good.height, step):
        booked = book_frame(engine, good.slice(i, step), run_id, now, cap_check)
        rep.rows_new += booked.loans
        rep.over_cap += booked.over_cap
        for ref, reason in booked.rejected:
            q.add(original, [ref], "terms", f"terms refused: {reason}")
        if progress:
            progress("loans", min(i + step, good.height), good.height)


def _post_payments(good: pl.DataFrame, run_id: int, now: datetime, engine: Engine,
                   rep: IngestReport, q: _Quarantine, original: pl.DataFrame,
                   progress: Progress | None, batch: int) -> None:
    outcome = post_payment_file(engine, good, run_id, now, progress=progress)
    rep.rows_new += outcome.posted
    rep.restated_loans += outcome.restated_loans
    for row, reason in outcome.rejected:
        q.add(original, [row], "payment", reason)


def _finish(rep: IngestReport, q: _Quarantine, path: Path, run_id: int, settings: Settings,
            engine: Engine) -> None:
    if q.rows:
        bad = pl.concat(q.rows, how="diagonal_relaxed").sort(ROW)
        rep.rows_quarantined = bad.height
        settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
        out = settings.quarantine_dir / f"run{run_id:06d}-{path.stem}.quarantine.csv"
        bad.write_csv(out)
        rep.quarantine_path = str(out)
        line = 1 if path.suffix.lower() == ".csv" else 0
        for r in bad.head(20).iter_rows(named=True):
            rep.problems.append(f"{path}: row {r[ROW]}"
                                + (f" (line {r[ROW] + line})" if line else "")
                                + f": {r['_reason']}")
    with engine.begin() as conn:
        conn.execute(update(schema.ingest_runs).where(schema.ingest_runs.c.id == run_id).values(
            finished_at=datetime.now(), rows_new=rep.rows_new,  # noqa: DTZ005 - audit clock
            rows_duplicate=rep.rows_duplicate, rows_quarantined=rep.rows_quarantined,
            quarantine_path=rep.quarantine_path))
