"""Number journal entries and events per loan.

The journal's key becomes (loan_id, n) — entry n of loan L — and ``reverses`` the n of the
entry reversed; events are keyed by their id and keep their recording order per loan in ``n``.
Each table loses a B-tree (the surrogate key), and on SQLite both become WITHOUT ROWID tables
clustered by their key. ``loans`` counts what it has numbered (``journal_n``, ``event_n``).
Existing rows are renumbered in their recording order.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACCOUNTS = ("cash", "principal", "interest", "fee", "penalty", "credit", "interest_income",
            "fee_income", "penalty_income", "waiver", "write_off", "recovery")
EVENT_COLS = ("loan_id", "kind", "value_date", "amount", "component", "channel",
              "occurred_at", "target_event_id", "reason", "actor", "status", "content_hash",
              "ingest_run_id", "recorded_at")


def _journal_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("reverses", sa.Integer(), nullable=True),
        *[sa.Column(a, sa.BigInteger(), nullable=False) for a in ACCOUNTS],
        sa.CheckConstraint(" + ".join(ACCOUNTS) + " = 0", name="ck_journal_balanced"),
        sa.PrimaryKeyConstraint("loan_id", "n", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


def _events_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("component", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("target_event_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("ingest_run_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("loans") as batch:
        batch.add_column(sa.Column("journal_n", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("event_n", sa.Integer(), nullable=False,
                                   server_default="0"))
    numbered = ("SELECT id, ROW_NUMBER() OVER (PARTITION BY loan_id ORDER BY id) AS n "
                "FROM journal")
    _journal_table("journal_new")
    cols = ", ".join(ACCOUNTS)
    picked = ", ".join(f"j.{a}" for a in ACCOUNTS)
    op.execute(f"INSERT INTO journal_new (loan_id, n, event_id, kind, value_date, posted_at, "
               f"reverses, {cols}) SELECT j.loan_id, m.n, j.event_id, j.kind, j.value_date, "
               f"j.posted_at, r.n, {picked} FROM journal j JOIN ({numbered}) m ON m.id = j.id "
               f"LEFT JOIN ({numbered}) r ON r.id = j.reverses")
    op.drop_table("journal")
    op.rename_table("journal_new", "journal")
    _events_table("loan_events_new")
    ecols = ", ".join(EVENT_COLS)
    op.execute(f"INSERT INTO loan_events_new (event_id, n, {ecols}) SELECT event_id, "
               f"ROW_NUMBER() OVER (PARTITION BY loan_id ORDER BY id), {ecols} "
               f"FROM loan_events")
    op.drop_table("loan_events")
    op.rename_table("loan_events_new", "loan_events")
    op.create_index("ix_loan_events_loan", "loan_events", ["loan_id", "value_date"])
    if pg:
        op.execute("ALTER INDEX pk_journal_new RENAME TO pk_journal")
        op.execute("ALTER INDEX pk_loan_events_new RENAME TO pk_loan_events")
    op.execute("UPDATE loans SET journal_n = (SELECT COUNT(*) FROM journal j "
               "WHERE j.loan_id = loans.loan_id), event_n = (SELECT COUNT(*) FROM "
               "loan_events e WHERE e.loan_id = loans.loan_id)")


def downgrade() -> None:
    raise NotImplementedError("per-loan numbering is not reversed; restore from a backup")
