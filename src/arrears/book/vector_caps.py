"""All-in annual cost and legal-cap checks for whole portfolios — the texts of
``apr.apr_of_loan`` and ``caps.check_cost_cap``, loan for loan.

``all_in_rates`` gives each loan's ``periodic_irr``, ``nominal_apr`` and
``effective_annual_rate`` as ``str(apr_of_loan(terms).<field>)``; ``cap_checks`` holds the
nominal APR against ``pack.cost_cap``, asked once per (lender type, formation date).

A reported rate is the root of the flows rounded half-up to 10 places (the scalar's own
24-place and 50-digit steps move it by less than ``_R24``), so it is settled as soon as the
root is known to lie on one side of the nearest half-unit of the 10th place. The roots are
found for all loans at once by Newton's method on the flows' value; every flow after the
disbursement is ≥ 0, so that value is monotone and convex and Newton from the zero rate
converges without overshooting:

* regular loans (``apr.is_regular``) other than bullets: a polynomial in the discount factor
  x = 1/(1 + i), evaluated by Horner's rule one period index at a time over the loans still
  running (longest first, so they are a prefix) — only +, ×, ÷, so its bound is rigorous;
* broken first periods (XIRR, actual days over 365) and regular bullets (one payment after
  term_count periods): Σ amount · exp(−τ·z) in the log growth rate z, one row per flow.

Newton runs in float64 until it settles, then takes one step and evaluates once more in
``np.longdouble`` (x87 extended, 64-bit significand, on x86-64 Linux): the flows' value is a
difference of nearly equal sums, so float64 alone leaves ~1e-15 of doubt in a rate — enough to
send one loan in a few hundred to the scalar. From that last evaluation each root gets an
error bound (``_horner_roots``, ``_exp_roots``), carried through the annualisation
(``_fields``). A field whose value lies within its bound of a rounding boundary — exact ties
are not rare: an interest-first loan's IRR is the rational interest/principal — or a loan with
negative interest or fees, an unconverged root or a rate beyond the scalar solver's range is
computed by ``apr_of_loan`` itself and counted (``VectorRates.exact_fallbacks``). Where
``longdouble`` is only a double (Windows, Apple silicon) the bounds widen accordingly and more
loans fall back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.book.apr import Apr, apr_of_loan
from arrears.book.terms import LenderType, LoanTerms, Method
from arrears.book.vector import INPUT_SCHEMA, _periods, _reject
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.money import Rounding
from arrears.rules.pack import RulePack

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

LOAN_SCHEMA: dict[str, Any] = {**INPUT_SCHEMA, "upfront_fee": pl.Int64}
RATES_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "apr_method": pl.String, "periodic_irr": pl.String,
    "nominal_apr": pl.String, "effective_annual_rate": pl.String,
}
CAP_INPUT_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "lender_type": pl.String, "contract_signed_on": pl.Date}
CHECKS_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "cost_cap_rate": pl.String, "all_in_rate": pl.String,
    "cap_excess": pl.String, "cap_basis": pl.String,
}
FIELDS = ("periodic_irr", "nominal_apr", "effective_annual_rate")

Wide = npt.NDArray[np.longdouble]
_WIDE = np.longdouble
_U = float(np.finfo(_WIDE).epsneg)  # unit roundoff of the final evaluations (2⁻⁶⁴ on x86-64)
# Assumed worst error of exp, expm1 and log1p on longdouble, in ulps: under 2 measured on this
# build, and tests/book/test_vector_caps.py fails above 4; 16 leaves room.
_ULPS = 16.0
_R24 = 1e-22  # the scalar's 24-place root and 50-digit steps move a rate by < 1e-23
_STEPS = 24  # float64 Newton steps at most: the benchmark book settles in 7
# Newton's error after a step s is about K s² (K = g''/2g' < 100 here): below 1e-10 a step
# leaves float64 noise only, which the extended-precision step then removes.
_SETTLED = 1e-10
_PLACES = 10  # reported rates: 10 places (apr.RATE_PLACES), half-up
_LIMIT = 2.0**62  # |rate × 10¹⁰| below this keeps its fraction exact in longdouble
_SOLVER_TOP = 8000.0  # below apr._GRID's top (8396.7): the scalar finds no root above it


@dataclass(frozen=True, slots=True)
class VectorRates:
    """The rates and how they were computed."""

    rates: pl.DataFrame  # RATES_SCHEMA, sorted by loan_id
    exact_fallbacks: int  # loans whose rates came from apr_of_loan itself


def all_in_rates(loans: pl.DataFrame, schedules: pl.DataFrame) -> pl.DataFrame:
    """Each loan's APR texts, equal to ``str(apr_of_loan(terms).<field>)``: ``loans`` has the
    ``LOAN_SCHEMA`` columns, ``schedules`` is their ``build_schedules``; sorted by loan_id."""
    return all_in_rates_traced(loans, schedules).rates


def all_in_rates_traced(loans: pl.DataFrame, schedules: pl.DataFrame) -> VectorRates:
    """``all_in_rates`` plus the count of loans computed by the scalar ``apr_of_loan``."""
    book = _read(loans, schedules)
    values = _estimates(book)
    rounded = [_rounded(v, b) for v, b in values]
    # beyond _SOLVER_TOP the scalar may find no root (AprError): let it say so
    reach = np.maximum(values[0][0], np.where(book.xirr, values[2][0], 0))
    safe = rounded[0][1] & rounded[1][1] & rounded[2][1] & (reach < _SOLVER_TOP)
    texts = [_decimal_text(units) for units, _ in rounded]
    method = pl.Series(np.where(book.xirr, "XIRR", "IRR"))
    exact = np.flatnonzero(~safe)
    if len(exact):
        aprs = _scalar_aprs(book.frame[exact])
        for k, name in enumerate(FIELDS):
            texts[k] = texts[k].scatter(exact, [str(getattr(a, name)) for a in aprs])
        method = method.scatter(exact, [a.method for a in aprs])
    rates = pl.DataFrame([book.frame["loan_id"], method.alias("apr_method"),
                          *(t.alias(name) for t, name in zip(texts, FIELDS, strict=True))])
    return VectorRates(rates, len(exact))


# ---------------------------------------------------------------- input: loans and flows


@dataclass(frozen=True, slots=True)
class _Book:
    """Loans sorted by loan_id and their flows: one row per instalment, in schedule order."""

    frame: pl.DataFrame
    size: int
    first: Ints  # first flow row of each loan
    count: Ints  # flow rows of each loan
    amount: Ints  # per row: principal + interest + fee (received by the lender)
    tau: Floats  # per row: periods after start (regular) or years of 365 days (XIRR)
    days: Ints  # per row: days after start
    net: Ints  # principal − upfront fee, paid out at start
    per_year: Wide  # periods a year: 12/count months, 365/count days (Period.per_year)
    xirr: Bools  # a broken first period: apr_of_loan uses XIRR on dated flows
    bullet: Bools
    # Some interest or fee < 0 (a rebate): flows may turn negative or repay less than was lent
    # (a negative rate, printed as Decimal prints signs). Otherwise every flow is ≥ 0 and they
    # sum to at least net, so the rate is ≥ 0 — and exactly 0 when they sum to net.
    negative: Bools


def _read(loans: pl.DataFrame, schedules: pl.DataFrame) -> _Book:
    frame = _validated(loans)
    sched = schedules.select("loan_id", "n", "due_on", "principal", "interest", "fee")
    n = sched["n"].to_numpy()
    first = np.flatnonzero(n == 1).astype(np.int64)
    if not sched["loan_id"].gather(first).equals(frame["loan_id"]):
        raise ValueError("schedules must hold the loans' build_schedules rows, sorted by "
                         "loan_id, n — the loan ids do not match")
    count = np.diff(first, append=len(n))
    bullet = (frame["method"] == Method.BULLET.value).to_numpy()
    term_count = frame["term_count"].to_numpy().astype(np.int64)
    _reject(frame, pl.Series(count != np.where(bullet, 1, term_count)), "schedule",
            "does not have one row per instalment")
    loan = np.repeat(np.arange(frame.height), count)
    if not np.array_equal(n, np.arange(len(n)) - first[loan] + 1):
        raise ValueError("schedules must number each loan's instalments n = 1, 2, …")
    month, step = _periods(frame)
    xirr = _broken(frame, month, np.where(bullet, step * term_count, step))
    amount = sched.select(pl.col("principal") + pl.col("interest") + pl.col("fee")
                          ).to_series().to_numpy()
    charged = sched.select(pl.min_horizontal("interest", "fee")).to_series().to_numpy()
    start = frame["start"].to_physical().to_numpy().astype(np.int64)
    days = sched["due_on"].to_physical().to_numpy().astype(np.int64) - start[loan]
    periods = np.where(bullet, term_count, 0)[loan] + np.where(bullet[loan], 0, n)
    return _Book(
        frame=frame, size=frame.height, first=first, count=count, amount=amount,
        tau=np.where(xirr[loan], days / 365.0, periods.astype(np.float64)), days=days,
        net=(frame["principal"] - frame["upfront_fee"]).to_numpy(),
        per_year=np.where(month, 12, 365).astype(_WIDE) / step, xirr=xirr, bullet=bullet,
        negative=np.bincount(loan[np.flatnonzero(charged < 0)], minlength=frame.height) > 0,
    )


def _validated(loans: pl.DataFrame) -> pl.DataFrame:
    """The loans cast to ``LOAN_SCHEMA`` and sorted by loan_id, or an error naming bad rows."""
    missing = [c for c in LOAN_SCHEMA if c not in loans.columns]
    if missing:
        raise ValueError(f"the loans frame lacks columns {missing}")
    frame = loans.select(pl.col(c).cast(t) for c, t in LOAN_SCHEMA.items())
    checks = [(c, pl.col(c).is_null(), "is missing") for c in LOAN_SCHEMA if c != "first_due"]
    checks.append(("upfront_fee", (pl.col("upfront_fee") < 0)
                   | (pl.col("upfront_fee") >= pl.col("principal")),
                   "must be at least 0 and less than the principal"))
    failed = frame.select(bad.any().alias(str(i)) for i, (_, bad, _) in enumerate(checks))
    for (column, bad, why), hit in zip(checks, failed.row(0), strict=True):
        if hit:
            _reject(frame, bad, column, why)
    return frame if frame["loan_id"].is_sorted() else frame.sort("loan_id")


def _broken(frame: pl.DataFrame, month: Bools, step: Ints) -> Bools:
    """``not apr.is_regular``: first_due is set and is not one period after start (by
    ``calendar.advance``: months clamped to the month's end, which a month-end start keeps
    under the month-end rule). ``step`` is a bullet's whole term, as is_regular has it."""
    start = pl.col("start")
    coded = frame.select(pl.lit(pl.Series(np.where(month, step, -step))).alias("p"))["p"]
    one = pl.lit(None, pl.Date)
    for p in coded.unique().to_list():  # the few distinct periods, each as one offset
        later = start.dt.offset_by(f"{p}mo") if p > 0 else start + timedelta(days=-p)
        one = pl.when(pl.lit(coded == p)).then(later).otherwise(one)
    keep_end = (pl.lit(pl.Series(month)) & (pl.col("month_end") == MonthEnd.MONTH_END.value)
                & (start == start.dt.month_end()))
    one = pl.when(keep_end).then(one.dt.month_end()).otherwise(one)
    broken = frame.select(pl.col("first_due").is_not_null() & (pl.col("first_due") != one))
    return broken.to_series().to_numpy()


