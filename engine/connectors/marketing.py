"""The marketing system (营销系统): account requests and archive records out; account numbers in.

Out: when a new connection's contract is signed (the `contract` call activity of `lv_delivery` or
`hv_delivery` finishes) the case asks for an account number (户号) — unless it already has one (增容
names the existing account); at 归档 (`archive` finishes) the archive record goes out with the
account number if it has come. In: `account_number` for a case, kept as the case's reference and
recorded in its history. The marketing system's own time (`issued_at`) orders its answers: an older
number arriving after a newer one is acknowledged and changes nothing. The case never waits for
the number: a slow or switched-off marketing system delays only the reference.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from engine.connectors import outbound
from engine.core import clock, history, store
from engine.core.db import Database
from engine.core.errors import InvalidData, NotFound
from engine.core.models import case_reference_t, instance_t
from engine.core.step import Step

SYSTEM = "marketing"
ACCOUNT = "account_no"
#: The call activities whose completion triggers a push: (process, element) → document kind.
TRIGGERS = {("lv_delivery", "contract"): "account_request", ("hv_delivery", "contract"): "account_request",
            ("new_connection", "archive"): "archive_record"}
#: Case data the marketing system opens an account from, and files with the archive record.
CUSTOMER_FIELDS = ("customer_name", "id_type", "id_number", "mobile", "address", "customer_category", "industry",
                   "capacity_kw", "supply_voltage", "area", "business_type", "request_kind")


def on_write(conn: Connection, step: Step, written: store.Written) -> None:
    """Queue the account request or the archive record when the step finished their trigger."""
    kinds = [TRIGGERS[(e[3] if len(e) > 3 else step.wf.spec.name, e[0])] for e in step.trail()
             if e[1] == "c" and (e[3] if len(e) > 3 else step.wf.spec.name, e[0]) in TRIGGERS]
    if not kinds:
        return
    data = step.case_data()
    customer = {k: data[k] for k in CUSTOMER_FIELDS if data.get(k) is not None}
    for kind in kinds:
        if kind == "account_request" and not data.get(ACCOUNT):
            outbound.push(step, SYSTEM, kind, kind, customer=customer)
        elif kind == "archive_record":
            account = data.get(ACCOUNT) or _reference(conn, step.instance_id)
            outbound.push(step, SYSTEM, kind, kind, customer=customer, account_no=account,
                          archive_no=data.get("archive_no"))


def receive_account(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int]:
    """Keep the account number the marketing system opened for a case (the newest by its own time)."""
    number, account = payload.get("application_no"), payload.get(ACCOUNT)
    if not isinstance(number, str) or not isinstance(account, str) or not 0 < len(account.strip()) <= 40:
        raise InvalidData("application_no and account_no are required", details={ACCOUNT: ["1–40 characters"]})
    issued = _issued_at(payload)
    now = clock.now()
    with db.write() as conn:
        iid = conn.execute(select(instance_t.c.id).where(instance_t.c.business_key == number)).scalar()
        if iid is None:
            raise NotFound(f"no case {number} (yet)")
        applied = _keep(conn, iid, account.strip(), issued, now)
        if applied:
            store.append_to_chain(conn, store.case_head(conn, iid), [history.NewEvent(
                "account_assigned", now, actor=f"system:{SYSTEM}",
                payload={ACCOUNT: account.strip(), "issued_at": issued.isoformat(), "message_id": message_id})])
    return {"instance_id": iid, "application_no": number, ACCOUNT: account.strip(), "applied": applied}, iid


def account_of(db: Database, instance_id: int) -> str | None:
    """The account number the marketing system gave the case, if it has."""
    with db.read() as conn:
        return _reference(conn, instance_id)


INBOUND = {"account_number": receive_account}


def _reference(conn: Connection, instance_id: int | None) -> str | None:
    return conn.execute(select(case_reference_t.c.value).where(
        case_reference_t.c.instance_id == instance_id, case_reference_t.c.system == SYSTEM,
        case_reference_t.c.kind == ACCOUNT)).scalar()


def _keep(conn: Connection, iid: int, account: str, issued: dt.datetime, now: dt.datetime) -> bool:
    """Insert or overwrite the reference unless a newer one is already there; True if it changed."""
    row = conn.execute(select(case_reference_t.c.id, case_reference_t.c.value, case_reference_t.c.issued_at).where(
        case_reference_t.c.instance_id == iid, case_reference_t.c.system == SYSTEM,
        case_reference_t.c.kind == ACCOUNT)).first()
    if row is None:
        conn.execute(insert(case_reference_t).values(instance_id=iid, system=SYSTEM, kind=ACCOUNT, value=account,
                                                     issued_at=issued, received_at=now))
        return True
    if row.issued_at >= issued or row.value == account:
        return False
    conn.execute(update(case_reference_t).where(case_reference_t.c.id == row.id)
                 .values(value=account, issued_at=issued, received_at=now))
    return True


def _issued_at(payload: dict[str, Any]) -> dt.datetime:
    value = payload.get("issued_at")
    try:
        issued = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        issued = None
    if issued is None or issued.tzinfo is None:
        raise InvalidData("issued_at must be an ISO time with its offset", details={"issued_at": ["ISO 8601"]})
    return issued
