"""``arrears ingest PATH…`` — borrowers, loans and payments from CSV, Parquet or JSON Lines."""

from __future__ import annotations

from pathlib import Path

import typer

from arrears.cli.common import JsonOpt, now, progress_bar, progress_callback, workspace
from arrears.cli.output import console, emit_json, err_console
from arrears.services.ingest import IngestError, ingest_paths
from arrears.services.loan_caps import cap_frame


def ingest(
    paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                       help="Files to ingest (any order)."),
    as_json: bool = JsonOpt,
) -> None:
    """Ingest files idempotently; bad rows go to a quarantine file with the reason.

    Exit status 1 when any row was quarantined, so scripts notice.
    """
    settings, engine = workspace()
    check = cap_frame(settings)
    with progress_bar(enabled=not as_json) as bar:
        progress = progress_callback(bar, "posting")

        try:
            reports = ingest_paths(paths, engine, settings, now(), cap_check=check,
                                   progress=progress)
        except IngestError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    if as_json:
        emit_json([{k: getattr(r, k) for k in (
            "path", "kind", "rows_total", "rows_new", "rows_duplicate", "rows_quarantined",
            "quarantine_path", "problems", "restated_loans", "over_cap", "run_id")}
            for r in reports])
    else:
        for r in reports:
            colour = "green" if r.ok else "yellow"
            console.print(f"[{colour}]{r.path}[/{colour}] ({r.kind}): {r.rows_total} rows — "
                          f"{r.rows_new} new, {r.rows_duplicate} duplicate, "
                          f"{r.rows_quarantined} quarantined"
                          + (f", {r.over_cap} over the legal cost cap (flagged)"
                             if r.over_cap else "")
                          + (f", {r.restated_loans} loans restated" if r.restated_loans else ""))
            for p in r.problems:
                err_console.print(f"  {p}")
            if r.quarantine_path:
                err_console.print(f"  quarantine: {r.quarantine_path}")
    if any(not r.ok for r in reports):
        raise typer.Exit(1)
