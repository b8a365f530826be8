"""In-app notices (pre-warnings, overdue, supervision 督办, reminders) for the caller."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.rest.common import actor, allow, db, may, paginate_list, path_param
from api.rest.schemas import NoticeArgsSchema, NoticeSchema, page_schema
from engine.core.errors import NotFound
from engine.deadlines import notices

blp = Blueprint("notices", __name__, url_prefix="/api/v1/notices",
                description="Notices to the caller and the caller's groups (auditors see all).")


def _mine(open_only: bool) -> list[dict[str, Any]]:
    who = actor()
    if may("notices.read_all"):
        return notices.list_notices(db(), open_only=open_only)
    return notices.list_notices(db(), user=who.name, groups=set(who.groups), open_only=open_only)


@blp.route("", methods=["GET"])
@allow(blp, "staff.read")
@blp.arguments(NoticeArgsSchema, location="query")
@blp.response(200, page_schema(NoticeSchema, "NoticePage"))
def list_notices(args: dict[str, Any]) -> Any:
    found = sorted(_mine(args["open"]), key=lambda n: (n["created_at"], n["id"]), reverse=True)
    return paginate_list(found, args)


@blp.route("/<int(min=1, max=2147483647):notice_id>/acknowledge", methods=["POST"], parameters=[path_param("notice_id", 1)])
@allow(blp, "tasks.work")
@blp.doc(summary="Acknowledge", description="Only a recipient (the user or a member of the group); 409 if already "
                                            "acknowledged.")
@blp.response(200, NoticeSchema)
def acknowledge(notice_id: int) -> Any:
    who = actor()
    mine = {n["id"]: n for n in notices.list_notices(db(), user=who.name, groups=set(who.groups), open_only=False)}
    if notice_id not in mine:
        raise NotFound(f"notice {notice_id} does not exist")
    notices.acknowledge(db(), notice_id, actor=who.name)
    return next(n for n in notices.list_notices(db(), user=who.name, groups=set(who.groups), open_only=False)
                if n["id"] == notice_id)
