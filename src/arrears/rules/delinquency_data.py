"""A pack's ``delinquency`` (bucket tables, write-off candidacy) and ``limitation`` (诉讼时效)
sections: the frozen types and their reading from YAML, naming file and key on any mistake.

The arithmetic lives in the pure core: ``book.buckets`` applies a table, ``book.limitation``
runs the limitation clock with a ``LimitationRules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from arrears.book.buckets import Bucket, BucketTable
from arrears.rules.errors import RuleError
from arrears.rules.node import Node

HOLIDAY_CALENDARS = ("CN",)  # rest-day calendars book.limitation knows (CN: chinese-calendar)


# --- delinquency -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteOffRule:
    """Loans at ``min_dpd`` days past due or more are write-off (核销) candidates."""

    id: str
    min_dpd: int
    rule_zh: str
    rule_en: str
    tag: str  # source tag: primary text | secondary sources | one secondary source | unconfirmed
    effective_from: date | None = None


@dataclass(frozen=True, slots=True)
class DelinquencyRules:
    tables: Mapping[str, BucketTable]
    default_table: str | None
    write_off_rules: tuple[WriteOffRule, ...]  # by effective_from, earliest first
    source: str = "this pack"

    def table(self, name: str | None = None) -> BucketTable:
        """The bucket table ``name``, or the pack's default table."""
        key = self.default_table if name is None else name
        if key is None:
            raise RuleError(f"{self.source} has no delinquency bucket tables")
        if key not in self.tables:
            raise RuleError(f"no bucket table {key!r} in {self.source}; known: "
                            f"{', '.join(self.tables) or 'none'}")
        return self.tables[key]

    def write_off_rule(self, on: date | None = None) -> WriteOffRule:
        """The write-off rule in force on ``on`` (the latest one when ``on`` is None)."""
        if not self.write_off_rules:
            raise RuleError(f"{self.source} has no write-off rule")
        if on is None:
            return self.write_off_rules[-1]
        live = [r for r in self.write_off_rules
                if r.effective_from is None or r.effective_from <= on]
        if not live:
            first = self.write_off_rules[0].effective_from
            raise RuleError(f"{self.source}: no write-off rule in force on {on} "
                            f"(the first starts {first})")
        return live[-1]

    @property
    def write_off_dpd(self) -> int:
        """dpd at which a loan becomes a write-off candidate under the latest rule."""
        return self.write_off_rule().min_dpd

    def write_off_candidate(self, dpd: int, on: date | None = None) -> bool:
        return dpd >= self.write_off_rule(on).min_dpd


NO_DELINQUENCY = DelinquencyRules(MappingProxyType({}), None, ())


