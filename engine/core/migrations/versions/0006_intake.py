"""O2O intake: applications (with their idempotency keys) and uploaded documents

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.core.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('application',
    sa.Column('id', _ID, nullable=False),
    sa.Column('application_no', sa.String(length=64), nullable=False),
    sa.Column('instance_id', _ID, nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('client', sa.String(length=80), nullable=False),
    sa.Column('idempotency_key', sa.String(length=120), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application')),
    sa.UniqueConstraint('application_no', name=op.f('uq_application_application_no')),
    sa.UniqueConstraint('client', 'idempotency_key', name='uq_application_client_key')
    )
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_client'), ['client'], unique=False)
        batch_op.create_index(batch_op.f('ix_application_instance_id'), ['instance_id'], unique=False)

    op.create_table('document',
    sa.Column('id', _ID, nullable=False),
    sa.Column('ref', sa.String(length=80), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', _ID, nullable=False),
    sa.Column('content_type', sa.String(length=60), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by', sa.String(length=80), nullable=False),
    sa.Column('uploaded_at', engine.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document')),
    sa.UniqueConstraint('ref', name=op.f('uq_document_ref'))
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_uploaded_by'), ['uploaded_by'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_uploaded_by'))
        batch_op.drop_index(batch_op.f('ix_document_sha256'))
    op.drop_table('document')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_instance_id'))
        batch_op.drop_index(batch_op.f('ix_application_client'))
    op.drop_table('application')
