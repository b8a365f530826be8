"""The REST API under /api/v1 (flask-smorest); `register` is called by the app factory.

- OpenAPI 3 at `/api/v1/openapi.json`; a self-contained interactive docs page at `/api/v1/docs`
  (no CDN: it renders the document itself and sends "try it" requests with fetch).
- Errors: `{"error": {"code", "message", "details"}}` everywhere (`api.rest.errors`).
- Lists: `?page=1&page_size=20` (at most 100) → `{"items", "total", "page", "page_size"}`.
- Auth: `Authorization: Bearer <token>` from `POST /api/v1/auth/token` (a signed-in page session
  works too; then unsafe methods need the CSRF token). Roles per operation: `x-roles` in the document.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_smorest import Api

from api.rest import errors

TITLE = "Yekuo 业扩报装 API"
JSON_LIMIT = 2 * 1024 * 1024


class YekuoApi(Api):
    """flask-smorest with the API's own error shape, and without its app-wide error handler
    (that would turn the pages' errors into JSON): `errors.install` scopes handling to /api/."""

    ERROR_SCHEMA = None  # set in register (import order)

    def _register_error_handlers(self) -> None:
        return None

    def handle_http_exception(self, error: Any) -> Any:
        return errors.http_error_response(error)


def _blueprints() -> list[Any]:
    from api.rest import (
        applications,
        audit,
        auth,
        calendar,
        centre,
        deployments,
        dispatch,
        inbound,
        instances,
        modeling,
        notices,
        rules,
        tasks,
        users,
        verifications,
    )

    return [auth.blp, *deployments.blueprints, instances.blp, tasks.blp, *applications.blueprints, notices.blp,
            *users.blueprints, calendar.blp, rules.blp, *dispatch.blueprints, *audit.blueprints, *modeling.blueprints,
            inbound.blp, verifications.blp, *centre.blueprints]


def _limit_body() -> None:
    """JSON bodies are small; multipart bodies get the upload limit (deployments set their own)."""
    from api import uploads

    if request.mimetype == "multipart/form-data":
        request.max_content_length = uploads.max_bytes() + uploads.ENVELOPE
    else:
        request.max_content_length = JSON_LIMIT


_blueprints_ready = False


def _prepare_blueprints(blueprints: list[Any]) -> None:
    """Blueprint-level hooks, once per process (blueprints are module globals shared by every app)."""
    global _blueprints_ready
    if _blueprints_ready:
        return
    errors.install_blueprints(blueprints)
    for blp in blueprints:
        blp.before_request(_limit_body)
    _blueprints_ready = True


def register(app: Flask) -> None:
    """Attach the API blueprints, the OpenAPI document and the docs page."""
    from api.rest import docs, schemas

    YekuoApi.ERROR_SCHEMA = schemas.ErrorSchema
    app.config.setdefault("API_TITLE", TITLE)
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "security": [{"bearerAuth": []}],
        "info": {"description": docs.DESCRIPTION},
        "servers": [{"url": "/", "description": "this server"}],
    })
    api = YekuoApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    blueprints = _blueprints()
    _prepare_blueprints(blueprints)
    errors.install_app(app)
    for blp in blueprints:
        api.register_blueprint(blp)
    app.extensions["yekuo.api"] = api
    docs.register(app, api)
