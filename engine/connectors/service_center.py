"""95598 (the State Grid service system): applications, urgings and complaints in; milestones out.

In: an `application` (the customer's form plus the 95598 work-order number `ticket_no`) goes
through the O2O intake as channel `web95598`, keyed by the ticket, so a repeated ticket is the same
case; an `urging` (催办) or `complaint` (投诉) about a case — named by `application_no` or
`ticket_no` — becomes a notice to the dispatch centre (to acknowledge) and an event in the case's
history. A call about a case we do not know yet (it overtook its application) is answered 404 and
not remembered, so the peer's retry applies it once the application is in.
A `meter_verification` (现场申校) opens a verification field job (`verification`), once per ticket.
Out: for cases that came from 95598, each customer-visible milestone and the case's end.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.engine import Connection

from engine.connectors import call_center, outbound, verification
from engine.core import clock, history, store
from engine.core.db import Database
from engine.core.errors import InvalidData, NotFound
from engine.core.models import application_t, instance_t, notice_t
from engine.core.step import Step
from engine.intake import applications

SYSTEM = "95598"
#: The intake client 95598's applications are filed under (their idempotency keys are its tickets).
CLIENT = "system:95598"
CHANNEL = "web95598"
#: Notice kinds the dispatch centre sees on its board, by inbound type.
NOTICE_KINDS = {"urging": "95598催办", "complaint": "95598投诉"}
_TITLES = {"urging": "95598催办", "complaint": "95598投诉"}


def receive_application(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int]:
    ticket = _text(payload, "ticket_no")
    data = payload.get("application")
    if not isinstance(data, dict):
        raise InvalidData("an application needs its form data", details={"application": ["必须是对象"]})
    sub = applications.submit(db, data, channel=CHANNEL, client=CLIENT, idempotency_key=ticket)
    return {"application_no": sub.application_no, "instance_id": sub.instance_id, "ticket_no": ticket}, sub.instance_id


def receive_contact(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int]:
    """An urging or a complaint: a notice for the dispatch centre and an event in the case's history."""
    kind = payload["type"]
    text = _text(payload, "text", limit=1000)
    now = clock.now()
    with db.write() as conn:
        iid, number = _case_of(conn, payload)
        nid = conn.execute(insert(notice_t).values(
            instance_id=iid, kind=NOTICE_KINDS[kind], recipient_group="dispatcher",
            title=f"{_TITLES[kind]}：{number}", body=text, requires_ack=True, created_at=now)
            .returning(notice_t.c.id)).scalar_one()
        store.append_to_chain(conn, store.case_head(conn, iid), [history.NewEvent(
            f"customer_{kind}", now, actor=f"system:{SYSTEM}",
            payload={"text": text, "ticket_no": payload.get("ticket_no"), "message_id": message_id,
                     "notice_id": nid, "caller": payload.get("caller")})])
        if kind == "urging":  # the call centre calls the customer back about it
            call_center.on_urging(conn, {"notice_id": nid, "instance_id": iid, "application_no": number, "at": now,
                                         "title": f"{_TITLES[kind]}：{number}", "body": text,
                                         "callee": payload.get("caller")})
    return {"instance_id": iid, "application_no": number, "notice_id": nid}, iid


def open_contacts(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Urgings and complaints from 95598 the dispatch centre has not acknowledged, newest first."""
    with db.read() as conn:
        rows = conn.execute(select(notice_t.c.id, notice_t.c.instance_id, notice_t.c.kind, notice_t.c.title,
                                   notice_t.c.body, notice_t.c.created_at)
                            .where(notice_t.c.kind.in_(NOTICE_KINDS.values()), notice_t.c.acknowledged_at.is_(None))
                            .order_by(notice_t.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def on_write(conn: Connection, step: Step, written: store.Written) -> None:
    """Push the milestones a 95598 case reached in this command, and its end."""
    if step.summary().get("channel") != CHANNEL:
        return
    for milestone in step.finished_property("milestone"):
        outbound.push(step, SYSTEM, "milestone", f"milestone:{milestone}", milestone=milestone)
    status = written.status
    if status in ("completed", "cancelled"):
        outbound.push(step, SYSTEM, "case_closed", f"closed:{status}", status=status)


def receive_meter_verification(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int]:
    """现场申校 through 95598: a verification field job, once per ticket (`verification`)."""
    ticket = _text(payload, "ticket_no")
    opened = verification.request_verification(db, payload.get("request"), source=CLIENT, key=ticket)
    return {**opened, "ticket_no": ticket}, opened["instance_id"]


INBOUND = {"application": receive_application, "urging": receive_contact, "complaint": receive_contact,
           "meter_verification": receive_meter_verification}


def _text(payload: dict[str, Any], key: str, *, limit: int = 64) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidData(f"{key} is missing or too long", details={key: [f"1–{limit} characters"]})
    return value.strip()


def _case_of(conn: Connection, payload: dict[str, Any]) -> tuple[int, str]:
    """The case an urging names, by our application number or 95598's ticket."""
    number, ticket = payload.get("application_no"), payload.get("ticket_no")
    if not isinstance(number, str) and not isinstance(ticket, str):
        raise InvalidData("name the case", details={"application_no": ["application_no or ticket_no"]})
    row = conn.execute(select(application_t.c.instance_id, application_t.c.application_no).where(
        application_t.c.instance_id.is_not(None),
        or_(application_t.c.application_no == number,
            (application_t.c.client == CLIENT) & (application_t.c.idempotency_key == ticket)))).first()
    if row is None and isinstance(number, str):
        row = conn.execute(select(instance_t.c.id, instance_t.c.business_key)
                           .where(instance_t.c.business_key == number)).first()
    if row is None:
        raise NotFound("no case with this application number or ticket (yet)")
    return row[0], row[1]
