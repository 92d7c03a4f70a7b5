"""The demo's simulated lender in a process of its own (模拟放贷机构).

The simulator writes its files (``sim.write_simulation``, with the per-day folders) in a child
process and reports each day as soon as that day's files are on disk, so the platform can
ingest day d and close it while day d+1 is being simulated: the simulator and the nightly
work each get a core. The child writes the ground truth too (``truth/``, for tests and
evaluations); nothing here or in the platform reads it.

The child is started with ``spawn``: a fork of a process whose Polars and SQLite threads
are running can deadlock.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType
from typing import Any

from arrears.sim import write_simulation

POLL_SECONDS = 1.0  # how often a wait checks that the child is still alive
NICENESS = 10  # the child's scheduling priority, below the platform's


class FeedError(RuntimeError):
    """The simulator failed or died; the message carries its traceback when there is one."""


@dataclass(frozen=True, slots=True)
class FeedRequest:
    folder: Path
    seed: int
    borrowers: int
    start: date
    days: int


@dataclass(frozen=True, slots=True)
class FeedDone:
    counts: dict[str, int]  # the simulation's manifest counts (borrowers, loans, …)
    seconds: float  # the child's own time, simulating and writing


def _produce(req: FeedRequest, out: Any) -> None:  # runs in the child
    try:
        # the simulator only has to stay ahead of the platform (it does, by far): it yields
        # a shared core to the platform's nightly work rather than competing with it
        os.nice(NICENESS)
        began = time.perf_counter()
        files = write_simulation(
            req.folder, seed=req.seed, borrowers=req.borrowers, start=req.start,
            days=req.days, daily=True,
            progress=lambda _label, done, _total: out.put(("day", done)))
        out.put(("done", files.counts, time.perf_counter() - began))
    except BaseException:  # everything, so the parent never waits on a silent child
        out.put(("error", traceback.format_exc()))


class Feed:
    """Run as ``with Feed(req) as feed: for day in feed.days(): …``; leaving the block stops
    a child still running (an error in the platform ends the demo, not the simulator)."""

    def __init__(self, req: FeedRequest) -> None:
        ctx = mp.get_context("spawn")
        self.req = req
        self._queue: Any = ctx.Queue()
        self._proc: BaseProcess = ctx.Process(target=_produce, args=(req, self._queue),
                                              name="arrears-demo-simulator", daemon=True)
        self.done: FeedDone | None = None
        self.waited = 0.0  # seconds the platform spent waiting for the simulator

    def __enter__(self) -> Feed:
        self._proc.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=30)
        self._queue.close()

    def days(self) -> Iterator[date]:
        """Each simulated day, in order, once its files are written."""
        written = 0
        while written < self.req.days:
            msg = self._next()
            if msg[0] != "day":
                raise FeedError(f"the simulator stopped after {written} of {self.req.days} "
                                "days")
            written = int(msg[1])
            yield self.req.start + timedelta(days=written - 1)
        msg = self._next()
        if msg[0] != "done":
            raise FeedError(f"the simulator sent {msg[0]!r} after its last day")
        self.done = FeedDone(dict(msg[1]), float(msg[2]))

    def _next(self) -> tuple[Any, ...]:
        began = time.perf_counter()
        try:
            msg = self._wait()
        finally:
            self.waited += time.perf_counter() - began
        if msg[0] == "error":
            raise FeedError(f"the simulator failed:\n{msg[1]}")
        return msg

    def _wait(self) -> tuple[Any, ...]:
        while True:
            alive = self._proc.is_alive()  # before the read: a child flushes, then exits
            try:
                msg: tuple[Any, ...] = self._queue.get(timeout=POLL_SECONDS)
                return msg
            except queue.Empty:
                if not alive:
                    raise FeedError(f"the simulator died (exit code "
                                    f"{self._proc.exitcode})") from None
