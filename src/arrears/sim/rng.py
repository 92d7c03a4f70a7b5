"""Deterministic random streams: one generator per (seed, purpose[, day]).

Every draw comes from a generator keyed by the seed and a fixed purpose number, so adding a
draw to one purpose never shifts another, and a day's draws do not depend on what happened on
earlier days. Daily draws are made for every loan or borrower, whether it needs one or not:
two runs on the same seed then share their random numbers loan by loan (common random
numbers), which is what makes a comparison of two policies paired.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Purposes. Append only: renumbering changes every simulation."""

    SEGMENTS = 1
    PEOPLE = 2
    CREDIT = 3
    CONTACTS = 4
    LOANS = 5
    SCHEDULE_DAYS = 6
    CONTACT_POINTS = 7
    PROFILES = 8
    ABILITY = 10  # daily
    PAY = 11  # daily
    AMOUNT = 12  # daily
    SETTLE = 13  # daily
    REACH = 14  # daily
    OUTCOME = 15  # daily
    CLOCK = 16  # daily: times of day


def stream(seed: int, purpose: Stream, day: int | None = None) -> np.random.Generator:
    key = [seed, int(purpose)] if day is None else [seed, int(purpose), day]
    return np.random.default_rng(key)
