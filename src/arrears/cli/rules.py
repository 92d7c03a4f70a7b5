"""``arrears rules …`` — the rule packs and the operator's overlay (new LPR fixings).

Fixings are typed as the published tables print them (percent: ``--one-year 3.00``) and kept in
the workspace overlay ``<ARREARS_HOME>/rules/<CODE>/lpr.csv``; the shipped pack is never
written. JSON shows rates as decimal fractions (``"0.03"``) beside the published percents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from arrears.cli.output import console, emit_json, err_console
from arrears.rules.errors import PackError
from arrears.rules.lpr import (
    LprFieldError,
    LprFixing,
    Source,
    make_fixing,
    pct,
    read_lpr_rows,
)
from arrears.rules.overlay import OverlayChange, update_lpr_overlay
from arrears.rules.pack import RulePack, load_pack
from arrears.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Rule packs (规则包): LPR fixings, caps as data.")
lpr_app = typer.Typer(no_args_is_help=True, help="LPR fixings (贷款市场报价利率): list, add, "
                      "import into the workspace overlay.")
app.add_typer(lpr_app, name="lpr")

PackOpt = Annotated[str, typer.Option("--pack", help="Rule pack (jurisdiction) code.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ReplaceOpt = Annotated[bool, typer.Option(
    "--replace", help="Correct a date the pack already knows with different values.")]


def _overlay_dir(code: str) -> Path:
    return load_settings().rules_dir / code.strip().upper()


def _pack(code: str) -> RulePack:
    try:
        pack = load_pack(code, _overlay_dir(code))
    except PackError as e:
        if "no rule pack" in str(e):
            raise typer.BadParameter(str(e), param_hint="--pack") from None
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if pack.lpr is None:
        raise typer.BadParameter(f"rule pack {pack.code} has no LPR series",
                                 param_hint="--pack")
    return pack


def fixing_json(f: LprFixing) -> dict[str, Any]:
    return {"effective_date": f.effective_date.isoformat(),
            "one_year": f"{f.one_year.normalize():f}", "five_year": f"{f.five_year.normalize():f}",
            "one_year_pct": pct(f.one_year).removesuffix(" %"),
            "five_year_pct": pct(f.five_year).removesuffix(" %"),
            "note": f.note, "source": f.source.value}


def change_json(change: OverlayChange) -> dict[str, Any]:
    return {"overlay": str(change.path), "written": change.written,
            "added": [fixing_json(f) for f in change.added],
            "replaced": [{"was": fixing_json(a), "now": fixing_json(b)}
                         for a, b in change.replaced],
            "unchanged": [fixing_json(f) for f in change.unchanged],
            "rejected": [{"file": p.file, "row": p.row, "field": p.field, "message": p.message}
                         for p in change.rejected]}


def _report(change: OverlayChange, json: bool) -> None:
    if json:
        emit_json(change_json(change))
    else:
        for f in change.added:
            console.print(f"added    {f.effective_date}  1Y {pct(f.one_year)}  "
                          f"5Y {pct(f.five_year)}", highlight=False)
        for was, now in change.replaced:
            console.print(f"replaced {now.effective_date}  1Y {pct(was.one_year)} → "
                          f"{pct(now.one_year)}  5Y {pct(was.five_year)} → "
                          f"{pct(now.five_year)}", highlight=False)
        for f in change.unchanged:
            console.print(f"known    {f.effective_date}  (same values, {f.source.value})",
                          highlight=False)
        if change.written:
            console.print(f"overlay written: {change.path}", highlight=False, soft_wrap=True)
    for p in change.rejected:
        err_console.print(f"rejected: {p}", markup=False, highlight=False, soft_wrap=True)


@lpr_app.command("list")
def list_(pack: PackOpt = "CN", json: JsonOpt = False) -> None:
    """Every LPR fixing the pack knows (shipped and overlay), oldest first."""
    rules = _pack(pack)
    if json:
        emit_json({"pack": rules.code, "overlay": str(_overlay_dir(pack) / "lpr.csv"),
                   "fixings": [fixing_json(f) for f in rules.lpr_fixings]})
        return
    table = Table(title=f"LPR fixings — pack {rules.code}")
    for col in ("effective", "1Y", "5Y+", "4 × 1Y", "source", "note"):
        table.add_column(col)
    for f in rules.lpr_fixings:
        table.add_row(f.effective_date.isoformat(), pct(f.one_year), pct(f.five_year),
                      pct(4 * f.one_year), f.source.value, f.note,
                      style="cyan" if f.source is Source.OVERLAY else None)
    console.print(table)


@lpr_app.command("add")
def add(
    day: Annotated[str, typer.Option("--date", help="Effective (publication) date, "
                                     "YYYY-MM-DD.")],
    one_year: Annotated[str, typer.Option("--one-year", help="1-year LPR in percent, "
                                          "e.g. 3.00.")],
    five_year: Annotated[str, typer.Option("--five-year", help="5-year+ LPR in percent, "
                                           "e.g. 3.50.")],
    note: Annotated[str, typer.Option("--note", help="Where the figure comes from.")] = "",
    replace: ReplaceOpt = False,
    pack: PackOpt = "CN",
    json: JsonOpt = False,
) -> None:
    """Add (or with --replace correct) one fixing in the workspace overlay."""
    rules = _pack(pack)
    assert rules.lpr is not None
    try:
        fixing = make_fixing(day, one_year, five_year, note, Source.OVERLAY,
                             rules.lpr.first_allowed)
    except LprFieldError as e:
        hint = {"effective_date": "--date", "lpr_1y_pct": "--one-year",
                "lpr_5y_pct": "--five-year"}[e.field]
        raise typer.BadParameter(e.reason, param_hint=hint) from None
    change = update_lpr_overlay(rules, [(0, fixing)], "--date", replace, _overlay_dir(pack))
    if change.rejected:
        raise typer.BadParameter(change.rejected[0].message, param_hint="--date")
    _report(change, json)


@lpr_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True,
        help="CSV with columns effective_date,lpr_1y_pct,lpr_5y_pct,note (percents).")],
    replace: ReplaceOpt = False,
    pack: PackOpt = "CN",
    json: JsonOpt = False,
) -> None:
    """Import fixings from a CSV: good rows go into the overlay, bad rows are reported with
    file, row and field; exits 1 if any row was rejected."""
    rules = _pack(pack)
    assert rules.lpr is not None
    try:
        text = file.read_text(encoding="utf-8-sig")  # spreadsheets often add a BOM
    except UnicodeDecodeError:
        raise typer.BadParameter(f"{file} is not UTF-8 text", param_hint="FILE") from None
    rows, problems = read_lpr_rows(text, str(file), Source.OVERLAY, rules.lpr.first_allowed)
    change = update_lpr_overlay(rules, rows, str(file), replace, _overlay_dir(pack))
    rejected = tuple(sorted((*problems, *change.rejected), key=lambda p: p.row))
    change = OverlayChange(change.path, change.added, change.replaced, change.unchanged,
                           rejected)
    _report(change, json)
    if rejected:
        err_console.print(f"{len(rejected)} row(s) rejected; the good rows were kept",
                          markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
