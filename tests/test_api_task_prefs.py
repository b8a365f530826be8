"""The task list's page features over REST: search (`q`), follow-up days (`follow_up_by`, PUT
/tasks/{id}/follow-up) and the caller's own saved filters — with hostile input and other users' data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from engine.core import queries, worklist_prefs
from engine.core.models import instance_t
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.test_api_tasks import T, start


def _ids(api: Api, as_: str = "clerk", **params) -> list[str]:
    return [t["id"] for t in api.ok("GET", T, as_=as_, query_string=params)["items"]]


def test_search_by_application_number_customer_and_mobile(api: Api) -> None:
    a, b = start(api, 2)
    for item, values in ((a, {"business_key": "KZ20260302-0007", "customer_name": "张伟",
                              "customer_mobile": "13912345678"}),
                         (b, {"business_key": "KZ20260302-0008", "customer_name": "李娜",
                              "customer_mobile": "13800000000"})):
        with api.db.write() as conn:
            conn.execute(update(instance_t).where(instance_t.c.id == queries.get_work_item(api.db, item).instance_id)
                         .values(**values))
    assert _ids(api, q="0302-0007") == [a] and _ids(api, q="张伟") == [a] and _ids(api, q="138000") == [b]
    assert sorted(_ids(api, q="KZ2026")) == sorted([a, b])
    assert _ids(api, q="无此客户") == []
    assert _ids(api, as_="surveyor", q="张伟") == []  # search never widens what the caller may see
    # LIKE wildcards and quotes are text, not patterns or SQL
    for hostile in ("%", "_", "\\", "' OR '1'='1", "%%%_"):
        assert _ids(api, q=hostile) == [], hostile
    too_long = api.get(T, as_="clerk", query_string={"q": "张" * 101})
    assert too_long.status_code == 422 and "q" in too_long.get_json()["error"]["details"]
    assert api.get(T, as_="clerk", query_string={"q": ""}).status_code == 422


def test_follow_up_day_set_filtered_sorted_and_cleared(api: Api, clock) -> None:
    a, b, c = start(api, 3)
    today = clock.now().date()
    body = api.ok("PUT", f"{T}/{a}/follow-up", as_="clerk", json={"follow_up_on": today.isoformat()})
    assert body == {"task_id": a, "follow_up_on": today.isoformat()}
    api.ok("PUT", f"{T}/{b}/follow-up", as_="clerk", json={"follow_up_on": (today + dt.timedelta(days=5)).isoformat()})
    assert _ids(api, follow_up_by=today.isoformat()) == [a]
    assert _ids(api, follow_up_by=(today + dt.timedelta(days=7)).isoformat(), sort="follow_up") == [a, b]
    assert _ids(api, sort="follow_up")[:2] == [a, b]  # tasks with a day first, soonest first
    listed = {t["id"]: t["follow_up_on"] for t in api.ok("GET", T, as_="clerk")["items"]}
    assert listed[a] == today.isoformat() and listed[c] is None
    api.ok("PUT", f"{T}/{a}/follow-up", as_="clerk", json={"follow_up_on": None})
    assert queries.get_work_item(api.db, a).follow_up_on is None
    # who may: not another group (cannot see it: 404), not the centre that sees but does not work it (403)
    assert api.request("PUT", f"{T}/{b}/follow-up", as_="surveyor", json={"follow_up_on": None}).status_code == 404
    assert api.request("PUT", f"{T}/{b}/follow-up", as_="supervisor", json={"follow_up_on": None}).status_code == 403
    assert api.request("PUT", f"{T}/{b}/follow-up", as_="auditor", json={"follow_up_on": None}).status_code == 403
    # hostile bodies
    for bad in ({"follow_up_on": "2026-02-30"}, {"follow_up_on": "next week"}, {"follow_up_on": 20260305}, {},
                {"follow_up_on": "2026-03-05", "extra": 1}):
        r = api.request("PUT", f"{T}/{b}/follow-up", as_="clerk", json=bad)
        assert r.status_code == 422, bad
    gone = api.request("PUT", f"{T}/no-such-task/follow-up", as_="clerk", json={"follow_up_on": None})
    assert gone.status_code == 404


def test_saved_filters_are_the_callers_own(api: Api) -> None:
    made = api.ok("POST", f"{T}/filters", 201, as_="clerk",
                  json={"name": "本周跟进", "params": {"scope": "mine", "follow_up": "due", "sort": "follow_up"}})
    assert made["name"] == "本周跟进" and made["params"] == {"scope": "mine", "follow_up": "due", "sort": "follow_up"}
    again = api.ok("POST", f"{T}/filters", 201, as_="clerk", json={"name": "本周跟进", "params": {"q": "张伟"}})
    assert again["id"] == made["id"] and again["params"] == {"q": "张伟"}  # the same name replaces
    assert [f["name"] for f in api.ok("GET", f"{T}/filters", as_="clerk")["items"]] == ["本周跟进"]
    assert api.ok("GET", f"{T}/filters", as_="clerk2")["items"] == []  # another user sees none of them
    # another user's filter: 404 on delete, and it stays
    assert api.request("DELETE", f"{T}/filters/{made['id']}", as_="clerk2").status_code == 404
    assert len(worklist_prefs.saved_filters(api.db, "clerk")) == 1
    assert api.request("DELETE", f"{T}/filters/{made['id']}", as_="clerk").status_code == 204
    assert api.request("DELETE", f"{T}/filters/{made['id']}", as_="clerk").status_code == 404
    assert api.request("DELETE", f"{T}/filters/0", as_="clerk").status_code == 404
    # hostile bodies: no name, a long one, unknown or oversize parameters, wrong types
    for bad in ({}, {"name": ""}, {"name": "长" * 61}, {"name": "x", "params": {"evil": "1"}},
                {"name": "x", "params": {"q": "张" * 101}}, {"name": "x", "params": {"sort": "id; drop"}},
                {"name": ["x"]}, {"name": "x", "params": "scope=all"}):
        r = api.request("POST", f"{T}/filters", as_="clerk", json=bad)
        assert r.status_code == 422, (bad, r.status_code)
    assert api.request("POST", f"{T}/filters", as_="channel", json={"name": "x"}).status_code == 403
    assert api.request("GET", f"{T}/filters").status_code == 401
    for n in range(worklist_prefs.PER_USER):
        api.ok("POST", f"{T}/filters", 201, as_="clerk2", json={"name": f"筛选{n}"})
    full = api.request("POST", f"{T}/filters", as_="clerk2", json={"name": "再多一个"})
    assert full.status_code == 422


def test_openapi_documents_the_new_operations_with_examples(api: Api) -> None:
    spec = api.ok("GET", "/api/v1/openapi.json")
    params = {p["name"] for p in spec["paths"][T]["get"]["parameters"]}
    assert {"q", "follow_up_by"} <= params
    assert "example" in str(spec["paths"][f"{T}/filters"]["post"]["requestBody"])
    assert "example" in str(spec["paths"][f"{T}/{{task_id}}/follow-up"]["put"]["requestBody"])
    assert spec["paths"][f"{T}/filters/{{filter_id}}"]["delete"]["x-roles"]
