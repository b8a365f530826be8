"""Inbound: a signed call from another system, verified, accepted once per message id, applied.

The order matters: the signature and the time window are checked before anything is parsed (401,
logged), then the message id is claimed in `inbound_message` in a transaction of its own. A repeat
of a finished message answers the first result again (with `duplicate`), applying nothing; a
repeat while the first is still being applied answers 409 (try again). A refusal that would not
change on a retry (invalid payload, the case has ended) is remembered like a result; a transient
failure (the case is not known yet, a concurrent change, a crash) forgets the claim, so the peer's
retry is applied once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.connectors import config, signing, systems
from engine.core import clock
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, InvalidState, NotFound, YekuoError
from engine.core.models import inbound_message_t

log = logging.getLogger("yekuo.connectors")
PROCESSING, DONE = "processing", "done"
#: Refusals a retry would get again: remembered with the message id like a result.
FINAL = (InvalidData, InvalidState)


@dataclass(frozen=True)
class Reply:
    """What the endpoint answers: HTTP status and JSON body; `duplicate` for a repeated message id."""

    status: int
    body: dict[str, Any]
    duplicate: bool = False


def receive(db: Database, system: str, headers: Mapping[str, str], body: bytes,
            environ: Mapping[str, str] | None = None) -> Reply:
    """Verify, deduplicate and apply one inbound call of `system`."""
    conf = config.get(system, environ)
    if not conf.ready:
        return _refused(system, headers, "this connector has no secret configured") if not conf.secret \
            else _error(503, "unavailable", f"the {system} connector is switched off")
    try:
        message_id = signing.verify(conf.secret, headers, body, clock.now())
    except signing.BadSignature as exc:
        return _refused(system, headers, str(exc))
    try:
        payload = _payload(system, body)
    except InvalidData as exc:
        return _finish_refused(db, system, message_id, "?", exc)
    claimed = _claim(db, system, message_id, payload["type"])
    if isinstance(claimed, Reply):
        return claimed
    try:
        result, iid = systems.INBOUND[system][payload["type"]](db, payload, message_id)
    except FINAL as exc:
        return _done(db, claimed, exc.status, {"error": exc.to_dict()}, None)
    except (NotFound, Conflict) as exc:
        _forget(db, claimed)
        return Reply(exc.status, {"error": exc.to_dict()})
    except Exception:
        _forget(db, claimed)
        log.exception("inbound %s message %s failed", system, message_id)
        return _error(503, "unavailable", "the message could not be applied now; send it again")
    return _done(db, claimed, 200, {"message_id": message_id, "status": "accepted", "result": result}, iid)


def seen(db: Database, system: str, message_id: str) -> dict[str, Any] | None:
    """The stored record of an inbound message, for operators and tests."""
    with db.read() as conn:
        row = conn.execute(select(inbound_message_t).where(inbound_message_t.c.system == system,
                                                           inbound_message_t.c.message_id == message_id)).first()
    return dict(row._mapping) if row is not None else None


# ---------------------------------------------------------------------------------------------


def _refused(system: str, headers: Mapping[str, str], why: str) -> Reply:
    log.warning("inbound %s refused (401): %s; message id %r", system, why, str(dict(headers).get(signing.MESSAGE_ID))[:120])
    return _error(401, "unauthorized", f"signature refused: {why}")


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, "details": {}}})


def _payload(system: str, body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidData("the body is not JSON") from None
    kinds = systems.INBOUND[system]
    if not isinstance(payload, dict) or payload.get("type") not in kinds:
        raise InvalidData("unknown message type", details={"type": [f"one of: {', '.join(kinds)}"]})
    return payload


def _claim(db: Database, system: str, message_id: str, kind: str) -> int | Reply:
    """Our row id for a new message id, or the reply for one already seen."""
    try:
        with db.write() as conn:
            return conn.execute(insert(inbound_message_t).values(
                system=system, message_id=message_id, type=kind, status=PROCESSING, received_at=clock.now())
                .returning(inbound_message_t.c.id)).scalar_one()
    except IntegrityError:
        pass
    found = seen(db, system, message_id)
    if found is None or found["status"] != DONE:
        return _error(409, "conflict", "this message id is being applied now; send it again shortly")
    log.info("inbound %s message %s repeated: answered with the first result", system, message_id)
    return Reply(found["http_status"], found["result"], duplicate=True)


def _done(db: Database, row_id: int, status: int, body: dict[str, Any], iid: int | None) -> Reply:
    with db.write() as conn:
        conn.execute(update(inbound_message_t).where(inbound_message_t.c.id == row_id).values(
            status=DONE, http_status=status, result=body, instance_id=iid, done_at=clock.now()))
    return Reply(status, body)


def _finish_refused(db: Database, system: str, message_id: str, kind: str, exc: YekuoError) -> Reply:
    claimed = _claim(db, system, message_id, kind)
    if isinstance(claimed, Reply):
        return claimed
    return _done(db, claimed, exc.status, {"error": exc.to_dict()}, None)


def _forget(db: Database, row_id: int) -> None:
    with db.write() as conn:
        conn.execute(delete(inbound_message_t).where(inbound_message_t.c.id == row_id))
