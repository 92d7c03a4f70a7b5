"""``arrears product …`` — products: the term defaults loans inherit (产品参数)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import select

from arrears.cli.common import JsonOpt, now, workspace
from arrears.cli.output import console, emit_json, err_console
from arrears.contract.products import ProductError, load_products
from arrears.services.products import save_products
from arrears.store import schema

app = typer.Typer(no_args_is_help=True)


@app.command("load")
def load(path: Path = typer.Argument(..., exists=True, dir_okay=False),
         as_json: bool = JsonOpt) -> None:
    """Load or update products from a YAML file (idempotent). Loans ingested afterwards that
    name a product take its terms for every column they leave empty."""
    try:
        products = load_products(path)
    except ProductError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _, engine = workspace()
    rep = save_products(engine, products, now())
    body = {"products": len(products), "added": rep.added, "updated": rep.updated,
            "unchanged": rep.unchanged}
    if as_json:
        emit_json(body)
    else:
        console.print(f"{path}: {len(products)} products — {rep.added} added, "
                      f"{rep.updated} updated, {rep.unchanged} unchanged")


@app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """The products in the workspace and their settings."""
    _, engine = workspace()
    t = schema.products
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.code, t.c.name, t.c.terms).order_by(t.c.code)).all()
    if as_json:
        emit_json([{"code": r.code, "name": r.name, "terms": r.terms} for r in rows])
        return
    table = Table("code 编码", "name 名称", "terms 参数")
    for r in rows:
        table.add_row(r.code, r.name, ", ".join(f"{k}={v}" for k, v in r.terms.items()))
    console.print(table)
