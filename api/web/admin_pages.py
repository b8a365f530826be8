"""The administrator's pages: the `/admin` landing, users and groups, field teams and members, and the
working-day calendar (view a year, import a year file). Each calls the engine function the REST API
calls (`accounts`, `dispatch.teams`, `calendar_import`); roles come from `api.policy`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from api import policy
from api.web.views import bp, friendly, page, page_db, page_user
from engine.core import accounts, clock, definitions
from engine.core.clock import CHINA
from engine.core.errors import Conflict, InvalidData, YekuoError
from engine.deadlines import calendar, calendar_import
from engine.dispatch import teams

#: the sections of /admin: (endpoint, action, title, what it is for)
SECTIONS = [
    ("web.admin_users", "users.read", _l("Users and groups"), _l("Accounts, their groups and display names; deactivate.")),
    ("web.admin_teams", "teams.admin", _l("Teams and members"), _l("The dispatch centre's field teams and who is in them.")),
    ("web.admin_calendar", "calendar.import", _l("Working-day calendar"),
     _l("Holidays and adjusted working days per year; import a year's file.")),
    ("web.admin_rules", "rules.read", _l("Time-limit rules"),
     _l("Time limits, pre-warnings and the escalation chain, versioned.")),
]


def _may(action: str) -> bool:
    return policy.may(page_user().groups, action)


def _problems(err: YekuoError) -> None:
    """Flash a refused change: the page's own words, then each field's message (already Chinese)."""
    flash(friendly(err), "error")
    if isinstance(err.details, dict):
        for messages in err.details.values():
            for message in messages:
                flash(message, "error")


@bp.context_processor
def _admin_context() -> dict[str, Any]:
    from api import auth

    user = auth.current_user()
    return {"admin_nav": bool(user and policy.may(user.groups, "admin.pages"))}


@bp.get("/admin")
@page("admin.pages")
def admin_index() -> Any:
    sections = [(ep, str(title), str(text)) for ep, action, title, text in SECTIONS if _may(action)]
    return render_template("admin_index.html", sections=sections)


# -- users and groups ------------------------------------------------------------------------------


@bp.get("/admin/users")
@page("users.read")
def admin_users() -> Any:
    db = page_db()
    found, _total = accounts.list_users(db, limit=1000)
    groups = sorted(definitions.group_names(db))
    return render_template("admin_users.html", users=found, groups=groups, may_edit=_may("users.admin"))


def _groups_of_form() -> list[str]:
    return [g for g in request.form.getlist("groups") if g]


@bp.post("/admin/users")
@page("users.admin")
def admin_user_create() -> Any:
    f = request.form
    username = f.get("username", "").strip()
    try:
        accounts.create_user(page_db(), username, f.get("password", ""), _groups_of_form(),
                             f.get("display_name", "").strip() or None)
        flash(_("Account %(user)s created.", user=username), "success")
    except YekuoError as err:
        _problems(err)
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<username>")
@page("users.admin")
def admin_user_update(username: str) -> Any:
    f = request.form
    action = f.get("action", "save")
    try:
        if action in ("deactivate", "activate"):
            if username == page_user().username:
                raise Conflict("you cannot deactivate your own account")
            accounts.update_user(page_db(), username, active=(action == "activate"))
        else:
            accounts.update_user(page_db(), username, groups=_groups_of_form(),
                                 display_name=f.get("display_name", "").strip())
        flash(_("Account %(user)s saved.", user=username), "success")
    except YekuoError as err:
        _problems(err)
    return redirect(url_for("web.admin_users"))


# -- teams and members -----------------------------------------------------------------------------


@bp.get("/admin/teams")
@page("teams.admin")
def admin_teams() -> Any:
    return render_template("admin_teams.html", teams=teams.list_teams(page_db(), active_only=False),
                           areas=teams.AREAS, roles=teams.ROLES)


@bp.post("/admin/teams")
@page("teams.admin")
def admin_team_create() -> Any:
    f = request.form
    try:
        team = teams.create_team(page_db(), f.get("code", ""), f.get("name", ""), f.get("area", ""),
                                 actor=page_user().username)
        flash(_("Team %(team)s created.", team=team.name), "success")
    except YekuoError as err:
        _problems(err)
    return redirect(url_for("web.admin_teams"))


@bp.post("/admin/teams/<code>/members")
@page("teams.admin")
def admin_member_add(code: str) -> Any:
    f = request.form
    try:
        member = teams.add_member(page_db(), code, f.get("name", ""), f.get("mobile", ""),
                                  role=f.get("role", "worker"), username=f.get("username", "").strip() or None)
        flash(_("%(name)s added to the team.", name=member.name), "success")
    except YekuoError as err:
        _problems(err)
    return redirect(url_for("web.admin_teams", _anchor=f"team-{code}"))


@bp.post("/admin/teams/<code>/members/remove")
@page("teams.admin")
def admin_member_remove(code: str) -> Any:
    name = request.form.get("name", "")
    try:
        teams.remove_member(page_db(), code, name)
        flash(_("%(name)s removed from the team.", name=name), "success")
    except YekuoError as err:
        _problems(err)
    return redirect(url_for("web.admin_teams", _anchor=f"team-{code}"))


@bp.post("/admin/teams/<code>")
@page("teams.admin")
def admin_team_update(code: str) -> Any:
    f = request.form
    try:
        teams.update_team(page_db(), code, name=f.get("name") or None, area=f.get("area") or None,
                          active={"1": True, "0": False}.get(f.get("active", "")))
        flash(_("Team saved."), "success")
    except YekuoError as err:
        _problems(err)
    return redirect(url_for("web.admin_teams", _anchor=f"team-{code}"))


# -- the working-day calendar ------------------------------------------------------------------------


def _year_arg() -> int:
    today = clock.now().astimezone(CHINA).year
    year = request.args.get("year", type=int) or today
    return year if 1900 <= year <= 2200 else today


@bp.get("/admin/calendar")
@page("calendar.import")
def admin_calendar() -> Any:
    db = page_db()
    year = _year_arg()
    years = calendar.years(db)
    info = next((y for y in years if y.year == year), None)
    days = calendar.special_days(db, year) if info else []
    return render_template("admin_calendar.html", year=year, years=years, info=info, days=days,
                           kinds={"holiday": _("Holiday"), "adjusted_workday": _("Adjusted working day")},
                           weekday=weekday_text)


@bp.post("/admin/calendar")
@page("calendar.import")
def admin_calendar_import() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a calendar file (CSV or JSON) to import."), "error")
        return redirect(url_for("web.admin_calendar"))
    raw = upload.read(calendar_import.MAX_FILE_BYTES + 1)
    try:
        if len(raw) > calendar_import.MAX_FILE_BYTES:
            raise InvalidData("the file is too large")
        report = calendar_import.import_year(page_db(), raw, actor=page_user().username, name=upload.filename[:100])
    except calendar_import.CalendarImportError as err:
        flash(_("The file was not imported: %(count)s problem(s).", count=len(err.problems)), "error")
        return render_template("admin_calendar.html", year=_year_arg(), years=calendar.years(page_db()), info=None,
                               days=[], kinds={}, problems=err.problems[:50], weekday=weekday_text), 422
    except YekuoError as err:
        _problems(err)
        return redirect(url_for("web.admin_calendar"))
    if report.changed:
        flash(_("%(year)s imported: %(holidays)s holidays, %(adjusted)s adjusted working days.", year=report.year,
                holidays=report.holidays, adjusted=report.adjusted_workdays), "success")
    else:
        flash(_("%(year)s already held exactly this calendar: nothing changed.", year=report.year), "info")
    return redirect(url_for("web.admin_calendar", year=report.year))


def weekday_text(day: dt.date) -> str:
    """星期一 … 星期日 as one character (the page is Chinese)."""
    return "一二三四五六日"[day.weekday()]
