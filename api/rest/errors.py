"""One error shape for the whole API: `{"error": {"code", "message", "details"}}` with the status.

Engine errors (`YekuoError`) already carry code, message and details. HTTP errors — unknown paths,
wrong methods, flask-smorest/webargs request validation (422 with per-field messages), oversized
bodies — are converted here. `details` of a validation error maps field paths (`data.capacity_kw`,
`page`) to lists of messages, like the engine's form errors.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.core.errors import YekuoError

API_PREFIX = "/api/"

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid_data", 429: "too_many_requests", 500: "internal_error", 501: "not_implemented",
    503: "unavailable",
}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = list(messages)
        else:
            for n, m in enumerate(messages):
                for k, v in _flatten(m, f"{prefix}.{n}" if prefix else str(n)).items():
                    out.setdefault(k, []).extend(v)
    elif messages is not None:
        out[prefix or "_schema"] = [str(messages)]
    return out


def validation_details(messages: Any) -> dict[str, list[str]]:
    """webargs' {location: {field: [msg]}} → {field path: [msg]} (the location dropped)."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for _location, fields in messages.items():
            for k, v in _flatten(fields).items():
                out.setdefault(k, []).extend(v)
    return out


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def http_error_response(error: HTTPException) -> Response:
    """An HTTPException as the API's JSON error (keeps headers such as `Allow` and `Retry-After`)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    details = None
    message = error.description or error.name
    if "messages" in data or "errors" in data:
        details = validation_details(data.get("errors") or data.get("messages"))
        message = "the request is not valid"
    if "message" in data:
        message = data["message"]
    if status == 500:
        message = "internal error; the incident was logged"
    response = jsonify(error_body(CODES.get(status, "error"), message, details))
    response.status_code = status
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    for key, value in (data.get("headers") or {}).items():
        response.headers[key] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", "Bearer")
    return response


def engine_error_response(err: YekuoError) -> Response:
    response = jsonify(error=err.to_dict())
    response.status_code = err.status
    if err.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if err.status == 429:
        response.headers["Retry-After"] = "900"
    return response


def install_blueprints(blueprints: list[Any]) -> None:
    """Handlers for errors raised in API views (request validation included)."""
    for blp in blueprints:
        blp.register_error_handler(HTTPException, http_error_response)
        blp.register_error_handler(YekuoError, engine_error_response)


def install_app(app: Flask) -> None:
    """An app handler for errors outside any API view (unknown paths, wrong methods) that answers in
    JSON under /api/ and leaves every other path's errors to Flask and the pages."""
    previous = app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)

    def app_http_error(error: HTTPException) -> Any:
        if is_api_request():
            return http_error_response(error)
        if previous is not None:
            return previous(error)
        return error

    app.register_error_handler(HTTPException, app_http_error)
