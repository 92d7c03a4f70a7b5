"""Money as integer minor units, and exact rounding at named points.

Balances never touch floats: an amount is an ``int`` of minor units (fen for CNY) and a
currency; rates are ``Decimal``. Every division that can leave a fraction goes through
``div_round`` with a named ``Rounding`` mode, so the place and the way a fen is decided are
always explicit.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

MINOR_DIGITS: dict[str, int] = {"CNY": 2, "USD": 2, "HKD": 2, "EUR": 2, "JPY": 0}


class Rounding(StrEnum):
    """Rounding modes, named as in banking practice."""

    HALF_UP = "half-up"  # 四舍五入 — the default in Chinese practice and court judgments
    HALF_EVEN = "half-even"  # banker's rounding (Fineract's default)
    DOWN = "down"  # towards zero (truncate)
    UP = "up"  # away from zero
    FLOOR = "floor"
    CEILING = "ceiling"

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    Rounding.HALF_UP: decimal.ROUND_HALF_UP,
    Rounding.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    Rounding.DOWN: decimal.ROUND_DOWN,
    Rounding.UP: decimal.ROUND_UP,
    Rounding.FLOOR: decimal.ROUND_FLOOR,
    Rounding.CEILING: decimal.ROUND_CEILING,
}


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in the currency's minor units."""


def minor_digits(currency: str) -> int:
    try:
        return MINOR_DIGITS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def div_round(num: int, den: int, mode: Rounding = Rounding.HALF_UP) -> int:
    """``num / den`` rounded to an integer, exactly, by ``mode``.

    Pure integer arithmetic: no precision limit, identical in every engine that reproduces it
    (the Polars engine does the same with Int128 columns).
    """
    if den == 0:
        raise ZeroDivisionError("div_round by zero")
    if den < 0:
        num, den = -num, -den
    q, r = divmod(num, den)  # floor division: 0 <= r < den
    if r == 0:
        return q
    if mode is Rounding.FLOOR:
        return q
    if mode is Rounding.CEILING:
        return q + 1
    negative = num < 0
    if mode is Rounding.DOWN:
        return q + 1 if negative else q
    if mode is Rounding.UP:
        return q if negative else q + 1
    twice = 2 * r
    if twice < den:
        return q
    if twice > den:
        return q + 1
    # exactly half
    if mode is Rounding.HALF_UP:
        return q if negative else q + 1
    return q if q % 2 == 0 else q + 1  # HALF_EVEN


def ratio(value: Decimal | int | str) -> tuple[int, int]:
    """The exact rational ``(numerator, denominator)`` of a decimal rate."""
    frac = Fraction(Decimal(value))
    return frac.numerator, frac.denominator


def to_minor(value: Decimal | str | int, currency: str = "CNY") -> int:
    """Major units (``"1234.56"``) to minor units (123456); refuses sub-minor precision."""
    try:
        d = Decimal(value) if not isinstance(value, Decimal) else value
    except decimal.InvalidOperation:
        raise MoneyError(f"not an amount: {value!r}") from None
    if not d.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    scaled = d.scaleb(minor_digits(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value} has more decimals than {currency} allows")
    return int(scaled)


def to_major(minor: int, currency: str = "CNY") -> Decimal:
    """Minor units to a ``Decimal`` in major units with the currency's exponent."""
    digits = minor_digits(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def fmt(minor: int, currency: str = "CNY") -> str:
    """Minor units as a plain decimal string in major units: 123456 -> '1234.56'."""
    return str(to_major(minor, currency))


def quantize(value: Decimal, currency: str = "CNY", mode: Rounding = Rounding.HALF_UP) -> int:
    """A Decimal in major units rounded to minor units by ``mode``."""
    digits = minor_digits(currency)
    return int(value.scaleb(digits).quantize(Decimal(1), rounding=mode.decimal_mode))


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of one currency in minor units."""

    minor: int
    currency: str = "CNY"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    @classmethod
    def of(cls, value: Decimal | str | int, currency: str = "CNY") -> Money:
        return cls(to_minor(value, currency), currency)

    def __str__(self) -> str:
        return f"{fmt(self.minor, self.currency)} {self.currency}"
