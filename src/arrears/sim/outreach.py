"""Lender actions meeting borrowers: who is reached, what they say, and what is remembered.

An action first needs its channel to work (a live own mobile for SMS and calls, the app for
pushes, someone at the address for letters and visits); it then reaches the borrower with the
action's ``reach`` probability. An agent call to a dead number may reach an emergency contact
who consented to be called (第三方, half the effect). A reached borrower may promise to pay
(agent calls and visits), dispute the debt or complain (small rates, complaints rising with
contact pressure). What is remembered per loan and action — the day of the last reach, how
many recent reaches (fatigue) and their strength — drives the uplift of ``response``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from arrears.contract.outcomes import OUTCOMES, STATUSES
from arrears.sim.actions import ACTION_KINDS
from arrears.sim.config import SEGMENTS, Channel, Segment, SimConfig

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
NEVER = np.iinfo(np.int32).max
LONG_AGO = -(10**6)
STATUS_ZH = ("已送达", "本人接通", "第三方接通", "未接听", "未触达", "空号/停机", "未开通推送")
OUTCOME_ZH = ("无", "承诺还款", "异议", "投诉", "接受方案", "拒绝还款")
# indices into contract.outcomes.STATUSES and OUTCOMES (the receipts' vocabulary)
DELIVERED, ANSWERED, THIRD, NO_ANSWER, NOT_REACHED, INVALID, APP_OFF = range(len(STATUSES))
NONE, PTP, DISPUTE, COMPLAINT, PLAN_OK, REFUSED = range(len(OUTCOMES))
RECENT_HALF_LIFE = 30.0  # days over which earlier reaches count towards fatigue


@dataclass(slots=True)
class Memory:
    """Per (action, loan): the last reach, recent reaches (decayed), their strength; per loan:
    contact attempts by day of the week, promise and flags the lender has learnt."""

    last: npt.NDArray[np.int32]  # (actions, loans)
    recent: npt.NDArray[np.float32]
    strength: npt.NDArray[np.float32]
    week: npt.NDArray[np.int16]  # (7, loans) attempts per weekday slot
    last_contact: Ints
    promise_day: Ints
    promise_kept: Bools
    promise_full: Bools
    mobile_failed: Bools
    disputed: Bools
    complained: Bools

    @classmethod
    def empty(cls, n: int) -> Memory:
        k = len(ACTION_KINDS)
        return cls(np.full((k, n), LONG_AGO, dtype=np.int32), np.zeros((k, n), np.float32),
                   np.zeros((k, n), np.float32), np.zeros((7, n), np.int16),
                   np.full(n, LONG_AGO, dtype=np.int64), np.full(n, NEVER, dtype=np.int64),
                   np.zeros(n, np.bool_), np.zeros(n, np.bool_), np.zeros(n, np.bool_),
                   np.zeros(n, np.bool_), np.zeros(n, np.bool_))

    def contacts_7d(self, loans: Ints) -> Ints:
        out: Ints = self.week[:, loans].sum(axis=0).astype(np.int64)
        return out


@dataclass(frozen=True, slots=True)
class Reached:
    """Today's actions resolved, one entry per action row."""

    loan: Ints
    kind: Ints  # index into ACTION_KINDS
    status: Ints  # index into STATUSES
    outcome: Ints  # index into OUTCOMES
    promise_day: Ints  # NEVER unless a promise was made


@dataclass(frozen=True, slots=True)
class Context:
    """What outreach needs to know about the borrowers behind today's action rows."""

    segment: Ints  # effective segment index
    ability: Floats  # ability^power of the segment
    mobile_alive: Bools
    app_active: Bools
    third_party: Bools  # an emergency contact who consented and whose number works
    hardship: Bools  # in shock or recovering


