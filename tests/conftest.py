"""Shared fixtures: every engine test runs against SQLite and, when configured, PostgreSQL.

PostgreSQL is used when YEKUO_TEST_PG_URL points to a server where the test user may create
databases (`.ci/run` starts one). Under CI the variable is required, so a run cannot silently
skip PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine import wiring
from engine.core import clock as engine_clock
from engine.core import definitions, runtime, schema, users
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.models import Base

DATA = Path(__file__).parent / "data"
ENGINE_MODEL = DATA / "engine_model"
PG_URL = os.environ.get("YEKUO_TEST_PG_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

if os.environ.get("CI") and not PG_URL:
    raise pytest.UsageError("CI runs must set YEKUO_TEST_PG_URL so the suite also runs on PostgreSQL")


def pytest_configure(config: pytest.Config) -> None:
    """Wire the engine once, before collection, as every entry point does (`engine.wiring.install`)."""
    wiring.install()


@pytest.fixture(autouse=True)
def _submission_checks(request: pytest.FixtureRequest) -> Iterator[None]:
    """The scenario tests walk cases with the forms' fixed example data (times in March 2027,
    `att-` references nobody uploaded), so the checks every staff submission goes through
    (plausible times, documents of the case: `runtime.SUBMISSION_CHECKS`) are off unless a test
    asks for them with `@pytest.mark.submission_checks`, as the tests of those checks do."""
    if request.node.get_closest_marker("submission_checks"):
        yield
        return
    saved = list(runtime.SUBMISSION_CHECKS)
    runtime.SUBMISSION_CHECKS.clear()
    try:
        yield
    finally:
        runtime.SUBMISSION_CHECKS[:] = saved


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    schema.upgrade(db)
    users.seed_groups(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """One scratch PostgreSQL database for the session, migrated once."""
    if not PG_URL:
        yield None
        return
    name = f"yekuo_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = str(make_url(PG_URL).set(database=name))
    db = Database(url)
    schema.upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _clean_postgres(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    users.seed_groups(db)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated, empty database with the standard role groups."""
    if request.param == "sqlite":
        target = tmp_path / "yekuo.db"
        shutil.copy(sqlite_template, target)
        database = Database(f"sqlite:///{target}")
    else:
        url = request.getfixturevalue("pg_database")
        database = Database(url)
        _clean_postgres(database)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> Iterator[engine_clock.FixedClock]:
    """The engine clock frozen at a Monday morning in Beijing; tests move it explicitly."""
    fixed = engine_clock.FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA))
    previous = engine_clock.set_clock(fixed)
    yield fixed
    engine_clock.set_clock(previous)


@pytest.fixture
def engine_model(db: Database, clock: engine_clock.FixedClock) -> definitions.DeployResult:
    """The 22-task engine test process (loop, boundary timer, parallel split) deployed."""
    [result] = definitions.deploy_paths(db, [ENGINE_MODEL / "engine_model.bpmn"],
                                        forms_dir=ENGINE_MODEL / "forms")
    return result


@pytest.fixture
def calendar_db(db: Database) -> Database:
    """`db` with the official working-day calendar 2024–2026 seeded from chinesecalendar, as
    `yekuo init` does (all 23 packaged years would cost ~0.2 s a test; these three suffice)."""
    from engine.deadlines import calendar_import

    calendar_import.seed_from_package(db, only=range(2024, 2027))
    return db
