"""Shared set-up for the dispatch-centre tests (tests/test_dispatch_*.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import insert, select

from engine.core import clock as engine_clock
from engine.core import history
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.models import definition_t, instance_t
from engine.dispatch import capacity, teams

#: A Monday morning; 2027 has no official calendar in the tests, so Monday–Friday are working days.
MONDAY = dt.datetime(2027, 3, 1, 9, 0, tzinfo=CHINA)


def at(day: int, hour: int = 9, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, minute, tzinfo=CHINA)


def make_team(db: Database, code: str, area: str = "urban", *, survey: int = 0, install: int = 0, verify: int = 0,
              members: tuple[tuple[str, str, str | None], ...] = (), since: dt.date = dt.date(2027, 1, 4)) -> None:
    """A team with a standing Monday–Friday capacity per job type and its members (name, mobile, user)."""
    teams.create_team(db, code, f"测试{code}班", area, actor="test")
    for name, mobile, user in members:
        teams.add_member(db, code, name, mobile, username=user)
    capacity.report_week(db, code, since, {"survey": [survey] * 5 + [0, 0], "install": [install] * 5 + [0, 0],
                                           "verify": [verify] * 5 + [0, 0]}, actor="test")


def bare_cases(db: Database, n: int, **columns: Any) -> list[int]:
    """N running case rows (no workflow behind them): enough for booking, which needs the case's
    row and history chain only. Much faster than starting N processes."""
    with db.write() as conn:
        did = conn.execute(select(definition_t.c.id).where(definition_t.c.key == "bare")).scalar()
        if did is None:
            did = conn.execute(insert(definition_t).values(
                key="bare", version=1, checksum="0" * 64, name="测试", source_file="bare.bpmn", sources={}, forms={},
                meta={}, spec=b"", deployed_at=engine_clock.now(), deployed_by="test", note="")
                .returning(definition_t.c.id)).scalar_one()
        return list(conn.execute(insert(instance_t).returning(instance_t.c.id, sort_by_parameter_order=True), [
            {"definition_id": did, "status": "running", "state": b"", "version": 1, "event_seq": 0,
             "last_hash": history.GENESIS, "started_at": engine_clock.now(), "started_by": "test",
             "customer_name": columns.get("customer_name", f"客户{i}"),
             "customer_mobile": columns.get("customer_mobile", "13912345678"),
             "business_key": f"YK-T{uuid.uuid4().hex[:16]}"}
            for i in range(n)]).scalars())


def fixed(day: str = "2027-03-03", period: str = "am", job_type: str = "survey", **extra: Any) -> dict[str, Any]:
    return {"job_type": job_type, "mode": "fixed", "date": day, "period": period, **extra}
