"""The limitation clock (诉讼时效): the last day a claim can be brought, and why.

Rules come from the pack (``pack.limitation.rules(region)``, CN.md §6.2). For CN:

- the period is 3 years (Civil Code Art. 188), for an instalment debt from the last
  instalment's due date (Art. 189);
- the start day is not counted (Art. 201): it ends on the corresponding day 3 years on, or on
  the last day of that month when there is none — 2024-02-29 → 2027-02-28 (Art. 202); a last
  day on a statutory rest day (weekends included, working weekends 调休 not) moves to the day
  after the rest ends (Art. 203);
- an interrupting event (demand that reaches the debtor, auto-debit, payment, promise, plan,
  suit …) restarts the whole period from its day (Art. 195); a kind the rules mark
  ``restarts: never`` is known but changes nothing. Only a *running* period can be
  interrupted: an event on or before the start (a payment before the last due date) changes
  nothing, and an event after the period ended does not revive it (the claim stays
  time-barred; a promise or payment then may waive the defence, Art. 192 — a legal judgment
  the reason mentions, not computed). Events are taken in date order, so one that restarted
  the period moves the end on which the next is tested. After a suit, payment order,
  enforcement or mediation request the period restarts when the proceedings end (Art. 195);
  with only the application day known it is counted from that day, the earliest possible;
- the 20-year long stop from the first default (Art. 188(2)) caps the deadline whatever the
  interruptions, when the first default is given.

Rest days come from ``chinese-calendar`` (2004–2026 in the pinned version). Outside its data a
last day is **not** moved, and the reason says so: the date shown is then never later than the
legal one. Suspension (Art. 194) is not computed. The columnar twin is
``book.vector_limitation``; both render the same templates, so the reasons match to the
character.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

from arrears.calendar import MonthEnd, add_months
from arrears.rules.delinquency_data import (
    InterruptionKind,
    LimitationRules,
    LimitationSection,
    Restart,
    StartRule,
)

Event = tuple[str, date]  # (kind, day), e.g. ("payment", date(2027, 1, 15))


class Roll(StrEnum):
    """What the rest-day rule did to a period's last day."""

    NONE = "none"  # a working day (or no rest-day calendar in these rules)
    ROLLED = "rolled"  # a rest day: moved to the next working day
    UNCHECKED = "unchecked"  # beyond the calendar's data: left where it is


@dataclass(frozen=True, slots=True)
class RestDays:
    """A rest-day calendar as a table: each rest day in ``[first, last]`` → the next working
    day (None when that lies beyond the data)."""

    name: str
    first: date | None
    last: date | None
    moved: Mapping[date, date | None]

    @property
    def years(self) -> str:
        if self.first is None or self.last is None:
            return "—"
        return f"{self.first.year}–{self.last.year}"

    def last_day(self, day: date) -> tuple[date, Roll]:
        """The last day of a period whose corresponding day is ``day`` (Art. 203)."""
        if self.first is None or self.last is None or not self.first <= day <= self.last:
            return day, Roll.UNCHECKED
        if day not in self.moved:
            return day, Roll.NONE
        to = self.moved[day]
        return (day, Roll.UNCHECKED) if to is None else (to, Roll.ROLLED)


@lru_cache(maxsize=4)
def rest_days(name: str) -> RestDays:
    """The rest-day table ``name`` ("CN": statutory holidays and weekends, with 调休 working
    weekends as working days, from ``chinese-calendar``)."""
    if name != "CN":
        raise ValueError(f"unknown rest-day calendar {name!r}")
    try:
        cc = importlib.import_module("chinese_calendar")
    except ImportError:  # pragma: no cover - a pinned dependency; kept safe all the same
        return RestDays(name, None, None, MappingProxyType({}))
    holidays, workdays = set(cc.holidays), set(cc.workdays)
    years = sorted({d.year for d in holidays} | {d.year for d in workdays})
    first, last = date(years[0], 1, 1), date(years[-1], 12, 31)
    moved: dict[date, date | None] = {}
    pending: list[date] = []  # rest days waiting for the next working day
    day = first
    while day <= last:
        # chinese-calendar's own rule (``is_workday``), on its tables: a 调休 working day, or
        # a weekday that is not a holiday — its function checks the range on every call
        if day in workdays or (day.weekday() < 5 and day not in holidays):
            moved.update((p, day) for p in pending)
            pending = []
        else:
            pending.append(day)
        day += timedelta(days=1)
    moved.update((p, None) for p in pending)  # the next working day is beyond the data
    return RestDays(name, first, last, MappingProxyType(moved))


