"""The borrower simulator (借款人模拟器): an online lender in a box (issue 4).

It produces what a real lender's systems would send the platform — borrowers, loans,
payments, and the receipts of collection contacts — through the ingestion data contract, from
borrowers who react to what the lender does. Alongside, apart, it writes the ground truth the
platform never sees: each borrower's willingness and ability to pay, month by month.

How the pieces fit (docs/simulator.md has the model and its calibration)::

    config.py      every knob (default.yaml), validated      rng.py     seeded streams
    people.py      borrowers, real GB/T 2260 regions, IDs     profiles.py credit features,
    loans.py       the product mix, candidate loans, terms                contact points
    world.py       all of it drawn before day one; the ledger built from the schedules
    ledger.py      what each loan owes, to the fen, as the loan book computes it
    ability.py     income shocks and recovery (a daily Markov chain)
    actions.py     the action vocabulary, the Policy interface, baseline and none policies
    view.py        what a policy may see (never the latent state)
    outreach.py    actions meeting borrowers: reach, promises, disputes, complaints
    response.py    P(pay today): the intensity curves and the uplift of actions
    behaviour.py   who pays, how much, which channel; early settlement
    simulation.py  the day loop (Simulation, SimDay)        records.py  output rows
    truth.py       the ground truth per borrower- and loan-month, and per instalment
    files.py       writing it all to a folder                calibration.py  vs real data

Use from Python::

    from datetime import date
    from arrears.sim import BaselinePolicy, load_config, simulate, write_simulation

    sim = simulate(load_config(), seed=1, borrowers=20_000, start=date(2025, 7, 1),
                   days=365, policy=BaselinePolicy())     # a Simulation
    people = sim.borrowers()              # the borrowers file, every borrower
    for day in sim:                       # SimDay: day, loans, payments, contacts (frames)
        ...                               # e.g. ingest day.loans and day.payments, run eod
    borrower_months, loan_months = sim.ground_truth()

    files = write_simulation(folder, seed=1, borrowers=20_000, days=365)  # or all to files

Everything in the core is pure of the database and the shells (import-linter contract).
"""

from arrears.sim.actions import (
    ACTION_KINDS,
    POLICIES,
    VIEW_SCHEMA,
    Action,
    BaselinePolicy,
    NoPolicy,
    Policy,
    PolicyError,
)
from arrears.sim.config import ConfigError, Segment, SimConfig, load_config
from arrears.sim.files import SimFiles, write_simulation
from arrears.sim.simulation import SimDay, Simulation, simulate

__all__ = [
    "ACTION_KINDS",
    "POLICIES",
    "VIEW_SCHEMA",
    "Action",
    "BaselinePolicy",
    "ConfigError",
    "NoPolicy",
    "Policy",
    "PolicyError",
    "Segment",
    "SimConfig",
    "SimDay",
    "SimFiles",
    "Simulation",
    "load_config",
    "simulate",
    "write_simulation",
]
