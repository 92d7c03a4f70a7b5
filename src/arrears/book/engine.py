"""The loan engine: one loan's receivables through time, exact to the fen.

A pure state machine. ``advance_to(day)`` runs the loan's calendar through ``day``: scheduled
interest and fees fall due on their due dates, penalty interest accrues day by day on overdue
instalments, grace periods end (pending penalty crystallises, late fees are charged), a credit
balance is applied. ``apply(event)`` posts a payment, waiver or write-off on its value date.
Every change of a balance is emitted as a balanced journal ``Entry``.

Determinism is the point: the balances after any sequence of ``advance_to``/``apply`` calls
depend only on the terms and the events, never on how often the engine was advanced in
between. That is what lets end-of-day post accruals on any day and still agree to the fen with
a replay from scratch (``replay``).

Rounding points (the loan's rounding mode): ``penalty-daily`` — penalty for one day on one
instalment = base × penalty rate / year days, rounded, so a stretch of n days is n × that
amount whatever the posting points; ``late-fee``; ``prepayment-accrual`` — interest and fee of
the current period up to a prepayment, pro rata by days (Civil Code Art. 677).
"""

from __future__ import annotations

import calendar as _cal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction

from arrears.book.events import LoanEvent, Payment, Waiver, WriteOff, order_key
from arrears.book.schedule import Instalment, Schedule, build_schedule, reschedule
from arrears.book.terms import (
    COMPONENTS,
    AllocationScope,
    Component,
    DpdGrace,
    GracePenalty,
    LoanTerms,
    Method,
    Overpayment,
)
from arrears.money import div_round

FEE, PEN, INT, PRI = 0, 1, 2, 3
IDX: dict[Component, int] = {
    Component.FEE: FEE,
    Component.PENALTY: PEN,
    Component.INTEREST: INT,
    Component.PRINCIPAL: PRI,
}
RECEIVABLE = ("fee", "penalty", "interest", "principal")  # account name per component index
INCOME = ("fee_income", "penalty_income", "interest_income", None)

ACCOUNTS: tuple[str, ...] = (
    "cash",
    "principal",
    "interest",
    "fee",
    "penalty",
    "credit",
    "interest_income",
    "fee_income",
    "penalty_income",
    "waiver",
    "write_off",
    "recovery",
)
"""Journal accounts. Receivables (principal, interest, fee, penalty) are per loan; ``credit`` is
what the lender owes the borrower (overpayment); the rest are the lender's side."""


class EngineError(ValueError):
    """An event the loan cannot take (names the event and why)."""


class LoanStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"  # everything paid (结清)
    WRITTEN_OFF = "written-off"  # 核销


class EntryKind(StrEnum):
    DISBURSEMENT = "disbursement"
    ACCRUAL = "accrual"  # interest and fees falling due, penalty interest, late fees
    PAYMENT = "payment"
    CREDIT_APPLIED = "credit-applied"
    WAIVER = "waiver"
    WRITE_OFF = "write-off"
    RECOVERY = "recovery"


@dataclass(slots=True)
class Entry:
    """A balanced journal entry: amounts per account, debit positive, credit negative."""

    kind: EntryKind
    value_date: date
    event_id: str | None
    amounts: dict[str, int]

    def add(self, account: str, amount: int) -> None:
        if amount:
            self.amounts[account] = self.amounts.get(account, 0) + amount

    @property
    def balanced(self) -> bool:
        return sum(self.amounts.values()) == 0


@dataclass(slots=True)
class Line:
    """One instalment's receivables. Index 0..3 = fee, penalty, interest, principal."""

    seq: int  # row identity within the loan (never reused)
    n: int  # instalment number shown to people
    start_on: date
    due_on: date
    principal: int
    interest: int
    fee: int
    charged: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    paid: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    waived: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    written_off: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    pending_penalty: int = 0  # accrued within the grace period, not yet a receivable
    grace_done: bool = False  # the grace period has ended (late fee charged if unpaid)
    live: bool = True  # False once superseded by a reschedule

    def out(self, c: int) -> int:
        return self.charged[c] - self.paid[c] - self.waived[c] - self.written_off[c]

    def owed(self) -> int:
        """Outstanding on this line, all components."""
        c, p, w, o = self.charged, self.paid, self.waived, self.written_off
        return (c[0] + c[1] + c[2] + c[3] - p[0] - p[1] - p[2] - p[3]
                - w[0] - w[1] - w[2] - w[3] - o[0] - o[1] - o[2] - o[3])

    def copy(self) -> Line:
        return Line(self.seq, self.n, self.start_on, self.due_on, self.principal, self.interest,
                    self.fee, self.charged[:], self.paid[:], self.waived[:],
                    self.written_off[:], self.pending_penalty, self.grace_done, self.live)


