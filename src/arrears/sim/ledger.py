"""What every simulated loan owes, day by day, exactly as the loan book will compute it.

Borrowers pay what the lender's app shows them: the instalment, everything overdue with its
penalty interest, or the payoff. If the simulator's idea of that amount were a fen off, the
platform would see a loan a fen short and call it overdue for ever. So this module keeps, for
the subset of terms the simulator draws (no service fees, penalty on principal only, grace
with retroactive penalty, fixed late fees, instalment-first fee → penalty → interest →
principal waterfall, overpayments held as credit), the same numbers as ``book.engine`` —
proven equal by ``tests/sim/test_ledger.py`` against the scalar engine on random behaviour.

State is columnar: loans (one row per candidate loan) and lines (one row per instalment,
grouped by loan, in due order). A loan's lines ``[first_open, next_line)`` are the due lines
still owing; lines settle oldest first, so those pointers are all the bookkeeping the
waterfall needs. Per simulated day: ``start_day`` (penalty for the day, instalments falling
due, grace periods ending, credit applied at those key dates), then ``pay``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
NEVER = np.iinfo(np.int32).max
PENDING, ACTIVE, CLOSED, CANCELLED = 0, 1, 2, 3
FEE, PEN, INT, PRI = 0, 1, 2, 3
YEAR_DAYS = 360  # 30/360, the basis every simulated loan uses


def _half_up(num: Ints, den: Ints | int) -> Ints:
    """``money.div_round(num, den, HALF_UP)`` for num ≥ 0, den > 0."""
    return (2 * num + den) // (2 * np.asarray(den, dtype=np.int64))


def spans(lo: Ints, hi: Ints) -> tuple[Ints, Ints]:
    """All indices of the ranges [lo, hi) and, for each, its range's position in ``lo``."""
    count = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    offs = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(lo, count) + offs, owner


def seg_sum(values: Ints, owner: Ints, n: int) -> Ints:
    """Integer sums of ``values`` per owner 0..n-1 (``owner`` sorted ascending), exact."""
    cs = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(values, dtype=np.int64)])
    k = np.arange(n)
    out: Ints = cs[np.searchsorted(owner, k, side="right")] - cs[np.searchsorted(owner, k)]
    return out


