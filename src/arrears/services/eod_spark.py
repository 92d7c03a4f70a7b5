"""End-of-day on Apache Spark: the same steps as the local engine, run per partition of loans
(an adapter; PySpark is imported only when a Spark run starts, so the package works without
it — ``pip install 'arrears[spark]'``).

The flow of ``spark_snapshots``:

1. The driver exports the book a mirror chunk at a time (each chunk as it stood on the date,
   loans ahead of it already replayed) as Parquet under a run folder: loans with the previous
   day's ``stage`` and ``dpd`` joined on, and the open instalment lines, both keyed by
   ``part`` = CRC-32 of the loan id modulo P (hive folders ``part=k``, a file per chunk), so
   one part carries everything its loans need.
2. Spark reads both, ``groupBy("part")`` and cogroups them; ``applyInArrow`` hands each part
   to ``steps_for_part`` in a Python worker, which turns Arrow into Polars, builds the day with
   ``eod.steps.start`` and runs ``eod.steps.run_steps`` in the configured order — the local
   engine's code, over a slice of the book instead of all of it — and returns the snapshot
   rows as Arrow typed exactly as ``SNAPSHOT_SCHEMA``, each with its mirror chunk's index.
3. Spark writes the rows as Parquet partitioned by chunk; the driver reads them back a chunk
   at a time and the service writes them as the local engine's parts, totals and run mark.

Every step works loan by loan, so cutting the book into parts changes no figure: a run on
Spark writes the same bytes (the same digest) as a local run over the same book.

Settings (Spark configuration: ``spark-submit --conf``, or ``PYSPARK_SUBMIT_ARGS`` for a
session started by ``arrears eod``): ``spark.arrears.parts`` — P, default 4 × the default
parallelism; ``spark.arrears.dir`` — the exchange folder (a path, or a URI both Polars and
Spark can read and write), default ``<ARREARS_HOME>/spark``.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from arrears.eod.snapshot import SNAPSHOT_SCHEMA, conform
from arrears.eod.steps import DayRules, run_steps, start
from arrears.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PARTS_CONF = "spark.arrears.parts"
DIR_CONF = "spark.arrears.dir"
PREVIOUS = {"stage": ("_prev_stage", pl.String()), "dpd": ("_prev_dpd", pl.Int32())}
"""The previous day's snapshot columns (loan_id, stage, dpd) as they travel on the loans
side: the name there and the type."""

# Spark SQL and Arrow types of the snapshot's Polars types (Spark wants exactly these back)
_TYPES: dict[pl.DataType, tuple[str, pa.DataType]] = {
    pl.Date(): ("date", pa.date32()), pl.String(): ("string", pa.string()),
    pl.Int64(): ("bigint", pa.int64()), pl.Int32(): ("int", pa.int32()),
    pl.Int8(): ("tinyint", pa.int8()), pl.Boolean(): ("boolean", pa.bool_()),
}
_SNAPSHOT = pl.Schema(SNAPSHOT_SCHEMA)
# what a part returns: the snapshot's columns and the index of the loan's mirror chunk
_ROWS = pl.Schema({**SNAPSHOT_SCHEMA, "chunk": pl.Int32})
SPARK_ROWS_DDL = ", ".join(f"{c} {_TYPES[t][0]}" for c, t in _ROWS.items())
ARROW_ROWS = pa.schema([(c, _TYPES[t][1]) for c, t in _ROWS.items()])

# settings of a session started by ``arrears eod`` itself (spark-submit brings its own)
_DEFAULTS = {
    "spark.app.name": "arrears-eod",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    # local mode runs the executors inside the driver's JVM: 6 GB of a 24 GB, 2-core machine
    # leaves room for the driver's Polars book and the Python workers
    "spark.driver.memory": "6g",
}


def pyspark_missing() -> str | None:
    """Why the Spark engine cannot run here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "the Spark engine needs PySpark: pip install 'arrears[spark]'"
    return None


