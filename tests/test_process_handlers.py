"""The service handlers the models call: SMS to the outbox, field appointments, archive numbers.

Booking against capacity itself is tested with a database in tests/test_dispatch_booking.py."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core import services
from engine.core.clock import CHINA
from engine.core.errors import InvalidData, ServiceError
from engine.dispatch import appointments
from engine.dispatch import handlers as dispatch_handlers
from engine.intake import numbers
from engine.messages import sms

NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=CHINA)


def call(operator, params=None, data=None, now=NOW, counters=None):
    counters = {} if counters is None else counters

    def allocate(name):
        counters[name] = counters.get(name, 0) + 1
        return counters[name]

    return services.ServiceCall(operator=operator, params=params or {}, data=data or {}, instance_id=42,
                                business_key=None, now=now, effects=services.Effects(), allocate=allocate)


CASE = {"customer_name": "张伟", "mobile": "13912345678", "application_no": "YK20270301-0001",
        "business_type": "lv_res", "request_kind": "new", "address": "安德路12号"}


def test_sms_goes_to_the_outbox_keyed_by_instance_and_purpose():
    c = call("yekuo/sms", {"template": "accepted", "purpose": "accepted"}, CASE)
    result = sms.send_sms(c)
    assert result == {"sent": True, "key": "sms:42:accepted", "template": "accepted", "to": "139****5678"}
    [msg] = c.effects.outbox
    assert (msg["channel"], msg["recipient"], msg["idempotency_key"]) == ("sms", "13912345678", "sms:42:accepted")
    assert "张伟" in msg["body"] and "低压居民新装" in msg["body"] and "YK20270301-0001" in msg["body"]


def test_process_sms_texts_come_from_the_shared_catalog():
    body = sms.render_sms("withdrawn", {**CASE, "withdrawal_reason": "项目取消"})
    assert body.startswith("【供电服务】") and "项目取消" in body and "YK20270301-0001" in body


def test_sms_without_a_mobile_number_is_recorded_as_not_sent():
    c = call("yekuo/sms", {"template": "withdrawn"}, {"customer_name": "赵磊"})
    assert sms.send_sms(c)["sent"] is False
    assert c.effects.outbox == []


def test_sms_missing_a_field_fails_instead_of_sending_half_a_message():
    with pytest.raises(ServiceError, match="scheme_valid_until"):
        sms.render_sms("scheme_expiry", CASE)
    with pytest.raises(ServiceError, match="unknown SMS template"):
        sms.render_sms("no_such_text", CASE)


@pytest.mark.parametrize(("data", "due", "window"), [
    ({"appointment_mode": "fixed", "appointment_date": "2027-03-03", "appointment_period": "am"},
     "2027-03-03T12:00:00+08:00", "08:30-12:00"),
    ({"appointment_mode": "fixed", "appointment_date": "2027-03-03", "appointment_period": "pm"},
     "2027-03-03T18:00:00+08:00", "14:00-18:00"),
    ({"appointment_mode": "within", "within_hours": 24}, "2027-03-02T09:00:00+08:00", "24小时内（09:00前）"),
    ({"appointment_mode": "by_date", "appointment_date": "2027-03-05"}, "2027-03-05T18:00:00+08:00", "18:00前"),
])
def test_appointment_modes_give_the_due_instant_of_the_job(data, due, window):
    request = appointments.Request.parse({**data, "job_kind": "survey"})
    win = appointments.window(request, NOW)
    assert (win.end.isoformat(), appointments.texts(request, win.end)[1]) == (due, window)
    # the days it may be booked on: the date itself (约时), or from today up to the promise
    assert win.days[0] == (dt.date(2027, 3, 3) if data["appointment_mode"] == "fixed" else NOW.date())
    assert win.days[-1] == win.end.date()


def test_an_appointment_that_already_closed_is_refused():
    late = dt.datetime(2027, 3, 3, 12, 30, tzinfo=CHINA)
    request = appointments.Request.parse({"appointment_mode": "fixed", "appointment_date": "2027-03-03",
                                     "appointment_period": "am", "job_kind": "survey"})
    with pytest.raises(InvalidData, match="already passed"):
        appointments.window(request, late)
    with pytest.raises(InvalidData, match="appointment_mode"):
        appointments.Request.parse({"appointment_mode": "soon", "job_kind": "survey"})


def test_the_booking_service_needs_the_command_database():
    with pytest.raises(ServiceError, match="inside an engine command"):
        dispatch_handlers.SERVICES["yekuo/field_appointment"](call("yekuo/field_appointment", data={"appointment_mode": "within"}))


def test_archive_numbers_the_file_and_lists_every_attachment():
    data = {"documents": {"identity": {"ref": "att-111111", "name": "身份证.pdf"}},
            "photos": [{"ref": "att-222222", "name": "表箱.jpg"}, {"ref": "att-111111", "name": "重复"}],
            "archive_record": None, "note": "att-333333 is just text"}
    counters = {"archive:2027": 41}
    result = numbers.archive_case(call("yekuo/archive_case", data=data, counters=counters))
    assert result["archive_no"] == "DA2027-000042"
    assert (result["attachments"], result["attachment_count"]) == (["att-111111", "att-222222"], 2)
