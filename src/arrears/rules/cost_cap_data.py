"""Reading a pack's ``cost_caps`` YAML section into ``cost_cap`` types, naming file and key on
any mistake (a pack that half-parses is never used)."""

from __future__ import annotations

from types import MappingProxyType

from arrears.book.terms import LenderType
from arrears.rules.cost_cap import (
    CapFamily,
    CapKind,
    CapRegime,
    CapRules,
    LprAt,
    Transition,
    UnknownFiling,
)
from arrears.rules.errors import PackError
from arrears.rules.lpr import Tenor
from arrears.rules.node import Node


def parse_cost_caps(node: Node) -> CapRules:
    """The ``cost_caps`` section: lender types → families → regimes (and a transition)."""
    if not node.flag("applicable", True):
        return CapRules(MappingProxyType({}), MappingProxyType({}),
                        node.text("reason", "not applicable in this jurisdiction"))
    families = {k: _family(k, node.node("families").node(k))
                for k in node.node("families").data}
    types: dict[LenderType, str] = {}
    mapping = node.node("lender_types")
    for key in mapping.data:
        try:
            lt = LenderType(key)
        except ValueError:
            raise mapping.fail(key, f"unknown lender type; known: "
                               f"{', '.join(t.value for t in LenderType)}") from None
        fam = mapping.text(key)
        if fam not in families:
            raise mapping.fail(key, f"no cap family {fam!r} in cost_caps.families")
        types[lt] = fam
    return CapRules(MappingProxyType(types), MappingProxyType(families))


def _regime(n: Node) -> CapRegime:
    try:
        kind = CapKind(n.text("kind"))
    except ValueError:
        raise n.fail("kind", f"must be one of {', '.join(k.value for k in CapKind)}") from None
    rid, zh, en, tag = n.text("id"), n.text("rule_zh"), n.text("rule_en"), n.text("tag")
    since = n.optional_day("effective_from")
    if kind is CapKind.FIXED:
        return CapRegime(rid, kind, zh, en, tag, since, rate=n.decimal("rate"),
                         void_above=n.optional_decimal("void_above"))
    try:
        tenor = Tenor(n.text("tenor", "1y"))
        lpr_at = LprAt(n.text("lpr_at", "formation"))
    except ValueError as e:
        raise n.fail("tenor/lpr_at", str(e)) from None
    return CapRegime(rid, kind, zh, en, tag, since, multiple=n.decimal("multiple"),
                     tenor=tenor, lpr_at=lpr_at)


def _family(family_id: str, n: Node) -> CapFamily:
    regimes = tuple(_regime(r) for r in n.nodes("regimes"))
    if not regimes:
        raise n.fail("regimes", "a cap family needs at least one regime")
    dated = [r.effective_from for r in regimes if r.effective_from is not None]
    if dated != sorted(dated) or (len(dated) < len(regimes) and len(regimes) > 1):
        raise n.fail("regimes", "list regimes by effective_from, earliest first; only a "
                     "family's single regime may omit it")
    transition = None
    if n.has("transition"):
        t = n.node("transition")
        try:
            transition = Transition(
                id=t.text("id"), on=t.day("starts_on"), from_regime=t.text("from_regime"),
                to_regime=t.text("to_regime"), lpr_at=LprAt(t.text("lpr_at")),
                rule_zh=t.text("rule_zh"), rule_en=t.text("rule_en"), tag=t.text("tag"),
                unknown_filing=UnknownFiling(t.text("unknown_filing", "lowest-known")))
        except ValueError as e:
            if isinstance(e, PackError):
                raise
            raise t.fail("lpr_at/unknown_filing", str(e)) from None
        ids = {r.id for r in regimes}
        for key in ("from_regime", "to_regime"):
            if getattr(transition, key) not in ids:
                raise t.fail(key, f"no regime {getattr(transition, key)!r} in this family")
    return CapFamily(family_id, n.text("title", family_id), regimes, transition,
                     n.texts("notes"))