@contextmanager
def session(master: str = "local[2]") -> Iterator[SparkSession]:
    """A Spark session for end-of-day: the one already active in this process (a notebook,
    a backfill over many days, the tests), left running; or a new one, stopped on leaving —
    on ``master`` with ``_DEFAULTS`` when started here, on spark-submit's master and settings
    when this process was launched by spark-submit."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    builder = SparkSession.builder
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not launched by spark-submit
        # the Python workers must run this interpreter (it has polars and arrears); towards
        # a remote master a Python named by the caller is kept
        put = os.environ.__setitem__ if master.startswith("local") else os.environ.setdefault
        for name in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
            put(name, sys.executable)
        builder = builder.master(master)
        for key, value in _DEFAULTS.items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def spark_snapshots(settings: Settings, as_of: date,
                    book: Iterable[tuple[pl.DataFrame, pl.DataFrame]], firsts: Sequence[str],
                    previous: pl.DataFrame | None, rules: DayRules, order: Sequence[str],
                    master: str = "local[2]", on_step: Callable[[str], None] | None = None
                    ) -> Iterator[pl.DataFrame]:
    """The snapshot rows of ``as_of`` from running the steps in ``order`` on Spark, a mirror
    chunk at a time (each chunk's rows unsorted). ``book`` gives each chunk's ``(loans,
    lines)`` as they stood on the date, ``firsts`` the chunks' first loan ids; the driver
    holds one chunk at a time, going out and coming back."""
    with session(master) as spark:
        parts = int(spark.conf.get(PARTS_CONF, None) or 4 * spark.sparkContext.defaultParallelism)
        root = spark.conf.get(DIR_CONF, None) or str(settings.home / "spark")
        run = f"{root.rstrip('/')}/eod-{as_of.isoformat()}-{uuid.uuid4().hex[:12]}"
        local = "://" not in run
        # a path is a (shared) local folder, also to a cluster whose default file system is
        # HDFS; a URI (s3://…) is given to Polars and Spark as it is
        at = Path(run).resolve().as_uri() if local else run
        try:
            schemas: tuple[pl.Schema, pl.Schema] | None = None
            for i, (loans, lines) in enumerate(book):
                schemas = schemas or (loans.schema, lines.schema)
                export(run, f"c{i:05d}", loans.select(list(schemas[0])).cast(schemas[0]),
                       lines.select(list(schemas[1])).cast(schemas[1]), previous, parts)
            if schemas is None:
                return
            job = partial(steps_for_part, as_of=as_of, rules=rules, order=tuple(order),
                          loan_schema=dict(schemas[0]), line_schema=dict(schemas[1]),
                          with_previous=previous is not None, firsts=tuple(firsts))
            left = spark.read.parquet(f"{at}/loans").groupBy("part")
            right = spark.read.parquet(f"{at}/lines").groupBy("part")
            (left.cogroup(right).applyInArrow(job, schema=SPARK_ROWS_DDL)
             .write.partitionBy("chunk").mode("overwrite").parquet(f"{at}/snapshot"))
            if on_step is not None:
                for name in order:  # the steps ran on the executors, all of them by now
                    on_step(name)
            for i in range(len(firsts)):
                # no folder for a chunk none of whose loans was on the book by the date
                yield pl.scan_parquet(f"{run}/snapshot/chunk={i}/*.parquet",
                                      schema=_SNAPSHOT).collect()
        finally:
            if local:  # an object store's run folders expire by its own lifecycle rules
                shutil.rmtree(run, ignore_errors=True)


def export(run: str, name: str, loans: pl.DataFrame, lines: pl.DataFrame,
           previous: pl.DataFrame | None, parts: int) -> None:
    """Write a chunk of the book for Spark: ``<run>/loans`` (with the previous day's stage and
    dpd) and ``<run>/lines``, a file ``name`` in each hive folder ``part=k`` it has rows for."""
    if previous is None:
        previous = pl.DataFrame(schema={"loan_id": pl.String, "stage": pl.String,
                                        "dpd": pl.Int32})
    prev = previous.select("loan_id", *(pl.col(c).alias(a) for c, (a, _) in PREVIOUS.items()))
    for kind, frame in (("loans", loans.join(prev, on="loan_id", how="left")),
                        ("lines", lines)):
        if frame.is_empty():  # Spark needs a file to know the columns
            frame.write_parquet(f"{run}/{kind}/part=0/{name}.parquet", mkdir=True)
            continue
        keyed = frame.with_columns(part=pl.Series(crc32(frame["loan_id"]) % parts,
                                                  dtype=pl.Int32))
        for (k,), rows in keyed.partition_by("part", as_dict=True).items():  # ≤ P files
            rows.drop("part").write_parquet(f"{run}/{kind}/part={k}/{name}.parquet",
                                            mkdir=True)


def steps_for_part(loans: pa.Table, lines: pa.Table, *, as_of: date, rules: DayRules,
                   order: tuple[str, ...], loan_schema: dict[str, pl.DataType],
                   line_schema: dict[str, pl.DataType], with_previous: bool,
                   firsts: tuple[str, ...]) -> pa.Table:
    """One part of the book through the steps, on an executor: Arrow in, the snapshot rows as
    Arrow out (typed as Spark was told), each with the index of its mirror chunk."""
    travel = dict(PREVIOUS.values())
    book = _frame(loans, loan_schema | travel).sort("loan_id")
    previous = (book.select("loan_id", *(pl.col(a).alias(c) for c, (a, _) in PREVIOUS.items()))
                .filter(pl.col("stage").is_not_null()) if with_previous else None)
    # a shuffle keeps no order: put each side back as the mirror holds it
    day = start(as_of, book.drop(travel),
                _frame(lines, line_schema).sort("loan_id", "due_on", "seq"), previous, rules)
    snap = conform(run_steps(day, order).snap)
    chunk = pl.Series(firsts).search_sorted(snap["loan_id"], side="right") - 1
    return snap.with_columns(chunk=chunk).to_arrow().cast(ARROW_ROWS)


def _frame(table: pa.Table, schema: dict[str, Any]) -> pl.DataFrame:
    """``table`` as a frame of exactly ``schema`` (Parquet and Spark keep the values but may
    widen or rename types; a side with no rows in a part may come without columns)."""
    if table.num_rows == 0:
        return pl.DataFrame(schema=schema)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def _crc_table() -> np.ndarray[Any, np.dtype[np.uint32]]:
    c = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        c = np.where(c & 1, np.uint32(0xEDB88320) ^ (c >> 1), c >> 1).astype(np.uint32)
    return c


_CRC = _crc_table()


def crc32(ids: pl.Series) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """CRC-32 of each id's UTF-8 bytes (equal to ``zlib.crc32``), vectorised: one pass per
    character position over all ids, not one call per id — a partition key that stays the
    same across processes, machines and versions (unlike ``hash()`` or Polars' hash)."""
    arr = ids.rechunk().to_arrow().cast(pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)
    begin, size = offsets[:-1], np.diff(offsets)
    crc = np.full(len(arr), 0xFFFFFFFF, dtype=np.uint32)
    for k in range(int(size.max(initial=0))):
        at = np.flatnonzero(size > k)
        c = crc[at]
        crc[at] = _CRC[(c ^ data[begin[at] + k]) & 0xFF] ^ (c >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)
