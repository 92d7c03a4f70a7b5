"""Row validation against the data contract — vectorised over the whole file (Polars).

Input: a frame of strings as read from the file. Output: the good rows with typed columns and
the bad rows with every problem named (row, field, reason). Personal fields never appear
unmasked in a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from arrears.contract.fields import PERSONAL, Field, Kind

ROW = "_row"  # 1-based data row (for CSV the line number is _row + 1)
_ID_RE = r"^[A-Za-z0-9_\-.:]{1,64}$"
_MONEY_RE = r"^\d+(\.\d+)?$"
_RATE_RE = r"^\d+(\.\d+)?$"
_INT_RE = r"^\d+$"
_MOBILE_RE = r"^(1[3-9]\d{9}|\+\d{6,15})$"
_PERIOD_RE = r"^(month|monthly|quarter|week|day|\d+\s*[mdw])$"
_TRUE = ("true", "1", "yes", "y", "是")
_FALSE = ("false", "0", "no", "n", "否")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True, slots=True)
class Checked:
    good: pl.DataFrame  # typed contract columns + _row
    bad: pl.DataFrame  # original columns (strings) + _row, _field, _reason


def mask(field: str, value: str | None) -> str:
    """A value as it may appear in a message: personal fields masked (PIPL)."""
    if value is None:
        return "empty"
    if field not in PERSONAL:
        return repr(value)
    if len(value) <= 2:
        return "'*'"
    return repr(value[0] + "*" * (len(value) - 2) + value[-1])


def _blank(c: pl.Expr) -> pl.Expr:
    return c.is_null() | (c.str.strip_chars() == "")


def _money_fen(c: pl.Expr) -> pl.Expr:
    """'1234.5' -> 123450 (2 minor digits); null when more than 2 decimals."""
    parts = c.str.split_exact(".", 1)
    whole = parts.struct.field("field_0").cast(pl.Int64, strict=False)
    frac = parts.struct.field("field_1").fill_null("")
    ok = frac.str.len_chars() <= 2
    cents = pl.when(frac == "").then(0).otherwise(
        frac.str.pad_end(2, "0").cast(pl.Int64, strict=False))
    return pl.when(ok).then(whole * 100 + cents).otherwise(None)


def _id_checksum_ok(c: pl.Expr) -> pl.Expr:
    digits = [c.str.slice(i, 1).cast(pl.Int64, strict=False) for i in range(17)]
    total = pl.sum_horizontal([d * w for d, w in zip(digits, _ID_WEIGHTS, strict=True)])
    expected = pl.lit(_ID_CHECK).str.slice(total % 11, 1)
    return c.str.slice(17, 1).str.to_uppercase() == expected


def _parse(f: Field, raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, error text or null) for one field."""
    s = raw.str.strip_chars()
    k = f.kind
    if k is Kind.ID:
        return s, pl.when(~s.str.contains(_ID_RE)).then(
            pl.lit("not an id (1–64 of letters, digits, - _ . :)"))
    if k is Kind.TEXT:
        return s, pl.when(s.str.len_chars() > 500).then(pl.lit("longer than 500 characters"))
    if k is Kind.MONEY:
        fen = _money_fen(s)
        err = (pl.when(s.str.starts_with("-")).then(pl.lit("negative amount"))
               .when(~s.str.contains(_MONEY_RE)).then(pl.lit("not an amount (e.g. 1234.56)"))
               .when(fen.is_null()).then(pl.lit("more than 2 decimals")))
        return fen, err
    if k is Kind.RATE:
        ok = s.str.contains(_RATE_RE)
        too_big = s.cast(pl.Float64, strict=False) >= 10  # range check only, never a value
        return s, (pl.when(~ok).then(pl.lit("not a rate (a decimal fraction, e.g. 0.18)"))
                   .when(too_big).then(pl.lit("rate of 10 (1000 %) or more")))
    if k is Kind.INT:
        v = s.cast(pl.Int64, strict=False)
        low = f.low if f.low is not None else -(2**62)
        high = f.high if f.high is not None else 2**62
        return v, (pl.when(~s.str.contains(_INT_RE)).then(pl.lit("not a whole number"))
                   .when(v < low).then(pl.lit(f"less than {low}"))
                   .when(v > high).then(pl.lit(f"more than {high}")))
    if k is Kind.DATE:
        v = s.str.to_date("%Y-%m-%d", strict=False)
        return v, pl.when(v.is_null()).then(pl.lit("not a date (YYYY-MM-DD)"))
    if k is Kind.DATETIME:
        v = _datetime(s)
        return v, pl.when(v.is_null()).then(
            pl.lit("not a date-time (YYYY-MM-DD HH:MM:SS, optional ±HH:MM)"))
    if k is Kind.CHOICE:
        v = s if f.name in ("currency", "gender") else s.str.to_lowercase()
        return v, pl.when(~v.is_in(list(f.choices))).then(
            pl.lit("not one of " + ", ".join(f.choices)))
    if k is Kind.BOOL:
        word = s.str.to_lowercase()
        v = pl.when(word.is_in(_TRUE)).then(True).when(word.is_in(_FALSE)).then(False)
        return v, pl.when(v.is_null()).then(pl.lit("not true/false"))
    if k is Kind.MOBILE:
        v = s.str.replace_all(r"[\s-]", "")
        return v, pl.when(~v.str.contains(_MOBILE_RE)).then(pl.lit("not a mobile number"))
    if k is Kind.ID_NUMBER:
        v = s.str.to_uppercase()
        fmt_ok = v.str.contains(r"^\d{17}[\dX]$") | v.str.contains(r"^\d{15}$")
        sum_ok = (v.str.len_chars() == 15) | _id_checksum_ok(v)
        return v, (pl.when(~fmt_ok).then(pl.lit("not an 18-character resident ID number"))
                   .when(~sum_ok).then(pl.lit("resident ID check digit does not match")))
    if k is Kind.PERIOD:
        v = s.str.to_lowercase()
        return v, pl.when(~v.str.contains(_PERIOD_RE)).then(
            pl.lit("not a period (month, quarter, 3m, 7d, 14d, 2w)"))
    if k is Kind.WATERFALL:
        v = s.str.to_lowercase().str.replace_all(r"\s", "")
        parts = v.str.split(",")
        ok = (parts.list.len() == 4) & (parts.list.sort().list.join(",")
                                       == "fee,interest,penalty,principal")
        return v, pl.when(~ok).then(
            pl.lit("not an order of fee, penalty, interest, principal (each once)"))
    raise AssertionError(f"unhandled kind {k}")


