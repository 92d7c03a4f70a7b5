"""Running end-of-day for a business date: bring the mirror up to date, run the steps, write
the snapshot partition and the portfolio totals, record the run.

Idempotent and resumable. The snapshot partition is written beside and renamed into place,
then the totals and the run's ``done`` mark are committed together; a run killed anywhere is
simply run again (the mirror sync is itself crash-safe, see ``store.mirror``), and a second
run over the same book writes the same bytes (the run records their digest).

Loans whose stored state is already past the date (a backfill, or payments posted since) are
replayed from their events up to the date through the single-loan engine — the path ``arrears
loan show --as-of`` takes — so history is told as it stood on that day. That happens here, on
the driver, for either engine; only the steps run on Spark with ``engine="spark"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, delete, insert, select

from arrears.book.engine import replay
from arrears.book.vector_engine import LOAN_SCHEMA, frames_from_engines
from arrears.eod.balances import accrued_by_row
from arrears.eod.carry import BOOK_COLUMNS, EARNING_COLUMNS, assemble, quiet
from arrears.eod.compact import SETTLED_COLUMNS, with_settled
from arrears.eod.snapshot import conform, empty_snapshot
from arrears.eod.steps import DEFAULT_ORDER, DayRules, check_order, run_steps, start
from arrears.rules.pack import RulePack, load_pack
from arrears.services.eod_spark import pyspark_missing, spark_snapshots
from arrears.settings import Settings
from arrears.store import schema
from arrears.store.loans import effective_events, load_engines
from arrears.store.mirror import Chunk, Mirror, sync

ENGINES = ("local", "spark")
RUN_FILE = "_run.json"  # in a snapshot partition: the steps, bucket table and pack behind it


class EodError(RuntimeError):
    """End-of-day cannot run as asked (a gap before the date, an unknown step …)."""


class EodGap(EodError):
    def __init__(self, as_of: date, missing: list[date]) -> None:
        self.missing = missing
        super().__init__(
            f"end-of-day for {as_of} needs the days before it: {missing[0]} to {missing[-1]} "
            f"({len(missing)} day(s)) have not run; run `arrears eod --from {missing[0]} "
            f"--to {as_of}` to fill the gap, or pass --allow-gap")


@dataclass(frozen=True, slots=True)
class EodResult:
    as_of: date
    loans: int
    replayed: int  # loans replayed from events (their stored state was past the date)
    mirror_changed: int
    mirror_rebuilt: bool
    digest: str
    path: Path
    summary: pl.DataFrame
    carried: int = 0  # quiet loans whose rows were carried over from the previous day


def partition(settings: Settings, as_of: date) -> Path:
    return settings.snapshots_dir / f"as_of={as_of.isoformat()}"


def day_rules(pack: RulePack, table: str | None = None) -> DayRules:
    d = pack.delinquency
    return DayRules(pack, d.table(table), d.write_off_dpd)


def missing_days(engine: Engine, as_of: date) -> list[date]:
    """Business dates between the last completed run before ``as_of`` and it that have not
    run (empty when nothing has run yet: the first run may start anywhere)."""
    t = schema.eod_runs
    with engine.connect() as conn:
        done = set(conn.execute(select(t.c.as_of).where(
            t.c.status == "done", t.c.as_of < as_of)).scalars())
    if not done:
        return []
    last = max(done)
    return [last + timedelta(days=i) for i in range(1, (as_of - last).days)]


def run_eod(db: Engine, settings: Settings, as_of: date, now: datetime,
            order: Sequence[str] = DEFAULT_ORDER, pack: RulePack | None = None,
            bucket_table: str | None = None, allow_gap: bool = False,
            rebuild_mirror: bool = False,
            on_step: Callable[[str], None] | None = None,
            engine: str = "local", master: str = "local[2]", carry: bool = True) -> EodResult:
    """End-of-day for ``as_of`` over the book in ``db``. ``engine`` runs the steps here
    ("local") or on Apache Spark ("spark", on ``master``; see ``services.eod_spark``) — the
    same steps, the same snapshot to the byte. ``carry`` lets the local engine take quiet
    loans' rows over from the previous day's snapshot (``eod.carry``; the same rows)."""
    check_order(order)
    if engine not in ENGINES:
        raise EodError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "spark" and (why := pyspark_missing()):
        raise EodError(why)
    if not allow_gap and (gap := missing_days(db, as_of)):
        raise EodGap(as_of, gap)
    pack = pack or load_pack("CN", settings.rules_dir)
    _mark(db, as_of, order, now, engine)
    mirror = sync(db, settings.home / "mirror", as_of, rebuild=rebuild_mirror)
    rules = day_rules(pack, bucket_table)
    config: dict[str, object] = {"steps": list(order), "buckets": rules.buckets.name,
                                 "pack": pack.version}
    out = _Partition(settings, as_of, config)
    if engine == "spark":
        replayed = 0

        def book() -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
            nonlocal replayed
            for chunk in mirror.chunks:  # one chunk at a time on the driver, as it stood
                loans, lines, n = _as_stood(db, *mirror.load(chunk), as_of)
                replayed += n
                yield loans, lines

        for rows in spark_snapshots(settings, as_of, book(), [c.first for c in mirror.chunks],
                                    _previous(settings, as_of), rules, order, master, on_step):
            out.add(conform(rows).sort("loan_id"))  # the parts the local engine writes
    else:
        # a chunk at a time: memory is bounded by the chunk, not the book
        replayed = carried = 0
        before = partition(settings, as_of - timedelta(days=1))
        can_carry = carry and _made_as(before, config)
        firsts = [c.first for c in mirror.chunks]
        bounds = list(zip(firsts, [*firsts[1:], None], strict=True))
        columns = None if can_carry else ["loan_id", "stage", "dpd"]
        # yesterday's rows of the next chunk are read while this one is worked out
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eod-read") as reader:
            ahead = reader.submit(_read_day, before, *bounds[0], columns)
            for i, chunk in enumerate(mirror.chunks):
                yesterday = ahead.result()
                if i + 1 < len(bounds):
                    ahead = reader.submit(_read_day, before, *bounds[i + 1], columns)
                snap, n, k = _local_chunk(db, mirror, chunk, as_of, rules, order, yesterday,
                                          can_carry, on_step if i == 0 else None)
                replayed, carried = replayed + n, carried + k
                out.add(snap)
    path, digest, summary = out.close()
    _finish(db, as_of, out.loans, digest, summary, now)
    return EodResult(as_of, out.loans, replayed, mirror.changed, mirror.rebuilt, digest,
                     path, summary, carried if engine == "local" else 0)


def _local_chunk(db: Engine, mirror: Mirror, chunk: Chunk, as_of: date, rules: DayRules,
                 order: Sequence[str], yesterday: pl.DataFrame | None, can_carry: bool,
                 on_step: Callable[[str], None] | None) -> tuple[pl.DataFrame, int, int]:
    """A chunk's snapshot rows, the loans replayed and the rows carried over: the quiet loans'
    rows from the day before (``eod.carry``; ``yesterday`` holds that day's rows of the chunk,
    whole if ``can_carry``, else the stage step's columns), the others through the steps."""
    if not can_carry or yesterday is None:
        loans, lines, replayed = _as_stood(db, *mirror.load(chunk), as_of)
        return _computed(as_of, loans, lines, yesterday, rules, order, on_step), replayed, 0
    view = mirror.view(chunk)
    book = view.loans([*BOOK_COLUMNS, "rounding"])
    mask, rows = quiet(book, yesterday, as_of)
    loans, lines, replayed = _as_stood(db, *view.rows(~mask), as_of)
    # the stage step looks up yesterday's stage of the loans computed, not of all
    before_them = yesterday.select("loan_id", "stage", "dpd").filter(
        pl.col("loan_id").is_in(loans["loan_id"].implode()))
    fresh = _computed(as_of, loans, lines, before_them, rules, order, on_step)
    if not mask.any():
        return fresh, replayed, 0
    earned = accrued_by_row(*view.per_line(EARNING_COLUMNS), book["rounding"], as_of)
    rows_then = conform(yesterday.with_columns(as_of=pl.lit(as_of - timedelta(days=1))))
    snap = assemble(rows_then, book["loan_id"].filter(pl.Series(mask)), rows, fresh,
                    (earned[0][mask], earned[1][mask]), as_of)
    return snap, replayed, len(rows)


def _computed(as_of: date, loans: pl.DataFrame, lines: pl.DataFrame,
              previous: pl.DataFrame | None, rules: DayRules, order: Sequence[str],
              on_step: Callable[[str], None] | None) -> pl.DataFrame:
    """The snapshot rows of ``loans`` from the steps, in loan order."""
    if not loans.height:
        return empty_snapshot()
    return conform(run_steps(start(as_of, loans, lines, previous, rules), order,
                             on_step).snap).sort("loan_id")


def _as_stood(engine: Engine, loans: pl.DataFrame, lines: pl.DataFrame,
              as_of: date) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The book with every loan whose state is past ``as_of`` replayed to it."""
    ahead = loans.filter((pl.col("accrued_through") > as_of)
                         & (pl.col("disbursed_on") <= as_of))["loan_id"]
    if ahead.is_empty():
        return loans, lines, 0
    engines = {}
    with engine.connect() as conn:
        loaded = load_engines(conn, list(ahead))
        if len(loaded) != ahead.len():
            lost = sorted(set(ahead) - set(loaded))[:5]
            raise EodError(f"the mirror holds loans the book does not: {', '.join(lost)} …; "
                           f"run with --rebuild-mirror")
        for loan_id, ld in loaded.items():
            events = [e for e in effective_events(conn, loan_id) if e.value_date <= as_of]
            engines[loan_id] = replay(ld.engine.terms, events, through=as_of)
    past_loans, past_lines = frames_from_engines(engines)
    past_loans = with_settled(past_loans)  # replayed whole: nothing folded
    # the mirror's extras, not its folded totals: the replay holds every line of the loan
    keep = [c for c in loans.columns if c not in LOAN_SCHEMA and c not in SETTLED_COLUMNS]
    past_loans = past_loans.join(loans.select("loan_id", *keep), on="loan_id", how="left")
    last_paid = _payments_through(engine, ahead, as_of)
    past_loans = past_loans.drop("last_payment_on").join(last_paid, on="loan_id", how="left")
    gone = ahead.implode()
    return (pl.concat([loans.filter(~pl.col("loan_id").is_in(gone)),
                       past_loans.select(loans.columns)], how="vertical_relaxed")
            .sort("loan_id"),
            pl.concat([lines.filter(~pl.col("loan_id").is_in(gone)),
                       past_lines.select(lines.columns)], how="vertical_relaxed")
            .sort("loan_id", "due_on", "seq"),
            len(engines))


def _payments_through(engine: Engine, ids: pl.Series, as_of: date) -> pl.DataFrame:
    ev = schema.loan_events
    with engine.connect() as conn:
        rows = conn.execute(select(ev.c.loan_id, ev.c.value_date).where(
            ev.c.loan_id.in_(list(ids)), ev.c.kind == "payment", ev.c.status == "effective",
            ev.c.value_date <= as_of)).all()
    frame = pl.DataFrame(rows, schema={"loan_id": pl.String, "value_date": pl.Date},
                         orient="row")
    return frame.group_by("loan_id").agg(pl.col("value_date").max().alias("last_payment_on"))


def _previous(settings: Settings, as_of: date) -> pl.DataFrame | None:
    """The stage step's columns of the previous day's snapshot, if it ran."""
    return _read_day(partition(settings, as_of - timedelta(days=1)), "", None,
                     ["loan_id", "stage", "dpd"])


def _read_day(folder: Path, first: str, last: str | None,
              columns: list[str] | None) -> pl.DataFrame | None:
    """The rows ``first <= loan_id < last`` of a day's snapshot (``columns`` of them, or
    all), in loan order; ``None`` if that day has no snapshot. The parts' statistics let the
    reader skip those of other chunks."""
    files = sorted(folder.glob("part-*.parquet"))
    if not files:
        return None
    scan = pl.scan_parquet(files)
    if columns is not None:
        scan = scan.select(columns)
    cond = pl.col("loan_id") >= first
    if last is not None:
        cond &= pl.col("loan_id") < last
    frame = scan.filter(cond).collect()
    return frame if frame["loan_id"].is_sorted() else frame.sort("loan_id")


def _made_as(folder: Path, config: dict[str, object]) -> bool:
    """Whether the day in ``folder`` was made by the same steps, bucket table and rule pack
    (its rows can then be carried over)."""
    try:
        return bool(json.loads((folder / RUN_FILE).read_text()) == config)
    except (OSError, ValueError):
        return False


class _Partition:
    """A day's snapshot partition, written a part (chunk) at a time into a hidden folder and
    swapped into place whole by ``close``; the digest covers the parts in order."""

    def __init__(self, settings: Settings, as_of: date, config: dict[str, object]) -> None:
        self.final = partition(settings, as_of)
        self.tmp = self.final.with_name(f".{self.final.name}.tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        # how the rows were made: the next day may carry them over only if it makes them so
        (self.tmp / RUN_FILE).write_text(json.dumps(config))
        self.hash = hashlib.sha256()
        self.summaries: list[pl.DataFrame] = []
        self.loans = self.parts = 0
        # a part is written while the next chunk is worked out (the writer holds no lock
        # Python needs); one write at a time keeps the parts, and the digest, in order
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eod-part")
        self._writing: Future[None] | None = None

    def add(self, snap: pl.DataFrame) -> None:
        if self._writing is not None:
            self._writing.result()  # at most one part waits: memory stays two chunks
        f = self.tmp / f"part-{self.parts:05d}.parquet"
        self.parts += 1
        self._writing = self._writer.submit(self._write, f, snap)

    def _write(self, f: Path, snap: pl.DataFrame) -> None:
        # as_of is the partition key (hive style), not a column of the file
        # zstd level 1: a third smaller than lz4 for a little more time; kept for years
        snap.drop("as_of").write_parquet(f, compression="zstd", compression_level=1,
                                         statistics=True)
        self.hash.update(f.read_bytes())
        self.summaries.append(summarise(snap))
        self.loans += snap.height

    def close(self) -> tuple[Path, str, pl.DataFrame]:
        if self._writing is not None:
            self._writing.result()
        self._writer.shutdown()
        old = self.final.with_name(f".{self.final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        shutil.rmtree(old, ignore_errors=True)
        summary = pl.concat(self.summaries).group_by("currency", "bucket", "bucket_rank").agg(
            pl.all().sum()).sort("currency", "bucket_rank")
        return self.final, self.hash.hexdigest(), summary


def summarise(snap: pl.DataFrame) -> pl.DataFrame:
    """Portfolio totals by currency and bucket (the rows of ``eod_summaries``)."""
    # lazy: only the columns summed are read (an eager filter copies every column)
    return snap.lazy().filter(pl.col("status") == "active").group_by(
        "currency", "bucket", "bucket_rank").agg(
        pl.len().cast(pl.Int64).alias("loans"),
        pl.col("outstanding_principal").sum(), pl.col("outstanding_total").sum(),
        (pl.sum_horizontal(*[f"overdue_{c}" for c in ("fee", "penalty", "interest",
                                                     "principal")])).sum()
        .alias("overdue_total"),
        pl.col("accrued_interest").sum(), pl.col("pending_penalty").sum(),
    ).sort("currency", "bucket_rank").collect()


def _mark(engine: Engine, as_of: date, order: Sequence[str], now: datetime,
          runner: str) -> None:
    t = schema.eod_runs
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.as_of == as_of))
        conn.execute(insert(t).values(as_of=as_of, status="running", engine=runner,
                                      steps=",".join(order), loans=0, started_at=now))


def _finish(engine: Engine, as_of: date, loans: int, digest: str, summary: pl.DataFrame,
            now: datetime) -> None:
    t, s = schema.eod_runs, schema.eod_summaries
    with engine.begin() as conn:
        conn.execute(delete(s).where(s.c.as_of == as_of))
        if summary.height:
            conn.execute(insert(s), [{"as_of": as_of, **r} for r in summary.to_dicts()])
        conn.execute(t.update().where(t.c.as_of == as_of).values(
            status="done", loans=loans, digest=digest, finished_at=now))
