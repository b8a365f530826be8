"""The staff pages without a browser (Flask test client): sign-in, who may see and do what, the
form endpoint's answers, the language switch, the vendor route.

SQLite only: the views hold no SQL; the engine reads they use (`engine.audit.diagrams`,
`engine.core.worklist`, `runtime`) are tested on both backends in their own modules. The browser
behaviour (rendering, client-side validation, the diagram) is in tests/browser/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import auth
from api.app import create_app
from api.web import NODE_MODULES, views
from engine.core import clock as engine_clock
from engine.core import config, queries, users, worklist
from engine.core.db import Database
from engine.deadlines import rule_versions
from tests.api_support import TEST_SECRET
from tests.process_helpers import example, start_case
from tests.web_support import csrf_of, sign_in

GOOD = example("accept")
BAD = example("accept", id_number="110101199003070012")


@pytest.fixture
def calendar_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A fresh SQLite database with the standard groups and the 2026 working-day calendar."""
    from engine.deadlines import calendar_import

    target = tmp_path / "web.db"
    shutil.copy(sqlite_template, target)
    db = Database(f"sqlite:///{target}")
    calendar_import.seed_from_package(db, only=[2026])
    yield db
    db.dispose()


@pytest.fixture
def app(calendar_db: Database, clock: engine_clock.FixedClock) -> Any:
    from tests.process_helpers import deploy

    rule_versions.seed_rule_sets(calendar_db)
    deploy(calendar_db)
    for name, groups in (("clerk", ["clerk"]), ("dispatcher", ["dispatcher"]), ("auditor", ["auditor"]),
                         ("channel", ["channel"])):
        users.upsert_user(calendar_db, name, "demo", groups, display_name=f"演示{name}")
    auth.reset_throttle()
    settings = config.Settings(database_url=str(calendar_db.engine.url), secret_key="test", demo=True)
    return create_app(settings, db=calendar_db)


def start_at_counter(client: FlaskClient) -> str:
    page = client.get("/start")
    response = client.post("/start", data={"process": "new_connection", "channel": "counter",
                                           "csrf_token": csrf_of(page.text)})
    assert response.status_code == 302
    return response.headers["Location"].rsplit("/", 1)[1]


def complete(client: FlaskClient, item_id: str, data: dict[str, Any], *, csrf: str | None = None) -> Any:
    token = csrf if csrf is not None else csrf_of(client.get(f"/tasks/{item_id}").text)
    return client.post(f"/tasks/{item_id}/complete", json={"data": data}, headers={"X-CSRF-Token": token})


def test_pages_ask_for_sign_in(app: Any) -> None:
    client = app.test_client()
    response = client.get("/tasks/group?type=lv_res")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/tasks/group")
    assert client.get("/cases/1/diagram.json", headers={"Accept": "application/json"}).status_code == 401


