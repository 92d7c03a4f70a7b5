"""What the lender holds about a borrower beyond the contract's borrowers file: credit
features at application and contact points — and, in the ground truth, which of those points
actually work.

Credit features are shaped like the columns of the public datasets in ``../shared/data``
(Lending Club: ``total_credit_lines``, ``open_credit_lines``, ``inquiries_last_12m``,
``delinq_2y``, ``months_since_last_delinq``, ``debt_to_income``; UCI Taiwan credit card:
``LIMIT_BAL`` → ``credit_limit``, ``PAY_1..6`` → ``pay_status_m1..m6`` with the same coding:
−2 no use, −1 paid in full, 0 revolving, k = k months late). They depend on the willingness
segment as a lender's data would: strained borrowers carry more debt and past delinquencies,
fraudsters thin files and many recent inquiries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.sim.config import SEGMENTS, Segment, SimConfig
from arrears.sim.people import Borrowers, mobiles, names, where
from arrears.sim.rng import Stream, stream

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
NEVER = np.iinfo(np.int32).max


@dataclass(frozen=True, slots=True)
class ContactPoints:
    """Whether each borrower's contact points work (ground truth)."""

    mobile_dead_from: Ints  # day number from which the own mobile fails (NEVER: never)
    app_active: Bools
    emergency_count: Ints  # 1 or 2
    emergency_consent: Bools  # shape (n, 2)
    emergency_valid: Bools  # shape (n, 2)
    relation: npt.NDArray[np.str_]  # shape (n, 2)


def draw_contact_points(cfg: SimConfig, b: Borrowers, start: int, days: int,
                        seed: int) -> ContactPoints:
    c = cfg.contacts
    rng = stream(seed, Stream.CONTACT_POINTS)
    invalid = rng.random(b.n) < c.mobile_invalid_share
    change_at = start + rng.exponential(365.0 / max(c.mobile_change_per_year, 1e-9), b.n)
    dead = np.where(invalid, start - 1, np.where(change_at < start + days,
                                                 change_at.astype(np.int64), NEVER))
    app = rng.random(b.n) < cfg.population.app_active_share
    counts = np.array(list(c.emergency_counts), dtype=np.int64)
    cw = np.array(list(c.emergency_counts.values()))
    count = counts[rng.choice(len(counts), size=b.n, p=cw / cw.sum())]
    rel = np.array(list(c.relations))
    rw = np.array(list(c.relations.values()))
    relation = rel[rng.choice(len(rel), size=(b.n, 2), p=rw / rw.sum())]
    consent = rng.random((b.n, 2)) < c.emergency_consent_share
    valid = rng.random((b.n, 2)) >= c.emergency_invalid_share
    second = np.arange(2)[None, :] < count[:, None]
    return ContactPoints(dead.astype(np.int64), app, count, consent & second, valid & second,
                         relation)


def _by_segment(b: Borrowers, values: dict[Segment, float], default: float) -> npt.NDArray[
        np.float64]:
    table = np.array([values.get(s, default) for s in SEGMENTS])
    return table[b.segment]


def credit_features(b: Borrowers, seed: int) -> pl.DataFrame:
    """Application-time credit features, one row per borrower (see the module docstring)."""
    rng = stream(seed, Stream.CREDIT)
    n = b.n
    thin = _by_segment(b, {Segment.FRAUD: 0.6, Segment.STRAINED: 0.1}, 0.15)
    is_thin = rng.random(n) < thin
    lines = np.where(is_thin, rng.integers(0, 3, n), rng.poisson(9, n) + 1)
    open_lines = np.minimum(lines, rng.binomial(lines, 0.6))
    inquiries = rng.poisson(_by_segment(b, {Segment.STRAINED: 5.0, Segment.FRAUD: 9.0,
                                            Segment.ORGANISED: 1.5}, 2.5))
    delinq = rng.poisson(_by_segment(b, {Segment.STRAINED: 0.8, Segment.FORGETFUL: 0.4,
                                         Segment.EVADER: 0.3}, 0.1))
    since = np.where(delinq > 0, rng.integers(1, 24, n), -1)
    limit = np.where(is_thin, 0, np.round(b.income * rng.uniform(1, 6, n), -3)).astype(np.int64)
    util = np.clip(rng.beta(2, 5, n) + _by_segment(b, {Segment.STRAINED: 0.3,
                                                       Segment.EVADER: 0.1}, 0.0), 0, 1)
    dti = np.clip(rng.gamma(2.0, 6.0, n) + _by_segment(b, {Segment.STRAINED: 12.0}, 0.0), 0, 80)
    score = np.clip(rng.normal(_by_segment(b, {Segment.ORGANISED: 690, Segment.FORGETFUL: 660,
                                               Segment.STRAINED: 610, Segment.EVADER: 650,
                                               Segment.FRAUD: 600}, 650), 45), 350, 950)
    late_p = _by_segment(b, {Segment.STRAINED: 0.2, Segment.FORGETFUL: 0.1}, 0.03)
    months = {}
    for m in range(1, 7):
        late = rng.random(n) < late_p
        status = np.where(rng.random(n) < 0.5, -1, 0)
        status = np.where(late, rng.integers(1, 3, n), status)
        months[f"pay_status_m{m}"] = np.where(limit == 0, -2, status).astype(np.int8)
    return pl.DataFrame({
        "credit_limit": limit, "credit_utilisation": np.round(util, 3),
        "total_credit_lines": lines.astype(np.int32), "open_credit_lines":
            open_lines.astype(np.int32), "inquiries_last_12m": inquiries.astype(np.int32),
        "delinq_2y": delinq.astype(np.int32), "months_since_last_delinq":
            pl.Series(since, dtype=pl.Int32).replace(-1, None),
        "debt_to_income": np.round(dti, 2), "bureau_score": score.astype(np.int32), **months})


def profile_rows(cfg: SimConfig, b: Borrowers, cp: ContactPoints, ids: pl.Series,
                 seed: int) -> pl.DataFrame:
    """The lender's application data per borrower (``borrower_profiles.parquet``): profile,
    credit features and the contact points it was given — not whether they work."""
    rng = stream(seed, Stream.PROFILES)
    devices = np.array(list(cfg.population.devices))
    employers = np.array(list(cfg.population.employers))
    employer_zh = np.array([e.zh for e in cfg.population.employers.values()])
    out = pl.DataFrame({
        "borrower_id": ids, "employer_type": employers[b.employer],
        "employer_type_zh": employer_zh[b.employer], "monthly_income": b.income,
        "tenure_months": b.tenure_months.astype(np.int32), "device": devices[b.device],
        "app_installed": cp.app_active})
    contacts = {}
    for k in range(2):
        has = np.arange(2)[k] < cp.emergency_count
        contacts[f"emergency{k + 1}_name"] = where(has, names(rng, b.n))
        contacts[f"emergency{k + 1}_relation"] = where(has, cp.relation[:, k])
        contacts[f"emergency{k + 1}_mobile"] = where(has, mobiles(rng, b.n, seed * 3 + k + 1))
        contacts[f"emergency{k + 1}_consent"] = where(has, cp.emergency_consent[:, k])
    return pl.concat([out, credit_features(b, seed), pl.DataFrame(contacts)], how="horizontal")
