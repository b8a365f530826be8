"""Fuzzing the REST API with schemathesis, in-process over WSGI, as several roles: no 5xx, invalid
requests refused (`negative_data_rejection`), responses as documented (schema, status codes,
content types, headers such as Allow on 405), auth actually enforced.

Each operation is fuzzed as the first of several roles (channel, clerk, dispatcher, auditor,
supervisor, analyst, admin) its `x-roles` (the access policy) admit, with a real user and a real
signed token; `test_the_fuzz_tokens_work` guards against a broken token (every call would then
be a 401, which the documented default error response accepts, and the fuzz tests would pass
silently). Examples per operation and a per-example deadline bound the module (about a minute on
two cores; CI runs it in `make test`). SQLite only: the backends are covered by the other API
tests; this targets the API layer. The target is built at import because schemathesis needs the app
to generate the tests (its lazy fixture loader does not work with pytest 9).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from marshmallow import fields
from schemathesis import checks

from api import auth
from api.rest.schemas import Flag
from engine.core import runtime, users
from engine.core import schema as db_schema
from engine.core.db import Database
from tests.api_support import ROLES, add_user, deploy_bundle, make_app, seed_deadlines, token_for

#: The roles fuzzed, in order: an operation is fuzzed as the first that may call it, so the channel
#: client takes what every account may call, the clerk what all staff may, then the dispatch centre,
#: audit, the supervisor's case commands, the analyst's models and the administrator's accounts.
FUZZ_ROLES = ("channel", "clerk", "dispatcher", "auditor", "supervisor", "analyst", "admin")
MAX_EXAMPLES = 10
DEADLINE_MS = 2000
#: A schema-valid application may rightly be refused (422) for what the schema cannot express — the
#: documents it names were never uploaded — so "valid data is accepted" does not hold in general.
#: Invalid data must always be refused.
EXCLUDED = [checks.positive_data_acceptance]


def _build() -> tuple[Any, Database, dict[str, str], Path]:
    tmp = Path(tempfile.mkdtemp(prefix="yekuo-fuzz-"))
    db = Database(f"sqlite:///{tmp / 'yekuo.db'}")
    db_schema.upgrade(db)
    users.seed_groups(db)
    for role in ROLES:
        add_user(db, role, [role])
    seed_deadlines(db)
    deploy_bundle(db)
    runtime.start_instance(db, "new_connection", {"channel": "counter"})  # case 1, with an open task
    app = make_app(db, tmp)
    return app, db, {role: token_for(app, role) for role in FUZZ_ROLES}, tmp


APP, DB, TOKENS, TMP = _build()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Any:
    auth.reset_throttle()
    yield
    auth.reset_throttle()
    DB.dispose()
    shutil.rmtree(TMP, ignore_errors=True)


def test_the_fuzz_tokens_work() -> None:
    client = APP.test_client()
    for role, token in TOKENS.items():
        assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200, role
    clerk = {"Authorization": f"Bearer {TOKENS['clerk']}"}
    assert client.get("/api/v1/process-instances/1", headers=clerk).status_code == 200
    assert client.get("/api/v1/tasks", headers=clerk).get_json()["total"] >= 1


def test_the_roles_reach_every_operation() -> None:
    """Between them the fuzzed roles may call every operation, so none goes unfuzzed."""
    spec = APP.test_client().get("/api/v1/openapi.json").get_json()
    unreached = [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method, op in item.items()
                 if isinstance(op, dict) and "x-roles" in op
                 and not set(op["x-roles"]) & {"*", *FUZZ_ROLES}]
    assert unreached == []


def _loose_numbers(field: Any, path: str) -> Iterator[str]:
    if (isinstance(field, fields.Integer) and not field.strict) or (isinstance(field, fields.Boolean)
                                                                     and not isinstance(field, Flag)):
        yield path
    elif isinstance(field, fields.Nested):
        for name, inner in field.schema.fields.items():
            yield from _loose_numbers(inner, f"{path}.{name}")
    elif isinstance(field, fields.List):
        yield from _loose_numbers(field.inner, f"{path}[]")
    elif isinstance(field, fields.Dict) and field.value_field is not None:
        yield from _loose_numbers(field.value_field, f"{path}{{}}")


def test_body_numbers_and_flags_are_strict() -> None:
    """In a JSON body an integer must be a whole number (`capacity: 2.5e-42` is 422, not 0) and a
    flag `true` or `false` (not 0 or "yes"); query strings are text and parsed as such."""
    loose = []
    for endpoint, view in APP.view_functions.items():
        for arg in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            if arg.get("in") == "json":
                body = arg["schema"]() if isinstance(arg["schema"], type) else arg["schema"]
                loose += [f"{endpoint}: {p}" for name, f in body.fields.items()
                          for p in _loose_numbers(f, f"{type(body).__name__}.{name}")]
    assert loose == []


def _fuzzer_of(allowed: list[str] | None) -> str | None:
    """The first fuzzed role the operation's `x-roles` admit: each operation is fuzzed once, as a
    role that gets past the access check (the role matrix tests the refusals)."""
    return next((r for r in FUZZ_ROLES if allowed is None or "*" in allowed or r in allowed), None)


def _fuzzed_as(role: str) -> Callable[[Any], bool]:
    return lambda ctx: _fuzzer_of(ctx.operation.definition.raw.get("x-roles")) == role


def _token_of(role: str) -> type:
    """The role's bearer token as a schemathesis auth provider: schemathesis then leaves it off the
    cases that test a missing token, and judges each request by what it really sent."""

    class Token:
        def get(self, case: schemathesis.Case, ctx: Any) -> str:
            return TOKENS[role]

        def set(self, case: schemathesis.Case, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return Token


def _fuzz(role: str) -> Callable[..., None]:
    @schema.include(_fuzzed_as(role)).parametrize()
    @settings(max_examples=MAX_EXAMPLES, deadline=DEADLINE_MS, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @schema.auth.apply(_token_of(role))
    def test(case: schemathesis.Case) -> None:
        auth.reset_throttle()  # the sign-in throttle would answer 429 to the fuzzer's wrong passwords
        case.call_and_validate(excluded_checks=EXCLUDED)

    test.__name__ = f"test_api_as_{role}"
    return test


for _role in FUZZ_ROLES:
    globals()[f"test_api_as_{_role}"] = _fuzz(_role)


def test_the_known_accepted_invalid_requests_are_refused() -> None:
    """What schemathesis found (issue #13): each is 422 now, by the schema, not by a special case."""
    client = APP.test_client()
    as_dispatcher = {"Authorization": f"Bearer {TOKENS['dispatcher']}"}
    assert client.patch("/api/v1/teams/CQ-KC1", headers=as_dispatcher).status_code == 422
    assert client.patch("/api/v1/teams/CQ-KC1", headers=as_dispatcher, json={}).status_code == 422
    assert client.patch("/api/v1/teams/CQ-KC1", headers=as_dispatcher, json={"active": 0}).status_code == 422
    day = {"job_type": "survey", "capacity": 2.589e-42, "reason": "两人病假"}
    assert client.put("/api/v1/capacity/CQ-KC1/days/2026-03-03", headers=as_dispatcher, json=day).status_code == 422
    as_admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    assert client.patch("/api/v1/users/clerk", headers=as_admin).status_code == 422
