"""The role × endpoint matrix: every operation of the API called as every role (and anonymously).

Each row names the operation's action in `api.policy`; the roles the policy table gives that action
must get its success status (the expectations come from that one table, not a list of their own);
every other role gets 403 — or 404 where the API hides what a caller may not see (a task outside the caller's
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

from api import auth, policy
from api.rest.calendar import CSV_EXAMPLE
from engine.core import actors, definitions, queries, runtime, services, store
from engine.core import clock as engine_clock
from engine.core.db import Database
from engine.core.models import notice_t
from tests.api_support import (
    PDF,
    ROLES,
    Api,
    accept_example,
    application_example,
    deploy_bundle,
    make_app,
    seed_deadlines,
    seed_users,
)
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
    def case(self) -> store.Outcome:
        return runtime.start_instance(self.api.db, "new_connection", {"channel": "counter"},
                                      actor=actors.Actor("clerk", frozenset({"clerk"})))

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


def _sees_clerk_task(role: str) -> bool:
    return role == "clerk" or policy.may([role], "tasks.read_all")


@dataclass(frozen=True)
class Row:
    """One operation: its action in `api.policy` says who may call it. For a task operation the
    target is a clerk's task, so beyond the action the task's group decides: who may try but cannot
    see the task gets 404, who sees it but may not act on it 403."""

    method: str
    path: str
    action: str
    ok: int = 200
    setup: Setup | None = None

    @property
    def on_task(self) -> bool:
        return self.path.startswith("/api/v1/tasks/") or (self.setup is not None and
                                                          getattr(self.setup, "on_task", False))

    @property
    def allowed(self) -> tuple[str, ...]:
        roles = policy.holders(self.action)
        if not self.on_task:
            return roles
        reads = self.action == "staff.read"
        return tuple(r for r in roles if (_sees_clerk_task(r) if reads else r == "clerk"))

    @property
    def hidden(self) -> tuple[str, ...]:
        return tuple(r for r in policy.holders(self.action) if not _sees_clerk_task(r)) if self.on_task else ()

    def expected(self, who: str) -> int:
        if who == ANON:
            return 401
        if who in self.allowed:
            return self.ok
        return 404 if who in self.hidden else 403




def _static(path: str, **kw: Any) -> Setup:
    return lambda c, who: (path.format(c=c), kw)


def _fresh_task(action: str, body: Callable[[Ctx], Any] | None = None, claim: bool = False) -> Setup:
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        tid = c.task()
        if claim:
            runtime.claim(c.api.db, tid, actor=actors.Actor("clerk", frozenset({"clerk"})))
        suffix = f"/{action}" if action else ""
        return f"/api/v1/tasks/{tid}{suffix}", ({"json": body(c)} if body else {})
    setup.on_task = True  # type: ignore[attr-defined]
    return setup


def _own_filter(c: Ctx, who: str) -> int:
    """A saved filter of the caller's own (of nobody's for the anonymous caller)."""
    from engine.core import worklist_prefs

    return worklist_prefs.save_filter(c.api.db, who, f"f{c.unique()}", {"q": "张伟"}).id


def _fresh_case(action: str, body: dict[str, Any] | None = None, pause_first: bool = False) -> Setup:
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        iid = c.case().instance_id
        if pause_first:
            from engine.deadlines import sla

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
    data = c.application(who) if who != ANON and policy.may([who], "documents.upload") else application_example()
    return "/api/v1/applications", {"json": {"channel": "app", "data": data},
                                    "headers": {"Idempotency-Key": f"k-{c.unique()}"}}


def _verification(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/meter-verifications", {"json": {"customer_name": "张伟", "mobile": "13800138000",
                                                    "address": "安德路12号", "meter_no": "3300123456"},
                                           "headers": {"Idempotency-Key": f"v-{c.unique()}"}}


def _withdraw(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/applications/{c.submitted()}/withdraw", {"json": {"reason": "项目取消"}}


def _upload(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/documents", {"data": {"file": (io.BytesIO(PDF + c.unique().encode()), "a.pdf")},
                                 "content_type": "multipart/form-data"}


def _thread_post(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/applications/{c.application_no}/messages", {"json": {"body": f"留言{c.unique()}"}}


def _mode_switch(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from engine.dispatch import modes

    now = {(m.area, m.job_type): m.mode for m in modes.list_modes(c.api.db)}[("urban", "install")]
    other = modes.CENTRAL if now == modes.SELF else modes.SELF
    return "/api/v1/dispatch/modes/urban/install", {"json": {"mode": other, "reason": "试行"}}


def _ack(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    group = who if who in ROLES else "clerk"
    return f"/api/v1/notices/{c.notice_for(group)}/acknowledge", {}


def _deploy(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from api.rest.schemas import EXAMPLE_BPMN

    text = EXAMPLE_BPMN.replace("电能表现场校验", f"电能表现场校验 {c.unique()}")
    return "/api/v1/deployments", {"json": {"files": {"meter_check.bpmn": text}}}


def _calendar(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/calendar/2030", {"data": CSV_EXAMPLE, "content_type": "text/csv"}


def _rules_edit(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from engine.deadlines import rule_versions

    body = dict(rule_versions.get_version(c.api.db, "sgcc_default")["content"], reason=f"角色测试 {c.unique()}")
    return "/api/v1/rule-sets/sgcc_default/versions", {"json": body}


def _rules_copy(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/rule-sets/sgcc_default/copy", {"json": {"name": f"copy_{c.unique()}", "reason": "角色测试"}}


def _rules_activate(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/rule-sets/sgcc_default/activate", {"json": {"version": 1, "reason": "角色测试"}}


# -- dispatch centre setups --
_DISPATCH_DAYS = [dt.date(2026, 3, d) for d in range(3, 28) if dt.date(2026, 3, d).weekday() < 5]


def _dispatch_booking(c: Ctx, status: str = "booked") -> str:
    """A fresh survey appointment of a bare case at CQ-KC1 (team lead: user `lead`), spread over the month."""
    from sqlalchemy import update

    from engine.core.models import appointment_t
    from engine.dispatch import booking
    from tests.dispatch_support import bare_cases

    [iid] = bare_cases(c.api.db, 1)
    day = _DISPATCH_DAYS[int(c.unique()) % len(_DISPATCH_DAYS)]
    view = booking.book(c.api.db, iid, {"job_type": "survey", "mode": "fixed", "date": day.isoformat(), "period": "am",
                                        "team": "CQ-KC1"}, actor="dispatcher")
    if status != "booked":
        with c.api.db.write() as conn:
            conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(status=status,
                                                                                           worker_name="刘洋"))
    return view.job_no


def _dispatch_field_job(c: Ctx, who: str, until: str) -> str:
    """A real case's field job at `until`, assigned to `who` when a field worker asks (his own job)."""
    from engine.dispatch import lists as dispatch
    from tests import process_helpers as ph

    install = who == "metering"
    iid = c.case().instance_id
    accept = ph.example("accept") if install else ph.example("accept", survey_with_install=False)
    ph.drive(c.api.db, iid, {"accept": accept}, until="dispatch_job")
    job_no = queries.get_instance(c.api.db, iid).data["job_no"]
    dispatch.assign(c.api.db, job_no, "孙涛" if install else "刘洋", actor=actors.Actor("lead", frozenset({"lead"})))
    if until != "report_arrival":
        ph.drive(c.api.db, iid, until=until)
    return job_no


