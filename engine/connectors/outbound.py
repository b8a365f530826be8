"""Outbound: documents for other systems, queued with the step and delivered signed.

`push` queues a JSON document in the command's outbox effects (so it commits with the step, once
per idempotency key); the outbox hands it to `ConnectorSink`, which POSTs it to the system's URL
signed as `signing` describes, with the key as `X-Yekuo-Message-Id`. A switched-off connector
holds its messages (`DeferredError`: no attempt is used up) and a failing peer only delays them:
neither ever blocks a case step. After `YEKUO_OUTBOX_MAX_ATTEMPTS` failures a message is a dead
letter (`failed`), listed and redelivered by hand with `yekuo outbox list/retry`.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.connectors import config, signing
from engine.core import clock
from engine.core.errors import NotFound
from engine.core.models import outbox_t
from engine.core.step import Step
from engine.messages.sinks import DeferredError, DeliveryResult, HttpSink, OutboundMessage, PermanentError

CHANNEL = "connector"
TYPE_HEADER = "X-Yekuo-Type"


def document(kind: str, step: Step, **fields: Any) -> str:
    """The JSON text of a document of `kind` about the step's case."""
    return _json(kind, step.business_key or step.application_no, step.instance_id, step.now, fields)


def _json(kind: str, number: str | None, instance_id: int | None, now: dt.datetime, fields: dict[str, Any]) -> str:
    body = {"type": kind, "application_no": number, "instance_id": instance_id, "sent_at": now.isoformat(), **fields}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


def _key(system: str, instance_id: int | None, key: str) -> str:
    """The key travels as the `X-Yekuo-Message-Id` header, so it is percent-encoded to ASCII."""
    return urllib.parse.quote(f"{system}:{instance_id}:{key}", safe=":-_.")


def push(step: Step, system: str, kind: str, key: str, **fields: Any) -> None:
    """Queue a document for `system` with the step; `key` (unique per case and fact) makes a repeat a
    no-op."""
    step.effects.send(CHANNEL, system, document(kind, step, **fields), key=_key(system, step.instance_id, key),
                      template=kind)


def queue(conn: Connection, system: str, kind: str, key: str, *, instance_id: int | None, number: str | None,
          now: dt.datetime, not_before: dt.datetime | None = None, **fields: Any) -> None:
    """`push` for a write that is not a step (an inbound call, a timer): the same outbox row, in the
    caller's transaction, due at `not_before` (default now); a repeated key is a no-op."""
    row = {"channel": CHANNEL, "recipient": system, "template": kind, "idempotency_key": _key(system, instance_id, key),
           "body": _json(kind, number, instance_id, now, fields), "instance_id": instance_id, "status": "pending",
           "attempts": 0, "created_at": now, "next_attempt_at": not_before or now}
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(outbox_t).on_conflict_do_nothing(index_elements=[outbox_t.c.idempotency_key]), [row])


class ConnectorSink:
    """Delivers `connector` messages to their system's URL, signed; reads the settings per delivery."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        self._http: dict[tuple[str, float], HttpSink] = {}

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        return self.post(message.recipient, message.body.encode(), message.idempotency_key, message.template or "")

    def post(self, system: str, body: bytes, message_id: str, kind: str) -> DeliveryResult:
        """POST `body` signed to `system`'s receiver; held (DeferredError) while it is switched off."""
        try:
            conf = config.get(system, self.environ)
        except NotFound as exc:
            raise PermanentError(str(exc)) from None
        if not conf.ready or not conf.url:
            raise DeferredError(f"connector {conf.system} is switched off or not configured")
        http = self._http.get((conf.url, conf.timeout))
        if http is None:
            http = self._http[(conf.url, conf.timeout)] = HttpSink(conf.url, conf.timeout)
        headers = {**signing.headers(conf.secret, message_id, body, clock.now()), TYPE_HEADER: kind}
        return http.post(body, headers)


def sink_from_settings(settings: Any) -> ConnectorSink:
    """The factory `engine.wiring` puts in `sinks.CHANNEL_SINKS` (settings come from the environment)."""
    return ConnectorSink()
