"""Loan state read and written as frames over ADBC agrees with the row-by-row repository."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy import Engine

from arrears.store.arrow_io import bulk
from arrears.store.loans import ConcurrentUpdate, load_engines
from arrears.store.state_frames import read_state, write_lines, write_loan_state
from tests.services.booking_helpers import book


def test_frames_round_trip_and_stale_versions_are_refused(db: Engine) -> None:
    book(db, "L1", date(2025, 1, 10), term_count=3)
    book(db, "L2", date(2025, 2, 1), term_count=6, method="equal-principal")
    with bulk(db) as b:
        loans, lines = read_state(b, pl.Series(["L1", "L2", "L9"]))
    assert loans["loan_id"].sort().to_list() == ["L1", "L2"]
    assert lines.height == 9 and lines["due_on"].dtype == pl.Date
    assert lines.filter(pl.col("loan_id") == "L2")["live"].all()
    with db.connect() as c:
        engines = load_engines(c, ["L1", "L2"])
    assert lines.filter(pl.col("loan_id") == "L1")["principal"].sum() == \
        engines["L1"].engine.terms.principal

    edited = lines.with_columns(
        pl.when((pl.col("loan_id") == "L1") & (pl.col("n") == 1))
        .then(pl.col("paid_interest") + 7).otherwise(pl.col("paid_interest"))
        .alias("paid_interest"))
    state = loans.with_columns(pl.when(pl.col("loan_id") == "L2").then(123)
                               .otherwise(pl.col("credit")).alias("credit"))
    with bulk(db) as b:
        assert write_lines(b, lines, edited) == 1  # only the changed line is written
        assert write_loan_state(b, state) == 2
    with db.connect() as c:
        after = load_engines(c, ["L1", "L2"])
    assert [ln.paid[2] for ln in after["L1"].engine.lines] == [7, 0, 0]
    assert after["L2"].engine.credit == 123
    assert after["L2"].version == engines["L2"].version + 1
    with pytest.raises(ConcurrentUpdate), bulk(db) as b:
        write_loan_state(b, state)  # still at the old version: someone else wrote since
