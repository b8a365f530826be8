"""The works tracking list (清册): customers whose construction works the centre follows up.

Two kinds: the customer's internal works (客户受电工程, the 跟踪客户受电工程施工 task) and the
external works (电网配套工程, the 电网配套工程 task). A periodic job (`sync`, run by the scheduler)
puts every case waiting at one of those tasks on the list and marks an entry done when its task is
completed; entries can also be added by hand. Each open entry has a status and a next follow-up
date; a timer row (purpose `works_follow_up`) at 09:00 of that date raises a 跟进 notice for the
customer managers and sets the next date, until the works are done. Recording a follow-up
(`record_follow_up`) moves the date. Every change is a `works_log` row and a history event.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from engine.core import clock, history, queries
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, NotFound
from engine.core.models import instance_t, notice_t, timer_t, work_item_t, works_entry_t, works_log_t
from engine.dispatch import appointments
from engine.messages import templates

PURPOSE = "works_follow_up"
KINDS = {"internal": "客户内部受电工程", "external": "外部电网配套工程"}
STATUSES = {"planned": "未开工", "in_progress": "施工中", "stalled": "停工", "done": "已完工"}
#: The process tasks that mean "the case waits for construction works".
TASKS = {"customer_works": "internal", "grid_works": "external"}
FOLLOW_UP_AT = dt.time(9, 0)
DEFAULT_INTERVAL = 7
NOTICE_TEXT = ("【跟进】${application_no}（${customer_name}，${address}）的${kind}${status}，今日应跟进；"
               "上次跟进：${last}。请联系客户了解进度并在清册中登记。")


@dataclass
class LogView:
    at: dt.datetime
    actor: str
    status: str
    note: str
    next_follow_up: dt.date | None


@dataclass
class EntryView:
    id: int
    instance_id: int
    kind: str
    title: str
    application_no: str | None
    customer_name: str | None
    address: str | None
    status: str
    next_follow_up: dt.date | None
    interval_days: int
    source: str
    created_at: dt.datetime
    updated_at: dt.datetime
    done_at: dt.datetime | None
    log: list[LogView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _view(r: Any, log: list[LogView] | None = None) -> EntryView:
    return EntryView(r.id, r.instance_id, r.kind, r.title, r.application_no, r.customer_name, r.address, r.status,
                     r.next_follow_up, r.interval_days, r.source, r.created_at, r.updated_at, r.done_at, log or [])


def _due(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, FOLLOW_UP_AT, CHINA).astimezone(dt.timezone.utc)


def _set_timer(conn: Connection, entry_id: int, instance_id: int, day: dt.date | None) -> None:
    conn.execute(delete(timer_t).where(timer_t.c.purpose == PURPOSE, timer_t.c.fired_at.is_(None),
                                       timer_t.c.task_id == f"works:{entry_id}"))
    if day is not None:
        exists = conn.execute(select(timer_t.c.id).where(
            timer_t.c.instance_id == instance_id, timer_t.c.task_id == f"works:{entry_id}",
            timer_t.c.purpose == PURPOSE, timer_t.c.due_at == _due(day))).first()
        if exists is None:
            conn.execute(insert(timer_t).values(instance_id=instance_id, task_id=f"works:{entry_id}", purpose=PURPOSE,
                                                due_at=_due(day), payload={"entry_id": entry_id}))


def _check(kind: str | None = None, status: str | None = None) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidData(f"unknown works kind {kind!r}", details={"kind": ["工程类别须为 internal 或 external"]})
    if status is not None and status not in STATUSES:
        raise InvalidData(f"unknown works status {status!r}",
                          details={"status": ["状态须为 planned、in_progress、stalled 或 done"]})


def _insert_entry(conn: Connection, *, instance_id: int, kind: str, title: str, case: dict[str, Any], status: str,
                  next_day: dt.date, interval: int, source: str, work_item_id: str | None, actor: str,
                  now: dt.datetime) -> int:
    eid = conn.execute(insert(works_entry_t).values(
        instance_id=instance_id, kind=kind, title=title, application_no=case.get("application_no"),
        customer_name=case.get("customer_name"), address=case.get("address"), status=status, next_follow_up=next_day,
        interval_days=interval, work_item_id=work_item_id, source=source, created_at=now, updated_at=now,
        done_at=None).returning(works_entry_t.c.id)).scalar_one()
    conn.execute(insert(works_log_t).values(entry_id=eid, at=now, actor=actor, status=status,
                                            note=f"列入清册：{title}", next_follow_up=next_day))
    _set_timer(conn, eid, instance_id, next_day)
    appointments.append_history(conn, instance_id, [history.NewEvent("works_listed", now, actor=actor, task_id=work_item_id,
                                                                payload={"entry_id": eid, "kind": kind, "status": status,
                                                                         "next_follow_up": next_day.isoformat()})])
    return eid


def _case(db: Database, instance_id: int) -> dict[str, Any]:
    data = queries.get_instance(db, instance_id).data
    return {k: (str(data[k])[:200] if data.get(k) is not None else None)
            for k in ("application_no", "customer_name", "address")}


def add(db: Database, instance_id: int, kind: str, title: str, *, actor: str, status: str = "planned",
        next_follow_up: dt.date | None = None, interval_days: int = DEFAULT_INTERVAL) -> EntryView:
    """Put a case on the list by hand (works the process does not track as a task)."""
    _check(kind, status)
    if status == "done":
        raise InvalidData("a new entry cannot be done already")
    now = clock.now()
    next_day = next_follow_up or now.astimezone(CHINA).date() + dt.timedelta(days=interval_days)
    case = _case(db, instance_id)
    with db.write() as conn:
        if conn.execute(select(works_entry_t.c.id).where(works_entry_t.c.instance_id == instance_id,
                                                         works_entry_t.c.kind == kind)).first():
            raise Conflict(f"case {instance_id} is already on the list for {KINDS[kind]}")
        eid = _insert_entry(conn, instance_id=instance_id, kind=kind, title=title, case=case, status=status,
                            next_day=next_day, interval=interval_days, source="manual", work_item_id=None, actor=actor,
                            now=now)
    return get_entry(db, eid)


@dataclass
class SyncReport:
    added: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"works list: {len(self.added)} added, {len(self.done)} done"


def sync(db: Database, *, interval_days: int = DEFAULT_INTERVAL, actor: str = "scheduler") -> SyncReport:
    """The periodic job: list cases now waiting for works, close entries whose works task is done."""
    now = clock.now()
    report = SyncReport()
    with db.read() as conn:
        waiting = conn.execute(select(work_item_t.c.id, work_item_t.c.instance_id, work_item_t.c.task_spec,
                                      work_item_t.c.name).where(work_item_t.c.status == "open",
                                                                work_item_t.c.task_spec.in_(TASKS))).all()
        listed = {(r.instance_id, r.kind): r for r in conn.execute(select(works_entry_t))}
        open_process = [r for r in listed.values() if r.source == "process" and r.status != "done"]
        tracked = [r.work_item_id for r in open_process if r.work_item_id]
        item_status = dict(conn.execute(select(work_item_t.c.id, work_item_t.c.status).where(
            work_item_t.c.id.in_(tracked))).all()) if tracked else {}
    for item in waiting:
        kind = TASKS[item.task_spec]
        entry = listed.get((item.instance_id, kind))
        if entry is not None and (entry.status != "done" or entry.work_item_id == item.id):
            continue
        case = _case(db, item.instance_id)
        next_day = now.astimezone(CHINA).date() + dt.timedelta(days=interval_days)
        with db.write() as conn:
            if entry is None:
                eid = _insert_entry(conn, instance_id=item.instance_id, kind=kind, title=item.name, case=case,
                                    status="in_progress", next_day=next_day, interval=interval_days, source="process",
                                    work_item_id=item.id, actor=actor, now=now)
            else:  # the works task opened again (a later round): the entry is followed up again
                eid = entry.id
                _update(conn, entry, status="in_progress", note=f"重新列入清册：{item.name}", next_day=next_day,
                        actor=actor, now=now, extra={"work_item_id": item.id, "done_at": None, "source": "process"})
        report.added.append(eid)
    for entry in open_process:
        if entry.work_item_id and item_status.get(entry.work_item_id, "open") != "open":
            with db.write() as conn:
                _update(conn, entry, status="done", note="工程任务已办结", next_day=None, actor=actor, now=now)
            report.done.append(entry.id)
    return report


def _update(conn: Connection, entry: Any, *, status: str, note: str, next_day: dt.date | None, actor: str,
            now: dt.datetime, extra: dict[str, Any] | None = None, chain: bool = True) -> history.NewEvent:
    values: dict[str, Any] = {"status": status, "next_follow_up": next_day, "updated_at": now, **(extra or {})}
    if status == "done":
        values["done_at"] = now
    conn.execute(update(works_entry_t).where(works_entry_t.c.id == entry.id).values(**values))
    conn.execute(insert(works_log_t).values(entry_id=entry.id, at=now, actor=actor, status=status, note=note,
                                            next_follow_up=next_day))
    _set_timer(conn, entry.id, entry.instance_id, next_day)
    event = history.NewEvent("works_done" if status == "done" else "works_followed_up", now, actor=actor,
                             payload={"entry_id": entry.id, "kind": entry.kind, "status": status, "note": note,
                                      "next_follow_up": next_day.isoformat() if next_day else None})
    if chain:
        appointments.append_history(conn, entry.instance_id, [event])
    return event


def close_for_case(conn: Connection, instance_id: int, now: dt.datetime) -> list[history.NewEvent]:
    """Runtime hook, in the transaction of the command that ends a case: its open entries leave the
    list and their follow-up timers go (a withdrawn case is not followed up)."""
    entries = conn.execute(select(works_entry_t).where(works_entry_t.c.instance_id == instance_id,
                                                       works_entry_t.c.status != "done")).all()
    return [_update(conn, e, status="done", note="案件已结束", next_day=None, actor="system", now=now, chain=False)
            for e in entries]


def record_follow_up(db: Database, entry_id: int, *, status: str, note: str, actor: str,
                     next_follow_up: dt.date | None = None) -> EntryView:
    """A customer manager's follow-up: the status found and when to follow up next (default: the
    entry's interval from today); `done` takes the case off the open list."""
    _check(status=status)
    if not note.strip():
        raise InvalidData("a follow-up needs a note", details={"note": ["请填写跟进情况"]})
    now = clock.now()
    with db.write() as conn:
        entry = conn.execute(select(works_entry_t).where(works_entry_t.c.id == entry_id)).first()
        if entry is None:
            raise NotFound(f"no works entry {entry_id}")
        if entry.status == "done":
            raise Conflict(f"works entry {entry_id} is already done")
        next_day = None if status == "done" else (
            next_follow_up or now.astimezone(CHINA).date() + dt.timedelta(days=entry.interval_days))
        _update(conn, entry, status=status, note=note.strip(), next_day=next_day, actor=actor, now=now)
    return get_entry(db, entry_id)


