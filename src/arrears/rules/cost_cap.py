"""Legal cost caps (利率保护上限) as data: which regime binds a loan, at what annual rate, why.

A pack's ``cost_caps`` section maps each lender type to a *family* of regimes (e.g. private
lending, financial loans). Within a family the regime in force on the contract-formation date
applies; a family may also carry a *transition* (CN: 民间借贷规定 Art. 31) that splits a loan's
life into segments under an old and a new regime depending on the filing date.

Everything here is pure: the LPR series is passed in, dates are arguments. The YAML is read
into these types by ``cost_cap_data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from arrears.book.terms import LenderType
from arrears.rules.errors import PackError, RuleError
from arrears.rules.lpr import LprFixing, LprSeries, Tenor, pct


class CapError(RuleError):
    """No cap can be given (no caps in this pack, bad dates, unmapped lender type)."""


class CapKind(StrEnum):
    FIXED = "fixed"  # an annual rate written in the rule (24 %)
    LPR_MULTIPLE = "lpr-multiple"  # a multiple of an LPR fixing (4 × 1-year LPR)


class LprAt(StrEnum):
    """Which day's LPR a multiple refers to."""

    FORMATION = "formation"  # 合同成立时
    FILING = "filing"  # 起诉时


class UnknownFiling(StrEnum):
    # the lowest cap any filing on/after the transition could get with the fixings known
    LOWEST_KNOWN = "lowest-known"


@dataclass(frozen=True, slots=True)
class CapRegime:
    id: str
    kind: CapKind
    rule_zh: str
    rule_en: str
    tag: str  # how firm the source is: primary text / secondary sources / unconfirmed …
    effective_from: date | None = None
    rate: Decimal | None = None  # FIXED: the supported line
    void_above: Decimal | None = None  # FIXED: a second, void line (2015: 36 %)
    multiple: Decimal | None = None  # LPR_MULTIPLE
    tenor: Tenor = Tenor.ONE_YEAR
    lpr_at: LprAt = LprAt.FORMATION

    @property
    def rule(self) -> str:
        return f"{self.rule_zh}; {self.rule_en} [{self.tag}]"


@dataclass(frozen=True, slots=True)
class Transition:
    id: str
    on: date  # first day of the new regime
    from_regime: str
    to_regime: str
    lpr_at: LprAt
    rule_zh: str
    rule_en: str
    tag: str
    unknown_filing: UnknownFiling

    @property
    def rule(self) -> str:
        return f"{self.rule_zh}; {self.rule_en} [{self.tag}]"


@dataclass(frozen=True, slots=True)
class CapFamily:
    id: str
    title: str
    regimes: tuple[CapRegime, ...]  # by effective_from, earliest first
    transition: Transition | None = None
    notes: tuple[str, ...] = ()

    def regime(self, regime_id: str) -> CapRegime:
        for r in self.regimes:
            if r.id == regime_id:
                return r
        raise PackError(f"cap family {self.id} has no regime {regime_id!r}")

    def at_formation(self, formed_on: date) -> tuple[CapRegime, str | None]:
        """The regime in force on ``formed_on``, and a note when none was (earliest applied)."""
        chosen = None
        for r in self.regimes:
            if r.effective_from is None or r.effective_from <= formed_on:
                chosen = r
        if chosen is not None:
            return chosen, None
        first = self.regimes[0]
        assert first.effective_from is not None  # else it would have been chosen
        return first, (
            f"formed {formed_on.isoformat()}, before the earliest rule in this pack took effect "
            f"({first.id}, {first.effective_from.isoformat()}): that rule is applied as the "
            "nearest, and the case should be checked by counsel"
        )


@dataclass(frozen=True, slots=True)
class CapSegment:
    """The cap over ``[start, end)`` of a loan's life (``end`` None: open-ended)."""

    start: date
    end: date | None
    rate: Decimal  # supported annual rate
    regime: str
    basis: str
    void_above: Decimal | None = None
    lpr: LprFixing | None = None

    @property
    def last_day(self) -> date | None:
        return None if self.end is None else self.end - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CostCap:
    """The all-in annual cost a court supports for one loan.

    ``rate`` is the strictest supported rate across ``segments`` — a single figure a loan's
    all-in APR can be held against; the segments carry the detail a claim calculator needs.
    """

    rate: Decimal
    regime: str
    basis: str
    segments: tuple[CapSegment, ...]
    lender_type: LenderType
    formed_on: date
    filed_on: date | None = None


@dataclass(frozen=True, slots=True)
class CapRules:
    """A pack's ``cost_caps`` section; ``not_applicable`` set when the pack has no caps."""

    lender_types: Mapping[LenderType, str]
    families: Mapping[str, CapFamily]
    not_applicable: str | None = None

    def cost_cap(self, lender_type: LenderType, formed_on: date, filed_on: date | None,
                 lpr: LprSeries | None, pack: str) -> CostCap:
        if self.not_applicable is not None:
            raise CapError(f"rule pack {pack} has no cost caps: {self.not_applicable}")
        if filed_on is not None and filed_on < formed_on:
            raise CapError(f"filed on {filed_on.isoformat()}, before the contract was formed "
                           f"on {formed_on.isoformat()}")
        family_id = self.lender_types.get(lender_type)
        if family_id is None:
            raise CapError(f"rule pack {pack} maps no cap to lender type {lender_type.value}")
        family = self.families[family_id]
        return _evaluate(family, lender_type, formed_on, filed_on, lpr)


