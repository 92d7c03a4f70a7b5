"""Rule packs: a jurisdiction's rules loaded from the data files shipped in this package.

``load_pack("CN")`` reads ``rules/CN/pack.yaml`` and the LPR table it names, then merges the
operator's overlay (``<ARREARS_HOME>/rules/CN/lpr.csv``) over the shipped fixings — the overlay
wins on the same effective date. Loaded packs are cached per code and overlay content, so a
fixing the operator adds is seen by the next ``load_pack`` call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from arrears.book.terms import LenderType
from arrears.rules.cost_cap import CapRules, CostCap
from arrears.rules.cost_cap_data import parse_cost_caps
from arrears.rules.delinquency_data import (
    NO_DELINQUENCY,
    NO_LIMITATION,
    DelinquencyRules,
    LimitationSection,
    parse_delinquency,
    parse_limitation,
)
from arrears.rules.errors import PackError, RuleError
from arrears.rules.lpr import (
    LprError,
    LprFixing,
    LprSegment,
    LprSeries,
    Source,
    Tenor,
    merge,
    read_lpr_csv,
)
from arrears.rules.node import Node

OVERLAY_LPR = "lpr.csv"  # file name of the LPR overlay in <rules_dir>/<code>/
_CODE = re.compile(r"^[A-Z]{2,3}$")


@dataclass(frozen=True, slots=True)
class RulePack:
    """One jurisdiction's rules as of the data loaded; pure lookups, no I/O."""

    code: str
    name: str
    currency: str
    version: str
    reference: str  # the reference document the data was taken from
    caps: CapRules
    lpr: LprSeries | None = None
    overlay_dir: Path | None = None
    # bucket tables and write-off candidacy: ``delinquency.table(name=None)``, ``.write_off_dpd``
    delinquency: DelinquencyRules = NO_DELINQUENCY
    # the limitation clock's rules (诉讼时效): ``limitation.rules(region=None)``
    limitation: LimitationSection = NO_LIMITATION

    def _series(self) -> LprSeries:
        if self.lpr is None:
            raise RuleError(f"rule pack {self.code} has no LPR series")
        return self.lpr

    @property
    def lpr_fixings(self) -> tuple[LprFixing, ...]:
        return self._series().fixings

    def lpr_1y(self, on: date) -> LprFixing:
        """The LPR fixing in force on ``on`` (its ``one_year`` is the 1-year rate); raises
        ``LprError`` before the first fixing (2019-08-20 for CN)."""
        return self._series().in_force(on)

    def lpr_segments(self, start: date, end: date, tenor: Tenor = Tenor.ONE_YEAR
                     ) -> list[LprSegment]:
        """``[start, end)`` split at each change of the ``tenor`` LPR (start counted, end not)."""
        return self._series().segments(start, end, tenor)

    def lpr_rate(self, on: date, tenor: Tenor = Tenor.ONE_YEAR) -> Decimal:
        return self._series().in_force(on).rate(tenor)

    def cost_cap(self, lender_type: LenderType, formed_on: date,
                 filed_on: date | None = None) -> CostCap:
        """The legal all-in cost cap for a loan by ``lender_type`` formed on ``formed_on``
        (and, for transitional loans, filed on ``filed_on``); see ``cost_cap.CostCap``."""
        return self.caps.cost_cap(lender_type, formed_on, filed_on, self.lpr, self.code)


def available_packs() -> list[str]:
    root = resources.files("arrears.rules")
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and p.joinpath("pack.yaml").is_file())


def load_pack(code: str = "CN", overlay_dir: Path | None = None) -> RulePack:
    """The rule pack ``code`` with the operator's overlay from ``overlay_dir`` merged in.

    ``overlay_dir`` is the workspace folder for this pack (``Settings.rules_dir / code``); it
    may be missing or empty. A malformed pack or overlay raises ``PackError`` naming the file,
    row and field — a half-read rule set is never used.
    """
    code = code.strip().upper()
    if not _CODE.match(code) or code not in available_packs():
        raise PackError(f"no rule pack {code!r}; available: {', '.join(available_packs())}")
    overlay_file = None if overlay_dir is None else overlay_dir / OVERLAY_LPR
    # The overlay's content (a few KB) is the cache key rather than its mtime: two edits within
    # one mtime tick, or a restored backup, can never serve a stale table.
    overlay_text = None
    if overlay_file is not None and overlay_file.is_file():
        try:
            overlay_text = overlay_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise PackError(f"{overlay_file}: cannot be read as UTF-8 text: {e}") from None
    return _load(code, None if overlay_dir is None else str(overlay_dir), overlay_text)


@lru_cache(maxsize=32)
def _load(code: str, overlay_dir: str | None, overlay_text: str | None) -> RulePack:
    base = resources.files("arrears.rules").joinpath(code)
    file = f"rules/{code}/pack.yaml"
    try:
        doc = Node.root(yaml.safe_load(base.joinpath("pack.yaml").read_text("utf-8")), file)
    except yaml.YAMLError as e:
        raise PackError(f"{file}: not valid YAML: {e}") from None
    if doc.text("code") != code:
        raise doc.fail("code", f"says {doc.text('code')!r} but the pack folder is {code!r}")
    caps = (parse_cost_caps(doc.node("cost_caps")) if doc.has("cost_caps")
            else CapRules({}, {}, "this pack has no cost_caps section"))
    lpr = None
    odir = None if overlay_dir is None else Path(overlay_dir)
    if doc.has("lpr"):
        lpr = _load_lpr(code, doc.node("lpr"), base.joinpath(doc.node("lpr").text("file")),
                        None if odir is None else odir / OVERLAY_LPR, overlay_text)
    delinquency = (parse_delinquency(doc.node("delinquency"), f"rule pack {code}")
                   if doc.has("delinquency") else NO_DELINQUENCY)
    limitation = (parse_limitation(doc.node("limitation")) if doc.has("limitation")
                  else NO_LIMITATION)
    return RulePack(code=code, name=doc.text("name"), currency=doc.text("currency"),
                    version=doc.text("version"), reference=doc.text("reference", ""),
                    caps=caps, lpr=lpr, overlay_dir=odir, delinquency=delinquency,
                    limitation=limitation)


def _load_lpr(code: str, node: Node, shipped: resources.abc.Traversable,
              overlay: Path | None, overlay_text: str | None) -> LprSeries:
    first = node.day("first_fixing")
    name = f"rules/{code}/{node.text('file')}"
    fixings, problems = read_lpr_csv(shipped.read_text("utf-8"), name, Source.SHIPPED, first)
    extra: list[LprFixing] = []
    if overlay is not None and overlay_text is not None:
        extra, more = read_lpr_csv(overlay_text, str(overlay), Source.OVERLAY, first)
        problems += more
    if problems:
        raise PackError("LPR table has bad rows — fix them (nothing was loaded):\n  "
                        + "\n  ".join(str(p) for p in problems))
    try:
        return LprSeries(merge(fixings, extra), first, node.text("authority", "PBOC"))
    except LprError as e:
        raise PackError(f"{name}: {e}") from None