def fire_follow_up(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
                   worker: str) -> bool:
    """A follow-up date came: a 跟进 notice for the customer managers, and the next date set."""
    with db.write() as conn:
        if conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                        .values(fired_at=now)).rowcount != 1:
            return False
        entry = conn.execute(select(works_entry_t).where(works_entry_t.c.id == payload["entry_id"])).first()
        if entry is None or entry.status == "done":
            return False
        case = conn.execute(select(instance_t.c.status).where(instance_t.c.id == instance_id)).scalar()
        if case in ("completed", "cancelled"):
            return False
        last = conn.execute(select(works_log_t.c.note, works_log_t.c.at).where(works_log_t.c.entry_id == entry.id)
                            .order_by(works_log_t.c.at.desc(), works_log_t.c.id.desc()).limit(1)).first()
        fields = {"application_no": entry.application_no or f"#{instance_id}",
                  "customer_name": entry.customer_name or "客户", "address": entry.address or "—",
                  "kind": KINDS[entry.kind], "status": f"（{STATUSES[entry.status]}）",
                  "last": f"{last.at.astimezone(CHINA):%Y-%m-%d} {last.note}" if last else "无"}
        body = (templates.render("works_follow_up", fields) if "works_follow_up" in templates.catalog().templates
                else string.Template(NOTICE_TEXT).safe_substitute(fields))
        conn.execute(insert(notice_t).values(
            instance_id=instance_id, work_item_id=entry.work_item_id, kind="跟进", recipient_group="manager",
            title=f"跟进：{entry.customer_name or entry.application_no or instance_id}的{KINDS[entry.kind]}",
            body=body, requires_ack=False, created_at=now))
        next_day = now.astimezone(CHINA).date() + dt.timedelta(days=entry.interval_days)
        conn.execute(update(works_entry_t).where(works_entry_t.c.id == entry.id).values(next_follow_up=next_day,
                                                                                       updated_at=now))
        _set_timer(conn, entry.id, instance_id, next_day)
        appointments.append_history(conn, instance_id, [history.NewEvent(
            "works_follow_up_due", now, actor="scheduler", task_id=entry.work_item_id,
            payload={"entry_id": entry.id, "kind": entry.kind, "to_group": "manager",
                     "next_follow_up": next_day.isoformat(), "worker": worker})])
    return True



