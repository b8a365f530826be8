"""Rule sets as versioned data: versions with who/when/why, a hash chain of rule changes, the
version (and a limit in working hours) on each SLA clock; time_limit rows become version 1

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 18:00:00
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from engine.core import clock, history
from engine.core.column_types import UTCDateTime

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'rule_set_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_set', sa.String(length=60), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('content', JSON, nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['rule_set'], ['rule_set.name'], name=op.f('fk_rule_set_version_rule_set_rule_set'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_set_version')),
        sa.UniqueConstraint('rule_set', 'version', name='uq_rule_set_version'),
    )
    op.create_table(
        'rule_audit',
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=80), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_rule_audit')),
    )
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('sla_clock', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('limit_hours', sa.Integer(), nullable=True))
    _copy_time_limits()
    op.drop_table('time_limit')


def _copy_time_limits() -> None:
    """Each existing rule set becomes version 1 (legacy thresholds are read as such), chained."""
    conn = op.get_bind()
    sets = conn.execute(sa.text("SELECT name, title, source, thresholds, active FROM rule_set ORDER BY name")).all()
    version_t = sa.table('rule_set_version', sa.column('rule_set'), sa.column('version'), sa.column('content', JSON),
                         sa.column('created_at', UTCDateTime(timezone=True)), sa.column('created_by'),
                         sa.column('reason'))
    audit_t = sa.table('rule_audit', sa.column('seq'), sa.column('type'), sa.column('at', UTCDateTime(timezone=True)),
                       sa.column('actor'), sa.column('payload'), sa.column('prev_hash'), sa.column('hash'))
    now, prev = clock.now(), history.GENESIS
    for seq, s in enumerate(sets, 1):
        limits = conn.execute(sa.text("SELECT business_type, sla_key, workdays, assessed, title FROM time_limit "
                                      "WHERE rule_set = :n ORDER BY id"), {"n": s.name}).all()
        thresholds = json.loads(s.thresholds) if isinstance(s.thresholds, str) else s.thresholds  # SQLite: text
        thresholds = thresholds if isinstance(thresholds, dict) else {}
        content = {"title": s.title, "source": s.source or "", "thresholds": thresholds,
                   "rules": [{"business_type": r.business_type, "sla_key": r.sla_key, "workdays": r.workdays,
                              "assessed": bool(r.assessed), "title": r.title} for r in limits]}
        conn.execute(sa.insert(version_t).values(rule_set=s.name, version=1, content=content, created_at=now,
                                                 created_by='migration', reason='migrated from time_limit'))
        payload = history.canonical({"rule_set": s.name, "version": 1, "reason": "migrated from time_limit"})
        digest = history.chain_hash(prev, 0, seq, 'rule_version_saved', now, 'migration', None, None, payload)
        conn.execute(sa.insert(audit_t).values(seq=seq, type='rule_version_saved', at=now, actor='migration',
                                               payload=payload, prev_hash=prev, hash=digest))
        prev = digest
    conn.execute(sa.text("UPDATE rule_set SET active_version = 1"))


def downgrade() -> None:
    op.create_table(
        'time_limit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_set', sa.String(length=60), nullable=False),
        sa.Column('business_type', sa.String(length=20), nullable=False),
        sa.Column('sla_key', sa.String(length=60), nullable=False),
        sa.Column('workdays', sa.Integer(), nullable=False),
        sa.Column('assessed', sa.Boolean(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['rule_set'], ['rule_set.name'], name=op.f('fk_time_limit_rule_set_rule_set'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_time_limit')),
        sa.UniqueConstraint('rule_set', 'business_type', 'sla_key', name='uq_time_limit_rule'),
    )
    with op.batch_alter_table('sla_clock', schema=None) as batch_op:
        batch_op.drop_column('limit_hours')
        batch_op.drop_column('rule_version')
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.drop_column('active_version')
    op.drop_table('rule_audit')
    op.drop_table('rule_set_version')
