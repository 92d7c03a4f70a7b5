"""Entry point of the ``arrears`` command: registers the command groups."""

from __future__ import annotations

import typer

from arrears.cli import calc, rules

app = typer.Typer(
    name="arrears",
    help="arrears — post-loan operations for online lenders (贷后管理). "
    "Every command has --help; reporting commands take --json.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(calc.app, name="calc", help="Calculators: schedules, APR, legal caps (计算器).")
app.add_typer(rules.app, name="rules", help="Rule packs: LPR fixings, operator overlay (规则包).")


def main() -> None:  # pragma: no cover - console script
    app()
