"""The loan engine for whole portfolios: ``LoanEngine.advance_to`` and payments as columns.

The state of a book is two Polars frames, equal field for field to the scalar engines they
stand for (``frames_from_engines``/``engines_from_frames`` convert both ways):

* ``loans`` (``LOAN_SCHEMA``): one row per loan, sorted by ``loan_id``: the stored terms
  (``store.loans.TERM_COLUMNS``; rates are exact decimal texts) and the engine state
  ``status, accrued_through, credit, recovered, closed_on, next_seq``.
* ``lines`` (``LINE_SCHEMA``): one row per instalment line, sorted by ``loan_id, due_on, seq``:
  ``store.loans.LINE_COLUMNS``.

``advance`` and ``post_payments`` are pure: new frames, a journal frame (``ENTRY_SCHEMA``, the
scalar engine's entries per loan in its order) and the rejected payments. Equality with the
scalar engine to the fen is proved by ``tests/book/test_vector_engine.py``.

How it is vectorised. Between key dates (due dates, grace expiries) a line's penalty base is
constant and lines do not interact, so a whole span is one closed form per line: n days =
n × the rounded daily amount, split into pending (within grace) and charged days, cut at month
ends into the chunks ``_advance_chunk`` would post. Only a credit balance couples the lines of
a loan (it is applied by the waterfall at every key date): those loans are walked key date by
key date (rounds), which is a loop over rounds, never over loans. ``post_payments`` handles the
k-th payment of every loan in round k: advance, allocate by a cumulative-sum waterfall over the
(line, component) steps, then the overpayment rule. A partial prepayment with a reschedule
(reduce-term, reduce-instalment) is the one case handed to the scalar engine, for that loan
from that payment on, and counted (``Posted.fallbacks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.book.engine import (
    ACCOUNTS,
    EngineError,
    Entry,
    EntryKind,
    Line,
    LoanEngine,
    LoanStatus,
)
from arrears.book.events import Payment
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
from arrears.book.vector import _rationals, div_round_expr, rounding_code
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.money import Rounding

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

COMPONENT_NAMES = ("fee", "penalty", "interest", "principal")  # engine index order
MEASURES = ("charged", "paid", "waived", "written_off")
FEE, PEN, INT, PRI = 0, 1, 2, 3

LOAN_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "currency": pl.String, "principal": pl.Int64,
    "annual_rate": pl.String, "repayment_method": pl.String, "term_count": pl.Int32,
    "period": pl.String, "disbursed_on": pl.Date, "first_due_on": pl.Date, "basis": pl.String,
    "rounding": pl.String, "month_end": pl.String, "upfront_fee": pl.Int64,
    "service_fee_rate": pl.String, "service_fee_fixed": pl.Int64, "late_fee_fixed": pl.Int64,
    "late_fee_rate": pl.String, "penalty_rate_multiplier": pl.String, "penalty_rate": pl.String,
    "penalty_on_interest": pl.Boolean, "grace_days": pl.Int32, "grace_penalty": pl.String,
    "dpd_grace": pl.String, "waterfall": pl.String, "allocation_scope": pl.String,
    "overpayment": pl.String,
    # state
    "status": pl.String, "accrued_through": pl.Date, "credit": pl.Int64,
    "recovered": pl.Int64, "closed_on": pl.Date, "next_seq": pl.Int32,
}
"""One row per loan. The terms are ``store.loans.TERM_COLUMNS`` (rates and the multiplier as
exact decimal texts, ``penalty_rate`` null when the multiplier applies); the rest is state."""

LINE_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "seq": pl.Int32, "n": pl.Int32, "start_on": pl.Date,
    "due_on": pl.Date, "principal": pl.Int64, "interest": pl.Int64, "fee": pl.Int64,
    **{f"{m}_{c}": pl.Int64 for m in MEASURES for c in COMPONENT_NAMES},
    "pending_penalty": pl.Int64, "grace_done": pl.Boolean, "live": pl.Boolean,
}
"""One row per instalment line (``store.loans.LINE_COLUMNS``), sorted by loan_id, due_on, seq."""

PAYMENT_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "event_id": pl.String, "value_date": pl.Date, "amount": pl.Int64,
    "at": pl.Datetime("us"),
}
"""Payments to post, in the order the engine applies them per loan (value_date, at, given)."""

ENTRY_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "event_id": pl.String, "kind": pl.String, "value_date": pl.Date,
    **{a: pl.Int64 for a in ACCOUNTS},
}
"""Journal entries: one Int64 column per account of ``engine.ACCOUNTS`` (debit positive)."""

REJECTED_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "event_id": pl.String, "value_date": pl.Date, "amount": pl.Int64,
    "reason": pl.String,
}

_STATUS = (LoanStatus.ACTIVE.value, LoanStatus.CLOSED.value, LoanStatus.WRITTEN_OFF.value)
_ACTIVE, _CLOSED, _WRITTEN_OFF = 0, 1, 2
_POLICY = (Overpayment.CREDIT.value, Overpayment.REDUCE_TERM.value,
           Overpayment.REDUCE_INSTALMENT.value)
_KINDS = tuple(k.value for k in EntryKind)
_KIND = {k: i for i, k in enumerate(EntryKind)}
_NO_DATE = np.iinfo(np.int64).min  # closed_on null
_NEVER = np.iinfo(np.int64).max
_LAST = 1 << 40  # sorts a payment's own entries after the accruals of its round
_SAFE = 1 << 62  # below this, products and twice a remainder stay inside Int64
_HALF_UP, _HALF_EVEN = rounding_code(Rounding.HALF_UP), rounding_code(Rounding.HALF_EVEN)
_UP, _DOWN, _CEIL = (rounding_code(m) for m in (Rounding.UP, Rounding.DOWN, Rounding.CEILING))
_DAY = np.dtype("datetime64[D]")
_MONTH = np.dtype("datetime64[M]")


@dataclass(frozen=True, slots=True)
class Advanced:
    """The book after ``advance``, and the entries the advance posted."""

    loans: pl.DataFrame
    lines: pl.DataFrame
    entries: pl.DataFrame


@dataclass(frozen=True, slots=True)
class Posted:
    """The book after ``post_payments``; ``rejected`` payments changed nothing but the accrual
    up to their date (as ``LoanEngine.apply``); ``fallbacks`` counts loans handed to the scalar
    engine (a partial prepayment that reschedules)."""

    loans: pl.DataFrame
    lines: pl.DataFrame
    entries: pl.DataFrame
    rejected: pl.DataFrame
    fallbacks: int
    scalar_payments: int = 0  # payments the scalar engine applied (for the fallback loans)


# ---------------------------------------------------------------- exact arithmetic on arrays


def _div_round(num: Ints, den: Ints, mode: Ints) -> Ints:
    """``money.div_round`` element-wise; every ``num``, ``den`` and ``2 × den`` fits Int64."""
    q = num // den  # floor, as divmod: 0 <= r < den
    r = num - q * den
    half = (mode == _HALF_UP) | (mode == _HALF_EVEN)
    tie_up = ((mode == _HALF_UP) & (num >= 0)) | ((mode == _HALF_EVEN) & (q % 2 != 0))
    up = ((mode == _CEIL) | ((mode == _UP) & (num >= 0)) | ((mode == _DOWN) & (num < 0))
          | (half & ((2 * r > den) | ((2 * r == den) & tie_up))))
    out: Ints = q + ((r != 0) & up)
    return out


def _mul_div_round(a: Ints, b: Ints, den: Ints, mode: Ints) -> Ints:
    """``div_round(a × b, den, mode)`` element-wise, exactly: Int64 when every product is known
    to fit, else Polars Int128 (``vector.div_round_expr``)."""
    if not len(a):
        return np.zeros(0, dtype=np.int64)
    top = int(np.abs(a).max()) * int(np.abs(b).max())
    if top < _SAFE and int(den.max()) < _SAFE:
        return _div_round(a * b, den, mode)
    frame = pl.DataFrame({"a": a, "b": b, "d": den, "m": mode})
    wide = pl.Int128()
    out = frame.select(div_round_expr(pl.col("a").cast(wide) * pl.col("b").cast(wide),
                                      pl.col("d"), pl.col("m")).cast(pl.Int64))
    return out.to_series().to_numpy().astype(np.int64)


def _month_end(days: Ints) -> Ints:
    """The last day of each day's month (days since 1970-01-01)."""
    month = days.astype(_DAY).astype(_MONTH)
    out: Ints = (month + 1).astype(_DAY).astype(np.int64) - 1
    return out


