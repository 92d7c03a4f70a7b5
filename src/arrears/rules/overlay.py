"""The operator's LPR overlay: fixings added or corrected in the workspace, never in the package.

New fixings are checked against everything the pack already knows (shipped + overlay): the
same date with the same values is a no-op, the same date with different values is refused
unless the operator says ``replace``. Only the overlay file is ever written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from arrears.rules.lpr import LprFixing, RowProblem, Source, merge, pct, write_lpr_csv
from arrears.rules.pack import OVERLAY_LPR, RulePack


@dataclass(frozen=True, slots=True)
class OverlayChange:
    """What an update did, row by row, so the shell can report every outcome."""

    path: Path
    added: tuple[LprFixing, ...] = ()
    replaced: tuple[tuple[LprFixing, LprFixing], ...] = ()  # (was, now)
    unchanged: tuple[LprFixing, ...] = ()
    rejected: tuple[RowProblem, ...] = ()

    @property
    def written(self) -> bool:
        return bool(self.added or self.replaced)


def _describe(f: LprFixing) -> str:
    return f"1Y {pct(f.one_year)} / 5Y {pct(f.five_year)} ({f.source.value})"


def plan_lpr_update(pack: RulePack, rows: Sequence[tuple[int, LprFixing]], file: str,
                    replace: bool, overlay_dir: Path) -> tuple[tuple[LprFixing, ...],
                                                                OverlayChange]:
    """The overlay after adding ``rows`` (``(row number, fixing)``), and what changed. Pure."""
    known = {f.effective_date: f for f in pack.lpr_fixings}
    overlay = {f.effective_date: f for f in pack.lpr_fixings if f.source is Source.OVERLAY}
    added: list[LprFixing] = []
    replaced: list[tuple[LprFixing, LprFixing]] = []
    unchanged: list[LprFixing] = []
    rejected: list[RowProblem] = []
    for row, new in rows:
        new = LprFixing(new.effective_date, new.one_year, new.five_year, new.note,
                        Source.OVERLAY)
        old = known.get(new.effective_date)
        if old is None:
            added.append(new)
        elif old.same_values(new):
            unchanged.append(old)
            continue
        elif replace:
            replaced.append((old, new))
        else:
            field = "lpr_1y_pct" if old.one_year != new.one_year else "lpr_5y_pct"
            rejected.append(RowProblem(
                file, row, field,
                f"{new.effective_date.isoformat()} is already known as {_describe(old)}; "
                f"got {_describe(new)} — pass --replace to correct it"))
            continue
        known[new.effective_date] = new
        overlay[new.effective_date] = new
    change = OverlayChange(overlay_dir / OVERLAY_LPR, tuple(added), tuple(replaced),
                           tuple(unchanged), tuple(rejected))
    return merge((), overlay.values()), change


def update_lpr_overlay(pack: RulePack, rows: Sequence[tuple[int, LprFixing]], file: str,
                       replace: bool, overlay_dir: Path) -> OverlayChange:
    """Add ``rows`` to the overlay file in ``overlay_dir`` (written only if something changed).

    ``pack`` must have been loaded with the same ``overlay_dir``, so that the check against
    known fixings sees the overlay as it is on disk.
    """
    fixings, change = plan_lpr_update(pack, rows, file, replace, overlay_dir)
    if change.written:
        write_lpr_csv(change.path, fixings)
    return change
