"""O2O intake: customers' applications from the channels (app, 95598 website, WeChat, counter).

An application is the start of a `new_connection` case. It is validated against the *application
schema*: the accept form (`accept.schema.json`) of the deployed `new_connection` version without
the fields only staff decide (`STAFF_ONLY`: the channel, which the intake sets from the tag, and the
classifications the utility verifies — important customer, small/micro enterprise, special load,
load level); the clerk completes those when accepting the case.

Idempotency: a client may send an `Idempotency-Key`. The same client with the same key and the
same body gets the same application back (`created=False`); the same key with a different body is a
`Conflict`. Keys are per client (two channels may use the same key).

Numbering: `new_connection` numbers a case in its `assign_number` service task, which runs only
after the clerk's acceptance. A customer needs the number at once, so the intake allocates it with
the same counter and format as `yekuo/next_number` (`YK<yyyymmdd>-<seq>`, China date) and starts the
case with it as business key and `application_no` in the start data.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.core import actors, clock, definitions, forms, runtime, step, store
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, NotFound
from engine.core.models import application_t, instance_t
from engine.deadlines import sla
from engine.intake import documents

PROCESS_KEY = "new_connection"
ACCEPT_FORM = "accept.schema.json"
NUMBER_PREFIX = "YK"
#: Channel tags; "95598" is accepted as the name people use for the 95598 website.
CHANNELS = ("app", "web95598", "wechat", "counter")
CHANNEL_ALIASES = {"95598": "web95598"}
#: Accept-form fields a customer does not fill in: set by the intake or decided by the utility.
STAFF_ONLY = ("channel", "important_customer", "small_micro", "special_load", "load_level")

#: What the customer sees for an instance status.
CUSTOMER_STATUS = {"running": "processing", "waiting": "processing", "error": "processing",
                   "completed": "completed", "cancelled": "cancelled"}
SUBMITTED = "已提交，待受理"


@dataclass
class Submission:
    application_no: str
    instance_id: int
    channel: str
    client: str
    submitted_at: dt.datetime
    created: bool


@dataclass
class ApplicationStatus:
    application_no: str
    instance_id: int | None
    channel: str
    client: str
    submitted_at: dt.datetime
    status: str
    milestone: str
    expected_completion: dt.datetime | None
    expected_completion_provisional: bool
    completed_at: dt.datetime | None


# ---------------------------------------------------------------------------------------------
# the application schema


def _strip(node: Any, fields: tuple[str, ...]) -> Any:
    """Remove `fields` from a schema's top-level properties, required lists and conditionals."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {k: _strip(v, ()) for k, v in value.items() if k not in fields}
            elif key == "required" and isinstance(value, list):
                out[key] = [r for r in value if r not in fields]
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                out[key] = [_strip(v, fields) for v in value]
            elif key in ("if", "then", "else"):
                out[key] = _strip(value, fields)
            elif key == "examples" and isinstance(value, list):
                out[key] = [{k: v for k, v in ex.items() if k not in fields} if isinstance(ex, dict) else ex
                            for ex in value]
            else:
                out[key] = value
        return out
    return node


def application_schema(db: Database) -> tuple[dict[str, Any], int]:
    """The customer's application schema and the `new_connection` definition id it comes from."""
    definition_id = definitions.latest_id(db, PROCESS_KEY)
    cache_key = ("application_schema", definition_id)
    found = db.cache.get(cache_key)
    if found is None:
        definition = definitions.load(db, definition_id)
        accept = definition.forms.get(ACCEPT_FORM)
        if accept is None:
            raise NotFound(f"the deployed '{PROCESS_KEY}' has no {ACCEPT_FORM}")
        schema = _strip(copy.deepcopy(accept), STAFF_ONLY)
        schema["title"] = "用电申请"
        schema.pop("$id", None)
        found = db.cache[cache_key] = (schema, forms.validator(schema))
    return found[0], definition_id


def examples(db: Database) -> list[dict[str, Any]]:
    schema, _ = application_schema(db)
    return copy.deepcopy(schema.get("examples") or [])


def normalize_channel(channel: str) -> str:
    value = CHANNEL_ALIASES.get(channel, channel)
    if value not in CHANNELS:
        raise InvalidData("unknown channel", details={"channel": [f"use one of: {', '.join(CHANNELS)} (or 95598)"]})
    return value


def _request_hash(channel: str, data: Any) -> str:
    try:
        body = orjson.dumps({"channel": channel, "data": data},
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # e.g. an integer beyond 64 bits
        raise InvalidData("the application cannot be stored", details={"_form": [str(exc)]}) from None
    return hashlib.sha256(body).hexdigest()


def _document_refs(data: dict[str, Any]) -> dict[str, str]:
    docs = data.get("documents")
    out = {}
    if isinstance(docs, dict):
        for name, value in docs.items():
            if isinstance(value, dict) and isinstance(value.get("ref"), str):
                out[f"documents.{name}.ref"] = value["ref"]
    return out


def _check_documents(db: Database, data: dict[str, Any], client: str) -> None:
    refs = _document_refs(data)
    found = documents.find(db, list(refs.values()))
    errors = {}
    for path, ref in refs.items():
        doc = found.get(ref)
        if doc is None or doc.uploaded_by != client:
            errors[path] = ["附件不存在，或不是本渠道上传的附件"]
    if errors:
        raise InvalidData("the application refers to unknown documents", details=errors)


def next_number(db: Database, now: dt.datetime | None = None) -> str:
    """The next application number, from the same daily counter `yekuo/next_number` uses."""
    day = (now or clock.now()).astimezone(CHINA).strftime("%Y%m%d")
    seq = step.allocate(db, f"number:{NUMBER_PREFIX}:{day}")
    return f"{NUMBER_PREFIX}{day}-{seq:04d}"


# ---------------------------------------------------------------------------------------------
# submitting


def _existing(db: Database, client: str, key: str, request_hash: str) -> Submission | None:
    with db.read() as conn:
        row = conn.execute(select(application_t).where(application_t.c.client == client,
                                                       application_t.c.idempotency_key == key)).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used for a different application",
                       details={"application_no": row.application_no})
    if row.instance_id is None:
        raise Conflict("an application with this Idempotency-Key is still being submitted; try again shortly")
    return Submission(row.application_no, row.instance_id, row.channel, row.client, row.submitted_at, False)


