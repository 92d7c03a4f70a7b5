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
from arrears.rules.pack import RulePack, load_pack
from arrears.settings import Settings


def cap_columns(terms: LoanTerms, lender_type: LenderType, formed_on: date,
                pack: RulePack) -> dict[str, Any]:
    chk = check_cost_cap(terms, lender_type, formed_on, pack)
    return {"cost_cap_rate": chk.cap, "all_in_rate": chk.all_in, "cap_excess": chk.excess,
            "cap_basis": chk.basis}


CAP_COLUMNS = ("cost_cap_rate", "all_in_rate", "cap_excess", "cap_basis")


def cap_frame(settings: Settings, code: str = "CN") -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The cap columns for validated loan rows, with the workspace's rule pack."""
    from arrears.services.booking import terms_from_record  # booking imports this module

    pack = load_pack(code, settings.rules_dir / code)

    def caps(loans: pl.DataFrame) -> pl.DataFrame:
        rows = []
        for r in loans.iter_rows(named=True):
            c = cap_columns(terms_from_record(r), LenderType(r["lender_type"]),
                            r["contract_signed_on"], pack)
            rows.append({"loan_id": r["loan_id"], **{k: str(c[k]) for k in CAP_COLUMNS}})
        return pl.DataFrame(rows, schema={"loan_id": pl.String,
                                          **{k: pl.String for k in CAP_COLUMNS}})

    return caps
