"""Delinquency buckets (账龄): a table of day ranges, named as the lender names them.

The tables themselves are rule-pack data (``delinquency.tables`` in ``rules/<CODE>/pack.yaml``,
e.g. ``CN-M`` M0…M6+ and ``US-30``); this module is the pure type and the two ways to apply
it: ``BucketTable.of`` for one dpd, ``bucket_columns`` for a whole column (proven equal in
``tests/book/test_limitation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    low: int  # inclusive dpd
    high: int | None  # inclusive; None = open-ended
    label_zh: str = ""  # e.g. "逾期 31–60 天"
    label_en: str = ""  # e.g. "31–60 days past due"

    @property
    def days(self) -> str:
        """The range as people write it: ``0``, ``31–60``, ``≥181``."""
        if self.high is None:
            return f"≥{self.low}"
        return str(self.low) if self.high == self.low else f"{self.low}–{self.high}"


@dataclass(frozen=True, slots=True)
class BucketTable:
    """Buckets contiguous from dpd 0, the last one open-ended; the rank of a bucket is its
    position (0 = current)."""

    name: str
    buckets: tuple[Bucket, ...]
    title_zh: str = ""
    title_en: str = ""

    def __post_init__(self) -> None:
        if not self.buckets:
            raise ValueError(f"bucket table {self.name}: no buckets")
        if len(self.buckets) > 127:  # the rank is an Int8 column
            raise ValueError(f"bucket table {self.name}: more than 127 buckets")
        names = [b.name for b in self.buckets]
        if len(set(names)) != len(names):
            raise ValueError(f"bucket table {self.name}: bucket names repeat: {names}")
        expect = 0
        for i, b in enumerate(self.buckets):
            if b.low != expect:
                raise ValueError(f"bucket table {self.name}: {b.name} starts at {b.low}, "
                                 f"expected {expect} (ranges must be contiguous from 0)")
            if b.high is None:
                if i != len(self.buckets) - 1:
                    raise ValueError(f"bucket table {self.name}: {b.name} is open-ended but "
                                     "is not the last bucket")
                break
            if b.high < b.low:
                raise ValueError(f"bucket table {self.name}: {b.name} ends at {b.high}, "
                                 f"before it starts ({b.low})")
            expect = b.high + 1
        if self.buckets[-1].high is not None:
            raise ValueError(f"bucket table {self.name}: the last bucket must be open-ended")

    def rank(self, dpd: int) -> int:
        """The position of the bucket holding ``dpd`` (0 = the first, current bucket)."""
        if dpd < 0:
            raise ValueError(f"dpd {dpd} is negative")
        for i, b in enumerate(self.buckets):
            if b.high is None or dpd <= b.high:
                return i
        raise AssertionError("unreachable: the last bucket is open-ended")

    def bucket(self, dpd: int) -> Bucket:
        return self.buckets[self.rank(dpd)]

    def of(self, dpd: int) -> str:
        """The name of the bucket holding ``dpd`` (days past due, at least 0)."""
        return self.bucket(dpd).name

    def reason(self, dpd: int) -> str:
        """Why ``dpd`` is in its bucket: ``dpd 45 → M2 (31–60 天/days)``."""
        b = self.bucket(dpd)
        return f"dpd {dpd} → {b.name} ({b.days} 天/days)"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.buckets)


def bucket_columns(dpd: pl.Expr, table: BucketTable) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """``bucket`` (String), ``bucket_rank`` (Int8) and ``bucket_reason`` (String) of an integer
    dpd column — ``table.of``, ``table.rank`` and ``table.reason`` row by row. A null or
    negative dpd gives nulls (the scalar form refuses a negative dpd)."""
    d = dpd.cast(pl.Int64)
    rank = pl.lit(0, pl.Int64)
    for b in table.buckets[1:]:
        rank = rank + (d >= b.low).cast(pl.Int64)
    ranks = list(range(len(table.buckets)))
    rank = pl.when(d >= 0).then(rank).cast(pl.Int8)
    name = rank.replace_strict(ranks, list(table.names), return_dtype=pl.String)
    days = rank.replace_strict(ranks, [b.days for b in table.buckets], return_dtype=pl.String)
    reason = pl.format("dpd {} → {} ({} 天/days)", d, name, days)
    return name.alias("bucket"), rank.alias("bucket_rank"), reason.alias("bucket_reason")
