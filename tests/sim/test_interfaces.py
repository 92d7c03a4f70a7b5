"""The policy interface and the configuration: what a strategy sees and may answer, and one
file of knobs that is validated field by field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from arrears.contract.outcomes import ACTIONS, CHANNELS, OUTCOME_FIELDS
from arrears.contract.validate import check
from arrears.sim import (
    VIEW_SCHEMA,
    BaselinePolicy,
    ConfigError,
    NoPolicy,
    PolicyError,
    Simulation,
    load_config,
)
from arrears.sim.actions import ACTION_KINDS, checked_actions
from arrears.sim.config import Channel


class Recorder:
    """A policy that sends an SMS to every overdue loan and keeps what it was shown."""

    name = "recorder"

    def __init__(self) -> None:
        self.views: list[pl.DataFrame] = []

    def actions(self, day: date, view: pl.DataFrame) -> pl.DataFrame:
        self.views.append(view)
        return view.filter(pl.col("dpd") > 0).select("loan_id", action=pl.lit("sms"))


def test_a_policy_sees_the_lenders_view_only_and_its_actions_are_recorded() -> None:
    policy = Recorder()
    sim = Simulation(seed=2, borrowers=400, start=date(2025, 3, 1), days=90, policy=policy)
    contacts = pl.concat([day.contacts for day in sim])
    sent = contacts.filter(pl.col("action") == "sms").height
    assert check(contacts, OUTCOME_FIELDS).bad.height == 0  # receipts follow the contract
    view = pl.concat(policy.views)
    assert dict(view.schema) == VIEW_SCHEMA  # no segment, no ability: the lender cannot see
    assert view.filter(pl.col("dpd") > 0).height == sent > 0
    assert view["days_to_due"].max() <= 3  # nothing beyond the early window  # type: ignore


def test_the_receipts_vocabulary_is_the_simulators() -> None:
    assert ACTION_KINDS == ACTIONS
    assert tuple(c.value for c in Channel) == CHANNELS


def test_the_baseline_reminds_the_day_before_and_escalates() -> None:
    view = pl.DataFrame({
        "loan_id": ["a", "b", "c", "d", "e"], "borrower_id": "x", "product": "CASH",
        "lender_type": "microloan", "principal": 300_000,
        "outstanding_principal": [300_000, 300_000, 300_000, 3_000_000, 3_000_000],
        "dpd": [0, 1, 8, 75, 120], "days_to_due": [1, -1, -8, -75, -120], "owed": 0,
        "next_amount": 0, "contacts_7d": 0, "last_contact": None, "promise_on": None,
        "mobile_failed": False, "disputed": False, "complained": False}).cast(VIEW_SCHEMA)
    got = BaselinePolicy().actions(date(2025, 5, 1), view)
    pairs = set(zip(got["loan_id"], got["action"], strict=True))
    assert {("a", "reminder"), ("b", "sms"), ("c", "agent_call"), ("d", "field_visit"),
            ("e", "litigation")} <= pairs
    assert NoPolicy().actions(date(2025, 5, 1), view).height == 0


def test_unknown_actions_and_stray_loans_are_refused() -> None:
    view = pl.DataFrame({"loan_id": ["L1"]})
    with pytest.raises(PolicyError, match="unknown actions"):
        checked_actions(pl.DataFrame({"loan_id": ["L1"], "action": ["threaten"]}), view, "p")
    with pytest.raises(PolicyError, match="not in the view"):
        checked_actions(pl.DataFrame({"loan_id": ["L9"], "action": ["sms"]}), view, "p")
    kept = checked_actions(pl.DataFrame({"loan_id": ["L1", "L1"], "action": ["none", "sms"]}),
                           view, "p")
    assert kept.rows() == [("L1", "sms")]


def test_an_override_file_merges_over_the_defaults(tmp_path: Path) -> None:
    f = tmp_path / "stress.yaml"
    f.write_text("segments:\n  forgetful:\n    due_day_p: 0.7\nresponse:\n"
                 "  charge_off_dpd: 150\n", encoding="utf-8")
    cfg = load_config(f)
    assert cfg.segments["forgetful"].due_day_p == 0.7
    assert cfg.response.charge_off_dpd == 150
    assert cfg.segments["organised"] == load_config().segments["organised"]


@pytest.mark.parametrize(("text", "where"), [
    ("segments:\n  fraud:\n    share: 1.5\n", "segments.fraud.share"),
    ("actions:\n  sms:\n    fatigue: 0\n", "actions.sms.fatigue"),
    ("products:\n  - code: bad code\n", "products.0"),
    ("bogus: 1\n", "bogus"),
])
def test_a_bad_config_names_the_file_and_the_field(tmp_path: Path, text: str,
                                                   where: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"bad.yaml: .*{where}"):
        load_config(f)
