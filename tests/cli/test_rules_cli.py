"""``arrears rules lpr list | add | import``: the operator's overlay, and caps that follow it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from arrears.cli.main import app

runner = CliRunner()

HEADER = "effective_date,lpr_1y_pct,lpr_5y_pct,note\n"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace (ARREARS_HOME) per test: the overlay lives under it."""
    path = tmp_path / "home"
    monkeypatch.setenv("ARREARS_HOME", str(path))
    return path


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def cap_rate(formed: str) -> str:
    out = ok_json("calc", "cap", "--lender-type", "private", "--formed", formed)
    return str(out["cap_rate"])


def overlay(home: Path) -> Path:
    return home / "rules" / "CN" / "lpr.csv"


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_the_shipped_series() -> None:
    out = ok_json("rules", "lpr", "list")
    first, last = out["fixings"][0], out["fixings"][-1]
    assert first == {"effective_date": "2019-08-20", "one_year": "0.0425", "five_year": "0.0485",
                     "one_year_pct": "4.25", "five_year_pct": "4.85",
                     "note": "first fixing after the 2019 reform", "source": "shipped"}
    assert (last["effective_date"], last["one_year"]) == ("2025-05-20", "0.03")
    assert {f["source"] for f in out["fixings"]} == {"shipped"}


def test_list_table_for_people() -> None:
    result = run("rules", "lpr", "list")
    assert result.exit_code == 0 and "13.80 %" in result.output


# --- add ----------------------------------------------------------------------------------------


def test_add_writes_the_overlay_and_the_cap_uses_it(home: Path) -> None:
    assert cap_rate("2026-05-01") == "0.12"
    out = ok_json("rules", "lpr", "add", "--date", "2026-04-20", "--one-year", "2.90",
                  "--five-year", "3.40", "--note", "hypothetical April 2026 fixing")
    assert out["written"] and [f["one_year"] for f in out["added"]] == ["0.029"]
    assert overlay(home).read_text(encoding="utf-8") == (
        HEADER + "2026-04-20,2.90,3.40,hypothetical April 2026 fixing\n")
    assert cap_rate("2026-05-01") == "0.116"  # 4 × 2.90 %
    assert cap_rate("2026-04-19") == "0.12"  # the day before it still 3.00 %
    listed = ok_json("rules", "lpr", "list")["fixings"]
    assert listed[-1]["source"] == "overlay"
    basis = ok_json("calc", "cap", "--lender-type", "private", "--formed", "2026-05-01")["basis"]
    assert "2.90 %" in basis and "2026-04-20" in basis


def test_add_refuses_a_different_value_for_a_known_date_unless_replace(home: Path) -> None:
    refused = run("rules", "lpr", "add", "--date", "2024-02-20", "--one-year", "3.50",
                  "--five-year", "3.95")
    assert refused.exit_code == 2
    assert "--replace" in flat(refused.output) and "3.45 %" in flat(refused.output)
    assert not overlay(home).exists()
    assert cap_rate("2024-03-01") == "0.138"

    replaced = ok_json("rules", "lpr", "add", "--date", "2024-02-20", "--one-year", "3.50",
                       "--five-year", "3.95", "--replace")
    assert replaced["replaced"][0]["was"]["one_year"] == "0.0345"
    assert cap_rate("2024-03-01") == "0.14"


def test_adding_a_known_fixing_again_changes_nothing(home: Path) -> None:
    out = ok_json("rules", "lpr", "add", "--date", "2025-05-20", "--one-year", "3.00",
                  "--five-year", "3.50")
    assert out["written"] is False and len(out["unchanged"]) == 1
    assert not overlay(home).exists()


