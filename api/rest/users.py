"""User accounts and role groups (administrators manage; auditors read)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.rest.common import actor, allow, db, page_of, path_param, window
from api.rest.schemas import GroupSchema, UserArgsSchema, UserCreateSchema, UserSchema, UserUpdateSchema, page_schema
from engine.core import accounts, definitions
from engine.core.errors import Conflict

blp = Blueprint("users", __name__, url_prefix="/api/v1/users",
                description="Accounts are deactivated, never deleted (history names them).")
groups_blp = Blueprint("groups", __name__, url_prefix="/api/v1/groups", description="Role groups (lanes map to them).")
blueprints = [blp, groups_blp]
NAME = [path_param("username", "clerk")]


@blp.route("", methods=["GET"])
@allow(blp, "users.read")
@blp.arguments(UserArgsSchema, location="query")
@blp.response(200, page_schema(UserSchema, "UserPage"))
def list_users(args: dict[str, Any]) -> Any:
    limit, offset = window(args)
    found, total = accounts.list_users(db(), group=args.get("group"), active=args.get("active"), limit=limit,
                                       offset=offset)
    return page_of(found, total, args)


@blp.route("", methods=["POST"])
@allow(blp, "users.admin")
@blp.arguments(UserCreateSchema, example={"username": "zhangwei", "password": "S3cure-pass", "display_name": "张伟",
                                          "groups": ["clerk"]})
@blp.response(201, UserSchema)
def create_user(body: dict[str, Any]) -> Any:
    return accounts.create_user(db(), body["username"], body["password"], body["groups"], body.get("display_name"))


@blp.route("/<string:username>", methods=["GET"], parameters=NAME)
@allow(blp, "users.read")
@blp.response(200, UserSchema)
def get_user(username: str) -> Any:
    return accounts.get(db(), username)


@blp.route("/<string:username>", methods=["PATCH"], parameters=NAME)
@allow(blp, "users.admin")
@blp.doc(summary="Change groups, name, password or active flag")
@blp.arguments(UserUpdateSchema, example={"groups": ["clerk", "manager"], "active": True})
@blp.response(200, UserSchema)
def update_user(body: dict[str, Any], username: str) -> Any:
    if body.get("active") is False and username == actor().name:
        raise Conflict("you cannot deactivate your own account")
    return accounts.update_user(db(), username, groups=body.get("groups"), active=body.get("active"),
                                display_name=body.get("display_name"), password=body.get("password"))


@blp.route("/<string:username>", methods=["DELETE"], parameters=NAME)
@allow(blp, "users.admin")
@blp.doc(summary="Deactivate", description="The account stays (history names it) but can no longer sign in.")
@blp.response(200, UserSchema)
def deactivate_user(username: str) -> Any:
    if username == actor().name:
        raise Conflict("you cannot deactivate your own account")
    return accounts.update_user(db(), username, active=False)


@groups_blp.route("", methods=["GET"])
@allow(groups_blp, "account.read")
@groups_blp.response(200, GroupSchema(many=True))
def list_groups() -> Any:
    return [{"code": code, "name": name} for code, name in sorted(definitions.group_names(db()).items())]
