"""Keyset pages of the work list (issue 17): a cursor after the last row's sort key and id pages through
exactly the rows that page numbers give, in every sort (NULL deadlines, ties); the count stops at a cap;
hostile cursors (garbage, tampered, forged for another sort, wrong types) are 422, never SQL; page
numbers still work for existing clients; the /tasks page offers the next page by key past the cap."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from sqlalchemy import insert

from engine.core import keyset, worklist
from engine.core.clock import FixedClock
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.models import work_item_t
from engine.core.worklist import TaskFilter
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.process_helpers import deploy, start_case
from tests.web_support import sign_in

T = "/api/v1/tasks"
KEY = "a-test-key"


def grow(db: Database, now: dt.datetime, n: int, *, iid: int | None = None) -> None:
    """`n` open clerk items with NULL deadlines, equal deadlines, equal priorities and equal ages."""
    if iid is None:
        deploy(db)
        iid = start_case(db)
    rows = [{"id": f"k{i:05d}", "instance_id": iid, "process_key": "new_connection", "task_spec": "accept",
             "name": "受理申请", "candidate_group": "clerk", "status": "open", "priority": (10, 50, 90)[i % 3],
             "created_at": now - dt.timedelta(minutes=i % 7),
             "due_at": None if i % 5 == 0 else now + dt.timedelta(hours=i % 4)} for i in range(n)]
    with db.write() as conn:
        conn.execute(insert(work_item_t), rows)


@pytest.mark.parametrize("sort", [*worklist.SORTS])
def test_keyset_pages_equal_numbered_pages_in_every_sort(db: Database, clock: FixedClock, sort: str) -> None:
    grow(db, clock.now(), 47)
    where = TaskFilter(candidate_group="clerk")
    everything, total = worklist.search(db, where, sort=sort, limit=500)
    assert total == 48  # the case's own accept task too
    walked: list[str] = []
    after = None
    while True:
        rows, _ = worklist.search(db, where, sort=sort, limit=10, after=after)
        walked += [r.id for r in rows]
        if len(rows) < 10:
            break
        after = worklist.decode_cursor(worklist.cursor_after(rows[-1], sort, KEY), sort, KEY)
    assert walked == [r.id for r in everything]


def test_count_stops_at_the_cap(db: Database, clock: FixedClock) -> None:
    grow(db, clock.now(), 30)
    rows, total = worklist.search(db, TaskFilter(candidate_group="clerk"), limit=5, count_cap=12)
    assert total == 12 and len(rows) == 5


def _forge(payload: dict, key: str = KEY) -> str:
    body = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + keyset._sign(body, key)


@pytest.mark.parametrize("token", [
    "garbage", "", "a.b.c", "!!!.???", "x" * 2000,
    _forge({"s": "due", "k": [None, 50, "2026-01-01T00:00:00+00:00", "x"]}, key="another-key"),
    _forge({"s": "-due", "k": [None, 50, "2026-01-01T00:00:00+00:00", "x"]}),  # another sort
    _forge({"s": "due", "k": ["not a time", 50, "2026-01-01T00:00:00+00:00", "x"]}),
    _forge({"s": "due", "k": [None, "50; DROP TABLE work_item", "2026-01-01T00:00:00+00:00", "x"]}),
    _forge({"s": "due", "k": [None, 50, "2026-01-01T00:00:00", "x"]}),  # naive time
    _forge({"s": "due", "k": [None, 50, None, "x"]}),  # NULL where none can be
    _forge({"s": "due", "k": [None, 50]}),
    _forge(["due"]),
])
def test_hostile_cursors_are_refused(token: str) -> None:
    with pytest.raises(InvalidData):
        worklist.decode_cursor(token, "due", KEY)


def test_a_tampered_cursor_is_refused() -> None:
    good = keyset.encode("due", [None, 50, "2026-01-01T00:00:00+00:00", "k00001"], KEY)
    body, mac = good.split(".")
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw["k"][3] = "k99999"
    tampered = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=") + "." + mac
    assert worklist.decode_cursor(good, "due", KEY)[3] == "k00001"
    with pytest.raises(InvalidData):
        worklist.decode_cursor(tampered, "due", KEY)


def test_rest_cursor_pages_and_page_numbers_still_work(api: Api, clock: FixedClock) -> None:
    deploy(api.db)
    grow(api.db, clock.now(), 24, iid=start_case(api.db))
    first = api.ok("GET", T, as_="clerk", query_string={"page_size": 10})
    assert first["total"] == 25 and first["total_capped"] is False and first["next_cursor"]
    ids = [t["id"] for t in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.ok("GET", T, as_="clerk", query_string={"page_size": 10, "cursor": cursor})
        ids += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
    numbered = [t["id"] for p in (1, 2, 3)
                for t in api.ok("GET", T, as_="clerk", query_string={"page_size": 10, "page": p})["items"]]
    assert ids == numbered and len(set(ids)) == 25
    # a cursor of one sort given with another, garbage, or a tampered one: 422 with the field named
    for bad in ({"cursor": first["next_cursor"], "sort": "-due"}, {"cursor": "garbage"},
                {"cursor": first["next_cursor"][:-3] + "AAA"}, {"cursor": "x" * 1001}):
        r = api.get(T, as_="clerk", query_string=bad)
        assert r.status_code == 422, (bad, r.get_json())


def test_rest_total_is_capped(api: Api, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worklist, "COUNT_CAP", 10)
    monkeypatch.setattr(worklist.search, "__kwdefaults__", {**worklist.search.__kwdefaults__, "count_cap": 10})
    deploy(api.db)
    grow(api.db, clock.now(), 14, iid=start_case(api.db))
    out = api.ok("GET", T, as_="clerk", query_string={"page_size": 5})
    assert out["total"] == 10 and out["total_capped"] is True and out["next_cursor"]


def test_tasks_page_offers_later_tasks_past_the_cap(api: Api, clock: FixedClock,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worklist, "COUNT_CAP", 20)
    monkeypatch.setattr(worklist.search, "__kwdefaults__", {**worklist.search.__kwdefaults__, "count_cap": 20})
    deploy(api.db)
    grow(api.db, clock.now(), 44, iid=start_case(api.db))
    client = sign_in(api.app, "clerk")
    page = client.get("/tasks/group")
    assert page.status_code == 200
    assert "至少 20 项任务" in page.text and 'data-testid="later-page"' in page.text
    href = page.text.split('data-testid="later-page" href="')[1].split('"')[0].replace("&amp;", "&")
    later = client.get(href)
    assert later.status_code == 200 and 'data-testid="first-page"' in later.text
    assert later.text.count('data-testid="task-row"') == 20
    again = client.get(later.text.split('data-testid="later-page" href="')[1].split('"')[0].replace("&amp;", "&"))
    assert again.text.count('data-testid="task-row"') == 5 and 'data-testid="later-page"' not in again.text
    assert client.get("/tasks/group?cursor=garbage").status_code == 422