@dataclass(slots=True)
class Ledger:
    """Loans and their instalment lines; amounts in fen (int64), days as day numbers."""

    status: npt.NDArray[np.int8]
    lo: Ints  # first line of the loan
    hi: Ints  # one past its last line
    first_open: Ints  # first line still owing (== hi once closed)
    next_line: Ints  # first line not yet due
    grace_line: Ints  # first line whose grace period has not ended
    credit: Ints  # money held for the next due date (提前还当期)
    grace: Ints
    pen_num: Ints  # penalty rate = pen_num / pen_den a year ...
    pen_den: Ints  # ... (times YEAR_DAYS already)
    late_fee: Ints
    paid: Ints  # cumulative paid per loan
    # lines
    due: Ints
    start: Ints
    out: Ints  # shape (lines, 4): outstanding fee, penalty, interest, principal
    pending: Ints  # penalty within grace, not yet a receivable
    sched_pri: Ints
    sched_total: Ints  # the instalment as scheduled
    settled: Ints  # day the line was cleared (NEVER while owing)
    line_loan: Ints

    @classmethod
    def build(cls, schedules: pl.DataFrame, n: int, grace: Ints, rate_bp: Ints,
              late_fee: Ints) -> Ledger:
        """From ``book.vector.build_schedules`` output for loans 0..n-1 (sorted by loan)."""
        counts = schedules.group_by("loan_id", maintain_order=True).len()["len"].to_numpy()
        if len(counts) != n:
            raise ValueError(f"schedules cover {len(counts)} loans, expected {n}")
        hi = np.cumsum(counts).astype(np.int64)
        lo = hi - counts
        due = schedules["due_on"].cast(pl.Int32).to_numpy().astype(np.int64)
        start = schedules["start_on"].cast(pl.Int32).to_numpy().astype(np.int64)
        out = np.zeros((len(due), 4), dtype=np.int64)
        out[:, INT] = schedules["interest"].to_numpy()
        out[:, FEE] = schedules["fee"].to_numpy()
        out[:, PRI] = schedules["principal"].to_numpy()
        # 罚息 = 1.5 × the contract rate: 1.5 × bp / 10,000 = 3 × bp / 20,000
        return cls(
            status=np.zeros(n, dtype=np.int8), lo=lo, hi=hi, first_open=lo.copy(),
            next_line=lo.copy(), grace_line=lo.copy(), credit=np.zeros(n, dtype=np.int64),
            grace=grace.astype(np.int64), pen_num=3 * rate_bp.astype(np.int64),
            pen_den=np.full(n, 20_000 * YEAR_DAYS, dtype=np.int64),
            late_fee=late_fee.astype(np.int64), paid=np.zeros(n, dtype=np.int64), due=due,
            start=start, out=out, pending=np.zeros(len(due), dtype=np.int64),
            sched_pri=out[:, PRI].copy(), sched_total=out.sum(axis=1),
            settled=np.full(len(due), NEVER, dtype=np.int64),
            line_loan=np.repeat(np.arange(n, dtype=np.int64), counts))

    # ------------------------------------------------------------------ the calendar
    def start_day(self, d: int) -> Ints:
        """Run day ``d`` up to the borrowers' payments: the day's penalty, instalments falling
        due, grace periods ending, credit applied at those key dates. Returns the loans whose
        line fell due today (for the books of what was due)."""
        self._accrue(d)
        act = self.status == ACTIVE
        falling = act & (self.next_line < self.hi)
        falling[falling] = self.due[self.next_line[falling]] == d
        became_due = np.flatnonzero(falling)
        self.next_line[became_due] += 1
        expiring = act & (self.grace_line < self.hi)
        at = self.grace_line[expiring]
        expiring[expiring] = self.due[at] + self.grace[expiring] + 1 == d
        self._expire(np.flatnonzero(expiring))
        key = np.flatnonzero(falling | expiring)
        held = key[self.credit[key] > 0]
        if len(held):
            used = self._allocate(held, self.credit[held], d)
            self.credit[held] -= used
            self._advance_open(held, d)
        return became_due

    def _accrue(self, d: int) -> None:
        """Penalty for day ``d`` on every due line with principal outstanding (due before d):
        within the grace period it waits as pending, afterwards it is charged."""
        loans = np.flatnonzero((self.status == ACTIVE) & (self.first_open < self.next_line))
        if not len(loans):
            return
        rows, owner = spans(self.first_open[loans], self.next_line[loans])
        who = loans[owner]
        base = self.out[rows, PRI]
        live = (self.due[rows] < d) & (base > 0)
        rows, who, base = rows[live], who[live], base[live]
        daily = _half_up(base * self.pen_num[who], self.pen_den[who])
        in_grace = d <= self.due[rows] + self.grace[who]
        self.pending[rows[in_grace]] += daily[in_grace]
        self.out[rows[~in_grace], PEN] += daily[~in_grace]

    def _expire(self, loans: Ints) -> None:
        """Grace ends (the day after it): unpaid → pending penalty charged, late fee charged."""
        rows = self.grace_line[loans]
        unpaid = self.out[rows, FEE] + self.out[rows, INT] + self.out[rows, PRI] > 0
        hit, miss = rows[unpaid], rows[~unpaid]
        self.out[hit, PEN] += self.pending[hit]
        self.out[hit, FEE] += self.late_fee[loans[unpaid]]
        self.pending[hit] = 0
        self.pending[miss] = 0
        self.grace_line[loans] += 1

    # ------------------------------------------------------------------ money in
    def _allocate(self, loans: Ints, amount: Ints, d: int) -> Ints:
        """The waterfall over each loan's due lines, instalment first; returns what was used."""
        rows, owner = spans(self.first_open[loans], self.next_line[loans])
        if not len(rows):
            return np.zeros(len(loans), dtype=np.int64)
        owed = self.out[rows].reshape(-1)  # (line, component) steps in waterfall order
        step_owner = np.repeat(owner, 4)
        before = np.cumsum(owed) - owed
        first_step = np.searchsorted(step_owner, np.arange(len(loans)))
        base = np.where(first_step < len(step_owner), before[np.minimum(
            first_step, len(step_owner) - 1)], 0)
        left = amount[step_owner] - (before - base[step_owner])
        take = np.clip(left, 0, owed)
        self.out[rows] -= take.reshape(-1, 4)
        return seg_sum(take, step_owner, len(loans))

    def _advance_open(self, loans: Ints, d: int) -> None:
        """Move ``first_open`` past lines now cleared; close loans with nothing left."""
        rows, owner = spans(self.first_open[loans], self.next_line[loans])
        cleared = self.out[rows].sum(axis=1) == 0
        # lines clear oldest first: count the cleared prefix of each loan's due lines
        idx = np.flatnonzero(~cleared)
        pos = np.full(len(loans), np.iinfo(np.int64).max)
        np.minimum.at(pos, owner[idx], rows[idx])
        new_open = np.minimum(pos, self.next_line[loans])
        done_rows, _ = spans(self.first_open[loans], new_open)
        self.settled[done_rows] = np.minimum(self.settled[done_rows], d)
        self.first_open[loans] = new_open
        closed = new_open == self.hi[loans]
        self.status[loans[closed]] = CLOSED

    def owed_due(self, loans: Ints) -> Ints:
        """Everything due and unpaid (all components) per loan."""
        rows, owner = spans(self.first_open[loans], self.next_line[loans])
        return seg_sum(self.out[rows].sum(axis=1), owner, len(loans))

    def owed_oldest(self, loans: Ints) -> Ints:
        """What clears the oldest due line (0 when nothing is due)."""
        has = self.first_open[loans] < self.next_line[loans]
        rows = np.where(has, self.first_open[loans], 0)
        return np.where(has, self.out[rows].sum(axis=1), 0)

    def next_instalment(self, loans: Ints) -> Ints:
        """The next line not yet due, as scheduled (0 when none)."""
        has = self.next_line[loans] < self.hi[loans]
        rows = np.where(has, self.next_line[loans], 0)
        return np.where(has, self.out[rows].sum(axis=1), 0)

    def payoff_after_due(self, loans: Ints, d: int) -> Ints:
        """``LoanEngine.payoff_after_due``: principal not yet due plus the current period's
        interest and fee for the days used (Civil Code Art. 677)."""
        nl, hi = self.next_line[loans], self.hi[loans]
        rows, owner = spans(nl, hi)
        principal = seg_sum(self.out[rows, PRI], owner, len(loans))
        has = nl < hi
        cur = np.where(has, nl, 0)
        span = self.due[cur] - self.start[cur]
        used = np.maximum(0, d - self.start[cur])
        acc = np.where(span > 0, _half_up(self.out[cur, INT] * used, np.maximum(span, 1))
                       + _half_up(self.out[cur, FEE] * used, np.maximum(span, 1)), 0)
        return np.where(has & (principal > 0), principal + acc, 0)

    def pay(self, loans: Ints, amount: Ints, d: int) -> None:
        """Post one payment per loan (distinct loans) on day ``d``: the waterfall over due
        lines; what is left settles the loan if it covers the payoff, else is held as
        credit (the loans' overpayment policy is ``credit``)."""
        if not len(loans):
            return
        self.paid[loans] += amount
        rest = amount - self._allocate(loans, amount, d)
        self._advance_open(loans, d)
        over = rest > 0
        payoff = np.zeros(len(loans), dtype=np.int64)
        payoff[over] = self.payoff_after_due(loans[over], d)
        settle = over & (self.status[loans] == ACTIVE) & (payoff > 0) & (rest >= payoff)
        s = loans[settle]
        rows, _ = spans(self.next_line[s], self.hi[s])
        self.out[rows] = 0
        self.pending[rows] = 0
        self.settled[rows] = d
        self.first_open[s] = self.hi[s]
        self.status[s] = CLOSED
        self.credit[loans] += np.where(settle, rest - payoff, rest)

    # ------------------------------------------------------------------ views
    def dpd(self, loans: Ints, d: int) -> tuple[Ints, Ints]:
        """(raw days past the oldest unpaid due date, days past due after grace) at day d."""
        has = self.first_open[loans] < self.next_line[loans]
        oldest = self.due[np.where(has, self.first_open[loans], 0)]
        raw = np.where(has, np.maximum(d - oldest, 0), 0)
        return raw, np.where(raw > self.grace[loans], raw, 0)

    def outstanding_principal(self, loans: Ints) -> Ints:
        rows, owner = spans(self.first_open[loans], self.hi[loans])
        return seg_sum(self.out[rows, PRI], owner, len(loans))
