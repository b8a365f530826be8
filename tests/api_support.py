"""Shared set-up for the REST API tests: an app on the test database, demo users, tokens per role.

Passwords are hashed once per session (scrypt is deliberately slow) and tokens are issued
directly, so a test pays for neither; the login path itself is tested in test_api_basics.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from api import auth
from api.app import create_app
from engine.core import config, users
from engine.core.clock import FixedClock
from engine.core.db import Database
from engine.core.models import membership_t, user_t
from engine.deadlines import rule_versions
from tests import process_helpers

ROLES = [code for code, _ in users.ROLES]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
#: outside demo mode the app wants a key of at least 32 bytes (api.security.require_secret)
TEST_SECRET = "yekuo-tests-only-secret-key-0123456789"


@functools.cache
def demo_hash() -> str:
    return users.hash_password("demo")


def add_user(db: Database, username: str, groups: list[str], *, active: bool = True) -> None:
    with db.write() as conn:
        if conn.execute(select(user_t.c.id).where(user_t.c.username == username)).first() is not None:
            return
        uid = conn.execute(insert(user_t).values(
            username=username, display_name=f"测试{username}", password_hash=demo_hash(), active=active,
            created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)).returning(user_t.c.id)).scalar_one()
        if groups:
            conn.execute(insert(membership_t), [{"user_id": uid, "group_code": g} for g in groups])


def seed_users(db: Database) -> None:
    """One user per role, named after it (as `yekuo init --demo`), plus a second clerk and channel."""
    for role in ROLES:
        add_user(db, role, [role])
    add_user(db, "clerk2", ["clerk"])
    add_user(db, "channel2", ["channel"])


def make_app(db: Database, tmp_path: Path) -> Flask:
    app = create_app(config.Settings(database_url=db.url, secret_key=TEST_SECRET), db)
    app.config.update(TESTING=True, YEKUO_DOCUMENTS_DIR=str(tmp_path / "documents"))
    return app


def token_for(app: Flask, username: str) -> str:
    user = users.get_user(app.extensions["yekuo.db"], username)
    assert user is not None, username
    with app.test_request_context():
        return auth.issue_token(user)["access_token"]


class Api:
    """A test client that speaks as a user: `api.get(path, as_="clerk")`."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.db: Database = app.extensions["yekuo.db"]
        self.client: FlaskClient = app.test_client()
        self._tokens: dict[str, str] = {}

    def headers(self, as_: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = dict(extra or {})
        if as_ is not None:
            if as_ not in self._tokens:
                self._tokens[as_] = token_for(self.app, as_)
            out["Authorization"] = f"Bearer {self._tokens[as_]}"
        return out

    def request(self, method: str, path: str, *, as_: str | None = None, headers: dict[str, str] | None = None,
                **kw: Any) -> Any:
        return self.client.open(path, method=method, headers=self.headers(as_, headers), **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.get_json(silent=True))
        return r.get_json()


def deploy_bundle(db: Database) -> None:
    process_helpers.deploy(db)


def seed_deadlines(db: Database) -> None:
    """The State Grid time limits and the official calendar around the test clock (2026)."""
    from engine.deadlines import calendar_import

    calendar_import.seed_from_package(db, only=range(2025, 2028))
    rule_versions.seed_rule_sets(db)


@pytest.fixture
def api(db: Database, clock: FixedClock, tmp_path: Path) -> Iterator[Api]:
    """The app on the test database with the bundled process deployed and one user per role."""
    auth.reset_throttle()
    seed_users(db)
    deploy_bundle(db)
    yield Api(make_app(db, tmp_path))
    auth.reset_throttle()


def accept_example(index: int = 0, **changes: Any) -> dict[str, Any]:
    return process_helpers.example("accept", index, **changes)


def application_example(index: int = 1, **changes: Any) -> dict[str, Any]:
    from engine.intake import applications

    data = {k: v for k, v in accept_example(index).items() if k not in applications.STAFF_ONLY}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def upload(api: Api, content: bytes = PDF, name: str = "身份证.pdf", as_: str = "channel") -> dict[str, Any]:
    import io

    r = api.post("/api/v1/documents", as_=as_, data={"file": (io.BytesIO(content), name)},
                 content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def with_documents(api: Api, data: dict[str, Any], as_: str = "channel") -> dict[str, Any]:
    """Replace the example's document refs with real uploads by `as_`."""
    docs = {}
    for n, (name, value) in enumerate(data.get("documents", {}).items()):
        ref = upload(api, PDF + str(n).encode(), value["name"], as_=as_)["ref"]
        docs[name] = {"ref": ref, "name": value["name"]}
    return {**data, "documents": docs}
