"""The auditor's API: history filters, a case as of an event, the case file, chain verification, KPIs."""

from __future__ import annotations

from sqlalchemy import update

from engine.core.models import event_t
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.process_helpers import run

I = "/api/v1/process-instances"


def _case(api: Api, clock, name: str = "lv_res_merged") -> int:
    return run(name, api.db, clock).iid


def test_history_filters_by_type_and_actor(api: Api, clock) -> None:
    iid = _case(api, clock)
    everything = api.ok("GET", f"{I}/{iid}/history?page_size=100", as_="auditor")
    done = api.ok("GET", f"{I}/{iid}/history?type=task_completed&page_size=100", as_="auditor")
    assert done["total"] < everything["total"] and {e["type"] for e in done["items"]} == {"task_completed"}
    assert done["chain_ok"] is True
    two = api.ok("GET", f"{I}/{iid}/history?type=task_completed&type=instance_started&page_size=100", as_="clerk")
    assert {e["type"] for e in two["items"]} == {"task_completed", "instance_started"}
    clerk = api.ok("GET", f"{I}/{iid}/history?actor=demo-clerk&page_size=100", as_="auditor")
    assert clerk["items"] and {e["actor"] for e in clerk["items"]} == {"demo-clerk"}
    assert api.ok("GET", f"{I}/{iid}/history?actor=nobody", as_="auditor")["total"] == 0
    assert api.get(f"{I}/{iid}/history?type=Bad-Type!", as_="auditor").status_code == 422


def test_as_of_an_event(api: Api, clock) -> None:
    iid = _case(api, clock)
    first = api.ok("GET", f"{I}/{iid}/as-of/1", as_="auditor")
    assert first["event"]["type"] == "instance_started" and first["replay_ok"] is True
    assert [t["task_spec"] for t in first["open_tasks"]] == ["accept"]
    assert first["diagrams"][0]["active"] == ["accept"] and first["diagrams"][0]["xml"].startswith("<?xml")
    assert first["event"]["at"].endswith("+00:00") or "+" in first["event"]["at"]
    second = api.ok("GET", f"{I}/{iid}/as-of/2?xml=false", as_="supervisor")
    assert "xml" not in second["diagrams"][0]
    assert second["changes"]["customer_name"]["change"] == "added"
    assert second["scope"] == {"process": "new_connection", "call_activity": None, "task_spec": "accept"}
    last_seq = first["last_seq"]
    last = api.ok("GET", f"{I}/{iid}/as-of/{last_seq}", as_="analyst")
    assert last["status"] == "completed" and last["open_tasks"] == []
    r = api.get(f"{I}/{iid}/as-of/{last_seq + 1}", as_="auditor")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert api.get(f"{I}/{iid}/as-of/0", as_="auditor").status_code == 404
    assert api.get(f"{I}/99999/as-of/1", as_="auditor").status_code == 404
    assert api.get(f"{I}/{iid}/as-of/1?xml=maybe", as_="auditor").status_code == 422
    assert api.get(f"{I}/{iid}/as-of/1", as_="clerk").status_code == 403
    assert api.get(f"{I}/{iid}/as-of/1").status_code == 401


def test_case_file(api: Api, clock) -> None:
    iid = _case(api, clock)
    f = api.ok("GET", f"{I}/{iid}/case-file", as_="auditor")
    assert f["format"] == "yekuo-case-file/1" and f["instance"]["id"] == iid
    assert f["instance"]["status"] == "completed" and f["data"]["customer_name"]
    assert f["replay"]["ok"] is True and f["replay"]["divergence"] is None
    assert f["chain"]["ok"] is True and f["chain"]["events"] == len(f["history"])
    assert [e["seq"] for e in f["history"]] == list(range(1, len(f["history"]) + 1))
    assert isinstance(f["deadlines"], list) and isinstance(f["documents"], list)
    assert api.get(f"{I}/{iid}/case-file", as_="analyst").status_code == 403
    assert api.get(f"{I}/4242/case-file", as_="auditor").status_code == 404


def test_chains_name_the_first_bad_event(api: Api, clock) -> None:
    a = _case(api, clock)
    b = _case(api, clock, "withdraw_at_accept")
    ok = api.ok("GET", "/api/v1/audit/chains", as_="auditor")
    assert ok["ok"] is True and ok["checked"] >= 2 and ok["failures"] == 0
    assert ok["anchor"] == {"configured": False}
    with api.db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.instance_id == a, event_t.c.seq == 3)
                     .values(actor="mallory"))
    bad = api.ok("GET", "/api/v1/audit/chains?failures_only=true", as_="supervisor")
    assert bad["ok"] is False and bad["failures"] == 1
    [failure] = bad["chains"]
    assert (failure["instance_id"], failure["first_bad_seq"]) == (a, 3)
    assert "altered" in failure["message"]
    one = api.ok("GET", f"/api/v1/audit/chains?instance={b}", as_="auditor")
    assert one["checked"] == 1 and one["ok"] is True
    assert api.get("/api/v1/audit/chains?instance=99999", as_="auditor").status_code == 404
    assert api.get("/api/v1/audit/chains", as_="analyst").status_code == 403