def _month_index(days: Ints) -> Ints:
    out: Ints = days.astype(_DAY).astype(_MONTH).astype(np.int64)
    return out


def _month_first(index: Ints) -> Ints:
    out: Ints = index.astype(_MONTH).astype(_DAY).astype(np.int64)
    return out


def _segments(pos: Ints) -> tuple[Ints, Ints]:
    """For rows grouped by ``pos`` (equal values adjacent): the first row of each segment, and
    each row's segment number."""
    head = np.ones(len(pos), dtype=np.bool_)
    head[1:] = pos[1:] != pos[:-1]
    starts = np.flatnonzero(head)
    return starts, np.cumsum(head) - 1


def _seg_sum(values: Ints, starts: Ints) -> Ints:
    """Exact integer sums per segment (``np.add.reduceat`` along the first axis)."""
    if not len(starts):
        return np.zeros((0, *values.shape[1:]), dtype=np.int64)
    out: Ints = np.add.reduceat(values, starts, axis=0)
    return out


def _excl_cumsum(values: Ints, starts: Ints, seg: Ints) -> Ints:
    """The sum of the earlier rows of the same segment, for every row (along axis 0)."""
    run = np.cumsum(values, axis=0) - values
    out: Ints = run - run[starts][seg]
    return out


# ---------------------------------------------------------------- state as arrays


def _codes(column: pl.Series, values: Mapping[str, int]) -> Ints:
    """Each text's code, or an error naming the unknown texts."""
    names = list(values)
    try:
        index = column.cast(pl.Enum(names)).to_physical().to_numpy()
    except pl.exceptions.InvalidOperationError:
        index = None
    if index is None or column.null_count():
        bad = column.filter(~column.is_in(names) | column.is_null()).unique().to_list()
        raise ValueError(f"{column.name}: unknown values {bad[:5]}")
    table = np.array(list(values.values()), dtype=np.int64)
    out: Ints = table[index]
    return out


def _days(column: pl.Series) -> Ints:
    """A Date column as days since 1970-01-01 (nulls become ``_NO_DATE``)."""
    out: Ints = column.to_physical().cast(pl.Int64).fill_null(_NO_DATE).to_numpy()
    return out.astype(np.int64)


_PARSE_WHOLE = 10_000  # loans; see _Terms.rates


class _Terms:
    """What the rules need of each loan's terms, coded as arrays (loan row order)."""

    def __init__(self, loans: pl.DataFrame) -> None:
        self._loans = loans
        self.start = _days(loans["disbursed_on"])
        self.grace = loans["grace_days"].cast(pl.Int64).to_numpy().astype(np.int64)
        self.late_fixed = loans["late_fee_fixed"].to_numpy().astype(np.int64)
        self.compound = loans["penalty_on_interest"].to_numpy().astype(np.bool_)
        self.forgiven = (loans["grace_penalty"] == GracePenalty.FORGIVEN.value).to_numpy()
        self.mode = _codes(loans["rounding"], {r.value: rounding_code(r) for r in Rounding})
        self.policy = _codes(loans["overpayment"], {p: i for i, p in enumerate(_POLICY)})
        self.comp_first = (loans["allocation_scope"]
                           == AllocationScope.COMPONENT_FIRST.value).to_numpy()
        orders = {text: i for i, text in enumerate(loans["waterfall"].unique().to_list())}
        table = np.array([[COMPONENT_NAMES.index(c.strip()) for c in str(t).split(",")]
                          for t in orders], dtype=np.int64).reshape(-1, 4)
        self.order: Ints = table[_codes(loans["waterfall"], orders)]
        self._rates: tuple[Ints, Ints, Ints, Ints] | None = None

    def rates(self, who: Ints) -> tuple[Ints, Ints, Ints, Ints]:
        """Penalty rate per day and late-fee rate of each loan in ``who`` as exact fractions:
        (pen_num, pen_den, late_num, late_den), pen_den including the basis' year days (as
        ``LoanEngine``). Parsed for the loans asked about, unless that is most of the book
        or the book is small: below ``_PARSE_WHOLE`` loans, parsing them all costs what
        parsing a few does (the plans' fixed cost), and the next call (late fees after the
        daily accrual) is then free."""
        if (self._rates is None and len(who) * 4 < self._loans.height
                and self._loans.height >= _PARSE_WHOLE):
            few, back = np.unique(who, return_inverse=True)
            return tuple(x[back] for x in _rates_of(self._loans[few]))  # type: ignore[return-value]
        if self._rates is None:
            self._rates = _rates_of(self._loans)
        return tuple(x[who] for x in self._rates)  # type: ignore[return-value]


def _rates_of(loans: pl.DataFrame) -> tuple[Ints, Ints, Ints, Ints]:
    pen_num, pen_den = _penalty_rates(loans)
    year = loans["basis"].replace_strict(
        {b.value: b.year_days for b in DayCount}, return_dtype=pl.Int64).to_numpy()
    too_fine = pen_den >= np.iinfo(np.int64).max // 366
    if too_fine.any():
        raise ValueError(f"loans {loans['loan_id'].filter(pl.Series(too_fine))[:5].to_list()}: "
                         "penalty rate too precise for exact arithmetic (over 16 decimals)")
    late_num, late_den = _rationals(loans, "late_fee_rate")
    return pen_num, pen_den * year, late_num, late_den


def _penalty_rates(loans: pl.DataFrame) -> tuple[Ints, Ints]:
    """``LoanTerms.penalty_annual_rate`` as reduced fractions: the absolute rate where set, else
    contract rate × multiplier. The engine multiplies the Decimals (28 significant digits):
    factors with at most 28 significant digits together multiply exactly, so Fraction
    arithmetic agrees; the rare longer ones are multiplied as the engine does."""
    a_num, a_den = _rationals(loans, "annual_rate")
    m_num, m_den = _rationals(loans, "penalty_rate_multiplier")
    absolute = loans["penalty_rate"].is_not_null().to_numpy()
    p_num, p_den = _rationals(loans.with_columns(pl.col("penalty_rate").fill_null("0")),
                              "penalty_rate")
    digits = loans.select(sum(
        pl.col(c).str.strip_chars_end("0").str.replace(".", "", literal=True)
        .str.strip_chars_start("0").str.len_bytes()
        for c in ("annual_rate", "penalty_rate_multiplier"))).to_series().to_numpy()
    small = (a_num < 2**31) & (m_num < 2**31) & (a_den < 2**31) & (m_den < 2**31)
    num = np.where(small, a_num * m_num, 0)
    den = np.where(small, a_den * m_den, 1)
    hard = ~absolute & ~(small & (digits <= 28))
    if hard.any():  # a few unusual texts: the engine's own Decimal product, once per pair
        pairs = loans.filter(pl.Series(hard)).select("annual_rate", "penalty_rate_multiplier")
        exact = {pair: Fraction(Decimal(pair[0]) * Decimal(pair[1]))
                 for pair in pairs.unique().iter_rows()}
        if any(f.numerator >= _SAFE or f.denominator >= _SAFE for f in exact.values()):
            bad = [k for k, f in exact.items() if max(f.numerator, f.denominator) >= _SAFE]
            ids = loans.filter(pl.Series(hard) & pl.struct(
                "annual_rate", "penalty_rate_multiplier").is_in(
                [{"annual_rate": x, "penalty_rate_multiplier": y} for x, y in bad]))
            raise ValueError(f"loans {ids['loan_id'][:5].to_list()}: penalty rate too precise "
                             "for exact arithmetic (over 16 decimals)")
        where = np.flatnonzero(hard)
        num[where] = [exact[pair].numerator for pair in pairs.iter_rows()]
        den[where] = [exact[pair].denominator for pair in pairs.iter_rows()]
    common = np.gcd(num, den)
    num, den = num // common, den // common
    return np.where(absolute, p_num, num), np.where(absolute, p_den, den)


