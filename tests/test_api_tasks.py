"""The Camunda-like task API: filters, sorting, visibility, form detail, claim/unclaim/delegate/complete."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from engine.core import queries
from engine.core.models import instance_t, work_item_t
from tests.api_support import Api, accept_example, api  # noqa: F401  (fixture)

T = "/api/v1/tasks"


def start(api: Api, n: int = 1) -> list[str]:
    """Start `n` counter cases; returns their accept task ids."""
    ids = []
    for _ in range(n):
        out = api.ok("POST", "/api/v1/process-instances", 201, as_="clerk",
                     json={"key": "new_connection", "data": {"channel": "counter"}})
        ids.append(out["new_items"][0]["id"])
    return ids


def set_item(api: Api, item_id: str, **values) -> None:
    with api.db.write() as conn:
        conn.execute(update(work_item_t).where(work_item_t.c.id == item_id).values(**values))


def test_staff_see_only_their_groups_and_their_own_tasks(api: Api) -> None:
    [a] = start(api)
    assert [t["id"] for t in api.ok("GET", T, as_="clerk")["items"]] == [a]
    assert api.ok("GET", T, as_="surveyor")["items"] == []
    assert api.ok("GET", T, as_="auditor")["total"] == 1
    assert api.get(f"{T}/{a}", as_="surveyor").status_code == 404  # not even its existence
    # delegated to someone outside the group's list? they see what they hold
    set_item(api, a, assignee="surveyor")
    assert [t["id"] for t in api.ok("GET", T, as_="surveyor")["items"]] == [a]


def test_task_detail_has_form_ui_schema_and_data(api: Api) -> None:
    [a] = start(api)
    d = api.ok("GET", f"{T}/{a}", as_="clerk")
    assert d["task_spec"] == "accept" and d["candidate_group"] == "clerk" and d["status"] == "open"
    assert d["form"]["title"] == "受理用电申请" and "examples" in d["form"]
    assert d["ui_schema"]["ui:order"][0] == "channel"
    assert d["data"] == {"channel": "counter"}
    assert d["instance_version"] >= 1 and d["overdue"] is False


def test_filters(api: Api, clock) -> None:
    a, b, c = start(api, 3)
    now = clock.now()
    set_item(api, a, due_at=now - dt.timedelta(hours=1), priority=50)
    set_item(api, b, due_at=now + dt.timedelta(days=3), priority=90)
    set_item(api, c, due_at=None, priority=10, assignee="clerk")
    iid_b = queries.get_work_item(api.db, b).instance_id
    with api.db.write() as conn:
        conn.execute(update(instance_t).where(instance_t.c.id == iid_b).values(business_type="hv_single"))

    def ids(query: str, as_: str = "clerk") -> list[str]:
        return [t["id"] for t in api.ok("GET", f"{T}?{query}", as_=as_)["items"]]

    assert ids("overdue=true") == [a]
    assert api.ok("GET", f"{T}?overdue=true", as_="clerk")["items"][0]["overdue"] is True
    assert set(ids("overdue=false")) == {b, c}
    assert ids("due_before=2026-03-03T12:00:00%2B08:00") == [a]
    assert ids("business_type=hv_single") == [b]
    assert ids("assignee=me") == [c] and ids("assignee=clerk") == [c]
    assert set(ids("unassigned=true")) == {a, b}
    assert ids(f"instance={iid_b}") == [b]
    assert set(ids("candidate_group=clerk")) == {a, b, c}
    assert ids("candidate_group=surveyor") == []
    assert ids("state=completed") == []


def test_sorting_by_due_date_and_priority(api: Api, clock) -> None:
    a, b, c = start(api, 3)
    now = clock.now()
    set_item(api, a, due_at=now + dt.timedelta(days=2), priority=50)
    set_item(api, b, due_at=now + dt.timedelta(days=1), priority=10)
    set_item(api, c, due_at=None, priority=90)

    def ids(sort: str) -> list[str]:
        return [t["id"] for t in api.ok("GET", f"{T}?sort={sort}", as_="clerk")["items"]]

    assert ids("due") == [b, a, c]  # no due date last
    assert ids("-due") == [a, b, c]
    assert ids("priority") == [c, a, b]
    assert ids("-priority") == [b, a, c]
    page = api.ok("GET", f"{T}?sort=due&page=2&page_size=2", as_="clerk")
    assert [t["id"] for t in page["items"]] == [c] and page["total"] == 3


def test_claim_unclaim_and_conflicts(api: Api) -> None:
    [a] = start(api)
    assert api.ok("POST", f"{T}/{a}/claim", as_="clerk")["assignee"] == "clerk"
    assert api.ok("POST", f"{T}/{a}/claim", as_="clerk")["assignee"] == "clerk"  # idempotent
    r = api.post(f"{T}/{a}/claim", as_="clerk2")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
    assert api.post(f"{T}/{a}/unclaim", as_="clerk2").status_code == 403
    assert api.post(f"{T}/{a}/claim", as_="auditor").status_code == 403
    assert api.ok("POST", f"{T}/{a}/unclaim", as_="clerk")["assignee"] is None
    assert api.post(f"{T}/{a}/claim", as_="surveyor").status_code == 404  # not its group: not visible


def test_delegate_within_the_group(api: Api) -> None:
    [a] = start(api)
    api.ok("POST", f"{T}/{a}/claim", as_="clerk")
    r = api.post(f"{T}/{a}/delegate", as_="clerk", json={"assignee": "surveyor"})
    assert r.status_code == 422 and "assignee" in r.get_json()["error"]["details"]
    assert api.post(f"{T}/{a}/delegate", as_="clerk", json={"assignee": "nobody"}).status_code == 422
    assert api.post(f"{T}/{a}/delegate", as_="clerk2", json={"assignee": "clerk2"}).status_code == 409
    out = api.ok("POST", f"{T}/{a}/delegate", as_="clerk", json={"assignee": "clerk2", "note": "休假"})
    assert out["assignee"] == "clerk2"
    history = api.ok("GET", f"/api/v1/process-instances/{out['instance_id']}/history", as_="clerk")
    delegated = [e for e in history["items"] if e["type"] == "task_delegated"]
    assert delegated[0]["payload"] == {"from": "clerk", "to": "clerk2", "note": "休假"}
    assert history["chain_ok"] is True


def test_complete_validates_per_field_and_reports_conflicts(api: Api) -> None:
    [a] = start(api)
    bad = {**accept_example(0), "mobile": "123", "id_number": "110101199003070012"}
    r = api.post(f"{T}/{a}/complete", as_="clerk", json={"data": bad})
    assert r.status_code == 422
    details = r.get_json()["error"]["details"]
    assert details["mobile"] == ["请输入11位手机号码（1开头，第二位3-9）"]
    assert "id_number" in details
    # someone else holds it: 409
    api.ok("POST", f"{T}/{a}/claim", as_="clerk2")
    r = api.post(f"{T}/{a}/complete", as_="clerk", json={"data": accept_example(0)})
    assert r.status_code == 409
    # a stale version: 409 (`expected_version` is the deprecated alias of `instance_version`)
    seen = api.ok("GET", f"{T}/{a}", as_="clerk2")["instance_version"]
    for field in ("instance_version", "expected_version"):
        r = api.post(f"{T}/{a}/complete", as_="clerk2", json={"data": accept_example(0), field: seen - 1})
        assert r.status_code == 409
    r = api.post(f"{T}/{a}/complete", as_="clerk2",
                 json={"data": accept_example(0), "instance_version": seen, "expected_version": seen - 1})
    assert r.status_code == 422 and "expected_version" in r.get_json()["error"]["details"]
    out = api.ok("POST", f"{T}/{a}/complete", as_="clerk2", json={"data": accept_example(0), "instance_version": seen})
    assert out["status"] in ("running", "waiting") and out["instance_version"] == out["version"] == seen + 1
    # done: no longer open
    r = api.post(f"{T}/{a}/complete", as_="clerk2", json={"data": accept_example(0)})
    assert r.status_code == 409
    assert api.ok("GET", f"{T}/{a}", as_="clerk2")["status"] == "completed"
    done = api.ok("GET", f"{T}?state=completed&assignee=me", as_="clerk2")["items"]
    assert [t["id"] for t in done] == [a]


def test_completing_moves_the_work_to_the_next_group(api: Api) -> None:
    [a] = start(api)
    api.ok("POST", f"{T}/{a}/complete", as_="clerk", json={"data": accept_example(0)})
    assert a not in [t["id"] for t in api.ok("GET", T, as_="clerk")["items"]]
    following = api.ok("GET", T, as_="auditor")["items"]
    assert following
    for task in following:  # each new task is visible to its own group
        group = task["candidate_group"]
        assert task["id"] in [t["id"] for t in api.ok("GET", T, as_=group)["items"]]


def test_task_detail_is_one_transaction_with_one_read_of_the_work_item(api: Api) -> None:
    """`GET /tasks/{id}` reads the task, its case and its form in one transaction, the row once.

    A steady request: the caller signed in a moment ago, so the user and groups come from the
    short-lived sign-in cache and the whole request is that one transaction.
    """
    import re

    from sqlalchemy import event

    [a] = start(api)
    api.ok("GET", f"{T}/{a}", as_="clerk")  # tokens issued, definition cached: count a steady request
    transactions: list[list[str]] = []

    def on_begin(_conn) -> None:
        transactions.append([])

    def on_statement(_conn, _cursor, statement, *_args) -> None:
        if statement.strip().upper().startswith("BEGIN"):
            return
        transactions[-1].append(statement) if transactions else transactions.append([statement])

    engine = api.db.engine
    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        detail = api.ok("GET", f"{T}/{a}", as_="clerk")
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_statement)
    assert detail["id"] == a and detail["instance_version"] >= 1
    assert len(transactions) == 1, transactions
    assert sum(bool(re.search(r"\bFROM work_item\b", s)) for s in transactions[0]) == 1, transactions[0]
