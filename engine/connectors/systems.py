"""The systems on the connector pattern: what each accepts inbound, and the write hook that
queues what each is sent (wired into `store.WRITE_HOOKS` by `engine.wiring`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from engine.connectors import call_center, marketing, service_center, sms_platform, verification
from engine.core import history, store
from engine.core.db import Database
from engine.core.step import Step

#: `handler(db, payload, message_id) -> (result, instance id)`, by system and message type.
Handler = Callable[[Database, dict[str, Any], str], tuple[dict[str, Any], int | None]]
INBOUND: Mapping[str, Mapping[str, Handler]] = {service_center.SYSTEM: service_center.INBOUND,
                                                 marketing.SYSTEM: marketing.INBOUND,
                                                 call_center.SYSTEM: call_center.INBOUND,
                                                 sms_platform.SYSTEM: sms_platform.INBOUND,
                                                 verification.SYSTEM: verification.INBOUND}


def on_write(conn: Connection, step: Step, written: store.Written) -> tuple[list[history.NewEvent], list[Any]]:
    """Queue each system's documents with the command's write (no events or timers of its own)."""
    if step.instance_id is not None:
        service_center.on_write(conn, step, written)
        marketing.on_write(conn, step, written)
        call_center.on_write(conn, step, written)
    return [], []
