"""The connected service centre's pages: the customer thread on the case page (answers and logged
calls and visits), the dispatch-mode switch on the board, and the load-growth analysis `/analysis`
(ECharts from node_modules, the figures as JSON in the page, CSV export).

Routes are added to the staff-page blueprint (`api.web.views.bp`); the roles are `api.policy`'s
`threads.answer`, `dispatch.mode` and `analysis.read`. Customer text is only ever rendered by Jinja's
autoescaping (and as text by ECharts), never as markup.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api import policy
from api.web.views import bp, display_name, due_state, friendly, page, page_db, page_user
from engine.audit import analysis
from engine.core import clock, worklist
from engine.core.errors import YekuoError
from engine.dispatch import after_sales, capacity, modes, teams
from engine.intake import threads


def _fail(err: YekuoError) -> None:
    """The error in Chinese: the engine's per-field messages where it gave them."""
    details = err.details if isinstance(getattr(err, "details", None), dict) else {}
    said = "；".join(str(m) for msgs in details.values() if isinstance(msgs, list) for m in msgs)
    flash(f"{friendly(err)}（{said or err.message}）", "error")


def _case_thread(instance_id: int) -> dict[str, Any]:
    """The thread and its first-response questions, for the case page."""
    db = page_db()
    user = page_user()
    return {"messages": threads.thread(db, instance_id), "questions": threads.questions(db, instance_id=instance_id),
            "may_answer": policy.may(user.groups, "threads.answer"), "max_chars": threads.MAX_CHARS,
            "kinds": threads.STAFF_KINDS, "channels": threads.CHANNEL_TEXT, "name": display_name}


@bp.context_processor
def _centre_context() -> dict[str, Any]:
    from api import auth

    user = auth.current_user() if request.endpoint != "web.static" else None
    groups = set(user.groups) if user else set()
    return {"case_thread": _case_thread, "may_analyse": policy.may(groups, "analysis.read"),
            "may_edit_areas": policy.may(groups, "areas.edit"), "follows_up": "manager" in groups,
            "may_switch_mode": policy.may(groups, "dispatch.mode"), "dispatch_modes": _modes}


def _modes() -> list[modes.ModeView]:
    return modes.list_modes(page_db())


# -- the thread ----------------------------------------------------------------------------------------


@bp.post("/cases/<int:instance_id>/messages")
@page("threads.answer")
def case_message(instance_id: int) -> Any:
    try:
        threads.post_staff(page_db(), instance_id, request.form.get("body", ""), author=page_user().username,
                           kind=request.form.get("kind") or "message")
        flash(_("Saved on the customer thread."), "success")
    except YekuoError as err:
        _fail(err)
    return redirect(url_for("web.case", instance_id=instance_id) + "#thread")


# -- dispatch modes ------------------------------------------------------------------------------------


@bp.post("/dispatch/modes")
@page("dispatch.mode")
def dispatch_mode_switch() -> Any:
    form = request.form
    try:
        view = modes.switch(page_db(), form.get("area", ""), form.get("job_type", ""), form.get("mode", ""),
                            reason=form.get("reason", ""), actor=page_user().username)
        flash(_("%(area)s · %(job)s is now: %(mode)s.", area=teams.AREAS[view.area],
                job=capacity.JOB_TYPES[view.job_type], mode=_mode_text(view.mode)), "success")
    except YekuoError as err:
        _fail(err)
    return redirect(url_for("web.dispatch_board") + "#dispatch-modes")


def _mode_text(mode: str) -> str:
    return _("Central dispatch") if mode == modes.CENTRAL else _("Team self-dispatch")


# -- load analysis -------------------------------------------------------------------------------------


def _filters() -> analysis.Filters:
    args = request.args
    pick = {k: (args.get(k) or "").strip()[:50] or None for k in ("area", "voltage", "category", "industry")}
    return analysis.Filters(**pick, start_month=args.get("start_month") or None,
                            end_month=args.get("end_month") or None)


def _chart_data(result: analysis.Analysis) -> dict[str, Any]:
    """What static/analysis.js draws: plain numbers and already-translated names."""
    return {
        "months": [m["month"] for m in result.months],
        "applied": [m["applied_kw"] for m in result.months],
        "energized": [m["energized_kw"] for m in result.months],
        "appliedLastYear": [m["applied_kw_last_year"] for m in result.months],
        "growth": [None if m["applied_growth"] is None else round(m["applied_growth"] * 100, 1)
                   for m in result.months],
        "areas": [analysis.label("area", a["area"]) for a in result.areas],
        "density": [a["density_kw_per_km2"] for a in result.areas],
        "voltage": [{"name": r["key"], "value": r["applied_kw"]} for r in result.by.get("voltage", [])],
        "category": [{"name": analysis.label("category", r["key"]), "value": r["applied_kw"]}
                     for r in result.by.get("category", [])],
        "text": {"applied": _("Applied capacity (kW)"), "energized": _("Energized capacity (kW)"),
                 "lastYear": _("Applied, same month last year (kW)"), "growth": _("Growth on last year (%)"),
                 "density": _("Load density (kW/km²)"), "voltage": _("Applied capacity by voltage"),
                 "category": _("Applied capacity by customer category"), "empty": _("No data.")},
    }


@bp.get("/analysis")
@page("analysis.read")
def analysis_page() -> Any:
    f = _filters()
    try:
        result = analysis.analyse(page_db(), f)
    except YekuoError as err:
        _fail(err)
        f = analysis.Filters()
        result = analysis.analyse(page_db(), f)
    return render_template("analysis.html", r=result, f=f, chart=_chart_data(result), areas=teams.AREAS,
                           sizes=teams.area_sizes(page_db()), max_km2=teams.MAX_AREA_KM2,
                           categories=analysis.CATEGORIES, alabel=analysis.label, now=clock.now(),
                           csv_args={k: v for k, v in request.args.items() if v})


@bp.post("/analysis/areas")
@page("areas.edit")
def analysis_area_size() -> Any:
    """An administrator sets an area's size (km²); errors are said in Chinese and nothing changes."""
    area, raw = request.form.get("area", ""), (request.form.get("size_km2") or "").strip()
    try:
        km2 = float(raw)
    except ValueError:
        flash(_("The size “%(value)s” is not a number of km².", value=raw[:40]), "error")
        return redirect(url_for("web.analysis_page"))
    try:
        teams.set_area_size(page_db(), area, km2, actor=page_user().username)
    except YekuoError as err:
        _fail(err)
    else:
        flash(_("%(area)s: the size is now %(km2)s km².", area=teams.AREAS[area], km2=f"{km2:g}"), "success")
    return redirect(url_for("web.analysis_page"))


@bp.get("/analysis.csv")
@page("analysis.read")
def analysis_csv() -> Any:
    text = analysis.to_csv(analysis.analyse(page_db(), _filters()))
    return Response(text.encode("utf-8"), headers={"Content-Type": "text/csv; charset=utf-8",
                                                   "Content-Disposition": 'attachment; filename="load-analysis.csv"'})



# -- the customer manager's after-sales list -------------------------------------------------------------


@bp.get("/after-sales")
@page("staff.read")
def after_sales_page() -> Any:
    """Open follow-ups of finished cases the signed-in person may work (the one work-list query)."""
    user = page_user()
    rows = after_sales.follow_up_list(page_db(), worklist.TaskFilter(visible_groups=user.groups,
                                                                     visible_user=user.username))
    return render_template("after_sales.html", rows=rows, now=clock.now(), due_state=due_state)
