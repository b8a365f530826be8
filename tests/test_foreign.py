"""Foreign input never crashes deploy, check or start (issue #16).

Files nobody here wrote — SpiffWorkflow's own test models, a picture saved as `.dmn` — must end
as located problems or as a case in `error` with a sentence to act on; a start that fails leaves
no instance behind. And every way in (CLI, API check and deploy, the modeler's import) refuses the
same files with the same problems.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.audit import replay
from engine.core import definitions, runtime, store
from engine.core.actors import SYSTEM
from engine.core.db import Database
from engine.core.errors import DeployError
from engine.core.models import event_t, instance_t
from engine.modeling import authoring
from tests.cli_support import yekuo

DATA = Path(__file__).parent / "data"
FOREIGN = DATA / "foreign"
BAD = DATA / "bad_bpmn"
IMPORT = DATA / "import"
FORMS = DATA / "forms"


def _instances(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(instance_t)).scalar_one()


def _deploy(db: Database, *names: str) -> str:
    files = {n: (FOREIGN / n).read_bytes() for n in names}
    [result] = definitions.deploy_files(db, files, forms_dir=FORMS)
    return result.key


@pytest.mark.parametrize("dmn", ["svg_named.dmn", "no_namespace.dmn", "no_table.dmn"])
def test_a_file_that_is_no_decision_table_is_a_located_problem(db: Database, dmn: str) -> None:
    files = {"rule_good.bpmn": (BAD / "rule_good.bpmn").read_bytes(), "tariff.dmn": (FOREIGN / dmn).read_bytes()}
    result = authoring.check(db, files, forms_dir=FORMS)
    assert not result.ok
    mine = [p for p in result.problems if p.file == "tariff.dmn"]
    assert mine and all(p.line for p in mine), result.problems
    assert any("not a DMN file" in p.message or "no decision table" in p.message for p in mine)


def test_the_cli_names_the_file_that_is_not_dmn(db: Database, tmp_path: Path) -> None:
    (tmp_path / "pic.dmn").write_bytes((FOREIGN / "svg_named.dmn").read_bytes())
    out = yekuo(db, "deploy", str(tmp_path / "pic.dmn"), check=False)
    assert out.returncode == 1
    assert "pic.dmn:2" in out.stderr and "not a DMN file" in out.stderr


@pytest.mark.parametrize("model", ["parallel_multiinstance_loop_input.bpmn", "script_on_mi.bpmn"])
def test_a_library_type_error_while_starting_is_a_case_in_error(db: Database, model: str) -> None:
    key = _deploy(db, model)
    outcome = runtime.start_instance(db, key, {})
    assert outcome.status == "error"
    assert outcome.error["task_spec"] == "any_task"
    assert "input collection 'input_data' is missing" in outcome.error["message"]
    assert _instances(db) == 1
    with db.read() as conn:
        types = conn.execute(select(event_t.c.type).where(event_t.c.instance_id == outcome.instance_id)).scalars().all()
    assert types[0] == "instance_started" and "instance_error" in types
    again = runtime.retry(db, outcome.instance_id, actor=SYSTEM)
    assert again.status == "error"
    assert replay.replay(db, outcome.instance_id).ok


def test_the_same_model_runs_when_its_input_is_there(db: Database) -> None:
    key = _deploy(db, "parallel_multiinstance_loop_input.bpmn")
    outcome = runtime.start_instance(db, key, {"input_data": [1, 2, 3]})
    assert outcome.status == "running", outcome.error  # a bpmn:task waits for a person: one per item
    assert len(outcome.new_items) == 3


@pytest.mark.parametrize("where", ["write", "step"])
def test_a_start_that_fails_leaves_no_instance(db: Database, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    key = _deploy(db, "parallel_multiinstance_loop_input.bpmn")

    def boom(*_args: object, **_kw: object) -> None:
        raise RuntimeError("disk full")

    if where == "write":
        monkeypatch.setattr(store, "write", boom)
    else:
        monkeypatch.setattr(runtime.Step, "status", boom)
    with pytest.raises(RuntimeError):
        runtime.start_instance(db, key, {"input_data": [1]})
    assert _instances(db) == 0


def test_every_way_in_refuses_a_camunda_file_alike(db: Database, tmp_path: Path) -> None:
    path = IMPORT / "camunda7_refused.bpmn"
    checked = authoring.check(db, {path.name: path.read_bytes()}, forms_dir=FORMS)
    assert not checked.ok
    with pytest.raises(DeployError) as deployed:
        authoring.deploy(db, {path.name: path.read_bytes()}, forms_dir=FORMS, actor="t", note="n")
    assert deployed.value.problems == checked.problems
    out = yekuo(db, "deploy", str(path), "--forms", str(FORMS), check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines()[1:] == [f"  {p}" for p in checked.problems]
    assert not definitions.list_definitions(db)


def test_a_form_that_is_not_json_hides_no_bpmn_problem(db: Database) -> None:
    xxe = (BAD / "xxe.bpmn").read_bytes()
    result = authoring.check(db, {"xxe.bpmn": xxe}, forms_dir=FORMS, forms={"x.schema.json": '{"type": '})
    files = {p.file for p in result.problems}
    assert {"xxe.bpmn", "x.schema.json"} <= files, result.problems


@pytest.mark.parametrize("name, element, words", [
    ("data_store.bpmn", "customer_ref", ["data store 'Customer records' cannot run"]),
    ("bad_association.bpmn", "save", ["dataOutputAssociation save_out points to 'nowhere'"]),
    ("duplicate_task_id.bpmn", "is_approval", ["id 'is_approval' is used by more than one element (first on line 4)"]),
    ("multiple_outgoing.bpmn", "work", ["scriptTask has 2 outgoing flows (f2, f3)", "gateway"]),
    ("timer_r_p1h.bpmn", "wait", ['timer cycle R/P1H is not quoted', 'write "R/P1H"']),
    ("camunda_decision.bpmn", "classify", ["camunda:decisionRef", "spiffworkflow:calledDecisionId"]),
    ("camunda_decision.bpmn", "f3", ["is a JUEL expression"]),
])
def test_each_problem_names_file_line_and_element_in_words_to_act_on(db: Database, name: str, element: str,
                                                                     words: list[str]) -> None:
    files = {name: (FOREIGN / name).read_bytes(), "tariff.dmn": (BAD / "tariff.dmn").read_bytes()}
    result = authoring.check(db, files, forms_dir=FORMS)
    mine = [p for p in result.problems if p.element == element]
    assert mine and all(p.file == name and p.line for p in mine), result.problems
    text = " | ".join(p.message for p in mine)
    assert all(w in text for w in words), text
    assert "0x7f" not in text and "\n" not in text and "syntax error" not in text
    assert "calledDecisionId ''" not in " ".join(p.message for p in result.problems)


def test_import_keeps_a_namespace_still_used_inside_values(db: Database) -> None:
    path = FOREIGN / "feel_structure_ref.bpmn"
    result = authoring.check(db, {path.name: path.read_bytes()}, forms_dir=FORMS)
    assert result.ok, result.problems
    assert b'xmlns:feel=' in result.files[path.name] and b"camunda" not in result.files[path.name]


def test_a_process_that_calls_itself_is_refused_not_run_forever(db: Database) -> None:
    path = FOREIGN / "call_activity_level_3.bpmn"  # SpiffWorkflow's own: Level3 calls Level3
    [problem] = authoring.check(db, {path.name: path.read_bytes()}, forms_dir=FORMS).problems
    assert (problem.element, problem.line) == ("Activity_12zat0d", 8)
    assert "may not call itself" in problem.message
