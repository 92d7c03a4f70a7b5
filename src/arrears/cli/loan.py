"""``arrears loan …`` — one loan: show it as of a date, waive, write off."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from arrears.book.terms import Component
from arrears.book.views import LoanSnapshot
from arrears.cli.common import (
    JsonOpt,
    actor,
    by_component,
    now,
    parse_date,
    parse_money,
    workspace,
    yuan,
)
from arrears.cli.output import console, emit_json, err_console
from arrears.services.operations import (
    LoanFacts,
    OperationError,
    loan_as_of,
    loan_facts,
    waive,
    write_off,
)

app = typer.Typer(no_args_is_help=True)


def facts_json(f: LoanFacts, currency: str) -> dict[str, Any]:
    return {
        "borrower_id": f.borrower_id, "product_code": f.product_code,
        "lender_type": f.lender_type, "contract_signed_on": f.contract_signed_on,
        "principal": yuan(f.principal, currency), "upfront_fee": yuan(f.upfront_fee, currency),
        "net_disbursed": yuan(f.net_disbursed, currency),
        "legal_principal_note": (
            "upfront fee deducted: the principal for interest and claims is the amount "
            "actually lent (Civil Code Art. 670)" if f.upfront_fee else None),
        "cost_cap_rate": f.cost_cap_rate, "all_in_rate": f.all_in_rate,
        "cap_excess": f.cap_excess, "cap_basis": f.cap_basis,
    }


def snapshot_json(loan_id: str, s: LoanSnapshot,
                  facts: LoanFacts | None = None) -> dict[str, Any]:
    cur = s.currency
    return {
        "loan_id": loan_id, "as_of": s.as_of,
        "contract": facts_json(facts, cur) if facts is not None else None,
        "status": s.status, "currency": cur,
        "dpd": s.dpd, "past_due_days": s.past_due_days,
        "oldest_unpaid_due": s.oldest_unpaid_due, "next_due_on": s.next_due_on,
        "next_due_amount": yuan(s.next_due_amount, cur), "payoff": yuan(s.payoff, cur),
        "outstanding": by_component(s.outstanding, cur),
        "overdue": by_component(s.overdue, cur),
        "principal_not_due": yuan(s.principal_not_due, cur),
        "accrued_interest": yuan(s.accrued_interest, cur),
        "accrued_fee": yuan(s.accrued_fee, cur),
        "pending_penalty": yuan(s.pending_penalty, cur),
        "credit": yuan(s.credit, cur), "recovered": yuan(s.recovered, cur),
        "charged": by_component(s.charged, cur), "paid": by_component(s.paid, cur),
        "waived": by_component(s.waived, cur), "written_off": by_component(s.written_off, cur),
        "closed_on": s.closed_on,
        "schedule": [{
            "n": ln.n, "seq": ln.seq, "start_on": ln.start_on, "due_on": ln.due_on,
            "state": ln.state, "past_due_days": ln.past_due_days,
            "scheduled": by_component(ln.scheduled, cur), "paid": by_component(ln.paid, cur),
            "waived": by_component(ln.waived, cur),
            "written_off": by_component(ln.written_off, cur),
            "outstanding": by_component(ln.outstanding, cur),
            "pending_penalty": yuan(ln.pending_penalty, cur),
        } for ln in s.lines],
    }


@app.command("show")
def show(loan_id: str = typer.Argument(..., help="Loan id (借据号)."),
         as_of: str = typer.Option(..., "--as-of", help="Business date YYYY-MM-DD."),
         as_json: bool = JsonOpt) -> None:
    """The loan as of the end of a date: schedule with paid/unpaid per component, balances,
    days past due (逾期天数), payoff amount."""
    day = parse_date(as_of, "--as-of")
    _, engine = workspace()
    try:
        s = loan_as_of(engine, loan_id, day)
        facts = loan_facts(engine, loan_id)
    except OperationError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        emit_json(snapshot_json(loan_id, s, facts))
        return
    cur = s.currency
    console.print(f"[bold]{loan_id}[/bold] as of {day}: {s.status.value}, dpd {s.dpd} "
                  f"(past due {s.past_due_days} days), payoff {yuan(s.payoff, cur)} {cur}")
    t = Table("期 n", "due 到期日", "state 状态", "principal 本金", "interest 利息", "fee 费用",
              "penalty 罚息", "paid 已还", "owed 未还")
    for ln in s.lines:
        if ln.state == "superseded":
            continue
        o = ln.outstanding
        t.add_row(str(ln.n), str(ln.due_on), ln.state, yuan(ln.scheduled[Component.PRINCIPAL]),
                  yuan(ln.scheduled[Component.INTEREST]), yuan(ln.scheduled[Component.FEE]),
                  yuan(ln.paid[Component.PENALTY] + o[Component.PENALTY]),
                  yuan(sum(ln.paid.values())), yuan(sum(o.values())))
    console.print(t)
    bal = by_component(s.outstanding, cur)
    console.print("outstanding 未还: " + ", ".join(f"{k} {v}" for k, v in bal.items()))
    if facts.cap_excess is not None and Decimal(str(facts.cap_excess)) > 0:
        console.print(f"[yellow]over the legal cost cap 超过综合成本上限[/yellow]: all-in "
                      f"{facts.all_in_rate} vs cap {facts.cost_cap_rate} — {facts.cap_basis}")


def _component(value: str) -> Component:
    try:
        return Component(value)
    except ValueError:
        raise typer.BadParameter("component must be fee, penalty, interest or principal") from None


@app.command("waive")
def waive_cmd(loan_id: str = typer.Argument(...),
              component: str = typer.Option(..., help="fee | penalty | interest | principal"),
              amount: str | None = typer.Option(None, help="Amount in yuan; omit with --all."),
              all_: bool = typer.Option(False, "--all", help="Waive all that is outstanding."),
              on: str = typer.Option(..., "--on", help="Value date YYYY-MM-DD."),
              event_id: str = typer.Option(..., "--id", help="Waiver id (idempotency key)."),
              reason: str = typer.Option(..., help="Why (kept in the audit log)."),
              as_json: bool = JsonOpt) -> None:
    """Waive (减免) part or all of one component, oldest instalment first."""
    if (amount is None) == (not all_):
        raise typer.BadParameter("give either --amount or --all")
    _, engine = workspace()
    minor = None if all_ else parse_money(amount or "", name="--amount")
    try:
        out = waive(engine, event_id, loan_id, _component(component), minor,
                    parse_date(on, "--on"), reason, actor(), now())
    except OperationError as exc:
        err_console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    _report(out.status, out.event_id, out.loan_id, as_json)


@app.command("write-off")
def write_off_cmd(loan_id: str = typer.Argument(...),
                  on: str = typer.Option(..., "--on", help="Value date YYYY-MM-DD."),
                  event_id: str = typer.Option(..., "--id", help="Write-off id."),
                  reason: str = typer.Option(..., help="Why (kept in the audit log)."),
                  as_json: bool = JsonOpt) -> None:
    """Write off (核销) everything outstanding; later payments are recoveries."""
    _, engine = workspace()
    try:
        out = write_off(engine, event_id, loan_id, parse_date(on, "--on"), reason, actor(), now())
    except OperationError as exc:
        err_console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    _report(out.status, out.event_id, out.loan_id, as_json)


def _report(status: str, event_id: str, loan_id: str, as_json: bool) -> None:
    if as_json:
        emit_json({"status": status, "event_id": event_id, "loan_id": loan_id})
    else:
        console.print(f"{event_id}: {status} ({loan_id})")
