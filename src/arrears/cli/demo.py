"""``arrears demo`` — the main job on the embedded default: a sample lender end to end."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import typer
from rich.table import Table

from arrears.cli.common import (
    JsonOpt,
    now,
    parse_date,
    progress_bar,
    progress_callback,
    workspace,
)
from arrears.cli.output import console, emit_json
from arrears.sample import write_sample
from arrears.services.eod import run_eod
from arrears.services.ingest import ingest_paths
from arrears.services.loan_caps import cap_frame
from arrears.services.portfolio import portfolio_summary
from arrears.services.reconcile import reconcile


def demo(
    seed: int = typer.Option(1, help="Seed of the sample book (same seed, same book)."),
    size: int = typer.Option(600, help="Number of borrowers in the sample book."),
    as_of: str = typer.Option("2026-06-30", "--as-of", help="Business date of the summary."),
    as_json: bool = JsonOpt,
) -> None:
    """Create the workspace, generate a sample lender's book, ingest it, run end-of-day for the
    business date, reconcile the ledger and summarise the book (size, overdue by bucket,
    amounts collected)."""
    day: date = parse_date(as_of, "--as-of")
    settings, engine = workspace()
    check = cap_frame(settings)
    folder = settings.home / "demo" / f"seed-{seed}-size-{size}"
    files = write_sample(folder, seed=seed, borrowers=size, as_of=day)
    with progress_bar(enabled=not as_json) as bar:
        progress = progress_callback(bar, "ingesting")

        reports = ingest_paths([files.borrowers, files.loans, files.payments], engine, settings,
                               now(), cap_check=check, progress=progress)
        # end-of-day for the business date (the sample's history is replayed as it stood)
        eod = run_eod(engine, settings, day, now(), allow_gap=True)
        summary = portfolio_summary(engine, day, pl.read_parquet(eod.path / "*.parquet"))
    with engine.connect() as conn:
        rec = reconcile(conn, replay_sample=300)
    body = {
        "workspace": str(settings.home), "database": settings.database_url.split("://")[0],
        "as_of": day, "sample_folder": str(folder),
        "ingest": [{"kind": r.kind, "rows": r.rows_total, "new": r.rows_new,
                    "duplicate": r.rows_duplicate, "quarantined": r.rows_quarantined,
                    "over_cap": r.over_cap} for r in reports],
        **summary.as_json(),
        "reconciled": rec.ok, "reconcile_breaks": len(rec.breaks),
        "eod": {"snapshot": str(eod.path), "digest": eod.digest, "loans": eod.loans,
                "replayed": eod.replayed},
    }
    if as_json:
        emit_json(body)
        return
    _print(body)


def _print(body: dict[str, Any]) -> None:
    console.print(f"\n[bold]arrears demo[/bold] — workspace {body['workspace']} "
                  f"({body['database']}), as of {body['as_of']}")
    t = Table("file 文件", "rows 行", "new 新增", "duplicate 重复", "quarantined 隔离",
              "over cap 超上限")
    for r in body["ingest"]:
        t.add_row(r["kind"], str(r["rows"]), str(r["new"]), str(r["duplicate"]),
                  str(r["quarantined"]), str(r["over_cap"]))
    console.print(t)
    b = Table("bucket 账龄", "loans 笔数", "outstanding 未还余额 (CNY)")
    for row in body["buckets"]:
        b.add_row(row["bucket"], str(row["loans"]), row["outstanding"])
    console.print(b)
    console.print(f"book 贷款: {body['loans']} loans, principal disbursed "
                  f"{body['disbursed']} CNY; "
                  f"outstanding {body['outstanding']} CNY; "
                  f"collected 已回收 {body['collected']} CNY "
                  f"(of which penalty 罚息 {body['collected_penalty']})")
    console.print(f"end-of-day 日终 {body['as_of']}: {body['eod']['loans']} loans, snapshot "
                  f"{body['eod']['snapshot']} — try `arrears report buckets --as-of "
                  f"{body['as_of']}`")
    ok = "[green]reconciled 对账平衡[/green]" if body["reconciled"] else "[red]BREAKS[/red]"
    console.print(f"ledger 账务: {ok}")
