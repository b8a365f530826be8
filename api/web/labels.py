"""Display labels for codes the engine stores (business types, statuses, event types, roles).

English msgids, translated to Chinese by the `zh_Hans_CN` catalog; names that come from the
models (task names, form titles) are already Chinese and shown as they are.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

BUSINESS_TYPES: dict[str, Any] = {
    "lv_res": _l("Low-voltage resident"),
    "lv_nonres": _l("Low-voltage non-resident"),
    "hv_single": _l("High-voltage, single supply"),
    "hv_dual": _l("High-voltage, dual supply"),
    "after_sales": _l("After-sales follow-up"),
}

INSTANCE_STATUS: dict[str, Any] = {
    "running": _l("In progress"),
    "waiting": _l("Waiting"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    "error": _l("Error"),
}

ITEM_STATUS: dict[str, Any] = {
    "open": _l("Open"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}

CLOCK_STATUS: dict[str, Any] = {
    "running": _l("Running"),
    "paused": _l("Paused"),
    "met": _l("Met"),
    "missed": _l("Missed"),
    "void": _l("Void"),
}

CLOCK_SCOPE: dict[str, Any] = {
    "process": _l("Whole process"),
    "step": _l("Step"),
}

CHANNELS: dict[str, Any] = {
    "counter": _l("Service counter"),
    "app": _l("State Grid app"),
    "web95598": _l("95598 website"),
    "wechat": _l("WeChat"),
}

EVENT_TYPES: dict[str, Any] = {
    "instance_started": _l("Case started"),
    "task_completed": _l("Task completed"),
    "task_claimed": _l("Task claimed"),
    "task_unclaimed": _l("Task released"),
    "timer_fired": _l("Timer fired"),
    "message_received": _l("Message received"),
    "service_called": _l("Service called"),
    "service_failed": _l("Service failed"),
    "instance_error": _l("Case error"),
    "instance_retried": _l("Retried"),
    "instance_cancelled": _l("Case cancelled"),
    "instance_completed": _l("Case completed"),
    "sla_started": _l("Deadline started"),
    "sla_stopped": _l("Deadline stopped"),
    "sla_paused": _l("Deadline paused"),
    "sla_resumed": _l("Deadline resumed"),
    "sla_recomputed": _l("Deadline recomputed"),
    "sla_prewarn_50": _l("Pre-warning (50%)"),
    "sla_prewarn_80": _l("Pre-warning (80%)"),
    "sla_overdue": _l("Deadline overdue"),
    "sla_supervise": _l("Supervision"),
    "task_reminded": _l("Reminder sent"),
    "task_delegated": _l("Task delegated"),
    "instance_migrated": _l("Case migrated"),
    "instance_migration_reverted": _l("Migration reverted"),
    "field_booked": _l("Appointment booked"),
    "field_rescheduled": _l("Appointment rescheduled"),
    "field_released": _l("Appointment released"),
    "field_cancelled": _l("Appointment cancelled"),
    "field_reassigned": _l("Worker reassigned"),
    "field_arrival_overdue": _l("Arrival overdue"),
    "field_arrival_urged": _l("Arrival chased"),
    "works_listed": _l("Added to the works list"),
    "works_done": _l("Works done"),
    "works_followed_up": _l("Works followed up"),
    "works_follow_up_due": _l("Works follow-up due"),
    "thread_message": _l("Customer thread entry"),
    "thread_overdue": _l("Customer question overdue"),
    "booking_routed": _l("Booking offered to the team leads"),
    "after_sales_started": _l("After-sales follow-up opened"),
}

#: Entries of a case's customer thread, by who wrote them and how.
THREAD_KINDS: dict[str, Any] = {
    "customer": _l("Customer message"),
    "message": _l("Written answer"),
    "phone": _l("Phone call"),
    "visit": _l("Visit"),
}

FIRST_RESPONSE_STATES: dict[str, Any] = {
    "on_time": _l("Answered in time"),
    "late": _l("Answered late"),
    "open": _l("Awaiting answer"),
    "overdue": _l("Answer overdue"),
}

ROLES: dict[str, Any] = {
    "clerk": _l("Counter clerk"),
    "dispatcher": _l("Dispatcher"),
    "manager": _l("Account manager"),
    "surveyor": _l("Survey team"),
    "metering": _l("Metering team"),
    "reviewer": _l("Design reviewer / inspector"),
    "lead": _l("Team lead"),
    "supervisor": _l("Command centre supervisor"),
    "auditor": _l("Auditor"),
    "analyst": _l("Business analyst"),
    "admin": _l("Administrator"),
    "channel": _l("Channel client"),
}

#: Actors that are no person (the engine, the scheduler), as the history names them.
SYSTEM_ACTORS: dict[str, Any] = {"system": _l("System"), "scheduler": _l("Scheduler")}

#: Case-data keys the processes derive (no form declares them), with their labels.
DERIVED_FIELDS: dict[str, Any] = {
    "application_no": _l("Application number"),
    "business_type": _l("Business type"),
    "voltage_class": _l("Voltage class"),
    "sanling": _l("Three-zero customer"),
}

#: Case-data keys the services write (their results), so history and case data never show a raw key.
PROCESS_FIELDS: dict[str, Any] = {
    "applied_capacity": _l("Applied capacity check"),
    "archive_record": _l("Archive record"),
    "case_callback": _l("Case callback"),
    "booking": _l("Field appointment"),
    "field_arrival": _l("Arrival on site"),
    "field_callback": _l("Field job callback"),
    "field_completion": _l("Field job completion"),
    "field_dispatch": _l("Field job dispatch"),
    "field_follow_up": _l("Field job follow-up"),
    "field_overdue": _l("Field job overdue"),
    "contract_numbering": _l("Contract numbering"),
    "numbering": _l("Number assigned"),
    "sms_accepted": _l("SMS: application accepted"),
    "sms_appointment": _l("SMS: appointment"),
    "sms_docs_reminder": _l("SMS: documents reminder"),
    "sms_done": _l("SMS: case finished"),
    "sms_energized": _l("SMS: energized"),
    "sms_scheme_expiry": _l("SMS: scheme expiry"),
    "sms_withdrawn": _l("SMS: application withdrawn"),
    # set by the models' scripts and services (no form asks for them)
    "archive_no": _l("Archive number"),
    "arrived_on_time": _l("Arrived on time"),
    "contract_no": _l("Contract number"),
    "prepaid_promoted": _l("Prepaid metering promoted"),
    "case_outcome": _l("Case outcome"),
    "scheme_warn_at": _l("Scheme expiry reminder at"),
    "signed": _l("Signed"),
    "valid_until": _l("Valid until"),
    "withdrawal_reason": _l("Withdrawal reason"),
    "worker_options": _l("Workers to choose from"),
}

VOLTAGE_CLASSES: dict[str, Any] = {"lv": _l("Low voltage"), "hv": _l("High voltage")}

#: Processes a clerk may start at the counter, with their labels (shown if deployed).
STARTABLE: dict[str, Any] = {
    "new_connection": _l("New connection / capacity increase"),
    "change": _l("Change of use"),
}


def label(table: dict[str, Any], code: Any) -> str:
    """The label for a code, or the code itself when the table does not know it."""
    if code is None or code == "":
        return ""
    found = table.get(code)
    return str(found) if found is not None else str(code)
