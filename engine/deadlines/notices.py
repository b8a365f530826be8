"""Notices: what SLA thresholds and task reminders raise when their timers fire, and reading them.

`fire` (timer purpose `sla`) turns a threshold of a running clock into a notice: a pre-warning to
the task's holder, an escalation level to the recipient its rule-set version names (the holder or
a group, e.g. the team lead for 催办, the supervisors for 督办); `fire_reminder` (purpose `reminder`) reminds whoever holds a
task left untouched. Both mark their timer fired in the same transaction, so each fires once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update

from engine.core import clock, history, store
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidState
from engine.core.models import instance_t, notice_t, sla_clock_t, timer_t, work_item_t
from engine.deadlines.rule_sets import HOLDER, Level, active_rules, rules_for_clock
from engine.messages import templates

REMINDER = "reminder"
LEVELS = ("prewarn_50", "prewarn_80", "overdue", "supervise")  # the shipped rule sets' thresholds


def fire(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
         worker: str) -> bool:
    """Raise one threshold's notice, exactly once: marked fired in the same transaction."""
    clock_id, level = payload["clock_id"], payload["level"]
    with db.write() as conn:
        marked = conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                              .values(fired_at=now)).rowcount
        if marked != 1:
            return False
        c = conn.execute(select(sla_clock_t).where(sla_clock_t.c.id == clock_id)).first()
        if c is None or c.status != "running":
            return False
        item = None
        if c.work_item_id:
            item = conn.execute(select(work_item_t.c.assignee, work_item_t.c.candidate_group, work_item_t.c.name)
                                .where(work_item_t.c.id == c.work_item_id)).first()
        if level.startswith("prewarn"):
            step_level = Level(level, "预警", HOLDER, 0, False)
        else:
            step_level = rules_for_clock(db, c.rule_set, c.rule_version).level(level) or Level(
                level, level, "supervisor", 0, True)  # a level the version no longer names still reaches someone
        user, group = _recipient(step_level, item)
        kind = step_level.label
        template = "pre_warning" if level.startswith("prewarn") else (
            "overdue" if step_level.delay_hours == 0 else "supervision")
        step_title = c.title or (item.name if item else c.sla_key)
        holder = (item.assignee or item.candidate_group) if item is not None else "—"
        number = conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()
        body = templates.render(template, {
            "assignee": holder or "—", "application_no": number or f"#{instance_id}", "step": step_title,
            "percent": level[len("prewarn_"):] if level.startswith("prewarn") else "100",
            "deadline": c.deadline_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
            "team": (item.candidate_group if item is not None else None) or "—"})
        conn.execute(insert(notice_t).values(
            instance_id=instance_id, work_item_id=c.work_item_id, clock_id=c.id, kind=kind,
            recipient_user=user, recipient_group=group, title=f"{kind}：{step_title}", body=body,
            requires_ack=step_level.requires_ack, created_at=now))
        head = store.case_head(conn, instance_id)
        store.append_to_chain(conn, head, [history.NewEvent("sla_" + level, now, actor="scheduler", task_id=c.work_item_id,
                                              payload={"clock_id": c.id, "sla_key": c.sla_key, "worker": worker,
                                                       "to_user": user, "to_group": group,
                                                       "rule_version": c.rule_version})])
    return True


def _recipient(level: Level, item: Any) -> tuple[str | None, str | None]:
    """(user, group) a level reaches: the holder is the assignee, else the task's group."""
    if level.recipient != HOLDER:
        return None, level.recipient
    if item is not None and item.assignee:
        return item.assignee, None
    return None, item.candidate_group if item is not None else "lead"


def reminder_rows(db: Database, instance_id: int, items: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """A reminder per new work item, due when it has waited the configured hours untouched."""
    rules = active_rules(db)
    hours = rules.reminder_after_hours if rules else 0
    if hours <= 0:
        return []
    due = now + dt.timedelta(hours=hours)
    return [{"instance_id": instance_id, "task_id": item["id"], "purpose": REMINDER, "due_at": due,
             "payload": {"work_item_id": item["id"]}} for item in items]


def fire_reminder(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
                  worker: str) -> bool:
    """Remind the holder (or the group) of a task still open; nothing if it was done meanwhile."""
    with db.write() as conn:
        if conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                        .values(fired_at=now)).rowcount != 1:
            return False
        item = conn.execute(select(work_item_t).where(work_item_t.c.id == payload["work_item_id"])).first()
        if item is None or item.status != "open":
            return False
        waited = now - item.created_at
        number = conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()
        body = templates.render("reminder", {"application_no": number or f"#{instance_id}", "step": item.name,
                                             "hours": f"{waited.total_seconds() / 3600:.0f}"})
        conn.execute(insert(notice_t).values(
            instance_id=instance_id, work_item_id=item.id, kind="提醒", recipient_user=item.assignee,
            recipient_group=None if item.assignee else item.candidate_group, title=f"提醒：{item.name}",
            body=body, created_at=now))
        store.append_to_chain(conn, store.case_head(conn, instance_id), [history.NewEvent(
            "task_reminded", now, actor="scheduler", task_id=item.id, task_spec=item.task_spec,
            payload={"to_user": item.assignee, "to_group": None if item.assignee else item.candidate_group,
                     "worker": worker})])
    return True


def acknowledge(db: Database, notice_id: int, *, actor: str) -> None:
    """Mark a notice seen (supervision notices require it); once only."""
    with db.write() as conn:
        res = conn.execute(update(notice_t).where(notice_t.c.id == notice_id, notice_t.c.acknowledged_at.is_(None))
                           .values(acknowledged_at=clock.now(), acknowledged_by=actor))
        if res.rowcount != 1:
            raise InvalidState(f"notice {notice_id} does not exist or was already acknowledged")


def get_notice(db: Database, notice_id: int) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(select(notice_t).where(notice_t.c.id == notice_id)).first()
    return dict(row._mapping) if row is not None else None


def list_notices(db: Database, *, user: str | None = None, groups: set[str] | None = None,
                 open_only: bool = True) -> list[dict[str, Any]]:
    """Notices to a user or any of the groups (all notices with neither), oldest first."""
    q = select(notice_t)
    conds = []
    if user is not None:
        conds.append(notice_t.c.recipient_user == user)
    if groups:
        conds.append(notice_t.c.recipient_group.in_(groups))
    if conds:
        from sqlalchemy import or_
        q = q.where(or_(*conds))
    if open_only:
        q = q.where(notice_t.c.acknowledged_at.is_(None))
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(notice_t.c.created_at, notice_t.c.id))]