# ---------------------------------------------------------------- roots with error bounds


def _estimates(b: _Book) -> list[tuple[Wide, Wide]]:
    """(value, bound on |value − exact|) of each field of each loan; NaN and ∞ for the loans
    with a negative flow."""
    rate = np.full(b.size, np.nan, dtype=_WIDE)
    bound = np.full(b.size, np.inf, dtype=_WIDE)
    for solve, which in ((_horner_roots, ~b.xirr & ~b.bullet), (_exp_roots, b.xirr | b.bullet)):
        at = np.flatnonzero(which & ~b.negative)
        if len(at):
            rate[at], bound[at] = solve(b, at)
    return _fields(rate, bound, b.per_year)


Evaluate = Callable[[Any], tuple[Any, Any, Any]]  # x -> (value, slope, Σ of the terms)


def _newton(evaluate: Evaluate, x: Floats) -> Wide:
    """Newton in float64 until every step is below ``_SETTLED``, then one step in longdouble
    (returned). Non-finite steps (no root in reach) count as settled and fail the bound."""
    with np.errstate(all="ignore"):
        for _ in range(_STEPS):
            value, slope, _ = evaluate(x)
            step = value / slope
            x = x - step
            if not np.any(np.abs(step) > _SETTLED * (1 + np.abs(x))):
                break
        wide = x.astype(_WIDE)
        value, slope, _ = evaluate(wide)
        root: Wide = wide - value / slope
    return root


