"""The analyst's pages: the process modeler, check and deploy, versions and diff, migration of running cases.

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
The pages hold no logic of their own: the editor (bpmn-js Modeler + Yekuo's properties panel,
`static/modeler.js`) and the migration page call the REST API (`api.rest.modeling`, the deploy
endpoint) with the session and its CSRF token; this module renders the pages with what they need
embedded (the version's files and forms, the registered operators, the time-limit keys).

Who: analysts edit, deploy and migrate; supervisors, auditors and administrators read versions and diffs.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, request, url_for
from flask_babel import gettext as _

from api import auth, policy
from api.web import problem_texts
from api.web.views import bp, page, page_db, page_user
from engine.core import definitions
from engine.core.errors import InvalidData, NotFound
from engine.deadlines import sla
from engine.modeling import arena, called, migration
from engine.modeling import authoring as modeling

NEW_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" \
id="Definitions_new_process" targetNamespace="http://yekuo.example/bpmn">
  <bpmn:collaboration id="Collaboration_new_process">
    <bpmn:participant id="Participant_new_process" name="新流程" processRef="new_process" />
  </bpmn:collaboration>
  <bpmn:process id="new_process" name="新流程" isExecutable="true">
    <bpmn:laneSet id="LaneSet_new_process">
      <bpmn:lane id="Lane_new_process_manager" name="客户经理">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="开始" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_new_process">
    <bpmndi:BPMNPlane id="BPMNPlane_new_process" bpmnElement="Collaboration_new_process">
      <bpmndi:BPMNShape id="Participant_new_process_di" bpmnElement="Participant_new_process" isHorizontal="true">
        <dc:Bounds x="100" y="60" width="800" height="200" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_new_process_manager_di" bpmnElement="Lane_new_process_manager" isHorizontal="true">
        <dc:Bounds x="130" y="60" width="770" height="200" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="192" y="142" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _settings() -> Any:
    from flask import current_app

    return current_app.extensions["yekuo.settings"]


def _form_names() -> list[str]:
    forms_dir = _settings().forms_dir
    return sorted(p.name for p in forms_dir.glob("*.json")) if forms_dir.is_dir() else []


@bp.get("/modeler")
@page("models.read")
def modeler_index() -> Any:
    db = page_db()
    processes = []
    inside = migration.called_cases_all(db)  # one pass over running cases for every called key
    for d in definitions.list_definitions(db, latest_only=True):
        found = migration.versions(db, d.key, inside.get(d.key, {}))
        processes.append({"latest": found[0], "versions": found, "running": sum(v.running for v in found)})
    return render_template("modeler_index.html", processes=processes,
                           may_edit=policy.may(page_user().groups, "models.edit"))


def _version_arg() -> int | None:
    raw = request.args.get("version", "")
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise NotFound(f"version {raw!r} does not exist")
    return int(raw)


def _texts() -> dict[str, str]:
    return {
        "check": _("Check"), "checking": _("Checking…"), "checkOk": _("No problems: this model can be deployed."),
        "problems": _("%(n)s problem(s) found. Click one to show its element.", n="%(n)s"),
        "notChecked": _("Not checked yet."), "network": _("The server could not be reached."),
        "deployed": _("Deployed: %(what)s.", what="%(what)s"), "unchanged": _("unchanged"),
        "version": _("version %(n)s", n="%(n)s"), "noteRequired": _("Write what changed and why."),
        "deployFailed": _("The model was not deployed."), "nothingSelected": _("Select an element in the diagram to "
                                                                              "edit its properties."),
        "id": _("ID"), "name": _("Name"), "lane": _("Lane"), "noLane": _("(no lane)"),
        "formSchema": _("Form (JSON Schema)"), "formUi": _("Form layout (UI schema)"), "none": _("(none)"),
        "editForm": _("Edit form"), "newForm": _("New form"), "newFormName": _("Name of the new form file "
                                                                               "(ends with .schema.json):"),
        "slaKey": _("Time limit (SLA key)"), "slaFrom": _("Clock starts at (anchor)"),
        "slaPause": _("Clock paused (customer's time)"),
        "slaEnd": _("Ends the whole-process clock"), "milestone": _("Milestone shown to the customer"),
        "dueFrom": _("Deadline counts from (field)"), "instructions": _("Instructions for the user"),
        "operator": _("Service operator"), "resultVariable": _("Result variable"), "parameters": _("Parameters"),
        "paramId": _("Name"), "paramType": _("Type"), "paramValue": _("Value (Python expression)"),
        "addParam": _("Add parameter"), "remove": _("Remove"), "script": _("Script (Python)"),
        "decision": _("Decision table (DMN id)"), "calledElement": _("Called process"),
        "calledVersion": _("Called version (latest or a version number)"),
        "timerKind": _("Timer kind"), "timeDate": _("Date"), "timeDuration": _("Duration"), "timeCycle": _("Cycle"),
        "timerExpr": _("Timer expression (Python; quote literals: \"PT48H\")"),
        "condition": _("Condition (Python expression)"), "defaultFlow": _("Default flow of the gateway"),
        "otherProps": _("Other properties"), "addProp": _("Add property"), "propName": _("Property"),
        "propValue": _("Value"), "formInvalid": _("The form is not valid JSON: %(msg)s", msg="%(msg)s"),
        "formOk": _("The form passes the JSON Schema checks."), "preview": _("Preview"),
        "formExists": _("A form with this name exists already."), "badFormName": _("The name must end with "
                                                                                   ".schema.json or .uischema.json."),
        "opened": _("Opened %(name)s.", name="%(name)s"), "importNotes": _("Import notes:"),
        "loadFailed": _("The diagram could not be loaded."), "unsaved": _("There are changes that are not deployed."),
        "saveDone": _("Downloaded."), "formUsedBy": _("Used by"), "noForms": _("No form files yet."),
        "element": _("Element"), "file": _("File"), "line": _("line %(n)s", n="%(n)s"),
        "processKey": _("Process key (letters, digits, _)"), "processName": _("Process name"),
    }


@bp.get("/modeler/<key>")
@page("models.edit")
def modeler_edit(key: str) -> Any:
    db = page_db()
    if key == "new":
        source = {"id": None, "key": "", "version": 0, "name": _("New process"), "main": "new_process.bpmn",
                  "files": {"new_process.bpmn": NEW_PROCESS}, "forms": {}, "deployed_at": None,
                  "deployed_by": "", "note": ""}
    else:
        source = modeling.version_sources(db, definitions.latest_id(db, key, _version_arg()))
    found = [] if key == "new" else migration.versions(db, key)
    latest = found[0] if found else None
    config = {
        "key": source["key"], "version": source["version"], "main": source["main"], "files": source["files"],
        "forms": source["forms"], "serverForms": _form_names(), "operators": modeling.service_operators(),
        "slaKeys": modeling.sla_keys(db), "pauseReasons": sla.PAUSE_REASONS,
        "descriptorUrl": url_for("web.static", filename="modeler_spiffworkflow.json"),
        "checkUrl": url_for("deployment-checks.check"), "deployUrl": url_for("deployments.deploy"),
        "importUrl": url_for("web.modeler_import"), "csrf": auth.csrf_token(),
        "versionsUrl": url_for("web.modeler_versions", key="__KEY__"),
        "migrateUrl": url_for("web.modeler_migrate", key="__KEY__"),
        "lang": "en" if str(request.args.get("lang") or "") == "en" else "zh_CN",
        "text": _texts(), "problemTexts": problem_texts.for_page(),
    }
    used_by = [] if key == "new" else called.used_by(db, key)
    return render_template("modeler_edit.html", source=source, config=config, latest=latest, used_by=used_by,
                           running=sum(v.running for v in found))


@bp.post("/modeler/import")
@page("models.edit")
def modeler_import() -> Any:
    """An uploaded .bpmn (Camunda Modeler, spiff-arena, bpmn.io), an exported .zip or a zipped spiff-arena
    process model, normalised for the editor; the optional lane map (`Lane A=clerk`) places lanes and
    Camunda candidate groups in Yekuo groups; the optional form map (`approve=approval.schema.json`) gives
    Camunda user tasks a JSON-Schema form."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidData("choose a file", details={"file": [_("Choose a .bpmn or .zip file.")]})
    name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    data = upload.stream.read(_settings().max_bpmn_bytes * 4 + 1)
    lane_text = str(request.form.get("lane_map") or "")[:4000]
    lane_map = arena.parse_lane_map(lane_text) if lane_text.strip() else None
    form_map = arena.parse_form_map(str(request.form.get("form_map") or "")[:4000])
    pre_problems: list[Any] = []
    pre_notes: list[Any] = []
    if name.lower().endswith(".zip") and arena.is_arena_zip(data):
        model = arena.read_zip(data)
        files, forms, pre_problems, pre_notes = model.files, model.forms, model.problems, model.notes
        lane_map = lane_map if lane_map is not None else {}
    elif name.lower().endswith(".zip"):
        files, forms = modeling.read_zip(data)
    elif name.lower().endswith((".bpmn", ".xml", ".dmn")):
        files, forms = {name: data}, {}
    else:
        raise InvalidData("only .bpmn, .xml, .dmn and .zip files", details={"file": [name]})
    settings = _settings()
    result = modeling.check(page_db(), files, forms_dir=settings.forms_dir, forms=forms,
                            max_bytes=settings.max_bpmn_bytes, lane_map=lane_map, form_map=form_map)
    problems, notes = pre_problems + result.problems, pre_notes + result.notes
    texts = {k: v.decode("utf-8", "replace") for k, v in result.files.items()}
    main = next((k for k, v in texts.items() if k.lower().endswith((".bpmn", ".xml")) and "BPMNDiagram" in v),
                next((k for k in texts if k.lower().endswith((".bpmn", ".xml"))), None))
    if main is None:
        raise InvalidData("the upload holds no BPMN file", details={"file": [name]})
    return jsonify(files=texts, forms=forms, main=main, notes=[p.__dict__ for p in notes],
                   problems=[p.__dict__ for p in problems])


