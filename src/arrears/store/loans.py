"""Loan repository: terms and engine state in and out of the database, events, journal rows.

Reads and writes go through the raw DBAPI connection in bulk (see ``bulk``) because posting
moves millions of rows; values are converted here so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from arrears.book.engine import ACCOUNTS, Entry, Line, LoanEngine, LoanStatus
from arrears.book.events import LoanEvent, Payment, Waiver, WriteOff
from arrears.book.terms import (
    AllocationScope,
    Component,
    DpdGrace,
    GracePenalty,
    LoanTerms,
    Method,
    Overpayment,
    Waterfall,
)
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.money import Rounding
from arrears.store import schema
from arrears.store.bulk import execute, fetch, insert_rows, is_postgres, select_in, update_rows

TERM_COLUMNS = (
    "loan_id", "currency", "principal", "annual_rate", "repayment_method", "term_count",
    "period", "disbursed_on", "first_due_on", "basis", "rounding", "month_end", "upfront_fee",
    "service_fee_rate", "service_fee_fixed", "late_fee_fixed", "late_fee_rate",
    "penalty_rate_multiplier", "penalty_rate", "penalty_on_interest", "grace_days",
    "grace_penalty", "dpd_grace", "waterfall", "allocation_scope", "overpayment",
)
STATE_COLUMNS = ("status", "accrued_through", "credit", "recovered", "closed_on", "next_seq",
                 "journal_n", "event_n", "last_event_on", "last_event_at", "version")
LINE_COLUMNS = (
    "loan_id", "seq", "n", "start_on", "due_on", "principal", "interest", "fee",
    *(f"{m}_{c}" for m in ("charged", "paid", "waived", "written_off")
      for c in schema.COMPONENT_COLUMNS),
    "pending_penalty", "grace_done", "live",
)
JOURNAL_COLUMNS = ("loan_id", "n", "event_id", "kind", "value_date", "posted_at", "reverses",
                   *ACCOUNTS)
EVENT_COLUMNS = ("event_id", "loan_id", "n", "kind", "value_date", "amount", "component",
                 "channel",
                 "occurred_at", "target_event_id", "reason", "actor", "status", "content_hash",
                 "ingest_run_id", "recorded_at")


def _d(v: Any) -> date | None:
    """A date from either backend (SQLite hands back ISO strings)."""
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


def _dt(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def terms_from_row(r: Sequence[Any]) -> LoanTerms:
    """``LoanTerms`` from a row in ``TERM_COLUMNS`` order."""
    (_id, currency, principal, rate, method, term_count, period, disbursed, first_due, basis,
     rounding, month_end, upfront, sfr, sff, lff, lfr, mult, prate, poi, grace, gpen, dgrace,
     wf, scope, over) = r
    return LoanTerms(
        principal=int(principal), annual_rate=Decimal(str(rate)), method=Method(method),
        term_count=int(term_count), period=Period.parse(period), start=_d(disbursed),  # type: ignore[arg-type]
        currency=currency, first_due=_d(first_due), basis=DayCount(basis),
        rounding=Rounding(rounding), month_end=MonthEnd(month_end), upfront_fee=int(upfront),
        service_fee_rate=Decimal(str(sfr)), service_fee_fixed=int(sff),
        late_fee_fixed=int(lff), late_fee_rate=Decimal(str(lfr)),
        penalty_multiplier=Decimal(str(mult)), penalty_rate=_dec(prate),
        penalty_on_interest=bool(poi), grace_days=int(grace),
        grace_penalty=GracePenalty(gpen), dpd_grace=DpdGrace(dgrace),
        waterfall=Waterfall(tuple(Component(c) for c in wf.split(",")),
                            AllocationScope(scope)),
        overpayment=Overpayment(over),
    )


def terms_columns(t: LoanTerms) -> dict[str, Any]:
    """The loans-table columns that store ``t`` (inverse of ``terms_from_row``)."""
    return {
        "currency": t.currency, "principal": t.principal, "annual_rate": t.annual_rate,
        "repayment_method": t.method.value, "term_count": t.term_count,
        "period": str(t.period), "disbursed_on": t.start, "first_due_on": t.first_due,
        "basis": t.basis.value, "rounding": t.rounding.value, "month_end": t.month_end.value,
        "upfront_fee": t.upfront_fee, "service_fee_rate": t.service_fee_rate,
        "service_fee_fixed": t.service_fee_fixed, "late_fee_fixed": t.late_fee_fixed,
        "late_fee_rate": t.late_fee_rate, "penalty_rate_multiplier": t.penalty_multiplier,
        "penalty_rate": t.penalty_rate, "penalty_on_interest": t.penalty_on_interest,
        "grace_days": t.grace_days, "grace_penalty": t.grace_penalty.value,
        "dpd_grace": t.dpd_grace.value,
        "waterfall": ",".join(c.value for c in t.waterfall.order),
        "allocation_scope": t.waterfall.scope.value, "overpayment": t.overpayment.value,
    }


def line_from_row(r: Sequence[Any]) -> Line:
    """A line from a row in ``LINE_COLUMNS`` order (integers come back as ints from both
    drivers; only SQLite's ISO date strings need parsing)."""
    start, due = r[3], r[4]
    if not isinstance(start, date):
        start, due = date.fromisoformat(start), date.fromisoformat(due)
    return Line(r[1], r[2], start, due, r[5], r[6], r[7], list(r[8:12]), list(r[12:16]),
                list(r[16:20]), list(r[20:24]), r[24], bool(r[25]), bool(r[26]))


def line_row(loan_id: str, ln: Line) -> tuple[Any, ...]:
    return (loan_id, ln.seq, ln.n, ln.start_on, ln.due_on, ln.principal, ln.interest, ln.fee,
            *ln.charged, *ln.paid, *ln.waived, *ln.written_off, ln.pending_penalty,
            ln.grace_done, ln.live)


@dataclass(slots=True)
class Loaded:
    """An engine as loaded, with what is needed to write back only what changed."""

    engine: LoanEngine
    version: int
    lines_before: dict[int, tuple[Any, ...]]
    last_key: tuple[date, datetime] | None = None  # order key of the last event applied
    journal_n: int = 0  # entries numbered so far (the next is journal_n + 1)
    event_n: int = 0  # events recorded so far

    def number_entries(self, count: int) -> int:
        """Reserve ``count`` entry numbers; returns the first."""
        first = self.journal_n + 1
        self.journal_n += count
        return first

    def number_events(self, count: int) -> int:
        first = self.event_n + 1
        self.event_n += count
        return first


def load_engines(conn: Connection, loan_ids: Sequence[str]) -> dict[str, Loaded]:
    """Engines for the given loans from their stored state (missing ids are absent)."""
    cols = ", ".join((*TERM_COLUMNS, *STATE_COLUMNS))
    rows = select_in(conn, f"SELECT {cols} FROM loans WHERE loan_id {{in}}", loan_ids)
    lines: dict[str, list[Line]] = {}
    before: dict[str, dict[int, tuple[Any, ...]]] = {}
    lcols = ", ".join(LINE_COLUMNS)
    for r in select_in(conn, f"SELECT {lcols} FROM instalments WHERE loan_id {{in}}", loan_ids):
        ln = line_from_row(r)
        lines.setdefault(r[0], []).append(ln)
        before.setdefault(r[0], {})[ln.seq] = line_row(r[0], ln)
    out: dict[str, Loaded] = {}
    nt = len(TERM_COLUMNS)
    for r in rows:
        loan_id = r[0]
        terms = terms_from_row(r[:nt])
        (status, through, credit, recovered, closed_on, next_seq, journal_n, event_n, last_on,
         last_at, version) = r[nt:]
        ls = sorted(lines.get(loan_id, []), key=lambda x: (x.due_on, x.seq))
        eng = LoanEngine(terms, ls, accrued_through=_d(through),  # type: ignore[arg-type]
                         status=LoanStatus(status), credit=int(credit),
                         recovered=int(recovered), closed_on=_d(closed_on))
        eng.next_seq = int(next_seq)
        last = (_d(last_on), _dt(last_at) or datetime.max) if last_on is not None else None
        out[loan_id] = Loaded(eng, int(version), before.get(loan_id, {}), last,  # type: ignore[arg-type]
                              int(journal_n), int(event_n))
    return out


class ConcurrentUpdate(RuntimeError):
    """Another writer changed the loan since it was loaded; retry the operation."""


def save_engines(conn: Connection, loaded: dict[str, Loaded]) -> None:
    """Write back loan state and the instalment lines that changed (optimistic versioning)."""
    state_rows = []
    new_lines: list[tuple[Any, ...]] = []
    changed: list[tuple[Any, ...]] = []
    for loan_id, ld in loaded.items():
        e = ld.engine
        last_on, last_at = ld.last_key if ld.last_key is not None else (None, None)
        if last_at == datetime.max:
            last_at = None
        state_rows.append((
            e.status.value, e.accrued_through, e.credit, e.recovered, e.closed_on, e.next_seq,
            ld.journal_n, ld.event_n, last_on, last_at, ld.version + 1, loan_id, ld.version))
        before = ld.lines_before
        after = {}
        for ln in e.lines:
            row = line_row(loan_id, ln)
            after[ln.seq] = row
            old = before.get(ln.seq)
            if old is None:
                new_lines.append(row)
            elif old != row:
                changed.append((*row[5:], loan_id, ln.seq))
        ld.version += 1
        ld.lines_before = after
    _update_state(conn, state_rows)
    insert_rows(conn, schema.loan_changes, ("loan_id",), [(k,) for k in loaded])
    update_rows(conn, schema.instalments, ("loan_id", "seq"), LINE_COLUMNS[5:], changed)
    insert_rows(conn, schema.instalments, LINE_COLUMNS, new_lines)


def _update_state(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    cols = STATE_COLUMNS
    if is_postgres(conn) and len(rows) > 200:
        # one set-based update; the version check becomes a count check
        n = update_rows(conn, schema.loans, ("loan_id", "version"), cols[:-1],
                        [(*r[:-3], r[-2], r[-1]) for r in rows], bump="version")
        if n != len(rows):
            raise ConcurrentUpdate(f"{len(rows) - n} loans changed while they were being posted")
        return
    sql = (f"UPDATE loans SET {', '.join(f'{c} = ?' for c in cols)} "
           f"WHERE loan_id = ? AND version = ?")
    for r in rows:
        if execute(conn, sql, r) != 1:
            raise ConcurrentUpdate(f"loan {r[-2]} changed while it was being posted")


def journal_rows(ld: Loaded, loan_id: str, entries: Sequence[Entry],
                 posted_at: datetime) -> list[tuple[Any, ...]]:
    """Journal rows for the loan's new entries, numbered after its last entry."""
    first = ld.number_entries(len(entries))
    return [(loan_id, first + i, e.event_id, e.kind.value, e.value_date, posted_at, None,
             *(e.amounts.get(a, 0) for a in ACCOUNTS)) for i, e in enumerate(entries)]


def write_journal(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    return insert_rows(conn, schema.journal, JOURNAL_COLUMNS, rows)


def event_from_row(kind: str, event_id: str, value_date: Any, amount: Any, component: Any,
                   channel: Any, reason: Any, at: Any) -> LoanEvent:
    d = _d(value_date)
    assert d is not None
    when = _dt(at)
    if kind == "payment":
        return Payment(event_id, d, int(amount), channel or "", when)
    if kind == "waiver":
        return Waiver(event_id, d, Component(component),
                      None if amount is None else int(amount), reason or "", when)
    if kind == "write-off":
        return WriteOff(event_id, d, reason or "", when)
    raise ValueError(f"event {event_id}: kind {kind!r} is not replayable")


def effective_events(conn: Connection, loan_id: str) -> list[LoanEvent]:
    """The loan's events that count, in the order the engine replays them."""
    rows = fetch(conn, "SELECT kind, event_id, value_date, amount, component, channel, "
                       "reason, COALESCE(occurred_at, recorded_at) FROM loan_events "
                       "WHERE loan_id = ? AND status = 'effective' "
                       "AND kind IN ('payment', 'waiver', 'write-off') "
                       "ORDER BY value_date, COALESCE(occurred_at, recorded_at), n", (loan_id,))
    return [event_from_row(*r) for r in rows]
