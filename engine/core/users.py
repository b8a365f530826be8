"""Users, groups and memberships; groups are the roles BPMN lanes resolve to.

Passwords are hashed with scrypt (stdlib), salted per user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from engine.core import clock
from engine.core.db import Database
from engine.core.models import group_t, membership_t, user_t

# code, display name of every role in the service-connection process; lanes in BPMN may use either.
ROLES: list[tuple[str, str]] = [
    ("clerk", "营业厅受理员"),
    ("dispatcher", "工单调度员"),
    ("manager", "客户经理"),
    ("surveyor", "勘查班组"),
    ("metering", "装表接电班组"),
    ("reviewer", "设计审查/检验人员"),
    ("lead", "班组长"),
    ("supervisor", "指挥中心主管"),
    ("auditor", "审计"),
    ("analyst", "业务分析"),
    ("admin", "管理员"),
    ("channel", "渠道接入"),
]

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(stored: str, password: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         dklen=len(base64.b64decode(digest)))
    return hmac.compare_digest(got, base64.b64decode(digest))


def seed_groups(db: Database) -> int:
    """Create the standard roles that are missing; returns how many were added."""
    with db.write() as conn:
        have = set(conn.execute(select(group_t.c.code)).scalars())
        missing = [{"code": c, "name": n, "description": ""} for c, n in ROLES if c not in have]
        if missing:
            conn.execute(insert(group_t), missing)
    return len(missing)


def upsert_user(db: Database, username: str, password: str, groups: list[str],
                display_name: str | None = None) -> int:
    with db.write() as conn:
        uid = conn.execute(select(user_t.c.id).where(user_t.c.username == username)).scalar()
        if uid is None:
            uid = conn.execute(insert(user_t).values(
                username=username, display_name=display_name or username,
                password_hash=hash_password(password), active=True, created_at=clock.now(),
            ).returning(user_t.c.id)).scalar_one()
        conn.execute(delete(membership_t).where(membership_t.c.user_id == uid))
        if groups:
            conn.execute(insert(membership_t), [{"user_id": uid, "group_code": g} for g in groups])
    return uid


def seed_demo_users(db: Database, password: str) -> list[str]:
    """One user per role, named after it (as README.md lists them), all with the demo password."""
    names = {code: name for code, name in ROLES}
    for code, _ in ROLES:
        upsert_user(db, code, password, [code], display_name=f"演示{names[code]}")
    return [code for code, _ in ROLES]


@dataclass
class UserInfo:
    id: int
    username: str
    display_name: str
    groups: frozenset[str]
    active: bool


def authenticate(db: Database, username: str, password: str) -> UserInfo | None:
    with db.read() as conn:
        row = conn.execute(select(user_t).where(user_t.c.username == username)).first()
    if row is None or not row.active or not check_password(row.password_hash, password):
        return None
    return get_user(db, username)


def get_user(db: Database, username: str) -> UserInfo | None:
    with db.read() as conn:
        row = conn.execute(select(user_t).where(user_t.c.username == username)).first()
        if row is None:
            return None
        groups = frozenset(conn.execute(select(membership_t.c.group_code)
                                        .where(membership_t.c.user_id == row.id)).scalars())
    return UserInfo(row.id, row.username, row.display_name, groups, row.active)
