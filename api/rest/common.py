"""What every API module shares: the access check (roles per action come from `api.policy`), the
database, pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from api import auth, policy
from engine.core import actors
from engine.core.db import Database
from engine.core.errors import Forbidden

require = auth.require


def db() -> Database:
    return current_app.extensions["yekuo.db"]


def settings() -> Any:
    return current_app.extensions["yekuo.settings"]


def actor() -> actors.Actor:
    return auth.actor_or_401()


def may(action: str) -> bool:
    """Whether the caller may do `action` (for checks that shape an answer rather than refuse it)."""
    a = auth.current_actor()
    return a is not None and policy.may(a.groups, action)


def deny(message: str) -> None:
    raise Forbidden(message)


def page_of(items: list[Any], total: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"items": items, "total": total, "page": args["page"], "page_size": args["page_size"]}


def window(args: dict[str, Any]) -> tuple[int, int]:
    """(limit, offset) of the requested page."""
    size = args["page_size"]
    return size, (args["page"] - 1) * size


def paginate_list(items: list[Any], args: dict[str, Any]) -> dict[str, Any]:
    limit, offset = window(args)
    return page_of(items[offset:offset + limit], len(items), args)


def allow(blp: Any, action: str) -> Callable[[Any], Any]:
    """The caller must be signed in (401) and hold a role the policy gives `action` (403), checked
    before the request is parsed; the roles are documented on the operation as `x-roles`."""
    anyone = policy.roles(action) is policy.ANYONE

    def wrap(fn: Any) -> Any:
        checked = auth.require()(fn) if anyone else auth.require(*policy.holders(action))(fn)
        return blp.doc(**{"x-roles": ["*"] if anyone else list(policy.holders(action))})(checked)

    return wrap


def path_param(name: str, example: Any, description: str = "") -> dict[str, Any]:
    """A path parameter's documentation with an example (flask-smorest merges it with the rule's)."""
    doc: dict[str, Any] = {"in": "path", "name": name, "required": True, "example": example}
    if description:
        doc["description"] = description
    return doc
