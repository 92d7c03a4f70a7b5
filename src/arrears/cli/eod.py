"""``arrears eod`` — end-of-day over the whole book (日终跑批)."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date, timedelta
from typing import Any

import typer
from rich.table import Table

from arrears.cli.common import JsonOpt, now, parse_date, progress_bar, workspace, yuan
from arrears.cli.output import console, emit_json, err_console
from arrears.eod.steps import DEFAULT_ORDER, STEPS, StepOrderError
from arrears.services.eod import ENGINES, EodError, EodGap, EodResult, run_eod
from arrears.services.eod_spark import pyspark_missing, session


def _days(as_of: str | None, start: str | None, end: str | None) -> list[date]:
    if as_of and (start or end):
        raise typer.BadParameter("give --as-of, or --from and --to, not both")
    if as_of:
        return [parse_date(as_of, "--as-of")]
    if not (start and end):
        raise typer.BadParameter("give --as-of D, or --from D1 --to D2")
    d1, d2 = parse_date(start, "--from"), parse_date(end, "--to")
    if d2 < d1:
        raise typer.BadParameter(f"--to {d2} is before --from {d1}")
    return [d1 + timedelta(days=i) for i in range((d2 - d1).days + 1)]


def _body(r: EodResult) -> dict[str, Any]:
    return {"as_of": r.as_of, "loans": r.loans, "replayed": r.replayed, "carried": r.carried,
            "mirror_changed": r.mirror_changed, "mirror_rebuilt": r.mirror_rebuilt,
            "snapshot": str(r.path), "digest": r.digest,
            "buckets": [{"currency": s["currency"], "bucket": s["bucket"], "loans": s["loans"],
                         "outstanding_principal": yuan(s["outstanding_principal"]),
                         "outstanding_total": yuan(s["outstanding_total"]),
                         "overdue_total": yuan(s["overdue_total"])}
                        for s in r.summary.to_dicts()]}


def eod(
    as_of: str | None = typer.Option(None, "--as-of", help="Business date YYYY-MM-DD."),
    start: str | None = typer.Option(None, "--from", help="Backfill from this date …"),
    end: str | None = typer.Option(None, "--to", help="… to this one (inclusive)."),
    steps: str = typer.Option(",".join(DEFAULT_ORDER), help="Step order, comma-separated "
                              f"(known: {', '.join(STEPS)})."),
    bucket_table: str | None = typer.Option(None, "--buckets",
                                            help="Bucket table of the rule pack (default: "
                                                 "the pack's)."),
    allow_gap: bool = typer.Option(False, "--allow-gap",
                                   help="Run even though earlier days have not run."),
    rebuild_mirror: bool = typer.Option(False, "--rebuild-mirror",
                                        help="Read the whole book again, not just changes."),
    full: bool = typer.Option(False, "--full", help="Compute every loan (do not carry quiet "
                              "loans over from the previous day's snapshot)."),
    engine: str = typer.Option("local", "--engine",
                               help=f"Where the steps run: {' or '.join(ENGINES)} "
                                    "(Apache Spark; needs arrears[spark])."),
    master: str = typer.Option("local[2]", "--master",
                               help="Spark master for --engine spark (local[N], yarn, "
                                    "spark://host:7077, k8s://…)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run end-of-day: accrue, days past due, buckets, stages, write-off candidates and the
    limitation clock for every loan; write the day's snapshot (Parquet) and bucket totals."""
    days = _days(as_of, start, end)
    settings, db = workspace()
    order = [s.strip() for s in steps.split(",") if s.strip()]
    results = []
    try:
        # one Spark session for all the days of a backfill
        with (session(master) if engine == "spark" and not pyspark_missing() else nullcontext(),
              progress_bar(not as_json) as bar):
            task = bar.add_task("end-of-day 日终", total=len(days) * len(order))
            for i, d in enumerate(days):
                results.append(run_eod(
                    db, settings, d, now(), order, bucket_table=bucket_table,
                    allow_gap=allow_gap or i > 0, rebuild_mirror=rebuild_mirror and i == 0,
                    on_step=lambda _name: bar.advance(task), engine=engine, master=master,
                    carry=not full))
    except EodGap as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except (EodError, StepOrderError) as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        emit_json(_body(results[0]) if as_of else {"days": [_body(r) for r in results]})
        return
    last = results[-1]
    t = Table("bucket 账龄", "loans 笔数", "principal 本金", "outstanding 余额",
              "overdue 逾期", title=f"end-of-day 日终 {last.as_of}")
    for s in last.summary.to_dicts():
        t.add_row(s["bucket"], str(s["loans"]), yuan(s["outstanding_principal"]),
                  yuan(s["outstanding_total"]), yuan(s["overdue_total"]))
    console.print(t)
    console.print(f"{len(results)} day(s); {last.loans} loans on {last.as_of}, "
                  f"{sum(r.replayed for r in results)} replayed from events; "
                  f"snapshot {last.path}")
