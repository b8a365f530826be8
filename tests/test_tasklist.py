"""The task list (issue #14): text search, follow-up days, saved filters, claim-and-work, the next
task after completing, hand-on from the task page; the 403 page in Chinese. On SQLite and
PostgreSQL: the search runs SQL (LIKE with escapes) that the two dialects must agree on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from typing import Any

import pytest

from api import auth
from api.app import create_app
from engine.core import actors, config, queries, runtime, users, worklist, worklist_prefs
from engine.core import clock as engine_clock
from engine.core.db import Database
from engine.core.errors import Forbidden, InvalidData, NotFound
from engine.deadlines import rule_versions
from tests import process_helpers as ph
from tests.web_support import csrf_of, sign_in

CLERK = actors.Actor("clerk", frozenset({"clerk"}))
CUSTOMERS = (("王小明", "13800000001"), ("李%四", "13800000002"), ("O'Brien", "13800000003"))


def _accepted(db: Database, name: str, mobile: str) -> int:
    iid = ph.start_case(db)
    ph.complete(db, iid, "accept", ph.example("accept", customer_name=name, mobile=mobile))
    return iid


@pytest.fixture
def cases(calendar_db: Database, clock: engine_clock.FixedClock) -> tuple[Database, list[int]]:
    rule_versions.seed_rule_sets(calendar_db)
    ph.deploy(calendar_db)
    return calendar_db, [_accepted(calendar_db, n, m) for n, m in CUSTOMERS]


def _open_of(db: Database, iid: int) -> worklist.WorkItemView:
    [item] = worklist.items(db, worklist.TaskFilter(instance_id=iid))
    return item


def test_text_search_and_follow_up_are_fields_of_the_one_task_filter(cases: Any) -> None:
    db, iids = cases
    names = {f.name for f in fields(worklist.TaskFilter)}
    assert {"text", "follow_up_by"} <= names  # no second query: the lists' search is the filter's
    key = queries.get_instance(db, iids[0]).business_key
    assert key
    by = lambda **kw: sorted(r.instance_id for r in worklist.search(db, worklist.TaskFilter(**kw))[0])  # noqa: E731
    assert by(text=key) == [iids[0]]
    assert by(text="王小") == [iids[0]]
    assert by(text="13800000002") == [iids[1]]
    assert by(text="1380000000") == sorted(iids)
    # hostile input: % and _ match themselves, a quote is a character, a long string is cut, not an error
    assert by(text="%") == [iids[1]]
    assert by(text="_") == []
    assert by(text="O'Brien") == [iids[2]]
    assert by(text="'; DROP TABLE work_item; --") == []
    assert by(text="x" * 5000) == []
    assert worklist.search(db, worklist.TaskFilter(text="%"))[1] == 1  # the count agrees with the rows
    # the engine's items() reads the same filter
    assert [r.instance_id for r in worklist.items(db, worklist.TaskFilter(text="李%"))] == [iids[1]]
    # case search shares the one text match
    rows, total = queries.list_instances(db, query="%")
    assert (total, [r.id for r in rows]) == (1, [iids[1]])


def test_follow_up_days_filter_and_sort(cases: Any) -> None:
    db, iids = cases
    items = [_open_of(db, i) for i in iids]
    for item in items:
        runtime.claim(db, item.id, actor=CLERK)
    today = dt.date(2026, 3, 2)
    worklist_prefs.set_follow_up(db, items[2].id, today, actor=CLERK)
    worklist_prefs.set_follow_up(db, items[0].id, today + dt.timedelta(days=3), actor=CLERK)
    due = worklist.search(db, worklist.TaskFilter(assignee="clerk", follow_up_by=today))[0]
    assert [r.instance_id for r in due] == [iids[2]]
    ordered = worklist.search(db, worklist.TaskFilter(assignee="clerk"), sort="follow_up")[0]
    assert [r.instance_id for r in ordered] == [iids[2], iids[0], iids[1]]  # no day last
    assert ordered[0].follow_up_on == today
    worklist_prefs.set_follow_up(db, items[2].id, None, actor=CLERK)
    assert worklist.search(db, worklist.TaskFilter(assignee="clerk", follow_up_by=today))[1] == 0
    # only the holder (or the group while nobody holds it) sets it
    with pytest.raises(Forbidden):
        worklist_prefs.set_follow_up(db, items[1].id, today, actor=actors.Actor("clerk2", frozenset({"clerk"})))
    with pytest.raises(NotFound):
        worklist_prefs.set_follow_up(db, "no-such-task", today, actor=CLERK)


def test_saved_filters_are_their_owners_only(cases: Any) -> None:
    db, _iids = cases
    mine = worklist_prefs.save_filter(db, "clerk", "急件", {"scope": "group", "q": "王", "evil": "x" * 500})
    assert mine.params == {"scope": "group", "q": "王"}  # unknown keys dropped
    worklist_prefs.save_filter(db, "clerk", "急件", {"overdue": "1"})  # same name: replaced
    assert [(f.name, f.params) for f in worklist_prefs.saved_filters(db, "clerk")] == [("急件", {"overdue": "1"})]
    assert worklist_prefs.saved_filters(db, "clerk2") == []
    with pytest.raises(NotFound):
        worklist_prefs.get_filter(db, "clerk2", mine.id)
    with pytest.raises(NotFound):
        worklist_prefs.delete_filter(db, "clerk2", mine.id)
    assert len(worklist_prefs.saved_filters(db, "clerk")) == 1
    with pytest.raises(InvalidData):
        worklist_prefs.save_filter(db, "clerk", "", {})
    with pytest.raises(InvalidData):
        worklist_prefs.save_filter(db, "clerk", "名" * 61, {})
    worklist_prefs.delete_filter(db, "clerk", mine.id)
    assert worklist_prefs.saved_filters(db, "clerk") == []


# -- the pages ------------------------------------------------------------------------------------------

@pytest.fixture
def app(cases: Any) -> Any:
    db, _iids = cases
    for name, groups in (("clerk", ["clerk"]), ("clerk2", ["clerk"]), ("surveyor", ["surveyor"])):
        users.upsert_user(db, name, "demo", groups, display_name={"clerk": "张受理", "clerk2": "李受理"}.get(name, name))
    auth.reset_throttle()
    settings = config.Settings(database_url=str(db.engine.url), secret_key="test", demo=True)
    return create_app(settings, db=db)


def test_list_search_hostile_input_and_saved_filters_on_the_page(app: Any, cases: Any) -> None:
    db, iids = cases
    client = sign_in(app, "clerk")
    page = client.get("/tasks/group?q=%25")
    assert page.status_code == 200 and page.text.count('data-testid="task-row"') == 1
    assert client.get("/tasks/group?q=" + "'" * 3000).status_code == 200
    assert client.get("/tasks/group?q=13800000003").text.count('data-testid="task-row"') == 1
    assert client.get("/tasks/group?sort=nonsense&follow_up=due").status_code == 200
    token = csrf_of(page.text)
    saved = client.post("/tasks/filters", data={"csrf_token": token, "name": "李四的", "scope": "group", "q": "李%"})
    assert saved.status_code == 302 and "q=" in saved.headers["Location"]
    [f] = worklist_prefs.saved_filters(db, "clerk")
    opened = client.get(f"/tasks/filters/{f.id}")
    assert opened.status_code == 302 and opened.headers["Location"].startswith("/tasks/group?")
    listed = client.get(opened.headers["Location"])
    assert "李四的" in listed.text and listed.text.count('data-testid="task-row"') == 1
    other = sign_in(app, "clerk2")
    assert "李四的" not in other.get("/tasks").text
    assert other.get(f"/tasks/filters/{f.id}").status_code == 404
    other.post(f"/tasks/filters/{f.id}/delete", data={"csrf_token": csrf_of(other.get("/tasks").text)})
    assert len(worklist_prefs.saved_filters(db, "clerk")) == 1
    client.post(f"/tasks/filters/{f.id}/delete", data={"csrf_token": token})
    assert worklist_prefs.saved_filters(db, "clerk") == []


def test_claim_and_work_then_the_next_task_then_the_list(app: Any, cases: Any) -> None:
    db, iids = cases
    client = sign_in(app, "clerk")
    page = client.get("/tasks/group")
    assert page.text.count('data-testid="claim-and-work"') == 3
    first, second = _open_of(db, iids[0]), _open_of(db, iids[1])
    token = csrf_of(page.text)
    claimed = client.post(f"/tasks/{first.id}/claim", data={"csrf_token": token})
    assert claimed.headers["Location"] == f"/tasks/{first.id}"
    client.post(f"/tasks/{second.id}/claim", data={"csrf_token": token})
    data = ph.offered(db, first, ph.example(first.form_schema))
    done = client.post(f"/tasks/{first.id}/complete", json={"data": data}, headers={"X-CSRF-Token": token}).get_json()
    assert done["ok"], done
    # the case's next step (预约上门) is the dispatcher's, so the clerk goes on with the next task they hold
    assert {i.candidate_group for i in worklist.items(db, worklist.TaskFilter(instance_id=iids[0]))} == {"dispatcher"}
    assert done["redirect"] == f"/tasks/{second.id}"
    data = ph.offered(db, second, ph.example(second.form_schema))
    done = client.post(f"/tasks/{second.id}/complete", json={"data": data}, headers={"X-CSRF-Token": token}).get_json()
    assert done["redirect"] == "/tasks"
    assert "您手上已没有待办任务" in client.get("/tasks").text


def test_follow_up_and_hand_on_from_the_task_page(app: Any, cases: Any) -> None:
    db, iids = cases
    item = _open_of(db, iids[0])
    client = sign_in(app, "clerk")
    page = client.get(f"/tasks/{item.id}")
    token = csrf_of(page.text)
    assert 'data-testid="delegate-to"' in page.text and "李受理" in page.text and '<option value="clerk">' not in page.text
    client.post(f"/tasks/{item.id}/claim", data={"csrf_token": token})
    bad = client.post(f"/tasks/{item.id}/follow-up", data={"csrf_token": token, "follow_up_on": "3月5日"},
                      follow_redirects=True)
    assert "YYYY-MM-DD" in bad.text or "日期" in bad.text
    client.post(f"/tasks/{item.id}/follow-up", data={"csrf_token": token, "follow_up_on": "2026-03-04"})
    assert queries.get_work_item(db, item.id).follow_up_on == dt.date(2026, 3, 4)
    due = client.get("/tasks?follow_up=due").text
    assert due.count('data-testid="task-row"') == 0  # not yet due on 2 March
    assert client.get("/tasks?sort=follow_up").text.count("2026-03-04") >= 1
    nothing = client.post(f"/tasks/{item.id}/delegate", data={"csrf_token": token, "assignee": "clerk2", "note": ""},
                          follow_redirects=True)
    assert "请填写转办原因" in nothing.text and queries.get_work_item(db, item.id).assignee == "clerk"
    outsider = client.post(f"/tasks/{item.id}/delegate", data={"csrf_token": token, "assignee": "surveyor",
                                                              "note": "休假"}, follow_redirects=True)
    assert "不属于任务所在的组" in outsider.text and queries.get_work_item(db, item.id).assignee == "clerk"
    handed = client.post(f"/tasks/{item.id}/delegate", data={"csrf_token": token, "assignee": "clerk2",
                                                            "note": "本人休假，转同组处理"}, follow_redirects=True)
    assert "已转给李受理办理" in handed.text and queries.get_work_item(db, item.id).assignee == "clerk2"


def test_a_forbidden_page_says_in_chinese_whom_it_is_for(app: Any) -> None:
    client = sign_in(app, "clerk")
    page = client.get("/tasks/all")
    assert page.status_code == 403
    assert "本页面仅供以下角色使用" in page.text and "this needs one of the roles" not in page.text
    assert "supervisor" not in page.text.split("<main", 1)[-1].split("</main>")[0]
