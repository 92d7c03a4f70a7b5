"""Posting events to loans: the only way balances change.

One path for one payment and for a million: events are grouped by loan, each loan's engine is
loaded once, its new events are applied in value-date order, and the journal rows, event rows
and changed instalment lines are written in one transaction per batch.

* In-order events (value date on or after the loan's last processed day) are applied
  incrementally.
* A backdated event, or a reversal, restates the loan: every journal entry not yet reversed is
  reversed (same value dates, so history is restated, not rewritten), the loan is replayed from
  its terms and effective events, and the replay's entries are posted. Balances then equal a
  replay from scratch by construction — ``services.reconcile`` checks exactly that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from arrears.book.engine import EngineError, Entry, LoanEngine, replay
from arrears.book.events import LoanEvent, Payment, Waiver, WriteOff, order_key
from arrears.store import schema
from arrears.store.bulk import fetch, insert_rows
from arrears.store.loans import (
    EVENT_COLUMNS,
    LINE_COLUMNS,
    Loaded,
    effective_events,
    journal_rows,
    line_row,
    load_engines,
    save_engines,
    write_journal,
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record and post, with where it came from (for error messages)."""

    loan_id: str
    event: LoanEvent
    content_hash: str
    occurred_at: datetime | None = None
    ingest_run_id: int | None = None
    actor: str | None = None
    ref: Any = None  # the caller's reference, e.g. the file row


@dataclass(frozen=True, slots=True)
class Rejected:
    ref: Any
    event_id: str
    loan_id: str
    reason: str


@dataclass(slots=True)
class BatchOutcome:
    posted: int = 0
    restated_loans: int = 0
    journal_rows: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    entries: dict[str, list[Entry]] = field(default_factory=dict)  # per event id


def content_hash(*parts: object) -> str:
    """A stable fingerprint of an input's content, to tell a duplicate from a conflict."""
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts)
                          .encode()).hexdigest()


def _event_rows(ld: Loaded, news: Sequence[NewEvent],
                recorded_at: datetime) -> list[tuple[Any, ...]]:
    """Rows for the loan's newly recorded events, numbered after its last one."""
    first = ld.number_events(len(news))
    return [_event_row(ne, first + i, recorded_at) for i, ne in enumerate(news)]


def _event_row(ne: NewEvent, n: int, recorded_at: datetime) -> tuple[Any, ...]:
    ev = ne.event
    amount = component = channel = reason = None
    if isinstance(ev, Payment):
        amount, channel = ev.amount, ev.channel
    elif isinstance(ev, Waiver):
        amount, component, reason = ev.amount, ev.component.value, ev.reason
    elif isinstance(ev, WriteOff):
        reason = ev.reason
    return (ev.event_id, ne.loan_id, n, ev.kind.value, ev.value_date, amount, component,
            channel, ne.occurred_at, None, reason, ne.actor, "effective", ne.content_hash,
            ne.ingest_run_id, recorded_at)


