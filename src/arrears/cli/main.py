"""Entry point of the ``arrears`` command: registers the command groups."""

from __future__ import annotations

import typer

from arrears.cli import book, calc, loan, payment, product, report, rules
from arrears.cli.demo import demo
from arrears.cli.eod import eod
from arrears.cli.ingest import ingest
from arrears.cli.simulate import simulate

app = typer.Typer(
    name="arrears",
    help="arrears — post-loan operations for online lenders (贷后管理). "
    "Every command has --help; reporting commands take --json.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(calc.app, name="calc", help="Calculators: schedules, APR, legal caps (计算器).")
app.add_typer(rules.app, name="rules", help="Rule packs: LPR fixings, operator overlay (规则包).")
app.command("demo")(demo)
app.command("ingest")(ingest)
app.command("simulate")(simulate)
app.command("eod")(eod)
app.add_typer(loan.app, name="loan", help="One loan: show, waive, write off (借据).")
app.add_typer(payment.app, name="payment", help="Post or reverse a payment (还款).")
app.add_typer(book.app, name="book", help="The whole book: reconcile (对账).")
app.add_typer(product.app, name="product", help="Products: term defaults loans inherit (产品).")
app.add_typer(report.app, name="report", help="Portfolio reports from snapshots (组合报表).")


def main() -> None:  # pragma: no cover - console script
    app()
