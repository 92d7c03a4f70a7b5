"""The simulated days: the loop that moves every borrower one day at a time.

Per day, over the whole portfolio at once: the ability chain steps; the ledger runs the day
(penalty interest, instalments falling due, grace periods ending, held credit applied);
candidate loans are disbursed (a borrower who is overdue gets no new loan); the policy sees
the lender's view and acts; actions reach borrowers or not; borrowers pay, or not; loans
settle early; the ledger takes the payments; at month ends the ground truth is snapshotted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from functools import cached_property, partial

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.sim import ability as ab_chain
from arrears.sim.actions import ACTION_KINDS, BaselinePolicy, Policy, checked_actions
from arrears.sim.behaviour import InPlay, Paid, decide, effective_segment, in_play, settlements
from arrears.sim.config import SimConfig, load_config
from arrears.sim.ledger import ACTIVE, CANCELLED, PENDING
from arrears.sim.loans import loan_rows
from arrears.sim.outreach import NEVER, Context, Memory, Reached, new_day, resolve
from arrears.sim.people import borrower_rows, day_of
from arrears.sim.profiles import profile_rows
from arrears.sim.records import contact_rows, empty_contacts, payment_rows
from arrears.sim.response import Curves
from arrears.sim.rng import Stream, stream
from arrears.sim.truth import Truth, instalment_frame, month_ends
from arrears.sim.view import lender_view
from arrears.sim.world import World, build_world

Ints = npt.NDArray[np.int64]


class SimDay:
    """What one simulated day produced, in the platform's shapes (strings, as files hold
    them): ``loans`` disbursed that day, ``payments`` received (value date = that day), and
    ``contacts``, the outcomes of the lender's actions. The frames are built when first read,
    so a run that only needs the ground truth does not pay for formatting."""

    def __init__(self, day: date, loans: Callable[[], pl.DataFrame],
                 payments: Callable[[], pl.DataFrame], contacts: Callable[[], pl.DataFrame],
                 counts: tuple[int, int, int]) -> None:
        self.day = day
        self._make = (loans, payments, contacts)
        self.n_loans, self.n_payments, self.n_contacts = counts

    @cached_property
    def loans(self) -> pl.DataFrame:
        return self._make[0]()

    @cached_property
    def payments(self) -> pl.DataFrame:
        return self._make[1]()

    @cached_property
    def contacts(self) -> pl.DataFrame:
        return self._make[2]()


class Simulation:
    """A simulated lender: iterate it for its days (``SimDay`` each).

    >>> sim = Simulation(seed=1, borrowers=200, start=date(2025, 7, 1), days=30)
    >>> for day in sim: ...
    """

    def __init__(self, config: SimConfig | None = None, *, seed: int = 1,
                 borrowers: int = 20_000, start: date = date(2025, 7, 1), days: int = 365,
                 policy: Policy | None = None) -> None:
        self.config = config if config is not None else load_config()
        self.policy: Policy = policy if policy is not None else BaselinePolicy()
        self.seed, self.start, self.days = seed, start, days
        self.world: World = build_world(self.config, seed, borrowers, start, days)
        n = self.world.loans.n
        self.memory = Memory.empty(n)
        self.curves = Curves(self.config)
        self.truth = Truth.empty(n)
        self._ends = month_ends(self.world.start, days)
        self._payments = np.zeros(n, dtype=np.int64)
        disb = self.world.loans.disbursed
        self._bounds = np.searchsorted(disb, self.world.start + np.arange(days + 1))
        cp = self.world.contacts
        self._third: npt.NDArray[np.bool_] = np.asarray(
            (cp.emergency_consent & cp.emergency_valid).any(axis=1), dtype=np.bool_)
        self._next = 0

    @property
    def loans_total(self) -> int:
        """Candidate loans (some are never disbursed)."""
        return self.world.loans.n

    def borrowers(self) -> pl.DataFrame:
        """The borrowers file of the ingestion contract (every borrower, known from day 0)."""
        w = self.world
        return borrower_rows(self.config, w.borrowers, w.regions, w.prefix, self.seed)

    def profiles(self) -> pl.DataFrame:
        """The lender's application data: profile, credit features, contact points."""
        w = self.world
        return profile_rows(self.config, w.borrowers, w.contacts, w.borrower_id, self.seed)

    def ground_truth(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(borrower-months, loan-months) of the latent state, up to the last day run."""
        return self.truth.frames()

    def instalments(self) -> pl.DataFrame:
        """Every disbursed instalment with the day it was cleared (ground truth)."""
        return instalment_frame(self.world)

    def __iter__(self) -> Iterator[SimDay]:
        while self._next < self.days:
            yield self.step()

    def step(self) -> SimDay:
        """Simulate the next day."""
        if self._next >= self.days:
            raise ValueError(f"the simulation has run all its {self.days} days")
        k = self._next
        self._next += 1
        w, cfg, led = self.world, self.config, self.world.ledger
        d = w.start + k
        day = day_of(d)
        new_day(self.memory, d)
        ab_chain.step(w.ability, cfg, self.seed, d, k)
        level = w.ability.level(cfg)
        became = led.start_day(d)
        self.truth.due[became] += led.sched_total[led.next_line[became] - 1]
        play = self._in_play(d, level)
        new = self._disburse(k, play)
        reached = self._act(d, day, k, play)
        paid = self._merge(self._pay(d, k, play, level))
        self.truth.paid[paid.loans] += paid.amount
        self._payments[paid.loans] += 1
        self.memory.promise_day[self.memory.promise_day <= d] = NEVER
        if d in self._ends:
            self.truth.close_month(w, d, level)
        return SimDay(
            day, partial(loan_rows, cfg, w.loans, new, w.loan_id, w.borrower_id),
            partial(payment_rows, day, paid, w.loan_id, self._payments[paid.loans]),
            partial(self._contact_rows, day, *reached) if reached else empty_contacts,
            (len(new), len(paid.loans), len(reached[0].loan) if reached else 0))

    def _in_play(self, d: int, level: npt.NDArray[np.float64]) -> InPlay:
        w, led = self.world, self.world.ledger
        loans = in_play(led, d, self.config.response.early_window_days)
        owner = w.loans.borrower[loans]
        raw, _ = led.dpd(loans, d)
        owing = led.first_open[loans] < led.next_line[loans]
        seg = effective_segment(w.borrowers.segment[owner], w.turn_day[owner], d)
        return InPlay(loans, raw, owing & (raw == 0), ~owing, seg,
                      level[owner] ** self.curves.power[seg])

    def _disburse(self, k: int, play: InPlay) -> Ints:
        w, led = self.world, self.world.ledger
        cand = np.arange(self._bounds[k], self._bounds[k + 1])
        cand = cand[led.status[cand] == PENDING]
        overdue = np.zeros(w.borrowers.n, dtype=np.bool_)
        overdue[w.loans.borrower[play.loans[play.raw > 0]]] = True
        ok = ~overdue[w.loans.borrower[cand]]
        led.status[cand[ok]] = ACTIVE
        led.status[cand[~ok]] = CANCELLED
        out: Ints = cand[ok]
        return out

    def _act(self, d: int, day: date, k: int,
             play: InPlay) -> tuple[Reached, Ints, Ints] | None:
        """The policy's actions resolved, with what the contact rows need (amounts promised
        as owed now, times of day), or None when the policy did nothing."""
        w, led = self.world, self.world.ledger
        view = lender_view(w, self.memory, play, d)
        answer = self.policy.actions(day, view)
        acts = checked_actions(answer, view, self.policy.name)
        if not acts.height:
            return None
        keys = pl.DataFrame({"loan_id": view["loan_id"], "_i": np.arange(view.height)})
        kinds = {a: i for i, a in enumerate(ACTION_KINDS)}
        rows = acts.join(keys, on="loan_id").with_columns(
            _k=pl.col("action").replace_strict(kinds, return_dtype=pl.Int64)).sort("_i", "_k")
        at = rows["_i"].to_numpy().astype(np.int64)
        kind = rows["_k"].to_numpy()
        loan = play.loans[at]
        owner = w.loans.borrower[loan]
        n = w.loans.n
        golden = 0.6180339887498949  # spreads one loan's uniform over its action kinds
        u = (stream(self.seed, Stream.REACH, k).random(n)[loan] + golden * kind) % 1.0
        v = (stream(self.seed, Stream.OUTCOME, k).random(n)[loan] + golden * kind) % 1.0
        ctx = Context(play.seg[at], play.ability[at], w.contacts.mobile_dead_from[owner] > d,
                      w.contacts.app_active[owner], self._third[owner],
                      w.ability.state[owner] != ab_chain.NORMAL)
        r = resolve(self.config, self.memory, loan, kind, ctx, d, u, v)
        full = self.memory.promise_full[r.loan]
        promised = np.where(full, led.owed_due(r.loan), led.owed_oldest(r.loan))
        seconds = (9 * 3600 + (u * 7_919 % 1) * 11 * 3600).astype(np.int64)
        return r, seconds, promised

    def _contact_rows(self, day: date, r: Reached, seconds: Ints,
                      promised: Ints) -> pl.DataFrame:
        w = self.world
        return contact_rows(self.config, day, r, seconds, w.prefix, w.loan_id, w.borrower_id,
                            w.loans.borrower, promised)

    def _pay(self, d: int, k: int, play: InPlay,
             level: npt.NDArray[np.float64]) -> list[Paid]:
        w, led = self.world, self.world.ledger
        owner = w.loans.borrower[play.loans]
        paid = decide(self.config, self.curves, led, self.memory, play, w.loans.auto_debit,
                      level[owner], d, k, self.seed)
        led.pay(paid.loans, paid.amount, d)
        seg = effective_segment(w.borrowers.segment[w.loans.borrower], w.turn_day[
            w.loans.borrower], d)
        settled = settlements(self.config, led, seg, w.loans.product, paid.loans, d, k,
                              self.seed)
        led.pay(settled.loans, settled.amount, d)
        return [paid, settled]

    @staticmethod
    def _merge(paid: list[Paid]) -> Paid:
        """One day's payments in loan order (at most one per loan)."""
        loans = np.concatenate([p.loans for p in paid])
        order = np.argsort(loans, kind="stable")
        return Paid(*(np.concatenate([getattr(p, f) for p in paid])[order]
                      for f in ("loans", "amount", "channel", "seconds")))


def simulate(config: SimConfig | None = None, *, seed: int = 1, borrowers: int = 20_000,
             start: date = date(2025, 7, 1), days: int = 365,
             policy: Policy | None = None) -> Simulation:
    """A simulated lender, ready to run: iterate it for its ``SimDay``s (see ``Simulation``)."""
    return Simulation(config, seed=seed, borrowers=borrowers, start=start, days=days,
                      policy=policy)

