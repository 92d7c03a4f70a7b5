"""Booking loans: terms from validated rows, the schedule, the legal cap check, the
disbursement entry — written in bulk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from arrears.book.engine import LoanEngine
from arrears.book.terms import (
    AllocationScope,
    Component,
    DpdGrace,
    GracePenalty,
    LenderType,
    LoanTerms,
    Method,
    Overpayment,
    Waterfall,
)
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.money import Rounding
from arrears.store import schema
from arrears.store.bulk import insert_rows
from arrears.store.loans import LINE_COLUMNS, journal_rows, line_row, terms_columns

CapChecker = Callable[[LoanTerms, LenderType, date], Mapping[str, Any]]


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


EXTRA_LOAN_FIELDS = ("lender_name", "contract_no")


@dataclass(slots=True)
class Booked:
    loans: int = 0
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (ref, reason)
    over_cap: int = 0


def book_loans(conn: Connection, records: Iterable[Mapping[str, Any]], run_id: int | None,
               now: datetime, cap_check: CapChecker | None = None) -> Booked:
    """Book validated loan records. A record whose terms the engine refuses is rejected with
    the reason; an over-cap loan is booked and flagged with its excess (never dropped)."""
    out = Booked()
    loan_rows: list[dict[str, Any]] = []
    line_rows: list[tuple[Any, ...]] = []
    jrows: list[tuple[Any, ...]] = []
    for r in records:
        try:
            terms = terms_from_record(r)
            eng = LoanEngine.open(terms)
        except (ValueError, ArithmeticError) as exc:
            out.rejected.append((r.get("_row"), f"terms refused: {exc}"))
            continue
        cap: Mapping[str, Any] = {}
        if cap_check is not None:
            cap = cap_check(terms, LenderType(r["lender_type"]), r["contract_signed_on"])
            if cap.get("cap_excess") and Decimal(cap["cap_excess"]) > 0:
                out.over_cap += 1
        loan_id = r["loan_id"]
        loan_rows.append({
            "loan_id": loan_id, "borrower_id": r["borrower_id"],
            "product_code": r.get("product_code"), "lender_type": r["lender_type"],
            "contract_signed_on": r["contract_signed_on"], **terms_columns(terms),
            "cost_cap_rate": cap.get("cost_cap_rate"), "all_in_rate": cap.get("all_in_rate"),
            "cap_excess": cap.get("cap_excess"), "cap_basis": cap.get("cap_basis"),
            "extra": {k: r[k] for k in EXTRA_LOAN_FIELDS if r.get(k)},
            "content_hash": r["_hash"], "ingest_run_id": run_id, "created_at": now,
            "status": eng.status.value, "accrued_through": eng.accrued_through, "credit": 0,
            "recovered": 0, "closed_on": None, "next_seq": eng.next_seq, "version": 1,
        })
        line_rows.extend(line_row(loan_id, ln) for ln in eng.lines)
        jrows.extend(journal_rows(loan_id, eng.take_entries(), now))
        out.loans += 1
    if loan_rows:
        conn.execute(schema.loans.insert(), loan_rows)
    insert_rows(conn, schema.instalments, LINE_COLUMNS, line_rows)
    from arrears.store.loans import write_journal
    write_journal(conn, jrows)
    return out
