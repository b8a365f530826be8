"""The role × page matrix, generated: every staff page route is opened as every role, and what each
role gets comes from the action the route names in `api.policy` (`@page("action")`), not from a list
of its own.

GET pages: 200 for a role the policy gives the action, 403 for any other (`channel` is refused every
page). POST routes: 403 for a role without the action; for a role with it the request is past the
check (a redirect or a page answer, never 403). The task page is a clerk's task: beyond the action,
the roles that read all tasks and the clerk see it. A route without an action fails the test, so a
new page cannot forget to name one. SQLite only: the checks are in the interface layer.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import auth, policy
from api.app import create_app
from engine.core import actors, config, runtime, users, worklist_prefs
from engine.core import clock as engine_clock
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.deadlines import calendar_import, rule_versions
from engine.dispatch import booking, teams, works
from engine.intake import documents
from tests import process_helpers as ph
from tests.dispatch_support import bare_cases
from tests.web_support import sign_in

#: Routes that are not staff pages: sign-in, assets, the language-neutral redirect.
OPEN = {"web.login", "web.logout", "web.index", "web.static", "web.vendor", "web.healthz"}


class Site:
    def __init__(self, app: Any, args: dict[str, Any]) -> None:
        self.app, self.args = app, args
        self.clients: dict[str, FlaskClient] = {}

    def client(self, role: str) -> FlaskClient:
        if role not in self.clients:
            self.clients[role] = sign_in(self.app, role)
        return self.clients[role]


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web-roles")
    shutil.copy(sqlite_template, tmp / "web.db")
    db = Database(f"sqlite:///{tmp / 'web.db'}")
    previous = engine_clock.set_clock(engine_clock.FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA)))
    try:
        calendar_import.seed_from_package(db, only=[2026])
        rule_versions.seed_rule_sets(db)
        ph.deploy(db)
        for role in policy.ROLES:
            users.upsert_user(db, role, "demo", [role], display_name=f"演示{role}")
        auth.reset_throttle()
        clerk = actors.Actor("clerk", frozenset({"clerk"}))
        case = runtime.start_instance(db, "new_connection", {"channel": "counter"}, actor=clerk)
        [bare] = bare_cases(db, 1)
        job_no = booking.book(db, bare, {"job_type": "survey", "mode": "fixed", "date": "2026-03-03",
                                         "period": "am", "area": "urban"}, actor="dispatcher").job_no
        entry = works.add(db, case.instance_id, "internal", "客户受电工程", actor="manager")
        saved = worklist_prefs.save_filter(db, "clerk", "急件", {"scope": "mine", "overdue": "1"})
        ref = documents.store(db, b"%PDF-1.4 a", filename="a.pdf", uploaded_by="clerk", root=tmp / "documents",
                              instance_id=case.instance_id).ref
        args = {"instance_id": case.instance_id, "seq": 1, "item_id": case.new_items[0].id, "job_no": job_no,
                "key": "new_connection", "entry_id": entry.id, "ref": ref,
                "filter_id": saved.id, "name": "sgcc_default", "username": "auditor",
                "code": teams.list_teams(db)[0].code}
        app = create_app(config.Settings(database_url=str(db.engine.url), secret_key="test", demo=True), db=db)
        app.config["YEKUO_DOCUMENTS_DIR"] = str(tmp / "documents")
        yield Site(app, args)
    finally:
        engine_clock.set_clock(previous)
        db.dispose()


def _routes() -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every staff page, read off the app's URL map."""
    app = create_app(config.Settings(database_url="sqlite://", secret_key="test", demo=True))
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("web.") or rule.endpoint in OPEN:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


ROUTES = _routes()


def _action(site: Site, endpoint: str) -> str:
    action = getattr(site.app.view_functions[endpoint], "policy_action", None)
    assert action in policy.POLICY, f"{endpoint} names no action of api.policy (use @page(...))"
    return action


def _may(role: str, action: str, endpoint: str) -> bool:
    if role == "channel" or not policy.may([role], action):
        return False
    if endpoint == "web.task":  # the clerk's task: its group, or who reads all tasks
        return role == "clerk" or policy.may([role], "tasks.read_all")
    return True


def test_every_page_names_an_action(site: Site) -> None:
    assert ROUTES, "no staff pages found"
    for endpoint, _method, _rule in ROUTES:
        _action(site, endpoint)


@pytest.mark.parametrize("role", policy.ROLES)
@pytest.mark.parametrize(("endpoint", "method", "rule"), ROUTES, ids=[f"{m} {r}" for _e, m, r in ROUTES])
def test_page_matrix(site: Site, endpoint: str, method: str, rule: str, role: str) -> None:
    action = _action(site, endpoint)
    with site.app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **{k: v for k, v in site.args.items() if f"<{k}>" in rule or f":{k}>" in rule})
    client = site.client(role)
    if method == "GET":
        status = client.get(url).status_code
        # a saved filter opens its list (302) for its owner and is no filter (404) for anyone else
        allowed = (302, 404) if endpoint == "web.saved_filter" else (200,)
        assert status in (allowed if _may(role, action, endpoint) else (403,)), (role, url, status)
        return
    with client.session_transaction() as session:
        token = session["csrf"]
    status = client.post(url, data={"csrf_token": token}).status_code
    if _may(role, action, endpoint):
        assert status not in (401, 403) and status < 500, (role, url, status)
    else:
        assert status == 403, (role, url, status)
