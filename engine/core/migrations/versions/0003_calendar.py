"""working-day calendar

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import engine.core.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the table only: `yekuo init` seeds it from the chinesecalendar package (engine.deadlines.calendar)
    op.create_table('calendar_day',
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('imported_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('date', name=op.f('pk_calendar_day'))
    )
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_day_year'), ['year'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_day_year'))

    op.drop_table('calendar_day')