def _horner_roots(b: _Book, loans: Ints) -> tuple[Wide, Wide]:
    """Periodic rate i and a bound on |i − exact root| for regular, non-bullet ``loans``.

    g(x) = Σₜ aₜ xᵗ − net, t = 1…n, is increasing and convex in x > 0, so Newton from x = 1
    (g ≥ 0 there) falls monotonically onto the root. Error, with u the longdouble unit
    roundoff: Horner's rule with coefficients ≥ 0 at a point x is within γ₂ₙ of Σ aₜxᵗ
    (Higham, Thm 5.3); the last × x and the − net round once more; amounts convert exactly
    (where longdouble is a double, each may round once): E ≤ 1.03 (2n + 4) u Σ + 2u net +
    u |ĝ|. On [x − δ, x + δ] with n·δ ≤ 0.1x the slope is at least 0.9 g'(x), so the root
    lies within (|ĝ| + E) / (0.9 ĝ') < δ = 2 (|ĝ| + E) / ĝ' of x. Then i = (1 − x)/x moves
    by at most δ / (x (x − δ)) ≤ 1.25 δ / x², and rounds twice (1 − x is
    exact for x in [1/2, 2], Sterbenz).
    """
    n = b.count[loans]
    order = np.argsort(-n, kind="stable")
    at, n = loans[order], n[order]
    running = np.cumsum(np.bincount(n)[::-1])[::-1]  # loans with at least t instalments
    rows = [b.first[at[: running[t]]] + t - 1 for t in range(1, len(running))]
    narrow = [b.amount[r].astype(np.float64) for r in rows]
    wide = [b.amount[r].astype(_WIDE) for r in rows]
    net = b.net[at]

    def evaluate(x: Any) -> tuple[Any, Any, Any]:
        return _horner(wide if x.dtype == _WIDE else narrow, x, net)

    x = _newton(evaluate, np.ones(len(at)))
    with np.errstate(all="ignore"):
        g, slope, total = evaluate(x)
        error = 1.03 * (2 * n + 4) * _U * total + 2 * _U * net  # net: for a double longdouble
        delta = 2 * (np.abs(g) * (1 + _U) + error) / slope
        rate = (1 - x) / x
        bound = 1.25 * delta / x**2 + 2.01 * _U * np.abs(rate) + _R24
        bound[~(n * delta <= 0.1 * x)] = np.inf  # NaN too
    out_rate, out_bound = np.empty_like(rate), np.empty_like(bound)
    out_rate[order], out_bound[order] = rate, bound
    return out_rate, out_bound


