"""The staff pages: sign-in, task lists, the task form, case search, the case page, the counter start.

Each view parses the request, calls one engine function (or a few reads), and renders. Who may
see what: every page needs a signed-in staff user (every role except `channel`, which is an API
client) and names its action in `api.policy` (`@page("action")`). Task lists show the user's own
and their groups' work; a task page is visible to its group, its holder and the roles that read
all tasks, and only the group and the holder act on it. Case search and case pages are open to all
staff.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from api import auth, policy
from api.web import CHINA, LANGUAGES, casedata, labels, local_time, vendor_ready
from engine.audit import diagrams
from engine.core import actors, clock, definitions, history, queries, runtime, users, worklist
from engine.core.db import Database
from engine.core.errors import Conflict, Forbidden, InvalidData, InvalidState, YekuoError
from engine.deadlines import sla

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets/web")

PAGE_SIZE = 20
SOON = dt.timedelta(hours=24)


def page_db() -> Database:
    return current_app.extensions["yekuo.db"]


def is_demo() -> bool:
    return bool(getattr(current_app.extensions["yekuo.settings"], "demo", False))


def _messages() -> dict[str, str]:
    return {
        "unauthorized": _("Please sign in."),
        "forbidden": _("You do not have permission to do this."),
        "not_found": _("This page or record does not exist."),
        "conflict": _("Someone else changed this task or case first. Reload the page and try again."),
        "invalid_state": _("This is not possible in the case's current state."),
        "invalid_data": _("The form has errors. Correct the marked fields and submit again."),
        "csrf_failed": _("The page has expired. Reload it and try again."),
        "too_many_attempts": _("Too many failed sign-ins. Wait 15 minutes and try again."),
        "calendar_missing": _("The working-day calendar has no data for a year this deadline reaches. "
                              "Ask an administrator to import it, then try again."),
    }


def friendly(err: YekuoError) -> str:
    return _messages().get(err.code, err.message)


# -- request set-up ---------------------------------------------------------------------------------

@bp.before_request
def _remember_language() -> None:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang


@bp.context_processor
def _page_context() -> dict[str, Any]:
    user = auth.current_user() if request.endpoint != "web.static" else None
    counts = None
    if user is not None and user.groups & policy.STAFF:
        counts = worklist.counts(page_db(), user=user.username, groups=user.groups, now=clock.now())
    return {"user": user, "demo": is_demo(), "csrf_token": auth.csrf_token, "counts": counts,
            "labels": labels, "label": labels.label, "read_all": bool(user and policy.may(user.groups, "tasks.read_all")),
            "may_start": bool(user and policy.may(user.groups, "cases.start")), "vendor_ready": vendor_ready(),
            "person": display_name}  # a username as the person's display name


@bp.errorhandler(YekuoError)
def _page_error(err: YekuoError) -> Any:
    if _wants_json():
        return jsonify(error={"code": err.code, "message": friendly(err), "detail": err.message,
                              "details": err.details}), err.status
    if isinstance(err, auth.Unauthorized) and request.method == "GET":
        return redirect(url_for("web.login", next=_here()))
    if isinstance(err, auth.CsrfError) and request.endpoint == "web.login":
        return _login_page(error=friendly(err), status=400)
    return render_template("error.html", message=friendly(err), detail=_page_detail(err), status=err.status), err.status


def _page_detail(err: YekuoError) -> str:
    """The line under an error page's message: who the page is for (a 403), in the page's language;
    the engine's own English wording only on English pages."""
    action = getattr(current_app.view_functions.get(request.endpoint or ""), "policy_action", None)
    user = auth.current_user()
    if isinstance(err, Forbidden) and action and user is not None and not policy.may(user.groups, action):
        roles = "、".join(str(labels.label(labels.ROLES, r)) for r in policy.holders(action))
        return _("This page is for: %(roles)s.", roles=roles)
    return err.message if str(session.get("lang")) == "en" else ""


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _here() -> str:
    return request.full_path.rstrip("?")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an absolute URL or `//host` in `next` would be an open redirect."""
    if not target:
        return url_for("web.my_tasks")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.my_tasks")
    return target


def page(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page for signed-in staff who may do `action` (api.policy); anyone else is sent to sign in
    (or told they may not). The action is kept on the view, so tests read it off the routes."""
    policy.roles(action)  # an unknown action fails at import, not at the first request

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = auth.current_user()
            if user is None:
                raise auth.Unauthorized("sign in to use the staff pages")
            if not user.groups & policy.STAFF:
                raise Forbidden("channel accounts use the API, not the staff pages")
            policy.need(user.groups, action)
            return view(*args, **kwargs)

        wrapper.policy_action = action  # type: ignore[attr-defined]
        return wrapper

    return wrap