def test_sign_in_messages_and_safe_redirect(app: Any) -> None:
    client = app.test_client()
    page = client.get("/login")
    assert '<html lang="zh-CN">' in page.text and "演示模式" in page.text and "演示账号" in page.text
    token = csrf_of(page.text)
    wrong = client.post("/login", data={"username": "clerk", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    no_token = client.post("/login", data={"username": "clerk", "password": "demo"})
    assert no_token.status_code == 400 and "页面已过期" in no_token.text
    ok = client.post("/login", data={"username": "clerk", "password": "demo", "csrf_token": token,
                                     "next": "//evil.example/steal"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/tasks"
    with app.test_request_context():
        assert views._safe_next("/\\evil.example") == "/tasks" and views._safe_next("https://x.example/") == "/tasks"
        assert views._safe_next("/cases?q=1") == "/cases?q=1"
    out = client.post("/logout", data={"csrf_token": csrf_of(client.get("/tasks").text)})
    assert out.status_code == 302 and client.get("/tasks").status_code == 302


def test_channel_clients_use_the_api_not_the_pages(app: Any) -> None:
    client = sign_in(app, "channel")
    response = client.get("/tasks")
    assert response.status_code == 403 and "您没有权限" in response.text


def test_counter_start_complete_and_per_field_errors(app: Any, calendar_db: Database) -> None:
    clerk = sign_in(app, "clerk")
    assert sign_in(app, "dispatcher").get("/start").status_code == 403
    item_id = start_at_counter(clerk)
    item = queries.get_work_item(calendar_db, item_id)
    assert item.task_spec == "accept" and item.assignee == "clerk"
    page = clerk.get(f"/tasks/{item_id}")
    assert page.status_code == 200 and 'data-testid="fill-demo"' in page.text and "办理要求" in page.text

    assert complete(clerk, item_id, BAD, csrf="forged").status_code == 400
    refused = complete(clerk, item_id, BAD)
    assert refused.status_code == 422
    assert "证件号码校验未通过" in refused.json["error"]["details"]["id_number"][0]
    assert refused.json["error"]["message"] == "表单有误，请修改标出的字段后重新提交。"

    done = complete(clerk, item_id, GOOD)
    assert done.status_code == 200
    [next_item] = worklist.items(calendar_db, worklist.TaskFilter(instance_id=item.instance_id))
    assert next_item.task_spec == "sign_standard"
    assert done.json["redirect"] == f"/tasks/{next_item.id}"  # the clerk goes on with the contract
    following = clerk.get(done.json["redirect"]).text
    assert "已提交：受理申请。" in following and "下一步：签订低压格式合同（营业厅受理员）。" in following
    again = complete(clerk, item_id, GOOD)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"


def test_who_sees_and_acts_on_a_task(app: Any, calendar_db: Database) -> None:
    iid = start_case(calendar_db)
    [item] = worklist.items(calendar_db, worklist.TaskFilter(instance_id=iid))
    assert sign_in(app, "dispatcher").get(f"/tasks/{item.id}").status_code == 403
    auditor = sign_in(app, "auditor")
    page = auditor.get(f"/tasks/{item.id}")
    assert page.status_code == 200 and 'data-testid="read-only-note"' in page.text
    assert 'data-testid="submit"' not in page.text
    assert complete(auditor, item.id, GOOD).status_code == 403
    assert "全部待办" in auditor.get("/tasks/all").text
    assert sign_in(app, "dispatcher").get("/tasks/all").status_code == 403

    clerk = sign_in(app, "clerk")
    assert 'data-task-spec="accept"' in clerk.get("/tasks/group").text
    assert 'data-task-spec="accept"' not in clerk.get("/tasks").text
    token = csrf_of(clerk.get(f"/tasks/{item.id}").text)
    claimed = clerk.post(f"/tasks/{item.id}/claim", data={"csrf_token": token}, follow_redirects=True)
    assert "已认领" in claimed.text and 'data-testid="unclaim"' in claimed.text
    assert queries.get_work_item(calendar_db, item.id).assignee == "clerk"
    assert 'data-task-spec="accept"' in clerk.get("/tasks").text
    assert clerk.post(f"/tasks/{item.id}/unclaim", data={"csrf_token": token}).status_code == 302
    assert queries.get_work_item(calendar_db, item.id).assignee is None


def test_case_page_search_and_diagram_data(app: Any, calendar_db: Database) -> None:
    clerk = sign_in(app, "clerk")
    item_id = start_at_counter(clerk)
    assert complete(clerk, item_id, GOOD).status_code == 200
    iid = queries.get_work_item(calendar_db, item_id).instance_id
    inst = queries.get_instance(calendar_db, iid)
    number = inst.business_key or inst.data["application_no"]

    page = clerk.get(f"/cases/{iid}")
    assert page.status_code == 200
    for text in (number, "张伟", "低压居民", "全过程（居民）", "完成任务", "受理申请", 'data-task="accept"', "110101199003070011"):
        assert text in page.text, text
    diagram = clerk.get(f"/cases/{iid}/diagram.json").json["processes"]
    main = diagram[0]
    assert main["process"] == "new_connection" and main["completed"]["accept"] == 1
    assert "lv_delivery" in main["active"]
    contract = next(d for d in diagram if d["process"] == "contract")
    assert contract["links"]["sign_standard"].startswith("/tasks/")

    for query in ("张伟", "13912345678", number):
        found = clerk.get("/cases", query_string={"q": query})
        assert f'data-instance="{iid}"' in found.text, query
    assert "没有找到匹配的案件" in clerk.get("/cases", query_string={"q": "无此人"}).text
    assert clerk.get("/cases/999999").status_code == 404


def test_language_switch_and_demo_banner(app: Any, calendar_db: Database) -> None:
    clerk = sign_in(app, "clerk")
    assert "我的任务" in clerk.get("/tasks", headers={"Accept-Language": "en"}).text
    english = clerk.get("/tasks?lang=en")
    assert '<html lang="en">' in english.text and "My tasks" in english.text and "Demo mode" in english.text
    assert "Group tasks" in clerk.get("/tasks/group").text  # sticky for the session
    assert "组任务" in clerk.get("/tasks/group?lang=zh_CN").text

    plain = create_app(config.Settings(database_url=str(calendar_db.engine.url), secret_key=TEST_SECRET), db=calendar_db)
    assert "演示模式" not in plain.test_client().get("/login").text


def test_vendor_route_serves_only_the_allowlisted_bundles(app: Any) -> None:
    client = app.test_client()
    assert client.get("/vendor/bpmn-js/../package.json").status_code == 404
    assert client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js.map").status_code == 404
    assert client.get("/vendor/other/index.js").status_code == 404
    assert client.get("/vendor/json-editor/jsoneditor.js.LICENSE.txt").status_code == 404
    if (NODE_MODULES / "bpmn-js").is_dir():
        viewer = client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
        assert viewer.status_code == 200 and viewer.headers["X-Content-Type-Options"] == "nosniff"
        assert client.get("/vendor/bpmn-js/assets/bpmn-font/css/bpmn.css").status_code == 200
        assert client.get("/vendor/json-editor/jsoneditor.js").status_code == 200


def test_demo_data_dates_move_forward_together() -> None:
    schema = {"properties": {"wanted": {"type": "string", "format": "date-not-past"},
                             "promised": {"type": "string", "format": "date-not-past"},
                             "signed": {"type": "string", "format": "date"}, "name": {"type": "string"}},
              "examples": [{"wanted": "2027-03-20", "promised": "2027-03-15", "signed": "2027-03-01", "name": "x"}]}
    assert views.fresh_example(schema, dt.date(2027, 1, 1)) == schema["examples"][0]
    moved = views.fresh_example(schema, dt.date(2027, 6, 1))
    assert moved == {"wanted": "2027-06-13", "promised": "2027-06-08", "signed": "2027-05-25", "name": "x"}
    assert views.fresh_example({"properties": {}}, dt.date(2027, 1, 1)) is None
