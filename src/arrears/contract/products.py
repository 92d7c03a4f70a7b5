"""Products (产品): named defaults for the loan terms a lender sets per product — waterfall,
grace, penalty, fees, day count, overpayment policy. A loan row naming a product takes every
optional term it leaves empty from the product; what the row states wins.

Products are data: a YAML file validated here, loaded into the store by ``arrears product
load``. Validation errors name the file, the product and the field.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arrears.book.terms import (
    COMPONENTS,
    AllocationScope,
    DpdGrace,
    GracePenalty,
    Overpayment,
)
from arrears.calendar import DayCount, MonthEnd
from arrears.money import Rounding


class ProductError(ValueError):
    """A products file that cannot be loaded (names the file, product and field)."""


class ProductTerms(BaseModel):
    """Defaults a product gives its loans; every field optional (names as in the data
    contract, money in yuan as decimal strings, rates as decimal fractions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: DayCount | None = None
    rounding: Rounding | None = None
    month_end: MonthEnd | None = None
    service_fee_rate: Decimal | None = Field(None, ge=0, lt=10)
    service_fee_fixed: Decimal | None = Field(None, ge=0)
    late_fee_fixed: Decimal | None = Field(None, ge=0)
    late_fee_rate: Decimal | None = Field(None, ge=0, lt=10)
    penalty_rate_multiplier: Decimal | None = Field(None, ge=0, lt=10)
    penalty_rate: Decimal | None = Field(None, ge=0, lt=10)
    penalty_on_interest: bool | None = None
    grace_days: int | None = Field(None, ge=0, le=90)
    grace_penalty: GracePenalty | None = None
    dpd_grace: DpdGrace | None = None
    waterfall: tuple[str, ...] | None = None
    allocation_scope: AllocationScope | None = None
    overpayment: Overpayment | None = None

    @field_validator("waterfall", mode="before")
    @classmethod
    def _order(cls, v: Any) -> Any:
        if v is None:
            return v
        items = [s.strip() for s in (v.split(",") if isinstance(v, str) else v)]
        if sorted(items) != sorted(c.value for c in COMPONENTS):
            raise ValueError("must list fee, penalty, interest and principal, each once")
        return tuple(items)

    @field_validator("service_fee_fixed", "late_fee_fixed")
    @classmethod
    def _fen(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and v != v.quantize(Decimal("0.01")):
            raise ValueError("more than 2 decimals")
        return v

    def as_contract(self) -> dict[str, str]:
        """The settings as contract-field strings (what a loan row would say)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, tuple):
                out[name] = ",".join(value)
            elif isinstance(value, bool):
                out[name] = "true" if value else "false"
            else:
                out[name] = str(getattr(value, "value", value))
        return out


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Za-z0-9_\-.:]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    terms: ProductTerms = ProductTerms()


def load_products(path: Path) -> list[Product]:
    """Products from a YAML file: ``products: [{code, name, terms: {...}}, ...]``."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProductError(f"{path}: cannot read: {exc}") from exc
    items = doc.get("products") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ProductError(f"{path}: expected a top-level 'products:' list")
    out, seen = [], set()
    for i, item in enumerate(items, start=1):
        code = item.get("code", f"#{i}") if isinstance(item, dict) else f"#{i}"
        try:
            p = Product.model_validate(item)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
                              for e in exc.errors())
            raise ProductError(f"{path}: product {code}: {where}") from None
        if p.code in seen:
            raise ProductError(f"{path}: product {p.code} is defined twice")
        seen.add(p.code)
        out.append(p)
    return out
