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

from engine.errors import ServiceError
from engine.services import ServiceCall, service

CHINA = dt.timezone(dt.timedelta(hours=8))
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@service("yekuo/next_number")
def next_number(call: ServiceCall) -> dict[str, Any]:
    """A business number like YK20260301-0007: prefix, local (UTC+8) date, daily sequence."""
    prefix = str(call.params.get("prefix") or "YK")
    day = call.now.astimezone(CHINA).strftime("%Y%m%d")
    seq = call.allocate(f"number:{prefix}:{day}")
    return {"number": f"{prefix}{day}-{seq:04d}"}


# ---------------------------------------------------------------------------------------------
# customer SMS

SERVICE_PHONE = "95598"
SMS_SIGNATURE = "【供电服务】"
#: Texts for process SMS the shared message catalog (engine/message_templates.toml) does not carry
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
        "team": _TEAM_TEXT.get(kind, "供电服务班组"),
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
        from engine import templates as catalog
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
# field jobs

_PERIODS = {"am": ("08:30", "12:00"), "pm": ("14:00", "18:00")}


def appointment_window(data: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime, str, str]:
    """(due instant, date text, time-window text) for 约时 fixed / 限时 within / 限期 by_date."""
    mode = data.get("appointment_mode")
    if mode not in ("within", "fixed", "by_date"):
        raise ServiceError(f"unknown appointment_mode {mode!r}")
    if mode == "within":
        hours = int(data.get("within_hours") or 0)
        if hours <= 0:
            raise ServiceError("a 限时 appointment needs within_hours > 0")
        due = now.astimezone(CHINA) + dt.timedelta(hours=hours)
        return due, f"{due:%Y年%m月%d日}", f"{hours}小时内（{due:%H:%M}前）"
    try:
        day = dt.date.fromisoformat(str(data.get("appointment_date")))
    except ValueError:
        raise ServiceError(f"appointment_date {data.get('appointment_date')!r} is not a date") from None
    if mode == "fixed":
        period = data.get("appointment_period")
        if period not in _PERIODS:
            raise ServiceError(f"a 约时 appointment needs appointment_period am or pm, not {period!r}")
        start, end = _PERIODS[period]
        return dt.datetime.combine(day, dt.time.fromisoformat(end), CHINA), f"{day:%Y年%m月%d日}", f"{start}-{end}"
    return dt.datetime.combine(day, dt.time(18, 0), CHINA), f"{day:%Y年%m月%d日}", "18:00前"


@service("yekuo/field_appointment")
def field_appointment(call: ServiceCall) -> dict[str, Any]:
    """Register a field job: its number and the instant its appointment window closes.

    The due instant drives the overdue timer on the on-site work. Capacity booking against the
    teams' daily capacity (承载力) is the dispatch centre's part and will plug in here.
    """
    due, day_text, window = appointment_window(call.data, call.now)
    if due <= call.now:
        raise ServiceError(f"the appointment window closes {due.isoformat()}, which has already passed")
    day = call.now.astimezone(CHINA).strftime("%Y%m%d")
    job_no = f"ZY{day}-{call.allocate(f'field_job:{day}'):04d}"
    return {"job_no": job_no, "job_kind": call.data.get("job_kind"), "due_at": due.isoformat(),
            "date": day_text, "time_window": window}


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
