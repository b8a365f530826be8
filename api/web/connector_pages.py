"""The connectors page (/connectors): each system's health, queue and dead letters, with 重新投递.

For administrators and supervisors. The engine reads and redelivers (`engine.connectors.health`);
the view shapes it. The redeliver form is a plain POST with the page's CSRF token, like the others.
"""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api.web.views import bp, page, page_db
from engine.connectors import health
from engine.core import clock
from engine.messages import outbox


def _kind(template: str | None, channel: str) -> str:
    """What a message is, in words (the document kinds of the connectors; any SMS is an SMS)."""
    if channel == "sms":
        return _("SMS")
    kinds = {"account_request": _("Account number request"), "archive_record": _("Archive record"),
             "milestone": _("Progress notice"), "case_closed": _("Case closed notice"), "call_task": _("Call task"),
             "verification_order": _("Meter verification order")}
    return kinds.get(template or "", _("Document"))


def _error(text: str | None) -> str:
    """The last error in words; the raw text stays in the row's tooltip."""
    if not text:
        return "—"
    code = re.match(r"HTTP (\d{3})", text)
    if code and code.group(1).startswith("5"):
        return _("The peer answered with a server error (%(code)s)", code=code.group(1))
    if code:
        return _("The peer refused the message (%(code)s)", code=code.group(1))
    if "switched off" in text or "not configured" in text:
        return _("Switched off or not configured")
    if "timed out" in text.lower() or "timeout" in text.lower():
        return _("No answer in time")
    return _("Could not reach the peer")


@bp.app_template_filter("connector_kind")
def _kind_filter(message: dict[str, Any]) -> str:
    return _kind(message.get("template"), message.get("channel", ""))


@bp.app_template_filter("connector_error")
def _error_filter(text: str | None) -> str:
    return _error(text)


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
