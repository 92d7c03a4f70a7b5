"""The ``delinquency`` and ``limitation`` sections of the CN and US packs, and how a malformed
section is refused: every error names the file and the field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml

from arrears.rules import PackError, RuleError, load_pack
from arrears.rules.delinquency_data import Restart, StartRule, parse_delinquency, parse_limitation
from arrears.rules.node import Node

CN = load_pack("CN")
US = load_pack("US")


# --- the shipped data ------------------------------------------------------------------------


def test_cn_default_table_is_m0_to_m6_plus_in_30_day_steps() -> None:
    table = CN.delinquency.table()
    assert table.name == "CN-M"
    assert [(b.name, b.low, b.high) for b in table.buckets] == [
        ("M0", 0, 0), ("M1", 1, 30), ("M2", 31, 60), ("M3", 61, 90), ("M4", 91, 120),
        ("M5", 121, 150), ("M6", 151, 180), ("M6+", 181, None)]
    assert table.buckets[2].label_zh == "逾期 31–60 天"
    assert table.buckets[2].label_en == "31–60 days past due"
    assert table.buckets[0].label_en == "current"


def test_the_us_30_table_is_in_both_packs_and_the_us_default() -> None:
    expected = [("current", 0, 29), ("30", 30, 59), ("60", 60, 89), ("90", 90, 119),
                ("120", 120, 149), ("150", 150, 179), ("180+", 180, None)]
    for table in (CN.delinquency.table("US-30"), US.delinquency.table()):
        assert table.name == "US-30"
        assert [(b.name, b.low, b.high) for b in table.buckets] == expected


def test_an_unknown_table_name_lists_the_known_ones() -> None:
    with pytest.raises(RuleError, match=r"no bucket table 'M30' in rule pack CN; known: CN-M, "
                                        r"US-30"):
        CN.delinquency.table("M30")


def test_write_off_candidacy_cn_180_us_120_with_their_source_tags() -> None:
    assert CN.delinquency.write_off_dpd == 180
    assert CN.delinquency.write_off_rule().tag == "unconfirmed"
    assert CN.delinquency.write_off_candidate(180) and not CN.delinquency.write_off_candidate(179)
    us = US.delinquency.write_off_rule(date(2026, 1, 1))
    assert (us.min_dpd, us.tag, us.effective_from) == (120, "unconfirmed", date(2000, 6, 12))
    assert "FFIEC" in us.rule_en
    with pytest.raises(RuleError, match="no write-off rule in force on 1999-01-01"):
        US.delinquency.write_off_rule(date(1999, 1, 1))


def test_cn_limitation_rules() -> None:
    r = CN.limitation.rules()
    assert (r.years, r.long_stop_years, r.start, r.holidays) == (
        3, 20, StartRule.LAST_INSTALMENT_DUE, "CN")
    assert list(r.events) == ["demand-delivered", "auto-debit", "payment", "promise", "plan",
                              "filing", "payment-order", "enforcement-application",
                              "mediation-request"]
    assert r.event("demand-delivered").basis_en.startswith("SPC Limitation Provisions Art. 8(2)")
    assert r.event("auto-debit").basis_en.startswith("SPC Limitation Provisions Art. 8(3)")
    for kind, art in (("payment", "14"), ("promise", "14"), ("plan", "14"), ("filing", "10"),
                      ("payment-order", "11"), ("enforcement-application", "11"),
                      ("mediation-request", "12")):
        assert r.event(kind).basis_zh == f"诉讼时效规定第{art}条"
    assert {k for k, e in r.events.items() if e.restarts is Restart.PROCEEDINGS_END} == {
        "filing", "payment-order", "enforcement-application", "mediation-request"}
    assert r.tag == "primary text"


def test_us_limitation_is_per_state_with_no_default() -> None:
    with pytest.raises(RuleError, match="give the state"):
        US.limitation.rules()
    assert {k: US.limitation.rules(k).years for k in US.limitation.regions} == {
        "CA": 4, "NY": 3, "TX": 4, "FL": 5, "DE": 3}
    ny = US.limitation.rules("ny")
    assert ny.start is StartRule.FIRST_DEFAULT and ny.holidays is None
    assert ny.event("payment").restarts is Restart.NEVER
    assert US.limitation.rules("CA").event("payment").restarts is Restart.EVENT
    with pytest.raises(RuleError, match="no limitation rules for region 'ZZ'"):
        US.limitation.rules("ZZ")


# --- malformed sections -------------------------------------------------------------------------

GOOD_DELINQUENCY: dict[str, Any] = yaml.safe_load("""
default_table: T
tables:
  T:
    buckets:
      - {name: A, dpd_from: 0, dpd_to: 0}
      - {name: B, dpd_from: 1, dpd_to: 30}
      - {name: C, dpd_from: 31}
