"""Loan events: the inputs the engine replays. Every event carries an external id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from arrears.book.terms import Component


class EventKind(StrEnum):
    PAYMENT = "payment"
    WAIVER = "waiver"
    WRITE_OFF = "write-off"
    REVERSAL = "reversal"


@dataclass(frozen=True, slots=True)
class Payment:
    event_id: str
    value_date: date
    amount: int
    channel: str = ""
    at: datetime | None = None  # when it happened (orders events within a value date)

    kind = EventKind.PAYMENT


@dataclass(frozen=True, slots=True)
class Waiver:
    """Forgive ``amount`` (or all outstanding when ``None``) of one component, oldest first."""

    event_id: str
    value_date: date
    component: Component
    amount: int | None = None
    reason: str = ""
    at: datetime | None = None

    kind = EventKind.WAIVER


@dataclass(frozen=True, slots=True)
class WriteOff:
    event_id: str
    value_date: date
    reason: str = ""
    at: datetime | None = None

    kind = EventKind.WRITE_OFF


LoanEvent = Payment | Waiver | WriteOff


def order_key(ev: LoanEvent) -> tuple[date, datetime]:
    """Events apply in value-date order, and within a day in the order they happened (a
    payment's arrival time, an operation's time); ties keep the order they were recorded in."""
    return ev.value_date, ev.at or datetime.max
