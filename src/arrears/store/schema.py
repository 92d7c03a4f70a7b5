"""Database tables (SQLAlchemy Core). Alembic migrations in ``store/migrations`` create them.

Money columns are BIGINT minor units; rates are exact decimal strings (``ExactDecimal``) so
SQLite never turns them into floats. The journal is one row per entry with one column per
account (debit positive, credit negative) and a CHECK that the row sums to zero — a compact,
balanced double-entry journal that sums per loan and per account with plain SQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from arrears.book.engine import ACCOUNTS


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored as its exact string (no binary floating point on any backend)."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

COMPONENT_COLUMNS = ("fee", "penalty", "interest", "principal")  # engine index order

borrowers = Table(
    "borrowers", metadata,
    Column("borrower_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("id_number", String(32), nullable=False),
    Column("mobile", String(32), nullable=False),
    Column("province", String(64), nullable=False),
    Column("city", String(64), nullable=False),
    Column("address", Text, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),  # optional contract fields
    Column("content_hash", String(64), nullable=False),
    Column("ingest_run_id", Integer, nullable=True),
    Column("created_at", DateTime, nullable=False),
)

loans = Table(
    "loans", metadata,
    Column("loan_id", String(64), primary_key=True),
    Column("borrower_id", String(64), ForeignKey("borrowers.borrower_id"), nullable=False),
    Column("product_code", String(64), nullable=True),
    Column("lender_type", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("principal", BigInteger, nullable=False),
    Column("annual_rate", ExactDecimal, nullable=False),
    Column("repayment_method", String(32), nullable=False),
    Column("term_count", Integer, nullable=False),
    Column("period", String(16), nullable=False),
    Column("disbursed_on", Date, nullable=False),
    Column("contract_signed_on", Date, nullable=False),
    Column("first_due_on", Date, nullable=True),
    Column("basis", String(8), nullable=False),
    Column("rounding", String(16), nullable=False),
    Column("month_end", String(16), nullable=False),
    Column("upfront_fee", BigInteger, nullable=False),
    Column("service_fee_rate", ExactDecimal, nullable=False),
    Column("service_fee_fixed", BigInteger, nullable=False),
    Column("late_fee_fixed", BigInteger, nullable=False),
    Column("late_fee_rate", ExactDecimal, nullable=False),
    Column("penalty_rate_multiplier", ExactDecimal, nullable=False),
    Column("penalty_rate", ExactDecimal, nullable=True),
    Column("penalty_on_interest", Boolean, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("grace_penalty", String(16), nullable=False),
    Column("dpd_grace", String(16), nullable=False),
    Column("waterfall", String(64), nullable=False),  # e.g. "fee,penalty,interest,principal"
    Column("allocation_scope", String(24), nullable=False),
    Column("overpayment", String(24), nullable=False),
    # legal checks made at booking (CN.md §1): the cap, the IRR-method all-in cost, the excess
    Column("cost_cap_rate", ExactDecimal, nullable=True),
    Column("all_in_rate", ExactDecimal, nullable=True),
    Column("cap_excess", ExactDecimal, nullable=True),
    Column("cap_basis", Text, nullable=True),
    Column("extra", JSON, nullable=False, default=dict),
    Column("content_hash", String(64), nullable=False),
    Column("ingest_run_id", Integer, nullable=True),
    Column("created_at", DateTime, nullable=False),
    # state of the engine after the last posting (a projection of the journal)
    Column("status", String(16), nullable=False),
    Column("accrued_through", Date, nullable=False),
    Column("credit", BigInteger, nullable=False, default=0),
    Column("recovered", BigInteger, nullable=False, default=0),
    Column("closed_on", Date, nullable=True),
    Column("next_seq", Integer, nullable=False),
    Column("journal_n", Integer, nullable=False, default=0),  # entries numbered so far
    Column("event_n", Integer, nullable=False, default=0),  # events recorded so far
    Column("last_event_on", Date, nullable=True),  # order key of the last event applied
    Column("last_event_at", DateTime, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_loans_borrower", "borrower_id"),
    Index("ix_loans_status", "status"),
)

_component_cols = [
    Column(f"{measure}_{c}", BigInteger, nullable=False, default=0)
    for measure in ("charged", "paid", "waived", "written_off")
    for c in COMPONENT_COLUMNS
]

instalments = Table(
    "instalments", metadata,
    # loan_id references loans without a database constraint: a foreign key costs a trigger per
    # row in bulk posting; the services refuse unknown loans and reconcile checks for orphans
    Column("loan_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("start_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("principal", BigInteger, nullable=False),
    Column("interest", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    *_component_cols,
    Column("pending_penalty", BigInteger, nullable=False, default=0),
    Column("grace_done", Boolean, nullable=False, default=False),
    Column("live", Boolean, nullable=False, default=True),
)

loan_events = Table(
    "loan_events", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("loan_id", String(64), nullable=False),  # references loans (see instalments)
    Column("n", Integer, nullable=False),  # the loan's n-th recorded event: recording order
    Column("kind", String(16), nullable=False),  # payment | waiver | write-off | reversal
    Column("value_date", Date, nullable=False),
    Column("amount", BigInteger, nullable=True),
    Column("component", String(16), nullable=True),
    Column("channel", String(32), nullable=True),
    Column("occurred_at", DateTime, nullable=True),  # paid_at, lender's local time
    Column("target_event_id", String(64), nullable=True),  # what a reversal reverses
    Column("reason", Text, nullable=True),
    Column("actor", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # effective | reversed | rejected
    Column("content_hash", String(64), nullable=False),
    Column("ingest_run_id", Integer, nullable=True),
    Column("recorded_at", DateTime, nullable=False),
    Index("ix_loan_events_loan", "loan_id", "value_date"),
    sqlite_with_rowid=False,  # the table is its key's B-tree: one tree less to write
)

journal = Table(
    "journal", metadata,
    # entries are numbered per loan (entry n of loan L): the key is also the loan's index,
    # and on SQLite the table is that one B-tree, its rows kept together by loan
    Column("loan_id", String(64), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("event_id", String(64), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("value_date", Date, nullable=False),
    Column("posted_at", DateTime, nullable=False),
    Column("reverses", Integer, nullable=True),  # n of the entry of the same loan it reverses
    *[Column(a, BigInteger, nullable=False, default=0) for a in ACCOUNTS],
    CheckConstraint(" + ".join(ACCOUNTS) + " = 0", name="balanced"),
    sqlite_with_rowid=False,
)

ingest_runs = Table(
    "ingest_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("rows_total", Integer, nullable=False, default=0),
    Column("rows_new", Integer, nullable=False, default=0),
    Column("rows_duplicate", Integer, nullable=False, default=0),
    Column("rows_quarantined", Integer, nullable=False, default=0),
    Column("quarantine_path", Text, nullable=True),
)

products = Table(
    "products", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("terms", JSON, nullable=False),  # contract-field strings, see contract.products
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# Which loans changed since end-of-day last read the book: every write of a loan's state adds
# a row (in the same transaction); end-of-day takes and deletes them in one statement while it
# brings its columnar mirror up to date (``store.mirror``). Appending keeps the write path
# cheap: no index on the hot ``loans`` rows, so PostgreSQL's in-place updates still apply.
loan_changes = Table(
    "loan_changes", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("loan_id", String(64), nullable=False),
)

eod_runs = Table(
    "eod_runs", metadata,
    Column("as_of", Date, primary_key=True),
    Column("status", String(16), nullable=False),  # running | done
    Column("engine", String(16), nullable=False),  # local | spark
    Column("steps", Text, nullable=False),  # the step order, comma-separated
    Column("loans", Integer, nullable=False, default=0),
    Column("digest", String(64), nullable=True),  # sha-256 of the snapshot, for re-run checks
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
)

# Portfolio totals per business date and bucket, written with the run that made them.
eod_summaries = Table(
    "eod_summaries", metadata,
    Column("as_of", Date, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("bucket", String(16), primary_key=True),
    Column("bucket_rank", Integer, nullable=False),
    Column("loans", Integer, nullable=False),
    Column("outstanding_principal", BigInteger, nullable=False),
    Column("outstanding_total", BigInteger, nullable=False),
    Column("overdue_total", BigInteger, nullable=False),
    Column("accrued_interest", BigInteger, nullable=False),
    Column("pending_penalty", BigInteger, nullable=False),
)
