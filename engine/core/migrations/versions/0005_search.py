"""Instance search columns: customer name, mobile, channel

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:27:42.631815
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('customer_mobile', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_instance_customer_mobile'), ['customer_mobile'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instance_customer_name'), ['customer_name'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instance_customer_name'))
        batch_op.drop_index(batch_op.f('ix_process_instance_customer_mobile'))
        batch_op.drop_column('channel')
        batch_op.drop_column('customer_mobile')
        batch_op.drop_column('customer_name')

