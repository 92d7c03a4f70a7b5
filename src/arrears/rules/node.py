"""Typed reading of a parsed rule-pack YAML, so a malformed pack fails naming file and key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from arrears.rules.errors import PackError


@dataclass(frozen=True, slots=True)
class Node:
    """A mapping in a pack file, with the path that led to it (``cost_caps.families.x``)."""

    data: dict[str, Any]
    file: str
    path: str = ""

    @classmethod
    def root(cls, data: Any, file: str) -> Node:
        if not isinstance(data, dict):
            raise PackError(f"{file}: expected a mapping at the top level")
        return cls(data, file)

    def _where(self, key: str) -> str:
        return f"{self.file}: {self.path + '.' if self.path else ''}{key}"

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        if not self.has(key):
            raise PackError(f"{self._where(key)} is missing")
        return self.data[key]

    def node(self, key: str) -> Node:
        value = self.raw(key)
        if not isinstance(value, dict):
            raise PackError(f"{self._where(key)} must be a mapping")
        return Node(value, self.file, f"{self.path + '.' if self.path else ''}{key}")

    def nodes(self, key: str) -> list[Node]:
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise PackError(f"{self._where(key)} must be a list of mappings")
        base = f"{self.path + '.' if self.path else ''}{key}"
        return [Node(v, self.file, f"{base}[{i}]") for i, v in enumerate(value)]

    def text(self, key: str, default: str | None = None) -> str:
        if default is not None and not self.has(key):
            return default
        value = self.raw(key)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise PackError(f"{self._where(key)} must be text")
        return str(value)

    def texts(self, key: str) -> tuple[str, ...]:
        if not self.has(key):
            return ()
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PackError(f"{self._where(key)} must be a list of text")
        return tuple(value)

    def decimal(self, key: str) -> Decimal:
        value = self.raw(key)
        # quoted in the YAML on purpose: a YAML float would already have lost exactness
        if not isinstance(value, str):
            raise PackError(f"{self._where(key)} must be a quoted decimal, e.g. \"0.24\"")
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise PackError(f"{self._where(key)}: {value!r} is not a decimal") from None
        if not d.is_finite():
            raise PackError(f"{self._where(key)}: {value!r} is not a finite decimal")
        return d

    def optional_decimal(self, key: str) -> Decimal | None:
        return self.decimal(key) if self.has(key) else None

    def day(self, key: str) -> date:
        value = self.raw(key)
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise PackError(f"{self._where(key)}: {value!r} is not a date (YYYY-MM-DD)") from None

    def optional_day(self, key: str) -> date | None:
        return self.day(key) if self.has(key) else None

    def flag(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise PackError(f"{self._where(key)} must be true or false")
        return value

    def fail(self, key: str, message: str) -> PackError:
        return PackError(f"{self._where(key)}: {message}")
