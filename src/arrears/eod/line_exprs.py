"""Expressions over instalment lines (``vector_engine.LINE_SCHEMA``) shared by the steps."""

from __future__ import annotations

import polars as pl

COMPONENTS = ("fee", "penalty", "interest", "principal")


def outstanding(c: str) -> pl.Expr:
    """What is owed on the line in component ``c``: charged − paid − waived − written off."""
    return (pl.col(f"charged_{c}") - pl.col(f"paid_{c}") - pl.col(f"waived_{c}")
            - pl.col(f"written_off_{c}"))


def owed() -> pl.Expr:
    """What is owed on the line, all components."""
    return pl.sum_horizontal(*[outstanding(c) for c in COMPONENTS])