def period_end(start: date, years: int, holidays: str | None) -> tuple[date, date, Roll]:
    """``(corresponding day, last day, roll)`` of a period of ``years`` from ``start`` (start day
    not counted): the corresponding day, or the month's last day when there is none (Art. 202),
    then moved off a rest day (Art. 203)."""
    u = add_months(start, 12 * years, MonthEnd.CLAMP)
    if holidays is None:
        return u, u, Roll.NONE
    r, roll = rest_days(holidays).last_day(u)
    return u, r, roll


@dataclass(frozen=True, slots=True)
class Limitation:
    deadline: date  # the last day to sue or interrupt; after it the claim is time-barred
    start: date  # the day the running period counts from
    restarted_by: str | None  # the event kind that restarted it; None = the start rule
    reason: str  # "3 年，自 … 起算（…） / 3 years from … (…)"
    long_stop: date | None = None  # last day of the long stop, when the first default is known
    late_event: Event | None = None  # the first event after the period ended (no effect)

    def expired(self, on: date) -> bool:
        return on > self.deadline


# --- the reason's wording: one template per clause, rendered by the scalar and the vector form --

Text = tuple[str, str]  # (zh, en)


def main_text(r: LimitationRules, start: str) -> Text:
    return (f"{r.years} 年，自{r.start_zh} {start} 起算（{r.basis_zh}）",
            f"{r.years} years from {r.start_en} {start} ({r.basis_en})")


def restart_text(r: LimitationRules, start: str, kind: str, kind_zh: str, basis_zh: str,
                 basis_en: str) -> Text:
    return (f"{r.years} 年，自 {start} {kind_zh}（{kind}）起算（{r.restart_zh}；{basis_zh}）",
            f"{r.years} years from {kind} on {start} ({r.restart_en}; {basis_en})")


def proceedings_text(start: str) -> Text:
    return (f"；程序终结后重新起算，此处自 {start} 计，为最早可能之日",
            f"; the period restarts when the proceedings end — counted here from {start}, "
            "the earliest it can be")


def long_stop_text(r: LimitationRules, first_default: str, end: str) -> Text:
    return (f"；受 {r.long_stop_years} 年最长保护期限制：自首次违约 {first_default} 起至 {end}"
            f"（{r.long_stop_zh}）",
            f"; capped by the {r.long_stop_years}-year long stop from the first default "
            f"{first_default}: {end} ({r.long_stop_en})")


def month_end_text(r: LimitationRules, end: str) -> Text:
    return (f"；到期月无对应日，以月末 {end} 为期间最后一日（{r.end_zh}）",
            f"; no corresponding day in that month: the period ends on its last day {end} "
            f"({r.end_en})")


def rolled_text(r: LimitationRules, end: str, moved_to: str) -> Text:
    return (f"；{end} 为法定休假日，顺延至 {moved_to}（{r.end_zh}）",
            f"; {end} is a statutory rest day: moved to {moved_to} ({r.end_en})")


def unchecked_text(r: LimitationRules, end: str, years: str) -> Text:
    return (f"；{end} 超出节假日数据（{years} 年），未核是否法定休假日，未顺延",
            f"; {end} is beyond the holiday data ({years}): not checked for a rest day and "
            f"not moved (the legal deadline may be later, {r.end_en})")


