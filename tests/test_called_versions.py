"""Called processes are versions of their own, bound when the call starts (issue #19).

An analyst adds a step to 设计文件审查 (design_review) and deploys only that file: a high-voltage
case that enters the review afterwards passes through the step, one already inside it stays on
its version; redeploying the parent new_connection makes no version of design_review and keeps
the step. The version a case bound is on its history, and replay binds that one, not the newest.
"""

from __future__ import annotations

import pytest

from engine.audit import replay
from engine.core import definitions, history
from engine.modeling import authoring, called
from tests.process_helpers import BPMN_DIR, FORMS_DIR, START, deploy, drive, example, items, start_case

HV = {"accept": 2, "reply_scheme": example("scheme-reply-hv", scheme_signed_on="2027-02-25")}
STEP = """    <bpmn:userTask id="check_stamp" name="核对设计单位图章">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="design-receipt.schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_receive_drawings_review_design</bpmn:incoming>
      <bpmn:outgoing>Flow_check_stamp_review_design</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_check_stamp_review_design" sourceRef="check_stamp" targetRef="review_design" />
"""


def design_review_v2() -> str:
    """design_review with a step between 受理设计文件 and 审查设计文件, as an analyst would draw it."""
    xml = (BPMN_DIR / "design_review.bpmn").read_text(encoding="utf-8")
    xml = xml.replace('<bpmn:flowNodeRef>receive_drawings</bpmn:flowNodeRef>',
                      '<bpmn:flowNodeRef>receive_drawings</bpmn:flowNodeRef>\n'
                      '        <bpmn:flowNodeRef>check_stamp</bpmn:flowNodeRef>', 1)
    xml = xml.replace('sourceRef="receive_drawings" targetRef="review_design"',
                      'sourceRef="receive_drawings" targetRef="check_stamp"', 1)
    xml = xml.replace('<bpmn:incoming>Flow_receive_drawings_review_design</bpmn:incoming>\n'
                      '      <bpmn:outgoing>Flow_review_design_design_ok</bpmn:outgoing>',
                      '<bpmn:incoming>Flow_check_stamp_review_design</bpmn:incoming>\n'
                      '      <bpmn:outgoing>Flow_review_design_design_ok</bpmn:outgoing>', 1)
    return xml.replace("    <bpmn:userTask id=\"review_design\"", STEP + "    <bpmn:userTask id=\"review_design\"", 1)


def called_events(db, iid: int) -> dict[str, dict]:
    with db.read() as conn:
        found: dict[str, dict] = {}
        for ev in history.events_of(conn, iid):
            found.update(history.payload_of(ev).get("called") or {})
    return found


@pytest.fixture
def models(db, clock):
    clock.set(START)
    return deploy(db)


def test_a_new_version_of_a_called_process_reaches_new_cases_and_running_ones_stay(db, clock, models):
    running = start_case(db, data={"channel": "web95598"})
    drive(db, running, HV, until="receive_drawings")
    assert called_events(db, running)["design_review"]["version"] == 1

    [result] = authoring.deploy(db, {"design_review.bpmn": design_review_v2()}, forms_dir=FORMS_DIR,
                                actor="analyst", note="受理后先核对设计单位图章")
    assert (result.key, result.version, result.created) == ("design_review", 2, True)
    assert [u["key"] for u in called.used_by(db, "design_review")] == ["hv_project"]

    fresh = start_case(db, data={"channel": "web95598"})
    drive(db, fresh, HV, until="receive_drawings")
    done = drive(db, fresh, until="check_stamp")
    assert done == ["receive_drawings"]
    assert called_events(db, fresh)["design_review"] == {"version": 2, "definition_id": result.definition_id}
    done = drive(db, fresh, {"review_design": 0}, until="customer_works")
    assert done[:2] == ["check_stamp", "review_design"]

    # the case that was inside design_review v1 stays on it: no new step
    assert drive(db, running, until="review_design") == ["receive_drawings"]
    assert "check_stamp" not in items(db, running)

    for iid in (running, fresh):  # replay binds what the history recorded, not the newest
        report = replay.replay(db, iid)
        assert report.ok, report.to_dict()


def test_redeploying_the_parent_makes_no_version_of_what_it_calls(db, clock, models):
    authoring.deploy(db, {"design_review.bpmn": design_review_v2()}, forms_dir=FORMS_DIR,
                     actor="analyst", note="核对图章")
    parent = authoring.version_sources(db, models["new_connection"].definition_id)
    assert set(parent["files"]) <= {"new_connection.bpmn", "business_type.dmn", "review_path.dmn"}
    renamed = {name: text.replace('name="新装/增容（业扩报装）"', 'name="新装/增容（业扩报装·改名）"')
               for name, text in parent["files"].items()}
    results = authoring.deploy(db, renamed, forms_dir=FORMS_DIR, forms=parent["forms"], actor="analyst",
                               note="只改名称")
    assert [(r.key, r.version, r.created) for r in results] == [("new_connection", 2, True)]
    latest = {d.key: d.version for d in definitions.list_definitions(db, latest_only=True)}
    assert latest["design_review"] == 2 and latest["hv_project"] == 1

    case = start_case(db, data={"channel": "web95598"})
    drive(db, case, HV, until="receive_drawings")
    assert drive(db, case, until="check_stamp") == ["receive_drawings"]


def test_a_pinned_call_binds_its_version_and_an_unknown_pin_is_refused(db, clock, models):
    authoring.deploy(db, {"design_review.bpmn": design_review_v2()}, forms_dir=FORMS_DIR,
                     actor="analyst", note="核对图章")
    hv_project = authoring.version_sources(db, models["hv_project"].definition_id)["files"]["hv_project.bpmn"]
    pin = ('calledElement="design_review">\n      <bpmn:extensionElements><spiffworkflow:properties>'
           '<spiffworkflow:property name="calledVersion" value="{v}" /></spiffworkflow:properties>'
           '</bpmn:extensionElements>')

    def pinned(v: str) -> dict[str, str]:
        return {"hv_project.bpmn": hv_project.replace('calledElement="design_review">', pin.format(v=v), 1)}

    check = authoring.check(db, pinned("7"), forms_dir=FORMS_DIR)
    assert not check.ok and any("calledVersion 7" in p.message for p in check.problems)
    authoring.deploy(db, pinned("1"), forms_dir=FORMS_DIR, actor="analyst", note="设计审查固定用第1版")
    assert [u["binding"] for u in called.used_by(db, "design_review")] == ["1"]

    case = start_case(db, data={"channel": "web95598"})
    drive(db, case, HV, until="receive_drawings")
    assert called_events(db, case)["design_review"]["version"] == 1
    assert drive(db, case, until="review_design") == ["receive_drawings"]
