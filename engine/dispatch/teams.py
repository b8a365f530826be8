"""Field teams (班所) of the dispatch centre: code, name, area (urban / rural) and members; the
areas' sizes in km² (load density).

A team's members are its lead (班组长, who dispatches) and its workers (who go on site); a member
may be linked to a system user by `username`. What a team can take each day is its capacity
(`engine.dispatch.capacity`), reported weekly per job type; a team with no capacity for a job type simply
never gets such jobs.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from engine.core import clock, formats
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, NotFound
from engine.core.models import area_size_t, team_member_t, team_t

AREAS = {"urban": "城区", "rural": "农村"}
ROLES = {"lead": "班组长", "worker": "作业人员"}
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass
class MemberView:
    id: int
    name: str
    mobile: str
    role: str
    username: str | None
    active: bool


@dataclass
class TeamView:
    id: int
    code: str
    name: str
    area: str
    active: bool
    members: list[MemberView] = field(default_factory=list)

    @property
    def area_text(self) -> str:
        return AREAS.get(self.area, self.area)

    def member(self, name: str) -> MemberView | None:
        return next((m for m in self.members if m.name == name and m.active), None)


def create_team(db: Database, code: str, name: str, area: str, *, actor: str) -> TeamView:
    code, name = (code or "").strip(), (name or "").strip()
    problems = {}
    if not _CODE.match(code):
        problems["code"] = ["班所编码为1至40位字母、数字、- 或 _"]
    if not 2 <= len(name) <= 100:
        problems["name"] = ["班所名称为2至100个字"]
    if area not in AREAS:
        problems["area"] = ["区域须为 urban（城区）或 rural（农村）"]
    if problems:
        raise InvalidData("the team is not valid", details=problems)
    with db.write() as conn:
        if conn.execute(select(team_t.c.id).where(team_t.c.code == code)).first() is not None:
            raise Conflict(f"team {code} already exists")
        conn.execute(insert(team_t).values(code=code, name=name, area=area, active=True, created_at=clock.now(),
                                           created_by=actor))
    return get_team(db, code)


def update_team(db: Database, code: str, *, name: str | None = None, area: str | None = None,
                active: bool | None = None) -> TeamView:
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name.strip()
    if area is not None:
        if area not in AREAS:
            raise InvalidData("the team is not valid", details={"area": ["区域须为 urban（城区）或 rural（农村）"]})
        values["area"] = area
    if active is not None:
        values["active"] = active
    with db.write() as conn:
        team = _team_row(conn, code)
        if values:
            conn.execute(update(team_t).where(team_t.c.id == team.id).values(**values))
    return get_team(db, code)


def add_member(db: Database, team_code: str, name: str, mobile: str, *, role: str = "worker",
               username: str | None = None) -> MemberView:
    """Add a member, or bring back and update one of the same name."""
    name, mobile = (name or "").strip(), (mobile or "").strip()
    problems = {}
    if not 2 <= len(name) <= 40:
        problems["name"] = ["姓名为2至40个字"]
    if not formats.is_mobile(mobile):
        problems["mobile"] = ["请输入11位手机号码（1开头，第二位3-9）"]
    if role not in ROLES:
        problems["role"] = ["角色须为 lead（班组长）或 worker（作业人员）"]
    if problems:
        raise InvalidData("the member is not valid", details=problems)
    with db.write() as conn:
        team = _team_row(conn, team_code)
        existing = conn.execute(select(team_member_t.c.id).where(team_member_t.c.team_id == team.id,
                                                                 team_member_t.c.name == name)).scalar()
        values = {"mobile": mobile, "role": role, "username": username, "active": True}
        if existing is None:
            existing = conn.execute(insert(team_member_t).values(team_id=team.id, name=name, added_at=clock.now(),
                                                                 **values).returning(team_member_t.c.id)).scalar_one()
        else:
            conn.execute(update(team_member_t).where(team_member_t.c.id == existing).values(**values))
    return next(m for m in get_team(db, team_code).members if m.id == existing)


def remove_member(db: Database, team_code: str, name: str) -> None:
    """Members are deactivated, not deleted: past assignments keep their names."""
    with db.write() as conn:
        team = _team_row(conn, team_code)
        res = conn.execute(update(team_member_t).where(team_member_t.c.team_id == team.id,
                                                       team_member_t.c.name == name).values(active=False))
        if res.rowcount != 1:
            raise NotFound(f"team {team_code} has no member {name}")


def get_team(db: Database, code: str) -> TeamView:
    with db.read() as conn:
        row = _team_row(conn, code)
        return _view(row, _members(conn, [row.id]).get(row.id, []))


def list_teams(db: Database, *, area: str | None = None, active_only: bool = True) -> list[TeamView]:
    q = select(team_t)
    if area:
        q = q.where(team_t.c.area == area)
    if active_only:
        q = q.where(team_t.c.active)
    with db.read() as conn:
        rows = conn.execute(q.order_by(team_t.c.code)).all()
        members = _members(conn, [r.id for r in rows])
    return [_view(r, members.get(r.id, [])) for r in rows]


def teams_by_id(db: Database) -> dict[int, TeamView]:
    return {t.id: t for t in list_teams(db, active_only=False)}


def _team_row(conn: Connection, code: str) -> Any:
    row = conn.execute(select(team_t).where(team_t.c.code == code)).first()
    if row is None:
        raise NotFound(f"no team with code {code!r}")
    return row


def _members(conn: Connection, team_ids: list[int]) -> dict[int, list[MemberView]]:
    out: dict[int, list[MemberView]] = {}
    if not team_ids:
        return out
    rows = conn.execute(select(team_member_t).where(team_member_t.c.team_id.in_(team_ids))
                        .order_by(team_member_t.c.role, team_member_t.c.id)).all()
    for r in rows:
        out.setdefault(r.team_id, []).append(MemberView(r.id, r.name, r.mobile, r.role, r.username, r.active))
    return out


def _view(row: Any, members: list[MemberView]) -> TeamView:
    return TeamView(row.id, row.code, row.name, row.area, row.active, members)


# ---------------------------------------------------------------------------------------------
# the areas' sizes (load density per km²)

#: The demo areas' sizes in km² (`yekuo init --demo`).
DEMO_AREA_KM2 = {"urban": 86.5, "rural": 1240.0}


def area_sizes(db: Database) -> dict[str, float]:
    """Each area's size in km², for those that have one."""
    with db.read() as conn:
        return {r.code: float(r.size_km2) for r in conn.execute(select(area_size_t))}


