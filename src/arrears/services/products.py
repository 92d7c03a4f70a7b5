"""Storing products and applying them to incoming loan rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, update

from arrears.contract.products import Product
from arrears.store import schema


@dataclass(frozen=True, slots=True)
class SaveReport:
    added: int
    updated: int
    unchanged: int


def _hash(p: Product) -> str:
    return hashlib.sha256(p.model_dump_json().encode()).hexdigest()


def save_products(engine: Engine, products: Sequence[Product], now: datetime) -> SaveReport:
    """Insert new products and update changed ones (idempotent). A changed product applies to
    loans ingested afterwards; loans already booked keep the terms they were booked with."""
    t = schema.products
    added = updated = same = 0
    with engine.begin() as conn:
        known = {r.code: r.content_hash for r in conn.execute(select(t.c.code, t.c.content_hash))}
        for p in products:
            h = _hash(p)
            row = {"name": p.name, "terms": p.terms.as_contract(), "content_hash": h,
                   "updated_at": now}
            if p.code not in known:
                conn.execute(insert(t).values(code=p.code, **row))
                added += 1
            elif known[p.code] != h:
                conn.execute(update(t).where(t.c.code == p.code).values(**row))
                updated += 1
            else:
                same += 1
    return SaveReport(added, updated, same)


def product_defaults(conn: Connection) -> pl.DataFrame:
    """One row per product: ``product_code`` and its settings as contract-field strings."""
    rows = conn.execute(select(schema.products.c.code, schema.products.c.terms)).all()
    records = [{"product_code": code, **(terms if isinstance(terms, dict) else json.loads(terms))}
               for code, terms in rows]
    return pl.DataFrame(records, infer_schema_length=None) if records else pl.DataFrame(
        {"product_code": []}, schema={"product_code": pl.String})


def apply_products(loans: pl.DataFrame, products: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                          pl.DataFrame]:
    """Fill each loan row's empty term columns from its product. Returns (rows, rows naming
    an unknown product). Rows without a product pass through unchanged."""
    if "product_code" not in loans.columns:
        return loans, loans.clear()
    code = pl.col("product_code").str.strip_chars()
    named = code.is_not_null() & (code != "")
    unknown = loans.filter(named & ~code.is_in(products["product_code"].implode()))
    known = loans.filter(~named | code.is_in(products["product_code"].implode()))
    settings = [c for c in products.columns if c != "product_code"]
    if not settings:
        return known, unknown
    prod = products.rename({c: f"__p_{c}" for c in settings})
    joined = known.join(prod, on="product_code", how="left")
    fills = []
    for c in settings:
        mine = pl.col(c) if c in known.columns else pl.lit(None, dtype=pl.String)
        blank = mine.is_null() | (mine.cast(pl.String).str.strip_chars() == "")
        fills.append(pl.when(blank).then(pl.col(f"__p_{c}").cast(pl.String))
                     .otherwise(mine.cast(pl.String)).alias(c))
    return joined.with_columns(fills).drop([f"__p_{c}" for c in settings]), unknown
