"""Single-loan operations for people and the API: post one payment, reverse one, waive,
write off — each a transaction with an audit record — and read a loan as of a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, select

from arrears.book.engine import EngineError, Entry, replay
from arrears.book.events import LoanEvent, Payment, Waiver, WriteOff
from arrears.book.terms import Component
from arrears.book.views import LoanSnapshot, snapshot
from arrears.contract.fingerprint import payment_fingerprint
from arrears.services import audit
from arrears.services.posting import NewEvent, content_hash, post_batch, reverse_event
from arrears.store import schema
from arrears.store.loans import effective_events, load_engines


class OperationError(ValueError):
    """An operation refused, with the reason in words."""


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    loan_id: str
    status: str  # posted | duplicate | restated | reversed
    entries: tuple[Entry, ...]


def _existing(conn: Connection, event_id: str) -> tuple[str, str] | None:
    ev = schema.loan_events
    row = conn.execute(select(ev.c.content_hash, ev.c.loan_id)
                       .where(ev.c.event_id == event_id)).first()
    return None if row is None else (row[0], row[1])


def _post_one(engine: Engine, loan_id: str, event: LoanEvent, digest: str, actor: str,
              now: datetime, occurred_at: datetime | None = None) -> Outcome:
    with engine.begin() as conn:
        known = _existing(conn, event.event_id)
        if known is not None:
            if known[0] != digest:
                raise OperationError(f"{event.event_id} is already recorded with different "
                                     "content")
            return Outcome(event.event_id, known[1], "duplicate", ())
        out = post_batch(conn, {loan_id: [NewEvent(loan_id, event, digest, occurred_at,
                                                   actor=actor)]}, now)
        if out.rejected:
            raise OperationError(out.rejected[0].reason)
        audit.record(conn, now, actor, f"{event.kind.value}.posted", f"loan:{loan_id}",
                     {"event_id": event.event_id, "value_date": event.value_date,
                      "restated": bool(out.restated_loans)})
        status = "restated" if out.restated_loans else "posted"
        return Outcome(event.event_id, loan_id, status,
                       tuple(out.entries.get(event.event_id, ())))


def post_payment(engine: Engine, payment_id: str, loan_id: str, amount: int,
                 paid_at: datetime, channel: str, actor: str, now: datetime) -> Outcome:
    """One payment through the same path as a file of them (idempotent by payment id)."""
    digest = payment_fingerprint(loan_id, amount, paid_at, channel)
    return _post_one(engine, loan_id,
                     Payment(payment_id, paid_at.date(), amount, channel, paid_at),
                     digest, actor, now, paid_at)


def waive(engine: Engine, event_id: str, loan_id: str, component: Component,
          amount: int | None, on: date, reason: str, actor: str, now: datetime) -> Outcome:
    """Waive ``amount`` of a component (``None``: all outstanding on ``on``, resolved now to a
    fixed amount, so the approval states a number and a later restatement cannot change it)."""
    if not reason.strip():
        raise OperationError("a waiver needs a reason")
    digest = content_hash("waiver", loan_id, component, amount, on, reason)
    with engine.connect() as conn:
        known = _existing(conn, event_id)
    if amount is None and known is None:
        amount = loan_as_of(engine, loan_id, on).outstanding[component]
        if amount <= 0:
            raise OperationError(f"loan {loan_id} owes no {component.value} on {on}")
    return _post_one(engine, loan_id, Waiver(event_id, on, component, amount, reason, now),
                     digest, actor, now, now)


def write_off(engine: Engine, event_id: str, loan_id: str, on: date, reason: str, actor: str,
              now: datetime) -> Outcome:
    if not reason.strip():
        raise OperationError("a write-off needs a reason")
    digest = content_hash("write-off", loan_id, on, reason)
    return _post_one(engine, loan_id, WriteOff(event_id, on, reason, now), digest, actor, now,
                     now)


def reverse(engine: Engine, target_id: str, reversal_id: str, on: date, reason: str,
            actor: str, now: datetime) -> Outcome:
    if not reason.strip():
        raise OperationError("a reversal needs a reason")
    with engine.begin() as conn:
        try:
            out = reverse_event(conn, target_id, reversal_id, on, reason, actor, now)
        except (ValueError, EngineError) as exc:
            raise OperationError(str(exc)) from exc
        if not out.posted:
            return Outcome(reversal_id, "", "duplicate", ())
        loan_id = conn.execute(select(schema.loan_events.c.loan_id).where(
            schema.loan_events.c.event_id == target_id)).scalar_one()
        audit.record(conn, now, actor, "event.reversed", f"loan:{loan_id}",
                     {"target": target_id, "reversal": reversal_id, "reason": reason})
        return Outcome(reversal_id, loan_id, "reversed", ())


@dataclass(frozen=True, slots=True)
class LoanFacts:
    """What the contract and the booking-time legal checks say about a loan."""

    loan_id: str
    borrower_id: str
    product_code: str | None
    lender_type: str
    contract_signed_on: date
    principal: int
    upfront_fee: int
    net_disbursed: int  # the amount actually lent: the legal principal (Civil Code Art. 670)
    cost_cap_rate: object
    all_in_rate: object
    cap_excess: object
    cap_basis: str | None


def loan_facts(engine: Engine, loan_id: str) -> LoanFacts:
    t = schema.loans
    with engine.connect() as conn:
        r = conn.execute(select(t.c.borrower_id, t.c.product_code, t.c.lender_type,
                                t.c.contract_signed_on, t.c.principal, t.c.upfront_fee,
                                t.c.cost_cap_rate, t.c.all_in_rate, t.c.cap_excess,
                                t.c.cap_basis).where(t.c.loan_id == loan_id)).first()
    if r is None:
        raise OperationError(f"no loan {loan_id}")
    return LoanFacts(loan_id, r.borrower_id, r.product_code, r.lender_type,
                     r.contract_signed_on, r.principal, r.upfront_fee,
                     r.principal - r.upfront_fee, r.cost_cap_rate, r.all_in_rate,
                     r.cap_excess, r.cap_basis)


def loan_as_of(engine: Engine, loan_id: str, as_of: date) -> LoanSnapshot:
    """The loan as of the end of ``as_of``. Before the stored state's day the loan is replayed
    from its events up to that day — the same engine, so both agree by construction."""
    with engine.connect() as conn:
        loaded = load_engines(conn, [loan_id]).get(loan_id)
        if loaded is None:
            raise OperationError(f"no loan {loan_id}")
        eng = loaded.engine
        if as_of < eng.accrued_through:
            events = [e for e in effective_events(conn, loan_id) if e.value_date <= as_of]
            if as_of < eng.terms.start:
                raise OperationError(f"loan {loan_id} starts on {eng.terms.start}")
            eng = replay(eng.terms, events, through=as_of)
    return snapshot(eng, as_of)