def submit(db: Database, data: dict[str, Any], *, channel: str, client: str,
           idempotency_key: str | None = None) -> Submission:
    """Validate an application and start its case; a repeated idempotent submission returns the first."""
    channel = normalize_channel(channel)
    if not isinstance(data, dict):
        raise InvalidData("the application must be a JSON object", details={"_form": ["申请数据必须是对象"]})
    request_hash = _request_hash(channel, data)
    if idempotency_key:
        found = _existing(db, client, idempotency_key, request_hash)
        if found is not None:
            return found
    schema, definition_id = application_schema(db)
    _, compiled = db.cache[("application_schema", definition_id)]
    clean = forms.check(schema, data, compiled)
    _check_documents(db, clean, client)
    now = clock.now()
    number = next_number(db, now)
    try:
        with db.write() as conn:  # reserve the key (a concurrent twin fails on the unique constraint)
            app_id = conn.execute(insert(application_t).values(
                application_no=number, instance_id=None, channel=channel, client=client,
                idempotency_key=idempotency_key or None, request_hash=request_hash, submitted_at=now,
            ).returning(application_t.c.id)).scalar_one()
    except IntegrityError:
        found = _existing(db, client, idempotency_key, request_hash) if idempotency_key else None
        if found is not None:
            return found
        raise Conflict("the application could not be stored; try again") from None
    start_data = {**clean, "channel": channel, "application_no": number}
    try:
        outcome = runtime.start_instance(db, PROCESS_KEY, start_data, actor=actors.Actor(client),
                                         business_key=number, version=definitions.load(db, definition_id).version)
    except Exception:
        with db.write() as conn:
            conn.execute(delete(application_t).where(application_t.c.id == app_id))
        raise
    with db.write() as conn:
        conn.execute(update(application_t).where(application_t.c.id == app_id)
                     .values(instance_id=outcome.instance_id))
        documents.link_to_case(conn, list(_document_refs(clean).values()), outcome.instance_id)
    return Submission(number, outcome.instance_id, channel, client, now, True)


# ---------------------------------------------------------------------------------------------
# reading


def _row(db: Database, application_no: str) -> Any:
    with db.read() as conn:
        row = conn.execute(select(application_t).where(application_t.c.application_no == application_no)).first()
    if row is None or row.instance_id is None:
        raise NotFound(f"application {application_no} does not exist")
    return row


def owner(db: Database, application_no: str) -> str:
    return _row(db, application_no).client


def instance_of(db: Database, application_no: str) -> int:
    return _row(db, application_no).instance_id


def status(db: Database, application_no: str) -> ApplicationStatus:
    """What the customer is told: where the case is and when it is expected to be done."""
    row = _row(db, application_no)
    with db.read() as conn:
        inst = conn.execute(select(instance_t.c.status, instance_t.c.milestone, instance_t.c.ended_at)
                            .where(instance_t.c.id == row.instance_id)).first()
    if inst is None:
        raise NotFound(f"application {application_no} does not exist")
    whole = [c for c in sla.clocks_of(db, row.instance_id) if c.scope == "process"]
    clock_row = whole[-1] if whole else None
    return ApplicationStatus(
        application_no=row.application_no, instance_id=row.instance_id, channel=row.channel, client=row.client,
        submitted_at=row.submitted_at, status=CUSTOMER_STATUS.get(inst.status, "processing"),
        milestone=inst.milestone or SUBMITTED,
        expected_completion=clock_row.deadline_at if clock_row is not None else None,
        expected_completion_provisional=bool(clock_row.provisional) if clock_row is not None else False,
        completed_at=inst.ended_at if inst.status == "completed" else None)


def list_applications(db: Database, *, client: str | None = None, limit: int = 50,
                      offset: int = 0) -> tuple[list[ApplicationStatus], int]:
    q = select(application_t.c.application_no).where(application_t.c.instance_id.is_not(None))
    if client is not None:
        q = q.where(application_t.c.client == client)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        numbers = conn.execute(q.order_by(application_t.c.id.desc()).limit(limit).offset(offset)).scalars().all()
    return [status(db, n) for n in numbers], total


def withdraw(db: Database, application_no: str, *, reason: str, actor: actors.Actor) -> store.Outcome:
    """The customer withdraws: the case's `withdraw` message, while it still accepts one."""
    return runtime.send_message(db, instance_of(db, application_no), "withdraw", {"reason": reason}, actor=actor)