def _horner(coefficients: list[Any], x: Any, net: Ints) -> tuple[Any, Any, Any]:
    """g(x), g'(x) and Σ aₜxᵗ, with h = Σ aₜ xᵗ⁻¹ and h' by Horner's rule, highest t first."""
    h, dh = np.zeros_like(x), np.zeros_like(x)
    for a in reversed(coefficients):
        c = len(a)
        dh[:c] *= x[:c]
        dh[:c] += h[:c]
        h[:c] *= x[:c]
        h[:c] += a
    total = x * h
    return total - net.astype(x.dtype), h + x * dh, total


def _exp_roots(b: _Book, loans: Ints) -> tuple[Wide, Wide]:
    """Periodic rate and its bound for XIRR loans and regular bullets, via the log growth z
    per unit of τ: F(z) = Σ a·e^(−τz) − net, decreasing and convex, Newton from z = 0.

    Error of F̂ (u the longdouble unit roundoff): each term has a rounded τ and τz (2u τz,
    amplified by exp), exp's own error and one product; the sum over k rows adds γₖ, the − net
    one rounding: E ≤ 1.03 u (k + ULPS + 4 + 2.1 τmax z) Σ + 2u net + u |F̂|. On [z − δ, z + δ] with
    τmax δ ≤ 0.1, |F'| ≥ 0.9 |F'(z)|: the root is within δ = 2 (|F̂| + E) / |F̂'|. The
    periodic rate is expm1(z·s), s = 1 for regular bullets (τ in periods) and 1/per_year for
    XIRR (τ in years, s rounded twice): it moves by ≤ 1.12 e^(zs) (1.01 δs + 4u zs) plus
    expm1's error.
    """
    count = b.count[loans]
    starts = np.cumsum(count) - count
    row_loan = np.repeat(np.arange(len(loans)), count)
    rows = b.first[loans][row_loan] + np.arange(len(row_loan)) - starts[row_loan]
    xirr = b.xirr[loans]
    tau_wide = np.where(xirr[row_loan], b.days[rows].astype(_WIDE) / 365, b.tau[rows])
    amount, tau, net = b.amount[rows], b.tau[rows], b.net[loans]

    def evaluate(z: Any) -> tuple[Any, Any, Any]:
        t = tau_wide if z.dtype == _WIDE else tau
        terms = amount.astype(z.dtype) * np.exp(-t * z[row_loan])
        total = np.add.reduceat(terms, starts)
        return total - net.astype(z.dtype), -np.add.reduceat(t * terms, starts), total

    z = _newton(evaluate, np.zeros(len(loans)))
    with np.errstate(all="ignore"):
        value, slope, total = evaluate(z)
        tau_max = tau_wide[starts + count - 1]  # the last flow of each loan is its latest
        error = (1.03 * _U * (count + _ULPS + 4 + 2.1 * tau_max * np.abs(z)) * total
                 + 2 * _U * net)
        delta = 2 * (np.abs(value) * (1 + _U) + error) / -slope
        scale = np.where(xirr, 1 / b.per_year[loans], 1)
        zs = z * scale
        rate = np.expm1(zs)
        bound = (1.12 * np.exp(zs) * (1.01 * delta * scale + 4 * _U * np.abs(zs))
                 + _ULPS * _U * np.abs(rate) + _R24)
        bound[~((tau_max * delta <= 0.1) & (delta * scale <= 0.1))] = np.inf
    return rate, bound


