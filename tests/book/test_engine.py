"""The loan engine, stated as a loan officer would: a loan, what happened, what is owed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from arrears.book.engine import (
    EngineError,
    Line,
    LoanEngine,
    LoanStatus,
    replay,
)
from arrears.book.events import Payment, Waiver, WriteOff
from arrears.book.schedule import build_schedule
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
from arrears.book.views import snapshot
from arrears.calendar import Period

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
D = date.fromisoformat


def half_up(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def loan(**kw: object) -> LoanTerms:
    base: dict[str, object] = dict(principal=1_000_000, annual_rate=Decimal("0.18"),
                                   method=Method.EQUAL_INSTALMENT, term_count=12,
                                   period=Period.parse("month"), start=D("2025-01-15"))
    base.update(kw)
    return LoanTerms(**base)  # type: ignore[arg-type]


def pay(eid: str, day: str, yuan: str) -> Payment:
    return Payment(eid, D(day), int(Decimal(yuan) * 100))


def test_on_time_payments_leave_nothing_overdue() -> None:
    t = loan()
    sched = build_schedule(t)
    events = [Payment(f"P{i.n}", i.due_on, i.total) for i in sched.instalments]
    eng = replay(t, events)
    assert eng.status is LoanStatus.CLOSED
    assert eng.outstanding() == (0, 0, 0, 0)
    assert sum(sum(ln.charged[:3]) for ln in eng.lines) == sched.interest + sched.fee


def test_late_payment_pays_penalty_before_interest_before_principal() -> None:
    # 10,000.00 at 18 %, 12 months; instalment 1 due 2025-02-15 paid 5 days late with 500.00
    t = loan()
    first = build_schedule(t).instalments[0]
    eng = replay(t, [pay("P1", "2025-02-20", "500.00")])
    ln = eng.lines[0]
    daily = half_up(first.principal * Decimal("0.27") / 360)  # 1.5 × 18 %, 30/360 daily rate
    assert ln.paid[1] == 5 * daily  # penalty first, all of it
    assert ln.paid[2] == first.interest  # then interest, all of it
    assert ln.paid[3] == 50_000 - 5 * daily - first.interest  # principal gets the rest
    assert ln.out(3) == first.principal - ln.paid[3]


def test_grace_period_forgives_penalty_when_paid_within_it() -> None:
    t = loan(grace_days=3, late_fee_fixed=2_000)
    first = build_schedule(t).instalments[0]
    eng = replay(t, [Payment("P1", D("2025-02-18"), first.total)])  # 3 days late = in grace
    assert eng.lines[0].owed() == 0
    assert eng.lines[0].charged[1] == 0 and eng.lines[0].charged[0] == 0
    assert snapshot(eng, D("2025-02-18")).dpd == 0


def test_exceeding_grace_charges_penalty_from_the_due_date_and_a_late_fee() -> None:
    t = loan(grace_days=3, late_fee_fixed=2_000)
    first = build_schedule(t).instalments[0]
    daily = half_up(first.principal * Decimal("0.27") / 360)
    eng = replay(t, [], through=D("2025-02-19"))  # 4th day past due: grace exceeded
    ln = eng.lines[0]
    assert ln.charged[1] == 4 * daily  # retroactive to the day after the due date
    assert ln.charged[0] == 2_000
    forgiven = replay(loan(grace_days=3, grace_penalty=GracePenalty.FORGIVEN), [],
                      through=D("2025-02-19"))
    assert forgiven.lines[0].charged[1] == 1 * daily


def test_dpd_counts_from_the_oldest_unpaid_instalment_under_both_grace_rules() -> None:
    t = loan(grace_days=3)
    eng = replay(t, [], through=D("2025-03-20"))
    assert eng.past_due_days(D("2025-03-20")) == 33  # due 2025-02-15
    assert eng.dpd(D("2025-03-20")) == 33
    sub = replay(loan(grace_days=3, dpd_grace=DpdGrace.SUBTRACT), [], through=D("2025-03-20"))
    assert sub.dpd(D("2025-03-20")) == 30
    assert eng.dpd(D("2025-02-17")) == 0  # within grace


def test_compound_penalty_also_runs_on_overdue_interest() -> None:
    simple = replay(loan(), [], through=D("2025-03-01"))
    compound = replay(loan(penalty_on_interest=True), [], through=D("2025-03-01"))
    first = build_schedule(loan()).instalments[0]
    days = (D("2025-03-01") - first.due_on).days
    assert simple.lines[0].charged[1] == days * half_up(first.principal * Decimal("0.27") / 360)
    assert compound.lines[0].charged[1] == days * half_up(
        (first.principal + first.interest) * Decimal("0.27") / 360)


def test_penalty_is_the_same_however_often_the_loan_is_advanced() -> None:
    t = loan(grace_days=2, late_fee_rate=Decimal("0.05"), penalty_on_interest=True)
    events = [pay("P1", "2025-03-03", "300.00"), pay("P2", "2025-05-20", "2000.00")]
    once = replay(t, events, through=D("2025-09-30"))
    daily = LoanEngine.open(t)
    for ev in events:
        day = daily.accrued_through
        while day < ev.value_date:
            day += timedelta(days=1)
            daily.advance_to(day)
        daily.apply(ev)
    daily.advance_to(D("2025-09-30"))
    assert daily.outstanding() == once.outstanding()
    assert [ln.charged for ln in daily.lines] == [ln.charged for ln in once.lines]


def test_every_entry_balances_and_the_journal_equals_the_receivables() -> None:
    t = loan(upfront_fee=30_000, service_fee_rate=Decimal("0.06"), grace_days=1,
             late_fee_fixed=1_500)
    eng = replay(t, [pay("P1", "2025-02-25", "700.00"), pay("P2", "2025-04-15", "3000.00"),
                     Waiver("W1", D("2025-04-20"), Component.PENALTY, None, "hardship")],
                 through=D("2025-06-30"))
    totals: dict[str, int] = {}
    for e in eng.entries:
        assert e.balanced, e
        for k, v in e.amounts.items():
            totals[k] = totals.get(k, 0) + v
    fee, pen, itr, pri = eng.outstanding()
    assert (totals.get("fee", 0), totals.get("penalty", 0), totals.get("interest", 0),
            totals["principal"]) == (fee, pen, itr, pri)
    assert totals["cash"] == -t.net_disbursed + 70_000 + 300_000
    assert totals["fee_income"] <= -30_000  # the upfront fee was earned at disbursement


def test_prepayment_reduces_the_term_and_charges_interest_only_for_days_used() -> None:
    t = loan(overpayment=Overpayment.REDUCE_TERM)
    sched = build_schedule(t)
    first = sched.instalments[0]
    eng = replay(t, [Payment("P1", first.due_on, first.total),
                     pay("P2", "2025-02-25", "3000.00")])
    live = [ln for ln in eng.lines if ln.live]
    part = next(ln for ln in live if ln.due_on == D("2025-02-25"))
    second = sched.instalments[1]
    assert part.interest == half_up(Decimal(second.interest) * 10 / 28)  # 10 of 28 days used
    assert part.principal == 300_000 - part.interest
    future = [ln for ln in live if ln.due_on > D("2025-02-25")]
    assert sum(ln.principal for ln in future) == sum(
        i.principal for i in sched.instalments[1:]) - part.principal
    assert len(future) < 11  # the term got shorter
    assert future[1].principal + future[1].interest == second.total  # same instalment


def test_prepayment_reduce_instalment_keeps_the_end_date() -> None:
    t = loan(overpayment=Overpayment.REDUCE_INSTALMENT)
    first = build_schedule(t).instalments[0]
    eng = replay(t, [Payment("P1", first.due_on, first.total),
                     pay("P2", "2025-02-15", "3000.00")])
    future = [ln for ln in eng.lines if ln.live and ln.due_on > D("2025-02-15")]
    assert len(future) == 11 and future[-1].due_on == D("2026-01-15")
    assert future[0].principal + future[0].interest < first.total


@pytest.mark.parametrize("policy", list(Overpayment))
def test_paying_everything_closes_the_loan_and_the_rest_is_a_credit(
        policy: Overpayment) -> None:
    eng = replay(loan(overpayment=policy), [pay("P1", "2025-03-01", "20000.00")])
    assert eng.status is LoanStatus.CLOSED
    snap = snapshot(eng, D("2025-03-01"))
    assert snap.outstanding_total == 0
    assert eng.credit == 2_000_000 - sum(sum(ln.paid) for ln in eng.lines)


def test_money_paid_ahead_is_held_and_applied_on_the_due_date_by_default() -> None:
    t = loan()
    sched = build_schedule(t)
    eng = replay(t, [pay("P1", "2025-02-01", "1000.00")], through=D("2025-03-20"))
    first, second = sched.instalments[0], sched.instalments[1]
    assert eng.lines[0].owed() == 0  # applied on 2025-02-15
    assert eng.credit == 0
    assert eng.lines[1].paid[3] + eng.lines[1].paid[2] == 100_000 - first.total
    assert eng.lines[1].out(3) + eng.lines[1].out(2) == second.total - (100_000 - first.total)


def test_waiver_refuses_more_than_outstanding_and_changes_nothing() -> None:
    eng = replay(loan(), [], through=D("2025-03-01"))
    before = eng.outstanding()
    with pytest.raises(EngineError, match="only"):
        eng.apply(Waiver("W1", D("2025-03-01"), Component.PENALTY, 10**9, "too much"))
    assert eng.outstanding() == before
    eng.apply(Waiver("W2", D("2025-03-01"), Component.PENALTY, None, "all of it"))
    assert eng.outstanding()[1] == 0


def test_write_off_clears_receivables_and_later_money_is_recovery() -> None:
    eng = replay(loan(), [WriteOff("X1", D("2025-09-01"), "180 dpd"),
                          pay("P1", "2025-10-01", "100.00")], through=D("2025-12-31"))
    assert eng.status is LoanStatus.WRITTEN_OFF
    assert eng.outstanding() == (0, 0, 0, 0)
    assert eng.recovered == 10_000
    wo = sum(sum(ln.written_off) for ln in eng.lines)
    assert wo > 1_000_000  # principal plus interest and penalty up to the write-off
    with pytest.raises(EngineError, match="written off"):
        eng.apply(Waiver("W1", D("2025-12-31"), Component.FEE, None, "x"))


def test_payment_before_start_is_refused() -> None:
    with pytest.raises(EngineError, match="before the loan started"):
        replay(loan(), [pay("P0", "2025-01-01", "1.00")])


def _vector_engine(order: list[str]) -> LoanEngine:
    """One overdue instalment with principal 3, interest 2, fee 2, penalty 4 (yuan)."""
    t = loan(principal=300, term_count=1, method=Method.BULLET,
             waterfall=Waterfall(tuple(Component(c) for c in order)))
    ln = Line(1, 1, D("2023-07-01"), D("2023-07-31"), 300, 200, 200)
    ln.charged = [200, 400, 200, 300]
    ln.grace_done = True
    t = t.with_(start=D("2023-07-01"), annual_rate=Decimal(0))
    return LoanEngine(t, [ln], accrued_through=D("2023-08-10"))


def test_fineract_late_allocation_vectors() -> None:
    data = json.loads((VECTORS / "fineract_payment_allocation.json").read_text())
    order: list[str] = []
    late = 0
    for case in data["cases"]:
        order = case.get("order", order)
        if not case["kind"].startswith("late"):
            # "in advance" payments: arrears has no charged interest or fees before a due
            # date, so money before the due date is a prepayment (Civil Code Art. 677), not
            # an allocation over not-yet-due components — those vectors do not apply
            continue
        eng = _vector_engine(order)
        eng.apply(Payment("P", D("2023-08-10"), case["amount"] * 100))
        paid = dict(zip(("fee", "penalty", "interest", "principal"), eng.lines[0].paid,
                        strict=True))
        assert paid == {k: v * 100 for k, v in case["expected"].items()}, case
        late += 1
    assert late == 4


def test_component_first_allocation_walks_components_across_instalments() -> None:
    t = loan(waterfall=Waterfall(scope=AllocationScope.COMPONENT_FIRST))
    eng = replay(t, [], through=D("2025-04-20"))
    due_pen = sum(ln.out(1) for ln in eng.lines)
    due_int = sum(ln.out(2) for ln in eng.lines)
    eng.apply(Payment("P", D("2025-04-20"), due_pen + due_int))
    assert sum(ln.out(1) for ln in eng.lines) == 0
    assert sum(ln.out(2) for ln in eng.lines) == 0
    assert all(ln.paid[3] == 0 for ln in eng.lines)  # no principal until all interest is paid
