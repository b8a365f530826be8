"""The SMS platform (短信平台): the outbox's SMS out, signed; delivery receipts in.

Out: once the `sms` connector has a URL, every outbox SMS goes to the platform as a signed `sms`
document whose message id is the outbox row's idempotency key (without one, SMS keep going to the
outbox's configured sink, as before). Switched off, SMS are held; a failing platform only delays them.
In: a `delivery_receipt` names the SMS by that key and says delivered, failed or unknown; it is kept
on the outbox row (`delivery_state`). A failed SMS is sent again as a new outbox row (`resend_of` the
first) up to `RESENDS` times; when the last one fails too the first row is flagged `given_up` and
shows on the `/connectors` page. Receipts for one SMS may arrive twice or out of order: delivered is
final, a failure after it changes nothing, and one failed SMS is resent once however often its
failure is reported.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from sqlalchemy import func, insert, select, update

from engine.connectors import config, outbound
from engine.core import clock
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.models import outbox_t
from engine.messages import sinks
from engine.messages.sinks import DeliveryResult, OutboundMessage, Sink

SYSTEM = "sms"
CHANNEL = "sms"
#: A failed SMS is sent again this many times before it is given up (flagged).
RESENDS = 2
STATES = ("delivered", "failed", "unknown")
GIVEN_UP = "given_up"
_RANK = {None: 0, "unknown": 1, "failed": 2, GIVEN_UP: 2, "delivered": 3}
log = logging.getLogger("yekuo.connectors")


class SmsPlatformSink:
    """SMS to the platform, signed, once its connector has a URL; otherwise to the outbox's own sink."""

    def __init__(self, fallback: Sink, connector: outbound.ConnectorSink | None = None) -> None:
        self.fallback = fallback
        self.connector = connector or outbound.ConnectorSink()

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if not config.get(SYSTEM, self.connector.environ).url:
            return self.fallback.deliver(message)
        body = json.dumps({"type": "sms", "message_id": message.idempotency_key, "mobile": message.recipient,
                           "text": message.body, "template": message.template, "instance_id": message.instance_id},
                          ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        return self.connector.post(SYSTEM, body, message.idempotency_key, "sms")


def sink_from_settings(settings: Any) -> Sink:
    """The factory `engine.wiring` puts in `sinks.CHANNEL_SINKS` for the `sms` channel."""
    return SmsPlatformSink(sinks.configured(settings))


def receive_receipt(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int | None]:
    """Keep a delivery receipt on its SMS; a failure sends it again or, past `RESENDS`, gives it up."""
    key, state, error = payload.get("message_id"), payload.get("status"), payload.get("error") or ""
    if not isinstance(key, str) or not 0 < len(key) <= 120:
        raise InvalidData("message_id (the SMS's id) is required", details={"message_id": ["1–120 characters"]})
    if state not in STATES:
        raise InvalidData("status must be delivered, failed or unknown", details={"status": list(STATES)})
    if not isinstance(error, str) or len(error) > 500:
        raise InvalidData("error is too long", details={"error": ["≤ 500 characters"]})
    now = clock.now()
    with db.write() as conn:
        row = conn.execute(select(outbox_t).where(outbox_t.c.idempotency_key == key, outbox_t.c.channel == CHANNEL)
                           .with_for_update()).first()
        if row is None:
            raise InvalidData(f"no SMS {key}", details={"message_id": ["unknown SMS"]})
        out = {"message_id": key, "instance_id": row.instance_id, "previous": row.delivery_state}
        if _RANK[state] <= _RANK[row.delivery_state]:
            return {**out, "applied": False, "delivery_state": row.delivery_state}, row.instance_id
        root = row.resend_of or row.id
        final = state
        resent = None
        if state == "failed":
            resends = conn.execute(select(func.count()).select_from(outbox_t)
                                   .where(outbox_t.c.resend_of == root)).scalar() or 0
            if resends < RESENDS:
                resent = _resend(conn, row, root, resends + 1, now)
            else:
                final = GIVEN_UP
                conn.execute(update(outbox_t).where(outbox_t.c.id == root).values(delivery_state=GIVEN_UP))
                log.warning("SMS %s failed %d times: given up (%s)", key, resends + 1, error)
        conn.execute(update(outbox_t).where(outbox_t.c.id == row.id).values(
            delivery_state=final, delivery_at=_reported(payload, now), delivery_error=error or None))
    return {**out, "applied": True, "delivery_state": final, "resent_as": resent}, row.instance_id


def _resend(conn: Any, row: Any, root: int, n: int, now: dt.datetime) -> str:
    root_key = row.idempotency_key.split("#r", 1)[0]
    key = f"{root_key}#r{n}"
    conn.execute(insert(outbox_t).values(
        idempotency_key=key, channel=CHANNEL, recipient=row.recipient, template=row.template, body=row.body,
        instance_id=row.instance_id, status="pending", attempts=0, created_at=now, next_attempt_at=now,
        resend_of=root))
    return key


def _reported(payload: dict[str, Any], now: dt.datetime) -> dt.datetime:
    value = payload.get("reported_at")
    try:
        found = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        found = None
    return found if found is not None and found.tzinfo is not None else now


def messages(db: Database, *, instance_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """SMS with their delivery state, newest first (the SMS listing)."""
    q = select(outbox_t.c.id, outbox_t.c.idempotency_key, outbox_t.c.recipient, outbox_t.c.template,
               outbox_t.c.status, outbox_t.c.delivery_state, outbox_t.c.delivery_at, outbox_t.c.delivery_error,
               outbox_t.c.resend_of, outbox_t.c.created_at).where(outbox_t.c.channel == CHANNEL)
    if instance_id is not None:
        q = q.where(outbox_t.c.instance_id == instance_id)
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(outbox_t.c.id.desc()).limit(limit))]


INBOUND = {"delivery_receipt": receive_receipt}
