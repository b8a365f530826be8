"""What SpiffWorkflow runs, Yekuo runs too (issue #16): constructs of foreign models accepted, and
the few guards that keep a foreign model from hurting a case.

- a data object id reused in a subprocess (spiff-arena writes that) is its own variable there;
- `errorCode` on an escalation (spiff-arena's spelling) is read as its escalation code;
- a message start event and a collaboration's correlation key deploy and run;
- Camunda forms get the JSON-Schema form the importer chose (a form map, CLI and modeler page);
- findings on a rewritten file keep the line numbers of the file the analyst has;
- a plain task outside every lane is a located warning;
- a loop that never waits stops in `error` after a step budget instead of running forever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.audit import replay
from engine.core import actors, definitions, queries, runtime, step
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.modeling import arena, authoring
from tests.cli_support import yekuo

DATA = Path(__file__).parent / "data"
FOREIGN = DATA / "foreign"
FORMS = DATA / "forms"
SYSTEM = actors.SYSTEM
CAMUNDA_FORMS = {"camunda-forms:deployment:accept.form": "application.schema.json", "review": "survey.schema.json"}
CAMUNDA_LANES = {"clerks": "clerk", "reviewers": "surveyor"}


def _check(db: Database, name: str, **maps: Any) -> authoring.CheckResult:
    return authoring.check(db, {name: (FOREIGN / name).read_bytes()}, forms_dir=FORMS, **maps)


def _deploy(db: Database, name: str, **maps: Any) -> str:
    [result] = authoring.deploy(db, {name: (FOREIGN / name).read_bytes()}, forms_dir=FORMS, actor="t",
                                note="foreign", **maps)
    return result.key


# -- data objects per scope


def test_a_data_object_id_reused_in_a_subprocess_is_accepted_and_runs(db: Database) -> None:
    assert _check(db, "duplicate_data_object.bpmn").ok
    outcome = runtime.start_instance(db, _deploy(db, "duplicate_data_object.bpmn"), {})
    assert outcome.status == "completed", outcome.error


def test_the_same_id_twice_in_one_scope_is_still_refused_and_located(db: Database) -> None:
    result = _check(db, "duplicate_task_id.bpmn")
    [problem] = result.problems
    assert (problem.element, problem.line) == ("is_approval", 5)
    assert "used by more than one element (first on line 4)" in problem.message


# -- escalation codes, message starts, correlation keys


def test_an_escalation_with_error_code_is_read_as_its_escalation_code(db: Database) -> None:
    result = _check(db, "escalation_error_code.bpmn")
    assert result.ok, result.problems
    [note] = [n for n in result.notes if n.element == "esc_late"]
    assert note.line == 3 and "errorCode='LATE'" in note.message
    assert b'escalationCode="LATE"' in result.files["escalation_error_code.bpmn"]
    assert b"errorCode" not in result.files["escalation_error_code.bpmn"]
    outcome = runtime.start_instance(db, _deploy(db, "escalation_error_code.bpmn"), {})
    assert outcome.status == "completed", outcome.error
    case = queries.get_instance(db, outcome.instance_id)
    assert case.data.get("escalated") is True  # the boundary caught the code the throw raised


def test_a_message_start_event_waits_for_its_message_and_takes_the_payload(db: Database) -> None:
    key = _deploy(db, "message_start.bpmn")
    started = runtime.start_instance(db, key, {})
    assert started.status == "waiting"
    assert runtime.waiting_messages(db, started.instance_id) == ["apply"]
    done = runtime.send_message(db, started.instance_id, "apply", {"applicant": "东湖面包坊"}, actor=SYSTEM)
    assert done.status == "completed", done.error
    data = queries.get_instance(db, started.instance_id).data
    assert data["noted"] is True
    assert replay.replay(db, started.instance_id).ok


def test_a_collaboration_with_a_correlation_key_deploys_and_correlates(db: Database) -> None:
    result = _check(db, "correlation_key.bpmn")
    assert result.ok, result.problems
    started = runtime.start_instance(db, _deploy(db, "correlation_key.bpmn"), {"order_id": 7})
    assert runtime.waiting_messages(db, started.instance_id) == ["paid"]
    done = runtime.send_message(db, started.instance_id, "paid", {"order_id": 7}, actor=SYSTEM)
    assert done.status == "completed", done.error


# -- Camunda forms chosen at import


def test_camunda_forms_without_a_choice_are_refused_with_the_way_to_choose(db: Database) -> None:
    result = _check(db, "camunda_forms.bpmn", lane_map=CAMUNDA_LANES)
    by_element = {p.element: p.message for p in result.problems if "Camunda" in p.message or "camunda" in p.message}
    assert "form map 'key=form.schema.json'" in by_element["accept"]
    assert "form map 'task id=form.schema.json'" in by_element["review"]


def test_camunda_forms_get_the_forms_chosen_at_import_and_the_case_shows_them(db: Database) -> None:
    result = _check(db, "camunda_forms.bpmn", lane_map=CAMUNDA_LANES, form_map=CAMUNDA_FORMS)
    assert result.ok, result.problems
    text = result.files["camunda_forms.bpmn"].decode()
    assert "formKey" not in text and "formData" not in text and "formField" not in text
    assert sum("replaced by the chosen form" in n.message for n in result.notes) == 2
    key = _deploy(db, "camunda_forms.bpmn", lane_map=CAMUNDA_LANES, form_map=CAMUNDA_FORMS)
    (accept,) = runtime.start_instance(db, key, {}).new_items
    assert accept.candidate_group == "clerk"
    assert queries.task_detail(db, accept.id).form["title"] == "用电申请受理"
    clerk = actors.Actor("lin", frozenset({"clerk"}))
    (review,) = runtime.complete_task(db, accept.id, {"applicant": "东湖面包坊", "load_kw": 45}, actor=clerk).new_items
    assert review.candidate_group == "surveyor"
    assert queries.task_detail(db, review.id).form["title"] != "用电申请受理"


def test_a_chosen_form_that_does_not_exist_is_located_on_the_original_line(db: Database) -> None:
    result = _check(db, "camunda_forms.bpmn", lane_map=CAMUNDA_LANES,
                    form_map={**CAMUNDA_FORMS, "review": "nope.schema.json"})
    [missing] = [p for p in result.problems if "nope.schema.json" in p.message]
    # the normaliser removed three lines above it; the line is the one in the file the analyst has
    assert (missing.element, missing.line) == ("review", 11)


def test_the_cli_import_takes_a_form_map(db: Database) -> None:
    path = str(FOREIGN / "camunda_forms.bpmn")
    refused = yekuo(db, "import", path, "--lane-map", "clerks=clerk,reviewers=surveyor", "--forms", str(FORMS),
                    check=False)
    assert refused.returncode == 1 and "camunda_forms.bpmn:8 [accept]" in refused.stderr
    done = yekuo(db, "import", path, "--lane-map", "clerks=clerk,reviewers=surveyor", "--forms", str(FORMS),
                 "--form-map", "camunda-forms:deployment:accept.form=application.schema.json,review=survey.schema.json")
    assert "camunda_forms 1" in done.stdout
    assert definitions.latest_id(db, "camunda_forms") is not None
    bad = yekuo(db, "import", path, "--form-map", "just-a-key", check=False)
    assert bad.returncode != 0 and "form map entry 'just-a-key'" in bad.stderr


def test_a_form_map_entry_without_a_form_is_refused() -> None:
    with pytest.raises(InvalidData) as bad:
        arena.parse_form_map("approve=, review=survey.schema.json")
    assert bad.value.details == {"form_map": ["approve="]}


# -- warnings and guards


def test_a_plain_task_in_no_lane_is_a_located_warning_not_a_refusal(db: Database) -> None:
    result = _check(db, "parallel_multiinstance_loop_input.bpmn")
    assert result.ok
    [note] = [n for n in result.notes if n.element == "any_task"]
    assert note.line == 7 and "lies in no lane" in note.message


def test_a_finite_loop_runs_to_its_end(db: Database) -> None:
    outcome = runtime.start_instance(db, _deploy(db, "endless_loop.bpmn"), {"n": 0, "limit": 50})
    assert outcome.status == "completed", outcome.error
    assert queries.get_instance(db, outcome.instance_id).data["n"] == 50


def test_a_loop_that_never_waits_stops_in_error_at_the_step_budget(db: Database) -> None:
    key = _deploy(db, "endless_loop.bpmn")
    outcome = runtime.start_instance(db, key, {"n": 0, "limit": 10**9})
    assert outcome.status == "error"
    assert outcome.error["type"] == "StepBudgetExceeded" and outcome.error["task_spec"] == "count"
    assert f"ran {step.STEP_BUDGET} automatic steps" in outcome.error["message"]
    n = queries.get_instance(db, outcome.instance_id).data["n"]
    assert 0 < n <= step.STEP_BUDGET  # stopped early: never the silent "completed" of a too-deep task tree
    assert replay.replay(db, outcome.instance_id).ok  # the recorded outcome is reproduced
