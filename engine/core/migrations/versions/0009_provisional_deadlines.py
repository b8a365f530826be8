"""A missing calendar year never blocks a step: work_item.due_provisional, notice.dedupe_key

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_provisional', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint('uq_notice_dedupe_key', ['dedupe_key'])


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notice_dedupe_key', type_='unique')
        batch_op.drop_column('dedupe_key')
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.drop_column('due_provisional')
