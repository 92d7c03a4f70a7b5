"""``arrears book …`` — the whole book: reconcile, audit-chain check."""

from __future__ import annotations

import typer
from rich.table import Table

from arrears.cli.common import JsonOpt, parse_date, workspace, yuan
from arrears.cli.output import console, emit_json, err_console
from arrears.services import audit
from arrears.services.reconcile import reconcile
from arrears.services.trial_balance import trial_balance

app = typer.Typer(no_args_is_help=True)


@app.command("reconcile")
def reconcile_cmd(
    replay_sample: int = typer.Option(1000, help="Loans replayed from their events (random)."),
    replay_all: bool = typer.Option(False, "--replay-all", help="Replay every loan."),
    seed: int = typer.Option(0, help="Seed of the replay sample."),
    as_json: bool = JsonOpt,
) -> None:
    """Prove every loan and component: disbursed + accrued − paid − waived − written off =
    outstanding, journal = instalment ledger = replay, every entry balanced. Exit 1 on a break."""
    _, engine = workspace()
    with engine.connect() as conn:
        rep = reconcile(conn, None if replay_all else replay_sample, seed)
        broken_audit = audit.verify(conn)
    body = {"ok": rep.ok and not broken_audit, "loans": rep.loans, "entries": rep.entries,
            "unbalanced_entries": rep.unbalanced_entries, "replayed": rep.replayed,
            "breaks": [str(b) for b in rep.breaks[:200]], "break_count": len(rep.breaks),
            "audit_broken_records": broken_audit}
    if as_json:
        emit_json(body)
    else:
        colour = "green" if body["ok"] else "red"
        console.print(f"[{colour}]{'reconciled' if body['ok'] else 'BREAKS'}[/{colour}]: "
                      f"{rep.loans} loans, {rep.entries} journal entries, "
                      f"{rep.replayed} replayed, {len(rep.breaks)} breaks, "
                      f"{rep.unbalanced_entries} unbalanced entries, "
                      f"audit chain {'intact' if not broken_audit else 'BROKEN'}")
        for b in rep.breaks[:50]:
            err_console.print(f"  {b}")
    if not body["ok"]:
        raise typer.Exit(1)


@app.command("trial-balance")
def trial_balance_cmd(
    as_of: str = typer.Option(..., "--as-of", help="Value date YYYY-MM-DD."),
    loan_id: str | None = typer.Option(None, "--loan", help="One loan only."),
    as_json: bool = JsonOpt,
) -> None:
    """Account balances from the journal as of a value date (试算平衡表); debits positive,
    credits negative; the book must net to zero."""
    day = parse_date(as_of, "--as-of")
    _, engine = workspace()
    with engine.connect() as conn:
        tb = trial_balance(conn, day, loan_id)
    if as_json:
        emit_json({"as_of": day, "loan_id": loan_id, "loans": tb.loans, "entries": tb.entries,
                   "balanced": tb.balanced,
                   "balances": {k: yuan(v) for k, v in tb.balances.items()}})
        return
    t = Table("account 科目", "debit 借", "credit 贷")
    for k, v in tb.balances.items():
        t.add_row(k, yuan(v) if v > 0 else "", yuan(-v) if v < 0 else "")
    console.print(t)
    console.print(f"{tb.entries} entries over {tb.loans} loans as of {day}: "
                  + ("[green]balanced 平衡[/green]" if tb.balanced else "[red]NOT BALANCED[/red]"))
    if not tb.balanced:
        raise typer.Exit(1)
