"""What every API module shares: the role sets (who may call what), the database, pagination."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app

from api import auth
from engine.core import actors
from engine.core.db import Database
from engine.core.errors import Forbidden

# -- roles (engine.core.users.ROLES) --------------------------------------------------------------------

ALL_ROLES = ("clerk", "dispatcher", "manager", "surveyor", "metering", "reviewer", "lead", "supervisor",
             "auditor", "analyst", "admin", "channel")
#: Everyone but the channel clients: reads cases, definitions, deadlines, calendars.
STAFF = tuple(r for r in ALL_ROLES if r != "channel")
#: Staff who work tasks (claim/unclaim/delegate/complete); the task's group decides the rest.
WORKERS = tuple(r for r in STAFF if r not in ("auditor",))
#: Read every task (not only their groups' and their own).
READ_ALL_TASKS = ("auditor",)
DEPLOYERS = ("analyst",)
STARTERS = ("clerk", "manager")
CANCELLERS = ("manager", "supervisor")
RETRIERS = ("supervisor",)
REPLAYERS = ("auditor", "supervisor", "analyst")
PAUSERS = ("manager", "supervisor")
MESSENGERS = ("clerk", "manager")
ADMINS = ("admin",)
USER_READERS = ("admin", "auditor")
SUBMITTERS = ("channel", "clerk")
WITHDRAWERS = ("channel", "clerk", "manager")
UPLOADERS = tuple(r for r in ALL_ROLES if r != "auditor")

require = auth.require


def db() -> Database:
    return current_app.extensions["yekuo.db"]


def settings() -> Any:
    return current_app.extensions["yekuo.settings"]


def actor() -> actors.Actor:
    return auth.actor_or_401()


def has_role(roles: Sequence[str]) -> bool:
    a = auth.current_actor()
    return a is not None and bool(a.groups & set(roles))


def is_staff() -> bool:
    return has_role(STAFF)


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


def allow(blp: Any, *roles: str, any_user: bool = False) -> Callable[[Any], Any]:
    """The caller must be signed in (401) and have one of `roles` (403), checked before the request
    is parsed; the roles are documented on the operation as `x-roles`."""

    def wrap(fn: Any) -> Any:
        checked = auth.require()(fn) if any_user else auth.require(*roles)(fn)
        return blp.doc(**{"x-roles": ["*"] if any_user else list(roles)})(checked)

    return wrap


def path_param(name: str, example: Any, description: str = "") -> dict[str, Any]:
    """A path parameter's documentation with an example (flask-smorest merges it with the rule's)."""
    doc: dict[str, Any] = {"in": "path", "name": name, "required": True, "example": example}
    if description:
        doc["description"] = description
    return doc
