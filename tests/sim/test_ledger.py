"""The simulator's ledger owes what the loan book says, to the fen: random loans from the
product mix, random payments of every kind the simulator makes (early instalment, the due
amount, everything overdue, the oldest instalment, a part of it, the payoff), replayed through
the scalar engine — days past due every day, balances, credit and status at the end agree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from arrears.book.engine import LoanEngine, LoanStatus
from arrears.book.events import Payment
from arrears.book.terms import LoanTerms, Method
from arrears.book.vector import build_schedules
from arrears.calendar import Period
from arrears.sim.config import load_config
from arrears.sim.ledger import ACTIVE, CLOSED, FEE, INT, PEN, PRI, Ledger
from arrears.sim.loans import draw_loans, loan_ids, rate_text, schedule_input
from arrears.sim.people import draw_borrowers, load_regions, start_day

START = date(2025, 3, 1)


def _day(n: int) -> date:
    return date.fromordinal(n + date(1970, 1, 1).toordinal())


def _terms(cfg, loans, i: int) -> LoanTerms:  # type: ignore[no-untyped-def]
    return LoanTerms(
        principal=int(loans.principal[i]),
        annual_rate=Decimal(rate_text(loans.rate_bp[i:i + 1])[0]),
        method=Method(cfg.products[loans.product[i]].method), term_count=int(loans.term_count[i]),
        period=Period.parse(loans.periods[loans.period[i]]),
        start=_day(int(loans.disbursed[i])),
        upfront_fee=int(loans.upfront[i]), late_fee_fixed=int(loans.late_fee[i]),
        grace_days=int(loans.grace[i]), penalty_multiplier=Decimal("1.5"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ledger_agrees_with_the_engine_on_random_payments(seed: int) -> None:
    cfg = load_config()
    days = 200
    s0 = start_day(START)
    b = draw_borrowers(cfg, 60, START, seed, load_regions())
    loans = draw_loans(cfg, b, s0, 90, seed)
    ids = loan_ids("T-", loans.n)
    led = Ledger.build(build_schedules(schedule_input(cfg, loans, ids)), loans.n, loans.grace,
                       loans.rate_bp, loans.late_fee)
    rng = np.random.default_rng(seed)
    pays: list[list[tuple[int, int]]] = [[] for _ in range(loans.n)]
    raw_seen = np.zeros((days, loans.n), dtype=np.int64)
    for k in range(days):
        d = s0 + k
        led.status[(loans.disbursed == d) & (led.status == 0)] = ACTIVE
        led.start_day(d)
        act = np.flatnonzero(led.status == ACTIVE)
        who = act[rng.random(len(act)) < 0.12]
        kind = rng.integers(0, 6, len(who))
        amount = np.select(
            [kind == 0, kind == 1, kind == 2, kind == 3],
            [led.owed_due(who), led.owed_oldest(who),
             led.owed_oldest(who) * rng.uniform(0.1, 0.9, len(who)) // 100 * 100,
             led.owed_due(who) + led.payoff_after_due(who, d)],
            led.next_instalment(who)).astype(np.int64)
        # early instalments only when nothing is due, like the simulator
        ok = (amount > 0) & ((kind < 4) | (led.owed_due(who) == 0))
        ok &= ~((kind == 3) & (led.credit[who] > 0))
        who, amount = who[ok], amount[ok]
        led.pay(who, amount, d)
        for i, a in zip(who.tolist(), amount.tolist(), strict=True):
            pays[i].append((d, a))
        raw_seen[k] = led.dpd(np.arange(loans.n), d + 1)[0]
    for i in range(loans.n):
        if loans.disbursed[i] >= s0 + days:
            continue
        eng = LoanEngine.open(_terms(cfg, loans, i))
        todo = iter(enumerate(pays[i]))
        nxt = next(todo, None)
        for k in range(int(loans.disbursed[i]) - s0, days):
            day = _day(s0 + k)
            eng.advance_to(day)
            while nxt is not None and nxt[1][0] == s0 + k:
                eng.apply(Payment(f"P{i}-{nxt[0]}", day, nxt[1][1]))
                nxt = next(todo, None)
            assert eng.past_due_days(_day(s0 + k + 1)) == raw_seen[k, i], (ids[i], day)
        fee, pen, interest, pri = eng.outstanding()
        rows = slice(led.lo[i], led.hi[i])
        due = led.due[rows] < s0 + days
        got = led.out[rows][due].sum(axis=0)
        future = led.out[rows][~due]
        assert (got[FEE], got[PEN], got[INT]) == (fee, pen, interest), ids[i]
        assert got[PRI] + future[:, PRI].sum() == pri, ids[i]
        assert eng.credit == led.credit[i], ids[i]
        closed = eng.status is LoanStatus.CLOSED
        assert closed == (led.status[i] == CLOSED), ids[i]
