"""The administrator's rule-set pages (`/admin/rules`): view, copy, edit and activate time limits,
warning percentages and escalation chains. Supervisors read; only administrators change, and every
change is a new version with a reason (`engine.deadlines.rule_versions`).

The edit page is a plain form (no script): one row per time limit and per escalation level, plus an
empty row to add one. Problems come back per field, in Chinese (`FIELD_MESSAGES`), beside the field.
"""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from api import policy
from api.web import labels
from api.web.views import bp, friendly, page, page_db, page_user
from engine.core import definitions, users
from engine.core.errors import YekuoError
from engine.deadlines import rule_sets, rule_versions

#: the last part of an engine field path → what the page says about it
FIELD_MESSAGES: dict[str, Any] = {
    "workdays": _l("Enter whole working days from 1 to 365, or leave it empty and give hours."),
    "hours": _l("Enter whole working hours from 1 to 2000."),
    "sla_key": _l("Unknown step: choose one of the listed steps."),
    "business_type": _l("Choose a business type."),
    "warnings": _l("Percentages between 0 and 100 (exclusive), separated by commas, each once."),
    "reminder_after_hours": _l("Hours from 0 to 2000."),
    "first_response_hours": _l("Working hours more than 0 and at most 240."),
    "escalation": _l("The escalation chain needs at least one level (at most 8)."),
    "key": _l("A level code: lower-case letters, digits and _, each level once."),
    "label": _l("A name of 1 to 20 characters."),
    "recipient": _l("Choose the task's holder or a group."),
    "delay_hours": _l("Working hours after the deadline, 0 to 2000, no earlier than the level before."),
    "title": _l("A title of 1 to 200 characters."),
    "reason": _l("Say why (required)."),
    "rules": _l("At least one time limit; each business type and step only once."),
    "name": _l("A new name: lower-case letters, digits and _ (2 to 60), not used yet."),
    "version": _l("No such version."),
}