def late_text(r: LimitationRules, kind: str, kind_zh: str, on: str, deadline: str) -> Text:
    return (f"；{on} {kind_zh}（{kind}）发生在时效届满（{deadline}）之后，不中断时效"
            f"（{r.after_expiry_zh}）",
            f"; {kind} on {on} came after the period ended on {deadline} and does not "
            f"interrupt it ({r.after_expiry_en})")


# --- the clock -----------------------------------------------------------------------------------


def limitation_deadline(last_due: date, events: Iterable[Event],
                        rules: LimitationRules | LimitationSection,
                        first_default: date | None = None) -> Limitation:
    """The limitation deadline of a debt whose last instalment fell due on ``last_due``, after
    the interrupting ``events`` (any order), with the long stop from ``first_default`` (the
    due date of the first instalment left unpaid) when given. Raises ``RuleError`` for an event
    kind the rules do not know, ``ValueError`` when the rules start from the first default and
    it is not given. ``rules`` may be a pack's whole section (its default regime is used)."""
    if isinstance(rules, LimitationSection):
        rules = rules.rules()
    evs = sorted(((rules.event(k), on) for k, on in events), key=lambda e: (e[1], e[0].rank))
    base = _base(last_due, first_default, rules)
    ls = (None if rules.long_stop_years is None or first_default is None
          else period_end(first_default, rules.long_stop_years, rules.holidays))

    def capped(anchor: date) -> date:
        end = period_end(anchor, rules.years, rules.holidays)[1]
        return end if ls is None else min(end, ls[1])

    start, by, late = base, None, None
    deadline = capped(base)
    for ev, on in evs:
        if ev.restarts is Restart.NEVER:
            continue
        if on > deadline:  # the period had ended: nothing left to interrupt
            late = (ev, on)
            break
        if on > start:
            start, by, deadline = on, ev, capped(on)
    return Limitation(deadline, start, None if by is None else by.kind,
                      _reason(rules, start, by, first_default, ls, late, deadline),
                      None if ls is None else ls[1],
                      None if late is None else (late[0].kind, late[1]))


def _base(last_due: date, first_default: date | None, rules: LimitationRules) -> date:
    if rules.start is StartRule.LAST_INSTALMENT_DUE:
        return last_due
    if first_default is None:
        raise ValueError(f"these rules ({rules.region or 'default'}) run the period from the "
                         "first default: give first_default")
    return first_default


def _reason(rules: LimitationRules, start: date, by: InterruptionKind | None,
            first_default: date | None, ls: tuple[date, date, Roll] | None,
            late: tuple[InterruptionKind, date] | None, deadline: date) -> str:
    s = start.isoformat()
    parts = [main_text(rules, s) if by is None else
             restart_text(rules, s, by.kind, by.zh, by.basis_zh, by.basis_en)]
    if by is not None and by.restarts is Restart.PROCEEDINGS_END:
        parts.append(proceedings_text(s))
    u, r, roll = period_end(start, rules.years, rules.holidays)
    anchor = start
    if ls is not None and first_default is not None and ls[1] < r:
        u, r, roll = ls
        anchor = first_default
        parts.append(long_stop_text(rules, first_default.isoformat(), u.isoformat()))
    if u.day != anchor.day:
        parts.append(month_end_text(rules, u.isoformat()))
    if roll is Roll.ROLLED:
        parts.append(rolled_text(rules, u.isoformat(), r.isoformat()))
    elif roll is Roll.UNCHECKED and rules.holidays is not None:
        parts.append(unchecked_text(rules, u.isoformat(), rest_days(rules.holidays).years))
    if late is not None:
        parts.append(late_text(rules, late[0].kind, late[0].zh, late[1].isoformat(),
                               deadline.isoformat()))
    return join(parts)


def join(parts: list[Text]) -> str:
    """``zh … / en …``: the Chinese clauses, then the English ones."""
    return "".join(p[0] for p in parts) + " / " + "".join(p[1] for p in parts)
