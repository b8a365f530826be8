"""The dispatch centre's REST API: every endpoint's success, bad input, wrong role, unknown target and
state conflicts; a full day's 409 `capacity_full` with the next free slots."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import select

from engine.core import actors, queries
from engine.core.clock import CHINA
from engine.core.models import outbox_t
from engine.dispatch import appointments, booking, works
from engine.dispatch import lists as dispatch
from tests import process_helpers as ph
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.dispatch_support import bare_cases

TUESDAY = "2026-03-03"


def _book(api: Api, day: str = TUESDAY, period: str = "am", **extra) -> dict:
    [iid] = bare_cases(api.db, 1, customer_name="王芳")
    body = {"instance_id": iid, "job_type": "survey", "mode": "fixed", "date": day, "period": period, **extra}
    return api.ok("POST", "/api/v1/appointments", 201, as_="dispatcher", json=body)


def _sms(api: Api, job_no: str) -> list[dict]:
    with api.db.read() as conn:
        rows = conn.execute(select(outbox_t).where(outbox_t.c.idempotency_key.like(f"%:appointment:{job_no}:%"))).all()
    return [dict(r._mapping) for r in rows]


def _put(api: Api, path: str, **kw):
    return api.request("PUT", path, **kw)


def _error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.get_json())
    body = r.get_json()["error"]
    assert set(body) == {"code", "message", "details"}
    if code:
        assert body["code"] == code, body
    return body


def _field_case(api: Api, until: str = "dispatch_job") -> tuple[int, str]:
    """A real case whose survey is booked for 2027-03-03 am at CQ-KC1, driven to `until`."""
    iid = ph.start_case(api.db)
    ph.drive(api.db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="book_appointment")
    ph.complete(api.db, iid, "book_appointment", ph.example("field-appointment"))
    job_no = queries.get_instance(api.db, iid).data["job_no"]
    if until != "dispatch_job":
        ph.drive(api.db, iid, until=until)
    return iid, job_no


# -- teams -------------------------------------------------------------------------------------------


def test_teams_are_listed_created_changed_and_staffed(api: Api) -> None:
    listed = api.ok("GET", "/api/v1/teams?area=urban", as_="lead")
    assert [t["code"] for t in listed] == ["CQ-KC1", "CQ-ZB1"]
    assert [(m["name"], m["role"], m["username"]) for m in listed[0]["members"]] == [
        ("陈强", "lead", "lead"), ("刘洋", "worker", "surveyor"), ("赵敏", "worker", None)]

    made = api.ok("POST", "/api/v1/teams", 201, as_="dispatcher", json={"code": "NC-KC2", "name": "农村勘查二班",
                                                                          "area": "rural"})
    assert (made["code"], made["area"], made["members"]) == ("NC-KC2", "rural", [])
    _error(api.post("/api/v1/teams", as_="dispatcher", json={"code": "NC-KC2", "name": "重复", "area": "rural"}),
           409, "conflict")
    bad = _error(api.post("/api/v1/teams", as_="dispatcher", json={"code": "空 格", "name": "x", "area": "mars"}), 422)
    assert {"code", "name", "area"} <= set(bad["details"])
    _error(api.post("/api/v1/teams", as_="lead", json={"code": "X1", "name": "某班组", "area": "urban"}), 403)
    _error(api.post("/api/v1/teams", json={"code": "X1", "name": "某班组", "area": "urban"}), 401)

    changed = api.ok("PATCH", "/api/v1/teams/NC-KC2", as_="supervisor", json={"name": "农村勘查第二班"})
    assert changed["name"] == "农村勘查第二班"
    _error(api.patch("/api/v1/teams/NOPE", as_="supervisor", json={"name": "无此班组"}), 404, "not_found")
    _error(api.patch("/api/v1/teams/NC-KC2", as_="supervisor", json={"colour": "red"}), 422)

    member = api.ok("POST", "/api/v1/teams/NC-KC2/members", 201, as_="dispatcher",
                    json={"name": "钱进", "mobile": "13700009999", "username": "surveyor"})
    assert (member["name"], member["role"], member["active"]) == ("钱进", "worker", True)
    _error(api.post("/api/v1/teams/NC-KC2/members", as_="dispatcher", json={"name": "钱进", "mobile": "123"}), 422)
    after = api.ok("DELETE", "/api/v1/teams/NC-KC2/members/钱进", as_="dispatcher")
    assert [m["active"] for m in after["members"]] == [False]
    _error(api.delete("/api/v1/teams/NC-KC2/members/无此人", as_="dispatcher"), 404)
    assert api.ok("GET", "/api/v1/teams/NC-KC2", as_="auditor")["name"] == "农村勘查第二班"
    _error(api.get("/api/v1/teams/NC-KC2", as_="clerk"), 403)


# -- capacity ----------------------------------------------------------------------------------------


def test_capacity_board_week_report_day_adjustment_and_history(api: Api) -> None:
    _book(api)
    board = api.ok("GET", f"/api/v1/capacity?start={TUESDAY}&days=1&team=CQ-KC1&job_type=survey", as_="manager")
    assert board == [{"team": "CQ-KC1", "team_name": "城区勘查一班", "area": "urban", "job_type": "survey",
                      "day": TUESDAY, "capacity": 40, "booked": 1, "remaining": 39}]
    _error(api.get("/api/v1/capacity?days=0", as_="dispatcher"), 422)
    _error(api.get("/api/v1/capacity", as_="surveyor"), 403)

    week = api.ok("PUT", "/api/v1/capacity/CQ-KC1/weeks/2026-03-11", as_="lead",
                  json={"plan": {"survey": [6, 6, 6, 6, 6, 0, 0]}, "note": "两人休假"})
    assert week == {"versions": {"survey": 1}, "overbooked": []}
    assert api.ok("GET", "/api/v1/capacity?start=2026-03-09&days=1&team=CQ-KC1&job_type=survey",
                  as_="lead")[0]["capacity"] == 6
    # a lead reports for his own team only (陈强 leads CQ-KC1, not the installation team)
    _error(_put(api, "/api/v1/capacity/CQ-ZB1/weeks/2026-03-09", as_="lead",
                   json={"plan": {"install": [1] * 7}}), 403, "forbidden")
    _error(_put(api, "/api/v1/capacity/CQ-KC1/weeks/2026-13-01", as_="lead", json={"plan": {"survey": [1] * 7}}), 422)
    _error(_put(api, "/api/v1/capacity/CQ-KC1/weeks/2026-03-09", as_="lead", json={"plan": {"survey": [1] * 6}}), 422)
    _error(_put(api, "/api/v1/capacity/CQ-KC1/weeks/2026-03-09", as_="lead", json={"plan": {"lunch": [1] * 7}}), 422)
    _error(_put(api, "/api/v1/capacity/NOPE/weeks/2026-03-09", as_="dispatcher", json={"plan": {"survey": [1] * 7}}),
           404)

    day = api.ok("PUT", f"/api/v1/capacity/CQ-KC1/days/{TUESDAY}", as_="dispatcher",
                 json={"job_type": "survey", "capacity": 3, "reason": "安全培训"})
    assert day == {"versions": {"survey": 1}, "overbooked": []}
    _error(_put(api, f"/api/v1/capacity/CQ-KC1/days/{TUESDAY}", as_="dispatcher",
                   json={"job_type": "survey", "capacity": 3}), 422)  # the reason is required
    _error(_put(api, f"/api/v1/capacity/CQ-KC1/days/{TUESDAY}", as_="surveyor",
                   json={"job_type": "survey", "capacity": 3, "reason": "x"}), 403)

    history = api.ok("GET", "/api/v1/capacity/CQ-KC1/history?job_type=survey", as_="auditor")
    assert [(h["kind"], h["day"], h["days"], h["note"], h["reported_by"]) for h in history[:2]] == [
        ("day", TUESDAY, [3], "安全培训", "dispatcher"), ("week", "2026-03-09", [6, 6, 6, 6, 6, 0, 0], "两人休假", "lead")]
    _error(api.get("/api/v1/capacity/NOPE/history", as_="auditor"), 404)


def test_lowering_a_day_below_its_bookings_flags_the_last_booked_for_rescheduling(api: Api) -> None:
    first, second, third = (_book(api, "2026-03-05") for _ in range(3))
    r = api.ok("PUT", "/api/v1/capacity/CQ-KC1/days/2026-03-05", as_="lead",
               json={"job_type": "survey", "capacity": 1, "reason": "两人病假"})
    assert [(o["job_no"], o["capacity"], o["booked"]) for o in r["overbooked"]] == [
        (second["job_no"], 1, 3), (third["job_no"], 1, 3)]
    # the dispatcher moves one; one is still flagged until the day fits again
    api.ok("POST", f"/api/v1/appointments/{third['job_no']}/reschedule", as_="dispatcher",
           json={"date": "2026-03-06", "reason": "班组减员，改约"})
    assert [o["appointment"].job_no for o in appointments.overbooked(api.db, start=dt.date(2026, 3, 5), days=1)] == [
        second["job_no"]]
    assert appointments.get(api.db, first["job_no"]).status == "booked"


def test_availability_lists_remaining_capacity(api: Api) -> None:
    _book(api)
    found = api.ok("GET", f"/api/v1/availability?job_type=survey&start={TUESDAY}&days=2", as_="clerk")
    kc = [(d["day"], d["remaining"]) for d in found if d["team"] == "CQ-KC1"]
    assert kc == [(TUESDAY, 39), ("2026-03-04", 40)]
    _error(api.get("/api/v1/availability", as_="clerk"), 422)  # job_type is required
    _error(api.get("/api/v1/availability?job_type=survey", as_="surveyor"), 403)


# -- appointments ------------------------------------------------------------------------------------


def test_a_full_day_is_409_capacity_full_with_the_next_free_slots(api: Api) -> None:
    api.ok("PUT", "/api/v1/capacity/CQ-KC1/days/2026-03-04", as_="dispatcher",
           json={"job_type": "survey", "capacity": 1, "reason": "只留一人值班"})
    _book(api, "2026-03-04")
    [iid] = bare_cases(api.db, 1)
    r = api.post("/api/v1/appointments", as_="dispatcher", json={
        "instance_id": iid, "job_type": "survey", "mode": "fixed", "date": "2026-03-04", "period": "am"})
    err = _error(r, 409, "capacity_full")
    assert err["details"]["requested"] == ["2026-03-04"]
    assert err["details"]["offers"][0] == {"date": "2026-03-05", "team": "CQ-KC1", "team_name": "城区勘查一班",
                                           "remaining": 40}
    assert len(err["details"]["offers"]) == booking.OFFER_COUNT


def test_booking_input_roles_and_unknown_cases(api: Api) -> None:
    made = _book(api, address="北京市东城区安德路12号")
    assert (made["team"], made["day"], made["slot"], made["status"], made["time_window"]) == (
        "CQ-KC1", TUESDAY, "am", "booked", "08:30-12:00")
    assert made["job_no"].startswith("ZY20260302-") and made["address"] == "北京市东城区安德路12号"
    bad = _error(api.post("/api/v1/appointments", as_="dispatcher", json={"instance_id": 1, "job_type": "survey",
                                                                         "mode": "fixed"}), 422)
    assert "date" in bad["details"] and "period" in bad["details"]
    _error(api.post("/api/v1/appointments", as_="dispatcher", json={"instance_id": 1, "job_type": "dig",
                                                                   "mode": "soon"}), 422)
    _error(api.post("/api/v1/appointments", as_="dispatcher", json={
        "instance_id": 999999, "job_type": "survey", "mode": "within", "within_hours": 4}), 404)
    _error(api.post("/api/v1/appointments", as_="lead", json={
        "instance_id": 1, "job_type": "survey", "mode": "within", "within_hours": 4}), 403)


def test_appointments_are_listed_read_rescheduled_and_cancelled_with_one_sms_each(api: Api) -> None:
    a = _book(api)
    b = _book(api, period="pm")
    page = api.ok("GET", f"/api/v1/appointments?day={TUESDAY}&team=CQ-KC1&status=booked", as_="lead")
    assert page["total"] == 2 and [x["job_no"] for x in page["items"]] == [a["job_no"], b["job_no"]]
    assert api.ok("GET", "/api/v1/appointments?status=cancelled", as_="lead")["total"] == 0
    _error(api.get("/api/v1/appointments?status=lost", as_="lead"), 422)
    assert api.ok("GET", f"/api/v1/appointments/{a['job_no']}", as_="auditor")["customer_name"] == "王芳"
    _error(api.get("/api/v1/appointments/ZY00000000-0000", as_="auditor"), 404)
    _error(api.get(f"/api/v1/appointments/{a['job_no']}", as_="clerk"), 403)

    moved = api.ok("POST", f"/api/v1/appointments/{a['job_no']}/reschedule", as_="dispatcher",
                   json={"date": "2026-03-05", "period": "pm", "reason": "客户要求改到周四下午"})
    assert (moved["day"], moved["slot"], moved["job_no"]) == ("2026-03-05", "pm", a["job_no"])
    [changed] = _sms(api, a["job_no"])
    assert changed["template"] == "appointment_changed" and "2026年03月05日 14:00-18:00" in changed["body"]
    _error(api.post(f"/api/v1/appointments/{a['job_no']}/reschedule", as_="dispatcher", json={"date": "2026-03-05"}),
           422)  # a reason is required
    _error(api.post(f"/api/v1/appointments/{a['job_no']}/reschedule", as_="dispatcher",
                    json={"period": "noon", "reason": "x"}), 422)
    _error(api.post("/api/v1/appointments/ZY00000000-0000/reschedule", as_="dispatcher", json={"reason": "x"}), 404)

    _error(api.post(f"/api/v1/appointments/{b['job_no']}/cancel", as_="dispatcher", json={}), 422)
    _error(api.post(f"/api/v1/appointments/{b['job_no']}/cancel", as_="dispatcher", json={"reason": ""}), 422)
    _error(api.post(f"/api/v1/appointments/{b['job_no']}/cancel", as_="lead", json={"reason": "x"}), 403)
    done = api.ok("POST", f"/api/v1/appointments/{b['job_no']}/cancel", as_="supervisor",
                  json={"reason": "客户临时出差"})
    assert (done["status"], done["note"]) == ("cancelled", "客户临时出差")
    [sms] = _sms(api, b["job_no"])
    assert sms["template"] == "appointment_cancelled" and sms["recipient"] == "13912345678"
    assert "2026年03月03日 14:00-18:00" in sms["body"] and "已取消" in sms["body"]
    _error(api.post(f"/api/v1/appointments/{b['job_no']}/cancel", as_="dispatcher", json={"reason": "再取消"}),
           409, "invalid_state")
    assert len(_sms(api, b["job_no"])) == 1
    assert api.ok("GET", f"/api/v1/capacity?start={TUESDAY}&days=1&team=CQ-KC1&job_type=survey",
                  as_="dispatcher")[0]["booked"] == 0


# -- dispatch lists and assignment -------------------------------------------------------------------


def test_lists_are_made_read_exported_and_assigned(api: Api) -> None:
    iid, job_no = _field_case(api)
    day = "2027-03-03"
    made = api.ok("POST", "/api/v1/dispatch-lists", as_="dispatcher", json={"day": day, "slot": "am"})
    kc = next(lst for lst in made if lst["team"] == "CQ-KC1")
    assert [e["job_no"] for e in kc["entries"]] == [job_no]
    _error(api.post("/api/v1/dispatch-lists", as_="dispatcher", json={"day": day, "slot": "night"}), 422)
    _error(api.post("/api/v1/dispatch-lists", as_="lead", json={"day": day, "slot": "am"}), 403)
    got = api.ok("GET", f"/api/v1/dispatch-lists?day={day}&slot=am&team=CQ-KC1", as_="lead")
    assert [(lst["team"], len(lst["entries"])) for lst in got] == [("CQ-KC1", 1)]
    _error(api.get("/api/v1/dispatch-lists?day=tomorrow", as_="lead"), 422)

    # the lead assigns: at the case's 派工 task this completes it
    _error(api.post("/api/v1/dispatch-lists/assign", as_="lead", json={"job_no": job_no, "worker": "不在班"}), 422)
    _error(api.post("/api/v1/dispatch-lists/assign", as_="lead", json={"job_no": "ZY00000000-0000", "worker": "刘洋"}),
           404)
    _error(api.post("/api/v1/dispatch-lists/assign", as_="surveyor", json={"job_no": job_no, "worker": "刘洋"}), 403)
    done = api.ok("POST", "/api/v1/dispatch-lists/assign", as_="lead",
                  json={"job_no": job_no, "worker": "刘洋", "planned_at": "2027-03-03T09:15:00+08:00"})
    assert (done["status"], done["worker_name"], done["planned_at"]) == (
        "dispatched", "刘洋", "2027-03-03T01:15:00+00:00")
    assert set(ph.items(api.db, iid)) == {"report_arrival"}
    again = api.ok("POST", f"/api/v1/appointments/{job_no}/assign", as_="dispatcher", json={"worker": "赵敏"})
    assert again["worker_name"] == "赵敏"

    r = api.get(f"/api/v1/dispatch-lists.csv?day={day}&slot=am", as_="manager")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0] == dispatch.CSV_HEADER
    [line] = [row for row in rows[1:] if row[5] == job_no]
    assert (line[0], line[2], line[14], line[16], line[17]) == ("城区勘查一班", "上午", "赵敏", "09:15", "已派工")
    _error(api.get(f"/api/v1/dispatch-lists.csv?day={day}", as_="metering"), 403)


# -- field reports -----------------------------------------------------------------------------------


def test_the_assigned_worker_reports_arrival_and_completion_and_the_dispatcher_calls_back(api: Api, clock) -> None:
    iid, job_no = _field_case(api)
    dispatch.assign(api.db, job_no, "刘洋", actor=actors.Actor("lead", frozenset({"lead"})))
    _error(api.post(f"/api/v1/field-jobs/{job_no}/completion", as_="surveyor",
                    json={"work_summary": "x", "customer_signed": True}), 409, "invalid_state")
    _error(api.post(f"/api/v1/field-jobs/{job_no}/arrival", as_="metering", json={}), 403)  # not his job
    _error(api.post(f"/api/v1/field-jobs/{job_no}/arrival", as_="lead", json={}), 403)
    _error(api.post("/api/v1/field-jobs/ZY00000000-0000/arrival", as_="surveyor", json={}), 404)
    _error(api.post(f"/api/v1/field-jobs/{job_no}/arrival", as_="surveyor", json={"arrived_at": "soon"}), 422)
    arrived = api.ok("POST", f"/api/v1/field-jobs/{job_no}/arrival", as_="surveyor",
                     json={"arrived_at": "2027-03-03T09:40:00+08:00"})
    assert arrived["appointment"]["status"] == "arrived" and arrived["new_tasks"] == ["现场勘查"]
    _error(api.post(f"/api/v1/field-jobs/{job_no}/arrival", as_="surveyor", json={}), 409)
    ph.complete(api.db, iid, "do_survey")
    _error(api.post(f"/api/v1/field-jobs/{job_no}/completion", as_="surveyor", json={"work_summary": "x"}), 422)
    done = api.ok("POST", f"/api/v1/field-jobs/{job_no}/completion", as_="surveyor",
                  json={"work_summary": "勘查完成，表箱位置已确认。", "customer_signed": True})
    assert done["appointment"]["status"] == "completed" and done["new_tasks"] == ["作业回访"]

    _error(api.post(f"/api/v1/field-jobs/{job_no}/callback", as_="dispatcher", json={"reachable": True}), 422)
    _error(api.post(f"/api/v1/field-jobs/{job_no}/callback", as_="dispatcher",
                    json={"reachable": True, "satisfaction": 6}), 422)
    _error(api.post(f"/api/v1/field-jobs/{job_no}/callback", as_="surveyor",
                    json={"reachable": True, "satisfaction": 5}), 403)
    called = api.ok("POST", f"/api/v1/field-jobs/{job_no}/callback", as_="dispatcher",
                    json={"reachable": True, "satisfaction": 2, "problems": "施工后地面未清理"})
    assert called["new_tasks"] == ["回访问题处理"]
    register = api.ok("GET", "/api/v1/callbacks?follow_up_status=open", as_="supervisor")
    assert [(r["job_no"], r["satisfaction"], r["problems"]) for r in register["items"]] == [
        (job_no, 2, "施工后地面未清理")]
    _error(api.get("/api/v1/callbacks?follow_up_status=maybe", as_="supervisor"), 422)
    _error(api.get("/api/v1/callbacks", as_="metering"), 403)


def test_overdue_arrivals_are_listed_after_the_window(api: Api, clock) -> None:
    a = _book(api)
    assert api.ok("GET", "/api/v1/overdue-arrivals", as_="dispatcher")["total"] == 0
    clock.set(dt.datetime(2026, 3, 3, 12, 30, tzinfo=CHINA))
    late = api.ok("GET", "/api/v1/overdue-arrivals?area=urban", as_="dispatcher")
    assert [x["job_no"] for x in late["items"]] == [a["job_no"]]
    assert api.ok("GET", "/api/v1/overdue-arrivals?area=rural", as_="dispatcher")["total"] == 0
    _error(api.get("/api/v1/overdue-arrivals?area=moon", as_="dispatcher"), 422)
    _error(api.get("/api/v1/overdue-arrivals", as_="surveyor"), 403)


# -- works -------------------------------------------------------------------------------------------


def test_the_works_list_and_its_follow_ups(api: Api) -> None:
    iid = ph.start_case(api.db)
    entry = works.add(api.db, iid, "internal", "客户受电工程", actor="manager")
    listed = api.ok("GET", "/api/v1/works", as_="manager")
    assert [(e["id"], e["status"], e["next_follow_up"]) for e in listed["items"]] == [
        (entry.id, "planned", "2026-03-09")]
    _error(api.get("/api/v1/works?status=lost", as_="manager"), 422)
    _error(api.get("/api/v1/works", as_="surveyor"), 403)
    followed = api.ok("POST", f"/api/v1/works/{entry.id}/follow-ups", as_="manager",
                      json={"status": "in_progress", "note": "电缆沟已开挖", "next_follow_up": "2026-03-05"})
    assert (followed["status"], followed["next_follow_up"], followed["log"][-1]["note"]) == (
        "in_progress", "2026-03-05", "电缆沟已开挖")
    _error(api.post(f"/api/v1/works/{entry.id}/follow-ups", as_="manager", json={"status": "in_progress"}), 422)
    _error(api.post(f"/api/v1/works/{entry.id}/follow-ups", as_="dispatcher",
                    json={"status": "done", "note": "x"}), 403)
    _error(api.post("/api/v1/works/999999/follow-ups", as_="manager", json={"status": "done", "note": "x"}), 404)
    api.ok("POST", f"/api/v1/works/{entry.id}/follow-ups", as_="manager", json={"status": "done", "note": "已完工"})
    _error(api.post(f"/api/v1/works/{entry.id}/follow-ups", as_="manager", json={"status": "done", "note": "x"}),
           409)
    assert api.ok("GET", "/api/v1/works?status=all", as_="auditor")["items"][0]["status"] == "done"
    assert api.ok("GET", "/api/v1/works", as_="auditor")["total"] == 0


def test_the_operations_document_their_roles(api: Api) -> None:
    spec = api.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert set(paths["/api/v1/capacity/{code}/days/{day}"]["put"]["x-roles"]) == {"lead", "dispatcher", "supervisor"}
    assert set(paths["/api/v1/field-jobs/{job_no}/arrival"]["post"]["x-roles"]) == {"dispatcher", "surveyor", "metering"}
    assert "/api/v1/dispatch-lists.csv" in spec["paths"]


def test_a_date_beyond_the_booking_horizon_is_422_for_every_mode(api: Api) -> None:
    """Found by schemathesis: a by-date appointment in 6500 listed every day up to it in one statement;
    the horizon is two years (the forms' examples book a year ahead)."""
    [iid] = bare_cases(api.db, 1)
    for body in ({"mode": "by_date", "date": "6500-07-09"}, {"mode": "fixed", "date": "6500-07-09", "period": "am"},
                 {"mode": "by_date", "date": "9999-12-31"}):
        err = _error(api.post("/api/v1/appointments", as_="dispatcher",
                              json={"instance_id": iid, "job_type": "survey", **body}), 422)
        assert "date" in err["details"], err
    assert appointments.list_appointments(api.db, instance_id=iid) == []
