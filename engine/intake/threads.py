"""The customer ↔ customer-manager thread of a case, and its first-response time limit.

The customer writes through a channel (app, WeChat, 95598: the O2O API, as the owner of the
application) and reads the answers there; staff answer on the case page and log offline contacts
(phone, visit) on the same thread. Every entry is a `case_message` row and a `thread_message` event
on the case's hash chain (with the SHA-256 of the text, so an edited message shows).

First response is a time limit like any step's: a customer message that finds no open question
opens one, with a deadline of `first_response_hours` working hours (the active rule set's
thresholds; business hours of working days, `sla.add_working_hours`) frozen on the row. The first
staff entry after it (an answer, a call, a visit) answers every open message of the case. The
customer manager is notified of each question (a notice, like the deadlines' notices); a question
still unanswered at its deadline raises 超期 notices to the manager and the command centre (timer
purpose `thread_overdue`, fired by `fire_overdue`).

Customer text is hostile: it is stored as plain text (control characters removed, at most
`MAX_CHARS`), never as HTML, and every page renders it escaped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from engine.core import clock, history, store
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidData, InvalidState
from engine.core.models import case_message_t, instance_t, notice_t, timer_t, work_item_t
from engine.deadlines import sla
from engine.deadlines.rule_sets import DEFAULT_FIRST_RESPONSE_HOURS, active_rules
from engine.messages import templates

MAX_CHARS = 1000
#: Customer messages a case's thread takes in all: a script flooding one thread stops here.
MAX_CUSTOMER_MESSAGES = 200
CUSTOMER, STAFF = "customer", "staff"
#: What staff may put on the thread: an answer, or a contact made off-line.
STAFF_KINDS = ("message", "phone", "visit")
CHANNEL_TEXT = {"app": "网上国网App", "wechat": "微信公众号", "web95598": "95598网站", "counter": "营业厅"}
EVENT = "thread_message"
#: Timer purpose: the first-response deadline of a question (`fire_overdue`).
OVERDUE = "thread_overdue"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass
class Message:
    id: int
    instance_id: int
    author_kind: str
    kind: str
    author: str
    channel: str | None
    body: str
    created_at: dt.datetime
    respond_by: dt.datetime | None
    answered_at: dt.datetime | None
    answered_by: str | None

    def customer_view(self) -> dict[str, Any]:
        """What the customer reads: no staff user names, no internal ids beyond the entry's."""
        return {"id": self.id, "author_kind": self.author_kind, "kind": self.kind, "body": self.body,
                "created_at": self.created_at, "answered_at": self.answered_at}


@dataclass
class Question:
    """A customer message that opened a question, and how its first response went."""

    message_id: int
    asked_at: dt.datetime
    respond_by: dt.datetime
    limit_hours: float
    answered_at: dt.datetime | None
    answered_by: str | None
    hours: float | None  # working hours until the answer (so far, while open)
    state: str  # on_time, late, open, overdue