def _datetime(s: pl.Expr) -> pl.Expr:
    """Naive local date-times; an explicit offset is converted to Asia/Shanghai local time."""
    naive = pl.coalesce(
        s.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False),
        s.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False),
        s.str.to_datetime("%Y-%m-%d %H:%M", strict=False),
        s.str.to_datetime("%Y-%m-%dT%H:%M", strict=False),
        s.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
    )
    aware = pl.coalesce(
        s.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone="Asia/Shanghai"),
        s.str.to_datetime("%Y-%m-%d %H:%M:%S%z", strict=False, time_zone="Asia/Shanghai"),
    ).dt.replace_time_zone(None)
    return pl.coalesce(naive.cast(pl.Datetime("us")), aware.cast(pl.Datetime("us")))


def check(frame: pl.DataFrame, fields: Sequence[Field]) -> Checked:
    """Validate every row; a row with any problem goes to ``bad`` with all its problems.
    Rows are numbered from 1 unless the frame already carries its own ``_row`` numbers."""
    df = frame if ROW in frame.columns else frame.with_row_index(ROW, offset=1)
    missing_cols = [f.name for f in fields if f.required and f.name not in df.columns]
    if missing_cols:
        reason = "missing column(s): " + ", ".join(missing_cols)
        bad = df.with_columns(pl.lit(missing_cols[0]).alias("_field"),
                              pl.lit(reason).alias("_reason"))
        return Checked(df.clear().select(ROW), bad)
    typed, errors = _expressions(tuple(fields), frozenset(df.columns))
    probs = df.select(pl.col(ROW), pl.concat_list(errors).list.drop_nulls().alias("_p"))
    flagged = probs.filter(pl.col("_p").list.len() > 0)
    bad_rows = df.join(flagged, on=ROW).with_columns(
        pl.col("_p").list.first().str.split(":").list.first().alias("_field"),
        pl.col("_p").list.join("; ").alias("_reason"),
    ).drop("_p")
    good = df.filter(~pl.col(ROW).is_in(flagged[ROW].implode())).select(pl.col(ROW), *typed)
    return Checked(good, bad_rows)


@lru_cache(maxsize=64)
def _expressions(fields: tuple[Field, ...],
                 columns: frozenset[str]) -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...]]:
    """The typed value and the error text of every field, given the columns a file has.
    Built once per layout: a file of a few rows (a day's payments) otherwise spends more
    time composing these few hundred expressions than evaluating them."""
    typed: list[pl.Expr] = []
    errors: list[pl.Expr] = []
    for f in fields:
        if f.name not in columns:
            if not f.required:
                typed.append(_absent(f))
            continue
        raw = pl.col(f.name).cast(pl.String)
        if f.default is not None:
            raw = pl.when(_blank(raw)).then(pl.lit(f.default)).otherwise(raw)
        value, err = _parse(f, raw)
        blank = _blank(raw)
        if f.required:
            err = pl.when(blank).then(pl.lit("missing")).otherwise(err)
        else:
            err = pl.when(blank).then(None).otherwise(err)
            value = pl.when(blank).then(None).otherwise(value)
        typed.append(value.alias(f.name))
        errors.append(pl.when(err.is_not_null()).then(
            pl.concat_str(pl.lit(f.name + ": "), err,
                          pl.lit(" (got "), _shown(f, raw), pl.lit(")"))).alias(f.name))
    return tuple(typed), tuple(errors)


def _absent(f: Field) -> pl.Expr:
    """An optional field the file does not have: its default (or null), typed as if read,
    as a constant — checked here once, not on every row of every file."""
    raw = pl.lit(f.default, dtype=pl.String)
    value, err = _parse(f, raw)
    blank = _blank(raw)
    got = pl.select(pl.when(blank).then(None).otherwise(value).alias("v"),
                    pl.when(blank).then(None).otherwise(err).cast(pl.String).alias("e"))
    if got["e"][0] is not None:
        raise AssertionError(f"the default of {f.name}, {f.default!r}, fails: {got['e'][0]}")
    return pl.lit(got["v"][0], dtype=got["v"].dtype).alias(f.name)


def _shown(f: Field, raw: pl.Expr) -> pl.Expr:
    """The offending value for a message — masked for personal fields."""
    if f.name in PERSONAL:
        return pl.lit("<masked>")
    return pl.when(raw.is_null()).then(pl.lit("empty")).otherwise(
        pl.concat_str(pl.lit("'"), raw.str.slice(0, 40), pl.lit("'")))
