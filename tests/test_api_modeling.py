"""The analyst's API: check (never deploys), deploy with a change note, versions and diff, export,
migration dry run / migrate / revert, wrong roles and bad input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from engine.core import actors, definitions, history, queries, runtime
from engine.core.config import PROJECT_ROOT
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.conftest import ENGINE_MODEL
from tests.helpers import ACCEPT, complete

IMPORT = Path(__file__).parent / "data" / "import"


def engine_model_xml(reminder: str = '"P2D"') -> str:
    return (ENGINE_MODEL / "engine_model.bpmn").read_text(encoding="utf-8").replace('"P2D"', reminder)


@pytest.fixture
def two_versions(api: Api) -> tuple[int, int]:
    """engine_model v1 with a case at `accept` and one further on; v2 (reminder after 1 day) via the API."""
    definitions.deploy_paths(api.db, [ENGINE_MODEL / "engine_model.bpmn"], forms_dir=ENGINE_MODEL / "forms")
    a = runtime.start_instance(api.db, "engine_model", business_key="YK-A").instance_id
    b = runtime.start_instance(api.db, "engine_model", business_key="YK-B").instance_id
    complete(api.db, b, "accept", ACCEPT)
    forms = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (ENGINE_MODEL / "forms").glob("*.json")}
    r = api.post("/api/v1/deployments", as_="analyst", json={
        "files": {"engine_model.bpmn": engine_model_xml('"P1D"')}, "forms": forms, "note": "预约提醒改为1天"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["results"][0]["version"] == 2
    return a, b


def test_check_never_deploys_and_locates_problems(api: Api) -> None:
    before = len(definitions.list_definitions(api.db))
    xml = (PROJECT_ROOT / "bpmn" / "design_review.bpmn").read_text(encoding="utf-8")
    broken = xml.replace('<spiffworkflow:property name="formJsonSchemaFilename" value="design-receipt.schema.json" />', "")
    body = api.ok("POST", "/api/v1/deployments/check", as_="analyst", json={"files": {"design_review.bpmn": broken}})
    assert body["ok"] is False
    [problem] = body["problems"]
    assert (problem["file"], problem["element"]) == ("design_review.bpmn", "receive_drawings") and problem["line"]
    renamed = xml.replace('"design_review"', '"design_review_v9"')
    body = api.ok("POST", "/api/v1/deployments/check", as_="analyst", json={"files": {"design_review.bpmn": renamed}})
    assert body["ok"] is True and body["processes"] == [
        {"key": "design_review_v9", "name": "设计文件审查", "version": 1, "changed": True}]
    assert len(definitions.list_definitions(api.db)) == before


def test_check_normalises_imports_and_checks_forms_alone(api: Api) -> None:
    raw = (IMPORT / "camunda7_meter_check.bpmn").read_text(encoding="utf-8")
    body = api.ok("POST", "/api/v1/deployments/check", as_="analyst", json={"files": {"m.bpmn": raw}})
    assert body["ok"] is True and body["notes"]
    assert "camunda:properties" not in body["files"]["m.bpmn"]
    refused = (IMPORT / "camunda7_refused.bpmn").read_text(encoding="utf-8")
    body = api.ok("POST", "/api/v1/deployments/check", as_="analyst", json={"files": {"c.bpmn": refused}})
    assert any(p["element"] == "notify" and p["message"].startswith("camunda:class") for p in body["problems"])
    body = api.ok("POST", "/api/v1/deployments/check", as_="analyst",
                  json={"forms": {"x.schema.json": '{"type": "objec"}'}})
    assert body["ok"] is False and "meta-schema" in body["problems"][0]["message"]


def test_deploy_needs_a_note_for_a_new_version(api: Api) -> None:
    from api.rest.schemas import EXAMPLE_BPMN

    r = api.post("/api/v1/deployments", as_="analyst", json={"files": {"meter_check.bpmn": EXAMPLE_BPMN}})
    assert r.status_code == 422 and "note" in r.get_json()["error"]["details"]
    assert not [d for d in definitions.list_definitions(api.db) if d.key == "meter_check"]
    r = api.post("/api/v1/deployments", as_="analyst", json={"files": {"meter_check.bpmn": EXAMPLE_BPMN},
                                                            "note": "首版"})
    assert r.status_code == 201
    again = api.ok("POST", "/api/v1/deployments", 201, as_="analyst", json={"files": {"meter_check.bpmn": EXAMPLE_BPMN}})
    assert again["results"][0]["created"] is False  # identical content: no new version, no note needed


def test_deploy_takes_forms_and_an_exported_zip(api: Api) -> None:
    from api.rest.schemas import EXAMPLE_BPMN

    form = {"type": "object", "title": "校验", "properties": {"ok": {"type": "boolean"}}, "examples": [{"ok": True}]}
    xml = EXAMPLE_BPMN.replace("meter-work.schema.json", "meter-check.schema.json")
    r = api.post("/api/v1/deployments", as_="analyst", json={"files": {"meter_check.bpmn": xml},
                                                            "forms": {"meter-check.schema.json": form}, "note": "首版"})
    assert r.status_code == 201, r.get_json()
    did = r.get_json()["results"][0]["definition_id"]
    z = api.get(f"/api/v1/process-definitions/{did}/export", as_="auditor")
    assert z.status_code == 200 and z.mimetype == "application/zip"
    assert "meter_check-v1.zip" in z.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(z.data)) as zf:
        assert "forms/meter-check.schema.json" in zf.namelist()
    bpmn = api.get(f"/api/v1/process-definitions/{did}/bpmn", as_="supervisor")
    assert bpmn.status_code == 200 and bpmn.text == xml
    renamed = z.data  # the same content again, as a multipart zip upload: unchanged
    r = api.post("/api/v1/deployments", as_="analyst", content_type="multipart/form-data",
                 data={"files": [(io.BytesIO(renamed), "meter_check-v1.zip")], "note": "重新导入"})
    assert r.status_code == 201 and r.get_json()["results"][0]["created"] is False


def test_versions_and_diff(api: Api, two_versions: tuple[int, int]) -> None:
    body = api.ok("GET", "/api/v1/process-definitions/engine_model/versions", as_="auditor")
    assert [(v["version"], v["running"]) for v in body["items"]] == [(2, 0), (1, 2)]
    assert body["items"][0]["note"] == "预约提醒改为1天" and body["items"][0]["deployed_by"] == "analyst"
    diff = api.ok("GET", "/api/v1/process-definitions/engine_model/diff?from=1&to=2", as_="supervisor")
    assert [(c["element"], c["change"]) for c in diff["changes"]] == [("survey_reminder", "changed")]
    assert diff["running"] == {"1": 2}
    assert api.get("/api/v1/process-definitions/nope/versions", as_="analyst").status_code == 404
    assert api.get("/api/v1/process-definitions/engine_model/diff?from=1&to=9", as_="analyst").status_code == 404
    assert api.get("/api/v1/process-definitions/engine_model/diff?from=x", as_="analyst").status_code == 422


def test_dry_run_migrate_and_revert(api: Api, two_versions: tuple[int, int]) -> None:
    a, b = two_versions
    base = {"key": "engine_model", "from_version": 1, "to_version": 2}
    report = api.ok("POST", "/api/v1/migrations/check", as_="analyst", json={**base, "all": True})
    assert (report["movable"], report["blocked"]) == (2, 0)
    assert [i["instance_id"] for i in report["items"]] == [a, b]
    only_a = api.ok("POST", "/api/v1/migrations/check", as_="analyst",
                    json={**base, "filter": {"at_step": "accept"}})
    assert [i["instance_id"] for i in only_a["items"]] == [a]
    assert queries.get_instance(api.db, a).definition_version == 1  # a dry run moves nothing

    done = api.ok("POST", "/api/v1/migrations", as_="analyst", json={**base, "instance_ids": [a], "note": "试点"})
    assert done["migrated"] == 1 and done["items"][0]["migrated"] is True
    assert queries.get_instance(api.db, a).definition_version == 2
    with api.db.read() as conn:
        [event] = [e for e in history.events_of(conn, a) if e.type == "instance_migrated"]
    payload = history.payload_of(event)
    assert (event.actor, payload["from_version"], payload["to_version"], payload["note"]) == ("analyst", 1, 2, "试点")
    again = api.ok("POST", "/api/v1/migrations/check", as_="analyst", json={**base, "filter": {}})
    assert [i["instance_id"] for i in again["items"]] == [b]  # a is no longer on version 1

    reverted = api.ok("POST", f"/api/v1/process-instances/{a}/revert-migration", as_="analyst")
    assert reverted == {"instance_id": a, "version": 1, "status": "running"}
    r = api.post(f"/api/v1/process-instances/{a}/revert-migration", as_="analyst")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "invalid_state"


def test_blocked_cases_are_reported_not_forced(api: Api, two_versions: tuple[int, int]) -> None:
    a, _b = two_versions
    runtime.cancel(api.db, a, actor=actors.SYSTEM, reason="重复申请")
    r = api.post("/api/v1/migrations/check", as_="analyst",
                 json={"key": "engine_model", "from_version": 1, "instance_ids": [a]})
    assert r.status_code == 422 and r.get_json()["error"]["details"] == {"instance_ids": [str(a)]}


def test_wrong_roles_and_bad_input(api: Api, two_versions: tuple[int, int]) -> None:
    a, _ = two_versions
    body = {"key": "engine_model", "from_version": 1, "instance_ids": [a]}
    for who in ("clerk", "supervisor", "auditor"):
        assert api.post("/api/v1/migrations", as_=who, json=body).status_code == 403
        assert api.post("/api/v1/deployments/check", as_=who, json={"files": {}}).status_code == 403
    assert api.get("/api/v1/process-definitions/engine_model/versions", as_="clerk").status_code == 403
    assert api.post("/api/v1/migrations", json=body).status_code == 401
    for bad in ({"key": "engine_model", "from_version": 1},                             # no selection
                {"key": "engine_model", "from_version": 1, "all": True, "instance_ids": [a]},  # two
                {"key": "engine_model", "from_version": 0, "all": True},
                {"key": "engine_model", "from_version": 1, "filter": {"status": "completed"}}):
        r = api.post("/api/v1/migrations/check", as_="analyst", json=bad)
        assert r.status_code == 422, bad
    assert api.post("/api/v1/deployments/check", as_="analyst", json={}).status_code == 422
    r = api.post("/api/v1/deployments/check", as_="analyst", json={"files": {"../x.bpmn": "<x/>"}})
    assert r.status_code == 422
    assert api.post("/api/v1/process-instances/999999/revert-migration", as_="analyst").status_code == 404