def clean_text(body: Any) -> str:
    """Plain text only: a string, control and bidi-override characters removed, trimmed, not
    empty, at most `MAX_CHARS` characters."""
    if not isinstance(body, str):
        raise InvalidData("the message must be text", details={"body": ["留言须为文字"]})
    text = _CONTROL.sub("", body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise InvalidData("the message is empty", details={"body": ["留言不能为空"]})
    if len(text) > MAX_CHARS:
        raise InvalidData(f"the message is longer than {MAX_CHARS} characters",
                          details={"body": [f"留言不能超过{MAX_CHARS}字"]})
    return text


def _view(row: Any) -> Message:
    return Message(row.id, row.instance_id, row.author_kind, row.kind, row.author, row.channel, row.body,
                   row.created_at, row.respond_by, row.answered_at, row.answered_by)


def _limit_hours(db: Database) -> float:
    rules = active_rules(db)
    return rules.first_response_hours if rules is not None else DEFAULT_FIRST_RESPONSE_HOURS


def post_customer(db: Database, instance_id: int, body: Any, *, author: str, channel: str | None = None) -> Message:
    """The customer writes: a new question (deadline frozen, manager notified) unless one is open."""
    text = clean_text(body)
    now = clock.now()
    limit = _limit_hours(db)
    respond_by = sla.add_working_hours(db, now, limit)
    with db.write() as conn:
        head = store.case_head(conn, instance_id)
        written = conn.execute(select(func.count()).select_from(case_message_t).where(
            case_message_t.c.instance_id == instance_id, case_message_t.c.author_kind == CUSTOMER)).scalar_one()
        if written >= MAX_CUSTOMER_MESSAGES:
            raise InvalidState("this case's thread is full; please call the service hotline")
        open_question = conn.execute(select(case_message_t.c.id).where(
            case_message_t.c.instance_id == instance_id, case_message_t.c.respond_by.is_not(None),
            case_message_t.c.answered_at.is_(None)).limit(1)).first()
        opens = open_question is None
        row_id = conn.execute(insert(case_message_t).values(
            instance_id=instance_id, author_kind=CUSTOMER, kind="message", author=author, channel=channel,
            body=text, created_at=now, limit_hours=limit if opens else None,
            respond_by=respond_by if opens else None).returning(case_message_t.c.id)).scalar_one()
        if opens:
            _notify_manager(conn, instance_id, channel, respond_by, now)
            conn.execute(insert(timer_t).values(instance_id=instance_id, task_id=f"thread:{row_id}", purpose=OVERDUE,
                                                due_at=respond_by, payload={"message_id": row_id}))
        store.append_to_chain(conn, head, [_event(row_id, CUSTOMER, "message", author, channel, text, now,
                                                  respond_by if opens else None)])
        row = conn.execute(select(case_message_t).where(case_message_t.c.id == row_id)).one()
    return _view(row)


def post_staff(db: Database, instance_id: int, body: Any, *, author: str, kind: str = "message") -> Message:
    """Staff answer or log an offline contact; the first one after a question answers it."""
    if kind not in STAFF_KINDS:
        raise InvalidData("unknown kind of entry", details={"kind": ["类型须为 message、phone 或 visit"]})
    text = clean_text(body)
    now = clock.now()
    with db.write() as conn:
        head = store.case_head(conn, instance_id)
        row_id = conn.execute(insert(case_message_t).values(
            instance_id=instance_id, author_kind=STAFF, kind=kind, author=author, channel=None, body=text,
            created_at=now).returning(case_message_t.c.id)).scalar_one()
        conn.execute(update(case_message_t).where(
            case_message_t.c.instance_id == instance_id, case_message_t.c.author_kind == CUSTOMER,
            case_message_t.c.answered_at.is_(None)).values(answered_at=now, answered_by=author))
        conn.execute(update(timer_t).where(timer_t.c.instance_id == instance_id, timer_t.c.purpose == OVERDUE,
                                           timer_t.c.fired_at.is_(None))
                     .values(fired_at=now, payload={"closed": "answered"}))
        store.append_to_chain(conn, head, [_event(row_id, STAFF, kind, author, None, text, now, None)])
        row = conn.execute(select(case_message_t).where(case_message_t.c.id == row_id)).one()
    return _view(row)


def _event(message_id: int, author_kind: str, kind: str, author: str, channel: str | None, text: str,
           now: dt.datetime, respond_by: dt.datetime | None) -> history.NewEvent:
    payload: dict[str, Any] = {"message_id": message_id, "author_kind": author_kind, "kind": kind,
                               "chars": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    if channel:
        payload["channel"] = channel
    if respond_by is not None:
        payload["respond_by"] = respond_by.isoformat()
    return history.NewEvent(EVENT, now, actor=author, payload=payload)


def case_manager(conn: Connection, instance_id: int) -> str | None:
    """The customer manager of a case: whoever last held or did one of its manager tasks."""
    row = conn.execute(select(func.coalesce(work_item_t.c.assignee, work_item_t.c.completed_by))
                       .where(work_item_t.c.instance_id == instance_id, work_item_t.c.candidate_group == "manager",
                              func.coalesce(work_item_t.c.assignee, work_item_t.c.completed_by).is_not(None))
                       .order_by(work_item_t.c.created_at.desc()).limit(1)).first()
    return row[0] if row is not None else None


def _notify_manager(conn: Connection, instance_id: int, channel: str | None, respond_by: dt.datetime,
                    now: dt.datetime) -> None:
    number = conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()
    manager = case_manager(conn, instance_id)
    body = templates.render("customer_message", {
        "application_no": number or f"#{instance_id}", "channel": CHANNEL_TEXT.get(channel or "", "线上渠道"),
        "respond_by": respond_by.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")})
    conn.execute(insert(notice_t).values(
        instance_id=instance_id, kind="留言", recipient_user=manager, recipient_group=None if manager else "manager",
        title=f"客户留言：{number or instance_id}", body=body, requires_ack=False, created_at=now))


def fire_overdue(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
                 worker: str) -> bool:
    """A question still unanswered at its deadline: 超期 notices to the customer manager and the
    command centre, and a `thread_overdue` event; exactly once (the timer is marked in the same
    transaction), nothing if it was answered meanwhile."""
    with db.write() as conn:
        if conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                        .values(fired_at=now)).rowcount != 1:
            return False
        row = conn.execute(select(case_message_t).where(case_message_t.c.id == payload.get("message_id"))).first()
        if row is None or row.answered_at is not None:
            return False
        number = conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()
        manager = case_manager(conn, instance_id)
        body = templates.render("customer_message_overdue", {
            "application_no": number or f"#{instance_id}",
            "respond_by": row.respond_by.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")})
        title = f"留言超时未答复：{number or instance_id}"
        for user, group in ((manager, None if manager else "manager"), (None, "supervisor")):
            conn.execute(insert(notice_t).values(instance_id=instance_id, kind="超期", recipient_user=user,
                                                 recipient_group=group, title=title, body=body, created_at=now))
        store.append_to_chain(conn, store.case_head(conn, instance_id), [history.NewEvent(
            "thread_overdue", now, actor="scheduler", payload={"message_id": row.id, "worker": worker,
                                                               "respond_by": row.respond_by.isoformat()})])
    return True


# ---------------------------------------------------------------------------------------------
# reading


def thread(db: Database, instance_id: int) -> list[Message]:
    """The case's thread, oldest first."""
    with db.read() as conn:
        rows = conn.execute(select(case_message_t).where(case_message_t.c.instance_id == instance_id)
                            .order_by(case_message_t.c.created_at, case_message_t.c.id)).all()
    return [_view(r) for r in rows]


def customer_thread(db: Database, instance_id: int) -> list[dict[str, Any]]:
    """What the customer reads: their messages and the written answers (not the staff's call logs)."""
    return [m.customer_view() for m in thread(db, instance_id) if m.kind == "message"]


def _question(db: Database, row: Any, now: dt.datetime) -> Question:
    end = row.answered_at or now
    hours = round(sla.working_hours_between(db, row.created_at, end), 2)
    if row.answered_at is not None:
        state = "on_time" if row.answered_at <= row.respond_by else "late"
    else:
        state = "open" if now <= row.respond_by else "overdue"
    return Question(row.id, row.created_at, row.respond_by, float(row.limit_hours or 0), row.answered_at,
                    row.answered_by, hours, state)


def questions(db: Database, *, instance_id: int | None = None, start: dt.datetime | None = None,
              end: dt.datetime | None = None, now: dt.datetime | None = None,
              business_type: str | None = None) -> list[Question]:
    """The questions (messages that opened one) of a case or of every case asked in [start, end)."""
    conds = [case_message_t.c.respond_by.is_not(None)]
    if instance_id is not None:
        conds.append(case_message_t.c.instance_id == instance_id)
    if business_type is not None:
        conds.append(case_message_t.c.instance_id.in_(select(instance_t.c.id)
                                                      .where(instance_t.c.business_type == business_type)))
    if start is not None:
        conds.append(case_message_t.c.created_at >= start)
    if end is not None:
        conds.append(case_message_t.c.created_at < end)
    with db.read() as conn:
        rows = conn.execute(select(case_message_t).where(and_(*conds))
                            .order_by(case_message_t.c.created_at, case_message_t.c.id)).all()
    now = now or clock.now()
    return [_question(db, r, now) for r in rows]


@dataclass
class FirstResponse:
    """The first-response KPI over a period: questions asked, answered within the limit, average
    working hours to the answer, and questions still waiting past their limit."""

    questions: int
    answered: int
    on_time: int
    on_time_rate: float | None
    avg_hours: float | None
    overdue_open: int


def first_response_kpi(db: Database, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                       now: dt.datetime | None = None, business_type: str | None = None) -> FirstResponse:
    """On time = answered by the deadline; an open question past it counts as not on time."""
    found = questions(db, start=start, end=end, now=now, business_type=business_type)
    answered = [q for q in found if q.answered_at is not None]
    judged = [q for q in found if q.state != "open"]
    on_time = sum(1 for q in found if q.state == "on_time")
    hours = [q.hours for q in answered if q.hours is not None]
    return FirstResponse(len(found), len(answered), on_time, round(on_time / len(judged), 4) if judged else None,
                         round(sum(hours) / len(hours), 2) if hours else None,
                         sum(1 for q in found if q.state == "overdue"))