@bp.get("/modeler/<key>/versions")
@page("models.read")
def modeler_versions(key: str) -> Any:
    db = page_db()
    found = migration.versions(db, key)
    newest = found[0].version
    to_v = _int_arg("to", newest)
    from_v = _int_arg("from", max(1, to_v - 1))
    by_version = {v.version: v for v in found}
    if from_v not in by_version or to_v not in by_version:
        raise NotFound(f"{key} has no version {from_v if from_v not in by_version else to_v}")
    config = {
        "key": key, "from": {"version": from_v, "bpmnUrl": url_for("process-versions.export_bpmn",
                                                                   definition_id=by_version[from_v].id)},
        "to": {"version": to_v, "bpmnUrl": url_for("process-versions.export_bpmn", definition_id=by_version[to_v].id)},
        "diffUrl": url_for("process-versions.diff", key=key, **{"from": from_v, "to": to_v}),
        "text": {"added": _("Added"), "removed": _("Removed"), "changed": _("Changed"),
                 "loadFailed": _("The diagram could not be drawn."), "noChanges": _("No differences."),
                 "fields": _("changed: %(f)s", f="%(f)s"), "flow": _("Sequence flow"), "form": _("Form file")},
    }
    return render_template("modeler_versions.html", key=key, versions=found, from_v=from_v, to_v=to_v,
                           config=config, may_edit=policy.may(page_user().groups, "models.edit"))


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else default


