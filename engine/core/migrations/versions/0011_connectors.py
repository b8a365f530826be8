"""Connectors: inbound messages seen once per system and message id; references other systems gave a case

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00
"""
import sqlalchemy as sa
from alembic import op

from engine.core.column_types import Json, UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'inbound_message',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('system', sa.String(length=20), nullable=False),
        sa.Column('message_id', sa.String(length=120), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('http_status', sa.Integer(), nullable=True),
        sa.Column('result', Json, nullable=True),
        sa.Column('instance_id', _BIG, nullable=True),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('done_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_message')),
        sa.UniqueConstraint('system', 'message_id', name='uq_inbound_message_system_id'),
    )
    op.create_index(op.f('ix_inbound_message_instance_id'), 'inbound_message', ['instance_id'], unique=False)
    op.create_table(
        'case_reference',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('instance_id', _BIG, nullable=False),
        sa.Column('system', sa.String(length=20), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=120), nullable=False),
        sa.Column('issued_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_reference')),
    )
    op.create_index('uq_case_reference_identity', 'case_reference', ['instance_id', 'system', 'kind'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_case_reference_identity', table_name='case_reference')
    op.drop_table('case_reference')
    op.drop_index(op.f('ix_inbound_message_instance_id'), table_name='inbound_message')
    op.drop_table('inbound_message')