def test_kpis_and_heatmap(api: Api, clock) -> None:
    _case(api, clock)
    report = api.ok("GET", "/api/v1/kpis?start=2027-02-01&end=2027-04-01", as_="analyst")
    assert report["totals"]["cases"] == 1
    assert [m["label"] for m in report["months"]] == ["2027-02", "2027-03"]
    assert report["months"][1]["cases"] == 1 and report["months"][0]["cases"] == 0
    # the installation job's call-back and the case's own 回访
    assert report["totals"]["satisfaction_rate"] == 1.0 and report["totals"]["callbacks"] == 2
    assert report["filters"]["start"] == "2027-02-01"
    other = api.ok("GET", "/api/v1/kpis?business_type=hv_single", as_="auditor")
    assert other["totals"]["cases"] == 0 and other["months"] == []
    team = api.ok("GET", "/api/v1/kpis?team=clerk", as_="supervisor")["totals"]
    assert set(team["waiting_hours"]) <= {"accept", "sign_standard", "check_file", "callback"}
    assert api.get("/api/v1/kpis?start=2027-04-01&end=2027-02-01", as_="auditor").status_code == 422
    assert api.get("/api/v1/kpis?team=nobody", as_="auditor").status_code == 422
    assert api.get("/api/v1/kpis", as_="clerk").status_code == 403
    heat = api.ok("GET", "/api/v1/kpis/heatmap?key=new_connection", as_="analyst")
    assert heat["key"] == "new_connection" and "<bpmn" in heat["xml"]
    assert heat["processes"][0]["process"] == "new_connection"
    assert {h["process"] for h in heat["elements"]} <= {p["process"] for p in heat["processes"]}
    names = {h["element"] for h in heat["elements"]}
    assert {"accept", "callback"} <= names
    assert all(h["count"] >= 1 and h["avg_hours"] <= h["max_hours"] + 1e-9 for h in heat["elements"])
    assert api.get("/api/v1/kpis/heatmap?key=nope", as_="analyst").status_code == 404
    assert api.get("/api/v1/kpis/heatmap", as_="analyst").status_code == 422


def test_chains_report_the_newest_anchor(api: Api, clock, tmp_path) -> None:
    import dataclasses

    from engine.audit import anchor

    iid = _case(api, clock)
    app = api.app
    settings = dataclasses.replace(app.extensions["yekuo.settings"], anchor_key="k" * 32, anchor_dir=tmp_path / "anchors")
    app.extensions["yekuo.settings"] = settings
    none_yet = api.ok("GET", "/api/v1/audit/chains", as_="auditor")["anchor"]
    assert none_yet["configured"] is True and none_yet["file"] is None
    anchor.write(anchor.create(api.db, b"k" * 32), tmp_path / "anchors")
    holds = api.ok("GET", "/api/v1/audit/chains", as_="auditor")["anchor"]
    assert holds["ok"] is True and holds["checked"] == 1
    # the head event no longer has the anchored hash (as after a rewrite)
    with api.db.write() as conn:
        from engine.core.models import instance_t

        last = conn.execute(instance_t.select().where(instance_t.c.id == iid)).first().event_seq
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == last)
                     .values(hash="0" * 64))
    broken = api.ok("GET", "/api/v1/audit/chains", as_="auditor")
    assert broken["anchor"]["ok"] is False and "rewritten" in broken["anchor"]["problems"][0]
    assert broken["ok"] is False


def test_kpis_by_field_team_and_heatmap_across_versions(api: Api, clock) -> None:
    _case(api, clock, "hv_single_ordinary")  # urban survey team CQ-KC1, urban meter team CQ-ZB1
    everyone = api.ok("GET", "/api/v1/kpis", as_="analyst")
    survey = api.ok("GET", "/api/v1/kpis?field_team=CQ-KC1", as_="analyst")
    rural = api.ok("GET", "/api/v1/kpis?field_team=NC-ZH1", as_="analyst")
    assert (everyone["totals"]["cases"], survey["totals"]["cases"], rural["totals"]["cases"]) == (1, 1, 0)
    assert (everyone["totals"]["appointments"], survey["totals"]["appointments"]) == (2, 1)
    assert survey["filters"]["field_team"] == "CQ-KC1"
    every = api.ok("GET", "/api/v1/kpis/heatmap?key=new_connection", as_="analyst")
    one = api.ok("GET", "/api/v1/kpis/heatmap?key=new_connection&version=1", as_="analyst")
    assert every["all_versions"] is True and one["all_versions"] is False
    assert {h["element"] for h in every["elements"]} == {h["element"] for h in one["elements"]}
    assert {"field_job", "new_connection"} <= {p["process"] for p in every["processes"]}
    assert api.ok("GET", "/api/v1/kpis/heatmap?key=new_connection&field_team=NC-ZH1", as_="analyst")["elements"] == []
