"""Administration over the API: users and groups, the working-day calendar; and staff notices."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from api.rest.calendar import CSV_EXAMPLE, _example_year
from engine.deadlines import calendar
from engine.core.models import notice_t
from tests.api_support import Api, api  # noqa: F401  (fixture)

U = "/api/v1/users"


def test_admin_creates_changes_and_deactivates_users(api: Api) -> None:
    body = {"username": "zhangwei", "password": "S3cure-pass", "display_name": "张伟", "groups": ["clerk"]}
    created = api.ok("POST", U, 201, as_="admin", json=body)
    assert created == {"username": "zhangwei", "display_name": "张伟", "groups": ["clerk"], "active": True}
    assert "password" not in created
    assert api.post(U, as_="admin", json=body).status_code == 409
    token = api.post("/api/v1/auth/token", json={"username": "zhangwei", "password": "S3cure-pass"})
    assert token.status_code == 200
    changed = api.ok("PATCH", f"{U}/zhangwei", as_="admin", json={"groups": ["clerk", "manager"]})
    assert changed["groups"] == ["clerk", "manager"]
    assert api.ok("GET", f"{U}/zhangwei", as_="auditor")["groups"] == ["clerk", "manager"]
    assert api.ok("DELETE", f"{U}/zhangwei", as_="admin")["active"] is False
    assert api.post("/api/v1/auth/token", json={"username": "zhangwei", "password": "S3cure-pass"}).status_code == 401
    assert api.ok("PATCH", f"{U}/zhangwei", as_="admin", json={"active": True})["active"] is True


def test_user_validation(api: Api) -> None:
    r = api.post(U, as_="admin", json={"username": "a b", "password": "short", "groups": ["wizard"]})
    assert r.status_code == 422
    assert set(r.get_json()["error"]["details"]) >= {"username", "password", "groups.0"}
    assert api.patch(f"{U}/nobody", as_="admin", json={"active": False}).status_code == 404
    assert api.delete(f"{U}/admin", as_="admin").status_code == 409  # not yourself


def test_only_admins_change_users_and_auditors_read(api: Api) -> None:
    assert api.ok("GET", f"{U}?page_size=100", as_="auditor")["total"] >= 12
    for role in ("auditor", "clerk", "supervisor", "channel"):
        assert api.post(U, as_=role, json={"username": "x1", "password": "12345678"}).status_code == 403
    assert api.get(U, as_="clerk").status_code == 403


def test_groups_are_listed_for_everyone(api: Api) -> None:
    groups = api.ok("GET", "/api/v1/groups", as_="channel")
    assert {"code": "clerk", "name": "营业厅受理员"} in groups


def test_calendar_import_and_export(api: Api) -> None:
    report = api.ok("POST", "/api/v1/calendar/2030", as_="admin", data=CSV_EXAMPLE, content_type="text/csv")
    assert report["year"] == 2030 and report["changed"] is True and report["holidays"] == 1
    again = api.ok("POST", "/api/v1/calendar/2030", as_="admin", data=CSV_EXAMPLE, content_type="text/csv")
    assert again["changed"] is False
    years = api.ok("GET", "/api/v1/calendar", as_="clerk")
    assert [y for y in years if y["year"] == 2030][0]["complete"] is True
    exported = api.get("/api/v1/calendar/2030", as_="clerk")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "2030-01-01,holiday,元旦" in exported.get_data(as_text=True)
    assert calendar.is_workday(api.db, dt.date(2030, 1, 2))
    assert api.get("/api/v1/calendar/2031", as_="clerk").status_code == 404


def test_calendar_import_problems(api: Api) -> None:
    r = api.post("/api/v1/calendar/2031", as_="admin", data=CSV_EXAMPLE, content_type="text/csv")
    assert r.status_code == 422  # the path says 2031, the file holds 2030
    partial = "\n".join(_example_year(2032).splitlines()[:100]) + "\n"
    r = api.post("/api/v1/calendar/2032", as_="admin", data=partial, content_type="text/csv")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_calendar"
    assert any("2032" in p for p in r.get_json()["error"]["details"])
    assert api.post("/api/v1/calendar/2030", as_="clerk", data=CSV_EXAMPLE, content_type="text/csv").status_code == 403


def test_notices_for_the_caller_and_acknowledgement(api: Api, clock) -> None:
    now = clock.now()
    with api.db.write() as conn:
        ids = conn.execute(insert(notice_t).returning(notice_t.c.id), [
            {"kind": "督办", "recipient_user": None, "recipient_group": "supervisor", "title": "督办：受理申请", "body": "请督办",
             "requires_ack": True, "created_at": now},
            {"kind": "预警", "recipient_user": "clerk", "recipient_group": None, "title": "预警：受理申请", "body": "已过半",
             "requires_ack": False, "created_at": now},
        ]).scalars().all()
    sup, clerk = ids
    assert [n["id"] for n in api.ok("GET", "/api/v1/notices", as_="supervisor")["items"]] == [sup]
    assert [n["id"] for n in api.ok("GET", "/api/v1/notices", as_="clerk")["items"]] == [clerk]
    assert api.ok("GET", "/api/v1/notices", as_="auditor")["total"] == 2
    assert api.post(f"/api/v1/notices/{sup}/acknowledge", as_="clerk").status_code == 404
    acked = api.ok("POST", f"/api/v1/notices/{sup}/acknowledge", as_="supervisor")
    assert acked["acknowledged_by"] == "supervisor" and acked["acknowledged_at"]
    assert api.post(f"/api/v1/notices/{sup}/acknowledge", as_="supervisor").status_code == 409
    assert api.ok("GET", "/api/v1/notices", as_="supervisor")["items"] == []
    assert len(api.ok("GET", "/api/v1/notices?open=false", as_="supervisor")["items"]) == 1
