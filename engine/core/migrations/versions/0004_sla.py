"""SLA clocks, time-limit rule sets, pauses, notices; instance business type

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:14:16.203889
"""
from alembic import op
import sqlalchemy as sa
import engine.core.models
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('work_item_id', sa.String(length=36), nullable=True),
    sa.Column('clock_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('recipient_user', sa.String(length=80), nullable=True),
    sa.Column('recipient_group', sa.String(length=40), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('requires_ack', sa.Boolean(), nullable=False),
    sa.Column('created_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=80), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice'))
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index('ix_notice_group_open', ['recipient_group', 'acknowledged_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_notice_user_open', ['recipient_user', 'acknowledged_at'], unique=False)

    op.create_table('rule_set',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('thresholds', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('loaded_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('loaded_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rule_set'))
    )
    op.create_table('time_limit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_set', sa.String(length=60), nullable=False),
    sa.Column('business_type', sa.String(length=20), nullable=False),
    sa.Column('sla_key', sa.String(length=60), nullable=False),
    sa.Column('workdays', sa.Integer(), nullable=False),
    sa.Column('assessed', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['rule_set'], ['rule_set.name'], name=op.f('fk_time_limit_rule_set_rule_set'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_limit')),
    sa.UniqueConstraint('rule_set', 'business_type', 'sla_key', name='uq_time_limit_rule')
    )
    op.create_table('sla_clock',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('work_item_id', sa.String(length=36), nullable=True),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('sla_key', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('rule_set', sa.String(length=60), nullable=False),
    sa.Column('business_type', sa.String(length=20), nullable=False),
    sa.Column('limit_workdays', sa.Integer(), nullable=False),
    sa.Column('assessed', sa.Boolean(), nullable=False),
    sa.Column('started_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('paused_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paused_workdays', sa.Integer(), nullable=False),
    sa.Column('ended_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_sla_clock_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clock'))
    )
    with op.batch_alter_table('sla_clock', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clock_instance_status', ['instance_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clock_work_item_id'), ['work_item_id'], unique=False)

    op.create_table('sla_pause',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('paused_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paused_by', sa.String(length=80), nullable=False),
    sa.Column('resumed_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resumed_by', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_sla_pause_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_pause'))
    )
    with op.batch_alter_table('sla_pause', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_pause_instance_id'), ['instance_id'], unique=False)

    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_type', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_instance_business_type'), ['business_type'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instance_business_type'))
        batch_op.drop_column('business_type')

    with op.batch_alter_table('sla_pause', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_pause_instance_id'))

    op.drop_table('sla_pause')
    with op.batch_alter_table('sla_clock', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_clock_work_item_id'))
        batch_op.drop_index('ix_sla_clock_instance_status')

    op.drop_table('sla_clock')
    op.drop_table('time_limit')
    op.drop_table('rule_set')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_user_open')
        batch_op.drop_index(batch_op.f('ix_notice_instance_id'))
        batch_op.drop_index('ix_notice_group_open')

    op.drop_table('notice')