class _Lines:
    """The line columns as NumPy arrays: read lazily (zero-copy where Polars allows), copied
    on the first write, so an advance that touches a few columns copies only those."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._arrays: dict[str, npt.NDArray[Any]] = {}
        self.dirty: set[str] = set()
        self.due = self.get("due_on")
        self.live: Bools = self.get("live")

    def get(self, name: str) -> npt.NDArray[Any]:
        a = self._arrays.get(name)
        if a is None:
            s = self.frame[name]
            a = (s.to_physical().to_numpy().astype(np.int64) if s.dtype == pl.Date
                 else s.to_numpy())
            self._arrays[name] = a
        return a

    def put(self, name: str) -> npt.NDArray[Any]:
        """The column to write into (a private copy)."""
        if name not in self.dirty:
            self._arrays[name] = np.array(self.get(name), copy=True)
            self.dirty.add(name)
            if name == "live":
                self.live = self._arrays[name]
        return self._arrays[name]

    def col(self, measure: str, c: int) -> Ints:
        return self.get(f"{measure}_{COMPONENT_NAMES[c]}")

    def out(self, c: int, rows: Ints) -> Ints:
        """Outstanding of component ``c`` on the given rows (``Line.out``)."""
        name = COMPONENT_NAMES[c]
        g = self.get
        out: Ints = (g(f"charged_{name}")[rows] - g(f"paid_{name}")[rows]
                     - g(f"waived_{name}")[rows] - g(f"written_off_{name}")[rows])
        return out

    def out_all(self, c: int) -> Ints:
        """Outstanding of component ``c`` on every line."""
        name = COMPONENT_NAMES[c]
        g = self.get
        out: Ints = g(f"charged_{name}") - g(f"paid_{name}")
        out -= g(f"waived_{name}")
        out -= g(f"written_off_{name}")
        return out

    def add(self, measure: str, c: int, rows: Ints, amount: Ints) -> None:
        if len(rows) and np.any(amount):
            self.put(f"{measure}_{COMPONENT_NAMES[c]}")[rows] += amount

    def columns(self, rows: Ints | None = None) -> list[pl.Series]:
        """The written columns (of the given rows) as Series of ``LINE_SCHEMA``."""
        pick = slice(None) if rows is None else rows
        out = []
        for name in sorted(self.dirty):
            s = pl.Series(name, self._arrays[name][pick])
            if LINE_SCHEMA[name] == pl.Date:
                s = s.cast(pl.Int32)
            out.append(s.cast(LINE_SCHEMA[name]))
        return out


def _conform(frame: pl.DataFrame, schema: Mapping[str, Any], what: str) -> pl.DataFrame:
    """The frame's columns of ``schema``, in its order and types (decimal rates as text)."""
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"the {what} frame lacks columns {missing}")
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


