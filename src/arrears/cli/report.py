"""``arrears report …`` — portfolio reports from the end-of-day snapshots (组合报表): roll
rates, vintages, buckets. Rich tables for people, ``--json`` for scripts, ``--xlsx`` for a
workbook with one sheet per table (zh/en headers). Definitions: docs/reports.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import typer
import xlsxwriter
from rich.table import Table

from arrears.cli.common import JsonOpt, parse_date
from arrears.cli.output import console, emit_json, err_console
from arrears.eod.analytics import MonthEnd
from arrears.services import reports
from arrears.settings import load_settings

app = typer.Typer(no_args_is_help=True)

Rows = list[dict[str, Any]]

AsOfOpt = typer.Option(..., "--as-of", help="Business date YYYY-MM-DD (needs its snapshot).")
XlsxOpt = typer.Option(None, "--xlsx", help="Write an Excel workbook, one sheet per table.",
                       dir_okay=False)
CurrencyOpt = typer.Option(None, "--currency",
                           help="Only loans in this currency (needed when the book has several).")

HEADERS = {
    "month": "month 月份", "as_of": "snapshot 快照日", "note": "note 说明",
    "from_month": "from 起始月", "to_month": "to 目标月",
    "from_as_of": "from snapshot 起始快照日", "to_as_of": "to snapshot 目标快照日",
    "from_bucket": "from bucket 起始账龄", "to": "to 去向", "to_bucket": "to bucket 目标账龄",
    "loans": "loans 笔数", "balance": "principal outstanding 未还本金",
    "loans_share": "share by count 笔数占比", "balance_share": "share of balance 余额占比",
    "from_loans": "from loans 起始笔数",
    "from_balance": "from balance 起始余额", "to_balance": "to balance 目标余额",
    "rate": "flow rate 流动率",
    "delinquent_loans": "delinquent loans 逾期笔数",
    "delinquent_balance": "delinquent balance 逾期本金",
    "cured_loans": "cured loans 治愈笔数", "cured_balance": "cured balance 治愈本金",
    "closed_loans": "closed loans 结清笔数", "closed_balance": "closed balance 结清本金",
    "loans_rate": "cure rate by count 笔数治愈率",
    "balance_rate": "cure rate by balance 余额治愈率",
    "vintage": "vintage 放款月", "mob": "MOB 账龄(月)", "month_as_of": "snapshot 快照日",
    "principal": "principal lent 放款本金", "bad_loans": "bad loans 逾期笔数",
    "bad_principal": "bad principal lent 逾期放款本金",
    "bad_outstanding": "bad principal outstanding 逾期未还本金",
    "principal_share": "share of principal lent 放款本金占比",
    "outstanding_share": "outstanding ÷ lent 未还本金/放款本金",
    "bucket": "bucket 账龄", "outstanding_total": "outstanding 未还总额",
    "outstanding_principal": "principal outstanding 未还本金",
    "overdue_total": "overdue 逾期金额",
}
DESTINATIONS = {"closed": "closed 结清", "written-off": "written-off 核销",
                "missing": "missing 缺失", "total": "total 合计"}


def _pct(v: Decimal | None) -> str:
    return "" if v is None else f"{(v * 100).quantize(Decimal('0.01'))}%"


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def _months_rows(points: Sequence[MonthEnd]) -> Rows:
    return [{"month": p.month, "as_of": p.as_of,
             "note": "" if p.as_of else "no snapshot 无快照"} for p in points]


def _wide(rows: Rows, index: Sequence[str], on: str, value: str,
          label: Callable[[Any], str] = str) -> Rows:
    """``rows`` pivoted: one row per ``index`` values, one column per ``on`` value (order of
    first appearance)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = tuple(r[c] for c in index)
        out.setdefault(key, {c: r[c] for c in index})[label(r[on])] = r[value]
    return list(out.values())


def _sheet(rows: Rows) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame({"note 说明": ["no rows 无数据"]})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.rename({k: v for k, v in HEADERS.items() if k in frame.columns})


