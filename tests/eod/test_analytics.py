"""Portfolio analytics on a small book whose month-ends are written out by hand: every matrix
cell, flow, cure and vintage share below was worked out from the table, to the fen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from arrears.eod.analytics import (
    EXITS,
    MonthEnd,
    buckets,
    cure_rate,
    flow_rates,
    month_ends,
    rate,
    roll_rates,
    vintages,
)
from arrears.eod.snapshot import SNAPSHOT_SCHEMA
from arrears.money import to_minor

RANK = {"M0": 0, "M1": 1, "M2": 2, "M3": 3, "M4": 4, "M5": 5, "M6": 6}
ENDS = ("2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30")
AS_OF = date(2025, 4, 30)

# Month-end states: "bucket dpd outstanding-principal", a word for a loan out of the book
# (settled = closed that day, closed = closed before, written-off), "-" = not in the snapshot.
BOOK = """
loan disbursed  principal | 2025-01-31   | 2025-02-28   | 2025-03-31   | 2025-04-30
A    2024-12-10 1000.00   | M0 0  900.00 | M1 10 900.00 | M2 38 900.00 | M3 69 900.00
B    2024-12-20 2000.00   | M1 10 1800.00| M0 0 1700.00 | M0 0 1600.00 | settled
C    2025-01-05 500.00    | M0 0  500.00 | M0 0  450.00 | M1 20 450.00 | M2 50 450.00
D    2024-11-15 3000.00   | M2 45 2500.00| M3 75 2500.00| written-off  | written-off
E    2025-02-10 800.00    | -            | M0 0  800.00 | M0 0  750.00 | M1 5  750.00
F    2024-12-01 600.00    | M1 15 400.00 | M2 43 400.00 | settled      | closed
G    2024-12-05 700.00    | M1 20 300.00 | -            | -            | -
"""

# Snapshots that are not month-ends (or after the report date): if any were read, buckets
# M5/M6 would appear and the matrices would change.
DECOYS = """
loan disbursed  principal | 2025-02-15   | 2025-05-31
A    2024-12-10 1000.00   | M5 140 900.00| M6 170 900.00
"""


def row(as_of: str, loan: str, disbursed: str, principal: str, state: str,
        currency: str = "CNY", **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = dict.fromkeys(SNAPSHOT_SCHEMA)
    r.update(as_of=date.fromisoformat(as_of), loan_id=loan, currency=currency,
             disbursed_on=date.fromisoformat(disbursed), principal=to_minor(principal),
             overdue_fee=0, overdue_penalty=0, overdue_interest=0, overdue_principal=0)
    if state in ("settled", "closed", "written-off"):
        r.update(status="closed" if state != "written-off" else "written-off", stage=state,
                 bucket="M0", bucket_rank=0, dpd=0, outstanding_principal=0,
                 outstanding_total=0)
    else:
        bucket, dpd, owed = state.split()
        r.update(status="active", stage="overdue" if int(dpd) else "current", bucket=bucket,
                 bucket_rank=RANK[bucket], dpd=int(dpd), outstanding_principal=to_minor(owed),
                 outstanding_total=to_minor(owed))
    r.update(extra)
    return r


def book(text: str = BOOK, **extra: Any) -> pl.DataFrame:
    lines = [ln for ln in text.strip().splitlines()]
    days = [c.strip() for c in lines[0].split("|")[1:]]
    rows = []
    for ln in lines[1:]:
        head, *cells = (c.strip() for c in ln.split("|"))
        loan, disbursed, principal = head.split()
        rows += [row(d, loan, disbursed, principal, c, **extra)
                 for d, c in zip(days, cells, strict=True) if c != "-"]
    return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA)


def full_book() -> pl.DataFrame:
    return pl.concat([book(), book(DECOYS)])


def matrix(rep: Any, from_month: str, field: str) -> dict[str, list[Any]]:
    """One month pair's matrix: from-bucket -> the values of ``field`` per destination."""
    out: dict[str, list[Any]] = {}
    for r in rep.tables()["roll_rates"]:
        if r["from_month"] == from_month:
            out.setdefault(r["from_bucket"], []).append(r[field])
    return out


def D(*values: str | None) -> list[Decimal | None]:
    return [None if v is None else Decimal(v) for v in values]


