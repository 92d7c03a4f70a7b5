"""``arrears calc schedule | apr | cap`` run for real through the Typer app."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from tests.cli.cli_helpers import flat, invoke, ok_json

LOAN = ["--principal", "10000.00", "--annual-rate", "0.18", "--terms", "12",
        "--start", "2025-01-15"]


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace, so no operator overlay from elsewhere leaks in."""
    home = tmp_path / "home"
    monkeypatch.setenv("ARREARS_HOME", str(home))
    return home


run = invoke


# --- schedule -----------------------------------------------------------------------------------


def test_schedule_json_lists_instalments_and_totals_in_yuan() -> None:
    out = ok_json("calc", "schedule", *LOAN)
    rows = out["instalments"]
    assert [r["n"] for r in rows] == list(range(1, 13))
    assert rows[0] == {"n": 1, "start_on": "2025-01-15", "due_on": "2025-02-15",
                       "principal": "766.80", "interest": "150.00", "fee": "0.00",
                       "total": "916.80"}
    assert rows[-1]["due_on"] == "2026-01-15"
    assert sum(Decimal(r["principal"]) for r in rows) == Decimal("10000.00")
    assert sum(Decimal(r["total"]) for r in rows) == Decimal(out["totals"]["total"])
    assert out["totals"]["principal"] == "10000.00"
    assert out["loan"]["net_disbursed"] == "10000.00"
    assert abs(Decimal(out["apr"]["nominal_apr"]) - Decimal("0.18")) < Decimal("1e-5")
    assert "cap_check" not in out


def test_schedule_with_lender_and_formation_flags_an_over_cap_loan() -> None:
    # CN.md-style example: 10,000 private loan, 12 % nominal, 5 % fee deducted, formed
    # 2025-06-01 when the cap was 4 × 3.00 % = 12 %
    out = ok_json("calc", "schedule", "--principal", "10000", "--annual-rate", "0.12",
                  "--terms", "12", "--start", "2025-06-01", "--upfront-fee", "500",
                  "--lender-type", "private", "--formed", "2025-06-01")
    chk = out["cap_check"]
    assert chk["cap_rate"] == "0.12"
    assert chk["within"] is False
    assert chk["all_in"] == "0.2185603033" == out["apr"]["nominal_apr"]
    assert chk["excess"] == "0.0985603033"
    assert "EXCEEDS" in chk["basis"]
    assert out["loan"]["net_disbursed"] == "9500.00"


def test_schedule_options_reach_the_schedule() -> None:
    out = ok_json("calc", "schedule", "--principal", "1200", "--annual-rate", "0.12",
                  "--terms", "4", "--start", "2025-01-31", "--method", "equal-principal",
                  "--period", "14d", "--basis", "ACT/365", "--service-fee-rate", "0.01",
                  "--rounding", "half-even", "--month-end", "month-end")
    rows = out["instalments"]
    assert [r["due_on"] for r in rows] == ["2025-02-14", "2025-02-28", "2025-03-14",
                                          "2025-03-28"]
    assert {r["principal"] for r in rows} == {"300.00"}
    assert rows[0]["interest"] == "5.52"  # 1200 × 12 % × 14/365 = 5.523…
    assert rows[0]["fee"] == "0.46"  # 1200 × 1 % × 14/365 = 0.460…
    assert out["apr"]["periods_per_year"] == "365/14"


def test_schedule_table_for_people() -> None:
    result = run("calc", "schedule", *LOAN)
    assert result.exit_code == 0
    assert "916.80" in result.output and "total" in result.output
    assert "APR (IRR)" in result.output


# --- apr ----------------------------------------------------------------------------------------


def test_apr_of_explicit_flows_is_a_root_of_their_npv() -> None:
    out = ok_json("calc", "apr", "--disbursed", "99000", "--payment", "8833.30",
                  "--count", "12", "--period", "month")
    i = Fraction(out["periodic_irr"])
    npv = -99000 + sum((Fraction("8833.30") / (1 + i) ** t for t in range(1, 13)), Fraction(0))
    assert abs(npv) < Fraction(1, 100)  # under a fen at the 10-place rate
    assert Fraction(out["nominal_apr"]) == pytest.approx(i * 12, abs=1e-9)
    assert Decimal(out["effective_annual_rate"]) > Decimal(out["nominal_apr"])
    assert set(out) >= {"periodic_irr", "nominal_apr", "effective_annual_rate"}


def test_apr_from_loan_options_matches_the_schedule_block() -> None:
    sched = ok_json("calc", "schedule", *LOAN, "--upfront-fee", "300")
    apr = ok_json("calc", "apr", *LOAN, "--upfront-fee", "300")
    assert apr == sched["apr"]
    assert Decimal(apr["nominal_apr"]) > Decimal("0.18")