def _write_xlsx(path: Path, sheets: dict[str, Rows]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with xlsxwriter.Workbook(str(path)) as wb:
        for name, rows in sheets.items():
            _sheet(rows).write_excel(workbook=wb, worksheet=name, autofit=True)


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def _missing_note(points: Sequence[MonthEnd]) -> None:
    missing = [p.month for p in points if p.as_of is None]
    if missing:
        console.print(f"[yellow]no snapshot 无快照[/yellow] in {', '.join(missing)}: "
                      "pairs across those months are left out, not estimated")


def _emit(body: dict[str, Any], xlsx: Path | None, sheets: dict[str, Rows],
          as_json: bool) -> bool:
    """JSON and/or the workbook; True when the Rich tables are still to print."""
    if xlsx is not None:
        _write_xlsx(xlsx, sheets)
        (err_console if as_json else console).print(f"wrote {xlsx} ({len(sheets)} sheets)")
    if as_json:
        emit_json(body)
    return not as_json and xlsx is None


@app.command("roll-rates")
def roll_rates_cmd(
    as_of: str = AsOfOpt,
    months: int = typer.Option(6, "--months", min=1, help="Month pairs ending on --as-of."),
    by: str = typer.Option("balance", "--by", help="Shares shown in the tables: balance|count."),
    currency: str | None = CurrencyOpt,
    xlsx: Path | None = XlsxOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Roll-rate matrices month-end to month-end (迁徙率), flow rates (流动率) and cure rates
    (治愈率), from the last snapshot of each month; --as-of is the last point."""
    if by not in ("balance", "count"):
        raise typer.BadParameter("--by must be balance or count")
    day = parse_date(as_of, "--as-of")
    try:
        rep = reports.roll_rate_report(load_settings(), day, months, currency)
    except reports.ReportError as exc:
        raise _fail(exc) from None
    roll = rep.roll.tables()["roll_rates"]
    flow = rep.flow.tables()["flow_rates"]
    cure = rep.cure.tables()["cure_rates"]
    body = {**rep.roll.header(), "buckets": list(rep.roll.buckets),
            "balance": "outstanding principal at the start month-end",
            "roll_rates": rep.roll.as_json()["roll_rates"],
            "flow_rates": rep.flow.as_json()["flow_rates"],
            "cure_rates": rep.cure.as_json()["cure_rates"]}
    pair = ["from_month", "to_month", "from_bucket"]

    def dest(name: str) -> str:
        return DESTINATIONS.get(name, name)

    sheets = {
        "months 月末快照": _months_rows(rep.roll.points),
        "roll by count 迁徙率(笔数)": _wide(roll, [*pair, "from_loans"], "to", "loans_share",
                                        dest),
        "roll by balance 迁徙率(余额)": _wide(roll, [*pair, "from_balance"], "to",
                                          "balance_share", dest),
        "roll detail 迁徙明细": roll,
        "flow 流动率": flow,
        "cure 治愈率": cure,
    }
    if not _emit(body, xlsx, sheets, as_json):
        return
    share = "balance_share" if by == "balance" else "loans_share"
    for (frm, to), cells in _group(roll, ("from_month", "to_month")).items():
        t = Table("bucket 账龄", "loans 笔数", "balance 余额",
                  *[dest(c["to"]) for c in cells if c["from_bucket"] == cells[0]["from_bucket"]],
                  title=f"{frm} → {to} roll rates by {by} 迁徙率"
                        f"({'余额' if by == 'balance' else '笔数'})")
        for bucket, row in _group(cells, ("from_bucket",)).items():
            t.add_row(bucket[0], str(row[0]["from_loans"]), str(row[0]["from_balance"]),
                      *[_pct(c[share]) for c in row])
        console.print(t)
    if flow:
        steps = list(dict.fromkeys(f"{r['from_bucket']}→{r['to_bucket']}" for r in flow))
        t = Table("from 起始月", "to 目标月", *steps, title="flow rates 流动率 (by balance)")
        for (frm, to), rows in _group(flow, ("from_month", "to_month")).items():
            t.add_row(frm, to, *[_pct(r["rate"]) for r in rows])
        console.print(t)
    t = Table("from 起始月", "to 目标月", "delinquent 逾期笔数", "cured 治愈笔数",
              "by count 笔数治愈率", "by balance 余额治愈率", title="cure rates 治愈率")
    for r in cure:
        t.add_row(r["from_month"], r["to_month"], str(r["delinquent_loans"]),
                  str(r["cured_loans"]), _pct(r["loans_rate"]), _pct(r["balance_rate"]))
    console.print(t)
    _missing_note(rep.roll.points)


def _group(rows: Rows, keys: tuple[str, ...]) -> dict[tuple[Any, ...], Rows]:
    out: dict[tuple[Any, ...], Rows] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


VINTAGE_BY = {"principal": "principal_share", "count": "loans_share",
              "outstanding": "outstanding_share"}


@app.command("vintages")
def vintages_cmd(
    as_of: str = AsOfOpt,
    threshold_dpd: int = typer.Option(30, "--threshold-dpd", min=1,
                                      help="A loan is bad at dpd ≥ this (or written off)."),
    months: int | None = typer.Option(None, "--months", min=0,
                                      help="Month-ends before --as-of to read (default: all)."),
    by: str = typer.Option("principal", "--by",
                           help="Share shown in the table: principal|count|outstanding."),
    currency: str | None = CurrencyOpt,
    xlsx: Path | None = XlsxOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Vintage curves (账龄分析/Vintage): per origination month and months on book, the share
    of loans and principal lent at dpd ≥ threshold (or written off) at each month-end."""
    if by not in VINTAGE_BY:
        raise typer.BadParameter("--by must be principal, count or outstanding")
    day = parse_date(as_of, "--as-of")
    try:
        rep = reports.vintage_report(load_settings(), day, threshold_dpd, months, currency)
    except reports.ReportError as exc:
        raise _fail(exc) from None
    rows = rep.tables()["vintages"]
    index = ["vintage", "loans", "principal"]

    def mob(n: Any) -> str:
        return f"MOB{n}"

    sheets = {
        "months 月末快照": _months_rows(rep.points),
        "detail 明细": rows,
        "by principal 放款本金占比": _wide(rows, index, "mob", "principal_share", mob),
        "by count 笔数占比": _wide(rows, index, "mob", "loans_share", mob),
        "by outstanding 未还本金占比": _wide(rows, index, "mob", "outstanding_share", mob),
    }
    if not _emit(rep.as_json(), xlsx, sheets, as_json):
        return
    wide = _wide(rows, index, "mob", VINTAGE_BY[by], mob)
    mobs = sorted({r["mob"] for r in rows})
    t = Table("vintage 放款月", "loans 笔数", "principal 放款本金", *[mob(m) for m in mobs],
              title=f"dpd{rep.threshold_dpd}+ share by {by} (vintage × months on book)")
    for r in wide:
        t.add_row(r["vintage"], str(r["loans"]), str(r["principal"]),
                  *[_pct(r.get(mob(m))) for m in mobs])
    console.print(t)
    _missing_note(rep.points)


@app.command("buckets")
def buckets_cmd(
    as_of: str = AsOfOpt,
    currency: str | None = CurrencyOpt,
    xlsx: Path | None = XlsxOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Outstanding by delinquency bucket on a date (逾期分布): active loans, balances,
    overdue amounts and each bucket's share of the balance, in bucket order."""
    day = parse_date(as_of, "--as-of")
    try:
        rep = reports.bucket_report(load_settings(), day, currency)
    except reports.ReportError as exc:
        raise _fail(exc) from None
    rows = rep.tables()["buckets"]
    labelled = [{**r, "bucket": DESTINATIONS.get(r["bucket"], r["bucket"])} for r in rows]
    if not _emit(rep.as_json(), xlsx, {"buckets 账龄分布": labelled}, as_json):
        return
    t = Table(*[HEADERS[c] for c in ("bucket", "loans", "outstanding_total",
                                     "outstanding_principal", "overdue_total")],
              "share 余额占比", title=f"buckets on {day} 逾期分布")
    for r in labelled:
        t.add_row(r["bucket"], str(r["loans"]), _cell(r["outstanding_total"]),
                  _cell(r["outstanding_principal"]), _cell(r["overdue_total"]),
                  _pct(r["balance_share"]))
    console.print(t)
    console.print(f"closed 已结清 {rep.closed_loans}, written off 已核销 "
                  f"{rep.written_off_loans} (not in the table)")
