"""Ability to pay (还款能力): a daily Markov chain per borrower, and the debt burden.

States: normal → shock (job loss, illness, business failure) → recovering → normal. The
chance of a shock depends on the employer type and is scaled by the willingness segment
(strained borrowers are fragile); time in shock depends on its cause. Ability is the state's
level times affordability, which falls with the instalment burden (largest instalment ÷
monthly income). Intensities of paying are multiplied by ability^power (docs/simulator.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from arrears.sim.config import CAUSES, SEGMENTS, SimConfig
from arrears.sim.people import Borrowers
from arrears.sim.rng import Stream, stream

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
NORMAL, SHOCK, RECOVERING = 0, 1, 2
STATE_NAMES = ("normal", "shock", "recovering")
STATE_ZH = ("正常", "收入冲击", "恢复中")


@dataclass(slots=True)
class Ability:
    state: npt.NDArray[np.int8]
    cause: npt.NDArray[np.int8]  # last shock's cause (index into CAUSES), -1 never
    since: Ints  # day the current state began
    afford: Floats  # debt-burden factor in [floor, 1]
    shock_days: Ints  # days in shock this month (ground truth)
    p_shock: Floats  # daily chance of a shock while normal
    cause_p: Floats  # (n, causes) cause weights of each borrower's employer type

    def level(self, cfg: SimConfig) -> Floats:
        """Ability in (0, 1]: the state's level times affordability."""
        shock_level = np.array([cfg.ability.causes[c].level for c in CAUSES])
        lv = np.where(self.state == SHOCK, shock_level[np.maximum(self.cause, 0)], 1.0)
        lv = np.where(self.state == RECOVERING, cfg.ability.recovering_level, lv)
        return lv * self.afford


def start_ability(cfg: SimConfig, b: Borrowers, burden: Floats, start: int) -> Ability:
    """Everyone starts normal; ``burden`` is each borrower's largest instalment ÷ income."""
    a = cfg.ability
    afford = np.clip(1 - a.burden_slope * np.maximum(burden - a.burden_threshold, 0),
                     a.affordability_floor, 1.0)
    employers = list(cfg.population.employers.values())
    per_year = np.array([e.shock_per_year for e in employers])[b.employer]
    mult = np.array([cfg.segments[s].shock_multiplier for s in SEGMENTS])[b.segment]
    cause_w = np.array([[e.causes.get(c, 0.0) for c in CAUSES] for e in employers])
    cause_p = cause_w[b.employer] / cause_w[b.employer].sum(axis=1, keepdims=True)
    return Ability(np.zeros(b.n, dtype=np.int8), np.full(b.n, -1, dtype=np.int8),
                   np.full(b.n, start, dtype=np.int64), afford,
                   np.zeros(b.n, dtype=np.int64), -np.expm1(-per_year * mult / 365.0),
                   cause_p)


def step(ab: Ability, cfg: SimConfig, seed: int, d: int, day_index: int) -> None:
    """One day of the chain (draws for every borrower: common random numbers)."""
    rng = stream(seed, Stream.ABILITY, day_index)
    n = len(ab.state)
    u, v = rng.random(n), rng.random(n)
    mean_days = np.array([cfg.ability.causes[c].mean_days for c in CAUSES])
    p_end = -np.expm1(-1.0 / mean_days[np.maximum(ab.cause, 0)])
    p_back = -np.expm1(-1.0 / cfg.ability.recovering_mean_days)
    shocked = (ab.state == NORMAL) & (u < ab.p_shock)
    ends = (ab.state == SHOCK) & (u < p_end)
    back = (ab.state == RECOVERING) & (u < p_back)
    if shocked.any():
        cum = np.cumsum(ab.cause_p[shocked], axis=1)
        ab.cause[shocked] = (v[shocked, None] > cum).sum(axis=1).clip(0, len(CAUSES) - 1)
        ab.state[shocked] = SHOCK
    ab.state[ends] = RECOVERING
    ab.state[back] = NORMAL
    ab.since[shocked | ends | back] = d
    ab.shock_days += ab.state == SHOCK
