"""Moving running cases to a new version: a step added, a step removed, a timer changed."""

from __future__ import annotations

import pytest

from engine.audit import replay
from engine.core import actors, definitions, queries, runtime
from engine.core.errors import InvalidState
from engine.modeling import migration
from tests.conftest import ENGINE_MODEL
from tests.helpers import ACCEPT, complete, open_items

ADDED = ('<bpmn:userTask id="check_site" name="核对用电地址"><bpmn:extensionElements><spiffworkflow:properties>'
         '<spiffworkflow:property name="formJsonSchemaFilename" value="step.schema.json" />'
         '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


def version_2(tmp_path):
    """The analyst's change: a new check after acceptance, appointment confirmation dropped, reminder after 1 day."""
    xml = (ENGINE_MODEL / "engine_model.bpmn").read_text(encoding="utf-8")
    xml = xml.replace('<bpmn:flowNodeRef>accept</bpmn:flowNodeRef>',
                      '<bpmn:flowNodeRef>accept</bpmn:flowNodeRef><bpmn:flowNodeRef>check_site</bpmn:flowNodeRef>')
    xml = xml.replace('<bpmn:flowNodeRef>confirm_appointment</bpmn:flowNodeRef>', '')
    start = xml.index('    <bpmn:userTask id="confirm_appointment"')
    end = xml.index("</bpmn:userTask>", start) + len("</bpmn:userTask>") + 1
    xml = xml[:start] + xml[end:]
    xml = xml.replace('<bpmn:userTask id="verify_identity"', ADDED + '\n    <bpmn:userTask id="verify_identity"')
    xml = xml.replace('sourceRef="accept" targetRef="verify_identity"', 'sourceRef="accept" targetRef="check_site"')
    xml = xml.replace('sourceRef="schedule_survey" targetRef="confirm_appointment"',
                      'sourceRef="schedule_survey" targetRef="perform_survey"')
    flow = xml.index('sourceRef="confirm_appointment"')
    xml = xml[:xml.rindex("<bpmn:sequenceFlow", 0, flow)] + xml[xml.index("</bpmn:sequenceFlow>", flow) + 20:]
    xml = xml.replace("</bpmn:process>", '<bpmn:sequenceFlow id="Flow_check_site" sourceRef="check_site" '
                      'targetRef="verify_identity" /></bpmn:process>')
    xml = xml.replace('"P2D"', '"P1D"')
    path = tmp_path / "engine_model.bpmn"
    path.write_text(xml, encoding="utf-8")
    [result] = definitions.deploy_paths(definitions_db[0], [path], forms_dir=ENGINE_MODEL / "forms")
    return result


definitions_db: list = []


@pytest.fixture
def two_versions(db, engine_model, tmp_path):
    definitions_db[:] = [db]
    at_accept = runtime.start_instance(db, "engine_model").instance_id
    at_verify = runtime.start_instance(db, "engine_model").instance_id
    for spec, data in (("accept", ACCEPT), ("verify_identity", {}), ("check_docs", {"docs_complete": True}),
                       ("schedule_survey", {})):
        complete(db, at_verify, spec, data)  # now at confirm_appointment, which version 2 drops
    v2 = version_2(tmp_path)
    assert v2.version == 2
    return at_accept, at_verify


def test_the_diff_names_added_removed_and_changed_elements(db, two_versions):
    diff = migration.diff_versions(db, "engine_model", 1, 2)
    assert diff.by_kind("added") == ["check_site"]
    assert diff.by_kind("removed") == ["confirm_appointment"]
    assert "survey_reminder" in diff.by_kind("changed")
    assert diff.running == {1: 2}


def test_dry_run_says_who_can_move_and_why_not(db, two_versions):
    at_accept, at_verify = two_versions
    ok, blocked = migration.check(db, [at_accept, at_verify])
    assert (ok.can_migrate, ok.from_version, ok.to_version) == (True, 1, 2)
    assert not blocked.can_migrate
    assert blocked.reasons == ["its current step '确认预约' (confirm_appointment) is not in the new version"]
    with pytest.raises(InvalidState, match="not in the new version"):
        migration.migrate(db, at_verify, actor="analyst")


def test_a_migrated_case_takes_the_new_path_and_replays(db, two_versions):
    at_accept, _ = two_versions
    migration.migrate(db, at_accept, actor="analyst", note="新增核对用电地址")
    inst = queries.get_instance(db, at_accept)
    assert inst.definition_version == 2 and [i.task_spec for i in inst.open_items] == ["accept"]
    complete(db, at_accept, "accept", ACCEPT)
    assert set(open_items(db, at_accept)) == {"check_site"}
    complete(db, at_accept, "check_site")
    assert set(open_items(db, at_accept)) == {"verify_identity"}
    assert migration.running_counts(db, "engine_model") == {1: 1, 2: 1}
    report = replay.replay(db, at_accept)
    assert report.ok, str(report)


def test_revert_while_nothing_happened_and_not_after(db, two_versions):
    at_accept, _ = two_versions
    migration.migrate(db, at_accept, actor="analyst")
    migration.revert(db, at_accept, actor="analyst")
    assert queries.get_instance(db, at_accept).definition_version == 1
    complete(db, at_accept, "accept", ACCEPT)
    assert set(open_items(db, at_accept)) == {"verify_identity"}
    assert replay.replay(db, at_accept).ok
    with pytest.raises(InvalidState, match="moved on"):
        migration.revert(db, at_accept, actor="analyst")


def test_ended_cases_do_not_move(db, two_versions):
    at_accept, _ = two_versions
    runtime.cancel(db, at_accept, actor=actors.SYSTEM, reason="test")
    [verdict] = migration.check(db, [at_accept])
    assert not verdict.can_migrate and verdict.reasons == ["the case has ended (cancelled)"]