def page_user() -> users.UserInfo:
    user = auth.current_user()
    assert user is not None
    return user


def page_actor() -> actors.Actor:
    return auth.actor_or_401()


MAX_PAGE = 100_000  # beyond any list; a larger number would overflow the query's OFFSET


def page_number() -> int:
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


def due_state(due_at: dt.datetime | None, now: dt.datetime) -> str:
    if due_at is None:
        return ""
    if due_at < now:
        return "overdue"
    if due_at - now <= SOON:
        return "soon"
    return "due"


# -- sign-in ----------------------------------------------------------------------------------------

def _login_page(*, error: str | None = None, status: int = 200, username: str = "") -> Any:
    demo_users = [(code, labels.label(labels.ROLES, code)) for code, _name in users.ROLES] if is_demo() else []
    return render_template("login.html", error=error, username=username, next=request.values.get("next", ""),
                           demo_users=demo_users), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if auth.current_user() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return _login_page()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _login_page(error=_("Enter your username and password."), status=400, username=username)
    try:
        user = auth.authenticate(username, password)
    except auth.TooManyAttempts as err:
        return _login_page(error=friendly(err), status=429, username=username)
    except auth.Unauthorized:
        return _login_page(error=_("Wrong username or password."), status=401, username=username)
    lang = session.get("lang")
    auth.login_session(user)
    if lang:
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    lang = session.get("lang")
    auth.logout_session()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("web.login"))


@bp.get("/")
def index() -> Any:
    return redirect(url_for("web.my_tasks"))


# -- one task ---------------------------------------------------------------------------------------

def _may_view(user: users.UserInfo, item: worklist.WorkItemView) -> bool:
    return worklist.may_see(page_actor(), item, read_all=policy.may(user.groups, "tasks.read_all"))


def _may_act(user: users.UserInfo, item: worklist.WorkItemView) -> bool:
    if item.status != "open":
        return False
    return item.assignee == user.username or (item.assignee is None and item.candidate_group in user.groups)


def _instructions(definition: definitions.Definition, item: worklist.WorkItemView) -> str:
    spec = definition.spec if item.process_key == definition.key else definition.subprocess_specs.get(item.process_key)
    task_spec = spec.task_specs.get(item.task_spec) if spec is not None else None
    extensions = getattr(task_spec, "extensions", None) or {}
    return str(extensions.get("instructionsForEndUser") or "")


def fresh_example(schema: dict[str, Any], today: dt.date) -> dict[str, Any] | None:
    """The form's first example, with its dates moved forward if a not-in-the-past date has passed.

    All top-level dates move by the same number of days, so their order (promised-by before the
    wanted connection date, and so on) stays as the example has it.
    """
    examples = schema.get("examples")
    if not isinstance(examples, list) or not examples or not isinstance(examples[0], dict):
        return None
    props = schema.get("properties") or {}
    # a choice the case does not offer (a worker of another team) is left for the person to choose
    example = {k: v for k, v in examples[0].items()
               if not isinstance((props.get(k) or {}).get("enum"), list) or v in props[k]["enum"]}
    dates = {k: dt.date.fromisoformat(v) for k, v in example.items()
             if isinstance(v, str) and len(v) == 10 and (props.get(k) or {}).get("format") in ("date", "date-not-past")
             and _is_date(v)}
    must_be_future = [d for k, d in dates.items() if props[k].get("format") == "date-not-past"]
    if must_be_future and min(must_be_future) < today:
        shift = (today + dt.timedelta(days=7)) - min(must_be_future)
        for k, d in dates.items():
            example[k] = (d + shift).isoformat()
    return example


def _task_inputs(instance_id: int) -> dict[str, Any]:
    from api.web import case_documents  # it adds its routes to this module's blueprint

    return case_documents.task_inputs(instance_id)


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


