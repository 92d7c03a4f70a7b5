"""Content fingerprints: what tells a re-sent input (same id, same content: a duplicate) from a
conflict (same id, other content). One definition for a payment whether it comes from a file
or from a person, so the two paths recognise each other's payments.

A payment's fingerprint is its canonical text ``loan_id|amount|paid_at|channel`` (amount in
minor units, paid_at to the microsecond) — exact, and cheap to compute for a million rows —
or, when that text is longer than 64 characters, its SHA-256.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import polars as pl

_LIMIT = 64  # the stored column's width


def payment_fingerprint(loan_id: str, amount: int, paid_at: datetime, channel: str) -> str:
    text = f"{loan_id}|{amount}|{paid_at:%Y-%m-%dT%H:%M:%S.%f}|{channel}"
    return text if len(text) <= _LIMIT else hashlib.sha256(text.encode()).hexdigest()


def payment_fingerprints(frame: pl.DataFrame) -> pl.Series:
    """``payment_fingerprint`` of every row (columns loan_id, amount, paid_at, channel)."""
    text = frame.select(pl.concat_str(
        pl.col("loan_id"), pl.col("amount").cast(pl.String),
        pl.col("paid_at").dt.strftime("%Y-%m-%dT%H:%M:%S.%6f"), pl.col("channel"),
        separator="|")).to_series()
    long = text.str.len_chars() > _LIMIT
    if not long.any():
        return text.alias("_hash")
    digests = {t: hashlib.sha256(t.encode()).hexdigest() for t in text.filter(long).to_list()}
    return text.replace(digests).alias("_hash")
