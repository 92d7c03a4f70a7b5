"""Loans: candidates drawn from the market's product mix, disbursed over vintages.

Every borrower gets one to four candidate loans: the first on a day drawn over the simulated
period (more towards the end: the book grows by ``vintages.monthly_growth`` a month), repeats
after a gap, mostly of the same product. Fraud rings take all their loans within days. Whether
a repeat is actually disbursed is decided on its day: a borrower who is overdue then gets
nothing (``simulation``). Terms use only what the book supports (``book.terms``): the four
repayment methods, day and month periods, grace days, upfront fees, fixed late fees, penalty
interest at 1.5 × the contract rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.book.terms import LenderType, Method
from arrears.sim.config import SEGMENTS, Segment, SimConfig
from arrears.sim.people import Borrowers, where
from arrears.sim.rng import Stream, stream

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
PENALTY_MULTIPLIER = "1.5"  # 罚息 = 1.5 × contract rate, the common contract clause


@dataclass(frozen=True, slots=True)
class Loans:
    """Candidate loans, sorted by (disbursement day, borrower): index = loan number − 1."""

    n: int
    borrower: Ints
    product: Ints  # index into cfg.products
    disbursed: Ints  # day number
    principal: Ints  # fen
    rate_bp: Ints  # annual rate in basis points
    term_count: Ints
    period: Ints  # index into periods
    lender: Ints  # index into LENDERS
    grace: Ints
    upfront: Ints  # fen
    late_fee: Ints  # fen
    auto_debit: Bools
    collateral_value: Ints  # fen, 0 without collateral
    periods: tuple[str, ...]  # the period texts of the products, in code order


LENDERS: tuple[str, ...] = tuple(t.value for t in LenderType)


def pick(values: list[str] | tuple[str, ...], index: Ints, name: str = "") -> pl.Series:
    """Strings by index: a gather from a small table (much cheaper than NumPy strings)."""
    return pl.Series(name, list(values), dtype=pl.String).gather(index)


def _choose(rng: np.random.Generator, table: Mapping[Any, float], n: int) -> npt.NDArray[
        np.object_]:
    keys = np.array(list(table), dtype=object)
    w = np.array(list(table.values()), dtype=np.float64)
    return keys[rng.choice(len(keys), size=n, p=w / w.sum())]


def _first_days(rng: np.random.Generator, n: int, span: int, growth: float) -> Ints:
    """Days 0..span-1 with density growing by ``growth`` a month (inverse CDF)."""
    u = rng.random(n)
    if abs(growth) < 1e-9:
        t = u * span
    else:
        k = np.log1p(growth) / 30.0
        t = np.log1p(u * np.expm1(k * span)) / k
    return np.minimum(t.astype(np.int64), span - 1)


def draw_loans(cfg: SimConfig, b: Borrowers, start: int, days: int, seed: int) -> Loans:
    """The candidate loans of every borrower, disbursed within ``[start, start + days)``."""
    rng = stream(seed, Stream.LOANS)
    pop = cfg.population
    span = max(1, days - cfg.vintages.last_disbursement_margin_days)
    counts = np.array(list(pop.loans_per_borrower), dtype=np.int64)
    cw = np.array(list(pop.loans_per_borrower.values()))
    k = counts[rng.choice(len(counts), size=b.n, p=cw / cw.sum())]
    owner = np.repeat(np.arange(b.n, dtype=np.int64), k)
    seq = np.arange(len(owner)) - np.repeat(np.cumsum(k) - k, k)
    fraud = b.segment[owner] == SEGMENTS.index(Segment.FRAUD)
    gap_lo, gap_hi = pop.repeat_gap_days
    gaps = np.where(fraud, rng.integers(0, 4, len(owner)),
                    rng.integers(gap_lo, gap_hi + 1, len(owner)))
    gaps[seq == 0] = 0
    first = _first_days(rng, b.n, span, cfg.vintages.monthly_growth)[owner]
    csum = np.cumsum(gaps)
    day = first + csum - np.repeat(csum[np.cumsum(k) - k], k)  # gaps add up per borrower
    keep = day < span
    owner, seq, day = owner[keep], seq[keep], day[keep]
    weights = np.array([p.weight for p in cfg.products])
    product = rng.choice(len(weights), size=len(owner), p=weights / weights.sum())
    # repeats mostly stay with the product of the borrower's first loan
    first_product = product[np.searchsorted(owner, owner, side="left")]
    product = np.where((seq > 0) & (rng.random(len(owner)) < 0.7), first_product, product)
    order = np.lexsort((seq, owner, day))
    owner, product, day = owner[order], product[order].astype(np.int64), day[order]
    return _terms(cfg, b, rng, owner, product, day + start)


def _terms(cfg: SimConfig, b: Borrowers, rng: np.random.Generator, owner: Ints,
           product: Ints, day: Ints) -> Loans:
    n = len(owner)
    principal = np.zeros(n, dtype=np.int64)
    rate = np.zeros(n, dtype=np.int64)
    # richer borrowers take the larger loans of a product's range
    pct = (np.argsort(np.argsort(b.income)) / max(1, b.n - 1))[owner]
    u = np.clip(0.5 * rng.random(n) + 0.5 * pct, 0, 1)
    out = {k: np.empty(n, dtype=object) for k in ("period", "terms", "lender", "grace",
                                                 "upfront", "late")}
    auto = np.zeros(n, dtype=np.bool_)
    coll = np.zeros(n, dtype=np.int64)
    periods = tuple(sorted({k for p in cfg.products for k in p.periods}))
    for i, p in enumerate(cfg.products):
        at = np.flatnonzero(product == i)
        m = len(at)
        lo, hi = p.principal
        yuan = np.exp(np.log(lo) + u[at] ** p.principal_skew * (np.log(hi) - np.log(lo)))
        principal[at] = np.clip(np.round(yuan / 100) * 100, lo, hi).astype(np.int64) * 100
        rlo, rhi = (int(r * 10_000) for r in p.rate)
        rate[at] = rng.integers(rlo, rhi + 1, m)
        out["period"][at] = _choose(rng, p.periods, m)
        out["terms"][at] = _choose(rng, p.terms, m)
        out["lender"][at] = _choose(rng, {k.value: v for k, v in p.lenders.items()}, m)
        out["grace"][at] = _choose(rng, p.grace_days, m)
        out["upfront"][at] = _choose(rng, p.upfront_fee_pct, m)
        out["late"][at] = _choose(rng, p.late_fee_fixed, m)
        auto[at] = rng.random(m) < p.auto_debit_share
        if p.collateral_ratio is not None:
            clo, chi = p.collateral_ratio
            per_mille = np.round(rng.uniform(clo, chi, m) * 1000).astype(np.int64)
            coll[at] = principal[at] * per_mille // 1000 // 10_000 * 10_000  # whole 100s
    private = np.isin(out["lender"].astype(str), ["private", "individual", "p2p"])
    private &= rng.random(n) >= cfg.pricing.private_over_cap_share
    plo, phi = (int(r * 10_000) for r in cfg.pricing.private_rate)
    rate = np.where(private, rng.integers(plo, phi + 1, n), rate)
    upfront = principal * out["upfront"].astype(np.int64) // 100
    period = np.searchsorted(np.array(periods), out["period"].astype(str))
    lender = np.searchsorted(np.array(LENDERS), out["lender"].astype(str),
                             sorter=np.argsort(LENDERS))
    lender = np.argsort(LENDERS)[lender]
    return Loans(n, owner, product, day, principal, rate, out["terms"].astype(np.int64),
                 period.astype(np.int64), lender.astype(np.int64),
                 out["grace"].astype(np.int64), upfront, out["late"].astype(np.int64) * 100,
                 auto, coll, periods)


def loan_ids(prefix: str, n: int) -> pl.Series:
    return pl.Series("loan_id", [f"{prefix}L{i:09d}" for i in range(1, n + 1)])


def rate_text(rate_bp: Ints) -> pl.Series:
    """Basis points as the contract's decimal fraction text (2150 -> "0.2150")."""
    bp = pl.Series(np.asarray(rate_bp, dtype=np.int64))
    return "0." + bp.cast(pl.String).str.zfill(4)


