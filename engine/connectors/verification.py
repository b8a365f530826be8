"""The meter verification platform (鉴定平台): on-site meter verification (现场申校) requests and results.

A customer asks for his meter to be checked on site — through a channel (`POST
/api/v1/meter-verifications`) or 95598 (`meter_verification`). Each request, once per source and
key (the 95598 ticket, the channel's Idempotency-Key), opens a verification field job (`field_job`
with `job_kind` verify) that the dispatch centre books and dispatches like any other, and sends the
platform a `verification_order` with the meter. In: the platform's `verification_result` (error %,
pass or fail, certificate reference) is kept on the request, which it closes, and recorded in the
job's history; the first result stands (a repeated or later one changes nothing). The job's own
现场核查 form is still the worker's to complete: it needs his photos.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.connectors import outbound
from engine.core import clock, history, runtime, store
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData
from engine.core.models import meter_verification_t
from engine.dispatch import teams

SYSTEM = "verification"
OPENING, OPEN, PASSED, FAILED = "opening", "open", "passed", "failed"
_MOBILE = re.compile(r"^1\d{10}$")
_FIELDS = {"customer_name": 100, "address": 200, "meter_no": 40, "account_no": 40, "reason": 500}


def checked_request(data: Any) -> dict[str, Any]:
    """The request's fields, validated (422 with per-field messages otherwise)."""
    if not isinstance(data, dict):
        raise InvalidData("the request must be an object")
    out: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for key, limit in _FIELDS.items():
        value = data.get(key)
        required = key in ("customer_name", "address", "meter_no")
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            problems[key] = [f"1–{limit} characters"]
        else:
            out[key] = value.strip()
    mobile = data.get("mobile")
    if not isinstance(mobile, str) or not _MOBILE.match(mobile):
        problems["mobile"] = ["11-digit mobile number"]
    area = data.get("area") or "urban"
    if area not in teams.AREAS:
        problems["area"] = [f"one of {', '.join(teams.AREAS)}"]
    if problems:
        raise InvalidData("the verification request has errors", details=problems)
    return {**out, "mobile": mobile, "area": area}


def request_verification(db: Database, data: Any, *, source: str, key: str) -> dict[str, Any]:
    """Open (once per source and key) the verification field job for a customer's request."""
    request = checked_request(data)
    now = clock.now()
    row = _find(db, source, key)
    if row is None:
        try:
            with db.write() as conn:
                rid = conn.execute(insert(meter_verification_t).values(
                    source=source, request_key=key, request=request, status=OPENING, created_at=now)
                    .returning(meter_verification_t.c.id)).scalar_one()
                number = f"JD{now:%Y%m%d}-{rid:05d}"
                conn.execute(update(meter_verification_t).where(meter_verification_t.c.id == rid)
                             .values(verification_no=number))
        except IntegrityError:
            raise Conflict("this request is being opened now; send it again") from None
        row = _find(db, source, key)
    assert row is not None
    if row.status != OPENING:
        return {"verification_no": row.verification_no, "instance_id": row.instance_id, "created": False}
    number = row.verification_no
    job = runtime.start_instance(db, "field_job", {**row.request, "job_kind": "verify", "application_no": number,
                                                   "verification_no": number, "request_kind": "meter_verification"})
    with db.write() as conn:
        conn.execute(update(meter_verification_t).where(meter_verification_t.c.id == row.id)
                     .values(instance_id=job.instance_id, status=OPEN))
        outbound.queue(conn, SYSTEM, "verification_order", f"order:{number}", instance_id=job.instance_id,
                       number=number, now=now, verification_no=number, meter_no=row.request["meter_no"],
                       customer={k: v for k, v in row.request.items() if k != "reason"},
                       reason=row.request.get("reason"))
    return {"verification_no": number, "instance_id": job.instance_id, "created": True}


def receive_result(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int | None]:
    """Keep the platform's result on its request, closing it (the first result stands)."""
    number, passed, error = payload.get("verification_no"), payload.get("passed"), payload.get("error_pct")
    certificate = payload.get("certificate_ref")
    problems: dict[str, list[str]] = {}
    if not isinstance(number, str) or not 0 < len(number) <= 32:
        problems["verification_no"] = ["1–32 characters"]
    if not isinstance(passed, bool):
        problems["passed"] = ["true or false"]
    if isinstance(error, bool) or not isinstance(error, int | float) or not -100 <= error <= 100:
        problems["error_pct"] = ["a number from -100 to 100"]
    if not isinstance(certificate, str) or not 0 < len(certificate) <= 120:
        problems["certificate_ref"] = ["1–120 characters"]
    if problems:
        raise InvalidData("the verification result has errors", details=problems)
    verified = _instant(payload.get("verified_at"))
    now = clock.now()
    with db.write() as conn:
        row = conn.execute(select(meter_verification_t).where(meter_verification_t.c.verification_no == number)
                           .with_for_update()).first()
        if row is None:
            raise InvalidData(f"no verification request {number}", details={"verification_no": ["unknown"]})
        if row.status == OPENING:
            raise Conflict(f"verification {number} is still being opened; send the result again")
        out = {"verification_no": number, "instance_id": row.instance_id}
        if row.status != OPEN:
            return {**out, "applied": False, "status": row.status}, row.instance_id
        status = PASSED if passed else FAILED
        conn.execute(update(meter_verification_t).where(meter_verification_t.c.id == row.id).values(
            status=status, passed=passed, error_pct=float(error), certificate_ref=certificate.strip(),
            verified_at=verified or now, result_at=now))
        store.append_to_chain(conn, store.case_head(conn, row.instance_id), [history.NewEvent(
            "meter_verified", now, actor=f"system:{SYSTEM}",
            payload={"verification_no": number, "passed": passed, "error_pct": float(error),
                     "certificate_ref": certificate.strip(), "message_id": message_id})])
    return {**out, "applied": True, "status": status}, row.instance_id


def get(db: Database, verification_no: str) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(select(meter_verification_t)
                           .where(meter_verification_t.c.verification_no == verification_no)).first()
    return dict(row._mapping) if row is not None else None


def _find(db: Database, source: str, key: str) -> Any:
    with db.read() as conn:
        return conn.execute(select(meter_verification_t).where(meter_verification_t.c.source == source,
                                                               meter_verification_t.c.request_key == key)).first()


def _instant(value: Any) -> dt.datetime | None:
    try:
        found = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return found if found is not None and found.tzinfo is not None else None


INBOUND = {"verification_result": receive_result}
