"""Delinquency buckets (账龄): a table of day ranges, named as the lender names them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    low: int  # inclusive dpd
    high: int | None  # inclusive; None = open-ended


@dataclass(frozen=True, slots=True)
class BucketTable:
    name: str
    buckets: tuple[Bucket, ...]

    def __post_init__(self) -> None:
        expect = 0
        for b in self.buckets:
            if b.low != expect:
                raise ValueError(f"bucket table {self.name}: {b.name} starts at {b.low}, "
                                 f"expected {expect} (ranges must be contiguous from 0)")
            if b.high is None:
                break
            expect = b.high + 1
        if self.buckets[-1].high is not None:
            raise ValueError(f"bucket table {self.name}: the last bucket must be open-ended")

    def of(self, dpd: int) -> str:
        for b in self.buckets:
            if b.high is None or dpd <= b.high:
                return b.name
        raise AssertionError("unreachable: the last bucket is open-ended")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.buckets)


CN_M = BucketTable("CN-M", (
    Bucket("M0", 0, 0), Bucket("M1", 1, 30), Bucket("M2", 31, 60), Bucket("M3", 61, 90),
    Bucket("M4", 91, 120), Bucket("M5", 121, 150), Bucket("M6", 151, 180),
    Bucket("M6+", 181, None),
))
US_30 = BucketTable("US-30", (
    Bucket("current", 0, 29), Bucket("30", 30, 59), Bucket("60", 60, 89), Bucket("90", 90, 119),
    Bucket("120", 120, 149), Bucket("150", 150, 179), Bucket("180+", 180, None),
))