@bp.get("/modeler/<key>/migrate")
@page("models.edit")
def modeler_migrate(key: str) -> Any:
    db = page_db()
    found = migration.versions(db, key)
    newest = found[0].version
    with_cases = [v.version for v in found if v.running and v.version != newest]
    from_v = _int_arg("from", with_cases[0] if with_cases else max(1, newest - 1))
    to_v = _int_arg("to", newest)
    cases = migration.running_cases(db, key, from_v)
    steps = sorted({s for c in cases for s in c.steps})
    config = {
        "key": key, "from": from_v, "to": to_v, "csrf": auth.csrf_token(),
        "checkUrl": url_for("migrations.migration_check"), "migrateUrl": url_for("migrations.migrate"),
        "versionsUrl": url_for("process-versions.list_versions", key=key),
        "revertUrl": url_for("migrations.revert", instance_id=1).replace("/1/revert", "/__ID__/revert"),
        "caseUrl": url_for("web.case", instance_id=0).replace("/0", "/__ID__"),
        "text": {"can": _("Can move"), "cannot": _("Cannot move"), "migrated": _("Migrated"),
                 "notMigrated": _("Not migrated"), "revert": _("Revert"), "reverted": _("Reverted to version %(n)s",
                                                                                          n="%(n)s"),
                 "chooseSome": _("Choose at least one case."), "network": _("The server could not be reached."),
                 "summary": _("%(a)s can move, %(b)s cannot.", a="%(a)s", b="%(b)s"),
                 "done": _("%(n)s case(s) migrated.", n="%(n)s"), "failed": _("The request failed:"),
                 "confirm": _("Move %(n)s case(s) from version %(a)s to version %(b)s?", n="%(n)s", a="%(a)s", b="%(b)s"),
                 "running": _("%(n)s running", n="%(n)s"),
                 "all": _("All %(n)s running cases of v%(v)s", n="%(n)s", v="%(v)s")},
    }
    return render_template("modeler_migrate.html", key=key, versions=found, from_v=from_v, to_v=to_v, cases=cases,
                           steps=steps, config=config)
