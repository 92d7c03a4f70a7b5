"""The limitation clock (CN.md §6.2) and delinquency buckets: worked examples, then the columnar
twins proven equal to the scalar functions on random dates (Feb 29 and rest days included)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.book.buckets import Bucket, BucketTable, bucket_columns
from arrears.book.limitation import Limitation, limitation_deadline, period_end, rest_days
from arrears.book.vector_limitation import limitation_columns, limitation_frame
from arrears.rules import RuleError, load_pack

CN = load_pack("CN")
RULES = CN.limitation.rules()
US = load_pack("US")


def lim(last_due: date, *events: tuple[str, date], first_default: date | None = None
        ) -> Limitation:
    return limitation_deadline(last_due, events, RULES, first_default)


# --- the period and its last day (Civil Code Art. 188, 189, 201–203) ---------------------------


def test_three_years_from_the_last_instalments_due_date() -> None:
    out = lim(date(2021, 6, 15))
    assert out.deadline == date(2024, 6, 17)  # 2024-06-15 is a Saturday → Monday
    assert out.start == date(2021, 6, 15)
    assert out.restarted_by is None
    assert out.reason.startswith("3 年，自最后一期履行期限届满之日 2021-06-15 起算（民法典第188条"
                                 "、第189条）")
    assert "3 years from the last instalment's due date 2021-06-15 (Civil Code Art. 188, 189)" \
        in out.reason
    assert "2024-06-15 is a statutory rest day: moved to 2024-06-17" in out.reason


def test_a_working_day_is_not_moved_and_the_reason_says_nothing_of_rest_days() -> None:
    out = lim(date(2021, 6, 18))
    assert out.deadline == date(2024, 6, 18)  # a Tuesday
    assert "rest day" not in out.reason
    assert "；" not in out.reason  # one clause: the rule itself


def test_feb_29_ends_on_the_last_day_of_february() -> None:
    # Art. 202: no corresponding day in the last month → that month's last day
    out = lim(date(2020, 2, 29))
    assert out.deadline == date(2023, 2, 28)
    assert "no corresponding day in that month: the period ends on its last day 2023-02-28" \
        in out.reason
    assert lim(date(2020, 2, 28)).deadline == date(2023, 2, 28)
    assert "corresponding" not in lim(date(2020, 2, 28)).reason


def test_a_statutory_holiday_moves_the_last_day_past_the_whole_holiday() -> None:
    # National Day 2025 ran 1–8 October
    out = lim(date(2022, 10, 1))
    assert out.deadline == date(2025, 10, 9)
    assert "2025-10-01 为法定休假日，顺延至 2025-10-09（民法典第202条、第203条）" in out.reason


def test_a_working_weekend_is_a_working_day() -> None:
    # 2025-02-08 and 2026-02-28 are Saturdays worked in lieu (调休): not moved
    assert lim(date(2022, 2, 8)).deadline == date(2025, 2, 8)
    assert lim(date(2023, 2, 28)).deadline == date(2026, 2, 28)
    assert lim(date(2022, 3, 15)).deadline == date(2025, 3, 17)  # a plain Saturday is moved


def test_beyond_the_holiday_data_the_day_is_not_moved_and_the_reason_says_so() -> None:
    out = lim(date(2024, 1, 16))
    assert out.deadline == date(2027, 1, 16)  # a Saturday, but 2027 is beyond the data
    assert "2027-01-16 is beyond the holiday data (2004–2026): not checked" in out.reason
    assert "未顺延" in out.reason
    assert rest_days("CN").first == date(2004, 1, 1)
    assert rest_days("CN").last == date(2026, 12, 31)


# --- interruptions (Art. 195; SPC limitation provisions Art. 8, 10–12, 14) ----------------------


def test_a_payment_restarts_three_years_from_its_day() -> None:
    out = lim(date(2024, 1, 15), ("payment", date(2025, 1, 15)))
    assert (out.start, out.restarted_by) == (date(2025, 1, 15), "payment")
    assert out.deadline == date(2028, 1, 15)
    assert out.reason.startswith(
        "3 年，自 2025-01-15 部分还款（payment）起算（民法典第195条；诉讼时效规定第14条）")
    assert "3 years from payment on 2025-01-15 (Civil Code Art. 195; SPC Limitation " \
        "Provisions Art. 14)" in out.reason


def test_events_on_or_before_the_start_change_nothing() -> None:
    base = lim(date(2021, 6, 18))
    for day in (date(2020, 1, 1), date(2021, 6, 18)):
        out = lim(date(2021, 6, 18), ("payment", day), ("demand-delivered", day))
        assert (out.deadline, out.start, out.restarted_by) == (base.deadline, base.start, None)
        assert out.reason == base.reason


def test_the_latest_event_wins_whatever_the_order_given() -> None:
    promise, demand = ("promise", date(2023, 3, 1)), ("demand-delivered", date(2022, 1, 4))
    a = lim(date(2021, 6, 18), promise, demand)
    assert a == lim(date(2021, 6, 18), demand, promise)
    assert (a.start, a.restarted_by) == (date(2023, 3, 1), "promise")
    assert a.deadline == date(2026, 3, 2)  # 2026-03-01 is a Sunday


def test_an_event_after_expiry_does_not_revive_the_claim() -> None:
    # 2020-01-15 + 3 y = Sunday 2023-01-15 → Monday 2023-01-16; a payment on the 17th is late
    out = lim(date(2020, 1, 15), ("payment", date(2023, 1, 17)))
    assert out.deadline == date(2023, 1, 16)
    assert out.restarted_by is None
    assert out.late_event == ("payment", date(2023, 1, 17))
    assert out.expired(date(2023, 1, 17)) and not out.expired(date(2023, 1, 16))
    assert "payment on 2023-01-17 came after the period ended on 2023-01-16" in out.reason
    assert "Civil Code Art. 192" in out.reason
    # on the moved last day itself it still interrupts
    assert lim(date(2020, 1, 15), ("payment", date(2023, 1, 16))).restarted_by == "payment"


def test_a_chain_of_interruptions_is_followed_in_date_order() -> None:
    # the promise keeps the period running, so the demand 4 years after the due date counts
    out = lim(date(2018, 3, 1), ("promise", date(2020, 6, 1)),
              ("demand-delivered", date(2022, 5, 5)))
    assert (out.restarted_by, out.start, out.deadline) == (
        "demand-delivered", date(2022, 5, 5), date(2025, 5, 6))  # 2025-05-05: May Day holiday
    # without the promise the same demand is too late
    late = lim(date(2018, 3, 1), ("demand-delivered", date(2022, 5, 5)))
    assert late.late_event == ("demand-delivered", date(2022, 5, 5))
    assert late.deadline == date(2021, 3, 1)
    # and once a gap has ended the period, later events stay without effect
    gap = lim(date(2018, 3, 1), ("payment", date(2021, 3, 2)), ("promise", date(2022, 1, 4)))
    assert gap.late_event == ("payment", date(2021, 3, 2))
    assert gap.deadline == date(2021, 3, 1)


def test_several_events_on_the_restarting_day_name_the_first_kind_of_the_pack() -> None:
    out = lim(date(2021, 6, 18), ("promise", date(2022, 1, 4)), ("payment", date(2022, 1, 4)))
    assert out.restarted_by == "payment"


def test_proceedings_restart_when_they_end_counted_from_the_filing_day() -> None:
    out = lim(date(2020, 1, 15), ("filing", date(2022, 5, 2)))
    assert out.deadline == date(2025, 5, 6)  # 2025-05-02 … 05-05 May Day
    assert "起诉（filing）" in out.reason and "SPC Limitation Provisions Art. 10" in out.reason
    assert "the period restarts when the proceedings end" in out.reason
    assert "proceedings" not in lim(date(2020, 1, 15), ("payment", date(2022, 5, 2))).reason


def test_unknown_event_kinds_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(RuleError, match=r"unknown interruption event 'sms'; known: "
                                        r"demand-delivered, auto-debit, payment"):
        lim(date(2024, 1, 15), ("sms", date(2025, 1, 1)))
    with pytest.raises(RuleError, match="'sms'"):  # even one that would change nothing
        lim(date(2024, 1, 15), ("sms", date(2020, 1, 1)))


def test_the_twenty_year_long_stop_caps_the_deadline() -> None:
    out = lim(date(2020, 1, 15), ("payment", date(2022, 1, 4)), ("payment", date(2024, 12, 2)),
              first_default=date(2005, 2, 1))
    assert out.long_stop == date(2025, 2, 5)  # 2025-02-01 falls in the Spring Festival
    assert out.deadline == date(2025, 2, 5)
    assert out.restarted_by == "payment"
    assert "capped by the 20-year long stop from the first default 2005-02-01: 2025-02-01 " \
        "(Civil Code Art. 188(2))" in out.reason
    assert "2025-02-01 is a statutory rest day: moved to 2025-02-05" in out.reason
    # a payment after the long stop ran out is late
    after = lim(date(2020, 1, 15), ("payment", date(2025, 3, 3)), first_default=date(2005, 2, 1))
    assert after.late_event == ("payment", date(2025, 3, 3))
    # far from the long stop, it is not mentioned
    assert "long stop" not in lim(date(2021, 6, 18), first_default=date(2021, 1, 15)).reason


def test_us_rules_are_per_state_and_run_from_the_first_default() -> None:
    with pytest.raises(RuleError, match="state law"):
        US.limitation.rules()
    ca = US.limitation.rules("ca")
    out = limitation_deadline(date(2024, 2, 29), [("payment", date(2024, 6, 3))], ca,
                              date(2023, 5, 31))
    assert (out.deadline, out.restarted_by) == (date(2028, 6, 3), "payment")
    assert "Cal. Code Civ. Proc. §337" not in out.reason  # a restart cites its own basis
    ny = US.limitation.rules("NY")
    out = limitation_deadline(date(2024, 2, 29), [("payment", date(2024, 6, 3))], ny,
                              date(2023, 5, 31))
    assert (out.deadline, out.restarted_by) == (date(2026, 5, 31), None)  # no revival in NY
    assert "CPLR §214-i" in out.reason
    with pytest.raises(ValueError, match="first default"):
        limitation_deadline(date(2024, 2, 29), [], ny)


# --- buckets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("dpd", "bucket", "rank"), [
    (0, "M0", 0), (1, "M1", 1), (30, "M1", 1), (31, "M2", 2), (45, "M2", 2), (90, "M3", 3),
    (91, "M4", 4), (150, "M5", 5), (180, "M6", 6), (181, "M6+", 7), (5000, "M6+", 7),
])
def test_cn_m_buckets_at_their_edges(dpd: int, bucket: str, rank: int) -> None:
    table = CN.delinquency.table()
    assert (table.of(dpd), table.rank(dpd)) == (bucket, rank)


def test_bucket_reason_and_refusals() -> None:
    table = CN.delinquency.table()
    assert table.reason(45) == "dpd 45 → M2 (31–60 天/days)"
    assert table.reason(0) == "dpd 0 → M0 (0 天/days)"
    assert table.reason(200) == "dpd 200 → M6+ (≥181 天/days)"
    assert CN.delinquency.table("US-30").reason(29) == "dpd 29 → current (0–29 天/days)"
    with pytest.raises(ValueError, match="negative"):
        table.of(-1)
    with pytest.raises(ValueError, match="contiguous"):
        BucketTable("x", (Bucket("a", 0, 5), Bucket("b", 7, None)))
    with pytest.raises(ValueError, match="open-ended but is not the last"):
        BucketTable("x", (Bucket("a", 0, None), Bucket("b", 1, None)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 400), st.sampled_from([0, 1, 29, 30, 31, 59, 60, 179,
                                                                 180, 181, 10**6])),
                min_size=1, max_size=40),
       st.sampled_from(["CN-M", "US-30"]))
def test_bucket_columns_equal_the_scalar_table(dpds: list[int], name: str) -> None:
    table = CN.delinquency.table(name)
    frame = pl.DataFrame({"dpd": dpds}, schema={"dpd": pl.Int32})
    out = frame.select(*bucket_columns(pl.col("dpd"), table))
    assert out.schema == {"bucket": pl.String, "bucket_rank": pl.Int8, "bucket_reason": pl.String}
    assert out["bucket"].to_list() == [table.of(d) for d in dpds]
    assert out["bucket_rank"].to_list() == [table.rank(d) for d in dpds]
    assert out["bucket_reason"].to_list() == [table.reason(d) for d in dpds]


def test_bucket_columns_give_nulls_for_null_or_negative_dpd() -> None:
    out = pl.DataFrame({"dpd": [None, -3, 7]}, schema={"dpd": pl.Int32}).select(
        *bucket_columns(pl.col("dpd"), CN.delinquency.table()))
    assert out.rows() == [(None, None, None), (None, None, None),
                          ("M1", 1, "dpd 7 → M1 (1–30 天/days)")]


# --- the columnar limitation clock equals the scalar one ----------------------------------------

# starts whose third anniversary is a Feb 29 question, a holiday, a working weekend, a plain
# weekend, the edge of the holiday data, or the long stop's
AWKWARD = [date(2020, 2, 29), date(2016, 2, 29), date(2024, 2, 29), date(2023, 2, 28),
           date(2022, 10, 1), date(2022, 10, 7), date(2022, 2, 8), date(2022, 3, 15),
           date(2020, 1, 15), date(2023, 12, 31), date(2023, 12, 26), date(2024, 1, 16),
           date(2022, 1, 31), date(2005, 2, 1), date(2000, 2, 29), date(2001, 1, 1)]
KINDS = list(RULES.events)
days = st.one_of(st.dates(date(1999, 1, 1), date(2030, 12, 31)), st.sampled_from(AWKWARD))


def first_defaults(last_due: date) -> st.SearchStrategy[date | None]:
    near = sorted(d for d in AWKWARD if d <= last_due) or [last_due]
    return st.one_of(st.none(), st.dates(date(1980, 1, 1), last_due), st.sampled_from(near))


def edges(start: date) -> st.SearchStrategy[date]:
    """The last day of a period from ``start`` (rest days applied), or a day either side."""
    last = period_end(start, RULES.years, RULES.holidays)[1]
    return st.sampled_from([last - timedelta(days=1), last, last + timedelta(days=1)])


@st.composite
def single_event_rows(draw: st.DrawFn) -> tuple[date, str | None, date | None, date | None]:
    last_due = draw(days)
    on = draw(st.one_of(st.none(), days,
                        st.integers(-400, 1200).map(lambda n: last_due + timedelta(days=n)),
                        edges(last_due)))
    kind = None if on is None else draw(st.sampled_from(KINDS))
    first_default = draw(first_defaults(last_due))
    return last_due, kind, on, first_default


@settings(max_examples=80, deadline=None)
@given(st.lists(single_event_rows(), min_size=1, max_size=25))
def test_limitation_columns_equal_the_scalar_clock(
        rows: list[tuple[date, str | None, date | None, date | None]]) -> None:
    frame = pl.DataFrame(rows, schema={"last_due_on": pl.Date, "kind": pl.String,
                                       "on": pl.Date, "first_default_on": pl.Date},
                         orient="row")
    deadline, reason = limitation_columns(pl.col("last_due_on"), pl.col("on"), RULES,
                                          kind=pl.col("kind"),
                                          first_default_on=pl.col("first_default_on"))
    out = frame.select(deadline.alias("deadline"), reason.alias("reason"))
    for (last_due, kind, on, fd), got in zip(rows, out.iter_rows(), strict=True):
        want = limitation_deadline(last_due, [] if kind is None or on is None else [(kind, on)],
                                   RULES, fd)
        assert got == (want.deadline, want.reason)


@st.composite
def portfolios(draw: st.DrawFn) -> tuple[list[tuple[str, date, date | None]],
                                         list[tuple[str, str, date]]]:
    loans: list[tuple[str, date, date | None]] = []
    events: list[tuple[str, str, date]] = []
    for i in range(draw(st.integers(1, 12))):
        last_due = draw(days)
        fd = draw(first_defaults(last_due))
        loans.append((f"L{i}", last_due, fd))
        # steps of up to ~4 years, so chains both hold and break
        day = last_due - timedelta(days=draw(st.integers(0, 500)))
        for _ in range(draw(st.integers(0, 5))):
            if draw(st.booleans()):
                day += timedelta(days=draw(st.integers(0, 1500)))
            else:  # on the last day of the running period, or just either side of it
                day = draw(edges(max(day, last_due)))
            events.append((f"L{i}", draw(st.sampled_from(KINDS)), day))
    return loans, events


@settings(max_examples=60, deadline=None)
@given(portfolios())
def test_limitation_frame_follows_chains_as_the_scalar_clock(
        book: tuple[list[tuple[str, date, date | None]], list[tuple[str, str, date]]]) -> None:
    loans, events = book
    lf = pl.DataFrame(loans, schema={"loan_id": pl.String, "last_due_on": pl.Date,
                                     "first_default_on": pl.Date}, orient="row")
    ef = pl.DataFrame(events, schema={"loan_id": pl.String, "kind": pl.String, "on": pl.Date},
                      orient="row")
    out = {r["loan_id"]: r for r in limitation_frame(lf, ef, RULES).iter_rows(named=True)}
    assert len(out) == len(loans)
    for loan_id, last_due, fd in loans:
        want = limitation_deadline(last_due, [(k, d) for i, k, d in events if i == loan_id],
                                   RULES, fd)
        got = out[loan_id]
        assert (got["limitation_deadline"], got["limitation_start"],
                got["limitation_restarted_by"], got["limitation_reason"]) == (
            want.deadline, want.start, want.restarted_by, want.reason)


def test_limitation_frame_refuses_unknown_kinds() -> None:
    loans = pl.DataFrame({"loan_id": ["L1"], "last_due_on": [date(2024, 1, 15)]})
    events = pl.DataFrame({"loan_id": ["L1"], "kind": ["sms"], "on": [date(2025, 1, 1)]})
    with pytest.raises(RuleError, match="unknown interruption event 'sms'"):
        limitation_frame(loans, events, RULES)


def test_limitation_columns_without_kinds_name_an_interruption() -> None:
    frame = pl.DataFrame({"last_due_on": [date(2024, 1, 15)], "on": [date(2025, 1, 15)]})
    deadline, reason = limitation_columns(pl.col("last_due_on"), pl.col("on"), CN.limitation)
    got = frame.select(deadline, reason).row(0)
    assert got[0] == lim(date(2024, 1, 15), ("payment", date(2025, 1, 15))).deadline
    assert "3 years from interruption on 2025-01-15" in got[1]


def test_limitation_columns_fail_on_an_unknown_kind() -> None:
    frame = pl.DataFrame({"last_due_on": [date(2024, 1, 15)], "on": [date(2020, 1, 15)],
                          "kind": ["sms"]})
    deadline, _ = limitation_columns(pl.col("last_due_on"), pl.col("on"), RULES,
                                     kind=pl.col("kind"))
    with pytest.raises(RuleError, match="unknown interruption event 'sms'"):
        frame.select(deadline)