def get_entry(db: Database, entry_id: int) -> EntryView:
    with db.read() as conn:
        row = conn.execute(select(works_entry_t).where(works_entry_t.c.id == entry_id)).first()
        if row is None:
            raise NotFound(f"no works entry {entry_id}")
        log = [LogView(r.at, r.actor, r.status, r.note, r.next_follow_up) for r in conn.execute(
            select(works_log_t).where(works_log_t.c.entry_id == entry_id).order_by(works_log_t.c.at, works_log_t.c.id))]
    return _view(row, log)


def entries(db: Database, *, status: str | None = "open", kind: str | None = None,
            due_by: dt.date | None = None) -> list[EntryView]:
    """The list: `status` 'open' (not done, the default), a status, or None for all; `due_by` keeps
    entries whose next follow-up is on or before that date. Ordered by next follow-up."""
    q = select(works_entry_t)
    if status == "open":
        q = q.where(works_entry_t.c.status != "done")
    elif status:
        q = q.where(works_entry_t.c.status == status)
    if kind:
        q = q.where(works_entry_t.c.kind == kind)
    if due_by is not None:
        q = q.where(works_entry_t.c.next_follow_up <= due_by)
    with db.read() as conn:
        rows = conn.execute(q.order_by(works_entry_t.c.next_follow_up, works_entry_t.c.id)).all()
    return [_view(r) for r in rows]
