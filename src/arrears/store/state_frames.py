"""Loan state as frames: the engine's stored state read and written whole-batch over ADBC.

The layout is the stored one: ``loans`` = ``loan_id`` + terms + state columns, ``lines`` =
``LINE_COLUMNS`` sorted by loan, due date and seq. Only lines that changed are written back;
loan state is written with an optimistic version check.
"""

from __future__ import annotations

import polars as pl

from arrears.store import schema
from arrears.store.arrow_io import Bulk, polars_schema
from arrears.store.loans import LINE_COLUMNS, STATE_COLUMNS, TERM_COLUMNS, ConcurrentUpdate

LOAN_FRAME_COLUMNS: tuple[str, ...] = (*TERM_COLUMNS, *STATE_COLUMNS)
_LINE_SCHEMA = {c: t for c, t in polars_schema(schema.instalments).items() if c in LINE_COLUMNS}


def read_state(b: Bulk, loan_ids: pl.Series | None,
               extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(loans, lines) for the given loan ids (``None``: all), typed, lines in engine order;
    ``extra`` names more ``loans`` columns to read. When the ids are most of the book, one
    scan is cheaper than an index lookup per loan."""
    cols = (*LOAN_FRAME_COLUMNS, *extra)
    want = {c: t for c, t in polars_schema(schema.loans).items() if c in cols}
    if loan_ids is None:
        loans = b.read(f"SELECT {', '.join(cols)} FROM loans", schema=want)
        lines = b.read(f"SELECT {', '.join(LINE_COLUMNS)} FROM instalments",
                       schema=_LINE_SCHEMA)
        return loans.select(cols).sort("loan_id"), _ordered(lines)
    ids = loan_ids.unique()
    total = int(b.read("SELECT COUNT(*) AS n FROM loans")["n"][0])
    if ids.len() * 2 >= total:
        loans = b.read(f"SELECT {', '.join(cols)} FROM loans", schema=want)
        lines = b.read(f"SELECT {', '.join(LINE_COLUMNS)} FROM instalments",
                       schema=_LINE_SCHEMA)
        wanted = ids.implode()
        loans = loans.filter(pl.col("loan_id").is_in(wanted))
        lines = lines.filter(pl.col("loan_id").is_in(wanted))
    else:
        tmp = b.stage(pl.DataFrame({"loan_id": ids}))
        try:
            loans = b.read(f"SELECT {', '.join(cols)} FROM loans "
                           f"WHERE loan_id IN (SELECT loan_id FROM {tmp})", schema=want)
            lines = b.read(f"SELECT {', '.join(LINE_COLUMNS)} FROM instalments "
                           f"WHERE loan_id IN (SELECT loan_id FROM {tmp})", schema=_LINE_SCHEMA)
        finally:
            b.drop(tmp)
    return loans.select(cols), _ordered(lines)


def read_range(b: Bulk, first: str, last: str | None,
               extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(loans, lines) of the loans with ``first <= loan_id < last`` (``last`` None: no upper
    bound), as ``read_state`` gives them: a range scan of both tables' keys."""
    cols = (*LOAN_FRAME_COLUMNS, *extra)
    want = {c: t for c, t in polars_schema(schema.loans).items() if c in cols}
    cond = "loan_id >= ?" + ("" if last is None else " AND loan_id < ?")
    params = (first,) if last is None else (first, last)
    loans = b.read(f"SELECT {', '.join(cols)} FROM loans WHERE {cond}", params, schema=want)
    lines = b.read(f"SELECT {', '.join(LINE_COLUMNS)} FROM instalments WHERE {cond}", params,
                   schema=_LINE_SCHEMA)
    return loans.select(cols).sort("loan_id"), _ordered(lines)


def _ordered(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.select(LINE_COLUMNS).sort("loan_id", "due_on", "seq")


def write_lines(b: Bulk, before: pl.DataFrame, after: pl.DataFrame) -> int:
    """Write the lines of ``after`` that are new or differ from ``before``: changed lines are
    updated in place, new ones (a prepayment's lines) inserted."""
    after = after.select(LINE_COLUMNS).cast(_LINE_SCHEMA)  # type: ignore[arg-type]
    old = before.select(LINE_COLUMNS).cast(_LINE_SCHEMA)  # type: ignore[arg-type]
    changed = after.join(old, on=list(LINE_COLUMNS), how="anti", nulls_equal=True)
    fresh = changed.join(old.select("loan_id", "seq"), on=["loan_id", "seq"], how="anti")
    known = changed.join(fresh.select("loan_id", "seq"), on=["loan_id", "seq"], how="anti")
    n = b.update(schema.instalments, known, key=("loan_id", "seq"))
    if n != known.height:
        raise ConcurrentUpdate(f"{known.height - n} instalment lines vanished while posting")
    return n + b.append(schema.instalments, fresh)


def write_loan_state(b: Bulk, loans: pl.DataFrame) -> int:
    """Write the state columns of ``loans`` (whose ``version`` is the one read); refuses if any
    loan was changed by someone else in between."""
    cols = [c for c in STATE_COLUMNS if c != "version"]
    df = loans.select("loan_id", "version", *cols)
    n = b.update(schema.loans, df, key=("loan_id", "version"), bump="version")
    if n != df.height:
        raise ConcurrentUpdate(f"{df.height - n} loans changed while they were being posted")
    log_changes(b, df["loan_id"])
    return n


def log_changes(b: Bulk, loan_ids: pl.Series) -> None:
    """Note for end-of-day's mirror that these loans changed (``schema.loan_changes``)."""
    b.append(schema.loan_changes, pl.DataFrame({"loan_id": loan_ids}))
