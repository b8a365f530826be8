"""The customer manager hears of each field job twice: when it is dispatched and when it is done.

The customer manager is the customer's single point of contact (DOMAIN.md §4), so each of the two
moments leaves one in-app notice for the managers' group and one outbox row (channel `notice`)
for the notice sink, both in the command's own transaction (`call.effects`). The outbox row's
idempotency key (case, job, moment) keeps a retried step from sending twice; replay answers the
service from history and never calls it again, so nothing is written twice there either.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.core.clock import CHINA
from engine.core.models import notice_t
from engine.core.services import ServiceCall
from engine.messages import templates

RECIPIENT_GROUP = "manager"
#: operator → (moment, template id, notice title prefix)
MOMENTS: dict[str, tuple[str, str, str]] = {
    "yekuo/field_dispatch": ("dispatched", "manager_dispatched", "派工"),
    "yekuo/field_completion": ("completed", "manager_completed", "完工"),
}
_JOB_TEXT = {"survey": "现场勘查", "install": "装表接电", "verify": "现场核查"}


def _local(value: Any) -> str:
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return "—"


def fields(call: ServiceCall, result: dict[str, Any]) -> dict[str, str]:
    """The notice's fields from the case data and the service's answer (never empty: `—`)."""
    data = call.data
    booking = result.get("booking") or data.get("booking") or {}
    kind = data.get("job_kind") or booking.get("job_kind")
    when = result.get("completed_at") or result.get("planned_at")
    values = {"application_no": data.get("application_no") or f"#{call.instance_id}",
              "customer_name": data.get("customer_name"), "address": data.get("address"),
              "job": _JOB_TEXT.get(kind, "现场作业"), "job_no": booking.get("job_no") or data.get("job_no"),
              "team": booking.get("team_name") or booking.get("team"),
              "worker": result.get("worker_name") or data.get("worker_name"), "at": _local(when) if when else None}
    return {k: str(v) if v not in (None, "") else "—" for k, v in values.items()}


def notify(call: ServiceCall, result: dict[str, Any]) -> dict[str, Any] | None:
    """Queue the customer manager's notice for a dispatched or completed job; None when the
    operator is not one of the two moments or the dispatch found its booking cancelled."""
    found = MOMENTS.get(call.operator)
    if found is None or (call.operator == "yekuo/field_dispatch" and not result.get("valid")):
        return None
    moment, template, prefix = found
    values = fields(call, result)
    body = templates.render(template, values)
    key = f"notice:{call.instance_id}:manager_{moment}:{values['job_no']}"
    call.effects.send("notice", RECIPIENT_GROUP, body, key=key, template=template)
    call.effects.rows.append((notice_t, {
        "instance_id": call.instance_id, "work_item_id": None, "clock_id": None, "kind": "通知",
        "recipient_user": None, "recipient_group": RECIPIENT_GROUP, "requires_ack": False,
        "title": f"{prefix}：{values['job']} {values['job_no']}（{values['customer_name']}）", "body": body,
        "created_at": call.now}))
    return {"to_group": RECIPIENT_GROUP, "key": key}
