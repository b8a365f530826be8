"""The modeler's engine side: check without deploying, import of Camunda / spiff-arena files,
export and re-deploy, the moddle descriptor's round trip, and choosing/moving many cases.

Runs on SQLite and (with YEKUO_TEST_PG_URL) PostgreSQL through the `db` fixture.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from engine.core import actors, definitions, queries, runtime
from engine.core.config import PROJECT_ROOT
from engine.core.db import Database
from engine.core.errors import DeployError, InvalidData
from engine.modeling import authoring as modeling
from engine.modeling import migration
from tests.conftest import ENGINE_MODEL
from tests.helpers import xml_signatures

IMPORT = Path(__file__).parent / "data" / "import"
FORMS = PROJECT_ROOT / "forms"
BPMN = PROJECT_ROOT / "bpmn"
DESCRIPTOR = PROJECT_ROOT / "api" / "web" / "static" / "modeler_spiffworkflow.json"


def _design_review(key: str = "design_review") -> dict[str, bytes]:
    xml = (BPMN / "design_review.bpmn").read_text(encoding="utf-8")
    if key != "design_review":
        xml = xml.replace('processRef="design_review"', f'processRef="{key}"').replace(
            '<bpmn:process id="design_review"', f'<bpmn:process id="{key}"')
    return {f"{key}.bpmn": xml.encode("utf-8")}


# -- check --------------------------------------------------------------------------------------


def test_check_reports_element_level_problems_and_never_deploys(db: Database) -> None:
    files = _design_review()
    broken = files["design_review.bpmn"].replace(
        b'<spiffworkflow:property name="formJsonSchemaFilename" value="design-receipt.schema.json" />', b"")
    broken = broken.replace(b'name="\xe8\xae\xbe\xe8\xae\xa1\xe5\xae\xa1\xe6\x9f\xa5/\xe6\xa3\x80\xe9\xaa\x8c\xe4\xba\xba\xe5\x91\x98"',
                            b'name="no such group"')
    result = modeling.check(db, {"design_review.bpmn": broken}, forms_dir=FORMS)
    assert not result.ok
    by_element = {(p.element, p.message.split(" ")[0]) for p in result.problems}
    assert ("receive_drawings", "user") in by_element
    assert any(p.element == "Lane_design_review_reviewer" and "matches no group" in p.message for p in result.problems)
    assert all(p.file == "design_review.bpmn" and p.line for p in result.problems)
    assert definitions.list_definitions(db) == []

    ok = modeling.check(db, files, forms_dir=FORMS)
    assert ok.ok and ok.problems == [] and ok.processes == [
        {"key": "design_review", "name": "设计文件审查", "changed": True, "version": 1}]
    assert definitions.list_definitions(db) == []


def test_check_says_which_version_a_deploy_would_make(db: Database) -> None:
    modeling.deploy(db, _design_review(), forms_dir=FORMS, actor="analyst", note="首版")
    same = modeling.check(db, _design_review(), forms_dir=FORMS)
    assert same.processes[0] | {"changed": False, "version": 1} == same.processes[0]


def test_forms_travel_with_the_bundle(db: Database) -> None:
    """A form made in the browser exists nowhere on disk: it is laid over the forms directory."""
    files = _design_review()
    xml = files["design_review.bpmn"].replace(b'value="design-receipt.schema.json"', b'value="site-check.schema.json"')
    missing = modeling.check(db, {"design_review.bpmn": xml}, forms_dir=FORMS)
    assert [p.element for p in missing.problems] == ["receive_drawings"]
    assert "not found" in missing.problems[0].message
    form = {"type": "object", "title": "现场核对", "properties": {"ok": {"type": "boolean"}}, "examples": [{"ok": True}]}
    assert modeling.check(db, {"design_review.bpmn": xml}, forms_dir=FORMS, forms={"site-check.schema.json": form}).ok
    bad_example = dict(form, examples=[{"ok": "yes"}])
    result = modeling.check(db, {"design_review.bpmn": xml}, forms_dir=FORMS, forms={"site-check.schema.json": bad_example})
    assert [(p.file, p.element) for p in result.problems] == [("site-check.schema.json", "/examples/0")]
    [deployed] = modeling.deploy(db, {"design_review.bpmn": xml}, forms_dir=FORMS,
                                 forms={"site-check.schema.json": form}, actor="analyst", note="现场核对表单")
    assert definitions.load(db, deployed.definition_id).forms["site-check.schema.json"] == form
    assert not (FORMS / "site-check.schema.json").exists()


def test_a_form_is_checked_on_its_own() -> None:
    assert modeling.check_form("a.schema.json", '{"type": "object"}') == []
    [syntax] = modeling.check_form("a.schema.json", '{"type": ')
    assert "not valid JSON" in syntax.message and syntax.line == 1
    [meta] = modeling.check_form("a.schema.json", '{"type": "objec"}')
    assert "meta-schema" in meta.message and meta.element == "/type"
    assert "plain name" in modeling.check_form("../x.json", "{}")[0].message


def test_deploy_needs_a_change_note_for_a_new_version(db: Database) -> None:
    with pytest.raises(InvalidData) as refused:
        modeling.deploy(db, _design_review(), forms_dir=FORMS, actor="analyst", note="  ")
    assert "note" in refused.value.details
    assert definitions.list_definitions(db) == []
    [v1] = modeling.deploy(db, _design_review(), forms_dir=FORMS, actor="analyst", note="首版")
    assert (v1.version, v1.created) == (1, True)
    [again] = definitions.deploy_files(db, _design_review(), forms_dir=FORMS, require_note=True)
    assert (again.version, again.created) == (1, False)  # identical content: no version, no note needed
    [summary] = definitions.list_definitions(db)
    assert (summary.deployed_by, summary.note) == ("analyst", "首版")


def test_nothing_invalid_deploys(db: Database) -> None:
    broken = _design_review()["design_review.bpmn"].replace(b'value="design_review"', b'value="design_review" />'
                                                            b'<spiffworkflow:property name="x"')
    with pytest.raises(DeployError):
        modeling.deploy(db, {"design_review.bpmn": broken}, forms_dir=FORMS, actor="analyst", note="坏的")
    assert definitions.list_definitions(db) == []


# -- import -------------------------------------------------------------------------------------


def test_camunda_modeler_file_is_normalised_and_deploys(db: Database) -> None:
    raw = (IMPORT / "camunda7_meter_check.bpmn").read_bytes()
    imported = modeling.normalize({"m.bpmn": raw})
    assert imported.problems == []
    text = imported.files["m.bpmn"].decode()
    assert "camunda:" not in text and "camunda.org/schema/1.0" not in text and "modeler:" not in text
    assert 'spiffworkflow:property name="formJsonSchemaFilename" value="meter-work.schema.json"' in text
    notes = " ".join(n.message for n in imported.notes)
    assert "camunda:properties converted" in notes and "camunda:asyncBefore has no effect" in notes
    [result] = modeling.deploy(db, {"m.bpmn": raw}, forms_dir=FORMS, actor="analyst", note="从 Camunda Modeler 导入")
    assert result.key == "meter_check_camunda"
    out = runtime.start_instance(db, "meter_check_camunda")
    assert [(i.task_spec, i.candidate_group) for i in out.new_items] == [("check_meter", "metering")]


def test_camunda_constructs_without_yekuo_meaning_are_refused_per_element(db: Database) -> None:
    result = modeling.check(db, {"c.bpmn": (IMPORT / "camunda7_refused.bpmn").read_bytes()}, forms_dir=FORMS)
    assert not result.ok
    found = {(p.element, p.message.split(" ")[0].rstrip(":")) for p in result.problems}
    for expected in [("review", "camunda:formKey"), ("review", "camunda:candidateGroups"),
                     ("review", "camunda:taskListener"), ("notify", "camunda:class"),
                     ("notify", "camunda:inputOutput"), ("quote", "Yekuo"), ("f4", "conditionExpression"),
                     ("start", "camunda:initiator")]:
        assert expected in found, expected
    assert any("no diagram" in n.message for n in result.notes)
    with pytest.raises(DeployError):
        modeling.deploy(db, {"c.bpmn": (IMPORT / "camunda7_refused.bpmn").read_bytes()}, forms_dir=FORMS,
                        actor="analyst", note="x")


def test_camunda_8_zeebe_is_refused(db: Database) -> None:
    result = modeling.check(db, {"z.bpmn": (IMPORT / "camunda8_zeebe.bpmn").read_bytes()}, forms_dir=FORMS)
    assert any(p.element == "send_sms" and p.message.startswith("zeebe:taskDefinition") for p in result.problems)


def test_spiff_arena_file_deploys_and_unknown_operators_are_named(db: Database) -> None:
    raw = (IMPORT / "spiff_arena_meter_check.bpmn").read_bytes()
    result = modeling.check(db, {"a.bpmn": raw}, forms_dir=FORMS)
    assert result.ok, result.problems
    assert [n.element for n in result.notes] == ["Activity_check"]  # spiffworkflow:allowGuest dropped
    foreign = raw.replace(b'id="yekuo/sms"', b'id="http/GetRequestV2"')
    [problem] = modeling.check(db, {"a.bpmn": foreign}, forms_dir=FORMS).problems
    assert problem.element == "Activity_sms" and "unknown service operator 'http/GetRequestV2'" in problem.message


def test_files_that_need_no_change_pass_byte_for_byte() -> None:
    files = {p.name: p.read_bytes() for p in BPMN.glob("*.bpmn")}
    imported = modeling.normalize(files)
    assert imported.files == files and imported.problems == [] and imported.notes == []


# -- export -------------------------------------------------------------------------------------


def test_export_zip_round_trips_into_a_deploy(db: Database, tmp_path: Path) -> None:
    form = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "examples": [{"ok": True}]}
    xml = _design_review()["design_review.bpmn"].replace(b'value="design-receipt.schema.json"',
                                                          b'value="site-check.schema.json"')
    [v1] = modeling.deploy(db, {"design_review.bpmn": xml}, forms_dir=FORMS, forms={"site-check.schema.json": form},
                           actor="analyst", note="首版")
    name, data = modeling.export_zip(db, v1.definition_id)
    assert name == "design_review-v1.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"bpmn/design_review.bpmn", "forms/site-check.schema.json", "forms/design-review.schema.json"} <= names
    assert (manifest["key"], manifest["version"], manifest["note"]) == ("design_review", 1, "首版")
    assert modeling.export_bpmn(db, v1.definition_id) == ("design_review.bpmn", xml.decode())

    files, forms = modeling.read_zip(data)
    assert forms["site-check.schema.json"] == form
    # into an empty forms directory: everything the version needs travels in the zip
    empty = tmp_path / "no-forms"
    empty.mkdir()
    [same] = modeling.deploy(db, files, forms_dir=empty, forms=forms, actor="analyst", note="重新导入")
    assert (same.version, same.created) == (1, False)
    other = {n.replace("design_review", "design_review_copy"): t.replace(b'"design_review"', b'"design_review_copy"')
             for n, t in files.items()}
    [copy] = modeling.deploy(db, other, forms_dir=empty, forms=forms, actor="analyst", note="副本")
    assert copy.key == "design_review_copy" and copy.created


def test_read_zip_refuses_what_is_not_a_zip() -> None:
    with pytest.raises(InvalidData):
        modeling.read_zip(b"not a zip")


# -- the moddle descriptor keeps every Yekuo extension ------------------------------------------


NODE_ROUND_TRIP = """
const BpmnModdle = require(process.argv[2]);
const fs = require('fs');
(async () => {
  const moddle = new BpmnModdle({ spiffworkflow: JSON.parse(fs.readFileSync(process.argv[3], 'utf8')) });
  const out = {};
  for (const f of process.argv.slice(4)) {
    const { rootElement, warnings } = await moddle.fromXML(fs.readFileSync(f, 'utf8'));
    out[f] = { warnings: warnings.map(w => w.message), xml: (await moddle.toXML(rootElement, { format: true })).xml };
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def test_every_model_round_trips_through_the_moddle_descriptor(tmp_path: Path) -> None:
    """What bpmn-js does on open + save without edits: read and write with bpmn-moddle and our
    spiffworkflow descriptor. Every element, attribute and text must come back (DI included).
    Without Node.js and `npm ci` it is skipped locally; under CI (which installs both) that is an error."""
    moddle = PROJECT_ROOT / "node_modules" / "bpmn-moddle" / "dist" / "index.cjs"
    if shutil.which("node") is None or not moddle.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Node.js and run `npm ci` (make install) for this test")
        pytest.skip("Node.js or node_modules missing (make install runs npm ci)")
    script = tmp_path / "rt.cjs"
    script.write_text(NODE_ROUND_TRIP, encoding="utf-8")
    models = sorted(str(p) for p in BPMN.glob("*.bpmn")) + [str(IMPORT / "spiff_arena_meter_check.bpmn")]
    done = subprocess.run(["node", str(script), str(moddle), str(DESCRIPTOR), *models], capture_output=True,
                          text=True, timeout=120, check=True)
    results = json.loads(done.stdout)
    assert len(results) == len(models)
    for path, result in results.items():
        assert result["warnings"] == [], path
        assert xml_signatures(result["xml"]) == xml_signatures(Path(path).read_bytes()), path
    # and what comes back still deploys exactly as before
    xml = results[str(BPMN / "design_review.bpmn")]["xml"]
    assert modeling.normalize({"d.bpmn": xml}).problems == []


# -- choosing and moving many cases -------------------------------------------------------------


def test_versions_selection_and_moving_many(db: Database, engine_model: definitions.DeployResult,
                                            tmp_path: Path) -> None:
    from tests.helpers import ACCEPT, complete

    a = runtime.start_instance(db, "engine_model", business_key="YK-A").instance_id
    b = runtime.start_instance(db, "engine_model", business_key="YK-B").instance_id
    c = runtime.start_instance(db, "engine_model", business_key="YK-C").instance_id
    complete(db, c, "accept", ACCEPT)
    runtime.cancel(db, b, actor=actors.SYSTEM, reason="重复申请")
    xml = (ENGINE_MODEL / "engine_model.bpmn").read_text(encoding="utf-8").replace('"P2D"', '"P1D"')
    (tmp_path / "engine_model.bpmn").write_text(xml, encoding="utf-8")
    modeling.deploy(db, {"engine_model.bpmn": xml}, forms_dir=ENGINE_MODEL / "forms", actor="analyst",
                    note="提醒改为1天")

    [v2, v1] = migration.versions(db, "engine_model")
    assert (v2.version, v2.note, v2.running, v1.running) == (2, "提醒改为1天", 0, 2)
    assert migration.select_instances(db, "engine_model", 1) == [a, c]
    assert migration.select_instances(db, "engine_model", 1, at_step="accept") == [a]
    assert migration.select_instances(db, "engine_model", 1, query="YK-C") == [c]
    assert migration.select_instances(db, "engine_model", 1, ids=[b, c]) == [c]  # b has ended
    assert [r.id for r in migration.running_cases(db, "engine_model", 1)] == [a, c]
    assert [step for step, _name in migration.running_cases(db, "engine_model", 1)[0].steps] == ["accept"]

    results = migration.migrate_many(db, [a, b, c], actor="analyst", note="批量")
    assert [(r.instance_id, r.migrated) for r in results] == [(a, True), (b, False), (c, True)]
    assert results[1].reasons == ["the case has ended (cancelled)"]
    assert migration.running_counts(db, "engine_model") == {2: 2}
    assert migration.last_migration(db, a)["to_version"] == 2
    migration.revert(db, a, actor="analyst")
    assert migration.last_migration(db, a) is None
    assert queries.get_instance(db, a).definition_version == 1


def test_a_changed_timer_the_case_waits_on_restarts_at_migration(db: Database, engine_model: definitions.DeployResult,
                                                                 clock, tmp_path: Path) -> None:
    """The analyst's "change a time limit": the reminder goes from 2 days to 1. A case already
    waiting on it gets the new duration counted from the migration; the old row is dropped."""
    import datetime as dt

    from sqlalchemy import select

    from engine.audit import replay
    from engine.core.models import timer_t
    from tests.helpers import ACCEPT, complete

    iid = runtime.start_instance(db, "engine_model").instance_id
    for spec, data in (("accept", ACCEPT), ("verify_identity", {}), ("check_docs", {"docs_complete": True})):
        complete(db, iid, spec, data)  # now at schedule_survey, with the reminder waiting

    def due() -> list[dt.datetime]:
        with db.read() as conn:
            return [r.due_at for r in conn.execute(select(timer_t.c.due_at).where(
                timer_t.c.instance_id == iid, timer_t.c.purpose == "bpmn_timer", timer_t.c.fired_at.is_(None)))]

    [before] = due()
    xml = (ENGINE_MODEL / "engine_model.bpmn").read_text(encoding="utf-8").replace('"P2D"', '"P1D"')
    modeling.deploy(db, {"engine_model.bpmn": xml}, forms_dir=ENGINE_MODEL / "forms", actor="analyst",
                    note="预约提醒改为1天")
    clock.advance(hours=6)
    migration.migrate(db, iid, actor="analyst")
    [after] = due()
    assert after == clock.now() + dt.timedelta(days=1) and after < before
    assert replay.replay(db, iid).ok


def test_forms_sent_alone_are_checked_as_text_or_objects(db: Database) -> None:
    ok = modeling.check(db, {}, forms_dir=FORMS, forms={"a.schema.json": {"type": "object"}})
    assert ok.ok
    bad = modeling.check(db, {}, forms_dir=FORMS, forms={"a.schema.json": {"type": "objec"},
                                                         "b.schema.json": '{"type": "object",'})
    assert sorted(p.file for p in bad.problems) == ["a.schema.json", "b.schema.json"]


def test_clock_anchors_are_checked_and_located(db: Database) -> None:
    """`slaFrom` names an element or message of the deployment, or a data field; anything else is refused
    at its element and line."""
    files = {p.name: p.read_bytes() for p in sorted((PROJECT_ROOT / "bpmn").iterdir()) if p.suffix in (".bpmn", ".dmn")}
    assert modeling.check(db, files, forms_dir=FORMS).ok
    xml = files["hv_delivery.bpmn"]
    for bad, says in ((b"task:inspection,task:contract", "no element 'inspektion'"), (b"when:accept", "must be one of"),
                      (b"message:nudge", "no message 'nudge'")):
        changed = xml.replace(b"task:inspection,task:contract", bad.replace(b"task:inspection,", b"task:inspektion,"))
        result = modeling.check(db, {**files, "hv_delivery.bpmn": changed}, forms_dir=FORMS)
        [problem] = result.problems
        assert (problem.file, problem.element) == ("hv_delivery.bpmn", "energize") and problem.line
        assert says in problem.message