def test_apr_needs_one_kind_of_input() -> None:
    both = run("calc", "apr", *LOAN, "--disbursed", "99000", "--payment", "8833.30",
               "--count", "12")
    assert both.exit_code == 2 and "not both" in flat(both.output)
    neither = run("calc", "apr")
    assert neither.exit_code == 2
    half = run("calc", "apr", "--disbursed", "99000")
    assert half.exit_code == 2 and "--payment" in flat(half.output)


# --- cap ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lender", "formed", "rate", "regime"), [
    ("private", "2024-03-01", "0.138", "private-4xLPR"),
    ("individual", "2025-06-01", "0.12", "private-4xLPR"),
    ("p2p", "2024-10-21", "0.124", "private-4xLPR"),
    ("bank", "2025-06-01", "0.24", "licensed-24pct"),
    ("microloan", "2019-01-01", "0.24", "licensed-24pct"),
])
def test_cap_worked_examples(lender: str, formed: str, rate: str, regime: str) -> None:
    out = ok_json("calc", "cap", "--lender-type", lender, "--formed", formed)
    assert (out["cap_rate"], out["regime"]) == (rate, regime)
    assert out["basis"] and len(out["segments"]) == 1


def test_cap_basis_names_rule_and_lpr() -> None:
    out = ok_json("calc", "cap", "--lender-type", "private", "--formed", "2024-03-01")
    assert "4 × 1-year LPR 3.45 %" in out["basis"] and "= 13.80 %" in out["basis"]
    assert "民间借贷规定 第25条" in out["basis"]
    seg = out["segments"][0]
    assert (seg["lpr_1y"], seg["lpr_fixing_date"]) == ("0.0345", "2024-02-20")


def test_cap_art_31_segments_with_filing_date() -> None:
    out = ok_json("calc", "cap", "--lender-type", "private", "--formed", "2019-06-01",
                  "--filed", "2024-03-01")
    old, new = out["segments"]
    assert (old["start"], old["last_day"], old["rate"], old["void_above"]) == (
        "2019-06-01", "2020-08-19", "0.24", "0.36")
    assert (new["start"], new["end"], new["rate"]) == ("2020-08-20", None, "0.138")
    assert out["cap_rate"] == "0.138" and out["regime"] == "private-art31-transition"


def test_cap_table_for_people() -> None:
    result = run("calc", "cap", "--lender-type", "private", "--formed", "2019-06-01")
    assert result.exit_code == 0
    assert "2020-08-19" in result.output and "filing date not given" in flat(result.output)


# --- errors: exit 2 with the option named, never a traceback -------------------------------------


@pytest.mark.parametrize(("args", "option", "words"), [
    (["calc", "schedule", "--principal", "ten", *LOAN[2:]], "--principal", "not an amount"),
    (["calc", "schedule", "--principal", "1.234", *LOAN[2:]], "--principal", "decimals"),
    (["calc", "schedule", *LOAN[:2], "--annual-rate", "18", *LOAN[4:]], "--annual-rate",
     "percent"),
    (["calc", "schedule", *LOAN[:6], "--start", "2025-13-01"], "--start", "not a date"),
    (["calc", "schedule", *LOAN, "--method", "balloon"], "--method", "equal-instalment"),
    (["calc", "schedule", *LOAN, "--basis", "30/365"], "--basis", "ACT/365"),
    (["calc", "schedule", *LOAN, "--period", "fortnight"], "--period", "unknown period"),
    (["calc", "schedule", *LOAN, "--rounding", "bankers"], "--rounding", "half-even"),
    (["calc", "schedule", *LOAN, "--upfront-fee", "10000"], "--upfront-fee", "less than"),
    (["calc", "schedule", *LOAN, "--first-due", "2025-01-01"], "--first-due", "not after"),
    (["calc", "schedule", *LOAN, "--lender-type", "private"], "--formed", "both"),
    (["calc", "schedule", *LOAN[:4]], "--terms", "needs"),
    (["calc", "cap", "--lender-type", "loanshark", "--formed", "2024-03-01"], "--lender-type",
     "private"),
    (["calc", "cap", "--lender-type", "private", "--formed", "yesterday"], "--formed",
     "not a date"),
    (["calc", "cap", "--lender-type", "private", "--formed", "2024-03-01",
      "--filed", "2024-01-01"], "--formed", "before the contract was formed"),
    (["calc", "cap", "--lender-type", "bank", "--formed", "2024-03-01", "--pack", "US"],
     "--pack", "state usury laws vary"),
    (["calc", "cap", "--lender-type", "bank", "--formed", "2024-03-01", "--pack", "XX"],
     "--pack", "no rule pack"),
])
def test_bad_values_exit_2_with_a_clear_message(args: list[str], option: str,
                                                words: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    assert option in text and words in text
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", [["calc"], ["calc", "schedule"], ["calc", "apr"],
                                  ["calc", "cap"]])
def test_every_command_has_help(path: list[str]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0 and "Usage" in result.output
