"""Who pays today, how much, through which channel (docs/simulator.md §3).

For the loans in play — an instalment within the early window, due today, or overdue — the
chance of paying comes from ``response``; a kept promise falling due today pays for certain.
What is paid: early, the next instalment (held as credit until its due date); on the due
date, what is due; overdue, everything owed, the oldest instalment, or a part of it (whole
yuan), by the segment's shares and the borrower's ability. Current loans may also settle
early (the payoff, Civil Code Art. 677). Amounts come from the ledger, so they never exceed
what is owed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from arrears.sim.config import SEGMENTS, Segment, SimConfig
from arrears.sim.ledger import ACTIVE, Ledger
from arrears.sim.outreach import Memory
from arrears.sim.response import Curves, p_pay
from arrears.sim.rng import Stream, stream

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
CHANNELS = ("auto-debit", "alipay", "wechat-pay", "bank-transfer")
_PAYER_SEGMENTS = (Segment.ORGANISED, Segment.FORGETFUL, Segment.STRAINED)


@dataclass(frozen=True, slots=True)
class InPlay:
    """Loans with something due soon or owing, as of the start of a day."""

    loans: Ints
    raw: Ints  # days past the oldest unpaid due date (0 if none is past)
    due_today: Bools
    upcoming: Bools  # nothing owing; the next instalment within the early window
    seg: Ints  # effective segment index (evaders count as organised before their turn)
    ability: Floats  # ability^power


@dataclass(frozen=True, slots=True)
class Paid:
    loans: Ints
    amount: Ints
    channel: Ints  # index into CHANNELS
    seconds: Ints  # time of day


def in_play(led: Ledger, d: int, window: int) -> Ints:
    """Active loans owing something, or (with nothing held for it) due within ``window``."""
    act = np.flatnonzero(led.status == ACTIVE)
    open_ = led.first_open[act]
    nxt = led.due[np.minimum(open_, led.hi[act] - 1)]
    owing = open_ < led.next_line[act]
    soon = ~owing & (open_ < led.hi[act]) & (nxt - d <= window) & (led.credit[act] == 0)
    out: Ints = act[owing | soon]
    return out


def effective_segment(segment: Ints, turn_day: Ints, d: int) -> Ints:
    evader, organised = SEGMENTS.index(Segment.EVADER), SEGMENTS.index(Segment.ORGANISED)
    out: Ints = np.where((segment == evader) & (d < turn_day), organised, segment)
    return out


def decide(cfg: SimConfig, curves: Curves, led: Ledger, mem: Memory, p: InPlay,
           auto_debit: Bools, level: Floats, d: int, day_index: int, seed: int) -> Paid:
    """Today's payments of the loans in play (draws for every loan: common random numbers)."""
    n = len(led.status)
    u = stream(seed, Stream.PAY, day_index).random(n)[p.loans]
    lam = curves.base(p.seg, p.raw, p.due_today, p.upcoming, auto_debit[p.loans])
    lam = lam * p.ability * curves.multiplier(mem, p.loans, p.seg, p.raw, d)
    promised = (mem.promise_day[p.loans] == d) & mem.promise_kept[p.loans] & ~p.upcoming
    pays = (u < p_pay(lam)) | promised
    who = p.loans[pays]
    amt_rng = stream(seed, Stream.AMOUNT, day_index)
    ut, uf = amt_rng.random(n)[who], amt_rng.random(n)[who]
    amount = _amount(cfg, led, who, p.seg[pays], level[pays], p.upcoming[pays],
                     p.raw[pays], ut, uf, promised[pays], mem.promise_full[who], d)
    card = auto_debit[who] & p.due_today[pays] & curves.card[p.seg[pays]]
    ok = amount > 0
    return _stamped(who[ok], amount[ok], card[ok], seed, day_index, n)


def _amount(cfg: SimConfig, led: Ledger, who: Ints, seg: Ints, level: Floats,
            upcoming: Bools, raw: Ints, ut: Floats, uf: Floats, promised: Bools,
            promise_full: Bools, d: int) -> Ints:
    owed, oldest = led.owed_due(who), led.owed_oldest(who)
    full_share = np.array([cfg.segments[s].full_share for s in SEGMENTS])[seg]
    inst_share = np.array([cfg.segments[s].instalment_share for s in SEGMENTS])[seg]
    # a borrower short of money is less likely to clear everything at once
    p_full = full_share * np.minimum(1.0, level / 0.6)
    lo, hi = cfg.response.partial_fraction
    # the share is drawn as a float; the amount is integer fen, whole yuan, never above owed
    per_mille = np.round((lo + uf * (hi - lo)) * 1000).astype(np.int64)
    part = oldest * per_mille // 1000 // 100 * 100
    part = np.where(part < 100, oldest, part)
    chosen = np.where(ut < p_full, owed, np.where(ut < p_full + inst_share, oldest, part))
    chosen = np.where(promised, np.where(promise_full, owed, oldest), chosen)
    chosen = np.where(raw == 0, owed, chosen)  # on the due date: what is due
    # paying the next instalment early: when it would cover the payoff (the last one), the
    # app asks for the payoff instead (Art. 677: interest for the days used)
    early = np.minimum(led.next_instalment(who), _payoff_or_max(led, who, upcoming, d))
    out: Ints = np.where(upcoming, early, chosen)
    return out


def _payoff_or_max(led: Ledger, who: Ints, upcoming: Bools, d: int) -> Ints:
    payoff = np.full(len(who), np.iinfo(np.int64).max, dtype=np.int64)
    payoff[upcoming] = led.payoff_after_due(who[upcoming], d)
    return payoff


def settlements(cfg: SimConfig, led: Ledger, segment: Ints, product: Ints,
                exclude: Ints, d: int, day_index: int, seed: int) -> Paid:
    """Current loans that pay off early today (only borrowers who mean to pay)."""
    n = len(led.status)
    u = stream(seed, Stream.SETTLE, day_index).random(n)
    hazard = np.array([p.settle_hazard for p in cfg.products])[product]
    payer = np.isin(segment, [SEGMENTS.index(s) for s in _PAYER_SEGMENTS])
    cand = (led.status == ACTIVE) & (led.first_open == led.next_line) & (led.first_open < led.hi)
    cand &= (led.credit == 0) & payer & (u < hazard)
    cand[exclude] = False
    who = np.flatnonzero(cand)
    amount = led.payoff_after_due(who, d)
    ok = amount > 0
    return _stamped(who[ok], amount[ok], np.zeros(int(ok.sum()), dtype=np.bool_), seed,
                    day_index, n, salt=1)


def _stamped(who: Ints, amount: Ints, card: Bools, seed: int, day_index: int, n: int,
             salt: int = 0) -> Paid:
    clock = stream(seed, Stream.CLOCK, day_index).random((2, n))[salt][who]
    other = 1 + (clock * 977 % 1 * 3).astype(np.int64)  # alipay, wechat-pay, bank-transfer
    channel = np.where(card, 0, other)
    # the bank debits bound cards early in the morning; people pay from 7 am to midnight
    seconds = np.where(card, 6 * 3600 + clock * 4 * 3600,
                       7 * 3600 + clock * 17 * 3600 - 1).astype(np.int64)
    return Paid(who, amount, channel, np.clip(seconds, 0, 86_399))
