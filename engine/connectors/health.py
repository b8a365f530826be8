"""How each connector is doing, for the `/connectors` page: last success and error, queue, dead letters.

Everything is read from the two places the pattern already keeps: the outbox (what goes out — the
`connector` channel by system, and the `sms` channel for the SMS platform) and `inbound_message`
(what came in). Redelivery is the outbox's own (`outbox.retry_failed`), limited to connector messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from engine.connectors import config, outbound, sms_platform
from engine.core.db import Database
from engine.core.models import inbound_message_t, outbox_t
from engine.messages import outbox


@dataclass(frozen=True)
class SystemHealth:
    """One connector at a glance."""

    system: str
    name: str
    enabled: bool
    configured: bool
    last_success: dt.datetime | None
    last_error: str | None
    pending: int
    oldest_pending: dt.datetime | None
    dead_letters: int
    inbound_ok: int
    inbound_refused: int


def _of(system: str) -> ColumnElement[bool]:
    """The outbox rows that go to `system`."""
    if system == sms_platform.SYSTEM:
        return outbox_t.c.channel == sms_platform.CHANNEL
    return and_(outbox_t.c.channel == outbound.CHANNEL, outbox_t.c.recipient == system)


_ANY = (outbox_t.c.channel == outbound.CHANNEL) | (outbox_t.c.channel == sms_platform.CHANNEL)


def overview(db: Database) -> list[SystemHealth]:
    """Every system with a connector, in the order of `config.SYSTEMS`."""
    out = []
    with db.read() as conn:
        for system, name in config.SYSTEMS.items():
            conf = config.get(system)
            mine = _of(system)
            sent = conn.execute(select(func.max(outbox_t.c.sent_at)).where(mine)).scalar()
            came = conn.execute(select(func.max(inbound_message_t.c.done_at)).where(
                inbound_message_t.c.system == system, inbound_message_t.c.http_status == 200)).scalar()
            pending, oldest = conn.execute(select(func.count(), func.min(outbox_t.c.created_at)).where(
                mine, outbox_t.c.status == outbox.PENDING)).one()
            dead = conn.execute(select(func.count()).where(mine, outbox_t.c.status == outbox.FAILED)).scalar()
            error = conn.execute(select(outbox_t.c.last_error).where(mine, outbox_t.c.last_error.is_not(None),
                                                                     outbox_t.c.status != outbox.SENT)
                                 .order_by(outbox_t.c.id.desc()).limit(1)).scalar()
            inbound = dict(conn.execute(select(inbound_message_t.c.http_status == 200, func.count()).where(
                inbound_message_t.c.system == system).group_by(inbound_message_t.c.http_status == 200)).all())
            out.append(SystemHealth(system, name, conf.ready, bool(conf.url), _latest(sent, came), error, pending,
                                    oldest, dead or 0, inbound.get(True, 0), inbound.get(False, 0)))
    return out


def _latest(*found: dt.datetime | None) -> dt.datetime | None:
    present = [f for f in found if f is not None]
    return max(present) if present else None


def messages(db: Database, *, status: str, limit: int = 50) -> list[dict[str, Any]]:
    """Connector messages in `status` (`failed`: the dead letters; `pending` with an error: retrying)."""
    q = (select(outbox_t.c.id, outbox_t.c.channel, outbox_t.c.recipient, outbox_t.c.template,
                outbox_t.c.instance_id, outbox_t.c.attempts, outbox_t.c.created_at, outbox_t.c.next_attempt_at,
                outbox_t.c.last_error, outbox_t.c.idempotency_key)
         .where(_ANY, outbox_t.c.status == status).order_by(outbox_t.c.id.desc()).limit(limit))
    if status == outbox.PENDING:
        q = q.where(outbox_t.c.last_error.is_not(None))
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        r["system"] = sms_platform.SYSTEM if r["channel"] == sms_platform.CHANNEL else r["recipient"]
    return rows


def given_up_sms(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """SMS the platform failed to deliver after every resend (flagged for a person)."""
    q = (select(outbox_t.c.id, outbox_t.c.recipient, outbox_t.c.template, outbox_t.c.instance_id,
                outbox_t.c.delivery_error, outbox_t.c.delivery_at)
         .where(outbox_t.c.channel == sms_platform.CHANNEL, outbox_t.c.delivery_state == sms_platform.GIVEN_UP,
                outbox_t.c.resend_of.is_(None))
         .order_by(outbox_t.c.id.desc()).limit(limit))
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def redeliver(db: Database, ids: list[int]) -> int:
    """Queue dead letters of the connectors again (other outbox messages are not touched here)."""
    with db.read() as conn:
        mine = conn.execute(select(outbox_t.c.id).where(_ANY, outbox_t.c.id.in_(ids),
                                                        outbox_t.c.status == outbox.FAILED)).scalars().all()
    return outbox.retry_failed(db, list(mine)) if mine else 0
