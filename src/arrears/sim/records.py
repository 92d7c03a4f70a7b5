"""A simulated day's records in the shapes the platform reads: payments as the ingestion
contract defines them, contact outcomes as ``contract.outcomes`` defines them."""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from arrears.contract.outcomes import OUTCOME_FIELDS, OUTCOMES, STATUSES
from arrears.sim.actions import ACTION_KINDS
from arrears.sim.behaviour import CHANNELS, Paid
from arrears.sim.config import SimConfig
from arrears.sim.loans import pick, yuan_text
from arrears.sim.outreach import NEVER, OUTCOME_ZH, STATUS_ZH, Reached

Ints = npt.NDArray[np.int64]

PAYMENT_COLUMNS = ("payment_id", "loan_id", "amount", "paid_at", "channel", "currency")


def _at(day: date, seconds: Ints) -> pl.Series:
    base = np.datetime64(day, "ms")
    stamps = base + (seconds * 1000).astype("timedelta64[ms]")
    return pl.Series(stamps).dt.strftime("%Y-%m-%d %H:%M:%S")


def payment_rows(day: date, paid: Paid, loan_id: pl.Series, counter: Ints) -> pl.DataFrame:
    """Payments of one day; ``counter`` is each loan's payment number (1-based)."""
    ids = loan_id.gather(paid.loans)
    number = pl.Series(counter.astype(np.int64)).cast(pl.String).str.zfill(3)
    return pl.DataFrame([
        pl.select(pl.concat_str(ids, pl.lit("-P"), number)).to_series().alias("payment_id"),
        ids.alias("loan_id"), yuan_text(paid.amount).alias("amount"),
        _at(day, paid.seconds).alias("paid_at"),
        pick(CHANNELS, paid.channel, "channel"),
        pl.repeat("CNY", len(paid.loans), dtype=pl.String, eager=True).alias("currency"),
    ]) if len(paid.loans) else pl.DataFrame(schema=dict.fromkeys(PAYMENT_COLUMNS, pl.String))


def contact_rows(cfg: SimConfig, day: date, r: Reached, seconds: Ints, prefix: str,
                 loan_id: pl.Series, borrower_id: pl.Series, borrower: Ints,
                 promised: Ints) -> pl.DataFrame:
    """Contact outcomes (delivery receipts) of one day, in the order the actions were taken.
    ``promised`` is the amount promised (fen) where a promise was made."""
    n = len(r.loan)
    zh = [cfg.actions[a].zh for a in ACTION_KINDS]
    channel = [cfg.actions[a].channel.value for a in ACTION_KINDS]
    cost = np.array([cfg.actions[a].cost_fen for a in ACTION_KINDS])
    third = r.status == STATUSES.index("third_party")
    seq = pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(6)
    has_ptp = r.promise_day < NEVER
    ptp_day = pl.Series(np.where(has_ptp, r.promise_day, 0).astype("datetime64[D]"))
    return pl.DataFrame([
        pl.select(pl.concat_str(pl.lit(f"{prefix}C{day:%Y%m%d}-"), seq)).to_series().alias(
            "contact_id"),
        loan_id.gather(r.loan).alias("loan_id"),
        borrower_id.gather(borrower[r.loan]).alias("borrower_id"),
        _at(day, seconds).alias("contacted_at"),
        pick(ACTION_KINDS, r.kind, "action"), pick(zh, r.kind, "action_zh"),
        pick(channel, r.kind, "channel"),
        pick(("borrower", "emergency"), third.astype(np.int64), "target"),
        pick(STATUSES, r.status, "status"), pick(STATUS_ZH, r.status, "status_zh"),
        pick(OUTCOMES, r.outcome, "outcome"), pick(OUTCOME_ZH, r.outcome, "outcome_zh"),
        ptp_day.dt.strftime("%Y-%m-%d").zip_with(pl.Series(has_ptp), pl.repeat(
            None, n, dtype=pl.String, eager=True)).alias("ptp_date"),
        yuan_text(promised).zip_with(pl.Series(has_ptp), pl.repeat(
            None, n, dtype=pl.String, eager=True)).alias("ptp_amount"),
        yuan_text(cost[r.kind]).alias("cost"),
    ]) if n else empty_contacts()


CONTACT_COLUMNS = tuple(f.name for f in OUTCOME_FIELDS)


def empty_contacts() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(CONTACT_COLUMNS, pl.String))
