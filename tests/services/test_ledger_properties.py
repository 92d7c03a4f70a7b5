"""Ledger invariants under random operation sequences, through the real services and store
(SQLite and PostgreSQL): bookings, payments early/partial/late/over, backdated payments,
duplicates, reversals and re-posting, waivers, write-offs and accrual to arbitrary dates."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import Engine

from arrears.book.terms import Component
from arrears.services.accrual import accrue_through
from arrears.services.operations import (
    OperationError,
    loan_as_of,
    post_payment,
    reverse,
    waive,
    write_off,
)
from arrears.services.reconcile import reconcile
from tests.services.booking_helpers import book, truncate

NOW = datetime(2026, 1, 1, 12, 0)
START = date(2025, 1, 10)


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine

    loans = Bundle("loans")
    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        truncate(self.engine)
        self.n = 0
        self.today = START
        self.starts: dict[str, date] = {}

    def _id(self, p: str) -> str:
        self.n += 1
        return f"{p}{self.n}"

    def _balances(self, loan_id: str) -> tuple[int, ...]:
        s = loan_as_of(self.engine, loan_id, self._day(loan_id))
        return (*s.outstanding.values(), s.credit, s.recovered)

    def _day(self, loan: str) -> date:
        """Today, or the loan's start if it was booked with a later date."""
        return max(self.today, self.starts[loan])

    @initialize(target=loans)
    def first_loan(self) -> str:
        loan = book(self.engine, self._id("L"), START, term_count=3)
        self.starts[loan] = START
        return loan

    @rule(target=loans, method=st.sampled_from(["equal-instalment", "equal-principal",
                                                 "interest-first", "bullet"]),
          terms=st.integers(1, 4), period=st.sampled_from(["month", "14d"]),
          grace=st.integers(0, 3), over=st.sampled_from(["reduce-term", "reduce-instalment",
                                                         "credit"]),
          scope=st.sampled_from(["instalment-first", "component-first"]),
          days=st.integers(0, 40))
    def book_loan(self, method: str, terms: int, period: str, grace: int, over: str,
                  scope: str, days: int) -> str:
        start = START + timedelta(days=days)
        loan = book(self.engine, self._id("L"), start, method=method, term_count=terms,
                    period=period, grace_days=grace, overpayment=over, allocation_scope=scope)
        self.starts[loan] = start
        return loan

    @rule(target=payments, loan=loans, days=st.integers(0, 200),
          amount=st.sampled_from(["1.00", "37.77", "300.00", "1000.00", "2600.00", "9000.00"]))
    def pay(self, loan: str, days: int, amount: str) -> tuple[str, str, int, datetime]:
        at = datetime.combine(START + timedelta(days=days), datetime.min.time())
        pid = self._id("P")
        minor = int(Decimal(amount) * 100)
        try:
            post_payment(self.engine, pid, loan, minor, at, "test", "prop", NOW)
        except OperationError as exc:
            # before the loan existed, or a backdated payment that would leave a later
            # fixed-amount waiver with more than is owed: refused, nothing changes
            assert "before the loan started" in str(exc) or "cannot be posted" in str(exc), exc
        self.today = max(self.today, at.date())
        return (pid, loan, minor, at)

    @rule(p=payments)
    def same_payment_twice_changes_nothing(self, p: tuple[str, str, int, datetime]) -> None:
        pid, loan, minor, at = p
        before = self._balances(loan)
        try:
            out = post_payment(self.engine, pid, loan, minor, at, "test", "prop", NOW)
        except OperationError:
            return  # it was refused the first time too (or reversed: a different content)
        assert out.status == "duplicate"
        assert self._balances(loan) == before

    @rule(p=consumes(payments))
    def reverse_then_repost_gives_the_same_balances(
            self, p: tuple[str, str, int, datetime]) -> None:
        pid, loan, minor, at = p
        before = self._balances(loan)
        try:
            reverse(self.engine, pid, self._id("R"), self._day(loan), "test reversal", "prop",
                    NOW)
        except OperationError:
            return  # the payment was refused, or its loan's later events forbid it
        post_payment(self.engine, self._id("P"), loan, minor, at, "test", "prop", NOW)
        assert self._balances(loan) == before, "re-posting a reversed payment must restore it"

    @rule(loan=loans, component=st.sampled_from(list(Component)), part=st.booleans())
    def waive_some(self, loan: str, component: Component, part: bool) -> None:
        day = self._day(loan)
        s = loan_as_of(self.engine, loan, day)
        owed = s.outstanding[component]
        amount = owed // 2 if part else None
        if part and amount == 0:
            return
        if owed == 0:
            return
        try:
            waive(self.engine, self._id("W"), loan, component, amount, day, "hardship",
                  "prop", NOW)
        except OperationError as exc:
            assert "written off" in str(exc), exc

    @rule(loan=loans)
    def write_off_loan(self, loan: str) -> None:
        try:
            write_off(self.engine, self._id("X"), loan, self._day(loan), "uncollectable", "prop",
                      NOW)
        except OperationError as exc:
            assert "only an active loan" in str(exc)

    @rule(days=st.integers(1, 60))
    def accrue(self, days: int) -> None:
        self.today += timedelta(days=days)
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.exec_driver_sql("SELECT loan_id FROM loans")]
            accrue_through(conn, ids, self.today, NOW)
            again = accrue_through(conn, ids, self.today, NOW)
        assert again == 0  # accruing to the same day twice posts nothing

    @invariant()
    def book_reconciles(self) -> None:
        with self.engine.connect() as conn:
            rep = reconcile(conn, replay_sample=None)
        assert rep.ok, [str(b) for b in rep.breaks[:5]]


@pytest.mark.slow
def test_ledger_invariants(db: Engine) -> None:
    LedgerMachine.engine = db
    run = LedgerMachine.TestCase
    examples = int(os.environ.get("ARREARS_PROPERTY_EXAMPLES", "15"))  # deeper runs: set higher
    run.settings = settings(max_examples=examples, stateful_step_count=14, deadline=None,
                            suppress_health_check=list(HealthCheck))
    run().runTest()