write_off:
  - {id: w, min_dpd: 90, rule_zh: 规则, rule_en: rule, tag: unconfirmed}
""")


def delinquency(doc: dict[str, Any]) -> Any:
    return parse_delinquency(Node.root({"delinquency": doc}, "p.yaml").node("delinquency"))


def test_a_good_section_parses() -> None:
    d = delinquency(GOOD_DELINQUENCY)
    assert d.table().names == ("A", "B", "C")
    assert d.write_off_dpd == 90


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["tables"]["T"]["buckets"][2].update(dpd_from=40),
     r"p\.yaml: delinquency\.tables\.T\.buckets: bucket table T: C starts at 40, expected 31"),
    (lambda d: d["tables"]["T"]["buckets"][1].pop("dpd_from"),
     r"p\.yaml: delinquency\.tables\.T\.buckets\[1\]\.dpd_from is missing"),
    (lambda d: d["tables"]["T"]["buckets"][1].update(dpd_to="thirty"),
     r"delinquency\.tables\.T\.buckets\[1\]\.dpd_to: must be a whole number at least 0, "
     r"got 'thirty'"),
    (lambda d: d["tables"]["T"]["buckets"][2].update(dpd_to=99),
     r"delinquency\.tables\.T\.buckets: .*the last bucket must be open-ended"),
    (lambda d: d.update(default_table="X"),
     r"delinquency\.default_table: no table 'X' under tables; known: T"),
    (lambda d: d.pop("tables"), r"delinquency\.tables is missing"),
    (lambda d: d["write_off"][0].update(min_dpd=-5),
     r"delinquency\.write_off\[0\]\.min_dpd: must be a whole number at least 1"),
    (lambda d: d["write_off"][0].pop("tag"), r"delinquency\.write_off\[0\]\.tag is missing"),
    (lambda d: d["write_off"][0].update(effective_from="2020-13-01"),
     r"delinquency\.write_off\[0\]\.effective_from: '2020-13-01' is not a date"),
])
def test_delinquency_errors_name_the_field(edit: Any, message: str) -> None:
    doc = yaml.safe_load(yaml.safe_dump(GOOD_DELINQUENCY))
    edit(doc)
    with pytest.raises(PackError, match=message):
        delinquency(doc)


GOOD_LIMITATION: dict[str, Any] = yaml.safe_load("""
years: 3
start: last-instalment-due
start_zh: 最后一期到期日
start_en: the last due date
basis_zh: 第188条
basis_en: Art. 188
restart_zh: 第195条
restart_en: Art. 195
end_zh: 第202条
end_en: Art. 202
after_expiry_zh: 第192条
after_expiry_en: Art. 192
holidays: CN
tag: primary text
events:
  payment: {zh: 还款, en: payment, basis_zh: 第14条, basis_en: Art. 14}
""")


def limitation(doc: dict[str, Any]) -> Any:
    return parse_limitation(Node.root({"limitation": doc}, "p.yaml").node("limitation"))


def test_a_good_limitation_parses_and_regions_override_the_base() -> None:
    doc = yaml.safe_load(yaml.safe_dump(GOOD_LIMITATION))
    doc["regions"] = {"xa": {"years": 5, "holidays": "none"}}
    section = limitation(doc)
    assert section.rules().years == 3
    xa = section.rules("XA")
    assert (xa.years, xa.holidays, xa.region, xa.basis_en) == (5, None, "XA", "Art. 188")
    assert xa.event("payment").restarts is Restart.EVENT  # the default


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(start="first-payment"),
     r"p\.yaml: limitation\.start: must be one of last-instalment-due, first-default"),
    (lambda d: d.update(years=0), r"limitation\.years: must be a whole number at least 1"),
    (lambda d: d.update(long_stop_years=20),
     r"limitation\.long_stop_zh is missing"),  # a long stop needs its legal basis
    (lambda d: d.update(holidays="HK"), r"limitation\.holidays: unknown rest-day calendar 'HK'"),
    (lambda d: d["events"]["payment"].update(restarts="later"),
     r"limitation\.events\.payment\.restarts: must be one of event, proceedings-end, never"),
    (lambda d: d["events"]["payment"].pop("basis_en"),
     r"limitation\.events\.payment\.basis_en is missing"),
    (lambda d: d.pop("events"), r"limitation\.events is missing"),
    (lambda d: d.pop("years"), r"limitation\.years: give the default regime's years, or regions"),
    (lambda d: d.update(regions={"XB": {"years": "four"}}),
     r"limitation\.regions\.XB\.years: must be a whole number"),
])
def test_limitation_errors_name_the_field(edit: Any, message: str) -> None:
    doc = yaml.safe_load(yaml.safe_dump(GOOD_LIMITATION))
    edit(doc)
    with pytest.raises(PackError, match=message):
        limitation(doc)
