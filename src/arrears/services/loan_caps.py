"""The legal cost-cap check at booking: the applicable cap (rule pack) against the loan's
all-in cost by the IRR method (PBOC 〔2021〕No.3). Over-cap loans are booked and flagged with
the excess and the basis in words — never silently accepted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from arrears.book.caps import check_cost_cap
from arrears.book.terms import LenderType, LoanTerms
from arrears.rules.pack import RulePack, load_pack
from arrears.settings import Settings

CapFn = Callable[[LoanTerms, LenderType, date], Mapping[str, Any]]


def cap_columns(terms: LoanTerms, lender_type: LenderType, formed_on: date,
                pack: RulePack) -> dict[str, Any]:
    chk = check_cost_cap(terms, lender_type, formed_on, pack)
    return {"cost_cap_rate": chk.cap, "all_in_rate": chk.all_in, "cap_excess": chk.excess,
            "cap_basis": chk.basis}


def cap_checker(settings: Settings, code: str = "CN") -> tuple[CapFn, RulePack]:
    pack = load_pack(code, settings.rules_dir / code)

    def check(terms: LoanTerms, lender_type: LenderType, formed_on: date) -> Mapping[str, Any]:
        return cap_columns(terms, lender_type, formed_on, pack)

    return check, pack