#: the largest area size accepted (km²): a county-level supply area is far below it; a typo is not
MAX_AREA_KM2 = 100_000


def set_area_size(db: Database, area: str, size_km2: float, *, actor: str) -> None:
    """Record an area's size (km²), which the load density per area divides by."""
    if area not in AREAS:
        raise InvalidData("区域须为 urban（城区）或 rural（农村）",
                          details={"area": ["区域须为 urban（城区）或 rural（农村）"]})
    if (isinstance(size_km2, bool) or not isinstance(size_km2, (int, float)) or not math.isfinite(size_km2)
            or not 0 < size_km2 <= MAX_AREA_KM2):
        said = f"面积须为大于0且不超过{MAX_AREA_KM2}的平方公里数"
        raise InvalidData(said, details={"size_km2": [said]})
    values = {"size_km2": float(size_km2), "updated_at": clock.now(), "updated_by": actor}
    with db.write() as conn:
        if conn.execute(update(area_size_t).where(area_size_t.c.code == area).values(**values)).rowcount == 0:
            conn.execute(insert(area_size_t).values(code=area, **values))


# ---------------------------------------------------------------------------------------------
# demo teams (`yekuo init --demo`)

#: code, name, area, members (name, mobile, role, username), weekly capacity Mon–Sun per job type
DEMO_TEAMS: list[tuple[str, str, str, list[tuple[str, str, str, str | None]], dict[str, list[int]]]] = [
    ("CQ-KC1", "城区勘查一班", "urban",
     [("陈强", "13700001000", "lead", "lead"), ("刘洋", "13700001111", "worker", "surveyor"),
      ("赵敏", "13700001112", "worker", None)],
     {"survey": [8, 8, 8, 8, 8, 2, 0], "verify": [4, 4, 4, 4, 4, 0, 0], "install": [0] * 7}),
    ("CQ-ZB1", "城区装表接电班", "urban",
     [("王磊", "13700002000", "lead", None), ("孙涛", "13700002111", "worker", "metering"),
      ("周杰", "13700002112", "worker", None)],
     {"install": [10, 10, 10, 10, 10, 3, 0], "survey": [0] * 7, "verify": [0] * 7}),
    ("NC-ZH1", "城郊供电所综合班", "rural",
     [("李刚", "13700003000", "lead", None), ("吴昊", "13700003111", "worker", None)],
     {"survey": [4, 4, 4, 4, 4, 0, 0], "install": [4, 4, 4, 4, 4, 0, 0], "verify": [2, 2, 2, 2, 2, 0, 0]}),
]


def seed_demo(db: Database, *, week_start: dt.date | None = None, scale: int = 1, actor: str = "demo") -> list[str]:
    """The demo teams with members and a standing weekly capacity; teams that exist are left alone.

    `week_start` is the week the standing report starts from (default: the current week);
    `scale` multiplies the numbers (test fixtures book many cases on one day).
    """
    from engine.dispatch import capacity

    have = {t.code for t in list_teams(db, active_only=False)}
    sized = area_sizes(db)
    for area, km2 in DEMO_AREA_KM2.items():
        if area not in sized:
            set_area_size(db, area, km2, actor=actor)
    start = week_start or capacity.week_of(clock.now().astimezone(clock.CHINA).date())
    added = []
    for code, name, area, members, plan in DEMO_TEAMS:
        if code in have:
            continue
        create_team(db, code, name, area, actor=actor)
        for member, mobile, role, username in members:
            add_member(db, code, member, mobile, role=role, username=username)
        capacity.report_week(db, code, start, {k: [n * scale for n in v] for k, v in plan.items()},
                             actor=actor, note="演示班所的常规承载力")
        added.append(code)
    return added
