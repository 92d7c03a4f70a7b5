"""The simulated lender before day one: borrowers, their contact points and candidate loans,
the loans' schedules in the ledger, and each borrower's latent state at the start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.book.vector import build_schedules
from arrears.sim.ability import Ability, start_ability
from arrears.sim.config import SEGMENTS, Segment, SimConfig
from arrears.sim.ledger import Ledger, seg_sum
from arrears.sim.loans import Loans, draw_loans, loan_ids, schedule_input
from arrears.sim.people import (
    Borrowers,
    Regions,
    borrower_ids,
    draw_borrowers,
    load_regions,
    start_day,
)
from arrears.sim.profiles import ContactPoints, draw_contact_points
from arrears.sim.rng import Stream, stream

Ints = npt.NDArray[np.int64]
NO_TURN = np.iinfo(np.int32).max


@dataclass(slots=True)
class World:
    cfg: SimConfig
    seed: int
    start: int  # day number of the first simulated day
    days: int
    prefix: str  # id prefix, e.g. "S1-"
    regions: Regions
    borrowers: Borrowers
    contacts: ContactPoints
    loans: Loans
    ledger: Ledger
    ability: Ability
    turn_day: Ints  # evaders stop paying from this day (NO_TURN for everyone else)
    borrower_id: pl.Series
    loan_id: pl.Series


def id_prefix(seed: int) -> str:
    return f"S{seed}-"


def build_world(cfg: SimConfig, seed: int, borrowers: int, start: date, days: int) -> World:
    if borrowers < 1 or days < 1:
        raise ValueError("borrowers and days must be at least 1")
    s0 = start_day(start)
    regions = load_regions()
    b = draw_borrowers(cfg, borrowers, start, seed, regions)
    cp = draw_contact_points(cfg, b, s0, days, seed)
    loans = draw_loans(cfg, b, s0, days, seed)
    prefix = id_prefix(seed)
    lids = loan_ids(prefix, loans.n)
    schedules = build_schedules(schedule_input(cfg, loans, lids))
    ledger = Ledger.build(schedules, loans.n, loans.grace, loans.rate_bp, loans.late_fee)
    biggest = np.zeros(b.n, dtype=np.int64)
    instalment = seg_sum(ledger.sched_total, ledger.line_loan, loans.n) // np.maximum(
        loans.term_count, 1)
    np.maximum.at(biggest, loans.borrower, instalment)
    burden = biggest / 100.0 / np.maximum(b.income, 1)
    ability = start_ability(cfg, b, burden, s0)
    return World(cfg, seed, s0, days, prefix, regions, b, cp, loans, ledger, ability,
                 _turn_days(cfg, b, loans, seed), borrower_ids(prefix, b.n), lids)


def _turn_days(cfg: SimConfig, b: Borrowers, loans: Loans, seed: int) -> Ints:
    """Evaders pay like the organised until a day drawn after their first disbursement."""
    lo, hi = cfg.segments[Segment.EVADER].turn_days or (0, 0)
    rng = stream(seed, Stream.SCHEDULE_DAYS)
    first = np.full(b.n, NO_TURN, dtype=np.int64)
    np.minimum.at(first, loans.borrower, loans.disbursed)
    turn = first + rng.integers(lo, hi + 1, b.n)
    evader = b.segment == SEGMENTS.index(Segment.EVADER)
    return np.where(evader & (first < NO_TURN), turn, NO_TURN)
