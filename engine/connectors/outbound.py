"""Outbound: documents for other systems, queued with the step and delivered signed.

`push` queues a JSON document in the command's outbox effects (so it commits with the step, once
per idempotency key); the outbox hands it to `ConnectorSink`, which POSTs it to the system's URL
signed as `signing` describes, with the key as `X-Yekuo-Message-Id`. A switched-off connector
holds its messages (`DeferredError`: no attempt is used up) and a failing peer only delays them:
neither ever blocks a case step. After `YEKUO_OUTBOX_MAX_ATTEMPTS` failures a message is a dead
letter (`failed`), listed and redelivered by hand with `yekuo outbox list/retry`.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from engine.connectors import config, signing
from engine.core import clock
from engine.core.errors import NotFound
from engine.core.step import Step
from engine.messages.sinks import DeferredError, DeliveryResult, HttpSink, OutboundMessage, PermanentError

CHANNEL = "connector"
TYPE_HEADER = "X-Yekuo-Type"


def document(kind: str, step: Step, **fields: Any) -> str:
    """The JSON text of a document of `kind` about the step's case."""
    body = {"type": kind, "application_no": step.business_key or step.application_no,
            "instance_id": step.instance_id, "sent_at": step.now.isoformat(), **fields}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def push(step: Step, system: str, kind: str, key: str, **fields: Any) -> None:
    """Queue a document for `system` with the step; `key` (unique per case and fact) makes a repeat a
    no-op. The key travels as the `X-Yekuo-Message-Id` header, so it is percent-encoded to ASCII."""
    key = urllib.parse.quote(f"{system}:{step.instance_id}:{key}", safe=":-_.")
    step.effects.send(CHANNEL, system, document(kind, step, **fields), key=key, template=kind)


class ConnectorSink:
    """Delivers `connector` messages to their system's URL, signed; reads the settings per delivery."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        self._http: dict[tuple[str, float], HttpSink] = {}

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        try:
            conf = config.get(message.recipient, self.environ)
        except NotFound as exc:
            raise PermanentError(str(exc)) from None
        if not conf.ready or not conf.url:
            raise DeferredError(f"connector {conf.system} is switched off or not configured")
        http = self._http.get((conf.url, conf.timeout))
        if http is None:
            http = self._http[(conf.url, conf.timeout)] = HttpSink(conf.url, conf.timeout)
        body = message.body.encode()
        headers = {**signing.headers(conf.secret, message.idempotency_key, body, clock.now()),
                   TYPE_HEADER: message.template or ""}
        return http.post(body, headers)


def sink_from_settings(settings: Any) -> ConnectorSink:
    """The factory `engine.wiring` puts in `sinks.CHANNEL_SINKS` (settings come from the environment)."""
    return ConnectorSink()
