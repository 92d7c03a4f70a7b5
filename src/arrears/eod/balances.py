"""Per-loan balances as of a date from the sub-ledger lines: the columnar twin of
``book.views.snapshot`` (the same rules, line for line; ``tests/eod`` proves them equal).

Every measure is a filtered sum over a loan's lines in one group-by pass: outstanding and paid
per component, what is overdue (lines due before the date), the oldest unpaid due date, the
interest and fee earned pro rata in the current period, the next instalment and its amount.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.book.vector import div_round_expr, rounding_code
from arrears.eod.compact import SETTLED_COLUMNS, with_settled
from arrears.eod.line_exprs import COMPONENTS, owed
from arrears.eod.line_exprs import outstanding as _out
from arrears.money import Rounding

_ROUNDING = {m.value: rounding_code(m) for m in Rounding}


def _pro_rata(amount: str, d: pl.Expr) -> pl.Expr:
    """``amount`` × days used / days in the period, rounded as the loan rounds."""
    span = (pl.col("due_on") - pl.col("start_on")).dt.total_days()
    used = (d - pl.col("start_on")).dt.total_days()
    return div_round_expr(pl.col(amount) * used, span, pl.col("_rounding"),
                          dtype=pl.Int64())


def balances(loans: pl.DataFrame, lines: pl.DataFrame | pl.LazyFrame,
             as_of: date) -> pl.DataFrame:
    """One row per loan of ``loans`` (engine state as of ``as_of``): the balance columns of
    the snapshot (``eod.snapshot.SNAPSHOT_SCHEMA``) plus ``last_due_on`` — all but the
    state the loans frame holds itself (credit, recovered, closed_on)."""
    if isinstance(lines, pl.LazyFrame):
        lines = lines.collect()  # read three times below: computed once
    # each loan's lines lie together (the mirror and advance keep them so): grouping by the
    # run of a loan id is an integer group-by, several times faster than one by the id
    lines = lines.with_columns(_g=pl.col("loan_id").rle_id())
    d = pl.lit(as_of)
    live, due = pl.col("live"), pl.col("due_on")
    past = live & (due < d)
    zero = pl.lit(0, pl.Int64)
    x = lines.lazy().select(
        "_g", "loan_id",
        *[_out(c).alias(f"outstanding_{c}") for c in COMPONENTS],
        *[pl.when(past).then(_out(c)).otherwise(zero).alias(f"overdue_{c}")
          for c in COMPONENTS],
        *[pl.col(f"paid_{c}") for c in COMPONENTS],
        pl.sum_horizontal(*[pl.col(f"waived_{c}") for c in COMPONENTS]).alias("waived_total"),
        pl.sum_horizontal(*[pl.col(f"written_off_{c}") for c in COMPONENTS])
        .alias("written_off_total"),
        pl.when(past & (owed() > 0)).then(due)
        .alias("oldest_unpaid_due"),
        pl.when(live & (due >= d)).then(_out("principal")).otherwise(zero)
        .alias("principal_not_due"),
        pl.when(live).then(pl.col("pending_penalty")).otherwise(zero).alias("pending_penalty"),
        pl.when(live).then(due).alias("last_due_on"),
    )
    agg = _by_run(x.collect()).lazy().join(
        _accrued(loans, lines, as_of), on="_g", how="left").join(
        _next_due(lines, as_of), on="_g", how="left").drop("_g").collect()
    if agg["loan_id"].n_unique() != agg.height:
        raise ValueError("the lines of a loan must lie together (sorted by loan)")
    out = by_loan(with_settled(loans).select(
        "loan_id", "status", "credit", "recovered", "closed_on", *SETTLED_COLUMNS),
        agg).lazy()
    active = pl.col("status") == "active"
    out = out.with_columns(
        accrued_interest=pl.when(active).then(pl.col("accrued_interest")).otherwise(0),
        accrued_fee=pl.when(active).then(pl.col("accrued_fee")).otherwise(0),
        next_due_on=pl.when(active).then(pl.col("next_due_on")),
        next_due_amount=pl.when(active).then(pl.col("next_due_amount")).otherwise(0),
    ).with_columns(pl.col(pl.Int64).fill_null(0)).with_columns(  # a loan without lines
        # the history folded into totals (eod.compact) counts as if its lines were here
        *[(pl.col(f"paid_{c}") + pl.col(f"settled_paid_{c}")).alias(f"paid_{c}")
          for c in COMPONENTS],
        (pl.col("waived_total") + pl.col("settled_waived")).alias("waived_total"),
        (pl.col("written_off_total") + pl.col("settled_written_off"))
        .alias("written_off_total"),
        pl.max_horizontal("last_due_on", "settled_last_due").alias("last_due_on"),
    ).with_columns(
        outstanding_total=pl.sum_horizontal(*[f"outstanding_{c}" for c in COMPONENTS]),
        paid_total=pl.sum_horizontal(*[f"paid_{c}" for c in COMPONENTS]),
    ).with_columns(
        payoff=pl.when(pl.col("status") == "closed").then(0).otherwise(pl.max_horizontal(
            0, pl.col("outstanding_total") + pl.col("accrued_interest")
            + pl.col("accrued_fee") - pl.col("credit"))),
    )
    # state the book already holds is not repeated
    return out.drop("status", "credit", "recovered", "closed_on", *SETTLED_COLUMNS).collect()


def by_loan(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """``left`` with the columns of ``right`` for the same ``loan_id`` (a left join in the
    order of ``left``). When both are in loan order, as the book and its runs of lines are,
    Polars merges instead of hashing the ids — about twice as fast."""
    if left["loan_id"].is_sorted() and right["loan_id"].is_sorted():
        left = left.with_columns(pl.col("loan_id").set_sorted())
        right = right.with_columns(pl.col("loan_id").set_sorted())
    return left.join(right, on="loan_id", how="left", maintain_order="left")


def _by_run(x: pl.DataFrame) -> pl.DataFrame:
    """One row per run of ``_g`` (a loan's lines): sums, the earliest unpaid due date, the
    last due date — segmented reductions over the contiguous runs, no hashing."""
    g = x["_g"].to_numpy()
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)

    def reduce(col: str, op: np.ufunc, empty: int) -> npt.NDArray[np.int64]:
        v = x[col].fill_null(empty).to_numpy().astype(np.int64, copy=False)
        return op.reduceat(v, starts) if len(starts) else np.zeros(0, np.int64)

    never, ever = np.iinfo(np.int32).max, np.iinfo(np.int32).min
    out = {"_g": x["_g"].gather(starts), "loan_id": x["loan_id"].gather(starts)}
    for c in x.columns:
        if c not in ("_g", "loan_id", "oldest_unpaid_due", "last_due_on"):
            out[c] = pl.Series(c, reduce(c, np.add, 0))
    days = {"oldest_unpaid_due": (np.minimum, never), "last_due_on": (np.maximum, ever)}
    for c, (op, empty) in days.items():
        v = pl.Series(c, _reduce_dates(x[c], starts, op, empty))
        out[c] = v.replace(empty, None).cast(pl.Int32).cast(pl.Date)
    return pl.DataFrame(out)


def _reduce_dates(col: pl.Series, starts: npt.NDArray[np.int64], op: np.ufunc,
                 empty: int) -> npt.NDArray[np.int64]:
    """``op`` over each run of a nullable Date column, as days (null → ``empty``)."""
    v = col.cast(pl.Int32).fill_null(empty).to_numpy().astype(np.int64)
    return op.reduceat(v, starts) if len(starts) else np.zeros(0, np.int64)


def accrued_by_row(lines: pl.DataFrame, row: npt.NDArray[np.int64], rounding: pl.Series,
                   as_of: date) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Interest and fee earned pro rata by ``as_of`` in the current period, per loan: ``lines``
    (``live, start_on, due_on, interest, fee``) and the row of each one's loan in
    ``rounding`` (the loans' rounding modes, one row per loan) — whatever the loan's status.
    Reduced by position: no loan id is matched."""
    n = len(rounding)
    cur = lines.with_columns(_g=pl.Series(row, dtype=pl.Int64)).filter(_current(as_of))
    modes = rounding.unique()
    if len(modes) == 1:  # one rounding mode for the whole book
        cur = cur.with_columns(_rounding=pl.lit(_ROUNDING[modes[0]], pl.Int8))
    else:
        codes = rounding.replace_strict(_ROUNDING, return_dtype=pl.Int8)
        cur = cur.with_columns(_rounding=codes.gather(cur["_g"]))
    earned = _earned(cur.lazy(), as_of).collect()
    out = []
    for c in ("accrued_interest", "accrued_fee"):
        v = np.zeros(n, dtype=np.int64)
        v[earned["_g"].to_numpy()] = earned[c].to_numpy()
        out.append(v)
    return out[0], out[1]


def _current(as_of: date) -> pl.Expr:
    """The live lines whose period holds ``as_of``."""
    d = pl.lit(as_of)
    return pl.col("live") & (pl.col("start_on") <= d) & (d < pl.col("due_on"))


def _accrued(loans: pl.DataFrame, lines: pl.DataFrame, as_of: date) -> pl.LazyFrame:
    """Interest and fee of the current period earned by ``as_of``, pro rata by days (only the
    lines whose period contains the date: about one per running loan)."""
    current = lines.lazy().filter(_current(as_of))
    modes = loans["rounding"].unique()
    if len(modes) == 1:  # one rounding mode for the whole book: no join needed
        current = current.with_columns(_rounding=pl.lit(_ROUNDING[modes[0]], pl.Int8))
    else:
        current = current.join(loans.lazy().select("loan_id", pl.col("rounding").replace_strict(
            _ROUNDING, return_dtype=pl.Int8).alias("_rounding")), on="loan_id")
    return _earned(current, as_of)


def _earned(current: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """``_g, accrued_interest, accrued_fee`` from the current lines (with ``_g``, the group,
    and ``_rounding``, the loan's rounding code)."""
    d = pl.lit(as_of)
    return current.group_by("_g").agg(
        _pro_rata("interest", d).sum().alias("accrued_interest"),
        _pro_rata("fee", d).sum().alias("accrued_fee"))


def _next_due(lines: pl.DataFrame, as_of: date) -> pl.LazyFrame:
    """The next due date on or after ``as_of`` and what the borrower must pay on it if nothing
    else changes (as ``views.snapshot``): the lines due that day, less what is already paid of
    them (interest and fee paid count only on the due date itself)."""
    d = pl.lit(as_of)
    due = pl.col("due_on")
    amount = (pl.col("principal") - pl.col("paid_principal") - pl.col("waived_principal")
              + pl.col("interest") + pl.col("fee") + _out("penalty")
              - pl.when(due == d).then(pl.col("paid_interest") + pl.col("paid_fee"))
              .otherwise(0))
    up = lines.lazy().filter(pl.col("live") & (due >= d)).select(
        "_g", due.cast(pl.Int32).alias("_d"), amount.alias("_a")).collect()
    g = up["_g"].to_numpy()
    if not len(g):
        return pl.LazyFrame(schema={"_g": up.schema["_g"], "next_due_on": pl.Date,
                                    "next_due_amount": pl.Int64})
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    days = up["_d"].to_numpy().astype(np.int64)
    first = np.minimum.reduceat(days, starts)
    on_it = days == np.repeat(first, np.diff(np.r_[starts, len(g)]))
    total = np.add.reduceat(np.where(on_it, up["_a"].to_numpy(), 0), starts)
    return pl.LazyFrame({"_g": up["_g"].gather(starts),
                         "next_due_on": pl.Series(first).cast(pl.Int32).cast(pl.Date),
                         "next_due_amount": pl.Series(total, dtype=pl.Int64)})
