"""``arrears demo`` — the main job on the embedded default: a simulated online lender through
the platform day by day (``services.demo``), summarised as tables or ``--json``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from arrears.cli.common import JsonOpt, now, parse_date, progress_bar, progress_callback, yuan
from arrears.cli.output import console, emit_json, err_console
from arrears.services.demo import (
    DEFAULT_AS_OF,
    DEFAULT_BORROWERS,
    DEFAULT_MONTHS,
    DemoPlan,
    DemoResult,
    days_in_months,
    roll_forward,
    run_demo,
)
from arrears.services.demo_workspace import WorkspaceError, prepare
from arrears.settings import load_settings

CHANNEL_ZH = {"sms": "短信", "app": "应用推送", "voice": "语音机器人", "agent": "人工电话",
              "letter": "律师函", "visit": "上门", "court": "诉讼", "plan": "还款方案"}
PHASE_ZH = {"simulate": "模拟 simulate", "ingest": "入库 ingest",
            "end_of_day": "日终 end-of-day", "summary": "汇总 summary",
            "waiting": "等待模拟 waiting for the simulator", "total": "合计 total"}


def demo(
    seed: int = typer.Option(1, help="Seed of the simulated lender (same seed, same book)."),
    size: int = typer.Option(DEFAULT_BORROWERS, "--size", min=1, help="Borrowers to simulate."),
    months: int | None = typer.Option(None, "--months", min=1, help="Calendar months "
                                      f"simulated, ending on --as-of [default: {DEFAULT_MONTHS}]."),
    days: int | None = typer.Option(None, "--days", min=1,
                                    help="Days simulated, ending on --as-of (instead of "
                                         "--months)."),
    as_of: str = typer.Option(DEFAULT_AS_OF.isoformat(), "--as-of",
                              help="The last simulated day: the summary's business date."),
    fresh: bool = typer.Option(False, "--fresh", help="Remove an earlier demo in this "
                               "workspace (its database, mirror, snapshots and demo files) "
                               "and start over; nothing else is touched."),
    as_json: bool = JsonOpt,
) -> None:
    """Create the workspace, simulate an online lender (borrowers, loans, payments, collection
    contacts), ingest it day by day through the normal ingestion path with end-of-day after
    every day, reconcile the ledger and summarise it: the book by delinquency bucket, roll
    rates, amounts collected, contacts by channel, and how long each phase took."""
    plan = _plan(seed, size, months, days, parse_date(as_of, "--as-of"))
    settings = load_settings()
    try:
        engine, removed = prepare(settings, fresh)
    except WorkspaceError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        raise typer.Exit(1) from None
    with progress_bar(enabled=not as_json) as bar:
        result = run_demo(engine, settings, plan, now, progress_callback(bar, "demo 演示"))
    body = summary_json(result, removed, settings.home, settings.database_url)
    if as_json:
        emit_json(body)
    else:
        _print(body)


def _plan(seed: int, size: int, months: int | None, days: int | None, last: Any) -> DemoPlan:
    if months is not None and days is not None:
        raise typer.BadParameter("give --months or --days, not both")
    n = days if days is not None else days_in_months(last, months or DEFAULT_MONTHS)
    return DemoPlan(seed, size, n, last)


def summary_json(r: DemoResult, removed: list[Path], home: Path,
                 database_url: str) -> dict[str, Any]:
    """The summary, as printed and as ``--json`` emits it (money in yuan, rates as
    fractions)."""
    p, e = r.plan, r.last_eod
    book = r.book.as_json()
    overdue = list(r.book.buckets.values())[1:]  # every bucket after the current one
    return {
        "workspace": str(home), "database": database_url.split("://")[0],
        "folder": str(r.folder), "removed": [str(x) for x in removed],
        "seed": p.seed, "borrowers": p.borrowers, "start": p.start, "as_of": p.as_of,
        "days": p.days, "simulated": r.simulated,
        "ingest": [{"kind": t.kind, "files": t.files, "rows": t.rows, "new": t.new,
                    "duplicate": t.duplicate, "quarantined": t.quarantined,
                    "over_cap": t.over_cap, "problems": t.problems}
                   for t in r.ingest.values()],
        "eod": {"days": r.eod_days, "replayed": r.eod_replayed, "loans": e.loans,
                "carried": e.carried,
                "snapshot": str(e.path), "digest": e.digest},
        **book,
        "overdue": {"loans": sum(v[0] for v in overdue),
                    "outstanding": yuan(sum(v[1] for v in overdue))},
        "roll_rates": [] if r.roll is None else [
            {**x, "loans_share": _text(x["loans_share"]),
             "balance_share": _text(x["balance_share"])} for x in roll_forward(r.roll)],
        "contacts": [{"channel": c["channel"], "channel_zh": CHANNEL_ZH.get(c["channel"], ""),
                      "actions": c["actions"], "reached": c["reached"],
                      "promises": c["promises"], "cost": yuan(c["cost"])}
                     for c in r.contacts.iter_rows(named=True)],
        "reconciled": r.reconciled.ok, "reconcile_breaks": len(r.reconciled.breaks),
        "seconds": {k: round(v, 1) for k, v in r.seconds.items()},
    }


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _money(v: str) -> str:
    """Yuan for people: thousands separated (JSON keeps the plain decimal)."""
    return f"{Decimal(v):,.2f}"


def _pct(v: str | None) -> str:
    return "" if v is None else f"{Decimal(v) * 100:.1f}%"


def _print(body: dict[str, Any]) -> None:
    s = body["simulated"]
    console.print(f"\n[bold]arrears demo 演示[/bold] — workspace {body['workspace']} "
                  f"({body['database']}); seed {body['seed']}, {body['start']} … "
                  f"{body['as_of']} ({body['days']} days 天)", highlight=False)
    if body["removed"]:
        console.print(f"--fresh 已删除 removed: {', '.join(body['removed'])}", highlight=False)
    console.print(f"simulated 模拟: {s['borrowers']:,} borrowers 借款人, {s['loans']:,} loans "
                  f"借据, {s['payments']:,} payments 还款, {s['contacts']:,} contacts 触达",
                  highlight=False)
    _print_ingest(body)
    _print_book(body)
    _print_roll(body)
    _print_contacts(body)
    ok = "[green]reconciled 对账平衡[/green]" if body["reconciled"] else \
        f"[red]{body['reconcile_breaks']} breaks 不平[/red]"
    console.print(f"ledger 账务: {ok}")
    t = body["seconds"]
    console.print("time 用时: " + "; ".join(f"{PHASE_ZH[k]} {v:.1f} s" for k, v in t.items()),
                  highlight=False)
    console.print(f"try 试试: arrears report roll-rates --as-of {body['as_of']} · arrears "
                  f"report vintages --as-of {body['as_of']} · arrears loan show <loan_id> "
                  f"--as-of {body['as_of']}", highlight=False)


def _print_ingest(body: dict[str, Any]) -> None:
    e = body["eod"]
    t = Table("ingested 入库", "files 文件", "rows 行", "new 新增", "duplicate 重复",
              "quarantined 隔离", "over cap 超上限", title="ingestion, day by day 逐日入库")
    for r in body["ingest"]:
        t.add_row(r["kind"], f"{r['files']:,}", f"{r['rows']:,}", f"{r['new']:,}",
                  f"{r['duplicate']:,}", f"{r['quarantined']:,}", f"{r['over_cap']:,}")
    console.print(t)
    for r in body["ingest"]:
        for problem in r["problems"]:
            console.print(f"[yellow]{problem}[/yellow]", highlight=False)
    console.print(f"end-of-day 日终: {e['days']} days, {e['loans']:,} loans on the last "
                  f"({e['carried']:,} carried over 沿用前日), {e['replayed']} replayed 重算",
                  highlight=False)


def _print_book(body: dict[str, Any]) -> None:
    b = Table("bucket 账龄", "loans 笔数", "outstanding 未还余额 (CNY)",
              title=f"book on {body['as_of']} 贷款余额分布")
    for row in body["buckets"]:
        b.add_row(row["bucket"], f"{row['loans']:,}", _money(row["outstanding"]))
    console.print(b)
    o = body["overdue"]
    console.print(f"book 贷款: {body['loans']:,} loans, principal disbursed 放款本金 "
                  f"{_money(body['disbursed'])} CNY; outstanding 未还 "
                  f"{_money(body['outstanding'])} CNY, of which overdue (M1+) 逾期 "
                  f"{_money(o['outstanding'])} CNY in {o['loans']:,} loans; collected 已回收 "
                  f"{_money(body['collected'])} CNY (penalty 罚息 "
                  f"{_money(body['collected_penalty'])})", highlight=False)


def _print_roll(body: dict[str, Any]) -> None:
    rows = body["roll_rates"]
    if not rows:
        console.print("roll rates 迁徙率: the demo covers less than two month-ends")
        return
    steps = list(dict.fromkeys(f"{r['from']}→{r['to']}" for r in rows))
    t = Table("month 月份", *steps, title="roll rates by count 迁徙率（笔数，月末到月末）")
    months: dict[str, dict[str, str]] = {}
    for r in rows:
        months.setdefault(f"{r['from_month']}→{r['to_month']}", {})[
            f"{r['from']}→{r['to']}"] = _pct(r["loans_share"])
    for month, cells in months.items():
        t.add_row(month, *(cells.get(s, "") for s in steps))
    console.print(t)


def _print_contacts(body: dict[str, Any]) -> None:
    t = Table("channel 渠道", "actions 次数", "reached 触达", "promises 承诺还款",
              "cost 成本 (CNY)", title="the simulator's collection contacts 模拟催收触达")
    for c in body["contacts"]:
        t.add_row(f"{c['channel']} {c['channel_zh']}", f"{c['actions']:,}",
                  f"{c['reached']:,}", f"{c['promises']:,}", _money(c["cost"]))
    console.print(t)
