"""Booking loans as frames: terms checked, schedules built (``book.vector``), the legal cost-cap
check, the sub-ledger lines and the disbursement entries — written in one transaction per
batch over ADBC. One path for one loan and for a million.

What a row gets here equals ``LoanEngine.open`` on the same terms (tests prove it): lines with
principal receivable from disbursement and nothing else charged, and one disbursement entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Engine

from arrears.book.engine import ACCOUNTS
from arrears.book.terms import (
    AllocationScope,
    Component,
    DpdGrace,
    GracePenalty,
    LoanTerms,
    Method,
    Overpayment,
    Waterfall,
)
from arrears.book.vector import build_schedules
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.contract.validate import ROW
from arrears.money import Rounding
from arrears.store import schema
from arrears.store.arrow_io import bulk
from arrears.store.loans import LINE_COLUMNS
from arrears.store.state_frames import log_changes

CapFrame = Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], pl.DataFrame]
"""(schedule terms, schedules, legal facts) → the cap columns per ``loan_id``
(see services.loan_caps.cap_frame)."""

EXTRA_LOAN_FIELDS = ("lender_name", "contract_no")
_DECIMAL_COLUMNS = ("annual_rate", "service_fee_rate", "late_fee_rate",
                    "penalty_rate_multiplier", "penalty_rate")


def terms_from_record(r: Mapping[str, Any]) -> LoanTerms:
    """``LoanTerms`` from a validated loan record (contract field names, typed values)."""
    return LoanTerms(
        principal=int(r["principal"]),
        annual_rate=Decimal(r["annual_rate"]),
        method=Method(r["repayment_method"]),
        term_count=int(r["term_count"]),
        period=Period.parse(r["period"]),
        start=r["disbursed_on"],
        currency=r["currency"],
        first_due=r.get("first_due_on"),
        basis=DayCount(r.get("basis") or "30/360"),
        rounding=Rounding(r.get("rounding") or "half-up"),
        month_end=MonthEnd(r.get("month_end") or "clamp"),
        upfront_fee=int(r["upfront_fee"]),
        service_fee_rate=Decimal(r.get("service_fee_rate") or "0"),
        service_fee_fixed=int(r.get("service_fee_fixed") or 0),
        late_fee_fixed=int(r.get("late_fee_fixed") or 0),
        late_fee_rate=Decimal(r.get("late_fee_rate") or "0"),
        penalty_multiplier=Decimal(r["penalty_rate_multiplier"]),
        penalty_rate=Decimal(r["penalty_rate"]) if r.get("penalty_rate") else None,
        penalty_on_interest=bool(r.get("penalty_on_interest") or False),
        grace_days=int(r.get("grace_days") or 0),
        grace_penalty=GracePenalty(r.get("grace_penalty") or "retroactive"),
        dpd_grace=DpdGrace(r.get("dpd_grace") or "threshold"),
        waterfall=Waterfall(
            tuple(Component(c) for c in (r.get("waterfall")
                                         or "fee,penalty,interest,principal").split(",")),
            AllocationScope(r.get("allocation_scope") or "instalment-first")),
        overpayment=Overpayment(r.get("overpayment") or "credit"),
    )


@dataclass(slots=True)
class Booked:
    loans: int = 0
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (row, reason)
    over_cap: int = 0


def _refusals(loans: pl.DataFrame) -> pl.DataFrame:
    """Terms the engine would refuse (``LoanTerms`` checks), with the reason per row."""
    why = (pl.when(pl.col("principal") <= 0).then(pl.lit("principal must be positive"))
           .when(pl.col("upfront_fee") >= pl.col("principal"))
           .then(pl.lit("upfront_fee must be less than the principal"))
           .when(pl.col("first_due_on") <= pl.col("disbursed_on"))
           .then(pl.concat_str(pl.lit("first due date "), pl.col("first_due_on").cast(pl.String),
                               pl.lit(" is not after the start "),
                               pl.col("disbursed_on").cast(pl.String))))
    return loans.select(ROW, why.alias("_why")).filter(pl.col("_why").is_not_null())


def _normalised(loans: pl.DataFrame) -> pl.DataFrame:
    """Columns as the loans table stores them (periods and decimals in canonical text)."""
    periods = {p: str(Period.parse(p)) for p in loans["period"].unique().to_list()}
    exprs = [pl.col("period").replace_strict(periods, return_dtype=pl.String)]
    for c in _DECIMAL_COLUMNS:
        values = {v: str(Decimal(v)) for v in loans[c].drop_nulls().unique().to_list()}
        exprs.append(pl.col(c).replace_strict(values, default=None, return_dtype=pl.String))
    return loans.with_columns(exprs)


def _schedule_terms(loans: pl.DataFrame) -> pl.DataFrame:
    """The columns ``book.vector`` builds schedules from (and the upfront fee the APR needs)."""
    return loans.select(
        "loan_id", "principal", "annual_rate", pl.col("repayment_method").alias("method"),
        pl.col("term_count").cast(pl.Int32), "period", pl.col("disbursed_on").alias("start"),
        pl.col("first_due_on").alias("first_due"), "basis", "rounding", "month_end",
        "service_fee_rate", "service_fee_fixed", "upfront_fee")


def _lines(schedules: pl.DataFrame) -> pl.DataFrame:
    zero = pl.lit(0, dtype=pl.Int64)
    measures = {f"{m}_{c}": (pl.col("principal") if (m, c) == ("charged", "principal") else zero)
                for m in ("charged", "paid", "waived", "written_off")
                for c in schema.COMPONENT_COLUMNS}
    return schedules.select(
        "loan_id", pl.col("n").cast(pl.Int64).alias("seq"), pl.col("n").cast(pl.Int64),
        "start_on", "due_on", "principal", "interest", "fee",
        **measures, pending_penalty=zero, grace_done=pl.lit(False), live=pl.lit(True),
    ).select(LINE_COLUMNS)


def _journal(loans: pl.DataFrame, now: datetime) -> pl.DataFrame:
    amounts = {a: pl.lit(0, dtype=pl.Int64) for a in ACCOUNTS}
    amounts["principal"] = pl.col("principal")
    amounts["cash"] = pl.col("upfront_fee") - pl.col("principal")
    amounts["fee_income"] = -pl.col("upfront_fee")
    return loans.select(
        "loan_id", n=pl.lit(1, dtype=pl.Int32), event_id=pl.lit(None, dtype=pl.String),
        kind=pl.lit("disbursement"),
        value_date=pl.col("disbursed_on"), posted_at=pl.lit(now, dtype=pl.Datetime("us")),
        reverses=pl.lit(None, dtype=pl.Int64), **amounts)


def _loan_rows(loans: pl.DataFrame, counts: pl.DataFrame, caps: pl.DataFrame,
               run_id: int | None, now: datetime) -> pl.DataFrame:
    extras = [c for c in EXTRA_LOAN_FIELDS if c in loans.columns]
    extra = (pl.struct(extras).struct.json_encode() if extras else pl.lit("{}"))
    df = loans.join(counts, on="loan_id").join(caps, on="loan_id", how="left")
    return df.select(
        "loan_id", "borrower_id", "product_code", "lender_type", "currency", "principal",
        "annual_rate", "repayment_method", pl.col("term_count").cast(pl.Int64), "period",
        "disbursed_on", "contract_signed_on", "first_due_on", "basis", "rounding",
        "month_end", "upfront_fee", "service_fee_rate", "service_fee_fixed", "late_fee_fixed",
        "late_fee_rate", "penalty_rate_multiplier", "penalty_rate", "penalty_on_interest",
        pl.col("grace_days").cast(pl.Int64), "grace_penalty", "dpd_grace", "waterfall",
        "allocation_scope", "overpayment", "cost_cap_rate", "all_in_rate", "cap_excess",
        "cap_basis", extra.alias("extra"), pl.col("_hash").alias("content_hash"),
        ingest_run_id=pl.lit(run_id, dtype=pl.Int64),
        created_at=pl.lit(now, dtype=pl.Datetime("us")), status=pl.lit("active"),
        accrued_through=pl.col("disbursed_on"), credit=pl.lit(0, dtype=pl.Int64),
        recovered=pl.lit(0, dtype=pl.Int64), closed_on=pl.lit(None, dtype=pl.Date),
        next_seq=pl.col("_lines") + 1, journal_n=pl.lit(1, dtype=pl.Int32),
        event_n=pl.lit(0, dtype=pl.Int32), version=pl.lit(1, dtype=pl.Int64),
    )


def book_frame(engine: Engine, loans: pl.DataFrame, run_id: int | None, now: datetime,
               caps: CapFrame | None = None) -> Booked:
    """Book validated loan rows (contract columns, typed; ``_row`` and ``_hash`` carried).
    Refused terms are returned with the reason; over-cap loans are booked and flagged."""
    out = Booked()
    refused = _refusals(loans)
    out.rejected = list(zip(refused[ROW].to_list(), refused["_why"].to_list(), strict=True))
    loans = loans.filter(~pl.col(ROW).is_in(refused[ROW].implode()))
    if loans.is_empty():
        return out
    loans = _normalised(loans)
    terms = _schedule_terms(loans)
    schedules = build_schedules(terms.drop("upfront_fee"))
    counts = schedules.group_by("loan_id").agg(pl.len().cast(pl.Int64).alias("_lines"))
    if caps is not None:
        cap_cols = caps(terms, schedules,
                        loans.select("loan_id", "lender_type", "contract_signed_on"))
    else:
        cap_cols = loans.select("loan_id").with_columns(
            [pl.lit(None, dtype=pl.String).alias(c) for c in
             ("cost_cap_rate", "all_in_rate", "cap_excess", "cap_basis")])
    # a count of flagged loans, not a money or rate value: a float comparison is fine here
    out.over_cap = int(cap_cols.filter(pl.col("cap_excess").cast(pl.Float64) > 0).height)
    rows = _loan_rows(loans, counts, cap_cols, run_id, now)
    with bulk(engine) as b:
        b.insert(schema.loans, rows)
        log_changes(b, rows["loan_id"])
        b.append(schema.instalments, _lines(schedules))
        b.append(schema.journal, _journal(loans, now))
    out.loans = rows.height
    return out
