"""A missing calendar year is loud but never blocks work: the daily notice while it is missing.

Clocks that count into a year without official data are started anyway, Monday–Friday and
marked `provisional` (`sla.deadline_after`). Until an administrator imports the year, the
administrators and the supervisors get one notice per working day and year (not one per step):
raised by the command that first counts into the missing year, and by the scheduler's daily job.
A unique `dedupe_key` makes "once a day" hold when two commands race.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select

from engine.core import clock
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.models import notice_t, sla_clock_t
from engine.deadlines import calendar
from engine.messages import templates

KIND = "日历缺失"
RECIPIENTS = ("admin", "supervisor")


def missing_years(conn: Connection, db: Database) -> dict[int, int]:
    """Years without official calendar that open provisional clocks span, with how many clocks."""
    rows = conn.execute(select(sla_clock_t.c.started_at, sla_clock_t.c.deadline_at).where(
        sla_clock_t.c.provisional, sla_clock_t.c.status.in_(("running", "paused")))).all()
    counts: dict[int, int] = {}
    for started, deadline in rows:
        for year in range(started.astimezone(CHINA).year, deadline.astimezone(CHINA).year + 1):
            if not calendar.has_year(db, year):
                counts[year] = counts.get(year, 0) + 1
    return counts


def raise_notices(conn: Connection, db: Database, now: dt.datetime) -> int:
    """Today's notice per missing year to the admins and supervisors, once; returns how many were new."""
    today = now.astimezone(CHINA).date()
    if not calendar.is_workday(db, today, fallback=True):
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    raised = 0
    for year, clocks in sorted(missing_years(conn, db).items()):
        body = templates.render("calendar_missing", {"year": year, "clocks": clocks})
        for group in RECIPIENTS:
            new = conn.execute(upsert(notice_t).values(
                kind=KIND, recipient_group=group, title=f"{KIND}：{year}年", body=body, created_at=now,
                requires_ack=False, dedupe_key=f"calendar_missing:{year}:{today.isoformat()}:{group}")
                .on_conflict_do_nothing().returning(notice_t.c.id)).first()
            raised += new is not None
    return raised


def daily(db: Database, now: dt.datetime | None = None) -> int:
    """The scheduler's daily job: remind every working day until the missing years are imported."""
    with db.write() as conn:
        return raise_notices(conn, db, now or clock.now())


def notices_today(db: Database, now: dt.datetime | None = None) -> int:
    """How many missing-calendar notices were raised today (for status pages and tests)."""
    today = (now or clock.now()).astimezone(CHINA).date().isoformat()
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(notice_t).where(
            notice_t.c.dedupe_key.like(f"calendar_missing:%:{today}:%"))).scalar_one()
