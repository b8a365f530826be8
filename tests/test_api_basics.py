"""The API's frame: OpenAPI document and docs page, auth tokens, error shape, pagination."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from api import auth
from tests.api_support import Api, add_user, api  # noqa: F401  (fixture)


def test_openapi_document_is_valid_and_every_body_has_an_example(api: Api) -> None:
    r = api.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    missing = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert "x-roles" in op or op.get("security") == [], f"{method} {path} documents no roles"
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                if media != "multipart/form-data" and "example" not in content and "examples" not in content:
                    missing.append(f"{method.upper()} {path} ({media})")
    assert missing == []
    # the error shape is documented as it is sent
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {"error"}


def test_docs_page_is_served_without_external_assets(api: Api) -> None:
    page = api.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "openapi.json" in text and "docs.js" in text
    assert "http://" not in text.replace("http://www.", "") and "https://" not in text
    script = api.get("/api/v1/docs.js")
    assert script.status_code == 200 and "textContent" in script.get_data(as_text=True)


def test_token_flow(api: Api) -> None:
    r = api.post("/api/v1/auth/token", json={"username": "clerk", "password": "demo"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["groups"] == ["clerk"]


def test_wrong_password_is_401_and_repeated_failures_are_429(api: Api) -> None:
    for _ in range(auth.MAX_FAILURES):
        r = api.post("/api/v1/auth/token", json={"username": "clerk", "password": "wrong"})
        assert r.status_code == 401
        assert r.get_json()["error"]["code"] == "unauthorized"
    r = api.post("/api/v1/auth/token", json={"username": "clerk", "password": "demo"})
    assert r.status_code == 429
    assert r.get_json()["error"]["code"] == "too_many_attempts"
    assert r.headers.get("Retry-After")


def test_missing_bad_and_expired_tokens_are_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic Y2xlcms6ZGVtbw=="}):
        r = api.client.get("/api/v1/tasks", headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert set(r.get_json()["error"]) == {"code", "message", "details"}
    good = api.headers("clerk")
    api.app.config["YEKUO_TOKEN_TTL"] = -1
    assert api.client.get("/api/v1/tasks", headers=good).status_code == 401


def test_deactivated_users_token_stops_working(api: Api) -> None:
    headers = api.headers("clerk2")
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 200
    api.ok("DELETE", "/api/v1/users/clerk2", as_="admin")
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 401
    r = api.post("/api/v1/auth/token", json={"username": "clerk2", "password": "demo"})
    assert r.status_code == 401


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/api/v1/nowhere", 404, "not_found"),
    ("GET", "/api/v1/process-instances/999999", 404, "not_found"),
    ("PUT", "/api/v1/tasks", 405, "method_not_allowed"),
    ("DELETE", "/api/v1/auth/token", 405, "method_not_allowed"),
])
def test_errors_have_one_shape(api: Api, method: str, path: str, status: int, code: str) -> None:
    r = api.request(method, path, as_="clerk")
    assert r.status_code == status
    assert r.is_json
    assert r.get_json()["error"]["code"] == code
    if status == 405:
        assert r.headers.get("Allow")


def test_request_validation_errors_are_422_per_field(api: Api) -> None:
    r = api.post("/api/v1/auth/token", json={"username": 5})
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_data"
    assert set(err["details"]) == {"username", "password"}
    r = api.get("/api/v1/tasks?page_size=1000", as_="clerk")
    assert r.status_code == 422 and "page_size" in r.get_json()["error"]["details"]
    r = api.get("/api/v1/tasks?sort=sideways", as_="clerk")
    assert r.status_code == 422 and "sort" in r.get_json()["error"]["details"]


def test_lists_are_paginated(api: Api) -> None:
    for n in range(5):
        add_user(api.db, f"user{n}", ["surveyor"])
    first = api.ok("GET", "/api/v1/users?group=surveyor&page=1&page_size=2", as_="admin")
    assert first["total"] == 6 and first["page"] == 1 and first["page_size"] == 2 and len(first["items"]) == 2
    last = api.ok("GET", "/api/v1/users?group=surveyor&page=3&page_size=2", as_="admin")
    assert len(last["items"]) == 2
    beyond = api.ok("GET", "/api/v1/users?group=surveyor&page=4&page_size=2", as_="admin")
    assert beyond["items"] == [] and beyond["total"] == 6
    names = [u["username"] for p in (1, 2, 3)
             for u in api.ok("GET", f"/api/v1/users?group=surveyor&page={p}&page_size=2", as_="admin")["items"]]
    assert len(set(names)) == 6


def test_pages_errors_are_not_turned_into_json(api: Api) -> None:
    r = api.client.get("/no-such-page")
    assert r.status_code == 404
    assert not r.is_json