# --- month-ends -------------------------------------------------------------------------


def test_month_ends_take_the_last_snapshot_of_each_month_and_name_missing_months() -> None:
    dates = [date(2025, 1, 10), date(2025, 1, 31), date(2025, 3, 5), date(2025, 3, 20),
             date(2025, 4, 15), date(2025, 4, 30), date(2025, 5, 31)]
    assert month_ends(dates, date(2025, 4, 15), 4) == (
        MonthEnd("2024-12", None), MonthEnd("2025-01", date(2025, 1, 31)),
        MonthEnd("2025-02", None), MonthEnd("2025-03", date(2025, 3, 20)),
        MonthEnd("2025-04", date(2025, 4, 15)))
    assert [m.month for m in month_ends(dates, date(2025, 4, 30), None)] == [
        "2025-01", "2025-02", "2025-03", "2025-04"]
    assert month_ends(dates, date(2025, 5, 31), 0) == (MonthEnd("2025-05", date(2025, 5, 31)),)
    with pytest.raises(ValueError, match="no snapshot on 2025-04-29"):
        month_ends(dates, date(2025, 4, 29), 3)


def test_rate_is_half_up_to_four_places_and_none_over_nothing() -> None:
    assert rate(1, 3) == Decimal("0.3333")
    assert rate(2, 3) == Decimal("0.6667")
    assert rate(1, 8) == Decimal("0.1250")
    assert rate(5, 100000) == Decimal("0.0001")  # 0.00005 rounds half up
    assert rate(0, 0) is None


# --- roll rates -------------------------------------------------------------------------

DEST = ["M0", "M1", "M2", "M3", *EXITS]


def test_roll_rate_matrices_by_count_follow_each_loan_to_the_next_month_end() -> None:
    rep = roll_rates(full_book(), AS_OF, months=3)
    assert rep.buckets == ("M0", "M1", "M2", "M3")  # M5/M6 only in the decoys
    assert rep.missing_months == []
    assert {r["to"] for r in rep.tables()["roll_rates"]} == set(DEST)
    assert [r["to"] for r in rep.tables()["roll_rates"][:7]] == DEST
    #                      M0 M1 M2 M3 closed written-off missing
    assert matrix(rep, "2025-01", "loans") == {
        "M0": [1, 1, 0, 0, 0, 0, 0],   # C stays, A rolls
        "M1": [1, 0, 1, 0, 0, 0, 1],   # B cures, F rolls, G vanishes
        "M2": [0, 0, 0, 1, 0, 0, 0],   # D
        "M3": [0, 0, 0, 0, 0, 0, 0]}
    assert matrix(rep, "2025-02", "loans") == {  # E, new in Feb, is now in the M0 row
        "M0": [2, 1, 0, 0, 0, 0, 0],
        "M1": [0, 0, 1, 0, 0, 0, 0],
        "M2": [0, 0, 0, 0, 1, 0, 0],   # F settles
        "M3": [0, 0, 0, 0, 0, 1, 0]}   # D written off
    assert matrix(rep, "2025-03", "loans") == {  # D and F are out of the book: no row
        "M0": [0, 1, 0, 0, 1, 0, 0],
        "M1": [0, 0, 1, 0, 0, 0, 0],
        "M2": [0, 0, 0, 1, 0, 0, 0],
        "M3": [0, 0, 0, 0, 0, 0, 0]}


def test_roll_rates_by_balance_use_outstanding_principal_at_the_start_month() -> None:
    rep = roll_rates(full_book(), AS_OF, months=3)
    assert matrix(rep, "2025-01", "balance")["M1"] == D(
        "1800.00", "0.00", "400.00", "0.00", "0.00", "0.00", "300.00")
    assert matrix(rep, "2025-01", "balance_share")["M1"] == D(
        "0.7200", "0.0000", "0.1600", "0.0000", "0.0000", "0.0000", "0.1200")
    assert matrix(rep, "2025-01", "loans_share")["M1"] == D(
        "0.3333", "0.0000", "0.3333", "0.0000", "0.0000", "0.0000", "0.3333")
    assert matrix(rep, "2025-01", "balance_share")["M0"][:2] == D("0.3571", "0.6429")
    assert matrix(rep, "2025-02", "balance_share")["M0"][:2] == D("0.8475", "0.1525")
    assert matrix(rep, "2025-02", "loans_share")["M0"][:2] == D("0.6667", "0.3333")
    assert matrix(rep, "2025-03", "balance_share")["M0"] == D(
        "0.0000", "0.3191", "0.0000", "0.0000", "0.6809", "0.0000", "0.0000")
    assert matrix(rep, "2025-03", "balance_share")["M3"] == [None] * 7  # nobody in M3


