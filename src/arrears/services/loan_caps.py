"""The legal cost-cap check at booking: the applicable cap (rule pack) against the loan's
all-in cost by the IRR method (PBOC 〔2021〕No.3). Over-cap loans are booked and flagged with
the excess and the basis in words — never silently accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import polars as pl

from arrears.book.caps import check_cost_cap
from arrears.book.terms import LenderType, LoanTerms
from arrears.book.vector_caps import all_in_rates, cap_checks
from arrears.rules.pack import RulePack, load_pack
from arrears.settings import Settings


def cap_columns(terms: LoanTerms, lender_type: LenderType, formed_on: date,
                pack: RulePack) -> dict[str, Any]:
    chk = check_cost_cap(terms, lender_type, formed_on, pack)
    return {"cost_cap_rate": chk.cap, "all_in_rate": chk.all_in, "cap_excess": chk.excess,
            "cap_basis": chk.basis}


CAP_COLUMNS = ("cost_cap_rate", "all_in_rate", "cap_excess", "cap_basis")


def cap_frame(settings: Settings, code: str = "CN") -> Callable[
        [pl.DataFrame, pl.DataFrame, pl.DataFrame], pl.DataFrame]:
    """The cap check for a batch of loans, with the workspace's rule pack: given the loans'
    schedule terms (``book.vector_caps.LOAN_SCHEMA``), their schedules and their legal facts
    (``loan_id, lender_type, contract_signed_on``), the cap columns per loan — the same texts
    ``check_cost_cap`` gives one loan at a time."""
    pack = load_pack(code, settings.rules_dir / code)

    def caps(terms: pl.DataFrame, schedules: pl.DataFrame,
             legal: pl.DataFrame) -> pl.DataFrame:
        return cap_checks(legal, all_in_rates(terms, schedules), pack)

    return caps
