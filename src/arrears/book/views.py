"""Read-only views of a loan as of a date: what ``arrears loan show`` prints and what
end-of-day's single-loan path returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from arrears.book.engine import FEE, INT, PEN, PRI, LoanEngine, LoanStatus, components_of
from arrears.book.terms import Component
from arrears.money import div_round


@dataclass(frozen=True, slots=True)
class LineView:
    n: int
    seq: int
    start_on: date
    due_on: date
    state: str  # not-due | due | grace | overdue | paid | superseded
    past_due_days: int
    scheduled: dict[Component, int]
    charged: dict[Component, int]
    paid: dict[Component, int]
    waived: dict[Component, int]
    written_off: dict[Component, int]
    outstanding: dict[Component, int]
    pending_penalty: int


@dataclass(frozen=True, slots=True)
class LoanSnapshot:
    as_of: date
    status: LoanStatus
    currency: str
    lines: tuple[LineView, ...]
    outstanding: dict[Component, int]  # receivable balances, as the journal holds them
    overdue: dict[Component, int]  # of instalments whose due date has passed
    charged: dict[Component, int]
    paid: dict[Component, int]
    waived: dict[Component, int]
    written_off: dict[Component, int]
    principal_not_due: int
    accrued_interest: int  # current period, earned but not yet due (pro rata by days)
    accrued_fee: int
    pending_penalty: int  # within grace; becomes a receivable only if the grace is exceeded
    credit: int
    recovered: int
    past_due_days: int
    dpd: int
    oldest_unpaid_due: date | None
    next_due_on: date | None
    next_due_amount: int
    payoff: int  # to settle in full today
    closed_on: date | None

    @property
    def overdue_total(self) -> int:
        return sum(self.overdue.values())

    @property
    def outstanding_total(self) -> int:
        return sum(self.outstanding.values())


def _sum(lines: list[list[int]]) -> list[int]:
    tot = [0, 0, 0, 0]
    for v in lines:
        for c in range(4):
            tot[c] += v[c]
    return tot


def snapshot(engine: LoanEngine, as_of: date) -> LoanSnapshot:
    """The loan as of the end of ``as_of`` (the engine itself is left untouched)."""
    eng = engine.copy()
    eng.advance_to(as_of)
    grace = eng.terms.grace_days
    views = []
    overdue = [0, 0, 0, 0]
    accrued_int = accrued_fee = 0
    next_due: date | None = None
    next_amount = 0
    oldest: date | None = None
    for ln in sorted(eng.lines, key=lambda x: (x.due_on, x.seq)):
        out = [ln.out(c) for c in range(4)]
        owed = sum(out)
        pdd = (as_of - ln.due_on).days if ln.due_on < as_of and owed > 0 else 0
        if not ln.live:
            state = "superseded"
        elif ln.due_on > as_of:
            state = "not-due"
        elif owed == 0:
            state = "paid"
        elif ln.due_on == as_of:
            state = "due"
        else:
            state = "grace" if pdd <= grace and not ln.grace_done else "overdue"
        if ln.live and ln.due_on < as_of:
            overdue = [overdue[c] + out[c] for c in range(4)]
            if owed > 0 and oldest is None:
                oldest = ln.due_on
        if ln.live and ln.start_on <= as_of < ln.due_on and eng.status is LoanStatus.ACTIVE:
            span = (ln.due_on - ln.start_on).days
            used = (as_of - ln.start_on).days
            accrued_int += div_round(ln.interest * used, span, eng.terms.rounding)
            accrued_fee += div_round(ln.fee * used, span, eng.terms.rounding)
        if ln.live and ln.due_on >= as_of and next_due is None and eng.status is LoanStatus.ACTIVE:
            next_due = ln.due_on
        scheduled = [ln.fee, 0, ln.interest, ln.principal]
        views.append(LineView(
            ln.n, ln.seq, ln.start_on, ln.due_on, state, pdd,
            components_of(scheduled), components_of(ln.charged), components_of(ln.paid),
            components_of(ln.waived), components_of(ln.written_off), components_of(out),
            ln.pending_penalty))
    if next_due is not None:
        for ln in eng.lines:
            if ln.live and ln.due_on == next_due:
                # what the borrower must pay on that date if nothing else changes
                next_amount += (ln.principal - ln.paid[PRI] - ln.waived[PRI]
                                + ln.interest + ln.fee + ln.out(PEN)
                                - (ln.paid[INT] + ln.paid[FEE] if ln.due_on == as_of else 0))
    outstanding = list(eng.outstanding())
    principal_not_due = sum(ln.out(PRI) for ln in eng.lines if ln.live and ln.due_on >= as_of)
    payoff = max(0, sum(outstanding) + accrued_int + accrued_fee - eng.credit)
    if eng.status is not LoanStatus.ACTIVE:
        payoff = 0 if eng.status is LoanStatus.CLOSED else payoff
    return LoanSnapshot(
        as_of=as_of, status=eng.status, currency=eng.terms.currency, lines=tuple(views),
        outstanding=components_of(outstanding), overdue=components_of(overdue),
        charged=components_of(_sum([ln.charged for ln in eng.lines])),
        paid=components_of(_sum([ln.paid for ln in eng.lines])),
        waived=components_of(_sum([ln.waived for ln in eng.lines])),
        written_off=components_of(_sum([ln.written_off for ln in eng.lines])),
        principal_not_due=principal_not_due, accrued_interest=accrued_int,
        accrued_fee=accrued_fee,
        pending_penalty=sum(ln.pending_penalty for ln in eng.lines if ln.live),
        credit=eng.credit, recovered=eng.recovered,
        past_due_days=eng.past_due_days(as_of), dpd=eng.dpd(as_of),
        oldest_unpaid_due=oldest, next_due_on=next_due, next_due_amount=next_amount,
        payoff=payoff, closed_on=eng.closed_on,
    )


__all__ = ["FEE", "INT", "PEN", "PRI", "LineView", "LoanSnapshot", "snapshot", "timedelta"]
