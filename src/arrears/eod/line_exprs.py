"""Expressions over instalment lines (``vector_engine.LINE_SCHEMA``) shared by the steps."""

from __future__ import annotations

from datetime import date

import polars as pl

COMPONENTS = ("fee", "penalty", "interest", "principal")


def outstanding(c: str) -> pl.Expr:
    """What is owed on the line in component ``c``: charged − paid − waived − written off."""
    return (pl.col(f"charged_{c}") - pl.col(f"paid_{c}") - pl.col(f"waived_{c}")
            - pl.col(f"written_off_{c}"))


def owed() -> pl.Expr:
    """What is owed on the line, all components."""
    return pl.sum_horizontal(*[outstanding(c) for c in COMPONENTS])


def unfinished() -> pl.Expr:
    """A live line the engine still has work on once it falls due: interest or fee not yet
    charged, or something owed."""
    return pl.col("live") & ((pl.col("charged_interest") < pl.col("interest"))
                             | (pl.col("charged_fee") < pl.col("fee")) | (owed() > 0))


BUSY_ALWAYS = date(1, 1, 1)
"""``busy_from`` of a loan with penalty pending in grace: the engine must look at it daily."""


def busy(as_of: date) -> pl.Expr:
    """A line that gives the engine something to do by ``as_of``: an unfinished line due by
    then, or penalty pending in grace."""
    return (unfinished() & (pl.col("due_on") <= as_of)) | (pl.col("pending_penalty") > 0)


def busy_from(lines: pl.DataFrame) -> pl.DataFrame:
    """``loan_id, busy_from``: the first business date on which each loan (of those with
    lines) has work for the engine, as its lines stand — ``busy(d)`` holds for one of its
    lines exactly when ``d >= busy_from`` (null: never, until the loan changes)."""
    first = pl.when(pl.col("pending_penalty") > 0).then(pl.lit(BUSY_ALWAYS)).when(
        unfinished()).then(pl.col("due_on"))
    return lines.group_by("loan_id").agg(first.min().alias("busy_from"))
