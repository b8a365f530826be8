"""Customer SMS from the process: the texts' fields from case data, and the `yekuo/sms` handler.

The texts themselves live in the shared message catalog (`message_templates.toml`, see `templates`).

The message is queued in the outbox of the step's own transaction, keyed so that a retried step
never sends twice; `engine.wiring` registers the handler.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from engine.core.clock import CHINA
from engine.core.errors import ServiceError
from engine.core.services import Handler, ServiceCall
from engine.messages import templates

_MOBILE = re.compile(r"^1[3-9]\d{9}$")

SERVICE_PHONE = "95598"

_TYPE_TEXT = {"lv_res": "低压居民", "lv_nonres": "低压非居民", "hv_single": "高压单电源", "hv_dual": "高压双电源"}
_REQUEST_TEXT = {"new": "新装", "increase": "增容"}
_JOB_TEXT = {"survey": "现场勘查", "install": "装表接电", "verify": "现场核查"}
_TEAM_TEXT = {"survey": "勘查班组", "install": "装表接电班组", "verify": "勘查班组"}
_CHANGE_TEXT = {"capacity_reduction": "减容", "suspend": "暂停", "resume": "恢复用电", "rename": "更名/过户",
                "reclassify": "改类"}
_DOC_TEXT = {"property_proof": "产权证明", "project_approval": "项目批复文件", "authorization": "授权委托书"}


def _local_time(value: Any) -> str:
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(CHINA).strftime("%Y年%m月%d日%H:%M")
    except ValueError:
        return ""


def sms_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The values SMS templates use, derived from the case data (Chinese texts, local times)."""
    booking = data.get("booking") if isinstance(data.get("booking"), dict) else {}
    kind = data.get("job_kind")
    withdrawal = data.get("withdrawal") if isinstance(data.get("withdrawal"), dict) else {}
    return {
        "customer_name": data.get("customer_name") or "客户",
        "application_no": data.get("application_no") or "（未编号）",
        "address": data.get("address"),
        "account_no": data.get("account_no"),
        "service_phone": SERVICE_PHONE,
        "business_type": (_TYPE_TEXT.get(data.get("business_type"), "")
                          + _REQUEST_TEXT.get(data.get("request_kind"), "")),
        "energized_at": _local_time(data.get("energized_at")),
        "job": _JOB_TEXT.get(kind, "现场作业"),
        "team": booking.get("team_name") or _TEAM_TEXT.get(kind, "供电服务班组"),
        "date": booking.get("date"),
        "time_window": booking.get("time_window"),
        "contact_name": data.get("worker_name"),
        "contact_phone": data.get("worker_mobile"),
        "docs_promised_by": data.get("docs_promised_by"),
        "docs_pending": "、".join(_DOC_TEXT.get(d, str(d)) for d in data.get("docs_pending") or []),
        "scheme_valid_until": data.get("scheme_valid_until"),
        "reason": data.get("withdrawal_reason") or withdrawal.get("reason") or "客户申请撤销",
        "change_kind": _CHANGE_TEXT.get(data.get("change_kind"), "变更用电"),
        "effective_date": data.get("effective_date"),
    }


def render_sms(template_id: str, data: dict[str, Any]) -> str:
    """The SMS text of the shared message catalog, filled from the case; refuses an unknown id or a missing field."""
    if template_id not in templates.catalog().templates:
        raise ServiceError(f"unknown SMS template '{template_id}'")
    try:
        return templates.render(template_id, sms_fields(data))
    except templates.TemplateError as exc:
        raise ServiceError(str(exc)) from exc


def send_sms(call: ServiceCall) -> dict[str, Any]:
    """Queue a templated SMS to the case's mobile; the key (instance + purpose) makes it once-only."""
    template = str(call.params.get("template") or "")
    purpose = str(call.params.get("purpose") or template)
    mobile = str(call.data.get("mobile") or "")
    key = f"sms:{call.instance_id}:{purpose}"
    if not _MOBILE.match(mobile):
        return {"sent": False, "reason": "the case has no valid mobile number", "key": key}
    body = render_sms(template, call.data)
    call.effects.send("sms", mobile, body, key=key, template=template)
    return {"sent": True, "key": key, "template": template, "to": f"{mobile[:3]}****{mobile[-4:]}"}



SERVICES: dict[str, Handler] = {"yekuo/sms": send_sms}
