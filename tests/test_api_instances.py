"""Definitions, deployments and process instances over the API: start, read, history, cancel, retry,
messages, SLA clocks with pause/resume, replay."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from engine.core import definitions, services
from tests.api_support import Api, accept_example, api, seed_deadlines  # noqa: F401  (fixture)
from tests.conftest import ENGINE_MODEL

I = "/api/v1/process-instances"


def example_bpmn() -> str:
    from api.rest.schemas import EXAMPLE_BPMN as text

    return text


def start(api: Api, data: dict | None = None, **kw) -> dict:
    return api.ok("POST", I, 201, as_="clerk", json={"key": "new_connection", "data": data or {"channel": "counter"},
                                                     **kw})


def test_definitions_are_listed_and_described(api: Api) -> None:
    page = api.ok("GET", "/api/v1/process-definitions?latest=true&page_size=100", as_="analyst")
    keys = {d["key"] for d in page["items"]}
    assert "new_connection" in keys and page["total"] == len(keys)
    nc = api.ok("GET", "/api/v1/process-definitions?key=new_connection", as_="clerk")["items"][0]
    detail = api.ok("GET", f"/api/v1/process-definitions/{nc['id']}", as_="clerk")
    assert "accept.schema.json" in detail["forms"]
    assert any(t["id"] == "accept" and t["group"] == "clerk" for t in detail["user_tasks"])
    assert api.get("/api/v1/process-definitions/99999", as_="clerk").status_code == 404


def test_analyst_deploys_json_and_multipart(api: Api) -> None:
    r = api.post("/api/v1/deployments", as_="analyst", json={"files": {"meter_check.bpmn": example_bpmn()},
                                                            "note": "首版"})
    assert r.status_code == 201, r.get_json()
    [res] = r.get_json()["results"]
    assert res["key"] == "meter_check" and res["version"] == 1 and res["created"] is True
    # the same content again: unchanged
    again = api.ok("POST", "/api/v1/deployments", 201, as_="analyst",
                   json={"files": {"meter_check.bpmn": example_bpmn()}})
    assert again["results"][0]["created"] is False
    changed = example_bpmn().replace("电能表现场校验", "电能表现场校验（修订）")
    r = api.post("/api/v1/deployments", as_="analyst", content_type="multipart/form-data",
                 data={"files": [(io.BytesIO(changed.encode()), "meter_check.bpmn")], "note": "修订"})
    assert r.status_code == 201 and r.get_json()["results"][0]["version"] == 2
    listed = api.ok("GET", "/api/v1/deployments", as_="auditor")["items"]
    assert listed[0]["key"] == "meter_check" and listed[0]["version"] == 2 and listed[0]["deployed_by"] == "analyst"
    assert api.post("/api/v1/deployments", as_="clerk", json={"files": {"x.bpmn": example_bpmn()}}).status_code == 403


def test_invalid_deployment_lists_problems(api: Api) -> None:
    broken = example_bpmn().replace('name="装表接电班组"', 'name="没有这个组"')
    r = api.post("/api/v1/deployments", as_="analyst", json={"files": {"meter_check.bpmn": broken}})
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_definition"
    assert any(p["file"] == "meter_check.bpmn" and p["line"] for p in err["details"])
    r = api.post("/api/v1/deployments", as_="analyst", json={"files": {"notes.txt": "x"}})
    assert r.status_code == 422
    r = api.post("/api/v1/deployments", as_="analyst", data="x", content_type="text/plain")
    assert r.status_code == 415


def test_start_read_search(api: Api) -> None:
    out = start(api, business_key="GY-2026-0001")
    assert out["status"] == "running" and out["new_items"][0]["task_spec"] == "accept"
    inst = api.ok("GET", f"{I}/{out['instance_id']}", as_="surveyor")  # any staff member reads cases
    assert inst["key"] == "new_connection" and inst["business_key"] == "GY-2026-0001"
    assert inst["data"] == {"channel": "counter"} and inst["open_items"][0]["candidate_group"] == "clerk"
    found = api.ok("GET", f"{I}?q=GY-2026", as_="clerk")
    assert [i["id"] for i in found["items"]] == [out["instance_id"]]
    assert api.ok("GET", f"{I}?status=completed", as_="clerk")["total"] == 0
    r = api.post(I, as_="clerk", json={"key": "new_connection", "business_key": "GY-2026-0001"})
    assert r.status_code == 409
    assert api.post(I, as_="clerk", json={"key": "no_such_process"}).status_code == 404
    assert api.post(I, as_="surveyor", json={"key": "new_connection"}).status_code == 403


def test_history_is_chained_and_paginated(api: Api) -> None:
    out = start(api)
    item = out["new_items"][0]["id"]
    api.ok("POST", f"/api/v1/tasks/{item}/claim", as_="clerk")
    api.ok("POST", f"/api/v1/tasks/{item}/unclaim", as_="clerk")
    h = api.ok("GET", f"{I}/{out['instance_id']}/history", as_="auditor")
    assert h["chain_ok"] is True and h["chain_problem"] is None
    assert [e["type"] for e in h["items"]] == ["instance_started", "task_claimed", "task_unclaimed"]
    assert [e["seq"] for e in h["items"]] == [1, 2, 3]
    second = api.ok("GET", f"{I}/{out['instance_id']}/history?page=2&page_size=2", as_="auditor")
    assert [e["type"] for e in second["items"]] == ["task_unclaimed"] and second["total"] == 3


def test_cancel_and_messages(api: Api) -> None:
    out = start(api)
    iid = out["instance_id"]
    assert api.post(f"{I}/{iid}/cancel", as_="clerk", json={"reason": "x"}).status_code == 403
    r = api.post(f"{I}/{iid}/messages", as_="clerk", json={"name": "no_such_message"})
    assert r.status_code == 409
    cancelled = api.ok("POST", f"{I}/{iid}/cancel", as_="supervisor", json={"reason": "重复申请"})
    assert cancelled["status"] == "cancelled"
    assert api.post(f"{I}/{iid}/cancel", as_="supervisor", json={"reason": "again"}).status_code == 409
    assert api.post(f"{I}/{iid}/cancel", as_="supervisor", json={}).status_code == 422
    assert api.ok("GET", "/api/v1/tasks", as_="clerk")["total"] == 0


@pytest.fixture
def flaky() -> Iterator[dict]:
    state = {"fail": True}

    def handler(call):
        if state["fail"]:
            raise RuntimeError("gateway timeout from the billing system")
        return {"ok": True, "amount": call.params["amount"]}

    services.service("test/flaky")(handler)
    yield state
    services.unregister("test/flaky")


def test_retry(api: Api, flaky: dict) -> None:
    definitions.deploy_paths(api.db, [ENGINE_MODEL / "service_retry.bpmn"], forms_dir=ENGINE_MODEL / "forms")
    running = start(api)
    assert api.post(f"{I}/{running['instance_id']}/retry", as_="supervisor").status_code == 409
    broken = api.ok("POST", I, 201, as_="clerk", json={"key": "service_retry", "data": {"amount": 100, "parts": 4}})
    assert broken["status"] == "error" and "gateway timeout" in broken["error"]["message"]
    assert api.post(f"{I}/{broken['instance_id']}/retry", as_="clerk").status_code == 403
    assert api.ok("POST", f"{I}/{broken['instance_id']}/retry", as_="supervisor")["status"] == "error"
    flaky["fail"] = False
    again = api.ok("POST", f"{I}/{broken['instance_id']}/retry", as_="supervisor")
    assert again["status"] == "running" and again["error"] is None


def test_sla_clocks_pause_and_resume(api: Api, clock) -> None:
    seed_deadlines(api.db)
    out = start(api)
    iid = out["instance_id"]
    item = out["new_items"][0]["id"]
    api.ok("POST", f"/api/v1/tasks/{item}/complete", as_="clerk", json={"data": accept_example(0)})
    clocks = api.ok("GET", f"{I}/{iid}/sla", as_="clerk")
    assert clocks["paused"] is False
    whole = [c for c in clocks["clocks"] if c["scope"] == "process"]
    assert whole and whole[0]["status"] == "running" and whole[0]["limit_workdays"] == 5
    assert api.post(f"{I}/{iid}/sla/pause", as_="clerk", json={"reason": "customer_documents"}).status_code == 403
    r = api.post(f"{I}/{iid}/sla/pause", as_="manager", json={"reason": "weather"})
    assert r.status_code == 422 and "reason" in r.get_json()["error"]["details"]
    reason = "customer_documents"
    paused = api.ok("POST", f"{I}/{iid}/sla/pause", as_="manager", json={"reason": reason, "note": "补资料"})
    assert paused["clocks"] >= 1
    assert api.ok("GET", f"{I}/{iid}/sla", as_="clerk")["paused"] is True
    assert api.post(f"{I}/{iid}/sla/pause", as_="manager", json={"reason": reason}).status_code == 409
    clock.advance(days=2)  # Monday 09:00 → Wednesday: two working days paused
    resumed = api.ok("POST", f"{I}/{iid}/sla/resume", as_="manager")
    assert resumed["clocks"] == paused["clocks"]
    after = [c for c in api.ok("GET", f"{I}/{iid}/sla", as_="clerk")["clocks"] if c["scope"] == "process"][0]
    assert after["paused_workdays"] == 2 and after["deadline_at"] > whole[0]["deadline_at"]
    assert api.post(f"{I}/{iid}/sla/resume", as_="manager").status_code == 409
    assert api.get(f"{I}/99999/sla", as_="clerk").status_code == 404


def test_replay_reproduces_the_case(api: Api) -> None:
    out = start(api)
    api.ok("POST", f"/api/v1/tasks/{out['new_items'][0]['id']}/complete", as_="clerk", json={"data": accept_example(0)})
    report = api.ok("POST", f"{I}/{out['instance_id']}/replay", as_="auditor")
    assert report["ok"] is True and report["divergence"] is None and report["inputs"] == 2
    assert api.post(f"{I}/{out['instance_id']}/replay", as_="clerk").status_code == 403
