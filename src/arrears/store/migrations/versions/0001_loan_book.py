"""Loan book: borrowers, loans, instalments (sub-ledger), loan events, journal, ingest runs, audit log.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:46:39.037507
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('borrowers',
    sa.Column('borrower_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=False),
    sa.Column('mobile', sa.String(length=32), nullable=False),
    sa.Column('province', sa.String(length=64), nullable=False),
    sa.Column('city', sa.String(length=64), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('ingest_run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('borrower_id', name=op.f('pk_borrowers'))
    )
    op.create_table('ingest_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_new', sa.Integer(), nullable=False),
    sa.Column('rows_duplicate', sa.Integer(), nullable=False),
    sa.Column('rows_quarantined', sa.Integer(), nullable=False),
    sa.Column('quarantine_path', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_runs'))
    )
    op.create_table('journal',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('posted_at', sa.DateTime(), nullable=False),
    sa.Column('reverses', sa.Integer(), nullable=True),
    sa.Column('cash', sa.BigInteger(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('interest', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('penalty', sa.BigInteger(), nullable=False),
    sa.Column('credit', sa.BigInteger(), nullable=False),
    sa.Column('interest_income', sa.BigInteger(), nullable=False),
    sa.Column('fee_income', sa.BigInteger(), nullable=False),
    sa.Column('penalty_income', sa.BigInteger(), nullable=False),
    sa.Column('waiver', sa.BigInteger(), nullable=False),
    sa.Column('write_off', sa.BigInteger(), nullable=False),
    sa.Column('recovery', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('cash + principal + interest + fee + penalty + credit + interest_income + fee_income + penalty_income + waiver + write_off + recovery = 0', name=op.f('ck_journal_balanced')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal'))
    )
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.create_index('ix_journal_loan', ['loan_id'], unique=False)
        batch_op.create_index('ix_journal_value_date', ['value_date'], unique=False)

    op.create_table('loans',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('borrower_id', sa.String(length=64), nullable=False),
    sa.Column('product_code', sa.String(length=64), nullable=True),
    sa.Column('lender_type', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('annual_rate', sa.String(length=32), nullable=False),
    sa.Column('repayment_method', sa.String(length=32), nullable=False),
    sa.Column('term_count', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('disbursed_on', sa.Date(), nullable=False),
    sa.Column('contract_signed_on', sa.Date(), nullable=False),
    sa.Column('first_due_on', sa.Date(), nullable=True),
    sa.Column('basis', sa.String(length=8), nullable=False),
    sa.Column('rounding', sa.String(length=16), nullable=False),
    sa.Column('month_end', sa.String(length=16), nullable=False),
    sa.Column('upfront_fee', sa.BigInteger(), nullable=False),
    sa.Column('service_fee_rate', sa.String(length=32), nullable=False),
    sa.Column('service_fee_fixed', sa.BigInteger(), nullable=False),
    sa.Column('late_fee_fixed', sa.BigInteger(), nullable=False),
    sa.Column('late_fee_rate', sa.String(length=32), nullable=False),
    sa.Column('penalty_rate_multiplier', sa.String(length=32), nullable=False),
    sa.Column('penalty_rate', sa.String(length=32), nullable=True),
    sa.Column('penalty_on_interest', sa.Boolean(), nullable=False),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('grace_penalty', sa.String(length=16), nullable=False),
    sa.Column('dpd_grace', sa.String(length=16), nullable=False),
    sa.Column('waterfall', sa.String(length=64), nullable=False),
    sa.Column('allocation_scope', sa.String(length=24), nullable=False),
    sa.Column('overpayment', sa.String(length=24), nullable=False),
    sa.Column('cost_cap_rate', sa.String(length=32), nullable=True),
    sa.Column('all_in_rate', sa.String(length=32), nullable=True),
    sa.Column('cap_excess', sa.String(length=32), nullable=True),
    sa.Column('cap_basis', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('ingest_run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('accrued_through', sa.Date(), nullable=False),
    sa.Column('credit', sa.BigInteger(), nullable=False),
    sa.Column('recovered', sa.BigInteger(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('next_seq', sa.Integer(), nullable=False),
    sa.Column('last_event_on', sa.Date(), nullable=True),
    sa.Column('last_event_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['borrower_id'], ['borrowers.borrower_id'], name=op.f('fk_loans_borrower_id_borrowers')),
    sa.PrimaryKeyConstraint('loan_id', name=op.f('pk_loans'))
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index('ix_loans_borrower', ['borrower_id'], unique=False)
        batch_op.create_index('ix_loans_status', ['status'], unique=False)

    op.create_table('instalments',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('interest', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('charged_fee', sa.BigInteger(), nullable=False),
    sa.Column('charged_penalty', sa.BigInteger(), nullable=False),
    sa.Column('charged_interest', sa.BigInteger(), nullable=False),
    sa.Column('charged_principal', sa.BigInteger(), nullable=False),
    sa.Column('paid_fee', sa.BigInteger(), nullable=False),
    sa.Column('paid_penalty', sa.BigInteger(), nullable=False),
    sa.Column('paid_interest', sa.BigInteger(), nullable=False),
    sa.Column('paid_principal', sa.BigInteger(), nullable=False),
    sa.Column('waived_fee', sa.BigInteger(), nullable=False),
    sa.Column('waived_penalty', sa.BigInteger(), nullable=False),
    sa.Column('waived_interest', sa.BigInteger(), nullable=False),
    sa.Column('waived_principal', sa.BigInteger(), nullable=False),
    sa.Column('written_off_fee', sa.BigInteger(), nullable=False),
    sa.Column('written_off_penalty', sa.BigInteger(), nullable=False),
    sa.Column('written_off_interest', sa.BigInteger(), nullable=False),
    sa.Column('written_off_principal', sa.BigInteger(), nullable=False),
    sa.Column('pending_penalty', sa.BigInteger(), nullable=False),
    sa.Column('grace_done', sa.Boolean(), nullable=False),
    sa.Column('live', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], name=op.f('fk_instalments_loan_id_loans')),
    sa.PrimaryKeyConstraint('loan_id', 'seq', name=op.f('pk_instalments'))
    )
    with op.batch_alter_table('instalments', schema=None) as batch_op:
        batch_op.create_index('ix_instalments_due', ['due_on'], unique=False)

    op.create_table('loan_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('component', sa.String(length=16), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('occurred_at', sa.DateTime(), nullable=True),
    sa.Column('target_event_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('ingest_run_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], name=op.f('fk_loan_events_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_events')),
    sa.UniqueConstraint('event_id', name='uq_loan_events_event_id')
    )
    with op.batch_alter_table('loan_events', schema=None) as batch_op:
        batch_op.create_index('ix_loan_events_loan', ['loan_id', 'value_date'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('loan_events', schema=None) as batch_op:
        batch_op.drop_index('ix_loan_events_loan')

    op.drop_table('loan_events')
    with op.batch_alter_table('instalments', schema=None) as batch_op:
        batch_op.drop_index('ix_instalments_due')

    op.drop_table('instalments')
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index('ix_loans_status')
        batch_op.drop_index('ix_loans_borrower')

    op.drop_table('loans')
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_value_date')
        batch_op.drop_index('ix_journal_loan')

    op.drop_table('journal')
    op.drop_table('ingest_runs')
    op.drop_table('borrowers')
    op.drop_table('audit_log')

