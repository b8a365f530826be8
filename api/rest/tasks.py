"""The work list, Camunda-style: list with filters, search and sorting; read one with its form; claim, unclaim,
delegate, complete; a follow-up day on a task and the caller's own saved filters (as on the task-list
pages). Staff see and act on their groups' tasks and the tasks they hold; auditors read all."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.rest.common import actor, allow, db, may, page_of, path_param, window
from api.rest.schemas import (
    ACCEPT_EXAMPLE,
    CompleteRequestSchema,
    DelegateRequestSchema,
    OutcomeSchema,
    TaskArgsSchema,
    TaskDetailSchema,
    TaskSchema,
)
from api.rest.task_schemas import (
    FILTER_EXAMPLE,
    FOLLOW_UP_EXAMPLE,
    SavedFilterListSchema,
    SavedFilterRequestSchema,
    SavedFilterSchema,
    TaskFollowUpRequestSchema,
    TaskFollowUpSchema,
)
from engine.core import clock, definitions, queries, runtime, worklist, worklist_prefs
from engine.core.errors import NotFound


class TaskPageSchema(Schema):
    """The task list envelope: page numbers still work; `next_cursor` pages by key (fast at any depth)."""

    items = fields.List(fields.Nested(TaskSchema), required=True)
    total = fields.Integer(required=True, metadata={
        "description": f"matching items, counted up to {worklist.COUNT_CAP} (then `total_capped` is true)"})
    total_capped = fields.Boolean(required=True, metadata={"description": "there are at least `total` matches"})
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "pass as `cursor` for the next page; null on the last page"})


blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks",
                description="Human tasks (work items) of running cases.")
ID = [path_param("task_id", "0b7c1d1e-8a4f-4a53-9f4e-2f0c2b8d5a10", "the work item id")]


def _row(task: worklist.TaskRow) -> dict[str, Any]:
    overdue = task.status == "open" and task.due_at is not None and task.due_at < clock.now()
    return {**task.__dict__, "overdue": overdue}


def _may_see(item: worklist.WorkItemView) -> bool:
    return worklist.may_see(actor(), item, read_all=may("tasks.read_all"))


def _changed(task: runtime.TaskNow) -> dict[str, Any]:
    """A claimed, released or handed-on task from what the command read: its form from the cached
    definition version, no `data` (no workflow restored; GET the task for it)."""
    definition = definitions.load(db(), task.definition_id)
    if task.form_schema and task.form_schema not in definition.forms:  # a called process's task
        definition = queries.case_definition(db(), task.instance_id)
    form = definition.forms.get(task.form_schema) if task.form_schema else None
    ui = definition.forms.get(task.form_ui_schema) if task.form_ui_schema else None
    row = _row(task)
    row.pop("definition_id")
    return {**row, "form": form, "ui_schema": ui}


def _detail(task_id: str) -> dict[str, Any]:
    found = queries.task_detail(db(), task_id, visible=_may_see)
    return {**_row(found.task), "form": found.form, "ui_schema": found.ui_schema, "data": found.data,
            "instance_version": found.instance_version}


@blp.route("", methods=["GET"])
@allow(blp, "staff.read")
@blp.doc(summary="List tasks", description="Only tasks of the caller's groups and the caller's own (auditors: all). "
                                           "`assignee=me` means the caller; `q` searches application number, "
                                           "customer and mobile; `follow_up_by` keeps tasks to come back to by then.")
@blp.arguments(TaskArgsSchema, location="query")
@blp.response(200, TaskPageSchema)
def list_tasks(args: dict[str, Any]) -> Any:
    who = actor()
    read_all = may("tasks.read_all")
    assignee = args.get("assignee")
    if assignee == "me":
        assignee = who.name
    limit, offset = window(args)
    key = current_app.config["SECRET_KEY"]
    after = worklist.decode_cursor(args["cursor"], args["sort"], key) if "cursor" in args else None
    where = worklist.TaskFilter(
        visible_groups=None if read_all else who.groups, visible_user=None if read_all else who.name,
        candidate_group=args.get("candidate_group"), assignee=assignee, unassigned=args.get("unassigned"),
        business_type=args.get("business_type"), due_before=args.get("due_before"), overdue=args.get("overdue"),
        instance_id=args.get("instance"), status=args["state"], text=args.get("q"),
        follow_up_by=args.get("follow_up_by"))
    found, total = worklist.search(db(), where, sort=args["sort"], limit=limit + 1, offset=offset, after=after)
    more = len(found) > limit
    found = found[:limit]
    return {**page_of([_row(t) for t in found], total, args), "total_capped": total >= worklist.COUNT_CAP,
            "next_cursor": worklist.cursor_after(found[-1], args["sort"], key) if more else None}


@blp.route("/<string:task_id>", methods=["GET"], parameters=ID)
@allow(blp, "staff.read")
@blp.doc(summary="One task with its form", description="The form's JSON Schema and UI schema come from the "
                                                       "case's definition version; `data` is what the task sees.")
@blp.response(200, TaskDetailSchema)
def get_task(task_id: str) -> Any:
    return _detail(task_id)


@blp.route("/<string:task_id>/claim", methods=["POST"], parameters=ID)
@allow(blp, "tasks.work")
@blp.doc(summary="Claim", description="403 outside the task's group, 409 if someone else holds it or it is closed. "
                                      "Answers the task with its form but without `data` (GET the task for it).")
@blp.response(200, TaskDetailSchema)
def claim(task_id: str) -> Any:
    return _changed(runtime.claim(db(), task_id, actor=actor(), visible=_may_see))


@blp.route("/<string:task_id>/unclaim", methods=["POST"], parameters=ID)
@allow(blp, "tasks.work")
@blp.doc(summary="Give back", description="Only the holder can give a task back (403 otherwise).")
@blp.response(200, TaskDetailSchema)
def unclaim(task_id: str) -> Any:
    return _changed(runtime.unclaim(db(), task_id, actor=actor(), visible=_may_see))


@blp.route("/<string:task_id>/delegate", methods=["POST"], parameters=ID)
@allow(blp, "tasks.work")
@blp.doc(summary="Hand to a colleague",
         description="Assign to another active member of the task's group: by the holder, by a group member while "
                     "nobody holds it, or by a team lead of the group. 422 if the user is not in the group.")
@blp.arguments(DelegateRequestSchema, example={"assignee": "clerk2", "note": "本人休假，转同组处理"})
@blp.response(200, TaskDetailSchema)
def delegate(body: dict[str, Any], task_id: str) -> Any:
    return _changed(runtime.delegate(db(), task_id, body["assignee"], actor=actor(), note=body["note"],
                                     visible=_may_see))


@blp.route("/<string:task_id>/complete", methods=["POST"], parameters=ID)
@allow(blp, "tasks.work")
@blp.doc(summary="Complete with form data",
         description="The data is validated against the task's form: 422 with `details` = {field path: [messages]}. "
                     "409 if the task is no longer open, is held by someone else, or the case changed since "
                     "`instance_version` (read with the task; `expected_version` is its deprecated alias).")
@blp.arguments(CompleteRequestSchema, example={"data": ACCEPT_EXAMPLE, "instance_version": 1})
@blp.response(200, OutcomeSchema)
def complete(body: dict[str, Any], task_id: str) -> Any:
    return runtime.complete_task(db(), task_id, body["data"], actor=actor(),
                                 instance_version=body.get("instance_version"), visible=_may_see)


@blp.route("/<string:task_id>/follow-up", methods=["PUT"], parameters=ID)
@allow(blp, "tasks.work")
@blp.doc(summary="Set or clear the follow-up day (跟进日期)",
         description="By the task's holder, or a member of its group while nobody holds it (403 otherwise); 409 if the "
                     "task is closed. A note on the work item for the list: the case is not changed.")
@blp.arguments(TaskFollowUpRequestSchema, example=FOLLOW_UP_EXAMPLE)
@blp.response(200, TaskFollowUpSchema)
def set_follow_up(body: dict[str, Any], task_id: str) -> Any:
    item = queries.get_work_item(db(), task_id)
    if not _may_see(item):
        raise NotFound(f"no task {task_id}")
    worklist_prefs.set_follow_up(db(), task_id, body["follow_up_on"], actor=actor())
    return {"task_id": task_id, "follow_up_on": body["follow_up_on"]}


FILTER_ID = [path_param("filter_id", 1, "the saved filter's id")]


@blp.route("/filters", methods=["GET"])
@allow(blp, "staff.read")
@blp.doc(summary="My saved filters", description="The caller's own named task-list filters, by name.")
@blp.response(200, SavedFilterListSchema)
def list_filters() -> Any:
    return {"items": worklist_prefs.saved_filters(db(), actor().name)}


@blp.route("/filters", methods=["POST"])
@allow(blp, "staff.read")
@blp.doc(summary="Save a filter", description="Keeps the list parameters under a name for the caller (the same name "
                                              "replaces it; at most 30 per user, 422 beyond).")
@blp.arguments(SavedFilterRequestSchema, example=FILTER_EXAMPLE)
@blp.response(201, SavedFilterSchema)
def save_filter(body: dict[str, Any]) -> Any:
    return worklist_prefs.save_filter(db(), actor().name, body["name"], body["params"])


@blp.route("/filters/<int(min=1, max=2147483647):filter_id>", methods=["DELETE"], parameters=FILTER_ID)
@allow(blp, "staff.read")
@blp.doc(summary="Delete a saved filter", description="Only the caller's own: another user's is 404, and stays.")
@blp.response(204)
def delete_filter(filter_id: int) -> Any:
    worklist_prefs.delete_filter(db(), actor().name, filter_id)
    return ""