class _Book:
    """A book being worked on: loan state as arrays, lines as ``_Lines``, and the settled
    ("part") lines that full payoffs add, kept aside until the frames are rebuilt."""

    def __init__(self, loans: pl.DataFrame, lines: pl.DataFrame) -> None:
        self.loans = _conform(loans, LOAN_SCHEMA, "loans")
        ids = self.loans["loan_id"]
        if ids.null_count() or not ids.is_sorted() or (
                len(ids) > 1 and (ids.slice(1) == ids.slice(0, len(ids) - 1)).any()):
            raise ValueError("loans must be sorted by a unique loan_id")
        self.n = self.loans.height
        self.lines = _Lines(_conform(lines, LINE_SCHEMA, "lines"))
        self.line_loan = self._line_loans()
        self.off: Ints = np.searchsorted(self.line_loan, np.arange(self.n + 1)).astype(np.int64)
        self.status = _codes(self.loans["status"], {s: i for i, s in enumerate(_STATUS)})
        self.accrued = _days(self.loans["accrued_through"])
        self.credit = self.loans["credit"].to_numpy().astype(np.int64)
        self.recovered = self.loans["recovered"].to_numpy().astype(np.int64)
        self.closed_on = _days(self.loans["closed_on"])
        self.next_seq = self.loans["next_seq"].to_numpy().astype(np.int64)
        self.terms = _Terms(self.loans)
        self.parts: list[dict[str, Ints]] = []

    def _line_loans(self) -> Ints:
        """Each line's loan row; checks the lines are sorted by loan_id, due_on, seq."""
        ids = self.lines.frame["loan_id"]
        if not len(ids):
            return np.zeros(0, dtype=np.int64)
        run = ids.rle_id().to_numpy().astype(np.int64)
        head = np.flatnonzero(np.diff(run, prepend=-1))
        heads = ids.gather(head)
        if len(heads) == self.n and (heads == self.loans["loan_id"]).all():
            loan = run  # every loan has lines, in the loans' (sorted) order
        else:
            at = self.loans["loan_id"].search_sorted(heads).to_numpy().astype(np.int64)
            found = at < self.n
            found[found] = (self.loans["loan_id"].gather(at[found])
                            == heads.filter(pl.Series(found))).to_numpy()
            if not found.all():
                raise ValueError(f"lines of unknown loans {heads.filter(~pl.Series(found))[:5]}")
            if np.any(np.diff(at) <= 0):
                raise ValueError("lines must be sorted by loan_id")
            loan = at[run]
        key = self.lines.due * (1 << 32) + self.lines.get("seq")
        if np.any((np.diff(key) <= 0) & (np.diff(loan) == 0)):
            raise ValueError("lines must be sorted by loan_id, due_on, seq (unique seq)")
        return loan

    def lines_of(self, loans: Ints) -> tuple[Ints, Ints]:
        """The rows of the given loans' lines (``loans`` sorted, unique) and, for each row, its
        loan's position in ``loans``."""
        if len(loans) == self.n:
            return np.arange(len(self.line_loan), dtype=np.int64), self.line_loan
        first = self.off[loans]
        count = self.off[loans + 1] - first
        pos = np.repeat(np.arange(len(loans), dtype=np.int64), count)
        rows = np.arange(int(count.sum()), dtype=np.int64) + np.repeat(
            first - (np.cumsum(count) - count), count)
        return rows, pos

    def _state(self, idx: Ints | slice) -> list[pl.Series]:
        closed = pl.Series(self.closed_on[idx])
        return [
            pl.Series("status", _STATUS).gather(self.status[idx]),
            pl.Series("accrued_through", self.accrued[idx]).cast(pl.Int32).cast(pl.Date),
            pl.Series("credit", self.credit[idx]),
            pl.Series("recovered", self.recovered[idx]),
            pl.Series("closed_on", closed.set(closed == _NO_DATE, None))
            .cast(pl.Int32).cast(pl.Date),
            pl.Series("next_seq", self.next_seq[idx]).cast(pl.Int32),
        ]

    def frames(self, engines: Mapping[int, LoanEngine] | None = None,
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The book as ``LOAN_SCHEMA`` and ``LINE_SCHEMA`` frames; the loans of ``engines``
        (by loan row) as those engines have them."""
        engines = engines or {}
        for i, eng in engines.items():
            self.status[i] = _STATUS.index(eng.status.value)
            self.accrued[i] = (eng.accrued_through - _EPOCH).days
            self.credit[i], self.recovered[i] = eng.credit, eng.recovered
            self.next_seq[i] = eng.next_seq
            self.closed_on[i] = (_NO_DATE if eng.closed_on is None
                                 else (eng.closed_on - _EPOCH).days)
        loans = self.loans.with_columns(self._state(slice(None)))
        lines = self.lines.frame.with_columns(self.lines.columns())
        extra = [_parts_frame(self)] if self.parts else []
        drop = np.zeros(len(lines), dtype=np.bool_)
        if engines:
            ids = self.loans["loan_id"]
            theirs = frames_from_engines({ids[i]: e for i, e in engines.items()})[1]
            at = self.off[ids.search_sorted(theirs["loan_id"]).to_numpy().astype(np.int64)]
            extra.append(theirs.select(pl.Series("_at", at), *theirs.columns))
            drop[self.lines_of(np.array(sorted(engines), dtype=np.int64))[0]] = True
        return loans, (_merge_lines(lines, pl.concat(extra), drop) if extra else lines)

    def frames_of(self, loans: Ints) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The current state of a few loans (no settled part lines among them)."""
        rows, _ = self.lines_of(loans)
        lines = self.lines.frame[rows].with_columns(self.lines.columns(rows))
        return self.loans[loans].with_columns(self._state(loans)), lines


def _merge_lines(lines: pl.DataFrame, extra: pl.DataFrame, drop: Bools) -> pl.DataFrame:
    """``lines`` without the ``drop`` rows, with each ``extra`` row inserted before the line
    row ``_at`` (extras for one place keep their order): the book stays sorted without a
    sort by key, since every insertion point is known."""
    size = len(lines)
    place = np.concatenate([2 * np.arange(size, dtype=np.int64) + 1,
                            2 * extra["_at"].to_numpy().astype(np.int64)])
    order = np.argsort(place, kind="stable")  # a merge of two sorted runs
    keep = np.concatenate([~drop, np.ones(extra.height, dtype=np.bool_)])[order]
    both = pl.concat([lines, extra.select(lines.columns)])
    return both.select(pl.all().gather(pl.Series(order[keep])))


def _parts_frame(b: _Book) -> pl.DataFrame:
    cols = {k: np.concatenate([p[k] for p in b.parts]) for k in b.parts[0]}
    loan = cols.pop("_loan")
    frame = pl.DataFrame({"loan_id": b.loans["loan_id"].gather(loan), **cols})
    for name in ("start_on", "due_on"):
        frame = frame.with_columns(pl.col(name).cast(pl.Int32).cast(pl.Date))
    return frame.select("_at", *(pl.col(c).cast(t) for c, t in LINE_SCHEMA.items()))


# ---------------------------------------------------------------- journal


class _Journal:
    """Entries as they are posted, with a sort key that puts each loan's entries in the order
    the scalar engine appends them: (round, chunk end, rank, value date). In an advance a
    chunk's credit-applied entries (rank 0) precede its accrual entry (rank 1); a payment's
    prepayment accrual (rank 2) and the payment itself (rank 3) follow its round's accruals."""

    def __init__(self) -> None:
        self.parts: list[pl.DataFrame] = []
        self.scalar: list[tuple[int, ...]] = []

    def add(self, loan: Ints, kind: EntryKind, day: Ints, key: tuple[int, Any, Any, Any],
            event: Ints | None = None, **amounts: Ints) -> None:
        if not len(loan):
            return
        size = len(loan)

        def full(v: Any) -> Ints:
            return np.broadcast_to(np.asarray(v, dtype=np.int64), (size,)).copy()

        cols: dict[str, Ints] = {
            "_loan": loan, "_event": full(-1) if event is None else event,
            "_kind": full(_KIND[kind]), "_day": day,
            "_k1": full(key[0]), "_k2": full(key[1]), "_k3": full(key[2]), "_k4": full(key[3]),
        }
        cols.update(amounts)
        self.parts.append(pl.DataFrame(cols))

    def add_entries(self, loan: int, entries: list[Entry], major: int, event: int) -> None:
        """Entries of a scalar engine (a fallback loan) in its own order."""
        for i, e in enumerate(entries):
            self.scalar.append((loan, -1 if e.event_id is None else event, _KIND[e.kind],
                                (e.value_date - _EPOCH).days, major, _LAST + 1, i, 0,
                                *(e.amounts.get(a, 0) for a in ACCOUNTS)))

    def frame(self, b: _Book, events: pl.Series | None) -> pl.DataFrame:
        parts = list(self.parts)
        if self.scalar:
            names = ["_loan", "_event", "_kind", "_day", "_k1", "_k2", "_k3", "_k4", *ACCOUNTS]
            parts.append(pl.DataFrame(self.scalar, schema=dict.fromkeys(names, pl.Int64),
                                      orient="row"))
        if not parts:
            return pl.DataFrame(schema=ENTRY_SCHEMA)
        rows = pl.concat(parts, how="diagonal_relaxed")
        rows = rows.sort("_loan", "_k1", "_k2", "_k3", "_k4", maintain_order=True)
        event = pl.when(pl.col("_event") >= 0).then(pl.col("_event"))
        event_ids = (events.gather(rows.select(event).to_series()) if events is not None
                     else pl.Series(values=[None] * rows.height, dtype=pl.String))
        return rows.select(
            loan_id=b.loans["loan_id"].gather(rows["_loan"]),
            event_id=event_ids,
            kind=pl.Series(_KINDS).gather(rows["_kind"]),
            value_date=pl.col("_day").cast(pl.Int32).cast(pl.Date),
            **{a: (pl.col(a).fill_null(0) if a in rows.columns else pl.lit(0, pl.Int64))
               for a in ACCOUNTS},
        )


_EPOCH = date(1970, 1, 1)


def _accruals(journal: _Journal, contributions: list[pl.DataFrame], major: int) -> None:
    """One accrual entry per loan and chunk (``_advance_chunk``), dated the chunk's end."""
    if not contributions:
        return
    per_chunk = (pl.concat(contributions).group_by("_loan", "label")
                 .agg(pl.col("P").sum(), pl.col("I").sum(), pl.col("F").sum())
                 .filter((pl.col("P") != 0) | (pl.col("I") != 0) | (pl.col("F") != 0)))
    if not per_chunk.height:
        return
    col = {c: per_chunk[c].to_numpy().astype(np.int64) for c in per_chunk.columns}
    p, i, f = col["P"], col["I"], col["F"]
    journal.add(col["_loan"], EntryKind.ACCRUAL, col["label"],
                (major, col["label"], 1, col["label"]), penalty=p, penalty_income=-p,
                interest=i, interest_income=-i, fee=f, fee_income=-f)


# ---------------------------------------------------------------- the calendar


@dataclass(frozen=True, slots=True)
class _Run:
    """The lines of a run lo+1 .. hi (one entry per line): where they are, and their balances
    once the due charge of the run, if any, is made."""

    rows: Ints
    pos: Ints  # the loan's position in the run's loans
    who: Ints  # the loan's row
    due: Ints
    a: Ints  # the run's lo and hi, per line
    z: Ints
    done: Bools  # grace_done at the start
    expiry: Ints  # first day after the grace period
    charge: Bools  # falls due in the run
    expire: Bools  # its grace period ends in the run
    out_p: Ints
    int_after: Ints  # outstanding interest after the due charge
    base: Ints  # penalty base
    accrues: Bools  # penalty accrues on some day of the run

    @property
    def changes(self) -> Bools:
        out: Bools = self.charge | self.expire | self.accrues
        return out


def _run(b: _Book, loans: Ints, lo: Ints, hi: Ints, rows: Ints, pos: Ints) -> _Run:
    lines, t = b.lines, b.terms
    due, who = lines.due[rows], loans[pos]
    a, z = lo[pos], hi[pos]
    done = lines.get("grace_done")[rows]
    expiry = due + t.grace[who] + 1
    charge = due > a
    out_p = lines.out(PRI, rows)
    int_after = lines.out(INT, rows) + np.where(charge, lines.get("interest")[rows], 0)
    base = out_p + np.where(t.compound[who], int_after, 0)
    return _Run(rows, pos, who, due, a, z, done, expiry, charge,
                ~done & (expiry > a) & (expiry <= z), out_p, int_after, base,
                (due < z) & (base > 0))


def _accrue(b: _Book, loans: Ints, lo: Ints, hi: Ints, cap: Ints,
            contributions: list[pl.DataFrame]) -> None:
    """Run days lo+1 .. hi of each loan with no credit applied in between: charges fall due,
    penalty accrues (pending within grace), grace periods end. Per line this is a closed
    form, because nothing else moves a line's balances in such a stretch. ``cap`` is the
    day the whole advance goes to: a day d is posted in the chunk ending min(cap, month end)."""
    if not len(loans):
        return
    rows, pos = _candidates(b, loans, lo, hi)
    r = _run(b, loans, lo, hi, rows, pos)
    keep = r.changes
    if not keep.all():
        r = _run(b, loans, lo, hi, rows[keep], pos[keep])
    lines, t = b.lines, b.terms
    daily = _daily(b, r.who, r.base, r.accrues)
    grace = t.grace[r.who]
    first = np.maximum(r.a, r.due)  # days first+1 .. z are overdue
    no_grace = r.done | (grace == 0)
    pend_days = np.where(no_grace, 0, np.maximum(0, np.minimum(r.z, r.due + grace) - first))
    from_day = np.where(no_grace, first, np.maximum(first, r.due + grace))  # charged after it
    charged = daily * np.maximum(0, r.z - from_day)
    before = lines.get("pending_penalty")[r.rows]
    pending = before + np.where(t.forgiven[r.who], 0, daily * pend_days)
    fee = np.where(r.charge, lines.get("fee")[r.rows], 0)
    interest = np.where(r.charge, lines.get("interest")[r.rows], 0)
    hit = r.expire & (r.out_p + r.int_after + lines.out(FEE, r.rows) + fee > 0)
    late = _late_fees(b, r.who, r.out_p + r.int_after + lines.out(FEE, r.rows) + fee, hit)
    crystallised = np.where(hit, pending, 0)  # else dropped: nothing was left unpaid
    lines.add("charged", INT, r.rows, interest)
    lines.add("charged", FEE, r.rows, fee + late)
    lines.add("charged", PEN, r.rows, charged + crystallised)
    if np.any(pending != before) or r.expire.any():
        lines.put("pending_penalty")[r.rows] = np.where(r.expire, 0, pending)
    if r.expire.any():
        lines.put("grace_done")[r.rows[r.expire]] = True
    chunk = cap[r.pos]
    zero = np.zeros(len(r.rows), dtype=np.int64)
    contributions.append(pl.DataFrame({
        "_loan": r.who, "label": np.minimum(chunk, _month_end(r.due)), "P": zero,
        "I": interest, "F": fee}).filter(pl.Series(r.charge)))
    contributions.append(pl.DataFrame({
        "_loan": r.who, "label": np.minimum(chunk, _month_end(r.expiry)), "P": crystallised,
        "I": zero, "F": late}).filter(pl.Series(r.expire)))
    contributions.append(_penalty_by_chunk(r.who, from_day, r.z, daily, chunk, charged != 0))


def _candidates(b: _Book, loans: Ints, lo: Ints, hi: Ints) -> tuple[Ints, Ints]:
    """The live lines of ``loans`` due by ``hi`` that a run to ``hi`` can change (a superset:
    falling due, in grace, or with a penalty base), and each one's position in ``loans``.

    For most of the book, whole-column masks are far cheaper than gathering every line of
    every loan; the few lines that pass are gathered afterwards."""
    lines = b.lines
    if len(loans) * 4 < b.n:
        rows, pos = b.lines_of(loans)
        keep = lines.live[rows] & (lines.due[rows] <= hi[pos])
        return rows[keep], pos[keep]
    at = np.full(b.n, -1, dtype=np.int64)
    at[loans] = np.arange(len(loans))
    line_pos = at[b.line_loan]
    bound = np.full(b.n, np.iinfo(np.int64).min)
    bound[loans] = hi
    due = lines.due
    keep = lines.live & (due <= bound[b.line_loan])
    bound[loans] = lo
    owed = (lines.out_all(PRI) > 0) | (b.terms.compound[b.line_loan]
                                       & (lines.out_all(INT) > 0))
    keep &= (due > bound[b.line_loan]) | ~lines.get("grace_done") | owed
    rows = np.flatnonzero(keep)
    return rows, line_pos[rows]


def _daily(b: _Book, who: Ints, base: Ints, accrues: Bools) -> Ints:
    """Rounding point ``penalty-daily``: base × penalty rate / year days, per line."""
    daily = np.zeros(len(who), dtype=np.int64)
    if accrues.any():
        w = who[accrues]
        pen_num, pen_den, _, _ = b.terms.rates(w)
        daily[accrues] = _mul_div_round(base[accrues], pen_num, pen_den, b.terms.mode[w])
    return daily


def _late_fees(b: _Book, who: Ints, unpaid: Ints, hit: Bools) -> Ints:
    """Rounding point ``late-fee``: fixed fee + rate × what is unpaid when grace ends."""
    late = np.zeros(len(who), dtype=np.int64)
    if hit.any():
        w = who[hit]
        _, _, late_num, late_den = b.terms.rates(w)
        late[hit] = b.terms.late_fixed[w] + _mul_div_round(unpaid[hit], late_num, late_den,
                                                           b.terms.mode[w])
    return late


def _penalty_by_chunk(who: Ints, lo: Ints, hi: Ints, daily: Ints, cap: Ints,
                      live: Bools) -> pl.DataFrame:
    """The penalty of the days lo+1 .. hi at ``daily`` a day, split at month ends (the chunks
    of ``advance_to``), one row per line and chunk."""
    who, lo, hi, daily, cap = (x[live] for x in (who, lo, hi, daily, cap))
    months = _month_index(hi) - _month_index(lo + 1) + 1
    line = np.repeat(np.arange(len(who)), months)
    step = np.arange(len(line)) - np.repeat(np.cumsum(months) - months, months)
    month = _month_index(lo + 1)[line] + step
    first, last = _month_first(month), _month_first(month + 1) - 1
    days = np.minimum(hi[line], last) - np.maximum(lo[line], first - 1)
    zero = np.zeros(len(line), dtype=np.int64)
    return pl.DataFrame({"_loan": who[line], "label": np.minimum(cap[line], last),
                         "P": daily[line] * days, "I": zero, "F": zero})


def _next_key(b: _Book, loans: Ints, lo: Ints, hi: Ints) -> Ints:
    """Each loan's first key date in lo+1 .. hi (a due date or a grace expiry), or _NEVER."""
    rows, pos = b.lines_of(loans)
    lines = b.lines
    due, live = lines.due[rows], lines.live[rows]
    a, z = lo[pos], hi[pos]
    expiry = due + b.terms.grace[loans[pos]] + 1
    pending = live & ~lines.get("grace_done")[rows] & (expiry > a) & (expiry <= z)
    key = np.minimum(np.where(live & (due > a) & (due <= z), due, _NEVER),
                     np.where(pending, expiry, _NEVER))
    out = np.full(len(loans), _NEVER, dtype=np.int64)
    if len(rows):
        starts, _ = _segments(pos)
        out[pos[starts]] = np.minimum.reduceat(key, starts)
    return out


def _advance(b: _Book, loans: Ints, to: Ints, major: int, journal: _Journal) -> None:
    """``advance_to(to)`` for the given loans (sorted, each ``to`` after its accrued_through).

    A loan that a credit closes on a key date stops there, as ``_advance_chunk`` does: nothing
    later happens to a settled loan (no grace period of it ends).
    """
    lo = b.accrued[loans].copy()
    end = np.where(b.status[loans] == _ACTIVE, to, lo)
    contributions: list[pl.DataFrame] = []
    while True:  # rounds over key dates, only for loans holding a credit balance
        idx = np.flatnonzero((b.credit[loans] > 0) & (end > lo))
        key = _next_key(b, loans[idx], lo[idx], end[idx])
        idx, key = idx[key != _NEVER], key[key != _NEVER]
        if not len(idx):
            break
        _accrue(b, loans[idx], lo[idx], key, to[idx], contributions)
        lo[idx] = key
        closed = _apply_credit(b, loans[idx], key, to[idx], major, journal)
        end[idx[closed]] = key[closed]
    go = end > lo
    _accrue(b, loans[go], lo[go], end[go], to[go], contributions)
    b.accrued[loans] = to
    _accruals(journal, contributions, major)


# ---------------------------------------------------------------- allocation


@dataclass(frozen=True, slots=True)
class _Alloc:
    """A waterfall allocation not yet booked: per row the amount taken of each component, and
    per loan the totals."""

    rows: Ints
    pos: Ints
    take: Ints  # (rows, 4) by component index
    taken: Ints  # (loans, 4)

    @property
    def used(self) -> Ints:
        out: Ints = self.taken.sum(axis=1)
        return out


def _allocation(b: _Book, loans: Ints, amount: Ints, day: Ints) -> _Alloc:
    """``LoanEngine._allocate``: walk each loan's waterfall over its live lines due on ``day``.

    The steps are (line, component) pairs in waterfall order, instalment-first or
    component-first; a step takes min(outstanding, what is left after the earlier steps),
    and what the earlier steps hold is a prefix sum, so no step depends on another's result.
    """
    rows, pos = b.lines_of(loans)
    lines = b.lines
    keep = lines.live[rows] & (lines.due[rows] <= day[pos])
    rows, pos = rows[keep], pos[keep]
    owed = np.maximum(np.stack([lines.out(c, rows) for c in range(4)], axis=1), 0)
    positive: Bools = np.asarray(owed.sum(axis=1) > 0)
    rows, pos, owed = rows[positive], pos[positive], owed[positive]
    taken = np.zeros((len(loans), 4), dtype=np.int64)
    if not len(rows):
        return _Alloc(rows, pos, owed, taken)
    order = b.terms.order[loans[pos]]
    steps = np.take_along_axis(owed, order, axis=1)
    starts, seg = _segments(pos)
    in_row = np.cumsum(steps, axis=1) - steps
    line_first = _excl_cumsum(steps.sum(axis=1), starts, seg)[:, None] + in_row
    totals = _seg_sum(steps, starts)
    component_first = (np.cumsum(totals, axis=1) - totals)[seg] + _excl_cumsum(steps, starts,
                                                                                seg)
    before = np.where(b.terms.comp_first[loans[pos]][:, None], component_first, line_first)
    took = np.minimum(steps, np.maximum(0, amount[pos][:, None] - before))
    take = np.empty_like(took)
    np.put_along_axis(take, order, took, axis=1)
    taken[pos[starts]] = _seg_sum(take, starts)
    return _Alloc(rows, pos, take, taken)


def _book_allocation(b: _Book, al: _Alloc, keep: Bools | None = None) -> None:
    """Credit the receivables (paid) with an allocation, for the loans where ``keep``."""
    rows, take = al.rows, al.take
    if keep is not None:
        mask = keep[al.pos]
        rows, take = rows[mask], take[mask]
    for c in range(4):
        b.lines.add("paid", c, rows, take[:, c])


def _receivables(taken: Ints) -> dict[str, Ints]:
    return {name: -taken[:, c] for c, name in enumerate(COMPONENT_NAMES)}


def _apply_credit(b: _Book, loans: Ints, day: Ints, cap: Ints, major: int,
                  journal: _Journal) -> Bools:
    """``_apply_credit`` on key date ``day``; which loans it closed."""
    al = _allocation(b, loans, b.credit[loans], day)
    _book_allocation(b, al)
    used = al.used
    b.credit[loans] -= used
    m = used > 0
    journal.add(loans[m], EntryKind.CREDIT_APPLIED, day[m],
                (major, np.minimum(cap, _month_end(day))[m], 0, day[m]),
                credit=used[m], **_receivables(al.taken[m]))
    closed = np.zeros(len(loans), dtype=np.bool_)
    closed[m] = _close_if_settled(b, loans[m], day[m])
    return closed


def _close_if_settled(b: _Book, loans: Ints, day: Ints) -> Bools:
    """``_close_if_settled``: active loans with nothing owed on any live line close on ``day``
    (their pending penalty is dropped). Returns which of ``loans`` closed."""
    active = b.status[loans] == _ACTIVE
    cand = loans[active]
    rows, pos = b.lines_of(cand)
    lines = b.lines
    live = lines.live[rows]
    rows, pos = rows[live], pos[live]
    owed = sum((lines.out(c, rows) for c in range(4)), np.zeros(len(rows), dtype=np.int64))
    open_ = np.zeros(len(cand), dtype=np.bool_)
    if len(rows):
        starts, _ = _segments(pos)
        open_[pos[starts]] = np.logical_or.reduceat(owed != 0, starts)
    shut = cand[~open_]
    b.status[shut] = _CLOSED
    b.closed_on[shut] = day[active][~open_]
    rows, _ = b.lines_of(shut)
    if len(rows) and lines.get("pending_penalty")[rows].any():
        lines.put("pending_penalty")[rows] = 0
    closed = np.zeros(len(loans), dtype=np.bool_)
    closed[np.flatnonzero(active)[~open_]] = True
    return closed


# ---------------------------------------------------------------- payments


@dataclass(frozen=True, slots=True)
class _Payoff:
    """``payoff_after_due`` and its parts: the current period's line (-1 if none), the interest
    and fee it has earned by the day, and the principal not yet due."""

    cur: Ints
    acc_int: Ints
    acc_fee: Ints
    balance: Ints

    @property
    def amount(self) -> Ints:
        out: Ints = np.where(self.balance != 0, self.balance + self.acc_int + self.acc_fee, 0)
        return out


def _payoff(b: _Book, loans: Ints, day: Ints) -> _Payoff:
    """``_current_period`` and ``payoff_after_due`` (rounding point ``prepayment-accrual``)."""
    rows, pos = b.lines_of(loans)
    lines = b.lines
    keep = lines.live[rows] & (lines.due[rows] > day[pos])
    rows, pos = rows[keep], pos[keep]
    size = len(loans)
    cur = np.full(size, -1, dtype=np.int64)
    balance = np.zeros(size, dtype=np.int64)
    acc_int, acc_fee = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
    if not len(rows):
        return _Payoff(cur, acc_int, acc_fee, balance)
    starts, _ = _segments(pos)
    at = pos[starts]
    cur[at] = rows[starts]
    balance[at] = _seg_sum(lines.out(PRI, rows), starts)
    line = rows[starts]
    begun = lines.get("start_on")[line]
    span = lines.due[line] - begun
    used = np.maximum(0, day[at] - begun)
    mode = b.terms.mode[loans[at]]
    some = span > 0
    for out, name in ((acc_int, "interest"), (acc_fee, "fee")):
        out[at[some]] = _mul_div_round(lines.get(name)[line][some], used[some], span[some],
                                       mode[some])
    return _Payoff(cur, acc_int, acc_fee, balance)


def _settle(b: _Book, loans: Ints, day: Ints, po: _Payoff) -> None:
    """``_prepay`` when the money covers the whole payoff: the period so far becomes a settled
    line of its own, and the lines not yet due are superseded (nothing is rescheduled)."""
    lines = b.lines
    cur = po.cur
    rows, pos = b.lines_of(loans)
    later = lines.due[rows] > day[pos]
    # the part line sorts before every line due later, superseded ones included
    at = np.empty(len(loans), dtype=np.int64)
    starts, _ = _segments(pos[later])
    at[pos[later][starts]] = rows[later][starts]
    zero = np.zeros(len(loans), dtype=np.int64)
    paid = {FEE: po.acc_fee, PEN: zero, INT: po.acc_int, PRI: po.balance}
    part: dict[str, Ints] = {
        "_loan": loans, "_at": at, "seq": b.next_seq[loans].copy(),
        "n": lines.get("n")[cur].astype(np.int64),
        "start_on": lines.get("start_on")[cur], "due_on": day, "principal": po.balance,
        "interest": po.acc_int, "fee": po.acc_fee, "pending_penalty": zero,
        "grace_done": np.ones(len(loans), dtype=np.bool_),
        "live": np.ones(len(loans), dtype=np.bool_),
    }
    for m in MEASURES:
        for c, name in enumerate(COMPONENT_NAMES):
            part[f"{m}_{name}"] = paid[c] if m in ("charged", "paid") else zero
    b.parts.append(part)
    b.next_seq[loans] += 1
    future = rows[lines.live[rows] & later]
    lines.add("charged", PRI, future, -lines.out(PRI, future))
    if len(future):
        lines.put("live")[future] = False


@dataclass(frozen=True, slots=True)
class _Round:
    """One payment per loan: loans sorted and unique; ``event`` is the payment's row."""

    loans: Ints
    day: Ints
    amount: Ints
    event: Ints

    def pick(self, mask: Bools) -> _Round:
        return _Round(self.loans[mask], self.day[mask], self.amount[mask], self.event[mask])


def _pay(b: _Book, p: _Round, major: int, journal: _Journal) -> Bools:
    """``LoanEngine._pay`` for one payment per loan, the calendar already advanced to its day.
    Returns the payments left to the scalar engine (a partial prepayment that reschedules);
    nothing of those is booked here."""
    recovery = b.status[p.loans] == _WRITTEN_OFF
    _recover(b, p.pick(recovery), major, journal)
    q = p.pick(~recovery)
    al = _allocation(b, q.loans, q.amount, q.day)
    rest = q.amount - al.used
    need = np.flatnonzero((b.status[q.loans] == _ACTIVE) & (rest > 0))
    po = _payoff(b, q.loans[need], q.day[need])
    acc = po.acc_int + po.acc_fee
    left = rest[need]
    enter = ((po.cur >= 0) & (left > acc)
             & ((b.terms.policy[q.loans[need]] != 0) | (left >= po.amount)))
    full = enter & (left - acc >= po.balance)
    fallback = np.zeros(len(q.loans), dtype=np.bool_)
    fallback[need[enter & ~full]] = True
    _book_allocation(b, al, ~fallback)
    settled = need[full]
    prepaid = np.zeros((len(q.loans), 4), dtype=np.int64)
    if len(settled):
        sp = _Payoff(*(x[full] for x in (po.cur, po.acc_int, po.acc_fee, po.balance)))
        _settle(b, q.loans[settled], q.day[settled], sp)
        prepaid[settled] = np.stack([sp.acc_fee, np.zeros_like(sp.acc_fee), sp.acc_int,
                                     sp.balance], axis=1)
        earned = (sp.acc_int != 0) | (sp.acc_fee != 0)
        s, i, f = settled[earned], sp.acc_int[earned], sp.acc_fee[earned]
        journal.add(q.loans[s], EntryKind.ACCRUAL, q.day[s], (major, _LAST, 2, 0),
                    interest=i, interest_income=-i, fee=f, fee_income=-f)
    rest -= prepaid.sum(axis=1)
    ok = ~fallback
    b.credit[q.loans[ok]] += rest[ok]
    journal.add(q.loans[ok], EntryKind.PAYMENT, q.day[ok], (major, _LAST, 3, 0), q.event[ok],
                cash=q.amount[ok], credit=-rest[ok], **_receivables((al.taken + prepaid)[ok]))
    _close_if_settled(b, q.loans[ok], q.day[ok])
    out = np.zeros(len(p.loans), dtype=np.bool_)
    out[np.flatnonzero(~recovery)[fallback]] = True
    return out


def _recover(b: _Book, p: _Round, major: int, journal: _Journal) -> None:
    """Money paid on a written-off loan is a recovery."""
    b.recovered[p.loans] += p.amount
    journal.add(p.loans, EntryKind.RECOVERY, p.day, (major, _LAST, 3, 0), p.event,
                cash=p.amount, recovery=-p.amount)


# ---------------------------------------------------------------- the public functions


def advance(loans: pl.DataFrame, lines: pl.DataFrame, to: pl.Series | date) -> Advanced:
    """``LoanEngine.advance_to`` for every loan: to one date, or to one date per loan row
    (a Date Series in the order of ``loans``; null leaves the loan). Loans already at or after
    their date are untouched."""
    b = _Book(loans, lines)
    if isinstance(to, date):
        target = np.full(b.n, (to - _EPOCH).days, dtype=np.int64)
    else:
        if len(to) != b.n:
            raise ValueError(f"{len(to)} target dates for {b.n} loans")
        target = _days(to.cast(pl.Date))
    go = np.flatnonzero(target > b.accrued)
    journal = _Journal()
    _advance(b, go, target[go], 0, journal)
    new_loans, new_lines = b.frames()
    return Advanced(new_loans, new_lines, journal.frame(b, None))


def post_payments(loans: pl.DataFrame, lines: pl.DataFrame, payments: pl.DataFrame) -> Posted:
    """Apply ``payments`` (``PAYMENT_SCHEMA``) as ``LoanEngine.apply`` would, one round per
    k-th payment of every loan. Refusals as ``apply``: a value date before the loan started or
    before its accrued_through (nothing changes; the service restates those loans), or an
    amount not positive (the calendar has advanced to its date, as in the engine)."""
    b = _Book(loans, lines)
    pays = _conform(payments, PAYMENT_SCHEMA, "payments")
    ids = pays["loan_id"].fill_null("")
    at = b.loans["loan_id"].search_sorted(ids).to_numpy().astype(np.int64)
    known = at < b.n
    known[known] = (b.loans["loan_id"].gather(at[known]) == ids.filter(pl.Series(known))
                    ).to_numpy()
    pays = pays.with_columns(
        _row=pl.int_range(pl.len(), dtype=pl.Int64), _loan=pl.Series(np.where(known, at, -1)),
        _round=pl.int_range(pl.len(), dtype=pl.Int64).over("loan_id"))
    run = _Posting(b, pays)
    missing = pays.select(pl.coalesce(
        pl.when(pl.col(c).is_null()).then(pl.lit(f"{c} is missing"))
        for c in ("loan_id", "event_id", "value_date", "amount"))).to_series()
    run.reject(np.flatnonzero(missing.is_not_null().to_numpy()), missing.filter(
        missing.is_not_null()))
    known &= missing.is_null().to_numpy()
    run.reject(np.flatnonzero(~known & missing.is_null().to_numpy()),
               pl.format("unknown loan {}", "loan_id"))
    live = pays.filter(pl.Series(known))
    for k, r in enumerate(live.partition_by("_round", maintain_order=True, include_key=True)):
        run.round(k, r.sort("_loan"))
    new_loans, new_lines = b.frames(run.engines)
    return Posted(new_loans, new_lines, run.journal.frame(b, pays["event_id"]),
                  run.rejected(), len(run.engines), run.scalar_payments)


class _Posting:
    """The rounds of ``post_payments``, the rejections and the loans handed to the scalar
    engine (``engines``, by loan row)."""

    def __init__(self, b: _Book, pays: pl.DataFrame) -> None:
        self.b = b
        self.pays = pays
        self.journal = _Journal()
        self.engines: dict[int, LoanEngine] = {}
        self.fell = np.zeros(b.n, dtype=np.bool_)
        self.scalar_payments = 0
        self._rejected: list[pl.DataFrame] = []

    def reject(self, rows: Ints, reason: pl.Expr | pl.Series, **extra: Any) -> None:
        if len(rows):
            frame = self.pays[rows].with_columns(**{k: pl.Series(v) for k, v in extra.items()})
            self._rejected.append(frame.select("_row", reason=reason))

    def round(self, k: int, r: pl.DataFrame) -> None:
        b = self.b
        loan = r["_loan"].to_numpy().astype(np.int64)
        day = _days(r["value_date"])
        rows = r["_row"].to_numpy().astype(np.int64)
        scalar = self.fell[loan]
        self._scalar(k, r.filter(pl.Series(scalar)))
        early = ~scalar & (day < b.terms.start[loan])
        late = ~scalar & ~early & (day < b.accrued[loan])
        self.reject(rows[early], pl.format("{}: value date {} is before the loan started on {}",
                                           "event_id", "value_date", "start"),
                    start=pl.Series(b.terms.start[loan][early]).cast(pl.Int32).cast(pl.Date))
        self.reject(rows[late], pl.format(
            "{}: value date {} is before the loan's last processed day {}; replay instead",
            "event_id", "value_date", "through"),
            through=pl.Series(b.accrued[loan][late]).cast(pl.Int32).cast(pl.Date))
        ok = ~scalar & ~early & ~late
        move = ok & (day > b.accrued[loan])
        _advance(b, loan[move], day[move], k, self.journal)
        amount = r["amount"].to_numpy().astype(np.int64)
        self.reject(rows[ok & (amount <= 0)],
                    pl.format("{}: payment amount must be positive", "event_id"))
        go = ok & (amount > 0)
        p = _Round(loan[go], day[go], amount[go], rows[go])
        handed = p.loans[_pay(b, p, k, self.journal)]
        if len(handed):
            engines = engines_from_frames(*b.frames_of(handed))
            ids = b.loans["loan_id"]
            self.engines.update((int(i), engines[ids[int(i)]]) for i in handed)
            self.fell[handed] = True
            self._scalar(k, r.filter(pl.Series(loan).is_in(pl.Series(handed).implode())))

    def _scalar(self, k: int, r: pl.DataFrame) -> None:
        """Payments of loans the scalar engine runs (counted in ``Posted.fallbacks``)."""
        for loan, row, event_id, day, amount, at in r.select(
                "_loan", "_row", "event_id", "value_date", "amount", "at").iter_rows():
            eng = self.engines[loan]
            self.scalar_payments += 1
            try:
                eng.apply(Payment(event_id, day, amount, at=at))
            except EngineError as exc:
                self.reject(np.array([row]), pl.lit(str(exc)))
            self.journal.add_entries(loan, eng.take_entries(), k, row)

    def rejected(self) -> pl.DataFrame:
        if not self._rejected:
            return pl.DataFrame(schema=REJECTED_SCHEMA)
        why = pl.concat(self._rejected).sort("_row")
        return why.join(self.pays, on="_row", how="left").select(list(REJECTED_SCHEMA))


# ---------------------------------------------------------------- the bridge to LoanEngine


def _decimal_text(d: Decimal) -> str:
    return format(d, "f")


def _terms_row(t: LoanTerms) -> dict[str, Any]:
    """The ``LOAN_SCHEMA`` term columns of ``t`` (as ``store.loans.terms_columns``)."""
    return {
        "currency": t.currency, "principal": t.principal,
        "annual_rate": _decimal_text(t.annual_rate), "repayment_method": t.method.value,
        "term_count": t.term_count, "period": str(t.period), "disbursed_on": t.start,
        "first_due_on": t.first_due, "basis": t.basis.value, "rounding": t.rounding.value,
        "month_end": t.month_end.value, "upfront_fee": t.upfront_fee,
        "service_fee_rate": _decimal_text(t.service_fee_rate),
        "service_fee_fixed": t.service_fee_fixed, "late_fee_fixed": t.late_fee_fixed,
        "late_fee_rate": _decimal_text(t.late_fee_rate),
        "penalty_rate_multiplier": _decimal_text(t.penalty_multiplier),
        "penalty_rate": None if t.penalty_rate is None else _decimal_text(t.penalty_rate),
        "penalty_on_interest": t.penalty_on_interest, "grace_days": t.grace_days,
        "grace_penalty": t.grace_penalty.value, "dpd_grace": t.dpd_grace.value,
        "waterfall": ",".join(c.value for c in t.waterfall.order),
        "allocation_scope": t.waterfall.scope.value, "overpayment": t.overpayment.value,
    }


def _terms_of(r: Mapping[str, Any]) -> LoanTerms:
    """``LoanTerms`` from a ``LOAN_SCHEMA`` row (as ``store.loans.terms_from_row``)."""
    return LoanTerms(
        principal=r["principal"], annual_rate=Decimal(r["annual_rate"]),
        method=Method(r["repayment_method"]), term_count=r["term_count"],
        period=Period.parse(r["period"]), start=r["disbursed_on"], currency=r["currency"],
        first_due=r["first_due_on"], basis=DayCount(r["basis"]), rounding=Rounding(r["rounding"]),
        month_end=MonthEnd(r["month_end"]), upfront_fee=r["upfront_fee"],
        service_fee_rate=Decimal(r["service_fee_rate"]),
        service_fee_fixed=r["service_fee_fixed"], late_fee_fixed=r["late_fee_fixed"],
        late_fee_rate=Decimal(r["late_fee_rate"]),
        penalty_multiplier=Decimal(r["penalty_rate_multiplier"]),
        penalty_rate=None if r["penalty_rate"] is None else Decimal(r["penalty_rate"]),
        penalty_on_interest=r["penalty_on_interest"], grace_days=r["grace_days"],
        grace_penalty=GracePenalty(r["grace_penalty"]), dpd_grace=DpdGrace(r["dpd_grace"]),
        waterfall=Waterfall(tuple(Component(c) for c in r["waterfall"].split(",")),
                            AllocationScope(r["allocation_scope"])),
        overpayment=Overpayment(r["overpayment"]),
    )


def _line_row(loan_id: str, ln: Line) -> tuple[Any, ...]:
    """A line as a row of ``LINE_SCHEMA``."""
    return (loan_id, ln.seq, ln.n, ln.start_on, ln.due_on, ln.principal, ln.interest, ln.fee,
            *ln.charged, *ln.paid, *ln.waived, *ln.written_off, ln.pending_penalty,
            ln.grace_done, ln.live)


def _line_of(r: Mapping[str, Any]) -> Line:
    def four(m: str) -> list[int]:
        return [r[f"{m}_{name}"] for name in COMPONENT_NAMES]

    return Line(r["seq"], r["n"], r["start_on"], r["due_on"], r["principal"], r["interest"],
                r["fee"], four("charged"), four("paid"), four("waived"), four("written_off"),
                r["pending_penalty"], r["grace_done"], r["live"])


def frames_from_engines(engines: Mapping[str, LoanEngine]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``(loans, lines)`` frames of scalar engines (their pending entries are ignored)."""
    loans: list[dict[str, Any]] = []
    lines: list[tuple[Any, ...]] = []
    for loan_id in sorted(engines):
        e = engines[loan_id]
        loans.append({"loan_id": loan_id, **_terms_row(e.terms), "status": e.status.value,
                      "accrued_through": e.accrued_through, "credit": e.credit,
                      "recovered": e.recovered, "closed_on": e.closed_on,
                      "next_seq": e.next_seq})
        lines.extend(_line_row(loan_id, ln) for ln in e.lines)
    return (pl.DataFrame(loans, schema=LOAN_SCHEMA),
            pl.DataFrame(lines, schema=LINE_SCHEMA, orient="row"))


def engines_from_frames(loans: pl.DataFrame, lines: pl.DataFrame) -> dict[str, LoanEngine]:
    """Scalar engines for the rows of ``loans`` (the bridge back; a loop over loans)."""
    by_loan: dict[str, list[Line]] = {}
    for r in _conform(lines, LINE_SCHEMA, "lines").iter_rows(named=True):
        by_loan.setdefault(r["loan_id"], []).append(_line_of(r))
    out = {}
    for r in _conform(loans, LOAN_SCHEMA, "loans").iter_rows(named=True):
        out[r["loan_id"]] = _engine(r, by_loan.get(r["loan_id"], []))
    return out


def _engine(r: Mapping[str, Any], lines: list[Line]) -> LoanEngine:
    eng = LoanEngine(_terms_of(r), lines, accrued_through=r["accrued_through"],
                     status=LoanStatus(r["status"]), credit=r["credit"],
                     recovered=r["recovered"], closed_on=r["closed_on"])
    eng.next_seq = r["next_seq"]
    return eng
