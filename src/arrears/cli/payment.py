"""``arrears payment …`` — post one payment, reverse one."""

from __future__ import annotations

import typer

from arrears.book.engine import Entry
from arrears.cli.common import (
    JsonOpt,
    actor,
    now,
    parse_date,
    parse_datetime,
    parse_money,
    workspace,
    yuan,
)
from arrears.cli.output import console, emit_json, err_console
from arrears.services.operations import OperationError, post_payment, reverse

app = typer.Typer(no_args_is_help=True)


def _allocation(entries: tuple[Entry, ...]) -> dict[str, str]:
    """How the payment was split, from its journal entry (credits to receivables)."""
    split = {"fee": 0, "penalty": 0, "interest": 0, "principal": 0, "credit": 0}
    for e in entries:
        if e.kind.value in ("payment", "recovery"):
            for k in split:
                split[k] -= e.amounts.get(k, 0)
            split["recovery"] = split.get("recovery", 0) - e.amounts.get("recovery", 0)
    return {k: yuan(v) for k, v in split.items()}


@app.command("post")
def post(payment_id: str = typer.Option(..., "--id", help="Payment id (idempotency key)."),
         loan_id: str = typer.Option(..., "--loan"),
         amount: str = typer.Option(..., help="Amount in yuan, e.g. 500.00"),
         paid_at: str = typer.Option(..., "--paid-at", help="YYYY-MM-DD[ HH:MM:SS] local time."),
         channel: str = typer.Option("manual", help="Payment channel."),
         as_json: bool = JsonOpt) -> None:
    """Post one payment through the allocation waterfall (idempotent by --id)."""
    minor = parse_money(amount, name="--amount")
    if minor == 0:
        raise typer.BadParameter("--amount must be positive")
    _, engine = workspace()
    try:
        out = post_payment(engine, payment_id, loan_id, minor, parse_datetime(paid_at, "--paid-at"),
                           channel, actor(), now())
    except OperationError as exc:
        err_console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    allocation = _allocation(out.entries)
    if as_json:
        emit_json({"status": out.status, "payment_id": payment_id, "loan_id": out.loan_id,
                   "allocation": allocation})
    else:
        console.print(f"{payment_id}: {out.status}; allocation " + ", ".join(
            f"{k} {v}" for k, v in allocation.items() if v != "0.00"))


@app.command("reverse")
def reverse_cmd(target: str = typer.Argument(..., help="Payment (or waiver/write-off) id."),
                reversal_id: str = typer.Option(..., "--id", help="Reversal id."),
                on: str = typer.Option(..., "--on", help="Business date of the reversal."),
                reason: str = typer.Option(..., help="Why (kept in the audit log)."),
                as_json: bool = JsonOpt) -> None:
    """Reverse a posted event; the loan is restated as if it never happened."""
    _, engine = workspace()
    try:
        out = reverse(engine, target, reversal_id, parse_date(on, "--on"), reason, actor(), now())
    except OperationError as exc:
        err_console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        emit_json({"status": out.status, "reversal_id": reversal_id, "target": target,
                   "loan_id": out.loan_id})
    else:
        console.print(f"{target}: {out.status} by {reversal_id}")
