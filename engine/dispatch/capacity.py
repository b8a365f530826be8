"""Capacity (承载力): how many survey, installation and verification jobs a team can take a day.

Each team reports weekly: seven daily numbers per job type for a week starting on a Monday. It
may adjust a single day. Every report is a new version row (`capacity_report`: who, when, what,
why); the highest version counts, nothing is overwritten, so the history is the table.

A day's capacity is, in this order: the day's latest adjustment; else that week's latest report;
else the latest report of an earlier week, carried forward as the team's standing pattern and read
against the working-day calendar: a statutory holiday on a weekday counts 0, a 调休 working
weekend day counts like a Monday (a year without official calendar has no holidays).
Bookings count against it in `capacity_usage` (engine.dispatch.booking).

A report that lowers a day below what is already booked is accepted, not refused: it states a fact
(the team is at training, two workers are ill) that refusing would not change. The jobs booked last
on such a day are flagged for the dispatcher to reschedule (`appointments.overbooked`: the board, the
capacity page and the API's answer to the report list them) until the day fits again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.models import capacity_report_t, capacity_usage_t, team_t
from engine.deadlines import calendar

JOB_TYPES = {"survey": "现场勘查", "install": "装表接电", "verify": "现场核查"}
MAX_PER_DAY = 500


def week_of(day: dt.date) -> dt.date:
    """The Monday of `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def is_workday(db: Database, day: dt.date) -> bool:
    return calendar.is_workday(db, day, fallback=True)


def _check_numbers(values: Any, count: int, where: str) -> list[int]:
    if (not isinstance(values, (list, tuple)) or len(values) != count
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_PER_DAY for v in values)):
        raise InvalidData(f"{where}: {count} whole number(s) between 0 and {MAX_PER_DAY} expected",
                          details={where: [f"须为{count}个0至{MAX_PER_DAY}之间的整数"]})
    return list(values)


def _check_type(job_type: str) -> None:
    if job_type not in JOB_TYPES:
        raise InvalidData(f"unknown job type {job_type!r}; use one of {', '.join(JOB_TYPES)}",
                          details={"job_type": ["作业类型须为 survey、install 或 verify"]})


def _team_id(conn: Connection, code: str) -> int:
    from engine.core.errors import NotFound

    tid = conn.execute(select(team_t.c.id).where(team_t.c.code == code)).scalar()
    if tid is None:
        raise NotFound(f"no team with code {code!r}")
    return tid


def _insert_version(conn: Connection, team_id: int, job_type: str, kind: str, day: dt.date, days: list[int],
                    actor: str, note: str) -> int:
    current = conn.execute(select(func.max(capacity_report_t.c.version)).where(
        capacity_report_t.c.team_id == team_id, capacity_report_t.c.job_type == job_type,
        capacity_report_t.c.kind == kind, capacity_report_t.c.day == day)).scalar() or 0
    conn.execute(insert(capacity_report_t).values(
        team_id=team_id, job_type=job_type, kind=kind, day=day, days=days, version=current + 1,
        reported_at=clock.now(), reported_by=actor, note=note))
    return current + 1


def report_week(db: Database, team_code: str, week: dt.date, plan: dict[str, list[int]], *, actor: str,
                note: str = "") -> dict[str, int]:
    """A team's weekly report: per job type, seven numbers from Monday. Returns the new versions."""
    if not plan:
        raise InvalidData("a capacity report needs at least one job type")
    checked = {}
    for job_type, values in plan.items():
        _check_type(job_type)
        checked[job_type] = _check_numbers(values, 7, job_type)
    monday = week_of(week)
    with db.write() as conn:
        tid = _team_id(conn, team_code)
        return {jt: _insert_version(conn, tid, jt, "week", monday, days, actor, note) for jt, days in checked.items()}


def adjust_day(db: Database, team_code: str, day: dt.date, job_type: str, value: int, *, actor: str,
               note: str = "") -> int:
    """Change one day's capacity for one job type (sick leave, an emergency, a Saturday shift)."""
    _check_type(job_type)
    [value] = _check_numbers([value], 1, "capacity")
    with db.write() as conn:
        return _insert_version(conn, _team_id(conn, team_code), job_type, "day", day, [value], actor, note)


def capacity_on(conn: Connection, team_id: int, day: dt.date, job_type: str, workday: bool) -> int:
    """The capacity of one team's day for one job type (see the module doc for the order)."""
    adjusted = conn.execute(select(capacity_report_t.c.days).where(
        capacity_report_t.c.team_id == team_id, capacity_report_t.c.job_type == job_type,
        capacity_report_t.c.kind == "day", capacity_report_t.c.day == day)
        .order_by(capacity_report_t.c.version.desc()).limit(1)).scalar()
    if adjusted is not None:
        return int(adjusted[0])
    monday = week_of(day)
    week = conn.execute(select(capacity_report_t.c.day, capacity_report_t.c.days).where(
        capacity_report_t.c.team_id == team_id, capacity_report_t.c.job_type == job_type,
        capacity_report_t.c.kind == "week", capacity_report_t.c.day <= monday)
        .order_by(capacity_report_t.c.day.desc(), capacity_report_t.c.version.desc()).limit(1)).first()
    if week is None:
        return 0
    if week.day != monday:  # the standing pattern, read against the working-day calendar
        weekend = day.weekday() >= 5
        if not workday and not weekend:
            return 0  # a statutory holiday
        if workday and weekend:
            return int(week.days[0])  # 调休: a working Saturday or Sunday counts like a Monday
    return int(week.days[day.weekday()])


def booked_on(conn: Connection, team_id: int, day: dt.date, job_type: str) -> int:
    return conn.execute(select(capacity_usage_t.c.booked).where(
        capacity_usage_t.c.team_id == team_id, capacity_usage_t.c.day == day,
        capacity_usage_t.c.job_type == job_type)).scalar() or 0


@dataclass
class DayCapacity:
    team: str
    team_name: str
    area: str
    job_type: str
    day: dt.date
    capacity: int
    booked: int

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"team": self.team, "team_name": self.team_name, "area": self.area, "job_type": self.job_type,
                "day": self.day.isoformat(), "capacity": self.capacity, "booked": self.booked,
                "remaining": self.remaining}


def board(db: Database, start: dt.date, days: int = 7, *, area: str | None = None, team: str | None = None,
          job_type: str | None = None) -> list[DayCapacity]:
    """Capacity, booked and remaining per team, job type and day: what the dispatch board charts."""
    dates = [start + dt.timedelta(days=i) for i in range(max(days, 1))]
    workdays = {d: is_workday(db, d) for d in dates}
    q = select(team_t).where(team_t.c.active)
    if area:
        q = q.where(team_t.c.area == area)
    if team:
        q = q.where(team_t.c.code == team)
    types = [job_type] if job_type else list(JOB_TYPES)
    out = []
    with db.read() as conn:
        teams = conn.execute(q.order_by(team_t.c.code)).all()
        usage = {(r.team_id, r.day, r.job_type): r.booked for r in conn.execute(select(capacity_usage_t).where(
            and_(capacity_usage_t.c.day >= dates[0], capacity_usage_t.c.day <= dates[-1])))}
        for t in teams:
            for jt in types:
                for d in dates:
                    out.append(DayCapacity(t.code, t.name, t.area, jt, d, capacity_on(conn, t.id, d, jt, workdays[d]),
                                           usage.get((t.id, d, jt), 0)))
    return out


def day_capacity(db: Database, team_code: str, day: dt.date, job_type: str) -> int:
    _check_type(job_type)
    workday = is_workday(db, day)
    with db.read() as conn:
        return capacity_on(conn, _team_id(conn, team_code), day, job_type, workday)


def history(db: Database, team_code: str, *, job_type: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Every capacity report of a team, newest first: who changed what, when, and why."""
    with db.read() as conn:
        q = select(capacity_report_t).where(capacity_report_t.c.team_id == _team_id(conn, team_code))
        if job_type:
            q = q.where(capacity_report_t.c.job_type == job_type)
        rows = conn.execute(q.order_by(capacity_report_t.c.reported_at.desc(), capacity_report_t.c.id.desc())
                            .limit(limit)).all()
    return [{"id": r.id, "job_type": r.job_type, "kind": r.kind, "day": r.day.isoformat(), "days": list(r.days),
             "version": r.version, "reported_at": r.reported_at, "reported_by": r.reported_by, "note": r.note}
            for r in rows]
