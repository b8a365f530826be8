"""Issue #16 item 5: spiff-arena process models (and Camunda 7 candidate groups) imported with a lane map.

The fixture `tests/data/arena/connection-request` is written here in spiff-arena's layout. It
is imported with a lane map and run end to end through its forms, each submission validated by
the server — including a choice list taken from task data (`options_from_task_data_var:`).
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from engine.core import actors, queries, runtime
from engine.core.config import PROJECT_ROOT
from engine.core.db import Database
from engine.core.errors import DeployError, InvalidData
from engine.modeling import arena, authoring
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.cli_support import yekuo

MODEL = Path(__file__).parent / "data" / "arena" / "connection-request"
LANES = {"Front Desk": "clerk", "Design Review": "reviewer"}
FORMS = PROJECT_ROOT / "forms"
CLERK = actors.Actor("lin", frozenset({"clerk"}))
REVIEWER = actors.Actor("zhao", frozenset({"reviewer"}))


def _deploy(db: Database, model: arena.ArenaModel, lane_map: dict[str, str]) -> None:
    assert not model.problems, model.problems
    authoring.deploy(db, model.files, forms_dir=FORMS, forms=model.forms, actor="t", note="arena import",
                     lane_map=lane_map)


def test_the_layout_is_read_as_spiff_arena_writes_it() -> None:
    model = arena.read_folder(MODEL)
    assert model.meta["primary_process_id"] == "arena_connection_request"
    assert set(model.files) == {"connection_request.bpmn"}
    assert set(model.forms) == {"request-schema.json", "request-uischema.json", "review-schema.json",
                                "review-uischema.json"}
    assert "request-exampledata.json" in str(model.notes)  # named by no task: not imported, said so


def test_imported_model_runs_end_to_end_through_its_forms(db: Database, clock: object) -> None:
    _deploy(db, arena.read_folder(MODEL), LANES)
    started = runtime.start_instance(db, "arena_connection_request", actor=CLERK)
    (enter,) = started.new_items
    assert (enter.task_spec, enter.candidate_group) == ("enter_request", "clerk")
    with pytest.raises(InvalidData) as bad:
        runtime.complete_task(db, enter.id, {"applicant": "ACME Bakery", "load_kw": 0}, actor=CLERK)
    assert "load_kw" in bad.value.details
    done = runtime.complete_task(db, enter.id, {"applicant": "ACME Bakery", "load_kw": 45}, actor=CLERK)
    (review,) = done.new_items
    assert review.candidate_group == "reviewer"
    detail = queries.task_detail(db, review.id)  # rendered with the choices the case holds
    assert detail.form["definitions"]["Tariff"]["anyOf"] == [
        {"const": "LV", "title": "Low voltage"}, {"const": "MV", "title": "Medium voltage"}]
    assert detail.ui_schema == {"approved": {"ui:widget": "radio"}}
    with pytest.raises(InvalidData) as bad:
        runtime.complete_task(db, review.id, {"tariff": "HV", "approved": True}, actor=REVIEWER)
    assert "tariff" in bad.value.details
    done = runtime.complete_task(db, review.id, {"tariff": "MV", "approved": True}, actor=REVIEWER)
    assert done.status == "completed", done.error
    data = queries.get_instance(db, done.instance_id).data
    assert (data["tariff"], data["reviewed_by"]) == ("MV", "zhao")
    assert data["reviewed_in_seconds"] >= data["started_in_seconds"] > 0


def test_a_zip_of_the_folder_imports_the_same(db: Database) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in MODEL.iterdir():
            zf.write(path, f"connection-request/{path.name}")
    assert arena.is_arena_zip(buf.getvalue())
    model = arena.read_zip(buf.getvalue())
    result = authoring.check(db, model.files, forms_dir=FORMS, forms=model.forms, lane_map=LANES)
    assert result.ok, result.problems
    assert "lane 'Front Desk' → group 'clerk'" in [n.message for n in result.notes]


def test_without_a_lane_map_the_lanes_are_refused_on_their_element(db: Database) -> None:
    model = arena.read_folder(MODEL)
    result = authoring.check(db, model.files, forms_dir=FORMS, forms=model.forms, lane_map={})
    lanes = [p for p in result.problems if "matches no group" in p.message]
    assert {p.element for p in lanes} == {"Lane_front", "Lane_review"}


def test_a_lane_map_naming_an_unknown_group_is_refused(db: Database) -> None:
    model = arena.read_folder(MODEL)
    result = authoring.check(db, model.files, forms_dir=FORMS, forms=model.forms,
                             lane_map={"Front Desk": "clerk", "Design Review": "astronauts"})
    assert not result.ok
    assert any(p.file == arena.LANE_MAP and "'astronauts', which is no group" in p.message for p in result.problems)
    with pytest.raises(DeployError):
        authoring.deploy(db, model.files, forms_dir=FORMS, forms=model.forms, actor="t", note="x",
                         lane_map={"Front Desk": "clerk", "Design Review": "astronauts", "Nowhere": "clerk"})


def test_a_missing_schema_file_is_located_on_its_task(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder)
    (folder / "review-schema.json").unlink()
    model = arena.read_folder(folder)
    (problem,) = model.problems
    assert (problem.file, problem.element) == ("connection_request.bpmn", "review_request")
    assert "'review-schema.json' is not in the process model folder" in problem.message and problem.line


def test_a_lane_map_must_read_lane_equals_group() -> None:
    assert arena.parse_lane_map("Lane A=clerk, Lane B = reviewer") == {"Lane A": "clerk", "Lane B": "reviewer"}
    with pytest.raises(InvalidData):
        arena.parse_lane_map("Lane A")


def test_cli_import_with_a_lane_map(db: Database, tmp_path: Path) -> None:
    r = yekuo(db, "import", str(MODEL), "--lane-map", "Front Desk=clerk,Design Review=reviewer", "--check")
    assert r.returncode == 0, r.stderr
    assert "arena_connection_request 1 (check only)" in r.stdout
    r = yekuo(db, "import", str(MODEL), "--lane-map", "Front Desk=clerk,Design Review=reviewer")
    assert r.returncode == 0, r.stderr
    assert "arena_connection_request 1" in r.stdout and "lane 'Design Review' → group 'reviewer'" in r.stdout
    r = yekuo(db, "import", str(MODEL), "--lane-map", "Front Desk=clerk,Design Review=nobody", check=False)
    assert r.returncode == 1
    assert "'nobody', which is no group" in r.stderr
    r = yekuo(db, "import", str(tmp_path), "--lane-map", "Front Desk=clerk", check=False)
    assert r.returncode == 1 and "no process_model.json" in r.stderr


CAMUNDA = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="camunda_review" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve" />
    <bpmn:userTask id="approve" name="Approve" camunda:candidateGroups="{groups}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="approve.schema.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
APPROVE = {"approve.schema.json": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}


def test_camunda_candidate_groups_go_through_the_same_map(db: Database, clock: object) -> None:
    files = {"review.bpmn": CAMUNDA.replace("{groups}", "accounting").encode()}
    refused = authoring.check(db, files, forms_dir=FORMS, forms=APPROVE)  # deploy: no map, refused as before
    assert any("camunda:candidateGroups" in p.message and p.element == "approve" for p in refused.problems)
    unmapped = authoring.check(db, files, forms_dir=FORMS, forms=APPROVE, lane_map={})
    assert [p.element for p in unmapped.problems if "candidateGroups" in p.message] == ["approve"]
    authoring.deploy(db, files, forms_dir=FORMS, forms=APPROVE, actor="t", note="camunda",
                     lane_map={"accounting": "reviewer"})
    (item,) = runtime.start_instance(db, "camunda_review").new_items
    assert item.candidate_group == "reviewer"
    two = {"review.bpmn": CAMUNDA.replace("{groups}", "clerk,reviewer").encode()}
    result = authoring.check(db, two, forms_dir=FORMS, forms=APPROVE, lane_map={})
    assert any("must map to exactly one group" in p.message and p.line for p in result.problems)


def test_api_accepts_only_the_offered_choices(api: Api) -> None:
    _deploy(api.db, arena.read_folder(MODEL), LANES)
    (enter,) = runtime.start_instance(api.db, "arena_connection_request", actor=CLERK).new_items
    api.ok("POST", f"/api/v1/tasks/{enter.id}/complete", as_="clerk",
           json={"data": {"applicant": "ACME Bakery", "load_kw": 45}})
    (review,) = [t for t in api.ok("GET", "/api/v1/tasks", as_="reviewer")["items"]
                 if t["task_spec"] == "review_request"]
    shown = api.ok("GET", f"/api/v1/tasks/{review['id']}", as_="reviewer")
    assert [o["const"] for o in shown["form"]["definitions"]["Tariff"]["anyOf"]] == ["LV", "MV"]
    r = api.post(f"/api/v1/tasks/{review['id']}/complete", as_="reviewer", json={"data": {"tariff": "HV",
                                                                                          "approved": True}})
    assert r.status_code == 422 and "tariff" in r.get_json()["error"]["details"]
    out = api.ok("POST", f"/api/v1/tasks/{review['id']}/complete", as_="reviewer",
                 json={"data": {"tariff": "LV", "approved": True}})
    assert out["status"] == "completed"

