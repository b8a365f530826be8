"""Who is asking: bearer tokens for the API, session login for pages, CSRF, login throttling.

Every view gets the caller as an `engine.core.actors.Actor` (username + groups) through
`current_actor()`; role checks are `require(*groups)`. What a request learns about its caller is
read in one statement and cached per process for a few seconds (`users.signed_in`): a user
deactivated or signed out elsewhere is locked out within `users.SIGNED_IN_TTL`. Tokens are signed and expire
(`YEKUO_TOKEN_TTL` seconds, default 8 h); passwords are checked by `engine.core.users` (scrypt).
Throttling is per process and per username+address: after 5 failures in 15 minutes further
attempts get 429 until the window passes (behind several processes, put the limit in the proxy too).
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from engine.core import actors, users
from engine.core.db import Database
from engine.core.errors import Forbidden, YekuoError
from engine.core.models import user_t

TOKEN_SALT = "yekuo-api-token"
MAX_FAILURES, WINDOW = 5, 15 * 60


class Unauthorized(YekuoError):
    code, status = "unauthorized", 401


class TooManyAttempts(YekuoError):
    code, status = "too_many_attempts", 429


class CsrfError(YekuoError):
    code, status = "csrf_failed", 400


def _db() -> Database:
    return current_app.extensions["yekuo.db"]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def token_ttl() -> int:
    """Token lifetime in seconds: app config `YEKUO_TOKEN_TTL`, else the environment, else 8 h."""
    value = current_app.config.get("YEKUO_TOKEN_TTL")
    if value is None:
        value = os.environ.get("YEKUO_TOKEN_TTL") or 8 * 3600
    return int(value)


# -- throttling -----------------------------------------------------------------------------------

_failures: dict[str, deque[float]] = defaultdict(deque)
_lock = threading.Lock()


def _throttle_key(username: str) -> str:
    return f"{username.lower()}|{request.remote_addr or '-'}"


def _check_throttle(key: str) -> None:
    now = time.monotonic()
    with _lock:
        recent = _failures[key]
        while recent and now - recent[0] > WINDOW:
            recent.popleft()
        if len(recent) >= MAX_FAILURES:
            raise TooManyAttempts("too many failed logins; wait 15 minutes and try again")


def _record_failure(key: str) -> None:
    with _lock:
        _failures[key].append(time.monotonic())


def reset_throttle() -> None:
    """For tests."""
    with _lock:
        _failures.clear()


def authenticate(username: str, password: str) -> users.UserInfo:
    """Check a password with throttling; raises Unauthorized / TooManyAttempts."""
    key = _throttle_key(username)
    _check_throttle(key)
    user = users.authenticate(_db(), username, password)
    if user is None:
        _record_failure(key)
        raise Unauthorized("wrong username or password")
    return user


# -- tokens and sessions ----------------------------------------------------------------------------

def issue_token(user: users.UserInfo) -> dict[str, Any]:
    return {"access_token": _serializer().dumps({"u": user.username}), "token_type": "Bearer",
            "expires_in": token_ttl()}


def _user_from_token(token: str) -> users.UserInfo | None:
    try:
        data = _serializer().loads(token, max_age=token_ttl())
    except (SignatureExpired, BadSignature):
        return None
    user = users.signed_in(_db(), data.get("u", "")).user
    return user if user is not None and user.active else None


def _session_gen(username: str) -> int | None:
    with _db().read() as conn:
        return conn.execute(select(user_t.c.session_gen).where(user_t.c.username == username)).scalar()


def login_session(user: users.UserInfo) -> None:
    """A fresh session: nothing from before sign-in survives (a planted cookie is replaced, the
    CSRF token is new), and it carries the user's session generation for `logout_session`."""
    session.clear()
    session["user"] = user.username
    session["gen"] = _session_gen(user.username) or 0
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True


def logout_session() -> None:
    """End the session on the server too: the cookie is signed by us and held by the browser, so
    clearing it alone would leave a copied cookie valid; raising the user's generation ends every
    session of the user issued before (all their browsers)."""
    username = session.get("user")
    if username:
        with _db().write() as conn:
            conn.execute(update(user_t).where(user_t.c.username == username)
                         .values(session_gen=user_t.c.session_gen + 1))
        users.forget_signed_in(_db(), username)
    session.clear()


def current_user() -> users.UserInfo | None:
    """The caller: a valid bearer token, else the logged-in session (cached per request)."""
    if "yekuo_user" in g:
        return g.yekuo_user
    user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = _user_from_token(header[7:].strip())
        g.yekuo_auth = "token"
    elif session.get("user"):
        found = users.signed_in(_db(), session["user"])
        user = found.user if found.user is not None and found.user.active else None
        if user is not None and session.get("gen") != found.session_gen:
            user = None  # signed out since (maybe elsewhere): this cookie is a copy of an ended session
            session.clear()
        g.yekuo_auth = "session"
    g.yekuo_user = user
    return user


def current_actor() -> actors.Actor | None:
    user = current_user()
    return actors.Actor(user.username, user.groups) if user is not None else None


def actor_or_401() -> actors.Actor:
    actor = current_actor()
    if actor is None:
        raise Unauthorized("sign in or send a valid bearer token")
    return actor


def require(*groups: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: the caller must be signed in and, if groups are named, in one of them."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            actor = actor_or_401()
            if groups and not (actor.groups & set(groups)):
                raise Forbidden(f"this needs one of the roles: {', '.join(groups)}")
            return view(*args, **kwargs)

        return checked

    return wrap


# -- CSRF (session-authenticated writes only; bearer calls carry no cookie) -------------------------

def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """Call from a before_request hook: unsafe methods with a session need the token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return
    if request.endpoint == "web.login":
        pass  # always checked: a forged sign-in would put the victim in the attacker's account
    elif not session.get("user") and (not session.get("csrf") or request.path.startswith("/api/")):
        return  # nobody is signed in: a cookie carries no authority to forge (the API answers 401)
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError("the form expired or did not come from this site; reload and try again")
