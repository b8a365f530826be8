"""What keeps a browser and the server safe whatever arrives from a channel: settings refused
outside demo mode, session cookie flags, response headers with a per-request CSP nonce, and a
lost database answered with 503 instead of a stack trace.

Each request runs on one pooled connection (`Database.session`). A connection that turns out to be
dead (the pool does not ping: it recycles) is retried once on a fresh one when the request had
committed nothing yet; otherwise, and when the database stays away, the answer is 503.

The Content-Security-Policy runs only scripts that carry this request's nonce: a string that gets
into a page as markup (a customer's address, a case note) cannot run, and no page has inline
script or `on…=` handlers. Styles may be inline ('unsafe-inline' for style-src only): bpmn-js and
json-editor set style attributes and insert <style> elements, and a style cannot run script.
No 'unsafe-eval': neither library needs it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from engine.core import clock, config, heartbeat
from engine.core.db import Database
from engine.core.errors import YekuoError

MIN_SECRET_BYTES = 32
MAKE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
TRUE = {"1", "true", "yes", "on"}


class InsecureSettings(YekuoError):
    code, status = "insecure_settings", 500


def require_secret(settings: config.Settings) -> None:
    """Outside demo mode a missing or short key would let anyone sign tokens and sessions with a
    key known from the source: refuse to start, in one line that says how to make one."""
    if settings.demo or len(settings.secret_key.encode()) >= MIN_SECRET_BYTES:
        return
    raise InsecureSettings(f"YEKUO_SECRET_KEY must be set to a random secret of at least {MIN_SECRET_BYTES} bytes "
                           f"(make one with: {MAKE_KEY}); only demo mode (YEKUO_DEMO=1) runs without one")


def cookie_secure(settings: config.Settings, environ: dict[str, str] | None = None) -> bool:
    """`YEKUO_COOKIE_SECURE` if set, else on outside demo mode (demo runs on plain http)."""
    value = (os.environ if environ is None else environ).get("YEKUO_COOKIE_SECURE", "").strip().lower()
    return value in TRUE if value else not settings.demo


# -- headers ----------------------------------------------------------------------------------------

def csp_nonce() -> str:
    """This request's script nonce (templates: `nonce="{{ csp_nonce() }}"`)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join((
        "default-src 'self'",
        f"script-src 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",  # styles only: the diagram and form libraries set them inline
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def _headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    return response


# -- the database gone ------------------------------------------------------------------------------

def database_unavailable(err: Exception) -> bool:
    """A connection that failed or was lost (and locks, timeouts: DBAPI's OperationalError is the
    class for problems outside the program's control), as opposed to a bug in a statement."""
    return isinstance(err, OperationalError) or (isinstance(err, DBAPIError) and err.connection_invalidated)


def check_database(db: Database) -> str | None:
    """None when `SELECT 1` answers, else why not (one line)."""
    try:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as err:
        return _first_line(err)
    return None


def _first_line(err: DBAPIError) -> str:
    lines = str(err.orig or err).strip().splitlines()
    return lines[0][:200] if lines else type(err.orig or err).__name__


def _one_connection_per_request(app: Flask) -> None:
    """Run every view on one connection checkout; retry once on a dropped connection if nothing
    was committed (a stale pooled connection after a database restart costs one retry, not a 503)."""
    view = app.dispatch_request

    def dispatch_request() -> Any:
        db: Database = app.extensions["yekuo.db"]
        with db.session():
            before = db.commits()
            try:
                return view()
            except DBAPIError as err:
                if not err.connection_invalidated or db.commits() != before:
                    raise
                app.logger.warning("database connection lost; retrying the request once: %s", _first_line(err))
        g.pop("yekuo_user", None)
        with db.session():
            return view()

    app.dispatch_request = dispatch_request  # type: ignore[method-assign]


UNAVAILABLE = "the database is not reachable; try again in a moment"


def install(app: Flask, settings: config.Settings) -> None:
    """Cookie flags, headers on every response, the 503 for a lost database, `/healthz`."""
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=cookie_secure(settings),
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12))
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_headers)
    _one_connection_per_request(app)

    @app.errorhandler(DBAPIError)
    def _database_error(err: DBAPIError) -> Any:
        if not database_unavailable(err):
            raise err
        app.logger.warning("database unavailable: %s", _first_line(err))
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json" or request.is_json:
            response = jsonify(error={"code": "database_unavailable", "message": UNAVAILABLE, "details": None})
        else:  # no page template: rendering one would ask the database for the signed-in user again
            response = Response("服务暂时不可用，请稍后再试。The service is temporarily unavailable; try again in a moment.\n",
                                mimetype="text/plain")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.get("/healthz")
    def healthz() -> Any:
        db = app.extensions["yekuo.db"]
        problem = check_database(db)
        if problem is None:
            return jsonify(status="ok", scheduler=scheduler_health(db, settings))
        return jsonify(status="unavailable", error={"code": "database_unavailable", "message": problem}), 503


def scheduler_health(db: Database, settings: config.Settings) -> dict[str, Any]:
    """Whether a scheduler ran a pass lately (three intervals, at least a minute): without one the app
    serves, but timers, deadlines and messages wait. Reported, not a failure: web processes may
    rightly run without one while `yekuo scheduler` runs elsewhere."""
    last = heartbeat.last_beat(db)
    window = dt.timedelta(seconds=max(60.0, 3 * settings.scheduler_interval))
    return {"last_run": last.isoformat() if last else None,
            "recent": last is not None and clock.now() - last <= window}