@bp.get("/tasks/<item_id>")
@page("staff.read")
def task(item_id: str) -> Any:
    db, user = page_db(), page_user()
    item = queries.get_work_item(db, item_id)
    if not _may_view(user, item):
        raise Forbidden(f"task '{item.name}' belongs to group '{item.candidate_group}'")
    inst = queries.get_instance(db, item.instance_id, with_data=item.status != "open")
    detail = queries.task_detail(db, item.id)  # the form of a called process's task too
    schema, ui_schema, definition = detail.form, detail.ui_schema, detail.definition
    data = detail.data if item.status == "open" else inst.data
    startval = {}
    if isinstance(schema, dict):
        startval = {k: data[k] for k in (schema.get("properties") or {}) if k in data}
    now = clock.now()
    today = now.astimezone(CHINA).date()
    item_clocks = [c for c in sla.clocks_of(db, item.instance_id) if c.work_item_id == item.id]
    config = {
        "schema": schema, "ui": ui_schema, "startval": startval,
        "example": fresh_example(schema, today) if (is_demo() and isinstance(schema, dict)) else None,
        "lang": "en" if str(session.get("lang")) == "en" else "zh_CN",
        "today": today.isoformat(), "instanceVersion": inst.instance_version,
        "completeUrl": url_for("web.complete", item_id=item.id), "csrf": auth.csrf_token(),
        "canAct": _may_act(user, item), **_task_inputs(item.instance_id),
        "text": {"fixErrors": _("Correct %(n)s field(s):", n="%(n)s"), "submitting": _("Submitting…"),
                 "submitted": _("Submitted."), "failed": _("The task could not be submitted."),
                 "network": _("The server could not be reached. Check the connection and try again."),
                 "demoFilled": _("Demo data filled in; check it and submit."),
                 "noLibrary": _("The form library did not load.")},
    }
    return render_template("task.html", item=item, inst=inst, config=config, schema=schema,
                           case=casedata.describe(data, definition.forms, form_order(definition, _events(db, item.instance_id))),
                           instructions=_instructions(definition, item),
                           may_act=_may_act(user, item),
                           may_claim=item.status == "open" and item.assignee is None and item.candidate_group in user.groups,
                           may_unclaim=item.status == "open" and item.assignee == user.username,
                           clocks=item_clocks, now=now, due_state=due_state,
                           assignee_name=display_name(item.assignee) if item.assignee else "")


@bp.post("/tasks/<item_id>/claim")
@page("tasks.work")
def claim(item_id: str) -> Any:
    try:
        item = runtime.claim(page_db(), item_id, actor=page_actor())
        flash(_("You now hold this task; it is in My tasks."), "success")
        return redirect(url_for("web.task", item_id=item.id))
    except (Conflict, Forbidden, InvalidState) as err:
        flash(friendly(err) + f" ({err.message})", "error")
        return redirect(url_for("web.task", item_id=item_id))


@bp.post("/tasks/<item_id>/unclaim")
@page("tasks.work")
def unclaim(item_id: str) -> Any:
    try:
        runtime.unclaim(page_db(), item_id, actor=page_actor())
        flash(_("You released the task; it is back in the group's list."), "success")
    except (Conflict, Forbidden, InvalidState) as err:
        flash(friendly(err) + f" ({err.message})", "error")
    return redirect(url_for("web.task", item_id=item_id))


