"""The task lists and what people do from them: search, saved filters, follow-up days, hand-on.

Routes are added to the staff-page blueprint (`api.web.views.bp`). Every list is one
`worklist.TaskFilter` (the one work-list query): the scope (mine, my groups' unclaimed, all), the
business type, overdue, a text search over application number, customer name and mobile, and
"due for follow-up". A saved filter is the user's own set of these parameters
(`engine.core.worklist_prefs`); the task page offers the follow-up day and the hand-on to a
colleague of the task's group (`runtime.delegate`, the REST API's delegation).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api import policy
from api.web import CHINA, labels
from api.web.views import (
    PAGE_SIZE,
    bp,
    display_name,
    due_state,
    friendly,
    page,
    page_actor,
    page_db,
    page_number,
    page_user,
)
from engine.core import accounts, clock, runtime, worklist, worklist_prefs
from engine.core.errors import Conflict, Forbidden, InvalidData, InvalidState, NotFound, YekuoError

ENDPOINTS = {"mine": "web.my_tasks", "group": "web.group_tasks", "all": "web.all_tasks"}
LIST_SORTS = ("due", "follow_up")


def _today() -> dt.date:
    return clock.now().astimezone(CHINA).date()


def _list_args() -> dict[str, Any]:
    """The list's parameters from the query string, each cleaned (unknown values are dropped)."""
    business_type = request.args.get("type") or None
    sort = request.args.get("sort") or "due"
    return {"type": business_type if business_type in labels.BUSINESS_TYPES else None,
            "overdue": request.args.get("overdue") == "1",
            "q": (request.args.get("q") or "").strip()[:worklist.TEXT_MAX],
            "follow_up": request.args.get("follow_up") == "due",
            "sort": sort if sort in LIST_SORTS else "due"}


def _task_list(scope: str) -> Any:
    user = page_user()
    now = clock.now()
    args = _list_args()
    page_no = page_number()
    where = worklist.TaskFilter(business_type=args["type"], overdue=True if args["overdue"] else None, now=now,
                                text=args["q"] or None, follow_up_by=_today() if args["follow_up"] else None)
    if scope == "mine":
        where = replace(where, assignee=user.username)
    elif scope == "group":
        where = replace(where, visible_groups=user.groups, unassigned=True)
    key, cursor = current_app.config["SECRET_KEY"], request.args.get("cursor")
    after = worklist.decode_cursor(cursor, args["sort"], key) if cursor else None  # a bad one: 422
    rows, total = worklist.search(page_db(), where, sort=args["sort"], limit=PAGE_SIZE + 1,
                                  offset=(page_no - 1) * PAGE_SIZE, after=after)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    # past the counted pages (or already paging by key) the next page starts after the last row shown
    later = (worklist.cursor_after(rows[PAGE_SIZE - 1], args["sort"], key)
             if len(rows) > PAGE_SIZE and (after is not None or page_no >= pages) else None)
    filtered = bool(args["type"] or args["overdue"] or args["q"] or args["follow_up"])
    return render_template("tasks.html", scope=scope, rows=rows[:PAGE_SIZE], total=total, page=page_no,
                           pages=pages, capped=total >= worklist.COUNT_CAP, keyset=after is not None, later=later,
                           business_type=args["type"] or "",
                           overdue=args["overdue"], query=args["q"], follow_up=args["follow_up"], sort=args["sort"],
                           filtered=filtered, now=now, today=_today(), due_state=due_state,
                           saved=worklist_prefs.saved_filters(page_db(), user.username),
                           may_claim=policy.may(user.groups, "tasks.work"))


@bp.get("/tasks")
@page("staff.read")
def my_tasks() -> Any:
    return _task_list("mine")


@bp.get("/tasks/group")
@page("staff.read")
def group_tasks() -> Any:
    return _task_list("group")


@bp.get("/tasks/all")
@page("tasks.read_all")
def all_tasks() -> Any:
    return _task_list("all")


# -- saved filters -----------------------------------------------------------------------------------

@bp.get("/tasks/filters/<int:filter_id>")
@page("staff.read")
def saved_filter(filter_id: int) -> Any:
    """Open a saved filter: its list with its parameters."""
    found = worklist_prefs.get_filter(page_db(), page_user().username, filter_id)
    params = dict(found.params)
    scope = params.pop("scope", "mine")
    if scope == "all" and not policy.may(page_user().groups, "tasks.read_all"):
        scope = "mine"
    return redirect(url_for(ENDPOINTS.get(scope, "web.my_tasks"), **params))


