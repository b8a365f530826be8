"""Connectors (call centre, SMS platform, meter verification): call tasks and their results; SMS delivery
receipts on the outbox; meter verification requests and results

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 18:00:00
"""
import sqlalchemy as sa
from alembic import op

from engine.core.column_types import Json, UTCDateTime

revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'call_task',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('task_no', sa.String(length=60), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('instance_id', _BIG, nullable=True),
        sa.Column('work_item_id', sa.String(length=36), nullable=True),
        sa.Column('notice_id', _BIG, nullable=True),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('satisfaction', sa.Integer(), nullable=True),
        sa.Column('duration_s', sa.Integer(), nullable=True),
        sa.Column('recording_ref', sa.String(length=200), nullable=True),
        sa.Column('called_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('result_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_call_task')),
        sa.UniqueConstraint('task_no', name=op.f('uq_call_task_task_no')),
    )
    op.create_index(op.f('ix_call_task_instance_id'), 'call_task', ['instance_id'], unique=False)
    op.create_index(op.f('ix_call_task_work_item_id'), 'call_task', ['work_item_id'], unique=False)
    op.create_index(op.f('ix_call_task_status'), 'call_task', ['status'], unique=False)
    op.create_table(
        'meter_verification',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('source', sa.String(length=80), nullable=False),
        sa.Column('request_key', sa.String(length=120), nullable=False),
        sa.Column('verification_no', sa.String(length=32), nullable=True),
        sa.Column('instance_id', _BIG, nullable=True),
        sa.Column('request', Json, nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('error_pct', sa.Numeric(precision=7, scale=3, asdecimal=False), nullable=True),
        sa.Column('passed', sa.Boolean(), nullable=True),
        sa.Column('certificate_ref', sa.String(length=120), nullable=True),
        sa.Column('verified_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('result_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_verification')),
        sa.UniqueConstraint('source', 'request_key', name='uq_meter_verification_source_key'),
        sa.UniqueConstraint('verification_no', name=op.f('uq_meter_verification_verification_no')),
    )
    op.create_index(op.f('ix_meter_verification_instance_id'), 'meter_verification', ['instance_id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_state', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('delivery_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivery_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('resend_of', _BIG, nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_resend_of'), ['resend_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_resend_of'))
        batch_op.drop_column('resend_of')
        batch_op.drop_column('delivery_error')
        batch_op.drop_column('delivery_at')
        batch_op.drop_column('delivery_state')
    op.drop_index(op.f('ix_meter_verification_instance_id'), table_name='meter_verification')
    op.drop_table('meter_verification')
    op.drop_index(op.f('ix_call_task_status'), table_name='call_task')
    op.drop_index(op.f('ix_call_task_work_item_id'), table_name='call_task')
    op.drop_index(op.f('ix_call_task_instance_id'), table_name='call_task')
    op.drop_table('call_task')
