"""Fuzzing the REST API with schemathesis, in-process over WSGI: no 5xx, no response that breaks the
documented schema, status codes and content types as documented.

The caller is a real user holding every role, with a real signed token, so every operation is
reachable; `test_the_fuzz_token_works` guards against a broken token (every call would then be a
401, which the documented default error response accepts, and the fuzz test would pass
silently). Examples per operation are bounded (`MAX_EXAMPLES`) to keep the module within about a
minute on two cores. SQLite only: the backends are covered by the other API tests; this targets
the API layer. The target is built at import because schemathesis needs the app to generate the
tests (its lazy fixture loader does not work with pytest 9).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api import auth
from engine.core import runtime, schema as db_schema, users
from engine.core.db import Database
from tests.api_support import ROLES, add_user, deploy_bundle, make_app, seed_deadlines, token_for

MAX_EXAMPLES = 20
#: Checks about the *meaning* of data the schema cannot express: a schema-valid application that
#: refers to documents never uploaded is rightly 422, and unknown query or form fields are ignored
#: rather than refused. Everything else runs: no 5xx, response schema, status codes, content types,
#: headers (Allow on 405), auth actually enforced.
EXCLUDED = [checks.positive_data_acceptance, checks.negative_data_rejection]
FUZZER = "fuzzer"


def _build() -> tuple[Any, Database, str, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="yekuo-fuzz-"))
    db = Database(f"sqlite:///{tmp / 'yekuo.db'}")
    db_schema.upgrade(db)
    users.seed_groups(db)
    for role in ROLES:
        add_user(db, role, [role])
    add_user(db, FUZZER, list(ROLES))
    seed_deadlines(db)
    deploy_bundle(db)
    runtime.start_instance(db, "new_connection", {"channel": "counter"})  # case 1, with an open task
    app = make_app(db, tmp)
    return app, db, token_for(app, FUZZER), tmp


APP, DB, TOKEN, TMP = _build()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Any:
    auth.reset_throttle()
    yield
    auth.reset_throttle()
    DB.dispose()
    shutil.rmtree(TMP, ignore_errors=True)


def test_the_fuzz_token_works() -> None:
    client = APP.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.get("/api/v1/process-instances/1", headers=headers).status_code == 200
    assert client.get("/api/v1/tasks", headers=headers).get_json()["total"] >= 1


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=EXCLUDED)