def _dispatch_row(action: str, build: Callable[[Ctx, str], tuple[str, dict[str, Any]]],
                  fallback: str) -> Setup:
    """Build a fresh target only for a caller who may act; the others are refused before it matters."""
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        if who in policy.holders(action):
            return build(c, who)
        return fallback.format(c=c), {"json": {}}
    return setup


def _team_create(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/teams", {"json": {"code": f"T-{c.unique()}", "name": "临时班组", "area": "urban"}}


def _member_add(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/teams/CQ-KC1/members", {"json": {"name": f"临时{c.unique()}", "mobile": "13700007777"}}


def _member_remove(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from engine.dispatch import teams

    name = f"临时{c.unique()}"
    teams.add_member(c.api.db, "CQ-KC1", name, "13700007777")
    return f"/api/v1/teams/CQ-KC1/members/{name}", {}


def _book_direct(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from tests.dispatch_support import bare_cases

    [iid] = bare_cases(c.api.db, 1)
    day = _DISPATCH_DAYS[int(c.unique()) % len(_DISPATCH_DAYS)]
    return "/api/v1/appointments", {"json": {"instance_id": iid, "job_type": "survey", "mode": "fixed",
                                             "date": day.isoformat(), "period": "pm"}}


_NO_JOB = "/api/v1/appointments/ZY00000000-0000"


def _works_entry(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from engine.dispatch import works

    entry = works.add(c.api.db, c.case().instance_id, "internal", "客户受电工程", actor="manager")
    return f"/api/v1/works/{entry.id}/follow-ups", {"json": {"status": "in_progress", "note": "电缆沟已开挖"}}
# -- audit setups --
# -- modeler setups --
def _deploy_noted(c: Ctx, who: str, _plain: Setup = _deploy) -> tuple[str, dict[str, Any]]:
    path, kw = _plain(c, who)
    kw["json"]["note"] = "角色矩阵：新版本须写变更说明"
    return path, kw


_deploy = _deploy_noted  # since issue #8 a deployment that makes a new version needs a change note


def _check_bundle(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from api.rest.schemas import EXAMPLE_BPMN

    return "/api/v1/deployments/check", {"json": {"files": {"meter_check.bpmn": EXAMPLE_BPMN}}}


def _migration(suffix: str) -> Setup:
    def setup(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
        iid = runtime.start_instance(c.api.db, "engine_model", version=1).instance_id
        return f"/api/v1/migrations{suffix}", {"json": {"key": "engine_model", "from_version": 1, "to_version": 2,
                                                         "instance_ids": [iid]}}
    return setup


def _revert_migration(c: Ctx, who: str) -> tuple[str, dict[str, Any]]:
    from engine.modeling import migration

    iid = runtime.start_instance(c.api.db, "engine_model", version=1).instance_id
    migration.migrate(c.api.db, iid, 2, actor="analyst")
    return f"/api/v1/process-instances/{iid}/revert-migration", {}


MATRIX: dict[str, Row] = {
    "auth.me": Row("GET", "/api/v1/auth/me", "account.read"),
    "groups.list": Row("GET", "/api/v1/groups", "account.read"),
    "definitions.list": Row("GET", "/api/v1/process-definitions", "staff.read"),
    "definitions.get": Row("GET", "/api/v1/process-definitions/{c.definition_id}", "staff.read"),
    "deployments.list": Row("GET", "/api/v1/deployments", "staff.read"),
    "deployments.create": Row("POST", "/api/v1/deployments", "models.edit", 201, _deploy),
    "instances.list": Row("GET", "/api/v1/process-instances?q=YK", "staff.read"),
    "instances.start": Row("POST", "/api/v1/process-instances", "cases.start", 201,
                           _static("/api/v1/process-instances", json={"key": "new_connection",
                                                                       "data": {"channel": "counter"}})),
    "instances.get": Row("GET", "/api/v1/process-instances/{c.instance_id}", "staff.read"),
    "instances.history": Row("GET", "/api/v1/process-instances/{c.instance_id}/history", "staff.read"),
    "instances.cancel": Row("POST", "", "cases.cancel", 200, _fresh_case("cancel", {"reason": "重复申请"})),
    "instances.retry": Row("POST", "/api/v1/process-instances/{c.errored_id}/retry", "cases.retry"),
    "instances.message": Row("POST", "", "cases.message", 200,
                             _fresh_case("messages", {"name": "withdraw", "payload": {"reason": "项目取消"}})),
    "instances.sla": Row("GET", "/api/v1/process-instances/{c.instance_id}/sla", "staff.read"),
    "instances.pause": Row("POST", "", "cases.pause", 200,
                           _fresh_case("sla/pause", {"reason": "customer_documents"})),
    "instances.resume": Row("POST", "", "cases.pause", 200, _fresh_case("sla/resume", pause_first=True)),
    "instances.replay": Row("POST", "/api/v1/process-instances/{c.instance_id}/replay", "cases.replay"),
    "tasks.list": Row("GET", "/api/v1/tasks", "staff.read"),
    "tasks.get": Row("GET", "", "staff.read", 200, _fresh_task("")),
    "tasks.claim": Row("POST", "", "tasks.work", 200, _fresh_task("claim")),
    "tasks.unclaim": Row("POST", "", "tasks.work", 200, _fresh_task("unclaim", claim=True)),
    "tasks.delegate": Row("POST", "", "tasks.work", 200,
                          _fresh_task("delegate", lambda c: {"assignee": "clerk2"})),
    "tasks.complete": Row("POST", "", "tasks.work", 200,
                          _fresh_task("complete", lambda c: {"data": accept_example(0)})),
    "tasks.follow_up": Row("PUT", "", "tasks.work", 200,
                           _fresh_task("follow-up", lambda c: {"follow_up_on": "2026-03-05"})),
    "tasks.filters.list": Row("GET", "", "staff.read", 200, _static("/api/v1/tasks/filters")),
    "tasks.filters.save": Row("POST", "", "staff.read", 201, _static("/api/v1/tasks/filters",
                                                                   json={"name": "本周跟进", "params": {"q": "张伟"}})),
    "tasks.filters.delete": Row("DELETE", "", "staff.read", 204, lambda c, who: (
        f"/api/v1/tasks/filters/{_own_filter(c, who)}", {})),
    "applications.schema": Row("GET", "/api/v1/applications/schema", "applications.read"),
    "applications.submit": Row("POST", "", "applications.submit", 201, _submit),
    "applications.list": Row("GET", "/api/v1/applications", "applications.read"),
    "applications.get": Row("GET", "/api/v1/applications/{c.application_no}", "applications.read"),
    "applications.withdraw": Row("POST", "", "applications.withdraw", 200, _withdraw),
    "documents.upload": Row("POST", "", "documents.upload", 201, _upload),
    "verifications.request": Row("POST", "", "applications.submit", 201, _verification),
    "documents.get": Row("GET", "/api/v1/documents/{c.ref}", "documents.read"),
    "documents.content": Row("GET", "/api/v1/documents/{c.ref}/content", "documents.read"),
    "notices.list": Row("GET", "/api/v1/notices", "staff.read"),
    "notices.acknowledge": Row("POST", "", "tasks.work", 200, _ack),
    "users.list": Row("GET", "/api/v1/users", "users.read"),
    "users.create": Row("POST", "", "users.admin", 201, _new_user),
    "users.get": Row("GET", "/api/v1/users/clerk", "users.read"),
    "users.update": Row("PATCH", "", "users.admin", 200, _existing_user("PATCH")),
    "users.deactivate": Row("DELETE", "", "users.admin", 200, _existing_user("DELETE")),
    "calendar.list": Row("GET", "/api/v1/calendar", "staff.read"),
    "calendar.export": Row("GET", "/api/v1/calendar/2026", "staff.read"),
    "calendar.import": Row("POST", "", "calendar.import", 200, _calendar),
    "rules.list": Row("GET", "/api/v1/rule-sets", "rules.read"),
    "rules.get": Row("GET", "/api/v1/rule-sets/sgcc_default", "rules.read"),
    "rules.version": Row("GET", "/api/v1/rule-sets/sgcc_default/versions/1", "rules.read"),
    "rules.edit": Row("POST", "", "rules.admin", 201, _rules_edit),
    "rules.copy": Row("POST", "", "rules.admin", 201, _rules_copy),
    "rules.activate": Row("POST", "", "rules.admin", 200, _rules_activate),
    # -- dispatch centre rows --
    "dispatch.teams.list": Row("GET", "/api/v1/teams", "dispatch.read"),
    "dispatch.teams.create": Row("POST", "", "dispatch.centre", 201, _team_create),
    "dispatch.teams.get": Row("GET", "/api/v1/teams/CQ-KC1", "dispatch.read"),
    "dispatch.teams.update": Row("PATCH", "", "dispatch.centre", 200,
                                 _static("/api/v1/teams/CQ-KC1", json={"name": "城区勘查一班"})),
    "dispatch.members.add": Row("POST", "", "dispatch.centre", 201, _member_add),
    "dispatch.members.remove": Row("DELETE", "", "dispatch.centre", 200, _member_remove),
    "dispatch.capacity.board": Row("GET", "/api/v1/capacity?days=3", "dispatch.read"),
    "dispatch.capacity.week": Row("PUT", "", "dispatch.lead", 200, _static(
        "/api/v1/capacity/CQ-KC1/weeks/2026-04-06", json={"plan": {"verify": [20, 20, 20, 20, 20, 0, 0]}})),
    "dispatch.capacity.day": Row("PUT", "", "dispatch.lead", 200, _static(
        "/api/v1/capacity/CQ-KC1/days/2026-04-06", json={"job_type": "verify", "capacity": 10, "reason": "培训"})),
    "dispatch.capacity.history": Row("GET", "/api/v1/capacity/CQ-KC1/history", "dispatch.read"),
    "dispatch.availability": Row("GET", "/api/v1/availability?job_type=survey", "dispatch.availability"),
    "dispatch.appointments.list": Row("GET", "/api/v1/appointments", "dispatch.read"),
    "dispatch.appointments.book": Row("POST", "", "dispatch.centre", 201, _book_direct),
    "dispatch.appointments.get": Row("GET", "/api/v1/appointments/{c.job_no}", "dispatch.read"),
    "dispatch.appointments.reschedule": Row("POST", "", "dispatch.centre", 200, _dispatch_row(
        "dispatch.centre", lambda c, who: (f"/api/v1/appointments/{_dispatch_booking(c)}/reschedule",
                                          {"json": {"period": "pm", "reason": "客户要求"}}), _NO_JOB + "/reschedule")),
    "dispatch.appointments.cancel": Row("POST", "", "dispatch.centre", 200, _dispatch_row(
        "dispatch.centre", lambda c, who: (f"/api/v1/appointments/{_dispatch_booking(c)}/cancel",
                                          {"json": {"reason": "客户出差"}}), _NO_JOB + "/cancel")),
    "dispatch.appointments.assign": Row("POST", "", "dispatch.lead", 200, _dispatch_row(
        "dispatch.lead", lambda c, who: (f"/api/v1/appointments/{_dispatch_booking(c, 'dispatched')}/assign",
                                         {"json": {"worker": "赵敏"}}), _NO_JOB + "/assign")),
    "dispatch.lists.get": Row("GET", "/api/v1/dispatch-lists", "dispatch.read"),
    "dispatch.lists.generate": Row("POST", "", "dispatch.centre", 200,
                                   _static("/api/v1/dispatch-lists", json={"day": "2026-03-03", "slot": "am"})),
    "dispatch.lists.csv": Row("GET", "/api/v1/dispatch-lists.csv?day=2026-03-03", "dispatch.read"),
    "dispatch.lists.assign": Row("POST", "", "dispatch.lead", 200, _dispatch_row(
        "dispatch.lead", lambda c, who: ("/api/v1/dispatch-lists/assign",
                                         {"json": {"job_no": _dispatch_booking(c, "dispatched"), "worker": "赵敏"}}),
        "/api/v1/dispatch-lists/assign")),
    "dispatch.field.arrival": Row("POST", "", "field.report", 200, _dispatch_row(
        "field.report", lambda c, who: (f"/api/v1/field-jobs/{_dispatch_field_job(c, who, 'report_arrival')}"
                                             "/arrival", {"json": {}}), "/api/v1/field-jobs/{c.job_no}/arrival")),
    "dispatch.field.completion": Row("POST", "", "field.report", 200, _dispatch_row(
        "field.report", lambda c, who: (
            f"/api/v1/field-jobs/{_dispatch_field_job(c, who, 'report_completion')}/completion",
            {"json": {"work_summary": "作业完成", "customer_signed": True}}),
        "/api/v1/field-jobs/{c.job_no}/completion")),
    "dispatch.field.callback": Row("POST", "", "field.callback", 200, _dispatch_row(
        "field.callback", lambda c, who: (f"/api/v1/field-jobs/{_dispatch_field_job(c, who, 'job_callback')}/callback",
                                         {"json": {"reachable": True, "satisfaction": 5}}),
        "/api/v1/field-jobs/{c.job_no}/callback")),
    "dispatch.overdue": Row("GET", "/api/v1/overdue-arrivals", "dispatch.read"),
    "dispatch.callbacks": Row("GET", "/api/v1/callbacks", "dispatch.read"),
    "dispatch.works.list": Row("GET", "/api/v1/works", "works.read"),
    "dispatch.works.follow_up": Row("POST", "", "works.follow_up", 200, _dispatch_row(
        "works.follow_up", _works_entry, "/api/v1/works/1/follow-ups")),
    # -- audit rows --
    "audit.as_of": Row("GET", "/api/v1/process-instances/{c.instance_id}/as-of/1?xml=false", "cases.replay"),
    "audit.case_file": Row("GET", "/api/v1/process-instances/{c.instance_id}/case-file", "audit.read"),
    "audit.chains": Row("GET", "/api/v1/audit/chains?instance={c.instance_id}", "audit.read"),
    "audit.kpis": Row("GET", "/api/v1/kpis?start=2026-03-01&end=2026-04-01", "kpi.read"),
    "audit.heatmap": Row("GET", "/api/v1/kpis/heatmap?key=new_connection", "kpi.read"),
    # -- modeler rows --
    "modeling.check": Row("POST", "", "models.edit", 200, _check_bundle),
    "modeling.versions": Row("GET", "/api/v1/process-definitions/new_connection/versions", "models.read"),
    "modeling.diff": Row("GET", "/api/v1/process-definitions/engine_model/diff?from=1&to=2", "models.read"),
    "modeling.export": Row("GET", "/api/v1/process-definitions/{c.definition_id}/export", "models.read"),
    "modeling.bpmn": Row("GET", "/api/v1/process-definitions/{c.definition_id}/bpmn", "models.read"),
    "migrations.check": Row("POST", "", "models.edit", 200, _migration("/check")),
    "migrations.run": Row("POST", "", "models.edit", 200, _migration("")),
    "migrations.revert": Row("POST", "", "models.edit", 200, _revert_migration),
    # -- the connected service centre --
    "threads.list": Row("GET", "/api/v1/applications/{c.application_no}/messages", "applications.read"),
    "threads.post": Row("POST", "", "threads.post", 201, _thread_post),
    "dispatch.modes.list": Row("GET", "/api/v1/dispatch/modes", "dispatch.read"),
    "dispatch.modes.chain": Row("GET", "/api/v1/dispatch/modes/chain", "dispatch.read"),
    "dispatch.modes.switch": Row("PUT", "", "dispatch.mode", 200, _mode_switch),
    "analysis.load": Row("GET", "/api/v1/analysis/load", "analysis.read"),
    "analysis.csv": Row("GET", "/api/v1/analysis/load.csv", "analysis.read"),
    "after_sales.follow_ups": Row("GET", "/api/v1/after-sales", "staff.read"),
}


@pytest.fixture(scope="module")
def ctx(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    tmp = tmp_path_factory.mktemp("roles")
    shutil.copy(sqlite_template, tmp / "yekuo.db")
    db = Database(f"sqlite:///{tmp / 'yekuo.db'}")
    previous = engine_clock.set_clock(engine_clock.FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)))

    def always_fails(call: Any) -> Any:
        raise RuntimeError("billing system down")

    services.register("test/flaky", always_fails)
    try:
        auth.reset_throttle()
        seed_users(db)
        seed_deadlines(db)
        deploy_bundle(db)
        definitions.deploy_paths(db, [ENGINE_MODEL / "service_retry.bpmn"], forms_dir=ENGINE_MODEL / "forms")
        c = Ctx(Api(make_app(db, tmp)))
        c.instance_id = c.case().instance_id
        c.errored_id = runtime.start_instance(db, "service_retry", {"amount": 1, "parts": 1}).instance_id
        assert queries.get_instance(db, c.errored_id).status == "error"
        c.definition_id = definitions.latest_id(db, "new_connection")
        c.application_no = c.submitted()
        c.ref = c.upload("channel")
        # -- dispatch centre fixtures --
        c.job_no = _dispatch_booking(c)
        # -- audit fixtures --
        # -- modeler fixtures --
        definitions.deploy_paths(db, [ENGINE_MODEL / "engine_model.bpmn"], forms_dir=ENGINE_MODEL / "forms")
        changed = (ENGINE_MODEL / "engine_model.bpmn").read_text(encoding="utf-8").replace('"P2D"', '"P1D"')
        (tmp / "engine_model.bpmn").write_text(changed, encoding="utf-8")
        definitions.deploy_paths(db, [tmp / "engine_model.bpmn"], forms_dir=ENGINE_MODEL / "forms")
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


def test_documented_roles_are_the_policy(ctx: Ctx) -> None:
    """Each operation's `x-roles` is its action's roles, so the document cannot drift either."""
    spec = ctx.api.get("/api/v1/openapi.json").get_json()
    for name, row in MATRIX.items():
        documented = spec["paths"][_PATH_OF[name]][row.method.lower()]["x-roles"]
        expected = ["*"] if policy.roles(row.action) is policy.ANYONE else list(policy.holders(row.action))
        assert documented == expected, name


def test_matrix_covers_every_operation(ctx: Ctx) -> None:
    """A new endpoint must be added to the matrix (public ones are listed here)."""
    spec = ctx.api.get("/api/v1/openapi.json").get_json()
    public = {("POST", "/api/v1/auth/token"),  # and the signed system calls (tests/test_connectors.py)
              ("POST", "/api/v1/inbound/95598"), ("POST", "/api/v1/inbound/marketing"),
              ("POST", "/api/v1/inbound/callcenter"), ("POST", "/api/v1/inbound/sms"),
              ("POST", "/api/v1/inbound/verification")}
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
    "tasks.follow_up": "/api/v1/tasks/{task_id}/follow-up", "tasks.filters.list": "/api/v1/tasks/filters",
    "tasks.filters.save": "/api/v1/tasks/filters", "tasks.filters.delete": "/api/v1/tasks/filters/{filter_id}",
    "applications.schema": "/api/v1/applications/schema", "applications.submit": "/api/v1/applications",
    "applications.list": "/api/v1/applications", "applications.get": "/api/v1/applications/{application_no}",
    "applications.withdraw": "/api/v1/applications/{application_no}/withdraw",
    "documents.upload": "/api/v1/documents", "documents.get": "/api/v1/documents/{ref}",
    "documents.content": "/api/v1/documents/{ref}/content",
    "verifications.request": "/api/v1/meter-verifications",
    "notices.list": "/api/v1/notices", "notices.acknowledge": "/api/v1/notices/{notice_id}/acknowledge",
    "users.list": "/api/v1/users", "users.create": "/api/v1/users", "users.get": "/api/v1/users/{username}",
    "users.update": "/api/v1/users/{username}", "users.deactivate": "/api/v1/users/{username}",
    "calendar.list": "/api/v1/calendar", "calendar.export": "/api/v1/calendar/{year}",
    "calendar.import": "/api/v1/calendar/{year}",
    "rules.list": "/api/v1/rule-sets", "rules.get": "/api/v1/rule-sets/{name}",
    "rules.version": "/api/v1/rule-sets/{name}/versions/{version}", "rules.edit": "/api/v1/rule-sets/{name}/versions",
    "rules.copy": "/api/v1/rule-sets/{name}/copy", "rules.activate": "/api/v1/rule-sets/{name}/activate",
    # -- dispatch centre paths --
    "dispatch.teams.list": "/api/v1/teams", "dispatch.teams.create": "/api/v1/teams",
    "dispatch.teams.get": "/api/v1/teams/{code}", "dispatch.teams.update": "/api/v1/teams/{code}",
    "dispatch.members.add": "/api/v1/teams/{code}/members",
    "dispatch.members.remove": "/api/v1/teams/{code}/members/{name}",
    "dispatch.capacity.board": "/api/v1/capacity", "dispatch.capacity.week": "/api/v1/capacity/{code}/weeks/{monday}",
    "dispatch.capacity.day": "/api/v1/capacity/{code}/days/{day}",
    "dispatch.capacity.history": "/api/v1/capacity/{code}/history", "dispatch.availability": "/api/v1/availability",
    "dispatch.appointments.list": "/api/v1/appointments", "dispatch.appointments.book": "/api/v1/appointments",
    "dispatch.appointments.get": "/api/v1/appointments/{job_no}",
    "dispatch.appointments.reschedule": "/api/v1/appointments/{job_no}/reschedule",
    "dispatch.appointments.cancel": "/api/v1/appointments/{job_no}/cancel",
    "dispatch.appointments.assign": "/api/v1/appointments/{job_no}/assign",
    "dispatch.lists.get": "/api/v1/dispatch-lists", "dispatch.lists.generate": "/api/v1/dispatch-lists",
    "dispatch.lists.csv": "/api/v1/dispatch-lists.csv", "dispatch.lists.assign": "/api/v1/dispatch-lists/assign",
    "dispatch.field.arrival": "/api/v1/field-jobs/{job_no}/arrival",
    "dispatch.field.completion": "/api/v1/field-jobs/{job_no}/completion",
    "dispatch.field.callback": "/api/v1/field-jobs/{job_no}/callback",
    "dispatch.overdue": "/api/v1/overdue-arrivals", "dispatch.callbacks": "/api/v1/callbacks",
    "dispatch.works.list": "/api/v1/works", "dispatch.works.follow_up": "/api/v1/works/{entry_id}/follow-ups",
    # -- audit paths --
    "audit.as_of": "/api/v1/process-instances/{instance_id}/as-of/{seq}",
    "audit.case_file": "/api/v1/process-instances/{instance_id}/case-file",
    "audit.chains": "/api/v1/audit/chains", "audit.kpis": "/api/v1/kpis", "audit.heatmap": "/api/v1/kpis/heatmap",
    # -- modeler paths --
    "modeling.check": "/api/v1/deployments/check",
    "modeling.versions": "/api/v1/process-definitions/{key}/versions",
    "modeling.diff": "/api/v1/process-definitions/{key}/diff",
    "modeling.export": "/api/v1/process-definitions/{definition_id}/export",
    "modeling.bpmn": "/api/v1/process-definitions/{definition_id}/bpmn",
    "migrations.check": "/api/v1/migrations/check", "migrations.run": "/api/v1/migrations",
    "migrations.revert": "/api/v1/process-instances/{instance_id}/revert-migration",
    # -- service centre paths --
    "threads.list": "/api/v1/applications/{application_no}/messages",
    "threads.post": "/api/v1/applications/{application_no}/messages",
    "dispatch.modes.list": "/api/v1/dispatch/modes", "dispatch.modes.chain": "/api/v1/dispatch/modes/chain",
    "dispatch.modes.switch": "/api/v1/dispatch/modes/{area}/{job_type}",
    "analysis.load": "/api/v1/analysis/load", "analysis.csv": "/api/v1/analysis/load.csv",
    "after_sales.follow_ups": "/api/v1/after-sales",
}


def _matches(path: str, name: str) -> bool:
    return _PATH_OF.get(name) == path