def _fields(rate: Wide, bound: Wide, per_year: Wide) -> list[tuple[Wide, Wide]]:
    """(value, error bound) of periodic_irr, nominal_apr = i × per_year and
    effective_annual_rate = expm1(per_year × log1p(i)) — each step's rounding and the
    propagated error of i (|d log1p| ≤ 1.12 δ/(1 + i) and |d expm1| ≤ 1.12 e^w δ while the
    moves stay below 0.1)."""
    with np.errstate(all="ignore"):
        nominal = rate * per_year
        log = np.log1p(rate)
        dlog = 1.12 * bound / (1 + rate) + _ULPS * _U * np.abs(log)
        w = log * per_year
        dw = per_year * dlog * 1.01 + 2 * _U * np.abs(w)
        effective = np.expm1(w)
        deffective = 1.12 * np.exp(w) * dw + _ULPS * _U * np.abs(effective)
        deffective[~((bound <= 0.1 * (1 + rate)) & (dw <= 0.1))] = np.inf
    return [(rate, bound), (nominal, per_year * bound * 1.01 + 2 * _U * np.abs(nominal)),
            (effective, deffective)]


def _rounded(value: Wide, bound: Wide) -> tuple[Ints, Bools]:
    """Half-up to 10 places in units of 10⁻¹⁰, and whether every value within ``bound`` rounds
    the same (the fraction is exact below 2⁶²; the × 10¹⁰ rounds once)."""
    with np.errstate(all="ignore"):
        w = value * _WIDE(10**_PLACES)
        whole = np.floor(w)
        frac = w - whole
        margin = bound * 10**_PLACES * (1 + 4 * _U) + 4 * _U * np.abs(w)
        safe = (np.abs(w) < _LIMIT) & (np.abs(frac - 0.5) > margin)
        units = np.where(safe, whole + (frac > 0.5), 0).astype(np.int64)
    return units, safe


