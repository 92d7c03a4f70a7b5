"""End-of-day over a real book (SQLite and PostgreSQL): agreement with ``loan_as_of`` for every
loan, idempotent re-runs, the gap check, the mirror following the day's changes, resuming after
a run that died half-way, history told as it stood."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from arrears.book.terms import Component
from arrears.services import eod as eod_service
from arrears.services.eod import EodGap, partition, run_eod
from arrears.services.operations import loan_as_of, post_payment, reverse, waive, write_off
from arrears.settings import Settings
from arrears.store import mirror as mirror_module
from arrears.store import schema
from arrears.store.mirror import MANIFEST
from tests.services.booking_helpers import book

NOW = datetime(2026, 1, 1, 20)
D = date.fromisoformat


def snap(settings: Settings, as_of: date) -> pl.DataFrame:
    return pl.read_parquet(partition(settings, as_of) / "*.parquet")


def a_book(db: Engine) -> None:
    book(db, "A", D("2025-01-10"))  # pays on time
    book(db, "B", D("2025-01-10"), grace_days=3)  # misses
    book(db, "C", D("2025-01-20"), term_count=6, method="equal-principal")  # pays late
    book(db, "D", D("2025-02-01"))  # pays off early
    book(db, "E", D("2025-01-05"))  # written off
    post_payment(db, "A1", "A", 102_000, datetime(2025, 2, 10, 9), "bank", "t", NOW)
    post_payment(db, "C1", "C", 60_000, datetime(2025, 3, 5, 9), "bank", "t", NOW)
    post_payment(db, "D1", "D", 400_000, datetime(2025, 2, 15, 9), "bank", "t", NOW)
    write_off(db, "E-X", "E", D("2025-03-01"), "uncollectable", "t", NOW)


def assert_matches_loan_show(db: Engine, frame: pl.DataFrame, as_of: date) -> None:
    for r in frame.iter_rows(named=True):
        s = loan_as_of(db, r["loan_id"], as_of)
        assert (r["outstanding_total"], r["dpd"], r["past_due_days"], r["accrued_interest"],
                r["payoff"], r["oldest_unpaid_due"], r["next_due_on"]) == (
            s.outstanding_total, s.dpd, s.past_due_days, s.accrued_interest, s.payoff,
            s.oldest_unpaid_due, s.next_due_on), r["loan_id"]


def test_a_day_of_end_of_day(db: Engine, settings: Settings) -> None:
    a_book(db)
    day = D("2025-03-20")
    r = run_eod(db, settings, day, NOW)
    frame = snap(settings, day)
    assert r.loans == 5 and frame.height == 5
    by = {x["loan_id"]: x for x in frame.iter_rows(named=True)}
    assert by["B"]["stage"] == "overdue" and by["B"]["dpd"] == 38
    assert by["B"]["bucket"] == "M2" and "38" in by["B"]["bucket_reason"]
    assert by["A"]["stage"] == "overdue"  # paid only the first of its instalments
    assert by["D"]["stage"] == "closed" and by["D"]["payoff"] == 0
    assert by["E"]["stage"] == "written-off"
    # the limitation clock runs from the last instalment's due date, restarted by a payment
    assert by["B"]["limitation_deadline"] == by["B"]["last_due_on"].replace(
        year=by["B"]["last_due_on"].year + 3)
    assert_matches_loan_show(db, frame, day)
    with db.connect() as c:
        totals = c.execute(select(func.sum(schema.eod_summaries.c.loans)).where(
            schema.eod_summaries.c.as_of == day)).scalar()
    assert totals == 3  # the active loans: A, B, C


def test_rerunning_a_day_writes_the_same_snapshot(db: Engine, settings: Settings) -> None:
    a_book(db)
    day = D("2025-04-02")
    first = run_eod(db, settings, day, NOW)
    again = run_eod(db, settings, day, NOW)
    assert first.digest == again.digest and again.mirror_changed == 0
    rebuilt = run_eod(db, settings, day, NOW, rebuild_mirror=True)
    assert rebuilt.digest == first.digest and rebuilt.mirror_rebuilt


def test_a_gap_is_refused_and_named(db: Engine, settings: Settings) -> None:
    a_book(db)
    run_eod(db, settings, D("2025-03-01"), NOW)
    with pytest.raises(EodGap) as gap:
        run_eod(db, settings, D("2025-03-04"), NOW)
    assert gap.value.missing == [D("2025-03-02"), D("2025-03-03")]
    assert "--from 2025-03-02 --to 2025-03-04" in str(gap.value)
    for d in (D("2025-03-02"), D("2025-03-03"), D("2025-03-04")):
        run_eod(db, settings, d, NOW)


def test_the_mirror_follows_the_day_s_changes(db: Engine, settings: Settings) -> None:
    a_book(db)
    day = D("2025-03-20")
    run_eod(db, settings, day, NOW)
    before = snap(settings, day)
    post_payment(db, "B1", "B", 150_000, datetime(2025, 3, 20, 15), "bank", "t", NOW)
    waive(db, "A-W", "A", Component.PENALTY, None, day, "goodwill", "t", NOW)
    r = run_eod(db, settings, day, NOW)
    assert r.mirror_changed == 2
    after = snap(settings, day)
    b0, b1 = (f.filter(pl.col("loan_id") == "B").row(0, named=True) for f in (before, after))
    assert b1["paid_total"] == b0["paid_total"] + 150_000
    assert b1["last_payment_on"] == day
    assert_matches_loan_show(db, after, day)
    # a reversal restates the loan, and end-of-day sees it too
    reverse(db, "B1", "B1-R", day, "bounced", "t", NOW)
    run_eod(db, settings, day, NOW)
    assert snap(settings, day).filter(pl.col("loan_id") == "B")["paid_total"][0] == \
        b0["paid_total"]


def test_a_run_that_died_is_finished_by_the_next(db: Engine, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    a_book(db)
    day = D("2025-03-20")
    clean = run_eod(db, settings, day, NOW)

    def die(*_: object) -> None:
        raise KeyboardInterrupt("killed")

    post_payment(db, "B1", "B", 150_000, datetime(2025, 3, 20, 15), "bank", "t", NOW)
    monkeypatch.setattr(eod_service._Partition, "close", die)
    with pytest.raises(KeyboardInterrupt):
        run_eod(db, settings, day, NOW)
    with db.connect() as c:
        status = c.execute(select(schema.eod_runs.c.status).where(
            schema.eod_runs.c.as_of == day)).scalar()
    assert status == "running"
    monkeypatch.undo()
    done = run_eod(db, settings, day, NOW)
    assert done.digest != clean.digest  # B's payment is in
    assert_matches_loan_show(db, snap(settings, day), day)
    # a mirror whose manifest is gone (a sync killed while writing) is rebuilt from the book
    (settings.home / "mirror" / MANIFEST).unlink()
    assert run_eod(db, settings, day, NOW).digest == done.digest


def test_history_is_told_as_it_stood(db: Engine, settings: Settings) -> None:
    a_book(db)
    post_payment(db, "B1", "B", 150_000, datetime(2025, 5, 1, 9), "bank", "t", NOW)
    # B's stored state is at 2025-05-01; a backfill of March replays it to each day
    days = [D("2025-03-30") + timedelta(days=i) for i in range(3)]
    results = [run_eod(db, settings, d, NOW) for d in days]
    assert all(r.replayed >= 1 for r in results)
    for d in days:
        frame = snap(settings, d)
        b = frame.filter(pl.col("loan_id") == "B").row(0, named=True)
        assert b["last_payment_on"] is None and b["stage"] == "overdue"
        assert_matches_loan_show(db, frame, d)
    assert snap(settings, days[0]).filter(pl.col("loan_id") == "A")["stage"][0] == "overdue"


def test_loans_not_yet_disbursed_are_not_on_the_book(db: Engine, settings: Settings) -> None:
    a_book(db)
    r = run_eod(db, settings, D("2025-01-15"), NOW)
    assert set(snap(settings, D("2025-01-15"))["loan_id"]) == {"A", "B", "E"} and r.loans == 3


def test_the_snapshot_has_a_hive_partition(settings: Settings, db: Engine, tmp_path: Path) -> None:
    a_book(db)
    run_eod(db, settings, D("2025-03-20"), NOW)
    frame = pl.scan_parquet(settings.snapshots_dir / "**/*.parquet",
                            hive_partitioning=True).collect()
    assert frame["as_of"].cast(pl.Date).unique().to_list() == [D("2025-03-20")]


def test_folding_history_and_going_back_before_it_change_nothing(db: Engine,
                                                                 settings: Settings) -> None:
    a_book(db)
    start = D("2025-02-20")
    run_eod(db, settings, start, NOW)
    mirror = settings.home / "mirror"

    def horizon() -> str:
        return str(__import__("json").loads((mirror / MANIFEST).read_text())["horizon"])

    later = start + timedelta(days=40)  # past RECOMPACT_DAYS: the mirror folds again
    folded = run_eod(db, settings, later, NOW, allow_gap=True)
    assert horizon() == later.isoformat()
    assert run_eod(db, settings, later, NOW, rebuild_mirror=True,
                   allow_gap=True).digest == folded.digest
    # a date before the horizon reads the whole book again, and tells that day as it stood
    earlier = start + timedelta(days=5)
    back = run_eod(db, settings, earlier, NOW, allow_gap=True)
    assert back.mirror_rebuilt and horizon() == earlier.isoformat()
    assert_matches_loan_show(db, snap(settings, earlier), earlier)


def test_chunks_change_nothing_but_the_files(db: Engine, settings: Settings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a_book(db)
    day = D("2025-03-20")
    run_eod(db, settings, day - timedelta(days=1), NOW)
    whole = run_eod(db, settings, day, NOW)
    one = snap(settings, day)
    monkeypatch.setattr(mirror_module, "CHUNK_LOANS", 2)
    run_eod(db, settings, day - timedelta(days=1), NOW, rebuild_mirror=True)
    split = run_eod(db, settings, day, NOW)
    assert len(list(split.path.glob("part-*.parquet"))) == 3
    assert snap(settings, day).equals(one) and split.summary.equals(whole.summary)


@pytest.mark.parametrize("delta_share", [0.1, 10.0])
def test_quiet_loans_carried_over_equal_a_day_computed_in_full(
        db: Engine, settings: Settings, delta_share: float,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 10: the payments' loans stay in the mirror's delta, read beside the base for days
    monkeypatch.setattr(mirror_module, "DELTA_SHARE", delta_share)
    a_book(db)
    for i in range(6):
        # current loans: their first instalments fall due inside the window or after it
        book(db, f"Q{i}", D("2025-03-01") + timedelta(days=6 * i), term_count=6)
    start = D("2025-03-25")
    carried = 0
    for k in range(25):  # across due dates, a month end, payments on some days
        day = start + timedelta(days=k)
        if k in (3, 11):
            post_payment(db, f"QP{k}", f"Q{k % 6}", 60_000,
                         datetime.combine(day, datetime.min.time()), "bank", "t", NOW)
        fast = run_eod(db, settings, day, NOW)
        rows = snap(settings, day)
        full = run_eod(db, settings, day, NOW, carry=False)
        assert full.carried == 0
        assert snap(settings, day).equals(rows), day
        assert fast.digest == full.digest
        carried += fast.carried
    assert carried > 100  # the quiet path was taken, most days for most loans
