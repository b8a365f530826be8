"""Alembic migrations build exactly the schema the models describe, and upgrade live data."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from engine.core import schema, users
from engine.core.db import Database
from engine.core.models import Base, group_t
from tests.conftest import PG_URL


def _fresh(kind: str, tmp_path):
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'fresh.db'}"), None
    if not PG_URL:
        pytest.skip("YEKUO_TEST_PG_URL not set")
    name = f"yekuo_schema_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return Database(PG_URL.rsplit("/", 1)[0] + "/" + name), (admin, name)


def _drop(cleanup):
    if cleanup:
        admin, name = cleanup
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_match_the_models(kind, tmp_path):
    db, cleanup = _fresh(kind, tmp_path)
    try:
        schema.upgrade(db)
        assert schema.current_revision(db) == schema.head_revision(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
    finally:
        db.dispose()
        _drop(cleanup)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_keeps_existing_data(kind, tmp_path):
    db, cleanup = _fresh(kind, tmp_path)
    try:
        schema.upgrade(db, "0001")
        users.seed_groups(db)
        assert "outbox" not in inspect(db.engine).get_table_names()
        schema.upgrade(db)
        assert "outbox" in inspect(db.engine).get_table_names()
        with db.read() as conn:
            assert conn.execute(select(group_t.c.name).where(group_t.c.code == "clerk")).scalar() == "营业厅受理员"
    finally:
        db.dispose()
        _drop(cleanup)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_time_limits_become_version_one_of_their_rule_set(kind, tmp_path):
    """0015: the rows of the old `time_limit` table become version 1 of each rule set, on the rule chain."""
    import datetime as dt

    from engine.audit import chains
    from engine.deadlines import rule_sets

    db, cleanup = _fresh(kind, tmp_path)
    try:
        schema.upgrade(db, "0012")
        now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.timezone.utc)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO rule_set (name, title, source, thresholds, active, loaded_at, loaded_by) "
                              "VALUES ('old_set', '旧时限', '', :t, :a, :now, 'cli')"),
                         {"t": '{"prewarn": [0.6], "escalate_after_hours": 3}', "a": True, "now": now})
            conn.execute(text("INSERT INTO time_limit (rule_set, business_type, sla_key, workdays, assessed, title) "
                              "VALUES ('old_set', 'hv_single', 'scheme_reply', 15, :a, '供电方案答复')"), {"a": True})
        schema.upgrade(db)
        assert "time_limit" not in inspect(db.engine).get_table_names()
        rules = rule_sets.active_rules(db)
        assert (rules.name, rules.version, rules.find("hv_single", "scheme_reply").workdays) == ("old_set", 1, 15)
        assert rules.warnings == [60.0] and rules.level("supervise").delay_hours == 3
        report = chains.verify_rules(db)
        assert report.ok and report.events == 1
    finally:
        db.dispose()
        _drop(cleanup)
