"""The lender's view of its book on a day (``actions.VIEW_SCHEMA``): what a collections
system knows at the start of the day — never the latent state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from arrears.sim.actions import VIEW_SCHEMA
from arrears.sim.loans import LENDERS, pick
from arrears.sim.outreach import LONG_AGO, NEVER, Memory
from arrears.sim.people import where

if TYPE_CHECKING:
    from arrears.sim.behaviour import InPlay
    from arrears.sim.world import World


def _dates(days: np.ndarray, known: np.ndarray) -> pl.Series:
    values = pl.Series(np.where(known, days, 0).astype("datetime64[D]")).cast(pl.Date)
    return where(known, values)


def lender_view(w: World, mem: Memory, play: InPlay, d: int) -> pl.DataFrame:
    led, loans = w.ledger, w.loans
    p = play.loans
    owner = loans.borrower[p]
    _, dpd = led.dpd(p, d)
    oldest = led.due[np.minimum(led.first_open[p], led.hi[p] - 1)]
    promise = mem.promise_day[p]
    last = mem.last_contact[p]
    frame = pl.DataFrame({
        "loan_id": w.loan_id.gather(p), "borrower_id": w.borrower_id.gather(owner),
        "product": pick([x.code for x in w.cfg.products], loans.product[p]),
        "lender_type": pick(LENDERS, loans.lender[p]),
        "principal": loans.principal[p], "outstanding_principal": led.outstanding_principal(p),
        "dpd": dpd.astype(np.int32), "days_to_due": (oldest - d).astype(np.int32),
        "owed": led.owed_due(p), "next_amount": led.next_instalment(p),
        "contacts_7d": mem.contacts_7d(p).astype(np.int32),
        "last_contact": _dates(last, last > LONG_AGO),
        "promise_on": _dates(promise, (promise < NEVER) & (promise >= d)),
        "mobile_failed": mem.mobile_failed[p], "disputed": mem.disputed[p],
        "complained": mem.complained[p]})
    return frame.cast(VIEW_SCHEMA)  # type: ignore[arg-type]
