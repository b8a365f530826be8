"""The analyst in the browser (issue #8): from editing the model to running cases migrated.

An analyst opens a deployed service-connection model (a copy of 设计文件审查 under its own key,
so the other browser tests sharing `web_db` keep the bundled version 1), adds a user task — the
designer's credentials are checked by the reviewer before the review — and moves the design-review
time limit (`slaKey`) to that new step. "Check" shows the missing form on the new task; the analyst
creates the form beside the diagram (JSON text, engine checks, live preview), checks again,
deploys version 2 with a change note, sees the diff coloured, dry-runs and migrates the case that
was started on version 1, and finds it on version 2 with an audit event.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lxml import etree
from playwright.sync_api import Browser, expect

from engine.core import definitions, queries, runtime
from engine.core.config import PROJECT_ROOT
from engine.core.db import Database
from tests.browser.support import sign_in
from tests.helpers import xml_signatures

KEY = "design_review_mx"
FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "复核设计单位资质",
    "type": "object",
    "required": ["designer_qualified"],
    "properties": {
        "designer_qualified": {"type": "boolean", "title": "设计单位资质符合要求"},
        "remark": {"type": "string", "title": "复核意见", "maxLength": 200},
    },
    "examples": [{"designer_qualified": True, "remark": "资质证书在有效期内"}],
}

ADD_TASK = """() => {
  const m = window.yekuoModeler.modeler;
  const reg = m.get('elementRegistry'), modeling = m.get('modeling');
  const bpmnFactory = m.get('bpmnFactory'), elementFactory = m.get('elementFactory');
  const bo = bpmnFactory.create('bpmn:UserTask', { id: 'check_designer', name: '复核设计单位资质' });
  const shape = elementFactory.createShape({ type: 'bpmn:UserTask', businessObject: bo });
  const participant = reg.filter(e => e.type === 'bpmn:Participant')[0];
  modeling.createShape(shape, { x: 470, y: 285 }, participant);
  const flow = reg.get('Flow_receive_drawings_review_design');
  modeling.reconnectEnd(flow, shape, { x: 420, y: 285 });
  modeling.layoutConnection(flow);
  modeling.connect(shape, reg.get('review_design'));
  m.get('selection').select(shape);
  return shape.id;
}"""


def _model_copy() -> bytes:
    xml = (PROJECT_ROOT / "bpmn" / "design_review.bpmn").read_text(encoding="utf-8")
    xml = xml.replace('processRef="design_review"', f'processRef="{KEY}"')
    xml = xml.replace('<bpmn:process id="design_review" name="设计文件审查"',
                      f'<bpmn:process id="{KEY}" name="设计文件审查（建模演练）"')
    return xml.encode("utf-8")


def test_analyst_edits_checks_deploys_and_migrates(browser: Browser, browser_context_args: dict[str, Any],
                                                    web_db: Database, artifacts: Path) -> None:
    [v1] = definitions.deploy_files(web_db, {f"{KEY}.bpmn": _model_copy()}, forms_dir=PROJECT_ROOT / "forms",
                                    actor="analyst", note="建模演练首版")
    assert v1.version == 1
    case = runtime.start_instance(web_db, KEY, {}, business_key="MX-2026-0001")
    assert [i.task_spec for i in case.new_items] == ["receive_drawings"]

    context = browser.new_context(**browser_context_args)
    try:
        page = sign_in(context, "analyst")
        _open_the_model(page)
        _edit_in_the_panel(page)
        _check_then_fix_the_form(page, artifacts)
        _deploy_with_a_note(page, web_db)
        _versions_show_the_diff(page, artifacts)
        _migrate_the_case(page, artifacts, case)
    finally:
        context.close()

    inst = queries.get_instance(web_db, case.instance_id)
    assert inst.definition_version == 2
    from engine.core import history

    with web_db.read() as conn:
        events = list(history.events_of(conn, case.instance_id))
    migrated = [e for e in events if e.type == "instance_migrated"]
    assert len(migrated) == 1 and migrated[0].actor == "analyst"
    payload = history.payload_of(migrated[0])
    assert (payload["from_version"], payload["to_version"], payload["note"]) == (1, 2, "增加资质复核")


def _open_the_model(page: Any) -> None:
    """Open the model in the modeler: saved without edits, every Yekuo extension survives."""
    page.get_by_test_id("nav-modeler").click()
    expect(page.get_by_test_id("page-title")).to_have_text("流程模型")
    page.get_by_test_id(f"open-{KEY}").click()
    page.wait_for_function("() => window.yekuoModelerReady === true")
    expect(page.locator(".bjs-powered-by")).to_be_visible()  # the bpmn.io watermark stays

    # opened and saved without edits: every Yekuo extension survives the moddle descriptor
    saved = page.evaluate("() => window.yekuoModeler.modeler.saveXML({format: true}).then(r => r.xml)")
    assert xml_signatures(saved) == xml_signatures(_model_copy())


def _edit_in_the_panel(page: Any) -> None:
    """The panel edits the existing step's time limit and puts a new user task in the reviewer's lane."""
    # the existing step's time limit: the panel shows and edits spiffworkflow properties
    page.evaluate("() => window.yekuoModeler.modeler.get('selection').select("
                  "window.yekuoModeler.modeler.get('elementRegistry').get('review_design'))")
    expect(page.get_by_test_id("prop-sla")).to_have_value("design_review")
    page.get_by_test_id("prop-sla").select_option("")

    # a new user task, put in the reviewer's lane through the panel
    page.evaluate(ADD_TASK)
    expect(page.get_by_test_id("prop-id")).to_have_text("check_designer")
    lane = page.get_by_test_id("prop-lane")
    lane.select_option(label="设计审查/检验人员")
    expect(lane).to_have_value("Lane_design_review_reviewer")
    page.get_by_test_id("prop-sla").select_option("design_review")
    assert page.evaluate("() => window.yekuoModeler.getProp('check_designer', 'slaKey')") == "design_review"


def _check_then_fix_the_form(page: Any, artifacts: Path) -> None:
    """Check shows the missing form on the element; a new form, checked and previewed, fixes it."""
    # check: the missing form is shown on the element and in the list
    page.get_by_test_id("check").click()
    badge = page.locator('[data-testid="problem-badge"][data-element="check_designer"]')
    expect(badge).to_be_visible()
    problems = page.get_by_test_id("problem")
    missing_form = problems.filter(has_text="该用户任务没有表单")  # the engine's text, in Chinese on the page
    expect(missing_form).to_have_count(1)
    expect(missing_form.locator(".problem-text")).to_have_attribute("title", re.compile("formJsonSchemaFilename"))
    assert page.evaluate("() => window.yekuoModeler.problems.map(p => p.element)") == ["check_designer"]
    page.screenshot(path=artifacts / "20-modeler-missing-form.png", full_page=True)
    problems.first.click()
    expect(page.get_by_test_id("prop-id")).to_have_text("check_designer")

    # fix it: a new form beside the diagram, checked by the engine, previewed by json-editor
    page.get_by_test_id("tab-forms").click()
    page.get_by_test_id("form-new-name").fill("designer-check.schema.json")
    page.get_by_test_id("form-new").click()
    page.get_by_test_id("form-text").fill('{"type": "objec"}')
    expect(page.get_by_test_id("form-status")).to_contain_text("不是有效的 JSON Schema")
    page.get_by_test_id("form-text").fill(json.dumps(FORM, ensure_ascii=False, indent=2))
    expect(page.get_by_test_id("form-status")).to_have_class(re.compile("form-ok"))
    expect(page.get_by_test_id("form-preview")).to_contain_text("设计单位资质符合要求")
    page.get_by_test_id("tab-props").click()
    page.get_by_test_id("prop-form").select_option("designer-check.schema.json")
    assert page.evaluate("() => window.yekuoModeler.getProp('check_designer', 'formJsonSchemaFilename')") \
        == "designer-check.schema.json"
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("problems-summary")).to_have_class("problems-ok")
    expect(page.locator('[data-testid="problem-badge"]')).to_have_count(0)
    page.screenshot(path=artifacts / "21-modeler-fixed.png", full_page=True)


def _deploy_with_a_note(page: Any, web_db: Database) -> None:
    """Deploy: the change note is required."""
    page.get_by_test_id("deploy").click()
    page.get_by_test_id("deploy-confirm").click()
    expect(page.get_by_test_id("deploy-error")).to_be_visible()
    page.get_by_test_id("deploy-note").fill("受理后增加复核设计单位资质；设计审查时限改从复核起算")
    page.get_by_test_id("deploy-confirm").click()
    expect(page.get_by_test_id("modeler-status")).to_contain_text("2")
    assert definitions.latest_id(web_db, KEY, 2)


def _versions_show_the_diff(page: Any, artifacts: Path) -> None:
    """Versions: who/when/why, running counts, the diff coloured on the diagrams."""
    page.get_by_test_id("deployed-versions-link").click()
    expect(page.get_by_test_id("versions")).to_contain_text("受理后增加复核设计单位资质")
    expect(page.get_by_test_id("running-1")).to_have_text("1")
    page.wait_for_function("() => window.yekuoDiff !== undefined")
    shown = page.evaluate("() => window.yekuoDiff.shown")
    assert "check_designer" in shown["added"] and "review_design" in shown["changed"]
    expect(page.locator('#canvas-to g.djs-element.yk-diff-added[data-element-id="check_designer"]')).to_have_count(1)
    expect(page.get_by_test_id("changes")).to_contain_text("复核设计单位资质")
    page.screenshot(path=artifacts / "22-modeler-diff.png", full_page=True)


def _migrate_the_case(page: Any, artifacts: Path, case: Any) -> None:
    """Migration: dry run, then migrate the case started on version 1."""
    page.get_by_test_id("migrate-link").click()
    expect(page.get_by_test_id("mig-from")).to_have_value("1")
    page.get_by_test_id(f"tick-{case.instance_id}").check()
    page.get_by_test_id("dry-run").click()
    expect(page.get_by_test_id(f"verdict-{case.instance_id}")).to_have_class(re.compile("verdict-ok"))
    page.get_by_test_id("mig-note").fill("增加资质复核")
    page.get_by_test_id("migrate").click()
    page.get_by_test_id("confirm-ok").click()  # asked first (issue #19)
    expect(page.get_by_test_id(f"result-{case.instance_id}")).to_contain_text("v1 → v2")
    expect(page.get_by_test_id(f"revert-{case.instance_id}")).to_be_visible()
    page.screenshot(path=artifacts / "23-modeler-migrated.png", full_page=True)


ROUND_TRIP = """async (files) => {
  const descriptor = await (await fetch('/assets/web/modeler_spiffworkflow.json')).json();
  const box = document.createElement('div');
  box.style.cssText = 'position:absolute;left:-5000px;width:800px;height:600px';
  document.body.appendChild(box);
  const m = new window.BpmnJS({ container: box, moddleExtensions: { spiffworkflow: descriptor } });
  const out = {};
  for (const [name, xml] of Object.entries(files)) {
    const { warnings } = await m.importXML(xml);
    out[name] = { warnings: warnings.map(w => w.message), xml: (await m.saveXML({ format: true })).xml };
  }
  m.destroy();
  box.remove();
  return out;
}"""

SELECT = """(id) => { const m = window.yekuoModeler.modeler;
  m.get('selection').select(m.get('elementRegistry').get(id)); }"""
XML = "() => window.yekuoModeler.modeler.saveXML({format: true}).then(r => r.xml)"


def _element(xml: str, element_id: str) -> etree._Element:
    root = etree.fromstring(xml.encode())
    return root.xpath("//*[@id=$id]", id=element_id)[0]


def test_panel_edits_yekuo_attributes_and_every_model_round_trips(browser: Browser,
                                                                   browser_context_args: dict[str, Any]) -> None:
    """The descriptor in the real bpmn-js: every bundled model opened and saved keeps everything;
    the panel reads and writes operators, timers, conditions and default flows (undoably)."""
    context = browser.new_context(**browser_context_args)
    try:
        page = sign_in(context, "analyst")
        page.goto("/modeler/new_connection")
        page.wait_for_function("() => window.yekuoModelerReady === true")

        files = {p.name: p.read_text(encoding="utf-8") for p in sorted((PROJECT_ROOT / "bpmn").glob("*.bpmn"))}
        saved = page.evaluate(ROUND_TRIP, files)
        for name, text in files.items():
            assert saved[name]["warnings"] == [], name
            assert xml_signatures(saved[name]["xml"]) == xml_signatures(text), name

        # service operator: chosen from the registered handlers
        page.evaluate(SELECT, "assign_number")
        operator = page.get_by_test_id("prop-operator")
        expect(operator).to_have_value("yekuo/next_number")
        assert "yekuo/sms" in operator.locator("option").all_inner_texts()
        operator.select_option("yekuo/sms")
        op = _element(page.evaluate(XML), "assign_number").find(".//{*}serviceTaskOperator")
        assert op.get("id") == "yekuo/sms" and op.get("resultVariable") == "numbering"
        assert [p.get("id") for p in op.iter("{*}parameter")] == ["prefix"]
        page.evaluate("() => window.yekuoModeler.modeler.get('commandStack').undo()")
        assert _element(page.evaluate(XML), "assign_number").find(".//{*}serviceTaskOperator").get("id") \
            == "yekuo/next_number"

        # timer: kind and expression
        page.evaluate(SELECT, "docs_reminder")
        expect(page.get_by_test_id("prop-timer-kind")).to_have_value("timeDate")
        expect(page.get_by_test_id("prop-timer")).to_have_value('docs_promised_by + "T09:00:00+08:00"')
        page.get_by_test_id("prop-timer-kind").select_option("timeDuration")
        page.get_by_test_id("prop-timer").fill('"P3D"')
        page.get_by_test_id("prop-timer").press("Tab")
        timer = _element(page.evaluate(XML), "docs_reminder").find(".//{*}timerEventDefinition")
        assert [(etree.QName(c).localname, c.text) for c in timer] == [("timeDuration", '"P3D"')]

        # gateway condition and default flow
        page.evaluate(SELECT, "Flow_docs_gw_collect_docs")
        condition = page.get_by_test_id("prop-condition")
        expect(condition).to_have_value(re.compile(r"\S"))
        condition.fill("docs_missing == True")
        condition.press("Tab")
        flow = _element(page.evaluate(XML), "Flow_docs_gw_collect_docs")
        assert flow.find("{*}conditionExpression").text == "docs_missing == True"
        page.evaluate(SELECT, "docs_gw")
        expect(page.get_by_test_id("prop-default")).to_have_value("Flow_docs_gw_docs_merge")

        # the check runs on the whole bundle (called processes, DMN, forms of the version)
        page.get_by_test_id("check").click()
        expect(page.get_by_test_id("problems-summary")).to_have_class(re.compile("problems-"))
        summary = page.get_by_test_id("problems-summary").get_attribute("class")
        problems = page.evaluate("() => window.yekuoModeler.problems")
        assert summary == "problems-ok", problems
    finally:
        context.close()


def test_a_camunda_modeler_file_is_imported_with_notes(browser: Browser, browser_context_args: dict[str, Any],
                                                        artifacts: Path) -> None:
    context = browser.new_context(**browser_context_args)
    try:
        page = sign_in(context, "analyst")
        page.goto("/modeler/new")
        page.wait_for_function("() => window.yekuoModelerReady === true")
        page.get_by_test_id("open-file").set_input_files(
            str(Path(__file__).resolve().parents[1] / "data" / "import" / "camunda7_meter_check.bpmn"))
        expect(page.get_by_test_id("modeler-status")).to_contain_text("camunda7_meter_check.bpmn")
        expect(page.get_by_test_id("import-notes")).to_contain_text("camunda:properties converted")
        page.evaluate(SELECT, "check_meter")
        expect(page.get_by_test_id("prop-form")).to_have_value("meter-work.schema.json")
        page.get_by_test_id("check").click()
        expect(page.get_by_test_id("problems-summary")).to_have_class("problems-ok")
        page.screenshot(path=artifacts / "24-modeler-import.png", full_page=True)
    finally:
        context.close()