def test_roll_rates_skip_pairs_across_a_missing_month() -> None:
    no_feb = full_book().filter(pl.col("as_of").dt.month() != 2)
    rep = roll_rates(no_feb, AS_OF, months=3)
    assert rep.missing_months == ["2025-02"]
    assert {(r["from_month"], r["to_month"]) for r in rep.tables()["roll_rates"]} == {
        ("2025-03", "2025-04")}
    body = rep.as_json()
    assert body["months"][1] == {"month": "2025-02", "as_of": None}


def test_roll_rates_before_the_first_snapshot_report_those_months_missing() -> None:
    rep = roll_rates(full_book(), AS_OF, months=5)
    assert rep.missing_months == ["2024-11", "2024-12"]
    assert rep.matrix["from_month"].unique().sort().to_list() == [
        "2025-01", "2025-02", "2025-03"]


def test_roll_rates_take_the_last_snapshot_in_a_month_when_the_month_end_is_missing() -> None:
    only_15th = full_book().filter(pl.col("as_of") != date(2025, 2, 28))
    rep = roll_rates(only_15th, AS_OF, months=3)
    assert rep.points[1] == MonthEnd("2025-02", date(2025, 2, 15))
    assert "M5" in rep.buckets  # the 15th's A, read because it is February's last snapshot


def test_a_single_month_has_no_pairs_and_an_empty_book_has_no_rows() -> None:
    single = roll_rates(full_book(), date(2025, 1, 31), months=0)
    assert single.matrix.is_empty() and single.points == (MonthEnd("2025-01", date(2025, 1, 31)),)
    empty = pl.DataFrame(schema=SNAPSHOT_SCHEMA)
    rep = roll_rates(empty, AS_OF, months=1, dates=[date(2025, 3, 31), AS_OF])
    assert rep.buckets == () and rep.tables() == {"roll_rates": []}
    assert rep.as_json()["missing_months"] == []
    assert cure_rate(empty, AS_OF, months=1, dates=[date(2025, 3, 31), AS_OF]).tables() == {
        "cure_rates": [{"from_month": "2025-03", "to_month": "2025-04",
                        "delinquent_loans": 0, "delinquent_balance": Decimal("0.00"),
                        "cured_loans": 0, "cured_balance": Decimal("0.00"), "closed_loans": 0,
                        "closed_balance": Decimal("0.00"), "loans_rate": None,
                        "balance_rate": None}]}
    with pytest.raises(ValueError, match="no snapshot on 2025-04-30"):
        roll_rates(empty, AS_OF)


def test_mixed_currencies_and_a_loan_twice_in_a_snapshot_are_refused() -> None:
    usd = book(currency="USD").with_columns(pl.col("loan_id") + "-usd")
    with pytest.raises(ValueError, match=r"several currencies \(CNY, USD\)"):
        roll_rates(pl.concat([book(), usd]), AS_OF, months=3)
    with pytest.raises(ValueError, match="twice in one snapshot"):
        flow_rates(pl.concat([book(), book().filter(pl.col("loan_id") == "A")]), AS_OF)


# --- flow and cure rates ----------------------------------------------------------------