@bp.post("/tasks/filters")
@page("staff.read")
def save_filter() -> Any:
    form = request.form
    scope = form.get("scope") if form.get("scope") in ENDPOINTS else "mine"
    params = {k: form.get(k) for k in worklist_prefs.FILTER_KEYS if k != "scope"}
    try:
        saved = worklist_prefs.save_filter(page_db(), page_user().username, form.get("name", ""),
                                           {**params, "scope": scope})
        flash(_("Filter saved as “%(name)s”.", name=saved.name), "success")
    except InvalidData as err:
        flash("；".join(m for ms in err.details.values() for m in ms), "error")
    return redirect(url_for(ENDPOINTS[scope], **{k: v for k, v in params.items() if v}))


@bp.post("/tasks/filters/<int:filter_id>/delete")
@page("staff.read")
def delete_filter(filter_id: int) -> Any:
    try:
        worklist_prefs.delete_filter(page_db(), page_user().username, filter_id)
        flash(_("Saved filter deleted."), "success")
    except NotFound:
        flash(_("This saved filter does not exist."), "error")
    return redirect(url_for("web.my_tasks"))


# -- on the task page: follow-up day and hand-on -------------------------------------------------------

@bp.context_processor
def _task_tools_context() -> dict[str, Any]:
    return {"task_tools": _task_tools}


def _task_tools(item: worklist.WorkItemView) -> dict[str, Any] | None:
    """What the task page's side panel offers: the follow-up day, and colleagues to hand the task to."""
    from api import auth

    user = auth.current_user()
    if user is None or item.status != "open" or not policy.may(user.groups, "tasks.work"):
        return None
    holds = item.assignee == user.username
    may_act = holds or (item.assignee is None and item.candidate_group in user.groups)
    may_hand_on = may_act or (item.candidate_group in user.groups and "lead" in user.groups)
    colleagues = []
    if may_hand_on and item.candidate_group:
        found, _n = accounts.list_users(page_db(), group=item.candidate_group, active=True, limit=200)
        colleagues = [(u.username, u.display_name) for u in found if u.username not in (item.assignee, user.username)]
    return {"follow_up": may_act, "follow_up_on": item.follow_up_on, "today": _today(),
            "colleagues": colleagues, "hand_on": may_hand_on}


@bp.post("/tasks/<item_id>/follow-up")
@page("tasks.work")
def follow_up(item_id: str) -> Any:
    text = (request.form.get("follow_up_on") or "").strip()
    try:
        day = None
        if text and request.form.get("clear") != "1":
            try:
                day = dt.date.fromisoformat(text[:10])
            except ValueError:
                raise InvalidData("not a date", details={"follow_up_on": [_("Enter a date as YYYY-MM-DD.")]}) from None
        worklist_prefs.set_follow_up(page_db(), item_id, day, actor=page_actor())
        flash(_("Follow-up day set to %(day)s.", day=day.isoformat()) if day else _("Follow-up day cleared."), "success")
    except YekuoError as err:
        flash(_details(err), "error")
    return redirect(url_for("web.task", item_id=item_id))


@bp.post("/tasks/<item_id>/delegate")
@page("tasks.work")
def delegate(item_id: str) -> Any:
    to_user = (request.form.get("assignee") or "").strip()[:80]
    note = (request.form.get("note") or "").strip()[:500]
    try:
        if not to_user:
            raise InvalidData("no colleague chosen", details={"assignee": [_("Choose a colleague.")]})
        if not note:
            raise InvalidData("a reason is required", details={"note": [_("Give the reason for handing it on.")]})
        runtime.delegate(page_db(), item_id, to_user, actor=page_actor(), note=note)
        flash(_("Handed on to %(who)s.", who=display_name(to_user)), "success")
    except (InvalidData, Conflict, Forbidden, InvalidState, NotFound) as err:
        flash(_details(err), "error")
        return redirect(url_for("web.task", item_id=item_id))
    return redirect(url_for("web.my_tasks"))


def _details(err: YekuoError) -> str:
    said = "；".join(str(m) for ms in (err.details or {}).values() if isinstance(ms, list) for m in ms)
    return said or friendly(err)
