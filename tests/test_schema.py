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
