"""End-of-day: the change log its mirror reads, its runs and its portfolio totals.

Every loan already booked is logged as changed, so the first end-of-day reads the whole book.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loan_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_loan_changes")),
    )
    op.create_table(
        "eod_runs",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("as_of", name=op.f("pk_eod_runs")),
    )
    op.create_table(
        "eod_summaries",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("bucket_rank", sa.Integer(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("outstanding_principal", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_total", sa.BigInteger(), nullable=False),
        sa.Column("overdue_total", sa.BigInteger(), nullable=False),
        sa.Column("accrued_interest", sa.BigInteger(), nullable=False),
        sa.Column("pending_penalty", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "currency", "bucket", name=op.f("pk_eod_summaries")),
    )
    op.execute("INSERT INTO loan_changes (loan_id) SELECT loan_id FROM loans")


def downgrade() -> None:
    op.drop_table("eod_summaries")
    op.drop_table("eod_runs")
    op.drop_table("loan_changes")
