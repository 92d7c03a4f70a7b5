"""``arrears calc limitation`` run for real through the Typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.cli import cli_helpers as helpers
from tests.cli.cli_helpers import flat, invoke
from typer.testing import Result


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace, so no operator overlay from elsewhere leaks in."""
    home = tmp_path / "home"
    monkeypatch.setenv("ARREARS_HOME", str(home))
    return home


def run(*args: str) -> Result:
    return invoke("calc", "limitation", *args)


def ok_json(*args: str) -> Any:
    return helpers.ok_json("calc", "limitation", *args)


def test_three_years_from_the_last_due_date() -> None:
    out = ok_json("--last-due", "2021-06-15")
    assert out["deadline"] == "2024-06-17"  # 2024-06-15 is a Saturday
    assert out["start"] == "2021-06-15"
    assert out["restarted_by"] is None
    assert out["pack"] == "CN" and out["region"] is None
    assert out["late_event"] is None and out["long_stop"] is None
    assert "3 years from the last instalment's due date 2021-06-15" in out["reason"]
    assert "moved to 2024-06-17 (Civil Code Art. 202, 203)" in out["reason"]


def test_events_restart_the_period_and_the_latest_in_force_wins() -> None:
    out = ok_json("--last-due", "2024-02-29", "--event", "promise:2024-01-02",
                  "--event", "payment:2025-03-01", "--event", "Demand-Delivered:2024-08-01",
                  "--jurisdiction", "cn")
    assert (out["deadline"], out["start"], out["restarted_by"]) == (
        "2028-03-01", "2025-03-01", "payment")
    assert out["reason"].startswith("3 年，自 2025-03-01 部分还款（payment）起算（民法典第195条；"
                                    "诉讼时效规定第14条）")


def test_a_late_event_and_the_long_stop_are_reported() -> None:
    out = ok_json("--last-due", "2020-01-15", "--event", "payment:2023-01-17")
    assert out["deadline"] == "2023-01-16"
    assert out["late_event"] == {"kind": "payment", "on": "2023-01-17"}
    out = ok_json("--last-due", "2020-01-15", "--event", "payment:2022-01-04",
                  "--event", "payment:2024-12-02", "--first-default", "2005-02-01")
    assert out["deadline"] == out["long_stop"] == "2025-02-05"


def test_us_needs_a_state() -> None:
    result = run("--last-due", "2024-02-29", "--pack", "US")
    assert result.exit_code == 2
    assert "give the state" in flat(result.output)
    out = ok_json("--last-due", "2024-02-29", "--pack", "US", "--region", "ca",
                  "--first-default", "2023-05-31")
    assert (out["deadline"], out["region"]) == ("2027-05-31", "CA")


def test_human_output_shows_the_deadline_and_the_reason() -> None:
    result = run("--last-due", "2022-10-01")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "2025-10-09" in text
    assert "2025-10-01 is a statutory rest day" in text


@pytest.mark.parametrize(("args", "option", "message"), [
    (["--last-due", "2024-02-30"], "--last-due", "is not a date"),
    (["--last-due", "2024-01-15", "--event", "sms:2025-01-01"], "--event",
     "unknown interruption event 'sms'; known: demand-delivered"),
    (["--last-due", "2024-01-15", "--event", "payment2025-01-01"], "--event", "is not KIND:DATE"),
    (["--last-due", "2024-01-15", "--event", "payment:2025-13-01"], "--event", "is not a date"),
    (["--last-due", "2024-01-15", "--pack", "XX"], "--pack", "no rule pack 'XX'"),
    (["--last-due", "2024-01-15", "--pack", "US", "--region", "CA"], "--first-default",
     "first default"),
])
def test_bad_options_exit_2_naming_the_option(args: list[str], option: str, message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    assert option in text
    assert message in text
