"""The ground truth: the latent state the platform never sees, per borrower and per loan at
every month end (and on the last simulated day). Tests and evaluations read it; the platform
must not (it is written apart, under ``truth/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.sim.ability import NORMAL, STATE_NAMES, STATE_ZH
from arrears.sim.config import CAUSES, SEGMENTS
from arrears.sim.ledger import ACTIVE, CLOSED, NEVER, seg_sum, spans
from arrears.sim.loans import pick
from arrears.sim.people import where
from arrears.sim.world import NO_TURN, World

Ints = npt.NDArray[np.int64]


@dataclass(slots=True)
class Truth:
    """Accumulates the month's due and paid amounts; ``close_month`` snapshots."""

    due: Ints  # per loan, scheduled amounts falling due this month
    paid: Ints  # per loan, paid this month
    borrower_months: list[pl.DataFrame] = field(default_factory=list)
    loan_months: list[pl.DataFrame] = field(default_factory=list)

    @classmethod
    def empty(cls, n_loans: int) -> Truth:
        return cls(np.zeros(n_loans, dtype=np.int64), np.zeros(n_loans, dtype=np.int64))

    def close_month(self, w: World, d: int, level: npt.NDArray[np.float64]) -> None:
        """Snapshot at the end of day ``d`` and start a new month."""
        led, loans = w.ledger, w.loans
        month = (np.datetime64(int(d), "D")).astype("datetime64[D]")
        closed_on = led.settled[np.maximum(led.hi - 1, 0)]
        month_start = int(np.datetime64(month, "M").astype("datetime64[D]").astype(np.int64))
        keep = (led.status == ACTIVE) | ((led.status == CLOSED) & (closed_on >= month_start))
        idx = np.flatnonzero(keep)
        raw, dpd = led.dpd(idx, d)  # as end-of-day for d counts them: lines due before d
        self.loan_months.append(pl.DataFrame({
            "loan_id": w.loan_id.gather(idx), "borrower_id": w.borrower_id.gather(
                loans.borrower[idx]),
            "month": pl.Series(np.full(len(idx), month)).cast(pl.Date),
            "status": np.where(led.status[idx] == ACTIVE, "active", "closed"),
            "dpd": dpd.astype(np.int32), "raw_dpd": raw.astype(np.int32),
            "outstanding_principal": led.outstanding_principal(idx),
            "due": self.due[idx], "paid": self.paid[idx]}))
        self.borrower_months.append(_borrowers(w, idx, dpd, self.due, self.paid, d, month,
                                               level))
        self.due[:] = 0
        self.paid[:] = 0
        w.ability.shock_days[:] = 0

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return (pl.concat(self.borrower_months) if self.borrower_months else pl.DataFrame(),
                pl.concat(self.loan_months) if self.loan_months else pl.DataFrame())


def _borrowers(w: World, idx: Ints, dpd: Ints, due: Ints, paid: Ints, d: int,
               month: np.datetime64, level: npt.NDArray[np.float64]) -> pl.DataFrame:
    b, ab, loans, cfg = w.borrowers, w.ability, w.loans, w.cfg
    owner = loans.borrower[idx]
    order = np.argsort(owner, kind="stable")
    owner_s = owner[order]
    who = np.unique(owner_s)
    pos = np.searchsorted(who, owner_s)
    max_dpd = np.zeros(len(who), dtype=np.int64)
    np.maximum.at(max_dpd, pos, dpd[order])
    active = seg_sum((w.ledger.status[idx] == ACTIVE)[order].astype(np.int64), pos, len(who))
    all_due = seg_sum(due[idx][order], pos, len(who))
    all_paid = seg_sum(paid[idx][order], pos, len(who))
    cause = ab.cause[who]
    return pl.DataFrame({
        "borrower_id": w.borrower_id.gather(who),
        "month": pl.Series(np.full(len(who), month)).cast(pl.Date),
        "segment": np.array([s.value for s in SEGMENTS])[b.segment[who]],
        "segment_zh": np.array([cfg.segments[s].zh for s in SEGMENTS])[b.segment[who]],
        "turned": w.turn_day[who] <= d,
        "ability_state": np.array(STATE_NAMES)[ab.state[who]],
        "ability_state_zh": np.array(STATE_ZH)[ab.state[who]],
        "shock_cause": where((cause >= 0) & (ab.state[who] != NORMAL),
                             np.array([c.value for c in CAUSES])[np.maximum(cause, 0)]),
        "ability": np.round(level[who], 4), "shock_days": ab.shock_days[who].astype(np.int32),
        "loans_active": active.astype(np.int32), "due": all_due, "paid": all_paid,
        "max_dpd": max_dpd.astype(np.int32),
        "mobile_works": w.contacts.mobile_dead_from[who] > d,
        "app_active": w.contacts.app_active[who],
        "evader_turn_on": where(w.turn_day[who] < NO_TURN, pl.Series(
            w.turn_day[who].astype("datetime64[D]")).cast(pl.Date)),
    })


def month_ends(start: int, days: int) -> set[int]:
    """Day numbers that close a month: last days of calendar months, and the last day."""
    d = np.arange(start, start + days, dtype=np.int64)
    nxt = (d + 1).astype("datetime64[D]").astype(object)
    ends = {int(x) for x, n in zip(d, nxt, strict=True) if n.day == 1}
    ends.add(start + days - 1)
    return ends


def instalment_frame(w: World) -> pl.DataFrame:
    """Every instalment of every disbursed loan as scheduled, and the day it was cleared
    (null while owing; earlier than its due date when paid ahead or settled early)."""
    led, loans = w.ledger, w.loans
    out = np.flatnonzero((led.status == ACTIVE) | (led.status == CLOSED))
    rows, owner = spans(led.lo[out], led.hi[out])
    who = out[owner]
    n = rows - led.lo[who] + 1
    cleared = led.settled[rows]
    monthly = np.array([p == "month" for p in loans.periods])[loans.period[who]]
    return pl.DataFrame({
        "loan_id": w.loan_id.gather(who), "borrower_id": w.borrower_id.gather(loans.borrower[who]),
        "n": n.astype(np.int32),
        "due_on": pl.Series(led.due[rows].astype("datetime64[D]")).cast(pl.Date),
        "principal": led.sched_pri[rows], "total": led.sched_total[rows],
        "cleared_on": where(cleared < NEVER, pl.Series(
            np.where(cleared < NEVER, cleared, 0).astype("datetime64[D]")).cast(pl.Date)),
        "loan_principal": loans.principal[who],
        "disbursed_on": pl.Series(loans.disbursed[who].astype("datetime64[D]")).cast(pl.Date),
        "monthly": monthly,
        "product": pick([p.code for p in w.cfg.products], loans.product[who]),
    })
