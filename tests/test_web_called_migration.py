"""The modeler pages with cases inside a called process (issue #19), through the Flask test client:
the versions and migrate pages count and list the high-voltage cases inside 设计文件审查, the REST
dry run and migration move them by the called key, and the editor says who calls the process
before it is deployed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api import auth
from api.app import create_app
from engine.core import config, users
from engine.modeling import authoring
from tests.process_helpers import FORMS_DIR, START, deploy, drive, start_case
from tests.test_called_versions import HV, design_review_v2
from tests.test_web_modeler import config_of
from tests.web_support import sign_in


@pytest.fixture
def app(db: Any, clock: Any) -> Iterator[Any]:
    clock.set(START)
    deploy(db)
    for name in ("analyst", "auditor"):
        users.upsert_user(db, name, "demo", [name], display_name=f"演示{name}")
    auth.reset_throttle()
    settings = config.Settings(database_url=str(db.engine.url), secret_key="test", demo=True)
    yield create_app(settings, db=db)


def _inside(db: Any, n: int) -> list[int]:
    cases = []
    for _ in range(n):
        iid = start_case(db, data={"channel": "web95598"})
        drive(db, iid, HV, until="receive_drawings")
        cases.append(iid)
    return cases


def test_the_pages_count_and_move_cases_inside_a_called_process(app: Any, db: Any) -> None:
    a, b, c = _inside(db, 3)
    client = sign_in(app, "analyst")
    editor = client.get("/modeler/design_review")
    assert 'data-testid="used-by-hv_project"' in editor.text and "调用最新版本" in editor.text
    assert "正在运行的 3 个案件保持当前版本" in editor.text
    authoring.deploy(db, {"design_review.bpmn": design_review_v2()}, forms_dir=FORMS_DIR, actor="analyst",
                     note="核对图章")

    versions = client.get("/modeler/design_review/versions")
    assert 'data-testid="running-1">3<' in versions.text and 'data-testid="running-2">0<' in versions.text
    index = client.get("/modeler")
    assert index.status_code == 200
    mig = client.get("/modeler/design_review/migrate")
    assert all(f'data-testid="tick-{i}"' in mig.text for i in (a, b, c)) and "受理设计文件" in mig.text
    assert 'data-testid="confirm-dialog"' in mig.text
    cfg = config_of(mig.text, "migrate-config")
    assert (cfg["from"], cfg["to"]) == (1, 2) and cfg["versionsUrl"].endswith("/design_review/versions")

    headers = {"X-CSRF-Token": cfg["csrf"]}
    body = {"key": "design_review", "from_version": 1, "to_version": 2, "instance_ids": [a, b]}
    dry = client.post(cfg["checkUrl"], json=body, headers=headers)
    assert dry.status_code == 200 and (dry.json["movable"], dry.json["blocked"]) == (2, 0)
    moved = client.post(cfg["migrateUrl"], json={**body, "instance_ids": [a], "note": "进入新步骤"}, headers=headers)
    assert moved.status_code == 200 and moved.json["migrated"] == 1
    counts = client.get(cfg["versionsUrl"]).json["items"]
    assert {v["version"]: v["running"] for v in counts} == {1: 2, 2: 1}
    # a case on v2 is not a case of v1 any more: the API refuses it for that selection
    again = client.post(cfg["checkUrl"], json={**body, "instance_ids": [a]}, headers=headers)
    assert again.status_code == 422

    case_page = client.get(f"/cases/{a}")
    assert case_page.status_code == 200 and "设计文件审查 v1 → v2" in case_page.text
    reverted = client.post(cfg["revertUrl"].replace("__ID__", str(a)), headers=headers)
    assert reverted.status_code == 200
    assert {v["version"]: v["running"] for v in client.get(cfg["versionsUrl"]).json["items"]} == {1: 3, 2: 0}


def test_hostile_selection_by_called_key(app: Any, db: Any) -> None:
    [a] = _inside(db, 1)
    other = start_case(db, data={"channel": "web95598"})  # not inside design_review
    client = sign_in(app, "analyst")
    cfg = config_of(client.get("/modeler/design_review/migrate").text, "migrate-config")
    headers = {"X-CSRF-Token": cfg["csrf"]}
    body = {"key": "design_review", "from_version": 1, "instance_ids": [a, other]}
    refused = client.post(cfg["checkUrl"], json=body, headers=headers)
    assert refused.status_code == 422 and str(other) in refused.text
    auditor = sign_in(app, "auditor")
    assert auditor.post(cfg["migrateUrl"], json=body, headers=headers).status_code in (400, 401, 403)
    assert client.get(cfg["versionsUrl"]).json["items"][-1]["running"] == 1  # nothing moved
    assert client.post(cfg["checkUrl"], json={**body, "key": "design_review' OR 1=1"}, headers=headers).status_code == 422
