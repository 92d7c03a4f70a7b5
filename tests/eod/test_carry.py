"""Finding yesterday's row of each loan for the carry-over (``eod.carry``): by position on the
usual night, by binary search when loans came and went in between."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from arrears.eod.carry import _rows_before


def test_new_loans_after_yesterdays_line_up_row_for_row() -> None:
    rows = _rows_before(pl.Series(["A1", "A2", "A3", "A4"]), pl.Series(["A1", "A2", "A3"]))
    assert rows.tolist() == [0, 1, 2, -1]


@given(st.sets(st.integers(0, 60), max_size=30), st.sets(st.integers(0, 60), max_size=30))
def test_each_loan_finds_its_row_whatever_came_and_went(today: set[int],
                                                         before: set[int]) -> None:
    book = sorted(f"L{i:03d}" for i in today)
    then = sorted(f"L{i:03d}" for i in before)
    rows = _rows_before(pl.Series(book, dtype=pl.String), pl.Series(then, dtype=pl.String))
    assert rows.tolist() == [then.index(b) if b in then else -1 for b in book]
