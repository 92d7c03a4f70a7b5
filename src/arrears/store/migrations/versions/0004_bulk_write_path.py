"""The bulk write path: no per-row foreign-key triggers on the sub-ledger and the events (the
services check every reference and reconcile reports orphans), no index on the instalments'
due date (lines are read by loan; every bulk write paid for it), and on PostgreSQL room in each
page for in-place (HOT) updates of the rows posting rewrites.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_instalments_due", table_name="instalments")
    with op.batch_alter_table("instalments") as batch:
        batch.drop_constraint("fk_instalments_loan_id_loans", type_="foreignkey")
    with op.batch_alter_table("loan_events") as batch:
        batch.drop_constraint("fk_loan_events_loan_id_loans", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE instalments SET (fillfactor = 80)")
        op.execute("ALTER TABLE loans SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE instalments RESET (fillfactor)")
        op.execute("ALTER TABLE loans RESET (fillfactor)")
    with op.batch_alter_table("loan_events") as batch:
        batch.create_foreign_key("fk_loan_events_loan_id_loans", "loans", ["loan_id"],
                                 ["loan_id"])
    with op.batch_alter_table("instalments") as batch:
        batch.create_foreign_key("fk_instalments_loan_id_loans", "loans", ["loan_id"],
                                 ["loan_id"])
    op.create_index("ix_instalments_due", "instalments", ["due_on"])
