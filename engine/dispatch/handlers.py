"""The field job's service tasks: the dispatch centre's records, kept after each field-job step.

Each record is written in a short transaction of its own, idempotent per job, so a retried step
changes nothing twice; the appointment log rows go into the command's own transaction, and every
result is recorded in the case's history. A dispatch and a completion also notify the customer
manager (`manager_notices`). One table says which record each operator keeps;
`engine.wiring` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.core.errors import ServiceError
from engine.core.models import appointment_log_t
from engine.core.services import Handler, ServiceCall
from engine.dispatch import booking, field, lists, manager_notices

#: operator → (record function, whether it takes the case id, whether it returns log rows)
RECORDS: dict[str, tuple[Callable[..., Any], bool, bool]] = {
    # 登记预约: book against the teams' capacity; a full day or a closed window is `booked: false`
    # with the next free days, and the model returns to 预约上门
    "yekuo/field_appointment": (booking.book_in_command, True, True),
    # 登记派工: the lead's assignment (worker, route place, time) on the appointment
    "yekuo/field_dispatch": (lists.record_in_command, False, True),
    # 到达: the first phone call, and whether it kept the window
    "yekuo/field_arrival": (field.arrival_in_command, False, True),
    # 完工: the second phone call; the appointment is done
    "yekuo/field_completion": (field.completion_in_command, False, True),
    # 回访: the call-back; `follow_up` says whether the customer manager must act
    "yekuo/field_callback": (field.callback_in_command, True, False),
    # the customer manager closes the call-back's follow-up
    "yekuo/field_follow_up": (field.follow_up_in_command, False, False),
    # 登记督办: a reassigned overdue survey names the new worker on the appointment
    "yekuo/field_overdue": (field.overdue_in_command, False, True),
    # 登记回访 of the main process: the call-back register gets the case's 回访
    "yekuo/case_callback": (field.case_callback_in_command, True, False),
}


def _handler(record: Callable[..., Any], with_instance: bool, logs: bool) -> Handler:
    def handle(call: ServiceCall) -> Any:
        if call.db is None:
            raise ServiceError(f"service '{call.operator}' keeps dispatch-centre records and runs inside an engine command")
        args = (call.db, call.instance_id, call.data) if with_instance else (call.db, call.data)
        out = record(*args, now=call.now, actor="process")
        if not logs:
            return out
        result, rows = out
        call.effects.rows.extend((appointment_log_t, row) for row in rows)
        manager_notices.notify(call, result)  # dispatch and completion: the customer manager hears of it
        return result

    handle.__doc__ = record.__doc__
    return handle


SERVICES: dict[str, Handler] = {op: _handler(*spec) for op, spec in RECORDS.items()}
