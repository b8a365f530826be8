"""Service centre: case message threads, dispatch modes and their switch chain, area sizes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 18:00:00
"""
import sqlalchemy as sa
from alembic import op

from engine.core.column_types import UTCDateTime

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'case_message',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('instance_id', _BIG, nullable=False),
        sa.Column('author_kind', sa.String(length=10), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('author', sa.String(length=80), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('limit_hours', sa.Float(), nullable=True),
        sa.Column('respond_by', UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_by', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_message')),
    )
    op.create_index(op.f('ix_case_message_instance_id'), 'case_message', ['instance_id'], unique=False)
    op.create_table(
        'dispatch_mode',
        sa.Column('area', sa.String(length=10), nullable=False),
        sa.Column('job_type', sa.String(length=10), nullable=False),
        sa.Column('mode', sa.String(length=10), nullable=False),
        sa.Column('changed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('changed_by', sa.String(length=80), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('area', 'job_type', name=op.f('pk_dispatch_mode')),
    )
    op.create_table(
        'dispatch_mode_event',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=80), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_mode_event')),
        sa.UniqueConstraint('seq', name='uq_dispatch_mode_event_seq'),
    )
    op.create_table(
        'area_size',
        sa.Column('code', sa.String(length=10), nullable=False),
        sa.Column('size_km2', sa.Float(), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_area_size')),
    )


def downgrade() -> None:
    op.drop_table('area_size')
    op.drop_table('dispatch_mode_event')
    op.drop_table('dispatch_mode')
    op.drop_index(op.f('ix_case_message_instance_id'), table_name='case_message')
    op.drop_table('case_message')
