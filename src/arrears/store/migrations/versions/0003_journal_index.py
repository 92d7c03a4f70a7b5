"""Drop the journal's value-date index: every bulk insert paid for it and no query used it
(trial balances by value date scan the journal).

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_journal_value_date", table_name="journal")


def downgrade() -> None:
    op.create_index("ix_journal_value_date", "journal", ["value_date"])
