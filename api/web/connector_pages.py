"""The connectors page (/connectors): each system's health, queue and dead letters, with 重新投递.

For administrators and supervisors. The engine reads and redelivers (`engine.connectors.health`);
the view shapes it. The redeliver form is a plain POST with the page's CSRF token, like the others.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api.web.views import bp, page, page_db
from engine.connectors import health
from engine.core import clock
from engine.messages import outbox


@bp.get("/connectors")
@page("connectors.read")
def connectors() -> Any:
    db = page_db()
    return render_template("connectors.html", systems=health.overview(db),
                           dead=health.messages(db, status=outbox.FAILED),
                           retrying=health.messages(db, status=outbox.PENDING, limit=20),
                           given_up=health.given_up_sms(db), now=clock.now())


@bp.post("/connectors/redeliver")
@page("connectors.redeliver")
def connectors_redeliver() -> Any:
    ids = [int(v) for v in request.form.getlist("id") if v.isdigit()][:500]
    count = health.redeliver(page_db(), ids)
    if count:
        flash(_("Queued again: %(count)s message(s).", count=count), "success")
    else:
        flash(_("Nothing to redeliver: the message is no longer a dead letter."), "error")
    return redirect(url_for("web.connectors"))
