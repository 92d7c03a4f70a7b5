"""Is a loan's all-in cost within its legal cap? (CN.md §1; PBOC 〔2021〕No.3 for the cost).

The all-in cost is the nominal APR by the IRR method of the contract cash flows — net
disbursement in, every instalment's principal + interest + fee out — so upfront fees (砍头息)
and service fees count, as the caps are "comprehensive" (综合成本) caps. A loan above its cap is
flagged with the excess; it is never silently accepted.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from arrears.book.apr import Apr, apr_of_loan
from arrears.book.terms import LenderType, LoanTerms
from arrears.rules.cost_cap import CostCap
from arrears.rules.lpr import pct
from arrears.rules.pack import RulePack


@dataclass(frozen=True, slots=True)
class CapCheck:
    """A loan's all-in annual cost against the cap that binds it, with the reasons."""

    cap: Decimal  # annual rate allowed (the strictest segment of ``cost_cap``)
    all_in: Decimal  # nominal APR of the actual cash flows, IRR method
    excess: Decimal  # max(0, all_in − cap)
    within: bool
    basis: str
    cost_cap: CostCap  # regime, segments and the cap's own basis
    apr: Apr  # how the all-in figure was obtained


def check_cost_cap(terms: LoanTerms, lender_type: LenderType, formed_on: date,
                   pack: RulePack, filed_on: date | None = None) -> CapCheck:
    """Hold ``terms``' all-in APR against the cap for ``lender_type`` formed on ``formed_on``
    (``filed_on`` matters only for loans under a transition, e.g. CN Art. 31)."""
    cost_cap = pack.cost_cap(lender_type, formed_on, filed_on)
    apr = apr_of_loan(terms)
    all_in = apr.nominal_apr
    with decimal.localcontext(decimal.Context(prec=50)):  # exact whatever the caller's context
        excess = max(Decimal(0), all_in - cost_cap.rate)
    within = excess == 0
    verdict = ("within the cap" if within
               else f"EXCEEDS the cap by {pct(excess)} — the excess is not supported by a court")
    basis = (f"all-in cost {pct(all_in)} a year ({apr.method}, nominal APR; {apr.basis}) "
             f"against cap {pct(cost_cap.rate)} [{cost_cap.regime}]: {verdict}. "
             f"Cap: {cost_cap.basis}")
    return CapCheck(cost_cap.rate, all_in, excess, within, basis, cost_cap, apr)
