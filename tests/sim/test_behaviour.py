"""Borrowers behave as their latent state says: malicious evaders can pay and do not, hardship
cases want to and cannot — their payments fall in a shock and come back after it — and what
the lender does raises the chance of paying against doing nothing, on the same seed."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from arrears.sim import NoPolicy, Simulation
from arrears.sim.actions import ACTION_KINDS
from arrears.sim.calibration import instalment_measures
from arrears.sim.config import SEGMENTS, Segment, load_config
from arrears.sim.outreach import Memory
from arrears.sim.response import Curves

START, DAYS = date(2025, 1, 1), 365


def _ran(policy: NoPolicy | None = None, seed: int = 11) -> Simulation:
    sim = Simulation(seed=seed, borrowers=6000, start=START, days=DAYS, policy=policy)
    for _ in sim:
        pass
    return sim


@pytest.fixture(scope="module")
def baseline() -> Simulation:
    return _ran()


@pytest.fixture(scope="module")
def idle() -> Simulation:
    return _ran(NoPolicy())


def _paid_share(frame: pl.DataFrame) -> float:
    return float(frame["paid"].sum() / frame["due"].sum())


def test_evaders_pay_less_than_the_organised_though_their_ability_is_higher(
        baseline: Simulation) -> None:
    months, _ = baseline.ground_truth()
    owing = months.filter(pl.col("due") > 0)
    evaders = owing.filter(pl.col("segment") == "evader", pl.col("turned"))
    organised = owing.filter(pl.col("segment") == "organised")
    assert evaders.height > 100
    assert evaders["ability"].mean() > organised["ability"].mean()  # type: ignore[operator]
    assert _paid_share(evaders) < 0.5 * _paid_share(organised)


def test_hardship_payments_fall_in_a_shock_and_recover(baseline: Simulation) -> None:
    """Willing borrowers hit by a shock: the share of their instalments paid on time falls
    in the months of the shock and comes back once they are back to normal."""
    months, _ = baseline.ground_truth()
    inst = baseline.instalments().with_columns(month=pl.col("due_on").dt.month_end())
    on_time = inst.group_by("borrower_id", "month").agg(
        falling=pl.len(), on_time=(pl.col("cleared_on") <= pl.col("due_on")).fill_null(False)
        .sum())
    willing = months.filter(pl.col("segment").is_in(["organised", "forgetful", "strained"]))
    hit = willing.filter(pl.col("shock_days") > 0).group_by("borrower_id").agg(
        first=pl.col("month").min(), last=pl.col("month").max())
    m = willing.join(hit, on="borrower_id").join(on_time, on=["borrower_id", "month"])

    def share(f: pl.DataFrame) -> float:
        assert f["falling"].sum() > 100
        return float(f["on_time"].sum() / f["falling"].sum())

    before = share(m.filter(pl.col("month") < pl.col("first")))
    during = share(m.filter(pl.col("shock_days") > 0))
    after = share(m.filter(pl.col("month") > pl.col("last"),
                           pl.col("ability_state") == "normal"))
    assert during < before - 0.05
    assert after > during + 0.05


def test_actions_raise_payment_against_no_policy_on_the_same_seed(
        baseline: Simulation, idle: Simulation) -> None:
    # the latent paths are the same draw for draw: only the lender's actions differ
    a, _ = baseline.ground_truth()
    b, _ = idle.ground_truth()
    both = a.join(b, on=["borrower_id", "month"], suffix="_idle")
    assert both.height > 0.9 * a.height
    assert (both["ability"] == both["ability_idle"]).all()
    assert (both["ability_state"] == both["ability_state_idle"]).all()
    end = START + timedelta(days=DAYS - 1)
    acted = instalment_measures(baseline.instalments(), end)
    nothing = instalment_measures(idle.instalments(), end)
    assert acted["d1"] < nothing["d1"]  # the reminder the day before works a little
    assert acted["cure30"] > nothing["cure30"] + 0.02  # collections work more


def test_an_action_lifts_the_intensity_and_the_lift_fades_and_tires() -> None:
    curves = Curves(load_config())
    mem = Memory.empty(3)
    loans = np.arange(3)
    seg = np.full(3, SEGMENTS.index(Segment.FORGETFUL))
    raw = np.full(3, 5)
    sms = ACTION_KINDS.index("sms")
    assert (curves.multiplier(mem, loans, seg, raw, 100) == 1).all()
    mem.last[sms, :2], mem.strength[sms, :2], mem.recent[sms, :2] = 100, 1.0, [1.0, 4.0]
    today = curves.multiplier(mem, loans, seg, raw, 100)
    later = curves.multiplier(mem, loans, seg, raw, 106)
    assert today[0] > later[0] > 1 and today[2] == 1
    assert today[1] < today[0]  # fatigue: the fourth SMS in a month does less
