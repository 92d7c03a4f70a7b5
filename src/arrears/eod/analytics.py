"""Portfolio analytics over daily loan snapshots (组合分析): roll rates (迁徙率), flow rates
(流动率), cure rates (治愈率), vintages (账龄分析) and the bucket table (逾期分布).

Pure functions over a snapshot frame (``eod.snapshot.SNAPSHOT_SCHEMA``; only the columns in
``*_COLUMNS`` are read): no I/O, no clock, the report date is an argument. Month-over-month
reports read one snapshot per calendar month — the last one on or before the report date,
which is itself the last point — and a month without a snapshot is reported as missing, never
filled in. The business dates that have a snapshot are read from the frame, or given as
``dates`` (an empty book's snapshot has no row to show its date). Bucket names and their
order (``bucket_rank``) come from the data.

Every result holds integer counts and minor units in Polars frames (schemas on each class);
``tables()`` renders them as rows with money as ``Decimal`` major units and rates as
``Decimal`` fractions of ``RATE_PLACES`` places (half-up, exact from the integers), and
``as_json()`` as strings. See docs/reports.md for the definitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from arrears.money import Rounding, div_round, to_major

RATE_PLACES = 4
EXITS = ("closed", "written-off", "missing")
"""Destinations for loans that leave the active book: closed (结清, paid off), written off
(核销), or absent from the later snapshot."""

ROLL_COLUMNS = ("as_of", "loan_id", "currency", "status", "stage", "bucket", "bucket_rank",
                "outstanding_principal")
VINTAGE_COLUMNS = ("as_of", "loan_id", "currency", "status", "stage", "principal",
                   "disbursed_on", "dpd", "outstanding_principal")
BUCKET_COLUMNS = ("as_of", "loan_id", "currency", "status", "stage", "bucket", "bucket_rank",
                  "outstanding_total", "outstanding_principal", "overdue_fee",
                  "overdue_penalty", "overdue_interest", "overdue_principal")

Frame = pl.DataFrame | pl.LazyFrame
Rows = list[dict[str, Any]]

# Where a loan stands in the book: written off, closed (closed earlier or settled that day),
# or active. Status is the ledger's word; stage is read too so either alone suffices.
_STATE = (pl.when((pl.col("status") == "written-off") | (pl.col("stage") == "written-off"))
          .then(pl.lit("written-off"))
          .when((pl.col("status") == "closed") | pl.col("stage").is_in(["closed", "settled"]))
          .then(pl.lit("closed"))
          .otherwise(pl.lit("active")))


class MixedCurrencies(ValueError):
    """Snapshots of more than one currency: balances cannot be added up."""


@dataclass(frozen=True, slots=True)
class MonthEnd:
    month: str  # "YYYY-MM"
    as_of: date | None  # the month's last snapshot on or before the report date; None: none


def month_ends(dates: Iterable[date], as_of: date, months: int | None) -> tuple[MonthEnd, ...]:
    """The month-end points of a report ending on ``as_of``, oldest first: ``as_of`` itself,
    then the last snapshot date of each of the ``months`` calendar months before it (all
    months back to the first snapshot's when ``months`` is None). Raises ValueError when
    there is no snapshot on ``as_of``."""
    known = sorted(d for d in set(dates) if d <= as_of)
    if not known or known[-1] != as_of:
        raise ValueError(f"no snapshot on {as_of}")
    if months is not None and months < 0:
        raise ValueError(f"months must not be negative, got {months}")
    last = _month_index(as_of)
    first = _month_index(known[0]) if months is None else last - months
    latest: dict[int, date] = {_month_index(d): d for d in known}  # sorted: the last one wins
    return tuple(MonthEnd(_month_label(i), latest.get(i)) for i in range(first, last + 1))


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_label(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def rate(num: int, den: int) -> Decimal | None:
    """``num / den`` as a fraction of RATE_PLACES places, half-up; None when ``den`` is 0."""
    if den == 0:
        return None
    return Decimal(div_round(num * 10**RATE_PLACES, den, Rounding.HALF_UP)).scaleb(-RATE_PLACES)


# --- reading month-end rows -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    rows: pl.LazyFrame  # the month-end rows, with "point" (index into points) and "state"
    points: tuple[MonthEnd, ...]
    currency: str | None
    buckets: tuple[tuple[str, int], ...]  # (name, rank) in rank order


def _prepare(snapshots: Frame, as_of: date, months: int | None, columns: tuple[str, ...],
             dates: Iterable[date] | None) -> _Prepared:
    lf = snapshots.lazy().select(columns)
    if dates is None:
        dates = lf.select(pl.col("as_of").unique()).collect()["as_of"].to_list()
    points = month_ends(dates, as_of, months)
    chosen = [p.as_of for p in points if p.as_of is not None]
    index = [i for i, p in enumerate(points) if p.as_of is not None]
    rows = lf.filter(pl.col("as_of").is_in(chosen)).with_columns(
        point=pl.col("as_of").replace_strict(chosen, index, return_dtype=pl.Int32),
        state=_STATE)
    return _Prepared(rows, points, *_check(rows, "bucket" in columns))


def _check(rows: pl.LazyFrame,
           with_buckets: bool) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    """The single currency and the bucket order of ``rows``; ValueError on mixed currencies
    or a loan twice in one snapshot."""
    queries = [rows.select(pl.col("currency").drop_nulls().unique().sort()),
               rows.select(pl.struct("as_of", "loan_id").is_duplicated().any().alias("dup"))]
    if with_buckets:
        queries.append(rows.filter(pl.col("bucket").is_not_null())
                       .group_by("bucket").agg(pl.col("bucket_rank").min())
                       .sort("bucket_rank", "bucket"))
    found = pl.collect_all(queries)
    currencies = found[0]["currency"].to_list()
    if len(currencies) > 1:
        raise MixedCurrencies(f"snapshots hold several currencies ({', '.join(currencies)}): "
                              "report one at a time")
    if found[1]["dup"].item():
        raise ValueError("a loan appears twice in one snapshot")
    order = tuple(found[2].iter_rows()) if with_buckets else ()
    return (currencies[0] if currencies else None), order


def _pairs_frame(points: tuple[MonthEnd, ...]) -> pl.DataFrame:
    """Consecutive month-end pairs that both have a snapshot; ``point`` is the earlier one."""
    ok = [i for i in range(len(points) - 1)
          if points[i].as_of is not None and points[i + 1].as_of is not None]
    return pl.DataFrame({
        "point": ok,
        "from_month": [points[i].month for i in ok],
        "to_month": [points[i + 1].month for i in ok],
        "from_as_of": [points[i].as_of for i in ok],
        "to_as_of": [points[i + 1].as_of for i in ok],
    }, schema={"point": pl.Int32, "from_month": pl.String, "to_month": pl.String,
               "from_as_of": pl.Date, "to_as_of": pl.Date})


def _transitions(p: _Prepared) -> pl.LazyFrame:
    """One row per loan active at a month-end whose next month-end has a snapshot: its bucket
    and outstanding principal then, and where it went (``to``: a bucket or one of EXITS).
    Loans first seen at the later date are not here."""
    complete = _pairs_frame(p.points)["point"].to_list()
    start = p.rows.filter(pl.col("point").is_in(complete) & (pl.col("state") == "active"))
    end = p.rows.select("loan_id", pl.col("point") - 1, to_state="state",
                        to_bucket="bucket", to_rank="bucket_rank")
    return start.select("loan_id", "point", from_bucket="bucket", from_rank="bucket_rank",
                        balance="outstanding_principal").join(
        end, on=["loan_id", "point"], how="left").with_columns(
        to=pl.when(pl.col("to_state").is_null()).then(pl.lit("missing"))
        .when(pl.col("to_state") != "active").then(pl.col("to_state"))
        .otherwise(pl.col("to_bucket")),
        to_rank=pl.when(pl.col("to_state") == "active").then(pl.col("to_rank")))


# --- results ----------------------------------------------------------------------------


def _money(minor: int | None, currency: str | None) -> Decimal | None:
    return None if minor is None else to_major(minor, currency or "CNY")


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal | date):
        return str(v) if isinstance(v, Decimal) else v.isoformat()
    return v


def _json_rows(rows: Rows) -> Rows:
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


@dataclass(frozen=True, eq=False)
class _Periodic:
    as_of: date
    currency: str | None
    points: tuple[MonthEnd, ...]

    @property
    def missing_months(self) -> list[str]:
        return [p.month for p in self.points if p.as_of is None]

    def header(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "currency": self.currency,
                "months": [{"month": p.month, "as_of": _jsonable(p.as_of)}
                           for p in self.points],
                "missing_months": self.missing_months}

    def tables(self) -> dict[str, Rows]:
        raise NotImplementedError

    def as_json(self) -> dict[str, Any]:
        return {**self.header(), **{k: _json_rows(v) for k, v in self.tables().items()}}


@dataclass(frozen=True, eq=False)
class RollRates(_Periodic):
    """``matrix``: for every complete month pair × from-bucket × destination (buckets in rank
    order, then EXITS), zeros included — from_month, to_month (str), from_as_of, to_as_of
    (date), from_bucket (str), from_rank (int), to (str), to_rank (int; null for an exit),
    loans, balance (outstanding principal at from_as_of, minor units), row_loans, row_balance
    (the from-bucket's totals)."""

    buckets: tuple[str, ...]
    matrix: pl.DataFrame

    def tables(self) -> dict[str, Rows]:
        cur = self.currency
        return {"roll_rates": [{
            "from_month": r["from_month"], "to_month": r["to_month"],
            "from_as_of": r["from_as_of"], "to_as_of": r["to_as_of"],
            "from_bucket": r["from_bucket"], "from_loans": r["row_loans"],
            "from_balance": _money(r["row_balance"], cur), "to": r["to"],
            "loans": r["loans"], "balance": _money(r["balance"], cur),
            "loans_share": rate(r["loans"], r["row_loans"]),
            "balance_share": rate(r["balance"], r["row_balance"]),
        } for r in self.matrix.iter_rows(named=True)]}


def roll_rates(snapshots: Frame, as_of: date, months: int = 6,
               dates: Iterable[date] | None = None) -> RollRates:
    """Month-over-month roll-rate matrices over the ``months`` month pairs ending on
    ``as_of``: loans active at each month-end, by bucket, against their bucket (or exit) at
    the next month-end, by count and by outstanding principal at the start."""
    p = _prepare(snapshots, as_of, months, ROLL_COLUMNS, dates)
    names = [b for b, _ in p.buckets]
    dests = pl.DataFrame({"to": [*names, *EXITS],
                          "to_rank": [r for _, r in p.buckets] + [None] * len(EXITS),
                          "order": range(len(names) + len(EXITS))},
                         schema={"to": pl.String, "to_rank": pl.Int8, "order": pl.Int32})
    froms = pl.DataFrame({"from_bucket": names, "from_rank": [r for _, r in p.buckets]},
                         schema={"from_bucket": pl.String, "from_rank": pl.Int8})
    cells = _transitions(p).group_by("point", "from_bucket", "to").agg(
        loans=pl.len().cast(pl.Int64), balance=pl.col("balance").sum())
    matrix = (_pairs_frame(p.points).lazy().join(froms.lazy(), how="cross")
              .join(dests.lazy(), how="cross")
              .join(cells, on=["point", "from_bucket", "to"], how="left")
              .with_columns(pl.col("loans", "balance").fill_null(0))
              .with_columns(row_loans=pl.col("loans").sum().over("point", "from_bucket"),
                            row_balance=pl.col("balance").sum().over("point", "from_bucket"))
              .sort("point", "from_rank", "from_bucket", "order")
              .drop("point", "order").collect())
    return RollRates(as_of, p.currency, p.points, tuple(names), matrix)


@dataclass(frozen=True, eq=False)
class FlowRates(_Periodic):
    """``flows``: per complete month pair and bucket k but the last — from_month, to_month,
    from_bucket, to_bucket (the next in rank order), from_balance (outstanding principal of
    active loans in from_bucket at from_month), to_balance (same for to_bucket at to_month)."""

    flows: pl.DataFrame

    def tables(self) -> dict[str, Rows]:
        cur = self.currency
        return {"flow_rates": [{
            "from_month": r["from_month"], "to_month": r["to_month"],
            "from_bucket": r["from_bucket"], "to_bucket": r["to_bucket"],
            "from_balance": _money(r["from_balance"], cur),
            "to_balance": _money(r["to_balance"], cur),
            "rate": rate(r["to_balance"], r["from_balance"]),
        } for r in self.flows.iter_rows(named=True)]}


def flow_rates(snapshots: Frame, as_of: date, months: int = 6,
               dates: Iterable[date] | None = None) -> FlowRates:
    """Flow rates per month pair: balance in bucket k+1 at month m+1 ÷ balance in bucket k at
    month m (outstanding principal of active loans), for each bucket k but the last."""
    p = _prepare(snapshots, as_of, months, ROLL_COLUMNS, dates)
    names = [b for b, _ in p.buckets]
    steps = pl.DataFrame({"k": range(len(names[1:])), "from_bucket": names[:-1],
                          "to_bucket": names[1:]},
                         schema={"k": pl.Int32, "from_bucket": pl.String, "to_bucket": pl.String})
    bal = (p.rows.filter(pl.col("state") == "active").group_by("point", "bucket")
           .agg(balance=pl.col("outstanding_principal").sum()))
    flows = (_pairs_frame(p.points).lazy().join(steps.lazy(), how="cross")
             .join(bal.select("point", from_bucket="bucket", from_balance="balance"),
                   on=["point", "from_bucket"], how="left")
             .join(bal.select(pl.col("point") - 1, to_bucket="bucket", to_balance="balance"),
                   on=["point", "to_bucket"], how="left")
             .with_columns(pl.col("from_balance", "to_balance").fill_null(0))
             .sort("point", "k")
             .select("from_month", "to_month", "from_bucket", "to_bucket", "from_balance",
                     "to_balance").collect())
    return FlowRates(as_of, p.currency, p.points, flows)


@dataclass(frozen=True, eq=False)
class CureRates(_Periodic):
    """``cures``: per complete month pair — from_month, to_month, delinquent_loans,
    delinquent_balance (active, bucket_rank > 0 at from_month; outstanding principal then),
    cured_loans, cured_balance (of those: in bucket rank 0 and active, or closed, at
    to_month), closed_loans, closed_balance (the closed part of the cured)."""

    cures: pl.DataFrame

    def tables(self) -> dict[str, Rows]:
        cur = self.currency
        return {"cure_rates": [{
            "from_month": r["from_month"], "to_month": r["to_month"],
            "delinquent_loans": r["delinquent_loans"],
            "delinquent_balance": _money(r["delinquent_balance"], cur),
            "cured_loans": r["cured_loans"], "cured_balance": _money(r["cured_balance"], cur),
            "closed_loans": r["closed_loans"],
            "closed_balance": _money(r["closed_balance"], cur),
            "loans_rate": rate(r["cured_loans"], r["delinquent_loans"]),
            "balance_rate": rate(r["cured_balance"], r["delinquent_balance"]),
        } for r in self.cures.iter_rows(named=True)]}


def cure_rate(snapshots: Frame, as_of: date, months: int = 6,
              dates: Iterable[date] | None = None) -> CureRates:
    """Cure rates per month pair: of loans delinquent (bucket_rank > 0, active) at month-end
    m, the share by count and by outstanding principal at m that are current (bucket_rank 0,
    active) or closed at m+1."""
    p = _prepare(snapshots, as_of, months, ROLL_COLUMNS, dates)
    cured = (pl.col("to_rank") == 0) | (pl.col("to") == "closed")
    closed = pl.col("to") == "closed"
    counts = _transitions(p).filter(pl.col("from_rank") > 0).group_by("point").agg(
        delinquent_loans=pl.len().cast(pl.Int64), delinquent_balance=pl.col("balance").sum(),
        cured_loans=cured.sum().cast(pl.Int64),
        cured_balance=pl.col("balance").filter(cured).sum(),
        closed_loans=closed.sum().cast(pl.Int64),
        closed_balance=pl.col("balance").filter(closed).sum())
    measures = ["delinquent_loans", "delinquent_balance", "cured_loans", "cured_balance",
                "closed_loans", "closed_balance"]
    cures = (_pairs_frame(p.points).lazy().join(counts, on="point", how="left")
             .with_columns(pl.col(measures).fill_null(0)).sort("point")
             .select("from_month", "to_month", *measures).collect())
    return CureRates(as_of, p.currency, p.points, cures)


@dataclass(frozen=True, eq=False)
class Vintages(_Periodic):
    """``curves``: per origination month (vintage) and month-end with a snapshot from it on —
    vintage (str "YYYY-MM"), mob (int: calendar months from the vintage to the month-end),
    month, month_as_of, loans and principal (the vintage's loans and originated principal),
    bad_loans, bad_principal (loans with dpd ≥ threshold_dpd, or written off, at that
    month-end, and their originated principal), bad_outstanding (their outstanding principal
    then)."""

    threshold_dpd: int
    curves: pl.DataFrame

    def tables(self) -> dict[str, Rows]:
        cur = self.currency
        return {"vintages": [{
            "vintage": r["vintage"], "mob": r["mob"], "month": r["month"],
            "month_as_of": r["month_as_of"], "loans": r["loans"],
            "principal": _money(r["principal"], cur), "bad_loans": r["bad_loans"],
            "bad_principal": _money(r["bad_principal"], cur),
            "bad_outstanding": _money(r["bad_outstanding"], cur),
            "loans_share": rate(r["bad_loans"], r["loans"]),
            "principal_share": rate(r["bad_principal"], r["principal"]),
            "outstanding_share": rate(r["bad_outstanding"], r["principal"]),
        } for r in self.curves.iter_rows(named=True)]}

    def header(self) -> dict[str, Any]:
        return {**super().header(), "threshold_dpd": self.threshold_dpd}


def vintages(snapshots: Frame, as_of: date, threshold_dpd: int = 30,
             months: int | None = None, dates: Iterable[date] | None = None) -> Vintages:
    """Vintage curves from month-end snapshots up to ``as_of`` (the last ``months`` months, or
    all): per origination month and months on book, the share of the vintage's loans and
    originated principal with dpd ≥ ``threshold_dpd`` or written off, and the outstanding
    principal of those loans over the originated principal. A vintage is every loan disbursed
    in the month that appears in any of those snapshots."""
    p = _prepare(snapshots, as_of, months, VINTAGE_COLUMNS, dates)
    rows = p.rows.with_columns(
        v=pl.col("disbursed_on").dt.year().cast(pl.Int32) * 12
        + pl.col("disbursed_on").dt.month().cast(pl.Int32) - 1,
        vintage=pl.col("disbursed_on").dt.strftime("%Y-%m"))
    cohorts = (rows.sort("as_of").group_by("loan_id")
               .agg(pl.col("v", "vintage", "principal").last())
               .group_by("v", "vintage")
               .agg(loans=pl.len().cast(pl.Int64), principal=pl.col("principal").sum()))
    bad = (rows.filter((pl.col("dpd") >= threshold_dpd) | (pl.col("state") == "written-off"))
           .group_by("v", "point").agg(bad_loans=pl.len().cast(pl.Int64),
                                       bad_principal=pl.col("principal").sum(),
                                       bad_outstanding=pl.col("outstanding_principal").sum()))
    ok = [i for i, pt in enumerate(p.points) if pt.as_of is not None]
    pts = pl.DataFrame({
        "point": ok, "month": [p.points[i].month for i in ok],
        "month_as_of": [p.points[i].as_of for i in ok],
        "m": [_month_index(as_of) - (len(p.points) - 1 - i) for i in ok],
    }, schema={"point": pl.Int32, "month": pl.String, "month_as_of": pl.Date, "m": pl.Int32})
    curves = (cohorts.join(pts.lazy(), how="cross").filter(pl.col("m") >= pl.col("v"))
              .join(bad, on=["v", "point"], how="left")
              .with_columns(pl.col("bad_loans", "bad_principal", "bad_outstanding")
                            .fill_null(0), mob=pl.col("m") - pl.col("v"))
              .sort("v", "mob")
              .select("vintage", "mob", "month", "month_as_of", "loans", "principal",
                      "bad_loans", "bad_principal", "bad_outstanding").collect())
    return Vintages(as_of, p.currency, p.points, threshold_dpd, curves)


@dataclass(frozen=True, eq=False)
class BucketTotals:
    """``table``: per bucket of active loans, in rank order — bucket (str), bucket_rank (int),
    loans, outstanding_total, outstanding_principal, overdue_total (minor units)."""

    as_of: date | None
    currency: str | None
    table: pl.DataFrame
    closed_loans: int
    written_off_loans: int

    def tables(self) -> dict[str, Rows]:
        cur = self.currency
        total = int(self.table["outstanding_total"].sum())
        sums = {c: int(self.table[c].sum()) for c in
                ("loans", "outstanding_total", "outstanding_principal", "overdue_total")}
        rows = [{"bucket": r["bucket"], "loans": r["loans"],
                 "outstanding_total": _money(r["outstanding_total"], cur),
                 "outstanding_principal": _money(r["outstanding_principal"], cur),
                 "overdue_total": _money(r["overdue_total"], cur),
                 "balance_share": rate(r["outstanding_total"], total)}
                for r in self.table.iter_rows(named=True)]
        rows.append({"bucket": "total", "loans": sums["loans"],
                     **{c: _money(sums[c], cur) for c in
                        ("outstanding_total", "outstanding_principal", "overdue_total")},
                     "balance_share": rate(total, total)})
        return {"buckets": rows}

    def as_json(self) -> dict[str, Any]:
        return {"as_of": _jsonable(self.as_of), "currency": self.currency,
                "closed_loans": self.closed_loans, "written_off_loans": self.written_off_loans,
                **{k: _json_rows(v) for k, v in self.tables().items()}}


def buckets(snapshot: Frame, as_of: date | None = None) -> BucketTotals:
    """Outstanding by bucket on one business date (``as_of``, or the only date in
    ``snapshot``): active loans' count, outstanding total and principal, overdue total, in
    bucket_rank order; closed and written-off loans counted apart."""
    lf = snapshot.lazy().select(BUCKET_COLUMNS)
    if as_of is not None:
        lf = lf.filter(pl.col("as_of") == as_of)
    dates = lf.select(pl.col("as_of").unique()).collect()["as_of"].to_list()
    if len(dates) > 1:
        raise ValueError(f"buckets() reads one day's snapshot, got {len(dates)} dates")
    rows = lf.with_columns(state=_STATE)
    currency, _ = _check(rows, with_buckets=False)
    overdue = pl.sum_horizontal("overdue_fee", "overdue_penalty", "overdue_interest",
                                "overdue_principal")
    table, states = pl.collect_all([
        rows.filter(pl.col("state") == "active").group_by("bucket").agg(
            pl.col("bucket_rank").min(), loans=pl.len().cast(pl.Int64),
            outstanding_total=pl.col("outstanding_total").sum(),
            outstanding_principal=pl.col("outstanding_principal").sum(),
            overdue_total=overdue.sum()).sort("bucket_rank", "bucket"),
        rows.group_by("state").agg(n=pl.len())])
    n = dict(states.iter_rows())
    return BucketTotals(as_of if as_of is not None else (dates[0] if dates else None),
                        currency, table, int(n.get("closed", 0)), int(n.get("written-off", 0)))
