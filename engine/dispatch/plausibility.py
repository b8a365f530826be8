"""Plausible times on staff forms: one table of rules, checked on the server for every submission.

What a person reports as done (到达, 完工, 装表, 送电, 回访) cannot lie in the future beyond a small
allowance for clocks that disagree; a completion cannot come before the arrival of the same field
job; a contract cannot be signed after today; a planned arrival cannot already be past. The rules
name form fields, so they hold on whichever form carries the field (the field job's forms, the
meter work, 送电, 回访, the contracts). Only the submitted values are judged — an earlier step's
planned time that has since passed is not an error of today's form. Times come from the engine
clock (`now`), never the wall clock. Registered in `runtime.SUBMISSION_CHECKS` by `engine.wiring`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.dispatch import appointments

#: how far a reported time may lie ahead of the server's clock (a phone's clock runs ahead)
SLACK = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Seen:
    """What a rule may look at: the submission, the task's data, the clock, the database."""

    db: Database
    submission: dict[str, Any]
    task_data: dict[str, Any]
    now: dt.datetime


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or "T" not in value and " " not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _local(when: dt.datetime) -> str:
    return when.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def not_future(title: str) -> Callable[[Any, Seen], str | None]:
    def rule(value: Any, seen: Seen) -> str | None:
        at = _instant(value)
        if at is not None and at > seen.now + SLACK:
            return f"{title}不能晚于当前时间（{_local(seen.now)}），请填写实际发生的时间"
        return None
    return rule


def not_past(title: str) -> Callable[[Any, Seen], str | None]:
    def rule(value: Any, seen: Seen) -> str | None:
        at = _instant(value)
        if at is not None and at < seen.now - SLACK:
            return f"{title}不能早于当前时间（{_local(seen.now)}）"
        return None
    return rule


def day_not_future(title: str) -> Callable[[Any, Seen], str | None]:
    def rule(value: Any, seen: Seen) -> str | None:
        day = _day(value)
        today = seen.now.astimezone(CHINA).date()
        if day is not None and day > today:
            return f"{title}不能晚于今天（{today.isoformat()}）"
        return None
    return rule


def arrival_of_job(seen: Seen) -> dt.datetime | None:
    """When the worker arrived on this field job: the appointment's record, else the task's data."""
    booking = seen.task_data.get("booking") or {}
    job_no = seen.task_data.get("job_no") or booking.get("job_no")
    if isinstance(job_no, str) and job_no:
        try:
            found = appointments.get(seen.db, job_no).arrived_at
        except NotFound:
            found = None
        if found is not None:
            return found
    return _instant(seen.task_data.get("arrived_at"))


def after_arrival(value: Any, seen: Seen) -> str | None:
    done, arrived = _instant(value), arrival_of_job(seen)
    if done is not None and arrived is not None and done < arrived:
        return f"完工时间不能早于本次作业的到达时间（{_local(arrived)}）"
    return None


#: field -> its rules, in the order their messages are shown
RULES: dict[str, tuple[Callable[[Any, Seen], str | None], ...]] = {
    "arrived_at": (not_future("到达时间"),),
    "completed_at": (not_future("完工时间"), after_arrival),
    "installed_at": (not_future("装表时间"),),
    "work_done_at": (not_future("作业时间"),),
    "energized_at": (not_future("送电时间"),),
    "called_at": (not_future("回访时间"),),
    "contract_signed_on": (day_not_future("合同签订日期"),),
    "agreement_signed_on": (day_not_future("协议签订日期"),),
    "docs_received_on": (day_not_future("资料收到日期"),),
    "planned_at": (not_past("计划到达时间"),),
}


def check(db: Database, instance_id: int, submission: dict[str, Any], task_data: dict[str, Any],
          now: dt.datetime) -> dict[str, list[str]]:
    """{field: [Chinese messages]} for the submitted times that cannot be right; empty when all are."""
    seen = Seen(db, submission, task_data, now)
    problems: dict[str, list[str]] = {}
    for field, rules in RULES.items():
        if field not in submission:
            continue
        messages = [m for rule in rules if (m := rule(submission[field], seen))]
        if messages:
            problems[field] = messages
    return problems
