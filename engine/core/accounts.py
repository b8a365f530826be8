"""Managing user accounts (the administrators' side of `engine.core.users`): list, create, change, deactivate.

Users are never deleted — history events name them — only deactivated: an inactive user cannot
sign in, and tokens already issued stop working.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.core import clock, users
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, NotFound
from engine.core.models import group_t, membership_t, user_t

MIN_PASSWORD = 8


def known_groups(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(group_t.c.code)).scalars())


def _check_groups(db: Database, groups: list[str]) -> list[str]:
    unknown = sorted(set(groups) - known_groups(db))
    if unknown:
        raise InvalidData("unknown groups", details={"groups": [f"unknown group: {g}" for g in unknown]})
    return sorted(set(groups))


_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,80}$")


def _check_names(username: str | None, display_name: str | None) -> None:
    problems = {}
    if username is not None and not _USERNAME.match(username):
        problems["username"] = ["用户名为2至80位字母、数字、_ . -"]
    if display_name is not None and not 1 <= len(display_name.strip()) <= 100:
        problems["display_name"] = ["姓名为1至100个字"]
    if problems:
        raise InvalidData("the account is not valid", details=problems)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidData("the password is too short",
                          details={"password": [f"密码至少 {MIN_PASSWORD} 位"]})


def list_users(db: Database, *, group: str | None = None, active: bool | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[users.UserInfo], int]:
    q = select(user_t.c.username)
    if group is not None:
        q = q.where(user_t.c.id.in_(select(membership_t.c.user_id).where(membership_t.c.group_code == group)))
    if active is not None:
        q = q.where(user_t.c.active == active)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        names = conn.execute(q.order_by(user_t.c.username).limit(limit).offset(offset)).scalars().all()
    return [u for u in (users.get_user(db, n) for n in names) if u is not None], total


def create_user(db: Database, username: str, password: str, groups: list[str],
                display_name: str | None = None) -> users.UserInfo:
    _check_names(username, display_name)
    _check_password(password)
    groups = _check_groups(db, groups)
    try:
        with db.write() as conn:
            if conn.execute(select(user_t.c.id).where(user_t.c.username == username)).first() is not None:
                raise Conflict(f"user {username} already exists")
            uid = conn.execute(insert(user_t).values(
                username=username, display_name=display_name or username, password_hash=users.hash_password(password),
                active=True, created_at=clock.now()).returning(user_t.c.id)).scalar_one()
            if groups:
                conn.execute(insert(membership_t), [{"user_id": uid, "group_code": g} for g in groups])
    except IntegrityError:
        raise Conflict(f"user {username} already exists") from None
    found = users.get_user(db, username)
    assert found is not None
    return found


def update_user(db: Database, username: str, *, groups: list[str] | None = None, active: bool | None = None,
                display_name: str | None = None, password: str | None = None) -> users.UserInfo:
    _check_names(None, display_name)
    if groups is not None:
        groups = _check_groups(db, groups)
    if password is not None:
        _check_password(password)
    with db.write() as conn:
        uid = conn.execute(select(user_t.c.id).where(user_t.c.username == username)).scalar()
        if uid is None:
            raise NotFound(f"user {username} does not exist")
        values: dict[str, object] = {}
        if active is not None:
            values["active"] = active
        if display_name is not None:
            values["display_name"] = display_name
        if password is not None:
            values["password_hash"] = users.hash_password(password)
        if values:
            conn.execute(update(user_t).where(user_t.c.id == uid).values(**values))
        if groups is not None:
            conn.execute(delete(membership_t).where(membership_t.c.user_id == uid))
            if groups:
                conn.execute(insert(membership_t), [{"user_id": uid, "group_code": g} for g in groups])
    users.forget_signed_in(db, username)
    found = users.get_user(db, username)
    assert found is not None
    return found


def get(db: Database, username: str) -> users.UserInfo:
    found = users.get_user(db, username)
    if found is None:
        raise NotFound(f"user {username} does not exist")
    return found