def test_flow_rates_divide_next_bucket_balance_next_month_by_this_bucket_this_month() -> None:
    rep = flow_rates(full_book().lazy(), AS_OF, months=3)
    got = [(r["from_month"], r["from_bucket"], r["to_bucket"], r["from_balance"],
            r["to_balance"], r["rate"]) for r in rep.tables()["flow_rates"]]
    assert got == [
        ("2025-01", "M0", "M1", Decimal("1400.00"), Decimal("900.00"), Decimal("0.6429")),
        ("2025-01", "M1", "M2", Decimal("2500.00"), Decimal("400.00"), Decimal("0.1600")),
        ("2025-01", "M2", "M3", Decimal("2500.00"), Decimal("2500.00"), Decimal("1.0000")),
        ("2025-02", "M0", "M1", Decimal("2950.00"), Decimal("450.00"), Decimal("0.1525")),
        ("2025-02", "M1", "M2", Decimal("900.00"), Decimal("900.00"), Decimal("1.0000")),
        ("2025-02", "M2", "M3", Decimal("400.00"), Decimal("0.00"), Decimal("0.0000")),
        ("2025-03", "M0", "M1", Decimal("2350.00"), Decimal("750.00"), Decimal("0.3191")),
        ("2025-03", "M1", "M2", Decimal("450.00"), Decimal("450.00"), Decimal("1.0000")),
        ("2025-03", "M2", "M3", Decimal("900.00"), Decimal("900.00"), Decimal("1.0000")),
    ]


def test_cure_rate_counts_delinquent_loans_back_in_the_first_bucket_or_closed() -> None:
    rep = cure_rate(full_book(), AS_OF, months=3)
    got = [(r["from_month"], r["delinquent_loans"], r["delinquent_balance"], r["cured_loans"],
            r["cured_balance"], r["closed_loans"], r["loans_rate"], r["balance_rate"])
           for r in rep.tables()["cure_rates"]]
    assert got == [
        # B cures; D rolls, F rolls, G vanishes (not a cure)
        ("2025-01", 4, Decimal("5000.00"), 1, Decimal("1800.00"), 0,
         Decimal("0.2500"), Decimal("0.3600")),
        # F settles: closed counts as cured; D's write-off does not
        ("2025-02", 3, Decimal("3800.00"), 1, Decimal("400.00"), 1,
         Decimal("0.3333"), Decimal("0.1053")),
        ("2025-03", 2, Decimal("1350.00"), 0, Decimal("0.00"), 0,
         Decimal("0.0000"), Decimal("0.0000")),
    ]
    assert rep.as_json()["cure_rates"][1]["balance_rate"] == "0.1053"
    assert rep.as_json()["cure_rates"][1]["closed_balance"] == "400.00"


# --- vintages ---------------------------------------------------------------------------


def curve(rep: Any, vintage: str, field: str) -> dict[int, Any]:
    return {r["mob"]: r[field] for r in rep.tables()["vintages"] if r["vintage"] == vintage}


def test_vintage_shares_by_origination_month_and_months_on_book() -> None:
    rep = vintages(full_book(), AS_OF, threshold_dpd=30)
    rows = rep.tables()["vintages"]
    assert [(r["vintage"], r["loans"], r["principal"]) for r in rows if r["mob"] in (2,)] == [
        ("2024-11", 1, Decimal("3000.00")), ("2024-12", 4, Decimal("4300.00")),
        ("2025-01", 1, Decimal("500.00")), ("2025-02", 1, Decimal("800.00"))]
    # D: dpd 45, 75, then written off (stays bad; its principal outstanding is gone)
    assert curve(rep, "2024-11", "loans_share") == dict.fromkeys(
        (2, 3, 4, 5), Decimal("1.0000"))
    assert curve(rep, "2024-11", "outstanding_share") == {
        2: Decimal("0.8333"), 3: Decimal("0.8333"), 4: Decimal("0.0000"), 5: Decimal("0.0000")}
    # A, B, F, G (G only seen in January, still in the vintage): F bad in Feb, A from Mar
    assert curve(rep, "2024-12", "bad_loans") == {1: 0, 2: 1, 3: 1, 4: 1}
    assert curve(rep, "2024-12", "principal_share") == {
        1: Decimal("0.0000"), 2: Decimal("0.1395"), 3: Decimal("0.2326"), 4: Decimal("0.2326")}
    assert curve(rep, "2024-12", "outstanding_share") == {
        1: Decimal("0.0000"), 2: Decimal("0.0930"), 3: Decimal("0.2093"), 4: Decimal("0.2093")}
    # C: dpd 20 in March is below the threshold, 50 in April is not
    assert curve(rep, "2025-01", "principal_share") == {
        0: Decimal("0.0000"), 1: Decimal("0.0000"), 2: Decimal("0.0000"), 3: Decimal("1.0000")}
    assert curve(rep, "2025-01", "bad_outstanding") == {
        0: Decimal("0.00"), 1: Decimal("0.00"), 2: Decimal("0.00"), 3: Decimal("450.00")}
    assert curve(rep, "2025-02", "loans_share") == dict.fromkeys((0, 1, 2), Decimal("0.0000"))


