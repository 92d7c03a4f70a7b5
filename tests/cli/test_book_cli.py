"""The book commands as a user runs them: real command, real workspace, JSON parsed back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from arrears.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def _files(tmp: Path) -> list[str]:
    rows = {
        "borrowers.csv": [["borrower_id", "name", "id_number", "mobile", "province", "city",
                           "address"],
                          ["B1", "张三", "11010519491231002X", "13800138000", "浙江省",
                           "杭州市", "文三路1号"]],
        "loans.csv": [["loan_id", "borrower_id", "lender_type", "principal", "currency",
                       "annual_rate", "repayment_method", "term_count", "period",
                       "disbursed_on", "contract_signed_on", "upfront_fee",
                       "penalty_rate_multiplier"],
                      ["L1", "B1", "bank", "12000.00", "CNY", "0.12", "equal-principal", "12",
                       "month", "2025-01-15", "2025-01-15", "0", "1.5"]],
        "payments.csv": [["payment_id", "loan_id", "amount", "paid_at", "channel"],
                         ["P1", "L1", "1120.00", "2025-02-15 09:00:00", "bank"],
                         ["P2", "L1", "oops", "2025-03-15 09:00:00", "bank"]],
    }
    out = []
    for name, data in rows.items():
        with (tmp / name).open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(data)
        out.append(str(tmp / name))
    return out


def test_ingest_exits_1_when_a_row_is_quarantined_and_reports_it(
        workspace_env: Path, tmp_path: Path) -> None:
    code, out = run("ingest", *_files(tmp_path), "--json")
    assert code == 1
    reports = {r["kind"]: r for r in json.loads(out)}
    assert reports["payments"]["rows_new"] == 1
    assert reports["payments"]["rows_quarantined"] == 1
    assert "amount: not an amount" in reports["payments"]["problems"][0]
    assert Path(reports["payments"]["quarantine_path"]).exists()


def test_loan_show_payment_waiver_reversal_and_reconcile(workspace_env: Path,
                                                         tmp_path: Path) -> None:
    run("ingest", *_files(tmp_path))
    code, out = run("loan", "show", "L1", "--as-of", "2025-02-15", "--json")
    assert code == 0
    s = json.loads(out)
    first = s["schedule"][0]
    assert first["state"] == "paid"
    assert first["scheduled"]["principal"] == "1000.00"
    assert first["scheduled"]["interest"] == "120.00"
    assert s["outstanding"]["principal"] == "11000.00" and s["dpd"] == 0
    assert s["contract"]["lender_type"] == "bank" and s["contract"]["net_disbursed"] == "12000.00"
    assert s["contract"]["cost_cap_rate"] == "0.24"  # licensed: the 24 % all-in judicial cap

    code, out = run("loan", "show", "L1", "--as-of", "2025-04-20", "--json")
    late = json.loads(out)
    assert late["dpd"] == 36 and late["oldest_unpaid_due"] == "2025-03-15"
    assert late["overdue"]["principal"] == "2000.00"
    assert late["outstanding"]["penalty"] != "0.00"  # 罚息 on the overdue principal

    code, out = run("payment", "post", "--id", "P9", "--loan", "L1", "--amount", "500.00",
                    "--paid-at", "2025-04-20 10:00", "--json")
    assert code == 0
    alloc = json.loads(out)["allocation"]
    # oldest instalment first (due 03-15), within it penalty → interest → principal:
    # penalty 36 days × 1,000.00 × 18 % / 360 = 18.00; instalment 3's 2.50 waits its turn
    assert late["outstanding"]["penalty"] == "20.50"
    assert (alloc["penalty"], alloc["interest"], alloc["principal"]) == ("18.00", "110.00",
                                                                         "372.00")
    code, out = run("payment", "post", "--id", "P9", "--loan", "L1", "--amount", "500.00",
                    "--paid-at", "2025-04-20 10:00", "--json")
    assert json.loads(out)["status"] == "duplicate"

    code, _ = run("loan", "waive", "L1", "--component", "interest", "--amount", "1.00",
                  "--on", "2025-04-20", "--id", "W1", "--reason", "goodwill")
    assert code == 0
    code, out = run("loan", "waive", "L1", "--component", "interest", "--amount", "99999.00",
                    "--on", "2025-04-20", "--id", "W2", "--reason", "too much")
    assert code == 1 and "only" in out

    code, out = run("payment", "reverse", "P1", "--id", "R1", "--on", "2025-04-21",
                    "--reason", "bounced", "--json")
    assert code == 0 and json.loads(out)["status"] == "reversed"
    code, out = run("loan", "show", "L1", "--as-of", "2025-04-21", "--json")
    assert json.loads(out)["oldest_unpaid_due"] == "2025-02-15"

    code, out = run("book", "reconcile", "--replay-all", "--json")
    assert code == 0, out
    assert json.loads(out)["ok"] is True

    code, out = run("book", "trial-balance", "--as-of", "2025-04-20", "--json")
    tb = json.loads(out)
    assert code == 0 and tb["balanced"] is True
    show = json.loads(run("loan", "show", "L1", "--as-of", "2025-04-20", "--json")[1])
    for c in ("principal", "interest", "fee", "penalty"):
        # the journal's receivables as of the last posted day are what the loan shows
        assert tb["balances"][c] == show["outstanding"][c], c
    assert tb["balances"]["cash"] == "-11500.00"  # 12,000.00 lent; P1 reversed; P9 500.00 in


def test_write_off_then_money_is_a_recovery(workspace_env: Path, tmp_path: Path) -> None:
    run("ingest", *_files(tmp_path))
    code, _ = run("loan", "write-off", "L1", "--on", "2025-09-30", "--id", "X1",
                  "--reason", "uncollectable after 180 days")
    assert code == 0
    code, out = run("payment", "post", "--id", "P10", "--loan", "L1", "--amount", "300.00",
                    "--paid-at", "2025-10-05 10:00", "--json")
    assert json.loads(out)["allocation"]["recovery"] == "300.00"
    code, out = run("loan", "show", "L1", "--as-of", "2025-10-05", "--json")
    s = json.loads(out)
    assert s["status"] == "written-off" and s["recovered"] == "300.00"
    assert s["outstanding"]["total"] == "0.00"


def test_bad_option_values_are_refused_clearly(workspace_env: Path) -> None:
    code, out = run("loan", "show", "L1", "--as-of", "2025-13-01")
    assert code == 2 and "--as-of must be YYYY-MM-DD" in out
    code, out = run("loan", "show", "NOPE", "--as-of", "2025-01-01")
    assert code == 1 and "no loan NOPE" in out
