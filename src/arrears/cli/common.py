"""Shared CLI plumbing: option parsing (dates, money), the workspace engine, the actor."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine

from arrears.book.terms import Component
from arrears.money import MoneyError, fmt, to_minor
from arrears.settings import Settings, load_settings
from arrears.store.db import get_engine

JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")


def parse_date(value: str, name: str = "date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be YYYY-MM-DD, got {value!r}") from None


def parse_datetime(value: str, name: str = "time") -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be YYYY-MM-DD[ HH:MM[:SS]], got {value!r}") from None


def parse_money(value: str, currency: str = "CNY", name: str = "amount") -> int:
    try:
        amount = to_minor(value, currency)
    except MoneyError as exc:
        raise typer.BadParameter(f"{name}: {exc}") from None
    if amount < 0:
        raise typer.BadParameter(f"{name} must not be negative")
    return amount


def parse_rate(value: str, name: str = "rate") -> Decimal:
    try:
        d = Decimal(value)
    except ArithmeticError:
        raise typer.BadParameter(f"{name} must be a decimal fraction such as 0.18") from None
    if not d.is_finite() or d < 0:
        raise typer.BadParameter(f"{name} must be a non-negative decimal fraction")
    return d


def yuan(minor: int, currency: str = "CNY") -> str:
    return fmt(minor, currency)


def by_component(values: dict[Component, int], currency: str = "CNY") -> dict[str, str]:
    out = {c.value: yuan(v, currency) for c, v in values.items()}
    out["total"] = yuan(sum(values.values()), currency)
    return out


def actor() -> str:
    return os.environ.get("ARREARS_ACTOR") or getpass.getuser()


def workspace() -> tuple[Settings, Engine]:
    s = load_settings()
    return s, get_engine(s)


def now() -> datetime:
    """Wall-clock time for audit and posting timestamps (never a business date)."""
    return datetime.now()  # noqa: DTZ005 - local wall clock, recorded as such


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), disable=not enabled, transient=False)
    with p:
        yield p


def progress_callback(bar: Progress, verb: str) -> Callable[[str, int, int], None]:
    """A ``(label, done, total)`` callback that keeps one Rich task per label."""
    tasks: dict[str, TaskID] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(f"{verb} {label}", total=total)
        bar.update(tasks[label], completed=done, total=total)

    return update