def _message(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    if last.isdigit():  # `warnings.1` is about warnings; `rules.3` is a duplicate row
        last = path.split(".")[0]
    return str(FIELD_MESSAGES.get(last, _("This value is not valid.")))


def _int(text: str) -> int | str | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text  # kept as typed: the engine refuses it with the field's message


def _number(text: str) -> float | str:
    try:
        return float((text or "").strip())
    except ValueError:
        return text


def _rows(prefix: str) -> list[int]:
    """Indexes of the form's rows named `<prefix>-<i>-…`, in order."""
    found = {int(k.split("-")[1]) for k in request.form if k.startswith(prefix + "-") and k.split("-")[1].isdigit()}
    return sorted(i for i in found if i < 1000)


def form_to_doc() -> dict[str, Any]:
    """The posted form as a rule document (a page shown again numbers its rows as the document does)."""
    f = request.form
    rules = []
    for i in _rows("rule"):
        get = lambda name: f.get(f"rule-{i}-{name}", "")  # noqa: E731
        if get("delete") or (not get("sla_key") and not get("limit").strip()):
            continue  # removed, or the empty row left empty
        limit = _int(get("limit"))
        hours = get("unit") == "hours"
        rules.append({"business_type": get("business_type"), "sla_key": get("sla_key"),
                      "workdays": None if hours else limit, "hours": limit if hours else None,
                      "assessed": bool(get("assessed")), "title": get("title").strip()})
    levels = []
    for i in _rows("level"):
        get = lambda name: f.get(f"level-{i}-{name}", "")  # noqa: E731
        if get("delete") or (not get("key").strip() and not get("label").strip()):
            continue
        levels.append({"key": get("key").strip(), "label": get("label").strip(), "recipient": get("recipient"),
                       "delay_hours": _number(get("delay_hours")), "requires_ack": bool(get("requires_ack"))})
    warnings = [_number(p) for p in f.get("warnings", "").replace("，", ",").split(",") if p.strip()]
    doc = {"title": f.get("title", "").strip(), "source": f.get("source", "").strip(), "warnings": warnings,
           "reminder_after_hours": _number(f.get("reminder_after_hours", "0") or "0"),
           "first_response_hours": _number(f.get("first_response_hours", "4") or "4"),
           "escalation": levels, "rules": rules}
    return doc


def form_errors(details: dict[str, list[str]]) -> dict[str, str]:
    """Engine field paths (`rules.2.workdays`) → the form's field names (`rule-2-limit`), in Chinese."""
    out: dict[str, str] = {}
    for path in details:
        parts = path.split(".")
        name = path
        if parts[0] == "rules" and len(parts) >= 2:
            field = parts[2] if len(parts) > 2 else "row"
            name = f"rule-{parts[1]}-{'limit' if field in ('workdays', 'hours') else field}"
        elif parts[0] == "escalation" and len(parts) >= 2:
            name = f"level-{parts[1]}-{parts[2] if len(parts) > 2 else 'row'}"
        elif parts[0] == "warnings":
            name = "warnings"
        out.setdefault(name, _message(path))
    return out


def _steps(db: Any) -> list[tuple[str, str]]:
    """(key, title) of every step a rule may name, titled from the active rules where known."""
    steps = {k: re.sub(r"（[^）]*）$", "", title) for k, title in rule_versions.known_steps(db).items()}
    steps[rule_sets.PROCESS_KEY] = steps.get(rule_sets.PROCESS_KEY) or _("Whole process")
    return sorted(((k, title or k) for k, title in steps.items()), key=lambda kv: kv[0])


def who(username: str | None) -> str:
    """A person's display name for the pages (the engine's own actors as 系统)."""
    if not username or username in ("system", "cli", "migration", "scheduler"):
        return _("System")
    found = users.get_user(page_db(), username)
    return found.display_name if found is not None else username


def _recipients(db: Any) -> list[tuple[str, str]]:
    groups = definitions.group_names(db)
    return [(rule_sets.HOLDER, _("The task's holder"))] + [
        (code, labels.label(labels.ROLES, code) or name) for code, name in sorted(groups.items())]


def _edit_page(name: str, content: dict[str, Any], base: dict[str, Any], errors: dict[str, str] | None = None,
               reason: str = "", status: int = 200) -> Any:
    db = page_db()
    return render_template("admin_rule_edit.html", name=name, c=content, base=base, errors=errors or {},
                           reason=reason, steps=_steps(db), recipients=_recipients(db),
                           business_types=[("*", _("All business types"))] + list(labels.BUSINESS_TYPES.items()),
                           ), status


@bp.get("/admin/rules")
@page("rules.read")
def admin_rules() -> Any:
    return render_template("admin_rules.html", sets=rule_versions.list_rule_sets(page_db()), who=who,
                           may_edit=policy.may(page_user().groups, "rules.admin"))


@bp.get("/admin/rules/<name>")
@page("rules.read")
def admin_rule_set(name: str) -> Any:
    db = page_db()
    version = request.args.get("version", type=int)
    shown = rule_versions.get_version(db, name, version)
    return render_template("admin_rule_set.html", v=shown, versions=rule_versions.versions_of(db, name),
                           recipients=dict(_recipients(db)), steps=dict(_steps(db)), who=who,
                           may_edit=policy.may(page_user().groups, "rules.admin"))


@bp.get("/admin/rules/<name>/edit")
@page("rules.admin")
def admin_rule_edit(name: str) -> Any:
    base = rule_versions.get_version(page_db(), name, request.args.get("version", type=int))
    return _edit_page(name, base["content"], base)


@bp.post("/admin/rules/<name>/edit")
@page("rules.admin")
def admin_rule_save(name: str) -> Any:
    db = page_db()
    base = rule_versions.get_version(db, name)
    doc = form_to_doc()
    reason = request.form.get("reason", "").strip()
    try:
        version = rule_versions.save_version(db, name, doc, actor=page_user().username, reason=reason)
    except rule_sets.RuleError as err:
        flash(_("Not saved: correct the marked fields."), "error")
        return _edit_page(name, doc, base, form_errors(err.details or {}), reason, status=422)
    flash(_("Saved as version %(version)s. It applies to new clocks once activated.", version=version), "success")
    return redirect(url_for("web.admin_rule_set", name=name, version=version))


@bp.post("/admin/rules/<name>/activate")
@page("rules.admin")
def admin_rule_activate(name: str) -> Any:
    version = request.form.get("version", type=int)
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash(_message("reason"), "error")
        return redirect(url_for("web.admin_rule_set", name=name, version=version))
    try:
        done = rule_versions.activate_version(page_db(), name, version, actor=page_user().username, reason=reason)
        flash(_("Version %(version)s is active: new clocks use it; running clocks keep theirs.", version=done),
              "success")
    except YekuoError as err:
        flash(friendly(err), "error")
    return redirect(url_for("web.admin_rule_set", name=name, version=version))


@bp.post("/admin/rules/<name>/copy")
@page("rules.admin")
def admin_rule_copy(name: str) -> Any:
    new_name = request.form.get("new_name", "").strip()
    try:
        rule_versions.copy_rule_set(page_db(), name, new_name, actor=page_user().username,
                                    reason=request.form.get("reason", "").strip(),
                                    title=request.form.get("title", "").strip() or None,
                                    version=request.form.get("version", type=int))
    except rule_sets.RuleError as err:
        flash(" ".join(_message(p) for p in (err.details or {"name": []})), "error")
        return redirect(url_for("web.admin_rule_set", name=name))
    flash(_("Copied: edit the new rule set, then activate it."), "success")
    return redirect(url_for("web.admin_rule_set", name=new_name))
