"""The role × endpoint matrix: every operation of the API called as every role (and anonymously).

Each row names the roles that may call the operation and get its success status; every other role
gets 403 — or 404 where the API hides what a caller may not see (a task outside the caller's
groups). Calls without a token get 401. Targets that an allowed call changes (a task to complete,
a case to cancel) are made fresh for that call, so every allowed call really succeeds.

Role checks do not depend on the database backend: the matrix runs on SQLite only.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from api import auth
from api.rest import common
from api.rest.calendar import CSV_EXAMPLE
from engine import clock as engine_clock
from engine import definitions, runtime, services
from engine.db import Database
from engine.models import notice_t
from tests.api_support import (PDF, ROLES, Api, accept_example, application_example, deploy_bundle, make_app,
                               seed_deadlines, seed_users)
from tests.conftest import ENGINE_MODEL

ANON = "anonymous"
WHO = [*ROLES, ANON]


@dataclass
class Ctx:
    api: Api
    instance_id: int = 0
    errored_id: int = 0
    definition_id: int = 0
    application_no: str = ""
    ref: str = ""
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    # fresh targets -----------------------------------------------------------------------------
    def case(self) -> runtime.Outcome:
        return runtime.start_instance(self.api.db, "new_connection", {"channel": "counter"},
                                      actor=runtime.Actor("clerk", frozenset({"clerk"})))

    def task(self) -> str:
        return self.case().new_items[0].id

    def upload(self, who: str) -> str:
        r = self.api.post("/api/v1/documents", as_=who, data={"file": (io.BytesIO(PDF + self.unique().encode()),
                                                                         "id.pdf")},
                          content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        return r.get_json()["ref"]

    def application(self, who: str = "channel") -> dict[str, Any]:
        data = application_example()
        data["documents"] = {name: {"ref": self.upload(who), "name": v["name"]}
                             for name, v in data["documents"].items()}
        return data

    def submitted(self) -> str:
        r = self.api.post("/api/v1/applications", as_="channel", json={"channel": "app", "data": self.application()})
        assert r.status_code == 201, r.get_json()
        return r.get_json()["application_no"]

    def notice_for(self, group: str) -> int:
        with self.api.db.write() as conn:
            return conn.execute(insert(notice_t).values(
                kind="督办", recipient_user=None, recipient_group=group, title="督办", body="请督办",
                requires_ack=True, created_at=engine_clock.now()).returning(notice_t.c.id)).scalar_one()

    def unique(self) -> str:
        return str(next(self.counter))


Setup = Callable[[Ctx, str], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    allowed: tuple[str, ...]
    ok: int = 200
    setup: Setup | None = None
    hidden: tuple[str, ...] = ()  # roles that get 404: the target is outside what they may see

    def expected(self, who: str) -> int:
        if who == ANON:
            return 401
        if who in self.allowed:
            return self.ok
        return 404 if who in self.hidden else 403


STAFF, WORKERS = common.STAFF, common.WORKERS
NOT_CLERK_WORKERS = tuple(r for r in WORKERS if r != "clerk")


def _static(path: str, **kw: Any) -> Setup:
    return lambda c, who: (path.format(c=c), kw)


def _fresh_task(action: str, body: Callable[[Ctx], Any] | None = None, claim: bool = False) -> Setup:
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        tid = c.task()
        if claim:
            runtime.claim(c.api.db, tid, actor=runtime.Actor("clerk", frozenset({"clerk"})))
        suffix = f"/{action}" if action else ""
        return f"/api/v1/tasks/{tid}{suffix}", ({"json": body(c)} if body else {})
    return setup


def _fresh_case(action: str, body: dict[str, Any] | None = None, pause_first: bool = False) -> Setup:
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        iid = c.case().instance_id
        if pause_first:
            from engine import sla

            sla.pause(c.api.db, iid, reason="customer_documents", actor="manager")
        return f"/api/v1/process-instances/{iid}/{action}", ({"json": body} if body is not None else {})
    return setup


def _new_user(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/users", {"json": {"username": f"u{c.unique()}", "password": "S3cure-pass", "groups": ["clerk"]}}


def _existing_user(method: str) -> Setup:
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        from tests.api_support import add_user

        name = f"v{c.unique()}"
        add_user(c.api.db, name, ["clerk"])
        return f"/api/v1/users/{name}", ({"json": {"groups": ["clerk", "manager"]}} if method == "PATCH" else {})
    return setup


def _submit(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    data = c.application(who) if who in common.UPLOADERS and who != ANON else application_example()
    return "/api/v1/applications", {"json": {"channel": "app", "data": data},
                                    "headers": {"Idempotency-Key": f"k-{c.unique()}"}}


def _withdraw(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/applications/{c.submitted()}/withdraw", {"json": {"reason": "项目取消"}}


def _upload(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/documents", {"data": {"file": (io.BytesIO(PDF + c.unique().encode()), "a.pdf")},
                                 "content_type": "multipart/form-data"}


def _ack(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    group = who if who in ROLES else "clerk"
    return f"/api/v1/notices/{c.notice_for(group)}/acknowledge", {}


def _deploy(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from api.rest.schemas import EXAMPLE_BPMN

    text = EXAMPLE_BPMN.replace("电能表现场校验", f"电能表现场校验 {c.unique()}")
    return "/api/v1/deployments", {"json": {"files": {"meter_check.bpmn": text}}}


def _calendar(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/calendar/2030", {"data": CSV_EXAMPLE, "content_type": "text/csv"}


# -- dispatch centre setups --
# -- audit setups --
# -- modeler setups --


MATRIX: dict[str, Row] = {
    "auth.me": Row("GET", "/api/v1/auth/me", tuple(ROLES)),
    "groups.list": Row("GET", "/api/v1/groups", tuple(ROLES)),
    "definitions.list": Row("GET", "/api/v1/process-definitions", STAFF),
    "definitions.get": Row("GET", "/api/v1/process-definitions/{c.definition_id}", STAFF),
    "deployments.list": Row("GET", "/api/v1/deployments", STAFF),
    "deployments.create": Row("POST", "/api/v1/deployments", common.DEPLOYERS, 201, _deploy),
    "instances.list": Row("GET", "/api/v1/process-instances?q=YK", STAFF),
    "instances.start": Row("POST", "/api/v1/process-instances", common.STARTERS, 201,
                           _static("/api/v1/process-instances", json={"key": "new_connection",
                                                                       "data": {"channel": "counter"}})),
    "instances.get": Row("GET", "/api/v1/process-instances/{c.instance_id}", STAFF),
    "instances.history": Row("GET", "/api/v1/process-instances/{c.instance_id}/history", STAFF),
    "instances.cancel": Row("POST", "", common.CANCELLERS, 200, _fresh_case("cancel", {"reason": "重复申请"})),
    "instances.retry": Row("POST", "/api/v1/process-instances/{c.errored_id}/retry", common.RETRIERS),
    "instances.message": Row("POST", "", common.MESSENGERS, 200,
                             _fresh_case("messages", {"name": "withdraw", "payload": {"reason": "项目取消"}})),
    "instances.sla": Row("GET", "/api/v1/process-instances/{c.instance_id}/sla", STAFF),
    "instances.pause": Row("POST", "", common.PAUSERS, 200,
                           _fresh_case("sla/pause", {"reason": "customer_documents"})),
    "instances.resume": Row("POST", "", common.PAUSERS, 200, _fresh_case("sla/resume", pause_first=True)),
    "instances.replay": Row("POST", "/api/v1/process-instances/{c.instance_id}/replay", common.REPLAYERS),
    "tasks.list": Row("GET", "/api/v1/tasks", STAFF),
    "tasks.get": Row("GET", "", ("clerk", "auditor"), 200, _fresh_task(""), hidden=NOT_CLERK_WORKERS),
    "tasks.claim": Row("POST", "", ("clerk",), 200, _fresh_task("claim"), hidden=NOT_CLERK_WORKERS),
    "tasks.unclaim": Row("POST", "", ("clerk",), 200, _fresh_task("unclaim", claim=True), hidden=NOT_CLERK_WORKERS),
    "tasks.delegate": Row("POST", "", ("clerk",), 200,
                          _fresh_task("delegate", lambda c: {"assignee": "clerk2"}), hidden=NOT_CLERK_WORKERS),
    "tasks.complete": Row("POST", "", ("clerk",), 200,
                          _fresh_task("complete", lambda c: {"data": accept_example(0)}), hidden=NOT_CLERK_WORKERS),
    "applications.schema": Row("GET", "/api/v1/applications/schema", tuple(ROLES)),
    "applications.submit": Row("POST", "", common.SUBMITTERS, 201, _submit),
    "applications.list": Row("GET", "/api/v1/applications", tuple(ROLES)),
    "applications.get": Row("GET", "/api/v1/applications/{c.application_no}", tuple(ROLES)),
    "applications.withdraw": Row("POST", "", common.WITHDRAWERS, 200, _withdraw),
    "documents.upload": Row("POST", "", common.UPLOADERS, 201, _upload),
    "documents.get": Row("GET", "/api/v1/documents/{c.ref}", tuple(ROLES)),
    "documents.content": Row("GET", "/api/v1/documents/{c.ref}/content", tuple(ROLES)),
    "notices.list": Row("GET", "/api/v1/notices", STAFF),
    "notices.acknowledge": Row("POST", "", WORKERS, 200, _ack),
    "users.list": Row("GET", "/api/v1/users", common.USER_READERS),
    "users.create": Row("POST", "", common.ADMINS, 201, _new_user),
    "users.get": Row("GET", "/api/v1/users/clerk", common.USER_READERS),
    "users.update": Row("PATCH", "", common.ADMINS, 200, _existing_user("PATCH")),
    "users.deactivate": Row("DELETE", "", common.ADMINS, 200, _existing_user("DELETE")),
    "calendar.list": Row("GET", "/api/v1/calendar", STAFF),
    "calendar.export": Row("GET", "/api/v1/calendar/2026", STAFF),
    "calendar.import": Row("POST", "", common.ADMINS, 200, _calendar),
    # -- dispatch centre rows --
    # -- audit rows --
    # -- modeler rows --
}


@pytest.fixture(scope="module")
def ctx(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    tmp = tmp_path_factory.mktemp("roles")
    shutil.copy(sqlite_template, tmp / "yekuo.db")
    db = Database(f"sqlite:///{tmp / 'yekuo.db'}")
    previous = engine_clock.set_clock(engine_clock.FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)))

    def always_fails(call: Any) -> Any:
        raise RuntimeError("billing system down")

    services.service("test/flaky")(always_fails)
    try:
        auth.reset_throttle()
        seed_users(db)
        seed_deadlines(db)
        deploy_bundle(db)
        definitions.deploy_paths(db, [ENGINE_MODEL / "service_retry.bpmn"], forms_dir=ENGINE_MODEL / "forms")
        c = Ctx(Api(make_app(db, tmp)))
        c.instance_id = c.case().instance_id
        c.errored_id = runtime.start_instance(db, "service_retry", {"amount": 1, "parts": 1}).instance_id
        assert runtime.get_instance(db, c.errored_id).status == "error"
        c.definition_id = definitions.latest_id(db, "new_connection")
        c.application_no = c.submitted()
        c.ref = c.upload("channel")
        # -- dispatch centre fixtures --
        # -- audit fixtures --
        # -- modeler fixtures --
        yield c
    finally:
        services.unregister("test/flaky")
        engine_clock.set_clock(previous)
        db.dispose()


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", list(MATRIX))
def test_role_matrix(ctx: Ctx, name: str, who: str) -> None:
    row = MATRIX[name]
    if row.setup is not None:
        path, kw = row.setup(ctx, who)
    else:
        path, kw = row.path.format(c=ctx), {}
    r = ctx.api.request(row.method, path, as_=None if who == ANON else who, **kw)
    expected = row.expected(who)
    assert r.status_code == expected, (name, who, r.status_code, r.get_json(silent=True))
    if expected >= 400:
        assert set(r.get_json()["error"]) == {"code", "message", "details"}


def test_matrix_covers_every_operation(ctx: Ctx) -> None:
    """A new endpoint must be added to the matrix (public ones are listed here)."""
    spec = ctx.api.get("/api/v1/openapi.json").get_json()
    public = {("POST", "/api/v1/auth/token")}
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m != "parameters"} - public
    covered = set()
    for name, row in MATRIX.items():
        method = row.method
        candidates = [p for (m, p) in ops if m == method and _matches(p, name)]
        covered.update((method, p) for p in candidates)
    assert ops - covered == set()


_PATH_OF = {
    "auth.me": "/api/v1/auth/me", "groups.list": "/api/v1/groups",
    "definitions.list": "/api/v1/process-definitions",
    "definitions.get": "/api/v1/process-definitions/{definition_id}",
    "deployments.list": "/api/v1/deployments", "deployments.create": "/api/v1/deployments",
    "instances.list": "/api/v1/process-instances", "instances.start": "/api/v1/process-instances",
    "instances.get": "/api/v1/process-instances/{instance_id}",
    "instances.history": "/api/v1/process-instances/{instance_id}/history",
    "instances.cancel": "/api/v1/process-instances/{instance_id}/cancel",
    "instances.retry": "/api/v1/process-instances/{instance_id}/retry",
    "instances.message": "/api/v1/process-instances/{instance_id}/messages",
    "instances.sla": "/api/v1/process-instances/{instance_id}/sla",
    "instances.pause": "/api/v1/process-instances/{instance_id}/sla/pause",
    "instances.resume": "/api/v1/process-instances/{instance_id}/sla/resume",
    "instances.replay": "/api/v1/process-instances/{instance_id}/replay",
    "tasks.list": "/api/v1/tasks", "tasks.get": "/api/v1/tasks/{task_id}",
    "tasks.claim": "/api/v1/tasks/{task_id}/claim", "tasks.unclaim": "/api/v1/tasks/{task_id}/unclaim",
    "tasks.delegate": "/api/v1/tasks/{task_id}/delegate", "tasks.complete": "/api/v1/tasks/{task_id}/complete",
    "applications.schema": "/api/v1/applications/schema", "applications.submit": "/api/v1/applications",
    "applications.list": "/api/v1/applications", "applications.get": "/api/v1/applications/{application_no}",
    "applications.withdraw": "/api/v1/applications/{application_no}/withdraw",
    "documents.upload": "/api/v1/documents", "documents.get": "/api/v1/documents/{ref}",
    "documents.content": "/api/v1/documents/{ref}/content",
    "notices.list": "/api/v1/notices", "notices.acknowledge": "/api/v1/notices/{notice_id}/acknowledge",
    "users.list": "/api/v1/users", "users.create": "/api/v1/users", "users.get": "/api/v1/users/{username}",
    "users.update": "/api/v1/users/{username}", "users.deactivate": "/api/v1/users/{username}",
    "calendar.list": "/api/v1/calendar", "calendar.export": "/api/v1/calendar/{year}",
    "calendar.import": "/api/v1/calendar/{year}",
    # -- dispatch centre paths --
    # -- audit paths --
    # -- modeler paths --
}


def _matches(path: str, name: str) -> bool:
    return _PATH_OF.get(name) == path
