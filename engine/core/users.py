"""Users, groups and memberships; groups are the roles BPMN lanes resolve to.

Passwords are hashed with scrypt (stdlib), salted per user.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select

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
    forget_signed_in(db, username)
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


#: Seconds a process trusts what it read about a signed-in user (active, groups, session generation):
#: a user deactivated in another process is locked out within this; in this process at once.
SIGNED_IN_TTL = 5.0
_SIGNED_IN = (select(user_t.c.id, user_t.c.username, user_t.c.display_name, user_t.c.active, user_t.c.session_gen,
                     membership_t.c.group_code)
              .outerjoin(membership_t, membership_t.c.user_id == user_t.c.id)
              .where(user_t.c.username == bindparam("b_name")))


@dataclass(frozen=True)
class SignedIn:
    """A caller as a request needs them: the user (None if unknown) and their session generation."""

    user: UserInfo | None
    session_gen: int
    read_at: dt.datetime


def signed_in(db: Database, username: str, *, ttl: float = SIGNED_IN_TTL) -> SignedIn:
    """The user with their groups in one statement, cached per process for `ttl` seconds of the
    engine clock — every request asks, and most of them within seconds of the last one."""
    cache: dict[str, SignedIn] = db.cache.setdefault("signed_in", {})
    now = clock.now()
    hit = cache.get(username)
    if hit is not None and 0 <= (now - hit.read_at).total_seconds() < ttl:
        return hit
    with db.read() as conn:
        rows = conn.execute(_SIGNED_IN, {"b_name": username}).all()
    user = None
    if rows:
        r = rows[0]
        user = UserInfo(r.id, r.username, r.display_name, frozenset(x.group_code for x in rows if x.group_code),
                        r.active)
    found = SignedIn(user, (rows[0].session_gen or 0) if rows else 0, now)
    cache[username] = found
    return found


def forget_signed_in(db: Database, username: str | None = None) -> None:
    """Drop what this process cached about a user (all users): called where users change."""
    cache: dict[str, SignedIn] = db.cache.setdefault("signed_in", {})
    if username is None:
        cache.clear()
    else:
        cache.pop(username, None)
