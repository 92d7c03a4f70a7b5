"""End-of-day on Apache Spark: the same steps as the local engine, run per partition of loans
(an adapter; PySpark is imported only when a Spark run starts, so the package works without
it — ``pip install 'arrears[spark]'``).

The flow of ``spark_snapshot``:

1. The driver exports the book it was given (the mirror, with loans ahead of the date already
   replayed) as Parquet under a run folder: loans with the previous day's ``stage`` and
   ``dpd`` joined on, and the instalment lines, both keyed by ``part`` = CRC-32 of the loan
   id modulo P (hive folders ``part=k``), so one part carries everything its loans need.
2. Spark reads both, ``groupBy("part")`` and cogroups them; ``applyInArrow`` hands each part
   to ``steps_for_part`` in a Python worker, which turns Arrow into Polars, builds the day with
   ``eod.steps.start`` and runs ``eod.steps.run_steps`` in the configured order — the local
   engine's code, over a slice of the book instead of all of it — and returns the snapshot
   rows as Arrow typed exactly as ``SNAPSHOT_SCHEMA``.
3. Spark writes the rows as Parquet; the driver reads them back with Polars and the service
   writes the partition, the totals and the run mark the way the local engine does.

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
from collections.abc import Callable, Iterator, Sequence
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
SPARK_SNAPSHOT_DDL = ", ".join(f"{c} {_TYPES[t][0]}" for c, t in _SNAPSHOT.items())
ARROW_SNAPSHOT = pa.schema([(c, _TYPES[t][1]) for c, t in _SNAPSHOT.items()])

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


def spark_snapshot(settings: Settings, as_of: date, loans: pl.DataFrame, lines: pl.DataFrame,
                   previous: pl.DataFrame | None, rules: DayRules, order: Sequence[str],
                   master: str = "local[2]",
                   on_step: Callable[[str], None] | None = None) -> pl.DataFrame:
    """The snapshot rows of ``as_of`` (unsorted, as the parts return them) from running the
    steps in ``order`` on Spark, over the book given as the mirror's frames."""
    with session(master) as spark:
        parts = int(spark.conf.get(PARTS_CONF, None) or 4 * spark.sparkContext.defaultParallelism)
        root = spark.conf.get(DIR_CONF, None) or str(settings.home / "spark")
        run = f"{root.rstrip('/')}/eod-{as_of.isoformat()}-{uuid.uuid4().hex[:12]}"
        local = "://" not in run
        # a path is a (shared) local folder, also to a cluster whose default file system is
        # HDFS; a URI (s3://…) is given to Polars and Spark as it is
        at = Path(run).resolve().as_uri() if local else run
        try:
            export(run, loans, lines, previous, parts)
            job = partial(steps_for_part, as_of=as_of, rules=rules, order=tuple(order),
                          loan_schema=dict(loans.schema), line_schema=dict(lines.schema),
                          with_previous=previous is not None)
            left = spark.read.parquet(f"{at}/loans").groupBy("part")
            right = spark.read.parquet(f"{at}/lines").groupBy("part")
            (left.cogroup(right).applyInArrow(job, schema=SPARK_SNAPSHOT_DDL)
             .write.mode("overwrite").parquet(f"{at}/snapshot"))
            frame = pl.read_parquet(f"{run}/snapshot/*.parquet")
        finally:
            if local:  # an object store's run folders expire by its own lifecycle rules
                shutil.rmtree(run, ignore_errors=True)
    if on_step is not None:
        for name in order:  # the steps ran on the executors, all of them by now
            on_step(name)
    return frame


def export(run: str, loans: pl.DataFrame, lines: pl.DataFrame,
           previous: pl.DataFrame | None, parts: int) -> None:
    """Write the book for Spark: ``<run>/loans`` (with the previous day's stage and dpd) and
    ``<run>/lines``, each in hive folders ``part=k``."""
    if previous is None:
        previous = pl.DataFrame(schema={"loan_id": pl.String, "stage": pl.String,
                                        "dpd": pl.Int32})
    prev = previous.select("loan_id", *(pl.col(c).alias(a) for c, (a, _) in PREVIOUS.items()))
    for name, frame in (("loans", loans.join(prev, on="loan_id", how="left")),
                        ("lines", lines)):
        if frame.is_empty():  # no folders would be written, and Spark needs a schema
            frame.write_parquet(f"{run}/{name}/part=0/empty.parquet", mkdir=True)
            continue
        keyed = frame.with_columns(part=pl.Series(crc32(frame["loan_id"]) % parts,
                                                  dtype=pl.Int32))
        keyed.write_parquet(f"{run}/{name}", partition_by="part", mkdir=True)


def steps_for_part(loans: pa.Table, lines: pa.Table, *, as_of: date, rules: DayRules,
                   order: tuple[str, ...], loan_schema: dict[str, pl.DataType],
                   line_schema: dict[str, pl.DataType], with_previous: bool) -> pa.Table:
    """One part of the book through the steps, on an executor: Arrow in, the snapshot rows as
    Arrow out (typed as Spark was told)."""
    travel = dict(PREVIOUS.values())
    book = _frame(loans, loan_schema | travel).sort("loan_id")
    previous = (book.select("loan_id", *(pl.col(a).alias(c) for c, (a, _) in PREVIOUS.items()))
                .filter(pl.col("stage").is_not_null()) if with_previous else None)
    # a shuffle keeps no order: put each side back as the mirror holds it
    day = start(as_of, book.drop(travel),
                _frame(lines, line_schema).sort("loan_id", "due_on", "seq"), previous, rules)
    return conform(run_steps(day, order).snap).to_arrow().cast(ARROW_SNAPSHOT)


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