def post_batch(conn: Connection, by_loan: dict[str, list[NewEvent]],
               posted_at: datetime) -> BatchOutcome:
    """Record and post new events for many loans inside the caller's transaction.

    Events the loan cannot take are returned as rejected and not recorded; the others are.
    """
    out = BatchOutcome()
    loaded = load_engines(conn, list(by_loan))
    event_rows: list[tuple[Any, ...]] = []
    jrows: list[tuple[Any, ...]] = []
    incremental: dict[str, Loaded] = {}
    restated: dict[str, Loaded] = {}
    for loan_id, news in by_loan.items():
        ld = loaded.get(loan_id)
        if ld is None:
            out.rejected.extend(Rejected(n.ref, n.event.event_id, loan_id,
                                         f"unknown loan {loan_id}") for n in news)
            continue
        start = ld.engine.terms.start
        early = [n for n in news if n.event.value_date < start]
        out.rejected.extend(Rejected(n.ref, n.event.event_id, loan_id,
                                     f"{n.event.kind.value} {n.event.event_id} on "
                                     f"{n.event.value_date} is before the loan started on "
                                     f"{start}") for n in early)
        news = sorted((n for n in news if n.event.value_date >= start),
                      key=lambda n: order_key(n.event))
        if not news:
            continue
        first = order_key(news[0].event)
        if first[0] < ld.engine.accrued_through or (ld.last_key is not None
                                                     and first < ld.last_key):
            accepted, ld = _restate(conn, loan_id, ld, news, posted_at, out)
            restated[loan_id] = ld
        else:
            accepted = _apply_in_order(ld.engine, news, out)
            if accepted:
                ld.last_key = order_key(accepted[-1].event)
            incremental[loan_id] = ld
            entries = ld.engine.take_entries()
            _collect(out, entries)
            jrows.extend(journal_rows(ld, loan_id, entries, posted_at))
        event_rows.extend(_event_rows(ld, accepted, posted_at))
        out.posted += len(accepted)
    insert_rows(conn, schema.loan_events, EVENT_COLUMNS, event_rows)
    out.journal_rows += write_journal(conn, jrows)
    save_engines(conn, incremental)
    for loan_id, ld in restated.items():
        replace_state(conn, loan_id, ld)
    return out


def _collect(out: BatchOutcome, entries: list[Entry]) -> None:
    for e in entries:
        if e.event_id:
            out.entries.setdefault(e.event_id, []).append(e)


def _apply_in_order(eng: LoanEngine, news: Sequence[NewEvent],
                    out: BatchOutcome) -> list[NewEvent]:
    accepted = []
    for n in news:
        try:
            # the engine checks an event before changing anything, so a refused event leaves
            # only the (deterministic) accrual up to its date behind
            eng.apply(n.event)
        except EngineError as exc:
            out.rejected.append(Rejected(n.ref, n.event.event_id, n.loan_id, str(exc)))
            continue
        accepted.append(n)
    return accepted


def _restate(conn: Connection, loan_id: str, ld: Loaded, news: Sequence[NewEvent],
             posted_at: datetime, out: BatchOutcome,
             drop: frozenset[str] = frozenset()) -> tuple[list[NewEvent], Loaded]:
    """Replay the loan with its effective events plus ``news`` (minus ``drop``), reverse its
    journal and post the replay; returns the events accepted and the replayed loan, whose
    state the caller writes (``replace_state``). A new event that would make an existing one
    impossible is rejected, never the existing one."""
    existing = [e for e in effective_events(conn, loan_id) if e.event_id not in drop]
    through = ld.engine.accrued_through
    accepted: list[NewEvent] = []
    engine = _replay(ld.engine, existing, [], through)
    if engine is None:
        raise EngineError(f"loan {loan_id}: its recorded events no longer replay")
    for n in news:
        trial = _replay(ld.engine, existing, [*(a.event for a in accepted), n.event], through)
        if trial is None:
            out.rejected.append(Rejected(
                n.ref, n.event.event_id, loan_id,
                f"backdated {n.event.kind.value} on {n.event.value_date} cannot be posted: "
                f"{_why(ld.engine, existing, [*(a.event for a in accepted), n.event])}"))
            continue
        accepted.append(n)
        engine = trial
    reverse_journal(conn, loan_id, posted_at, ld)
    keys = [order_key(e) for e in (*existing, *(a.event for a in accepted))]
    fresh = Loaded(engine, ld.version, {}, max(keys) if keys else None, ld.journal_n,
                   ld.event_n)
    entries = engine.take_entries()
    _collect(out, entries)
    out.journal_rows += write_journal(conn, journal_rows(fresh, loan_id, entries, posted_at))
    out.restated_loans += 1
    return accepted, fresh


def _merge(existing: Sequence[LoanEvent], new: Sequence[LoanEvent]) -> list[LoanEvent]:
    # recorded events first on a tie: they were recorded earlier (stable sort)
    return sorted([*existing, *new], key=order_key)


