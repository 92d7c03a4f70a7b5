"""``arrears calc …`` — calculators for people and scripts (owned by the calculators work)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