@bp.post("/tasks/<item_id>/complete")
@page("tasks.work")
def complete(item_id: str) -> Any:
    """JSON in (`{data, instance_version}`), JSON out: where to go next, or the errors per field."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise InvalidData("send {\"data\": {...}}", details={"_form": [_("The form could not be read.")]})
    version = body.get("instance_version")
    db = page_db()
    item = queries.get_work_item(db, item_id)
    try:
        outcome = runtime.complete_task(db, item_id, body["data"], actor=page_actor(),
                                        instance_version=version if isinstance(version, int) else None)
    except InvalidData as err:
        return jsonify(error={"code": err.code, "message": friendly(err), "details": err.details}), err.status
    again = [i for i in outcome.new_items if i.task_spec == item.task_spec and i.instance_id == item.instance_id]
    if again:
        # the process sent the task straight back (a booking the service refused after all):
        # nothing moved on, so the page says so and reopens the task with its note
        flash(_("Not done: %(task)s came back; see the note on the form.", task=item.name), "error")
        return jsonify(ok=False, redirect=url_for("web.task", item_id=again[0].id), instance=outcome.instance_id)
    steps = [f"{i.name}（{labels.label(labels.ROLES, i.candidate_group)}）" for i in outcome.new_items]
    if steps:
        text = _("Submitted: %(task)s. Next: %(steps)s.", task=item.name, steps="、".join(steps))
    elif outcome.status == "completed":
        text = _("Submitted: %(task)s. The case is complete.", task=item.name)
    else:
        text = _("Submitted: %(task)s.", task=item.name)
    actor = page_actor()
    follow = [i for i in outcome.new_items if actor.may_work_in(i.candidate_group)]
    # the same person goes on with the case's next step when it is theirs (the clerk signs the
    # contract right after accepting, with the customer still at the counter), else with the
    # next task they hold; with none left, back to the list
    if follow:
        target = url_for("web.task", item_id=follow[0].id)
    else:
        target, note = next_task(actor.name, done=item_id)
        text = f"{text} {note}"
    flash(text, "success")
    return jsonify(ok=True, redirect=target, instance=outcome.instance_id)


def next_task(username: str, *, done: str) -> tuple[str, str]:
    """Where a person goes after finishing a task, and the note saying so: their next held task
    (most urgent first), else their list with a note that nothing is left."""
    rows, _n = worklist.search(page_db(), worklist.TaskFilter(assignee=username), sort="due", limit=2)
    following = next((r for r in rows if r.id != done), None)
    if following is not None:
        return url_for("web.task", item_id=following.id), _("Your next task: %(task)s.", task=following.name)
    return url_for("web.my_tasks"), _("You hold no more tasks. Claim the next one from Group tasks.")


# -- cases ------------------------------------------------------------------------------------------

@bp.get("/cases")
@page("staff.read")
def cases() -> Any:
    query = request.args.get("q", "").strip()[:100]
    status = request.args.get("status") or None
    if status not in labels.INSTANCE_STATUS:
        status = None
    business_type = request.args.get("type") or None
    if business_type not in labels.BUSINESS_TYPES:
        business_type = None
    page_no = page_number()
    rows, total = queries.list_instances(page_db(), query=query or None, status=status, business_type=business_type,
                                         limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    return render_template("cases.html", rows=rows, total=total, query=query, status=status or "",
                           business_type=business_type or "", page=page_no,
                           pages=max(1, math.ceil(total / PAGE_SIZE)))


def display_name(username: str | None) -> str:
    if not username:
        return ""
    cache = _display_names()
    if username not in cache:
        found = users.get_user(page_db(), username)
        cache[username] = found.display_name if found is not None else labels.label(labels.SYSTEM_ACTORS, username)
    return cache[username]


def _display_names() -> dict[str, str]:
    from flask import g

    if "yekuo_names" not in g:
        g.yekuo_names = {}
    return g.yekuo_names


def _events(db: Database, instance_id: int) -> list[Any]:
    with db.read() as conn:
        return list(history.events_of(conn, instance_id))


def form_order(definition: definitions.Definition, events: list[Any]) -> list[str]:
    """The form files of the case's completed tasks, in the order they were completed."""
    forms_of: dict[str, str] = {}
    for info in definition.tasks.values():
        if info.form_schema:
            forms_of.setdefault(info.bpmn_id, info.form_schema)
    order: list[str] = []
    for ev in events:
        form = forms_of.get(ev.task_spec or "") if ev.type == "task_completed" else None
        if form and form not in order:
            order.append(form)
    return order


def task_names(definition: definitions.Definition) -> dict[str, str]:
    names: dict[str, str] = {}
    for info in definition.tasks.values():
        names.setdefault(info.bpmn_id, info.name)
    return names


def event_summary(ev: Any, payload: dict[str, Any], names: dict[str, str],
                  clock_titles: dict[int, str]) -> str:
    task = names.get(ev.task_spec or "", ev.task_spec or "")
    kind = ev.type
    if kind == "instance_started":
        channel = (payload.get("data") or {}).get("channel")
        text = _("Version %(version)s", version=payload.get("version", ""))
        return text + (f" · {labels.label(labels.CHANNELS, channel)}" if channel else "")
    if kind in ("task_completed", "task_claimed", "task_unclaimed", "task_reminded"):
        return task
    if kind in ("service_called", "service_failed"):
        shown = payload.get("error") or casedata.service_text(payload.get("result"))
        return f"{task}：{shown}"[:160] if shown else task
    if kind == "timer_fired":
        return "、".join(str(d)[:16].replace("T", " ") for d in payload.get("due", []))
    if kind == "message_received":
        return str(payload.get("name", ""))
    if kind.startswith("sla_"):
        title = clock_titles.get(payload.get("clock_id")) or payload.get("sla_key") or task
        deadline = payload.get("deadline")
        if isinstance(deadline, str) and "T" in deadline:
            try:
                deadline = local_time(dt.datetime.fromisoformat(deadline))
            except ValueError:
                pass
        return _("%(title)s (deadline %(deadline)s)", title=title, deadline=deadline) if deadline else str(title)
    if kind == "instance_error":
        return str(payload.get("message", ""))[:200]
    if kind == "instance_cancelled":
        return str(payload.get("reason", ""))
    if kind in ("instance_migrated", "instance_migration_reverted"):
        text = f"v{payload.get('from_version', '')} → v{payload.get('to_version', '')}"
        if payload.get("called_name"):
            text = f"{payload['called_name']} {text}"
        return text + (f" · {payload['note']}" if payload.get("note") else "")
    if kind.startswith("field_"):
        parts = [payload.get("job_no"), payload.get("team"), payload.get("worker") or payload.get("worker_name")]
        due = payload.get("due_at")
        if isinstance(due, str):
            parts.append(_("due %(at)s", at=due[:16].replace("T", " ")))
        return " · ".join(str(p) for p in parts if p) or task
    if kind.startswith("works_"):
        parts = [payload.get("title"), payload.get("status"), payload.get("note")]
        if payload.get("next_follow_up"):
            parts.append(_("next follow-up %(day)s", day=payload["next_follow_up"]))
        return " · ".join(str(p) for p in parts if p) or task
    return task


