"""The dispatch centre: teams, capacity reports, appointments, dispatch lists, call-backs, works list

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:30:00
"""
from alembic import op
import sqlalchemy as sa
import engine.core.models
from sqlalchemy.dialects import postgresql


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_ACTIVE = sa.text("status IN ('booked', 'dispatched', 'arrived')")


def upgrade() -> None:
    op.create_table('team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('area', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team')),
    sa.UniqueConstraint('code', name=op.f('uq_team_code'))
    )
    op.create_table('capacity_report',
    sa.Column('id', _ID, nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('job_type', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=6), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('days', _JSON, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reported_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reported_by', sa.String(length=80), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_capacity_report_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capacity_report')),
    sa.UniqueConstraint('team_id', 'job_type', 'kind', 'day', 'version', name='uq_capacity_report_version')
    )
    op.create_table('capacity_usage',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('job_type', sa.String(length=10), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_capacity_usage_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'day', 'job_type', name=op.f('pk_capacity_usage'))
    )
    op.create_table('dispatch_list',
    sa.Column('id', _ID, nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slot', sa.String(length=2), nullable=False),
    sa.Column('generated_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('generated_by', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_dispatch_list_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_list')),
    sa.UniqueConstraint('team_id', 'day', 'slot', name='uq_dispatch_list_team_day_slot')
    )
    op.create_table('team_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('mobile', sa.String(length=20), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=True),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('added_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_team_member_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_member')),
    sa.UniqueConstraint('team_id', 'name', name='uq_team_member_team_name')
    )
    op.create_table('appointment',
    sa.Column('id', _ID, nullable=False),
    sa.Column('job_no', sa.String(length=32), nullable=False),
    sa.Column('job_key', sa.String(length=80), nullable=False),
    sa.Column('instance_id', _ID, nullable=False),
    sa.Column('job_type', sa.String(length=10), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('request', _JSON, nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=10), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slot', sa.String(length=2), nullable=False),
    sa.Column('window_start', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('application_no', sa.String(length=64), nullable=True),
    sa.Column('customer_name', sa.String(length=100), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('mobile', sa.String(length=20), nullable=True),
    sa.Column('worker_name', sa.String(length=40), nullable=True),
    sa.Column('worker_mobile', sa.String(length=20), nullable=True),
    sa.Column('planned_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('route_seq', sa.Integer(), nullable=True),
    sa.Column('arrived_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('booked_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('booked_by', sa.String(length=80), nullable=False),
    sa.Column('updated_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_appointment_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_appointment_team_id_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment')),
    sa.UniqueConstraint('job_no', name=op.f('uq_appointment_job_no'))
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_status'), ['status'], unique=False)
        batch_op.create_index('ix_appointment_team_day', ['team_id', 'day', 'slot'], unique=False)
        batch_op.create_index('uq_appointment_active_job', ['job_key'], unique=True, postgresql_where=_ACTIVE, sqlite_where=_ACTIVE)

    op.create_table('callback_record',
    sa.Column('id', _ID, nullable=False),
    sa.Column('instance_id', _ID, nullable=False),
    sa.Column('job_no', sa.String(length=32), nullable=False),
    sa.Column('job_type', sa.String(length=10), nullable=False),
    sa.Column('called_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reachable', sa.Boolean(), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.Column('follow_up', sa.Boolean(), nullable=False),
    sa.Column('follow_up_status', sa.String(length=10), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.Column('resolved_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=80), nullable=True),
    sa.Column('recorded_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_callback_record_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_record')),
    sa.UniqueConstraint('job_no', name=op.f('uq_callback_record_job_no'))
    )
    with op.batch_alter_table('callback_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_record_follow_up_status'), ['follow_up_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_record_instance_id'), ['instance_id'], unique=False)

    op.create_table('works_entry',
    sa.Column('id', _ID, nullable=False),
    sa.Column('instance_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('application_no', sa.String(length=64), nullable=True),
    sa.Column('customer_name', sa.String(length=100), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('next_follow_up', sa.Date(), nullable=True),
    sa.Column('interval_days', sa.Integer(), nullable=False),
    sa.Column('work_item_id', sa.String(length=36), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', engine.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_works_entry_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_works_entry')),
    sa.UniqueConstraint('instance_id', 'kind', name='uq_works_entry_instance_kind')
    )
    with op.batch_alter_table('works_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_works_entry_status'), ['status'], unique=False)

    op.create_table('appointment_log',
    sa.Column('id', _ID, nullable=False),
    sa.Column('appointment_id', _ID, nullable=False),
    sa.Column('at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('details', _JSON, nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_appointment_log_appointment_id_appointment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_log'))
    )
    with op.batch_alter_table('appointment_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_log_appointment_id'), ['appointment_id'], unique=False)

    op.create_table('dispatch_entry',
    sa.Column('id', _ID, nullable=False),
    sa.Column('list_id', _ID, nullable=False),
    sa.Column('appointment_id', _ID, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('added_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_dispatch_entry_appointment_id_appointment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['list_id'], ['dispatch_list.id'], name=op.f('fk_dispatch_entry_list_id_dispatch_list'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_entry')),
    sa.UniqueConstraint('appointment_id', name=op.f('uq_dispatch_entry_appointment_id'))
    )
    with op.batch_alter_table('dispatch_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_entry_list_id'), ['list_id'], unique=False)

    op.create_table('works_log',
    sa.Column('id', _ID, nullable=False),
    sa.Column('entry_id', _ID, nullable=False),
    sa.Column('at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('next_follow_up', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['works_entry.id'], name=op.f('fk_works_log_entry_id_works_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_works_log'))
    )
    with op.batch_alter_table('works_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_works_log_entry_id'), ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('works_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_works_log_entry_id'))

    op.drop_table('works_log')
    with op.batch_alter_table('dispatch_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_entry_list_id'))

    op.drop_table('dispatch_entry')
    with op.batch_alter_table('appointment_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_log_appointment_id'))

    op.drop_table('appointment_log')
    with op.batch_alter_table('works_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_works_entry_status'))

    op.drop_table('works_entry')
    with op.batch_alter_table('callback_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_record_instance_id'))
        batch_op.drop_index(batch_op.f('ix_callback_record_follow_up_status'))

    op.drop_table('callback_record')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index('uq_appointment_active_job', postgresql_where=_ACTIVE, sqlite_where=_ACTIVE)
        batch_op.drop_index('ix_appointment_team_day')
        batch_op.drop_index(batch_op.f('ix_appointment_status'))
        batch_op.drop_index(batch_op.f('ix_appointment_instance_id'))

    op.drop_table('appointment')
    op.drop_table('team_member')
    op.drop_table('dispatch_list')
    op.drop_table('capacity_usage')
    op.drop_table('capacity_report')
    op.drop_table('team')