def test_vintage_threshold_and_window() -> None:
    rep = vintages(full_book(), AS_OF, threshold_dpd=10, months=2)
    assert rep.missing_months == [] and [p.month for p in rep.points] == [
        "2025-02", "2025-03", "2025-04"]
    # G is seen in January only, outside the window: the vintage is A, B, F
    assert curve(rep, "2024-12", "loans") == {2: 3, 3: 3, 4: 3}
    # dpd ≥ 10: A (10) and F (43) in February; A in March and April
    assert curve(rep, "2024-12", "bad_loans") == {2: 2, 3: 1, 4: 1}
    assert curve(rep, "2024-12", "principal_share")[2] == Decimal("0.4444")  # 1600 / 3600
    assert rep.as_json()["threshold_dpd"] == 10


def test_vintages_leave_a_missing_month_out() -> None:
    rep = vintages(full_book().filter(pl.col("as_of").dt.month() != 3), AS_OF)
    assert rep.missing_months == ["2025-03"]
    assert curve(rep, "2025-01", "loans_share") == {
        0: Decimal("0.0000"), 1: Decimal("0.0000"), 3: Decimal("1.0000")}


# --- buckets ----------------------------------------------------------------------------


def test_buckets_total_active_loans_in_rank_order() -> None:
    day = book().filter(pl.col("as_of") == AS_OF).with_columns(
        outstanding_total=pl.col("outstanding_principal")
        + pl.col("loan_id").replace_strict({"A": 5000, "C": 2000, "E": 3000}, default=0),
        overdue_principal=pl.col("loan_id").replace_strict(
            {"A": 30000, "C": 10000, "E": 5000}, default=0),
        overdue_interest=pl.col("loan_id").replace_strict(
            {"A": 3000, "C": 1000}, default=0),
        overdue_penalty=pl.col("loan_id").replace_strict({"A": 500}, default=0),
        overdue_fee=pl.col("loan_id").replace_strict({"E": 200}, default=0))
    # shuffle so the order must come from bucket_rank
    rep = buckets(day.sample(fraction=1.0, shuffle=True, seed=3))
    assert rep.as_of == AS_OF and rep.closed_loans == 2 and rep.written_off_loans == 1
    assert [(r["bucket"], r["loans"], r["outstanding_total"], r["outstanding_principal"],
             r["overdue_total"], r["balance_share"]) for r in rep.tables()["buckets"]] == [
        ("M1", 1, Decimal("780.00"), Decimal("750.00"), Decimal("52.00"), Decimal("0.3545")),
        ("M2", 1, Decimal("470.00"), Decimal("450.00"), Decimal("110.00"), Decimal("0.2136")),
        ("M3", 1, Decimal("950.00"), Decimal("900.00"), Decimal("335.00"), Decimal("0.4318")),
        ("total", 3, Decimal("2200.00"), Decimal("2100.00"), Decimal("497.00"),
         Decimal("1.0000")),
    ]
    assert rep.as_json()["buckets"][0]["outstanding_total"] == "780.00"


def test_buckets_of_one_date_in_a_longer_history() -> None:
    rep = buckets(full_book(), date(2025, 1, 31))
    assert [(r["bucket"], r["loans"], r["outstanding_principal"])
            for r in rep.tables()["buckets"]] == [
        ("M0", 2, Decimal("1400.00")), ("M1", 3, Decimal("2500.00")),
        ("M2", 1, Decimal("2500.00")), ("total", 6, Decimal("6400.00"))]
    with pytest.raises(ValueError, match="one day's snapshot"):
        buckets(full_book())
    empty = buckets(pl.DataFrame(schema=SNAPSHOT_SCHEMA), AS_OF)
    assert empty.as_json() == {
        "as_of": "2025-04-30", "currency": None, "closed_loans": 0, "written_off_loans": 0,
        "buckets": [{"bucket": "total", "loans": 0, "outstanding_total": "0.00",
                     "outstanding_principal": "0.00", "overdue_total": "0.00",
                     "balance_share": None}]}