def _decimal_text(units: Ints) -> pl.Series:
    """``str(Decimal(u).scaleb(-10))`` for units u ≥ 0: plain digits from 10⁻⁶ up, the way
    Decimal prints them; smaller ones (0E-10, 1.234E-7) by Decimal itself, once per value."""
    s = pl.Series(units)
    small = np.unique(units[units < 10 ** (_PLACES - 6)])
    named = {int(u): str(Decimal(int(u)).scaleb(-_PLACES)) for u in small}
    scale = 10**_PLACES
    return pl.select(
        pl.when(s >= 10 ** (_PLACES - 6))
        .then(pl.format("{}.{}", s // scale, (s % scale).cast(pl.String).str.zfill(_PLACES)))
        .otherwise(s.replace_strict(named, default=None, return_dtype=pl.String))
    ).to_series()


def _scalar_aprs(rows: pl.DataFrame) -> list[Apr]:
    """``apr_of_loan`` of each row — the exact fallback; an error names every loan it fails."""
    aprs, failed = [], []
    for row in rows.iter_rows(named=True):
        try:
            aprs.append(apr_of_loan(_terms(row)))
        except (ArithmeticError, ValueError) as e:  # AprError, decimal.InvalidOperation
            failed.append(f"{row['loan_id']!r} ({e!r})")
    if failed:
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise ValueError(f"apr_of_loan fails for loans {', '.join(failed[:5])}{more}")
    return aprs


def _terms(row: dict[str, Any]) -> LoanTerms:
    return LoanTerms(
        principal=row["principal"], annual_rate=Decimal(row["annual_rate"]),
        method=Method(row["method"]), term_count=row["term_count"],
        period=Period.parse(row["period"]), start=row["start"], first_due=row["first_due"],
        basis=DayCount(row["basis"]), rounding=Rounding(row["rounding"]),
        month_end=MonthEnd(row["month_end"]), upfront_fee=row["upfront_fee"],
        service_fee_rate=Decimal(row["service_fee_rate"]),
        service_fee_fixed=row["service_fee_fixed"])


# ---------------------------------------------------------------- caps


def cap_checks(loans: pl.DataFrame, all_in: pl.DataFrame, pack: RulePack) -> pl.DataFrame:
    """Per loan (``CAP_INPUT_SCHEMA`` columns of ``loans``; ``all_in`` from ``all_in_rates``)
    the fields of ``check_cost_cap(terms, LenderType(lender_type), contract_signed_on, pack)``
    as texts (``CHECKS_SCHEMA``): ``cap`` → cost_cap_rate, ``all_in`` → all_in_rate,
    ``excess`` → cap_excess and ``cost_cap.basis`` → cap_basis; in the order of ``loans``."""
    keys = _cap_keys(loans)
    rates = all_in.select("loan_id", "nominal_apr")
    _reject(rates, pl.col("loan_id").is_duplicated(), "loan_id", "is not unique in all_in")
    frame = keys.join(rates, on="loan_id", how="left", maintain_order="left")
    _reject(frame, pl.col("nominal_apr").is_null(), "nominal_apr", "is not in all_in")
    caps = _caps(frame.select("lender_type", "contract_signed_on").unique(), pack)
    frame = frame.join(caps, on=["lender_type", "contract_signed_on"], how="left",
                       maintain_order="left")
    return frame.select(pl.col("loan_id"), pl.col("cost_cap_rate"),
                        pl.col("nominal_apr").alias("all_in_rate"),
                        _excess(frame).alias("cap_excess"), pl.col("cap_basis"))


def _cap_keys(loans: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in CAP_INPUT_SCHEMA if c not in loans.columns]
    if missing:
        raise ValueError(f"the loans frame lacks columns {missing}")
    frame = loans.select(pl.col(c).cast(t) for c, t in CAP_INPUT_SCHEMA.items())
    for column in CAP_INPUT_SCHEMA:
        _reject(frame, pl.col(column).is_null(), column, "is missing")
    kinds = [t.value for t in LenderType]
    _reject(frame, ~pl.col("lender_type").is_in(kinds), "lender_type", f"is not one of {kinds}")
    _reject(frame, pl.col("loan_id").is_duplicated(), "loan_id", "is not unique")
    return frame


def _caps(keys: pl.DataFrame, pack: RulePack) -> pl.DataFrame:
    """The scalar cap once per distinct (lender type, formation date): the legal rules stay in
    ``rules.cost_cap``. ``cap_units`` is the cap in 10⁻¹⁰ when it has at most 10 places."""
    rows = []
    for lender, formed in keys.iter_rows():
        cap = pack.cost_cap(LenderType(lender), formed)
        exponent = cap.rate.as_tuple().exponent
        units = int(cap.rate.scaleb(_PLACES)) if isinstance(exponent, int) and (
            exponent >= -_PLACES) else None
        rows.append((lender, formed, str(cap.rate), units, cap.basis))
    return pl.DataFrame(rows, orient="row", schema={
        "lender_type": pl.String, "contract_signed_on": pl.Date, "cost_cap_rate": pl.String,
        "cap_units": pl.Int64, "cap_basis": pl.String})


def _excess(frame: pl.DataFrame) -> pl.Series:
    """``str(max(Decimal(0), all_in − cap))``. With all_in at exactly 10 places (as
    all_in_rates gives it) and a cap of at most 10, the difference is an integer of 10⁻¹⁰;
    anything else is left to Decimal, row by row."""
    diff = _units(frame) - frame["cap_units"]
    positive = diff.fill_null(0).clip(lower_bound=0).to_numpy()
    text = pl.select(pl.when(pl.Series(positive) > 0).then(_decimal_text(positive))
                     .otherwise(pl.lit("0"))).to_series()
    slow = np.flatnonzero(diff.is_null().to_numpy())
    if len(slow):
        pairs = frame.select("nominal_apr", "cost_cap_rate")[slow].rows()
        text = text.scatter(slow, [str(max(Decimal(0), Decimal(a) - Decimal(c)))
                                   for a, c in pairs])
    return text


def _units(frame: pl.DataFrame) -> pl.Series:
    """Each nominal_apr text as an integer of 10⁻¹⁰ when Decimal gives it exponent −10 exactly
    (plain with 10 decimals, or the scientific forms of small values); else null."""
    texts = frame["nominal_apr"]
    plain = texts.str.contains(r"^[0-9]+\.[0-9]{10}$")
    named: dict[str, int | None] = {}
    for t in texts.filter(~plain).unique().to_list():
        try:
            d = Decimal(t)
        except ArithmeticError:  # decimal.InvalidOperation: name the rows
            _reject(frame, pl.col("nominal_apr") == t, "nominal_apr", "is not a decimal number")
            raise
        exponent = d.as_tuple().exponent
        named[t] = int(d.scaleb(_PLACES)) if exponent == -_PLACES and d.is_finite() else None
    return pl.select(
        pl.when(plain).then(texts.str.replace(".", "", literal=True).cast(pl.Int64, strict=False))
        .otherwise(texts.replace_strict(named, default=None, return_dtype=pl.Int64))
    ).to_series()


__all__ = ["CAP_INPUT_SCHEMA", "CHECKS_SCHEMA", "FIELDS", "LOAN_SCHEMA", "RATES_SCHEMA",
           "VectorRates", "all_in_rates", "all_in_rates_traced", "cap_checks"]
