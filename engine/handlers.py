"""Built-in service-task handlers (registered on import).

Each handler does its work from the call's parameters and the case data it is given, and puts
anything that leaves the system (SMS) into the outbox of the same transaction, keyed so that a
retried step never sends twice.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Any

from engine.core.errors import ServiceError
from engine.core.services import ServiceCall, service

CHINA = dt.timezone(dt.timedelta(hours=8))
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@service("yekuo/next_number")
def next_number(call: ServiceCall) -> dict[str, Any]:
    """A business number like YK20260301-0007: prefix, local (UTC+8) date, daily sequence.

    A case whose application number already has this prefix (an application taken online got its
    number at intake, and the customer was told it) keeps it; other numbers (contracts…) are new."""
    prefix = str(call.params.get("prefix") or "YK")
    existing = call.data.get("application_no")
    if isinstance(existing, str) and existing.startswith(prefix):
        return {"number": existing}
    day = call.now.astimezone(CHINA).strftime("%Y%m%d")
    seq = call.allocate(f"number:{prefix}:{day}")
    return {"number": f"{prefix}{day}-{seq:04d}"}


# ---------------------------------------------------------------------------------------------
# customer SMS

SERVICE_PHONE = "95598"
SMS_SIGNATURE = "【供电服务】"
#: Texts for process SMS the shared message catalog (engine/messages/message_templates.toml) does not carry
#: yet; a template of the same id in the catalog takes precedence, so administrators edit texts there.
PROCESS_SMS: dict[str, str] = {
    "docs_reminder": "尊敬的${customer_name}，您承诺于${docs_promised_by}前补交的资料（${docs_pending}）尚未收到，"
                     "请尽快到营业厅或通过“网上国网”补交，申请编号${application_no}。",
    "scheme_expiry": "尊敬的${customer_name}，您的供电方案（申请编号${application_no}）将于${scheme_valid_until}到期。"
                     "如受电工程不能按期完工，请在到期前申请延期，逾期须重新办理。",
    "withdrawn": "尊敬的${customer_name}，您的用电申请（编号${application_no}）已按您的要求撤销，原因：${reason}。"
                 "如需用电可随时重新申请。",
    "change_accepted": "尊敬的${customer_name}，您的${change_kind}申请（户号${account_no}）已受理，申请编号${application_no}。",
    "change_done": "尊敬的${customer_name}，您的${change_kind}（户号${account_no}）已办结，自${effective_date}起生效。",
    "appointment_changed": "尊敬的${customer_name}，您的申请（编号${application_no}）${job}预约已改为${date} ${time_window}，"
                           "请保持电话畅通。如有疑问请拨打${service_phone}。",
}

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
    """The SMS text from the shared message catalog, else from PROCESS_SMS; a missing field is an error."""
    fields = sms_fields(data)
    try:
        from engine.messages import templates as catalog
    except ImportError:  # the shared catalog is optional for the process handlers
        catalog = None
    if catalog is not None and template_id in catalog.catalog().templates:
        try:
            return catalog.render(template_id, fields)
        except catalog.TemplateError as exc:
            raise ServiceError(str(exc)) from exc
    text = PROCESS_SMS.get(template_id)
    if text is None:
        raise ServiceError(f"unknown SMS template '{template_id}'")
    template = string.Template(text)
    missing = [n for n in template.get_identifiers() if fields.get(n) in (None, "")]
    if missing:
        raise ServiceError(f"SMS template '{template_id}' needs {', '.join(missing)}, which the case does not have")
    return SMS_SIGNATURE + template.substitute({n: str(fields[n]) for n in template.get_identifiers()})


@service("yekuo/sms")
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


# ---------------------------------------------------------------------------------------------
# field jobs: the dispatch centre's records, kept by the services after each field-job task
# (engine.dispatch.booking, engine.dispatch.lists, engine.dispatch.field). Each writes its record in a short transaction of
# its own, idempotent per job, so a retried step changes nothing twice; the appointment log rows go
# into the command's own transaction. Their results are recorded in the case's history.

def _db(call: ServiceCall) -> Any:
    if call.db is None:
        raise ServiceError(f"service '{call.operator}' keeps dispatch-centre records and runs inside an engine command")
    return call.db


def _log_rows(call: ServiceCall, rows: list[dict[str, Any]]) -> None:
    from engine.core.models import appointment_log_t

    call.effects.rows.extend((appointment_log_t, row) for row in rows)


@service("yekuo/field_appointment")
def field_appointment(call: ServiceCall) -> dict[str, Any]:
    """Book the job against the teams' capacity (登记预约): the job number, team, day and the
    instant the appointment window closes (`due_at`, the job's deadline). A full day or a closed
    window is `booked: false` with the next free days, and the model returns to 预约上门."""
    from engine.dispatch import booking

    result, logs = booking.book_in_command(_db(call), call.instance_id, call.data, now=call.now, actor="process")
    _log_rows(call, logs)
    return result


@service("yekuo/field_dispatch")
def field_dispatch(call: ServiceCall) -> dict[str, Any]:
    """Put the lead's assignment (worker, route place, time) on the appointment (登记派工)."""
    from engine.dispatch import lists as dispatch

    result, logs = dispatch.record_in_command(_db(call), call.data, now=call.now, actor="process")
    _log_rows(call, logs)
    return result


@service("yekuo/field_arrival")
def field_arrival(call: ServiceCall) -> dict[str, Any]:
    """The first phone call (到达): on the appointment, and whether it kept the window."""
    from engine.dispatch import field

    result, logs = field.arrival_in_command(_db(call), call.data, now=call.now, actor="process")
    _log_rows(call, logs)
    return result


@service("yekuo/field_completion")
def field_completion(call: ServiceCall) -> dict[str, Any]:
    """The second phone call (完工): the appointment is done."""
    from engine.dispatch import field

    result, logs = field.completion_in_command(_db(call), call.data, now=call.now, actor="process")
    _log_rows(call, logs)
    return result


@service("yekuo/field_callback")
def field_callback(call: ServiceCall) -> dict[str, Any]:
    """Record the call-back (回访); `follow_up` says whether the customer manager must act."""
    from engine.dispatch import field

    return field.callback_in_command(_db(call), call.instance_id, call.data, now=call.now, actor="process")


@service("yekuo/field_follow_up")
def field_follow_up(call: ServiceCall) -> dict[str, Any]:
    """Close the call-back's follow-up with what the customer manager did."""
    from engine.dispatch import field

    return field.follow_up_in_command(_db(call), call.data, now=call.now, actor="process")


# ---------------------------------------------------------------------------------------------
# archive

def _attachments(value: Any) -> list[str]:
    """Attachment references anywhere in a value (fileRef objects: {"ref": "att-…", "name": …})."""
    if isinstance(value, dict):
        if isinstance(value.get("ref"), str) and value["ref"].startswith("att-"):
            return [value["ref"]]
        return [r for v in value.values() for r in _attachments(v)]
    if isinstance(value, list):
        return [r for v in value for r in _attachments(v)]
    return []


@service("yekuo/archive_case")
def archive_case(call: ServiceCall) -> dict[str, Any]:
    """Give the case file an archive number (DA + year + sequence) and list its attachments."""
    year = call.now.astimezone(CHINA).year
    number = f"DA{year}-{call.allocate(f'archive:{year}'):06d}"
    refs = sorted(set(_attachments(call.data)))
    return {"archive_no": number, "attachments": refs, "attachment_count": len(refs),
            "archived_at": call.now.astimezone(CHINA).isoformat()}


# the dispatch centre's timers (arrival 催办, works follow-ups) fire wherever the handlers are loaded
from engine.dispatch import field as _field, works as _works  # noqa: E402,F401
