"""What the lender does to borrowers: the action vocabulary and the policy interface.

Lender actions are an input of the simulator. Every simulated day it shows a policy what the
lender can see of its book (``VIEW_SCHEMA``: no latent state, only what a real collections
system knows) and asks for ``actions(day, view) -> DataFrame[loan_id, action]``. The collection
strategies of issue 5 plug in here; ``BaselinePolicy`` is a plain industry baseline and
``NoPolicy`` does nothing (the control arm of a paired comparison).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import polars as pl


class Action(StrEnum):
    """The fixed vocabulary (催收动作)."""

    REMINDER = "reminder"  # 还款提醒 (before the due date)
    SMS = "sms"  # 催收短信
    APP_PUSH = "app_push"  # 应用推送
    ROBOT_CALL = "robot_call"  # 智能语音
    AGENT_CALL = "agent_call"  # 人工电话
    LAWYER_LETTER = "lawyer_letter"  # 律师函
    FIELD_VISIT = "field_visit"  # 上门外访
    LITIGATION = "litigation"  # 诉讼
    PLAN_OFFERED = "plan_offered"  # 协商还款方案
    NONE = "none"  # 无动作


ACTION_KINDS: tuple[str, ...] = tuple(a.value for a in Action if a is not Action.NONE)
"""Actions that do something (``none`` rows are accepted and ignored)."""

VIEW_SCHEMA: dict[str, Any] = {
    "loan_id": pl.String, "borrower_id": pl.String, "product": pl.String,
    "lender_type": pl.String, "principal": pl.Int64, "outstanding_principal": pl.Int64,
    "dpd": pl.Int32, "days_to_due": pl.Int32, "owed": pl.Int64, "next_amount": pl.Int64,
    "contacts_7d": pl.Int32, "last_contact": pl.Date, "promise_on": pl.Date,
    "mobile_failed": pl.Boolean, "disputed": pl.Boolean, "complained": pl.Boolean,
}
"""What a policy sees each day, one row per loan in scope (an instalment due within the early
window, due today, or overdue), as the lender's systems would know it at the start of the day.
Money in fen. ``days_to_due`` counts to the oldest unpaid instalment (negative when overdue);
``owed`` is everything due now (0 when current); ``promise_on`` the date of an open promise to
pay; ``mobile_failed`` a message to the borrower's own mobile came back undeliverable."""

ACTIONS_SCHEMA: dict[str, Any] = {"loan_id": pl.String, "action": pl.String}


@runtime_checkable
class Policy(Protocol):
    """A collection strategy: the lender's actions for one day."""

    name: str

    def actions(self, day: date, view: pl.DataFrame) -> pl.DataFrame:
        """Rows ``(loan_id, action)`` for loans of ``view``; several rows per loan allowed."""
        ...


class PolicyError(ValueError):
    """A policy answered with actions the simulator cannot take."""


def checked_actions(answer: pl.DataFrame, view: pl.DataFrame, policy: str) -> pl.DataFrame:
    """The policy's answer, validated: known actions, loans of the view; ``none`` dropped."""
    missing = [c for c in ACTIONS_SCHEMA if c not in answer.columns]
    if missing:
        raise PolicyError(f"policy {policy}: answer lacks columns {missing}")
    out = answer.select(pl.col("loan_id").cast(pl.String), pl.col("action").cast(pl.String))
    unknown = out.filter(~pl.col("action").is_in(list(Action)))["action"].unique()
    if unknown.len():
        raise PolicyError(f"policy {policy}: unknown actions {sorted(unknown.to_list())[:5]} "
                          f"(known: {', '.join(a.value for a in Action)})")
    out = out.filter(pl.col("action") != Action.NONE.value)
    stray = out.join(view.select("loan_id"), on="loan_id", how="anti")
    if stray.height:
        raise PolicyError(f"policy {policy}: {stray.height} actions for loans not in the view, "
                          f"e.g. {stray['loan_id'][0]}")
    return out


class NoPolicy:
    """Does nothing: the control arm."""

    name = "none"

    def actions(self, day: date, view: pl.DataFrame) -> pl.DataFrame:
        return pl.DataFrame(schema=ACTIONS_SCHEMA)


class BaselinePolicy:
    """A plain baseline of the industry's early-stage playbook (docs/simulator.md §5):
    a reminder the day before the due date; SMS on dpd 1, 7, 15 and 30; app pushes on dpd 2, 5
    and 10; a robot call every other day from dpd 3 to 29; an agent call every third day from
    dpd 8 to 90 (paused while a promise is open); a plan offer on dpd 35; a lawyer letter on dpd
    45 and 100; a field visit on dpd 75 for 20,000 yuan or more outstanding; litigation on dpd
    120 for 10,000 yuan or more. A disputed loan gets letters only."""

    name = "baseline"

    def actions(self, day: date, view: pl.DataFrame) -> pl.DataFrame:
        if not view.height:
            return pl.DataFrame(schema=ACTIONS_SCHEMA)
        dpd = pl.col("dpd")
        promise_open = pl.col("promise_on").is_not_null() & (pl.col("promise_on") >= day)
        calm = ~pl.col("disputed")
        rules: list[tuple[Action, pl.Expr]] = [
            (Action.REMINDER, (dpd == 0) & (pl.col("days_to_due") == 1) & calm),
            (Action.SMS, dpd.is_in([1, 7, 15, 30]) & calm),
            (Action.APP_PUSH, dpd.is_in([2, 5, 10]) & calm),
            (Action.ROBOT_CALL, (dpd >= 3) & (dpd < 30) & (dpd % 2 == 1) & calm
             & ~pl.col("mobile_failed") & ~promise_open),
            (Action.AGENT_CALL, (dpd >= 8) & (dpd <= 90) & (dpd % 3 == 2) & calm
             & ~promise_open),
            (Action.PLAN_OFFERED, (dpd == 35) & calm),
            (Action.LAWYER_LETTER, dpd.is_in([45, 100])),
            (Action.FIELD_VISIT, (dpd == 75) & (pl.col("outstanding_principal") >= 2_000_000)
             & calm),
            (Action.LITIGATION, (dpd == 120) & (pl.col("outstanding_principal") >= 1_000_000)),
        ]
        return pl.concat([view.filter(cond).select("loan_id", action=pl.lit(a.value))
                          for a, cond in rules])


POLICIES: dict[str, type[NoPolicy] | type[BaselinePolicy]] = {
    "baseline": BaselinePolicy, "none": NoPolicy}
"""Policies by name, for the command line."""
