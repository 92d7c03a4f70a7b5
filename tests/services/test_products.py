"""Products: term defaults as data, inherited by the loans that name them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from arrears.contract.products import ProductError, load_products
from arrears.services.ingest import ingest_paths
from arrears.services.products import save_products
from arrears.settings import Settings
from arrears.store import schema
from tests.services.test_ingest import BORROWERS, LOANS, write_csv

NOW = datetime(2026, 1, 1)

PRODUCTS = """
products:
  - code: CASH14
    name: 14-day cash loan
    terms:
      waterfall: penalty,fee,interest,principal
      allocation_scope: component-first
      grace_days: 3
      late_fee_fixed: "20.00"
      penalty_rate: "0.24"
      overpayment: reduce-term
"""


def test_loans_inherit_the_terms_they_leave_empty(db: Engine, settings: Settings,
                                                  tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PRODUCTS, encoding="utf-8")
    rep = save_products(db, load_products(tmp_path / "p.yaml"), NOW)
    assert (rep.added, rep.updated, rep.unchanged) == (1, 0, 0)
    again = save_products(db, load_products(tmp_path / "p.yaml"), NOW)
    assert (again.added, again.unchanged) == (0, 1)
    header = [*LOANS[0], "product_code"]
    inherit = [*LOANS[1][:-1], "", "CASH14"]  # grace_days left empty
    override = ["L5", *LOANS[1][1:-1], "0", "CASH14"]  # grace_days stated
    unknown = ["L6", *LOANS[1][1:-1], "", "NOPE"]
    b = write_csv(tmp_path / "b.csv", BORROWERS[:2])
    lo = write_csv(tmp_path / "l.csv", [header, inherit, override, unknown])
    _, loans = ingest_paths([b, lo], db, settings, NOW)
    assert loans.rows_new == 2 and loans.rows_quarantined == 1
    assert "unknown product NOPE" in loans.problems[0]
    t = schema.loans
    with db.connect() as c:
        rows = {r.loan_id: r for r in c.execute(select(
            t.c.loan_id, t.c.grace_days, t.c.waterfall, t.c.allocation_scope, t.c.late_fee_fixed,
            t.c.penalty_rate, t.c.overpayment))}
    assert rows["L1"].grace_days == 3 and rows["L5"].grace_days == 0
    for r in rows.values():
        assert r.waterfall == "penalty,fee,interest,principal"
        assert r.allocation_scope == "component-first"
        assert r.late_fee_fixed == 2000 and str(r.penalty_rate) == "0.24"
        assert r.overpayment == "reduce-term"


@pytest.mark.parametrize(("text", "message"), [
    ("products:\n  - code: A\n    name: a\n    terms: {waterfall: fee,fee,interest,principal}",
     "product A: terms.waterfall"),
    ("products:\n  - code: A\n    name: a\n    terms: {grace_days: 400}",
     "product A: terms.grace_days"),
    ("products:\n  - code: A\n    name: a\n    terms: {colour: red}", "product A: terms.colour"),
    ("products:\n  - {code: A, name: a}\n  - {code: A, name: b}", "product A is defined twice"),
    ("nothing: here", "expected a top-level 'products:' list"),
])
def test_a_bad_products_file_names_the_product_and_field(tmp_path: Path, text: str,
                                                         message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProductError, match=message):
        load_products(path)
