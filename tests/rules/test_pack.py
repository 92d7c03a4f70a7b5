"""The CN and US rule packs: LPR lookups, LPR segments, cost caps, overlays (CN.md §1, §2)."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from arrears.book.terms import LenderType
from arrears.rules import CapError, LprError, PackError, RuleError, Tenor, load_pack
from arrears.rules.lpr import LprFixing, Source
from arrears.rules.overlay import plan_lpr_update, update_lpr_overlay

CN = load_pack("CN")

PRIVATE_LENDING = [LenderType.INDIVIDUAL, LenderType.PRIVATE, LenderType.P2P]
LICENSED = [LenderType.BANK, LenderType.CONSUMER_FINANCE, LenderType.TRUST,
            LenderType.LICENSED, LenderType.MICROLOAN]


# --- LPR -----------------------------------------------------------------------------------


def test_lpr_in_force_on_2024_03_01_is_the_february_fixing() -> None:
    f = CN.lpr_1y(date(2024, 3, 1))
    assert f.effective_date == date(2024, 2, 20)
    assert f.one_year == Decimal("0.0345")
    assert f.five_year == Decimal("0.0395")


@pytest.mark.parametrize(("day", "one_year"), [
    (date(2019, 8, 20), "0.0425"),  # the first fixing
    (date(2019, 9, 19), "0.0425"),  # the day before a change keeps the old rate
    (date(2019, 9, 20), "0.0420"),  # the day of the change has the new one
    (date(2024, 10, 20), "0.0335"),
    (date(2024, 10, 21), "0.0310"),  # −25 bp
    (date(2025, 5, 19), "0.0310"),
    (date(2025, 5, 20), "0.0300"),  # −10 bp
    (date(2026, 3, 31), "0.0300"),  # the last known fixing stays in force
])
def test_lpr_lookup_at_change_boundaries(day: date, one_year: str) -> None:
    assert CN.lpr_1y(day).one_year == Decimal(one_year)


def test_no_lpr_before_the_2019_reform() -> None:
    with pytest.raises(LprError, match="2019-08-20"):
        CN.lpr_1y(date(2019, 8, 19))


def test_lpr_segments_split_only_where_the_one_year_rate_changes() -> None:
    # 2024-02-20 moved only the 5-year rate: no split in the 1-year series
    segs = CN.lpr_segments(date(2024, 1, 1), date(2025, 1, 1))
    assert [(s.start, s.end, s.rate) for s in segs] == [
        (date(2024, 1, 1), date(2024, 7, 22), Decimal("0.0345")),
        (date(2024, 7, 22), date(2024, 10, 21), Decimal("0.0335")),
        (date(2024, 10, 21), date(2025, 1, 1), Decimal("0.0310")),
    ]
    assert sum(s.days for s in segs) == (date(2025, 1, 1) - date(2024, 1, 1)).days


def test_lpr_segments_of_the_five_year_rate() -> None:
    segs = CN.lpr_segments(date(2024, 1, 1), date(2024, 8, 1), Tenor.FIVE_YEAR)
    assert [(s.start, s.rate) for s in segs] == [
        (date(2024, 1, 1), Decimal("0.0420")),
        (date(2024, 2, 20), Decimal("0.0395")),
        (date(2024, 7, 22), Decimal("0.0385")),
    ]


def test_lpr_segment_within_one_fixing_is_one_piece() -> None:
    segs = CN.lpr_segments(date(2025, 6, 1), date(2025, 7, 1))
    assert [(s.start, s.end, s.rate) for s in segs] == [
        (date(2025, 6, 1), date(2025, 7, 1), Decimal("0.0300"))]
    assert segs[0].fixing.effective_date == date(2025, 5, 20)


def test_lpr_segments_before_the_first_fixing_refuse() -> None:
    with pytest.raises(LprError):
        CN.lpr_segments(date(2019, 1, 1), date(2020, 1, 1))


# --- cost caps: worked examples (CN.md) --------------------------------------------------------


def test_private_loan_formed_2024_03_01_is_capped_at_13_80_pct() -> None:
    cap = CN.cost_cap(LenderType.PRIVATE, date(2024, 3, 1))
    assert cap.rate == Decimal("0.138")
    assert cap.regime == "private-4xLPR"
    assert "3.45 %" in cap.basis and "13.80 %" in cap.basis
    assert "2024-03-01" in cap.basis and "2024-02-20" in cap.basis
    assert "第25条" in cap.basis and "Art. 25" in cap.basis
    assert len(cap.segments) == 1 and cap.segments[0].lpr is not None


@pytest.mark.parametrize("lender", PRIVATE_LENDING)
def test_private_lending_formed_2025_06_01_is_capped_at_12_pct(lender: LenderType) -> None:
    cap = CN.cost_cap(lender, date(2025, 6, 1))
    assert cap.rate == Decimal("0.12")
    assert "3.00 %" in cap.basis and "12.00 %" in cap.basis


def test_cap_follows_the_lpr_on_the_formation_day() -> None:
    day_before = CN.cost_cap(LenderType.INDIVIDUAL, date(2024, 10, 20))
    day_of = CN.cost_cap(LenderType.INDIVIDUAL, date(2024, 10, 21))
    assert (day_before.rate, day_of.rate) == (Decimal("0.134"), Decimal("0.124"))


@pytest.mark.parametrize("lender", LICENSED)
def test_licensed_lenders_have_the_24_pct_judicial_all_in_cap(lender: LenderType) -> None:
    cap = CN.cost_cap(lender, date(2025, 6, 1))
    assert cap.rate == Decimal("0.24")
    assert cap.regime == "licensed-24pct"
    assert "法发〔2017〕22号" in cap.basis and "unconfirmed" in cap.basis


def test_art_31_transition_uses_old_lines_then_4x_lpr_at_filing() -> None:
    cap = CN.cost_cap(LenderType.PRIVATE, date(2019, 6, 1), filed_on=date(2021, 3, 3))
    old, new = cap.segments
    assert (old.start, old.end, old.last_day) == (date(2019, 6, 1), date(2020, 8, 20),
                                                  date(2020, 8, 19))
    assert (old.rate, old.void_above) == (Decimal("0.24"), Decimal("0.36"))
    assert (new.start, new.end) == (date(2020, 8, 20), None)
    assert new.rate == Decimal("0.154")  # 4 × 3.85 % in force on the filing date
    assert new.lpr is not None and new.lpr.effective_date == date(2020, 4, 20)
    assert cap.rate == Decimal("0.154")  # the strictest segment
    assert cap.regime == "private-art31-transition"
    assert "第31条" in cap.basis and "filed 2021-03-03" in cap.basis


def test_art_31_lpr_is_read_at_filing_not_formation() -> None:
    early = CN.cost_cap(LenderType.P2P, date(2020, 1, 10), filed_on=date(2021, 1, 4))
    late = CN.cost_cap(LenderType.P2P, date(2020, 1, 10), filed_on=date(2025, 6, 3))
    assert early.segments[1].rate == Decimal("0.154")
    assert late.segments[1].rate == Decimal("0.12")


def test_art_31_without_filing_date_takes_the_strictest_known_cap_and_says_so() -> None:
    cap = CN.cost_cap(LenderType.PRIVATE, date(2019, 6, 1))
    assert len(cap.segments) == 2
    assert cap.segments[1].rate == Decimal("0.12")  # lowest 1-year LPR since 2020-08-20: 3.00 %
    assert cap.rate == Decimal("0.12")
    assert "filing date not given" in cap.basis and "strictest" in cap.basis


def test_filed_before_the_new_rules_keeps_the_2015_lines_throughout() -> None:
    cap = CN.cost_cap(LenderType.PRIVATE, date(2018, 5, 1), filed_on=date(2020, 3, 2))
    assert [(s.rate, s.void_above, s.end) for s in cap.segments] == [
        (Decimal("0.24"), Decimal("0.36"), None)]
    assert cap.regime == "private-2015-lines"


def test_formed_before_2015_uses_the_2015_lines_and_says_so() -> None:
    cap = CN.cost_cap(LenderType.INDIVIDUAL, date(2014, 7, 1), filed_on=date(2016, 1, 5))
    assert cap.rate == Decimal("0.24")
    assert cap.segments[0].void_above == Decimal("0.36")
    assert "before the earliest rule" in cap.basis and "2015-09-01" in cap.basis


def test_formed_after_the_reform_is_not_split_even_with_a_filing_date() -> None:
    cap = CN.cost_cap(LenderType.PRIVATE, date(2024, 3, 1), filed_on=date(2025, 6, 3))
    assert cap.rate == Decimal("0.138") and len(cap.segments) == 1


def test_filing_before_formation_is_an_error() -> None:
    with pytest.raises(CapError, match="before the contract was formed"):
        CN.cost_cap(LenderType.PRIVATE, date(2024, 3, 1), filed_on=date(2024, 2, 1))


def test_every_lender_type_has_a_cap_in_the_cn_pack() -> None:
    for lender in LenderType:
        assert CN.cost_cap(lender, date(2025, 6, 1)).rate > 0


# --- US and unknown packs ---------------------------------------------------------------------


def test_us_pack_has_metadata_but_no_cap() -> None:
    us = load_pack("US")
    assert (us.code, us.currency) == ("US", "USD")
    with pytest.raises(CapError, match="state usury laws vary"):
        us.cost_cap(LenderType.BANK, date(2025, 6, 1))
    with pytest.raises(RuleError, match="no LPR"):
        us.lpr_1y(date(2025, 6, 1))


def test_unknown_pack_is_refused_by_name() -> None:
    with pytest.raises(PackError, match="available: CN, US"):
        load_pack("XX")


# --- overlays ---------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_overlay_adds_a_fixing_that_caps_then_use(tmp_path: Path) -> None:
    _write(tmp_path / "lpr.csv", "effective_date,lpr_1y_pct,lpr_5y_pct,note\n"
                                 "2026-04-20,2.90,3.40,hypothetical cut\n")
    pack = load_pack("CN", overlay_dir=tmp_path)
    f = pack.lpr_1y(date(2026, 5, 1))
    assert (f.one_year, f.source, f.note) == (Decimal("0.029"), Source.OVERLAY, "hypothetical cut")
    assert pack.lpr_1y(date(2026, 4, 19)).one_year == Decimal("0.03")
    assert pack.cost_cap(LenderType.PRIVATE, date(2026, 5, 1)).rate == Decimal("0.116")
    # the shipped pack is untouched
    assert load_pack("CN").lpr_1y(date(2026, 5, 1)).one_year == Decimal("0.03")


def test_overlay_wins_on_the_same_date_and_reload_sees_edits(tmp_path: Path) -> None:
    overlay = tmp_path / "lpr.csv"
    _write(overlay, "effective_date,lpr_1y_pct,lpr_5y_pct,note\n2025-05-20,2.95,3.50,corr\n")
    assert load_pack("CN", tmp_path).lpr_1y(date(2025, 6, 1)).one_year == Decimal("0.0295")
    # same size, same mtime: an edit within one filesystem time tick is still seen
    st = overlay.stat()
    _write(overlay, "effective_date,lpr_1y_pct,lpr_5y_pct,note\n2025-05-20,3.00,3.50,corr\n")
    os.utime(overlay, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert overlay.stat().st_size == st.st_size
    again = load_pack("CN", tmp_path)
    assert again.lpr_1y(date(2025, 6, 1)).one_year == Decimal("0.03")


def test_bad_overlay_row_fails_loading_naming_file_row_and_field(tmp_path: Path) -> None:
    _write(tmp_path / "lpr.csv", "effective_date,lpr_1y_pct,lpr_5y_pct,note\n"
                                 "2026-04-20,2.90,3.40,\n2026-05-20,abc,3.40,\n")
    with pytest.raises(PackError, match=r"lpr\.csv, row 3, field lpr_1y_pct"):
        load_pack("CN", tmp_path)


def test_overlay_update_refuses_a_different_value_for_a_known_date(tmp_path: Path) -> None:
    pack = load_pack("CN", tmp_path)
    known = LprFixing(date(2024, 2, 20), Decimal("0.0345"), Decimal("0.0395"))
    wrong = LprFixing(date(2024, 2, 20), Decimal("0.035"), Decimal("0.0395"))
    new = LprFixing(date(2026, 4, 20), Decimal("0.029"), Decimal("0.034"))
    fixings, change = plan_lpr_update(pack, [(2, known), (3, wrong), (4, new)], "in.csv",
                                      replace=False, overlay_dir=tmp_path)
    assert [f.effective_date for f in change.unchanged] == [date(2024, 2, 20)]
    assert [(p.row, p.field) for p in change.rejected] == [(3, "lpr_1y_pct")]
    assert "--replace" in change.rejected[0].message
    assert [f.effective_date for f in fixings] == [date(2026, 4, 20)]  # only the new one

    change = update_lpr_overlay(pack, [(3, wrong)], "in.csv", replace=True, overlay_dir=tmp_path)
    assert [(was.one_year, now.one_year) for was, now in change.replaced] == [
        (Decimal("0.0345"), Decimal("0.035"))]
    assert load_pack("CN", tmp_path).lpr_1y(date(2024, 3, 1)).one_year == Decimal("0.035")
