"""Rendering for the CLI: Rich tables for people, ``--json`` for scripts.

JSON conventions (every command): money as decimal strings in major units (``"1234.56"``),
rates as decimal-fraction strings (``"0.18"``), dates ISO 8601, enums by value.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(_jsonable(obj), default=_default, ensure_ascii=False, indent=2)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {(k.value if isinstance(k, Enum) else str(k)): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def emit_json(obj: Any) -> None:
    """Print JSON to stdout without Rich markup processing."""
    print(to_json(obj))
