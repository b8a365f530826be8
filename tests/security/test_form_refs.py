"""Finding 3: a form's `$ref` to a URL made the server fetch it when a task was completed (SSRF).

A local HTTP server on 127.0.0.1 counts requests: deploy, the modeler's check and completing a
task must never reach it. Deploy refuses the reference on its form with the JSON path; a form
stored before the check existed is refused at completion (422), still without a request.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from engine.core import definitions, forms, runtime
from engine.core.errors import DeployError, InvalidData
from engine.core.models import definition_t
from engine.modeling import authoring
from tests.conftest import ENGINE_MODEL
from tests.helpers import actor, open_items


@pytest.fixture
def requests_seen() -> Iterator[tuple[str, list[str]]]:
    """A server that answers any GET with a permissive schema and records the path."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _with_ref(schema: dict, ref: str) -> dict:
    schema = json.loads(json.dumps(schema))
    schema["properties"]["business_type"] = {"$ref": ref}
    return schema


def _model_with_ref(tmp_path: Path, ref: str) -> Path:
    shutil.copytree(ENGINE_MODEL, tmp_path / "model")
    path = tmp_path / "model" / "forms" / "accept.schema.json"
    schema = _with_ref(json.loads(path.read_text(encoding="utf-8")), ref)
    schema["examples"] = []
    path.write_text(json.dumps(schema), encoding="utf-8")
    return tmp_path / "model"


@pytest.mark.parametrize("kind", ["http", "file"])
def test_deploy_and_check_refuse_a_foreign_ref_without_fetching(db, clock, tmp_path, requests_seen, kind):
    base, seen = requests_seen
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "string"}', encoding="utf-8")
    ref = f"{base}/x.json" if kind == "http" else secret.as_uri()
    model = _model_with_ref(tmp_path, ref)
    with pytest.raises(DeployError) as refused:
        definitions.deploy_paths(db, [model / "engine_model.bpmn"], forms_dir=model / "forms")
    found = [p for p in refused.value.problems if p.file == "accept.schema.json"]
    assert [p.element for p in found] == ["/properties/business_type/$ref"], refused.value.problems
    assert ref in found[0].message
    result = authoring.check(db, {"engine_model.bpmn": (model / "engine_model.bpmn").read_bytes()},
                             forms_dir=model / "forms")
    assert any(p.element == "/properties/business_type/$ref" for p in result.problems)
    assert seen == []


def test_completing_a_task_never_fetches_a_ref(db, engine_model, requests_seen):
    base, seen = requests_seen
    row = engine_model  # a version stored before references were checked: its form is edited in place
    with db.write() as conn:
        stored = conn.execute(definition_t.select().where(definition_t.c.id == row.definition_id)).one()
        edited = dict(stored.forms, **{"accept.schema.json": _with_ref(stored.forms["accept.schema.json"],
                                                                       f"{base}/x.json")})
        conn.execute(update(definition_t).where(definition_t.c.id == row.definition_id).values(forms=edited))
    db.cache.clear()
    iid = runtime.start_instance(db, "engine_model", {}).instance_id
    item = open_items(db, iid)["accept"]
    with pytest.raises(InvalidData) as refused:
        runtime.complete_task(db, item.id, {"business_type": "hv_single"}, actor=actor())
    assert "x.json" in refused.value.message
    with pytest.raises(InvalidData):
        forms.check(_with_ref({"properties": {}}, f"{base}/y.json"), {"business_type": "a"})
    assert seen == []
