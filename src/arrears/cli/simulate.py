"""``arrears simulate`` — a simulated online lender written to files (借款人模拟器)."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.table import Table

from arrears.cli.common import JsonOpt, parse_date, progress_bar, progress_callback
from arrears.cli.output import console, emit_json, err_console
from arrears.settings import load_settings
from arrears.sim import POLICIES, ConfigError, load_config, write_simulation
from arrears.sim.calibration import Check, checks
from arrears.sim.files import SimFiles


def simulate(
    out: Path | None = typer.Option(None, "--out", file_okay=False,
                                    help="Folder to write (default: "
                                         "$ARREARS_HOME/simulations/seed-N)."),
    seed: int = typer.Option(1, help="Seed: same seed and config, byte-identical files."),
    borrowers: int = typer.Option(20_000, "--borrowers", "--size", min=1,
                                  help="Number of borrowers (about 1.3 loans each)."),
    start: str = typer.Option("2025-07-01", "--start", help="First simulated day."),
    days: int = typer.Option(365, min=1, help="Number of simulated days."),
    policy: str = typer.Option("baseline", help=f"Lender policy: {', '.join(POLICIES)}."),
    config: Path | None = typer.Option(None, "--config", exists=True, dir_okay=False,
                                       help="YAML merged over the shipped defaults."),
    daily: bool = typer.Option(True, "--daily/--no-daily",
                               help="Also write each day's rows under days/YYYY-MM-DD/."),
    check: bool = typer.Option(False, "--check", help="Compare with published figures and "
                               "real data (docs/simulator.md §6); exit 1 if outside."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an earlier simulation in --out."),
    as_json: bool = JsonOpt,
) -> None:
    """Simulate borrowers, loans, payments and collection contacts of an online lender;
    write the ingestion data contract (borrowers.csv, loans.csv, payments.csv), the contact
    outcomes, the application data and — apart, under truth/ — the ground truth."""
    first = parse_date(start, "--start")
    if policy not in POLICIES:
        raise typer.BadParameter(f"--policy must be one of {', '.join(POLICIES)}")
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    folder = out if out is not None else load_settings().home / "simulations" / f"seed-{seed}"
    _prepare(folder, overwrite)
    with progress_bar(enabled=not as_json) as bar:
        files = write_simulation(folder, cfg, seed=seed, borrowers=borrowers, start=first,
                                 days=days, policy=POLICIES[policy](), daily=daily,
                                 progress=progress_callback(bar, "simulating"))
    found = _checks(files, first + timedelta(days=days - 1)) if check else []
    body = _body(files, seed, borrowers, first, days, policy, found if check else None)
    if as_json:
        emit_json(body)
    else:
        _print(body, found)
    if any(c.ok is False for c in found):
        raise typer.Exit(1)


def _prepare(folder: Path, overwrite: bool) -> None:
    """Refuse to mix runs: an existing folder must be empty, or an earlier simulation (its
    manifest.json says so) replaced on request — never anything else."""
    if not folder.exists() or not any(folder.iterdir()):
        return
    if not overwrite:
        err_console.print(f"[red]error:[/red] {folder} is not empty; use --overwrite to "
                          "replace an earlier simulation, or another --out")
        raise typer.Exit(2)
    if not (folder / "manifest.json").is_file():
        err_console.print(f"[red]error:[/red] {folder} holds something other than a "
                          "simulation (no manifest.json); not touching it")
        raise typer.Exit(2)
    shutil.rmtree(folder)


def _checks(files: SimFiles, end: date) -> list[Check]:
    return checks(pl.read_parquet(files.truth_instalments), pl.read_parquet(files.truth_loans),
                  end)


def _body(files: SimFiles, seed: int, borrowers: int, start: date, days: int, policy: str,
          found: list[Check] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "folder": str(files.folder), "seed": seed, "borrowers": borrowers, "start": start,
        "days": days, "policy": policy, "counts": files.counts,
        "files": {"borrowers": str(files.borrowers), "loans": str(files.loans),
                  "payments": str(files.payments), "contact_outcomes": str(files.contacts),
                  "borrower_profiles": str(files.profiles),
                  "daily": None if files.daily is None else str(files.daily),
                  "truth": str(files.truth_loans.parent), "manifest": str(files.manifest)}}
    if found is not None:
        body["checks"] = [asdict(c) | {"ok": c.ok} for c in found]
    return body


def _print(body: dict[str, Any], found: list[Check]) -> None:
    c = body["counts"]
    console.print(f"\n[bold]arrears simulate[/bold] — seed {body['seed']}, "
                  f"{body['start']} + {body['days']} days, policy {body['policy']}")
    console.print(f"borrowers 借款人 {c['borrowers']:,}; loans 借据 {c['loans']:,} "
                  f"(of {c['candidate_loans']:,} applied for); payments 还款 "
                  f"{c['payments']:,}; contacts 触达 {c['contacts']:,}")
    console.print(f"written to {body['folder']} — ingest with `arrears ingest "
                  f"{body['files']['borrowers']} {body['files']['loans']} "
                  f"{body['files']['payments']}`; the ground truth under "
                  f"{body['files']['truth']} is for evaluation only")
    if not found:
        return
    t = Table("metric 指标", "simulated 模拟", "reference 参考", "band 容差", "ok")
    for k in found:
        band = "reported" if k.low is None else f"{k.low:.4f} – {k.high:.4f}"
        ok = "" if k.ok is None else ("[green]yes[/green]" if k.ok else "[red]no[/red]")
        t.add_row(f"{k.metric} {k.zh}", f"{k.simulated:.4f}", f"{k.reference:.4f}", band, ok)
    console.print(t)
