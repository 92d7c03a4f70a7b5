"""The default configuration reproduces the published figures of Chinese online lenders and
stays within the stated tolerances of two real datasets (docs/simulator.md §6)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from arrears.sim import Simulation
from arrears.sim.calibration import (
    checks,
    reference_lending_club,
    reference_roll_matrix,
)

START, DAYS = date(2025, 1, 1), 365
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_the_default_lender_is_within_every_stated_tolerance() -> None:
    sim = Simulation(seed=3, borrowers=10_000, start=START, days=DAYS)
    for _ in sim:
        pass
    _, loan_months = sim.ground_truth()
    found = checks(sim.instalments(), loan_months, START + timedelta(days=DAYS - 1))
    checked = [c for c in found if c.ok is not None]
    assert len(checked) >= 11
    assert [c.metric for c in checked if not c.ok] == [], [
        (c.metric, c.simulated, c.low, c.high) for c in checked if not c.ok]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not next to the repository")
def test_the_shipped_extracts_say_what_the_real_files_say() -> None:
    assert reference_roll_matrix().equals(reference_roll_matrix(SHARED))
    assert reference_lending_club() == reference_lending_club(SHARED)