def resolve(cfg: SimConfig, mem: Memory, loan: Ints, kind: Ints, ctx: Context, d: int,
            u: Floats, v: Floats) -> Reached:
    """Resolve action rows (``u``, ``v``: uniforms per row) and update the memory."""
    specs = [cfg.actions[a] for a in ACTION_KINDS]
    channel = np.array([list(Channel).index(s.channel) for s in specs])[kind]
    reach_p = np.array([s.reach for s in specs])[kind]
    hit = u < reach_p  # letters, visits and court service need nothing but the reach
    sms, app, voice, agent, plan = (list(Channel).index(c) for c in (
        Channel.SMS, Channel.APP, Channel.VOICE, Channel.AGENT, Channel.PLAN))
    alive = ctx.mobile_alive
    status = np.where(hit, DELIVERED, NOT_REACHED)
    status = np.where((channel == sms) & ~alive, INVALID, status)
    status = np.where((channel == app) & ~ctx.app_active, APP_OFF, status)
    talk = (channel == voice) | (channel == agent)
    status = np.where(talk, np.where(alive, np.where(hit, ANSWERED, NO_ANSWER), INVALID),
                      status)
    status = np.where((channel == agent) & ~alive & ctx.third_party & hit, THIRD, status)
    status = np.where((channel == plan) & ~alive & ~ctx.app_active, NOT_REACHED, status)
    reached = (status == DELIVERED) | (status == ANSWERED) | (status == THIRD)
    outcome = _outcomes(cfg, mem, loan, kind, status, reached, ctx, v)
    promise = np.where(outcome == PTP, d + _ptp_days(cfg, v), NEVER)
    _remember(cfg, mem, loan, kind, status, reached, outcome, promise, ctx, d, v)
    return Reached(loan, kind, status, outcome, promise)


def _ptp_days(cfg: SimConfig, v: Floats) -> Ints:
    lo, hi = cfg.response.ptp_days
    return lo + (v * 7919 % 1 * (hi - lo + 1)).astype(np.int64)


def _by_seg(cfg: SimConfig, field: str, seg: Ints) -> Floats:
    return np.array([getattr(cfg.segments[s], field) for s in SEGMENTS])[seg]


def _outcomes(cfg: SimConfig, mem: Memory, loan: Ints, kind: Ints, status: Ints,
              reached: Bools, ctx: Context, v: Floats) -> Ints:
    """One outcome per row; each draw uses its own slice of the row's uniform ``v``."""
    own = reached & (status != THIRD)
    k = np.array(ACTION_KINDS)[kind]
    talks = own & np.isin(k, ["agent_call", "field_visit"])
    pressure = 1 + cfg.response.complaint_pressure * np.maximum(
        mem.contacts_7d(loan) - 3, 0)
    complaint = own & (v < _by_seg(cfg, "complaint", ctx.segment) * pressure)
    w = v * 101 % 1
    dispute = own & (w < _by_seg(cfg, "dispute", ctx.segment))
    x = v * 1009 % 1
    ptp = talks & (x < _by_seg(cfg, "ptp_make", ctx.segment))
    plan_ok = own & (k == "plan_offered") & (x < np.where(ctx.hardship, 0.5, 0.1))
    evader = ctx.segment == SEGMENTS.index(Segment.EVADER)
    refused = talks & evader & (x >= 0.5)
    out = np.full(len(loan), NONE, dtype=np.int64)
    for flag, code in ((refused, REFUSED), (plan_ok, PLAN_OK), (ptp, PTP),
                       (dispute, DISPUTE), (complaint, COMPLAINT)):
        out = np.where(flag, code, out)
    return out


def _remember(cfg: SimConfig, mem: Memory, loan: Ints, kind: Ints, status: Ints,
              reached: Bools, outcome: Ints, promise: Ints, ctx: Context, d: int,
              v: Floats) -> None:
    np.add.at(mem.week, (np.full(len(loan), d % 7), loan), 1)
    mem.last_contact[loan] = d
    mem.mobile_failed[loan[status == INVALID]] = True
    mem.disputed[loan[outcome == DISPUTE]] = True
    mem.complained[loan[outcome == COMPLAINT]] = True
    r = np.flatnonzero(reached)
    kr, lr = kind[r], loan[r]
    age = d - mem.last[kr, lr]
    mem.recent[kr, lr] = mem.recent[kr, lr] * np.exp2(-age / RECENT_HALF_LIFE) + 1
    mem.last[kr, lr] = d
    mem.strength[kr, lr] = np.where(status[r] == THIRD, 0.5, 1.0)
    p = np.flatnonzero(outcome == PTP)
    keep = _by_seg(cfg, "ptp_keep", ctx.segment[p]) * ctx.ability[p]
    mem.promise_day[loan[p]] = promise[p]
    mem.promise_kept[loan[p]] = (v[p] * 10007 % 1) < keep
    mem.promise_full[loan[p]] = ctx.segment[p] != SEGMENTS.index(Segment.STRAINED)


def new_day(mem: Memory, d: int) -> None:
    """Forget the attempts of a week ago (the slot is reused today)."""
    mem.week[d % 7] = 0