@pytest.mark.parametrize(("args", "option", "words"), [
    (["--date", "2026-04-20", "--one-year", "20", "--five-year", "3.4"], "--one-year",
     "below 20"),
    (["--date", "2026-04-20", "--one-year", "0", "--five-year", "3.4"], "--one-year",
     "above 0"),
    (["--date", "2026-04-20", "--one-year", "2.9", "--five-year", "-3"], "--five-year",
     "above 0"),
    (["--date", "2026-04-20", "--one-year", "abc", "--five-year", "3.4"], "--one-year",
     "not a number"),
    (["--date", "2026-04-20", "--one-year", "2.905", "--five-year", "3.4"], "--one-year",
     "two decimals"),
    (["--date", "20/04/2026", "--one-year", "2.9", "--five-year", "3.4"], "--date",
     "not a date"),
    (["--date", "2019-07-22", "--one-year", "4.31", "--five-year", "4.85"], "--date",
     "before the first LPR"),
])
def test_add_validates_input(home: Path, args: list[str], option: str, words: str) -> None:
    result = run("rules", "lpr", "add", *args)
    assert result.exit_code == 2, result.output
    assert option in flat(result.output) and words in flat(result.output)
    assert not overlay(home).exists()


# --- import -------------------------------------------------------------------------------------


def test_import_keeps_good_rows_and_names_every_bad_one(tmp_path: Path, home: Path) -> None:
    src = tmp_path / "fixings.csv"
    src.write_text(HEADER
                   + "2026-04-20,2.90,3.40,good\n"        # row 2
                   + "2026-05-20,2.9O,3.40,letter O\n"    # row 3: bad 1Y
                   + "2026-06-22,2.85,,\n"                # row 4: 5Y missing
                   + "2026-13-01,2.80,3.30,\n"            # row 5: bad date
                   + "2024-02-20,3.40,3.95,conflict\n"    # row 6: differs from shipped
                   + "2026-07-20,2.85,3.35,good too\n",   # row 7
                   encoding="utf-8")
    result = run("rules", "lpr", "import", str(src))
    assert result.exit_code == 1
    text = flat(result.output)
    for row, field in [(3, "lpr_1y_pct"), (4, "lpr_5y_pct"), (5, "effective_date"),
                       (6, "lpr_1y_pct")]:
        assert f"{src}, row {row}, field {field}" in text
    assert "4 row(s) rejected" in text
    kept = [f for f in ok_json("rules", "lpr", "list")["fixings"] if f["source"] == "overlay"]
    assert [f["effective_date"] for f in kept] == ["2026-04-20", "2026-07-20"]
    assert cap_rate("2026-05-01") == "0.116"
    assert cap_rate("2026-07-20") == "0.114"
    assert cap_rate("2024-03-01") == "0.138"  # the conflicting row did not change it


def test_import_json_reports_rejections(tmp_path: Path) -> None:
    src = tmp_path / "one-bad.csv"
    src.write_text(HEADER + "2026-04-20,25,3.40,\n", encoding="utf-8")
    result = run("rules", "lpr", "import", str(src), "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["rejected"] == [{"file": str(src), "row": 2, "field": "lpr_1y_pct",
                                "message": "'25' must be a percent above 0 and below 20"}]
    assert out["written"] is False


def test_clean_import_exits_0_and_replace_corrects(tmp_path: Path) -> None:
    src = tmp_path / "corr.csv"
    src.write_text("\ufeff" + HEADER + "2024-02-20,3.40,3.95,correction\n", encoding="utf-8")
    assert run("rules", "lpr", "import", str(src)).exit_code == 1
    result = run("rules", "lpr", "import", str(src), "--replace")
    assert result.exit_code == 0, result.output
    assert cap_rate("2024-03-01") == "0.136"


def test_import_refuses_a_file_without_the_columns(tmp_path: Path) -> None:
    src = tmp_path / "wrong.csv"
    src.write_text("date,rate\n2026-04-20,2.9\n", encoding="utf-8")
    result = run("rules", "lpr", "import", str(src))
    assert result.exit_code == 1 and "missing column" in flat(result.output)


def test_import_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("rules", "lpr", "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2


def test_a_hand_broken_overlay_is_reported_not_used(home: Path) -> None:
    overlay(home).parent.mkdir(parents=True)
    overlay(home).write_text(HEADER + "2026-04-20,two,3.40,\n", encoding="utf-8")
    result = run("calc", "cap", "--lender-type", "private", "--formed", "2026-05-01")
    assert result.exit_code == 1
    assert "row 2, field lpr_1y_pct" in flat(result.output)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", [["rules"], ["rules", "lpr"], ["rules", "lpr", "list"],
                                  ["rules", "lpr", "add"], ["rules", "lpr", "import"]])
def test_every_command_has_help(path: list[str]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0 and "Usage" in result.output