def _month_end(d: date) -> date:
    return date(d.year, d.month, _cal.monthrange(d.year, d.month)[1])


class LoanEngine:
    """One loan's state and the rules that move it. Not thread-safe; cheap to ``copy``.

    ``lines`` are kept sorted by (due date, seq), so loops over them stop at the first line
    beyond the day they care about.
    """

    __slots__ = (
        "_late_den",
        "_late_num",
        "_pen_den",
        "_pen_num",
        "accrued_through",
        "closed_on",
        "credit",
        "entries",
        "lines",
        "next_seq",
        "recovered",
        "status",
        "terms",
    )

    def __init__(
        self,
        terms: LoanTerms,
        lines: list[Line],
        *,
        accrued_through: date,
        status: LoanStatus = LoanStatus.ACTIVE,
        credit: int = 0,
        recovered: int = 0,
        closed_on: date | None = None,
    ) -> None:
        self.terms = terms
        self.lines = sorted(lines, key=_line_order)
        self.accrued_through = accrued_through
        self.status = status
        self.credit = credit
        self.recovered = recovered
        self.closed_on = closed_on
        self.next_seq = max((ln.seq for ln in lines), default=0) + 1
        self.entries: list[Entry] = []
        rate = Fraction(terms.penalty_annual_rate)
        self._pen_num = rate.numerator
        self._pen_den = rate.denominator * terms.basis.year_days
        late = Fraction(terms.late_fee_rate)
        self._late_num, self._late_den = late.numerator, late.denominator

    # ----------------------------------------------------------------- construction
    @classmethod
    def open(cls, terms: LoanTerms, schedule: Schedule | None = None) -> LoanEngine:
        """A newly disbursed loan: principal receivable, cash out, upfront fee earned."""
        sched = schedule if schedule is not None else build_schedule(terms)
        lines = [_line_from(i, seq=i.n) for i in sched.instalments]
        eng = cls(terms, lines, accrued_through=terms.start)
        e = Entry(EntryKind.DISBURSEMENT, terms.start, None, {})
        e.add("principal", terms.principal)
        e.add("cash", -terms.net_disbursed)
        e.add("fee_income", -terms.upfront_fee)
        eng.entries.append(e)
        return eng

    def copy(self) -> LoanEngine:
        eng = LoanEngine(self.terms, [ln.copy() for ln in self.lines],
                         accrued_through=self.accrued_through, status=self.status,
                         credit=self.credit, recovered=self.recovered, closed_on=self.closed_on)
        eng.next_seq = self.next_seq
        return eng

    def take_entries(self) -> list[Entry]:
        out, self.entries = self.entries, []
        return out

    # ----------------------------------------------------------------- the calendar
    def advance_to(self, day: date) -> None:
        """Run every day up to and including ``day``. Accrual entries are cut at month ends
        so income lands in the month it was earned."""
        while self.accrued_through < day:
            chunk_end = min(day, _month_end(self.accrued_through + timedelta(days=1)))
            self._advance_chunk(chunk_end)

    def _advance_chunk(self, day: date) -> None:
        start = self.accrued_through
        if self.status is not LoanStatus.ACTIVE:
            self.accrued_through = day
            return
        entry = Entry(EntryKind.ACCRUAL, day, None, {})
        grace = self.terms.grace_days
        keys: set[date] = set()
        for ln in self.lines:
            if ln.due_on > day:
                break  # its due date and grace expiry are both beyond this chunk
            if not ln.live:
                continue
            if start < ln.due_on:
                keys.add(ln.due_on)
            expiry = ln.due_on + timedelta(days=grace + 1)
            if not ln.grace_done and start < expiry <= day:
                keys.add(expiry)
        cur = start
        for k in sorted(keys):
            self._accrue_penalty(cur, k, entry)
            self._on_day(k, entry)
            cur = k
            if self.status is not LoanStatus.ACTIVE:
                break  # a credit settled it: nothing later in the chunk happens to it
        else:
            self._accrue_penalty(cur, day, entry)
        self.accrued_through = day
        if entry.amounts:
            self.entries.append(entry)

    def _accrue_penalty(self, a: date, b: date, entry: Entry) -> None:
        """Penalty for the days a+1 .. b on every overdue line (bases are constant here)."""
        if b <= a:
            return
        grace = self.terms.grace_days
        forgiven = self.terms.grace_penalty is GracePenalty.FORGIVEN
        compound = self.terms.penalty_on_interest
        mode = self.terms.rounding
        total = 0
        for ln in self.lines:
            if ln.due_on >= b:
                break
            if not ln.live:
                continue
            base = ln.out(PRI) + (ln.out(INT) if compound else 0)
            if base <= 0:
                continue
            first = max(a, ln.due_on)  # days first+1 .. b are overdue
            days = (b - first).days
            daily = div_round(base * self._pen_num, self._pen_den, mode)
            if not daily:
                continue
            if ln.grace_done or grace == 0:
                ln.charged[PEN] += daily * days
                total += daily * days
                continue
            grace_end = ln.due_on + timedelta(days=grace)
            pend_days = max(0, (min(b, grace_end) - first).days)
            charged_days = days - pend_days
            if not forgiven:
                ln.pending_penalty += daily * pend_days
            ln.charged[PEN] += daily * charged_days
            total += daily * charged_days
        if total:
            entry.add("penalty", total)
            entry.add("penalty_income", -total)

    def _on_day(self, k: date, entry: Entry) -> None:
        """Discrete things that happen on day k: charges fall due, grace periods end."""
        t = self.terms
        for ln in self.lines:
            if ln.due_on > k:
                break
            if not ln.live:
                continue
            if ln.due_on == k:
                ln.charged[INT] += ln.interest
                ln.charged[FEE] += ln.fee
                entry.add("interest", ln.interest)
                entry.add("interest_income", -ln.interest)
                entry.add("fee", ln.fee)
                entry.add("fee_income", -ln.fee)
            if not ln.grace_done and ln.due_on + timedelta(days=t.grace_days + 1) == k:
                ln.grace_done = True
                unpaid = ln.out(PRI) + ln.out(INT) + ln.out(FEE)
                if unpaid > 0:
                    pend, ln.pending_penalty = ln.pending_penalty, 0
                    late = t.late_fee_fixed + div_round(
                        unpaid * self._late_num, self._late_den, t.rounding)
                    ln.charged[PEN] += pend
                    ln.charged[FEE] += late
                    entry.add("penalty", pend)
                    entry.add("penalty_income", -pend)
                    entry.add("fee", late)
                    entry.add("fee_income", -late)
                else:
                    ln.pending_penalty = 0
        if self.credit > 0:
            self._apply_credit(k)

    def _apply_credit(self, day: date) -> None:
        e = Entry(EntryKind.CREDIT_APPLIED, day, None, {})
        used = self._allocate(self.credit, day, e)
        if used:
            self.credit -= used
            e.add("credit", used)
            self.entries.append(e)
            self._close_if_settled(day)

    # ----------------------------------------------------------------- events
    def apply(self, event: LoanEvent) -> None:
        """Post an event on its value date (advancing the calendar to it first)."""
        if event.value_date < self.terms.start:
            raise EngineError(f"{event.event_id}: value date {event.value_date} is before "
                              f"the loan started on {self.terms.start}")
        if event.value_date < self.accrued_through:
            raise EngineError(f"{event.event_id}: value date {event.value_date} is before the "
                              f"loan's last processed day {self.accrued_through}; replay instead")
        self.advance_to(event.value_date)
        if isinstance(event, Payment):
            self._pay(event)
        elif isinstance(event, Waiver):
            self._waive(event)
        elif isinstance(event, WriteOff):
            self._write_off(event)
        else:  # pragma: no cover - exhaustive over LoanEvent
            raise EngineError(f"unknown event {event!r}")

    def _pay(self, p: Payment) -> None:
        if p.amount <= 0:
            raise EngineError(f"{p.event_id}: payment amount must be positive")
        day = p.value_date
        e = Entry(EntryKind.PAYMENT, day, p.event_id, {"cash": p.amount})
        if self.status is LoanStatus.WRITTEN_OFF:
            e.kind = EntryKind.RECOVERY
            e.add("recovery", -p.amount)
            self.recovered += p.amount
            self.entries.append(e)
            return
        rest = p.amount - self._allocate(p.amount, day, e)
        if rest and self.status is LoanStatus.ACTIVE and (
                self.terms.overpayment is not Overpayment.CREDIT
                or rest >= self.payoff_after_due(day)):
            rest -= self._prepay(rest, day, e)
        if rest:
            self.credit += rest
            e.add("credit", -rest)
        self.entries.append(e)
        self._close_if_settled(day)

    def _due_lines(self, day: date) -> list[Line]:
        due = []
        for ln in self.lines:
            if ln.due_on > day:
                break
            if ln.live:
                due.append(ln)
        return due

    def _allocate(self, amount: int, day: date, e: Entry) -> int:
        """Walk the waterfall over what is due on ``day``; credit the receivables."""
        order = [IDX[c] for c in self.terms.waterfall.order]
        lines = self._due_lines(day)
        if self.terms.waterfall.scope is AllocationScope.INSTALMENT_FIRST:
            steps = ((ln, c) for ln in lines for c in order)
        else:
            steps = ((ln, c) for c in order for ln in lines)
        left = amount
        for ln, c in steps:
            if left == 0:
                break
            o = ln.out(c)
            if o > 0:
                take = o if o < left else left
                ln.paid[c] += take
                left -= take
                e.add(RECEIVABLE[c], -take)
        return amount - left

    def _current_period(self, day: date) -> tuple[Line | None, int, int]:
        """The first line not yet due on ``day`` and the interest and fee it has earned so far
        (rounding point ``prepayment-accrual``: pro rata by days)."""
        cur = next((ln for ln in self.lines if ln.live and ln.due_on > day), None)
        if cur is None:
            return None, 0, 0
        span = (cur.due_on - cur.start_on).days
        used = max(0, (day - cur.start_on).days)
        mode = self.terms.rounding
        acc_int = div_round(cur.interest * used, span, mode) if span else 0
        acc_fee = div_round(cur.fee * used, span, mode) if span else 0
        return cur, acc_int, acc_fee

    def payoff_after_due(self, day: date) -> int:
        """What settles the loan on ``day`` once everything due is paid: principal not yet due
        plus the current period's interest and fee for the days used (Civil Code Art. 677)."""
        _, acc_int, acc_fee = self._current_period(day)
        principal = sum(ln.out(PRI) for ln in self.lines if ln.live and ln.due_on > day)
        return principal + acc_int + acc_fee if principal else 0

    def _prepay(self, amount: int, day: date, e: Entry) -> int:
        """Money beyond everything due prepays principal (Civil Code Art. 677: interest for the
        period actually used). Returns what was used; the rest becomes a credit balance."""
        cur, acc_int, acc_fee = self._current_period(day)
        if cur is None:
            return 0
        future = [ln for ln in self.lines if ln.live and ln.due_on > day]
        t = self.terms
        balance = sum(ln.out(PRI) for ln in future)
        if amount <= acc_int + acc_fee:
            return 0
        prin = min(amount - acc_int - acc_fee, balance)
        # the period so far becomes a settled line of its own ...
        part = Line(self.next_seq, cur.n, cur.start_on, day, prin, acc_int, acc_fee)
        self.next_seq += 1
        part.charged = [acc_fee, 0, acc_int, prin]
        part.paid = [acc_fee, 0, acc_int, prin]
        part.grace_done = True
        accrual = Entry(EntryKind.ACCRUAL, day, None, {})
        accrual.add("interest", acc_int)
        accrual.add("interest_income", -acc_int)
        accrual.add("fee", acc_fee)
        accrual.add("fee_income", -acc_fee)
        if accrual.amounts:
            self.entries.append(accrual)
        e.add("interest", -acc_int)
        e.add("fee", -acc_fee)
        e.add("principal", -prin)
        # ... and the rest of the loan is rescheduled from today: the superseded lines hand
        # their outstanding principal over to the new ones
        for ln in future:
            ln.charged[PRI] -= ln.out(PRI)
            ln.live = False
        remaining = balance - prin
        fixed: int | None = None
        if t.overpayment is Overpayment.REDUCE_TERM:
            if t.method is Method.EQUAL_INSTALMENT:
                fixed = cur.principal + cur.interest if len(future) > 1 else None
            elif t.method is Method.EQUAL_PRINCIPAL:
                fixed = cur.principal if len(future) > 1 else None
        dues = [ln.due_on for ln in future]
        fees = [ln.fee for ln in future]
        new = reschedule(t, remaining, day, dues, cur.n, fixed, fees)
        self.lines.append(part)
        for inst in new:
            self.lines.append(_line_from(inst, self.next_seq))
            self.next_seq += 1
        self.lines.sort(key=_line_order)
        return acc_int + acc_fee + prin

    def _waive(self, w: Waiver) -> None:
        c = IDX[w.component]
        if self.status is LoanStatus.WRITTEN_OFF:
            raise EngineError(f"{w.event_id}: the loan is written off; nothing to waive")
        lines = [ln for ln in self.lines if ln.live]
        available = sum(ln.out(c) for ln in lines)
        amount = available if w.amount is None else w.amount
        if amount <= 0 and w.amount is not None:
            raise EngineError(f"{w.event_id}: waiver amount must be positive")
        if amount > available:
            raise EngineError(f"{w.event_id}: cannot waive {amount} of {w.component}; "
                              f"only {available} is outstanding")
        e = Entry(EntryKind.WAIVER, w.value_date, w.event_id, {})
        left = amount
        for ln in lines:
            take = min(left, ln.out(c))
            if take > 0:
                ln.waived[c] += take
                left -= take
        e.add("waiver", amount)
        e.add(RECEIVABLE[c], -amount)
        if e.amounts:
            self.entries.append(e)
        self._close_if_settled(w.value_date)

    def _write_off(self, w: WriteOff) -> None:
        if self.status is not LoanStatus.ACTIVE:
            raise EngineError(f"{w.event_id}: only an active loan can be written off "
                              f"(this one is {self.status})")
        e = Entry(EntryKind.WRITE_OFF, w.value_date, w.event_id, {})
        total = 0
        for ln in self.lines:
            if not ln.live:
                continue
            ln.pending_penalty = 0
            for c in range(4):
                o = ln.out(c)
                if o > 0:
                    ln.written_off[c] += o
                    total += o
                    e.add(RECEIVABLE[c], -o)
        e.add("write_off", total)
        if e.amounts:
            self.entries.append(e)
        self.status = LoanStatus.WRITTEN_OFF
        self.closed_on = w.value_date

    def _close_if_settled(self, day: date) -> None:
        # principal is charged from disbursement, so nothing owed on any live line means the
        # principal is repaid (or waived) and every charge so far is settled
        if self.status is not LoanStatus.ACTIVE:
            return
        for ln in self.lines:
            if ln.live and ln.owed():
                return
        self.status = LoanStatus.CLOSED
        self.closed_on = day
        for ln in self.lines:
            ln.pending_penalty = 0

    # ----------------------------------------------------------------- views
    def outstanding(self) -> tuple[int, int, int, int]:
        """Receivable balances (fee, penalty, interest, principal) — what the journal holds."""
        tot = [0, 0, 0, 0]
        for ln in self.lines:
            for c in range(4):
                tot[c] += ln.out(c)
        return tot[0], tot[1], tot[2], tot[3]

    def past_due_days(self, as_of: date) -> int:
        """Days since the due date of the oldest instalment still unpaid (raw, before grace)."""
        oldest = min((ln.due_on for ln in self.lines
                      if ln.live and ln.due_on < as_of and ln.owed() > 0), default=None)
        return (as_of - oldest).days if oldest is not None else 0

    def dpd(self, as_of: date) -> int:
        """Days past due (逾期天数) after the grace rule of the product."""
        raw = self.past_due_days(as_of)
        g = self.terms.grace_days
        if raw <= g:
            return 0
        return raw - g if self.terms.dpd_grace is DpdGrace.SUBTRACT else raw


def _line_order(ln: Line) -> tuple[date, int]:
    return ln.due_on, ln.seq


def _line_from(i: Instalment, seq: int) -> Line:
    ln = Line(seq, i.n, i.start_on, i.due_on, i.principal, i.interest, i.fee)
    ln.charged[PRI] = i.principal  # principal is receivable from disbursement
    return ln


def replay(terms: LoanTerms, events: Iterable[LoanEvent], through: date | None = None,
           schedule: Schedule | None = None) -> LoanEngine:
    """The loan rebuilt from its terms and its effective events, in value-date order.

    Within a date events apply in the order they happened; ties keep the given order (the
    order they were recorded in).
    """
    eng = LoanEngine.open(terms, schedule)
    for ev in sorted(events, key=order_key):
        eng.apply(ev)
    if through is not None:
        eng.advance_to(through)
    return eng


def components_of(values: Sequence[int]) -> dict[Component, int]:
    return {c: values[IDX[c]] for c in COMPONENTS}