# --- evaluation -----------------------------------------------------------------------------


def _lpr_for(lpr: LprSeries | None) -> LprSeries:
    if lpr is None:
        raise CapError("this cap refers to the LPR, but the rule pack has no LPR series")
    return lpr


def _segment(regime: CapRegime, start: date, end: date | None, lpr: LprSeries | None,
             lpr_day: date | None, day_label: str) -> CapSegment:
    """The cap of one regime over one stretch; ``lpr_day`` is the day its LPR is read on."""
    if regime.kind is CapKind.FIXED:
        assert regime.rate is not None
        text = f"{pct(regime.rate)} supported"
        if regime.void_above is not None:
            text += f", above {pct(regime.void_above)} void"
        return CapSegment(start, end, regime.rate, regime.id, f"{text} ({regime.rule})",
                          regime.void_above)
    assert regime.multiple is not None
    if lpr_day is None:
        raise CapError(f"{regime.id} needs the {regime.lpr_at.value} date")
    fixing = _lpr_for(lpr).in_force(lpr_day)
    return _lpr_segment(regime, start, end, fixing, f"in force on {day_label} "
                        f"{lpr_day.isoformat()}")


def _lpr_segment(regime: CapRegime, start: date, end: date | None, fixing: LprFixing,
                 when: str) -> CapSegment:
    assert regime.multiple is not None
    base = fixing.rate(regime.tenor)
    rate = regime.multiple * base
    tenor = "1-year" if regime.tenor is Tenor.ONE_YEAR else "5-year"
    text = (f"{regime.multiple} × {tenor} LPR {pct(base)} {when} (fixing of "
            f"{fixing.effective_date.isoformat()}) = {pct(rate)} ({regime.rule})")
    return CapSegment(start, end, rate, regime.id, text, lpr=fixing)


def _span(s: CapSegment) -> str:
    last = s.last_day
    return f"{s.start.isoformat()} → {last.isoformat() if last else 'onwards'}"


def _evaluate(family: CapFamily, lender_type: LenderType, formed_on: date,
              filed_on: date | None, lpr: LprSeries | None) -> CostCap:
    regime, note = family.at_formation(formed_on)
    notes = [note] if note else []
    head = f"lender type {lender_type.value} → {family.title}"
    t = family.transition
    formation_day = formed_on if regime.lpr_at is LprAt.FORMATION else filed_on
    label = "the formation date" if regime.lpr_at is LprAt.FORMATION else "the filing date"

    if t is None or regime.id != t.from_regime or formed_on >= t.on:
        seg = _segment(regime, formed_on, None, lpr, formation_day, label)
        return CostCap(seg.rate, regime.id, "; ".join([f"{head}: {seg.basis}", *notes]),
                       (seg,), lender_type, formed_on, filed_on)

    if filed_on is not None and filed_on < t.on:
        seg = _segment(regime, formed_on, None, lpr, formation_day, label)
        notes.append(f"filed {filed_on.isoformat()}, before {t.on.isoformat()}: the old rule "
                     f"governs the whole loan ({t.rule})")
        return CostCap(seg.rate, regime.id, "; ".join([f"{head}: {seg.basis}", *notes]),
                       (seg,), lender_type, formed_on, filed_on)

    old = _segment(regime, formed_on, t.on, lpr, formation_day, label)
    new_regime = family.regime(t.to_regime)
    if new_regime.kind is CapKind.FIXED:
        new = _segment(new_regime, t.on, None, lpr, None, "")
    elif t.lpr_at is LprAt.FORMATION:
        new = _segment(new_regime, t.on, None, lpr, formed_on, "the formation date")
    elif filed_on is not None:
        new = _segment(new_regime, t.on, None, lpr, filed_on, "the filing date")
    else:
        # UnknownFiling.LOWEST_KNOWN: the lowest rate of any fixing a filing on/after the
        # transition could meet — the strictest cap, so nothing above what a court could
        # allow is ever claimed. Earliest such fixing on ties, for a stable answer.
        known = _lpr_for(lpr).in_force_from(t.on)
        lowest = min(known, key=lambda f: (f.rate(new_regime.tenor), f.effective_date))
        new = _lpr_segment(new_regime, t.on, None, lowest,
                           f"(filing date not given: the lowest known in force on or after "
                           f"{t.on.isoformat()}, the strictest choice — pass the filing date "
                           f"for the exact cap)")
    text = (f"{head}: formed {formed_on.isoformat()} under {regime.id}, before "
            f"{t.on.isoformat()}, "
            f"{'filed ' + filed_on.isoformat() if filed_on else 'filing date unknown'} — "
            f"{t.rule}: {_span(old)}: {old.basis}; {_span(new)}: {new.basis}; "
            f"the strictest segment, {pct(min(old.rate, new.rate))}, is the loan's cap")
    return CostCap(min(old.rate, new.rate), t.id, "; ".join([text, *notes]), (old, new),
                   lender_type, formed_on, filed_on)