@bp.get("/cases/<int:instance_id>")
@page("staff.read")
def case(instance_id: int) -> Any:
    db = page_db()
    inst = queries.get_instance(db, instance_id)
    definition = queries.case_definition(db, instance_id)
    names = task_names(definition)
    clocks = sla.clocks_of(db, instance_id)
    clock_titles = {c.id: c.title or c.sla_key for c in clocks}
    events = []
    rows = _events(db, instance_id)
    for ev in rows:
        payload = history.payload_of(ev)
        payload.pop("trail", None)
        events.append({"seq": ev.seq, "at": ev.at, "type": ev.type,
                       "type_label": labels.label(labels.EVENT_TYPES, ev.type),
                       "actor": display_name(ev.actor) if ev.actor else "",
                       "actor_code": ev.actor or "", "summary": event_summary(ev, payload, names, clock_titles),
                       "payload": payload})
    events.reverse()
    now = clock.now()
    from api.web import case_documents

    return render_template("case.html", inst=inst, definition=definition,
                           documents=case_documents.listed(instance_id, inst.data),
                           **casedata.step_view(definition, inst.data, rows, display_name), clocks=clocks,
                           events=events, now=now, due_state=due_state,
                           application_no=inst.business_key or inst.data.get("application_no") or "",
                           customer=inst.data.get("customer_name") or "", started_by=display_name(inst.started_by),
                           business_type=inst.data.get("business_type") or "", uploader=display_name)


@bp.get("/cases/<int:instance_id>/diagram.json")
@page("staff.read")
def case_diagram(instance_id: int) -> Any:
    db = page_db()
    found = diagrams.instance_diagrams(db, instance_id)
    user = page_user()
    links: dict[tuple[str, str], str] = {}
    for item in worklist.items(db, worklist.TaskFilter(instance_id=instance_id)):
        if _may_view(user, item):
            links[(item.process_key, item.task_spec)] = url_for("web.task", item_id=item.id)
    out = []
    for d in found:
        entry = d.to_dict()
        entry["links"] = {bpmn_id: url for (process, bpmn_id), url in links.items() if process == d.process}
        out.append(entry)
    return jsonify(processes=out)


# -- starting a counter application -----------------------------------------------------------------

def _startable() -> list[tuple[str, str]]:
    deployed = {d.key for d in definitions.list_definitions(page_db(), latest_only=True)}
    return [(key, str(text)) for key, text in labels.STARTABLE.items() if key in deployed]


@bp.route("/start", methods=["GET", "POST"])
@page("cases.start")
def start() -> Any:
    processes = _startable()
    if request.method == "GET":
        return render_template("start.html", processes=processes)
    key = request.form.get("process", "")
    channel = request.form.get("channel", "counter")
    if key not in dict(processes) or channel not in labels.CHANNELS:
        flash(_("Choose a business and a channel."), "error")
        return render_template("start.html", processes=processes), 400
    actor = page_actor()
    outcome = runtime.start_instance(page_db(), key, {"channel": channel}, actor=actor)
    mine = [i for i in outcome.new_items if actor.may_work_in(i.candidate_group)]
    if not mine:
        flash(_("The case was started."), "success")
        return redirect(url_for("web.case", instance_id=outcome.instance_id))
    runtime.claim(page_db(), mine[0].id, actor=actor)  # the clerk at the counter holds the acceptance
    return redirect(url_for("web.task", item_id=mine[0].id))