def schedule_input(cfg: SimConfig, loans: Loans, ids: pl.Series) -> pl.DataFrame:
    """The loans in ``book.vector.INPUT_SCHEMA`` for ``build_schedules``."""
    methods = np.array([p.method.value for p in cfg.products])
    return pl.DataFrame({
        "loan_id": ids, "principal": loans.principal, "annual_rate": rate_text(loans.rate_bp),
        "method": methods[loans.product], "term_count": loans.term_count.astype(np.int32),
        "period": pick(loans.periods, loans.period),
        "start": pl.Series(loans.disbursed.astype("datetime64[D]")).cast(pl.Date),
        "first_due": pl.Series([None] * loans.n, dtype=pl.Date), "basis": "30/360",
        "rounding": "half-up", "month_end": "clamp", "service_fee_rate": "0",
        "service_fee_fixed": pl.Series(np.zeros(loans.n, dtype=np.int64))})


def yuan_text(fen: Ints) -> pl.Series:
    """Fen as decimal yuan text with two decimals (12345 -> "123.45"); never negative here."""
    f = pl.Series(np.asarray(fen, dtype=np.int64))
    return (f // 100).cast(pl.String) + "." + (f % 100).cast(pl.String).str.zfill(2)


LOAN_COLUMNS = ("loan_id", "borrower_id", "lender_type", "principal", "currency", "annual_rate",
                "repayment_method", "term_count", "period", "disbursed_on",
                "contract_signed_on", "upfront_fee", "penalty_rate_multiplier", "grace_days",
                "late_fee_fixed", "lender_name", "contract_no", "product_name", "collateral",
                "collateral_value")
LENDER_NAMES = {"consumer-finance": "星河消费金融有限公司", "microloan": "星河小额贷款有限公司",
                "bank": "星河银行股份有限公司", "licensed": "星河融资担保有限公司",
                "private": "星河投资咨询有限公司", "individual": "个人出借人",
                "p2p": "星河网络借贷信息中介有限公司", "trust": "星河信托有限责任公司"}
"""Invented lenders, one per type, marked (模拟) in the files."""


def loan_rows(cfg: SimConfig, loans: Loans, rows: Ints, ids: pl.Series,
              borrower_ids: pl.Series) -> pl.DataFrame:
    """The loans file of the ingestion data contract for the loans at ``rows``; the product's
    name and any collateral ride along as extra columns (ignored by ingestion)."""
    if not len(rows):
        return pl.DataFrame(schema=dict.fromkeys(LOAN_COLUMNS, pl.String))
    prod = loans.product[rows]
    n = len(rows)
    disb = pl.Series(loans.disbursed[rows].astype("datetime64[D]")).dt.strftime("%Y-%m-%d")
    has_coll = loans.collateral_value[rows] > 0
    lid = ids.gather(rows)
    return pl.DataFrame([
        lid, borrower_ids.gather(loans.borrower[rows]),
        pick(LENDERS, loans.lender[rows], "lender_type"),
        yuan_text(loans.principal[rows]).alias("principal"),
        pl.repeat("CNY", n, dtype=pl.String, eager=True).alias("currency"),
        rate_text(loans.rate_bp[rows]).alias("annual_rate"),
        pick([p.method.value for p in cfg.products], prod, "repayment_method"),
        pl.Series("term_count", loans.term_count[rows]).cast(pl.String),
        pick(loans.periods, loans.period[rows], "period"),
        disb.alias("disbursed_on"), disb.alias("contract_signed_on"),
        yuan_text(loans.upfront[rows]).alias("upfront_fee"),
        pl.repeat(PENALTY_MULTIPLIER, n, dtype=pl.String, eager=True).alias(
            "penalty_rate_multiplier"),
        pl.Series("grace_days", loans.grace[rows]).cast(pl.String),
        yuan_text(loans.late_fee[rows]).alias("late_fee_fixed"),
        pick([LENDER_NAMES[x] + "(模拟)" for x in LENDERS], loans.lender[rows], "lender_name"),
        ("HT-" + lid).alias("contract_no"),
        pick([p.zh for p in cfg.products], prod, "product_name"),
        where(has_coll, pick([p.collateral or "" for p in cfg.products], prod)).alias(
            "collateral"),
        where(has_coll, yuan_text(loans.collateral_value[rows])).alias("collateral_value"),
    ])


def is_method(cfg: SimConfig, loans: Loans, method: Method) -> Bools:
    return np.array([p.method is method for p in cfg.products])[loans.product]