def _int(n: Node, key: str, minimum: int = 0) -> int:
    value = n.raw(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise n.fail(key, f"must be a whole number at least {minimum}, got {value!r}")
    return value


def _table(name: str, n: Node) -> BucketTable:
    buckets = []
    for b in n.nodes("buckets"):
        high = _int(b, "dpd_to") if b.has("dpd_to") else None
        buckets.append(Bucket(b.text("name"), _int(b, "dpd_from"), high,
                              b.text("zh", ""), b.text("en", "")))
    try:
        return BucketTable(name, tuple(buckets), n.text("title_zh", ""), n.text("title_en", ""))
    except ValueError as e:
        raise n.fail("buckets", str(e)) from None


def parse_delinquency(node: Node, source: str = "this pack") -> DelinquencyRules:
    """The ``delinquency`` section: named bucket tables, the default one, write-off rules."""
    tables_node = node.node("tables")
    tables = {name: _table(name, tables_node.node(name)) for name in tables_node.data}
    if not tables:
        raise node.fail("tables", "name at least one bucket table")
    default = node.text("default_table")
    if default not in tables:
        raise node.fail("default_table", f"no table {default!r} under tables; known: "
                        f"{', '.join(tables)}")
    rules = tuple(WriteOffRule(w.text("id"), _int(w, "min_dpd", 1), w.text("rule_zh"),
                               w.text("rule_en"), w.text("tag"), w.optional_day("effective_from"))
                  for w in (node.nodes("write_off") if node.has("write_off") else []))
    dated = [r.effective_from for r in rules if r.effective_from is not None]
    if dated != sorted(dated) or (len(dated) < len(rules) and len(rules) > 1):
        raise node.fail("write_off", "list the rules by effective_from, earliest first; only "
                        "a single rule may omit it")
    return DelinquencyRules(MappingProxyType(tables), default, rules, source)


# --- limitation --------------------------------------------------------------------------------


class StartRule(StrEnum):
    """Where the period runs from before any interruption."""

    LAST_INSTALMENT_DUE = "last-instalment-due"  # CN Civil Code Art. 189
    FIRST_DEFAULT = "first-default"  # the first instalment left unpaid (the earlier, safer day)


class Restart(StrEnum):
    """When an interrupted period starts again (Civil Code Art. 195: "从中断、有关程序终结时起")."""

    EVENT = "event"  # from the event's own day (demand, payment, promise …)
    PROCEEDINGS_END = "proceedings-end"  # when the suit/enforcement/mediation ends
    NEVER = "never"  # a known event that does not interrupt here (e.g. NY payments since 2022)


@dataclass(frozen=True, slots=True)
class InterruptionKind:
    kind: str  # e.g. "payment"
    zh: str
    en: str
    basis_zh: str
    basis_en: str
    restarts: Restart
    rank: int  # order in the pack; names the kind when several restart on one day


@dataclass(frozen=True, slots=True)
class LimitationRules:
    """One limitation regime (a jurisdiction, or a region of it). Texts are the legal basis
    quoted in every ``Limitation.reason``."""

    region: str | None
    years: int
    long_stop_years: int | None
    start: StartRule
    start_zh: str  # "最后一期履行期限届满之日"
    start_en: str  # "the last instalment's due date"
    basis_zh: str  # the period itself: "民法典第188条、第189条"
    basis_en: str
    restart_zh: str  # interruption: "民法典第195条"
    restart_en: str
    long_stop_zh: str
    long_stop_en: str
    end_zh: str  # how a period ends (corresponding day, month end, rest days)
    end_en: str
    after_expiry_zh: str  # what an event after expiry does
    after_expiry_en: str
    holidays: str | None  # rest-day calendar for the last day ("CN"), None = none
    events: Mapping[str, InterruptionKind]
    tag: str
    notes: tuple[str, ...] = ()

    def event(self, kind: str) -> InterruptionKind:
        if kind not in self.events:
            known = ", ".join(self.events) or "none in this regime"
            raise RuleError(f"unknown interruption event {kind!r}; known: {known}")
        return self.events[kind]


@dataclass(frozen=True, slots=True)
class LimitationSection:
    default: LimitationRules | None
    regions: Mapping[str, LimitationRules]
    no_default: str = "no limitation rules in this pack"

    def rules(self, region: str | None = None) -> LimitationRules:
        """The regime of ``region`` (e.g. a US state), or the pack's default regime."""
        if region is None:
            if self.default is None:
                raise RuleError(self.no_default)
            return self.default
        key = region.strip().upper()
        if key not in self.regions:
            raise RuleError(f"no limitation rules for region {region!r}; known: "
                            f"{', '.join(self.regions) or 'none'}")
        return self.regions[key]


NO_LIMITATION = LimitationSection(None, MappingProxyType({}))


def _events(n: Node) -> Mapping[str, InterruptionKind]:
    out: dict[str, InterruptionKind] = {}
    for rank, kind in enumerate(n.data):
        e = n.node(kind)
        try:
            restarts = Restart(e.text("restarts", Restart.EVENT.value))
        except ValueError:
            raise e.fail("restarts", f"must be one of "
                         f"{', '.join(r.value for r in Restart)}") from None
        out[str(kind)] = InterruptionKind(str(kind), e.text("zh"), e.text("en"),
                                          e.text("basis_zh"), e.text("basis_en"), restarts, rank)
    return MappingProxyType(out)


def _regime(n: Node, region: str | None) -> LimitationRules:
    try:
        start = StartRule(n.text("start"))
    except ValueError:
        raise n.fail("start", f"must be one of {', '.join(s.value for s in StartRule)}") from None
    holidays = n.text("holidays", "none")
    if holidays != "none" and holidays not in HOLIDAY_CALENDARS:
        raise n.fail("holidays", f"unknown rest-day calendar {holidays!r}; known: none, "
                     f"{', '.join(HOLIDAY_CALENDARS)}")
    long_stop = _int(n, "long_stop_years", 1) if n.has("long_stop_years") else None
    return LimitationRules(
        region=region, years=_int(n, "years", 1), long_stop_years=long_stop, start=start,
        start_zh=n.text("start_zh"), start_en=n.text("start_en"),
        basis_zh=n.text("basis_zh"), basis_en=n.text("basis_en"),
        restart_zh=n.text("restart_zh"), restart_en=n.text("restart_en"),
        long_stop_zh=n.text("long_stop_zh") if long_stop else n.text("long_stop_zh", ""),
        long_stop_en=n.text("long_stop_en") if long_stop else n.text("long_stop_en", ""),
        end_zh=n.text("end_zh"), end_en=n.text("end_en"),
        after_expiry_zh=n.text("after_expiry_zh"), after_expiry_en=n.text("after_expiry_en"),
        holidays=None if holidays == "none" else holidays,
        events=_events(n.node("events")), tag=n.text("tag"), notes=n.texts("notes"))


def parse_limitation(node: Node) -> LimitationSection:
    """The ``limitation`` section: its own fields are the default regime (absent ``years`` =
    no default); ``regions.<CODE>`` entries override any of them for one region."""
    base: dict[str, Any] = {k: v for k, v in node.data.items() if k not in ("regions",)}
    default = _regime(node, None) if node.has("years") else None
    regions: dict[str, LimitationRules] = {}
    if node.has("regions"):
        rn = node.node("regions")
        for code in rn.data:
            own = rn.node(code)
            merged = Node({**base, **own.data}, own.file, own.path)
            regions[str(code).upper()] = _regime(merged, str(code).upper())
    if default is None and not regions:
        raise node.fail("years", "give the default regime's years, or regions")
    reason = node.text("no_default", "this pack's limitation depends on the region: give one "
                       f"of {', '.join(regions)}")
    return LimitationSection(default, MappingProxyType(regions), reason)

