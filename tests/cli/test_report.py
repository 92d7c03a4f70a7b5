"""``arrears report …`` as a user runs it: snapshots written as Parquet partitions into a
workspace, the real command, JSON parsed back, the workbook opened as the zip it is."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from typer.testing import CliRunner

from arrears.cli.main import app
from arrears.eod.snapshot import SNAPSHOT_SCHEMA

runner = CliRunner()

RANK = {"M0": 0, "M1": 1, "M2": 2}

# as_of, loan, disbursed, principal, state ("bucket dpd" or settled), outstanding principal,
# outstanding total, overdue principal, overdue interest — amounts in fen
ROWS = [
    ("2025-01-31", "X", "2025-01-10", 100000, "M0 0", 100000, 100000, 0, 0),
    ("2025-01-31", "Y", "2025-01-20", 50000, "M0 0", 50000, 50000, 0, 0),
    ("2025-02-28", "X", "2025-01-10", 100000, "M1 12", 100000, 101000, 9000, 1000),
    ("2025-02-28", "Y", "2025-01-20", 50000, "M0 0", 45000, 45000, 0, 0),
    ("2025-02-28", "Z", "2025-02-05", 200000, "M0 0", 200000, 200000, 0, 0),
    ("2025-03-15", "Z", "2025-02-05", 200000, "M2 40", 200000, 200000, 0, 0),  # not a month-end
    ("2025-03-31", "X", "2025-01-10", 100000, "M0 0", 80000, 85000, 0, 0),
    ("2025-03-31", "Y", "2025-01-20", 50000, "settled", 0, 0, 0, 0),
    ("2025-03-31", "Z", "2025-02-05", 200000, "M1 26", 200000, 210000, 30000, 2000),
]


def frame(rows: list[tuple[Any, ...]] = ROWS, currency: str = "CNY") -> pl.DataFrame:
    out = []
    for as_of, loan, disbursed, principal, state, op, ot, od_p, od_i in rows:
        r: dict[str, Any] = dict.fromkeys(SNAPSHOT_SCHEMA)
        closed = state == "settled"
        bucket, dpd = ("M0", "0") if closed else state.split()
        r.update(as_of=date.fromisoformat(as_of), loan_id=loan, currency=currency,
                 disbursed_on=date.fromisoformat(disbursed), principal=principal,
                 status="closed" if closed else "active",
                 stage=state if closed else ("overdue" if int(dpd) else "current"),
                 bucket=bucket, bucket_rank=RANK[bucket], dpd=int(dpd),
                 outstanding_principal=op, outstanding_total=ot, overdue_principal=od_p,
                 overdue_interest=od_i, overdue_fee=0, overdue_penalty=0)
        out.append(r)
    return pl.DataFrame(out, schema=SNAPSHOT_SCHEMA)


def write(home: Path, df: pl.DataFrame, name: str = "part-0.parquet") -> None:
    for (day,), part in df.partition_by("as_of", as_dict=True).items():
        d = home / "snapshots" / f"as_of={day}"
        d.mkdir(parents=True, exist_ok=True)
        part.write_parquet(d / name)


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["report", *args])
    return r.exit_code, r.output


def run_json(*args: str) -> Any:
    code, out = run(*args, "--json")
    assert code == 0, out
    return json.loads(out)


def cells(body: dict[str, Any], from_month: str, field: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in body["roll_rates"]:
        if r["from_month"] == from_month:
            out.setdefault(r["from_bucket"], {})[r["to"]] = r[field]
    return out


def test_roll_rates_json(workspace_env: Path) -> None:
    write(workspace_env, frame())
    body = run_json("roll-rates", "--as-of", "2025-03-31", "--months", "2")
    assert body["months"] == [{"month": "2025-01", "as_of": "2025-01-31"},
                              {"month": "2025-02", "as_of": "2025-02-28"},
                              {"month": "2025-03", "as_of": "2025-03-31"}]
    assert body["buckets"] == ["M0", "M1"]  # M2 only on the 15th, which is not read
    assert cells(body, "2025-01", "loans") == {
        "M0": {"M0": 1, "M1": 1, "closed": 0, "written-off": 0, "missing": 0},
        "M1": {"M0": 0, "M1": 0, "closed": 0, "written-off": 0, "missing": 0}}
    assert cells(body, "2025-01", "balance_share")["M0"] == {
        "M0": "0.3333", "M1": "0.6667", "closed": "0.0000", "written-off": "0.0000",
        "missing": "0.0000"}
    assert cells(body, "2025-01", "balance_share")["M1"]["M0"] is None  # empty row
    assert cells(body, "2025-02", "balance_share")["M0"] == {  # Z, new in Feb, now counts
        "M0": "0.0000", "M1": "0.8163", "closed": "0.1837", "written-off": "0.0000",
        "missing": "0.0000"}
    assert cells(body, "2025-02", "balance")["M0"]["closed"] == "450.00"
    assert [(f["from_month"], f["from_bucket"], f["from_balance"], f["to_balance"], f["rate"])
            for f in body["flow_rates"]] == [
        ("2025-01", "M0", "1500.00", "1000.00", "0.6667"),
        ("2025-02", "M0", "2450.00", "2000.00", "0.8163")]
    assert [(c["delinquent_loans"], c["cured_loans"], c["loans_rate"], c["balance_rate"])
            for c in body["cure_rates"]] == [(0, 0, None, None), (1, 1, "1.0000", "1.0000")]


def test_roll_rates_name_a_missing_month(workspace_env: Path) -> None:
    write(workspace_env, frame().filter(pl.col("as_of").dt.month() != 2))
    body = run_json("roll-rates", "--as-of", "2025-03-31", "--months", "2")
    assert body["missing_months"] == ["2025-02"]
    assert body["roll_rates"] == [] and body["flow_rates"] == [] and body["cure_rates"] == []
    code, out = run("roll-rates", "--as-of", "2025-03-31", "--months", "2")
    assert code == 0 and "2025-02" in out and "无快照" in out


def test_vintages_json(workspace_env: Path) -> None:
    write(workspace_env, frame())
    body = run_json("vintages", "--as-of", "2025-03-31", "--threshold-dpd", "10")
    got = {(v["vintage"], v["mob"]): (v["loans"], v["principal"], v["loans_share"],
                                       v["principal_share"], v["outstanding_share"])
           for v in body["vintages"]}
    assert got == {
        ("2025-01", 0): (2, "1500.00", "0.0000", "0.0000", "0.0000"),
        ("2025-01", 1): (2, "1500.00", "0.5000", "0.6667", "0.6667"),  # X at dpd 12
        ("2025-01", 2): (2, "1500.00", "0.0000", "0.0000", "0.0000"),
        ("2025-02", 0): (1, "2000.00", "0.0000", "0.0000", "0.0000"),
        ("2025-02", 1): (1, "2000.00", "1.0000", "1.0000", "1.0000"),  # Z at dpd 26
    }
    default = run_json("vintages", "--as-of", "2025-03-31")  # dpd 30: nobody
    assert default["threshold_dpd"] == 30
    assert {v["bad_loans"] for v in default["vintages"]} == {0}


def test_buckets_json_and_table(workspace_env: Path) -> None:
    write(workspace_env, frame())
    body = run_json("buckets", "--as-of", "2025-03-31")
    assert body["closed_loans"] == 1 and body["written_off_loans"] == 0
    assert body["buckets"] == [
        {"bucket": "M0", "loans": 1, "outstanding_total": "850.00",
         "outstanding_principal": "800.00", "overdue_total": "0.00", "balance_share": "0.2881"},
        {"bucket": "M1", "loans": 1, "outstanding_total": "2100.00",
         "outstanding_principal": "2000.00", "overdue_total": "320.00",
         "balance_share": "0.7119"},
        {"bucket": "total", "loans": 2, "outstanding_total": "2950.00",
         "outstanding_principal": "2800.00", "overdue_total": "320.00",
         "balance_share": "1.0000"}]
    code, out = run("buckets", "--as-of", "2025-03-31")
    assert code == 0
    assert "账龄" in out and "71.19%" in out and "total 合计" in out


def _sheets(path: Path) -> tuple[list[str], str, list[str]]:
    with zipfile.ZipFile(path) as z:
        names = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
        strings = z.read("xl/sharedStrings.xml").decode()
        sheets = [z.read(f"xl/worksheets/sheet{i + 1}.xml").decode() for i in range(len(names))]
    return names, strings, sheets


def test_xlsx_workbooks_have_one_sheet_per_table_with_bilingual_headers(
        workspace_env: Path, tmp_path: Path) -> None:
    write(workspace_env, frame())
    code, out = run("roll-rates", "--as-of", "2025-03-31", "--months", "3",
                    "--xlsx", str(tmp_path / "roll.xlsx"))
    assert code == 0 and "wrote" in out
    names, strings, sheets = _sheets(tmp_path / "roll.xlsx")
    assert names == ["months 月末快照", "roll by count 迁徙率(笔数)",
                     "roll by balance 迁徙率(余额)", "roll detail 迁徙明细", "flow 流动率",
                     "cure 治愈率"]
    assert "share of balance 余额占比" in strings and "closed 结清" in strings
    assert "no snapshot 无快照" in strings  # 2024-12, before the first snapshot
    assert "<v>0.8163</v>" in sheets[2]  # a number, not text
    assert "<v>2450</v>" in sheets[2] or "<v>2450.00</v>" in sheets[2]

    code, _ = run("vintages", "--as-of", "2025-03-31", "--xlsx", str(tmp_path / "v.xlsx"))
    assert code == 0
    names, strings, _ = _sheets(tmp_path / "v.xlsx")
    assert len(names) == 5 and "MOB1" in strings and "vintage 放款月" in strings

    code, _ = run("buckets", "--as-of", "2025-03-31", "--xlsx", str(tmp_path / "b.xlsx"),
                  "--json")
    assert code == 0
    names, strings, sheets = _sheets(tmp_path / "b.xlsx")
    assert names == ["buckets 账龄分布"] and "overdue 逾期金额" in strings
    assert "<v>2950</v>" in sheets[0] or "<v>2950.00</v>" in sheets[0]


def test_rich_roll_rate_tables(workspace_env: Path) -> None:
    write(workspace_env, frame())
    code, out = run("roll-rates", "--as-of", "2025-03-31", "--months", "1", "--by", "count")
    assert code == 0
    assert "迁徙率" in out and "流动率" in out and "治愈率" in out
    assert "50.00%" in out and "100.00%" in out


def test_no_snapshots_or_none_on_the_date_says_to_run_end_of_day(workspace_env: Path) -> None:
    code, out = run("roll-rates", "--as-of", "2025-03-31")
    assert code == 1 and "run `arrears eod --as-of 2025-03-31` first" in " ".join(out.split())
    write(workspace_env, frame())
    code, out = run("buckets", "--as-of", "2025-03-30")
    assert code == 1
    assert "no snapshot on 2025-03-30 (latest before it: 2025-03-15)" in " ".join(out.split())


def test_partitions_being_written_and_other_currencies(workspace_env: Path) -> None:
    write(workspace_env, frame())
    stray = workspace_env / "snapshots" / "as_of=2025-03-31.tmp"
    stray.mkdir()
    frame().head(1).write_parquet(stray / "part-0.parquet")
    assert run_json("buckets", "--as-of", "2025-03-31")["buckets"][-1]["loans"] == 2
    usd = frame(currency="USD").with_columns(pl.col("loan_id") + "-usd")
    write(workspace_env, usd, name="part-1.parquet")
    code, out = run("buckets", "--as-of", "2025-03-31")
    assert code == 1 and "--currency" in out
    assert run_json("buckets", "--as-of", "2025-03-31", "--currency", "USD")["currency"] == "USD"


def test_an_empty_book(workspace_env: Path) -> None:
    for day in ("2025-02-28", "2025-03-31"):
        d = workspace_env / "snapshots" / f"as_of={day}"
        d.mkdir(parents=True)
        pl.DataFrame(schema=SNAPSHOT_SCHEMA).write_parquet(d / "part-0.parquet")
    body = run_json("roll-rates", "--as-of", "2025-03-31", "--months", "1")
    assert body["missing_months"] == [] and body["roll_rates"] == []
    assert body["cure_rates"][0]["loans_rate"] is None
    assert run_json("vintages", "--as-of", "2025-03-31")["vintages"] == []
    assert run_json("buckets", "--as-of", "2025-03-31")["buckets"][0]["loans"] == 0