def _replay(current: LoanEngine, existing: Sequence[LoanEvent], new: Sequence[LoanEvent],
            through: date) -> LoanEngine | None:
    try:
        eng = replay(current.terms, _merge(existing, new))
        eng.advance_to(max(through, eng.accrued_through))
        return eng
    except EngineError:
        return None


def _why(current: LoanEngine, existing: Sequence[LoanEvent], new: Sequence[LoanEvent]) -> str:
    try:
        replay(current.terms, _merge(existing, new))
    except EngineError as exc:
        return str(exc)
    return "replay failed"


def reverse_journal(conn: Connection, loan_id: str, posted_at: datetime, ld: Loaded) -> int:
    """Reverse every entry of the loan that is not itself a reversal and not yet reversed
    (same value dates: history is restated, not rewritten)."""
    from arrears.book.engine import ACCOUNTS  # local: keeps the module header short
    cols = ", ".join(("n", "event_id", "kind", "value_date", *ACCOUNTS))
    rows = fetch(conn, f"SELECT {cols} FROM journal j WHERE loan_id = ? AND reverses IS NULL "
                       f"AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.loan_id = j.loan_id "
                       f"AND r.reverses = j.n) ORDER BY n", (loan_id,))
    first = ld.number_entries(len(rows))
    mirror = [(loan_id, first + i, r[1], r[2], r[3], posted_at, r[0],
               *(-int(v) for v in r[4:])) for i, r in enumerate(rows)]
    from arrears.store.loans import JOURNAL_COLUMNS
    return insert_rows(conn, schema.journal, JOURNAL_COLUMNS, mirror)


def replace_state(conn: Connection, loan_id: str, ld: Loaded) -> None:
    """Write a replayed engine over the stored one (all lines rewritten)."""
    conn.execute(schema.instalments.delete().where(schema.instalments.c.loan_id == loan_id))
    ld.lines_before = {}
    save_engines(conn, {loan_id: ld})


class ReversalError(ValueError):
    """A reversal that cannot be done (names the event and why)."""


def reverse_event(conn: Connection, target_id: str, reversal_id: str, on: date, reason: str,
                  actor: str, posted_at: datetime) -> BatchOutcome:
    """Reverse a posted payment, waiver or write-off; the loan is restated without it.

    Idempotent by ``reversal_id``: the same reversal again changes nothing.
    """
    ev = schema.loan_events
    from sqlalchemy import select
    row = conn.execute(select(ev.c.loan_id, ev.c.kind, ev.c.status, ev.c.target_event_id)
                       .where(ev.c.event_id == reversal_id)).first()
    if row is not None:
        if row.kind != "reversal" or row.target_event_id != target_id:
            raise ReversalError(f"{reversal_id} is already used by another event")
        return BatchOutcome()
    target = conn.execute(select(ev.c.loan_id, ev.c.kind, ev.c.status)
                          .where(ev.c.event_id == target_id)).first()
    if target is None:
        raise ReversalError(f"no event {target_id}")
    if target.kind == "reversal" or target.status != "effective":
        raise ReversalError(f"{target_id} is a {target.kind} with status {target.status}; "
                            "only an effective payment, waiver or write-off can be reversed")
    loaded = load_engines(conn, [target.loan_id])[target.loan_id]
    conn.execute(ev.update().where(ev.c.event_id == target_id).values(status="reversed"))
    vals = (reversal_id, target.loan_id, loaded.number_events(1), "reversal", on, None, None,
            None, None, target_id, reason, actor, "effective",
            content_hash("reversal", target_id), None, posted_at)
    insert_rows(conn, ev, EVENT_COLUMNS, [vals])
    out = BatchOutcome()
    _, fresh = _restate(conn, target.loan_id, loaded, [], posted_at, out)
    replace_state(conn, target.loan_id, fresh)
    out.posted = 1
    return out


__all__ = ["LINE_COLUMNS", "BatchOutcome", "NewEvent", "Rejected", "content_hash",
           "line_row", "post_batch", "reverse_journal"]
