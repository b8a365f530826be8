"""The modeler pages without a browser (Flask test client): who sees them, what they embed, the
import endpoint, the nav link. SQLite only: the pages hold no SQL (engine tests cover both)."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import auth
from api.app import create_app
from engine.core import clock as engine_clock
from engine.core import config, definitions, runtime, users
from engine.core.db import Database
from engine.deadlines import rule_versions
from tests.web_support import sign_in

IMPORT = Path(__file__).parent / "data" / "import"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(tmp_path: Path, sqlite_template: Path, clock: engine_clock.FixedClock) -> Iterator[Any]:
    target = tmp_path / "web.db"
    shutil.copy(sqlite_template, target)
    db = Database(f"sqlite:///{target}")
    rule_versions.seed_rule_sets(db)
    definitions.deploy_paths(db, [ROOT / "bpmn" / "design_review.bpmn"], forms_dir=ROOT / "forms",
                             actor="analyst", note="首版")
    for name in ("analyst", "clerk", "auditor", "supervisor", "admin"):
        users.upsert_user(db, name, "demo", [name], display_name=f"演示{name}")
    auth.reset_throttle()
    settings = config.Settings(database_url=str(db.engine.url), secret_key="test", demo=True)
    yield create_app(settings, db=db)
    db.dispose()


def config_of(html: str, element_id: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert found, element_id
    return json.loads(found.group(1))


def test_the_analyst_sees_the_modeler_pages_in_chinese(app: Any) -> None:
    client = sign_in(app, "analyst")
    tasks = client.get("/tasks")
    assert 'data-testid="nav-modeler"' in tasks.text and "流程模型" in tasks.text
    index = client.get("/modeler")
    assert index.status_code == 200 and "design_review" in index.text and "首版" in index.text
    editor = client.get("/modeler/design_review")
    assert editor.status_code == 200
    cfg = config_of(editor.text, "modeler-config")
    assert cfg["key"] == "design_review" and cfg["version"] == 1 and cfg["main"] == "design_review.bpmn"
    assert "design-review.schema.json" in cfg["forms"] and "accept.schema.json" in cfg["serverForms"]
    assert "yekuo/sms" in cfg["operators"]
    assert any(k["key"] == "design_review" for k in cfg["slaKeys"])
    assert cfg["checkUrl"] == "/api/v1/deployments/check" and cfg["deployUrl"] == "/api/v1/deployments"
    assert cfg["text"]["check"] == "检查"
    assert "bpmn-modeler.production.min.js" in editor.text and "modeler.js" in editor.text
    assert client.get("/modeler/design_review?version=1").status_code == 200
    assert client.get("/modeler/design_review?version=7").status_code == 404
    assert client.get("/modeler/nope").status_code == 404
    new = config_of(client.get("/modeler/new").text, "modeler-config")
    assert new["key"] == "" and "new_process.bpmn" in new["files"]
    assert client.get("/assets/web/modeler_spiffworkflow.json").status_code == 200


def test_versions_and_migrate_pages(app: Any) -> None:
    db = app.extensions["yekuo.db"]
    case = runtime.start_instance(db, "design_review", business_key="SJ-1").instance_id
    client = sign_in(app, "analyst")
    page = client.get("/modeler/design_review/versions")
    assert page.status_code == 200 and 'data-testid="running-1">1<' in page.text
    cfg = config_of(page.text, "diff-config")
    assert cfg["diffUrl"].startswith("/api/v1/process-definitions/design_review/diff?")
    assert client.get("/modeler/design_review/versions?from=1&to=5").status_code == 404
    mig = client.get("/modeler/design_review/migrate")
    assert mig.status_code == 200 and f'data-testid="tick-{case}"' in mig.text and "受理设计文件" in mig.text
    cfg = config_of(mig.text, "migrate-config")
    assert cfg["revertUrl"] == "/api/v1/process-instances/__ID__/revert-migration"


def test_who_may_see_what(app: Any) -> None:
    clerk = sign_in(app, "clerk")
    assert 'data-testid="nav-modeler"' not in clerk.get("/tasks").text
    for url in ("/modeler", "/modeler/design_review", "/modeler/design_review/versions",
                "/modeler/design_review/migrate"):
        assert clerk.get(url).status_code == 403, url
    for who in ("auditor", "supervisor", "admin"):
        reader = sign_in(app, who)
        assert reader.get("/modeler").status_code == 200
        assert reader.get("/modeler/design_review/versions").status_code == 200
        assert reader.get("/modeler/design_review").status_code == 403
        assert reader.get("/modeler/design_review/migrate").status_code == 403
    assert app.test_client().get("/modeler").status_code == 302  # to the sign-in page


def test_import_endpoint_normalises_uploads(app: Any) -> None:
    client = sign_in(app, "analyst")
    token = config_of(client.get("/modeler/new").text, "modeler-config")["csrf"]
    raw = (IMPORT / "camunda7_meter_check.bpmn").read_bytes()
    r = client.post("/modeler/import", data={"file": (io.BytesIO(raw), "meter.bpmn")},
                    headers={"X-CSRF-Token": token, "Accept": "application/json"}, content_type="multipart/form-data")
    assert r.status_code == 200, r.text
    body = r.get_json()
    assert body["main"] == "meter.bpmn" and body["problems"] == []
    assert "camunda:asyncBefore" not in body["files"]["meter.bpmn"]
    assert any("converted" in n["message"] for n in body["notes"])
    refused = (IMPORT / "camunda7_refused.bpmn").read_bytes()
    r = client.post("/modeler/import", data={"file": (io.BytesIO(refused), "c.bpmn")},
                    headers={"X-CSRF-Token": token, "Accept": "application/json"}, content_type="multipart/form-data")
    assert any(p["element"] == "review" for p in r.get_json()["problems"])
    r = client.post("/modeler/import", data={"file": (io.BytesIO(b"x"), "notes.txt")},
                    headers={"X-CSRF-Token": token, "Accept": "application/json"}, content_type="multipart/form-data")
    assert r.status_code == 422
    r = client.post("/modeler/import", data={"file": (io.BytesIO(raw), "meter.bpmn")},
                    headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert r.status_code == 400  # no CSRF token


def test_import_endpoint_takes_a_zipped_spiff_arena_model_and_a_lane_map(app: Any) -> None:
    client = sign_in(app, "analyst")
    token = config_of(client.get("/modeler/new").text, "modeler-config")["csrf"]
    folder = Path(__file__).parent / "data" / "arena" / "connection-request"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"connection-request/{path.name}")
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    r = client.post("/modeler/import", data={"file": (io.BytesIO(buf.getvalue()), "connection-request.zip"),
                                             "lane_map": "Front Desk=clerk, Design Review=reviewer"},
                    headers=headers, content_type="multipart/form-data")
    assert r.status_code == 200, r.text
    body = r.get_json()
    assert body["problems"] == [] and body["main"] == "connection_request.bpmn"
    assert 'name="reviewer"' in body["files"]["connection_request.bpmn"]
    assert {"review-schema.json", "review-uischema.json"} <= set(body["forms"])
    r = client.post("/modeler/import", data={"file": (io.BytesIO(buf.getvalue()), "connection-request.zip"),
                                             "lane_map": "Front Desk=clerk, Design Review=astronauts"},
                    headers=headers, content_type="multipart/form-data")
    assert any(p["file"] == "(lane map)" for p in r.get_json()["problems"])
    r = client.post("/modeler/import", data={"file": (io.BytesIO(buf.getvalue()), "x.zip"), "lane_map": "nonsense"},
                    headers=headers, content_type="multipart/form-data")
    assert r.status_code == 422


def test_the_modeler_page_imports_with_a_form_map(app: Any) -> None:
    client = sign_in(app, "analyst")
    token = config_of(client.get("/modeler/new").text, "modeler-config")["csrf"]
    raw = (Path(__file__).parent / "data" / "foreign" / "camunda_forms.bpmn").read_bytes()
    r = client.post("/modeler/import", data={
        "file": (io.BytesIO(raw), "camunda_forms.bpmn"), "lane_map": "clerks=clerk, reviewers=surveyor",
        "form_map": "camunda-forms:deployment:accept.form=accept.schema.json, review=design-review.schema.json"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"}, content_type="multipart/form-data")
    assert r.status_code == 200, r.text
    body = r.get_json()
    assert body["problems"] == [], body["problems"]
    assert 'value="design-review.schema.json"' in body["files"]["camunda_forms.bpmn"]
