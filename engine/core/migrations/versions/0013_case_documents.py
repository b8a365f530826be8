"""Documents tied to a case: staff upload them inside the task form; a form may refer only to its case's

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('document') as batch:
        batch.add_column(sa.Column('instance_id', _ID, nullable=True))
        batch.create_index(batch.f('ix_document_instance_id'), ['instance_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document') as batch:
        batch.drop_index(batch.f('ix_document_instance_id'))
        batch.drop_column('instance_id')
