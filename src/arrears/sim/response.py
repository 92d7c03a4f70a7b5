"""The response model: how likely a borrower is to pay today (docs/simulator.md §3–4).

Every chance of paying is an intensity λ per day, P(pay today) = 1 − exp(−λ):

* before the due date (the early window): λ = −ln(1 − early_hazard);
* on the due date: λ = −ln(1 − due_day_p) + auto_debit_intensity if a bound card pays;
* overdue, ``raw`` days past the oldest unpaid due date: λ = cure_start·e^−(raw−1)/cure_tau
  + cure_floor;

each times ability^ability_power and times the uplift of what the lender did:

    M = 1 + Σ_actions uplift[action, segment] · strength · ½^(age / half_life)
                      · ½^(raw / dpd_half_life) · fatigue^(recent reaches − 1)

where age is the days since the action last reached the loan. Segments, abilities and the
parameters are the config's; this module is the arithmetic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from arrears.sim.actions import ACTION_KINDS
from arrears.sim.config import SEGMENTS, SimConfig
from arrears.sim.outreach import Memory

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class Curves:
    """The config's curves as arrays indexed by segment and action."""

    def __init__(self, cfg: SimConfig) -> None:
        seg = [cfg.segments[s] for s in SEGMENTS]
        self.due = -np.log1p(-np.minimum([s.due_day_p for s in seg], 1 - 1e-9))
        self.early = -np.log1p(-np.minimum([s.early_hazard for s in seg], 1 - 1e-9))
        self.start = np.array([s.cure_start for s in seg])
        self.tau = np.array([s.cure_tau for s in seg])
        self.floor = np.array([s.cure_floor for s in seg])
        self.power = np.array([s.ability_power for s in seg])
        self.card = np.array([s.auto_debit_works for s in seg])
        acts = [cfg.actions[a] for a in ACTION_KINDS]
        self.uplift = np.array([[a.uplift[s] for s in SEGMENTS] for a in acts])
        self.half_life = np.array([a.half_life_days for a in acts])
        self.dpd_half_life = np.array([a.dpd_half_life for a in acts])
        self.fatigue = np.array([a.fatigue for a in acts])
        self.auto_debit = cfg.response.auto_debit_intensity

    def base(self, seg: Ints, raw: Ints, due_today: Bools, upcoming: Bools,
             auto_debit: Bools) -> Floats:
        """λ before ability and contacts."""
        overdue = self.start[seg] * np.exp(-(np.maximum(raw, 1) - 1) / self.tau[seg]) \
            + self.floor[seg]
        on_due = self.due[seg] + np.where(auto_debit & self.card[seg], self.auto_debit, 0.0)
        return np.where(upcoming, self.early[seg], np.where(due_today, on_due, overdue))

    def multiplier(self, mem: Memory, loans: Ints, seg: Ints, raw: Ints, d: int) -> Floats:
        """M = 1 + the decayed uplift of every action that reached the loan."""
        m = np.ones(len(loans))
        for k in range(len(ACTION_KINDS)):
            age = d - mem.last[k, loans].astype(np.int64)
            recent = age < 10 * self.half_life[k]
            if not recent.any():
                continue
            at = np.flatnonzero(recent)
            lo = loans[at]
            m[at] += (self.uplift[k, seg[at]] * mem.strength[k, lo]
                      * np.exp2(-age[at] / self.half_life[k])
                      * np.exp2(-raw[at] / self.dpd_half_life[k])
                      * self.fatigue[k] ** np.maximum(mem.recent[k, lo] - 1, 0))
        return m


def p_pay(lam: Floats) -> Floats:
    return -np.expm1(-lam)
